//! The worker registry: registering (and attaching a known worker again),
//! listing, steering and signing off workers, their heartbeats, and job
//! blocklists.

use std::time::Instant;

use serde_json::Value;

use super::*;

impl JobManager {
    /// Registers a remote worker.
    ///
    /// A worker that names its `id` (a stable one, kept on its machine) and
    /// is known is attached again under it: its counters, its place in job
    /// blocklists and an operator's `disabled` stay, and tasks its earlier
    /// run still held fail (that run is gone). Otherwise it gets a new id.
    pub fn register(
        &self,
        name: &str,
        slots: usize,
        tags: Vec<String>,
        id: Option<&str>,
        version: &str,
    ) -> Result<Value, JobError> {
        if let Some(id) = id
            && (id.is_empty()
                || id.len() > 64
                || id == LOCAL_WORKER
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(JobError::BadRequest(format!(
                "worker id {id:?}: use 1-64 letters, digits, '-' or '_'"
            )));
        }
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(JobError::BadRequest(
                "worker name: 1-128 printable characters".into(),
            ));
        }
        if slots == 0 || slots > 1024 {
            return Err(JobError::BadRequest("slots must be 1..=1024".into()));
        }
        check_tags(&tags)?;
        if let Some(id) = id
            && self.lock().workers.contains_key(id)
        {
            return self.reattach(id, name, slots, tags, version);
        }
        let id = id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        let mut worker = Worker::new(id, name, slots, tags, false);
        worker.version = version.to_string();
        let mut state = self.lock();
        state
            .store
            .write(|tx| tx.worker(&worker))
            .map_err(storage)?;
        let body = self.registered(&worker);
        self.emit_worker(&worker);
        tracing::info!(worker = %worker.id, name = %worker.name, slots, "worker registered");
        state.workers.insert(worker.id.clone(), worker);
        drop(state);
        self.work.notify_waiters();
        Ok(body)
    }

    /// The answer to a registration: the worker, its lease and heartbeat.
    fn registered(&self, worker: &Worker) -> Value {
        let reply = crate::wire::Worker {
            lease_ms: Some(self.config.lease.as_millis() as u64),
            heartbeat_ms: Some(self.config.heartbeat.as_millis() as u64),
            ..view::wire_worker(worker)
        };
        crate::wire::to_json(reply)
    }

    /// Attaches a known worker again (see [`register`](Self::register)).
    fn reattach(
        &self,
        id: &str,
        name: &str,
        slots: usize,
        tags: Vec<String>,
        version: &str,
    ) -> Result<Value, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(worker) = state.workers.get_mut(id) else {
            return Err(JobError::NotFound(unknown_worker(id)));
        };
        let held: Vec<String> = std::mem::take(&mut worker.active).into_iter().collect();
        worker.name = name.to_string();
        worker.slots = slots;
        worker.tags = tags;
        worker.version = version.to_string();
        worker.state = WorkerState::Online;
        if worker.status == WorkerStatus::Draining {
            worker.status = WorkerStatus::Enabled;
        }
        worker.seen = Some(Instant::now());
        worker.last_seen_ms = now_ms();
        worker.cancel.clear();
        let worker_name = worker.name.clone();
        for task_id in &held {
            if let Some((job_id, idx)) = state.tasks.get(task_id).cloned() {
                let error = format!(
                    "worker {worker_name} started again: its earlier run, which held this task, is gone"
                );
                if let Err(e) = self.task_failed(state, &job_id, idx, &error) {
                    tracing::error!(error = %e, "cannot record a task failure");
                }
            }
        }
        let worker = state
            .workers
            .get(id)
            .ok_or_else(|| JobError::NotFound(unknown_worker(id)))?;
        state.store.write(|tx| tx.worker(worker)).map_err(storage)?;
        let body = self.registered(worker);
        self.emit_worker(worker);
        tracing::info!(worker = %id, name = %worker_name, slots, "worker attached again");
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Takes `worker` (or, with `None`, every worker) off job `id`'s
    /// blocklist, so it may take the job's tasks again.
    pub fn unblock(&self, id: &str, worker: Option<&str>) -> Result<Value, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let job = state.jobs.get_mut(id).ok_or_else(|| Self::not_found(id))?;
        let before = job.blocklist.len();
        match worker {
            Some(w) => job.blocklist.retain(|b| b != w),
            None => job.blocklist.clear(),
        }
        if let Some(w) = worker
            && job.blocklist.len() == before
        {
            return Err(JobError::NotFound(format!(
                "worker {w} is not on the blocklist of job {id}"
            )));
        }
        job.updated_ms = now_ms();
        state.store.write(|tx| tx.job(job)).map_err(storage)?;
        job.log_line(
            "info",
            &match worker {
                Some(w) => format!("worker {w} taken off the blocklist"),
                None => "blocklist cleared".to_string(),
            },
        );
        self.emit_job(job);
        let body = job_view(job, &state.workers);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Every worker.
    pub fn workers(&self) -> Vec<Value> {
        self.lock().workers.values().map(view::worker).collect()
    }

    /// One worker.
    pub fn worker(&self, id: &str) -> Result<Value, JobError> {
        self.lock()
            .workers
            .get(id)
            .map(view::worker)
            .ok_or_else(|| JobError::NotFound(format!("Worker {id} not found")))
    }

    /// Enables, disables or drains a worker.
    pub fn set_worker_status(&self, id: &str, status: WorkerStatus) -> Result<Value, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let worker = state
            .workers
            .get_mut(id)
            .ok_or_else(|| JobError::NotFound(format!("Worker {id} not found")))?;
        if worker.shared {
            return Err(shared_worker(id));
        }
        worker.status = status;
        state.store.write(|tx| tx.worker(worker)).map_err(storage)?;
        self.emit_worker(worker);
        let body = view::worker(worker);
        drop(guard);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Signs a worker off: its running tasks go back to the queue.
    pub fn remove_worker(&self, id: &str) -> Result<(), JobError> {
        if id == LOCAL_WORKER {
            return Err(JobError::Conflict(
                "the hub's own slots cannot be removed; start it with --slots 0".into(),
            ));
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.workers.get(id).is_some_and(|w| w.shared) {
            return Err(shared_worker(id));
        }
        let mut worker = state
            .workers
            .remove(id)
            .ok_or_else(|| JobError::NotFound(format!("Worker {id} not found")))?;
        let active: Vec<String> = worker.active.iter().cloned().collect();
        let mut touched = Vec::new();
        for task_id in active {
            if let Some((job_id, idx)) = state.tasks.get(&task_id).cloned()
                && let Some(job) = state.jobs.get_mut(&job_id)
            {
                let task = &job.tasks[idx];
                for staged in &task.staged {
                    self.remove_staged(&task.id, task.attempt, &staged.name);
                }
                job.requeue_task(idx, &mut worker);
                job.log_line(
                    "info",
                    &format!(
                        "frames {} requeued without a failure: worker {} signed off",
                        job.tasks[idx].frames_label(),
                        worker.name
                    ),
                );
                touched.push((job_id, idx));
            }
        }
        worker.state = WorkerState::Offline;
        state
            .store
            .write(|tx| {
                tx.delete_worker(id)?;
                for (job_id, idx) in &touched {
                    if let Some(job) = state.jobs.get(job_id) {
                        tx.task(&job.tasks[*idx])?;
                        tx.job(job)?;
                    }
                }
                Ok(())
            })
            .map_err(storage)?;
        self.emit_worker(&worker);
        drop(guard);
        self.work.notify_waiters();
        Ok(())
    }

    /// Records a heartbeat: extends the worker's lease, takes progress and
    /// log lines, and answers which tasks must stop.
    pub fn heartbeat(
        &self,
        id: &str,
        reports: Vec<TaskReport>,
    ) -> Result<HeartbeatReply, JobError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let worker = seen_worker(&mut state.workers, id)
            .ok_or_else(|| JobError::NotFound(unknown_worker(id)))?;
        let mut reasons = std::mem::take(&mut worker.cancel);
        let mut cancel: Vec<String> = reasons.keys().cloned().collect();
        let drain = worker.status == WorkerStatus::Draining;
        for report in reports {
            let held = state.tasks.get(&report.task_id).and_then(|(job_id, idx)| {
                let job = state.jobs.get_mut(job_id)?;
                let task = &job.tasks[*idx];
                (task.state == TaskState::Active
                    && task.attempt == report.attempt
                    && task.worker.as_deref() == Some(id))
                .then_some((job, *idx))
            });
            match held {
                Some((job, idx)) => {
                    if let Some(p) = report.progress {
                        job.tasks[idx].progress = p.clamp(0.0, 1.0);
                    }
                    if let Some(done) = report.frames_done {
                        let task = &mut job.tasks[idx];
                        task.frames_finished = task.frames_finished.max(done);
                    }
                    for line in report.log.iter().take(1000) {
                        let line: String = line.chars().take(4096).collect();
                        job.log_line(
                            "plugin",
                            &format!("[{}] {line}", job.tasks[idx].frames_label()),
                        );
                    }
                    if report.progress.is_some() {
                        self.progress_event(job);
                    }
                }
                None => {
                    if !cancel.contains(&report.task_id) {
                        cancel.push(report.task_id);
                    }
                }
            }
        }
        for id in &cancel {
            reasons
                .entry(id.clone())
                .or_insert_with(|| "this worker no longer holds it".to_string());
        }
        Ok(HeartbeatReply {
            cancel,
            reasons,
            drain,
        })
    }
}

/// The refusal to steer a worker of a space from a hub.
fn shared_worker(id: &str) -> JobError {
    JobError::Conflict(format!(
        "worker {id} is a worker of the space: it takes tasks from JetStream, not from this hub; stop it (SIGTERM hands its tasks back) or start it with other --tags"
    ))
}
