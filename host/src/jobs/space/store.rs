//! What a slot fetches and stores in the space: the job's component (by SHA-256, compiled
//! once per process) and the artifacts of its attempts (under each attempt's own names).

use sha2::{Digest, Sha256};

use super::dispatch::{Plan, Slot};
use super::*;
use crate::jobs::ArtifactMeta;
use crate::runtime::{Artifact, Program};

impl SpaceJobs {
    /// The program for a task: the machine's own, or the component fetched from the
    /// space by digest and compiled (once per process, cached on disk).
    pub(super) async fn program(&self, slot: &Slot, plan: &Plan) -> Result<Program, String> {
        if let Some(local) = &slot.local
            && let Some(program) = local(plan.package_id.clone(), plan.digest.clone()).await
        {
            return Ok(program);
        }
        let digest = plan.digest.to_ascii_lowercase();
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "the job names an invalid component digest {digest:?}"
            ));
        }
        let path = slot.cache_dir.join(format!("{digest}.wasm"));
        if !path.exists() {
            self.fetch_component(&digest, &path).await?;
        }
        let runtime = slot.runtime.clone();
        let file = path.clone();
        let program = tokio::task::spawn_blocking(move || runtime.load(&file))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot load the job's component: {e:#}"))?;
        if program.digest != digest {
            let _ = std::fs::remove_file(&path);
            return Err(format!("{} does not hash to its name", path.display()));
        }
        let limits = plan.limits.unwrap_or_default();
        Ok(program.with_limits(crate::runtime::Limits {
            memory_bytes: limits.memory_bytes.map(|b| b as usize),
            wall_time: limits.wall_time_ms.map(Duration::from_millis),
            cpu_time: limits.cpu_time_ms.map(Duration::from_millis),
        }))
    }

    /// Stores one artifact of an attempt under the attempt's own object name.
    pub(super) async fn store_artifact(
        &self,
        job: &str,
        index: usize,
        task_id: &str,
        attempt: u32,
        frame: i64,
        artifact: Artifact,
    ) -> Result<ArtifactMeta, String> {
        if !crate::runtime::is_valid_artifact_name(&artifact.name) {
            return Err(format!(
                "artifact name {:?}: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'",
                artifact.name
            ));
        }
        let object = artifact_object(job, index, attempt, &artifact.name);
        let meta = object_store::ObjectMetadata {
            name: object.clone(),
            chunk_size: Some(CHUNK),
            ..Default::default()
        };
        let sha256 = hex::encode(Sha256::digest(&artifact.data));
        let size = artifact.data.len() as u64;
        self.artifacts
            .put(meta, &mut &artifact.data[..])
            .await
            .map_err(|e| format!("cannot store artifact {} in the space: {e}", artifact.name))?;
        Ok(ArtifactMeta {
            name: artifact.name,
            media_type: artifact.media_type,
            size,
            sha256,
            frame,
            task_id: task_id.to_string(),
            object: Some(object),
        })
    }

    pub(super) async fn drop_objects(&self, stored: &[ArtifactMeta]) {
        for object in stored.iter().filter_map(|a| a.object.as_deref()) {
            let _ = self.artifacts.delete(object).await;
        }
    }
}
