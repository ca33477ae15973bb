//! Request bodies a handler did not read are read and dropped, so that its
//! answer reaches the client.
//!
//! A handler that refuses a request before reading its body (a 415 for a
//! topic's content type, a 415 for an upload's, a 404 for an artifact of an
//! unknown task) would otherwise have the connection closed under a client
//! that is still sending; clients that write their whole body before reading
//! (Node's http, the Scramjet CLI) then see only a broken pipe. Every request
//! body is wrapped so that, dropped unread, what is left is read in the
//! background, at most [`DRAIN_LIMIT`] bytes for at most [`DRAIN_TIME`].
//! Nothing read this way goes anywhere.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use hyper::body::{Frame, SizeHint};

/// Most bytes of an unread body drained before the connection is closed.
pub const DRAIN_LIMIT: usize = 64 << 20;
/// Longest a client gets to finish sending an unread body.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Middleware: wraps each request body in [`DrainOnDrop`].
pub async fn drain_unread_bodies(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = Body::new(DrainOnDrop { inner: Some(body) });
    next.run(Request::from_parts(parts, body)).await
}

/// A body that, dropped before its end, drains the rest in the background.
struct DrainOnDrop {
    inner: Option<Body>,
}

impl HttpBody for DrainOnDrop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut stream = body.into_data_stream();
            let mut read = 0usize;
            let drain = async {
                while let Some(Ok(chunk)) = stream.next().await {
                    read += chunk.len();
                    if read > DRAIN_LIMIT {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        });
    }
}
