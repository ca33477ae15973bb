//! The HTTP API under `/api/v1`: the Scramjet-compatible hub surface.
//!
//! One file per surface; handlers extract, call one hub service and build
//! the response. Every error is JSON `{"error": "..."}` ([`ApiError`]).

mod error;
mod extract;
mod files;
mod hub;
mod instances;
mod jobs;
mod json;
mod ops;
mod sequences;
mod streams;
mod topics;
mod uploads;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub(crate) use json::iso;

/// Now, as an RFC 3339 UTC timestamp.
pub(crate) fn iso_now() -> String {
    iso(std::time::SystemTime::now())
}

use crate::hub::Hub;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The hub services.
    pub hub: Arc<Hub>,
    /// Bearer token required on every route but `/health`, if set.
    pub token: Option<Arc<str>>,
    /// The address the server listens on (for `/config`).
    pub listen: String,
}

/// Every route: method, path under `/api/v1`, description (served by `/help`).
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/version", "service name and version"),
    (
        "GET",
        "/load-check",
        "CPU load, memory and disk of the hub machine",
    ),
    ("GET", "/config", "the hub's public settings"),
    ("GET", "/status", "instance counts per state and capacity"),
    ("GET", "/entities", "sequences and instances"),
    ("GET", "/log", "hub log: replayed buffer, then live"),
    ("GET", "/health", "liveness (no auth)"),
    ("GET", "/help", "this list"),
    (
        "POST",
        "/shutdown",
        "{timeout}: stop instances (default 5000 ms, then killed), exit",
    ),
    (
        "POST",
        "/gc",
        "remove unused compiled components; memory before/after",
    ),
    (
        "POST",
        "/sequence",
        "upload a package (raw .tar.gz body) → {id}",
    ),
    (
        "POST",
        "/uploads",
        "start a chunked package upload {size, sha256, replace}",
    ),
    (
        "PUT",
        "/uploads/{id}/chunks/{offset}",
        "append a chunk (raw body) at offset = bytes received",
    ),
    (
        "GET",
        "/uploads/{id}",
        "a chunked upload's size and bytes received",
    ),
    (
        "POST",
        "/uploads/{id}/complete",
        "check size and sha256, store the package → {id}",
    ),
    ("DELETE", "/uploads/{id}", "discard a chunked upload"),
    ("GET", "/sequences", "list sequences"),
    (
        "GET",
        "/sequence/{id}",
        "sequence info (id or package name)",
    ),
    (
        "PUT",
        "/sequence/{id}",
        "replace a sequence's package (409 while instances run)",
    ),
    (
        "DELETE",
        "/sequence/{id}",
        "delete a sequence (x-seq-kill-inst: true kills its instances)",
    ),
    (
        "GET",
        "/sequence/{id}/instances",
        "instance ids of a sequence",
    ),
    (
        "POST",
        "/sequence/{id}/start",
        "start an instance {appConfig, args, instanceId, limits}",
    ),
    ("GET", "/instances", "list instances"),
    ("GET", "/instance/{id}", "instance info"),
    ("GET", "/instance/{id}/health", "instance health"),
    (
        "POST",
        "/instance/{id}/_stop",
        "stop {timeout, canCallKeepalive}; exit code 138",
    ),
    (
        "POST",
        "/instance/{id}/_kill",
        "kill {removeImmediately}; exit code 137",
    ),
    (
        "POST",
        "/instance/{id}/_event",
        "send an event [5001, {eventName, message}]",
    ),
    (
        "GET",
        "/instance/{id}/event/{name}",
        "last message of an event (or the next)",
    ),
    (
        "GET",
        "/instance/{id}/once/{name}",
        "next message of an event",
    ),
    (
        "GET",
        "/instance/{id}/events/{name}",
        "NDJSON stream of an event's messages",
    ),
    (
        "POST",
        "/instance/{id}/input",
        "feed the input (x-end-stream, default true)",
    ),
    (
        "POST",
        "/instance/{id}/stdin",
        "feed the WASI stdin (x-end-stream, default true)",
    ),
    ("GET", "/instance/{id}/output", "stream the output"),
    ("GET", "/instance/{id}/stdout", "stream the WASI stdout"),
    ("GET", "/instance/{id}/stderr", "stream the WASI stderr"),
    ("GET", "/instance/{id}/log", "stream the instance log"),
    (
        "POST",
        "/instance/{id}/inout",
        "body in as input, output back in the response",
    ),
    (
        "GET",
        "/instance/{id}/ws",
        "WebSocket: frames sent are input, frames received output",
    ),
    (
        "POST",
        "/jobs",
        "submit a render job {package, frames, settings, chunkSize, priority, tags}",
    ),
    (
        "GET",
        "/jobs",
        "list jobs (?state=queued|active|paused|completed|failed|canceled)",
    ),
    (
        "GET",
        "/jobs/{id}",
        "job state, frames done/total, progress, errors",
    ),
    ("PATCH", "/jobs/{id}", "change priority and tags (PUT too)"),
    (
        "DELETE",
        "/jobs/{id}",
        "stop and remove a job and its artifacts",
    ),
    (
        "POST",
        "/jobs/{id}/cancel",
        "cancel; running tasks stop within a second",
    ),
    (
        "POST",
        "/jobs/{id}/pause",
        "pause; running tasks stop and are requeued",
    ),
    ("POST", "/jobs/{id}/resume", "resume a paused job"),
    (
        "POST",
        "/jobs/{id}/requeue",
        "queue failed, canceled (or all, if completed) tasks again",
    ),
    ("GET", "/jobs/{id}/tasks", "the job's tasks"),
    ("GET", "/jobs/{id}/artifacts", "the job's artifact index"),
    ("GET", "/jobs/{id}/artifacts/{name}", "one artifact's bytes"),
    (
        "GET",
        "/jobs/{id}/log",
        "job log: replayed, then live until the job ends",
    ),
    (
        "GET",
        "/jobs/{id}/events",
        "Server-Sent Events of the job until it ends",
    ),
    (
        "GET",
        "/events",
        "Server-Sent Events of every job, task and worker",
    ),
    (
        "POST",
        "/workers",
        "register a remote worker {name, slots, tags}",
    ),
    ("GET", "/workers", "list workers (local slots included)"),
    ("GET", "/workers/{id}", "one worker"),
    (
        "PATCH",
        "/workers/{id}",
        "{status: enabled|disabled|draining}",
    ),
    (
        "DELETE",
        "/workers/{id}",
        "sign a worker off; its tasks are requeued",
    ),
    (
        "POST",
        "/workers/{id}/pickup",
        "lease a task (200) or nothing to do (204)",
    ),
    (
        "POST",
        "/workers/{id}/heartbeat",
        "extend leases, report progress → tasks to cancel",
    ),
    (
        "PUT",
        "/tasks/{id}/artifacts/{name}",
        "upload an artifact of a running attempt",
    ),
    (
        "POST",
        "/tasks/{id}/complete",
        "complete an attempt {workerId, attempt}",
    ),
    (
        "POST",
        "/tasks/{id}/fail",
        "fail an attempt {workerId, attempt, error}",
    ),
    (
        "POST",
        "/tasks/{id}/requeue",
        "render one task's frames again (completed, failed or canceled)",
    ),
    (
        "GET",
        "/packages/{digest}",
        "a job's component, by SHA-256, for workers",
    ),
];

/// The API router with its middleware (auth, CORS, request ids, tracing).
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/version", get(hub::version))
        .route("/load-check", get(hub::load_check))
        .route("/config", get(hub::config))
        .route("/status", get(hub::status))
        .route("/entities", get(hub::entities))
        .route("/log", get(hub::log))
        .route("/health", get(hub::health))
        .route("/help", get(hub::help))
        .route("/shutdown", post(ops::shutdown))
        .route("/gc", post(ops::gc))
        .route("/sequence", post(sequences::create))
        .route("/uploads", post(uploads::create))
        .route("/uploads/{id}", get(uploads::get).delete(uploads::delete))
        .route(
            "/uploads/{id}/chunks/{offset}",
            axum::routing::put(uploads::chunk),
        )
        .route("/uploads/{id}/complete", post(uploads::complete))
        .route("/sequences", get(sequences::list))
        .route(
            "/sequence/{id}",
            get(sequences::get)
                .put(sequences::replace)
                .delete(sequences::delete),
        )
        .route("/sequence/{id}/instances", get(sequences::instances))
        .route("/sequence/{id}/start", post(sequences::start))
        .route("/instances", get(instances::list))
        .route("/instance/{id}", get(instances::get))
        .route("/instance/{id}/health", get(instances::health))
        .route("/instance/{id}/_stop", post(instances::stop))
        .route("/instance/{id}/_kill", post(instances::kill))
        .route("/instance/{id}/_event", post(instances::event))
        .route("/instance/{id}/event/{name}", get(instances::last_event))
        .route("/instance/{id}/once/{name}", get(instances::once_event))
        .route("/instance/{id}/events/{name}", get(instances::event_stream))
        .route("/instance/{id}/input", post(streams::input))
        .route("/instance/{id}/stdin", post(streams::stdin))
        .route("/instance/{id}/output", get(streams::output))
        .route("/instance/{id}/stdout", get(streams::stdout))
        .route("/instance/{id}/stderr", get(streams::stderr))
        .route("/instance/{id}/log", get(streams::log))
        .route("/instance/{id}/inout", post(streams::inout))
        .route("/instance/{id}/ws", get(streams::ws))
        .route("/jobs", get(jobs::list).post(jobs::submit))
        .route(
            "/jobs/{id}",
            get(jobs::get)
                .patch(jobs::patch)
                .put(jobs::patch)
                .delete(jobs::delete),
        )
        .route("/jobs/{id}/tasks", get(jobs::tasks))
        .route("/jobs/{id}/artifacts", get(jobs::artifacts))
        .route("/jobs/{id}/artifacts/{name}", get(jobs::artifact))
        .route("/jobs/{id}/log", get(jobs::log))
        .route("/jobs/{id}/events", get(jobs::job_events))
        .route("/jobs/{id}/{action}", post(jobs::control))
        .route("/events", get(jobs::events))
        .route("/workers", get(jobs::workers).post(jobs::register))
        .route(
            "/workers/{id}",
            get(jobs::worker)
                .patch(jobs::patch_worker)
                .delete(jobs::delete_worker),
        )
        .route("/workers/{id}/pickup", post(jobs::pickup))
        .route("/workers/{id}/heartbeat", post(jobs::heartbeat))
        .route(
            "/tasks/{id}/artifacts/{name}",
            axum::routing::put(jobs::upload_artifact),
        )
        .route("/tasks/{id}/complete", post(jobs::complete))
        .route("/tasks/{id}/fail", post(jobs::fail))
        .route("/tasks/{id}/requeue", post(jobs::requeue_task))
        .route("/packages/{digest}", get(jobs::package))
        .route("/topics", get(topics::list).post(topics::create))
        .route("/topics/{name}", axum::routing::delete(topics::delete))
        .route(
            "/topic/{name}",
            get(topics::subscribe).post(topics::publish),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state);
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_headers(Any)
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS]),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; GET /api/v1/help lists them".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed(
        "method not allowed on this route; GET /api/v1/help lists them".into(),
    )
}

/// With a token configured, every route but `/health` needs `Authorization: Bearer`.
async fn auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    if matches!(request.uri().path(), "/health" | "/api/v1/health") {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match given {
        None => ApiError::Unauthorized.into_response(),
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => ApiError::Forbidden.into_response(),
    }
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// Compares without an early exit, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, constant_time_eq};

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer tok", "bearer tok", "BEARER tok", "Bearer  tok"] {
            assert_eq!(bearer_token(value), Some("tok"), "{value:?}");
        }
        assert_eq!(bearer_token("Basic tok"), None);
        assert_eq!(bearer_token("Bearertok"), None);
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
