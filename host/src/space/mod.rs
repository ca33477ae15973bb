//! The Space: many hubs driven as one, on NATS JetStream.
//!
//! A hub started with `--nats URL --space NAME` joins the space: it keeps its
//! entry (address, tags, version, load, capacity, live instances) in the
//! space's JetStream key-value bucket, refreshed every [`HEARTBEAT`]; a hub
//! silent for [`HEALTHY_WITHIN`] is listed as unhealthy, and the bucket drops
//! entries older than the retention time. Every hub serves the Space API
//! (`/api/v1/space/:space/api/v1/...`) from that registry — there is no
//! manager to lose — and forwards `sth/:hubId/api/v1/*` to that hub's own API.
//!
//! NATS does the distribution: weir adds no protocol of its own. Without
//! `--nats` nothing here runs.

mod forward;
mod packages;
mod placement;
mod registry;
mod topics;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream;

pub use crate::wire::InstanceRef;
pub use forward::Forwarder;
pub use packages::Packages;
pub use placement::Placement;
pub use registry::{HubEntry, Registry};
pub use topics::Topics;
pub use worker::SpaceWorker;

use crate::hub::Hub;
use crate::jobs::{LocalPrograms, Slot, SpaceJobs};

/// How often a hub refreshes its registry entry.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// A hub whose entry is older than this is listed as unhealthy.
pub const HEALTHY_WITHIN: Duration = Duration::from_secs(5);

/// Counts the client's reconnections to NATS, so that watches and consumers
/// can be made again after one.
pub type Reconnects = Arc<AtomicU64>;

/// How a hub joins a space (`weir serve --nats ... --space ...`).
#[derive(Debug, Clone)]
pub struct SpaceConfig {
    /// NATS server URLs (`nats://user:password@host:4222` carries credentials).
    pub servers: Vec<String>,
    /// The space's name: letters, digits, `-` and `_`.
    pub space: String,
    /// This hub's id in the space (default: a stable id kept in the data dir).
    pub hub_id: Option<String>,
    /// The URL other hubs reach this hub's API at (`http://host:port`).
    pub advertise: String,
    /// Tags for placement (`POST .../sequence/:id/start` with `tags`).
    pub tags: Vec<String>,
    /// A NATS credentials file (`--nats-creds`).
    pub creds: Option<PathBuf>,
    /// How long a silent hub stays listed (unhealthy) before it is dropped.
    pub hub_retention: Duration,
    /// Bytes a topic holds for its slowest subscriber before producers wait.
    pub topic_retention_bytes: u64,
    /// Render tasks the space's queue holds at most (set by the hub that makes it).
    pub max_queued_tasks: i64,
}

/// Why joining or using the space failed.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    /// A setting is wrong (bad space name or hub id).
    #[error("{0}")]
    Config(String),
    /// NATS could not be reached, or JetStream is off.
    #[error("{0}")]
    Nats(String),
    /// Another running hub holds this hub's id.
    #[error("{0}")]
    DuplicateId(String),
    /// No such hub in the space (404).
    #[error("{0}")]
    UnknownHub(String),
    /// The hub is listed but not answering its heartbeat (503).
    #[error("{0}")]
    Unhealthy(String),
    /// A request to another hub failed (502).
    #[error("{0}")]
    Upstream(String),
}

/// The hub's membership of a space.
pub struct Space {
    config: SpaceConfig,
    hub_id: String,
    registry: Registry,
    forwarder: Forwarder,
    reconnects: Reconnects,
}

impl Space {
    /// Connects to NATS, checks JetStream, claims the hub id and starts the
    /// heartbeat. Fails (and the hub does not start) when NATS is unreachable,
    /// JetStream is off, or another running hub has the id.
    pub async fn join(config: SpaceConfig, hub: &Arc<Hub>) -> Result<Arc<Space>, SpaceError> {
        check_name("space name", &config.space)?;
        let hub_id = match &config.hub_id {
            Some(id) => id.clone(),
            None => stable_hub_id(&hub.config().data_dir)?,
        };
        check_name("hub id", &hub_id)?;
        let reconnects = Reconnects::default();
        let client = connect(&config, reconnects.clone()).await?;
        let js = jetstream::new(client.clone());
        js.query_account().await.map_err(|e| {
            SpaceError::Nats(format!(
                "JetStream is not available on the NATS server ({e}); start it with `nats-server -js`"
            ))
        })?;
        let registry = Registry::open(&js, &config.space, config.hub_retention).await?;
        let entry = registry.claim(&hub_id, &config, hub).await?;
        let packages =
            Packages::open(&client, &js, &config.space, registry.clone(), &hub_id).await?;
        hub.share_packages(&config.space, &hub_id, packages::shared(&packages))
            .await
            .map_err(|e| SpaceError::Nats(format!("cannot read the space's packages: {e}")))?;
        packages.spawn_watch(Arc::downgrade(hub), reconnects.clone());
        hub.share_topics(Arc::new(Topics::new(
            js.clone(),
            &client,
            &config.space,
            config.topic_retention_bytes,
            reconnects.clone(),
        )));
        join_jobs(&client, &config, &hub_id, hub, reconnects.clone()).await?;
        registry.spawn_heartbeat(entry, Arc::downgrade(hub));
        Ok(Arc::new(Space {
            forwarder: Forwarder::new(),
            hub_id,
            registry,
            config,
            reconnects,
        }))
    }

    /// The space's name.
    pub fn name(&self) -> &str {
        &self.config.space
    }

    /// This hub's id.
    pub fn hub_id(&self) -> &str {
        &self.hub_id
    }

    /// The settings it joined with.
    pub fn config(&self) -> &SpaceConfig {
        &self.config
    }

    /// The registry of the space's hubs.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// How many times the NATS client has reconnected.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Sends requests to other hubs.
    pub fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// A healthy hub by id: 404 when unknown, 503 when silent.
    pub async fn healthy_hub(&self, id: &str) -> Result<HubEntry, SpaceError> {
        let entry = self.registry.get(id).await?.ok_or_else(|| {
            SpaceError::UnknownHub(format!("no hub {id:?} in space {}", self.name()))
        })?;
        if !entry.healthy() {
            return Err(SpaceError::Unhealthy(format!(
                "hub {id} of space {} is not answering (last seen {})",
                self.name(),
                crate::time::iso(entry.last_seen_time())
            )));
        }
        Ok(entry)
    }

    /// Hands the space's tasks running on `hub`'s slots back to the queue (no failed
    /// try counted) and waits, 10 s at most, until they have gone back.
    pub async fn hand_back(&self, hub: &Hub) {
        let jobs = hub.jobs();
        jobs.stop_space_tasks();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while jobs.space_tasks_running() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Marks this hub's entry stopped, so the space shows it unhealthy at once.
    pub async fn leave(&self) {
        self.registry.leave(&self.hub_id).await;
    }
}

/// Mirrors the space's render jobs into the hub's job manager, and makes its render
/// slots (if it has any) slots of the space.
async fn join_jobs(
    client: &async_nats::Client,
    config: &SpaceConfig,
    hub_id: &str,
    hub: &Arc<Hub>,
    reconnects: Reconnects,
) -> Result<(), SpaceError> {
    let jobs = hub.jobs();
    let space = SpaceJobs::open(
        client.clone(),
        &config.space,
        jobs.config().lease,
        config.max_queued_tasks,
        reconnects,
    )
    .await
    .map_err(SpaceError::Nats)?;
    let weak = Arc::downgrade(hub);
    let local: LocalPrograms = Arc::new(move |package: String, digest: String| {
        let hub = weak.clone();
        Box::pin(async move {
            let sequence = hub.upgrade()?.sequence_or_fetch(&package).await.ok()?;
            (sequence.program.digest == digest).then(|| sequence.program.clone())
        })
    });
    let slot = (jobs.config().slots > 0).then(|| Slot {
        worker_id: hub_id.to_string(),
        worker_name: hub_id.to_string(),
        tags: jobs.config().slot_tags.clone(),
        slots: jobs.config().slots,
        on_hub: true,
        runtime: hub.runtime().clone(),
        cache_dir: hub.config().data_dir.join("space-components"),
        local: Some(local),
    });
    jobs.join_space(space, slot, true)
        .map_err(|e| SpaceError::Config(format!("cannot join the space's render jobs: {e}")))
}

async fn connect(
    config: &SpaceConfig,
    reconnects: Reconnects,
) -> Result<async_nats::Client, SpaceError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("weir {}", config.space))
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let reconnects = reconnects.clone();
            async move {
                if matches!(event, async_nats::Event::Connected) {
                    reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    if let Some(creds) = &config.creds {
        options = options.credentials_file(creds).await.map_err(|e| {
            SpaceError::Config(format!(
                "cannot read the NATS credentials file {}: {e}",
                creds.display()
            ))
        })?;
    }
    let servers = config.servers.join(",");
    async_nats::connect_with_options(servers.as_str(), options)
        .await
        .map_err(|e| {
            SpaceError::Nats(format!(
                "cannot connect to NATS at {} ({e}); is `nats-server -js` running there?",
                redact(&servers)
            ))
        })
}

/// The URLs without their passwords, for messages and `/config`.
pub fn redact(servers: &str) -> String {
    servers
        .split(',')
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://***@{}", &url[..scheme], &url[at + 1..])
            }
            _ => url.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Space names and hub ids: 1-64 letters, digits, `-` and `_` (they name
/// NATS buckets and keys).
fn check_name(what: &str, name: &str) -> Result<(), SpaceError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SpaceError::Config(format!(
            "invalid {what} {name:?}: use 1-64 letters, digits, - and _"
        )))
    }
}

/// The hub id kept in `<data_dir>/hub-id`, made on first use.
fn stable_hub_id(data_dir: &Path) -> Result<String, SpaceError> {
    let path = data_dir.join("hub-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let id = format!("hub-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    std::fs::write(&path, format!("{id}\n"))
        .map_err(|e| SpaceError::Config(format!("cannot write {}: {e}", path.display())))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::{check_name, redact};

    #[test]
    fn passwords_are_left_out_of_server_urls() {
        assert_eq!(
            redact("nats://u:secret@a:4222,nats://b:4222"),
            "nats://***@a:4222,nats://b:4222"
        );
        assert_eq!(redact("127.0.0.1:4222"), "127.0.0.1:4222");
    }

    #[test]
    fn names_are_bucket_safe() {
        assert!(check_name("space name", "farm-1_a").is_ok());
        for bad in ["", "a.b", "a b", "a*", &"x".repeat(65)] {
            assert!(check_name("space name", bad).is_err(), "{bad}");
        }
    }
}
