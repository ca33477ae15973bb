//! The sweeper: lost workers and task timeouts, a few times a second.

use super::*;

impl JobManager {
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
            if worker.local || worker.shared || worker.state != WorkerState::Online {
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
