//! A job's log: a file under `<data-dir>/joblogs` and a live feed.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::broadcast;

/// A job's log: recent lines and a live feed.
pub(super) struct JobLog {
    pub(super) live: broadcast::Sender<Arc<str>>,
    /// `<data-dir>/joblogs/<job id>.log`: the log is kept only there, so it
    /// survives a restart and costs no memory.
    pub(super) path: PathBuf,
    /// Opened at the first line written; closed again when the job ends.
    pub(super) file: Option<std::fs::File>,
}

impl Default for JobLog {
    /// A log without a file yet (a loaded job's is set when the manager opens).
    fn default() -> Self {
        JobLog::new(PathBuf::new())
    }
}

impl JobLog {
    pub(super) fn new(path: PathBuf) -> JobLog {
        JobLog {
            live: broadcast::channel(1024).0,
            path,
            file: None,
        }
    }

    pub(super) fn write(&mut self, line: &str) {
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
