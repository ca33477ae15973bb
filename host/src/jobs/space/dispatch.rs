//! Taking and running tasks of a space, on a hub's slots and on `weir worker --nats`.
//!
//! A slot picks the job to serve as a hub's slots pick among local jobs (the ordering,
//! tags, grants and blocklists, from the mirror), then takes one message from that job's
//! pull consumer. The message is the lease: in-progress acks every heartbeat keep it,
//! and a worker that stops sending them loses it when the ack wait (the lease) lapses —
//! the message is delivered again, to whichever slot asks next. The task's record is
//! the fence: taking a task raises its `attempt` by compare-and-swap, and a result is
//! kept only while the record still names that attempt, so a slow worker's late result
//! never overwrites (or doubles) its successor's. Artifacts go to the object store under
//! the attempt's own names, and only the completing write makes them the job's.

use std::path::PathBuf;

use async_nats::jetstream::AckKind;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::ends::{frames_label, take};
use super::*;
use crate::jobs::config::Ordering;
use crate::jobs::scheduler::tags_match;
use crate::jobs::{ArtifactMeta, Job, JobManager, JobState, Task, TaskSpec, TaskState, run_frames};
use crate::runtime::{Artifact, BoxFuture, Program, RenderError, Runtime};

/// A program the machine holds already (a hub: a sequence it has, with its grants), by
/// package id and digest; `None` to fetch the component from the space.
pub type LocalPrograms =
    Arc<dyn Fn(String, String) -> BoxFuture<'static, Option<Program>> + Send + Sync>;

/// What a render slot of a space is.
#[derive(Clone)]
pub struct Slot {
    /// The worker id tasks are recorded under (a hub's id for its slots).
    pub worker_id: String,
    /// The name logs show.
    pub worker_name: String,
    /// Its tags (jobs with tags run only where all of them are).
    pub tags: Vec<String>,
    /// Slots running at once on this machine.
    pub slots: usize,
    /// On a hub, which gives packages their grants (a worker gets only the component).
    pub on_hub: bool,
    /// The runtime frames run on.
    pub runtime: Runtime,
    /// Where fetched components are kept.
    pub cache_dir: PathBuf,
    /// Programs held already.
    pub local: Option<LocalPrograms>,
}

/// What a slot needs of the job of a task it took.
pub(super) struct Plan {
    pub(super) package_id: String,
    pub(super) digest: String,
    settings: String,
    timeout: Duration,
    pub(super) max_retries: u32,
    pub(super) limits: Option<crate::wire::LeaseLimits>,
    fresh: Task,
}

/// How taking a task went.
pub(super) enum Take {
    /// It is ours to run: this attempt.
    Run(u32),
    /// Its record says it is done (or ran out of tries): the message goes.
    Done,
    /// Its last attempt was lost with its worker and that was its last try.
    Exhausted,
}

impl JobManager {
    /// Takes one task of the space for `slot` and runs it to its end; false when no
    /// job had one ready.
    pub async fn run_space_task(self: &Arc<Self>, slot: &Slot) -> bool {
        let Some(space) = self.space().cloned() else {
            return false;
        };
        space.synced().await;
        for (job, max_retries, queued) in self.space_candidates(slot) {
            // A job with nothing queued here may still have a task whose lease lapsed
            // (its worker died): asked now and then, not on every wakeup.
            if !queued && !space.may_poll(&job) {
                continue;
            }
            let consumer = match space.cached_consumer(&job) {
                Some(c) => c,
                None => match space.consumer(&job, max_retries).await {
                    Ok(c) => c,
                    Err(_) => continue,
                },
            };
            let Ok(mut batch) = consumer.fetch().max_messages(1).messages().await else {
                continue;
            };
            if let Some(Ok(message)) = batch.next().await {
                let lease = consumer.cached_info().config.ack_wait;
                space.run(self, slot, &job, message, lease).await;
                return true;
            }
        }
        false
    }

    /// Jobs of the space `slot` may serve now, best first, with their retries and whether
    /// the mirror shows tasks of theirs queued.
    fn space_candidates(&self, slot: &Slot) -> Vec<(String, u32, bool)> {
        let state = self.lock();
        let mut jobs: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| {
                j.shared
                    && matches!(j.state, JobState::Queued | JobState::Active)
                    && !(j.queued.is_empty() && j.active.is_empty())
                    && !j.blocklist.contains(&slot.worker_id)
                    && tags_match(&slot.tags, &j.tags)
                    && (slot.on_hub || !j.local_only)
            })
            .collect();
        order_jobs(self.config.ordering, &mut jobs);
        jobs.iter()
            .map(|j| (j.id.clone(), j.max_retries, !j.queued.is_empty()))
            .collect()
    }

    pub(super) fn plan(&self, job_id: &str, index: usize) -> Option<Plan> {
        let state = self.lock();
        let job = state.jobs.get(job_id)?;
        let task = job.tasks.get(index)?;
        Some(Plan {
            package_id: job.package_id.clone(),
            digest: job.digest.clone(),
            settings: job.merged_settings.clone(),
            timeout: Duration::from_millis(job.task_timeout_ms),
            max_retries: job.max_retries,
            limits: job.limits,
            fresh: super::super::submit::new_tasks(
                job_id,
                &[(task.frame_start, task.frame_end)],
                |_| task.id.clone(),
            )
            .remove(0),
        })
    }

    /// Lets the mirror stop attempt `attempt` of a task (its job paused, canceled,
    /// deleted, or the task taken by another attempt); false when that happened already.
    pub(super) fn hold(
        &self,
        job_id: &str,
        index: usize,
        attempt: u32,
        cancel: &CancellationToken,
    ) -> bool {
        let mut state = self.lock();
        let Some(job) = state.jobs.get_mut(job_id) else {
            return false;
        };
        let runs = job
            .recorded
            .is_none_or(|s| matches!(s, JobState::Queued | JobState::Active));
        match job.tasks.get_mut(index) {
            Some(task) if runs && task.attempt == attempt && task.state == TaskState::Active => {
                task.cancel = Some(cancel.clone());
                true
            }
            _ => false,
        }
    }

    /// Stops every task of the space running here (a worker shutting down): each goes
    /// back to the queue with no failed try.
    pub fn stop_space_tasks(&self) {
        let mut state = self.lock();
        for job in state.jobs.values_mut().filter(|j| j.shared) {
            for task in &mut job.tasks {
                if let Some(cancel) = task.cancel.take() {
                    cancel.cancel();
                }
            }
        }
    }

    /// Attempts of the space's tasks running on this machine (until each has ended: its
    /// result kept, or the task handed back or failed).
    pub fn space_tasks_running(&self) -> usize {
        self.space()
            .map_or(0, |s| s.running.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// What the job of a stopped task wants now.
    pub(super) fn stopped_because(&self, job_id: &str) -> Option<JobState> {
        let state = self.lock();
        state
            .jobs
            .get(job_id)
            .map(|j| j.recorded.unwrap_or(j.state))
    }
}

/// Sorts candidate jobs by the ordering (as the local scheduler does).
pub(in crate::jobs) fn order_jobs(ordering: Ordering, jobs: &mut [&Job]) {
    use rand::seq::SliceRandom;
    match ordering {
        Ordering::Priority => jobs.sort_by_key(|j| (std::cmp::Reverse(j.priority), j.seq)),
        Ordering::OldestFirst => jobs.sort_by_key(|j| j.seq),
        Ordering::NewestFirst => jobs.sort_by_key(|j| std::cmp::Reverse(j.seq)),
        Ordering::Random => jobs.shuffle(&mut rand::rng()),
    }
}

impl SpaceJobs {
    /// Runs the task `message` names, to its end.
    async fn run(
        self: &Arc<Self>,
        jobs: &Arc<JobManager>,
        slot: &Slot,
        job_id: &str,
        message: jetstream::Message,
        lease: Duration,
    ) {
        let index = std::str::from_utf8(&message.payload)
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        let (Some(index), Some(plan)) = (index, index.and_then(|i| jobs.plan(job_id, i))) else {
            let _ = message.ack_with(AckKind::Term).await; // no such task (its job went)
            return;
        };
        let key = task_key(job_id, index);
        let worker = slot.worker_id.clone();
        let taken = self
            .modify::<Task, Take>(
                &key,
                || Some(plan.fresh_copy()),
                |task| Ok(Some(take(task, &worker, plan.max_retries, lease))),
            )
            .await;
        let (task, take) = match taken {
            Ok((task, Some(take))) => (task, take),
            Ok((_, None)) => return,
            Err(e) => {
                tracing::warn!(job = %job_id, index, error = %e, "cannot take a task of the space");
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
                return;
            }
        };
        self.applied(jobs, &key, &task);
        let attempt = match take {
            Take::Run(attempt) => attempt,
            Take::Done => {
                let _ = message.ack().await;
                return;
            }
            Take::Exhausted => {
                let _ = message.ack_with(AckKind::Term).await;
                self.task_failed_for_good(jobs, job_id, &task).await;
                return;
            }
        };
        let _running = Running::count(&self.running);
        if jobs
            .with_job(job_id, |j| j.started_ms.is_none())
            .unwrap_or(false)
        {
            let started = task.started_ms;
            let _ = self
                .change_job_quietly(jobs, job_id, |job| {
                    if job.started_ms.is_some() {
                        return Ok(None);
                    }
                    job.started_ms = started;
                    Ok(Some(()))
                })
                .await;
        }
        let label = frames_label(&task);
        if task
            .failures
            .last()
            .is_some_and(|f| f.attempt + 1 == attempt && f.error.contains("lost"))
        {
            self.log(
                job_id,
                "warn",
                &format!(
                    "frames {label}: {}",
                    task.failures.last().map_or("", |f| f.error.as_str())
                ),
            );
        }
        self.log(
            job_id,
            "info",
            &format!(
                "frames {label} started on worker {} (attempt {attempt})",
                slot.worker_name
            ),
        );
        let cancel = CancellationToken::new();
        if !jobs.hold(job_id, index, attempt, &cancel) {
            cancel.cancel();
        }
        let message = Arc::new(message);
        let beats = self.spawn_heartbeat(
            jobs,
            message.clone(),
            key.clone(),
            attempt,
            cancel.clone(),
            lease,
        );
        let stored = Arc::new(Mutex::new(Vec::<ArtifactMeta>::new()));
        let result = match self.program(slot, &plan).await {
            Ok(program) => {
                let spec = TaskSpec {
                    job_id: job_id.to_string(),
                    attempt,
                    frame_attempt: task.tries_failed.saturating_add(1),
                    frame_start: task.frame_start,
                    frame_end: task.frame_end,
                    settings: plan.settings.clone(),
                    timeout: plan.timeout,
                };
                let sink = |frame: i64, artifacts: Vec<Artifact>| {
                    let (space, stored) = (self.clone(), stored.clone());
                    let (job, task_id) = (job_id.to_string(), task.id.clone());
                    async move {
                        for artifact in artifacts {
                            let meta = space
                                .store_artifact(&job, index, &task_id, attempt, frame, artifact)
                                .await?;
                            stored.lock().unwrap_or_else(|p| p.into_inner()).push(meta);
                        }
                        Ok(())
                    }
                };
                let progress: crate::runtime::ProgressHook = {
                    let beats = beats.clone();
                    Arc::new(move |p| {
                        beats.store(f64::from(p).to_bits(), std::sync::atomic::Ordering::Relaxed)
                    })
                };
                let log: crate::runtime::LogHook = {
                    let (space, job) = (self.clone(), job_id.to_string());
                    Arc::new(move |level, line| space.log(&job, level, line))
                };
                run_frames(
                    &slot.runtime,
                    &program,
                    &spec,
                    cancel.clone(),
                    progress,
                    Some(log),
                    sink,
                )
                .await
            }
            Err(e) => Err(RenderError::Failed(e)),
        };
        cancel.cancel(); // ends the heartbeat
        let stored = std::mem::take(&mut *stored.lock().unwrap_or_else(|p| p.into_inner()));
        match result {
            Ok(usage) => {
                self.complete(
                    jobs,
                    job_id,
                    index,
                    attempt,
                    stored,
                    usage,
                    &message,
                    &slot.worker_name,
                    &label,
                )
                .await
            }
            Err(RenderError::Canceled) => {
                self.drop_objects(&stored).await;
                self.stopped(jobs, job_id, index, attempt, &message).await;
            }
            Err(e) => {
                self.drop_objects(&stored).await;
                self.fail(
                    jobs,
                    job_id,
                    index,
                    attempt,
                    &slot.worker_id,
                    &e.to_string(),
                    &message,
                )
                .await;
            }
        }
    }

    /// Applies a record this machine just wrote to its own mirror.
    pub(super) fn applied(&self, jobs: &JobManager, key: &str, task: &Task) {
        if let Ok(record) = serde_json::to_vec(task) {
            jobs.apply_space(key, Some(&record));
        }
    }

    /// Keeps the lease with in-progress acks and writes the task's progress to its
    /// record; stops the attempt when the record names another one. Returns where the
    /// render puts its progress (an `f64`'s bits).
    pub(super) fn spawn_heartbeat(
        self: &Arc<Self>,
        jobs: &Arc<JobManager>,
        message: Arc<jetstream::Message>,
        key: String,
        attempt: u32,
        cancel: CancellationToken,
        lease: Duration,
    ) -> Arc<AtomicU64> {
        let progress = Arc::new(AtomicU64::new(0f64.to_bits()));
        let (space, jobs, seen) = (self.clone(), Arc::downgrade(jobs), progress.clone());
        let every = (lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut written = 0.0;
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let _ = message.ack_with(AckKind::Progress).await;
                let now = f64::from_bits(seen.load(std::sync::atomic::Ordering::Relaxed));
                if now - written < 0.01 {
                    continue;
                }
                written = now;
                let wrote = space
                    .modify::<Task, ()>(
                        &key,
                        || None,
                        |task| {
                            if task.attempt != attempt || task.state != TaskState::Active {
                                return Err(JobError::Conflict("lease lost".into()));
                            }
                            task.progress = now;
                            Ok(Some(()))
                        },
                    )
                    .await;
                match (wrote, jobs.upgrade()) {
                    (Ok((task, _)), Some(jobs)) => space.applied(&jobs, &key, &task),
                    (Err(JobError::Conflict(_) | JobError::NotFound(_)), _) => cancel.cancel(),
                    _ => {}
                }
            }
        });
        progress
    }
}

/// Counts an attempt running here for as long as it lives.
struct Running<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Running<'a> {
    fn count(running: &'a std::sync::atomic::AtomicUsize) -> Running<'a> {
        running.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Running(running)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Plan {
    fn fresh_copy(&self) -> Task {
        super::super::submit::new_tasks(
            &self.fresh.job_id,
            &[(self.fresh.frame_start, self.fresh.frame_end)],
            |_| self.fresh.id.clone(),
        )
        .remove(0)
    }
}
