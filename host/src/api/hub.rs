//! Hub-level routes: version, load, config, status, entities, log, health, help.

use axum::Json;
use axum::extract::State;
use std::time::Duration;

use axum::response::Response;
use serde_json::Value;

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
        Some(load) => Json(wire::to_json(load)),
        None => Json(Value::Object(serde_json::Map::new())),
    }
}

/// `GET /config`: the hub's public settings.
pub async fn config(State(state): State<AppState>) -> Json<wire::HubSettings> {
    let config = state.hub.config();
    let (runtime, jobs, millis) = (&config.runtime, &config.jobs, |d: Duration| {
        d.as_millis() as u64
    });
    Json(wire::HubSettings {
        host: wire::HostSettings {
            api_base: "/api/v1".into(),
            listen: state.listen.clone(),
        },
        max_instances: config.max_instances as u64,
        max_upload_bytes: config.max_upload_bytes,
        instance_retention_ms: millis(config.instance_retention),
        instance_memory_bytes: runtime.max_memory_bytes as u64,
        instance_timeout_ms: runtime.max_wall_time.map(millis),
        instance_cpu_ms: runtime.max_cpu_time.map(millis),
        compile: wire::CompileSettings {
            in_child_process: runtime.compiler.is_some(),
            timeout_ms: millis(runtime.compile_timeout),
            memory_bytes: runtime.compile_memory_bytes as u64,
        },
        auth: state.token.is_some(),
        render: wire::RenderSettings {
            slots: jobs.slots as u64,
            ordering: serde_json::to_value(jobs.ordering)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            lease_ms: millis(jobs.lease),
            heartbeat_ms: millis(jobs.heartbeat),
            task_timeout_ms: millis(jobs.task_timeout),
            max_retries: jobs.max_retries,
            blocklist_after: jobs.blocklist_after,
        },
        unpack: wire::UnpackSettings {
            max_entries: config.unpack.max_entries as u64,
            max_unpacked_bytes: config.unpack.max_unpacked_bytes,
            max_ratio: config.unpack.max_ratio,
        },
        extra: serde_json::Map::new(),
    })
}

/// `GET /status`: instance counts per state and capacity.
pub async fn status(State(state): State<AppState>) -> Json<wire::HubStatus> {
    // One snapshot of every instance's state: counts and capacity agree.
    let statuses: Vec<InstanceStatus> = state
        .hub
        .instances()
        .iter()
        .map(|r| r.instance.status())
        .collect();
    let instances = InstanceStatus::ALL
        .iter()
        .map(|&status| {
            let n = statuses.iter().filter(|&&s| s == status).count() as u64;
            (status.as_str().to_string(), n)
        })
        .collect();
    let alive = statuses.iter().filter(|s| !s.is_terminal()).count();
    let max = state.hub.config().max_instances;
    Json(wire::HubStatus {
        cpm: serde_json::Map::new(),
        uptime_ms: state.hub.uptime().as_millis() as u64,
        sequences: state.hub.sequences().len() as u64,
        instances,
        capacity: wire::Capacity {
            max_instances: max as u64,
            alive: alive as u64,
            free: max.saturating_sub(alive) as u64,
        },
        render: state.hub.jobs().counts(),
        extra: serde_json::Map::new(),
    })
}

/// `GET /entities`: sequences and instances in one reply.
pub async fn entities(State(state): State<AppState>) -> Json<wire::Entities> {
    let sequences = state
        .hub
        .sequences()
        .iter()
        .map(|s| super::sequences::info_of(&state, s))
        .collect();
    let instances = state
        .hub
        .instances()
        .iter()
        .map(|r| super::json::instance_info(r))
        .collect();
    let topics = state.hub.topics().iter().map(|t| t.info()).collect();
    Json(wire::Entities {
        sequences,
        instances,
        topics,
    })
}

/// `GET /log`: the hub log, replayed from its buffer, then live.
pub async fn log(State(state): State<AppState>) -> Response {
    pipe_body(state.hub.log().reader_from_oldest())
}

/// `GET /health` (no auth).
pub async fn health(State(state): State<AppState>) -> Json<wire::Health> {
    Json(wire::Health {
        healthy: true,
        uptime_ms: state.hub.uptime().as_millis() as u64,
    })
}

/// `GET /help`: every route with a one-line description.
pub async fn help() -> Json<Vec<wire::RouteInfo>> {
    let route = |r: &super::Route| wire::RouteInfo {
        method: r.method.to_string(),
        path: format!("/api/v1{}", r.path),
        description: r.about.to_string(),
    };
    Json(ROUTES.iter().map(route).collect())
}
