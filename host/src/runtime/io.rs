//! An instance's input: any number of writers, one end, read as one byte stream by the
//! guest (its reads and its WASI stdin).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

use crate::streams::{Flow, FlowMeter};

/// The largest piece an instance's input channel carries. A larger chunk (a
/// WebSocket message, a big HTTP frame, a topic's record) is copied in
/// pieces of this size, so a channel holds at most its capacity in bytes
/// whichever way the bytes come in, and the chunk is freed once sent.
pub const INPUT_PIECE: usize = 64 * 1024;

/// What travels in an input channel: data, or the end a writer decided.
enum Feed {
    Data(Bytes),
    End,
}

/// Why input could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A writer ended the input; nothing more is taken.
    #[error("the input of this instance has ended")]
    Ended,
    /// The instance stopped reading (it ended).
    #[error("the instance no longer reads its input")]
    Gone,
}

struct Port {
    tx: mpsc::Sender<Feed>,
    ended: AtomicBool,
    /// What the guest was given.
    flow: FlowMeter,
}

/// One writer of an instance's input. Cheap to clone; every clone, every
/// HTTP request and WebSocket feeding the input shares one end: once any
/// of them ends it ([`end`](Self::end)), the guest reads what was taken
/// and then end-of-file, and every writer's next [`send`](Self::send)
/// fails with [`InputError::Ended`].
#[derive(Clone)]
pub struct InputWriter {
    port: Arc<Port>,
}

/// An input channel holding at most `capacity` bytes (at least one piece):
/// its writer and its reader.
pub(crate) fn input_channel(capacity: usize) -> (InputWriter, ChannelReader) {
    let (tx, rx) = mpsc::channel((capacity / INPUT_PIECE).max(1));
    let port = Arc::new(Port {
        tx,
        ended: AtomicBool::new(false),
        flow: FlowMeter::default(),
    });
    let reader = ChannelReader {
        rx,
        pending: Bytes::new(),
    };
    (InputWriter { port }, reader)
}

impl InputWriter {
    /// Queues `data` for the guest, waiting while the channel is full.
    /// Every chunk this accepts reaches the guest before its end-of-file
    /// (one over [`INPUT_PIECE`] goes in pieces, and an end from another
    /// writer may come between two of them).
    pub async fn send(&self, data: Bytes) -> Result<(), InputError> {
        if self.is_ended() {
            return Err(InputError::Ended);
        }
        if data.len() <= INPUT_PIECE {
            return self.send_piece(data).await;
        }
        for piece in data.chunks(INPUT_PIECE) {
            self.send_piece(Bytes::copy_from_slice(piece)).await?;
        }
        Ok(())
    }

    /// From now on the input carries bytes: its lines are not counted.
    pub fn bytes_only(&self) {
        self.port.flow.bytes_only();
    }

    /// What was taken for the guest so far: bytes, writes, lines.
    pub fn flow(&self) -> Flow {
        self.port.flow.read()
    }

    async fn send_piece(&self, piece: Bytes) -> Result<(), InputError> {
        if piece.is_empty() {
            return Ok(());
        }
        let counted = piece.clone();
        self.port
            .tx
            .send(Feed::Data(piece))
            .await
            .map_err(|_| self.refused())?;
        self.port.flow.count(&counted);
        Ok(())
    }

    fn refused(&self) -> InputError {
        if self.is_ended() {
            InputError::Ended
        } else {
            InputError::Gone
        }
    }

    /// Ends the input for every writer. Does not wait: the end is queued
    /// behind the data already taken.
    pub fn end(&self) {
        if self.port.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        match self.port.tx.try_send(Feed::End) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(end)) => {
                // Queued once the guest makes room; if it never reads
                // again, it ends and the send fails.
                let tx = self.port.tx.clone();
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        let _ = tx.send(end).await;
                    });
                }
            }
        }
    }

    /// Whether some writer ended the input.
    pub fn is_ended(&self) -> bool {
        self.port.ended.load(Ordering::SeqCst)
    }
}

/// Reads what an [`InputWriter`] sends as one byte stream. The stream ends
/// once a writer ended the input and everything taken before (and while)
/// it did has been read.
pub struct ChannelReader {
    rx: mpsc::Receiver<Feed>,
    pending: Bytes,
}

impl ChannelReader {
    /// Data from a received item; at the end marker the channel is closed,
    /// so writers still sending are refused and `recv` ends after the rest.
    fn data_of(&mut self, feed: Feed) -> Bytes {
        match feed {
            Feed::Data(data) => data,
            Feed::End => {
                self.rx.close();
                Bytes::new()
            }
        }
    }

    /// Up to `max` bytes, waiting for at least one; `None` at the end. Small chunks
    /// already queued are joined, so a guest reading a stream of small HTTP frames makes
    /// one call per `max` bytes, not per frame. The bytes come in a new `Vec` (what a
    /// guest's read is lowered from), each copied into it once.
    pub async fn read_vec(&mut self, max: usize) -> Option<Vec<u8>> {
        while self.pending.is_empty() {
            let feed = self.rx.recv().await?;
            self.pending = self.data_of(feed);
        }
        let first = self.pending.split_to(self.pending.len().min(max));
        if first.len() >= max / 2 || !self.pending.is_empty() {
            return Some(first.to_vec());
        }
        let mut joined = Vec::with_capacity(max);
        joined.extend_from_slice(&first);
        while joined.len() < max {
            let Ok(feed) = self.rx.try_recv() else { break };
            let mut next = self.data_of(feed);
            let n = next.len().min(max - joined.len());
            joined.extend_from_slice(&next.split_to(n));
            self.pending = next;
        }
        Some(joined)
    }
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.rx.poll_recv(cx)) {
                Some(feed) => self.pending = self.data_of(feed),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        let chunk = self.pending.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn read_all(reader: &mut ChannelReader) -> Vec<u8> {
        let mut all = Vec::new();
        let read = async {
            while let Some(chunk) = reader.read_vec(1024).await {
                all.extend_from_slice(&chunk);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the input ends");
        all
    }

    #[tokio::test]
    async fn one_writer_ends_the_input_for_every_writer() {
        let (first, mut reader) = input_channel(4 * INPUT_PIECE);
        let second = first.clone();
        first.send(Bytes::from_static(b"a")).await.unwrap();
        second.send(Bytes::from_static(b"b")).await.unwrap();
        first.end();
        assert_eq!(read_all(&mut reader).await, b"ab");
        assert_eq!(
            second.send(Bytes::from_static(b"c")).await,
            Err(InputError::Ended)
        );
        assert!(second.is_ended());
    }

    #[tokio::test]
    async fn an_end_on_a_full_channel_follows_the_queued_data() {
        let (writer, mut reader) = input_channel(2 * INPUT_PIECE);
        writer.send(Bytes::from_static(b"1")).await.unwrap();
        writer.send(Bytes::from_static(b"2")).await.unwrap();
        writer.end();
        assert_eq!(read_all(&mut reader).await, b"12");
    }

    #[tokio::test]
    async fn a_writer_waiting_on_a_full_channel_is_refused_after_the_end() {
        let (writer, mut reader) = input_channel(INPUT_PIECE);
        writer.send(Bytes::from_static(b"1")).await.unwrap();
        let blocked = writer.clone();
        let waiting = tokio::spawn(async move { blocked.send(Bytes::from_static(b"2")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer.end();
        let read = read_all(&mut reader).await;
        let sent = waiting.await.unwrap();
        // Whatever the writer was told matches what the guest read.
        match sent {
            Ok(()) => assert_eq!(read, b"12"),
            Err(e) => assert_eq!((read, e), (b"1".to_vec(), InputError::Ended)),
        }
    }

    #[tokio::test]
    async fn a_gone_reader_is_not_an_end() {
        let (writer, reader) = input_channel(INPUT_PIECE);
        drop(reader);
        assert_eq!(
            writer.send(Bytes::from_static(b"x")).await,
            Err(InputError::Gone)
        );
    }

    #[tokio::test]
    async fn an_input_channel_holds_its_capacity_in_bytes_not_chunks() {
        let (input, mut reader) = input_channel(1 << 20);
        let big = Bytes::from(vec![7u8; 15 << 20]);
        let sent = tokio::time::timeout(Duration::from_millis(100), input.send(big)).await;
        assert!(sent.is_err(), "a 15 MiB chunk does not fit a 1 MiB channel");
        let mut queued = 0;
        while let Ok(Feed::Data(piece)) = reader.rx.try_recv() {
            assert!(piece.len() <= INPUT_PIECE);
            queued += piece.len();
        }
        assert_eq!(queued, 1 << 20);
    }

    #[tokio::test]
    async fn big_chunks_arrive_whole_and_in_order() {
        let (input, mut reader) = input_channel(4 * INPUT_PIECE);
        let data: Vec<u8> = (0..(3 * INPUT_PIECE + 5))
            .map(|i| (i % 251) as u8)
            .collect();
        let sending = {
            let (input, data) = (input.clone(), Bytes::from(data.clone()));
            tokio::spawn(async move {
                let sent = input.send(data).await;
                input.end();
                sent
            })
        };
        let mut got = Vec::new();
        while let Some(chunk) = reader.read_vec(1 << 20).await {
            got.extend_from_slice(&chunk);
        }
        assert_eq!(sending.await.ok(), Some(Ok(())));
        assert_eq!(got, data);
    }

    #[tokio::test]
    async fn a_read_joins_small_queued_chunks_up_to_its_size_and_keeps_the_rest() {
        let (writer, mut reader) = input_channel(1 << 20);
        for part in [&b"aaaa"[..], b"bbbb", b"cccc", b"dddd"] {
            writer.send(Bytes::copy_from_slice(part)).await.unwrap();
        }
        writer.end();
        // One read takes what is queued up to its size, cutting the chunk that crosses it.
        assert_eq!(reader.read_vec(10).await.unwrap(), b"aaaabbbbcc");
        // The cut chunk's rest, half this read's size, comes alone.
        assert_eq!(reader.read_vec(4).await.unwrap(), b"cc");
        assert_eq!(reader.read_vec(4).await.unwrap(), b"dddd");
        assert_eq!(reader.read_vec(4).await, None);

        // A chunk of half the read's size or more is handed over alone.
        let (writer, mut reader) = input_channel(1 << 20);
        writer.send(Bytes::from_static(b"12345")).await.unwrap();
        writer.send(Bytes::from_static(b"6")).await.unwrap();
        assert_eq!(reader.read_vec(8).await.unwrap(), b"12345");
        assert_eq!(reader.read_vec(8).await.unwrap(), b"6");
    }
}
