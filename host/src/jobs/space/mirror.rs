//! Each machine's copy of the space's jobs: a watch of the KV bucket applied to the job
//! manager's memory (and to the hub-wide `/events` feed), and, on hubs, the job logs
//! followed from their stream into the manager's log files.

use std::sync::Weak;
use std::sync::atomic::Ordering as AtomicOrdering;

use futures::StreamExt;

use super::*;
use crate::jobs::frames::ranges;
use crate::jobs::log::JobLog;
use crate::jobs::submit::new_tasks;
use crate::jobs::{FrameSpec, Job, JobManager, JobState, Task, TaskState, Worker, WorkerState};

/// A worker whose record is older than this is shown lost.
const WORKER_SILENT: Duration = Duration::from_secs(6);

impl SpaceJobs {
    /// Applies every record of the bucket, then every change, to `jobs` for its life. The
    /// watch is made again after NATS reconnects, from the last revision seen.
    pub(in crate::jobs) fn spawn_mirror(self: &Arc<Self>, jobs: Weak<JobManager>) {
        let space = self.clone();
        tokio::spawn(async move {
            let mut next = 1;
            let last = match space.kv.status().await {
                Ok(status) => status.info.state.last_sequence,
                Err(_) => 0,
            };
            if last == 0 {
                space.synced.send_replace(true);
            }
            loop {
                let seen = space.reconnects.load(AtomicOrdering::Relaxed);
                let Ok(mut watch) = space.kv.watch_all_from_revision(next).await else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if jobs.upgrade().is_none() {
                        return;
                    }
                    continue;
                };
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        entry = watch.next() => {
                            let Some(Ok(entry)) = entry else { break };
                            next = entry.revision + 1;
                            if entry.revision >= last {
                                space.synced.send_replace(true);
                            }
                            let Some(jobs) = jobs.upgrade() else { return };
                            if space.seen(&entry.key, entry.revision) {
                                let value = (entry.operation == kv::Operation::Put)
                                    .then_some(&entry.value[..]);
                                jobs.apply_space(&entry.key, value);
                                if value.is_none() {
                                    // A deleted key needs no revision kept: any write
                                    // after it has a higher one.
                                    space.unseen(&entry.key);
                                }
                            }
                        }
                        _ = tick.tick() => {
                            let Some(jobs) = jobs.upgrade() else { return };
                            jobs.mark_silent_workers();
                            if space.reconnects.load(AtomicOrdering::Relaxed) != seen {
                                break;
                            }
                        }
                    }
                }
            }
        });
    }

    /// Follows every job's log lines into `jobs`' log files (a hub's copy of them).
    pub(in crate::jobs) fn spawn_log_follower(self: &Arc<Self>, jobs: Weak<JobManager>) {
        let space = self.clone();
        tokio::spawn(async move {
            let mut next = 1;
            loop {
                let consumer = space
                    .js
                    .get_stream(format!("weir-joblog-{}", space.name))
                    .await
                    .map_err(|e| e.to_string());
                let messages = match consumer {
                    Ok(stream) => stream
                        .create_consumer(consumer::pull::OrderedConfig {
                            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                                start_sequence: next,
                            },
                            ..Default::default()
                        })
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                let messages = match messages {
                    Ok(consumer) => consumer.messages().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                let Ok(mut messages) = messages else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if jobs.upgrade().is_none() {
                        return;
                    }
                    continue;
                };
                while let Some(Ok(message)) = messages.next().await {
                    let Some(jobs) = jobs.upgrade() else { return };
                    if let Ok(info) = message.info() {
                        next = info.stream_sequence + 1;
                    }
                    let job = message.subject.rsplit('.').next().unwrap_or_default();
                    jobs.append_space_log(job, &String::from_utf8_lossy(&message.payload));
                }
            }
        });
    }
}

impl JobManager {
    /// Applies a put (`value`) or a deletion (`None`) of record `key` of the space.
    pub(in crate::jobs) fn apply_space(&self, key: &str, value: Option<&[u8]>) {
        fn parse<T: DeserializeOwned>(key: &str, value: &[u8]) -> Option<T> {
            serde_json::from_slice(value)
                .map_err(|e| tracing::warn!(key, error = %e, "space job record unreadable"))
                .ok()
        }
        if let Some(id) = key.strip_prefix("job.") {
            match value.and_then(|v| parse::<Job>(key, v)) {
                Some(job) => self.apply_job(job),
                None if value.is_none() => self.forget_space_job(id),
                None => {}
            }
        } else if let Some(rest) = key.strip_prefix("task.") {
            let Some((job, index)) = rest.rsplit_once('.') else {
                return;
            };
            let Ok(index) = index.parse::<usize>() else {
                return;
            };
            match value {
                Some(v) => {
                    if let Some(task) = parse::<Task>(key, v) {
                        self.apply_task(job, index, Some(task));
                    }
                }
                None => self.apply_task(job, index, None),
            }
        } else if let Some(id) = key.strip_prefix("worker.") {
            let mut state = self.lock();
            match value.and_then(|v| parse::<Worker>(key, v)) {
                Some(mut worker) => {
                    worker.shared = true;
                    worker.seen = Some(std::time::Instant::now());
                    self.emit_worker(&worker);
                    state.workers.insert(worker.id.clone(), worker);
                }
                None => {
                    state.workers.remove(id);
                }
            }
        }
    }

    fn apply_job(&self, record: Job) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let id = record.id.clone();
        let wanted = record.state;
        let mut stashed = Vec::new();
        if let Some(job) = state.jobs.get_mut(&id) {
            let (tasks, log, artifacts) = (
                std::mem::take(&mut job.tasks),
                std::mem::take(&mut job.log),
                std::mem::take(&mut job.artifacts),
            );
            let from = job.state;
            let (queued, active, counts, done) = (
                std::mem::take(&mut job.queued),
                std::mem::take(&mut job.active),
                job.counts,
                job.frames_done,
            );
            *job = Job {
                tasks,
                log,
                artifacts,
                queued,
                active,
                counts,
                frames_done: done,
                shared: true,
                state: from,
                recorded: Some(wanted),
                ..record
            };
            settle(job, from, &mut state.workers);
            self.emit_job(job);
        } else {
            let Some(job) = self.space_job(record) else {
                return;
            };
            for task in &job.tasks {
                state
                    .tasks
                    .insert(task.id.clone(), (id.clone(), task.index));
            }
            self.emit_job(&job);
            state.jobs.insert(id.clone(), job);
            stashed = self.space().map(|s| s.stashed(&id)).unwrap_or_default();
        }
        drop(guard);
        // Its tasks' records that came first.
        for (index, record) in stashed {
            if let Ok(task) = serde_json::from_slice::<Task>(&record) {
                self.apply_task(&id, index, Some(task));
            }
        }
        self.work.notify_waiters();
    }

    /// A job of the space as first seen: its tasks queued (their records, applied next,
    /// say otherwise).
    fn space_job(&self, mut job: Job) -> Option<Job> {
        let frames = FrameSpec::Text(job.frames.clone()).resolve().ok()?.0;
        let id = job.id.clone();
        job.tasks = new_tasks(&id, &ranges(&frames, job.chunk_size), |i| task_id(&id, i));
        job.shared = true;
        job.log = JobLog::new(self.space_logs_dir().join(format!("{id}.log")));
        job.rebuild_indexes();
        job.recorded = Some(job.state);
        job.state = JobState::Queued;
        settle(
            &mut job,
            JobState::Queued,
            &mut std::collections::BTreeMap::new(),
        );
        Some(job)
    }

    fn apply_task(&self, job_id: &str, index: usize, record: Option<Task>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(job) = state.jobs.get_mut(job_id) else {
            // Its job's record comes later in the watch (it was rewritten after this one).
            if let (Some(space), Some(record)) = (self.space(), record) {
                space.stash(job_id, index, &record);
            }
            return;
        };
        let Some(current) = job.tasks.get(index) else {
            return;
        };
        let record = record.unwrap_or_else(|| {
            new_tasks(job_id, &[(current.frame_start, current.frame_end)], |_| {
                current.id.clone()
            })
            .remove(0)
        });
        let ended = matches!(job.recorded, Some(JobState::Canceled | JobState::Failed));
        let shown = match record.state {
            TaskState::Queued | TaskState::Active if ended => TaskState::Canceled,
            other => other,
        };
        job.set_task_state(index, shown);
        let task = &mut job.tasks[index];
        if record.attempt != task.attempt
            && let Some(cancel) = task.cancel.take()
        {
            cancel.cancel(); // another attempt has the task now
        }
        task.attempt = record.attempt;
        task.tries_failed = record.tries_failed;
        task.worker = record.worker;
        task.progress = record.progress;
        task.failures = record.failures;
        task.started_ms = record.started_ms;
        task.finished_ms = record.finished_ms;
        task.usage = record.usage;
        task.stored = record.stored;
        let task_id = task.id.clone();
        job.artifacts.retain(|_, a| a.task_id != task_id);
        if shown == TaskState::Completed {
            let stored = job.tasks[index].stored.clone();
            for artifact in stored {
                job.artifacts.insert(artifact.name.clone(), artifact);
            }
        }
        job.state = state_of(job);
        let ends = job
            .recorded
            .is_some_and(|s| matches!(s, JobState::Queued | JobState::Active))
            && job.state.is_terminal();
        let ended = ends.then(|| {
            let last = job.tasks.iter().filter_map(|t| t.finished_ms).max();
            let reason = (job.state == JobState::Failed)
                .then(|| job.tasks.iter().find(|t| t.state == TaskState::Failed))
                .flatten()
                .map(super::ends::failure_reason);
            let at = last.unwrap_or_else(super::super::now_ms);
            (job.id.clone(), job.state, at, reason)
        });
        self.emit_task(&job.tasks[index]);
        self.emit_job(job);
        drop(guard);
        if let (Some((id, to, at, reason)), Some(space)) = (ended, self.space()) {
            space.spawn_end(id, to, at, reason);
        }
        self.work.notify_waiters();
    }

    fn forget_space_job(&self, id: &str) {
        if let Some(space) = self.space() {
            space.forget(id);
        }
        let mut state = self.lock();
        if let Some(mut job) = state.jobs.remove(id) {
            for task in &mut job.tasks {
                state.tasks.remove(&task.id);
                if let Some(cancel) = task.cancel.take() {
                    cancel.cancel();
                }
            }
            self.events.send(
                "job",
                Some(id),
                crate::wire::to_json(crate::wire::Removed {
                    id: id.to_string(),
                    removed: true,
                    extra: serde_json::Map::new(),
                }),
            );
            let _ = std::fs::remove_file(self.space_logs_dir().join(format!("{id}.log")));
        }
    }

    /// Appends a line from the space's job log stream to job `id`'s log.
    pub(in crate::jobs) fn append_space_log(&self, id: &str, line: &str) {
        let mut state = self.lock();
        match state.jobs.get_mut(id) {
            Some(job) => {
                let line: Arc<str> = line.into();
                job.log.write(&line);
                let _ = job.log.live.send(line);
            }
            None => {
                // Its record has not arrived yet: the file is where its log will be.
                JobLog::new(self.space_logs_dir().join(format!("{id}.log"))).write(line);
            }
        }
    }

    /// Shows workers of the space whose records stopped coming as lost.
    fn mark_silent_workers(&self) {
        let mut state = self.lock();
        let now = super::super::now_ms();
        for worker in state.workers.values_mut() {
            let silent = now.saturating_sub(worker.last_seen_ms) > WORKER_SILENT.as_millis() as u64;
            if worker.shared && worker.state == WorkerState::Online && silent {
                worker.state = WorkerState::Lost;
                self.emit_worker(worker);
            }
        }
    }
}

/// The state a mirrored job is in: its record's, or its tasks' while it runs.
fn state_of(job: &Job) -> JobState {
    match job.recorded.unwrap_or(job.state) {
        JobState::Queued | JobState::Active => job.derived_state(),
        other => other,
    }
}

/// Moves a mirrored job from state `from` to what its record says, stopping what must
/// stop.
fn settle(job: &mut Job, from: JobState, workers: &mut std::collections::BTreeMap<String, Worker>) {
    let to = job.recorded.unwrap_or(job.state);
    match to {
        JobState::Canceled | JobState::Failed if from != to => {
            let why = if to == JobState::Canceled {
                "the job was canceled"
            } else {
                "the job failed"
            };
            job.cancel_tasks(workers, why);
        }
        JobState::Paused if from != JobState::Paused => {
            job.stop_active_tasks_to_queue(workers, "the job was paused");
        }
        _ => {}
    }
    job.state = state_of(job);
}
