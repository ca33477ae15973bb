//! Render components (the `render` world): [`Runtime::render`] renders one
//! frame in a fresh instance and returns the frame's artifacts.
//!
//! A frame gets the same memory limit and limiter as a sequence instance and
//! a WASI context with no arguments that grants only its package's grants
//! (see [`sandbox`](super::sandbox); nothing by default); its stdout and
//! stderr become log lines. Epoch interruption makes
//! a busy guest yield every [`EPOCH_TICK`](super::config::EPOCH_TICK), so cancellation
//! and the wall-clock timeout stop it within a tick by dropping its store.
//! The package's limits ([`Program::with_limits`]) apply to each frame: its
//! memory, its CPU time (a trap) and its `timeout_ms` (tightening
//! [`RenderOptions::timeout`]).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::AsyncStdoutStream;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use super::bindings::render::weir::plugin::frames;
use super::engine::Runtime;
use super::event_bus::EventBus;
use super::limits::{CpuLimitExceeded, Hit, Limits, arm_epoch, metered, wall_clock};
use super::program::{Entry, Program};
use super::state::{InstanceState, Limiter, LogHook, ProgressHook, RenderHooks};
use super::trap::{panic_message, trap_message};
use crate::streams::{Overflow, Pipe};

/// Most bytes one frame's artifacts may hold together (256 MiB).
pub const MAX_ARTIFACT_BYTES: usize = 256 << 20;
/// Longest artifact name, in bytes.
const MAX_NAME_LEN: usize = 128;
/// Longest media type, in bytes.
const MAX_MEDIA_TYPE_LEN: usize = 127;
/// Bytes in flight from the guest's WASI stdout/stderr to their pump.
const STDIO_BUDGET: usize = 64 * 1024;
/// Longest line handed to `on_log`; longer output is split.
const MAX_LOG_LINE: usize = 16 * 1024;
/// Lines of stderr kept to explain a trap (Rust prints its panic there).
const STDERR_TAIL_LINES: usize = 16;

/// The frame to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRequest {
    /// The render job's id.
    pub job_id: String,
    /// The frame number.
    pub frame: i64,
    /// 1 on the first try of this frame, higher on retries.
    pub attempt: u32,
    /// The settings as JSON object text (package `[config]` overlaid with the job's settings).
    pub settings: String,
}

/// One file a frame produced.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The file name (see [`is_valid_artifact_name`]).
    pub name: String,
    /// The media type, e.g. `image/png`.
    pub media_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// How one frame is run: cancellation, time limit and where progress and log go.
#[derive(Clone, Default)]
pub struct RenderOptions {
    /// Cancelling it stops the guest within one epoch tick ([`RenderError::Canceled`]).
    pub cancel: Option<CancellationToken>,
    /// Wall-clock limit for this frame, instantiation included
    /// ([`RenderError::TimedOut`]); the package's `timeout_ms` may tighten it.
    pub timeout: Option<Duration>,
    /// Receives every `report-progress` (clamped to 0.0–1.0; NaN is ignored).
    pub on_progress: Option<ProgressHook>,
    /// Receives the guest's log lines, its stdout lines as `info` and its stderr
    /// lines as `warn`. Without it they are dropped.
    pub on_log: Option<LogHook>,
    /// Where the frame adds its CPU time and peak memory (one per task).
    pub usage: Option<Arc<super::usage::RenderUsage>>,
}

/// Why a frame did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The plugin returned an error; this is its message.
    #[error("{0}")]
    Failed(String),
    /// The guest trapped: a panic, a stack overflow, or the memory or CPU-time limit.
    #[error("the plugin trapped: {0}")]
    Trapped(String),
    /// The cancellation token was cancelled.
    #[error("the frame was canceled")]
    Canceled,
    /// The frame ran longer than its timeout.
    #[error("the frame timed out after {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The program is not a render component.
    #[error("the program is not a render component (it exports no `render`)")]
    NotRender,
    /// The plugin returned an artifact that cannot be stored.
    #[error("the plugin returned an invalid artifact: {0}")]
    Invalid(String),
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Outcome {
    Finished(wasmtime::Result<Result<Vec<frames::Artifact>, String>>),
    Canceled,
    TimedOut(Duration),
}

impl Runtime {
    /// Renders one frame of a render component in a fresh instance.
    ///
    /// Returns the artifacts the plugin made, checked (see
    /// [`is_valid_artifact_name`]); [`RenderError::NotRender`] for a sequence
    /// or command. Must be called inside a tokio runtime.
    pub async fn render(
        &self,
        program: &Program,
        request: FrameRequest,
        options: &RenderOptions,
    ) -> Result<Vec<Artifact>, RenderError> {
        // The frame runs where guests run; dropping this future stops it.
        let runtime = self.clone();
        let program = program.clone();
        let options = options.clone();
        let task =
            self.spawn_guest(async move { runtime.render_here(&program, request, &options).await });
        let _stop_on_drop = AbortOnDrop(task.abort_handle());
        match task.await {
            Ok(result) => result,
            Err(e) => Err(RenderError::Trapped(format!("the frame's task ended: {e}"))),
        }
    }

    async fn render_here(
        &self,
        program: &Program,
        request: FrameRequest,
        options: &RenderOptions,
    ) -> Result<Vec<Artifact>, RenderError> {
        let Entry::Render(pre) = &program.entry else {
            return Err(RenderError::NotRender);
        };
        if options.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Err(RenderError::Canceled);
        }
        // The package's limits tighten the runtime's memory and the caller's timeout.
        let limits = program.limits().tightest(Limits {
            memory_bytes: Some(self.config().max_memory_bytes),
            wall_time: options.timeout,
            cpu_time: None,
        });
        let memory_bytes = limits.memory_bytes.unwrap_or(usize::MAX);
        let (mut wasi, pumps) = wasi_stdio(options.on_log.clone());
        let (sandbox, warnings) = program
            .sandbox
            .apply(&mut wasi, &self.scratch_root())
            .await
            .map_err(|e| RenderError::Failed(format!("the frame could not start: {e}")))?;
        if let Some(on_log) = &options.on_log {
            warnings.iter().for_each(|warning| on_log("warn", warning));
        }
        let memory = Arc::new(super::usage::MemoryUse::default());
        let mut store = Store::new(
            self.engine(),
            render_state(wasi.build(), memory_bytes, memory.clone(), options),
        );
        store.limiter(|state| &mut state.limiter);
        let spent = options.usage.as_ref().map_or_else(
            || Arc::new(std::sync::atomic::AtomicU64::new(0)),
            |usage| usage.cpu_nanos.clone(),
        );
        let meter = arm_epoch(&mut store, &limits, &spent);
        let request = frames::FrameRequest {
            job_id: request.job_id,
            frame: request.frame,
            attempt: request.attempt,
            settings: request.settings,
        };
        let outcome = {
            let call = async {
                let bindings = pre.instantiate_async(&mut store).await?;
                bindings.call_render(&mut store, &request).await
            };
            let call = metered(call, meter.clone(), spent);
            tokio::select! {
                biased;
                () = cancelled(options.cancel.as_ref()) => Outcome::Canceled,
                limit = wall_clock(limits.wall_time) => Outcome::TimedOut(limit),
                result = call => Outcome::Finished(result),
            }
        };
        let memory_exceeded = store.data().limiter.memory_exceeded;
        if let Some(usage) = &options.usage {
            usage.frame_peak(memory.read().1);
        }
        let hit = meter.and_then(|meter| meter.hit());
        drop(store); // closes the guest's stdio so the pumps drain and end
        drop(sandbox); // removes the scratch directory
        let stderr_tail = pumps.finish().await;
        match outcome {
            Outcome::Canceled => Err(RenderError::Canceled),
            Outcome::TimedOut(limit) => Err(RenderError::TimedOut(limit)),
            Outcome::Finished(Ok(Err(message))) => Err(RenderError::Failed(message)),
            Outcome::Finished(Err(_)) if memory_exceeded => Err(RenderError::Trapped(format!(
                "memory limit of {} MiB exceeded",
                memory_bytes >> 20
            ))),
            Outcome::Finished(Err(e)) => match hit {
                Some(Hit::Wall(limit)) => Err(RenderError::TimedOut(limit)),
                Some(Hit::Cpu(limit)) => {
                    Err(RenderError::Trapped(CpuLimitExceeded(limit).to_string()))
                }
                None => Err(RenderError::Trapped(
                    panic_message(&stderr_tail).unwrap_or_else(|| trap_message(&e)),
                )),
            },
            Outcome::Finished(Ok(Ok(artifacts))) => {
                let artifacts = artifacts
                    .into_iter()
                    .map(|a| Artifact {
                        name: a.name,
                        media_type: a.media_type,
                        data: a.data,
                    })
                    .collect::<Vec<_>>();
                check_artifacts(&artifacts).map_err(RenderError::Invalid)?;
                Ok(artifacts)
            }
        }
    }
}

async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// The store data of one frame. The render world imports only `log` and
/// `frames`, so the sequence parts are inert placeholders.
fn render_state(
    wasi: WasiCtx,
    memory_bytes: usize,
    memory: Arc<super::usage::MemoryUse>,
    options: &RenderOptions,
) -> InstanceState {
    InstanceState {
        wasi,
        table: ResourceTable::new(),
        limiter: Limiter {
            memory_bytes,
            table_elements: 100_000,
            memory_exceeded: false,
            memory,
        },
        input: None,
        output: Pipe::new(0, Overflow::DropOldest),
        log: Pipe::new(0, Overflow::DropOldest),
        signals: mpsc::channel(1).1,
        events: EventBus::new(0),
        keep_alive: Arc::default(),
        instance_id: String::new(),
        config: "{}".into(),
        args: "[]".into(),
        topics: None,
        publishers: Default::default(),
        subscriptions: Default::default(),
        render: Some(RenderHooks {
            on_progress: options.on_progress.clone(),
            on_log: options.on_log.clone(),
        }),
        package_files: None,
        exit_code: None,
        input_content_type: Arc::default(),
        console: None,
    }
}

/// The tasks that turn the guest's stdout and stderr into log lines.
struct StdioPumps {
    stdout: Option<JoinHandle<VecDeque<String>>>,
    stderr: JoinHandle<VecDeque<String>>,
}

impl StdioPumps {
    /// Waits for both pumps (the store must be dropped first) and returns
    /// the last lines of stderr.
    async fn finish(self) -> VecDeque<String> {
        if let Some(stdout) = self.stdout {
            let _ = stdout.await;
        }
        self.stderr.await.unwrap_or_default()
    }
}

/// A WASI context with no stdin and no arguments, whose stdout and stderr
/// become log lines; the grants are added by the caller. Stderr is always
/// read (its tail explains panics); stdout only when someone takes the log.
fn wasi_stdio(on_log: Option<LogHook>) -> (WasiCtxBuilder, StdioPumps) {
    let mut wasi = WasiCtx::builder();
    let (stderr_w, stderr_r) = tokio::io::duplex(STDIO_BUDGET);
    wasi.stderr(AsyncStdoutStream::new(STDIO_BUDGET, stderr_w));
    let stderr = pump_lines(stderr_r, "warn", on_log.clone());
    let stdout = on_log.map(|on_log| {
        let (stdout_w, stdout_r) = tokio::io::duplex(STDIO_BUDGET);
        wasi.stdout(AsyncStdoutStream::new(STDIO_BUDGET, stdout_w));
        pump_lines(stdout_r, "info", Some(on_log))
    });
    (wasi, StdioPumps { stdout, stderr })
}

/// Splits what `reader` yields into lines for `on_log` (at most
/// [`MAX_LOG_LINE`] bytes each) and returns the last few lines.
fn pump_lines(
    mut reader: DuplexStream,
    level: &'static str,
    on_log: Option<LogHook>,
) -> JoinHandle<VecDeque<String>> {
    tokio::spawn(async move {
        let mut tail = VecDeque::with_capacity(STDERR_TAIL_LINES);
        let mut emit = |line: &[u8]| {
            let line = String::from_utf8_lossy(line);
            let line = line.trim_end_matches('\r');
            if let Some(on_log) = &on_log {
                on_log(level, line);
            }
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.chars().take(512).collect::<String>());
        };
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
                emit(&pending[start..start + end]);
                start += end + 1;
            }
            pending.drain(..start);
            while pending.len() >= MAX_LOG_LINE {
                emit(&pending[..MAX_LOG_LINE]);
                pending.drain(..MAX_LOG_LINE);
            }
        }
        if !pending.is_empty() {
            emit(&pending);
        }
        tail
    })
}

/// Whether `name` can name an artifact: an ASCII letter or digit, then up to
/// 127 ASCII letters, digits, `.`, `_` or `-` (so no paths, no `..`, no spaces).
///
/// ```
/// use weir::runtime::is_valid_artifact_name;
/// assert!(is_valid_artifact_name("frame-000001.png"));
/// assert!(!is_valid_artifact_name("../etc/passwd"));
/// assert!(!is_valid_artifact_name(".hidden"));
/// ```
pub fn is_valid_artifact_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.len() <= MAX_NAME_LEN
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_valid_media_type(media_type: &str) -> bool {
    !media_type.is_empty()
        && media_type.len() <= MAX_MEDIA_TYPE_LEN
        && media_type.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Checks one frame's artifacts: names, media types, total size, no duplicates.
fn check_artifacts(artifacts: &[Artifact]) -> Result<(), String> {
    let mut names = HashSet::with_capacity(artifacts.len());
    let mut total: usize = 0;
    for artifact in artifacts {
        let name = &artifact.name;
        // Quote at most a prefix of a bad name: it may be huge.
        let shown: String = name.chars().take(64).collect();
        if !is_valid_artifact_name(name) {
            return Err(format!(
                "name {shown:?} is not allowed: use 1 to {MAX_NAME_LEN} ASCII letters, digits, \
                 `.`, `_` or `-`, starting with a letter or digit"
            ));
        }
        if !is_valid_media_type(&artifact.media_type) {
            let media_type: String = artifact.media_type.chars().take(64).collect();
            return Err(format!(
                "{name}: media type {media_type:?} must be 1 to {MAX_MEDIA_TYPE_LEN} printable \
                 ASCII characters"
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(format!("two artifacts are named {name}"));
        }
        total = total.saturating_add(artifact.data.len());
        if total > MAX_ARTIFACT_BYTES {
            return Err(format!(
                "the frame's artifacts are larger than {} MiB together",
                MAX_ARTIFACT_BYTES >> 20
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(name: &str, media_type: &str) -> Artifact {
        Artifact {
            name: name.into(),
            media_type: media_type.into(),
            data: b"x".to_vec(),
        }
    }

    #[test]
    fn artifact_names_are_plain_file_names() {
        for ok in [
            "a",
            "frame-000001.png",
            "F.tar.gz",
            "0_x-y.z",
            &"a".repeat(128),
        ] {
            assert!(is_valid_artifact_name(ok), "{ok:?}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "_x",
            "a/b",
            "../x",
            "a b",
            "a\\b",
            "a:b",
            "frame\n",
            "é.png",
            &"a".repeat(129),
        ] {
            assert!(!is_valid_artifact_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn artifacts_are_checked_for_media_type_duplicates_and_size() {
        assert!(check_artifacts(&[artifact("a.txt", "text/plain"), artifact("b", "x")]).is_ok());
        let err = check_artifacts(&[artifact("a/b", "text/plain")]).unwrap_err();
        assert!(err.contains("\"a/b\" is not allowed"), "{err}");
        let err = check_artifacts(&[artifact("a", "")]).unwrap_err();
        assert!(err.contains("media type"), "{err}");
        let err = check_artifacts(&[artifact("a", "text/\u{7f}")]).unwrap_err();
        assert!(err.contains("media type"), "{err}");
        let err = check_artifacts(&[artifact("a", "t"), artifact("a", "t")]).unwrap_err();
        assert_eq!(err, "two artifacts are named a");
        let mut big = artifact("big", "t");
        big.data = vec![0; MAX_ARTIFACT_BYTES];
        assert!(check_artifacts(std::slice::from_ref(&big)).is_ok());
        let err = check_artifacts(&[big, artifact("one-more", "t")]).unwrap_err();
        assert!(err.contains("256 MiB"), "{err}");
    }
}
