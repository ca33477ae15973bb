//! Where a job's changes go: the hub's own SQLite store ([`LocalChanges`]), or its space's
//! JetStream ([`SpaceChanges`]). The routes ask the manager which one holds a job
//! ([`JobManager::changes_of`]) or takes a new one ([`JobManager::changes_for_new`]) and call
//! either the same way. Reads need no such choice: both keep the jobs in the manager's
//! memory.

use std::path::PathBuf;

use super::*;
use crate::runtime::BoxFuture;
use crate::wire::LeaseLimits;

/// Whether a job's package is still stored (package id, digest): a requeue needs it.
pub type PackageCheck = dyn Fn(&str, &str) -> bool + Send + Sync;

/// A render package a job is submitted for, owned: a big job is built off the async
/// threads.
#[derive(Clone)]
pub struct JobSource {
    /// Its sequence id.
    pub id: String,
    /// Its component's SHA-256.
    pub digest: String,
    /// Its manifest.
    pub manifest: crate::package::Manifest,
    /// What its component exports (`render` for a render package).
    pub entry_kind: String,
    /// Its component file (a space shares it by SHA-256).
    pub component: PathBuf,
    /// Its limits (a worker of a space gets only the component).
    pub limits: LeaseLimits,
}

impl JobSource {
    fn package(&self) -> JobPackage<'_> {
        JobPackage {
            id: &self.id,
            digest: &self.digest,
            manifest: &self.manifest,
            entry_kind: &self.entry_kind,
        }
    }
}

/// The changes a user makes to jobs, by where the jobs live.
pub trait JobChanges: Send + Sync {
    /// Queues a job → its view.
    fn submit(
        &self,
        source: JobSource,
        request: SubmitJob,
    ) -> BoxFuture<'_, Result<Value, JobError>>;
    /// Cancels, pauses, resumes or requeues job `id` → its view.
    fn control<'a>(
        &'a self,
        id: &'a str,
        action: JobAction,
        stored: Arc<PackageCheck>,
    ) -> BoxFuture<'a, Result<Value, JobError>>;
    /// Changes job `id`'s priority and tags → its view.
    fn patch<'a>(&'a self, id: &'a str, patch: PatchJob) -> BoxFuture<'a, Result<Value, JobError>>;
    /// Queues task `task_id` again → the task's view.
    fn requeue_task<'a>(
        &'a self,
        task_id: &'a str,
        stored: Arc<PackageCheck>,
    ) -> BoxFuture<'a, Result<Value, JobError>>;
    /// Takes `worker` (none: every worker) off job `id`'s blocklist → its view.
    fn unblock<'a>(
        &'a self,
        id: &'a str,
        worker: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, JobError>>;
    /// Deletes job `id`, its tasks and artifacts.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), JobError>>;
}

/// Jobs of this hub alone: written through to its SQLite store.
pub struct LocalChanges(Arc<JobManager>);

/// Jobs of the space: written to JetStream (`space`).
pub struct SpaceChanges(Arc<JobManager>);

impl JobManager {
    /// Where job `id`'s changes go.
    pub fn changes_of(self: &Arc<Self>, id: &str) -> Box<dyn JobChanges> {
        if self.is_shared(id) {
            Box::new(SpaceChanges(self.clone()))
        } else {
            Box::new(LocalChanges(self.clone()))
        }
    }

    /// Where the changes of task `task_id`'s job go.
    pub fn changes_of_task(self: &Arc<Self>, task_id: &str) -> Box<dyn JobChanges> {
        let job = self.job_of_task(task_id).unwrap_or_default();
        self.changes_of(&job)
    }

    /// Where a new job goes: the space once the hub joined one, else its own store.
    pub fn changes_for_new(self: &Arc<Self>) -> Box<dyn JobChanges> {
        if self.space().is_some() {
            Box::new(SpaceChanges(self.clone()))
        } else {
            Box::new(LocalChanges(self.clone()))
        }
    }
}

/// Runs a blocking change of the manager off the async threads (a big job's rows are
/// written in batches).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JobError::Io(std::io::Error::other(e.to_string())))?
}

impl JobChanges for LocalChanges {
    fn submit(
        &self,
        source: JobSource,
        request: SubmitJob,
    ) -> BoxFuture<'_, Result<Value, JobError>> {
        let jobs = self.0.clone();
        Box::pin(blocking(move || jobs.submit(source.package(), request)))
    }

    fn control<'a>(
        &'a self,
        id: &'a str,
        action: JobAction,
        stored: Arc<PackageCheck>,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        let (jobs, id) = (self.0.clone(), id.to_string());
        Box::pin(blocking(move || jobs.control(&id, action, &*stored)))
    }

    fn patch<'a>(&'a self, id: &'a str, patch: PatchJob) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move { self.0.patch(id, patch) })
    }

    fn requeue_task<'a>(
        &'a self,
        task_id: &'a str,
        stored: Arc<PackageCheck>,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move { self.0.requeue_task(task_id, &*stored) })
    }

    fn unblock<'a>(
        &'a self,
        id: &'a str,
        worker: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move { self.0.unblock(id, worker) })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.0.delete(id))
    }
}

impl JobChanges for SpaceChanges {
    fn submit(
        &self,
        source: JobSource,
        request: SubmitJob,
    ) -> BoxFuture<'_, Result<Value, JobError>> {
        Box::pin(async move {
            self.0
                .submit_shared(source.package(), request, &source.component, source.limits)
                .await
        })
    }

    fn control<'a>(
        &'a self,
        id: &'a str,
        action: JobAction,
        stored: Arc<PackageCheck>,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move { self.0.control_shared(id, action, &*stored).await })
    }

    fn patch<'a>(&'a self, id: &'a str, patch: PatchJob) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(self.0.patch_shared(id, patch))
    }

    fn requeue_task<'a>(
        &'a self,
        task_id: &'a str,
        stored: Arc<PackageCheck>,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move { self.0.requeue_shared_task(task_id, &*stored).await })
    }

    fn unblock<'a>(
        &'a self,
        id: &'a str,
        worker: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(self.0.unblock_shared(id, worker))
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.0.delete_shared(id))
    }
}
