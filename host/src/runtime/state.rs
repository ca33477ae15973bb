//! What one instance's (or frame's) `Store` holds, and the limiter that bounds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::Signal;
use super::console::ConsoleHook;
use super::event_bus::EventBus;
use super::io::ChannelReader;
use super::topics::{TopicBus, TopicPublisher, TopicSubscriber};
use super::usage::MemoryUse;
use crate::streams::Pipe;

/// Called with the fraction (0.0–1.0) of the current frame that is done.
pub type ProgressHook = Arc<dyn Fn(f32) + Send + Sync>;
/// Called with a log level (`trace` … `error`) and one line of guest log.
pub type LogHook = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Keep-alive bookkeeping shared between the guest and the controller.
#[derive(Default)]
pub(crate) struct KeepAlive {
    /// Until when the guest last asked to be kept alive.
    pub(crate) until: Option<Instant>,
    /// When the guest last called `keep-alive`.
    pub(crate) last_called: Option<Instant>,
}

/// Everything one instance's `Store` holds.
pub struct InstanceState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) input: Option<ChannelReader>,
    pub(crate) output: Pipe,
    pub(crate) log: Pipe,
    pub(crate) signals: mpsc::Receiver<Signal>,
    pub(crate) events: EventBus,
    pub(crate) keep_alive: Arc<Mutex<KeepAlive>>,
    pub(crate) instance_id: String,
    pub(crate) config: String,
    pub(crate) args: String,
    pub(crate) topics: Option<Arc<dyn TopicBus>>,
    pub(crate) publishers: HashMap<String, Box<dyn TopicPublisher>>,
    pub(crate) subscriptions: HashMap<String, Subscription>,
    /// Where a render instance's progress and log go (`None` for sequences).
    pub(crate) render: Option<RenderHooks>,
    /// The package directory `source-package.read-file` reads (a source package's, or one granted
    /// `files`); `None`: no package files.
    pub(crate) package_files: Option<std::path::PathBuf>,
    /// The exit code a failing `run` ends with (`source-package.set-exit-code`).
    pub(crate) exit_code: Option<i32>,
    /// The input's content type, once the first input request named it.
    pub(crate) input_content_type: Arc<std::sync::OnceLock<String>>,
    /// Where log lines and events also go, in order (`weir run`).
    pub(crate) console: Option<ConsoleHook>,
}

/// A topic subscription with the part of a chunk the guest has not read yet.
pub(crate) struct Subscription {
    pub(crate) subscriber: Box<dyn TopicSubscriber>,
    pub(crate) pending: Bytes,
}

impl Subscription {
    /// Up to `max` bytes of the topic, waiting for some; `None` once the topic is gone.
    pub(crate) async fn read(&mut self, max: usize) -> Option<Vec<u8>> {
        while self.pending.is_empty() {
            self.pending = self.subscriber.next().await?;
        }
        let n = self.pending.len().min(max);
        Some(self.pending.split_to(n).to_vec())
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Writes one JSON log line into an instance log pipe.
pub(crate) fn log_line(log: &Pipe, level: &str, source: &str, message: &str) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut line =
        serde_json::json!({ "ts": ts, "level": level, "source": source, "msg": message })
            .to_string();
    line.push('\n');
    log.push_lossy(Bytes::from(line));
}

/// Where the frame's progress and log go; held by its store.
pub(crate) struct RenderHooks {
    pub(crate) on_progress: Option<ProgressHook>,
    pub(crate) on_log: Option<LogHook>,
}

impl RenderHooks {
    pub(crate) fn log(&self, level: &str, message: &str) {
        if let Some(on_log) = &self.on_log {
            on_log(level, message);
        }
    }
}

/// Enforces the per-instance memory and table limits and remembers a refusal
/// so the instance's end can say "memory limit" rather than a bare trap.
pub(crate) struct Limiter {
    pub(crate) memory_bytes: usize,
    pub(crate) table_elements: usize,
    pub(crate) memory_exceeded: bool,
    /// The memory the instance has, for its accounting.
    pub(crate) memory: Arc<MemoryUse>,
}

/// The trap raised when an instance grows past its memory limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {} MiB exceeded", .0 >> 20)]
pub struct MemoryLimitExceeded(pub usize);

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            return Err(MemoryLimitExceeded(self.memory_bytes).into());
        }
        self.memory.grew(current, desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}
