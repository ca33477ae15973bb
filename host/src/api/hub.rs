//! Hub-level routes: version, load, config, status, entities, log, health, help.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::{AppState, ROUTES, streams::pipe_body};
use crate::runtime::InstanceStatus;
use crate::wire;

/// `GET /version`
pub async fn version() -> Json<wire::HubVersion> {
    Json(wire::HubVersion {
        service: "weir".into(),
        api_version: "v1".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        build: env!("WEIR_BUILD").into(),
        extra: serde_json::Map::new(),
    })
}

/// `GET /load-check`: CPU, memory and disk of the hub machine.
pub async fn load_check(State(state): State<AppState>) -> Json<Value> {
    let data_dir = state.hub.config().data_dir.clone();
    let load = tokio::task::spawn_blocking(move || crate::hub::load_check(&data_dir)).await;
    // Figures that cannot be read answer an empty object, as the Scramjet hub does.
    match load.ok().flatten() {
        Some(load) => Json(serde_json::to_value(load).unwrap_or_default()),
        None => Json(Value::Object(serde_json::Map::new())),
    }
}

/// `GET /config`: the hub's public settings.
pub async fn config(State(state): State<AppState>) -> Json<Value> {
    let config = state.hub.config();
    Json(json!({
        "host": { "apiBase": "/api/v1", "listen": state.listen },
        "maxInstances": config.max_instances,
        "maxUploadBytes": config.max_upload_bytes,
        "instanceRetentionMs": config.instance_retention.as_millis() as u64,
        "instanceMemoryBytes": config.runtime.max_memory_bytes,
        "instanceTimeoutMs": config.runtime.max_wall_time.map(|d| d.as_millis() as u64),
        "instanceCpuMs": config.runtime.max_cpu_time.map(|d| d.as_millis() as u64),
        "compile": {
            "inChildProcess": config.runtime.compiler.is_some(),
            "timeoutMs": config.runtime.compile_timeout.as_millis() as u64,
            "memoryBytes": config.runtime.compile_memory_bytes,
        },
        "auth": state.token.is_some(),
        "render": {
            "slots": config.jobs.slots,
            "ordering": config.jobs.ordering,
            "leaseMs": config.jobs.lease.as_millis() as u64,
            "heartbeatMs": config.jobs.heartbeat.as_millis() as u64,
            "taskTimeoutMs": config.jobs.task_timeout.as_millis() as u64,
            "maxRetries": config.jobs.max_retries,
            "blocklistAfter": config.jobs.blocklist_after,
        },
        "unpack": {
            "maxEntries": config.unpack.max_entries,
            "maxUnpackedBytes": config.unpack.max_unpacked_bytes,
            "maxRatio": config.unpack.max_ratio,
        },
    }))
}

/// `GET /status`: instance counts per state and capacity.
pub async fn status(State(state): State<AppState>) -> Json<Value> {
    // One snapshot of every instance's state: counts and capacity agree.
    let statuses: Vec<InstanceStatus> = state
        .hub
        .instances()
        .iter()
        .map(|r| r.instance.status())
        .collect();
    let mut counts = serde_json::Map::new();
    for status in [
        InstanceStatus::Initializing,
        InstanceStatus::Starting,
        InstanceStatus::Running,
        InstanceStatus::Stopping,
        InstanceStatus::Killing,
        InstanceStatus::Completed,
        InstanceStatus::Errored,
    ] {
        let name = serde_json::to_value(status).unwrap_or_default();
        let n = statuses.iter().filter(|&&s| s == status).count();
        counts.insert(name.as_str().unwrap_or_default().to_string(), n.into());
    }
    let alive = statuses.iter().filter(|s| !s.is_terminal()).count();
    Json(json!({
        "cpm": {},
        "uptimeMs": state.hub.uptime().as_millis() as u64,
        "sequences": state.hub.sequences().len(),
        "instances": counts,
        "capacity": { "maxInstances": state.hub.config().max_instances, "alive": alive,
                      "free": state.hub.config().max_instances.saturating_sub(alive) },
        "render": state.hub.jobs().counts(),
    }))
}

/// `GET /entities`: sequences and instances in one reply.
pub async fn entities(State(state): State<AppState>) -> Json<Value> {
    let sequences: Vec<Value> = state
        .hub
        .sequences()
        .iter()
        .map(|s| super::sequences::info_of(&state, s))
        .collect();
    let instances: Vec<Value> = state
        .hub
        .instances()
        .iter()
        .map(|r| super::json::instance_info(r))
        .collect();
    let topics: Vec<_> = state.hub.topics().iter().map(|t| t.info()).collect();
    Json(json!({ "sequences": sequences, "instances": instances, "topics": topics }))
}

/// `GET /log`: the hub log, replayed from its buffer, then live.
pub async fn log(State(state): State<AppState>) -> Response {
    pipe_body(state.hub.log().reader_from_oldest())
}

/// `GET /health` (no auth).
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "healthy": true, "uptimeMs": state.hub.uptime().as_millis() as u64 }))
}

/// `GET /help`: every route with a one-line description.
pub async fn help() -> Json<Value> {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|r| json!({ "method": r.method, "path": format!("/api/v1{}", r.path), "description": r.about }))
        .collect();
    Json(Value::Array(routes))
}
