//! How an attempt of a task ends: completed (kept only while its record names it),
//! stopped (its job paused, canceled or deleted, or the machine stopping), or failed
//! (retried with a backoff, blocklisting its worker past the limit, failing the job out
//! of tries).

use async_nats::jetstream::AckKind;

use super::dispatch::Take;
use super::*;
use crate::jobs::{
    ArtifactMeta, Failure, Job, JobManager, JobState, Task, TaskState, TaskUsage, now_ms,
};

impl SpaceJobs {
    /// Keeps a finished attempt's result while the task's record names the attempt.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn complete(
        &self,
        jobs: &Arc<JobManager>,
        job_id: &str,
        index: usize,
        attempt: u32,
        stored: Vec<ArtifactMeta>,
        usage: TaskUsage,
        message: &jetstream::Message,
        worker: &str,
        label: &str,
    ) {
        let key = task_key(job_id, index);
        let artifacts = stored.clone();
        let kept = self
            .modify::<Task, ()>(
                &key,
                || None,
                |task| {
                    if task.attempt != attempt || task.state != TaskState::Active {
                        return Ok(None);
                    }
                    task.state = TaskState::Completed;
                    task.progress = 1.0;
                    task.finished_ms = Some(now_ms());
                    task.usage = Some(usage);
                    task.stored = artifacts.clone();
                    Ok(Some(()))
                },
            )
            .await;
        match kept {
            Ok((task, Some(()))) => {
                self.applied(jobs, &key, &task);
                // The record is the truth: an ack lost on the way redelivers the message
                // to a slot that finds the task completed and acks it then.
                let _ = message.ack().await;
                self.log(
                    job_id,
                    "info",
                    &format!("frames {label} completed on worker {worker}"),
                );
            }
            Ok((_, None)) | Err(_) => {
                // Another attempt has it (or it was stopped): this result is not kept.
                self.drop_objects(&stored).await;
                self.log(job_id, "warn", &format!("frames {label}: a late result of attempt {attempt} from worker {worker} was dropped"));
            }
        }
    }

    /// A stopped attempt: back to the queue when its job was paused (or the machine is
    /// stopping), canceled with its job, nothing when another attempt has it.
    pub(super) async fn stopped(
        &self,
        jobs: &Arc<JobManager>,
        job_id: &str,
        index: usize,
        attempt: u32,
        message: &jetstream::Message,
    ) {
        let why = jobs.stopped_because(job_id);
        let back = matches!(
            why,
            Some(JobState::Paused | JobState::Queued | JobState::Active)
        );
        let key = task_key(job_id, index);
        let changed = self
            .modify::<Task, ()>(
                &key,
                || None,
                |task| {
                    if task.attempt != attempt || task.state != TaskState::Active {
                        return Ok(None);
                    }
                    task.state = if back {
                        TaskState::Queued
                    } else {
                        TaskState::Canceled
                    };
                    task.progress = 0.0;
                    task.worker = None;
                    if !back {
                        task.finished_ms = Some(now_ms());
                    }
                    Ok(Some(()))
                },
            )
            .await;
        if let Ok((task, Some(()))) = &changed {
            self.applied(jobs, &key, task);
        }
        let ack = if back {
            AckKind::Nak(None)
        } else {
            AckKind::Term
        };
        if changed.is_ok_and(|(_, c)| c.is_some()) || !back {
            let _ = message.ack_with(ack).await;
        }
    }

    /// A failed attempt: retried after a backoff while it has tries left, else failed
    /// (and its job with it, past the job's failure threshold). The worker may be
    /// blocklisted for the job.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fail(
        &self,
        jobs: &Arc<JobManager>,
        job_id: &str,
        index: usize,
        attempt: u32,
        worker: &str,
        error: &str,
        message: &jetstream::Message,
    ) {
        let key = task_key(job_id, index);
        let max_retries = jobs.plan(job_id, index).map_or(0, |p| p.max_retries);
        let failed = self
            .modify::<Task, ()>(
                &key,
                || None,
                |task| {
                    if task.attempt != attempt || task.state != TaskState::Active {
                        return Ok(None);
                    }
                    record_failure(task, worker, attempt, error, max_retries);
                    Ok(Some(()))
                },
            )
            .await;
        let Ok((task, Some(()))) = failed else {
            return; // another attempt has it
        };
        self.applied(jobs, &key, &task);
        self.log(
            job_id,
            "warn",
            &format!(
                "frames {} failed on worker {worker} (attempt {attempt}): {error}",
                frames_label(&task)
            ),
        );
        self.count_failure(jobs, job_id, worker).await;
        if task.state == TaskState::Failed {
            let _ = message.ack_with(AckKind::Term).await;
            self.task_failed_for_good(jobs, job_id, &task).await;
        } else {
            let wait =
                Duration::from_millis(500 << task.tries_failed.min(6)).min(Duration::from_secs(30));
            let _ = message.ack_with(AckKind::Nak(Some(wait))).await;
        }
    }

    /// Counts a failure of `worker` on the job, blocklisting it past the limit.
    pub(super) async fn count_failure(&self, jobs: &JobManager, job_id: &str, worker: &str) {
        let limit = jobs
            .with_job(job_id, |j| j.blocklist_after)
            .ok()
            .flatten()
            .unwrap_or(jobs.config().blocklist_after)
            .max(1);
        let mut blocked = false;
        let _ = self
            .change_job_quietly(jobs, job_id, |job| {
                let count = job.worker_failures.entry(worker.to_string()).or_insert(0);
                *count += 1;
                blocked = *count >= limit && !job.blocklist.iter().any(|w| w == worker);
                if blocked {
                    job.blocklist.push(worker.to_string());
                }
                Ok(Some(()))
            })
            .await;
        if blocked {
            self.log(
                job_id,
                "warn",
                &format!("worker {worker} blocklisted for this job after {limit} failed tasks"),
            );
        }
    }

    /// A task out of tries: the job fails unless its failure threshold allows it.
    pub(super) async fn task_failed_for_good(
        &self,
        jobs: &Arc<JobManager>,
        job_id: &str,
        task: &Task,
    ) {
        let tolerated = jobs
            .with_job(job_id, |job| job.failures_tolerated())
            .unwrap_or(false);
        if tolerated {
            return; // the mirrors write its end once every task has ended
        }
        let reason = failure_reason(task);
        let failed = self
            .change_job_quietly(jobs, job_id, |job| {
                if job.state.is_terminal() {
                    // A mirror wrote the end first: the reason is still the job's.
                    if job.state == JobState::Failed && !job.errors.contains(&reason) {
                        job.errors.push(reason.clone());
                        return Ok(Some(()));
                    }
                    return Ok(None);
                }
                job.state = JobState::Failed;
                job.finished_ms = Some(now_ms());
                job.errors.push(reason.clone());
                Ok(Some(()))
            })
            .await;
        if failed.is_ok_and(|changed| changed) {
            self.dequeue_all(job_id).await;
            self.log(job_id, "error", &format!("job failed: {reason}"));
        }
    }

    /// Changes the job's record (as `change_job`), saying whether it changed.
    pub(super) async fn change_job_quietly(
        &self,
        jobs: &JobManager,
        job_id: &str,
        mut change: impl FnMut(&mut Job) -> Result<Option<()>, JobError>,
    ) -> Result<bool, JobError> {
        let key = job_key(job_id);
        let (job, changed) = self
            .modify::<Job, ()>(
                &key,
                || None,
                |job| {
                    let said = change(job)?;
                    job.updated_ms = now_ms();
                    Ok(said)
                },
            )
            .await?;
        if changed.is_some()
            && let Ok(record) = serde_json::to_vec(&job)
        {
            jobs.apply_space(&key, Some(&record));
        }
        Ok(changed.is_some())
    }
}

/// Takes a task's record for a new attempt by `worker`. A record still active is an
/// attempt whose worker lost the lease: a failed try.
pub(super) fn take(task: &mut Task, worker: &str, max_retries: u32, lease: Duration) -> Take {
    match task.state {
        TaskState::Completed | TaskState::Failed | TaskState::Canceled => return Take::Done,
        TaskState::Active => {
            let lost = task.worker.clone().unwrap_or_default();
            let error = format!(
                "worker {lost} lost: no heartbeat within the lease ({} ms)",
                lease.as_millis()
            );
            record_failure(task, &lost, task.attempt, &error, max_retries);
            if task.state == TaskState::Failed {
                return Take::Exhausted;
            }
        }
        TaskState::Queued => {}
    }
    task.attempt += 1;
    task.state = TaskState::Active;
    task.worker = Some(worker.to_string());
    task.progress = 0.0;
    task.started_ms = Some(now_ms());
    task.finished_ms = None;
    task.usage = None;
    task.stored.clear();
    Take::Run(task.attempt)
}

/// Records a failed try; out of tries, the task fails.
fn record_failure(task: &mut Task, worker: &str, attempt: u32, error: &str, max_retries: u32) {
    task.failures.push(Failure {
        worker: worker.to_string(),
        attempt,
        error: error.chars().take(2000).collect(),
    });
    task.tries_failed += 1;
    task.progress = 0.0;
    task.worker = None;
    if task.tries_failed > max_retries {
        task.state = TaskState::Failed;
        task.finished_ms = Some(now_ms());
    } else {
        task.state = TaskState::Queued;
    }
}

/// Why a task out of tries fails its job.
pub(super) fn failure_reason(task: &Task) -> String {
    format!(
        "frames {} failed {} times: {}",
        task.frames_label(),
        task.failures.len(),
        task.failures.last().map_or("", |f| f.error.as_str())
    )
}

pub(super) fn frames_label(task: &Task) -> String {
    task.frames_label()
}
