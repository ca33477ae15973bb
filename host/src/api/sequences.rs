//! Sequence routes: upload, list, info, replace, delete, instances, start.

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use super::extract::Path;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use super::json::{read_json, sequence_info};
use super::{ApiError, AppState};
use crate::hub::{Listed, Sequence, StartRequest};
use crate::time::iso;
use crate::wire;

/// The reply naming sequence `id` (its upload, replacement or delete).
pub(super) fn sequence_id(id: String) -> wire::SequenceId {
    wire::SequenceId {
        id,
        extra: serde_json::Map::new(),
    }
}

/// A sequence's info; its `instances` are the ones alive (ended ones stay
/// readable at `/instance/:id` and in `/sequence/:id/instances`).
pub(super) fn info_of(state: &AppState, sequence: &Sequence) -> wire::SequenceInfo {
    let ids: Vec<String> = state
        .hub
        .alive_instances_of(&sequence.id)
        .iter()
        .map(|r| r.instance.id().to_string())
        .collect();
    sequence_info(sequence, &ids)
}

/// The info of a sequence as listed: held here, or only in the space.
fn listed_info(state: &AppState, listed: &Listed) -> wire::SequenceInfo {
    match listed {
        Listed::Local(sequence) => info_of(state, sequence),
        Listed::Remote(entry) => wire::SequenceInfo {
            id: entry.id.clone(),
            name: entry.name.clone(),
            config: match &entry.config {
                Value::Object(config) => config.clone(),
                _ => serde_json::Map::new(),
            },
            instances: Vec::new(),
            location: "weir".into(),
            created: Some(iso(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(entry.created_ms)
            )),
            extra: serde_json::Map::new(),
        },
    }
}

/// Packages arrive as a raw body: `application/octet-stream` (or `application/gzip`, or none).
pub(super) fn check_package_type(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default())
    {
        None => Ok(()),
        Some(ct)
            if [
                "application/octet-stream",
                "application/gzip",
                "application/x-gzip",
                "application/x-tar",
            ]
            .iter()
            .any(|ok| ct.starts_with(ok)) =>
        {
            Ok(())
        }
        Some(ct) => Err(ApiError::UnsupportedMediaType(format!(
            "send the package as a raw application/octet-stream body (got content-type {ct:?})"
        ))),
    }
}

/// `POST /sequence`: store an uploaded `.tar.gz`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::SequenceId>, ApiError> {
    check_package_type(&headers)?;
    let sequence = state
        .hub
        .add_sequence(body.into_data_stream(), None)
        .await?;
    Ok(Json(sequence_id(sequence.id.clone())))
}

/// `PUT /sequence/:id`: replace a sequence's package (409 while instances run).
pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::SequenceId>, ApiError> {
    check_package_type(&headers)?;
    let existing = match state.hub.listed_sequence(&id).await {
        Ok(Listed::Remote(entry)) => entry.id,
        _ => state.hub.replaceable_sequence(&id)?.id.clone(),
    };
    let sequence = state
        .hub
        .add_sequence(body.into_data_stream(), Some(&existing))
        .await?;
    Ok(Json(sequence_id(sequence.id.clone())))
}

/// `GET /sequences`
pub async fn list(State(state): State<AppState>) -> Json<Vec<wire::SequenceInfo>> {
    Json(
        state
            .hub
            .listed_sequences()
            .await
            .iter()
            .map(|s| listed_info(&state, s))
            .collect(),
    )
}

/// `GET /sequence/:id` (id or package name)
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::SequenceInfo>, ApiError> {
    let listed = state.hub.listed_sequence(&id).await?;
    Ok(Json(listed_info(&state, &listed)))
}

/// `GET /sequence/:id/instances`
pub async fn instances(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    let listed = state.hub.listed_sequence(&id).await?;
    let ids = state
        .hub
        .instances_of(listed.id())
        .iter()
        .map(|r| r.instance.id().to_string())
        .collect();
    Ok(Json(ids))
}

/// `DELETE /sequence/:id` (`x-seq-kill-inst: true` kills its instances first)
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<wire::SequenceId>, ApiError> {
    let force = headers
        .get("x-seq-kill-inst")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let id = state.hub.delete_sequence(&id, force).await?;
    Ok(Json(sequence_id(id)))
}

/// `POST /sequence/:id/start` (`sessionToken: true` mints a token, shown
/// only in this reply, that opens this instance's routes and no others)
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::StartReply>, ApiError> {
    let mut request: StartRequest = read_json(&headers, body).await?;
    let minted = request.mint_session_token();
    let record = state.hub.start_instance(&id, request).await?;
    let id = record.instance.id();
    let base = format!("/api/v1/instance/{id}");
    Ok(Json(wire::StartReply {
        message: format!("Sequence {id} starting"),
        id: id.to_string(),
        endpoints: wire::Endpoints {
            info: base.clone(),
            input: format!("{base}/input"),
            output: format!("{base}/output"),
            log: format!("{base}/log"),
            ws: format!("{base}/ws"),
        },
        session_token: minted,
        extra: serde_json::Map::new(),
    }))
}
