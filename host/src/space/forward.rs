//! Requests from one hub of a space to another: the Space API's fan-out
//! reads (`sequences`, `instances`, `topics` of every hub) and the
//! `sth/:hubId/api/v1/*` forwarding, which streams bodies both ways without
//! holding them (a slow reader back-pressures the hub that produces).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures::TryStreamExt;
use serde_json::Value;

use super::{HubEntry, SpaceError};

/// How long a fan-out read of one hub may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[header::HeaderName] = &[
    header::CONNECTION,
    header::HOST,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// An HTTP client for the space's hubs.
#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
}

impl Default for Forwarder {
    fn default() -> Self {
        Self::new()
    }
}

impl Forwarder {
    /// A client that connects within 5 s and never times out a stream.
    pub fn new() -> Forwarder {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Forwarder { client }
    }

    /// `GET {hub}/api/v1{path}` as JSON, within [`READ_TIMEOUT`].
    pub async fn get_json(
        &self,
        hub: &HubEntry,
        path: &str,
        auth: Option<&HeaderValue>,
    ) -> Result<Value, SpaceError> {
        let mut request = self
            .client
            .get(format!("{}/api/v1{path}", hub.url))
            .timeout(READ_TIMEOUT);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let failed = |e: reqwest::Error| {
            SpaceError::Upstream(format!("hub {} did not answer GET {path}: {e}", hub.id))
        };
        let response = request.send().await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(SpaceError::Upstream(format!(
                "hub {} answered GET {path} with {}",
                hub.id,
                response.status()
            )));
        }
        response.json().await.map_err(failed)
    }

    /// Sends `method {hub}/api/v1/{path_and_query}` with `headers` and `body`
    /// and returns the hub's response, both bodies streamed.
    pub async fn forward(
        &self,
        hub: &HubEntry,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response, SpaceError> {
        let url = format!(
            "{}/api/v1/{}",
            hub.url,
            path_and_query.trim_start_matches('/')
        );
        let mut outgoing = headers.clone();
        for name in HOP_BY_HOP {
            outgoing.remove(name);
        }
        let upstream = self
            .client
            .request(method, url)
            .headers(outgoing)
            .body(reqwest::Body::wrap_stream(body.into_data_stream()))
            .send()
            .await
            .map_err(|e| SpaceError::Upstream(format!("hub {} did not answer: {e}", hub.id)))?;
        let status =
            StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut incoming = upstream.headers().clone();
        for name in HOP_BY_HOP {
            incoming.remove(name);
        }
        let stream = upstream.bytes_stream().map_err(std::io::Error::other);
        let mut response = Response::new(Body::from_stream(stream));
        *response.status_mut() = status;
        *response.headers_mut() = incoming;
        Ok(response)
    }
}
