//! An instance's console: its log lines, its stderr (and an SDK plugin's
//! stdout) and its events, handed to a hook in the order the guest made
//! them (`weir run` prints them so).
//!
//! Each goes to the hook inside the guest's own host call, before the call
//! returns, so nothing the guest does afterwards can overtake it. That is why
//! stderr and stdout get their own WASI stream here ([`ConsoleStream`])
//! instead of a pipe drained by another task.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::stdio::Tail;

/// One thing the guest said, as it said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleLine<'a> {
    /// A log line: level and message.
    Log {
        /// `trace`, `debug`, `info`, `warn` or `error`.
        level: &'a str,
        /// The message.
        message: &'a str,
    },
    /// Bytes written to stderr.
    Stderr(&'a [u8]),
    /// Bytes written to stdout (an SDK plugin's; a WASI command's stdout is its output).
    Stdout(&'a [u8]),
    /// An event emitted.
    Event {
        /// Its name.
        name: &'a str,
        /// Its message (JSON text).
        message: &'a str,
    },
}

/// Receives an instance's console, in order (see [`StartOptions::console`](super::StartOptions::console)).
pub type ConsoleHook = Arc<dyn Fn(ConsoleLine<'_>) + Send + Sync>;

/// Which stream a [`ConsoleStream`] is.
#[derive(Clone, Copy)]
enum Which {
    Stderr,
    Stdout,
}

/// A WASI stdout or stderr whose every write goes to the hook at once; stderr
/// also keeps its [`Tail`] (a trap's reason).
#[derive(Clone)]
pub(crate) struct ConsoleStream {
    hook: ConsoleHook,
    which: Which,
    tail: Option<Arc<Mutex<Tail>>>,
}

impl ConsoleStream {
    /// The guest's stderr, its tail kept in `tail`.
    pub(crate) fn stderr(hook: ConsoleHook, tail: Arc<Mutex<Tail>>) -> ConsoleStream {
        ConsoleStream {
            hook,
            which: Which::Stderr,
            tail: Some(tail),
        }
    }

    /// An SDK plugin's stdout.
    pub(crate) fn stdout(hook: ConsoleHook) -> ConsoleStream {
        ConsoleStream {
            hook,
            which: Which::Stdout,
            tail: None,
        }
    }

    fn take(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(tail) = &self.tail {
            tail.lock().unwrap_or_else(|p| p.into_inner()).feed(data);
        }
        (self.hook)(match self.which {
            Which::Stderr => ConsoleLine::Stderr(data),
            Which::Stdout => ConsoleLine::Stdout(data),
        });
    }
}

impl IsTerminal for ConsoleStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ConsoleStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for ConsoleStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl Pollable for ConsoleStream {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

impl AsyncWrite for ConsoleStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
