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
