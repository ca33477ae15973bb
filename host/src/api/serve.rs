//! The HTTP/1 server loop: hyper driven by hand so that connections are
//! bounded in number and in how long they may sit without a request.
//!
//! `axum::serve` accepts every connection and keeps each one for as long as
//! the client likes: idle keep-alive sockets and half-sent request heads pile
//! up until the process runs out of file descriptors and refuses everyone.
//! Here each accepted connection holds a permit of a semaphore (at most
//! [`ConnectionLimits::max_connections`] open; past that, new clients wait in
//! the listen backlog), and a watchdog per connection closes it when it has
//! been idle past [`ConnectionLimits::idle_timeout`] or has started a request
//! head and not finished it within [`ConnectionLimits::header_timeout`].
//! A request in progress, including a response that streams for hours
//! (`/output`, SSE) and a WebSocket after its upgrade, is never cut.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use super::{AppState, router};

/// How many connections the server keeps open and for how long without a
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once (WebSockets included); further clients
    /// wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// How long a client may take to send a whole request head, from its
    /// first byte.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request in progress
    /// (a fresh connection before its first byte, or a kept-alive one).
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 10 s for a request head, 60 s idle, and a cap that leaves a quarter
    /// (at least 64) of the process's open-file limit to everything else.
    fn default() -> Self {
        let open_files = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
        ConnectionLimits {
            max_connections: default_max_connections(open_files),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The connection cap for an open-file limit of `open_files`: three quarters
/// of it, keeping at least 64 descriptors for files, the database and
/// instances; at least 16 and at most 10,000.
pub fn default_max_connections(open_files: u64) -> usize {
    let reserve = (open_files / 4).max(64);
    let cap = open_files.saturating_sub(reserve).clamp(16, 10_000);
    usize::try_from(cap).unwrap_or(10_000)
}

/// Raises the soft open-file limit to the hard one; returns the new soft
/// limit. Every connection is a descriptor, and the default soft limit
/// (often 1,024) is far below what the hard limit allows.
pub fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// How often the "connection cap reached" line may be logged.
const CAP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until the hub shuts down (`signal`, or `POST /shutdown`:
/// see [`Hub::shutdown_on`](crate::hub::Hub::shutdown_on)), then gives open requests
/// `grace` to finish and returns. Open streams (a producer held back by a full topic, a
/// reader of a never-ending topic) do not keep the hub alive past it. Render tasks still
/// running are requeued when the hub next starts.
pub async fn serve_until_shutdown(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    signal: impl Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> io::Result<()> {
    let hub = state.hub.clone();
    let stopping = std::sync::Arc::new(tokio::sync::Notify::new());
    let shutdown = {
        let (stopping, hub) = (stopping.clone(), hub.clone());
        async move {
            hub.shutdown_on(signal, grace).await;
            stopping.notify_waiters();
        }
    };
    let overdue = async {
        stopping.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = serve_with(listener, state, limits, shutdown) => served,
        () = overdue => {
            hub.log_line("warn", "open requests did not finish in time; exiting");
            Ok(())
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then lets open
/// requests finish (idle connections close at once) and returns.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let hub = state.hub.clone();
    let app = router(state);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Dropped when `shutdown` completes: every connection task sees it.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    // Each connection task holds a receiver; all gone = all finished.
    let (done_tx, done_rx) = watch::channel(());
    let mut last_cap_log: Option<Instant> = None;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if last_cap_log.is_none_or(|at| at.elapsed() >= CAP_LOG_INTERVAL) {
                    last_cap_log = Some(Instant::now());
                    hub.log_line(
                        "warn",
                        &format!(
                            "connection cap reached: {} connections open (--max-connections); \
                             new clients wait until one closes (idle ones close after {} s)",
                            limits.max_connections,
                            limits.idle_timeout.as_secs_f64()
                        ),
                    );
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = stop_tx.closed() => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = stop_tx.closed() => break,
        };
        let connection = Connection {
            activity: Arc::new(Activity::new()),
            limits,
            stopping: stop_tx.clone(),
            done: done_rx.clone(),
        };
        tokio::spawn(connection.run(stream, permit, app.clone()));
    }
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Connection errors (the peer gave up during the handshake) are skipped;
/// others (out of descriptors) are logged and retried after a pause, as
/// `axum::serve` does, so the loop does not spin.
async fn accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection and what its task needs.
struct Connection {
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    stopping: watch::Sender<()>,
    /// Held until the connection is finished (graceful shutdown waits).
    done: watch::Receiver<()>,
}

impl Connection {
    /// Serves HTTP/1 (with upgrades) on `stream` until the client closes it,
    /// a timeout closes it, or shutdown has let its last request finish.
    async fn run(self, stream: TcpStream, permit: OwnedSemaphorePermit, app: Router) {
        let io = Watched {
            io: stream,
            activity: self.activity.clone(),
            _permit: permit,
        };
        let service = Tracked {
            app,
            activity: self.activity.clone(),
        };
        let mut conn = pin!(
            http1::Builder::new()
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades()
        );
        let mut stopping = pin!(self.stopping.closed());
        let mut shutting_down = false;
        loop {
            let deadline = self.activity.deadline(&self.limits);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!("connection ended: {e}");
                    }
                    break;
                }
                () = &mut stopping, if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = self.activity.changed.notified() => {}
                () = sleep_until(deadline) => {
                    if self.activity.deadline(&self.limits).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!("closing a connection idle or mid-head past its timeout");
                        break;
                    }
                }
            }
        }
        drop(self.done);
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// What a connection is doing, as its reads and its requests tell.
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when the deadline may have moved.
    changed: Notify,
}

struct ActivityState {
    /// Requests whose response has not ended yet.
    busy: usize,
    /// When the connection was opened or its last response ended.
    idle_since: Instant,
    /// When the first byte of the next request head arrived.
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                busy: 0,
                idle_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        }
    }

    // A std mutex: held for a few instructions, never across an await.
    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the connection is to be closed; `None` while a request runs.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let state = self.lock();
        if state.busy > 0 {
            return None;
        }
        Some(match state.head_since {
            Some(since) => since + limits.header_timeout,
            None => state.idle_since + limits.idle_timeout,
        })
    }

    /// Bytes arrived: between requests they start a request head.
    fn read(&self) {
        let mut state = self.lock();
        if state.busy == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request head was read: no timeout until its response ends.
    fn begin(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.lock();
        state.busy += 1;
        state.head_since = None;
        drop(state);
        self.changed.notify_one();
        RequestGuard(self.clone())
    }
}

/// Marks a request in progress until dropped with its response body.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.busy = state.busy.saturating_sub(1);
        if state.busy == 0 {
            state.idle_since = Instant::now();
            state.head_since = None;
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// The socket, noting reads for the watchdog and holding the connection's
/// permit: it travels into a WebSocket on upgrade, so open WebSockets count
/// against the cap too.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The router as a hyper service whose responses mark the connection busy
/// until their body has ended.
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<GuardedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = self.activity.begin();
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.oneshot(request).await?;
            Ok(response.map(|body| GuardedBody {
                body,
                _guard: guard,
            }))
        })
    }
}

/// A response body that keeps its request counted as in progress.
struct GuardedBody {
    body: Body,
    _guard: RequestGuard,
}

impl hyper::body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_descriptors_for_everything_else() {
        assert_eq!(default_max_connections(200), 136);
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(40), 16);
        assert_eq!(default_max_connections(1 << 20), 10_000);
    }

    #[test]
    fn deadlines_follow_the_requests_and_the_reads() {
        let limits = ConnectionLimits {
            max_connections: 1,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        };
        let activity = Arc::new(Activity::new());
        let opened = activity.lock().idle_since;
        assert_eq!(
            activity.deadline(&limits),
            Some(opened + limits.idle_timeout)
        );
        activity.read();
        let head = activity.lock().head_since.unwrap_or(opened);
        assert_eq!(
            activity.deadline(&limits),
            Some(head + limits.header_timeout)
        );
        let request = activity.begin();
        assert_eq!(activity.deadline(&limits), None, "no timeout mid-request");
        activity.read();
        assert_eq!(
            activity.deadline(&limits),
            None,
            "body reads are not a head"
        );
        let second = activity.begin();
        drop(request);
        assert_eq!(activity.deadline(&limits), None, "one still runs");
        drop(second);
        let ended = activity.lock().idle_since;
        assert!(ended >= head);
        assert_eq!(
            activity.deadline(&limits),
            Some(ended + limits.idle_timeout)
        );
    }
}
