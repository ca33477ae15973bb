//! Reports of a leased attempt: fencing by attempt, staged artifacts, completing.

use super::*;

impl JobManager {
    /// Checks that `worker` still holds attempt `attempt` of `task_id`.
    pub(super) fn held<'a>(
        state: &'a mut State,
        task_id: &str,
        worker: Option<&str>,
        attempt: u32,
    ) -> Result<(&'a mut Job, usize), JobError> {
        let (job, idx) = state.task_mut(task_id)?;
        let task = &job.tasks[idx];
        if task.state != TaskState::Active
            || task.attempt != attempt
            || worker.is_some_and(|w| task.worker.as_deref() != Some(w))
        {
            return Err(JobError::Conflict(format!(
                "task {task_id} attempt {attempt} is no longer held by worker {} (it is {:?}, attempt {})",
                worker.or(task.worker.as_deref()).unwrap_or("-"),
                task.state,
                task.attempt
            )));
        }
        Ok((job, idx))
    }

    /// Where an attempt's artifact is staged until the attempt completes
    /// (`artifacts/.staging`; on the artifacts' file system, so completing
    /// is one rename). Its index entry waits beside it in a `.meta` file,
    /// so an attempt that outlives a restart of the manager keeps what it
    /// staged; at start everything else there is removed.
    pub(super) fn staged_path(&self, task_id: &str, attempt: u32, name: &str) -> PathBuf {
        self.staging_dir.join(format!("{task_id}-{attempt}-{name}"))
    }

    /// Removes a staged artifact and its index entry.
    pub(super) fn remove_staged(&self, task_id: &str, attempt: u32, name: &str) {
        let path = self.staged_path(task_id, attempt, name);
        let _ = std::fs::remove_file(meta_path(&path));
        let _ = std::fs::remove_file(path);
    }

    /// Completes an attempt: its staged artifacts become the job's; `usage`
    /// is what its frames used, as the worker measured it.
    pub fn complete(
        &self,
        task_id: &str,
        worker_id: &str,
        attempt: u32,
        usage: Option<TaskUsage>,
    ) -> Result<(), JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (job, idx) = Self::held(state, task_id, Some(worker_id), attempt)?;
        let staged = std::mem::take(&mut job.tasks[idx].staged);
        if let Some(clash) = staged.iter().find(|a| {
            job.artifacts
                .get(&a.name)
                .is_some_and(|old| old.task_id != a.task_id)
        }) {
            let error = format!(
                "artifact {:?} was already produced by another task of this job; artifact names must be unique per job (e.g. include the frame number)",
                clash.name
            );
            // Back on the task, so failing it removes the staged files.
            job.tasks[idx].staged = staged;
            drop(guard);
            return self.fail(task_id, worker_id, attempt, &error);
        }
        let dest = self.artifact_dir(&job.id);
        for artifact in &staged {
            let from = self.staged_path(task_id, attempt, &artifact.name);
            std::fs::rename(&from, dest.join(&artifact.name))?;
            let _ = std::fs::remove_file(meta_path(&from));
        }
        let job_id = job.id.clone();
        let job = state
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| JobError::NotFound("job vanished".into()))?;
        job.set_task_state(idx, TaskState::Completed);
        let task = &mut job.tasks[idx];
        task.progress = 1.0;
        task.finished_ms = Some(now_ms());
        task.usage = usage;
        if let (Some(started), Some(finished)) = (task.started_ms, task.finished_ms) {
            self.task_metrics
                .completed(Duration::from_millis(finished.saturating_sub(started)));
        }
        task.cancel = None;
        let label = task.frames_label();
        let staged_names: Vec<String> = staged.iter().map(|a| a.name.clone()).collect();
        for artifact in staged {
            job.artifacts.insert(artifact.name.clone(), artifact);
        }
        let mut worker_name = worker_id.to_string();
        if let Some(worker) = state.workers.get_mut(worker_id) {
            worker.active.remove(task_id);
            worker.tasks_completed += 1;
            worker_name = worker.name.clone();
        }
        job.state = job.derived_state();
        job.updated_ms = now_ms();
        if job.state == JobState::Completed {
            job.finished_ms = Some(now_ms());
        }
        let job = &*job;
        state
            .store
            .write(|tx| {
                tx.task(&job.tasks[idx])?;
                // Counts and progress are derived from the tasks on load;
                // the job row changes only with the job's state.
                if job.state == JobState::Completed {
                    tx.job(job)?;
                }
                for artifact in &staged_names {
                    if let Some(artifact) = job.artifacts.get(artifact) {
                        tx.artifact(&job.id, artifact)?;
                    }
                }
                Ok(())
            })
            .map_err(storage)?;
        let job = state
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| JobError::NotFound("job vanished".into()))?;
        job.log_line(
            "info",
            &format!("frames {label} completed on worker {worker_name}"),
        );
        if job.state == JobState::Completed {
            job.log_line("info", "job completed");
        }
        self.emit_task(&job.tasks[idx]);
        self.emit_job(job);
        Ok(())
    }
}
