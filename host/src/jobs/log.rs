//! A job's log: a file under `<data-dir>/joblogs` and a live feed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::{JobError, JobManager, JobState};

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

impl JobManager {
    /// Job `id`'s log as text lines: the file up to where the live feed starts, then the
    /// feed, until the job has ended (or is deleted) and what it wrote is drained. A reader
    /// too slow for the feed gets a line saying how many lines it missed.
    pub async fn log_stream(
        self: Arc<Self>,
        id: &str,
    ) -> Result<impl Stream<Item = Bytes> + Send + 'static, JobError> {
        let LogFeed { path, len, live } = self.log(id)?;
        let replay = match tokio::fs::File::open(&path).await {
            Ok(file) => {
                use tokio::io::AsyncReadExt;
                tokio_util::io::ReaderStream::new(file.take(len))
                    .filter_map(|chunk| async move { chunk.ok() })
                    .boxed()
            }
            Err(_) => futures::stream::empty().boxed(),
        };
        let follow = futures::stream::unfold(
            (live, self, id.to_string(), false),
            |(mut live, jobs, id, done)| async move {
                if done {
                    return None;
                }
                loop {
                    match tokio::time::timeout(Duration::from_millis(250), live.recv()).await {
                        Ok(Ok(line)) => {
                            let line = Bytes::from(format!("{line}\n"));
                            return Some((line, (live, jobs, id, false)));
                        }
                        Ok(Err(RecvError::Lagged(n))) => {
                            let note = format!("… {n} lines skipped (reader too slow)\n");
                            return Some((Bytes::from(note), (live, jobs, id, false)));
                        }
                        Ok(Err(RecvError::Closed)) => return None,
                        Err(_) if jobs.job_state(&id).is_none_or(JobState::is_terminal) => {
                            // Drain what is already there, then end.
                            let mut rest = String::new();
                            while let Ok(line) = live.try_recv() {
                                rest.push_str(&line);
                                rest.push('\n');
                            }
                            return Some((Bytes::from(rest), (live, jobs, id, true)));
                        }
                        Err(_) => {}
                    }
                }
            },
        );
        Ok(replay.chain(follow))
    }
}
