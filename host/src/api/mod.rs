//! The HTTP API under `/api/v1`: the Scramjet-compatible hub surface.
//!
//! One file per surface; handlers extract, call one hub service and build
//! the response. Every error is JSON `{"error": "..."}` ([`ApiError`]).

mod access;
mod dashboard;
mod error;
mod events;
mod extract;
mod files;
mod hub;
mod instances;
mod jobs;
mod json;
mod observe;
mod openapi;
mod ops;
mod sequences;
mod serve;
mod space;
mod space_ws;
mod streams;
mod topics;
mod unread;
mod uploads;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, Method};
use axum::middleware;
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use serve::{ConnectionLimits, raise_open_file_limit, serve_until_shutdown, serve_with};

use crate::hub::Hub;
use crate::space::Space;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The hub services.
    pub hub: Arc<Hub>,
    /// Bearer token required on every route but `/health`, if set.
    pub token: Option<Arc<str>>,
    /// A token that opens the `GET` routes only (dashboards, scrapers);
    /// needs `token`.
    pub read_token: Option<Arc<str>>,
    /// `GET /metrics` without a token.
    pub metrics_open: bool,
    /// The address the server listens on (for `/config`).
    pub listen: String,
    /// The space this hub is in (`weir serve --nats`), if any.
    pub space: Option<Arc<Space>>,
}

/// One route of the API: method, path under `/api/v1`, what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method (`GET`, `POST`, ...).
    pub method: &'static str,
    /// Path under `/api/v1`, with `{param}` segments.
    pub path: &'static str,
    /// One line for `/help`.
    pub about: &'static str,
}

/// Declares the route table once: [`ROUTES`] (served by `/help`, and the
/// methods CORS allows) and [`api_routes`] (the router) come from the same
/// lines, so they cannot drift apart.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path, $about:literal;)*) => {
        /// Every route of the API, in the order `/help` lists them.
        pub const ROUTES: &[Route] = &[
            $(Route { method: stringify!($method), path: $path, about: $about },)*
        ];

        fn api_routes() -> Router<AppState> {
            Router::new()
                $(.route($path, routes!(@method $method)($handler)))*
        }
    };
    (@method GET) => { axum::routing::get };
    (@method POST) => { axum::routing::post };
    (@method PUT) => { axum::routing::put };
    (@method PATCH) => { axum::routing::patch };
    (@method DELETE) => { axum::routing::delete };
    (@method ANY) => { axum::routing::any };
}

routes! {
    GET "/version" => hub::version, "service name and version";
    GET "/load-check" => hub::load_check, "CPU load, memory and disk of the hub machine";
    GET "/config" => hub::config, "the hub's public settings";
    GET "/status" => hub::status, "instance counts per state and capacity";
    GET "/entities" => hub::entities, "sequences and instances";
    GET "/log" => hub::log, "hub log: replayed buffer, then live";
    GET "/health" => hub::health, "liveness (no auth)";
    GET "/access" => access::access, "what the request's token opens: {auth, scope: admin|read|null} (no auth)";
    GET "/help" => hub::help, "this list";
    GET "/openapi.json" => openapi::openapi, "this API as an OpenAPI 3.1 document";
    GET "/metrics" => observe::metrics, "Prometheus metrics, OpenMetrics text (also at /metrics; --metrics-open: no token)";
    POST "/shutdown" => ops::shutdown, "{timeout}: stop instances (default 5000 ms, then killed), exit";
    POST "/gc" => ops::gc, "remove unused compiled components; memory before/after";
    POST "/sequence" => sequences::create, "upload a package (raw .tar.gz body) → {id}";
    POST "/uploads" => uploads::create, "start a chunked package upload {size, sha256, replace}";
    PUT "/uploads/{id}/chunks/{offset}" => uploads::chunk, "append a chunk (raw body) at offset = bytes received";
    GET "/uploads/{id}" => uploads::get, "a chunked upload's size and bytes received";
    POST "/uploads/{id}/complete" => uploads::complete, "check size and sha256, store the package → {id}";
    DELETE "/uploads/{id}" => uploads::delete, "discard a chunked upload";
    GET "/sequences" => sequences::list, "list sequences";
    GET "/sequence/{id}" => sequences::get, "sequence info (id or package name)";
    PUT "/sequence/{id}" => sequences::replace, "replace a sequence's package (409 while instances run)";
    DELETE "/sequence/{id}" => sequences::delete, "delete a sequence (x-seq-kill-inst: true kills its instances)";
    GET "/sequence/{id}/instances" => sequences::instances, "instance ids of a sequence";
    POST "/sequence/{id}/start" => sequences::start, "start an instance {appConfig, args, instanceId, limits}";
    GET "/instances" => instances::list, "list instances";
    GET "/instance/{id}" => instances::get, "instance info";
    GET "/instance/{id}/health" => instances::health, "instance health";
    POST "/instance/{id}/_stop" => instances::stop, "stop {timeout, canCallKeepalive}; exit code 138";
    POST "/instance/{id}/_kill" => instances::kill, "kill {removeImmediately}; exit code 137";
    POST "/instance/{id}/_event" => instances::event, "send an event [5001, {eventName, message}]";
    GET "/instance/{id}/event/{name}" => instances::last_event, "last message of an event (or the next)";
    GET "/instance/{id}/once/{name}" => instances::once_event, "next message of an event";
    GET "/instance/{id}/events/{name}" => instances::event_stream, "NDJSON stream of an event's messages";
    POST "/instance/{id}/input" => streams::input, "feed the input (x-end-stream, default true)";
    POST "/instance/{id}/stdin" => streams::stdin, "feed the WASI stdin (x-end-stream, default true)";
    GET "/instance/{id}/output" => streams::output, "stream the output";
    GET "/instance/{id}/stdout" => streams::stdout, "stream the WASI stdout";
    GET "/instance/{id}/stderr" => streams::stderr, "stream the WASI stderr";
    GET "/instance/{id}/log" => streams::log, "stream the instance log";
    POST "/instance/{id}/inout" => streams::inout, "body in as input, output back in the response";
    GET "/instance/{id}/ws" => streams::ws, "WebSocket: frames sent are input, frames received output";
    POST "/jobs" => jobs::submit, "submit a render job {package, frames, settings, chunkSize, priority, tags}";
    GET "/jobs" => jobs::list, "list jobs (?state=queued|active|paused|completed|failed|canceled)";
    GET "/jobs/{id}" => jobs::get, "job state, frames done/total, progress, errors";
    PATCH "/jobs/{id}" => jobs::patch, "change priority and tags (PUT too)";
    PUT "/jobs/{id}" => jobs::patch, "change priority and tags (as PATCH)";
    DELETE "/jobs/{id}" => jobs::delete, "stop and remove a job and its artifacts";
    POST "/jobs/{id}/{action}" => jobs::control, "action: cancel (running tasks stop within a second), pause (running tasks stop and are requeued), resume (a paused job), requeue (failed or canceled tasks, or all if completed)";
    GET "/jobs/{id}/tasks" => jobs::tasks, "the job's tasks in index order, paged (?limit=1..1000&after=INDEX; Link: rel=next)";
    GET "/jobs/{id}/artifacts" => jobs::artifacts, "the job's artifact index";
    GET "/jobs/{id}/artifacts/{name}" => jobs::artifact, "one artifact's bytes";
    GET "/jobs/{id}/log" => jobs::log, "job log: replayed, then live until the job ends";
    GET "/jobs/{id}/events" => events::job_events, "Server-Sent Events of the job until it ends (resumable: Last-Event-ID)";
    GET "/events" => events::events, "Server-Sent Events of every job, task, worker and instance change (resumable: Last-Event-ID)";
    DELETE "/jobs/{id}/blocklist" => jobs::unblock, "take ?worker=ID (default: every worker) off the job's blocklist";
    POST "/workers" => jobs::register, "register a remote worker {name, slots, tags}";
    GET "/workers" => jobs::workers, "list workers (local slots included)";
    GET "/workers/{id}" => jobs::worker, "one worker";
    PATCH "/workers/{id}" => jobs::patch_worker, "{status: enabled|disabled|draining}";
    DELETE "/workers/{id}" => jobs::delete_worker, "sign a worker off; its tasks are requeued";
    POST "/workers/{id}/pickup" => jobs::pickup, "lease a task (200) or nothing to do (204)";
    POST "/workers/{id}/heartbeat" => jobs::heartbeat, "extend leases, report progress → tasks to cancel";
    PUT "/tasks/{id}/artifacts/{name}" => jobs::upload_artifact, "upload an artifact of a running attempt";
    POST "/tasks/{id}/complete" => jobs::complete, "complete an attempt {workerId, attempt}";
    POST "/tasks/{id}/fail" => jobs::fail, "fail an attempt {workerId, attempt, error}";
    POST "/tasks/{id}/requeue" => jobs::requeue_task, "render one task's frames again (completed, failed or canceled)";
    GET "/packages/{digest}" => jobs::package, "a job's component, by SHA-256, for workers";
    GET "/topics" => topics::list, "every topic: content type, producers, subscribers, retained bytes";
    POST "/topics" => topics::create, "create a topic {id, content-type}";
    DELETE "/topics/{name}" => topics::delete, "delete a topic; its subscribers' streams end";
    POST "/topic/{name}" => topics::publish, "publish the body (created on first use)";
    GET "/topic/{name}" => topics::subscribe, "subscribe: a stream as long as the topic";
    GET "/spaces" => space::spaces, "the space this hub is in ([] without --nats)";
    GET "/space/{space}/api/v1/version" => space::version, "the space's API version";
    GET "/space/{space}/api/v1/list" => space::list, "every hub of the space: health, times, load, capacity";
    GET "/space/{space}/api/v1/load" => space::load, "the healthy hubs' load, summed and averaged";
    GET "/space/{space}/api/v1/config" => space::config, "the space's settings";
    GET "/space/{space}/api/v1/sequences" => space::sequences, "the space's packages, each once with the hub it was uploaded to";
    GET "/space/{space}/api/v1/instances" => space::instances, "every instance with its hub (lost ones too)";
    GET "/space/{space}/api/v1/topics" => space::topics, "every topic with its producers and subscribers by hub";
    POST "/space/{space}/api/v1/topic/{name}" => space::topic_publish, "publish into a space-wide topic";
    GET "/space/{space}/api/v1/topic/{name}" => space::topic_subscribe, "subscribe to a space-wide topic";
    GET "/space/{space}/api/v1/log" => space::log, "the healthy hubs' logs, merged";
    GET "/space/{space}/api/v1/sth/{hub}/info" => space::hub_info, "one hub's registry entry";
    POST "/space/{space}/api/v1/sequence/{id}/start" => space::start, "start on the least loaded hub that has it {..., hub, tags}";
    ANY "/space/{space}/api/v1/sth/{hub}/api/v1/{*rest}" => space::forward, "any route of that hub, forwarded (streams, WebSocket)";
}

/// The methods the API routes use (and `OPTIONS`), for CORS preflights.
pub fn route_methods() -> Vec<Method> {
    let mut methods = vec![Method::OPTIONS];
    for route in ROUTES {
        if let Ok(method) = Method::from_bytes(route.method.as_bytes())
            && route.method != "ANY"
            && !methods.contains(&method)
        {
            methods.push(method);
        }
    }
    methods
}

/// The API router with its middleware (auth, CORS, request ids, tracing).
pub fn router(state: AppState) -> Router {
    let api = api_routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), access::auth))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state.clone());
    // Where Prometheus looks by default, with the same rules.
    let root = Router::new()
        .route("/metrics", axum::routing::get(observe::metrics))
        .layer(middleware::from_fn_with_state(state.clone(), access::auth))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state);
    let request_id = HeaderName::from_static("x-request-id");
    // The dashboard's files carry nothing of the hub's: no token needed.
    let dashboard = Router::new()
        .route("/", axum::routing::get(dashboard::index))
        .route("/ui/{*file}", axum::routing::get(dashboard::file));
    Router::new()
        .nest("/api/v1", api)
        .merge(root)
        .merge(dashboard)
        .fallback(not_found)
        // Outside auth, so a 401 before the body is read is read too.
        .layer(middleware::from_fn(unread::drain_unread_bodies))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_headers(Any)
                .allow_methods(route_methods()),
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

/// Serves the API on `listener` with the default [`ConnectionLimits`] until
/// `shutdown` completes (see [`serve_with`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ConnectionLimits::default(), shutdown).await
}
