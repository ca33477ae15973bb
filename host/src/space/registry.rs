//! The registry of a space's hubs: one JetStream key-value bucket
//! (`weir-hubs-<space>`), one key per hub id, refreshed by its hub every
//! [`HEARTBEAT`](super::HEARTBEAT). The bucket's `max_age` is the hub
//! retention, so an entry no one refreshes disappears by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{HEALTHY_WITHIN, HEARTBEAT, SpaceConfig, SpaceError};
use crate::hub::Hub;
use crate::wire::{self, HubCapacity, InstanceRef, LoadCheck};

/// Most live instances an entry lists (an entry must stay well under the
/// 1 MB NATS message limit).
const MAX_LISTED_INSTANCES: usize = 2000;

/// One hub's registry entry (times in ms since the Unix epoch).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubEntry {
    /// Hub id.
    pub id: String,
    /// Where its API is (`http://host:port`, without `/api/v1`).
    pub url: String,
    /// Placement tags.
    pub tags: Vec<String>,
    /// weir version.
    pub version: String,
    /// This run of the hub (a new one at every start), to tell a duplicate.
    pub boot: String,
    /// When the id first joined.
    pub created: u64,
    /// When this run joined.
    pub last_connected: u64,
    /// When the hub last left or went silent, if it ever did.
    pub last_disconnected: Option<u64>,
    /// Its last heartbeat.
    pub last_seen: u64,
    /// Set when the hub shut down cleanly.
    pub stopped: bool,
    /// Its `/load-check` figures.
    pub load: LoadCheck,
    /// Instance capacity.
    pub capacity: HubCapacity,
    /// Its live instances (at most 2,000).
    pub instances: Vec<InstanceRef>,
}

impl HubEntry {
    /// Whether the hub is running and heard from within [`HEALTHY_WITHIN`].
    pub fn healthy(&self) -> bool {
        !self.stopped && now_ms().saturating_sub(self.last_seen) < HEALTHY_WITHIN.as_millis() as u64
    }

    /// Its last heartbeat as a time.
    pub fn last_seen_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.last_seen)
    }

    /// When it went away, if it is away: a clean stop or a missed heartbeat.
    pub fn disconnected(&self) -> Option<u64> {
        if self.healthy() {
            self.last_disconnected
        } else {
            Some(self.last_seen)
        }
    }

    /// The entry as `GET .../list` shows it (the Scramjet Space shape, with
    /// weir's extra fields); `sth/{hub}/info` adds the instances.
    pub fn list_view(&self) -> wire::SpaceHub {
        let iso = |ms: u64| crate::time::iso(UNIX_EPOCH + Duration::from_millis(ms));
        let healthy = self.healthy();
        wire::SpaceHub {
            id: self.id.clone(),
            info: wire::HubTimes {
                created: iso(self.created),
                last_connected: iso(self.last_connected),
                last_disconnected: self.disconnected().map(iso),
            },
            healthy,
            is_connection_active: healthy,
            url: self.url.clone(),
            tags: self.tags.clone(),
            version: self.version.clone(),
            last_seen: iso(self.last_seen),
            load: self.load.clone(),
            capacity: self.capacity.clone(),
            instances: None,
        }
    }
}

/// The space's hubs.
#[derive(Clone)]
pub struct Registry {
    kv: kv::Store,
    left: Arc<AtomicBool>,
}

impl Registry {
    /// Opens (or creates) the space's bucket.
    pub(super) async fn open(
        js: &jetstream::Context,
        space: &str,
        retention: Duration,
    ) -> Result<Registry, SpaceError> {
        let bucket = format!("weir-hubs-{space}");
        let kv = match js.get_key_value(&bucket).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    description: format!("weir space {space}: one entry per hub"),
                    history: 1,
                    max_age: retention,
                    ..Default::default()
                })
                .await
                .map_err(|e| SpaceError::Nats(format!("cannot create the bucket {bucket}: {e}")))?,
        };
        Ok(Registry {
            kv,
            left: Arc::new(AtomicBool::new(false)),
        })
    }

    /// One hub's entry.
    pub async fn get(&self, id: &str) -> Result<Option<HubEntry>, SpaceError> {
        let value = self
            .kv
            .get(id)
            .await
            .map_err(|e| SpaceError::Nats(format!("cannot read the registry: {e}")))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Every hub's entry, by id.
    pub async fn list(&self) -> Result<Vec<HubEntry>, SpaceError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| SpaceError::Nats(format!("cannot list the registry: {e}")))?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            ids.extend(key.ok());
        }
        // One round trip for all of them rather than one after another.
        let entries = futures::future::join_all(ids.iter().map(|id| self.get(id))).await;
        let mut entries: Vec<HubEntry> = entries
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(entries)
    }

    /// Writes this hub's first entry: refused while another running hub
    /// holds the id; a stale entry of the id (an earlier run) is taken over.
    pub(super) async fn claim(
        &self,
        id: &str,
        config: &SpaceConfig,
        hub: &Arc<Hub>,
    ) -> Result<HubEntry, SpaceError> {
        let now = now_ms();
        let previous = self
            .kv
            .entry(id)
            .await
            .map_err(|e| SpaceError::Nats(format!("cannot read the registry: {e}")))?;
        let earlier: Option<HubEntry> = previous
            .as_ref()
            .and_then(|e| serde_json::from_slice(&e.value).ok());
        if let Some(earlier) = &earlier
            && earlier.healthy()
        {
            return Err(SpaceError::DuplicateId(format!(
                "hub id {id:?} is already in use by a running hub of space {} at {}; give this hub another --hub-id",
                config.space, earlier.url
            )));
        }
        let mut entry = HubEntry {
            id: id.to_string(),
            url: config.advertise.trim_end_matches('/').to_string(),
            tags: config.tags.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            boot: uuid::Uuid::new_v4().to_string(),
            created: earlier.as_ref().map_or(now, |e| e.created),
            last_connected: now,
            last_disconnected: earlier.as_ref().and_then(HubEntry::disconnected),
            last_seen: now,
            stopped: false,
            load: LoadCheck::default(),
            capacity: HubCapacity::default(),
            instances: Vec::new(),
        };
        refresh(&mut entry, hub).await;
        let value = serde_json::to_vec(&entry).unwrap_or_default().into();
        // Compare-and-set, so two hubs starting with one id cannot both win.
        let written = match &previous {
            Some(previous) => self
                .kv
                .update(id, value, previous.revision)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => self
                .kv
                .create(id, value)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        written.map_err(|e| {
            SpaceError::DuplicateId(format!(
                "hub id {id:?} was claimed by another hub of space {} while this one started ({e}); give this hub another --hub-id",
                config.space
            ))
        })?;
        Ok(entry)
    }

    /// Refreshes the entry every [`HEARTBEAT`] while the hub lives. NATS
    /// outages are logged once each and outlived: the client reconnects by
    /// itself and the next heartbeat writes the entry again.
    pub(super) fn spawn_heartbeat(&self, mut entry: HubEntry, hub: Weak<Hub>) {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                let Some(hub) = hub.upgrade() else { return };
                if registry.left.load(Ordering::Relaxed) {
                    return;
                }
                refresh(&mut entry, &hub).await;
                let value = serde_json::to_vec(&entry).unwrap_or_default();
                match registry.kv.put(&entry.id, value.into()).await {
                    Ok(_) if failing => {
                        failing = false;
                        hub.log_line("info", "space: the registry is reachable again");
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        failing = true;
                        hub.log_line(
                            "warn",
                            &format!("space: heartbeat not written ({e}); retrying"),
                        );
                    }
                    Err(_) => {}
                }
            }
        });
    }

    /// Marks the hub's entry stopped (a clean shutdown).
    pub(super) async fn leave(&self, id: &str) {
        self.left.store(true, Ordering::Relaxed);
        if let Ok(Some(mut entry)) = self.get(id).await {
            entry.stopped = true;
            entry.last_disconnected = Some(now_ms());
            entry.instances.clear();
            if let Ok(value) = serde_json::to_vec(&entry) {
                let _ = self.kv.put(id, value.into()).await;
            }
        }
    }
}

/// Fills in what changes between heartbeats: time, load, capacity, instances.
async fn refresh(entry: &mut HubEntry, hub: &Arc<Hub>) {
    let data_dir = hub.config().data_dir.clone();
    if let Ok(load) = tokio::task::spawn_blocking(move || crate::hub::load_check(&data_dir)).await {
        entry.load = load.unwrap_or_default();
    }
    let alive: Vec<InstanceRef> = hub
        .instances()
        .iter()
        .filter(|r| !r.instance.status().is_terminal())
        .map(|r| InstanceRef {
            id: r.instance.id().to_string(),
            sequence: r.sequence.id.clone(),
        })
        .collect();
    entry.capacity = HubCapacity {
        max_instances: hub.config().max_instances as u64,
        instances: alive.len() as u64,
    };
    entry.instances = alive.into_iter().take(MAX_LISTED_INSTANCES).collect();
    entry.last_seen = now_ms();
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
