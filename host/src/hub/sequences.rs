//! Stored sequences: packages unpacked and compiled in the data directory.
//!
//! An upload is streamed to a temporary file, unpacked and compiled in a
//! staging directory, and only then renamed into `sequences/<id>`: the
//! rename is the commit point, so a refused or interrupted upload never
//! leaves anything behind and a stored package is never half-written. The
//! archive is kept beside the unpacked package (`package.tar.gz`), so a hub
//! that joins a space can share what it already holds.
//!
//! In a space ([`SharedPackages`]), an upload is stored in the space before
//! it is committed here and acknowledged, the space's catalog is what every
//! hub lists, and a sequence this hub does not hold is fetched by its digest
//! and compiled on first use.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::shared::{CatalogChange, CatalogEntry, SharedPackages};
use super::{Hub, HubError, check_package_limits, package_limits};
use crate::package::{GrantPolicy, Package, PackageError, SourceLanguage};
use crate::runners::Runners;
use crate::runtime::{Program, Runtime};
use crate::streams::Pipe;

/// A stored, compiled sequence package.
#[derive(Clone)]
pub struct Sequence {
    /// Sequence id (a UUID).
    pub id: String,
    /// The unpacked package.
    pub package: Package,
    /// The compiled component.
    pub program: Program,
    /// Size of the uploaded archive, in bytes.
    pub package_size: u64,
    /// When it was uploaded.
    pub created: SystemTime,
    /// SHA-256 of the uploaded archive (hex); `None` for packages stored
    /// before archives were kept.
    pub sha256: Option<String>,
    /// The space whose catalog holds it, if any.
    pub space: Option<String>,
}

impl Sequence {
    /// This sequence as the job manager takes a render package.
    pub fn job_package(&self) -> crate::jobs::JobPackage<'_> {
        crate::jobs::JobPackage {
            id: &self.id,
            digest: &self.program.digest,
            manifest: &self.package.manifest,
            entry_kind: self.program.entry_kind(),
        }
    }
}

impl Sequence {
    /// `SequenceConfig`: the manifest as Scramjet clients expect it.
    pub fn config_json(&self) -> Value {
        let manifest = &self.package.manifest;
        // A source package is what the Scramjet hub calls a `js` or `py` sequence.
        let language = match manifest.source {
            Some(SourceLanguage::JavaScript) => "js",
            Some(SourceLanguage::Python) => "py",
            None => "wasm",
        };
        let mut config = json!({
            "type": language,
            "kind": manifest.kind,
            "language": language,
            "id": self.id,
            "name": manifest.name,
            "version": manifest.version,
            "description": manifest.description,
            "entrypointPath": manifest.component,
            "entry": self.program.entry_kind(),
            "digest": self.program.digest,
            "packageSize": self.package_size,
            "engines": {},
            "args": [],
            "config": manifest.config,
            "topics": manifest.topics,
            "limits": manifest.limits,
            // Names only: env values are the hub's and may be secrets.
            "grants": manifest.grants,
        });
        if let Value::Object(map) = &mut config {
            for (key, value) in &manifest.extra {
                if !matches!(key.as_str(), "name" | "version" | "description") {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
        config
    }

    fn created_ms(&self) -> u64 {
        millis(self.created)
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The archive kept beside a stored package.
const ARCHIVE: &str = "package.tar.gz";

#[derive(Serialize, Deserialize)]
struct SequenceMeta {
    id: String,
    package_size: u64,
    created_ms: u64,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    space: Option<String>,
}

/// What an uploaded archive is, before it is unpacked.
struct Received {
    size: u64,
    sha256: String,
    created: SystemTime,
    space: Option<String>,
}

/// The space a hub shares its packages with.
pub(super) struct SharedStore {
    pub(super) space: String,
    pub(super) hub_id: String,
    pub(super) packages: Arc<dyn SharedPackages>,
}

pub(super) struct SequenceStore {
    root: PathBuf,
    staging: PathBuf,
    by_id: Mutex<HashMap<String, Arc<Sequence>>>,
    /// Held while a sequence is fetched from the space.
    fetching: tokio::sync::Mutex<()>,
}

impl SequenceStore {
    /// Loads every stored sequence (compiled components come from the cache).
    pub(super) fn open(
        data_dir: &Path,
        runtime: &Runtime,
        runners: &Runners,
        grants: &GrantPolicy,
        log: &Pipe,
    ) -> Result<Self, HubError> {
        let root = data_dir.join("sequences");
        let staging = data_dir.join("staging");
        fs::create_dir_all(&root)?;
        let _ = fs::remove_dir_all(&staging); // leftovers of interrupted uploads
        fs::create_dir_all(&staging)?;
        let mut by_id = HashMap::new();
        for entry in fs::read_dir(&root)? {
            let dir = entry?.path();
            match load_stored(&dir, runtime, runners, grants) {
                Ok(sequence) => {
                    by_id.insert(sequence.id.clone(), Arc::new(sequence));
                }
                Err(e) => {
                    let message = format!("skipping stored sequence {}: {e}", dir.display());
                    tracing::warn!("{message}");
                    crate::runtime::log_line(log, "warn", "hub", &message);
                }
            }
        }
        Ok(SequenceStore {
            root,
            staging,
            by_id: Mutex::new(by_id),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Sequence>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Loads a stored sequence; one whose grants this hub no longer allows is
/// skipped (and kept on disk for a hub started with them).
fn load_stored(
    dir: &Path,
    runtime: &Runtime,
    runners: &Runners,
    policy: &GrantPolicy,
) -> Result<Sequence, HubError> {
    let meta: SequenceMeta = serde_json::from_slice(&fs::read(dir.join("sequence.json"))?)
        .map_err(|e| HubError::Invalid(format!("bad sequence.json: {e}")))?;
    let package = Package::open(&dir.join("package"))?;
    let grants = policy.grant(&package.manifest.grants)?;
    let program = runners.program(runtime, &package, grants)?;
    let program = program.with_limits(package_limits(&package.manifest.limits));
    Ok(Sequence {
        id: meta.id,
        package,
        program,
        package_size: meta.package_size,
        created: UNIX_EPOCH + Duration::from_millis(meta.created_ms),
        sha256: meta.sha256,
        space: meta.space,
    })
}

impl Hub {
    /// Every stored sequence, oldest first.
    pub fn sequences(&self) -> Vec<Arc<Sequence>> {
        let mut all: Vec<_> = self.sequences.lock().values().cloned().collect();
        all.sort_by_key(|s| s.created);
        all
    }

    /// A sequence by id, or by package name (the newest with that name).
    pub fn sequence(&self, id_or_name: &str) -> Result<Arc<Sequence>, HubError> {
        let all = self.sequences.lock();
        if let Some(sequence) = all.get(id_or_name) {
            return Ok(sequence.clone());
        }
        all.values()
            .filter(|s| s.package.manifest.name == id_or_name)
            .max_by_key(|s| s.created)
            .cloned()
            .ok_or_else(|| HubError::NotFound(format!("Sequence {id_or_name} not found")))
    }

    /// Whether sequence `id` is stored with the component `digest`: a job's
    /// package, neither deleted nor replaced since the job was submitted.
    pub fn has_package(&self, id: &str, digest: &str) -> bool {
        self.sequences
            .lock()
            .get(id)
            .is_some_and(|s| s.program.digest == digest)
    }

    /// The sequence `id_or_name` names, when its package may be replaced:
    /// 404 when there is none, 409 while instances of it run.
    pub fn replaceable_sequence(&self, id_or_name: &str) -> Result<Arc<Sequence>, HubError> {
        let sequence = self
            .sequence(id_or_name)
            .map_err(|_| HubError::NotFound(format!("Sequence with id: {id_or_name} not found")))?;
        if self
            .instances_of(&sequence.id)
            .iter()
            .any(|r| !r.instance.status().is_terminal())
        {
            return Err(HubError::Conflict(
                "Can't update sequence with instances".into(),
            ));
        }
        Ok(sequence)
    }

    /// Stores an uploaded package as a new sequence (or replaces `replace`).
    /// In a space it is stored there first: an acknowledged upload is on
    /// every hub's list.
    pub async fn add_sequence<E: std::fmt::Display>(
        &self,
        body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        replace: Option<&str>,
    ) -> Result<Arc<Sequence>, HubError> {
        if let Some(id) = replace {
            if self.jobs().uses_package(id) {
                return Err(HubError::Conflict(format!(
                    "sequence {id} is the package of unfinished render jobs; cancel or delete them before replacing it"
                )));
            }
            self.refuse_if_running_elsewhere(id, "Can't update sequence with instances")
                .await?;
        }
        let id = match replace {
            Some(id) => id.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        // A space's package this hub does not hold is replaced in the space.
        let replacing_local = replace.is_some_and(|id| self.sequence(id).is_ok());
        // Until it is committed, the component this compiles into the cache
        // is no sequence's: `gc` waits.
        let _compiling = self.staging_gate.read().await;
        let work = self.work_dir()?;
        let result = async {
            let received = self.receive(body, &work).await?;
            let sequence = self.stage(&work, &id, received).await?;
            if let Some(shared) = self.shared() {
                let entry = catalog_entry(&sequence, &shared.hub_id);
                shared.packages.publish(&entry, &work.join(ARCHIVE)).await?;
            }
            Ok(sequence)
        }
        .await;
        let sequence = self.commit(&work, result, replacing_local)?;
        self.log_line(
            "info",
            &format!(
                "sequence {} stored ({} {}, {} bytes)",
                sequence.id,
                sequence.package.manifest.name,
                sequence.package.manifest.version,
                sequence.package_size
            ),
        );
        Ok(sequence)
    }

    /// A fresh directory under staging.
    fn work_dir(&self) -> Result<PathBuf, HubError> {
        let work = self
            .sequences
            .staging
            .join(uuid::Uuid::new_v4().to_string());
        fs::create_dir_all(&work)?;
        Ok(work)
    }

    /// Moves a staged sequence into `sequences/<id>`: the commit point. A
    /// staging that failed, or a commit that does, leaves nothing behind.
    fn commit(
        &self,
        work: &Path,
        staged: Result<Sequence, HubError>,
        replacing: bool,
    ) -> Result<Arc<Sequence>, HubError> {
        let sequence = match staged {
            Ok(sequence) => sequence,
            Err(e) => {
                let _ = fs::remove_dir_all(work);
                return Err(e);
            }
        };
        let id = sequence.id.clone();
        let target = self.sequences.root.join(&id);
        let commit = {
            let mut all = self.sequences.lock();
            if replacing && !all.contains_key(&id) {
                Err(HubError::NotFound(format!(
                    "Sequence with id: {id} not found"
                )))
            } else {
                let trash = self.sequences.staging.join(format!("{id}.old"));
                let moved_old = fs::rename(&target, &trash).is_ok();
                let renamed = fs::rename(work, &target);
                if moved_old {
                    let _ = fs::remove_dir_all(&trash);
                }
                renamed.map_err(HubError::Io).map(|()| {
                    // Paths inside the package now live under `target`.
                    let sequence = Arc::new(relocate(sequence, &target));
                    all.insert(id.clone(), sequence.clone());
                    sequence
                })
            }
        };
        if commit.is_err() {
            let _ = fs::remove_dir_all(work);
        }
        commit
    }

    /// Streams an upload into `<work>/package.tar.gz`, within the size limit,
    /// hashing it on the way.
    async fn receive<E: std::fmt::Display>(
        &self,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        work: &Path,
    ) -> Result<Received, HubError> {
        let mut file = tokio::fs::File::create(work.join(ARCHIVE)).await?;
        let mut size = 0u64;
        let mut hash = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| HubError::BadRequest(format!("upload interrupted: {e}")))?;
            size += chunk.len() as u64;
            if size > self.config.max_upload_bytes {
                return Err(HubError::TooLarge(format!(
                    "the package is larger than the hub's limit of {} MiB",
                    self.config.max_upload_bytes >> 20
                )));
            }
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        drop(file);
        if size == 0 {
            return Err(PackageError::EmptyUpload.into());
        }
        Ok(Received {
            size,
            sha256: hex::encode(hash.finalize()),
            created: SystemTime::now(),
            space: self.shared().map(|s| s.space.clone()),
        })
    }

    /// Unpacks and compiles `<work>/package.tar.gz` as sequence `id`.
    async fn stage(&self, work: &Path, id: &str, received: Received) -> Result<Sequence, HubError> {
        let runtime = self.runtime.clone();
        let runners = self.runners.clone();
        let limits = self.config.unpack.clone();
        let hub_limits = self.config.instance_limits();
        let policy = self.config.grants.clone();
        let (work, id) = (work.to_path_buf(), id.to_string());
        tokio::task::spawn_blocking(move || -> Result<Sequence, HubError> {
            let archive = fs::File::open(work.join(ARCHIVE))?;
            let package = Package::unpack(archive, &work.join("package"), &limits)?;
            check_package_limits(&hub_limits, &package.manifest)?;
            // Refused before compiling; `relocate` points the grants at
            // the package's final directory.
            let grants = policy.grant(&package.manifest.grants)?;
            let program = runners.program(&runtime, &package, grants)?;
            crate::package::check_kind(package.manifest.kind, Some(program.entry_kind()))?;
            let program = program.with_limits(package_limits(&package.manifest.limits));
            program.check_limits(&program.limits(), "the package's limits.memory_mb")?;
            let meta = SequenceMeta {
                id: id.clone(),
                package_size: received.size,
                created_ms: millis(received.created),
                sha256: Some(received.sha256.clone()),
                space: received.space.clone(),
            };
            write_meta(&work, &meta)?;
            Ok(Sequence {
                id,
                package,
                program,
                package_size: received.size,
                created: received.created,
                sha256: Some(received.sha256),
                space: received.space,
            })
        })
        .await
        .map_err(|e| HubError::Io(std::io::Error::other(e)))?
    }

    /// Deletes a sequence. With instances alive it is refused unless `force`,
    /// which kills them first. In a space the deletion is space-wide and is
    /// refused while an instance of it runs on any hub.
    pub async fn delete_sequence(&self, id_or_name: &str, force: bool) -> Result<String, HubError> {
        let Some(shared) = self.shared() else {
            return self.delete_local(id_or_name, force);
        };
        let not_found = || HubError::NotFound(format!("The sequence {id_or_name} does not exist."));
        let id = match self.listed_sequence(id_or_name).await {
            Ok(Listed::Local(sequence)) => sequence.id.clone(),
            Ok(Listed::Remote(entry)) => entry.id,
            Err(_) => return Err(not_found()),
        };
        if !force && !self.alive_instances_of(&id).is_empty() {
            return Err(HubError::Conflict("Can't remove- Sequence in use".into()));
        }
        if self.jobs().uses_package(&id) {
            return Err(HubError::Conflict(format!(
                "sequence {id} is the package of unfinished render jobs; cancel or delete them first"
            )));
        }
        if !force {
            self.refuse_if_running_elsewhere(&id, "Can't remove- Sequence in use")
                .await?;
        }
        if let Some(entry) = shared.packages.get(&id).await? {
            shared.packages.remove(&entry, force).await?;
        }
        match self.delete_local(&id, force) {
            Ok(id) => Ok(id),
            Err(HubError::NotFound(_)) => {
                self.log_line("info", &format!("sequence {id} deleted from the space"));
                Ok(id)
            }
            Err(e) => Err(e),
        }
    }

    /// 409 while another hub of the space runs an instance of `id`.
    async fn refuse_if_running_elsewhere(&self, id: &str, message: &str) -> Result<(), HubError> {
        let Some(shared) = self.shared() else {
            return Ok(());
        };
        let hubs = shared.packages.running_elsewhere(id).await;
        if hubs.is_empty() {
            return Ok(());
        }
        Err(HubError::Conflict(format!(
            "{message} (instances run on hub {})",
            hubs.join(", ")
        )))
    }

    /// Deletes this hub's copy of a sequence.
    fn delete_local(&self, id_or_name: &str, force: bool) -> Result<String, HubError> {
        let sequence = self.sequence(id_or_name).map_err(|_| {
            HubError::NotFound(format!("The sequence {id_or_name} does not exist."))
        })?;
        let alive = self.alive_instances_of(&sequence.id);
        if !alive.is_empty() && !force {
            return Err(HubError::Conflict("Can't remove- Sequence in use".into()));
        }
        if self.jobs().uses_package(&sequence.id) {
            return Err(HubError::Conflict(format!(
                "sequence {} is the package of unfinished render jobs; cancel or delete them first",
                sequence.id
            )));
        }
        for record in alive {
            self.kill_instance(&record, true);
        }
        self.sequences.lock().remove(&sequence.id);
        let trash = self
            .sequences
            .staging
            .join(format!("{}.deleted", sequence.id));
        fs::rename(self.sequences.root.join(&sequence.id), &trash)?;
        let _ = fs::remove_dir_all(&trash);
        self.log_line("info", &format!("sequence {} deleted", sequence.id));
        Ok(sequence.id.clone())
    }

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

    fn shared(&self) -> Option<&SharedStore> {
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

fn catalog_entry(sequence: &Sequence, hub_id: &str) -> CatalogEntry {
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

fn write_meta(dir: &Path, meta: &SequenceMeta) -> Result<(), HubError> {
    let bytes = serde_json::to_vec_pretty(meta).map_err(|e| HubError::Io(e.into()))?;
    fs::write(dir.join("sequence.json"), bytes)?;
    Ok(())
}

/// The same sequence with its package paths moved from staging to `dir`.
fn relocate(sequence: Sequence, dir: &Path) -> Sequence {
    let package_dir = dir.join("package");
    let rel = sequence
        .package
        .component_path
        .strip_prefix(&sequence.package.dir)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Sequence {
        program: sequence.program.with_package_dir(&package_dir),
        package: Package {
            component_path: package_dir.join(rel),
            dir: package_dir,
            manifest: sequence.package.manifest,
        },
        ..sequence
    }
}
