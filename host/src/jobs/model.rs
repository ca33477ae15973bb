//! What the job manager keeps: jobs, tasks and workers (persisted as their serde
//! form; the `#[serde(skip)]` fields are in-memory indexes rebuilt on load) and their states.

use super::*;

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
    /// Every state, in order.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Active,
        JobState::Paused,
        JobState::Completed,
        JobState::Failed,
        JobState::Canceled,
    ];

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

    /// Parses a state name (its serde name).
    pub fn parse(name: &str) -> Option<JobState> {
        serde_json::from_value(Value::String(name.to_string())).ok()
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
    pub(super) const ALL: [TaskState; 5] = [
        TaskState::Queued,
        TaskState::Active,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Canceled,
    ];

    pub(super) fn slot(self) -> usize {
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
    /// Its object in the space's artifact store (`<job>/<task index>/<attempt>/<name>`), for
    /// a job of a space; `None` for a file under the hub's data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

/// A job (persisted without its tasks).
#[derive(Serialize, Deserialize)]
pub struct Job {
    pub(super) id: String,
    pub(super) seq: u64,
    pub(super) name: String,
    pub(super) package_id: String,
    pub(super) package_name: String,
    pub(super) digest: String,
    pub(super) settings: Value,
    /// Package config overlaid with `settings`, as JSON text: what tasks get.
    pub(super) merged_settings: String,
    /// The package asks for grants (files, scratch, env, hosts), which only
    /// the hub's own slots provide: remote workers get only the component.
    #[serde(default)]
    pub(super) local_only: bool,
    pub(super) frames: String,
    pub(super) chunk_size: usize,
    pub(super) frames_total: usize,
    pub(super) priority: i64,
    pub(super) tags: Vec<String>,
    pub(super) state: JobState,
    pub(super) max_retries: u32,
    /// Percent of its tasks that may fail (out of retries) before the job
    /// does (0: the first such task fails it). Below it, the job goes on
    /// and ends `completed` with its failed frames listed.
    #[serde(default)]
    pub(super) failure_threshold: u32,
    pub(super) task_timeout_ms: u64,
    pub(super) errors: Vec<String>,
    pub(super) blocklist: Vec<String>,
    pub(super) worker_failures: BTreeMap<String, u32>,
    pub(super) created_ms: u64,
    pub(super) updated_ms: u64,
    pub(super) started_ms: Option<u64>,
    pub(super) finished_ms: Option<u64>,
    /// Failed tasks after which a worker is blocklisted for this job, for a job of a space
    /// (the accepting hub's `--blocklist-after`; every machine applies it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) blocklist_after: Option<u32>,
    /// The package's own limits, for workers of a space (which get only the component).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) limits: Option<crate::wire::LeaseLimits>,
    /// The job lives in a space's JetStream (see `space`), not in this hub's store.
    #[serde(skip)]
    pub(super) shared: bool,
    /// The state its space record says (queued or active: its tasks decide), for a job of
    /// a space.
    #[serde(skip)]
    pub(super) recorded: Option<JobState>,
    #[serde(skip)]
    pub(super) tasks: Vec<Task>,
    #[serde(skip)]
    pub(super) counts: [usize; 5],
    #[serde(skip)]
    pub(super) frames_done: usize,
    #[serde(skip)]
    pub(super) queued: BTreeSet<usize>,
    #[serde(skip)]
    pub(super) active: BTreeSet<usize>,
    #[serde(skip)]
    pub(super) artifacts: BTreeMap<String, ArtifactMeta>,
    #[serde(skip)]
    pub(super) log: JobLog,
    #[serde(skip)]
    pub(super) last_progress_event: Option<Instant>,
}

/// A task: a run of consecutive frames of one job.
#[derive(Serialize, Deserialize)]
pub struct Task {
    pub(super) id: String,
    pub(super) job_id: String,
    pub(super) index: usize,
    pub(super) frame_start: i64,
    pub(super) frame_end: i64,
    pub(super) state: TaskState,
    pub(super) attempt: u32,
    /// How many of its attempts failed, requeues included: the frames' next try is this + 1
    /// (`frame.attempt()`), while `attempt` also counts leases that were no try (a pause).
    #[serde(default)]
    pub(super) tries_failed: u32,
    pub(super) worker: Option<String>,
    pub(super) progress: f64,
    pub(super) failures: Vec<Failure>,
    pub(super) started_ms: Option<u64>,
    pub(super) finished_ms: Option<u64>,
    /// What its completed attempt used, as its worker reported it.
    #[serde(default)]
    pub(super) usage: Option<TaskUsage>,
    /// Where its next attempt starts: the frames before it were finished by
    /// an attempt that failed later, and their artifacts kept.
    #[serde(default)]
    pub(super) resume_from: Option<i64>,
    /// The artifacts its completed attempt stored, for a job of a space (whose index is
    /// the union of its completed tasks' lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) stored: Vec<ArtifactMeta>,
    /// Frames the current attempt has finished (rendered and stored), as its
    /// worker reported them.
    #[serde(skip)]
    pub(super) frames_finished: u32,
    #[serde(skip)]
    pub(super) started_at: Option<Instant>,
    #[serde(skip)]
    pub(super) cancel: Option<CancellationToken>,
    #[serde(skip)]
    pub(super) staged: Vec<ArtifactMeta>,
}

impl Task {
    pub(super) fn frame_count(&self) -> usize {
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
    pub(super) id: String,
    pub(super) name: String,
    pub(super) slots: usize,
    pub(super) tags: Vec<String>,
    /// The weir version it runs ("" when it did not say).
    #[serde(default)]
    pub(super) version: String,
    pub(super) local: bool,
    pub(super) state: WorkerState,
    pub(super) status: WorkerStatus,
    pub(super) tasks_completed: u64,
    pub(super) tasks_failed: u64,
    pub(super) registered_ms: u64,
    pub(super) last_seen_ms: u64,
    /// A worker of the space (its record is in JetStream; see `space`).
    #[serde(skip)]
    pub(super) shared: bool,
    #[serde(skip)]
    pub(super) active: BTreeSet<String>,
    #[serde(skip)]
    pub(super) seen: Option<Instant>,
    /// Tasks to stop at its next heartbeat, with why.
    #[serde(skip)]
    pub(super) cancel: BTreeMap<String, String>,
}

impl Worker {
    /// A worker online now, with no history.
    pub(super) fn new(
        id: String,
        name: &str,
        slots: usize,
        tags: Vec<String>,
        local: bool,
    ) -> Worker {
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
            shared: false,
            active: BTreeSet::new(),
            seen: Some(Instant::now()),
            cancel: BTreeMap::new(),
        }
    }
}
