//! Changing jobs of a space from any hub: submit, patch, cancel, pause, resume,
//! requeue (a job or one task), unblock and delete. Each writes the job's record (or a
//! task's) by compare-and-swap, then the queue; the mirror of every machine, this one
//! first, applies the records.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;
use crate::jobs::{
    Job, JobAction, JobManager, JobPackage, JobState, PatchJob, SubmitJob, TaskState, now_ms, view,
};

/// Submissions in one millisecond that still get distinct, ordered sequence numbers.
static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl JobManager {
    /// Queues a job in the space this manager joined: its record in the bucket, one
    /// message per task in the queue, the component in the package store (by SHA-256).
    pub async fn submit_shared(
        &self,
        package: JobPackage<'_>,
        request: SubmitJob,
        component: &Path,
        limits: crate::wire::LeaseLimits,
    ) -> Result<Value, JobError> {
        let space = self.space_or_refuse()?;
        let mut job = self.build(package, request)?;
        if job.local_only && !self.space_has_hub_slots() {
            return Err(JobError::Invalid(format!(
                "package {} asks for [grants], which only the render slots of hubs provide (workers get only the component), and no hub of space {} has render slots (weir serve --slots N)",
                job.package_name,
                space.name()
            )));
        }
        job.shared = true;
        job.limits = Some(limits);
        job.blocklist_after = Some(self.config.blocklist_after.max(1));
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
        job.seq = now_ms() * 1000 + n;
        space.share_component(&job.digest, component).await?;
        // The tasks are queued before the record exists: a slot that sees the job finds
        // its tasks there.
        let indexes: Vec<usize> = (0..job.tasks.len()).collect();
        let queued = match space.consumer(&job.id, job.max_retries).await {
            Ok(_) => space.enqueue(&job.id, &indexes).await,
            Err(e) => Err(e),
        };
        let record = serde_json::to_vec(&job).map_err(std::io::Error::other)?;
        let key = job_key(&job.id);
        let created = match queued {
            Ok(()) => space
                .kv
                .create(&key, Bytes::from(record.clone()))
                .await
                .map_err(|e| nats("storing the job")(e.to_string())),
            Err(e) => Err(e),
        };
        let revision = match created {
            Ok(revision) => revision,
            Err(e) => {
                space.dequeue_all(&job.id).await;
                return Err(e);
            }
        };
        space.log(&job.id, "info", &job.queued_line());
        // Applied here at once (the watch may be applying it too: both end the same).
        space.seen(&key, revision);
        self.apply_space(&key, Some(&record));
        self.get(&job.id)
    }

    /// Cancels, pauses, resumes or requeues a job of the space.
    pub async fn control_shared(
        &self,
        id: &str,
        action: JobAction,
        stored: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> Result<Value, JobError> {
        let space = self.space_or_refuse()?;
        let from = self.job_state(id).ok_or_else(|| Self::not_found(id))?;
        let refuse = |what: &str| {
            Err(JobError::Conflict(format!(
                "cannot {} job {id}: it is {} ({what})",
                action.as_str(),
                from.as_str()
            )))
        };
        match action {
            JobAction::Cancel if from.is_terminal() => {
                return refuse("only queued, active or paused jobs can be canceled");
            }
            JobAction::Pause if !matches!(from, JobState::Queued | JobState::Active) => {
                return refuse("only queued or active jobs can be paused");
            }
            JobAction::Resume if from != JobState::Paused => {
                return refuse("only paused jobs can be resumed");
            }
            JobAction::Requeue if !from.is_terminal() => {
                return refuse("only completed, failed or canceled jobs can be requeued");
            }
            JobAction::Requeue => self.with_job(id, |job| job.check_package(stored))??,
            _ => {}
        }
        let rerun = match action {
            JobAction::Requeue => self.with_job(id, |job| {
                let all = from == JobState::Completed;
                job.tasks
                    .iter()
                    .filter(|t| all || t.state != TaskState::Completed)
                    .map(|t| t.index)
                    .collect::<Vec<_>>()
            })?,
            _ => Vec::new(),
        };
        let record = space
            .change_job(self, id, |job| {
                match action {
                    JobAction::Cancel => {
                        job.state = JobState::Canceled;
                        job.finished_ms = Some(now_ms());
                    }
                    JobAction::Pause => job.state = JobState::Paused,
                    JobAction::Resume => job.state = JobState::Queued,
                    JobAction::Requeue => {
                        job.state = JobState::Queued;
                        job.finished_ms = None;
                        job.blocklist.clear();
                        job.worker_failures.clear();
                        job.errors.clear();
                    }
                }
                Ok(Some(()))
            })
            .await?;
        match action {
            JobAction::Cancel => space.dequeue_all(id).await,
            JobAction::Requeue => space.rerun(self, &record, &rerun).await?,
            _ => {}
        }
        let to = self.job_state(id).unwrap_or(record.state);
        space.log(
            id,
            "info",
            &format!("{}: {} → {}", action.as_str(), from.as_str(), to.as_str()),
        );
        self.get(id)
    }

    /// Changes priority and tags of a job of the space.
    pub async fn patch_shared(&self, id: &str, patch: PatchJob) -> Result<Value, JobError> {
        if let Some(tags) = &patch.tags {
            super::super::submit::check_tags(tags)?;
        }
        let space = self.space_or_refuse()?;
        let job = space
            .change_job(self, id, |job| {
                if let Some(p) = patch.priority {
                    job.priority = p;
                }
                if let Some(tags) = &patch.tags {
                    job.tags = tags.clone();
                }
                Ok(Some(()))
            })
            .await?;
        space.log(
            id,
            "info",
            &format!("priority {}, tags {:?}", job.priority, job.tags),
        );
        self.get(id)
    }

    /// Takes a worker (or all) off a job's blocklist.
    pub async fn unblock_shared(&self, id: &str, worker: Option<&str>) -> Result<Value, JobError> {
        let space = self.space_or_refuse()?;
        space
            .change_job(self, id, |job| {
                let before = job.blocklist.len();
                match worker {
                    Some(w) => job.blocklist.retain(|b| b != w),
                    None => job.blocklist.clear(),
                }
                if let Some(w) = worker
                    && job.blocklist.len() == before
                {
                    return Err(JobError::NotFound(format!(
                        "worker {w} is not on the blocklist of job {id}"
                    )));
                }
                job.worker_failures.retain(|w, _| job.blocklist.contains(w));
                Ok(Some(()))
            })
            .await?;
        self.get(id)
    }

    /// Queues one task of the space again; its job runs again.
    pub async fn requeue_shared_task(
        &self,
        task_id: &str,
        stored: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> Result<Value, JobError> {
        let space = self.space_or_refuse()?;
        let (job_id, index, from) = {
            let mut state = self.lock();
            let (job, idx) = state.task_mut(task_id)?;
            job.check_package(stored)?;
            (job.id.clone(), idx, job.tasks[idx].state)
        };
        if matches!(from, TaskState::Queued | TaskState::Active) {
            return Err(JobError::Conflict(format!(
                "task {task_id} is {} already",
                if from == TaskState::Queued {
                    "queued"
                } else {
                    "running"
                }
            )));
        }
        let job = space
            .change_job(self, &job_id, |job| {
                if job.state.is_terminal() {
                    job.state = JobState::Queued;
                    job.finished_ms = None;
                }
                Ok(Some(()))
            })
            .await?;
        space.rerun(self, &job, &[index]).await?;
        let label = self.with_job(&job_id, |job| job.tasks[index].frames_label())?;
        space.log(&job_id, "info", &format!("frames {label} queued again"));
        let state = self.lock();
        let (job, idx) = state.tasks.get(task_id).cloned().unwrap_or_default();
        state
            .jobs
            .get(&job)
            .map(|job| view::task(&job.tasks[idx]))
            .ok_or_else(|| JobError::NotFound(format!("Task {task_id} not found")))
    }

    /// Deletes a job of the space: its record, tasks, queue, consumer and artifacts.
    pub async fn delete_shared(&self, id: &str) -> Result<(), JobError> {
        let space = self.space_or_refuse()?;
        let (tasks, objects) = self.with_job(id, |job| {
            let objects: Vec<String> = job
                .tasks
                .iter()
                .flat_map(|t| t.stored.iter().filter_map(|a| a.object.clone()))
                .collect();
            (job.tasks.len(), objects)
        })?;
        space
            .kv
            .purge(job_key(id))
            .await
            .map_err(|e| nats("deleting the job")(e.to_string()))?;
        space.dequeue_all(id).await;
        self.apply_space(&job_key(id), None);
        for index in 0..tasks {
            let _ = space.kv.purge(task_key(id, index)).await;
        }
        for object in objects {
            let _ = space.artifacts.delete(&object).await;
        }
        Ok(())
    }

    /// Whether a hub of the space with render slots is online (its worker record says).
    fn space_has_hub_slots(&self) -> bool {
        let state = self.lock();
        state.workers.values().any(|w| {
            w.shared && w.local && w.slots > 0 && w.state == crate::jobs::WorkerState::Online
        })
    }

    /// Runs `f` on job `id` under the lock (404 when there is none).
    pub(in crate::jobs) fn with_job<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Job) -> R,
    ) -> Result<R, JobError> {
        let mut state = self.lock();
        let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
        Ok(f(job))
    }

    fn space_or_refuse(&self) -> Result<Arc<SpaceJobs>, JobError> {
        self.space()
            .cloned()
            .ok_or_else(|| JobError::Invalid("this hub is not in a space".into()))
    }
}

impl SpaceJobs {
    /// Changes job `id`'s record by compare-and-swap and applies it here at once.
    async fn change_job(
        &self,
        jobs: &JobManager,
        id: &str,
        mut change: impl FnMut(&mut Job) -> Result<Option<()>, JobError>,
    ) -> Result<Job, JobError> {
        let key = job_key(id);
        let (mut job, changed) = self
            .modify::<Job, ()>(
                &key,
                || None,
                |job| {
                    let said = change(job)?;
                    job.updated_ms = now_ms();
                    Ok(said)
                },
            )
            .await
            .map_err(|e| match e {
                JobError::NotFound(_) => JobManager::not_found(id),
                other => other,
            })?;
        if changed.is_some() {
            let record = serde_json::to_vec(&job).map_err(std::io::Error::other)?;
            jobs.apply_space(&key, Some(&record));
        }
        job.shared = true;
        Ok(job)
    }

    /// Queues tasks `indexes` of `job` again: their records go (a task without one is
    /// queued), then one message each.
    async fn rerun(&self, jobs: &JobManager, job: &Job, indexes: &[usize]) -> Result<(), JobError> {
        for &index in indexes {
            let key = task_key(&job.id, index);
            self.kv
                .purge(&key)
                .await
                .map_err(|e| nats("queueing a task again")(e.to_string()))?;
            jobs.apply_space(&key, None);
        }
        self.consumer(&job.id, job.max_retries).await?;
        self.enqueue(&job.id, indexes).await
    }

    /// Puts the component `digest` (the file `path`) in the space's package store,
    /// unless it is there: workers fetch it by SHA-256.
    async fn share_component(&self, digest: &str, path: &Path) -> Result<(), JobError> {
        if let Ok(info) = self.packages.info(digest).await
            && !info.deleted
        {
            return Ok(());
        }
        let mut file = tokio::fs::File::open(path).await?;
        let meta = object_store::ObjectMetadata {
            name: digest.to_string(),
            chunk_size: Some(CHUNK),
            ..Default::default()
        };
        self.packages
            .put(meta, &mut file)
            .await
            .map_err(|e| nats("storing the job's component")(e.to_string()))?;
        Ok(())
    }

    /// Fetches the component `digest` into `path`, checking its SHA-256.
    pub(super) async fn fetch_component(&self, digest: &str, path: &Path) -> Result<(), String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut object = self.packages.get(digest).await.map_err(|e| {
            format!("the job's component {digest} is missing from the space's package store: {e}")
        })?;
        let dir = path
            .parent()
            .ok_or("a component path without a directory")?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| e.to_string())?;
        let partial = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| e.to_string())?;
        let mut hash = Sha256::new();
        let mut buf = vec![0; CHUNK];
        loop {
            let n = object.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).await.map_err(|e| e.to_string())?;
        }
        file.sync_all().await.map_err(|e| e.to_string())?;
        let got = hex::encode(hash.finalize());
        if got != digest {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(format!(
                "the component fetched for {digest} hashes to {got}"
            ));
        }
        tokio::fs::rename(&partial, path)
            .await
            .map_err(|e| e.to_string())
    }

    /// A reader of artifact object `name`.
    pub async fn artifact(&self, name: &str) -> Result<object_store::Object, JobError> {
        self.artifacts
            .get(name)
            .await
            .map_err(|e| nats("reading the artifact")(e.to_string()))
    }
}
