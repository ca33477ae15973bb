//! The shapes of the Space routes (`/spaces`, `/space/{space}/api/v1/...`): the space as one
//! hub, its hubs as the registry holds them, and lists gathered from every hub with the hub
//! each item is on.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FsSize, LoadCheck};

/// One space in `GET /spaces`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SpaceSummary {
    /// The space name.
    pub id: String,
    /// Hubs in its registry.
    pub hubs: u64,
    /// Those heard from recently and not stopped.
    pub healthy_hubs: u64,
}

/// A hub's instance capacity, as its registry entry holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HubCapacity {
    /// Most instances alive at once.
    pub max_instances: u64,
    /// Instances alive now.
    pub instances: u64,
}

/// A live instance as its hub last reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceRef {
    /// Instance id.
    pub id: String,
    /// Its sequence id.
    pub sequence: String,
}

/// When a hub joined and left ([`SpaceHub::info`]), ISO 8601.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HubTimes {
    /// When the hub's id first joined.
    pub created: String,
    /// When this run of the hub joined.
    pub last_connected: String,
    /// When it last left or went silent, if it is away.
    pub last_disconnected: Option<String>,
}

/// One hub of the space (`GET .../list`; with its instances, `GET .../sth/{hub}/info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SpaceHub {
    /// The hub id.
    pub id: String,
    /// When it joined and left.
    pub info: HubTimes,
    /// Running and heard from recently.
    pub healthy: bool,
    /// As `healthy` (the Scramjet Space's name for it).
    pub is_connection_active: bool,
    /// Where its API is (`http://host:port`, without `/api/v1`).
    pub url: String,
    /// Placement tags.
    pub tags: Vec<String>,
    /// Its weir version.
    pub version: String,
    /// Its last heartbeat, ISO 8601.
    pub last_seen: String,
    /// Its `/load-check` figures at that heartbeat.
    pub load: LoadCheck,
    /// Its instance capacity.
    pub capacity: HubCapacity,
    /// Its live instances (only in `sth/{hub}/info`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<InstanceRef>>,
}

/// `GET .../load`: the healthy hubs' load, summed (memory, disks) and averaged (CPU).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SpaceLoad {
    /// Load average, averaged over the hubs.
    pub avg_load: f64,
    /// CPU use, percent, averaged over the hubs.
    pub current_load: f64,
    /// CPU cores, summed.
    pub cores: f64,
    /// Free memory, bytes, summed.
    pub mem_free: u64,
    /// Used memory, bytes, summed.
    pub mem_used: u64,
    /// Every hub's file systems.
    pub fs_size: Vec<FsSize>,
    /// Healthy hubs counted.
    pub hubs: u64,
}

/// `GET .../config`: the space's settings (no credentials).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SpaceSettings {
    /// The space name.
    pub id: String,
    /// This hub's id.
    pub hub: String,
    /// The NATS servers, user names and passwords removed.
    pub nats: String,
    /// How often each hub refreshes its entry, in milliseconds.
    pub heartbeat_ms: u64,
    /// A hub not heard from for this long is unhealthy, in milliseconds.
    pub healthy_within_ms: u64,
    /// How long an entry no one refreshes is kept, in seconds.
    pub hub_retention_secs: u64,
    /// How much of each space topic JetStream keeps, in MiB.
    pub topic_retention_mb: u64,
}

/// An item of a list gathered from the space's hubs (`.../sequences`, `.../instances`): the
/// hub's own JSON for it, as that hub's `GET /sequences` or `GET /instances` gave it, with
/// the hub it is on. An instance on a hub that stopped answering is listed with `status`
/// `lost` and a `reason`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct OnHub {
    /// The hub id.
    pub hub: String,
    /// The item's fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// One space topic (`GET .../topics`) with, by hub, who writes and reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SpaceTopic {
    /// The topic name.
    pub topic: String,
    /// The topic name (Scramjet's second spelling).
    pub topic_name: String,
    /// What it carries.
    pub content_type: String,
    /// The hubs that have it.
    pub hubs: Vec<TopicOnHub>,
}

/// A space topic on one hub ([`SpaceTopic::hubs`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicOnHub {
    /// The hub id.
    pub hub: String,
    /// What the topic carries there.
    pub content_type: String,
    /// Producers writing to it there.
    pub producers: u64,
    /// Subscribers reading it there.
    pub subscribers: u64,
    /// Bytes held for subscribers.
    pub retained_bytes: u64,
}
