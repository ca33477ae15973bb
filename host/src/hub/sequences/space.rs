//! Sequences in a space: packages shared through the space's store, its catalog listed and
//! a package this hub does not hold fetched by its digest.

use super::*;

impl Hub {
    /// Shares this hub's packages through `packages` (joining space `space`
    /// as hub `hub_id`), and brings what it holds in line with the space's
    /// catalog: a package it shared that the space deleted or replaced while
    /// it was away is dropped; one uploaded before it joined is shared.
    pub async fn share_packages(
        &self,
        space: &str,
        hub_id: &str,
        packages: Arc<dyn SharedPackages>,
    ) -> Result<(), HubError> {
        let catalog = packages.list().await?;
        let store = SharedStore {
            space: space.to_string(),
            hub_id: hub_id.to_string(),
            packages,
        };
        if self.shared.set(store).is_err() {
            return Err(HubError::Conflict("the hub is already in a space".into()));
        }
        let shared = self
            .shared()
            .ok_or_else(|| HubError::Conflict("no space".into()))?;
        for sequence in self.sequences() {
            let listed = catalog.iter().find(|e| e.id == sequence.id);
            let ours = sequence.space.as_deref() == Some(space);
            match listed {
                Some(entry) if Some(&entry.sha256) == sequence.sha256.as_ref() => {}
                Some(_) => {
                    self.log_line(
                        "info",
                        &format!(
                            "sequence {} was replaced in space {space}; dropping this hub's copy",
                            sequence.id
                        ),
                    );
                    let _ = self.delete_local(&sequence.id, true);
                }
                None if ours => {
                    self.log_line(
                        "info",
                        &format!(
                            "sequence {} was deleted in space {space}; dropping this hub's copy",
                            sequence.id
                        ),
                    );
                    let _ = self.delete_local(&sequence.id, true);
                }
                // Uploaded while the hub was alone (or in another space).
                None => self.share_local(shared, &sequence).await,
            }
        }
        Ok(())
    }

    /// Puts a package this hub held before joining into the space.
    async fn share_local(&self, shared: &SharedStore, sequence: &Sequence) {
        let dir = self.sequences.root.join(&sequence.id);
        if sequence.sha256.is_none() || !dir.join(ARCHIVE).is_file() {
            self.log_line(
                "warn",
                &format!(
                    "sequence {} was stored without its archive and stays on this hub only; upload it again to share it",
                    sequence.id
                ),
            );
            return;
        }
        let entry = catalog_entry(sequence, &shared.hub_id);
        if let Err(e) = shared.packages.publish(&entry, &dir.join(ARCHIVE)).await {
            self.log_line(
                "warn",
                &format!("sequence {} could not be shared: {e}", sequence.id),
            );
            return;
        }
        let meta = SequenceMeta {
            id: sequence.id.clone(),
            package_size: sequence.package_size,
            created_ms: sequence.created_ms(),
            sha256: sequence.sha256.clone(),
            space: Some(shared.space.clone()),
        };
        if write_meta(&dir, &meta).is_ok() {
            let shared_copy = Sequence {
                space: Some(shared.space.clone()),
                ..sequence.clone()
            };
            self.sequences
                .lock()
                .insert(sequence.id.clone(), Arc::new(shared_copy));
        }
        self.log_line(
            "info",
            &format!(
                "sequence {} shared with space {}",
                sequence.id, shared.space
            ),
        );
    }

    pub(super) fn shared(&self) -> Option<&SharedStore> {
        self.shared.get()
    }

    /// The sequence `id_or_name`; in a space, one this hub does not hold is
    /// fetched from the space by its digest and compiled (once; concurrent
    /// starts wait for the same fetch).
    pub async fn sequence_or_fetch(&self, id_or_name: &str) -> Result<Arc<Sequence>, HubError> {
        let missing = match self.sequence(id_or_name) {
            Ok(sequence) => return Ok(sequence),
            Err(missing) => missing,
        };
        let Some(shared) = self.shared() else {
            return Err(missing);
        };
        let Some(entry) = self.catalog_lookup(id_or_name).await? else {
            return Err(missing);
        };
        let _one_at_a_time = self.sequences.fetching.lock().await;
        if let Ok(sequence) = self.sequence(&entry.id) {
            return Ok(sequence);
        }
        let _compiling = self.staging_gate.read().await;
        let work = self.work_dir()?;
        let result = async {
            shared.packages.fetch(&entry, &work.join(ARCHIVE)).await?;
            let received = Received {
                size: entry.size,
                sha256: entry.sha256.clone(),
                created: UNIX_EPOCH + Duration::from_millis(entry.created_ms),
                space: Some(shared.space.clone()),
            };
            self.stage(&work, &entry.id, received).await
        }
        .await;
        let sequence = self.commit(&work, result, false)?;
        self.log_line(
            "info",
            &format!(
                "sequence {} fetched from space {} ({} bytes, uploaded to hub {})",
                sequence.id, shared.space, sequence.package_size, entry.hub
            ),
        );
        Ok(sequence)
    }

    /// The space's catalog (empty on a hub outside a space).
    pub async fn space_catalog(&self) -> Result<Vec<CatalogEntry>, HubError> {
        match self.shared() {
            Some(shared) => shared.packages.list().await,
            None => Ok(Vec::new()),
        }
    }

    /// A catalog entry by sequence id, or the newest with that package name.
    async fn catalog_lookup(&self, id_or_name: &str) -> Result<Option<CatalogEntry>, HubError> {
        let Some(shared) = self.shared() else {
            return Ok(None);
        };
        if let Some(entry) = shared.packages.get(id_or_name).await? {
            return Ok(Some(entry));
        }
        let all = shared.packages.list().await?;
        Ok(all
            .into_iter()
            .filter(|e| e.name == id_or_name)
            .max_by_key(|e| e.created_ms))
    }

    /// Every sequence this hub lists: its own, and in a space every package
    /// of the space's catalog (oldest first). While the catalog cannot be
    /// read (NATS away) the hub lists what it holds.
    pub async fn listed_sequences(&self) -> Vec<Listed> {
        let local = self.sequences();
        let Some(shared) = self.shared() else {
            return local.into_iter().map(Listed::Local).collect();
        };
        let catalog = match shared.packages.list().await {
            Ok(catalog) => catalog,
            Err(e) => {
                tracing::warn!("listing the space's packages failed: {e}");
                return local.into_iter().map(Listed::Local).collect();
            }
        };
        let mut listed: Vec<Listed> = local
            .iter()
            .filter(|s| s.space.is_none() || catalog.iter().any(|e| e.id == s.id))
            .cloned()
            .map(Listed::Local)
            .collect();
        for entry in catalog {
            let held = local
                .iter()
                .any(|s| s.id == entry.id && s.sha256.as_ref() == Some(&entry.sha256));
            if !held {
                listed.retain(|l| l.id() != entry.id);
                listed.push(Listed::Remote(entry));
            }
        }
        listed.sort_by_key(Listed::created_ms);
        listed
    }

    /// One sequence as [`listed_sequences`](Self::listed_sequences) lists it.
    pub async fn listed_sequence(&self, id_or_name: &str) -> Result<Listed, HubError> {
        match self.sequence(id_or_name) {
            Ok(sequence) => Ok(Listed::Local(sequence)),
            Err(missing) => match self.catalog_lookup(id_or_name).await {
                Ok(Some(entry)) => Ok(Listed::Remote(entry)),
                Ok(None) | Err(_) => Err(missing),
            },
        }
    }

    /// Applies a change another hub made to the space's catalog: a deleted
    /// or replaced package's copy here is dropped (killing its instances
    /// when the deletion asked for that).
    pub fn catalog_changed(&self, change: CatalogChange) {
        let (id, force, why) = match change {
            // This hub's own uploads are applied where they are made.
            CatalogChange::Put(entry) if self.shared().is_some_and(|s| s.hub_id == entry.hub) => {
                return;
            }
            CatalogChange::Put(entry) => {
                let stale = self
                    .sequence(&entry.id)
                    .is_ok_and(|s| s.sha256.as_ref() != Some(&entry.sha256));
                if !stale || !self.alive_instances_of(&entry.id).is_empty() {
                    return;
                }
                (entry.id, false, "replaced")
            }
            CatalogChange::Delete { id, force } => {
                if self.sequence(&id).is_err() {
                    return;
                }
                (id, force, "deleted")
            }
        };
        match self.delete_local(&id, force) {
            Ok(_) => self.log_line(
                "info",
                &format!("sequence {id} was {why} in the space; this hub's copy is dropped"),
            ),
            Err(e) => self.log_line(
                "warn",
                &format!("sequence {id} was {why} in the space; this hub keeps its copy: {e}"),
            ),
        }
    }
}

/// A sequence as a hub lists it.
pub enum Listed {
    /// Held (unpacked and compiled) by this hub.
    Local(Arc<Sequence>),
    /// In the space's catalog; fetched on first start.
    Remote(CatalogEntry),
}

impl Listed {
    /// Sequence id.
    pub fn id(&self) -> &str {
        match self {
            Listed::Local(s) => &s.id,
            Listed::Remote(e) => &e.id,
        }
    }

    fn created_ms(&self) -> u64 {
        match self {
            Listed::Local(s) => s.created_ms(),
            Listed::Remote(e) => e.created_ms,
        }
    }
}

pub(super) fn catalog_entry(sequence: &Sequence, hub_id: &str) -> CatalogEntry {
    CatalogEntry {
        id: sequence.id.clone(),
        name: sequence.package.manifest.name.clone(),
        sha256: sequence.sha256.clone().unwrap_or_default(),
        size: sequence.package_size,
        created_ms: sequence.created_ms(),
        hub: hub_id.to_string(),
        config: sequence.config_json(),
    }
}
