//! How a guest reaches the hub's topics (`weir:plugin/topics`). The runtime
//! sits below the hub, so it only knows these traits; the hub implements them.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// A boxed future, as the topic traits return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Access to named topics, given to an instance at start.
pub trait TopicBus: Send + Sync + 'static {
    /// A producer for `topic` (created on first use).
    fn publisher(&self, topic: &str) -> Result<Box<dyn TopicPublisher>, String>;
    /// A subscription to `topic` (created on first use).
    fn subscriber(&self, topic: &str) -> Result<Box<dyn TopicSubscriber>, String>;
}

/// Writes into one topic.
pub trait TopicPublisher: Send {
    /// Publishes `data`, waiting while the topic is full.
    fn publish(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), String>>;
    /// Completes a partial last record; called when the instance ends.
    fn finish(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Reads one topic.
pub trait TopicSubscriber: Send {
    /// The next chunk; `None` when the topic was deleted.
    fn next(&mut self) -> BoxFuture<'_, Option<Bytes>>;
}
