//! Topics: named pub/sub streams between instances and HTTP clients.
//!
//! A topic is a bounded fan-out [`Pipe`]: data published before anyone
//! subscribes is retained (up to the topic capacity, then producers wait) and
//! goes to the first subscriber; every subscriber gets every record from when
//! it joined; the slowest subscriber back-pressures producers. For the
//! line-framed content types each producer's bytes are cut at newlines and
//! written one whole-record batch at a time, so records from concurrent
//! producers interleave whole and no producer waits for another's body to end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::{Bytes, BytesMut};
use serde::Serialize;

use super::{Hub, HubError};
use crate::runtime::{BoxFuture, TopicBus, TopicPublisher, TopicSubscriber};
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
            PublishError::RecordTooLarge(_) => HubError::TooLarge(e.to_string()),
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

/// A topic's state as `/topics` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicInfo {
    /// Topic name.
    pub topic: String,
    /// Topic name (Scramjet's second spelling).
    pub topic_name: String,
    /// What it carries.
    pub content_type: String,
    /// Producers writing now (HTTP bodies and instance outputs).
    pub producers: usize,
    /// Subscribers reading now (HTTP streams and instance inputs).
    pub subscribers: usize,
    /// Bytes held for subscribers.
    pub retained_bytes: usize,
    /// Bytes published since the topic was created.
    pub published_bytes: u64,
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
        TopicInfo {
            topic: self.name.clone(),
            topic_name: self.name.clone(),
            content_type: self.content_type(),
            producers: self.producers.load(Ordering::Relaxed),
            subscribers: self.subscribers.load(Ordering::Relaxed),
            retained_bytes: self.pipe.buffered(),
            published_bytes: self.pipe.total_written(),
        }
    }

    /// A producer handle; records written through it go out whole.
    pub fn producer(self: &Arc<Self>) -> Producer {
        self.producers.fetch_add(1, Ordering::Relaxed);
        Producer {
            topic: self.clone(),
            pending: Pending::default(),
            refused: false,
        }
    }

    /// A subscriber: the first one gets what was retained, later ones start live.
    pub fn subscribe(self: &Arc<Self>) -> Subscriber {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscriber {
            reader: self.pipe.reader(),
            topic: self.clone(),
        }
    }
}

/// Writes into a topic, keeping line-framed records whole.
pub struct Producer {
    topic: Arc<Topic>,
    /// The start of a record whose newline has not come yet (it holds no
    /// newline and less than [`MAX_RECORD_BYTES`]).
    pending: Pending,
    /// Set once a record was too large: every later write is refused.
    refused: bool,
}

/// A partial record, copied into blocks of [`BLOCK`] bytes: nothing of the
/// chunks it came in stays pinned (hyper reuses its read buffer), and no
/// buffer grows to the record's size, so the memory goes back to the
/// allocator in small pieces once the record is sent or refused.
#[derive(Default)]
struct Pending {
    blocks: Vec<Bytes>,
    block: BytesMut,
    len: usize,
}

/// The size of a [`Pending`] block.
const BLOCK: usize = 64 << 10;

impl Pending {
    fn push(&mut self, mut part: &[u8]) {
        self.len += part.len();
        while !part.is_empty() {
            if self.block.len() == BLOCK {
                self.seal();
            }
            if self.block.capacity() == 0 {
                self.block.reserve(BLOCK);
            }
            let n = (BLOCK - self.block.len()).min(part.len());
            self.block.extend_from_slice(&part[..n]);
            part = &part[n..];
        }
    }

    fn seal(&mut self) {
        if !self.block.is_empty() {
            self.blocks.push(self.block.split().freeze());
        }
    }

    /// Every block, in order; empty afterwards.
    fn take(&mut self) -> Vec<Bytes> {
        self.seal();
        self.len = 0;
        self.block = BytesMut::new();
        std::mem::take(&mut self.blocks)
    }
}

impl Producer {
    /// Publishes `chunk`. For line-framed topics only complete lines go out;
    /// a trailing partial line waits for the rest (or [`finish`](Self::finish)).
    /// Only `chunk` is searched for newlines, never what is already pending,
    /// so a long record costs time in proportion to its length.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), PublishError> {
        if self.refused {
            return Err(self.too_large());
        }
        if !self.topic.line_framed() {
            return self.send_one(chunk).await;
        }
        let Some(last) = chunk.iter().rposition(|&b| b == b'\n') else {
            return self.keep(&chunk);
        };
        let records = chunk.slice(..=last);
        if self.pending.len == 0 {
            self.send_one(records).await?;
        } else {
            let first = chunk.iter().position(|&b| b == b'\n').unwrap_or(last);
            if self.pending.len + first + 1 > MAX_RECORD_BYTES {
                return Err(self.refuse());
            }
            let mut batch = self.pending.take();
            batch.push(records);
            self.send(batch).await?;
        }
        self.keep(&chunk[last + 1..])
    }

    /// Adds newline-free bytes to the pending record, refusing the producer
    /// if the record would grow past the limit.
    fn keep(&mut self, part: &[u8]) -> Result<(), PublishError> {
        if self.pending.len + part.len() >= MAX_RECORD_BYTES {
            return Err(self.refuse());
        }
        self.pending.push(part);
        Ok(())
    }

    fn refuse(&mut self) -> PublishError {
        self.refused = true;
        self.pending = Pending::default();
        self.too_large()
    }

    fn too_large(&self) -> PublishError {
        PublishError::RecordTooLarge(self.topic.name.clone())
    }

    async fn send(&self, batch: Vec<Bytes>) -> Result<(), PublishError> {
        let sent = self.topic.pipe.write_batch(batch).await;
        sent.map_err(|Closed| PublishError::Deleted(self.topic.name.clone()))
    }

    async fn send_one(&self, chunk: Bytes) -> Result<(), PublishError> {
        let sent = self.topic.pipe.write(chunk).await;
        sent.map_err(|Closed| PublishError::Deleted(self.topic.name.clone()))
    }

    /// Ends this producer's contribution: a partial last record gets its
    /// newline. The topic itself stays open.
    pub async fn finish(mut self) -> Result<(), PublishError> {
        if self.refused {
            return Err(self.too_large());
        }
        if self.pending.len == 0 {
            return Ok(());
        }
        let mut last = self.pending.take();
        last.push(Bytes::from_static(b"\n"));
        self.send(last).await
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.topic.producers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads from a topic.
pub struct Subscriber {
    topic: Arc<Topic>,
    reader: PipeReader,
}

impl Subscriber {
    /// The next chunk (`None` once the topic is deleted).
    pub async fn next(&mut self) -> Option<Bytes> {
        self.reader.next().await
    }

    /// The chunks as a stream (for HTTP bodies).
    pub fn into_stream(self) -> impl futures::Stream<Item = Bytes> + Send + 'static {
        futures::stream::unfold(
            self,
            |mut sub| async move { sub.next().await.map(|c| (c, sub)) },
        )
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.topic.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(super) struct TopicRegistry {
    by_name: Mutex<BTreeMap<String, Arc<Topic>>>,
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
        });
        all.insert(name.to_string(), topic.clone());
        drop(all);
        self.log_line(
            "info",
            &format!("topic {name} created ({})", topic.content_type()),
        );
        Ok(topic)
    }

    /// Deletes a topic; its subscribers' streams end.
    pub fn delete_topic(&self, name: &str) -> Result<(), HubError> {
        check_name(name)?;
        let topic = self
            .topics
            .lock()
            .remove(name)
            .ok_or_else(|| HubError::NotFound(format!("Topic {name} not found")))?;
        topic.pipe.close();
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
