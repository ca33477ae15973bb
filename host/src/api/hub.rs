//! Hub-level routes: version, load, config, status, entities, log, health, help.

use axum::Json;
use axum::extract::State;

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
    Json(
        state
            .hub
            .config()
            .settings(&state.listen, state.token.is_some()),
    )
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
