//! Topics across the hubs of a space, on JetStream.
//!
//! Each topic is one stream, `weir-topic-<space>-<name>`, on one subject,
//! with interest retention, `discard: new` and `max_bytes` the topic
//! retention (`--topic-retention-mb`):
//!
//! - every subscriber, on any hub, reads its own pull consumer, acking each
//!   message once it has it, so it gets every record from when it joined,
//!   once and in each producer's order;
//! - a message is removed once every consumer has it, and a full stream
//!   refuses publishes: producers wait and retry, so the slowest subscriber
//!   back-pressures them and nothing is dropped;
//! - while no one subscribes, a durable `keeper` consumer holds what is
//!   published (up to the retention) for the next subscriber, which takes
//!   the keeper over: as on one hub, what was published before anyone
//!   listened goes to the first subscriber. The stream is made with its
//!   keeper, and the last subscriber to leave makes the keeper again from
//!   where it stopped reading.
//!
//! Messages are whole-record batches of at most the server's message size
//! (the hub cuts them, `hub::topics`). The topic's content type is kept in
//! the stream's metadata.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, context, stream};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::OnceCell;

use super::Reconnects;
use crate::hub::HubError;
use crate::hub::topics::{
    DEFAULT_CONTENT_TYPE, PublishError, SharedSubscription, SharedTopic, SharedTopicInfo,
    SharedTopics, compatible,
};
use crate::runtime::BoxFuture;

/// The durable consumer holding records for the next subscriber.
const KEEPER: &str = "keeper";

/// How long a subscriber's consumer outlives its hub going silent.
const INACTIVE: Duration = Duration::from_secs(10);

/// Headroom left under the server's message size for the subject and headers.
const HEADROOM: usize = 4 << 10;

/// The space's topics.
#[derive(Clone)]
pub struct Topics {
    js: jetstream::Context,
    space: String,
    retention_bytes: i64,
    max_payload: usize,
    reconnects: Reconnects,
}

impl Topics {
    pub(super) fn new(
        js: jetstream::Context,
        client: &async_nats::Client,
        space: &str,
        retention_bytes: u64,
        reconnects: Reconnects,
    ) -> Topics {
        Topics {
            js,
            space: space.to_string(),
            retention_bytes: i64::try_from(retention_bytes).unwrap_or(i64::MAX),
            max_payload: client.server_info().max_payload,
            reconnects,
        }
    }

    fn prefix(&self) -> String {
        format!("weir-topic-{}-", self.space)
    }
}

/// A topic name as a stream name and subject token: `.`, `+` and `_` are
/// spelled `_2e`, `_2b` and `_5f` (stream names and subject tokens take no
/// dots), so the spelling is reversible.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '.' => out.push_str("_2e"),
            '+' => out.push_str("_2b"),
            '_' => out.push_str("_5f"),
            c => out.push(c),
        }
    }
    out
}

/// Whether JetStream answered that the stream does not exist.
fn not_found(e: &context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

fn unavailable(e: impl std::fmt::Display) -> HubError {
    HubError::Capacity(format!(
        "the space's topics are unavailable ({e}); retry when NATS is back"
    ))
}

impl SharedTopics for Topics {
    fn topic(&self, name: &str) -> Arc<dyn SharedTopic> {
        let token = encode(name);
        Arc::new(SpaceTopic {
            name: name.to_string(),
            stream: format!("{}{token}", self.prefix()),
            subject: format!("weir.{}.topic.{token}", self.space),
            topics: self.clone(),
            opened: OnceCell::new(),
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SharedTopicInfo>, HubError>> {
        Box::pin(async move {
            let prefix = self.prefix();
            let mut streams = self.js.streams();
            let mut all = Vec::new();
            while let Some(info) = streams.next().await {
                let info = info.map_err(unavailable)?;
                if !info.config.name.starts_with(&prefix) {
                    continue;
                }
                let meta = &info.config.metadata;
                let Some(name) = meta.get("weir-topic") else {
                    continue;
                };
                all.push(SharedTopicInfo {
                    name: name.clone(),
                    content_type: meta
                        .get("content-type")
                        .cloned()
                        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
                    retained_bytes: info.state.bytes,
                    consumers: info.state.consumer_count,
                });
            }
            Ok(all)
        })
    }
}

#[derive(Clone)]
struct SpaceTopic {
    name: String,
    stream: String,
    subject: String,
    topics: Topics,
    /// Set once the stream is known to exist (publishing opens it first).
    opened: OnceCell<()>,
}

impl SpaceTopic {
    fn config(&self, content_type: &str, declared: bool) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            description: Some(format!("weir topic {}", self.name)),
            subjects: vec![self.subject.clone()],
            retention: stream::RetentionPolicy::Interest,
            discard: stream::DiscardPolicy::New,
            max_bytes: self.topics.retention_bytes,
            storage: stream::StorageType::File,
            metadata: HashMap::from([
                ("weir-topic".to_string(), self.name.clone()),
                ("content-type".to_string(), content_type.to_string()),
                ("declared".to_string(), declared.to_string()),
            ]),
            ..Default::default()
        }
    }

    async fn open_stream(
        &self,
        content_type: Option<&str>,
        exclusive: bool,
    ) -> Result<(String, bool), HubError> {
        let js = &self.topics.js;
        for _ in 0..3 {
            match js.get_stream(&self.stream).await {
                Ok(mut stream) => {
                    if exclusive {
                        return Err(HubError::BadRequest(format!(
                            "Topic {} already exists",
                            self.name
                        )));
                    }
                    let info = stream.info().await.map_err(unavailable)?.clone();
                    let meta = &info.config.metadata;
                    let current = meta
                        .get("content-type")
                        .cloned()
                        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
                    let declared = meta.get("declared").is_some_and(|d| d == "true");
                    let _ = self.opened.set(());
                    return match content_type {
                        None => Ok((current, declared)),
                        Some(wanted) if !declared => {
                            let mut config = info.config.clone();
                            config
                                .metadata
                                .insert("content-type".into(), wanted.to_string());
                            config.metadata.insert("declared".into(), "true".into());
                            js.update_stream(config).await.map_err(unavailable)?;
                            Ok((wanted.to_string(), true))
                        }
                        Some(wanted) if compatible(&current, wanted) => Ok((current, declared)),
                        Some(_) => Err(HubError::Mismatch(format!(
                            "Acceptable Content-Type for {} is {current}",
                            self.name
                        ))),
                    };
                }
                Err(e) if not_found(&e) => {
                    let declared = content_type.is_some();
                    let content_type = content_type.unwrap_or(DEFAULT_CONTENT_TYPE);
                    match js.create_stream(self.config(content_type, declared)).await {
                        Ok(stream) => {
                            make_keeper(&stream, consumer::DeliverPolicy::All).await;
                            let _ = self.opened.set(());
                            return Ok((content_type.to_string(), declared));
                        }
                        // Another hub made it first: read what it made.
                        Err(_) => continue,
                    }
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(unavailable(format!(
            "topic {} could not be opened",
            self.name
        )))
    }

    async fn ensure(&self) -> Result<(), HubError> {
        self.opened
            .get_or_try_init(|| async { self.open_stream(None, false).await.map(|_| ()) })
            .await
            .map(|_| ())
    }

    /// Whether the stream is gone (deleted), as opposed to NATS being away.
    async fn deleted(&self) -> bool {
        matches!(self.topics.js.get_stream(&self.stream).await, Err(e) if not_found(&e))
    }

    async fn publish_message(&self, id: String, message: Bytes) -> Result<(), PublishError> {
        self.ensure()
            .await
            .map_err(|e| PublishError::Unavailable(self.name.clone(), e.to_string()))?;
        let mut backoff = Duration::from_millis(2);
        loop {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            let acked = match self
                .topics
                .js
                .publish_with_headers(self.subject.clone(), headers, message.clone())
                .await
            {
                Ok(ack) => ack.await.map(|_| ()),
                Err(e) => Err(e),
            };
            match acked {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == context::PublishErrorKind::MaxPayloadExceeded => {
                    return Err(PublishError::MessageTooLarge(
                        self.name.clone(),
                        self.max_message(),
                    ));
                }
                Err(e)
                    if e.kind() == context::PublishErrorKind::StreamNotFound
                        && self.deleted().await =>
                {
                    return Err(PublishError::Deleted(self.name.clone()));
                }
                // Full (the slowest subscriber is behind), or NATS away:
                // wait, then publish the same message again.
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    async fn subscription(&self) -> Result<Box<dyn SharedSubscription>, HubError> {
        self.ensure().await?;
        let mut stream = self
            .topics
            .js
            .get_stream(&self.stream)
            .await
            .map_err(unavailable)?;
        let joined = stream
            .info()
            .await
            .map_err(unavailable)?
            .state
            .last_sequence;
        let keeper = stream.consumer_info(KEEPER).await.ok();
        let start = keeper
            .as_ref()
            .map_or(joined + 1, |k| k.ack_floor.stream_sequence + 1);
        let name = uuid::Uuid::new_v4().simple().to_string();
        create_reader(&stream, &name, start)
            .await
            .map_err(unavailable)?;
        // Whoever deletes the keeper was first and reads what it held; a
        // subscriber that lost the race skips what came before it joined.
        let first = keeper.is_some() && stream.delete_consumer(KEEPER).await.is_ok();
        Ok(Box::new(Subscription {
            topic: self.clone(),
            stream,
            consumer: name,
            skip_through: if first { 0 } else { joined },
            next_sequence: start,
            messages: None,
            attached: false,
            seen_reconnects: self.topics.reconnects.load(Ordering::Relaxed),
        }))
    }
}

async fn create_reader(
    stream: &stream::Stream,
    name: &str,
    start: u64,
) -> Result<consumer::PullConsumer, String> {
    stream
        .create_consumer(consumer::pull::Config {
            name: Some(name.to_string()),
            deliver_policy: if start <= 1 {
                consumer::DeliverPolicy::All
            } else {
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                }
            },
            ack_policy: consumer::AckPolicy::Explicit,
            inactive_threshold: INACTIVE,
            max_ack_pending: 4096,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())
}

/// Makes the keeper (if there is none) reading from `deliver`.
async fn make_keeper(stream: &stream::Stream, deliver: consumer::DeliverPolicy) {
    let _ = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(KEEPER.to_string()),
            deliver_policy: deliver,
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await;
}

impl SharedTopic for SpaceTopic {
    fn open<'a>(
        &'a self,
        content_type: Option<&'a str>,
        exclusive: bool,
    ) -> BoxFuture<'a, Result<(String, bool), HubError>> {
        Box::pin(self.open_stream(content_type, exclusive))
    }

    fn max_message(&self) -> usize {
        self.topics.max_payload.saturating_sub(HEADROOM).max(1)
    }

    fn publish(&self, id: String, message: Bytes) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(self.publish_message(id, message))
    }

    fn subscribe(&self) -> BoxFuture<'_, Result<Box<dyn SharedSubscription>, HubError>> {
        Box::pin(self.subscription())
    }

    fn delete(&self) -> BoxFuture<'_, Result<(), HubError>> {
        Box::pin(async move {
            match self.topics.js.delete_stream(&self.stream).await {
                Ok(_) => Ok(()),
                Err(_) if self.deleted().await => {
                    Err(HubError::NotFound(format!("Topic {} not found", self.name)))
                }
                Err(e) => Err(unavailable(e)),
            }
        })
    }
}

/// A subscriber's consumer of a topic stream.
struct Subscription {
    topic: SpaceTopic,
    stream: stream::Stream,
    consumer: String,
    /// Messages up to this stream sequence were published before the
    /// subscriber joined (0: none to skip).
    skip_through: u64,
    /// The stream sequence after the last message delivered.
    next_sequence: u64,
    messages: Option<consumer::pull::Stream>,
    /// Whether the consumer has been read from (attaching again replaces it).
    attached: bool,
    seen_reconnects: u64,
}

impl Subscription {
    /// Attaches to the consumer. Attaching again (after an error or a
    /// reconnect) replaces the consumer with one starting where this
    /// subscriber stopped: messages the old one had handed to the client but
    /// not yet to the subscriber would otherwise come back only after the ack
    /// wait, behind later ones. The new one is made before the old one goes,
    /// so the stream keeps its interest in them.
    async fn attach(&mut self) -> Result<(), String> {
        if self.attached {
            let fresh = uuid::Uuid::new_v4().simple().to_string();
            create_reader(&self.stream, &fresh, self.next_sequence).await?;
            let _ = self.stream.delete_consumer(&self.consumer).await;
            self.consumer = fresh;
        }
        let consumer: consumer::PullConsumer = match self.stream.get_consumer(&self.consumer).await
        {
            Ok(consumer) => consumer,
            Err(_) => create_reader(&self.stream, &self.consumer, self.next_sequence).await?,
        };
        self.attached = true;
        // Short heartbeats: a pull lost while NATS restarted shows as missed
        // heartbeats within seconds, and the subscriber attaches again.
        let messages = consumer
            .stream()
            .max_messages_per_batch(256)
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        self.messages = Some(messages);
        self.seen_reconnects = self.topic.topics.reconnects.load(Ordering::Relaxed);
        Ok(())
    }

    async fn next_message(&mut self) -> Option<Bytes> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            if self.messages.is_none()
                && let Err(e) = self.attach().await
            {
                if self.topic.deleted().await {
                    return None;
                }
                tracing::info!("topic {}: attaching again: {e}", self.topic.name);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            let messages = self.messages.as_mut()?;
            let next = tokio::select! {
                next = messages.next() => next,
                _ = tick.tick() => {
                    if self.topic.topics.reconnects.load(Ordering::Relaxed) != self.seen_reconnects {
                        tracing::info!("topic {}: NATS reconnected; reading again", self.topic.name);
                        self.messages = None;
                    }
                    continue;
                }
            };
            match next {
                Some(Ok(message)) => {
                    let sequence = message.info().map_or(0, |i| i.stream_sequence);
                    if sequence < self.next_sequence && sequence != 0 {
                        let _ = message.ack().await;
                        continue; // delivered again after a reattach
                    }
                    // A failed ack may still have reached the server, so the
                    // message is delivered anyway; should it come again it
                    // is recognised above by its sequence.
                    if message.ack().await.is_err() {
                        self.messages = None;
                    }
                    self.next_sequence = sequence + 1;
                    if sequence <= self.skip_through {
                        continue;
                    }
                    return Some(message.message.payload);
                }
                Some(Err(e)) => {
                    tracing::info!("topic {}: reading again after: {e}", self.topic.name);
                    self.messages = None;
                    if self.topic.deleted().await {
                        return None;
                    }
                }
                None => {
                    self.messages = None;
                    if self.topic.deleted().await {
                        return None;
                    }
                }
            }
        }
    }
}

impl SharedSubscription for Subscription {
    fn next(&mut self) -> BoxFuture<'_, Option<Bytes>> {
        Box::pin(self.next_message())
    }
}

impl Drop for Subscription {
    /// Leaves the topic: the last subscriber makes the keeper again from
    /// where it stopped, so what is published next waits for the next one.
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut stream = self.stream.clone();
        let consumer = self.consumer.clone();
        let from = self.next_sequence;
        runtime.spawn(async move {
            let alone = match stream.info().await {
                Ok(info) => info.state.consumer_count <= 1,
                Err(_) => false,
            };
            if alone {
                let deliver = if from <= 1 {
                    consumer::DeliverPolicy::All
                } else {
                    consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: from,
                    }
                };
                make_keeper(&stream, deliver).await;
            }
            let _ = stream.delete_consumer(&consumer).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn topic_names_spell_as_distinct_stream_tokens() {
        assert_eq!(encode("sensors"), "sensors");
        assert_eq!(encode("a.b+c_d-e"), "a_2eb_2bc_5fd-e");
        assert_ne!(encode("a_2e"), encode("a.")); // `_` is escaped too
    }
}
