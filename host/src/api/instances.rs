//! Instance routes: info, health, stop, kill and events.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use super::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::json::{instance_info, read_json};
use super::streams::ndjson_body;
use super::{ApiError, AppState};
use crate::hub::InstanceRecord;
use crate::runtime::SendError;
use crate::wire;

/// `GET /instances`
pub async fn list(State(state): State<AppState>) -> Json<Vec<wire::InstanceInfo>> {
    Json(
        state
            .hub
            .instances()
            .iter()
            .map(|r| instance_info(r))
            .collect(),
    )
}

/// `GET /instance/:id`
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::InstanceInfo>, ApiError> {
    let record = state.hub.instance(&id)?;
    Ok(Json(instance_info(&record)))
}

/// `GET /instance/:id/health`
pub async fn health(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::InstanceHealth>, ApiError> {
    let record = state.hub.instance(&id)?;
    let status = record.instance.status();
    Ok(Json(wire::InstanceHealth {
        healthy: !status.is_terminal(),
        status: status.as_str().to_string(),
        output_buffered_bytes: record.instance.output().buffered() as u64,
        output_bytes: record.instance.output().total_written(),
    }))
}

fn option_field<T: serde::de::DeserializeOwned>(
    body: &Value,
    key: &str,
    error: &str,
) -> Result<Option<T>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|_| ApiError::BadRequest(error.to_string())),
    }
}

/// The instance and the JSON object body (`{}` when empty) of `_stop`/`_kill`:
/// the object itself, or the Scramjet clients' `[code, object]` form (the CLI
/// sends `[4002, {"removeImmediately": true}]` to `_kill`).
async fn control_request(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Arc<InstanceRecord>, Value), ApiError> {
    let record = state.hub.instance(id)?;
    let body = match read_json::<Option<Value>>(headers, body).await? {
        None | Some(Value::Null) => json!({}),
        Some(Value::Array(mut items)) if items.len() == 2 && items[0].is_u64() => items.remove(1),
        Some(body) => body,
    };
    Ok((record, body))
}

fn ensure_running(record: &InstanceRecord) -> Result<(), ApiError> {
    if record.instance.status().is_terminal() {
        return Err(ApiError::BadRequest("Instance not running".into()));
    }
    Ok(())
}

/// `POST /instance/:id/_stop` `{timeout, canCallKeepalive}`: replies at once
/// (202); the instance gets `timeout` ms to end before it is killed (138).
pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (record, body) = control_request(&state, &id, &headers, body).await?;
    let timeout: u64 = option_field(&body, "timeout", "Invalid timeout format")?.unwrap_or(7000);
    let keepalive: bool =
        option_field(&body, "canCallKeepalive", "Invalid canCallKeepalive format")?
            .unwrap_or(false);
    ensure_running(&record)?;
    // The reply describes the instance as this request leaves it: stopping.
    // (A guest on its own threads may finish before the reply is written.)
    let mut info = instance_info(&record);
    record
        .instance
        .stop(Duration::from_millis(timeout), keepalive);
    info.status = "stopping".into();
    Ok((StatusCode::ACCEPTED, Json(info)).into_response())
}

/// `POST /instance/:id/_kill` `{removeImmediately}`: ends it now (137). On
/// an ended instance, `removeImmediately` removes it at once (200); without
/// it the answer is 400 "Instance not running", as in the reference.
pub async fn kill(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (record, body) = control_request(&state, &id, &headers, body).await?;
    let remove: bool = option_field(
        &body,
        "removeImmediately",
        "Invalid removeImmediately format",
    )?
    .unwrap_or(false);
    if remove && record.instance.status().is_terminal() {
        // An ended instance kept for retention: removing it is what was asked.
        state.hub.kill_instance(&record, true);
        return Ok(Json(instance_info(&record)).into_response());
    }
    ensure_running(&record)?;
    state.hub.kill_instance(&record, remove);
    Ok((StatusCode::ACCEPTED, Json(instance_info(&record))).into_response())
}

/// The event name and message of an `_event` body, with the Scramjet hub's messages for a
/// malformed one.
fn event_of(body: Value) -> Result<(String, Value), ApiError> {
    let payload = match body {
        Value::Array(mut items) if items.len() == 2 => items.remove(1),
        body @ Value::Object(_) => body,
        _ => {
            return Err(ApiError::BadRequest(
                "Invalid format: send [5001, {\"eventName\": \"...\", \"message\": ...}]".into(),
            ));
        }
    };
    let Some(name) = payload.get("eventName").and_then(Value::as_str) else {
        return Err(ApiError::BadRequest(
            "Invalid format, eventName missing.".into(),
        ));
    };
    let message = payload.get("message").cloned().unwrap_or(Value::Null);
    Ok((name.to_string(), message))
}

/// `POST /instance/:id/_event` `[5001, {eventName, message}]` (the bare
/// object is accepted too).
pub async fn event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::EventAccepted>, ApiError> {
    let record = state.hub.instance(&id)?;
    let body: Value = read_json::<Option<Value>>(&headers, body)
        .await?
        .unwrap_or(Value::Null);
    let (name, message) = event_of(body)?;
    record
        .instance
        .send_event(name, &message)
        .map_err(|e| match e {
            SendError::Full => ApiError::Unavailable(format!("{e}; retry later")),
            SendError::Ended => ApiError::BadRequest("Instance not running".into()),
        })?;
    Ok(Json(wire::EventAccepted {
        accepted: "OK".into(),
    }))
}

fn json_text(text: &str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text.to_string(),
    )
        .into_response()
}

/// `GET /instance/:id/event/:name`: the last message, or the next one.
pub async fn last_event(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let record = state.hub.instance(&id)?;
    let mut events = record.instance.events().subscribe();
    if let Some(last) = record.instance.events().last(&name) {
        return Ok(json_text(&last));
    }
    next_named(&mut events, &name).await.map(|m| json_text(&m))
}

/// `GET /instance/:id/once/:name`: the next message.
pub async fn once_event(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let record = state.hub.instance(&id)?;
    let mut events = record.instance.events().subscribe();
    next_named(&mut events, &name).await.map(|m| json_text(&m))
}

async fn next_named(
    events: &mut crate::runtime::EventStream,
    name: &str,
) -> Result<String, ApiError> {
    while let Some(event) = events.next().await {
        if event.name == name {
            return Ok(event.message);
        }
    }
    Err(ApiError::NotFound(format!(
        "the instance ended without emitting {name}"
    )))
}

/// `GET /instance/:id/events/:name`: NDJSON stream of every message from now on.
pub async fn event_stream(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let record = state.hub.instance(&id)?;
    Ok(ndjson_body(record.instance.events().subscribe(), name))
}
