//! Chunked uploads: a large package sent in pieces, checked against the
//! SHA-256 the client announced, then stored like a one-piece upload.
//!
//! An upload is a file in `<data_dir>/uploads/` and an entry in memory; both
//! go away when it completes, fails its check, is deleted, or sits idle past
//! [`HubConfig::upload_idle`](super::HubConfig::upload_idle), and the
//! directory is emptied when the hub starts. Nothing reaches the stored
//! sequences until [`Hub::complete_upload`] hands the checked file to
//! [`Hub::add_sequence`]. A chunk must start where the bytes received so far
//! end, so a retried chunk is refused (409) instead of stored twice.

use std::collections::HashMap;
use std::fs;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use crate::wire::UploadRequest;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Hub, HubError, Sequence};

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    /// The upload id.
    pub id: String,
    /// The announced size, in bytes.
    pub size: u64,
    /// Bytes received so far: the offset of the next chunk.
    pub received: u64,
    /// When it was started.
    pub created: SystemTime,
}

/// One upload in flight.
struct Upload {
    id: String,
    size: u64,
    sha256: String,
    replace: Option<String>,
    created: SystemTime,
    path: PathBuf,
    received: AtomicU64,
    last_active: Mutex<Instant>,
    discarded: AtomicBool,
    /// The hash of the bytes received; held while a chunk is written, so
    /// chunks of one upload are taken one at a time.
    hasher: tokio::sync::Mutex<Sha256>,
}

impl Upload {
    fn info(&self) -> UploadInfo {
        UploadInfo {
            id: self.id.clone(),
            size: self.size,
            received: self.received.load(Ordering::Acquire),
            created: self.created,
        }
    }

    fn touch(&self) {
        *self.last_active.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> std::time::Duration {
        self.last_active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    fn gone(&self) -> HubError {
        HubError::NotFound(format!("Upload {} not found", self.id))
    }
}

pub(super) struct UploadStore {
    dir: PathBuf,
    by_id: Mutex<HashMap<String, Arc<Upload>>>,
}

impl UploadStore {
    /// Opens `<data_dir>/uploads`, discarding what a previous run left.
    pub(super) fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join("uploads");
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::create_dir_all(&dir)?;
        Ok(UploadStore {
            dir,
            by_id: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Upload>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Result<Arc<Upload>, HubError> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| HubError::NotFound(format!("Upload {id} not found")))
    }

    /// Forgets `upload` and removes its file (a chunk being written to it
    /// notices and stops).
    fn discard(&self, upload: &Upload) {
        upload.discarded.store(true, Ordering::Release);
        self.lock().remove(&upload.id);
        let _ = fs::remove_file(&upload.path);
    }
}

impl Hub {
    /// Starts a chunked upload of `request.size` bytes.
    pub fn create_upload(&self, request: UploadRequest) -> Result<UploadInfo, HubError> {
        let size = request.size.ok_or_else(|| {
            HubError::BadRequest("size is required: the package's length in bytes".into())
        })?;
        if size == 0 {
            return Err(HubError::BadRequest("size must be at least 1 byte".into()));
        }
        if size > self.config.max_upload_bytes {
            return Err(HubError::TooLarge(format!(
                "the package is larger than the hub's limit of {} MiB",
                self.config.max_upload_bytes >> 20
            )));
        }
        let sha256 = request
            .sha256
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| HubError::BadRequest("sha256 must be 64 hexadecimal characters".into()))?
            .to_ascii_lowercase();
        let replace = match request.replace {
            None => None,
            Some(id) => Some(self.replaceable_sequence(&id)?.id.clone()),
        };
        self.sweep_uploads();
        let mut all = self.uploads.lock();
        if all.len() >= self.config.max_uploads {
            return Err(HubError::Capacity(format!(
                "{} uploads are in flight, the hub's limit; complete or delete one, or retry later",
                all.len()
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let path = self.uploads.dir.join(format!("{id}.part"));
        fs::File::create(&path)?;
        let upload = Arc::new(Upload {
            id: id.clone(),
            size,
            sha256,
            replace,
            created: SystemTime::now(),
            path,
            received: AtomicU64::new(0),
            last_active: Mutex::new(Instant::now()),
            discarded: AtomicBool::new(false),
            hasher: tokio::sync::Mutex::new(Sha256::new()),
        });
        all.insert(id, upload.clone());
        Ok(upload.info())
    }

    /// Where upload `id` stands.
    pub fn upload_info(&self, id: &str) -> Result<UploadInfo, HubError> {
        Ok(self.uploads.get(id)?.info())
    }

    /// Appends `body` to upload `id`; `offset` must be the bytes received so
    /// far (409 otherwise). A chunk refused or broken midway leaves the
    /// upload as it was before it.
    pub async fn upload_chunk<E: std::fmt::Display>(
        &self,
        id: &str,
        offset: u64,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    ) -> Result<UploadInfo, HubError> {
        let upload = self.uploads.get(id)?;
        let mut hasher = upload.hasher.lock().await;
        let received = upload.received.load(Ordering::Acquire);
        if upload.discarded.load(Ordering::Acquire) {
            return Err(upload.gone());
        }
        if offset != received {
            return Err(HubError::Conflict(format!(
                "expected offset {received}, got {offset}: upload {id} has received {received} bytes, send the chunk that starts there"
            )));
        }
        upload.touch();
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&upload.path)
            .await?;
        // Drops what a broken chunk left past the last good byte.
        file.set_len(received).await?;
        file.seek(SeekFrom::Start(received)).await?;
        let mut chunk_hash = hasher.clone();
        let mut length = 0u64;
        let limit = self.config.upload_chunk_bytes;
        while let Some(bytes) = body.next().await {
            let bytes =
                bytes.map_err(|e| HubError::BadRequest(format!("chunk interrupted: {e}")))?;
            length += bytes.len() as u64;
            if length > limit {
                return Err(HubError::TooLarge(format!(
                    "a chunk may hold at most {limit} bytes; send smaller chunks"
                )));
            }
            if received + length > upload.size {
                return Err(HubError::TooLarge(format!(
                    "the chunk ends past the upload's size of {} bytes",
                    upload.size
                )));
            }
            if upload.discarded.load(Ordering::Acquire) {
                return Err(upload.gone());
            }
            file.write_all(&bytes).await?;
            chunk_hash.update(&bytes);
            upload.touch();
        }
        file.flush().await?;
        if upload.discarded.load(Ordering::Acquire) {
            return Err(upload.gone());
        }
        *hasher = chunk_hash;
        upload.received.store(received + length, Ordering::Release);
        upload.touch();
        Ok(upload.info())
    }

    /// Checks upload `id`'s size and SHA-256 and stores it as a sequence
    /// (replacing the one named at its start, if any). The upload is spent
    /// either way, except when bytes are missing (409: send the rest).
    pub async fn complete_upload(&self, id: &str) -> Result<Arc<Sequence>, HubError> {
        let upload = self.uploads.get(id)?;
        let hasher = upload.hasher.try_lock().map_err(|_| {
            HubError::Conflict(format!(
                "a chunk of upload {id} is still being received; complete the upload after its reply"
            ))
        })?;
        if upload.discarded.load(Ordering::Acquire) {
            return Err(upload.gone());
        }
        let received = upload.received.load(Ordering::Acquire);
        if received != upload.size {
            return Err(HubError::Conflict(format!(
                "upload {id} has received {received} of {} bytes; send the rest before completing it",
                upload.size
            )));
        }
        if let Some(replace) = &upload.replace {
            self.replaceable_sequence(replace)?;
        }
        let actual = hex::encode(hasher.clone().finalize());
        // Opened before `discard` unlinks it: the open file stays readable.
        let file = tokio::fs::File::open(&upload.path).await;
        drop(hasher);
        self.uploads.discard(&upload);
        if actual != upload.sha256 {
            return Err(HubError::Invalid(format!(
                "sha256 mismatch: expected {}, got {actual}",
                upload.sha256
            )));
        }
        let body = tokio_util::io::ReaderStream::with_capacity(file?.take(upload.size), 64 << 10);
        self.add_sequence(body, upload.replace.as_deref()).await
    }

    /// Discards upload `id`.
    pub fn discard_upload(&self, id: &str) -> Result<(), HubError> {
        let upload = self.uploads.get(id)?;
        self.uploads.discard(&upload);
        Ok(())
    }

    /// Discards uploads idle longer than the hub's `upload_idle`; returns
    /// how many.
    pub fn sweep_uploads(&self) -> usize {
        let idle = self.config.upload_idle;
        let expired: Vec<_> = self
            .uploads
            .lock()
            .values()
            .filter(|u| u.idle_for() >= idle)
            .cloned()
            .collect();
        for upload in &expired {
            self.uploads.discard(upload);
            self.log_line(
                "info",
                &format!(
                    "upload {} discarded after {} s idle",
                    upload.id,
                    idle.as_secs()
                ),
            );
        }
        expired.len()
    }

    /// Sweeps idle uploads every minute (or `upload_idle`, if shorter) for
    /// as long as the hub lives.
    pub(super) fn spawn_upload_sweeper(self: &Arc<Self>) {
        let hub = Arc::downgrade(self);
        let every = self
            .config
            .upload_idle
            .min(std::time::Duration::from_secs(60))
            .max(std::time::Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                hub.sweep_uploads();
            }
        });
    }
}
