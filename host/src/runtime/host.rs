//! The host side of the `weir:plugin` interfaces and the per-instance store data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::io::ChannelReader;
use super::render::RenderHooks;
use super::topics::{TopicBus, TopicPublisher, TopicSubscriber};
use crate::streams::{Overflow, Pipe, PipeReader};

// The runner world is the sequence world and `runner`: one set of bindings serves both.
wasmtime::component::bindgen!({
    world: "runner",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

use self::weir::plugin::events::{Arrival, Source};
use self::weir::plugin::source_package::FileError;
pub use self::weir::plugin::types::{Event as WitEvent, LogLevel, Signal, StopRequest};

/// Largest chunk the host hands to a guest in one `read-input`.
const MAX_READ: u32 = 1 << 20;
/// Largest package file a runner may read in one `read-file`.
const MAX_PACKAGE_FILE: u64 = 64 << 20;
/// Output is split into pieces of at most this size so one huge guest write
/// cannot pin more than this in a pipe beyond its capacity.
const MAX_OUTPUT_PIECE: usize = 256 * 1024;

/// An event emitted by an instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmittedEvent {
    /// Event name.
    pub name: String,
    /// The message as JSON text.
    pub message: String,
}

/// Events an instance emitted: the last one per name, and a live feed in
/// which every subscriber gets every event from when it subscribed (the
/// oldest are dropped only past the feed's capacity, never blocking the guest).
#[derive(Clone)]
pub struct EventBus {
    last: Arc<Mutex<HashMap<String, Arc<str>>>>,
    feed: Pipe,
}

/// A subscription to an [`EventBus`].
pub struct EventStream {
    reader: PipeReader,
}

impl EventStream {
    /// The next event, or `None` once the instance has ended.
    pub async fn next(&mut self) -> Option<EmittedEvent> {
        loop {
            let chunk = self.reader.next().await?;
            if let Ok(event) = serde_json::from_slice(&chunk) {
                return Some(event);
            }
        }
    }
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        EventBus {
            last: Arc::default(),
            feed: Pipe::new(capacity, Overflow::DropOldest),
        }
    }

    /// The last message emitted under `name`.
    pub fn last(&self, name: &str) -> Option<Arc<str>> {
        self.lock().get(name).cloned()
    }

    /// Every event emitted from now on.
    pub fn subscribe(&self) -> EventStream {
        EventStream {
            reader: self.feed.reader_live(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<str>>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn publish(&self, name: String, message: String) {
        let message = if serde_json::from_str::<serde::de::IgnoredAny>(&message).is_ok() {
            message
        } else {
            // Not JSON: deliver it as a JSON string rather than corrupt readers.
            Value::String(message).to_string()
        };
        self.lock().insert(name.clone(), message.as_str().into());
        if let Ok(line) = serde_json::to_vec(&EmittedEvent { name, message }) {
            self.feed.push_lossy(Bytes::from(line));
        }
    }

    pub(crate) fn close(&self) {
        self.feed.close();
    }
}

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
    pub(crate) console: Option<super::ConsoleHook>,
}

/// A topic subscription with the part of a chunk the guest has not read yet.
pub(crate) struct Subscription {
    subscriber: Box<dyn TopicSubscriber>,
    pending: Bytes,
}

/// Most topics one instance may publish to or subscribe to.
const MAX_TOPICS_PER_INSTANCE: usize = 64;

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

impl self::weir::plugin::types::Host for InstanceState {}

impl self::weir::plugin::io::Host for InstanceState {
    async fn read_input(&mut self, max_len: u32) -> Option<Vec<u8>> {
        let input = self.input.as_mut()?;
        input
            .read_chunk(max_len.clamp(1, MAX_READ) as usize)
            .await
            .map(|b| b.to_vec())
    }

    async fn write_output(
        &mut self,
        data: Vec<u8>,
    ) -> Result<(), self::weir::plugin::io::WriteError> {
        let mut data = Bytes::from(data);
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(MAX_OUTPUT_PIECE));
            self.output
                .write(piece)
                .await
                .map_err(|_| self::weir::plugin::io::WriteError::Closed)?;
        }
        Ok(())
    }
}

impl self::weir::plugin::events::Host for InstanceState {
    async fn emit(&mut self, name: String, message: String) {
        if let Some(console) = &self.console {
            console(super::ConsoleLine::Event {
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
                    Some(input) => input.read_chunk(max).await.map(|b| b.to_vec()),
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

impl self::weir::plugin::context::Host for InstanceState {
    async fn instance_id(&mut self) -> String {
        self.instance_id.clone()
    }

    async fn config(&mut self) -> String {
        self.config.clone()
    }

    async fn args(&mut self) -> String {
        self.args.clone()
    }

    async fn input_content_type(&mut self) -> Option<String> {
        self.input_content_type.get().cloned()
    }
}

impl InstanceState {
    fn bus(&self) -> Result<&Arc<dyn TopicBus>, String> {
        self.topics
            .as_ref()
            .ok_or_else(|| "topics are not available here (run the plugin on a hub)".to_string())
    }
}

impl self::weir::plugin::topics::Host for InstanceState {
    async fn publish(&mut self, topic: String, data: Vec<u8>) -> Result<(), String> {
        if !self.publishers.contains_key(&topic) {
            if self.publishers.len() >= MAX_TOPICS_PER_INSTANCE {
                return Err(format!(
                    "an instance may publish to at most {MAX_TOPICS_PER_INSTANCE} topics"
                ));
            }
            let publisher = self.bus()?.publisher(&topic)?;
            self.publishers.insert(topic.clone(), publisher);
        }
        let Some(publisher) = self.publishers.get_mut(&topic) else {
            return Err(format!("topic {topic} is gone"));
        };
        publisher.publish(Bytes::from(data)).await
    }

    async fn subscribe(&mut self, topic: String) -> Result<(), String> {
        if self.subscriptions.contains_key(&topic) {
            return Ok(());
        }
        if self.subscriptions.len() >= MAX_TOPICS_PER_INSTANCE {
            return Err(format!(
                "an instance may subscribe to at most {MAX_TOPICS_PER_INSTANCE} topics"
            ));
        }
        let subscriber = self.bus()?.subscriber(&topic)?;
        self.subscriptions.insert(
            topic,
            Subscription {
                subscriber,
                pending: Bytes::new(),
            },
        );
        Ok(())
    }

    async fn read(&mut self, topic: String, max_len: u32) -> Option<Vec<u8>> {
        let subscription = self.subscriptions.get_mut(&topic)?;
        subscription.read(max_len.clamp(1, MAX_READ) as usize).await
    }
}

impl Subscription {
    /// Up to `max` bytes of the topic, waiting for some; `None` once the topic is gone.
    async fn read(&mut self, max: usize) -> Option<Vec<u8>> {
        while self.pending.is_empty() {
            self.pending = self.subscriber.next().await?;
        }
        let n = self.pending.len().min(max);
        Some(self.pending.split_to(n).to_vec())
    }
}

impl self::weir::plugin::source_package::Host for InstanceState {
    async fn read_file(&mut self, path: String) -> Result<Vec<u8>, FileError> {
        let path = self.package_path(&path)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|_| FileError::NotFound)?;
        if meta.is_dir() {
            return Err(FileError::IsDirectory);
        }
        if meta.len() > MAX_PACKAGE_FILE {
            return Err(FileError::TooLarge);
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|_| FileError::NotFound)?;
        if bytes.len() as u64 > MAX_PACKAGE_FILE {
            return Err(FileError::TooLarge);
        }
        Ok(bytes)
    }

    async fn is_directory(&mut self, path: String) -> bool {
        match self.package_path(&path) {
            Ok(path) => tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir()),
            Err(_) => false,
        }
    }

    async fn set_exit_code(&mut self, code: u8) {
        self.exit_code = Some(i32::from(code));
    }
}

impl InstanceState {
    fn package_path(&self, path: &str) -> Result<std::path::PathBuf, FileError> {
        let root = self.package_files.as_ref().ok_or(FileError::NotFound)?;
        package_file(root, path)
    }
}

/// `path` (relative, `/`-separated) inside the package directory `root`, refusing anything
/// that could leave it. Unpacked packages hold no links, so the joined path stays in.
fn package_file(root: &std::path::Path, path: &str) -> Result<std::path::PathBuf, FileError> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let safe = !parts.is_empty()
        && path.len() <= 4096
        && !path.starts_with('/')
        && parts
            .iter()
            .all(|part| *part != ".." && !part.contains(['\\', '\0']));
    if safe {
        Ok(parts
            .iter()
            .fold(root.to_path_buf(), |dir, part| dir.join(part)))
    } else {
        Err(FileError::InvalidPath)
    }
}

impl self::weir::plugin::log::Host for InstanceState {
    async fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        match &self.render {
            Some(hooks) => hooks.log(level, &message),
            None => {
                if let Some(console) = &self.console {
                    console(super::ConsoleLine::Log {
                        level,
                        message: &message,
                    });
                }
                log_line(&self.log, level, "plugin", &message)
            }
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
    pub(crate) memory: Arc<super::usage::MemoryUse>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn package_paths_stay_inside_the_package() {
        let root = Path::new("/data/sequences/x/package");
        for (path, inside) in [
            ("index.js", "index.js"),
            ("./lib/a.js", "lib/a.js"),
            ("lib/./a.js", "lib/a.js"),
            ("node_modules//dep/index.js", "node_modules/dep/index.js"),
        ] {
            assert_eq!(package_file(root, path), Ok(root.join(inside)), "{path}");
        }
        for path in [
            "",
            "/etc/passwd",
            "../x",
            "lib/../../x",
            "a\\b",
            "a\0b",
            ".",
            "./",
        ] {
            assert_eq!(
                package_file(root, path),
                Err(FileError::InvalidPath),
                "{path:?}"
            );
        }
    }
}
