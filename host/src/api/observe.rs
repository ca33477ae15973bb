//! What every request leaves behind: a count and a duration in the metrics
//! (by route template, never the raw path, so ids do not become series) and
//! one `weir::access` log line with the request id, route, status and
//! duration, and the instance or job the path names. `GET /metrics` serves
//! the metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The middleware.
pub(super) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let began = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let path = request.uri().path().to_string();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let response = next.run(request).await;
    let took = began.elapsed();
    let status = response.status().as_u16();
    // Any token may come as a method: only the standard ones become labels.
    let label = match method.as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    };
    state.hub.metrics().request(label, &route, status, took);
    let (instance, job) = named_ids(&path);
    tracing::info!(
        target: "weir::access",
        request_id = %request_id,
        method = %method,
        route = %route,
        path = %path,
        status,
        duration_ms = took.as_secs_f64() * 1000.0,
        instance,
        job,
        "request"
    );
    response
}

/// The instance and job ids a path names (`/api/v1/instance/ID/...`,
/// `/api/v1/jobs/ID/...`).
fn named_ids(path: &str) -> (Option<&str>, Option<&str>) {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let mut instance = None;
    let mut job = None;
    while let Some(segment) = segments.next() {
        match segment {
            "instance" => instance = segments.next(),
            "jobs" => job = segments.next(),
            _ => {}
        }
    }
    (instance, job)
}

/// `GET /metrics`: the hub's metrics in the OpenMetrics text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.hub.encode_metrics();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::named_ids;

    #[test]
    fn paths_name_their_instance_or_job() {
        assert_eq!(
            named_ids("/api/v1/instance/abc/output"),
            (Some("abc"), None)
        );
        assert_eq!(named_ids("/api/v1/jobs/j1/tasks"), (None, Some("j1")));
        assert_eq!(named_ids("/api/v1/jobs"), (None, None));
        assert_eq!(named_ids("/api/v1/sequences"), (None, None));
    }
}
