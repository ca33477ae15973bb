//! Reading a topic, from the local pipe or the space's stream.

use super::*;

/// Reads from a topic.
pub struct Subscriber {
    pub(super) topic: Arc<Topic>,
    pub(super) reader: Reading,
}

/// Where a subscriber reads: the hub's pipe, or its subscription to the
/// space's topic (made by [`Subscriber::ready`]).
pub(super) enum Reading {
    Local(PipeReader),
    Shared(Option<Box<dyn SharedSubscription>>),
}

impl Subscriber {
    /// In a space, subscribes to the space's topic now (records published
    /// from here on reach this subscriber); on one hub there is nothing to do.
    pub async fn ready(&mut self) -> Result<(), HubError> {
        let Reading::Shared(subscription @ None) = &mut self.reader else {
            return Ok(());
        };
        let Some(shared) = &self.topic.shared else {
            return Ok(());
        };
        *subscription = Some(shared.subscribe().await?);
        Ok(())
    }

    /// The next chunk (`None` once the topic is deleted).
    pub async fn next(&mut self) -> Option<Bytes> {
        if let Reading::Shared(None) = &self.reader
            && let Err(e) = self.ready().await
        {
            tracing::warn!("subscribing to topic {} failed: {e}", self.topic.name);
            return None;
        }
        let chunk = match &mut self.reader {
            Reading::Local(reader) => reader.next().await,
            Reading::Shared(Some(subscription)) => subscription.next().await,
            Reading::Shared(None) => None,
        };
        if let Some(chunk) = &chunk {
            self.topic.delivered.count(chunk);
        }
        chunk
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
