//! Operations routes: shutdown and gc (HOOPS' `api/shutdown` and `api/gc`).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::json::read_json;
use super::{ApiError, AppState};
use crate::hub::DEFAULT_SHUTDOWN_TIMEOUT;

/// `POST /shutdown` `{timeout}`: replies at once; from then on the hub
/// refuses new instances and jobs (503), gives running instances `timeout`
/// ms (default 5000) to stop, kills the rest, and exits.
pub async fn shutdown(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_json::<Option<Value>>(&headers, body)
        .await?
        .unwrap_or_else(|| json!({}));
    let Value::Object(fields) = body else {
        return Err(ApiError::BadRequest(
            "send a JSON object, e.g. {\"timeout\": 5000}".into(),
        ));
    };
    let timeout = match fields.get("timeout") {
        None | Some(Value::Null) => DEFAULT_SHUTDOWN_TIMEOUT,
        Some(ms) => ms
            .as_u64()
            .map(Duration::from_millis)
            .ok_or_else(|| ApiError::BadRequest("Invalid timeout format".into()))?,
    };
    state.hub.request_shutdown(timeout);
    Ok(Json(
        json!({ "status": "ok", "message": "weir is shutting down" }),
    ))
}

/// `POST /gc`: removes compiled components no sequence uses and idle
/// uploads; reports resident memory (bytes) before and after.
pub async fn gc(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let report = state.hub.gc().await?;
    let delta = i128::from(report.rss_after) - i128::from(report.rss_before);
    Ok(Json(json!({
        "status": "ok",
        "preGcMemory": { "rss": report.rss_before },
        "postGcMemory": { "rss": report.rss_after },
        "delta": { "rss": i64::try_from(delta).unwrap_or_default() },
        "cacheFilesRemoved": report.cache_files_removed,
        "cacheBytesFreed": report.cache_bytes_freed,
        "uploadsDiscarded": report.uploads_discarded,
    })))
}
