//! The task ledger: leasing tasks to workers by the job ordering, fencing
//! reports by attempt, completing attempts (their staged artifacts become
//! the job's), the failure ladder (retries, blocklists, the failure
//! threshold), and the sweeper (lost workers, task timeouts).

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
                matches!(j.state, JobState::Queued | JobState::Active)
                    && !j.queued.is_empty()
                    && !j.blocklist.iter().any(|b| b == id)
                    && tags_match(&worker_tags, &j.tags)
                    && (is_local || !j.local_only)
            })
            .collect();
        match self.config.ordering {
            Ordering::Priority => {
                candidates.sort_by_key(|j| (std::cmp::Reverse(j.priority), j.seq));
            }
            Ordering::OldestFirst => candidates.sort_by_key(|j| j.seq),
            Ordering::NewestFirst => candidates.sort_by_key(|j| std::cmp::Reverse(j.seq)),
            Ordering::Random => candidates.shuffle(&mut rand::rng()),
        }
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

    /// Fails an attempt: the task is retried or, out of retries, fails its job.
    pub fn fail(
        &self,
        task_id: &str,
        worker_id: &str,
        attempt: u32,
        error: &str,
    ) -> Result<(), JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (job, idx) = Self::held(state, task_id, Some(worker_id), attempt)?;
        let job_id = job.id.clone();
        let error: String = error.chars().take(4096).collect();
        self.task_failed(state, &job_id, idx, &error)
    }

    /// Records a failure of the running task `idx` of `job_id`.
    pub(super) fn task_failed(
        &self,
        state: &mut State,
        job_id: &str,
        idx: usize,
        error: &str,
    ) -> Result<(), JobError> {
        let State {
            store,
            jobs,
            workers,
            unsaved,
            ..
        } = state;
        let Some(job) = jobs.get_mut(job_id) else {
            return Ok(());
        };
        let task = &mut job.tasks[idx];
        let worker_id = task.worker.clone().unwrap_or_default();
        if let Some(cancel) = task.cancel.take() {
            cancel.cancel();
        }
        task.failures.push(Failure {
            worker: worker_id.clone(),
            attempt: task.attempt,
            error: error.to_string(),
        });
        task.tries_failed = task.tries_failed.saturating_add(1);
        // When the task is tried again, the frames this attempt finished
        // before it failed are kept: their artifacts become the job's and the
        // next attempt starts after them.
        let retrying = task.failures.len() <= job.max_retries as usize;
        let first = task.resume_from.unwrap_or(task.frame_start);
        let keep_below = first + i64::from(task.frames_finished);
        let keeping = retrying && task.frames_finished > 0 && keep_below <= task.frame_end;
        let dest = self.artifact_dir(job_id);
        let mut kept = Vec::new();
        for staged in std::mem::take(&mut task.staged) {
            let from = self.staged_path(&task.id, task.attempt, &staged.name);
            let clash = job
                .artifacts
                .get(&staged.name)
                .is_some_and(|old| old.task_id != staged.task_id);
            if keeping
                && staged.frame < keep_below
                && !clash
                && std::fs::rename(&from, dest.join(&staged.name)).is_ok()
            {
                let _ = std::fs::remove_file(meta_path(&from));
                kept.push(staged);
            } else {
                self.remove_staged(&task.id, task.attempt, &staged.name);
            }
        }
        if keeping {
            task.resume_from = Some(keep_below);
        }
        let kept_note = keeping.then(|| {
            format!(
                "kept frames {first}-{} of that attempt; the next one starts at frame {keep_below}",
                keep_below - 1
            )
        });
        let kept_names: Vec<String> = kept.iter().map(|a| a.name.clone()).collect();
        for artifact in kept {
            job.artifacts.insert(artifact.name.clone(), artifact);
        }
        let failures = task.failures.len();
        let label = task.frames_label();
        let task_id = task.id.clone();
        let worker_name = match workers.get_mut(&worker_id) {
            Some(w) => {
                w.active.remove(&task_id);
                w.tasks_failed += 1;
                w.name.clone()
            }
            None => worker_id.clone(),
        };
        let message = format!(
            "frames {label} failed on worker {worker_name} (attempt {}): {error}",
            job.tasks[idx].attempt
        );
        job.push_error(message.clone());
        job.log_line("error", &message);
        if let Some(note) = &kept_note {
            job.log_line("info", note);
        }
        let count = {
            let count = job.worker_failures.entry(worker_id.clone()).or_insert(0);
            *count += 1;
            *count
        };
        if count >= self.config.blocklist_after && !job.blocklist.contains(&worker_id) {
            job.blocklist.push(worker_id.clone());
            job.log_line(
                "warn",
                &format!(
                    "worker {worker_name} blocklisted for this job after {count} failed tasks"
                ),
            );
        }
        let mut touched = vec![idx];
        if failures > job.max_retries as usize {
            job.set_task_state(idx, TaskState::Failed);
            job.tasks[idx].finished_ms = Some(now_ms());
            job.tasks[idx].worker = None;
            let times = match failures {
                1 => "once".to_string(),
                n => format!("{n} times"),
            };
            let reason = format!(
                "frames {label} failed {times} (maxRetries {}); last error: {error}",
                job.max_retries
            );
            if job.failures_tolerated() {
                let failed = job.counts[TaskState::Failed.slot()];
                let note = format!(
                    "{reason}; the job goes on ({failed} of {} tasks failed, failureThreshold {}%)",
                    job.tasks.len(),
                    job.failure_threshold
                );
                job.push_error(note.clone());
                job.log_line("warn", &note);
                if job.state != JobState::Paused {
                    job.state = job.derived_state();
                    if job.state.is_terminal() {
                        job.finished_ms = Some(now_ms());
                        let frames = job.failed_frames().join(", ");
                        job.log_line("warn", &format!("completed without frames {frames}"));
                    }
                }
            } else {
                touched.extend(job.fail_job(&reason, workers));
            }
        } else {
            job.set_task_state(idx, TaskState::Queued);
            self.task_metrics.retries.inc();
            job.tasks[idx].worker = None;
            job.tasks[idx].progress = 0.0;
            // Nobody left who may run it: fail now instead of waiting forever.
            let runnable = workers.values().any(|w| {
                w.state == WorkerState::Online
                    && !job.blocklist.contains(&w.id)
                    && tags_match(&w.tags, &job.tags)
            });
            if !runnable && !job.blocklist.is_empty() {
                let reason = format!(
                    "no worker may run frames {label}: every worker that can take this job is blocklisted (last error: {error})"
                );
                touched.extend(job.fail_job(&reason, workers));
            } else if job.state != JobState::Paused {
                job.state = job.derived_state();
            }
        }
        job.updated_ms = now_ms();
        // The failed task's row now; the job's other (canceled) tasks later
        // if there are many: an ended job's rows load as canceled anyway.
        let mut touched = Self::now_or_later(unsaved, job, touched);
        if touched.is_empty() {
            touched.push(idx);
        }
        let job = &*job;
        store
            .write(|tx| {
                tx.job(job)?;
                for &i in &touched {
                    tx.task(&job.tasks[i])?;
                }
                for name in &kept_names {
                    if let Some(artifact) = job.artifacts.get(name) {
                        tx.artifact(&job.id, artifact)?;
                    }
                }
                Ok(())
            })
            .map_err(storage)?;
        for &i in &touched {
            self.emit_task(&job.tasks[i]);
        }
        self.emit_job(job);
        self.work.notify_waiters();
        Ok(())
    }

    /// Marks silent workers lost and fails tasks past their timeout; the
    /// hub calls it a few times a second.
    pub fn sweep(&self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        for job in state.jobs.values_mut() {
            if job.state.is_terminal() && job.log.file.is_some() {
                job.log.file = None; // reopened if the job is requeued
            }
        }
        let now = Instant::now();
        let lease = self.config.lease;
        let mut failed: Vec<(String, usize, String)> = Vec::new();
        let mut lost = Vec::new();
        for worker in state.workers.values_mut() {
            if worker.local || worker.state != WorkerState::Online {
                continue;
            }
            if worker.seen.is_none_or(|t| now.duration_since(t) > lease) {
                worker.state = WorkerState::Lost;
                lost.push(worker.id.clone());
                for task_id in &worker.active {
                    if let Some((job_id, idx)) = state.tasks.get(task_id) {
                        failed.push((
                            job_id.clone(),
                            *idx,
                            format!(
                                "worker {} lost: no heartbeat for {} ms",
                                worker.name,
                                lease.as_millis()
                            ),
                        ));
                    }
                }
            }
        }
        for job in state.jobs.values() {
            for &idx in &job.active {
                let task = &job.tasks[idx];
                let limit = Duration::from_millis(job.task_timeout_ms);
                if task
                    .started_at
                    .is_some_and(|t| now.duration_since(t) > limit)
                    && !failed.iter().any(|(j, i, _)| *j == job.id && *i == idx)
                {
                    failed.push((
                        job.id.clone(),
                        idx,
                        format!("timed out after {} ms", job.task_timeout_ms),
                    ));
                }
            }
        }
        for (job_id, idx, error) in failed {
            // Tell a remote worker to stop a task it may still be running.
            if let Some(job) = state.jobs.get(&job_id)
                && let Some(w) = job.tasks[idx].worker.clone()
                && let Some(worker) = state.workers.get_mut(&w)
            {
                worker
                    .cancel
                    .insert(job.tasks[idx].id.clone(), error.clone());
            }
            if let Err(e) = self.task_failed(state, &job_id, idx, &error) {
                tracing::error!(error = %e, "cannot record a task failure");
            }
        }
        for id in lost {
            if let Some(worker) = state.workers.get(&id) {
                tracing::warn!(worker = %id, name = %worker.name, "worker lost");
                if let Err(e) = state.store.write(|tx| tx.worker(worker)) {
                    tracing::error!(error = %e, "job store");
                }
                self.emit_worker(worker);
            }
        }
    }

    /// Starts the sweeper (lost workers, task timeouts).
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(jobs) = weak.upgrade() else { break };
                jobs.sweep();
                // Rows a failed big job left unsaved, a batch a tick.
                if let Err(e) = jobs.save_unsaved(Some(1)) {
                    tracing::error!(error = %e, "job store");
                }
            }
        });
    }
}
