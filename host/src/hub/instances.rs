//! Running instances: starting, listing, stopping, killing, and keeping
//! ended ones readable for the retention time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Hub, HubError, Sequence, Topic};
use crate::package::Kind;
use crate::runtime::{EndHook, Instance, InstanceStatus, StartOptions, Terminated};
use crate::wire::{self, SessionToken, StartRequest};

/// How long a start request waits for the instance to run before it
/// answers with the instance still `starting`.
const START_WAIT: Duration = Duration::from_secs(2);
impl StartRequest {
    /// Replaces `sessionToken: true` with a freshly minted token and returns
    /// it, for the reply (the only place it is ever shown).
    pub fn mint_session_token(&mut self) -> Option<String> {
        if !matches!(self.session_token, Some(SessionToken::Mint(true))) {
            return None;
        }
        let token = new_session_token();
        self.session_token = Some(SessionToken::Given(token.clone()));
        Some(token)
    }
}

/// 256 random bits, as hex.
fn new_session_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// What a session token is kept as: its SHA-256, never the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// The key of `token`.
    pub fn of(token: &str) -> SessionKey {
        use sha2::Digest;
        SessionKey(sha2::Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `token` is the one this key was made of, compared without an
    /// early exit.
    pub fn opens_with(&self, token: &str) -> bool {
        let given = SessionKey::of(token);
        self.0
            .iter()
            .zip(given.0)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }

    /// The key of a start request's `sessionToken`, checked.
    fn from_request(token: Option<SessionToken>) -> Result<Option<SessionKey>, HubError> {
        let token = match token {
            None | Some(SessionToken::Mint(false)) => return Ok(None),
            Some(SessionToken::Mint(true)) => new_session_token(),
            Some(SessionToken::Given(token)) => token,
        };
        if token.len() < 16 || token.len() > 512 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HubError::Invalid(
                "sessionToken must be 16 to 512 visible ASCII characters (or true, for the hub to mint one)".into(),
            ));
        }
        Ok(Some(SessionKey::of(&token)))
    }
}

/// A started instance and what it was started with.
pub struct InstanceRecord {
    /// The running (or ended) instance.
    pub instance: Instance,
    /// Its sequence.
    pub sequence: Arc<Sequence>,
    /// The configuration it got.
    pub app_config: Map<String, Value>,
    /// The arguments it got.
    pub args: Vec<Value>,
    /// Topic feeding its input, if any.
    pub requires: Option<String>,
    /// Topic its output feeds, if any.
    pub provides: Option<String>,
    /// The key of its session token, if it was started with one.
    pub session: Option<SessionKey>,
    remove_on_exit: AtomicBool,
    removal: tokio::sync::Notify,
    input_started: AtomicBool,
}

impl InstanceRecord {
    /// Whether any client has fed the input yet.
    pub fn input_started(&self) -> bool {
        self.input_started.load(Ordering::Relaxed)
    }

    /// Notes that a client started feeding the input.
    pub fn mark_input_started(&self) {
        self.input_started.store(true, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(super) struct InstanceRegistry {
    by_id: Mutex<HashMap<String, Arc<InstanceRecord>>>,
    /// Instances started and whose end the hub has not yet handled (`on_end`): never fewer than
    /// the ones alive, so a start below the capacity needs no scan of the registry.
    unreaped: AtomicUsize,
}

impl InstanceRegistry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<InstanceRecord>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Hub {
    /// Every instance still known (running, or ended within the retention time).
    pub fn instances(&self) -> Vec<Arc<InstanceRecord>> {
        let mut all: Vec<_> = self.instances.lock().values().cloned().collect();
        all.sort_by_key(|r| r.instance.times().0);
        all
    }

    /// An instance by id.
    pub fn instance(&self, id: &str) -> Result<Arc<InstanceRecord>, HubError> {
        self.instances
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| HubError::NotFound(format!("Instance {id} not found")))
    }

    /// The instances of one sequence.
    pub fn instances_of(&self, sequence_id: &str) -> Vec<Arc<InstanceRecord>> {
        self.instances()
            .into_iter()
            .filter(|r| r.sequence.id == sequence_id)
            .collect()
    }

    /// Instances of a sequence that have not ended (a sequence's `instances`
    /// in `/sequences`, as the Scramjet hub lists them).
    pub fn alive_instances_of(&self, sequence_id: &str) -> Vec<Arc<InstanceRecord>> {
        self.instances_of(sequence_id)
            .into_iter()
            .filter(|r| !r.instance.status().is_terminal())
            .collect()
    }

    /// Instances that have not ended.
    pub fn alive_instances(&self) -> usize {
        self.instances
            .lock()
            .values()
            .filter(|r| !r.instance.status().is_terminal())
            .count()
    }

    /// Starts an instance of a sequence and waits until it runs (or fails
    /// to start), so data sent right after the reply is never lost.
    pub async fn start_instance(
        self: &Arc<Self>,
        sequence_ref: &str,
        request: StartRequest,
    ) -> Result<Arc<InstanceRecord>, HubError> {
        let began = std::time::Instant::now();
        let started = self.start(sequence_ref, request).await;
        match &started {
            Ok(_) => self.metrics.started(began.elapsed()),
            Err(_) => self.metrics.start_refused(),
        }
        started
    }

    async fn start(
        self: &Arc<Self>,
        sequence_ref: &str,
        request: StartRequest,
    ) -> Result<Arc<InstanceRecord>, HubError> {
        let sequence = self.sequence_or_fetch(sequence_ref).await?;
        let manifest = &sequence.package.manifest;
        if manifest.kind == Kind::Render {
            return Err(HubError::Invalid(format!(
                "{} is a render package; submit it as a job instead of starting it",
                manifest.name
            )));
        }
        let mut app_config = manifest.config.clone();
        match request.app_config {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => app_config.extend(map),
            Some(_) => {
                return Err(HubError::BadRequest(
                    "appConfig must be a JSON object".into(),
                ));
            }
        }
        let args = request.args.unwrap_or_default();
        let requires = request
            .input_topic
            .or_else(|| manifest.topics.requires.clone());
        let provides = request
            .output_topic
            .or_else(|| manifest.topics.provides.clone());
        if requires.is_some() && requires == provides {
            return Err(HubError::Invalid(format!(
                "the instance would both read and write topic {:?}, feeding its output back into its input forever",
                requires.unwrap_or_default()
            )));
        }
        let content_type = manifest.topics.content_type.as_deref();
        let input_topic = requires
            .as_deref()
            .map(|t| self.topic_for(t, content_type, false))
            .transpose()?;
        let output_topic = provides
            .as_deref()
            .map(|t| self.topic_for(t, content_type, false))
            .transpose()?;
        let limits = self
            .config
            .start_limits(&manifest.limits, request.limits.as_ref())?;
        let session = SessionKey::from_request(request.session_token)?;
        sequence
            .program
            .check_limits(&limits, "the start request's limits.memory")?;
        let (record, launch) = {
            let mut all = self.instances.lock();
            let id = match request.instance_id {
                Some(id)
                    if id.len() != 36
                        || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
                {
                    return Err(HubError::Invalid(
                        "Invalid Instance id: it must be 36 characters of letters, digits and -"
                            .into(),
                    ));
                }
                Some(id) if all.contains_key(&id) => {
                    return Err(HubError::Conflict(
                        "Instance with a given ID already exists".into(),
                    ));
                }
                Some(id) => id,
                None => uuid::Uuid::new_v4().to_string(),
            };
            // Checked under the registry's lock: an instance is either
            // refused here or seen by the shutdown's `stop_instances`.
            if self.is_shutting_down() {
                return Err(HubError::Capacity("the hub is shutting down".into()));
            }
            // The count of the ones not yet reaped is enough below the capacity; at it,
            // the ones that ended but whose end hook has not run yet are not counted.
            let at_capacity = self.instances.unreaped.load(Ordering::Relaxed)
                >= self.config.max_instances
                && all
                    .values()
                    .filter(|r| !r.instance.status().is_terminal())
                    .count()
                    >= self.config.max_instances;
            if at_capacity {
                return Err(HubError::Capacity(format!(
                    "the hub is at its capacity of {} instances; stop one or raise --max-instances",
                    self.config.max_instances
                )));
            }
            let options = StartOptions {
                id: id.clone(),
                config: app_config.clone(),
                args: args.clone(),
                topics: Some(Arc::new(super::topics::HubTopics(Arc::downgrade(self)))),
                max_memory_bytes: limits.memory_bytes,
                max_wall_time: limits.wall_time,
                max_cpu_time: limits.cpu_time,
                console: None,
                on_end: Some(self.end_hook(&sequence.id)),
            };
            let (instance, launch) = self.runtime.prepare(&sequence.program, options);
            let record = Arc::new(InstanceRecord {
                instance,
                requires,
                provides,
                session,
                sequence: sequence.clone(),
                app_config,
                args,
                remove_on_exit: AtomicBool::new(false),
                removal: tokio::sync::Notify::new(),
                input_started: AtomicBool::new(false),
            });
            all.insert(id, record.clone());
            self.instances.unreaped.fetch_add(1, Ordering::Relaxed);
            (record, launch)
        };
        // Out of the registry's lock: the start runs here until the instance runs.
        launch.launch();
        if let Some(topic) = input_topic {
            spawn_topic_to_input(topic, record.instance.clone());
        }
        if let Some(topic) = output_topic {
            spawn_output_to_topic(record.instance.clone(), topic);
        }
        // A start function that never returns must not hold the request:
        // past the wait the reply says `starting` (the instance can be
        // killed, and its limits still apply).
        let status = match tokio::time::timeout(START_WAIT, record.instance.wait_started()).await {
            Ok(status) => status,
            Err(_) => record.instance.status(),
        };
        if status == InstanceStatus::Errored
            && let Some(end) = record.instance.terminated()
            && end.exitcode == crate::runtime::EXIT_START_FAILED
        {
            return Err(HubError::Invalid(end.reason));
        }
        self.log_line(
            "info",
            &format!(
                "instance {} of sequence {} started",
                record.instance.id(),
                sequence.id
            ),
        );
        self.events().send(
            "instance",
            None,
            wire::to_json(wire::InstanceChange {
                id: record.instance.id().to_string(),
                sequence: Some(sequence.id.clone()),
                status: Some(record.instance.status().as_str().to_string()),
                ..wire::InstanceChange::default()
            }),
        );
        Ok(record)
    }

    /// What the hub does when one of its instances ends (run where the instance ran, no
    /// task waiting for it): the count of unreaped instances, the log line and event, and
    /// the record's removal after the retention time (at once if asked for).
    fn end_hook(self: &Arc<Self>, sequence: &str) -> EndHook {
        let hub = Arc::downgrade(self);
        let sequence = sequence.to_string();
        Arc::new(move |instance: &Instance, end: &Terminated| {
            if let Some(hub) = hub.upgrade() {
                hub.instance_ended(instance, end, &sequence);
            }
        })
    }

    fn instance_ended(self: &Arc<Self>, instance: &Instance, end: &Terminated, sequence: &str) {
        self.instances.unreaped.fetch_sub(1, Ordering::Relaxed);
        self.log_line(
            if end.exitcode == 0 { "info" } else { "warn" },
            &format!(
                "instance {} ended: {} ({})",
                instance.id(),
                end.reason,
                end.exitcode
            ),
        );
        self.events().send(
            "instance",
            None,
            wire::to_json(wire::InstanceChange {
                id: instance.id().to_string(),
                sequence: Some(sequence.to_string()),
                status: Some(instance.status().as_str().to_string()),
                exitcode: Some(end.exitcode),
                reason: Some(end.reason.clone()),
                removed: false,
            }),
        );
        // Gone already if a kill asked for its removal once it had ended (and its id may
        // then name a newer instance).
        let Some(record) = self
            .instances
            .lock()
            .get(instance.id())
            .filter(|record| record.instance.is(instance))
            .cloned()
        else {
            return;
        };
        let retention = self.config.instance_retention;
        if record.remove_on_exit.load(Ordering::Relaxed) || retention.is_zero() {
            self.forget_instance(&record);
            return;
        }
        // Outside a runtime (one shutting down) nothing is left to keep it for.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let hub = Arc::downgrade(self);
        runtime.spawn(async move {
            // `notify_one` keeps a permit, so a kill that asked for removal before this
            // point still ends the wait at once.
            tokio::select! {
                () = tokio::time::sleep(retention) => {}
                () = record.removal.notified() => {}
            }
            if let Some(hub) = hub.upgrade() {
                hub.forget_instance(&record);
            }
        });
    }

    /// Drops an ended instance's record (its routes then answer 404).
    fn forget_instance(&self, record: &InstanceRecord) {
        let removed = {
            let mut all = self.instances.lock();
            // Only this record: once it was forgotten, a client may reuse its id.
            match all.get(record.instance.id()) {
                Some(known) if known.instance.is(&record.instance) => {
                    all.remove(record.instance.id())
                }
                _ => None,
            }
        };
        if removed.is_some() {
            self.retired
                .add(&record.instance.usage(), record.instance.stdin_is_input());
            self.events().send(
                "instance",
                None,
                wire::to_json(wire::InstanceChange {
                    id: record.instance.id().to_string(),
                    removed: true,
                    ..wire::InstanceChange::default()
                }),
            );
        }
    }

    /// Instances whose input or output is wired to `topic`.
    pub fn instances_on_topic(&self, topic: &str) -> Vec<Arc<InstanceRecord>> {
        self.instances()
            .into_iter()
            .filter(|r| {
                r.requires.as_deref() == Some(topic) || r.provides.as_deref() == Some(topic)
            })
            .collect()
    }

    /// Kills an instance; with `remove_immediately` it is forgotten as soon
    /// as it has ended instead of after the retention time (at once, if it
    /// has already ended).
    pub fn kill_instance(&self, record: &InstanceRecord, remove_immediately: bool) {
        if remove_immediately && record.instance.status().is_terminal() {
            record.remove_on_exit.store(true, Ordering::Relaxed);
            record.removal.notify_one();
            self.forget_instance(record);
            return;
        }
        if remove_immediately {
            record.remove_on_exit.store(true, Ordering::Relaxed);
            record.removal.notify_one();
        }
        record.instance.kill();
    }
}

/// Feeds a topic into an instance's input until the instance ends.
fn spawn_topic_to_input(topic: Arc<Topic>, instance: Instance) {
    let Some(input) = instance.input() else {
        return;
    };
    tokio::spawn(async move {
        let mut subscriber = topic.subscribe();
        if let Err(e) = subscriber.ready().await {
            let message = format!("input cannot read topic {}: {e}", topic.name());
            crate::runtime::log_line(instance.log(), "error", "hub", &message);
        }
        loop {
            let chunk = tokio::select! {
                chunk = subscriber.next() => chunk,
                _ = instance.wait() => None,
            };
            let Some(chunk) = chunk else { break };
            if input.send(chunk).await.is_err() {
                break;
            }
        }
        input.end();
    });
}

/// Publishes an instance's output into a topic, whole records at a time.
/// A refused write (the topic deleted, a record past the size limit) ends
/// the publishing and says why in the instance log; the output then waits
/// for another reader.
fn spawn_output_to_topic(instance: Instance, topic: Arc<Topic>) {
    let mut output = instance.output().reader();
    tokio::spawn(async move {
        let mut producer = topic.producer();
        let mut published = Ok(());
        while let Some(chunk) = output.next().await {
            published = producer.write(chunk).await;
            if published.is_err() {
                break;
            }
        }
        if published.is_ok() {
            published = producer.finish().await;
        }
        if let Err(refused) = published {
            let message = format!("output no longer goes to topic {}: {refused}", topic.name());
            crate::runtime::log_line(instance.log(), "error", "hub", &message);
        }
    });
}
