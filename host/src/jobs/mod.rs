//! Render jobs: a queue of frame tasks, handed to worker slots with a lease.
//!
//! A job names a render package and a frame list; it is split into tasks of
//! `chunk_size` consecutive frames. Workers — the hub's own slots and remote
//! `weir worker` processes — lease one task at a time ([`JobManager::pickup`]),
//! stage its artifacts, and complete or fail it. The manager keeps the whole
//! queue in memory behind one mutex and writes every change through to SQLite
//! before answering, so a crash loses nothing that was acknowledged: on
//! start, tasks the hub's own slots were running go back to the queue, and
//! a remote worker's running task stays its for one lease, with what it had
//! staged, so a worker that outlived the restart can still report it.
//!
//! Failure ladder (after Flamenco): a failed task is retried — on another
//! worker when one can take it — until it has failed `max_retries + 1`
//! times, then the job fails; a worker that fails `blocklist_after` tasks of
//! a job takes no more of that job's tasks. A worker that misses heartbeats
//! for the lease time is lost and its tasks are requeued; a task running
//! past its timeout fails. Cancel and pause stop running tasks at once
//! (local slots through a cancellation token and epoch interruption, remote
//! workers through the heartbeat answer).

mod bulk;
mod changes;
mod config;
mod control;
mod error;
mod exec;
mod failures;
mod frames;
mod job;
mod ledger;
mod log;
mod model;
mod progress;
mod queries;
mod recovery;
mod scheduler;
mod space;
mod staging;
mod store;
mod submit;
mod sweeper;
#[cfg(test)]
mod tests;
mod view;
mod wire;
mod workers;

use recovery::{StagedMeta, meta_path};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use crate::wire::{FrameSpec, HeartbeatReply, PatchJob, SubmitJob, TaskReport};
pub use changes::{JobChanges, JobSource, LocalChanges, PackageCheck, SpaceChanges};
pub use config::{JobsConfig, LOCAL_WORKER, MAX_TASK_PAGE, MAX_TASKS, Ordering};
pub use error::JobError;
pub use exec::{TaskSpec, run_frames};
pub use frames::MAX_FRAMES;
pub use log::LogFeed;
pub use model::{
    ArtifactMeta, Failure, Job, JobState, StateCounts, Task, TaskState, TaskUsage, Worker,
    WorkerState, WorkerStatus,
};
pub use space::{LocalPrograms, MAX_QUEUED_TASKS, Slot, SpaceJobs};
pub use wire::{JobAction, JobPackage, Lease, PickupError, Upload};

use config::MAX_ERRORS;
use log::JobLog;
use queries::job_view;
use scheduler::{seen_worker, tags_match, unknown_worker};
use submit::check_tags;

use crate::events::Feed;
use crate::metrics::TaskMetrics;
use crate::package::Kind;

impl State {
    /// The job and index of task `task_id` (404 when there is none).
    fn task_mut(&mut self, task_id: &str) -> Result<(&mut Job, usize), JobError> {
        let missing = || JobError::NotFound(format!("Task {task_id} not found"));
        let (job_id, idx) = self.tasks.get(task_id).cloned().ok_or_else(missing)?;
        let job = self.jobs.get_mut(&job_id).ok_or_else(missing)?;
        Ok((job, idx))
    }
}

/// What the manager's one mutex guards.
struct State {
    store: store::Store,
    jobs: HashMap<String, Job>,
    tasks: HashMap<String, (String, usize)>,
    workers: BTreeMap<String, Worker>,
    next_seq: u64,
    unsaved: bulk::Unsaved,
}

/// The job manager. Shared behind an `Arc`.
pub struct JobManager {
    state: Mutex<State>,
    config: JobsConfig,
    /// The hub-wide change feed (`GET /events`) this manager reports jobs, tasks and
    /// workers to.
    events: Arc<Feed>,
    work: Notify,
    artifacts_dir: PathBuf,
    staging_dir: PathBuf,
    logs_dir: PathBuf,
    /// Artifact uploads streaming to disk now (see `staging`).
    artifact_uploads: tokio::sync::Semaphore,
    /// Task durations and retries, for the metrics.
    task_metrics: TaskMetrics,
    /// The space whose jobs this manager mirrors and runs, once it joined one.
    space: std::sync::OnceLock<Arc<SpaceJobs>>,
    /// What this machine's render slots are in the space.
    space_slot: std::sync::OnceLock<Slot>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn storage(e: impl std::fmt::Display) -> JobError {
    JobError::Io(std::io::Error::other(format!("job store: {e}")))
}

impl JobManager {
    /// The manager's settings.
    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a task may have become available (or a second passes).
    pub async fn work_available(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.work.notified()).await;
    }

    /// Records a change for `/events` subscribers (and those who reconnect).
    fn emit(&self, kind: &'static str, job_id: Option<&str>, data: impl FnOnce() -> Value) {
        self.events.send(kind, job_id, data());
    }

    fn emit_job(&self, job: &Job) {
        self.emit("job", Some(&job.id), || view::job(job));
    }

    fn emit_task(&self, task: &Task) {
        self.emit("task", Some(&task.job_id), || view::task(task));
    }

    fn emit_worker(&self, worker: &Worker) {
        self.emit("worker", None, || view::worker(worker));
    }

    /// The space this manager joined, if any.
    pub fn space(&self) -> Option<&Arc<SpaceJobs>> {
        self.space.get()
    }

    /// What this machine's slots are in the space (none before it joined one).
    pub fn space_slot(&self) -> Option<&Slot> {
        self.space_slot.get()
    }

    /// Whether job `id` is a job of the space (changed through JetStream).
    pub fn is_shared(&self, id: &str) -> bool {
        self.lock().jobs.get(id).is_some_and(|j| j.shared)
    }

    /// Joins `space`: its jobs are mirrored here from now on (and their logs followed,
    /// with `follow_logs`: a hub's), and `slot` (if any) says what this machine's render
    /// slots are there. Its worker record is kept fresh while the manager lives.
    pub fn join_space(
        self: &Arc<Self>,
        space: Arc<SpaceJobs>,
        slot: Option<Slot>,
        follow_logs: bool,
    ) -> Result<(), JobError> {
        let dir = self.space_logs_dir();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if self.space.set(space.clone()).is_err() {
            return Err(JobError::Conflict(
                "the job manager is in a space already".into(),
            ));
        }
        space.spawn_mirror(Arc::downgrade(self));
        if follow_logs {
            space.spawn_log_follower(Arc::downgrade(self));
        }
        if let Some(slot) = slot {
            space.spawn_worker_record(Arc::downgrade(self), &slot);
            let _ = self.space_slot.set(slot);
        }
        Ok(())
    }

    /// Where the logs of the space's jobs are copied (made again on joining).
    fn space_logs_dir(&self) -> PathBuf {
        self.logs_dir.join("space")
    }

    /// Directory holding a job's artifacts.
    pub fn artifact_dir(&self, job_id: &str) -> PathBuf {
        self.artifacts_dir.join(job_id)
    }
}
