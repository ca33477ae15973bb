//! Bounded byte pipes between an instance and its readers.
//!
//! A [`Pipe`] has one writer side (the instance) and any number of readers
//! (HTTP clients, the local CLI). Its rules are the ones weir promises users:
//!
//! - Bytes written before any reader exists are kept, up to the capacity, and
//!   delivered to the first reader that joins.
//! - A reader that joins while others are reading gets every chunk from the
//!   moment it joined.
//! - Memory is bounded by the capacity. With [`Overflow::Block`] a full pipe
//!   makes the writer wait for the slowest reader (backpressure); with
//!   [`Overflow::DropOldest`] (logs) the oldest chunks are dropped instead so a
//!   chatty instance never stalls because nobody reads its log.
//! - A replay pipe ([`Pipe::replay`], the hub log) keeps its newest chunks
//!   (up to the capacity) even once read, so every reader that joins with
//!   [`Pipe::reader_from_oldest`] gets them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

/// What a full pipe does with a new chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The writer waits until readers make room (output, stdout).
    Block,
    /// The oldest chunks are dropped to make room (log, stderr).
    DropOldest,
}

/// What went through a stream: bytes, writes and newline-terminated records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    /// Bytes.
    pub bytes: u64,
    /// Writes (chunks).
    pub chunks: u64,
    /// Newlines, i.e. records of a line-based stream.
    pub lines: u64,
}

impl Flow {
    /// The two flows together.
    pub fn plus(self, other: Flow) -> Flow {
        Flow {
            bytes: self.bytes + other.bytes,
            chunks: self.chunks + other.chunks,
            lines: self.lines + other.lines,
        }
    }
}

/// Counts what goes through one stream, without a lock. Lines are counted
/// until [`FlowMeter::bytes_only`] says the stream carries bytes, not records.
#[derive(Debug, Default)]
pub struct FlowMeter {
    bytes: AtomicU64,
    chunks: AtomicU64,
    lines: AtomicU64,
    bytes_only: std::sync::atomic::AtomicBool,
}

impl FlowMeter {
    /// Counts one write of `data`.
    pub fn count(&self, data: &[u8]) {
        self.count_parts(data.len(), self.lines_in(data), 1);
    }

    /// The newlines of `data`, or 0 on a byte stream.
    fn lines_in(&self, data: &[u8]) -> usize {
        if self.bytes_only.load(Ordering::Relaxed) {
            0
        } else {
            memchr::memchr_iter(b'\n', data).count()
        }
    }

    /// From now on the stream carries bytes: its lines are not counted
    /// (a pass over every byte that would mean nothing).
    pub fn bytes_only(&self) {
        self.bytes_only.store(true, Ordering::Relaxed);
    }

    fn count_parts(&self, bytes: usize, lines: usize, chunks: u64) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.lines.fetch_add(lines as u64, Ordering::Relaxed);
        self.chunks.fetch_add(chunks, Ordering::Relaxed);
    }

    /// What went through so far.
    pub fn read(&self) -> Flow {
        Flow {
            bytes: self.bytes.load(Ordering::Relaxed),
            chunks: self.chunks.load(Ordering::Relaxed),
            lines: self.lines.load(Ordering::Relaxed),
        }
    }
}

/// A bounded, fan-out byte pipe. Cheap to clone; all clones share one buffer.
#[derive(Clone)]
pub struct Pipe {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken when data arrives or the pipe closes.
    readable: Notify,
    /// Woken when readers free space or the last reader leaves.
    writable: Notify,
    capacity: usize,
    overflow: Overflow,
    /// What was written (dropped data included).
    flow: FlowMeter,
    /// Nanoseconds writers waited for room.
    blocked_nanos: AtomicU64,
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Bytes>,
    /// Sequence number of `chunks[0]`.
    first_seq: u64,
    buffered: usize,
    /// Next sequence number each reader will read.
    readers: HashMap<u64, u64>,
    next_reader: u64,
    closed: bool,
    total_written: u64,
    /// Chunks stay after every reader read them (a replay buffer).
    replay: bool,
}

impl State {
    fn end_seq(&self) -> u64 {
        self.first_seq + self.chunks.len() as u64
    }

    /// Drops chunks every current reader has read. With no readers, keeps all
    /// of them for the next reader.
    fn trim(&mut self) -> bool {
        if self.replay {
            return false;
        }
        let Some(&min) = self.readers.values().min() else {
            return false;
        };
        let mut trimmed = false;
        while self.first_seq < min {
            let Some(chunk) = self.chunks.pop_front() else {
                break;
            };
            self.buffered -= chunk.len();
            self.first_seq += 1;
            trimmed = true;
        }
        trimmed
    }

    fn drop_oldest(&mut self) {
        if let Some(chunk) = self.chunks.pop_front() {
            self.buffered -= chunk.len();
            self.first_seq += 1;
            for pos in self.readers.values_mut() {
                *pos = (*pos).max(self.first_seq);
            }
        }
    }
}

/// The writer was told the pipe is closed; no more data can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream is closed")]
pub struct Closed;

impl Pipe {
    /// A pipe that holds at most `capacity` bytes (one larger chunk is always
    /// accepted into an empty pipe so big writes still make progress).
    pub fn new(capacity: usize, overflow: Overflow) -> Self {
        Self::with_state(capacity, overflow, State::default())
    }

    /// A pipe that keeps the newest `capacity` bytes for every reader to
    /// come, read or not: older chunks are dropped as new ones arrive.
    pub fn replay(capacity: usize) -> Self {
        let state = State {
            replay: true,
            ..State::default()
        };
        Self::with_state(capacity, Overflow::DropOldest, state)
    }

    fn with_state(capacity: usize, overflow: Overflow, state: State) -> Self {
        Pipe {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                readable: Notify::new(),
                writable: Notify::new(),
                capacity,
                overflow,
                flow: FlowMeter::default(),
                blocked_nanos: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain counters; the data is still consistent enough to go on.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `data`, waiting for room when the pipe is full and blocking.
    pub async fn write(&self, data: Bytes) -> Result<(), Closed> {
        let lines = self.shared.flow.lines_in(&data);
        self.append(data.len(), lines, std::iter::once(data)).await
    }

    /// Appends `parts` as one write: no other writer's data comes between
    /// them, and room is waited for all of them at once. (A topic's record
    /// that came in many chunks goes out as those chunks, never copied into
    /// one big buffer.)
    pub async fn write_batch(&self, parts: Vec<Bytes>) -> Result<(), Closed> {
        let len = parts.iter().map(Bytes::len).sum();
        let lines = parts
            .iter()
            .map(|part| self.shared.flow.lines_in(part))
            .sum();
        self.append(len, lines, parts).await
    }

    /// Appends `parts`, `len` bytes and `lines` newlines in all.
    async fn append(
        &self,
        len: usize,
        lines: usize,
        parts: impl IntoIterator<Item = Bytes>,
    ) -> Result<(), Closed> {
        if len == 0 {
            return Ok(());
        }
        let mut parts = Some(parts);
        let mut waited: Option<Instant> = None;
        loop {
            let writable = self.shared.writable.notified();
            if self.try_append(len, lines, &mut parts, false)? {
                if let Some(since) = waited {
                    self.count_blocked(since);
                }
                return Ok(());
            }
            waited.get_or_insert_with(Instant::now);
            writable.await;
        }
    }

    /// Appends what `parts` holds if it fits now (or the pipe drops old data to make it
    /// fit, or `force`); `Ok(false)`, leaving `parts`, when a blocking pipe is too full.
    fn try_append(
        &self,
        len: usize,
        lines: usize,
        parts: &mut Option<impl IntoIterator<Item = Bytes>>,
        force: bool,
    ) -> Result<bool, Closed> {
        let mut state = self.lock();
        if state.closed {
            return Err(Closed);
        }
        let fits = state.buffered + len <= self.shared.capacity;
        if !fits && self.shared.overflow == Overflow::DropOldest {
            while state.buffered > 0 && state.buffered + len > self.shared.capacity {
                state.drop_oldest();
            }
        }
        if !(force || fits || state.buffered == 0 || self.shared.overflow == Overflow::DropOldest) {
            return Ok(false);
        }
        state.buffered += len;
        state.total_written += len as u64;
        if let Some(parts) = parts.take() {
            state
                .chunks
                .extend(parts.into_iter().filter(|part| !part.is_empty()));
        }
        drop(state);
        self.shared.readable.notify_waiters();
        self.shared.flow.count_parts(len, lines, 1);
        Ok(true)
    }

    fn count_blocked(&self, since: Instant) {
        let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared
            .blocked_nanos
            .fetch_add(nanos, Ordering::Relaxed);
    }

    /// How many bytes one write may bring now without waiting: 0 while a blocking pipe is
    /// full. An empty pipe takes one write of any size; the answer is then at least `least`.
    pub fn room(&self, least: usize) -> Result<usize, Closed> {
        let state = self.lock();
        if state.closed {
            return Err(Closed);
        }
        Ok(match self.shared.overflow {
            Overflow::DropOldest => self.shared.capacity.max(least),
            Overflow::Block if state.buffered == 0 => self.shared.capacity.max(least),
            Overflow::Block => self.shared.capacity.saturating_sub(state.buffered),
        })
    }

    /// Appends `data` without waiting, however full the pipe is: for a writer that asked
    /// [`room`](Self::room) first (a full drop-oldest pipe still drops old data).
    pub fn write_now(&self, data: Bytes) -> Result<(), Closed> {
        if data.is_empty() {
            return Ok(());
        }
        let lines = self.shared.flow.lines_in(&data);
        self.try_append(data.len(), lines, &mut Some(std::iter::once(data)), true)
            .map(|_| ())
    }

    /// Waits until [`room`](Self::room) is more than 0 or the pipe is closed; the wait
    /// counts as [`blocked`](Self::blocked) time.
    pub async fn writable(&self) {
        let mut waited: Option<Instant> = None;
        loop {
            let writable = self.shared.writable.notified();
            if !matches!(self.room(1), Ok(0)) {
                if let Some(since) = waited {
                    self.count_blocked(since);
                }
                return;
            }
            waited.get_or_insert_with(Instant::now);
            writable.await;
        }
    }

    /// Appends `data` without waiting: drops the oldest data if needed.
    /// Used for lines the hub itself writes into a log.
    pub fn push_lossy(&self, data: Bytes) {
        let mut state = self.lock();
        if state.closed || data.is_empty() {
            return;
        }
        while state.buffered > 0 && state.buffered + data.len() > self.shared.capacity {
            state.drop_oldest();
        }
        state.buffered += data.len();
        state.total_written += data.len() as u64;
        self.shared.flow.count(&data);
        state.chunks.push_back(data);
        drop(state);
        self.shared.readable.notify_waiters();
    }

    /// Marks the end of the stream: readers drain what is left, then end.
    pub fn close(&self) {
        self.lock().closed = true;
        self.shared.readable.notify_waiters();
        self.shared.writable.notify_waiters();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Bytes currently held for readers.
    pub fn buffered(&self) -> usize {
        self.lock().buffered
    }

    /// What was written since the pipe was made: bytes, writes, lines.
    pub fn flow(&self) -> Flow {
        self.shared.flow.read()
    }

    /// From now on this pipe carries bytes: its lines are not counted.
    pub fn bytes_only(&self) {
        self.shared.flow.bytes_only();
    }

    /// How long writers waited for readers to make room (backpressure).
    pub fn blocked(&self) -> Duration {
        Duration::from_nanos(self.shared.blocked_nanos.load(Ordering::Relaxed))
    }

    /// Bytes written since the pipe was made.
    pub fn total_written(&self) -> u64 {
        self.lock().total_written
    }

    /// A new reader. The first reader of a pipe with no other readers gets the
    /// backlog; otherwise reading starts at the live end.
    pub fn reader(&self) -> PipeReader {
        self.add_reader(|state| {
            if state.readers.is_empty() {
                state.first_seq
            } else {
                state.end_seq()
            }
        })
    }

    /// A reader that starts with everything still held (a log replay), even
    /// when other readers exist.
    pub fn reader_from_oldest(&self) -> PipeReader {
        self.add_reader(|state| state.first_seq)
    }

    /// A reader that sees only what is written from now on.
    pub fn reader_live(&self) -> PipeReader {
        self.add_reader(State::end_seq)
    }

    fn add_reader(&self, start: impl FnOnce(&State) -> u64) -> PipeReader {
        let mut state = self.lock();
        let id = state.next_reader;
        state.next_reader += 1;
        let start = start(&state);
        state.readers.insert(id, start);
        PipeReader {
            pipe: self.clone(),
            id,
        }
    }
}

/// One reader of a [`Pipe`]. Dropping it releases what it held back.
pub struct PipeReader {
    pipe: Pipe,
    id: u64,
}

impl PipeReader {
    /// The next chunk, or `None` once the pipe is closed and drained.
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            let readable = self.pipe.shared.readable.notified();
            {
                let mut state = self.pipe.lock();
                let pos = state
                    .readers
                    .get(&self.id)
                    .copied()
                    .unwrap_or(state.first_seq);
                let pos = pos.max(state.first_seq);
                if pos < state.end_seq() {
                    let chunk = state.chunks[(pos - state.first_seq) as usize].clone();
                    state.readers.insert(self.id, pos + 1);
                    if state.trim() {
                        drop(state);
                        self.pipe.shared.writable.notify_waiters();
                    }
                    return Some(chunk);
                }
                if state.closed {
                    return None;
                }
            }
            readable.await;
        }
    }

    /// Turns the reader into a stream of chunks (for HTTP bodies).
    pub fn into_stream(self) -> impl futures::Stream<Item = Bytes> + Send + 'static {
        futures::stream::unfold(self, |mut reader| async move {
            reader.next().await.map(|chunk| (chunk, reader))
        })
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut state = self.pipe.lock();
        state.readers.remove(&self.id);
        state.trim();
        drop(state);
        self.pipe.shared.writable.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
