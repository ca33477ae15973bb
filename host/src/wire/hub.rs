//! The hub's own shapes: its settings (`/config`), its state (`/status`), its health and its
//! route list (`/help`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /config`: the hub's public settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HubSettings {
    /// Where the API is served.
    pub host: HostSettings,
    /// Most instances alive at once.
    pub max_instances: u64,
    /// Largest package upload, in bytes.
    pub max_upload_bytes: u64,
    /// How long an ended instance stays readable, in milliseconds.
    pub instance_retention_ms: u64,
    /// Linear memory per instance, in bytes.
    pub instance_memory_bytes: u64,
    /// Wall-clock limit per instance, in milliseconds.
    pub instance_timeout_ms: Option<u64>,
    /// CPU-time limit per instance, in milliseconds.
    pub instance_cpu_ms: Option<u64>,
    /// How uploads are compiled.
    pub compile: CompileSettings,
    /// Whether the API asks for a token.
    pub auth: bool,
    /// The render-job manager's settings.
    pub render: RenderSettings,
    /// Limits applied while unpacking uploads.
    pub unpack: UnpackSettings,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where the API is served ([`HubSettings::host`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HostSettings {
    /// The path every route lives under, `/api/v1`.
    pub api_base: String,
    /// The address the hub listens on.
    pub listen: String,
}

/// How uploads are compiled ([`HubSettings::compile`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct CompileSettings {
    /// In a child process with the limits below (else in the hub's, unbounded).
    pub in_child_process: bool,
    /// Wall-clock time one compilation may take, in milliseconds.
    pub timeout_ms: u64,
    /// Address space the compiler may use, in bytes.
    pub memory_bytes: u64,
}

/// The render-job manager's settings ([`HubSettings::render`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct RenderSettings {
    /// The hub's own render slots.
    pub slots: u64,
    /// `priority`, `oldest-first`, `newest-first` or `random`.
    pub ordering: String,
    /// After how long without a heartbeat a worker is lost, in milliseconds.
    pub lease_ms: u64,
    /// How often workers heartbeat, in milliseconds.
    pub heartbeat_ms: u64,
    /// Default time limit of a task, in milliseconds.
    pub task_timeout_ms: u64,
    /// Default retries of a failed task.
    pub max_retries: u32,
    /// Failed tasks of one job after which a worker is blocklisted for it.
    pub blocklist_after: u32,
}

/// Limits applied while unpacking uploads ([`HubSettings::unpack`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct UnpackSettings {
    /// Most entries in an archive.
    pub max_entries: u64,
    /// Most bytes unpacked.
    pub max_unpacked_bytes: u64,
    /// Largest unpacked-to-packed ratio.
    pub max_ratio: u64,
}

/// `GET /status`: instances per state, capacity and the render farm's counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HubStatus {
    /// Scramjet's CPM connection (none: weir has no CPM).
    pub cpm: Map<String, Value>,
    /// How long the hub has run, in milliseconds.
    pub uptime_ms: u64,
    /// Stored sequences.
    pub sequences: u64,
    /// Instances per state (`running`, `completed`, …).
    pub instances: BTreeMap<String, u64>,
    /// Instances alive and the room left.
    pub capacity: Capacity,
    /// Jobs and workers per state, and render slots.
    pub render: RenderCounts,
    /// Fields this client does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Instances alive and the room left ([`HubStatus::capacity`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Capacity {
    /// Most instances alive at once.
    pub max_instances: u64,
    /// Instances alive now.
    pub alive: u64,
    /// How many more may start.
    pub free: u64,
}

/// Jobs and workers per state, and render slots ([`HubStatus::render`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct RenderCounts {
    /// Jobs per state.
    pub jobs: BTreeMap<String, u64>,
    /// Workers per state (`online`, `lost`, `offline`).
    pub workers: BTreeMap<String, u64>,
    /// Slots of the online workers.
    pub slots: u64,
    /// Those running a task now.
    pub busy_slots: u64,
}

/// `GET /health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Health {
    /// Always `true` when it answers.
    pub healthy: bool,
    /// How long the hub has run, in milliseconds.
    pub uptime_ms: u64,
}

/// One route in `GET /help`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RouteInfo {
    /// The HTTP method.
    pub method: String,
    /// The path, e.g. `/api/v1/sequences`.
    pub path: String,
    /// What it does.
    pub description: String,
}
