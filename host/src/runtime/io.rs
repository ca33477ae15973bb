//! Byte-stream adapters between tokio channels, pipes and WASI stdio.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::streams::{Closed, Pipe};

/// The largest piece an instance's input channel carries. A larger chunk (a
/// WebSocket message, a big HTTP frame) is copied in pieces of this size, so
/// a channel of `capacity / INPUT_PIECE` slots holds at most `capacity` bytes
/// whatever way the bytes come in, and the chunk is freed once sent.
pub const INPUT_PIECE: usize = 64 * 1024;

/// The sending half of an instance's input or stdin, bounded in bytes.
#[derive(Debug, Clone)]
pub struct InputSender(mpsc::Sender<Bytes>);

impl InputSender {
    /// A channel holding at most `capacity` bytes (at least one piece).
    pub fn channel(capacity: usize) -> (InputSender, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel((capacity / INPUT_PIECE).max(1));
        (InputSender(tx), rx)
    }

    /// Sends `data`, waiting for room as the instance reads; `Err` once the
    /// instance will read no more (it ended).
    pub async fn send(&self, data: Bytes) -> Result<(), Closed> {
        if data.len() <= INPUT_PIECE {
            return self.0.send(data).await.map_err(|_| Closed);
        }
        for piece in data.chunks(INPUT_PIECE) {
            self.0
                .send(Bytes::copy_from_slice(piece))
                .await
                .map_err(|_| Closed)?;
        }
        Ok(())
    }
}

/// Reads the chunks sent into a bounded channel as one byte stream. The
/// stream ends when every sender is dropped.
pub struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    pending: Bytes,
}

impl ChannelReader {
    /// A reader over `rx`.
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelReader {
            rx,
            pending: Bytes::new(),
        }
    }

    /// Up to `max` bytes, waiting for at least one; `None` at the end.
    /// Small chunks already queued are joined, so a guest reading a stream
    /// of small HTTP frames makes one call per `max` bytes, not per frame.
    pub async fn read_chunk(&mut self, max: usize) -> Option<Bytes> {
        while self.pending.is_empty() {
            self.pending = self.rx.recv().await?;
        }
        if self.pending.len() < max / 2
            && let Ok(next) = self.rx.try_recv()
        {
            let mut joined = BytesMut::with_capacity(max);
            joined.extend_from_slice(&self.pending);
            joined.extend_from_slice(&next);
            while joined.len() < max {
                let Ok(next) = self.rx.try_recv() else { break };
                joined.extend_from_slice(&next);
            }
            self.pending = joined.freeze();
        }
        let n = self.pending.len().min(max);
        Some(self.pending.split_to(n))
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
                Some(chunk) => self.pending = chunk,
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        let chunk = self.pending.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

/// Copies everything `reader` yields into `pipe` and closes the pipe at the
/// end. Used to move guest stdout/stderr into their pipes.
pub fn pump_into(
    mut reader: impl AsyncRead + Unpin + Send + 'static,
    pipe: Pipe,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let mut buf = Vec::with_capacity(64 * 1024);
            match reader.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if pipe.write(Bytes::from(buf)).await.is_err() {
                        break;
                    }
                }
            }
        }
        pipe.close();
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_input_channel_holds_its_capacity_in_bytes_not_chunks() {
        let (input, mut rx) = InputSender::channel(1 << 20);
        let big = Bytes::from(vec![7u8; 15 << 20]);
        let sent = tokio::time::timeout(Duration::from_millis(100), input.send(big)).await;
        assert!(sent.is_err(), "a 15 MiB chunk does not fit a 1 MiB channel");
        let mut queued = 0;
        while let Ok(piece) = rx.try_recv() {
            assert!(piece.len() <= INPUT_PIECE);
            queued += piece.len();
        }
        assert_eq!(queued, 1 << 20);
        drop(rx);
        assert_eq!(input.send(Bytes::from_static(b"x")).await, Err(Closed));
    }

    #[tokio::test]
    async fn pieces_arrive_whole_and_in_order() {
        let (input, rx) = InputSender::channel(4 * INPUT_PIECE);
        let data: Vec<u8> = (0..(3 * INPUT_PIECE + 5))
            .map(|i| (i % 251) as u8)
            .collect();
        let sending = {
            let (input, data) = (input.clone(), Bytes::from(data.clone()));
            tokio::spawn(async move { input.send(data).await })
        };
        drop(input);
        let mut reader = ChannelReader::new(rx);
        let mut got = Vec::new();
        while let Some(chunk) = reader.read_chunk(1 << 20).await {
            got.extend_from_slice(&chunk);
        }
        assert_eq!(sending.await.ok(), Some(Ok(())));
        assert_eq!(got, data);
    }
}
