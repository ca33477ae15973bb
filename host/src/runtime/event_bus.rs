//! An instance's events: the last one per name and a live feed for every subscriber.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;

use crate::streams::{Overflow, Pipe, PipeReader};

/// An event emitted by an instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmittedEvent {
    /// Event name.
    pub name: String,
    /// The message as JSON text.
    pub message: String,
}

/// Events an instance emitted: the last one per name, and a live feed in
/// which every subscriber gets every event from when it subscribed (the
/// oldest are dropped only past the feed's capacity, never blocking the guest).
#[derive(Clone)]
pub struct EventBus {
    last: Arc<Mutex<HashMap<String, Arc<str>>>>,
    feed: Pipe,
}

/// A subscription to an [`EventBus`].
pub struct EventStream {
    reader: PipeReader,
}

impl EventStream {
    /// The next event, or `None` once the instance has ended.
    pub async fn next(&mut self) -> Option<EmittedEvent> {
        loop {
            let chunk = self.reader.next().await?;
            if let Ok(event) = serde_json::from_slice(&chunk) {
                return Some(event);
            }
        }
    }
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        EventBus {
            last: Arc::default(),
            feed: Pipe::new(capacity, Overflow::DropOldest),
        }
    }

    /// The last message emitted under `name`.
    pub fn last(&self, name: &str) -> Option<Arc<str>> {
        self.lock().get(name).cloned()
    }

    /// Every event emitted from now on.
    pub fn subscribe(&self) -> EventStream {
        EventStream {
            reader: self.feed.reader_live(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<str>>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn publish(&self, name: String, message: String) {
        let message = if serde_json::from_str::<serde::de::IgnoredAny>(&message).is_ok() {
            message
        } else {
            // Not JSON: deliver it as a JSON string rather than corrupt readers.
            Value::String(message).to_string()
        };
        self.lock().insert(name.clone(), message.as_str().into());
        if let Ok(line) = serde_json::to_vec(&EmittedEvent { name, message }) {
            self.feed.push_lossy(Bytes::from(line));
        }
    }

    pub(crate) fn close(&self) {
        self.feed.close();
    }
}
