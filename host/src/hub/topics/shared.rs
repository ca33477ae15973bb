//! Topics shared by the hubs of a space: what the space's JetStream streams provide.

use super::*;

/// Topics shared by the hubs of a space.
pub trait SharedTopics: Send + Sync {
    /// The space's topic `name` (a handle; nothing is created yet).
    fn topic(&self, name: &str) -> Arc<dyn SharedTopic>;
    /// Every topic of the space.
    fn list(&self) -> BoxFuture<'_, Result<Vec<SharedTopicInfo>, HubError>>;
}

/// A space-wide topic, as a hub uses it.
pub trait SharedTopic: Send + Sync {
    /// Creates the topic in the space if it is not there (`exclusive`: 400
    /// if it is), declaring `content_type` when it has none; answers the
    /// space's content type and whether it is declared (415 when
    /// `content_type` is not compatible with it).
    fn open<'a>(
        &'a self,
        content_type: Option<&'a str>,
        exclusive: bool,
    ) -> BoxFuture<'a, Result<(String, bool), HubError>>;
    /// The largest message the space carries: a batch is cut into messages
    /// of at most this size, at record ends for line-framed topics.
    fn max_message(&self) -> usize;
    /// Publishes one message, waiting while the topic is full. `id` is
    /// unique per message: a message sent again after a lost acknowledgement
    /// (NATS restarting) is stored once.
    fn publish(&self, id: String, message: Bytes) -> BoxFuture<'_, Result<(), PublishError>>;
    /// A new subscription, live from now (or from what was kept for the
    /// next subscriber, if it is the first).
    fn subscribe(&self) -> BoxFuture<'_, Result<Box<dyn SharedSubscription>, HubError>>;
    /// Deletes the topic everywhere; its subscriptions end.
    fn delete(&self) -> BoxFuture<'_, Result<(), HubError>>;
}

/// One subscriber's reading of a space-wide topic.
pub trait SharedSubscription: Send {
    /// The next message; `None` once the topic is deleted.
    fn next(&mut self) -> BoxFuture<'_, Option<Bytes>>;
}

/// A space-wide topic as the space lists it.
#[derive(Debug, Clone)]
pub struct SharedTopicInfo {
    /// Topic name.
    pub name: String,
    /// Content type.
    pub content_type: String,
    /// Bytes the space holds for its subscribers.
    pub retained_bytes: u64,
    /// Subscriptions (and the keeper) reading it, on every hub.
    pub consumers: usize,
}
