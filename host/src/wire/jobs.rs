//! The render farm's shapes: jobs, tasks, artifacts, workers, leases and heartbeats.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A render job (`GET /jobs/{id}` and the replies of its actions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Job {
    /// The job id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The render package it runs.
    pub package: JobPackage,
    /// `queued`, `active`, `paused`, `completed`, `failed` or `canceled`.
    pub state: String,
    /// Its priority.
    pub priority: i64,
    /// Its tags.
    pub tags: Vec<String>,
    /// The job's settings, as submitted.
    pub settings: Map<String, Value>,
    /// The frames, e.g. `1-100`.
    pub frames: Value,
    /// Frames per task.
    pub chunk_size: u64,
    /// How many frames the job has.
    pub frames_total: u64,
    /// How many are rendered and stored.
    pub frames_done: u64,
    /// Percent done (0–100), counting running tasks' partial progress.
    pub progress: f64,
    /// How many tasks the job has.
    pub tasks_total: u64,
    /// Its tasks by state.
    pub task_counts: TaskCounts,
    /// How often a task may fail before the job fails.
    pub max_retries: u32,
    /// Percent of tasks that may fail before the job fails.
    pub failure_threshold: u32,
    /// The frames of its failed tasks (a job within its threshold
    /// completes without them).
    pub failed_frames: Vec<String>,
    /// How long one task may run, in milliseconds.
    pub task_timeout_ms: u64,
    /// What went wrong, oldest first.
    pub errors: Vec<String>,
    /// Workers that take no more tasks of this job.
    pub blocklist: Vec<String>,
    /// Failed tasks of this job per worker id (a worker is blocklisted at the hub's
    /// `--blocklist-after`).
    pub worker_failures: std::collections::BTreeMap<String, u32>,
    /// Why its tasks do not start, when no online worker may take them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// When it was submitted.
    pub created_at: Option<String>,
    /// When it last changed.
    pub updated_at: Option<String>,
    /// When its first task started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Job {
    /// Whether the job has ended: completed, failed or canceled.
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "failed" | "canceled")
    }
}

/// The package a job runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct JobPackage {
    /// The sequence id.
    pub id: String,
    /// The package name.
    pub name: String,
    /// SHA-256 of its component.
    pub digest: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A job's tasks by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TaskCounts {
    /// Waiting for a slot.
    pub queued: u64,
    /// Running.
    pub active: u64,
    /// Done.
    pub completed: u64,
    /// Failed for good.
    pub failed: u64,
    /// Canceled.
    pub canceled: u64,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One task of a job: a chunk of consecutive frames (`GET /jobs/{id}/tasks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Task {
    /// The task id.
    pub id: String,
    /// The job it belongs to.
    pub job_id: String,
    /// Its place in the job, from 0.
    pub index: u64,
    /// Its first frame.
    pub frame_start: i64,
    /// Its last frame (inclusive).
    pub frame_end: i64,
    /// How many frames it has.
    pub frames: u64,
    /// `queued`, `active`, `completed`, `failed` or `canceled`.
    pub state: String,
    /// Its current (or last) attempt, from 1.
    pub attempt: u32,
    /// The worker running it.
    pub worker: Option<String>,
    /// How far it is, 0–1.
    pub progress: f64,
    /// Its failed attempts.
    pub failures: Vec<TaskFailure>,
    /// When its current attempt started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// What its completed attempt used, as its worker measured it.
    pub usage: Option<TaskUsage>,
    /// Where its next attempt starts: the frames before it were rendered by an attempt
    /// that failed later, and their artifacts kept.
    pub resume_from: Option<i64>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a completed [`Task`] used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskUsage {
    /// Time its frames' guests ran, in milliseconds (summed).
    pub cpu_ms: f64,
    /// The most linear memory one frame had, in bytes.
    pub peak_memory_bytes: u64,
    /// From its lease to its completion, in milliseconds.
    pub wall_ms: Option<u64>,
}

/// One failed attempt of a [`Task`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TaskFailure {
    /// The worker it ran on.
    pub worker: String,
    /// The attempt.
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A stored output of a job (`GET /jobs/{id}/artifacts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ArtifactInfo {
    /// Its file name, e.g. `frame-0001.png`.
    pub name: String,
    /// Its media type, e.g. `image/png`.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes (hex).
    pub sha256: String,
    /// The frame that produced it.
    pub frame: Option<i64>,
    /// The task that produced it.
    pub task_id: String,
    /// Where to download it.
    pub url: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The reply to a `DELETE` of a job or a worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Removed {
    /// What was removed.
    pub id: String,
    /// Always `true`.
    pub removed: bool,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `POST /workers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WorkerRegistration {
    /// A name for people, e.g. the host name (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many tasks it runs at once (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<usize>,
    /// Its tags: it takes untagged jobs and jobs whose every tag it has.
    pub tags: Vec<String>,
    /// Its stable id (kept in its cache dir): the manager attaches it again
    /// under it, with its counters and blocklists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The weir version it runs, shown to operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A worker: a remote `weir worker` or the hub's own slots (`GET /workers`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Worker {
    /// The worker id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How many tasks it runs at once.
    pub slots: u32,
    /// Its tags.
    pub tags: Vec<String>,
    /// The weir version it runs ("" when it did not say).
    pub version: String,
    /// Whether these are the hub's own slots.
    pub local: bool,
    /// `online`, `lost` or `offline`.
    pub state: String,
    /// `enabled`, `disabled` or `draining`.
    pub status: String,
    /// The tasks it runs now.
    pub active_tasks: Vec<String>,
    /// How many tasks it has completed.
    pub tasks_completed: u64,
    /// How many of its attempts failed.
    pub tasks_failed: u64,
    /// When it registered.
    pub registered_at: Option<String>,
    /// When it was last heard from.
    pub last_seen: Option<String>,
    /// After how long without a heartbeat it is lost (registration reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// How often it should heartbeat (registration reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A task handed to a worker (`POST /workers/{id}/pickup`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskLease {
    /// The task.
    pub task_id: String,
    /// Its job.
    pub job_id: String,
    /// This attempt, from 1; every report names it.
    pub attempt: u32,
    /// Which try of the frames this is, as the plugin sees it (1 + failed attempts; 0 from
    /// a manager that does not say, then `attempt` is used).
    pub frame_attempt: u32,
    /// The first frame to render.
    pub frame_start: i64,
    /// The last frame to render (inclusive).
    pub frame_end: i64,
    /// The settings every frame gets.
    pub settings: Map<String, Value>,
    /// How long the whole task may run, in milliseconds.
    pub timeout_ms: u64,
    /// The component to run.
    pub package: LeasePackage,
    /// The package's own limits (a remote worker has only the component, not its
    /// manifest); `None` from a manager that does not send them.
    pub limits: Option<LeaseLimits>,
    /// After how long without a heartbeat the lease is lost.
    pub lease_ms: u64,
    /// How often to heartbeat.
    pub heartbeat_ms: u64,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The component a [`TaskLease`] names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct LeasePackage {
    /// SHA-256 of the component (hex).
    pub digest: String,
    /// Where to download it.
    pub url: String,
}

/// The package limits a [`TaskLease`] carries; absent ones are the worker's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct LeaseLimits {
    /// Linear memory per frame, in bytes.
    pub memory_bytes: Option<u64>,
    /// Wall-clock time per frame, in milliseconds.
    pub wall_time_ms: Option<u64>,
    /// Guest CPU time per frame, in milliseconds.
    pub cpu_time_ms: Option<u64>,
}

/// The body of `POST /workers/{id}/heartbeat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Heartbeat {
    /// Every task the worker runs now.
    pub tasks: Vec<TaskReport>,
}

/// One Server-Sent Event from `GET /events` or `GET /jobs/{id}/events`.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// A job changed.
    Job(Box<Job>),
    /// A task changed.
    Task(Box<Task>),
    /// A worker changed.
    Worker(Box<Worker>),
    /// An event this client does not know, or whose data it cannot read,
    /// kept as sent.
    Other {
        /// The event name (`message` when the hub sent none).
        event: String,
        /// Its data.
        data: String,
    },
}

impl JobEvent {
    /// The event named `event` carrying `data` (JSON text).
    pub fn parse(event: &str, data: &str) -> Self {
        let parsed = match event {
            "job" => serde_json::from_str(data).map(|job| Self::Job(Box::new(job))),
            "task" => serde_json::from_str(data).map(|task| Self::Task(Box::new(task))),
            "worker" => serde_json::from_str(data).map(|worker| Self::Worker(Box::new(worker))),
            _ => Ok(Self::other(event, data)),
        };
        parsed.unwrap_or_else(|_| Self::other(event, data))
    }

    fn other(event: &str, data: &str) -> Self {
        Self::Other {
            event: event.to_string(),
            data: data.to_string(),
        }
    }
}

/// How a job names its frames on submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FrameSpec {
    /// `"1-100"`, `"1-10,20,30-35"`, `"7"`.
    Text(String),
    /// `{"start": 1, "end": 100}`.
    Range {
        /// First frame.
        start: i64,
        /// Last frame (inclusive).
        end: i64,
    },
    /// A single frame number.
    One(i64),
}

/// A job submission, as parsed from `POST /jobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitJob {
    /// Sequence id or name of a render package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Job name (default: the package name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Settings overlaid on the package's `[config]`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    /// Frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<FrameSpec>,
    /// Frames per task.
    #[serde(alias = "chunk_size")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<usize>,
    /// Priority (higher first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Tags: routes the job to workers with a matching tag.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Retries of a failed task.
    #[serde(alias = "max_retries")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Percent of tasks that may fail before the job fails (default 0).
    #[serde(alias = "failure_threshold")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// Time limit per task, in milliseconds.
    #[serde(alias = "task_timeout_ms")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_timeout_ms: Option<u64>,
}

/// `PATCH /jobs/:id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchJob {
    /// New priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// New tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A heartbeat's report of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    /// Task id.
    #[serde(alias = "task_id")]
    pub task_id: String,
    /// Attempt the worker runs.
    #[serde(default)]
    pub attempt: u32,
    /// Progress 0.0–1.0 of the whole task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// Plugin log lines since the last heartbeat.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// Frames of the attempt finished so far (rendered and their artifacts uploaded).
    #[serde(default, alias = "frames_done")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_done: Option<u32>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatReply {
    /// Tasks to stop now.
    pub cancel: Vec<String>,
    /// Why, by task id (canceled, paused, timed out, ...).
    #[serde(default)]
    pub reasons: std::collections::BTreeMap<String, String>,
    /// Finish running tasks and exit.
    pub drain: bool,
}

/// The body of `PATCH /workers/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatchWorker {
    /// `enabled`, `disabled` (takes no new tasks) or `draining` (finishes its tasks, then
    /// takes no more).
    pub status: Option<String>,
}

/// The body of `POST /tasks/{id}/complete` and `POST /tasks/{id}/fail`: which attempt
/// ended, and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The worker that held the lease.
    #[serde(alias = "worker_id")]
    pub worker_id: Option<String>,
    /// The attempt the lease named.
    pub attempt: Option<u32>,
    /// Why it failed (on fail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// CPU time the frames used, in ms (on complete).
    #[serde(alias = "cpu_ms", skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// Peak linear memory, in bytes (on complete).
    #[serde(alias = "peak_memory_bytes", skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Frames finished before the failure (on fail): kept, and the next attempt starts
    /// after them.
    #[serde(alias = "frames_done", skip_serializing_if = "Option::is_none")]
    pub frames_done: Option<u32>,
}

/// The reply to `POST /tasks/{id}/complete` (`completed`) and `/fail` (`failed`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TaskEnded {
    /// The task id.
    pub id: String,
    /// Set when the attempt was recorded as completed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub completed: bool,
    /// Set when the attempt was recorded as failed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

/// The reply to `PUT /tasks/{id}/artifacts/{name}`: the artifact as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StoredArtifact {
    /// The artifact's name.
    pub name: String,
    /// Its size, bytes.
    pub size: u64,
}
