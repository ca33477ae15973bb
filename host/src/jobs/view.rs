//! The JSON shapes of jobs, tasks, workers and artifacts (camelCase, ISO
//! timestamps), as `docs/render-jobs.md` describes them.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{ArtifactMeta, Job, Task, TaskState, Worker, WorkerState, WorkerStatus};
use crate::time::iso;

fn ts(ms: u64) -> String {
    iso(UNIX_EPOCH + Duration::from_millis(ms))
}

fn ts_opt(ms: Option<u64>) -> Value {
    ms.map_or(Value::Null, |ms| ts(ms).into())
}

/// A job as `GET /jobs/:id` shows it.
pub fn job(job: &Job) -> Value {
    let c = &job.counts;
    json!({
        "id": job.id,
        "name": job.name,
        "package": {"id": job.package_id, "name": job.package_name, "digest": job.digest},
        "state": job.state.as_str(),
        "priority": job.priority,
        "tags": job.tags,
        "settings": job.settings,
        "frames": job.frames,
        "chunkSize": job.chunk_size,
        "framesTotal": job.frames_total,
        "framesDone": job.frames_done,
        "progress": (job.progress() * 100.0).round() / 100.0,
        "tasksTotal": job.tasks.len(),
        "taskCounts": {
            "queued": c[TaskState::Queued.slot()],
            "active": c[TaskState::Active.slot()],
            "completed": c[TaskState::Completed.slot()],
            "failed": c[TaskState::Failed.slot()],
            "canceled": c[TaskState::Canceled.slot()],
        },
        "maxRetries": job.max_retries,
        "failureThreshold": job.failure_threshold,
        "failedFrames": job.failed_frames(),
        "taskTimeoutMs": job.task_timeout_ms,
        "errors": job.errors,
        "blocklist": job.blocklist,
        "workerFailures": job.worker_failures,
        "createdAt": ts(job.created_ms),
        "updatedAt": ts(job.updated_ms),
        "startedAt": ts_opt(job.started_ms),
        "finishedAt": ts_opt(job.finished_ms),
    })
}

/// A task as `GET /jobs/:id/tasks` shows it.
pub fn task(task: &Task) -> Value {
    json!({
        "id": task.id,
        "jobId": task.job_id,
        "index": task.index,
        "frameStart": task.frame_start,
        "frameEnd": task.frame_end,
        "frames": task.frame_count(),
        "state": task.state,
        "attempt": task.attempt,
        "worker": task.worker,
        "progress": task.progress,
        "failures": task.failures,
        "startedAt": ts_opt(task.started_ms),
        "finishedAt": ts_opt(task.finished_ms),
        "usage": task_usage(task),
        "resumeFrom": task.resume_from,
    })
}

/// A completed task's CPU time and peak memory (from its worker) and wall time
/// (lease to completion), or null.
fn task_usage(task: &Task) -> Value {
    let Some(usage) = task.usage else {
        return Value::Null;
    };
    let wall_ms = match (task.started_ms, task.finished_ms) {
        (Some(started), Some(finished)) => Some(finished.saturating_sub(started)),
        _ => None,
    };
    json!({
        "cpuMs": usage.cpu_ms,
        "peakMemoryBytes": usage.peak_memory_bytes,
        "wallMs": wall_ms,
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
    json!({
        "id": worker.id,
        "name": worker.name,
        "slots": worker.slots,
        "tags": worker.tags,
        "version": worker.version,
        "local": worker.local,
        "state": worker_state(worker.state),
        "status": worker_status(worker.status),
        "activeTasks": worker.active,
        "tasksCompleted": worker.tasks_completed,
        "tasksFailed": worker.tasks_failed,
        "registeredAt": ts(worker.registered_ms),
        "lastSeen": ts(worker.last_seen_ms),
    })
}

/// An artifact index entry.
pub fn artifact(job_id: &str, artifact: &ArtifactMeta) -> Value {
    json!({
        "name": artifact.name,
        "mediaType": artifact.media_type,
        "size": artifact.size,
        "sha256": artifact.sha256,
        "frame": artifact.frame,
        "taskId": artifact.task_id,
        "url": format!("/api/v1/jobs/{job_id}/artifacts/{}", artifact.name),
    })
}
