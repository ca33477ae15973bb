//! Who may call what: the bearer tokens of the API.
//!
//! - the admin token (`--token`) opens every route;
//! - the read token (`--read-token`) opens the `GET` routes only, for
//!   dashboards and scrapers;
//! - an instance's session token (`sessionToken` of its start request) opens
//!   that instance's own routes, `/instance/:id` and below, and nothing else,
//!   so a viewer can be handed one instance without the admin token.
//!
//! `/health` and `/access` are always open, and `/metrics` too with
//! `--metrics-open`. Tokens
//! are compared in constant time and never logged.
//!
//! A browser cannot set `Authorization` on a WebSocket, so a WebSocket
//! upgrade may carry the token as a subprotocol instead,
//! `Sec-WebSocket-Protocol: weir.bearer.<token>` (the hub answers with the
//! same subprotocol, as browsers require).

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// The middleware: lets the request through or answers 401/403.
pub(super) async fn auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn check(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let Some(admin) = &state.token else {
        return Ok(());
    };
    let path = request.uri().path();
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    if path == "/health" || path == "/access" || (path == "/metrics" && state.metrics_open) {
        return Ok(());
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .or_else(|| websocket_token(request.headers()))
        .ok_or(ApiError::Unauthorized)?;
    if constant_time_eq(given.as_bytes(), admin.as_bytes()) {
        return Ok(());
    }
    if let Some(read) = &state.read_token
        && constant_time_eq(given.as_bytes(), read.as_bytes())
    {
        return if matches!(*request.method(), Method::GET | Method::HEAD) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the read-only token opens GET routes only, not {}",
                request.method()
            )))
        };
    }
    if let Some(id) = instance_of(path)
        && let Ok(record) = state.hub.instance(id)
        && record.session.is_some_and(|key| key.opens_with(given))
    {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "invalid bearer token (a session token opens only its own instance's routes)".into(),
    ))
}

/// The instance id of `/instance/:id` and the routes below it.
fn instance_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/instance/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// The subprotocol a WebSocket upgrade carries its token in.
pub(super) const WS_TOKEN_PREFIX: &str = "weir.bearer.";

/// The `weir.bearer.<token>` subprotocol of a WebSocket upgrade, whole.
pub(super) fn websocket_token_protocol(headers: &axum::http::HeaderMap) -> Option<&str> {
    let upgrade = headers.get(header::UPGRADE)?.to_str().ok()?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.starts_with(WS_TOKEN_PREFIX) && p.len() > WS_TOKEN_PREFIX.len())
}

fn websocket_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    websocket_token_protocol(headers).map(|p| &p[WS_TOKEN_PREFIX.len()..])
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

/// What a request's token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every route (the admin token, or a hub without `--token`).
    Admin,
    /// `GET` routes only (the read token).
    Read,
}

fn scope(state: &AppState, headers: &axum::http::HeaderMap) -> Option<Scope> {
    let Some(admin) = &state.token else {
        return Some(Scope::Admin);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)?;
    if constant_time_eq(given.as_bytes(), admin.as_bytes()) {
        return Some(Scope::Admin);
    }
    state
        .read_token
        .as_ref()
        .filter(|read| constant_time_eq(given.as_bytes(), read.as_bytes()))
        .map(|_| Scope::Read)
}

/// `GET /access` (no auth): whether the hub wants a token and what the
/// request's opens, `{auth, scope: "admin" | "read" | null}`, so a page can
/// ask for a token, or show itself read-only, before it calls anything else.
pub async fn access(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::Json<crate::wire::Access> {
    let scope = scope(&state, &headers).map(|s| match s {
        Scope::Admin => "admin".to_string(),
        Scope::Read => "read".to_string(),
    });
    axum::Json(crate::wire::Access {
        auth: state.token.is_some(),
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, constant_time_eq, instance_of};

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

    #[test]
    fn instance_routes_are_recognised() {
        assert_eq!(instance_of("/instance/abc"), Some("abc"));
        assert_eq!(instance_of("/instance/abc/output"), Some("abc"));
        assert_eq!(instance_of("/instance/"), None);
        assert_eq!(instance_of("/instances"), None);
        assert_eq!(instance_of("/sequence/abc/start"), None);
    }
}
