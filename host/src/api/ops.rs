//! Operations routes: shutdown and gc (HOOPS' `api/shutdown` and `api/gc`).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::json::read_json;
use super::{ApiError, AppState};
use crate::hub::DEFAULT_SHUTDOWN_TIMEOUT;
use crate::wire::{GcReply, Memory, ShutdownReply};

/// `POST /shutdown` `{timeout}`: replies at once; from then on the hub
/// refuses new instances and jobs (503), gives running instances `timeout`
/// ms (default 5000) to stop, kills the rest, and exits.
pub async fn shutdown(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ShutdownReply>, ApiError> {
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
    Ok(Json(ShutdownReply {
        status: "ok".into(),
        message: "weir is shutting down".into(),
        extra: Map::new(),
    }))
}

/// `POST /gc`: removes compiled components no sequence uses and idle
/// uploads; reports resident memory (bytes) before and after.
pub async fn gc(State(state): State<AppState>) -> Result<Json<GcReply>, ApiError> {
    let report = state.hub.gc().await?;
    let memory = |rss: i128| Memory {
        rss: i64::try_from(rss).unwrap_or_default(),
        extra: Map::new(),
    };
    let (before, after) = (i128::from(report.rss_before), i128::from(report.rss_after));
    Ok(Json(GcReply {
        status: "ok".into(),
        pre_gc_memory: memory(before),
        post_gc_memory: memory(after),
        delta: memory(after - before),
        cache_files_removed: report.cache_files_removed,
        cache_bytes_freed: report.cache_bytes_freed,
        uploads_discarded: report.uploads_discarded as u64,
        extra: Map::new(),
    }))
}
