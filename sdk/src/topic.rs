//! Topics at run time: publish to and subscribe to named topics shared with
//! other instances and HTTP clients.

use std::io::{self, BufRead, Read};

use serde::Serialize;

use crate::host;
use crate::io::{CHUNK_SIZE, Chunks};
use crate::transform::Records;
use crate::{Error, Result};

/// Publishes `data` to `topic` (created as `application/x-ndjson` on first
/// use). For line-framed topics only whole lines go out; a partial last line
/// is completed with a newline when the instance ends.
///
/// ```no_run
/// weir_sdk::topic::publish("audit", b"{\"event\":\"login\"}\n")?;
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn publish(topic: &str, data: &[u8]) -> Result<()> {
    host::publish(topic, data).map_err(Error::from)
}

/// Publishes `record` to `topic` as one line of compact JSON.
///
/// ```no_run
/// weir_sdk::topic::publish_record("audit", &serde_json::json!({ "event": "login" }))?;
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn publish_record<T: Serialize + ?Sized>(topic: &str, record: &T) -> Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    publish(topic, &line)
}

/// Subscribes to `topic`: from now on every record published to it is kept
/// for this instance (the first subscriber also gets what was retained).
///
/// ```no_run
/// use std::io::BufRead;
///
/// let orders = weir_sdk::topic::subscribe("orders")?;
/// for line in orders.lines() {
///     let _line = line?;
/// }
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn subscribe(topic: &str) -> Result<TopicReader> {
    host::subscribe(topic).map_err(Error::from)?;
    Ok(TopicReader {
        topic: topic.to_string(),
        chunks: Chunks::default(),
    })
}

/// A subscribed topic as a byte stream ([`Read`], [`BufRead`]). It ends when
/// the topic is deleted.
pub struct TopicReader {
    topic: String,
    chunks: Chunks,
}

impl TopicReader {
    /// The topic's ndjson records as `T`s.
    pub fn records<T: serde::de::DeserializeOwned>(&mut self) -> Records<&mut Self, T> {
        Records::new(self)
    }
}

impl Read for TopicReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for TopicReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let topic = &self.topic;
        self.chunks
            .fill(|| Ok(host::read(topic, CHUNK_SIZE as u32)))
    }

    fn consume(&mut self, amt: usize) {
        self.chunks.consume(amt);
    }
}
