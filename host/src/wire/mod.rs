//! The JSON shapes of the hub API: what the server's replies are built from, what the
//! client reads, and the schemas of the OpenAPI document — one set, so the three cannot
//! drift apart.
//!
//! Every reply shape keeps the fields it does not name in `extra` (empty when the hub
//! builds it), so a reply a newer hub sent and this client prints back loses nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod hub;
mod jobs;
mod ops;
mod space;

/// The JSON of a wire shape, for the places that add to it or send it on an event feed
/// (plain data with string keys: it always serializes).
pub fn to_json(shape: impl Serialize) -> Value {
    serde_json::to_value(shape).unwrap_or_default()
}

pub use hub::*;
pub use jobs::*;
pub use ops::*;
pub use space::*;

/// A sequence on the hub (`GET /sequences`, `GET /sequence/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SequenceInfo {
    /// The id the hub gave the sequence when it was sent.
    pub id: String,
    /// The package name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The package's manifest as the hub read it (`name`, `version`, …).
    pub config: Map<String, Value>,
    /// Ids of the instances started from this sequence.
    pub instances: Vec<String>,
    /// Where it is stored (`weir`: on this hub).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// When it was sent (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SequenceInfo {
    /// The package name, from the manifest or the `name` field.
    pub fn name(&self) -> Option<&str> {
        self.config
            .get("name")
            .and_then(Value::as_str)
            .or((!self.name.is_empty()).then_some(self.name.as_str()))
    }

    /// The package version, from the manifest.
    pub fn version(&self) -> Option<&str> {
        self.config.get("version").and_then(Value::as_str)
    }
}

/// The reply to `POST /sequence` and `DELETE /sequence/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SequenceId {
    /// The sequence's id.
    pub id: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `POST /sequence/{id}/start` (Scramjet's `StartSequencePayload`).
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    /// Configuration object overlaid on the package's `[config]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_config: Option<Value>,
    /// Arguments given to the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Value>>,
    /// A client-chosen instance id (exactly 36 characters; the hub picks one when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Topic feeding the input, overriding the package's `requires`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_topic: Option<String>,
    /// Topic fed by the output, overriding the package's `provides`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_topic: Option<String>,
    /// Limits for this instance: `{"memory": MiB, "timeoutMs": ms, "cpuMs":
    /// ms}`; each may only tighten the hub's (more is refused with 422).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<StartLimits>,
    /// A token that opens this instance's own routes (`/instance/{id}/*`)
    /// and nothing else: given, or `true` for the hub to mint one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SessionToken>,
}

/// Per-start limits ([`StartRequest::limits`]); each may only tighten the hub's and the
/// package's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartLimits {
    /// Memory in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Wall-clock time in milliseconds.
    #[serde(alias = "timeout_ms", skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// CPU time in milliseconds.
    #[serde(alias = "cpu_ms", skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
}

/// A start request's `sessionToken` (as in the HOOPS spawn API).
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SessionToken {
    /// `true`: mint one; `false`: none.
    Mint(bool),
    /// The client's own token.
    Given(String),
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionToken::Mint(mint) => write!(f, "Mint({mint})"),
            SessionToken::Given(_) => f.write_str("Given(..)"),
        }
    }
}

/// The reply to `POST /sequence/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct StartReply {
    /// The new instance's id.
    pub id: String,
    /// A line for people, e.g. `Sequence <id> starting`.
    pub message: String,
    /// Where the new instance's routes are.
    pub endpoints: Endpoints,
    /// The token of this instance's session, when the start asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The routes of a started instance ([`StartReply::endpoints`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Endpoints {
    /// `GET` its info.
    pub info: String,
    /// `POST` its input.
    pub input: String,
    /// `GET` its output.
    pub output: String,
    /// `GET` its log.
    pub log: String,
    /// Its WebSocket.
    pub ws: String,
}

/// An instance on the hub (`GET /instances`, `GET /instance/{id}`, and the
/// replies to `_stop` and `_kill`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceInfo {
    /// The instance id.
    pub id: String,
    /// The sequence it runs.
    pub sequence: SequenceRef,
    /// `initializing`, `starting`, `running`, `stopping`, `killing`,
    /// `completed` or `errored`.
    pub status: String,
    /// The configuration it was started with.
    pub app_config: Map<String, Value>,
    /// The arguments it was started with.
    pub args: Vec<Value>,
    /// The topic its output is published to ("" for none).
    pub provides: String,
    /// The topic its input is read from ("" for none).
    pub requires: String,
    /// Ports it listens on (none: weir instances have no network).
    pub ports: Map<String, Value>,
    /// When it was created (ISO 8601).
    pub created: Option<String>,
    /// When it started running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// How it ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<Terminated>,
    /// What it used (CPU, memory, streams), as the hub counts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<InstanceUsage>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An instance's accounting (`usage` in `GET /instance/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceUsage {
    /// Time spent running the guest, in milliseconds.
    pub cpu_ms: f64,
    /// Linear memory now, in bytes.
    pub memory_bytes: u64,
    /// The most linear memory it had, in bytes.
    pub peak_memory_bytes: u64,
    /// Its input.
    pub input: StreamUsage,
    /// Its WASI stdin.
    pub stdin: StreamUsage,
    /// Its output.
    pub output: StreamUsage,
    /// Its WASI stdout.
    pub stdout: StreamUsage,
    /// Its WASI stderr.
    pub stderr: StreamUsage,
    /// Time it waited on a full output, in milliseconds.
    pub output_blocked_ms: f64,
    /// The limits in force, once it started.
    pub limits: Option<InstanceLimits>,
}

/// The limits an instance runs under (`usage.limits`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceLimits {
    /// Linear memory, in bytes.
    pub memory_bytes: Option<u64>,
    /// Wall-clock time, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Guest CPU time, in milliseconds.
    pub cpu_ms: Option<u64>,
}

/// What went through one instance stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StreamUsage {
    /// Bytes.
    pub bytes: u64,
    /// Writes.
    pub chunks: u64,
    /// Newline-terminated records.
    pub lines: u64,
}

/// The sequence an instance runs, as `InstanceInfo` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SequenceRef {
    /// The sequence id.
    pub id: String,
    /// The package's manifest.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// The package name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Where it is stored (`weir`: on this hub).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SequenceRef {
    /// The package name, from the manifest or the `name` field.
    pub fn name(&self) -> Option<&str> {
        self.config
            .get("name")
            .and_then(Value::as_str)
            .or((!self.name.is_empty()).then_some(self.name.as_str()))
    }
}

/// How an instance ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Terminated {
    /// Scramjet's exit code: 0 completed, 137 killed, 138 stopped, 23 the
    /// plugin failed, 101 it trapped, ….
    pub exitcode: i32,
    /// Why, in words.
    pub reason: String,
}

/// The reply to `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HubVersion {
    /// The service name.
    pub service: String,
    /// The API version, `v1`.
    pub api_version: String,
    /// The hub's version.
    pub version: String,
    /// Build id.
    pub build: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The reply to `GET /load-check`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadCheck {
    /// The load average (runnable tasks, over a minute).
    pub avg_load: f64,
    /// CPU use since the previous check, percent.
    pub current_load: f64,
    /// CPU cores.
    pub cores: f64,
    /// Free memory, bytes.
    pub mem_free: u64,
    /// Used memory, bytes.
    pub mem_used: u64,
    /// The file systems.
    pub fs_size: Vec<FsSize>,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One file system in [`LoadCheck`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct FsSize {
    /// Device or file system name.
    pub fs: String,
    /// File system type, e.g. `ext4`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Size, bytes.
    pub size: u64,
    /// Used, bytes.
    pub used: u64,
    /// Available, bytes.
    pub available: u64,
    /// Used, percent.
    #[serde(rename = "use")]
    pub use_percent: f64,
    /// Where it is mounted.
    pub mount: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A topic on the hub (`GET /topics`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicInfo {
    /// The topic name.
    pub topic: String,
    /// The topic name (Scramjet's second spelling).
    pub topic_name: String,
    /// What it carries, e.g. `application/x-ndjson`.
    pub content_type: String,
    /// Producers writing to it now (HTTP bodies and instance outputs).
    pub producers: u64,
    /// Subscribers reading it now (HTTP streams and instance inputs).
    pub subscribers: u64,
    /// Bytes held for subscribers.
    pub retained_bytes: u64,
    /// Bytes published since the topic was created.
    pub published_bytes: u64,
    /// Records (lines) published through this hub since the topic was created.
    pub published_records: u64,
    /// Bytes its subscribers on this hub were given.
    pub delivered_bytes: u64,
    /// Records (lines) its subscribers on this hub were given.
    pub delivered_records: u64,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a topic lives ([`TopicId::origin`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TopicOrigin {
    /// `weir`.
    pub id: String,
    /// `hub`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The reply to `POST /topics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicId {
    /// The topic name.
    pub id: String,
    /// What the topic carries, as the hub normalised it.
    pub content_type: String,
    /// Where it lives: `{"id": "weir", "type": "hub"}`.
    pub origin: TopicOrigin,
    /// `flowing`.
    pub state: String,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
