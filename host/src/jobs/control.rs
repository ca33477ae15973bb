//! Controlling jobs: patch, cancel, pause, resume, requeue (a job or one task), delete.

use super::*;

impl JobManager {
    /// Changes priority and tags.
    pub fn patch(&self, id: &str, patch: PatchJob) -> Result<Value, JobError> {
        if let Some(tags) = &patch.tags {
            check_tags(tags)?;
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
        if let Some(p) = patch.priority {
            job.priority = p;
        }
        if let Some(tags) = patch.tags {
            job.tags = tags;
        }
        job.updated_ms = now_ms();
        state.store.write(|tx| tx.job(job)).map_err(storage)?;
        job.log_line(
            "info",
            &format!("priority {}, tags {:?}", job.priority, job.tags),
        );
        self.emit_job(job);
        let body = view::job(job);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Cancels, pauses, resumes or requeues a job. A requeue is refused
    /// when `stored(package_id, digest)` says the job's package is gone.
    /// Blocks while a big job's task rows are written (off async threads).
    pub fn control(
        &self,
        id: &str,
        action: JobAction,
        stored: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Value, JobError> {
        let body = self.control_now(id, action, stored)?;
        self.save_unsaved(None)?;
        Ok(body)
    }

    fn control_now(
        &self,
        id: &str,
        action: JobAction,
        stored: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Value, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
        let from = job.state;
        let refuse = |what: &str| {
            Err(JobError::Conflict(format!(
                "cannot {} job {id}: it is {} ({what})",
                action.as_str(),
                from.as_str()
            )))
        };
        let mut changed_tasks = Vec::new();
        match action {
            JobAction::Cancel => {
                if from.is_terminal() {
                    return refuse("only queued, active or paused jobs can be canceled");
                }
                changed_tasks = job.cancel_tasks(&mut state.workers, "the job was canceled");
                job.state = JobState::Canceled;
                job.finished_ms = Some(now_ms());
            }
            JobAction::Pause => {
                if !matches!(from, JobState::Queued | JobState::Active) {
                    return refuse("only queued or active jobs can be paused");
                }
                changed_tasks =
                    job.stop_active_tasks_to_queue(&mut state.workers, "the job was paused");
                job.state = JobState::Paused;
            }
            JobAction::Resume => {
                if from != JobState::Paused {
                    return refuse("only paused jobs can be resumed");
                }
                job.state = job.derived_state();
            }
            JobAction::Requeue => {
                if !from.is_terminal() {
                    return refuse("only completed, failed or canceled jobs can be requeued");
                }
                job.check_package(stored)?;
                let all = from == JobState::Completed;
                for task in &mut job.tasks {
                    if all || task.state != TaskState::Completed {
                        task.state = TaskState::Queued;
                        task.failures.clear();
                        task.progress = 0.0;
                        task.worker = None;
                        task.finished_ms = None;
                        task.resume_from = None;
                        changed_tasks.push(task.index);
                    }
                }
                job.blocklist.clear();
                job.worker_failures.clear();
                job.errors.clear();
                job.finished_ms = None;
                job.rebuild_indexes();
                job.state = job.derived_state();
            }
        }
        job.updated_ms = now_ms();
        let changed_tasks = Self::now_or_later(&mut state.unsaved, job, changed_tasks);
        state
            .store
            .write(|tx| {
                tx.job(job)?;
                for &i in &changed_tasks {
                    tx.task(&job.tasks[i])?;
                }
                Ok(())
            })
            .map_err(storage)?;
        job.log_line(
            "info",
            &format!(
                "{}: {} → {}",
                action.as_str(),
                from.as_str(),
                job.state.as_str()
            ),
        );
        for &i in &changed_tasks {
            self.emit_task(&job.tasks[i]);
        }
        self.emit_job(job);
        let body = view::job(job);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Queues one task again (to re-render its frames): a completed, failed
    /// or canceled task gets fresh retries; its job runs again. Refused when
    /// `stored(package_id, digest)` says the job's package is gone.
    pub fn requeue_task(
        &self,
        task_id: &str,
        stored: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Value, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (job_id, idx) = state
            .tasks
            .get(task_id)
            .cloned()
            .ok_or_else(|| JobError::NotFound(format!("Task {task_id} not found")))?;
        let job = state
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| JobError::NotFound(format!("Task {task_id} not found")))?;
        let from = job.tasks[idx].state;
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
        job.check_package(stored)?;
        job.set_task_state(idx, TaskState::Queued);
        let task = &mut job.tasks[idx];
        task.failures.clear();
        task.progress = 0.0;
        task.worker = None;
        task.finished_ms = None;
        task.resume_from = None;
        let label = task.frames_label();
        if job.state != JobState::Paused {
            job.state = job.derived_state();
        }
        job.finished_ms = None;
        job.updated_ms = now_ms();
        let job_ref = &*job;
        state
            .store
            .write(|tx| {
                tx.task(&job_ref.tasks[idx])?;
                tx.job(job_ref)
            })
            .map_err(storage)?;
        let job = state
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| JobError::NotFound("job vanished".into()))?;
        job.log_line("info", &format!("frames {label} queued again"));
        self.emit_task(&job.tasks[idx]);
        self.emit_job(job);
        let body = view::task(&job.tasks[idx]);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Deletes a job: stops its tasks, forgets it and removes its rows (a
    /// batch at a time) and artifacts.
    pub async fn delete(self: &Arc<Self>, id: &str) -> Result<(), JobError> {
        let job = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
            for idx in job.active.clone() {
                job.signal_stop(idx, &mut state.workers, "the job was deleted");
            }
            state.store.write(|tx| tx.delete_job(id)).map_err(storage)?;
            self.events.send(
                "job",
                Some(id),
                crate::wire::to_json(crate::wire::Removed {
                    id: id.to_string(),
                    removed: true,
                    extra: serde_json::Map::new(),
                }),
            );
            state.jobs.remove(id)
        };
        let task_ids = job.map_or_else(Vec::new, |job| {
            job.tasks.into_iter().map(|task| task.id).collect()
        });
        let (jobs, job_id) = (self.clone(), id.to_string());
        tokio::task::spawn_blocking(move || jobs.purge(&job_id, task_ids))
            .await
            .map_err(storage)??;
        let _ = tokio::fs::remove_file(self.logs_dir.join(format!("{id}.log"))).await;
        match tokio::fs::remove_dir_all(self.artifact_dir(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
