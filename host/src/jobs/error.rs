//! What the job manager refuses or fails with; the hub and the API turn it
//! into their own errors (the statuses are noted on each variant).

/// A job-manager error.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No such job, task, worker or artifact (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the job's or task's state (409).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but refused, e.g. not a render package (422).
    #[error("{0}")]
    Invalid(String),
    /// More than the manager takes now (503).
    #[error("{0}")]
    Capacity(String),
    /// An artifact larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// The job store or the artifact files failed (500).
    #[error("storage failed: {0}")]
    Io(#[from] std::io::Error),
}
