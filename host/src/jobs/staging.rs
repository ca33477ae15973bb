//! Staging an attempt's artifacts until the attempt completes.
//!
//! An upload is checked against the task's lease, attempt and frames before a
//! byte of it is read, then streamed to a file in the staging directory
//! (hashed on the way), so a stray or hostile `PUT` costs no memory and a
//! real one costs one chunk at a time. At most [`MAX_ARTIFACT_UPLOADS`]
//! stream at once; more wait, their bodies unread.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use super::JobError;
use super::{ArtifactMeta, JobManager, Upload};
use crate::runtime::MAX_ARTIFACT_BYTES;

/// Artifact uploads streamed to disk at once; more wait their turn.
pub(super) const MAX_ARTIFACT_UPLOADS: usize = 8;

impl JobManager {
    /// Checks that `upload` may store an artifact called `name` (a valid
    /// name, the attempt held, the frame one of the task's); returns where
    /// it is staged.
    fn check_upload(&self, upload: Upload<'_>, name: &str) -> Result<PathBuf, JobError> {
        if !crate::runtime::is_valid_artifact_name(name) {
            return Err(JobError::BadRequest(format!(
                "artifact name {name:?}: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'"
            )));
        }
        let mut guard = self.lock();
        let (job, idx) = Self::held(&mut guard, upload.task_id, upload.worker, upload.attempt)?;
        let task = &job.tasks[idx];
        if upload.frame < task.frame_start || upload.frame > task.frame_end {
            return Err(JobError::BadRequest(format!(
                "frame {} is not part of task {} (frames {})",
                upload.frame,
                upload.task_id,
                task.frames_label()
            )));
        }
        if let Some(clash) = name_clash(&task.staged, name, upload.frame) {
            return Err(clash);
        }
        Ok(self.staged_path(upload.task_id, upload.attempt, name))
    }

    /// Stores one artifact of a running attempt from memory (the hub's own
    /// render slots). `worker`, when given, must hold the attempt.
    pub async fn stage_artifact(
        &self,
        upload: Upload<'_>,
        name: &str,
        media_type: &str,
        data: Bytes,
    ) -> Result<(), JobError> {
        let staged = self.check_upload(upload, name)?;
        let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(data)]);
        self.write_staged(upload, name, media_type, &staged, body)
            .await
            .map(drop)
    }

    /// Stores one artifact of a running attempt as its `body` streams in
    /// (a worker's `PUT`); returns its size. Nothing is read before the
    /// upload is checked; past [`MAX_ARTIFACT_BYTES`] it is refused (413).
    pub async fn stage_artifact_stream<E: std::fmt::Display>(
        &self,
        upload: Upload<'_>,
        name: &str,
        media_type: &str,
        body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    ) -> Result<u64, JobError> {
        self.check_upload(upload, name)?;
        let _permit = self
            .artifact_uploads
            .acquire()
            .await
            .map_err(|_| JobError::Capacity("the hub is shutting down".into()))?;
        // The lease may have moved on while this upload waited.
        let staged = self.check_upload(upload, name)?;
        self.write_staged(upload, name, media_type, &staged, body)
            .await
    }

    /// Streams `body` into a part file, renames it to `staged` and records
    /// it on the attempt (which must still be held); nothing is left behind
    /// on any error.
    async fn write_staged<E: std::fmt::Display>(
        &self,
        upload: Upload<'_>,
        name: &str,
        media_type: &str,
        staged: &Path,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    ) -> Result<u64, JobError> {
        let part = PartFile(Some(
            self.staging_dir
                .join(format!(".part-{}", uuid::Uuid::new_v4().simple())),
        ));
        let mut file = tokio::fs::File::create(part.path()).await?;
        let (mut size, mut hash) = (0u64, sha2::Sha256::new());
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                JobError::BadRequest(format!("the artifact upload was interrupted: {e}"))
            })?;
            size += chunk.len() as u64;
            if size > MAX_ARTIFACT_BYTES as u64 {
                return Err(JobError::TooLarge(format!(
                    "artifacts are limited to {} MiB",
                    MAX_ARTIFACT_BYTES >> 20
                )));
            }
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        // No fsync: the index entry is committed only when the attempt
        // completes.
        file.flush().await?;
        drop(file);
        part.rename_to(staged)?;
        let meta = ArtifactMeta {
            name: name.to_string(),
            media_type: media_type.to_string(),
            size,
            sha256: hex::encode(hash.finalize()),
            frame: upload.frame,
            task_id: upload.task_id.to_string(),
            object: None,
        };
        // Its index entry beside it, so the attempt keeps it across a
        // restart of the manager.
        let entry = serde_json::to_vec(&super::StagedMeta {
            attempt: upload.attempt,
            artifact: meta.clone(),
        })
        .map_err(|e| JobError::Io(e.into()))?;
        if let Err(e) = std::fs::write(super::meta_path(staged), entry) {
            let _ = std::fs::remove_file(staged);
            return Err(e.into());
        }
        let remove = || {
            let _ = std::fs::remove_file(super::meta_path(staged));
            let _ = std::fs::remove_file(staged);
        };
        let mut guard = self.lock();
        let held = Self::held(&mut guard, upload.task_id, upload.worker, upload.attempt);
        let (job, idx) = match held {
            Ok(held) => held,
            Err(lost) => {
                remove();
                return Err(lost);
            }
        };
        let artifacts = &mut job.tasks[idx].staged;
        if let Some(clash) = name_clash(artifacts, name, upload.frame) {
            // Another frame's artifact was staged under this name meanwhile;
            // its file was just overwritten by this one, so neither stays.
            artifacts.retain(|a| a.name != meta.name);
            remove();
            return Err(clash);
        }
        // The same frame sending it again (a retried upload) replaces it.
        artifacts.retain(|a| a.name != meta.name);
        artifacts.push(meta);
        Ok(size)
    }
}

/// 409 when another frame of the attempt staged an artifact called `name`
/// (the same clash across tasks is refused when the task completes).
fn name_clash(staged: &[ArtifactMeta], name: &str, frame: i64) -> Option<JobError> {
    let other = staged.iter().find(|a| a.name == name && a.frame != frame)?;
    Some(JobError::Conflict(format!(
        "artifact {name:?} was already produced by frame {} of this task; artifact names must be unique per job (e.g. include the frame number)",
        other.frame
    )))
}

/// A half-written upload, removed unless renamed into place.
struct PartFile(Option<PathBuf>);

impl PartFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn rename_to(mut self, to: &Path) -> std::io::Result<()> {
        if let Some(from) = self.0.take() {
            std::fs::rename(&from, to).inspect_err(|_| {
                let _ = std::fs::remove_file(&from);
            })?;
        }
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}
