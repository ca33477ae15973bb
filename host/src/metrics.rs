//! Prometheus metrics of a hub (`GET /metrics`, OpenMetrics text), kept with
//! `prometheus-client`.
//!
//! Counters and histograms are updated where things happen: HTTP requests
//! (by route template, never the raw path), instance starts, render tasks.
//! What is a state rather than an event (instances, jobs, tasks and workers
//! by state, topics, bytes through the instances' streams, the compile
//! cache, memory) is read from the hub when scraped, as a [`Snapshot`]. No
//! label holds an id: routes are templates, states and streams fixed sets,
//! so the number of series stays bounded however many instances come and go.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::streams::Flow;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream: &'static str,
}

/// Buckets from 50 µs to about 100 s: starts, requests and tasks all fit.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 4.0, 11))
}

/// Render-task figures the job manager records as tasks finish.
#[derive(Clone)]
pub struct TaskMetrics {
    /// Wall time of each completed task, from lease to completion.
    pub durations: Histogram,
    /// Failed attempts that were queued again.
    pub retries: Counter,
}

impl Default for TaskMetrics {
    fn default() -> Self {
        TaskMetrics {
            durations: duration_histogram(),
            retries: Counter::default(),
        }
    }
}

impl TaskMetrics {
    /// A task completed after `took`.
    pub fn completed(&self, took: Duration) {
        self.durations.observe(took.as_secs_f64());
    }
}

/// What the hub is like now, read when scraped.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Instances per state.
    pub instances: Vec<(&'static str, u64)>,
    /// Render jobs per state.
    pub jobs: Vec<(&'static str, u64)>,
    /// Render tasks per state.
    pub tasks: Vec<(&'static str, u64)>,
    /// Workers per state (the hub's own slots included).
    pub workers: Vec<(&'static str, u64)>,
    /// Topics.
    pub topics: u64,
    /// Bytes the topics hold for their subscribers.
    pub topic_retained_bytes: u64,
    /// Producers writing into topics now.
    pub topic_producers: u64,
    /// Subscribers reading topics now.
    pub topic_subscribers: u64,
    /// Bytes published into the topics alive now, since each was created.
    pub topic_published_bytes: u64,
    /// Records (lines) published into them through this hub.
    pub topic_published_records: u64,
    /// Bytes and records their subscribers on this hub were given.
    pub topic_delivered: Flow,
    /// Per stream (`input`, `stdin`, `output`, `stdout`, `stderr`).
    pub streams: Vec<(&'static str, Flow)>,
    /// Nanoseconds instances spent waiting on a full output (backpressure).
    pub output_blocked_nanos: u64,
    /// Compiled components found in the cache.
    pub compile_hits: u64,
    /// Components compiled.
    pub compile_misses: u64,
    /// Time spent compiling.
    pub compile_time: Duration,
    /// The process's resident memory.
    pub resident_bytes: u64,
}

/// The hub's metrics. One per hub.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    starts: Family<ResultLabels, Counter>,
    start_seconds: Histogram,
    instances: Family<StateLabels, Gauge>,
    jobs: Family<StateLabels, Gauge>,
    tasks: Family<StateLabels, Gauge>,
    workers: Family<StateLabels, Gauge>,
    topics: Gauge,
    topic_retained: Gauge,
    topic_producers: Gauge,
    topic_subscribers: Gauge,
    topic_published: Counter,
    topic_published_records: Counter,
    topic_delivered: Counter,
    topic_delivered_records: Counter,
    stream_bytes: Family<StreamLabels, Counter>,
    stream_chunks: Family<StreamLabels, Counter>,
    stream_lines: Family<StreamLabels, Counter>,
    output_blocked: Counter<f64, std::sync::atomic::AtomicU64>,
    compile_hits: Counter,
    compile_misses: Counter,
    compile_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    resident: Gauge,
    /// One scrape at a time: each brings the state figures up to date, then
    /// encodes.
    scrape: Mutex<()>,
}

impl Metrics {
    /// The metrics, with the job manager's `tasks` among them.
    pub fn new(tasks: &TaskMetrics) -> Metrics {
        let mut registry = Registry::with_prefix("weir");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        registry.register_with_unit(
            "http_request_duration",
            "Time to the response head, by route template",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let starts = Family::<ResultLabels, Counter>::default();
        registry.register(
            "instance_starts",
            "Instance start requests, by result (started, refused)",
            starts.clone(),
        );
        let start_seconds = duration_histogram();
        registry.register_with_unit(
            "instance_start_duration",
            "Time from a start request to the instance running",
            Unit::Seconds,
            start_seconds.clone(),
        );
        let gauge_family = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<StateLabels, Gauge>::default();
            registry.register(name, help, family.clone());
            family
        };
        let instances = gauge_family(&mut registry, "instances", "Instances by state");
        let jobs = gauge_family(&mut registry, "jobs", "Render jobs by state");
        let tasks_by_state = gauge_family(&mut registry, "tasks", "Render tasks by state");
        let workers = gauge_family(&mut registry, "workers", "Render workers by state");
        registry.register_with_unit(
            "task_duration",
            "Wall time of completed render tasks",
            Unit::Seconds,
            tasks.durations.clone(),
        );
        registry.register(
            "task_retries",
            "Failed render-task attempts queued again",
            tasks.retries.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let topics = gauge(&mut registry, "topics", "Topics");
        let topic_retained = Gauge::default();
        registry.register_with_unit(
            "topic_retained",
            "Bytes the topics hold for their subscribers",
            Unit::Bytes,
            topic_retained.clone(),
        );
        let topic_producers = gauge(
            &mut registry,
            "topic_producers",
            "Producers writing into topics",
        );
        let topic_subscribers = gauge(
            &mut registry,
            "topic_subscribers",
            "Subscribers reading topics",
        );
        let topic_published = Counter::default();
        registry.register_with_unit(
            "topic_published",
            "Bytes published into topics",
            Unit::Bytes,
            topic_published.clone(),
        );
        let topic_published_records = Counter::default();
        registry.register(
            "topic_published_records",
            "Records (lines) published into topics through this hub",
            topic_published_records.clone(),
        );
        let topic_delivered = Counter::default();
        registry.register_with_unit(
            "topic_delivered",
            "Bytes topics gave their subscribers on this hub",
            Unit::Bytes,
            topic_delivered.clone(),
        );
        let topic_delivered_records = Counter::default();
        registry.register(
            "topic_delivered_records",
            "Records (lines) topics gave their subscribers on this hub",
            topic_delivered_records.clone(),
        );
        let stream_family =
            |registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>| {
                let family = Family::<StreamLabels, Counter>::default();
                match unit {
                    Some(unit) => registry.register_with_unit(name, help, unit, family.clone()),
                    None => registry.register(name, help, family.clone()),
                }
                family
            };
        let stream_bytes = stream_family(
            &mut registry,
            "stream",
            "Bytes through the instances' streams",
            Some(Unit::Bytes),
        );
        let stream_chunks = stream_family(
            &mut registry,
            "stream_chunks",
            "Writes through the instances' streams",
            None,
        );
        let stream_lines = stream_family(
            &mut registry,
            "stream_records",
            "Newline-terminated records through the instances' streams",
            None,
        );
        let output_blocked = Counter::<f64, _>::default();
        registry.register_with_unit(
            "output_blocked",
            "Time instances waited on a full output (backpressure)",
            Unit::Seconds,
            output_blocked.clone(),
        );
        let compile_hits = Counter::default();
        registry.register(
            "compile_cache_hits",
            "Components loaded compiled from the cache",
            compile_hits.clone(),
        );
        let compile_misses = Counter::default();
        registry.register(
            "compile_cache_misses",
            "Components that had to be compiled",
            compile_misses.clone(),
        );
        let compile_seconds = Counter::<f64, _>::default();
        registry.register_with_unit(
            "compile",
            "Time spent compiling components",
            Unit::Seconds,
            compile_seconds.clone(),
        );
        let resident = Gauge::default();
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory of the hub process",
            Unit::Bytes,
            resident.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            starts,
            start_seconds,
            instances,
            jobs,
            tasks: tasks_by_state,
            workers,
            topics,
            topic_retained,
            topic_producers,
            topic_subscribers,
            topic_published,
            topic_published_records,
            topic_delivered,
            topic_delivered_records,
            stream_bytes,
            stream_chunks,
            stream_lines,
            output_blocked,
            compile_hits,
            compile_misses,
            compile_seconds,
            resident,
            scrape: Mutex::new(()),
        }
    }

    /// An HTTP request answered with `status` after `took`; `route` is the
    /// route template (`/api/v1/instance/{id}/output`), or `unmatched`.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let (method, route) = (method.to_string(), route.to_string());
        self.request_seconds
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// An instance started, `took` after its start request came.
    pub fn started(&self, took: Duration) {
        self.starts
            .get_or_create(&ResultLabels { result: "started" })
            .inc();
        self.start_seconds.observe(took.as_secs_f64());
    }

    /// A start request was refused (bad request, capacity, a start that failed).
    pub fn start_refused(&self) {
        self.starts
            .get_or_create(&ResultLabels { result: "refused" })
            .inc();
    }

    /// The metrics as OpenMetrics text, with the state figures from `now`.
    pub fn encode(&self, now: &Snapshot) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let set = |family: &Family<StateLabels, Gauge>, counts: &[(&'static str, u64)]| {
            for &(state, n) in counts {
                family
                    .get_or_create(&StateLabels { state })
                    .set(saturate(n));
            }
        };
        set(&self.instances, &now.instances);
        set(&self.jobs, &now.jobs);
        set(&self.tasks, &now.tasks);
        set(&self.workers, &now.workers);
        self.topics.set(saturate(now.topics));
        self.topic_retained.set(saturate(now.topic_retained_bytes));
        self.topic_producers.set(saturate(now.topic_producers));
        self.topic_subscribers.set(saturate(now.topic_subscribers));
        raise(&self.topic_published, now.topic_published_bytes);
        raise(&self.topic_published_records, now.topic_published_records);
        raise(&self.topic_delivered, now.topic_delivered.bytes);
        raise(&self.topic_delivered_records, now.topic_delivered.lines);
        for &(stream, totals) in &now.streams {
            let labels = StreamLabels { stream };
            raise(&self.stream_bytes.get_or_create(&labels), totals.bytes);
            raise(&self.stream_chunks.get_or_create(&labels), totals.chunks);
            raise(&self.stream_lines.get_or_create(&labels), totals.lines);
        }
        raise_f64(&self.output_blocked, now.output_blocked_nanos as f64 / 1e9);
        raise(&self.compile_hits, now.compile_hits);
        raise(&self.compile_misses, now.compile_misses);
        raise_f64(&self.compile_seconds, now.compile_time.as_secs_f64());
        self.resident.set(saturate(now.resident_bytes));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = text::encode(&mut out, &self.registry);
        out
    }
}

fn saturate(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Brings a counter up to `total` (a total read from the hub). A total that
/// went down (a topic deleted) leaves the counter where it is: counters
/// never go back.
fn raise(counter: &Counter, total: u64) {
    let have = counter.get();
    if total > have {
        counter.inc_by(total - have);
    }
}

fn raise_f64(counter: &Counter<f64, std::sync::atomic::AtomicU64>, total: f64) {
    let have = counter.get();
    if total > have {
        counter.inc_by(total - have);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_totals_and_never_go_back() {
        let metrics = Metrics::new(&TaskMetrics::default());
        let mut now = Snapshot {
            instances: vec![("running", 2)],
            streams: vec![(
                "output",
                Flow {
                    bytes: 100,
                    chunks: 4,
                    lines: 3,
                },
            )],
            ..Snapshot::default()
        };
        let text = metrics.encode(&now);
        assert!(
            text.contains("weir_instances{state=\"running\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("weir_stream_bytes_total{stream=\"output\"} 100"),
            "{text}"
        );
        now.streams[0].1.bytes = 40;
        let text = metrics.encode(&now);
        assert!(
            text.contains("weir_stream_bytes_total{stream=\"output\"} 100"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn requests_are_counted_by_route_template() {
        let metrics = Metrics::new(&TaskMetrics::default());
        for _ in 0..3 {
            metrics.request(
                "GET",
                "/api/v1/instance/{id}",
                200,
                Duration::from_millis(2),
            );
        }
        let text = metrics.encode(&Snapshot::default());
        assert!(
            text.contains(
                "weir_http_requests_total{method=\"GET\",route=\"/api/v1/instance/{id}\",status=\"200\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains("weir_http_request_duration_seconds_count"),
            "{text}"
        );
    }
}
