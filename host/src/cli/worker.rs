//! `weir worker`: render tasks for a job manager (a `weir serve`), as the
//! worker protocol of `docs/render-jobs.md` says.
//!
//! The worker registers, then runs one loop per slot: lease a task, fetch
//! its component by digest (once; cached on disk and compiled once), render
//! its frames with [`run_frames`], upload each frame's artifacts, and report
//! the task complete or failed. A heartbeat loop keeps the leases alive,
//! carries progress and plugin log lines, and stops the tasks the manager
//! cancels. A worker the manager forgot (404) registers again and abandons
//! what it held under its old id. SIGINT or SIGTERM stops it: running tasks
//! are reported failed and the worker signs off.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::client::{
    ClientError, Heartbeat, HeartbeatReply, HubClient, TaskBeat, TaskLease, WorkerRegistration,
};
use crate::jobs::{TaskSpec, run_frames};
use crate::runtime::{Artifact, Program, RenderError, Runtime, RuntimeConfig};

/// How long a slot waits when the manager has nothing to do.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// How long a slot waits when the manager refuses work (423) or is unreachable.
const REFUSED_WAIT: Duration = Duration::from_secs(1);
/// Heartbeat interval until the manager names one.
const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(500);
/// Time limit of a task whose lease names none.
const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How often an upload or report is tried when the manager is unreachable.
const TRIES: u32 = 4;
/// Plugin log lines kept per task between heartbeats; older ones are dropped.
const MAX_PENDING_LOG: usize = 1000;

/// Arguments of `weir worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// URL of the job manager, a `weir serve` (default: --hub).
    #[arg(long, env = "WEIR_MANAGER", value_name = "URL")]
    pub manager: Option<String>,
    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub slots: Option<u32>,
    /// Take only jobs with one of these tags (comma-separated; default: any job).
    #[arg(long, value_delimiter = ',', value_name = "TAGS")]
    pub tags: Vec<String>,
    /// The name the manager shows (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Where packages and compiled components are cached (default: the user cache dir).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Exit (signing off) after this many seconds without a task.
    #[arg(long, value_name = "SECS")]
    pub exit_when_idle: Option<u64>,
    /// Memory limit of each frame's instance, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub memory_mb: usize,
}

/// Runs the worker until it is interrupted, drained or idle long enough.
pub fn worker(args: WorkerArgs, hub: &str, token: Option<String>) -> anyhow::Result<ExitCode> {
    init_tracing();
    let manager = args.manager.as_deref().unwrap_or(hub);
    let client = HubClient::new(manager, token)?;
    let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let slots = args.slots.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
    });
    let name = args
        .name
        .clone()
        .or_else(|| sysinfo::System::host_name().ok())
        .unwrap_or_else(|| "worker".into());
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let render = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.join("compiled")),
            max_memory_bytes: args.memory_mb << 20,
            ..RuntimeConfig::default()
        })?;
        let registration = WorkerRegistration {
            name,
            slots,
            tags: args.tags.clone(),
        };
        let worker = Arc::new(Worker::new(client, render, cache, registration));
        let idle = args.exit_when_idle.map(Duration::from_secs);
        worker.run(idle).await
    })
}

/// Why a running task was stopped before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The manager named it in a heartbeat's `cancel`: it no longer wants it.
    Canceled,
    /// The manager refused an upload (409): this attempt lost the task.
    LeaseLost,
    /// The worker registered again; the task belonged to its old id.
    Abandoned,
    /// The worker is shutting down: report it failed.
    Shutdown,
}

/// A task a slot is running.
struct Running {
    lease: TaskLease,
    /// The worker id it was leased to.
    worker_id: String,
    cancel: CancellationToken,
    state: Mutex<RunningState>,
}

#[derive(Default)]
struct RunningState {
    progress: Option<f64>,
    log: VecDeque<String>,
    stop: Option<Stop>,
}

impl Running {
    fn state(&self) -> MutexGuard<'_, RunningState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the task for `why` (the first reason given sticks).
    fn stop(&self, why: Stop) {
        self.state().stop.get_or_insert(why);
        self.cancel.cancel();
    }

    fn stopped(&self) -> Option<Stop> {
        self.state().stop
    }

    fn push_log(&self, line: String) {
        let mut state = self.state();
        if state.log.len() >= MAX_PENDING_LOG {
            state.log.pop_front();
        }
        state.log.push_back(line);
    }

    /// What the next heartbeat says about this task; its log lines are taken.
    fn beat(&self) -> TaskBeat {
        let mut state = self.state();
        TaskBeat {
            task_id: self.lease.task_id.clone(),
            attempt: self.lease.attempt,
            progress: state.progress,
            log: state.log.drain(..).collect(),
        }
    }

    /// Puts back log lines a failed heartbeat did not deliver.
    fn unsent(&self, lines: Vec<String>) {
        let mut state = self.state();
        for line in lines.into_iter().rev() {
            state.log.push_front(line);
        }
        while state.log.len() > MAX_PENDING_LOG {
            state.log.pop_front();
        }
    }

    fn frames(&self) -> String {
        frames_label(self.lease.frame_start, self.lease.frame_end)
    }
}

/// The worker's identity on the manager.
struct Identity {
    id: String,
    heartbeat: Duration,
}

/// One worker process: its client, runtime, caches and running tasks.
struct Worker {
    client: HubClient,
    runtime: Runtime,
    cache: PathBuf,
    registration: WorkerRegistration,
    identity: Mutex<Identity>,
    /// Serialises registering again, so a forgotten worker registers once.
    registering: tokio::sync::Mutex<()>,
    tasks: Mutex<HashMap<String, Arc<Running>>>,
    /// Compiled components by digest, each loaded once.
    programs: Mutex<HashMap<String, Arc<OnceCell<Program>>>>,
    /// No more pickups: the worker is ending.
    stop: CancellationToken,
    /// Running tasks are being stopped: the worker is shutting down.
    shutdown: CancellationToken,
    /// When the last task ended (or the worker started), in ms since `started`.
    idle_since_ms: AtomicU64,
    started: Instant,
}

impl Worker {
    fn new(
        client: HubClient,
        runtime: Runtime,
        cache: PathBuf,
        registration: WorkerRegistration,
    ) -> Self {
        Self {
            client,
            runtime,
            cache,
            registration,
            identity: Mutex::new(Identity {
                id: String::new(),
                heartbeat: DEFAULT_HEARTBEAT,
            }),
            registering: tokio::sync::Mutex::new(()),
            tasks: Mutex::default(),
            programs: Mutex::default(),
            stop: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            idle_since_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Registers, runs the slots, the heartbeats and (with `idle`) the idle
    /// timer until a signal, a drain or the idle time ends it, then signs off.
    async fn run(self: Arc<Self>, idle: Option<Duration>) -> anyhow::Result<ExitCode> {
        let mut signals = Signals::new()?;
        tokio::select! {
            () = self.register_until_done() => {}
            () = signals.received() => return Ok(ExitCode::SUCCESS),
        }
        let slots: Vec<_> = (0..self.registration.slots)
            .map(|slot| tokio::spawn(self.clone().slot(slot)))
            .collect();
        let beats_done = CancellationToken::new();
        let beats = tokio::spawn(self.clone().heartbeats(beats_done.clone()));
        if let Some(idle) = idle {
            tokio::spawn(self.clone().exit_when_idle(idle));
        }
        tokio::select! {
            () = signals.received() => self.shut_down(),
            () = self.stop.cancelled() => {}
        }
        let all = futures::future::join_all(slots);
        tokio::pin!(all);
        loop {
            tokio::select! {
                _ = &mut all => break,
                () = signals.received() => self.shut_down(),
            }
        }
        beats_done.cancel();
        let _ = beats.await;
        let id = self.id();
        match self.client.delete_worker(&id).await {
            Ok(_) => info!("worker {id} signed off"),
            Err(e) => warn!("worker {id} could not sign off: {e}"),
        }
        Ok(ExitCode::SUCCESS)
    }

    fn id(&self) -> String {
        self.identity().id.clone()
    }

    fn identity(&self) -> MutexGuard<'_, Identity> {
        self.identity.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn running(&self) -> MutexGuard<'_, HashMap<String, Arc<Running>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops picking up, and stops every running task so it is reported failed.
    fn shut_down(&self) {
        if !self.shutdown.is_cancelled() {
            info!("shutting down: stopping the running tasks");
        }
        self.stop.cancel();
        self.shutdown.cancel();
        for running in self.running().values() {
            running.stop(Stop::Shutdown);
        }
    }

    /// `POST /workers` until it works (or the worker stops).
    async fn register_until_done(&self) {
        loop {
            match self.client.register_worker(&self.registration).await {
                Ok(worker) => {
                    let heartbeat = worker
                        .heartbeat_ms
                        .filter(|&ms| ms > 0)
                        .map_or(DEFAULT_HEARTBEAT, Duration::from_millis);
                    info!(
                        "registered as worker {} ({}, {} slots) with {}",
                        worker.id,
                        self.registration.name,
                        self.registration.slots,
                        self.client.api_url()
                    );
                    *self.identity() = Identity {
                        id: worker.id,
                        heartbeat,
                    };
                    return;
                }
                Err(e) => warn!("cannot register with the manager: {e}; retrying"),
            }
            if self.pause(REFUSED_WAIT).await {
                return;
            }
        }
    }

    /// The manager forgot worker `stale` (404): register again, once, and
    /// abandon the tasks leased to the old id.
    async fn register_again(&self, stale: &str) {
        let _one_at_a_time = self.registering.lock().await;
        if self.id() != stale {
            return;
        }
        warn!("the manager no longer knows worker {stale}; registering again");
        for running in self.running().values() {
            if running.worker_id == stale {
                running.stop(Stop::Abandoned);
            }
        }
        self.register_until_done().await;
    }

    /// Waits `delay`; true when the worker stops meanwhile.
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => self.stop.is_cancelled(),
            () = self.stop.cancelled() => true,
        }
    }

    /// One slot: lease a task, run it, repeat until the worker stops.
    async fn slot(self: Arc<Self>, slot: u32) {
        tracing::debug!("slot {slot} started");
        while !self.stop.is_cancelled() {
            let id = self.id();
            let wait = match self.client.pickup(&id).await {
                Ok(Some(lease)) => {
                    self.run_task(lease, id).await;
                    continue;
                }
                Ok(None) => IDLE_POLL,
                Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
                    self.register_again(&id).await;
                    continue;
                }
                Err(e) if e.status() == Some(StatusCode::LOCKED) => REFUSED_WAIT,
                Err(e) => {
                    warn!("cannot lease a task: {e}");
                    REFUSED_WAIT
                }
            };
            if self.pause(wait).await {
                break;
            }
        }
    }

    /// Runs a leased task to its end and reports how it ended.
    async fn run_task(&self, lease: TaskLease, worker_id: String) {
        let running = Arc::new(Running {
            lease,
            worker_id,
            cancel: CancellationToken::new(),
            state: Mutex::default(),
        });
        let task_id = running.lease.task_id.clone();
        self.running().insert(task_id.clone(), running.clone());
        self.touch();
        if self.shutdown.is_cancelled() {
            running.stop(Stop::Shutdown);
        }
        info!(
            "task {task_id} started: job {}, frames {}, attempt {}",
            running.lease.job_id,
            running.frames(),
            running.lease.attempt
        );
        let started = Instant::now();
        let result = self.render(&running).await;
        // Deliver the last log lines while the manager still counts the task as held.
        let unsent_log = !running.state().log.is_empty();
        if unsent_log && running.stopped().is_none() {
            self.beat().await;
        }
        self.report(&running, result, started.elapsed()).await;
        self.running().remove(&task_id);
        self.touch();
    }

    /// Renders every frame of the task, uploading each frame's artifacts.
    async fn render(&self, running: &Arc<Running>) -> Result<(), String> {
        let lease = &running.lease;
        let program = self.program(&lease.package.digest).await?;
        let timeout = match lease.timeout_ms {
            0 => DEFAULT_TASK_TIMEOUT,
            ms => Duration::from_millis(ms),
        };
        let spec = TaskSpec {
            job_id: lease.job_id.clone(),
            attempt: lease.attempt,
            frame_start: lease.frame_start,
            frame_end: lease.frame_end,
            settings: serde_json::Value::Object(lease.settings.clone()).to_string(),
            timeout,
        };
        let progress = running.clone();
        let on_progress = Arc::new(move |p: f32| progress.state().progress = Some(f64::from(p)));
        let log = running.clone();
        let on_log =
            Arc::new(move |level: &str, line: &str| log.push_log(format!("{level}: {line}")));
        let sink = |frame: i64, artifacts: Vec<Artifact>| self.upload(running, frame, artifacts);
        let rendered = run_frames(
            &self.runtime,
            &program,
            &spec,
            running.cancel.clone(),
            on_progress,
            Some(on_log),
            sink,
        )
        .await;
        rendered.map_err(|e| match e {
            RenderError::Failed(message) => message,
            other => other.to_string(),
        })
    }

    /// Uploads one frame's artifacts; a 409 means the lease is lost.
    fn upload(
        &self,
        running: &Arc<Running>,
        frame: i64,
        artifacts: Vec<Artifact>,
    ) -> impl Future<Output = Result<(), String>> + use<> {
        let client = self.client.clone();
        let running = running.clone();
        async move {
            let lease = &running.lease;
            for artifact in artifacts {
                let data = Bytes::from(artifact.data);
                let what = format!("uploading {}", artifact.name);
                let uploaded = retry(&what, || {
                    client.upload_artifact(
                        &lease.task_id,
                        lease.attempt,
                        frame,
                        &artifact.name,
                        &artifact.media_type,
                        data.clone(),
                    )
                })
                .await;
                if let Err(e) = uploaded {
                    if e.status() == Some(StatusCode::CONFLICT) {
                        running.stop(Stop::LeaseLost);
                    }
                    return Err(format!("cannot upload {}: {e}", artifact.name));
                }
            }
            Ok(())
        }
    }

    /// Tells the manager how the task ended, unless it has moved on already.
    async fn report(&self, running: &Running, result: Result<(), String>, took: Duration) {
        let lease = &running.lease;
        let (task, frames) = (&lease.task_id, running.frames());
        let error = match (result, running.stopped()) {
            (_, Some(Stop::Canceled)) => {
                return info!("task {task} (frames {frames}) canceled by the manager");
            }
            (_, Some(Stop::Abandoned)) => {
                return info!(
                    "task {task} (frames {frames}) abandoned: it was leased to an old id"
                );
            }
            (_, Some(Stop::LeaseLost)) => {
                return warn!("task {task} (frames {frames}) lost its lease; dropped");
            }
            (Ok(()), _) => None,
            (Err(_), Some(Stop::Shutdown)) => Some("worker shutting down".to_string()),
            (Err(e), None) => Some(e),
        };
        let id = &running.worker_id;
        let attempt = lease.attempt;
        let reported = match &error {
            None => {
                retry("completing", || {
                    self.client.complete_task(task, id, attempt)
                })
                .await
            }
            Some(e) => retry("failing", || self.client.fail_task(task, id, attempt, e)).await,
        };
        let secs = took.as_secs_f64();
        match (error, reported) {
            (None, Ok(())) => info!("task {task} (frames {frames}) completed in {secs:.1}s"),
            (Some(e), Ok(())) => {
                warn!("task {task} (frames {frames}) failed after {secs:.1}s: {e}")
            }
            (_, Err(e)) => warn!("task {task} (frames {frames}): the manager took no report: {e}"),
        }
    }

    /// The compiled component with `digest`: loaded once per process, from
    /// the disk cache or downloaded from the manager.
    async fn program(&self, digest: &str) -> Result<Program, String> {
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "the lease names an invalid package digest {digest:?}"
            ));
        }
        let cell = self
            .programs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.to_ascii_lowercase())
            .or_default()
            .clone();
        let program = cell
            .get_or_try_init(|| self.load(digest))
            .await
            .map_err(|e| format!("cannot load package {digest}: {e:#}"))?;
        Ok(program.clone())
    }

    async fn load(&self, digest: &str) -> anyhow::Result<Program> {
        let digest = digest.to_ascii_lowercase();
        let path = self.cache.join("packages").join(format!("{digest}.wasm"));
        if let Ok(program) = self.compile(&path, &digest).await {
            return Ok(program);
        }
        info!("downloading package {digest}");
        self.download(&digest, &path).await?;
        self.compile(&path, &digest).await
    }

    /// Compiles (or loads compiled) the component at `path`, which must
    /// hash to `digest`.
    async fn compile(&self, path: &Path, digest: &str) -> anyhow::Result<Program> {
        let runtime = self.runtime.clone();
        let file = path.to_path_buf();
        let program = tokio::task::spawn_blocking(move || runtime.load(&file)).await??;
        anyhow::ensure!(
            program.digest == digest,
            "{} does not hash to its name",
            path.display()
        );
        Ok(program)
    }

    /// Downloads the component `digest` to `path` (atomically), checking
    /// that it hashes to `digest`.
    async fn download(&self, digest: &str, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().context("the package path has no directory")?;
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let partial = tempfile::NamedTempFile::new_in(dir)?.into_temp_path();
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut body = self.client.package(digest).await?;
        let mut hash = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        let got = hex::encode(hash.finalize());
        anyhow::ensure!(
            got == digest,
            "the manager sent a package hashing to {got}, not {digest}"
        );
        partial.persist(path)?;
        Ok(())
    }

    /// Heartbeats every `heartbeatMs` until `done`.
    async fn heartbeats(self: Arc<Self>, done: CancellationToken) {
        loop {
            let every = self.identity().heartbeat;
            tokio::select! {
                () = tokio::time::sleep(every) => self.beat().await,
                () = done.cancelled() => return,
            }
        }
    }

    /// One heartbeat: the running tasks' progress and log lines; acts on
    /// the reply.
    async fn beat(&self) {
        let id = self.id();
        let running: Vec<Arc<Running>> = self
            .running()
            .values()
            .filter(|r| r.worker_id == id)
            .cloned()
            .collect();
        let beat = Heartbeat {
            tasks: running.iter().map(|r| r.beat()).collect(),
        };
        match self.client.heartbeat(&id, &beat).await {
            Ok(reply) => self.answer(reply),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => self.register_again(&id).await,
            Err(e) => {
                warn!("heartbeat failed: {e}");
                for (running, sent) in running.iter().zip(beat.tasks) {
                    running.unsent(sent.log);
                }
            }
        }
    }

    fn answer(&self, reply: HeartbeatReply) {
        for task in &reply.cancel {
            if let Some(running) = self.running().get(task) {
                running.stop(Stop::Canceled);
            }
        }
        if reply.drain && !self.stop.is_cancelled() {
            info!("the manager drains this worker: finishing the running tasks");
            self.stop.cancel();
        }
    }

    /// Notes that a task started or ended now.
    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.idle_since_ms.store(now, Ordering::Relaxed);
    }

    /// Stops the worker once it has run no task for `idle`.
    async fn exit_when_idle(self: Arc<Self>, idle: Duration) {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        while !self.pause(IDLE_POLL).await {
            let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let since = self.idle_since_ms.load(Ordering::Relaxed);
            if self.running().is_empty() && now.saturating_sub(since) >= idle_ms {
                info!("no task for {}s: exiting", idle.as_secs());
                self.stop.cancel();
            }
        }
    }
}

/// Calls `call` until it works, fails for good, or has been tried [`TRIES`]
/// times; only an unreachable or failing (5xx) manager is tried again.
async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut delay = Duration::from_millis(250);
    let mut tries = 1;
    loop {
        match call().await {
            Err(e) if tries < TRIES && is_transient(&e) => {
                warn!("{what} failed ({e}); trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
                tries += 1;
            }
            result => return result,
        }
    }
}

fn is_transient(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. } => true,
        ClientError::Hub { status, .. } => status.is_server_error(),
        _ => false,
    }
}

/// `7` or `1-10`.
fn frames_label(start: i64, end: i64) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}-{end}")
    }
}

/// SIGINT and SIGTERM, registered once.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// `$XDG_CACHE_HOME/weir/worker` (`~/.cache/weir/worker` on Linux).
fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("weir")
        .join("worker")
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Running {
        Running {
            lease: TaskLease {
                task_id: "t".into(),
                attempt: 2,
                frame_start: 1,
                frame_end: 10,
                ..TaskLease::default()
            },
            worker_id: "w".into(),
            cancel: CancellationToken::new(),
            state: Mutex::default(),
        }
    }

    #[test]
    fn a_beat_takes_the_log_and_a_failed_one_puts_it_back() {
        let task = running();
        task.push_log("info: one".into());
        task.state().progress = Some(0.5);
        let beat = task.beat();
        assert_eq!(beat.log, vec!["info: one".to_string()]);
        assert_eq!((beat.attempt, beat.progress), (2, Some(0.5)));
        task.push_log("info: two".into());
        task.unsent(beat.log);
        assert_eq!(task.beat().log, vec!["info: one", "info: two"]);
        assert!(task.beat().log.is_empty());
    }

    #[test]
    fn the_first_stop_reason_sticks() {
        let task = running();
        assert_eq!(task.stopped(), None);
        task.stop(Stop::Canceled);
        task.stop(Stop::Shutdown);
        assert_eq!(task.stopped(), Some(Stop::Canceled));
        assert!(task.cancel.is_cancelled());
        assert_eq!(task.frames(), "1-10");
    }

    #[test]
    fn only_an_unreachable_or_failing_manager_is_tried_again() {
        let hub = |status| ClientError::Hub {
            status,
            message: String::new(),
        };
        assert!(is_transient(&hub(StatusCode::BAD_GATEWAY)));
        assert!(!is_transient(&hub(StatusCode::CONFLICT)));
        assert!(!is_transient(&hub(StatusCode::NOT_FOUND)));
    }
}
