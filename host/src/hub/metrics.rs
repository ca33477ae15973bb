//! The hub's figures for `GET /metrics`: what it is like now (instances,
//! jobs, topics, memory) and what went through its instances, counting the
//! instances already forgotten, so the stream counters never go back.

use std::sync::Mutex;
use std::time::Duration;

use super::Hub;
use crate::metrics::{Metrics, Snapshot};
use crate::runtime::{InstanceStatus, Usage};
use crate::streams::Flow;

/// The streams of an instance, in the order of [`Retired::streams`].
const STREAMS: [&str; 5] = ["input", "stdin", "output", "stdout", "stderr"];

/// What the forgotten instances moved.
#[derive(Default)]
pub(super) struct Retired {
    totals: Mutex<Totals>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    streams: [Flow; 5],
    output_blocked: Duration,
}

impl Totals {
    /// Adds what one instance moved. A command's stdin is its input and its
    /// stdout its output: those are counted once, under input and output.
    fn add(&mut self, usage: &Usage, command: bool) {
        let flows = [
            usage.input,
            if command {
                Flow::default()
            } else {
                usage.stdin
            },
            usage.output,
            if command {
                Flow::default()
            } else {
                usage.stdout
            },
            usage.stderr,
        ];
        for (total, flow) in self.streams.iter_mut().zip(flows) {
            *total = total.plus(flow);
        }
        self.output_blocked += usage.output_blocked;
    }
}

impl Retired {
    pub(super) fn add(&self, usage: &Usage, command: bool) {
        self.totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(usage, command);
    }
}

impl Hub {
    /// The hub's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics as OpenMetrics text.
    pub fn encode_metrics(&self) -> String {
        self.metrics.encode(&self.snapshot())
    }

    fn snapshot(&self) -> Snapshot {
        let records = self.instances();
        let statuses = InstanceStatus::ALL;
        let mut totals = *self
            .retired
            .totals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut instances: Vec<(&'static str, u64)> =
            statuses.iter().map(|s| (s.as_str(), 0)).collect();
        for record in &records {
            let status = record.instance.status();
            if let Some(slot) = statuses.iter().position(|&s| s == status) {
                instances[slot].1 += 1;
            }
            totals.add(&record.instance.usage(), record.instance.stdin_is_input());
        }
        let counts = self.jobs.state_counts();
        let topics: Vec<_> = self.topics().iter().map(|t| t.info()).collect();
        let compiles = self.runtime.compile_stats();
        Snapshot {
            instances,
            jobs: counts.jobs,
            tasks: counts.tasks,
            workers: counts.workers,
            topics: topics.len() as u64,
            topic_retained_bytes: topics.iter().map(|t| t.retained_bytes).sum(),
            topic_producers: topics.iter().map(|t| t.producers).sum(),
            topic_subscribers: topics.iter().map(|t| t.subscribers).sum(),
            topic_published_bytes: topics.iter().map(|t| t.published_bytes).sum(),
            topic_published_records: topics.iter().map(|t| t.published_records).sum(),
            topic_delivered: topics.iter().fold(Flow::default(), |all, t| {
                all.plus(Flow {
                    bytes: t.delivered_bytes,
                    chunks: 0,
                    lines: t.delivered_records,
                })
            }),
            streams: STREAMS.iter().copied().zip(totals.streams).collect(),
            output_blocked_nanos: u64::try_from(totals.output_blocked.as_nanos())
                .unwrap_or(u64::MAX),
            compile_hits: compiles.hits,
            compile_misses: compiles.misses,
            compile_time: compiles.time,
            resident_bytes: super::resident_bytes(),
        }
    }
}
