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
mod error;
mod exec;
mod frames;
mod ledger;
mod recovery;
mod staging;
mod store;
mod view;
mod workers;

use recovery::{StagedMeta, meta_path};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

pub use error::JobError;
pub use exec::{TaskSpec, run_frames};
pub use frames::{FrameSpec, MAX_FRAMES};

use crate::events::{Feed, Subscription};
use crate::metrics::TaskMetrics;
use crate::package::Kind;

/// Id of the hub's own worker (its local slots).
pub const LOCAL_WORKER: &str = "local";
/// Most tasks one job may have (frames ÷ chunk size): bounds the memory
/// one job takes.
pub const MAX_TASKS: usize = 100_000;
/// Most tasks one page of `GET /jobs/:id/tasks` holds (and its default).
pub const MAX_TASK_PAGE: usize = 1000;
/// Errors kept per job.
const MAX_ERRORS: usize = 100;

/// In which order jobs get their tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Ordering {
    /// Highest priority first; ties go to the oldest job.
    Priority,
    /// Oldest job first (FIFO).
    OldestFirst,
    /// Newest job first (LIFO).
    NewestFirst,
    /// A random job each time.
    Random,
}

/// Settings of the job manager.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Render slots of the hub itself (0: a pure manager).
    pub slots: usize,
    /// Job ordering.
    pub ordering: Ordering,
    /// How long a remote worker may stay silent before it is lost.
    pub lease: Duration,
    /// How often remote workers heartbeat.
    pub heartbeat: Duration,
    /// Default time limit of one task.
    pub task_timeout: Duration,
    /// Default retries of a failed task.
    pub max_retries: u32,
    /// Failed tasks of one job after which a worker is blocklisted for it.
    pub blocklist_after: u32,
    /// Tags of the hub's own slots (jobs with tags run only on workers
    /// having all of them).
    pub slot_tags: Vec<String>,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            slots: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ordering: Ordering::Priority,
            lease: Duration::from_secs(15),
            heartbeat: Duration::from_millis(500),
            task_timeout: Duration::from_secs(600),
            max_retries: 3,
            blocklist_after: 3,
            slot_tags: Vec::new(),
        }
    }
}

/// Job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its first task to start.
    Queued,
    /// Tasks are running or done.
    Active,
    /// No new tasks start.
    Paused,
    /// Every task completed.
    Completed,
    /// A task ran out of retries.
    Failed,
    /// Canceled by a user.
    Canceled,
}

impl JobState {
    /// Whether the job will not run again without a requeue.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Canceled
        )
    }

    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Active => "active",
            JobState::Paused => "paused",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
        }
    }

    /// Parses a state name.
    pub fn parse(name: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Active,
            JobState::Paused,
            JobState::Completed,
            JobState::Failed,
            JobState::Canceled,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// Task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a worker.
    Queued,
    /// Leased to a worker.
    Active,
    /// Rendered; its artifacts are stored.
    Completed,
    /// Out of retries.
    Failed,
    /// Canceled with its job.
    Canceled,
}

impl TaskState {
    /// Every state, in slot order.
    const ALL: [TaskState; 5] = [
        TaskState::Queued,
        TaskState::Active,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Canceled,
    ];

    fn slot(self) -> usize {
        self as usize
    }

    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Active => "active",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Canceled => "canceled",
        }
    }
}

/// Jobs, tasks and workers per state, for the metrics.
#[derive(Debug, Default)]
pub struct StateCounts {
    /// Jobs per state.
    pub jobs: Vec<(&'static str, u64)>,
    /// Tasks per state.
    pub tasks: Vec<(&'static str, u64)>,
    /// Workers per state (`online`, `lost`, `offline`).
    pub workers: Vec<(&'static str, u64)>,
}

/// One failed attempt of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    /// Worker id.
    pub worker: String,
    /// Attempt number.
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
}

/// An artifact's index entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactMeta {
    /// File name (unique per job).
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes (hex).
    pub sha256: String,
    /// Frame that produced it.
    pub frame: i64,
    /// Task that produced it.
    pub task_id: String,
}

/// A job (persisted without its tasks).
#[derive(Serialize, Deserialize)]
pub struct Job {
    id: String,
    seq: u64,
    name: String,
    package_id: String,
    package_name: String,
    digest: String,
    settings: Value,
    /// Package config overlaid with `settings`, as JSON text: what tasks get.
    merged_settings: String,
    /// The package asks for grants (files, scratch, env, hosts), which only
    /// the hub's own slots provide: remote workers get only the component.
    #[serde(default)]
    local_only: bool,
    frames: String,
    chunk_size: usize,
    frames_total: usize,
    priority: i64,
    tags: Vec<String>,
    state: JobState,
    max_retries: u32,
    /// Percent of its tasks that may fail (out of retries) before the job
    /// does (0: the first such task fails it). Below it, the job goes on
    /// and ends `completed` with its failed frames listed.
    #[serde(default)]
    failure_threshold: u32,
    task_timeout_ms: u64,
    errors: Vec<String>,
    blocklist: Vec<String>,
    worker_failures: BTreeMap<String, u32>,
    created_ms: u64,
    updated_ms: u64,
    started_ms: Option<u64>,
    finished_ms: Option<u64>,
    #[serde(skip)]
    tasks: Vec<Task>,
    #[serde(skip)]
    counts: [usize; 5],
    #[serde(skip)]
    frames_done: usize,
    #[serde(skip)]
    queued: BTreeSet<usize>,
    #[serde(skip)]
    active: BTreeSet<usize>,
    #[serde(skip)]
    artifacts: BTreeMap<String, ArtifactMeta>,
    #[serde(skip)]
    log: JobLog,
    #[serde(skip)]
    last_progress_event: Option<Instant>,
}

/// A task: a run of consecutive frames of one job.
#[derive(Serialize, Deserialize)]
pub struct Task {
    id: String,
    job_id: String,
    index: usize,
    frame_start: i64,
    frame_end: i64,
    state: TaskState,
    attempt: u32,
    /// How many of its attempts failed, requeues included: the frames' next try is this + 1
    /// (`frame.attempt()`), while `attempt` also counts leases that were no try (a pause).
    #[serde(default)]
    tries_failed: u32,
    worker: Option<String>,
    progress: f32,
    failures: Vec<Failure>,
    started_ms: Option<u64>,
    finished_ms: Option<u64>,
    /// What its completed attempt used, as its worker reported it.
    #[serde(default)]
    usage: Option<TaskUsage>,
    /// Where its next attempt starts: the frames before it were finished by
    /// an attempt that failed later, and their artifacts kept.
    #[serde(default)]
    resume_from: Option<i64>,
    /// Frames the current attempt has finished (rendered and stored), as its
    /// worker reported them.
    #[serde(skip)]
    frames_finished: u32,
    #[serde(skip)]
    started_at: Option<Instant>,
    #[serde(skip)]
    cancel: Option<CancellationToken>,
    #[serde(skip)]
    staged: Vec<ArtifactMeta>,
}

impl Task {
    fn frame_count(&self) -> usize {
        (self.frame_end - self.frame_start + 1) as usize
    }
}

/// What a completed task's frames used (CPU summed, memory at its most), as
/// the worker that rendered them reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskUsage {
    /// Time spent running the frames' guests, in milliseconds.
    pub cpu_ms: f64,
    /// The most linear memory one frame had, in bytes.
    pub peak_memory_bytes: u64,
}

/// Worker liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Heartbeating.
    Online,
    /// Missed its heartbeats; its tasks were requeued.
    Lost,
    /// Signed off.
    Offline,
}

/// What a worker may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    /// Takes tasks.
    Enabled,
    /// Takes no new tasks; running ones finish.
    Disabled,
    /// Finishes its running tasks, then exits.
    Draining,
}

/// A worker: the hub's local slots or a remote `weir worker`.
#[derive(Serialize, Deserialize)]
pub struct Worker {
    id: String,
    name: String,
    slots: usize,
    tags: Vec<String>,
    /// The weir version it runs ("" when it did not say).
    #[serde(default)]
    version: String,
    local: bool,
    state: WorkerState,
    status: WorkerStatus,
    tasks_completed: u64,
    tasks_failed: u64,
    registered_ms: u64,
    last_seen_ms: u64,
    #[serde(skip)]
    active: BTreeSet<String>,
    #[serde(skip)]
    seen: Option<Instant>,
    /// Tasks to stop at its next heartbeat, with why.
    #[serde(skip)]
    cancel: BTreeMap<String, String>,
}

impl Worker {
    /// A worker online now, with no history.
    fn new(id: String, name: &str, slots: usize, tags: Vec<String>, local: bool) -> Worker {
        let now = now_ms();
        Worker {
            id,
            name: name.to_string(),
            slots,
            tags,
            version: if local {
                env!("CARGO_PKG_VERSION").to_string()
            } else {
                String::new()
            },
            local,
            state: WorkerState::Online,
            status: WorkerStatus::Enabled,
            tasks_completed: 0,
            tasks_failed: 0,
            registered_ms: now,
            last_seen_ms: now,
            active: BTreeSet::new(),
            seen: Some(Instant::now()),
            cancel: BTreeMap::new(),
        }
    }
}

impl State {
    /// The job and index of task `task_id` (404 when there is none).
    fn task_mut(&mut self, task_id: &str) -> Result<(&mut Job, usize), JobError> {
        let missing = || JobError::NotFound(format!("Task {task_id} not found"));
        let (job_id, idx) = self.tasks.get(task_id).cloned().ok_or_else(missing)?;
        let job = self.jobs.get_mut(&job_id).ok_or_else(missing)?;
        Ok((job, idx))
    }
}

/// A job's log: recent lines and a live feed.
struct JobLog {
    live: broadcast::Sender<Arc<str>>,
    /// `<data-dir>/joblogs/<job id>.log`: the log is kept only there, so it
    /// survives a restart and costs no memory.
    path: PathBuf,
    /// Opened at the first line written; closed again when the job ends.
    file: Option<std::fs::File>,
}

impl Default for JobLog {
    /// A log without a file yet (a loaded job's is set when the manager opens).
    fn default() -> Self {
        JobLog::new(PathBuf::new())
    }
}

impl JobLog {
    fn new(path: PathBuf) -> JobLog {
        JobLog {
            live: broadcast::channel(1024).0,
            path,
            file: None,
        }
    }

    fn write(&mut self, line: &str) {
        if self.file.is_none() {
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| tracing::warn!(path = %self.path.display(), error = %e, "job log"))
                .ok();
        }
        if let Some(file) = &mut self.file {
            use std::io::Write;
            let _ = writeln!(file, "{line}");
        }
    }
}

/// Where a job log is and how much of it existed when the live feed was
/// joined: replaying the file up to `len` and then the feed gives every
/// line once.
pub struct LogFeed {
    /// The log file.
    pub path: PathBuf,
    /// Its length, in bytes, when `live` was subscribed.
    pub len: u64,
    /// The lines written after that.
    pub live: broadcast::Receiver<Arc<str>>,
}

/// Who uploads an artifact of which attempt, for which frame.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    /// Task id.
    pub task_id: &'a str,
    /// The worker, which must hold the attempt when given.
    pub worker: Option<&'a str>,
    /// The attempt (the lease token).
    pub attempt: u32,
    /// The frame the artifact belongs to.
    pub frame: i64,
}

/// The render package a job is submitted for: the stored sequence, as the
/// job manager needs it.
#[derive(Clone, Copy)]
pub struct JobPackage<'a> {
    /// Its sequence id.
    pub id: &'a str,
    /// Its component's SHA-256.
    pub digest: &'a str,
    /// Its manifest.
    pub manifest: &'a crate::package::Manifest,
    /// What its component exports (`render` for a render package).
    pub entry_kind: &'a str,
}

/// What a worker gets from [`JobManager::pickup`].
#[derive(Debug, Clone)]
pub struct Lease {
    /// Task id.
    pub task_id: String,
    /// What to render: job, attempt (the lease token reports name),
    /// frames, settings and time limit.
    pub spec: TaskSpec,
    /// Sequence id of the package.
    pub package_id: String,
    /// SHA-256 of the component.
    pub digest: String,
    /// Cancelled when the task must stop (local slots).
    pub cancel: CancellationToken,
}

/// Why a worker gets no task.
#[derive(Debug)]
pub enum PickupError {
    /// Unknown or lost worker: register again (404).
    Unknown(String),
    /// Disabled or draining (423).
    Refused(String),
    /// Storage failed (500).
    Storage(JobError),
}

/// A job submission, as parsed from `POST /jobs`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitJob {
    /// Sequence id or name of a render package.
    pub package: Option<String>,
    /// Job name (default: the package name).
    pub name: Option<String>,
    /// Settings overlaid on the package's `[config]`.
    #[serde(default)]
    pub settings: Option<Value>,
    /// Frames.
    pub frames: Option<FrameSpec>,
    /// Frames per task.
    #[serde(alias = "chunk_size")]
    pub chunk_size: Option<usize>,
    /// Priority (higher first).
    pub priority: Option<i64>,
    /// Tags: routes the job to workers with a matching tag.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Retries of a failed task.
    #[serde(alias = "max_retries")]
    pub max_retries: Option<u32>,
    /// Percent of tasks that may fail before the job fails (default 0).
    #[serde(alias = "failure_threshold")]
    pub failure_threshold: Option<u32>,
    /// Time limit per task, in milliseconds.
    #[serde(alias = "task_timeout_ms")]
    pub task_timeout_ms: Option<u64>,
}

/// `PATCH /jobs/:id`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchJob {
    /// New priority.
    pub priority: Option<i64>,
    /// New tags.
    pub tags: Option<Vec<String>>,
}

/// A heartbeat's report of one task.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    /// Task id.
    #[serde(alias = "task_id")]
    pub task_id: String,
    /// Attempt the worker runs.
    #[serde(default)]
    pub attempt: u32,
    /// Progress 0.0–1.0 of the whole task.
    pub progress: Option<f32>,
    /// Plugin log lines since the last heartbeat.
    #[serde(default)]
    pub log: Vec<String>,
    /// Frames of the attempt finished so far (rendered and their artifacts uploaded).
    #[serde(default, alias = "frames_done")]
    pub frames_done: Option<u32>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HeartbeatReply {
    /// Tasks to stop now.
    pub cancel: Vec<String>,
    /// Why, by task id (canceled, paused, timed out, ...).
    pub reasons: BTreeMap<String, String>,
    /// Finish running tasks and exit.
    pub drain: bool,
}

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
    events: Feed,
    work: Notify,
    artifacts_dir: PathBuf,
    staging_dir: PathBuf,
    logs_dir: PathBuf,
    /// Artifact uploads streaming to disk now (see `staging`).
    artifact_uploads: tokio::sync::Semaphore,
    /// Task durations and retries, for the metrics.
    task_metrics: TaskMetrics,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn storage(e: impl std::fmt::Display) -> JobError {
    JobError::Io(std::io::Error::other(format!("job store: {e}")))
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn check_tags(tags: &[String]) -> Result<(), JobError> {
    if tags.len() > 32 {
        return Err(JobError::BadRequest("at most 32 tags".into()));
    }
    if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
        return Err(JobError::BadRequest(format!(
            "tag {bad:?}: use 1-64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

/// The online worker `id`, marked as seen now (a pickup or heartbeat).
fn seen_worker<'a>(workers: &'a mut BTreeMap<String, Worker>, id: &str) -> Option<&'a mut Worker> {
    let worker = workers
        .get_mut(id)
        .filter(|w| w.state == WorkerState::Online)?;
    worker.seen = Some(Instant::now());
    worker.last_seen_ms = now_ms();
    Some(worker)
}

fn unknown_worker(id: &str) -> String {
    format!("Worker {id} is not registered (or was lost); register again")
}

/// Whether a worker with `worker_tags` may take a job tagged `job_tags` (as
/// in Flamenco): a job with tags runs only on workers having every one of
/// them; a job without tags runs anywhere, so an untagged worker takes only
/// untagged jobs.
fn tags_match(worker_tags: &[String], job_tags: &[String]) -> bool {
    job_tags.iter().all(|t| worker_tags.contains(t))
}

/// Why a queued job's tasks do not start, when no online, enabled worker
/// may take them at all (`None` while one could, even if it is busy).
fn waiting_reason(job: &Job, workers: &BTreeMap<String, Worker>) -> Option<String> {
    if !matches!(job.state, JobState::Queued | JobState::Active) || job.queued.is_empty() {
        return None;
    }
    let online: Vec<&Worker> = workers
        .values()
        .filter(|w| w.state == WorkerState::Online && w.status == WorkerStatus::Enabled)
        .filter(|w| w.local || !job.local_only)
        .collect();
    if online.is_empty() {
        return Some(if job.local_only {
            "no worker can take it: its package has grants, so only the hub's own slots may run it, and the hub has none (--slots 0)".into()
        } else {
            "no worker is online (the hub has no slots of its own: --slots 0); start `weir worker`"
                .into()
        });
    }
    let tagged: Vec<&&Worker> = online
        .iter()
        .filter(|w| tags_match(&w.tags, &job.tags))
        .collect();
    if tagged.is_empty() {
        return Some(format!(
            "no online worker has the job's tags {}: start one with `weir worker --tags {}` (the hub's own slots take `--slot-tags`)",
            job.tags.join(","),
            job.tags.join(",")
        ));
    }
    if tagged.iter().all(|w| job.blocklist.contains(&w.id)) {
        return Some("every online worker with its tags is blocklisted for this job".into());
    }
    None
}

/// A job's view with why it waits, if it cannot start.
fn job_view(job: &Job, workers: &BTreeMap<String, Worker>) -> Value {
    let mut body = view::job(job);
    if let Some(why) = waiting_reason(job, workers) {
        body["waiting"] = why.into();
    }
    body
}

impl JobManager {
    /// The manager's settings.
    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to job, task, worker and instance changes, after the one
    /// with id `last_id` (a reconnecting client's `Last-Event-ID`) or from now.
    pub fn subscribe(&self, last_id: Option<&str>) -> Subscription {
        self.events.subscribe(last_id)
    }

    /// The id clients see for change `seq` (SSE `id:`).
    pub fn event_id(&self, seq: u64) -> String {
        self.events.id(seq)
    }

    /// Waits until a task may have become available (or a second passes).
    pub async fn work_available(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.work.notified()).await;
    }

    /// Records a change for `/events` subscribers (and those who reconnect).
    fn emit(&self, kind: &'static str, job_id: Option<&str>, data: impl FnOnce() -> Value) {
        self.events.send(kind, job_id, data());
    }

    /// Publishes a change that is not a job's, task's or worker's (the hub
    /// sends instance state changes) to `GET /events` subscribers.
    pub fn publish(&self, kind: &'static str, data: Value) {
        self.emit(kind, None, || data);
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

    /// Directory holding a job's artifacts.
    pub fn artifact_dir(&self, job_id: &str) -> PathBuf {
        self.artifacts_dir.join(job_id)
    }

    // ---- jobs ------------------------------------------------------------

    /// Queues a job for `package` (a render package).
    pub fn submit(&self, package: JobPackage<'_>, request: SubmitJob) -> Result<Value, JobError> {
        let manifest = package.manifest;
        if manifest.kind != Kind::Render || package.entry_kind != "render" {
            return Err(JobError::Invalid(format!(
                "package {} is a {} package; jobs need a render package (kind = \"render\", exporting the render world)",
                manifest.name, package.entry_kind
            )));
        }
        if !manifest.grants.is_empty() && self.config.slots == 0 {
            return Err(JobError::Invalid(format!(
                "package {} asks for [grants], which only the hub's own render slots provide (remote workers get only the component), and this hub has --slots 0",
                manifest.name
            )));
        }
        let frames = request
            .frames
            .ok_or_else(|| JobError::BadRequest("missing frames, e.g. \"1-100\"".into()))?;
        let (frames, frames_text) = frames.resolve().map_err(JobError::BadRequest)?;
        let chunk_size = request.chunk_size.unwrap_or(1);
        if chunk_size == 0 || chunk_size > MAX_FRAMES {
            return Err(JobError::BadRequest(format!(
                "chunkSize must be 1..={MAX_FRAMES}"
            )));
        }
        let settings = match request.settings {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Object(map)) => Value::Object(map),
            Some(_) => {
                return Err(JobError::BadRequest(
                    "settings must be a JSON object".into(),
                ));
            }
        };
        let mut merged = manifest.config.clone();
        if let Value::Object(map) = &settings {
            merged.extend(map.clone());
        }
        check_tags(&request.tags)?;
        let failure_threshold = request.failure_threshold.unwrap_or(0);
        if failure_threshold > 100 {
            return Err(JobError::BadRequest(
                "failureThreshold is a percentage of the job's tasks: 0-100".into(),
            ));
        }
        let max_retries = request.max_retries.unwrap_or(self.config.max_retries);
        if max_retries > 100 {
            return Err(JobError::BadRequest(
                "maxRetries must be at most 100".into(),
            ));
        }
        let task_timeout_ms = request
            .task_timeout_ms
            .unwrap_or(self.config.task_timeout.as_millis() as u64);
        if task_timeout_ms == 0 {
            return Err(JobError::BadRequest(
                "taskTimeoutMs must be positive".into(),
            ));
        }
        // The package's `timeout_ms` bounds each task; it only tightens.
        let task_timeout_ms = task_timeout_ms.min(manifest.limits.timeout_ms.unwrap_or(u64::MAX));
        let name = request.name.unwrap_or_else(|| manifest.name.clone());
        if name.len() > 256 {
            return Err(JobError::BadRequest("name: at most 256 bytes".into()));
        }
        let ranges = frames::ranges(&frames, chunk_size);
        if ranges.len() > MAX_TASKS {
            return Err(JobError::BadRequest(format!(
                "{} frames in chunks of {chunk_size} make {} tasks; a job may have at most {MAX_TASKS} tasks: raise chunkSize",
                frames.len(),
                ranges.len()
            )));
        }
        let now = now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        // Built without the lock; its rows are written a batch at a time.
        let mut job = Job {
            id: id.clone(),
            seq: 0,
            name,
            package_id: package.id.to_string(),
            package_name: manifest.name.clone(),
            digest: package.digest.to_string(),
            settings,
            merged_settings: Value::Object(merged).to_string(),
            local_only: !manifest.grants.is_empty(),
            frames: frames_text,
            chunk_size,
            frames_total: frames.len(),
            priority: request.priority.unwrap_or(50),
            tags: request.tags,
            state: JobState::Queued,
            max_retries,
            failure_threshold,
            task_timeout_ms,
            errors: Vec::new(),
            blocklist: Vec::new(),
            worker_failures: BTreeMap::new(),
            created_ms: now,
            updated_ms: now,
            started_ms: None,
            finished_ms: None,
            tasks: Vec::new(),
            counts: [0; 5],
            frames_done: 0,
            queued: BTreeSet::new(),
            active: BTreeSet::new(),
            artifacts: BTreeMap::new(),
            log: JobLog::new(self.logs_dir.join(format!("{id}.log"))),
            last_progress_event: None,
        };
        for (index, (start, end)) in ranges.into_iter().enumerate() {
            job.tasks.push(Task {
                id: uuid::Uuid::new_v4().to_string(),
                job_id: id.clone(),
                index,
                frame_start: start,
                frame_end: end,
                state: TaskState::Queued,
                attempt: 0,
                worker: None,
                progress: 0.0,
                failures: Vec::new(),
                started_ms: None,
                finished_ms: None,
                usage: None,
                resume_from: None,
                frames_finished: 0,
                started_at: None,
                cancel: None,
                staged: Vec::new(),
                tries_failed: 0,
            });
        }
        job.rebuild_indexes();
        std::fs::create_dir_all(self.artifact_dir(&id))?;
        self.insert_task_rows(&job)?;
        let mut state = self.lock();
        job.seq = state.next_seq;
        if let Err(e) = state.store.write(|tx| tx.job(&job)) {
            for task in &job.tasks {
                state.tasks.remove(&task.id);
            }
            return Err(storage(e));
        }
        state.next_seq += 1;
        job.log_line(
            "info",
            &format!(
                "queued: {} frames ({}) in {} tasks, package {} ({})",
                job.frames_total,
                job.frames,
                job.tasks.len(),
                job.package_name,
                &job.digest[..12.min(job.digest.len())]
            ),
        );
        let body = view::job(&job);
        self.emit_job(&job);
        state.jobs.insert(id, job);
        drop(state);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Every job, oldest first, optionally only those in `filter`.
    pub fn list(&self, filter: Option<JobState>) -> Vec<Value> {
        let state = self.lock();
        let mut jobs: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| filter.is_none_or(|s| j.state == s))
            .collect();
        jobs.sort_by_key(|j| j.seq);
        jobs.into_iter()
            .map(|j| job_view(j, &state.workers))
            .collect()
    }

    fn not_found(id: &str) -> JobError {
        JobError::NotFound(format!("Job {id} not found"))
    }

    /// One job.
    pub fn get(&self, id: &str) -> Result<Value, JobError> {
        let state = self.lock();
        state
            .jobs
            .get(id)
            .map(|j| job_view(j, &state.workers))
            .ok_or_else(|| Self::not_found(id))
    }

    /// The state of one job, if it exists.
    pub fn job_state(&self, id: &str) -> Option<JobState> {
        self.lock().jobs.get(id).map(|j| j.state)
    }

    /// A page of a job's tasks, in index order: up to `limit` tasks whose
    /// index is above `after` (from the first, without it) → the page and
    /// whether tasks follow it.
    pub fn tasks(
        &self,
        id: &str,
        after: Option<usize>,
        limit: usize,
    ) -> Result<(Vec<Value>, bool), JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        let total = job.tasks.len();
        let start = after.map_or(0, |a| a.saturating_add(1)).min(total);
        let end = start.saturating_add(limit).min(total);
        let page = job.tasks[start..end].iter().map(view::task).collect();
        Ok((page, end < total))
    }

    /// A job's artifact index.
    pub fn artifacts(&self, id: &str) -> Result<Vec<Value>, JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        Ok(job
            .artifacts
            .values()
            .map(|a| view::artifact(&job.id, a))
            .collect())
    }

    /// One artifact's index entry and file path.
    pub fn artifact(&self, id: &str, name: &str) -> Result<(ArtifactMeta, PathBuf), JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        let meta = job
            .artifacts
            .get(name)
            .cloned()
            .ok_or_else(|| JobError::NotFound(format!("Job {id} has no artifact {name:?}")))?;
        Ok((meta, self.artifact_dir(id).join(name)))
    }

    /// The job's log so far and a live feed of what follows.
    pub fn log(&self, id: &str) -> Result<LogFeed, JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        // Lines are written under this lock: the length read here is exactly
        // what precedes the subscription.
        let len = std::fs::metadata(&job.log.path).map_or(0, |m| m.len());
        Ok(LogFeed {
            path: job.log.path.clone(),
            len,
            live: job.log.live.subscribe(),
        })
    }

    /// Changes priority and tags.
    pub fn patch(&self, id: &str, patch: PatchJob) -> Result<Value, JobError> {
        if let Some(tags) = &patch.tags {
            check_tags(tags)?;
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
        if let Some(p) = patch.priority {
            job.priority = p;
        }
        if let Some(tags) = patch.tags {
            job.tags = tags;
        }
        job.updated_ms = now_ms();
        state.store.write(|tx| tx.job(job)).map_err(storage)?;
        job.log_line(
            "info",
            &format!("priority {}, tags {:?}", job.priority, job.tags),
        );
        self.emit_job(job);
        let body = view::job(job);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Cancels, pauses, resumes or requeues a job. A requeue is refused
    /// when `stored(package_id, digest)` says the job's package is gone.
    /// Blocks while a big job's task rows are written (off async threads).
    pub fn control(
        &self,
        id: &str,
        action: &str,
        stored: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Value, JobError> {
        let body = self.control_now(id, action, stored)?;
        self.save_unsaved(None)?;
        Ok(body)
    }

    fn control_now(
        &self,
        id: &str,
        action: &str,
        stored: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Value, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
        let from = job.state;
        let refuse = |what: &str| {
            Err(JobError::Conflict(format!(
                "cannot {action} job {id}: it is {} ({what})",
                from.as_str()
            )))
        };
        let mut changed_tasks = Vec::new();
        match action {
            "cancel" => {
                if from.is_terminal() {
                    return refuse("only queued, active or paused jobs can be canceled");
                }
                changed_tasks = job.cancel_tasks(&mut state.workers, "the job was canceled");
                job.state = JobState::Canceled;
                job.finished_ms = Some(now_ms());
            }
            "pause" => {
                if !matches!(from, JobState::Queued | JobState::Active) {
                    return refuse("only queued or active jobs can be paused");
                }
                changed_tasks =
                    job.stop_active_tasks_to_queue(&mut state.workers, "the job was paused");
                job.state = JobState::Paused;
            }
            "resume" => {
                if from != JobState::Paused {
                    return refuse("only paused jobs can be resumed");
                }
                job.state = job.derived_state();
            }
            "requeue" => {
                if !from.is_terminal() {
                    return refuse("only completed, failed or canceled jobs can be requeued");
                }
                job.check_package(stored)?;
                let all = from == JobState::Completed;
                for task in &mut job.tasks {
                    if all || task.state != TaskState::Completed {
                        task.state = TaskState::Queued;
                        task.failures.clear();
                        task.progress = 0.0;
                        task.worker = None;
                        task.finished_ms = None;
                        task.resume_from = None;
                        changed_tasks.push(task.index);
                    }
                }
                job.blocklist.clear();
                job.worker_failures.clear();
                job.errors.clear();
                job.finished_ms = None;
                job.rebuild_indexes();
                job.state = job.derived_state();
            }
            other => {
                return Err(JobError::NotFound(format!("unknown job action {other:?}")));
            }
        }
        job.updated_ms = now_ms();
        let changed_tasks = Self::now_or_later(&mut state.unsaved, job, changed_tasks);
        state
            .store
            .write(|tx| {
                tx.job(job)?;
                for &i in &changed_tasks {
                    tx.task(&job.tasks[i])?;
                }
                Ok(())
            })
            .map_err(storage)?;
        job.log_line(
            "info",
            &format!("{action}: {} → {}", from.as_str(), job.state.as_str()),
        );
        for &i in &changed_tasks {
            self.emit_task(&job.tasks[i]);
        }
        self.emit_job(job);
        let body = view::job(job);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Queues one task again (to re-render its frames): a completed, failed
    /// or canceled task gets fresh retries; its job runs again. Refused when
    /// `stored(package_id, digest)` says the job's package is gone.
    pub fn requeue_task(
        &self,
        task_id: &str,
        stored: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Value, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (job_id, idx) = state
            .tasks
            .get(task_id)
            .cloned()
            .ok_or_else(|| JobError::NotFound(format!("Task {task_id} not found")))?;
        let job = state
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| JobError::NotFound(format!("Task {task_id} not found")))?;
        let from = job.tasks[idx].state;
        if matches!(from, TaskState::Queued | TaskState::Active) {
            return Err(JobError::Conflict(format!(
                "task {task_id} is {} already",
                if from == TaskState::Queued {
                    "queued"
                } else {
                    "running"
                }
            )));
        }
        job.check_package(stored)?;
        job.set_task_state(idx, TaskState::Queued);
        let task = &mut job.tasks[idx];
        task.failures.clear();
        task.progress = 0.0;
        task.worker = None;
        task.finished_ms = None;
        task.resume_from = None;
        let label = task.frames_label();
        if job.state != JobState::Paused {
            job.state = job.derived_state();
        }
        job.finished_ms = None;
        job.updated_ms = now_ms();
        let job_ref = &*job;
        state
            .store
            .write(|tx| {
                tx.task(&job_ref.tasks[idx])?;
                tx.job(job_ref)
            })
            .map_err(storage)?;
        let job = state
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| JobError::NotFound("job vanished".into()))?;
        job.log_line("info", &format!("frames {label} queued again"));
        self.emit_task(&job.tasks[idx]);
        self.emit_job(job);
        let body = view::task(&job.tasks[idx]);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Deletes a job: stops its tasks, forgets it and removes its rows (a
    /// batch at a time) and artifacts.
    pub async fn delete(self: &Arc<Self>, id: &str) -> Result<(), JobError> {
        let job = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
            for idx in job.active.clone() {
                job.signal_stop(idx, &mut state.workers, "the job was deleted");
            }
            state.store.write(|tx| tx.delete_job(id)).map_err(storage)?;
            self.events.send(
                "job",
                Some(id),
                serde_json::json!({"id": id, "removed": true}),
            );
            state.jobs.remove(id)
        };
        let task_ids = job.map_or_else(Vec::new, |job| {
            job.tasks.into_iter().map(|task| task.id).collect()
        });
        let (jobs, job_id) = (self.clone(), id.to_string());
        tokio::task::spawn_blocking(move || jobs.purge(&job_id, task_ids))
            .await
            .map_err(storage)??;
        let _ = tokio::fs::remove_file(self.logs_dir.join(format!("{id}.log"))).await;
        match tokio::fs::remove_dir_all(self.artifact_dir(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The figures the task metrics keep (durations, retries).
    pub fn task_metrics(&self) -> &TaskMetrics {
        &self.task_metrics
    }

    /// Jobs, tasks and workers per state.
    pub fn state_counts(&self) -> StateCounts {
        let state = self.lock();
        let job_states = [
            JobState::Queued,
            JobState::Active,
            JobState::Paused,
            JobState::Completed,
            JobState::Failed,
            JobState::Canceled,
        ];
        let mut jobs: Vec<(&'static str, u64)> =
            job_states.iter().map(|s| (s.as_str(), 0)).collect();
        let mut tasks: Vec<(&'static str, u64)> =
            TaskState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for job in state.jobs.values() {
            if let Some(slot) = job_states.iter().position(|&s| s == job.state) {
                jobs[slot].1 += 1;
            }
            for (slot, n) in job.counts.iter().enumerate() {
                tasks[slot].1 += *n as u64;
            }
        }
        let worker_states = [WorkerState::Online, WorkerState::Lost, WorkerState::Offline];
        let workers = worker_states
            .iter()
            .map(|&ws| {
                let n = state.workers.values().filter(|w| w.state == ws).count();
                (view::worker_state(ws), n as u64)
            })
            .collect();
        StateCounts {
            jobs,
            tasks,
            workers,
        }
    }

    /// Counts of jobs per state and workers per state, for `/status`.
    pub fn counts(&self) -> Value {
        let state = self.lock();
        let mut jobs = serde_json::json!({
            "queued": 0, "active": 0, "paused": 0, "completed": 0, "failed": 0, "canceled": 0
        });
        for job in state.jobs.values() {
            if let Some(n) = jobs.get_mut(job.state.as_str()) {
                *n = (n.as_u64().unwrap_or(0) + 1).into();
            }
        }
        let mut workers = serde_json::json!({"online": 0, "lost": 0, "offline": 0});
        let mut slots = 0;
        let mut busy = 0;
        for w in state.workers.values() {
            let key = view::worker_state(w.state);
            if let Some(n) = workers.get_mut(key) {
                *n = (n.as_u64().unwrap_or(0) + 1).into();
            }
            if w.state == WorkerState::Online {
                slots += w.slots;
                busy += w.active.len();
            }
        }
        serde_json::json!({"jobs": jobs, "workers": workers, "slots": slots, "busySlots": busy})
    }

    fn progress_event(&self, job: &mut Job) {
        let due = job
            .last_progress_event
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due {
            job.last_progress_event = Some(Instant::now());
            self.emit_job(job);
        }
    }

    /// The attempt `attempt` of `task_id`, run by `worker`, has finished (rendered and
    /// stored) its first `frames` frames: they are kept should the attempt fail later.
    pub fn frames_finished(&self, task_id: &str, worker: &str, attempt: u32, frames: u32) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some((job_id, idx)) = state.tasks.get(task_id)
            && let Some(job) = state.jobs.get_mut(job_id)
        {
            let task = &mut job.tasks[*idx];
            if task.state == TaskState::Active
                && task.attempt == attempt
                && task.worker.as_deref() == Some(worker)
            {
                task.frames_finished = task.frames_finished.max(frames);
            }
        }
    }

    /// Progress of a task run by the local slots (0.0–1.0).
    pub fn local_progress(&self, task_id: &str, attempt: u32, progress: f32) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some((job_id, idx)) = state.tasks.get(task_id)
            && let Some(job) = state.jobs.get_mut(job_id)
        {
            let task = &mut job.tasks[*idx];
            if task.state == TaskState::Active && task.attempt == attempt {
                task.progress = progress.clamp(0.0, 1.0);
                self.progress_event(job);
            }
        }
    }

    /// A plugin log line of a task run by the local slots.
    pub fn local_log(&self, task_id: &str, level: &str, message: &str) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some((job_id, idx)) = state.tasks.get(task_id)
            && let Some(job) = state.jobs.get_mut(job_id)
        {
            let label = job.tasks[*idx].frames_label();
            job.log_line("plugin", &format!("[{label}] {level}: {message}"));
        }
    }

    /// The package digest → sequence id map entry of a live job, for
    /// `GET /packages/:digest` (only packages some job uses are served).
    pub fn package_for_digest(&self, digest: &str) -> Option<String> {
        self.lock()
            .jobs
            .values()
            .find(|j| j.digest == digest)
            .map(|j| j.package_id.clone())
    }

    /// Whether any unfinished job uses sequence `id`.
    pub fn uses_package(&self, id: &str) -> bool {
        self.lock()
            .jobs
            .values()
            .any(|j| j.package_id == id && !j.state.is_terminal())
    }
}

impl Job {
    fn rebuild_indexes(&mut self) {
        self.counts = [0; 5];
        self.frames_done = 0;
        self.queued.clear();
        self.active.clear();
        for task in &self.tasks {
            self.counts[task.state.slot()] += 1;
            match task.state {
                TaskState::Queued => {
                    self.queued.insert(task.index);
                }
                TaskState::Active => {
                    self.active.insert(task.index);
                }
                TaskState::Completed => self.frames_done += task.frame_count(),
                _ => {}
            }
        }
    }

    fn set_task_state(&mut self, idx: usize, to: TaskState) {
        let task = &mut self.tasks[idx];
        let from = task.state;
        if from == to {
            return;
        }
        // A task that is not running shows no running attempt's progress.
        if matches!(
            to,
            TaskState::Queued | TaskState::Failed | TaskState::Canceled
        ) {
            task.progress = 0.0;
        }
        self.counts[from.slot()] -= 1;
        self.counts[to.slot()] += 1;
        match from {
            TaskState::Queued => {
                self.queued.remove(&idx);
            }
            TaskState::Active => {
                self.active.remove(&idx);
            }
            TaskState::Completed => self.frames_done -= task.frame_count(),
            _ => {}
        }
        match to {
            TaskState::Queued => {
                self.queued.insert(idx);
            }
            TaskState::Active => {
                self.active.insert(idx);
            }
            TaskState::Completed => self.frames_done += task.frame_count(),
            _ => {}
        }
        task.state = to;
    }

    /// Refuses to run the job again once its package is gone.
    fn check_package(&self, stored: &dyn Fn(&str, &str) -> bool) -> Result<(), JobError> {
        if stored(&self.package_id, &self.digest) {
            return Ok(());
        }
        Err(JobError::Conflict(format!(
            "job {} renders package {} (sequence {}, digest {}), which was deleted or replaced since; upload the package and submit a new job",
            self.id,
            self.package_name,
            self.package_id,
            &self.digest[..12.min(self.digest.len())]
        )))
    }

    /// Queued while nothing ran, active once something did, completed when all did.
    /// Whether the failed tasks are within the job's failure threshold.
    fn failures_tolerated(&self) -> bool {
        let failed = self.counts[TaskState::Failed.slot()];
        failed > 0
            && self.failure_threshold > 0
            && failed * 100 <= self.tasks.len() * self.failure_threshold as usize
    }

    /// The frames of its failed tasks (`3`, `7-8`).
    fn failed_frames(&self) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|t| t.state == TaskState::Failed)
            .map(Task::frames_label)
            .collect()
    }

    fn derived_state(&self) -> JobState {
        let completed = self.counts[TaskState::Completed.slot()];
        let failed = self.counts[TaskState::Failed.slot()];
        if completed == self.tasks.len() {
            JobState::Completed
        } else if self.queued.is_empty() && self.active.is_empty() {
            // Nothing left to run and not all completed (after a single
            // task was requeued on a failed or canceled job).
            if completed + failed == self.tasks.len() && self.failures_tolerated() {
                JobState::Completed
            } else if failed > 0 {
                JobState::Failed
            } else {
                JobState::Canceled
            }
        } else if completed > 0 || !self.active.is_empty() {
            JobState::Active
        } else {
            JobState::Queued
        }
    }

    /// Stops running tasks (signalling their workers) and cancels them and
    /// the queued ones; returns the indexes changed. One pass, without
    /// per-task index updates: a job may have 100,000 queued tasks.
    fn cancel_tasks(&mut self, workers: &mut BTreeMap<String, Worker>, why: &str) -> Vec<usize> {
        let active = std::mem::take(&mut self.active);
        let queued = std::mem::take(&mut self.queued);
        for &idx in &active {
            self.signal_stop(idx, workers, why);
        }
        self.counts[TaskState::Active.slot()] -= active.len();
        self.counts[TaskState::Queued.slot()] -= queued.len();
        self.counts[TaskState::Canceled.slot()] += active.len() + queued.len();
        let mut changed: Vec<usize> = active.into_iter().chain(queued).collect();
        changed.sort_unstable();
        let now = now_ms();
        for &idx in &changed {
            let task = &mut self.tasks[idx];
            task.state = TaskState::Canceled;
            task.finished_ms = Some(now);
        }
        changed
    }

    /// Stops running tasks and puts them back in the queue (no failure).
    fn stop_active_tasks_to_queue(
        &mut self,
        workers: &mut BTreeMap<String, Worker>,
        why: &str,
    ) -> Vec<usize> {
        let active: Vec<usize> = self.active.iter().copied().collect();
        for &idx in &active {
            self.signal_stop(idx, workers, why);
            self.set_task_state(idx, TaskState::Queued);
            self.tasks[idx].progress = 0.0;
        }
        active
    }

    fn requeue_task(&mut self, idx: usize, worker: &mut Worker) {
        let task = &mut self.tasks[idx];
        if let Some(cancel) = task.cancel.take() {
            cancel.cancel();
        }
        worker.active.remove(&task.id);
        task.worker = None;
        task.progress = 0.0;
        task.staged.clear();
        self.set_task_state(idx, TaskState::Queued);
        if self.state != JobState::Paused && !self.state.is_terminal() {
            self.state = self.derived_state();
        }
    }

    /// Cancels a running task's execution wherever it runs (`why` goes to a
    /// remote worker with its heartbeat answer).
    fn signal_stop(&mut self, idx: usize, workers: &mut BTreeMap<String, Worker>, why: &str) {
        let task = &mut self.tasks[idx];
        if task.state != TaskState::Active {
            return;
        }
        if let Some(cancel) = task.cancel.take() {
            cancel.cancel();
        }
        task.staged.clear();
        if let Some(w) = task.worker.take()
            && let Some(worker) = workers.get_mut(&w)
        {
            worker.active.remove(&task.id);
            if !worker.local {
                worker.cancel.insert(task.id.clone(), why.to_string());
            }
        }
    }

    /// Fails the job: every other queued or running task is canceled.
    fn fail_job(&mut self, reason: &str, workers: &mut BTreeMap<String, Worker>) -> Vec<usize> {
        let changed = self.cancel_tasks(workers, "the job failed");
        self.state = JobState::Failed;
        self.finished_ms = Some(now_ms());
        self.push_error(reason.to_string());
        self.log_line("error", &format!("job failed: {reason}"));
        changed
    }

    fn push_error(&mut self, error: String) {
        if self.errors.len() >= MAX_ERRORS {
            self.errors.remove(0);
        }
        self.errors.push(error);
    }

    fn log_line(&mut self, level: &str, message: &str) {
        let line: Arc<str> = format!("{} {level} {message}", crate::time::iso_now()).into();
        self.log.write(&line);
        let _ = self.log.live.send(line);
    }

    /// Progress in percent, counting running tasks' partial progress.
    fn progress(&self) -> f64 {
        if self.frames_total == 0 {
            return 100.0;
        }
        let partial: f64 = self
            .active
            .iter()
            .map(|&i| f64::from(self.tasks[i].progress) * self.tasks[i].frame_count() as f64)
            .sum();
        ((self.frames_done as f64 + partial) / self.frames_total as f64 * 100.0).min(100.0)
    }
}

impl Task {
    fn frames_label(&self) -> String {
        if self.frame_start == self.frame_end {
            self.frame_start.to_string()
        } else {
            format!("{}-{}", self.frame_start, self.frame_end)
        }
    }
}
