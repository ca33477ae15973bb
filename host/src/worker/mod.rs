//! The render worker behind `weir worker`: render tasks for a job manager (a `weir serve`), as the
//! worker protocol of `docs/render-jobs.md` says.
//!
//! The worker registers, then runs one loop per slot: lease a task, fetch
//! its component by digest (once; cached on disk and compiled once), render
//! its frames with [`run_frames`], upload each frame's artifacts, and report
//! the task complete or failed. A heartbeat loop keeps the leases alive,
//! carries progress and plugin log lines, and stops the tasks the manager
//! cancels. A worker the manager forgot (404) registers again and abandons
//! what it held under its old id. A first SIGINT or SIGTERM signs it off
//! gently: it takes no more tasks, finishes the running ones, then signs off;
//! a second one stops the running tasks at once and signs off, and the
//! manager queues them again without counting a failure (as Flamenco's
//! sign-off does).

mod packages;
mod task;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::client::{Heartbeat, HeartbeatReply, HubClient, WorkerRegistration};
use crate::runtime::{Program, Runtime};
use task::{Running, Stop};

/// How long a slot waits when the manager has nothing to do.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// How long a slot waits when the manager refuses work (423), and the first
/// wait when it is unreachable; the wait doubles up to [`MAX_BACKOFF`].
const REFUSED_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between tries while the manager is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Heartbeat interval until the manager names one.
const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(500);

/// The worker's identity on the manager.
struct Identity {
    id: String,
    heartbeat: Duration,
}

/// One worker process: its client, runtime, caches and running tasks.
pub struct Worker {
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
    /// Set while the manager cannot be reached, so an outage is logged once.
    unreachable: std::sync::atomic::AtomicBool,
    /// Why the manager refused this worker for good (401, 403): it exits.
    refused: Mutex<Option<String>>,
}

impl Worker {
    /// A worker that talks to the manager through `client`, renders on `runtime`, keeps
    /// downloaded components under `cache` and registers as `registration`.
    pub fn new(
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
            unreachable: std::sync::atomic::AtomicBool::new(false),
            refused: Mutex::new(None),
        }
    }

    /// Notes a failed call to the manager: a permanent refusal (401, 403)
    /// stops the worker; an outage is logged when it begins.
    fn failed(&self, what: &str, e: &crate::client::ClientError) {
        if matches!(
            e.status(),
            Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        ) {
            let why = format!(
                "the manager refused this worker ({what}: {e}); check --token (WEIR_TOKEN)"
            );
            self.refused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(why);
            self.stop.cancel();
            return;
        }
        if !self.unreachable.swap(true, Ordering::Relaxed) {
            warn!(
                "{what} failed: {e}; retrying, waiting up to {}s between tries",
                MAX_BACKOFF.as_secs()
            );
        }
    }

    /// Notes a call the manager answered: an outage, if any, is over.
    fn reached(&self) {
        if self.unreachable.swap(false, Ordering::Relaxed) {
            info!("the manager answers again");
        }
    }

    /// Why the manager refused this worker for good, if it did.
    fn refusal(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Registers, runs the slots, the heartbeats and (with `idle`) the idle
    /// timer until a signal, a drain or the idle time ends it, then signs off.
    pub async fn run(self: Arc<Self>, idle: Option<Duration>) -> anyhow::Result<ExitCode> {
        let mut signals = Signals::new()?;
        tokio::select! {
            () = self.register_until_done() => {}
            () = signals.received() => return Ok(ExitCode::SUCCESS),
        }
        if let Some(why) = self.refusal() {
            tracing::error!("{why}");
            return Ok(ExitCode::from(2));
        }
        let slots: Vec<_> = (0..self.registration.slots.unwrap_or(1) as u32)
            .map(|slot| tokio::spawn(self.clone().slot(slot)))
            .collect();
        let beats_done = CancellationToken::new();
        let beats = tokio::spawn(self.clone().heartbeats(beats_done.clone()));
        if let Some(idle) = idle {
            tokio::spawn(self.clone().exit_when_idle(idle));
        }
        tokio::select! {
            () = signals.received() => {
                if !self.running().is_empty() {
                    info!("finishing the running tasks, then signing off (a second SIGINT or SIGTERM stops them at once)");
                }
                self.stop.cancel();
            }
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
        if let Some(why) = self.refusal() {
            tracing::error!("{why}");
            return Ok(ExitCode::from(2));
        }
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

    /// Stops picking up, and stops every running task; signing off then
    /// hands them back to the manager's queue.
    fn shut_down(&self) {
        if !self.shutdown.is_cancelled() {
            info!("shutting down: stopping the running tasks; the manager queues them again");
        }
        self.stop.cancel();
        self.shutdown.cancel();
        for running in self.running().values() {
            running.stop(Stop::Shutdown);
        }
    }

    /// `POST /workers` until it works (or the worker stops).
    async fn register_until_done(&self) {
        let mut wait = REFUSED_WAIT;
        loop {
            match self.client.register_worker(&self.registration).await {
                Ok(worker) => {
                    self.reached();
                    let heartbeat = worker
                        .heartbeat_ms
                        .filter(|&ms| ms > 0)
                        .map_or(DEFAULT_HEARTBEAT, Duration::from_millis);
                    info!(
                        "registered as worker {} ({}, {} slots) with {}",
                        worker.id,
                        self.registration.name.as_deref().unwrap_or_default(),
                        self.registration.slots.unwrap_or(1),
                        self.client.api_url()
                    );
                    *self.identity() = Identity {
                        id: worker.id,
                        heartbeat,
                    };
                    return;
                }
                Err(e) => self.failed("registering with the manager", &e),
            }
            if self.pause(wait).await {
                return;
            }
            wait = (wait * 2).min(MAX_BACKOFF);
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
        let mut backoff = REFUSED_WAIT;
        while !self.stop.is_cancelled() {
            let id = self.id();
            let picked = self.client.pickup(&id).await;
            if picked.is_ok() {
                self.reached();
                backoff = REFUSED_WAIT;
            }
            let wait = match picked {
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
                    self.failed("leasing a task", &e);
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            if self.pause(wait).await {
                break;
            }
        }
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
            Ok(reply) => {
                self.reached();
                self.answer(reply);
            }
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => self.register_again(&id).await,
            Err(e) => {
                self.failed("a heartbeat", &e);
                for (running, sent) in running.iter().zip(beat.tasks) {
                    running.unsent(sent.log);
                }
            }
        }
    }

    fn answer(&self, reply: HeartbeatReply) {
        for task in &reply.cancel {
            if let Some(running) = self.running().get(task) {
                let why = reply.reasons.get(task).map_or("", String::as_str);
                info!("task {task}: the manager stops it: {why}");
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

/// The worker's stable id, kept in `<cache>/worker-ids/<name>` (made on
/// first start), so the manager knows it again after either of them
/// restarts. The file stays locked while the worker runs: a second worker of
/// the same name on the same cache takes `<name>.1` (and so on) instead.
pub fn stable_id(cache: &std::path::Path, name: &str) -> anyhow::Result<(String, std::fs::File)> {
    use anyhow::Context as _;
    use std::io::{Read, Seek, Write};
    let dir = cache.join("worker-ids");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    for n in 0..256 {
        let path = match n {
            0 => dir.join(&base),
            n => dir.join(format!("{base}.{n}")),
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let mut id = String::new();
        file.read_to_string(&mut id)?;
        let id = id.trim().to_string();
        if !id.is_empty() {
            return Ok((id, file));
        }
        let id = uuid::Uuid::new_v4().to_string();
        file.rewind()?;
        writeln!(file, "{id}").with_context(|| format!("cannot write {}", path.display()))?;
        return Ok((id, file));
    }
    anyhow::bail!("256 workers called {name:?} run on this cache dir already")
}
