//! Render jobs of a space: the queue, the leases and the records on NATS JetStream, so a
//! job outlives the hub that took it and every slot of every hub and every
//! `weir worker --nats` renders its frames (`docs/render-jobs.md`, "Jobs in a space").
//!
//! - KV `weir-jobs-<space>`: `job.<id>` (the job's record: what `Job` persists),
//!   `task.<job>.<index>` (a task's record, written from its first lease on; a task
//!   without one is queued) and `worker.<id>`. Every write is a compare-and-swap on the
//!   key's revision, so two machines racing never both win.
//! - Work-queue stream `weir-tasks-<space>`: one message per task to run, on subject
//!   `weir.<space>.task.<job>`, taken through the job's durable pull consumer `job-<id>`
//!   (ack wait = the lease, in-progress acks = the heartbeat, the delivery = the attempt).
//! - Object store `weir-artifacts-<space>`: `<job>/<task index>/<attempt>/<name>`, one
//!   object per artifact of a completed attempt; the component a job renders is in
//!   `weir-packages-<space>` under its SHA-256.
//! - Stream `weir-joblog-<space>`: job log lines on `weir.<space>.joblog.<job>`.
//!
//! Each machine keeps the jobs in its job manager's memory, fed by a watch of the KV
//! bucket ([`mirror`]); reads (`GET /jobs…`, the SSE feeds) are served from there, and
//! changes go to JetStream first.

mod control;
mod dispatch;
mod ends;
mod mirror;
mod store;

pub(super) use dispatch::order_jobs;
pub use dispatch::{LocalPrograms, Slot};

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::JobError;

/// Tasks the space's queue holds at most by default; a submission past it is refused
/// (503). The hub that makes the queue sets it (`weir serve --space-max-queued-tasks`).
pub const MAX_QUEUED_TASKS: i64 = 1_000_000;
/// Deliveries of a task message beyond its tries (`maxRetries + 1`): leases lost with
/// their worker, pauses and shutdowns hand a task back without a failed try.
pub const HANDBACKS: i64 = 10;
/// Object chunk size for artifacts and components: under the 1 MB message limit.
const CHUNK: usize = 512 << 10;
/// How often a machine asks a job with no queued task for a redelivered one.
const POLL_RUNNING: Duration = Duration::from_millis(250);
/// Compare-and-swap tries before a write gives up (each lost race reads again).
const CAS_TRIES: usize = 50;

/// A task record kept for its job: the task's index and the record.
type Stashed = (usize, Vec<u8>);

type PullConsumer = consumer::Consumer<consumer::pull::Config>;

/// A job manager's link to its space's jobs.
pub struct SpaceJobs {
    name: String,
    client: async_nats::Client,
    js: jetstream::Context,
    kv: kv::Store,
    artifacts: object_store::ObjectStore,
    packages: object_store::ObjectStore,
    queue: stream::Stream,
    /// The lease: the consumers' ack wait.
    lease: Duration,
    /// Reconnections of the client, to make the watches again after one.
    reconnects: Arc<AtomicU64>,
    consumers: Mutex<HashMap<String, PullConsumer>>,
    /// The revision of each key as the mirror last applied it.
    revisions: Mutex<HashMap<String, u64>>,
    /// Attempts running on this machine now (taken and not yet ended).
    running: std::sync::atomic::AtomicUsize,
    /// What this machine last wrote to each key, with the revision: the first guess of
    /// the next change to it.
    written: Mutex<HashMap<String, (Bytes, u64)>>,
    /// When each job with no queued task was last asked for a redelivered one.
    polled: Mutex<HashMap<String, std::time::Instant>>,
    /// Task records that came before their job's record (a job's record is rewritten
    /// after its tasks', so a watch from the start delivers it later), by job.
    pending: Mutex<HashMap<String, Vec<Stashed>>>,
    /// Whether the mirror has applied every record that was there when it started.
    synced: tokio::sync::watch::Sender<bool>,
}

fn nats(what: &str) -> impl Fn(String) -> JobError + '_ {
    move |e| {
        JobError::Capacity(format!(
            "the space's job store is unavailable ({what}: {e}); retry when NATS is back"
        ))
    }
}

impl SpaceJobs {
    /// Opens (creating when missing) the buckets and streams of `space`.
    pub async fn open(
        client: async_nats::Client,
        space: &str,
        lease: Duration,
        max_queued_tasks: i64,
        reconnects: Arc<AtomicU64>,
    ) -> Result<Arc<SpaceJobs>, String> {
        let js = jetstream::new(client.clone());
        let fail = |what: String| move |e: String| format!("cannot open {what}: {e}");
        let bucket = format!("weir-jobs-{space}");
        let kv = match js.get_key_value(&bucket).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    description: format!("weir space {space}: render jobs, tasks and workers"),
                    history: 1,
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| fail(bucket.clone())(e.to_string()))?,
        };
        let artifacts = object_store(&js, &format!("weir-artifacts-{space}"), "render artifacts")
            .await
            .map_err(fail("the artifact store".into()))?;
        let packages = object_store(&js, &format!("weir-packages-{space}"), "package archives")
            .await
            .map_err(fail("the package store".into()))?;
        let queue = js
            .get_or_create_stream(stream::Config {
                name: format!("weir-tasks-{space}"),
                description: Some(format!("weir space {space}: render tasks to run")),
                subjects: vec![format!("weir.{space}.task.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                discard: stream::DiscardPolicy::New,
                max_messages: max_queued_tasks,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| fail("the task queue".into())(e.to_string()))?;
        js.get_or_create_stream(stream::Config {
            name: format!("weir-joblog-{space}"),
            description: Some(format!("weir space {space}: render job logs")),
            subjects: vec![format!("weir.{space}.joblog.>")],
            max_messages_per_subject: 10_000,
            max_bytes: 256 << 20,
            max_age: Duration::from_secs(7 * 24 * 3600),
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| fail("the job log".into())(e.to_string()))?;
        Ok(Arc::new(SpaceJobs {
            name: space.to_string(),
            client,
            js,
            kv,
            artifacts,
            packages,
            queue,
            lease,
            reconnects,
            consumers: Mutex::default(),
            revisions: Mutex::default(),
            polled: Mutex::default(),
            written: Mutex::default(),
            running: std::sync::atomic::AtomicUsize::new(0),
            pending: Mutex::default(),
            synced: tokio::sync::watch::channel(false).0,
        }))
    }

    /// Waits (a few seconds at most) until the mirror holds every job that was in the
    /// space when it started: a slot that asked earlier would see only some of them.
    pub async fn synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), synced.wait_for(|s| *s)).await;
    }

    /// Whether a job whose tasks all run elsewhere may be asked for a message now: a
    /// lapsed lease's redelivery is looked for every [`POLL_RUNNING`] per machine.
    fn may_poll(&self, job: &str) -> bool {
        let mut polled = self.polled.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if polled.len() > 10_000 {
            polled.retain(|_, at| now.duration_since(*at) < POLL_RUNNING);
        }
        match polled.get(job) {
            Some(at) if now.duration_since(*at) < POLL_RUNNING => false,
            _ => {
                polled.insert(job.to_string(), now);
                true
            }
        }
    }

    /// The space's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn subject(&self, job: &str) -> String {
        format!("weir.{}.task.{job}", self.name)
    }

    fn log_subject(&self, job: &str) -> String {
        format!("weir.{}.joblog.{job}", self.name)
    }

    /// Keeps `slot`'s worker record (`GET /workers` on every hub) fresh while `jobs`
    /// lives; a worker whose record stops coming is shown lost.
    pub(super) fn spawn_worker_record(
        self: &Arc<Self>,
        jobs: std::sync::Weak<super::JobManager>,
        slot: &Slot,
    ) {
        let mut worker = super::Worker::new(
            slot.worker_id.clone(),
            &slot.worker_name,
            slot.slots,
            slot.tags.clone(),
            slot.on_hub,
        );
        worker.version = env!("CARGO_PKG_VERSION").to_string();
        let (space, key) = (self.clone(), worker_key(&slot.worker_id));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            while jobs.upgrade().is_some() {
                tick.tick().await;
                worker.last_seen_ms = super::now_ms();
                if let Ok(record) = serde_json::to_vec(&worker) {
                    let _ = space.kv.put(&key, Bytes::from(record)).await;
                }
            }
        });
    }

    /// Marks `slot`'s worker record offline (a worker signing off).
    pub async fn sign_off(&self, slot: &Slot) {
        let _ = self.kv.purge(worker_key(&slot.worker_id)).await;
    }

    /// Forgets the revision of a deleted key.
    fn unseen(&self, key: &str) {
        let mut revisions = self.revisions.lock().unwrap_or_else(|p| p.into_inner());
        revisions.remove(key);
    }

    /// Forgets what this machine kept about job `job` (revisions, its last writes, its
    /// consumer): the job was deleted.
    pub(super) fn forget(&self, job: &str) {
        let (record, tasks) = (job_key(job), format!("task.{job}."));
        let gone = |key: &String| *key == record || key.starts_with(&tasks);
        self.revisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|key, _| !gone(key));
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|key, _| !gone(key));
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job);
    }

    /// Keeps a task record whose job's record has not been seen yet.
    fn stash(&self, job: &str, index: usize, task: &super::Task) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if *self.synced.borrow() {
            // Live, a job's record always comes before its tasks': this job is gone.
            pending.clear();
            return;
        }
        if let Ok(record) = serde_json::to_vec(task) {
            pending
                .entry(job.to_string())
                .or_default()
                .push((index, record));
        }
    }

    /// The stashed task records of `job`, taken.
    fn stashed(&self, job: &str) -> Vec<Stashed> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.remove(job).unwrap_or_default()
    }

    /// Writes the end a job's tasks reached into its record (`completed`, or `failed` past
    /// its failure threshold), unless it is written already. Every machine whose mirror
    /// sees the last task end tries; the compare-and-swap lets one win, and the winner
    /// takes the job's consumer away.
    pub(super) fn spawn_end(
        self: &Arc<Self>,
        job: String,
        to: super::JobState,
        finished_ms: u64,
        reason: Option<String>,
    ) {
        let space = self.clone();
        tokio::spawn(async move {
            let ended = space
                .modify::<super::Job, ()>(
                    &job_key(&job),
                    || None,
                    |record| {
                        if record.state.is_terminal() || record.state == super::JobState::Paused {
                            return Ok(None);
                        }
                        record.state = to;
                        record.finished_ms = Some(finished_ms);
                        record.updated_ms = super::now_ms();
                        if let Some(reason) = &reason
                            && !record.errors.contains(reason)
                        {
                            record.errors.push(reason.clone());
                        }
                        Ok(Some(()))
                    },
                )
                .await;
            if matches!(ended, Ok((_, Some(())))) {
                space.dequeue_all(&job).await;
                space.log(&job, "info", to.as_str());
            }
        });
    }

    /// Appends a line to job `job`'s log (every hub's copy gets it from the stream).
    pub(super) fn log(&self, job: &str, level: &str, message: &str) {
        let line = format!("{} {level} {message}", crate::time::iso_now());
        let (client, subject) = (self.client.clone(), self.log_subject(job));
        tokio::spawn(async move {
            let _ = client.publish(subject, Bytes::from(line)).await;
        });
    }

    /// Reads a record and its revision.
    async fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, u64)>, JobError> {
        let entry = self
            .kv
            .entry(key)
            .await
            .map_err(|e| nats("reading a record")(e.to_string()))?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&entry.value)
            .map_err(|e| JobError::Io(std::io::Error::other(format!("record {key}: {e}"))))?;
        Ok(Some((value, entry.revision)))
    }

    /// Changes record `key` with `change` by compare-and-swap, reading it again after a
    /// lost race. A missing record starts as `init()` (none: 404). `change` returns
    /// `Ok(None)` to leave the record as it is. Returns the record written (or read)
    /// with what `change` said. The first try starts from what this machine last wrote
    /// to the key (or, for a key it never saw, from `init()`), which saves reading it
    /// while nobody else wrote it: a task's take, heartbeats and end cost one write each.
    async fn modify<T, R>(
        &self,
        key: &str,
        init: impl Fn() -> Option<T>,
        mut change: impl FnMut(&mut T) -> Result<Option<R>, JobError>,
    ) -> Result<(T, Option<R>), JobError>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut guess = match self.last_written(key) {
            Some((bytes, revision)) => serde_json::from_slice(&bytes)
                .ok()
                .map(|value| (value, Some(revision))),
            None if self.never_seen(key) => init().map(|value| (value, None)),
            None => None,
        };
        for _ in 0..CAS_TRIES {
            let (mut value, revision) = match guess.take() {
                Some(guess) => guess,
                None => match self.read::<T>(key).await? {
                    Some((value, revision)) => (value, Some(revision)),
                    None => match init() {
                        Some(value) => (value, None),
                        None => return Err(JobError::NotFound(format!("{key} not found"))),
                    },
                },
            };
            let Some(said) = change(&mut value)? else {
                return Ok((value, None));
            };
            let bytes = Bytes::from(serde_json::to_vec(&value).map_err(std::io::Error::other)?);
            let written = match revision {
                Some(revision) => self
                    .kv
                    .update(key, bytes.clone(), revision)
                    .await
                    .map_err(|e| {
                        (
                            e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                            e.to_string(),
                        )
                    }),
                None => self.kv.create(key, bytes.clone()).await.map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                }),
            };
            match written {
                Ok(revision) => {
                    self.seen(key, revision);
                    self.wrote(key, bytes, revision);
                    return Ok((value, Some(said)));
                }
                Err((true, _)) => self.forget_written(key),
                Err((false, e)) => return Err(nats("writing a record")(e)),
            }
        }
        Err(JobError::Capacity(format!(
            "{key} changed {CAS_TRIES} times while this change was made; try again"
        )))
    }

    fn last_written(&self, key: &str) -> Option<(Bytes, u64)> {
        let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        written.get(key).cloned()
    }

    fn wrote(&self, key: &str, bytes: Bytes, revision: u64) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() >= 10_000 {
            written.clear();
        }
        written.insert(key.to_string(), (bytes, revision));
    }

    fn forget_written(&self, key: &str) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        written.remove(key);
    }

    /// Whether no revision of `key` was ever seen here (a task never taken has no record).
    fn never_seen(&self, key: &str) -> bool {
        let revisions = self.revisions.lock().unwrap_or_else(|p| p.into_inner());
        !revisions.contains_key(key)
    }

    /// Notes that the mirror holds revision `revision` of `key`; false when it held it
    /// (or a newer one) already.
    fn seen(&self, key: &str, revision: u64) -> bool {
        let mut revisions = self.revisions.lock().unwrap_or_else(|p| p.into_inner());
        let known = revisions.entry(key.to_string()).or_insert(0);
        if *known >= revision {
            return false;
        }
        *known = revision;
        true
    }

    /// The job's pull consumer (made when missing, as after a requeue).
    async fn consumer(&self, job: &str, max_retries: u32) -> Result<PullConsumer, JobError> {
        if let Some(consumer) = self.cached_consumer(job) {
            return Ok(consumer);
        }
        let consumer = self
            .queue
            .get_or_create_consumer(
                &consumer_name(job),
                consumer::pull::Config {
                    durable_name: Some(consumer_name(job)),
                    filter_subject: self.subject(job),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.lease,
                    max_deliver: i64::from(max_retries) + 1 + HANDBACKS,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| nats("the job's task consumer")(e.to_string()))?;
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_string(), consumer.clone());
        Ok(consumer)
    }

    fn cached_consumer(&self, job: &str) -> Option<PullConsumer> {
        let consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        consumers.get(job).cloned()
    }

    /// Queues tasks `indexes` of job `job` (in that order): one message each.
    async fn enqueue(&self, job: &str, indexes: &[usize]) -> Result<(), JobError> {
        let subject = self.subject(job);
        let mut acks = Vec::with_capacity(indexes.len().min(4096));
        for &index in indexes {
            let ack = self
                .js
                .publish(subject.clone(), Bytes::from(index.to_string()))
                .await
                .map_err(|e| nats("queueing a task")(e.to_string()))?;
            acks.push(ack);
            if acks.len() >= 4096 {
                confirm(std::mem::take(&mut acks)).await?;
            }
        }
        confirm(acks).await
    }

    /// Takes job `job`'s remaining tasks out of the queue and drops its consumer.
    async fn dequeue_all(&self, job: &str) {
        let _ = self.queue.purge().filter(self.subject(job)).await;
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job);
        let _ = self.queue.delete_consumer(&consumer_name(job)).await;
    }
}

async fn confirm(acks: Vec<jetstream::context::PublishAckFuture>) -> Result<(), JobError> {
    for ack in acks {
        ack.await.map_err(|e| {
            JobError::Capacity(format!(
                "the space's task queue refused a task ({e}): it is full; retry when it has drained, or split the job"
            ))
        })?;
    }
    Ok(())
}

fn consumer_name(job: &str) -> String {
    format!("job-{job}")
}

fn job_key(id: &str) -> String {
    format!("job.{id}")
}

fn task_key(job: &str, index: usize) -> String {
    format!("task.{job}.{index}")
}

fn worker_key(id: &str) -> String {
    format!("worker.{id}")
}

/// The id of task `index` of a job of a space.
fn task_id(job: &str, index: usize) -> String {
    format!("{job}-{index}")
}

fn artifact_object(job: &str, index: usize, attempt: u32, name: &str) -> String {
    format!("{job}/{index}/{attempt}/{name}")
}

async fn object_store(
    js: &jetstream::Context,
    bucket: &str,
    what: &str,
) -> Result<object_store::ObjectStore, String> {
    if let Ok(store) = js.get_object_store(bucket).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket: bucket.to_string(),
        description: Some(format!("weir: {what}")),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())
}
