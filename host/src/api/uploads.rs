//! Chunked upload routes: start, send chunks, check, complete, discard.

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use super::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::json::read_json;
use super::sequences::{check_package_type, sequence_id};
use super::{ApiError, AppState};
use crate::hub::{UploadInfo, UploadRequest};
use crate::time::iso;
use crate::wire::{self, ChunkedUpload};

fn progress(upload: &UploadInfo) -> ChunkedUpload {
    ChunkedUpload {
        id: upload.id.clone(),
        size: Some(upload.size),
        received: upload.received,
        ..ChunkedUpload::default()
    }
}

/// `POST /uploads` `{size, sha256, replace}` → 201 `{id, size, received,
/// chunkLimit}`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: UploadRequest = read_json(&headers, body).await?;
    let upload = state.hub.create_upload(request)?;
    let reply = ChunkedUpload {
        chunk_limit: Some(state.hub.config().upload_chunk_bytes),
        ..progress(&upload)
    };
    Ok((StatusCode::CREATED, Json(reply)).into_response())
}

/// `PUT /uploads/:id/chunks/:offset` (raw body) → `{id, received}`.
pub async fn chunk(
    State(state): State<AppState>,
    Path((id, offset)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ChunkedUpload>, ApiError> {
    check_package_type(&headers)?;
    let offset: u64 = offset.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "the chunk offset must be a number of bytes, got {offset:?}"
        ))
    })?;
    let upload = state
        .hub
        .upload_chunk(&id, offset, body.into_data_stream())
        .await?;
    Ok(Json(ChunkedUpload {
        size: None,
        ..progress(&upload)
    }))
}

/// `GET /uploads/:id` → `{id, size, received, createdAt}`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ChunkedUpload>, ApiError> {
    let upload = state.hub.upload_info(&id)?;
    Ok(Json(ChunkedUpload {
        created_at: Some(iso(upload.created)),
        ..progress(&upload)
    }))
}

/// `POST /uploads/:id/complete`: checks size and SHA-256, stores the
/// package → `{id}` of the sequence, as `POST /sequence`.
pub async fn complete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::SequenceId>, ApiError> {
    let sequence = state.hub.complete_upload(&id).await?;
    Ok(Json(sequence_id(sequence.id.clone())))
}

/// `DELETE /uploads/:id`: discards the upload.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::UploadId>, ApiError> {
    state.hub.discard_upload(&id)?;
    Ok(Json(wire::UploadId { id }))
}
