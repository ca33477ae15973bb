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

mod space;

pub use space::Listed;
use space::catalog_entry;

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
    /// This sequence as a job is submitted for it (owned, with its component and limits).
    pub fn job_source(&self) -> crate::jobs::JobSource {
        let limits = self.program.limits();
        crate::jobs::JobSource {
            id: self.id.clone(),
            digest: self.program.digest.clone(),
            manifest: self.package.manifest.clone(),
            entry_kind: self.program.entry_kind().to_string(),
            component: self.package.component_path.clone(),
            limits: crate::wire::LeaseLimits {
                memory_bytes: limits.memory_bytes.map(|b| b as u64),
                wall_time_ms: limits.wall_time.map(|d| d.as_millis() as u64),
                cpu_time_ms: limits.cpu_time.map(|d| d.as_millis() as u64),
            },
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
