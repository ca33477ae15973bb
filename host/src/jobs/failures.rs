//! The failure ladder (after Flamenco): retries on another worker, kept frames, blocklists,
//! the failure threshold, failing the job.

use super::*;

impl JobManager {
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
}
