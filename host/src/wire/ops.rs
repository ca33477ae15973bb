//! The hub's operations (`/shutdown`, `/gc`, `/access`, `/entities`), chunked uploads, and
//! the small acknowledgements of instance events and topics.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{InstanceInfo, SequenceInfo, TopicInfo};

/// The body of `POST /shutdown`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    /// How long running instances get to stop before they are killed, in milliseconds
    /// (the hub's default, 5000, when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// The reply to `POST /shutdown`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ShutdownReply {
    /// `ok`.
    pub status: String,
    /// What the hub does now.
    pub message: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Memory of the hub process, in [`GcReply`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Memory {
    /// Resident set size, bytes (a change, in `delta`).
    pub rss: i64,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The reply to `POST /gc`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GcReply {
    /// `ok`.
    pub status: String,
    /// Memory before.
    pub pre_gc_memory: Memory,
    /// Memory after.
    pub post_gc_memory: Memory,
    /// After minus before.
    pub delta: Memory,
    /// Compiled components removed from the hub's cache.
    pub cache_files_removed: u64,
    /// Their size, bytes.
    pub cache_bytes_freed: u64,
    /// Chunked uploads discarded because they were idle too long.
    pub uploads_discarded: u64,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `POST /uploads`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadRequest {
    /// The package's size in bytes.
    pub size: Option<u64>,
    /// The package's SHA-256, 64 hexadecimal characters.
    pub sha256: Option<String>,
    /// A sequence (id or package name) whose package this upload replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
}

/// A chunked upload: the reply to `POST /uploads` (with `chunkLimit`), `GET /uploads/{id}`
/// (with `createdAt`) and a chunk (`PUT /uploads/{id}/chunks/{offset}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ChunkedUpload {
    /// The upload id.
    pub id: String,
    /// The announced size, bytes (not in a chunk's reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Bytes received so far: where the next chunk starts.
    pub received: u64,
    /// The largest chunk the hub takes (in the reply to `POST /uploads`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_limit: Option<u64>,
    /// When the upload was started, ISO 8601 (in the reply to `GET /uploads/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The reply to `DELETE /uploads/{id}`: the upload discarded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct UploadId {
    /// The upload id.
    pub id: String,
}

/// The reply to `GET /access`: whether the hub asks for a token and what the request's
/// token opens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Access {
    /// Whether the API asks for a token.
    pub auth: bool,
    /// `admin`, `read`, or null (no token, or a wrong one).
    pub scope: Option<String>,
}

/// The reply to `GET /entities`: sequences, instances and topics at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Entities {
    /// As `GET /sequences`.
    pub sequences: Vec<SequenceInfo>,
    /// As `GET /instances`.
    pub instances: Vec<InstanceInfo>,
    /// This hub's own topics.
    pub topics: Vec<TopicInfo>,
}

/// The reply to `GET /instance/{id}/health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceHealth {
    /// Whether the instance has not ended.
    pub healthy: bool,
    /// Its state, as in [`InstanceInfo::status`].
    pub status: String,
    /// Output bytes written but not yet read.
    pub output_buffered_bytes: u64,
    /// Output bytes written in all.
    pub output_bytes: u64,
}

/// The reply to `POST /instance/{id}/_event`: `{"accepted": "OK"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EventAccepted {
    /// `OK`.
    pub accepted: String,
}

/// The body of `POST /topics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateTopic {
    /// The topic name.
    pub id: Option<String>,
    /// What it carries (`application/x-ndjson` when absent).
    #[serde(rename = "content-type", alias = "contentType")]
    pub content_type: Option<String>,
}

/// The reply to `DELETE /topics/{name}`: `{"message": "Topic NAME removed"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TopicRemoved {
    /// What happened, in words.
    pub message: String,
}

/// The reply to `POST /topic/{name}` once the body is taken in: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Published {}

/// The body of `POST /instance/{id}/_stop`. (The hub reads it field by field, to answer a
/// bad field with the Scramjet hub's message, e.g. `Invalid timeout format`.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopRequest {
    /// How long the plugin gets to stop, in milliseconds (7000 when absent).
    pub timeout: Option<u64>,
    /// Whether the plugin may keep itself alive instead of stopping.
    pub can_call_keepalive: Option<bool>,
}

/// The body of `POST /instance/{id}/_kill`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KillRequest {
    /// Remove the instance as soon as it has ended, instead of keeping it readable.
    pub remove_immediately: Option<bool>,
}

/// An event for a plugin: the second element of the body of `POST /instance/{id}/_event`,
/// `[5001, {"eventName": ..., "message": ...}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMessage {
    /// The event's name.
    pub event_name: String,
    /// What it carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
}

/// An `instance` event of `GET /events`: an instance started, ended or was removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct InstanceChange {
    /// The instance id.
    pub id: String,
    /// Its sequence id (absent on removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// Its state now (absent on removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// How it ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exitcode: Option<i32>,
    /// Why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set when the instance is gone from the hub.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// A `reset` event of an event stream: changes the client missed are no longer kept, so it
/// must read the lists again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct FeedReset {
    /// Why, in words.
    pub reason: String,
}

/// The body of every error reply: `{"error": "..."}`, what went wrong, for a person to act
/// on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}
