//! Hub operations (`POST /shutdown`, `POST /gc`) and chunked uploads
//! (`/uploads`: start → chunks → complete) for packages too large to send
//! in one request, or over a connection that may break midway.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ClientError, HubClient, SequenceId};
use crate::wire::{
    ChunkedUpload, GcReply, ShutdownReply, ShutdownRequest, UploadId, UploadRequest,
};

/// How often one chunk is tried before the upload is given up.
const CHUNK_ATTEMPTS: u32 = 4;

impl HubClient {
    /// `POST /shutdown`: the hub stops its instances (within `timeout`, the
    /// hub's default 5 s when `None`) and exits.
    pub async fn shutdown(&self, timeout: Option<Duration>) -> Result<ShutdownReply, ClientError> {
        let body = ShutdownRequest {
            timeout: timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        };
        self.post_json(&["shutdown"], &body).await
    }

    /// `POST /gc`: the hub drops compiled components no sequence uses.
    pub async fn gc(&self) -> Result<GcReply, ClientError> {
        self.post_json(&["gc"], &json!({})).await
    }

    /// `POST /uploads`: starts a chunked upload of `size` bytes whose SHA-256
    /// (hex) is `sha256`, replacing sequence `replace` when given.
    pub async fn create_upload(
        &self,
        size: u64,
        sha256: &str,
        replace: Option<&str>,
    ) -> Result<ChunkedUpload, ClientError> {
        let body = UploadRequest {
            size: Some(size),
            sha256: Some(sha256.to_string()),
            replace: replace.map(str::to_string),
        };
        self.post_json(&["uploads"], &body).await
    }

    /// `PUT /uploads/{id}/chunks/{offset}`: sends the bytes from `offset`,
    /// which must be the bytes the hub has received so far.
    pub async fn upload_chunk(
        &self,
        id: &str,
        offset: u64,
        chunk: Bytes,
    ) -> Result<ChunkedUpload, ClientError> {
        let offset = offset.to_string();
        let request = self
            .request(Method::PUT, &["uploads", id, "chunks", &offset])
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(chunk);
        self.json(request).await
    }

    /// `GET /uploads/{id}`.
    pub async fn upload_info(&self, id: &str) -> Result<ChunkedUpload, ClientError> {
        self.get_json(&["uploads", id]).await
    }

    /// `POST /uploads/{id}/complete`: the hub checks the size and SHA-256
    /// and stores the package as a sequence.
    pub async fn complete_upload(&self, id: &str) -> Result<SequenceId, ClientError> {
        self.post_json(&["uploads", id, "complete"], &json!({}))
            .await
    }

    /// `DELETE /uploads/{id}`: discards the upload.
    pub async fn delete_upload(&self, id: &str) -> Result<UploadId, ClientError> {
        self.json(self.request(Method::DELETE, &["uploads", id]))
            .await
    }

    /// Uploads the package at `path` in chunks of at most `chunk_bytes`
    /// (and of the hub's limit): hashes it, starts an upload, sends each
    /// chunk (a chunk whose reply is lost is resumed from where the hub
    /// says it is), and completes it. A failed upload is discarded.
    pub async fn send_sequence_chunked(
        &self,
        path: &Path,
        chunk_bytes: u64,
    ) -> Result<SequenceId, ClientError> {
        let (size, sha256) = hash_file(path.to_path_buf()).await?;
        let upload = self.create_upload(size, &sha256, None).await?;
        let chunk = chunk_bytes
            .min(upload.chunk_limit.unwrap_or(u64::MAX))
            .max(1);
        let sent = match self.send_chunks(&upload.id, path, size, chunk).await {
            Ok(()) => self.complete_upload(&upload.id).await,
            Err(e) => Err(e),
        };
        if sent.is_err() {
            let _ = self.delete_upload(&upload.id).await;
        }
        sent
    }

    async fn send_chunks(
        &self,
        id: &str,
        path: &Path,
        size: u64,
        chunk: u64,
    ) -> Result<(), ClientError> {
        let (mut offset, mut failures) = (0, 0);
        while offset < size {
            let length = chunk.min(size - offset);
            let bytes = read_range(path.to_path_buf(), offset, length).await?;
            match self.upload_chunk(id, offset, bytes).await {
                Ok(progress) => {
                    offset = progress.received;
                    failures = 0;
                }
                Err(e) if retryable(&e) && failures + 1 < CHUNK_ATTEMPTS => {
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(200 << failures)).await;
                    offset = self.upload_info(id).await?.received;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A broken connection, a hub error, or a chunk the hub already had (409:
/// resume from what it reports).
fn retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Transport { .. } => true,
        ClientError::Hub { status, .. } => {
            status.is_server_error() || *status == reqwest::StatusCode::CONFLICT
        }
        _ => false,
    }
}

/// The size and SHA-256 (hex) of the file at `path`, read once.
async fn hash_file(path: PathBuf) -> Result<(u64, String), ClientError> {
    let hashed = tokio::task::spawn_blocking({
        let path = path.clone();
        move || -> std::io::Result<(u64, String)> {
            let mut file = std::fs::File::open(&path)?;
            let (mut hasher, mut size) = (Sha256::new(), 0u64);
            let mut buffer = vec![0u8; 256 << 10];
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    return Ok((size, hex::encode(hasher.finalize())));
                }
                hasher.update(&buffer[..n]);
                size += n as u64;
            }
        }
    })
    .await
    .map_err(std::io::Error::other);
    hashed
        .and_then(|r| r)
        .map_err(|cause| ClientError::Read { path, cause })
}

/// `length` bytes of the file at `path` from `offset`.
async fn read_range(path: PathBuf, offset: u64, length: u64) -> Result<Bytes, ClientError> {
    let read = tokio::task::spawn_blocking({
        let path = path.clone();
        move || -> std::io::Result<Bytes> {
            let mut file = std::fs::File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            let mut bytes = vec![0u8; usize::try_from(length).map_err(std::io::Error::other)?];
            file.read_exact(&mut bytes)?;
            Ok(Bytes::from(bytes))
        }
    })
    .await
    .map_err(std::io::Error::other);
    read.and_then(|r| r)
        .map_err(|cause| ClientError::Read { path, cause })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_hashed_and_read_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        std::fs::write(&path, b"hello world").unwrap();
        let (size, sha) = hash_file(path.clone()).await.unwrap();
        assert_eq!(size, 11);
        assert_eq!(
            sha,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(read_range(path.clone(), 6, 5).await.unwrap(), "world");
        let missing = read_range(dir.path().join("nope"), 0, 1).await;
        assert!(matches!(missing, Err(ClientError::Read { .. })));
    }

    #[test]
    fn lost_replies_and_hub_failures_are_retried_refusals_are_not() {
        let hub = |status| ClientError::Hub {
            status,
            message: String::new(),
        };
        assert!(retryable(&hub(reqwest::StatusCode::CONFLICT)));
        assert!(retryable(&hub(reqwest::StatusCode::BAD_GATEWAY)));
        assert!(!retryable(&hub(reqwest::StatusCode::PAYLOAD_TOO_LARGE)));
        assert!(!retryable(&hub(reqwest::StatusCode::NOT_FOUND)));
    }
}
