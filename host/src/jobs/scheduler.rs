//! Leasing tasks to workers: the job ordering, tags, grants, blocklists and retries away
//! from the worker a task failed on.

use super::*;

impl JobManager {
    /// Leases the next task to worker `id`, by the configured ordering.
    pub fn pickup(&self, id: &str) -> Result<Option<Lease>, PickupError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let worker = seen_worker(&mut state.workers, id)
            .ok_or_else(|| PickupError::Unknown(unknown_worker(id)))?;
        match worker.status {
            WorkerStatus::Enabled => {}
            WorkerStatus::Disabled => {
                return Err(PickupError::Refused(format!(
                    "worker {} is disabled",
                    worker.name
                )));
            }
            WorkerStatus::Draining => {
                return Err(PickupError::Refused(format!(
                    "worker {} is draining",
                    worker.name
                )));
            }
        }
        if worker.active.len() >= worker.slots {
            return Ok(None);
        }
        let worker_tags = worker.tags.clone();
        let is_local = worker.local;
        let mut candidates: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| {
                !j.shared
                    && matches!(j.state, JobState::Queued | JobState::Active)
                    && !j.queued.is_empty()
                    && !j.blocklist.iter().any(|b| b == id)
                    && tags_match(&worker_tags, &j.tags)
                    && (is_local || !j.local_only)
            })
            .collect();
        space::order_jobs(self.config.ordering, &mut candidates);
        let mut chosen = None;
        for job in candidates {
            // A task that failed on this worker goes to another one when some
            // other online worker could take it.
            let pick = job.queued.iter().take(64).copied().find(|&idx| {
                let task = &job.tasks[idx];
                !task.failures.iter().any(|f| f.worker == id)
                    || !state.workers.values().any(|w| {
                        w.id != id
                            && w.state == WorkerState::Online
                            && w.status == WorkerStatus::Enabled
                            && !job.blocklist.contains(&w.id)
                            && tags_match(&w.tags, &job.tags)
                            && !task.failures.iter().any(|f| f.worker == w.id)
                    })
            });
            if let Some(idx) = pick {
                chosen = Some((job.id.clone(), idx));
                break;
            }
        }
        let Some((job_id, idx)) = chosen else {
            return Ok(None);
        };
        let (Some(job), Some(worker)) = (state.jobs.get_mut(&job_id), state.workers.get_mut(id))
        else {
            return Ok(None);
        };
        let cancel = CancellationToken::new();
        let from = job.state;
        job.set_task_state(idx, TaskState::Active);
        let task = &mut job.tasks[idx];
        task.attempt += 1;
        task.worker = Some(id.to_string());
        task.progress = 0.0;
        task.started_ms = Some(now_ms());
        task.usage = None;
        task.frames_finished = 0;
        task.finished_ms = None;
        task.started_at = Some(Instant::now());
        task.cancel = Some(cancel.clone());
        task.staged.clear();
        worker.active.insert(task.id.clone());
        let lease = Lease {
            task_id: task.id.clone(),
            spec: TaskSpec {
                job_id: job.id.clone(),
                attempt: task.attempt,
                frame_attempt: task.tries_failed.saturating_add(1),
                frame_start: task.resume_from.unwrap_or(task.frame_start),
                frame_end: task.frame_end,
                settings: job.merged_settings.clone(),
                timeout: Duration::from_millis(job.task_timeout_ms),
            },
            package_id: job.package_id.clone(),
            digest: job.digest.clone(),
            cancel,
        };
        job.state = JobState::Active;
        if job.started_ms.is_none() {
            job.started_ms = Some(now_ms());
        }
        job.updated_ms = now_ms();
        let worker_name = worker.name.clone();
        let job = &*job;
        state
            .store
            .write(|tx| {
                tx.task(&job.tasks[idx])?;
                if from != job.state {
                    tx.job(job)?;
                }
                Ok(())
            })
            .map_err(|e| PickupError::Storage(storage(e)))?;
        let job = state
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| PickupError::Storage(JobError::NotFound("job vanished".into())))?;
        job.log_line(
            "info",
            &format!(
                "frames {} started on worker {worker_name} (attempt {})",
                job.tasks[idx].frames_label(),
                lease.spec.attempt
            ),
        );
        self.emit_task(&job.tasks[idx]);
        if from != job.state {
            self.emit_job(job);
        }
        Ok(Some(lease))
    }
}

/// The online worker `id`, marked as seen now (a pickup or heartbeat).
pub(super) fn seen_worker<'a>(
    workers: &'a mut BTreeMap<String, Worker>,
    id: &str,
) -> Option<&'a mut Worker> {
    let worker = workers
        .get_mut(id)
        .filter(|w| w.state == WorkerState::Online)?;
    worker.seen = Some(Instant::now());
    worker.last_seen_ms = now_ms();
    Some(worker)
}

pub(super) fn unknown_worker(id: &str) -> String {
    format!("Worker {id} is not registered (or was lost); register again")
}

/// Whether a worker with `worker_tags` may take a job tagged `job_tags` (as
/// in Flamenco): a job with tags runs only on workers having every one of
/// them; a job without tags runs anywhere, so an untagged worker takes only
/// untagged jobs.
pub(super) fn tags_match(worker_tags: &[String], job_tags: &[String]) -> bool {
    job_tags.iter().all(|t| worker_tags.contains(t))
}
