//! Byte-stream adapters between tokio channels, pipes and WASI stdio.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::streams::Pipe;

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
