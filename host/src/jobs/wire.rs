//! What goes in and out of the job manager: submissions, patches, heartbeat reports and
//! answers, leases and uploads.

use super::*;

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
    pub progress: Option<f64>,
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

/// What `POST /jobs/:id/{action}` does to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobAction {
    /// Stops its running tasks and cancels the rest.
    Cancel,
    /// Stops its running tasks (back to the queue) and starts no more.
    Pause,
    /// Lets a paused job's tasks start again.
    Resume,
    /// Runs an ended job again: every task of a completed one, the others' unfinished ones.
    Requeue,
}

impl JobAction {
    /// The action's name in the route.
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Cancel => "cancel",
            JobAction::Pause => "pause",
            JobAction::Resume => "resume",
            JobAction::Requeue => "requeue",
        }
    }
}

impl std::str::FromStr for JobAction {
    type Err = String;

    fn from_str(name: &str) -> Result<JobAction, String> {
        serde_json::from_value(Value::String(name.to_string())).map_err(|_| {
            format!("unknown job action {name:?}; use cancel, pause, resume or requeue")
        })
    }
}
