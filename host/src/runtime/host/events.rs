//! `weir:plugin/events`: emitting events, and `next`, the one wait on input, events, stop
//! requests and a timeout that runners use as their event loop.

use std::time::{Duration, Instant};

use super::io::MAX_READ;
use crate::runtime::bindings;
use crate::runtime::bindings::Signal;
use crate::runtime::bindings::weir::plugin::events::{Arrival, Source};
use crate::runtime::state::InstanceState;

impl bindings::weir::plugin::events::Host for InstanceState {
    async fn emit(&mut self, name: String, message: String) {
        if let Some(console) = &self.console {
            console(crate::runtime::console::ConsoleLine::Event {
                name: &name,
                message: &message,
            });
        }
        self.events.publish(name, message);
    }

    async fn wait(&mut self, timeout_ms: Option<u64>) -> Option<Signal> {
        match timeout_ms {
            Some(0) => self.signals.try_recv().ok(),
            Some(ms) => tokio::time::timeout(Duration::from_millis(ms), self.signals.recv())
                .await
                .ok()
                .flatten(),
            // The controller never drops its sender while the guest runs, so
            // `None` here only happens during teardown.
            None => self.signals.recv().await,
        }
    }

    async fn next(
        &mut self,
        read: Option<Source>,
        max_len: u32,
        timeout_ms: Option<u64>,
    ) -> Arrival {
        let max = max_len.clamp(1, MAX_READ) as usize;
        let InstanceState {
            signals,
            input,
            subscriptions,
            ..
        } = self;
        // Every branch is cancel-safe: a read that loses the race takes nothing.
        let data = async {
            match read {
                None => std::future::pending().await,
                Some(Source::Input) => match input.as_mut() {
                    Some(input) => input.read_vec(max).await,
                    None => None,
                },
                Some(Source::Topic(topic)) => match subscriptions.get_mut(&topic) {
                    Some(subscription) => subscription.read(max).await,
                    None => None,
                },
            }
        };
        let timeout = async {
            match timeout_ms {
                Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                None => std::future::pending().await,
            }
        };
        let signal = async {
            match signals.recv().await {
                Some(signal) => signal,
                // Only during teardown: nothing more will come.
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            signal = signal => Arrival::Signal(signal),
            data = data => Arrival::Data(data),
            () = timeout => Arrival::Timeout,
        }
    }

    async fn keep_alive(&mut self, ms: u64) {
        let now = Instant::now();
        let until = now + Duration::from_millis(ms.min(24 * 3600 * 1000));
        let mut keep = self.keep_alive.lock().unwrap_or_else(|p| p.into_inner());
        keep.until = Some(keep.until.map_or(until, |u| u.max(until)));
        keep.last_called = Some(now);
    }
}
