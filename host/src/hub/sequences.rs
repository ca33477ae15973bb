//! Stored sequences: packages unpacked and compiled in the data directory.
//!
//! An upload is streamed to a temporary file, unpacked and compiled in a
//! staging directory, and only then renamed into `sequences/<id>`: the
//! rename is the commit point, so a refused or interrupted upload never
//! leaves anything behind and a stored package is never half-written.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::{Hub, HubError, check_package_limits, package_limits};
use crate::package::{GrantPolicy, Package, PackageError};
use crate::runtime::{Program, Runtime};
use crate::streams::Pipe;

/// A stored, compiled sequence package.
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
}

#[derive(Serialize, Deserialize)]
struct SequenceMeta {
    id: String,
    package_size: u64,
    created_ms: u64,
}

pub(super) struct SequenceStore {
    root: PathBuf,
    staging: PathBuf,
    by_id: Mutex<HashMap<String, Arc<Sequence>>>,
}

impl SequenceStore {
    /// Loads every stored sequence (compiled components come from the cache).
    pub(super) fn open(
        data_dir: &Path,
        runtime: &Runtime,
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
            match load_stored(&dir, runtime, grants) {
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
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Sequence>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Loads a stored sequence; one whose grants this hub no longer allows is
/// skipped (and kept on disk for a hub started with them).
fn load_stored(dir: &Path, runtime: &Runtime, policy: &GrantPolicy) -> Result<Sequence, HubError> {
    let meta: SequenceMeta = serde_json::from_slice(&fs::read(dir.join("sequence.json"))?)
        .map_err(|e| HubError::Invalid(format!("bad sequence.json: {e}")))?;
    let package = Package::open(&dir.join("package"))?;
    let grants = policy.grant(&package.manifest.grants)?;
    let program = runtime
        .load(&package.component_path)?
        .with_grants(grants, &package.dir);
    let program = program.with_limits(package_limits(&package.manifest.limits));
    Ok(Sequence {
        id: meta.id,
        package,
        program,
        package_size: meta.package_size,
        created: UNIX_EPOCH + Duration::from_millis(meta.created_ms),
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
    pub async fn add_sequence<E: std::fmt::Display>(
        &self,
        body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        replace: Option<&str>,
    ) -> Result<Arc<Sequence>, HubError> {
        if let Some(id) = replace
            && self.jobs().uses_package(id)
        {
            return Err(HubError::Conflict(format!(
                "sequence {id} is the package of unfinished render jobs; cancel or delete them before replacing it"
            )));
        }
        let id = match replace {
            Some(id) => id.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        // Until it is committed, the component this compiles into the cache
        // is no sequence's: `gc` waits.
        let _compiling = self.staging_gate.read().await;
        let work = self
            .sequences
            .staging
            .join(uuid::Uuid::new_v4().to_string());
        fs::create_dir_all(&work)?;
        let result = self.stage_upload(body, &id, &work).await;
        let _ = fs::remove_file(work.join("upload.tar.gz"));
        let sequence = match result {
            Ok(sequence) => sequence,
            Err(e) => {
                let _ = fs::remove_dir_all(&work);
                return Err(e);
            }
        };
        let target = self.sequences.root.join(&id);
        let commit = {
            let mut all = self.sequences.lock();
            if replace.is_some() && !all.contains_key(&id) {
                Err(HubError::NotFound(format!(
                    "Sequence with id: {id} not found"
                )))
            } else {
                let trash = self.sequences.staging.join(format!("{id}.old"));
                let moved_old = fs::rename(&target, &trash).is_ok();
                let renamed = fs::rename(&work, &target);
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
            let _ = fs::remove_dir_all(&work);
        }
        let sequence = commit?;
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

    async fn stage_upload<E: std::fmt::Display>(
        &self,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        id: &str,
        work: &Path,
    ) -> Result<Sequence, HubError> {
        let archive_path = work.join("upload.tar.gz");
        let mut file = tokio::fs::File::create(&archive_path).await?;
        let mut size = 0u64;
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
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        drop(file);
        if size == 0 {
            return Err(PackageError::EmptyUpload.into());
        }
        let runtime = self.runtime.clone();
        let limits = self.config.unpack.clone();
        let hub_limits = self.config.instance_limits();
        let policy = self.config.grants.clone();
        let (work, id) = (work.to_path_buf(), id.to_string());
        tokio::task::spawn_blocking(move || -> Result<Sequence, HubError> {
            let archive = fs::File::open(&archive_path)?;
            let package = Package::unpack(archive, &work.join("package"), &limits)?;
            check_package_limits(&hub_limits, &package.manifest)?;
            // Refused before compiling; `relocate` points the grants at
            // the package's final directory.
            let grants = policy.grant(&package.manifest.grants)?;
            let program = runtime
                .load(&package.component_path)?
                .with_grants(grants, &package.dir);
            let program = program.with_limits(package_limits(&package.manifest.limits));
            program.check_limits(&program.limits(), "the package's limits.memory_mb")?;
            let created = SystemTime::now();
            let meta = SequenceMeta {
                id: id.clone(),
                package_size: size,
                created_ms: created
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
            };
            let meta = serde_json::to_vec_pretty(&meta).map_err(|e| HubError::Io(e.into()))?;
            fs::write(work.join("sequence.json"), meta)?;
            Ok(Sequence {
                id,
                package,
                program,
                package_size: size,
                created,
            })
        })
        .await
        .map_err(|e| HubError::Io(std::io::Error::other(e)))?
    }

    /// Deletes a sequence. With instances alive it is refused unless `force`,
    /// which kills them first.
    pub fn delete_sequence(&self, id_or_name: &str, force: bool) -> Result<String, HubError> {
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

/// The same sequence with its package paths moved from staging to `dir`.
fn relocate(sequence: Sequence, dir: &Path) -> Sequence {
    let package_dir = dir.join("package");
    let rel = sequence
        .package
        .component_path
        .strip_prefix(&sequence.package.dir)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let grants = sequence.program.grants().clone();
    Sequence {
        program: sequence.program.with_grants(grants, &package_dir),
        package: Package {
            component_path: package_dir.join(rel),
            dir: package_dir,
            manifest: sequence.package.manifest,
        },
        ..sequence
    }
}
