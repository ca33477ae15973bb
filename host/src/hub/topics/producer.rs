//! Publishing to a topic: whole records cut at newlines and written a batch at a time.

use super::*;

/// Writes into a topic, keeping line-framed records whole.
pub struct Producer {
    pub(super) topic: Arc<Topic>,
    /// The start of a record whose newline has not come yet (it holds no
    /// newline and less than [`MAX_RECORD_BYTES`]).
    pub(super) pending: Pending,
    /// Set once a record was too large: every later write is refused.
    pub(super) refused: bool,
    /// This producer's id and its messages so far, which name each message
    /// published into a space's topic.
    pub(super) id: String,
    pub(super) sent: std::sync::atomic::AtomicU64,
}

/// A partial record, copied into blocks of [`BLOCK`] bytes: nothing of the
/// chunks it came in stays pinned (hyper reuses its read buffer), and no
/// buffer grows to the record's size, so the memory goes back to the
/// allocator in small pieces once the record is sent or refused.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) blocks: Vec<Bytes>,
    pub(super) block: BytesMut,
    pub(super) len: usize,
}

/// The size of a [`Pending`] block.
pub(super) const BLOCK: usize = 64 << 10;

impl Pending {
    pub(super) fn push(&mut self, mut part: &[u8]) {
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

    pub(super) fn seal(&mut self) {
        if !self.block.is_empty() {
            self.blocks.push(self.block.split().freeze());
        }
    }

    /// Every block, in order; empty afterwards.
    pub(super) fn take(&mut self) -> Vec<Bytes> {
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
        if let Some(shared) = &self.topic.shared {
            return self.publish_shared(shared.as_ref(), batch).await;
        }
        let sent = self.topic.pipe.write_batch(batch).await;
        sent.map_err(|Closed| PublishError::Deleted(self.topic.name.clone()))
    }

    async fn send_one(&self, chunk: Bytes) -> Result<(), PublishError> {
        if let Some(shared) = &self.topic.shared {
            return self.publish_shared(shared.as_ref(), vec![chunk]).await;
        }
        let sent = self.topic.pipe.write(chunk).await;
        sent.map_err(|Closed| PublishError::Deleted(self.topic.name.clone()))
    }

    /// Publishes a batch into the space's topic as messages of at most the
    /// space's size, cut at record ends for line-framed topics.
    async fn publish_shared(
        &self,
        shared: &dyn SharedTopic,
        batch: Vec<Bytes>,
    ) -> Result<(), PublishError> {
        let limit = shared.max_message();
        let lines = self.topic.line_framed();
        for message in messages(batch, limit, lines) {
            let message = message
                .map_err(|()| PublishError::MessageTooLarge(self.topic.name.clone(), limit))?;
            let len = message.len() as u64;
            let n = self.sent.fetch_add(1, Ordering::Relaxed);
            shared.publish(format!("{}-{n}", self.id), message).await?;
            self.topic
                .shared_published
                .fetch_add(len, Ordering::Relaxed);
        }
        Ok(())
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

/// Cuts a batch into messages of at most `limit` bytes; with `lines`, only
/// at newlines (`Err` for a record longer than `limit`).
fn messages(batch: Vec<Bytes>, limit: usize, lines: bool) -> Vec<Result<Bytes, ()>> {
    let total: usize = batch.iter().map(Bytes::len).sum();
    let whole = if batch.len() == 1 {
        batch.into_iter().next().unwrap_or_default()
    } else {
        let mut joined = BytesMut::with_capacity(total);
        for part in &batch {
            joined.extend_from_slice(part);
        }
        joined.freeze()
    };
    let mut out = Vec::new();
    let mut rest = whole;
    while rest.len() > limit {
        let cut = if lines {
            match rest[..limit].iter().rposition(|&b| b == b'\n') {
                Some(last) => last + 1,
                None => {
                    out.push(Err(()));
                    return out;
                }
            }
        } else {
            limit
        };
        out.push(Ok(rest.split_to(cut)));
    }
    if !rest.is_empty() {
        out.push(Ok(rest));
    }
    out
}
