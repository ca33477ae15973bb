//! `weir:plugin/topics`: publishing to and subscribing to the hub's topics.

use std::sync::Arc;

use bytes::Bytes;

use super::io::MAX_READ;
use crate::runtime::bindings;
use crate::runtime::state::{InstanceState, Subscription};
use crate::runtime::topics::TopicBus;

/// Most topics one instance may publish to or subscribe to.
const MAX_TOPICS_PER_INSTANCE: usize = 64;

impl InstanceState {
    fn bus(&self) -> Result<&Arc<dyn TopicBus>, String> {
        self.topics
            .as_ref()
            .ok_or_else(|| "topics are not available here (run the plugin on a hub)".to_string())
    }
}

impl bindings::weir::plugin::topics::Host for InstanceState {
    async fn publish(&mut self, topic: String, data: Vec<u8>) -> Result<(), String> {
        if !self.publishers.contains_key(&topic) {
            if self.publishers.len() >= MAX_TOPICS_PER_INSTANCE {
                return Err(format!(
                    "an instance may publish to at most {MAX_TOPICS_PER_INSTANCE} topics"
                ));
            }
            let publisher = self.bus()?.publisher(&topic)?;
            self.publishers.insert(topic.clone(), publisher);
        }
        let Some(publisher) = self.publishers.get_mut(&topic) else {
            return Err(format!("topic {topic} is gone"));
        };
        publisher.publish(Bytes::from(data)).await
    }

    async fn subscribe(&mut self, topic: String) -> Result<(), String> {
        if self.subscriptions.contains_key(&topic) {
            return Ok(());
        }
        if self.subscriptions.len() >= MAX_TOPICS_PER_INSTANCE {
            return Err(format!(
                "an instance may subscribe to at most {MAX_TOPICS_PER_INSTANCE} topics"
            ));
        }
        let subscriber = self.bus()?.subscriber(&topic)?;
        self.subscriptions.insert(
            topic,
            Subscription {
                subscriber,
                pending: Bytes::new(),
            },
        );
        Ok(())
    }

    async fn read(&mut self, topic: String, max_len: u32) -> Option<Vec<u8>> {
        let subscription = self.subscriptions.get_mut(&topic)?;
        subscription.read(max_len.clamp(1, MAX_READ) as usize).await
    }
}
