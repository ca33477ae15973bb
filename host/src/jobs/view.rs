//! Jobs, tasks, workers and artifacts as the API shows them: built as the wire types
//! (`crate::wire`, camelCase, ISO timestamps) that the client reads and the OpenAPI document
//! describes, as `docs/render-jobs.md` lists them.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{ArtifactMeta, Job, Task, TaskState, Worker, WorkerState, WorkerStatus};
use crate::time::iso;
use crate::wire;

fn ts(ms: u64) -> String {
    iso(UNIX_EPOCH + Duration::from_millis(ms))
}

fn ts_opt(ms: Option<u64>) -> Option<String> {
    ms.map(ts)
}

/// A job as `GET /jobs/:id` shows it.
pub fn job(job: &Job) -> Value {
    wire::to_json(wire_job(job))
}

/// A job as the wire type.
pub fn wire_job(job: &Job) -> wire::Job {
    let count = |state: TaskState| job.counts[state.slot()] as u64;
    wire::Job {
        id: job.id.clone(),
        name: job.name.clone(),
        package: wire::JobPackage {
            id: job.package_id.clone(),
            name: job.package_name.clone(),
            digest: job.digest.clone(),
            extra: Map::new(),
        },
        state: job.state.as_str().to_string(),
        priority: job.priority,
        tags: job.tags.clone(),
        settings: match &job.settings {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        },
        frames: Value::String(job.frames.clone()),
        chunk_size: job.chunk_size as u64,
        frames_total: job.frames_total as u64,
        frames_done: job.frames_done as u64,
        progress: (job.progress() * 100.0).round() / 100.0,
        tasks_total: job.tasks.len() as u64,
        task_counts: wire::TaskCounts {
            queued: count(TaskState::Queued),
            active: count(TaskState::Active),
            completed: count(TaskState::Completed),
            failed: count(TaskState::Failed),
            canceled: count(TaskState::Canceled),
            extra: Map::new(),
        },
        max_retries: job.max_retries,
        failure_threshold: job.failure_threshold,
        failed_frames: job.failed_frames(),
        task_timeout_ms: job.task_timeout_ms,
        errors: job.errors.clone(),
        blocklist: job.blocklist.clone(),
        worker_failures: job.worker_failures.clone(),
        waiting: None,
        created_at: Some(ts(job.created_ms)),
        updated_at: Some(ts(job.updated_ms)),
        started_at: ts_opt(job.started_ms),
        finished_at: ts_opt(job.finished_ms),
        extra: Map::new(),
    }
}

/// A task as `GET /jobs/:id/tasks` shows it.
pub fn task(task: &Task) -> Value {
    wire::to_json(wire::Task {
        id: task.id.clone(),
        job_id: task.job_id.clone(),
        index: task.index as u64,
        frame_start: task.frame_start,
        frame_end: task.frame_end,
        frames: task.frame_count() as u64,
        state: task.state.as_str().to_string(),
        attempt: task.attempt,
        worker: task.worker.clone(),
        progress: task.progress,
        failures: task
            .failures
            .iter()
            .map(|f| wire::TaskFailure {
                worker: f.worker.clone(),
                attempt: f.attempt,
                error: f.error.clone(),
                extra: Map::new(),
            })
            .collect(),
        started_at: ts_opt(task.started_ms),
        finished_at: ts_opt(task.finished_ms),
        usage: task_usage(task),
        resume_from: task.resume_from,
        extra: Map::new(),
    })
}

/// A completed task's CPU time and peak memory (from its worker) and wall time
/// (lease to completion).
fn task_usage(task: &Task) -> Option<wire::TaskUsage> {
    let usage = task.usage?;
    let wall_ms = match (task.started_ms, task.finished_ms) {
        (Some(started), Some(finished)) => Some(finished.saturating_sub(started)),
        _ => None,
    };
    Some(wire::TaskUsage {
        cpu_ms: usage.cpu_ms,
        peak_memory_bytes: usage.peak_memory_bytes,
        wall_ms,
    })
}

pub(super) fn worker_state(state: WorkerState) -> &'static str {
    match state {
        WorkerState::Online => "online",
        WorkerState::Lost => "lost",
        WorkerState::Offline => "offline",
    }
}

fn worker_status(status: WorkerStatus) -> &'static str {
    match status {
        WorkerStatus::Enabled => "enabled",
        WorkerStatus::Disabled => "disabled",
        WorkerStatus::Draining => "draining",
    }
}

/// A worker as `GET /workers/:id` shows it.
pub fn worker(worker: &Worker) -> Value {
    wire::to_json(wire_worker(worker))
}

/// A worker as the wire type.
pub fn wire_worker(worker: &Worker) -> wire::Worker {
    wire::Worker {
        id: worker.id.clone(),
        name: worker.name.clone(),
        slots: u32::try_from(worker.slots).unwrap_or(u32::MAX),
        tags: worker.tags.clone(),
        version: worker.version.clone(),
        local: worker.local,
        state: worker_state(worker.state).to_string(),
        status: worker_status(worker.status).to_string(),
        active_tasks: worker.active.iter().cloned().collect(),
        tasks_completed: worker.tasks_completed,
        tasks_failed: worker.tasks_failed,
        registered_at: Some(ts(worker.registered_ms)),
        last_seen: Some(ts(worker.last_seen_ms)),
        lease_ms: None,
        heartbeat_ms: None,
        extra: Map::new(),
    }
}

/// An artifact index entry.
pub fn artifact(job_id: &str, artifact: &ArtifactMeta) -> Value {
    wire::to_json(wire::ArtifactInfo {
        name: artifact.name.clone(),
        media_type: artifact.media_type.clone(),
        size: artifact.size,
        sha256: artifact.sha256.clone(),
        frame: Some(artifact.frame),
        task_id: artifact.task_id.clone(),
        url: format!("/api/v1/jobs/{job_id}/artifacts/{}", artifact.name),
        extra: Map::new(),
    })
}
