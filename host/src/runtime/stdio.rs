//! A guest's WASI stdout and stderr, written straight into the instance's pipes, and the
//! tail of stderr that says why a trapped guest ended.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::streams::{Closed, Pipe};

/// A guest's stdout or stderr, written straight into the instance's pipe inside the
/// guest's own host call: no task and no buffer between them. While a blocking pipe is
/// full, `check-write` says 0 and the guest waits in `ready` (backpressure, counted as the
/// pipe's blocked time); stderr also keeps its [`Tail`] (a trap's reason).
#[derive(Clone)]
pub(crate) struct PipeStream {
    pipe: Pipe,
    tail: Option<Arc<Mutex<Tail>>>,
}

/// The most `check-write` offers an empty pipe (the guest's writes are this size or smaller).
const STDIO_WRITE: usize = 64 * 1024;

impl PipeStream {
    /// A stream into `pipe`.
    pub(crate) fn new(pipe: Pipe) -> PipeStream {
        PipeStream { pipe, tail: None }
    }

    /// A stream into `pipe` whose last lines are kept in `tail`.
    pub(crate) fn keeping_tail(pipe: Pipe, tail: Arc<Mutex<Tail>>) -> PipeStream {
        PipeStream {
            pipe,
            tail: Some(tail),
        }
    }

    fn put(&self, data: Bytes) -> Result<(), Closed> {
        if let Some(tail) = &self.tail {
            tail.lock().unwrap_or_else(|p| p.into_inner()).feed(&data);
        }
        self.pipe.write_now(data)
    }
}

impl IsTerminal for PipeStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PipeStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(PipeWriter {
            stream: self.clone(),
            wait: Mutex::new(None),
        })
    }
}

impl OutputStream for PipeStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.put(bytes).map_err(|Closed| StreamError::Closed)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.pipe
            .room(STDIO_WRITE)
            .map(|room| room.min(STDIO_WRITE))
            .map_err(|Closed| StreamError::Closed)
    }
}

impl Pollable for PipeStream {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(self.pipe.writable())
    }
}

/// [`PipeStream`] as an `AsyncWrite` (the stream WASI 0.3 guests write through).
struct PipeWriter {
    stream: PipeStream,
    /// The wait for room in the pipe, while it is full.
    wait: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let wait = this.wait.get_mut().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(pending) = wait {
                ready!(pending.as_mut().poll(cx));
                *wait = None;
            }
            let closed = || io::Error::from(io::ErrorKind::BrokenPipe);
            match this
                .stream
                .pipe
                .room(STDIO_WRITE)
                .map_err(|Closed| closed())?
            {
                0 => {
                    let pipe = this.stream.pipe.clone();
                    *wait = Some(Box::pin(async move { pipe.writable().await }));
                }
                room => {
                    let n = buf.len().min(room).min(STDIO_WRITE);
                    this.stream
                        .put(Bytes::copy_from_slice(&buf[..n]))
                        .map_err(|Closed| closed())?;
                    return Poll::Ready(Ok(n));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The last [`TAIL_LINES`] lines of a stream (each cut at 512 characters):
/// a trapped guest's stderr says why.
#[derive(Default)]
pub(crate) struct Tail {
    lines: std::collections::VecDeque<String>,
    partial: Vec<u8>,
}

impl Tail {
    /// Takes in the next bytes of the stream.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while let Some(end) = data.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.keep(&data[..end]);
            } else {
                self.partial.extend_from_slice(&data[..end]);
                let line = std::mem::take(&mut self.partial);
                self.keep(&line);
            }
            data = &data[end + 1..];
        }
        if self.partial.len() < 4096 {
            let room = 4096 - self.partial.len();
            self.partial
                .extend_from_slice(&data[..data.len().min(room)]);
        }
    }

    fn keep(&mut self, line: &[u8]) {
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        let line = String::from_utf8_lossy(line);
        self.lines
            .push_back(line.trim_end_matches('\r').chars().take(512).collect());
    }

    /// The last lines, the unterminated one included.
    pub(crate) fn finish(mut self) -> std::collections::VecDeque<String> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.keep(&line);
        }
        self.lines
    }
}

/// Lines of stderr a [`Tail`] keeps.
pub const TAIL_LINES: usize = 16;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_full_stdout_pipe_makes_the_guest_wait_until_a_reader_makes_room() {
        let pipe = Pipe::new(100 * 1024, crate::streams::Overflow::Block);
        let mut reader = pipe.reader();
        let mut stdout = PipeStream::new(pipe.clone());
        // An empty pipe takes a whole write; then only what fits in the capacity.
        assert_eq!(stdout.check_write().unwrap(), STDIO_WRITE);
        stdout.write(Bytes::from(vec![b'a'; STDIO_WRITE])).unwrap();
        assert_eq!(stdout.check_write().unwrap(), 100 * 1024 - STDIO_WRITE);
        stdout
            .write(Bytes::from(vec![b'b'; 100 * 1024 - STDIO_WRITE]))
            .unwrap();
        assert_eq!(stdout.check_write().unwrap(), 0);
        let waiting = tokio::time::timeout(Duration::from_millis(20), stdout.ready()).await;
        assert!(waiting.is_err(), "ready while the pipe is full");
        let read = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            reader.next().await.unwrap().len()
        });
        tokio::time::timeout(Duration::from_secs(5), stdout.ready())
            .await
            .expect("ready once a reader made room");
        assert_eq!(read.await.unwrap(), STDIO_WRITE);
        assert_eq!(stdout.check_write().unwrap(), STDIO_WRITE);
        assert!(
            pipe.blocked() >= Duration::from_millis(40),
            "the wait is counted"
        );
        assert_eq!(pipe.flow().bytes, 100 * 1024);
    }

    #[tokio::test]
    async fn a_closed_stdout_pipe_tells_the_guest_and_wakes_its_wait() {
        let pipe = Pipe::new(1024, crate::streams::Overflow::Block);
        let mut stdout = PipeStream::new(pipe.clone());
        stdout.write(Bytes::from(vec![b'a'; 1024])).unwrap();
        assert_eq!(stdout.check_write().unwrap(), 0);
        let closer = pipe.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            closer.close();
        });
        tokio::time::timeout(Duration::from_secs(5), stdout.ready())
            .await
            .expect("a close ends the wait");
        assert!(matches!(stdout.check_write(), Err(StreamError::Closed)));
        assert!(matches!(
            stdout.write(Bytes::from_static(b"x")),
            Err(StreamError::Closed)
        ));
    }

    #[tokio::test]
    async fn stderr_drops_its_oldest_bytes_and_keeps_its_last_lines() {
        let pipe = Pipe::new(1024, crate::streams::Overflow::DropOldest);
        let tail = Arc::new(Mutex::new(Tail::default()));
        let mut stderr = PipeStream::keeping_tail(pipe.clone(), tail.clone());
        for i in 0..100 {
            assert!(stderr.check_write().unwrap() > 0, "stderr never blocks");
            stderr
                .write(Bytes::from(format!("line {i:03} of the guest's stderr\n")))
                .unwrap();
        }
        assert!(pipe.buffered() <= 1024);
        let lines = std::mem::take(&mut *tail.lock().unwrap()).finish();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.back().unwrap(), "line 099 of the guest's stderr");
    }

    #[tokio::test]
    async fn stdout_as_async_write_waits_for_room_too() {
        use tokio::io::AsyncWriteExt;
        let pipe = Pipe::new(1024, crate::streams::Overflow::Block);
        let mut reader = pipe.reader();
        let mut writer = Box::into_pin(PipeStream::new(pipe.clone()).async_stream());
        writer.write_all(&[b'a'; 1024]).await.unwrap();
        let more = tokio::spawn(async move {
            writer.write_all(&[b'b'; 512]).await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!more.is_finished(), "a write into a full pipe waits");
        assert_eq!(reader.next().await.unwrap().len(), 1024);
        tokio::time::timeout(Duration::from_secs(5), more)
            .await
            .expect("the write goes in once there is room")
            .unwrap();
        assert_eq!(reader.next().await.unwrap(), Bytes::from(vec![b'b'; 512]));
    }
}
