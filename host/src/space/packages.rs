//! Space-wide packages: archives in a JetStream object store
//! (`weir-packages-<space>`, one object per SHA-256, so a package uploaded
//! twice is stored once) and a catalog in a key-value bucket
//! (`weir-sequences-<space>`, one entry per sequence id). Every hub lists the
//! catalog; a hub starting a sequence it does not hold fetches the archive
//! by digest and compiles it (`Hub::sequence_or_fetch`). Each hub watches the
//! catalog to drop its copies of packages deleted or replaced elsewhere.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Registry, SpaceError};
use crate::hub::{CatalogChange, CatalogEntry, Hub, HubError, SharedPackages};
use crate::runtime::BoxFuture;

/// Object chunk size: well under the 1 MB default message limit.
const CHUNK: usize = 512 << 10;

/// What a catalog key holds: an entry, or the tombstone a deletion writes
/// just before it deletes the key (so watchers learn whether to kill).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Entry(Box<CatalogEntry>),
    Deleted { deleted: bool, force: bool },
}

/// The space's packages.
#[derive(Clone)]
pub struct Packages {
    client: async_nats::Client,
    objects: object_store::ObjectStore,
    catalog: kv::Store,
    registry: Registry,
    hub_id: String,
}

fn nats(what: &str) -> impl Fn(String) -> HubError + '_ {
    move |e| {
        HubError::Capacity(format!(
            "the space's package store is unavailable ({what}: {e}); retry when NATS is back"
        ))
    }
}

impl Packages {
    /// Opens (or creates) the object store and the catalog of `space`.
    pub(super) async fn open(
        client: &async_nats::Client,
        js: &jetstream::Context,
        space: &str,
        registry: Registry,
        hub_id: &str,
    ) -> Result<Packages, SpaceError> {
        let bucket = format!("weir-packages-{space}");
        let objects = match js.get_object_store(&bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: bucket.clone(),
                    description: Some(format!("weir space {space}: package archives by SHA-256")),
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| SpaceError::Nats(format!("cannot create the bucket {bucket}: {e}")))?,
        };
        let bucket = format!("weir-sequences-{space}");
        let catalog = match js.get_key_value(&bucket).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    description: format!("weir space {space}: one entry per sequence"),
                    history: 1,
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| SpaceError::Nats(format!("cannot create the bucket {bucket}: {e}")))?,
        };
        Ok(Packages {
            client: client.clone(),
            objects,
            catalog,
            registry,
            hub_id: hub_id.to_string(),
        })
    }

    async fn read(&self, id: &str) -> Result<Option<CatalogEntry>, HubError> {
        let value = self
            .catalog
            .get(id)
            .await
            .map_err(|e| nats("reading the catalog")(e.to_string()))?;
        Ok(value.and_then(|v| match serde_json::from_slice(&v) {
            Ok(Stored::Entry(entry)) => Some(*entry),
            _ => None,
        }))
    }

    async fn store_archive(&self, sha256: &str, archive: &Path) -> Result<(), HubError> {
        if let Ok(info) = self.objects.info(sha256).await
            && !info.deleted
        {
            return Ok(()); // the same archive is stored already
        }
        let mut file = tokio::fs::File::open(archive).await?;
        let meta = object_store::ObjectMetadata {
            name: sha256.to_string(),
            chunk_size: Some(CHUNK),
            ..Default::default()
        };
        self.objects
            .put(meta, &mut file)
            .await
            .map_err(|e| nats("storing the package")(e.to_string()))?;
        Ok(())
    }

    async fn fetch_archive(&self, entry: &CatalogEntry, into: &Path) -> Result<(), HubError> {
        let mut object = self.objects.get(&entry.sha256).await.map_err(|e| {
            HubError::NotFound(format!(
                "the package of sequence {} ({}) is missing from the space's store: {e}",
                entry.id, entry.sha256
            ))
        })?;
        let mut file = tokio::fs::File::create(into).await?;
        let mut hash = Sha256::new();
        let mut buf = vec![0; CHUNK];
        loop {
            let n = object
                .read(&mut buf)
                .await
                .map_err(|e| nats("fetching the package")(e.to_string()))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).await?;
        }
        file.flush().await?;
        let got = hex::encode(hash.finalize());
        if got != entry.sha256 {
            return Err(HubError::Conflict(format!(
                "the package of sequence {} fetched from the space has digest {got}, not {}",
                entry.id, entry.sha256
            )));
        }
        Ok(())
    }

    async fn delete(&self, entry: &CatalogEntry, force: bool) -> Result<(), HubError> {
        let tombstone = serde_json::to_vec(&Stored::Deleted {
            deleted: true,
            force,
        })
        .unwrap_or_default();
        let failed = |e: String| nats("deleting from the catalog")(e);
        self.catalog
            .put(&entry.id, tombstone.into())
            .await
            .map_err(|e| failed(e.to_string()))?;
        self.catalog
            .delete(&entry.id)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let still_used = self
            .entries()
            .await?
            .iter()
            .any(|e| e.sha256 == entry.sha256);
        if !still_used {
            let _ = self.objects.delete(&entry.sha256).await;
        }
        Ok(())
    }

    async fn entries(&self) -> Result<Vec<CatalogEntry>, HubError> {
        let mut keys = self
            .catalog
            .keys()
            .await
            .map_err(|e| nats("listing the catalog")(e.to_string()))?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            ids.extend(key.ok());
        }
        let read = futures::future::join_all(ids.iter().map(|id| self.read(id))).await;
        let mut all: Vec<CatalogEntry> = read
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        all.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Watches the catalog for the hub's life, telling it of every change
    /// from `revision` on. The watch is made again after NATS reconnects (a
    /// watch idle across a server restart never resumes), from the last
    /// revision seen, so no change made meanwhile is missed.
    pub(super) fn spawn_watch(&self, hub: std::sync::Weak<Hub>, reconnects: super::Reconnects) {
        let catalog = self.catalog.clone();
        tokio::spawn(async move {
            let mut next_revision = match catalog.status().await {
                Ok(status) => status.info.state.last_sequence + 1,
                Err(_) => 1,
            };
            loop {
                let seen = reconnects.load(Ordering::Relaxed);
                let mut watch = match catalog.watch_all_from_revision(next_revision).await {
                    Ok(watch) => watch,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if hub.upgrade().is_none() {
                            return;
                        }
                        continue;
                    }
                };
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        entry = watch.next() => {
                            let Some(Ok(entry)) = entry else { break };
                            next_revision = entry.revision + 1;
                            let Some(hub) = hub.upgrade() else { return };
                            if let Some(change) = change_of(&entry) {
                                hub.catalog_changed(change);
                            }
                        }
                        _ = tick.tick() => {
                            if hub.upgrade().is_none() {
                                return;
                            }
                            if reconnects.load(Ordering::Relaxed) != seen {
                                break;
                            }
                        }
                    }
                }
            }
        });
    }
}

fn change_of(entry: &kv::Entry) -> Option<CatalogChange> {
    match entry.operation {
        kv::Operation::Put => match serde_json::from_slice(&entry.value).ok()? {
            Stored::Entry(entry) => Some(CatalogChange::Put(*entry)),
            Stored::Deleted { force, .. } => Some(CatalogChange::Delete {
                id: entry.key.clone(),
                force,
            }),
        },
        kv::Operation::Delete | kv::Operation::Purge => Some(CatalogChange::Delete {
            id: entry.key.clone(),
            force: false,
        }),
    }
}

impl SharedPackages for Packages {
    fn publish<'a>(
        &'a self,
        entry: &'a CatalogEntry,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<(), HubError>> {
        Box::pin(async move {
            // Refused at once while NATS is away, rather than after the
            // client's request timeouts: nothing is stored either way.
            if self.client.connection_state() != async_nats::connection::State::Connected {
                return Err(nats("storing the package")("not connected to NATS".into()));
            }
            self.store_archive(&entry.sha256, archive).await?;
            let value = serde_json::to_vec(&Stored::Entry(Box::new(entry.clone())))
                .map_err(|e| HubError::Io(e.into()))?;
            self.catalog
                .put(&entry.id, value.into())
                .await
                .map_err(|e| nats("writing the catalog")(e.to_string()))?;
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<CatalogEntry>, HubError>> {
        Box::pin(self.entries())
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<CatalogEntry>, HubError>> {
        Box::pin(async move {
            // Keys are sequence ids; anything else (a package name) is no key.
            if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || id.is_empty() {
                return Ok(None);
            }
            self.read(id).await
        })
    }

    fn fetch<'a>(
        &'a self,
        entry: &'a CatalogEntry,
        into: &'a Path,
    ) -> BoxFuture<'a, Result<(), HubError>> {
        Box::pin(self.fetch_archive(entry, into))
    }

    fn remove<'a>(
        &'a self,
        entry: &'a CatalogEntry,
        force: bool,
    ) -> BoxFuture<'a, Result<(), HubError>> {
        Box::pin(self.delete(entry, force))
    }

    fn running_elsewhere<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let hubs = self.registry.list().await.unwrap_or_default();
            hubs.into_iter()
                .filter(|h| h.id != self.hub_id && h.healthy())
                .filter(|h| h.instances.iter().any(|i| i.sequence == id))
                .map(|h| h.id)
                .collect()
        })
    }
}

/// The packages as the hub's backend.
pub(super) fn shared(packages: &Packages) -> Arc<dyn SharedPackages> {
    Arc::new(packages.clone())
}
