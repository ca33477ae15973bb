//! The job manager's settings and bounds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Id of the hub's own worker (its local slots).
pub const LOCAL_WORKER: &str = "local";
/// Most tasks one job may have (frames ÷ chunk size): bounds the memory
/// one job takes.
pub const MAX_TASKS: usize = 100_000;
/// Most tasks one page of `GET /jobs/:id/tasks` holds (and its default).
pub const MAX_TASK_PAGE: usize = 1000;
/// Errors kept per job.
pub(super) const MAX_ERRORS: usize = 100;

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
