//! Topics: named pub/sub streams between instances and HTTP clients.
//!
//! A topic is a bounded fan-out [`Pipe`]: data published before anyone
//! subscribes is retained (up to the topic capacity, then producers wait) and
//! goes to the first subscriber; every subscriber gets every record from when
//! it joined; the slowest subscriber back-pressures producers. For the
//! line-framed content types each producer's bytes are cut at newlines and
//! written one whole-record batch at a time, so records from concurrent
//! producers interleave whole and no producer waits for another's body to end.
//!
//! In a space, a topic is the space's ([`SharedTopics`], a JetStream stream
//! in `space::topics`): the same whole-record batches are published there,
//! and each subscriber reads its own consumer of it, so a record reaches
//! every subscriber on every hub once. The local pipe is then unused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::{Bytes, BytesMut};

use super::{Hub, HubError};
use crate::runtime::{BoxFuture, TopicBus, TopicPublisher, TopicSubscriber};
use crate::wire::TopicInfo;
use serde_json::Map;

mod producer;
mod shared;
mod subscriber;

use producer::Pending;
pub use producer::Producer;
pub use shared::{SharedSubscription, SharedTopic, SharedTopicInfo, SharedTopics};
use subscriber::Reading;
pub use subscriber::Subscriber;

use crate::streams::{Closed, Overflow, Pipe, PipeReader};

/// Content types a topic may carry.
pub const CONTENT_TYPES: &[&str] = &[
    "application/x-ndjson",
    "text/x-ndjson",
    "text/plain",
    "application/octet-stream",
];

/// The default content type of a topic.
pub const DEFAULT_CONTENT_TYPE: &str = "application/x-ndjson";

/// The longest record a line-framed topic takes, newline included. A
/// producer's partial record waits in memory for its newline, so past this
/// the producer is refused ([`PublishError::RecordTooLarge`], 413) and its
/// partial record dropped.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Why a producer's write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The topic was deleted (409).
    #[error("topic {0} was deleted")]
    Deleted(String),
    /// In a space, a record longer than a NATS message (413).
    #[error(
        "a record of topic {0} is longer than the space's message limit of {1} bytes: in a space, records of line-framed topics are at most one NATS message (raise the server's max_payload, or send unframed bytes as application/octet-stream)"
    )]
    MessageTooLarge(String, usize),
    /// The space could not take the record (NATS away) (503).
    #[error("topic {0}: {1}")]
    Unavailable(String, String),
    /// A record grew past [`MAX_RECORD_BYTES`] without a newline (413).
    #[error(
        "a record of topic {0} is longer than {limit} MiB: records of line-framed topics end with a newline and are at most {limit} MiB (send unframed bytes as application/octet-stream)",
        limit = MAX_RECORD_BYTES >> 20
    )]
    RecordTooLarge(String),
}

impl From<PublishError> for HubError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Deleted(_) => HubError::Conflict(e.to_string()),
            PublishError::RecordTooLarge(_) | PublishError::MessageTooLarge(..) => {
                HubError::TooLarge(e.to_string())
            }
            PublishError::Unavailable(..) => HubError::Capacity(e.to_string()),
        }
    }
}

/// One topic.
pub struct Topic {
    name: String,
    kind: Mutex<TopicKind>,
    pipe: Pipe,
    producers: AtomicUsize,
    subscribers: AtomicUsize,
    /// The space's topic of this name, when the hub is in a space.
    shared: Option<Arc<dyn SharedTopic>>,
    /// Bytes this hub published into the space's topic.
    shared_published: std::sync::atomic::AtomicU64,
    /// What its subscribers on this hub were given.
    delivered: crate::streams::FlowMeter,
}

/// What a topic carries, and whether anyone has said so yet.
struct TopicKind {
    content_type: String,
    /// Set by a producer, `POST /topics`, a package's topic type or a
    /// subscriber that names one; a topic created by a subscriber that names
    /// none carries the default type until the first of those arrives.
    declared: bool,
}

/// Whether a content type's records are lines (`\n`-terminated).
pub fn is_line_framed(content_type: &str) -> bool {
    content_type != "application/octet-stream"
}

/// Whether a producer or subscriber of type `wanted` may join a topic of
/// type `topic`: the same type, or two line-framed types (ndjson, text/x-ndjson
/// and text/plain all carry newline-terminated records, so one producer's
/// `text/plain` lines are another subscriber's ndjson records). Bytes
/// (`application/octet-stream`) and lines do not mix.
pub fn compatible(topic: &str, wanted: &str) -> bool {
    topic == wanted || (is_line_framed(topic) && is_line_framed(wanted))
}

impl Topic {
    /// Topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> MutexGuard<'_, TopicKind> {
        self.kind.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Content type.
    pub fn content_type(&self) -> String {
        self.kind().content_type.clone()
    }

    /// Whether records are newline-framed (ndjson, text).
    pub fn line_framed(&self) -> bool {
        is_line_framed(&self.kind().content_type)
    }

    /// Joins with `content_type` (`None`: whatever the topic carries): an
    /// undeclared topic takes the type, a declared one must be compatible.
    fn join(&self, content_type: Option<String>) -> Result<(), HubError> {
        let Some(wanted) = content_type else {
            return Ok(());
        };
        let mut kind = self.kind();
        if !kind.declared {
            kind.content_type = wanted;
            kind.declared = true;
            return Ok(());
        }
        if compatible(&kind.content_type, &wanted) {
            return Ok(());
        }
        Err(HubError::Mismatch(format!(
            "Acceptable Content-Type for {} is {}",
            self.name, kind.content_type
        )))
    }

    /// The topic's state.
    pub fn info(&self) -> TopicInfo {
        let delivered = self.delivered.read();
        TopicInfo {
            topic: self.name.clone(),
            topic_name: self.name.clone(),
            content_type: self.content_type(),
            producers: self.producers.load(Ordering::Relaxed) as u64,
            subscribers: self.subscribers.load(Ordering::Relaxed) as u64,
            retained_bytes: self.pipe.buffered() as u64,
            published_bytes: self.pipe.total_written()
                + self.shared_published.load(Ordering::Relaxed),
            published_records: self.pipe.flow().lines,
            delivered_bytes: delivered.bytes,
            delivered_records: delivered.lines,
            extra: Map::new(),
        }
    }

    /// A producer handle; records written through it go out whole.
    pub fn producer(self: &Arc<Self>) -> Producer {
        self.producers.fetch_add(1, Ordering::Relaxed);
        Producer {
            topic: self.clone(),
            pending: Pending::default(),
            refused: false,
            id: uuid::Uuid::new_v4().simple().to_string(),
            sent: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A subscriber: the first one gets what was retained, later ones start live.
    pub fn subscribe(self: &Arc<Self>) -> Subscriber {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        let reader = match self.shared {
            Some(_) => Reading::Shared(None),
            None => Reading::Local(self.pipe.reader()),
        };
        Subscriber {
            reader,
            topic: self.clone(),
        }
    }

    /// In a space: makes sure the topic exists there with a compatible type
    /// (415 otherwise) and takes the space's type for this hub's view of it.
    pub async fn open_shared(
        &self,
        content_type: Option<&str>,
        exclusive: bool,
    ) -> Result<(), HubError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let (content_type, declared) = shared.open(content_type, exclusive).await?;
        let mut kind = self.kind();
        kind.content_type = content_type;
        kind.declared = declared;
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct TopicRegistry {
    by_name: Mutex<BTreeMap<String, Arc<Topic>>>,
    /// The space's topics, once the hub joined one.
    shared: std::sync::OnceLock<Arc<dyn SharedTopics>>,
}

impl TopicRegistry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.by_name.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks a topic name: letters, digits, `_ + - .`, 1-128 characters.
pub fn check_name(name: &str) -> Result<(), HubError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(HubError::BadRequest(format!(
            "invalid topic name {name:?}: use 1-128 letters, digits and _ + - ."
        )))
    }
}

/// Normalises a content type (parameters dropped) and checks it is supported.
pub fn check_content_type(content_type: &str) -> Result<String, HubError> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if CONTENT_TYPES.contains(&ct.as_str()) {
        Ok(ct)
    } else {
        Err(HubError::BadRequest(format!(
            "Unsupported content-type {content_type:?}: topics carry {}",
            CONTENT_TYPES.join(", ")
        )))
    }
}

impl Hub {
    /// Every topic, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.lock().values().cloned().collect()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Result<Arc<Topic>, HubError> {
        check_name(name)?;
        self.topics
            .lock()
            .get(name)
            .cloned()
            .ok_or_else(|| HubError::NotFound(format!("Topic {name} not found")))
    }

    /// Creates a topic; `exclusive` refuses one that exists (`POST /topics`).
    pub fn create_topic(
        &self,
        name: &str,
        content_type: &str,
        exclusive: bool,
    ) -> Result<Arc<Topic>, HubError> {
        self.topic_for(name, Some(content_type), exclusive)
    }

    /// The topic `name`, created on first use. A given content type declares
    /// the type of a topic that has none yet and must be [`compatible`] with
    /// a declared one (`Mismatch` → 415); `None` joins whatever it carries.
    pub fn topic_for(
        &self,
        name: &str,
        content_type: Option<&str>,
        exclusive: bool,
    ) -> Result<Arc<Topic>, HubError> {
        check_name(name)?;
        let content_type = content_type.map(check_content_type).transpose()?;
        let mut all = self.topics.lock();
        if let Some(topic) = all.get(name) {
            if exclusive {
                return Err(HubError::BadRequest(format!("Topic {name} already exists")));
            }
            topic.join(content_type)?;
            return Ok(topic.clone());
        }
        let declared = content_type.is_some();
        let topic = Arc::new(Topic {
            name: name.to_string(),
            kind: Mutex::new(TopicKind {
                content_type: content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
                declared,
            }),
            pipe: Pipe::new(self.config.topic_capacity, Overflow::Block),
            producers: AtomicUsize::new(0),
            subscribers: AtomicUsize::new(0),
            shared: self.topics.shared.get().map(|s| s.topic(name)),
            shared_published: std::sync::atomic::AtomicU64::new(0),
            delivered: crate::streams::FlowMeter::default(),
        });
        all.insert(name.to_string(), topic.clone());
        drop(all);
        self.log_line(
            "info",
            &format!("topic {name} created ({})", topic.content_type()),
        );
        Ok(topic)
    }

    /// The topic `name` as [`topic_for`](Self::topic_for) makes it, and in a
    /// space opened there (its type checked against the space's).
    pub async fn open_topic(
        &self,
        name: &str,
        content_type: Option<&str>,
        exclusive: bool,
    ) -> Result<Arc<Topic>, HubError> {
        let shared = self.topics.shared.get().is_some();
        let topic = self.topic_for(name, content_type, exclusive && !shared)?;
        let content_type = content_type.map(check_content_type).transpose()?;
        topic
            .open_shared(content_type.as_deref(), exclusive)
            .await?;
        Ok(topic)
    }

    /// Shares topics through the space's `topics` from now on.
    pub fn share_topics(&self, topics: Arc<dyn SharedTopics>) {
        let _ = self.topics.shared.set(topics);
    }

    /// Every topic this hub lists: its own and, in a space, the space's
    /// (those only in the space with no producer or subscriber here).
    pub async fn listed_topics(&self) -> Vec<TopicInfo> {
        let mut listed: Vec<TopicInfo> = self.topics().iter().map(|t| t.info()).collect();
        let Some(shared) = self.topics.shared.get() else {
            return listed;
        };
        match shared.list().await {
            Ok(space) => {
                for topic in space {
                    match listed.iter_mut().find(|t| t.topic == topic.name) {
                        Some(local) => {
                            local.content_type = topic.content_type;
                            local.retained_bytes = topic.retained_bytes;
                        }
                        None => listed.push(TopicInfo {
                            topic: topic.name.clone(),
                            topic_name: topic.name,
                            content_type: topic.content_type,
                            retained_bytes: topic.retained_bytes,
                            ..TopicInfo::default()
                        }),
                    }
                }
            }
            Err(e) => tracing::warn!("listing the space's topics failed: {e}"),
        }
        listed.sort_by(|a, b| a.topic.cmp(&b.topic));
        listed
    }

    /// Deletes a topic (in a space, everywhere); its subscribers' streams end.
    pub async fn delete_topic(&self, name: &str) -> Result<(), HubError> {
        check_name(name)?;
        let local = self.topics.lock().remove(name);
        if let Some(shared) = self.topics.shared.get() {
            shared.topic(name).delete().await?;
        } else if local.is_none() {
            return Err(HubError::NotFound(format!("Topic {name} not found")));
        }
        if let Some(topic) = local {
            topic.pipe.close();
        }
        self.log_line("info", &format!("topic {name} removed"));
        Ok(())
    }
}

/// The hub's topics as the runtime sees them (for plugins that publish or
/// subscribe at run time).
pub(super) struct HubTopics(pub(super) Weak<Hub>);

impl HubTopics {
    fn topic(&self, name: &str) -> Result<Arc<Topic>, String> {
        let hub = self.0.upgrade().ok_or("the hub is shutting down")?;
        hub.topic_for(name, None, false).map_err(|e| e.to_string())
    }
}

impl TopicBus for HubTopics {
    fn publisher(&self, topic: &str) -> Result<Box<dyn TopicPublisher>, String> {
        Ok(Box::new(self.topic(topic)?.producer()))
    }

    fn subscriber(&self, topic: &str) -> Result<Box<dyn TopicSubscriber>, String> {
        Ok(Box::new(self.topic(topic)?.subscribe()))
    }
}

impl TopicPublisher for Producer {
    fn publish(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.write(data).await.map_err(|e| e.to_string()) })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = Producer::finish(*self).await;
        })
    }
}

impl TopicSubscriber for Subscriber {
    fn next(&mut self) -> BoxFuture<'_, Option<Bytes>> {
        Box::pin(Subscriber::next(self))
    }
}

#[cfg(test)]
mod tests {
    use super::producer::BLOCK;
    use super::*;

    #[test]
    fn a_pending_record_is_packed_into_full_blocks() {
        let mut pending = Pending::default();
        let mut want = Vec::new();
        for i in 0..BLOCK {
            let byte = [b'a' + (i % 26) as u8];
            want.extend_from_slice(&byte);
            pending.push(&byte);
        }
        let big = vec![b'b'; 2 * BLOCK + 10];
        pending.push(&big);
        want.extend_from_slice(&big);
        assert_eq!(pending.len, want.len());
        let blocks = pending.take();
        let sizes: Vec<usize> = blocks.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [BLOCK, BLOCK, BLOCK, 10]);
        assert_eq!(blocks.concat(), want);
        assert_eq!(pending.len, 0);
        assert!(pending.take().is_empty());
    }
}
