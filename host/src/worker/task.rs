//! One leased task on a worker: rendering its frames, uploading their
//! artifacts, and reporting how it ended.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Worker;
use crate::client::{ClientError, TaskLease, TaskReport};
use crate::jobs::{TaskSpec, TaskUsage, run_frames};
use crate::runtime::{Artifact, RenderError};

/// Time limit of a task whose lease names none.
const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How long an upload or report is tried again while the manager is
/// unreachable (or failing): long enough to outlive a restart of the
/// manager, which keeps a running attempt for its worker for one lease.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// The longest wait between two tries.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Plugin log lines kept per task between heartbeats; older ones are dropped.
const MAX_PENDING_LOG: usize = 1000;

/// Why a running task was stopped before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The manager named it in a heartbeat's `cancel`: it no longer wants it.
    Canceled,
    /// The manager refused an upload (409): this attempt lost the task.
    LeaseLost,
    /// The worker registered again; the task belonged to its old id.
    Abandoned,
    /// The worker is shutting down at once: its sign-off hands the task
    /// back to the queue, with no failure counted.
    Shutdown,
}

impl Stop {
    /// Why a task stopped this way needs no report (the manager has moved
    /// on), or `None` when it does.
    fn unreported(self) -> Option<&'static str> {
        match self {
            Stop::Canceled => Some("stopped by the manager"),
            Stop::LeaseLost => Some("lost its lease; dropped"),
            Stop::Abandoned => Some("abandoned: it was leased to an old worker id"),
            Stop::Shutdown => {
                Some("stopped: the worker is shutting down; it goes back to the queue")
            }
        }
    }
}

/// A task a slot is running.
pub(super) struct Running {
    pub(super) lease: TaskLease,
    /// The worker id it was leased to.
    pub(super) worker_id: String,
    cancel: CancellationToken,
    state: Mutex<RunningState>,
}

#[derive(Default)]
struct RunningState {
    progress: Option<f64>,
    /// Frames rendered and uploaded.
    frames_done: u32,
    log: VecDeque<String>,
    stop: Option<Stop>,
}

impl Running {
    fn state(&self) -> MutexGuard<'_, RunningState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the task for `why` (the first reason given sticks).
    pub(super) fn stop(&self, why: Stop) {
        self.state().stop.get_or_insert(why);
        self.cancel.cancel();
    }

    pub(super) fn stopped(&self) -> Option<Stop> {
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
    pub(super) fn beat(&self) -> TaskReport {
        let mut state = self.state();
        TaskReport {
            task_id: self.lease.task_id.clone(),
            attempt: self.lease.attempt,
            progress: state.progress,
            log: state.log.drain(..).collect(),
            frames_done: Some(state.frames_done),
        }
    }

    /// Puts back log lines a failed heartbeat did not deliver.
    pub(super) fn unsent(&self, lines: Vec<String>) {
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

/// Running tasks.
impl Worker {
    /// Runs a leased task to its end and reports how it ended.
    pub(super) async fn run_task(&self, lease: TaskLease, worker_id: String) {
        let running = Arc::new(Running {
            lease,
            worker_id,
            cancel: CancellationToken::new(),
            state: Mutex::default(),
        });
        let task_id = running.lease.task_id.clone();
        if running.lease.heartbeat_ms > 0 {
            self.identity().heartbeat = Duration::from_millis(running.lease.heartbeat_ms);
        }
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
    async fn render(&self, running: &Arc<Running>) -> Result<TaskUsage, String> {
        let lease = &running.lease;
        let program = self
            .program(&lease.package.digest)
            .await?
            .with_limits(lease_limits(lease.limits.as_ref()));
        let timeout = match lease.timeout_ms {
            0 => DEFAULT_TASK_TIMEOUT,
            ms => Duration::from_millis(ms),
        };
        let spec = TaskSpec {
            job_id: lease.job_id.clone(),
            attempt: lease.attempt,
            frame_attempt: match lease.frame_attempt {
                0 => lease.attempt,
                tries => tries,
            },
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
            let done = u32::try_from(frame - lease.frame_start + 1).unwrap_or(0);
            let mut state = running.state();
            state.frames_done = state.frames_done.max(done);
            Ok(())
        }
    }

    /// Tells the manager how the task ended, unless it has moved on already.
    async fn report(&self, running: &Running, result: Result<TaskUsage, String>, took: Duration) {
        let lease = &running.lease;
        let (task, frames) = (&lease.task_id, running.frames());
        if let Some(why) = running.stopped().and_then(Stop::unreported) {
            info!("task {task} (frames {frames}) {why}");
            return;
        }
        let (usage, error) = match result {
            Ok(usage) => (Some((usage.cpu_ms, usage.peak_memory_bytes)), None),
            Err(e) => (None, Some(e)),
        };
        let id = &running.worker_id;
        let attempt = lease.attempt;
        let reported = match &error {
            None => {
                retry("completing", || {
                    self.client.complete_task(task, id, attempt, usage)
                })
                .await
            }
            Some(e) => {
                let done = running.state().frames_done;
                retry("failing", || {
                    self.client.fail_task(task, id, attempt, e, done)
                })
                .await
            }
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
}

/// Calls `call` until it works, fails for good, or [`RETRY_FOR`] has passed;
/// only an unreachable or failing (5xx) manager is tried again, with waits
/// doubling from 250 ms to [`MAX_RETRY_WAIT`]. The finished work it carries
/// is kept meanwhile, so a manager restarting under a worker loses nothing.
async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut delay = Duration::from_millis(250);
    let started = Instant::now();
    let mut warned = false;
    loop {
        match call().await {
            Err(e) if started.elapsed() < RETRY_FOR && is_transient(&e) => {
                if !warned {
                    warn!(
                        "{what} failed ({e}); trying again for up to {}s",
                        RETRY_FOR.as_secs()
                    );
                    warned = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_WAIT);
            }
            result => {
                if warned && result.is_ok() {
                    info!("{what}: done after the manager came back");
                }
                return result;
            }
        }
    }
}

fn is_transient(e: &ClientError) -> bool {
    e.is_transient()
}

/// `7` or `1-10`.
fn frames_label(start: i64, end: i64) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}-{end}")
    }
}

/// The package limits a lease carries.
fn lease_limits(limits: Option<&crate::wire::LeaseLimits>) -> crate::runtime::Limits {
    let limits = limits.copied().unwrap_or_default();
    crate::runtime::Limits {
        memory_bytes: limits.memory_bytes.map(|b| b as usize),
        wall_time: limits.wall_time_ms.map(Duration::from_millis),
        cpu_time: limits.cpu_time_ms.map(Duration::from_millis),
    }
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
