//! Topic routes: list, create, delete, publish and subscribe.

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::extract::Path;
use super::json::read_json;
use super::streams::stream_response;
use super::{ApiError, AppState};
use crate::hub::HubError;
use crate::hub::topics::CONTENT_TYPES;
use crate::wire;

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// `GET /topics`: every topic with its content type, producers, subscribers
/// and retained bytes.
pub async fn list(State(state): State<AppState>) -> Json<Vec<wire::TopicInfo>> {
    Json(state.hub.listed_topics().await)
}

/// `POST /topics` `{"id": name, "content-type": ct}`
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::TopicId>, ApiError> {
    let request: wire::CreateTopic = read_json(&headers, body).await?;
    let name = request
        .id
        .ok_or_else(|| ApiError::BadRequest("missing topic id".into()))?;
    let ct = request
        .content_type
        .ok_or_else(|| ApiError::BadRequest("missing content-type".into()))?;
    let topic = state.hub.open_topic(&name, Some(&ct), true).await?;
    Ok(Json(wire::TopicId {
        id: topic.name().to_string(),
        content_type: topic.content_type(),
        origin: wire::TopicOrigin {
            id: "weir".into(),
            kind: "hub".into(),
        },
        state: "flowing".into(),
        extra: serde_json::Map::new(),
    }))
}

/// `DELETE /topics/:name`
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<wire::TopicRemoved>, ApiError> {
    state.hub.delete_topic(&name).await?;
    Ok(Json(wire::TopicRemoved {
        message: format!("Topic {name} removed"),
    }))
}

/// `POST /topic/:name`: publishes the body (the topic is created on first
/// use). Replies once the body has been taken in; other producers write at
/// the same time, interleaving whole records. A refused publish (no or a
/// mismatched content type) is answered before the body is read.
pub async fn publish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::Published>, ApiError> {
    let ct = content_type(&headers).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "Unsupported content-type: send one of {}",
            CONTENT_TYPES.join(", ")
        ))
    })?;
    // Refused here, before the body is read: the unread body is drained
    // (api::unread) so the client reads this answer.
    let topic = state.hub.open_topic(&name, Some(ct), false).await?;
    let mut producer = topic.producer();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("body interrupted: {e}")))?;
        producer.write(chunk).await.map_err(HubError::from)?;
    }
    producer.finish().await.map_err(HubError::from)?;
    Ok(Json(wire::Published {}))
}

/// `GET /topic/:name`: a stream that lasts as long as the topic. A request
/// `content-type` declares the topic's type; without one the subscriber takes
/// whatever the topic carries (a new topic is ndjson until a producer says).
pub async fn subscribe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let topic = state
        .hub
        .open_topic(&name, content_type(&headers), false)
        .await?;
    let content_type = topic.content_type();
    let mut subscriber = topic.subscribe();
    // In a space the subscription exists before the answer: what is
    // published once the client has its headers reaches it.
    subscriber.ready().await?;
    let mut response = stream_response(subscriber.into_stream(), "application/octet-stream");
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert("x-topic-content-type", value);
    }
    Ok(response.into_response())
}
