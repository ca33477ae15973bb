//! Space routes: `GET /spaces` and, under `/space/:space/api/v1/`, the space
//! as one hub (`version`, `load`, `list`, `config`, `sequences`, `instances`,
//! `topics`, `log`, `sth/:hubId/info`), placement (`sequence/:id/start`), and
//! `sth/:hubId/api/v1/*`: any route of that hub, forwarded. Every hub of the
//! space serves them from the NATS registry; the request's `Authorization`
//! goes along to the other hubs.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use super::extract::Path;
use super::json::read_json;
use super::space_ws;
use super::{ApiError, AppState};
use crate::space::{HubEntry, Space};
use crate::wire::{
    self, LoadCheck, OnHub, SpaceHub, SpaceLoad, SpaceSettings, SpaceSummary, SpaceTopic,
    TopicInfo, TopicOnHub,
};

/// The space `name`, if this hub is in it.
fn space_of<'a>(state: &'a AppState, name: &str) -> Result<&'a Arc<Space>, ApiError> {
    let space = state.space.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "this hub is not in a space; start it with --nats URL --space NAME".into(),
        )
    })?;
    if space.name() != name {
        return Err(ApiError::NotFound(format!(
            "no space {name:?} here; this hub is in space {:?}",
            space.name()
        )));
    }
    Ok(space)
}

fn auth(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers.get(header::AUTHORIZATION)
}

/// `GET /spaces`: the space this hub is in (none without `--nats`).
pub async fn spaces(State(state): State<AppState>) -> Result<Json<Vec<SpaceSummary>>, ApiError> {
    let Some(space) = &state.space else {
        return Ok(Json(Vec::new()));
    };
    let hubs = space.registry().list().await?;
    let healthy = hubs.iter().filter(|h| h.healthy()).count();
    Ok(Json(vec![SpaceSummary {
        id: space.name().to_string(),
        hubs: hubs.len() as u64,
        healthy_hubs: healthy as u64,
    }]))
}

/// `GET /space/:space/api/v1/version`
pub async fn version(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<wire::HubVersion>, ApiError> {
    space_of(&state, &name)?;
    Ok(Json(wire::HubVersion {
        service: "weir-space".into(),
        api_version: "v1".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        build: env!("WEIR_BUILD").into(),
        extra: Map::new(),
    }))
}

/// `GET /space/:space/api/v1/list`: every hub, healthy or not.
pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<SpaceHub>>, ApiError> {
    let hubs = space_of(&state, &name)?.registry().list().await?;
    Ok(Json(hubs.iter().map(HubEntry::list_view).collect()))
}

/// `GET /space/:space/api/v1/sth/:hub/info`: one hub's entry.
pub async fn hub_info(
    State(state): State<AppState>,
    Path((name, hub)): Path<(String, String)>,
) -> Result<Json<SpaceHub>, ApiError> {
    let space = space_of(&state, &name)?;
    let entry = space
        .registry()
        .get(&hub)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no hub {hub:?} in space {name}")))?;
    Ok(Json(SpaceHub {
        instances: Some(entry.instances.clone()),
        ..entry.list_view()
    }))
}

/// `GET /space/:space/api/v1/load`: the healthy hubs' load, summed (memory,
/// disks) and averaged (CPU).
pub async fn load(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SpaceLoad>, ApiError> {
    let hubs = space_of(&state, &name)?.registry().list().await?;
    let healthy: Vec<&LoadCheck> = hubs
        .iter()
        .filter(|h| h.healthy())
        .map(|h| &h.load)
        .collect();
    let count = healthy.len().max(1) as f64;
    Ok(Json(SpaceLoad {
        avg_load: healthy.iter().map(|l| l.avg_load).sum::<f64>() / count,
        current_load: healthy.iter().map(|l| l.current_load).sum::<f64>() / count,
        cores: healthy.iter().map(|l| l.cores).sum(),
        mem_free: healthy.iter().map(|l| l.mem_free).sum(),
        mem_used: healthy.iter().map(|l| l.mem_used).sum(),
        fs_size: healthy
            .iter()
            .flat_map(|l| l.fs_size.iter().cloned())
            .collect(),
        hubs: healthy.len() as u64,
    }))
}

/// `GET /space/:space/api/v1/config`: the space's settings (no credentials).
pub async fn config(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SpaceSettings>, ApiError> {
    let space = space_of(&state, &name)?;
    let config = space.config();
    Ok(Json(SpaceSettings {
        id: space.name().to_string(),
        hub: space.hub_id().to_string(),
        nats: crate::space::redact(&config.servers.join(",")),
        heartbeat_ms: crate::space::HEARTBEAT.as_millis() as u64,
        healthy_within_ms: crate::space::HEALTHY_WITHIN.as_millis() as u64,
        hub_retention_secs: config.hub_retention.as_secs(),
        topic_retention_mb: config.topic_retention_bytes >> 20,
    }))
}

/// `GET {path}` of every healthy hub, each answer with its hub.
async fn gather(
    space: &Space,
    path: &str,
    headers: &HeaderMap,
) -> Result<(Vec<(HubEntry, Value)>, Vec<HubEntry>), ApiError> {
    let hubs = space.registry().list().await?;
    let (healthy, silent): (Vec<HubEntry>, Vec<HubEntry>) =
        hubs.into_iter().partition(HubEntry::healthy);
    let answers = join_all(healthy.iter().map(|hub| async move {
        let answer = space.forwarder().get_json(hub, path, auth(headers)).await;
        (hub.clone(), answer)
    }))
    .await;
    let mut gathered = Vec::new();
    let mut unreachable = silent;
    for (hub, answer) in answers {
        match answer {
            Ok(value) => gathered.push((hub, value)),
            Err(_) => unreachable.push(hub),
        }
    }
    Ok((gathered, unreachable))
}

/// Every object of each hub's array answer, with the hub it came from.
fn tagged(gathered: Vec<(HubEntry, Value)>) -> Vec<OnHub> {
    let mut all = Vec::new();
    for (hub, answer) in gathered {
        let Value::Array(items) = answer else {
            continue;
        };
        for item in items {
            if let Value::Object(mut fields) = item {
                fields.remove("hub");
                all.push(OnHub {
                    hub: hub.id.clone(),
                    fields,
                });
            }
        }
    }
    all
}

/// `GET /space/:space/api/v1/sequences`: the space's packages, each once,
/// with the hub it was uploaded to (and those a hub holds unshared).
pub async fn sequences(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<OnHub>>, ApiError> {
    let space = space_of(&state, &name)?;
    let (gathered, _) = gather(space, "/sequences", &headers).await?;
    let catalog = state.hub.space_catalog().await.unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut all = Vec::new();
    for mut item in tagged(gathered) {
        let id = item
            .fields
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !seen.insert(id.to_string()) {
            continue;
        }
        if let Some(entry) = catalog.iter().find(|e| e.id == id) {
            item.hub = entry.hub.clone();
        }
        all.push(item);
    }
    Ok(Json(all))
}

/// `GET /space/:space/api/v1/instances`: every instance with its hub; those
/// of a hub that stopped answering are listed as `lost`.
pub async fn instances(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<OnHub>>, ApiError> {
    let space = space_of(&state, &name)?;
    let (gathered, unreachable) = gather(space, "/instances", &headers).await?;
    let mut all = tagged(gathered);
    for hub in unreachable {
        for instance in &hub.instances {
            let mut fields = Map::new();
            fields.insert("id".into(), instance.id.clone().into());
            fields.insert("sequence".into(), instance.sequence.clone().into());
            fields.insert("status".into(), "lost".into());
            fields.insert(
                "reason".into(),
                format!("hub {} stopped answering", hub.id).into(),
            );
            all.push(OnHub {
                hub: hub.id.clone(),
                fields,
            });
        }
    }
    Ok(Json(all))
}

/// `GET /space/:space/api/v1/topics`: each topic with its content type and,
/// by hub, its producers and subscribers.
pub async fn topics(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<SpaceTopic>>, ApiError> {
    let space = space_of(&state, &name)?;
    let (gathered, _) = gather(space, "/topics", &headers).await?;
    let mut by_name: BTreeMap<String, SpaceTopic> = BTreeMap::new();
    for (hub, answer) in gathered {
        let topics: Vec<TopicInfo> = serde_json::from_value(answer).unwrap_or_default();
        for topic in topics {
            let entry = by_name
                .entry(topic.topic.clone())
                .or_insert_with(|| SpaceTopic {
                    topic: topic.topic.clone(),
                    topic_name: topic.topic.clone(),
                    content_type: topic.content_type.clone(),
                    hubs: Vec::new(),
                });
            entry.hubs.push(TopicOnHub {
                hub: hub.id.clone(),
                content_type: topic.content_type,
                producers: topic.producers,
                subscribers: topic.subscribers,
                retained_bytes: topic.retained_bytes,
            });
        }
    }
    Ok(Json(by_name.into_values().collect()))
}

/// `GET /space/:space/api/v1/log`: the healthy hubs' logs as one stream,
/// each JSON line with its `hub`.
pub async fn log(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let space = space_of(&state, &name)?;
    let hubs = space.registry().list().await?;
    let logs = join_all(
        hubs.iter()
            .filter(|hub| hub.healthy())
            .map(|hub| hub_log(space, hub, &headers)),
    )
    .await;
    let merged =
        futures::stream::select_all(logs.into_iter().flatten()).map(Ok::<_, std::io::Error>);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(merged))
        .unwrap_or_default())
}

/// `hub`'s log as a stream of lines tagged with its id, if it answers.
async fn hub_log(
    space: &Space,
    hub: &HubEntry,
    headers: &HeaderMap,
) -> Option<futures::stream::BoxStream<'static, bytes::Bytes>> {
    let response = space
        .forwarder()
        .forward(
            hub,
            axum::http::Method::GET,
            "log",
            &auth_only(headers),
            Body::empty(),
        )
        .await
        .ok()?;
    response
        .status()
        .is_success()
        .then(|| space_ws::tag_lines(response.into_body(), hub.id.clone()).boxed())
}

fn auth_only(headers: &HeaderMap) -> HeaderMap {
    let mut only = HeaderMap::new();
    if let Some(value) = auth(headers) {
        only.insert(header::AUTHORIZATION, value.clone());
    }
    only
}

/// `POST /space/:space/api/v1/sequence/:id/start`: starts the sequence on
/// the least loaded healthy hub with free capacity that has it (`"hub"` or
/// `"tags"` in the body narrow the choice) and answers with the hub's reply
/// and `"hub": id`; the instance is then at `sth/:hub/api/v1/instance/:id`.
pub async fn start(
    State(state): State<AppState>,
    Path((name, sequence)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let space = space_of(&state, &name)?;
    let mut request: Map<String, Value> = read_json::<Option<Map<String, Value>>>(&headers, body)
        .await?
        .unwrap_or_default();
    let wanted_hub = request.remove("hub");
    let wanted_tags = request.remove("tags");
    let placement = crate::space::Placement::from_request(wanted_hub, wanted_tags)
        .map_err(ApiError::BadRequest)?;
    let hub = placement.choose(space, &sequence, auth(&headers)).await?;
    let mut response = space
        .forwarder()
        .forward(
            &hub,
            axum::http::Method::POST,
            &format!("sequence/{sequence}/start"),
            &json_headers(&headers),
            Body::from(Value::Object(request).to_string()),
        )
        .await?;
    if response.status().is_success() {
        tag_reply(&mut response, &hub).await?;
    }
    Ok(response)
}

/// Adds `"hub": id` to a hub's JSON reply.
async fn tag_reply(response: &mut Response, hub: &HubEntry) -> Result<(), ApiError> {
    let bytes = axum::body::to_bytes(std::mem::take(response.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::BadGateway(format!("hub {} answered badly: {e}", hub.id)))?;
    let reply = OnHub {
        hub: hub.id.clone(),
        fields: serde_json::from_slice(&bytes).unwrap_or_default(),
    };
    response.headers_mut().remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(wire::to_json(reply).to_string());
    Ok(())
}

fn json_headers(headers: &HeaderMap) -> HeaderMap {
    let mut only = auth_only(headers);
    only.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    only
}

/// `sth/:hub/api/v1/*`: the request forwarded to that hub as it came
/// (WebSocket included), its response streamed back; 404 for an unknown
/// hub, 503 for one that stopped answering.
pub async fn forward(
    State(state): State<AppState>,
    Path((name, hub, rest)): Path<(String, String, String)>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let space = space_of(&state, &name)?;
    let hub = space.healthy_hub(&hub).await?;
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let path = format!("{rest}{query}");
    if let Ok(upgrade) = upgrade {
        return space_ws::forward(upgrade, &hub, &path, auth(request.headers())).await;
    }
    let (parts, body) = request.into_parts();
    Ok(space
        .forwarder()
        .forward(&hub, parts.method, &path, &parts.headers, body)
        .await?)
}

/// `POST /space/:space/api/v1/topic/:name`: publishes into the space's topic
/// (every hub's topics are the space's, so this hub takes it).
pub async fn topic_publish(
    State(state): State<AppState>,
    Path((name, topic)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::Published>, ApiError> {
    space_of(&state, &name)?;
    super::topics::publish(State(state), Path(topic), headers, body).await
}

/// `GET /space/:space/api/v1/topic/:name`: subscribes to the space's topic.
pub async fn topic_subscribe(
    State(state): State<AppState>,
    Path((name, topic)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    space_of(&state, &name)?;
    super::topics::subscribe(State(state), Path(topic), headers).await
}
