//! A client for a hub's HTTP API (`/api/v1`, wire-compatible with
//! Scramjet's), used by the `weir seq`, `weir inst`, `weir topic` and
//! `weir hub` commands, and for render jobs by `weir job` and `weir worker`
//! (see `docs/render-jobs.md`).
//!
//! Bodies stream both ways: uploads read an [`AsyncRead`] chunk by chunk,
//! and instance, topic and hub streams come back as a [`ByteStream`]. A non-2xx
//! reply is a [`ClientError::Hub`] carrying the status and the hub's message.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use futures::StreamExt;
//! use weir::client::{HubClient, InstanceStream, StartRequest};
//!
//! let hub = HubClient::new("http://127.0.0.1:8000", None)?;
//! let package = tokio::fs::File::open("hello.tar.gz").await?;
//! let sequence = hub.send_sequence(package).await?;
//! let instance = hub.start(&sequence.id, &StartRequest::default()).await?;
//! hub.input(&instance.id, &b"world\n"[..], "text/plain", true).await?;
//! let mut output = hub.stream(&instance.id, InstanceStream::Output).await?;
//! while let Some(chunk) = output.next().await {
//!     print!("{}", String::from_utf8_lossy(&chunk?)); // Hello world!
//! }
//! # Ok(()) }
//! ```

mod error;
mod jobs;
mod ops;
mod stream;

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

pub use crate::wire::{
    ArtifactInfo, FrameSpec, FsSize, Heartbeat, HeartbeatReply, HubVersion, InstanceInfo,
    InstanceLimits, InstanceUsage, Job, JobEvent, JobPackage, LeaseLimits, LeasePackage, LoadCheck,
    PatchJob, Removed, SequenceId, SequenceInfo, SequenceRef, StartReply, StartRequest,
    StreamUsage, SubmitJob, Task, TaskCounts, TaskFailure, TaskLease, TaskReport, TaskUsage,
    Terminated, TopicId, TopicInfo, Worker, WorkerRegistration,
};
pub use crate::wire::{
    ChunkedUpload, CreateTopic, EventAccepted, EventMessage, GcReply, KillRequest, Memory,
    ShutdownReply, StopRequest, TopicRemoved, UploadId,
};
pub use error::ClientError;
pub use jobs::JobEventStream;
pub use stream::{ByteStream, JsonStream, SseEvent, SseStream};

/// The path every route lives under.
const API_BASE: &str = "/api/v1";
/// Error bodies are read up to this size; the rest is ignored.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Scramjet's event message code, the first element of a `_event` body.
const EVENT_CODE: u32 = 5001;

/// A connection to one hub: its API URL and, optionally, a bearer token.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

/// An instance stream to read with [`HubClient::stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStream {
    /// What the plugin writes to its output.
    Output,
    /// The plugin's WASI stdout.
    Stdout,
    /// The plugin's WASI stderr.
    Stderr,
    /// The instance log, one JSON object per line.
    Log,
}

impl InstanceStream {
    fn path(self) -> &'static str {
        match self {
            Self::Output => "output",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::Log => "log",
        }
    }
}

/// Which emission of an event [`HubClient::event`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventWait {
    /// The last one emitted, or the next when there was none yet (`/event`).
    Last,
    /// The next one (`/once`).
    Next,
}

impl HubClient {
    /// A client for the hub at `hub`, e.g. `http://127.0.0.1:8000`; `/api/v1`
    /// is appended unless the URL already ends with it. A URL without a
    /// scheme is taken as `http://`.
    pub fn new(hub: &str, token: Option<String>) -> Result<Self, ClientError> {
        let base = api_url(hub)?;
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Idle pooled connections are dropped before the hub closes them
            // (`--idle-timeout-secs`, 60 s), not under a request just sent.
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")));
        // A hub holds an upload back for as long as its readers need
        // (backpressure); reqwest's default would drop it after 30 s.
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        let builder = builder.tcp_user_timeout(None);
        let http = builder.build().map_err(|cause| ClientError::Transport {
            url: base.to_string(),
            cause,
        })?;
        Ok(Self { http, base, token })
    }

    /// The API's base URL, ending in `/api/v1`.
    pub fn api_url(&self) -> &Url {
        &self.base
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<HubVersion, ClientError> {
        self.get_json(&["version"]).await
    }

    /// `GET /load-check`.
    pub async fn load_check(&self) -> Result<LoadCheck, ClientError> {
        self.get_json(&["load-check"]).await
    }

    /// `GET /log`: the hub's own log, for as long as the hub keeps it open.
    pub async fn hub_log(&self) -> Result<ByteStream, ClientError> {
        let response = self.send(self.request(Method::GET, &["log"])).await?;
        Ok(stream::bytes(response))
    }

    /// `POST /sequence`: uploads a package (`.tar.gz`), streamed from
    /// `package`, and returns the new sequence's id.
    pub async fn send_sequence(
        &self,
        package: impl AsyncRead + Send + 'static,
    ) -> Result<SequenceId, ClientError> {
        let request = self
            .request(Method::POST, &["sequence"])
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(streamed(package));
        self.json(request).await
    }

    /// `GET /sequences`.
    pub async fn sequences(&self) -> Result<Vec<SequenceInfo>, ClientError> {
        self.get_json(&["sequences"]).await
    }

    /// `GET /sequence/{id}` (`id` may also be the package name).
    pub async fn sequence(&self, id: &str) -> Result<SequenceInfo, ClientError> {
        self.get_json(&["sequence", id]).await
    }

    /// `DELETE /sequence/{id}`; with `force`, its instances are killed first
    /// (`x-seq-kill-inst: true`) instead of the hub refusing.
    pub async fn delete_sequence(&self, id: &str, force: bool) -> Result<SequenceId, ClientError> {
        let mut request = self
            .request(Method::DELETE, &["sequence", id])
            .header(CONTENT_TYPE, "application/json");
        if force {
            request = request.header("x-seq-kill-inst", "true");
        }
        self.json(request).await
    }

    /// `POST /sequence/{id}/start`: starts an instance of the sequence.
    pub async fn start(
        &self,
        sequence: &str,
        request: &StartRequest,
    ) -> Result<StartReply, ClientError> {
        self.post_json(&["sequence", sequence, "start"], request)
            .await
    }

    /// `GET /instances`.
    pub async fn instances(&self) -> Result<Vec<InstanceInfo>, ClientError> {
        self.get_json(&["instances"]).await
    }

    /// `GET /instance/{id}`.
    pub async fn instance(&self, id: &str) -> Result<InstanceInfo, ClientError> {
        self.get_json(&["instance", id]).await
    }

    /// `GET /instance/{id}/health`.
    pub async fn health(&self, id: &str) -> Result<Value, ClientError> {
        self.get_json(&["instance", id, "health"]).await
    }

    /// `POST /instance/{id}/_stop`: asks the plugin to stop, and kills it if
    /// it has not within `timeout` (unless it asks to be kept alive and
    /// `can_call_keepalive` allows that).
    pub async fn stop(
        &self,
        id: &str,
        timeout: Duration,
        can_call_keepalive: bool,
    ) -> Result<InstanceInfo, ClientError> {
        let body = StopRequest {
            timeout: Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
            can_call_keepalive: Some(can_call_keepalive),
        };
        self.post_json(&["instance", id, "_stop"], &body).await
    }

    /// `POST /instance/{id}/_kill`; `remove_immediately` drops the instance
    /// from the hub as soon as it has ended.
    pub async fn kill(
        &self,
        id: &str,
        remove_immediately: bool,
    ) -> Result<InstanceInfo, ClientError> {
        let body = KillRequest {
            remove_immediately: Some(remove_immediately),
        };
        self.post_json(&["instance", id, "_kill"], &body).await
    }

    /// `POST /instance/{id}/_event`: sends the plugin event `name`, with
    /// `message` when given.
    pub async fn emit_event(
        &self,
        id: &str,
        name: &str,
        message: Option<&Value>,
    ) -> Result<EventAccepted, ClientError> {
        let event = EventMessage {
            event_name: name.to_string(),
            message: message.cloned(),
        };
        let body = (EVENT_CODE, event);
        self.post_json(&["instance", id, "_event"], &body).await
    }

    /// `GET /instance/{id}/event/{name}` or `/once/{name}`: waits for an
    /// event the plugin emits and returns its message.
    pub async fn event(&self, id: &str, name: &str, wait: EventWait) -> Result<Value, ClientError> {
        let route = match wait {
            EventWait::Last => "event",
            EventWait::Next => "once",
        };
        self.get_json(&["instance", id, route, name]).await
    }

    /// `GET /instance/{id}/events/{name}`: every message of event `name`
    /// from now on.
    pub async fn events(&self, id: &str, name: &str) -> Result<JsonStream, ClientError> {
        let request = self.request(Method::GET, &["instance", id, "events", name]);
        let response = self.send(request).await?;
        let url = response.url().to_string();
        Ok(stream::ndjson(stream::bytes(response), url))
    }

    /// `POST /instance/{id}/input`: streams `body` into the instance input,
    /// labelled `content_type`. With `end` the input is closed when `body`
    /// ends; without, later requests may add more.
    pub async fn input(
        &self,
        id: &str,
        body: impl AsyncRead + Send + 'static,
        content_type: &str,
        end: bool,
    ) -> Result<(), ClientError> {
        self.upload(&["instance", id, "input"], body, content_type, end)
            .await
    }

    /// `POST /instance/{id}/stdin`: streams `body` into the plugin's WASI
    /// stdin; `end` as for [`input`](Self::input).
    pub async fn stdin(
        &self,
        id: &str,
        body: impl AsyncRead + Send + 'static,
        end: bool,
    ) -> Result<(), ClientError> {
        let content_type = "application/octet-stream";
        self.upload(&["instance", id, "stdin"], body, content_type, end)
            .await
    }

    /// `GET /instance/{id}/output|stdout|stderr|log`: the stream until the
    /// hub ends it.
    pub async fn stream(&self, id: &str, which: InstanceStream) -> Result<ByteStream, ClientError> {
        let request = self.request(Method::GET, &["instance", id, which.path()]);
        Ok(stream::bytes(self.send(request).await?))
    }

    /// `GET /topics`: every topic with its content type, producers and
    /// subscribers.
    pub async fn topics(&self) -> Result<Vec<TopicInfo>, ClientError> {
        self.get_json(&["topics"]).await
    }

    /// `POST /topics`: creates topic `name` carrying `content_type` (one of
    /// `application/x-ndjson`, `text/x-ndjson`, `text/plain`,
    /// `application/octet-stream`). The hub refuses a name already in use.
    pub async fn create_topic(
        &self,
        name: &str,
        content_type: &str,
    ) -> Result<TopicId, ClientError> {
        let body = CreateTopic {
            id: Some(name.to_string()),
            content_type: Some(content_type.to_string()),
        };
        self.post_json(&["topics"], &body).await
    }

    /// `DELETE /topics/{name}`: removes the topic and ends its subscribers'
    /// streams. Returns the hub's `{"message": …}`.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicRemoved, ClientError> {
        self.json(self.request(Method::DELETE, &["topics", name]))
            .await
    }

    /// `POST /topic/{name}`: streams `body` into the topic, labelled
    /// `content_type`, and returns once the hub has taken all of it in. A
    /// missing topic is created with that type; an existing one of another
    /// type is refused (415). Line-framed records stay whole even when other
    /// producers publish at the same time.
    pub async fn publish(
        &self,
        name: &str,
        body: impl AsyncRead + Send + 'static,
        content_type: &str,
    ) -> Result<(), ClientError> {
        let request = self
            .request(Method::POST, &["topic", name])
            .header(CONTENT_TYPE, content_type)
            .body(streamed(body));
        match self.send(request).await {
            Ok(_) => Ok(()),
            Err(ClientError::Transport { url, cause }) if !cause.is_connect() => {
                let broken = ClientError::Transport { url, cause };
                Err(self.refusal(name, content_type).await.unwrap_or(broken))
            }
            Err(e) => Err(e),
        }
    }

    /// Why the hub refused a publish to topic `name`, when it did. A hub that
    /// refuses a body (415) without reading it may close the connection
    /// before its reply is read: asking again with an empty body gets the
    /// hub's own words. Only an existing topic is asked about, so that one
    /// deleted during the upload is not created again.
    async fn refusal(&self, name: &str, content_type: &str) -> Option<ClientError> {
        let topics = self.topics().await.ok()?;
        if !topics.iter().any(|topic| topic.topic == name) {
            return None;
        }
        let probe = self
            .request(Method::POST, &["topic", name])
            .header(CONTENT_TYPE, content_type);
        match self.send(probe).await {
            Err(refused @ ClientError::Hub { .. }) => Some(refused),
            _ => None,
        }
    }

    /// `GET /topic/{name}`: what is published to the topic from now on (the
    /// first subscriber also gets what was retained before it came), until
    /// the topic is deleted. `content_type` is checked as for
    /// [`publish`](Self::publish).
    pub async fn subscribe(
        &self,
        name: &str,
        content_type: &str,
    ) -> Result<ByteStream, ClientError> {
        let request = self
            .request(Method::GET, &["topic", name])
            .header(CONTENT_TYPE, content_type);
        Ok(stream::bytes(self.send(request).await?))
    }

    async fn upload(
        &self,
        path: &[&str],
        body: impl AsyncRead + Send + 'static,
        content_type: &str,
        end: bool,
    ) -> Result<(), ClientError> {
        let request = self
            .request(Method::POST, path)
            .header(CONTENT_TYPE, content_type)
            .header("x-end-stream", if end { "true" } else { "false" })
            .body(streamed(body));
        self.send(request).await?;
        Ok(())
    }

    /// `GET /spaces`: the space the hub is in (none without `--nats`).
    pub async fn spaces(&self) -> Result<Vec<Value>, ClientError> {
        self.get_json(&["spaces"]).await
    }

    /// `GET /space/:space/api/v1/:what` (`list`, `sequences`, `instances`, `topics`, ...).
    pub async fn space(&self, space: &str, what: &str) -> Result<Value, ClientError> {
        self.get_json(&["space", space, "api", "v1", what]).await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &[&str]) -> Result<T, ClientError> {
        self.json(self.request(Method::GET, path)).await
    }

    async fn post_json<T: DeserializeOwned>(
        &self,
        path: &[&str],
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.json(self.request(Method::POST, path).json(body)).await
    }

    /// Sends `request` and decodes its JSON reply.
    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let request = request.header(ACCEPT, HeaderValue::from_static("application/json"));
        decode(self.send(request).await?).await
    }

    /// Sends `request` and ignores the body of its (2xx) reply.
    async fn call(&self, request: RequestBuilder) -> Result<(), ClientError> {
        self.send(request).await?;
        Ok(())
    }

    /// Sends `request`; a non-2xx reply becomes [`ClientError::Hub`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let transport = |cause: reqwest::Error| ClientError::Transport {
            url: cause
                .url()
                .map_or_else(|| self.base.to_string(), Url::to_string),
            cause,
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        Err(ClientError::Hub {
            status,
            message: error::hub_message(status, &body),
        })
    }

    fn request(&self, method: Method, path: &[&str]) -> RequestBuilder {
        self.request_with_query(method, path, &[])
    }

    /// A request to `path` with `query` as its query string.
    fn request_with_query(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
    ) -> RequestBuilder {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// Reads the JSON body of `response` (an empty body is `null`).
async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ClientError> {
    let url = response.url().to_string();
    let body = response
        .bytes()
        .await
        .map_err(|cause| ClientError::Transport {
            url: url.clone(),
            cause,
        })?;
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|cause| ClientError::Decode {
            url: url.clone(),
            cause,
        })?
    };
    serde_json::from_value(value).map_err(|cause| ClientError::Decode { url, cause })
}

/// A request body read from `reader` chunk by chunk.
fn streamed(reader: impl AsyncRead + Send + 'static) -> reqwest::Body {
    reqwest::Body::wrap_stream(ReaderStream::with_capacity(reader, 64 * 1024))
}

/// `hub` as an http URL ending in `/api/v1`.
fn api_url(hub: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: hub.to_string(),
        reason: reason.to_string(),
    };
    let with_scheme = if hub.contains("://") {
        hub.to_string()
    } else {
        format!("http://{hub}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => return Err(invalid("this weir is built without TLS; use http://")),
        _ => return Err(invalid("expected http://HOST:PORT")),
    }
    if url.host().is_none() {
        return Err(invalid("expected http://HOST:PORT"));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/');
    let path = match path.strip_suffix(API_BASE) {
        Some(prefix) => format!("{prefix}{API_BASE}"),
        None => format!("{path}{API_BASE}"),
    };
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_of(hub: &str) -> String {
        api_url(hub).unwrap().to_string()
    }

    #[test]
    fn api_url_appends_the_api_base_once() {
        assert_eq!(
            url_of("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000/api/v1"
        );
        assert_eq!(
            url_of("http://127.0.0.1:8000/"),
            "http://127.0.0.1:8000/api/v1"
        );
        assert_eq!(url_of("http://hub:8000/api/v1/"), "http://hub:8000/api/v1");
        assert_eq!(url_of("http://h/proxy"), "http://h/proxy/api/v1");
        assert_eq!(url_of("localhost:9000"), "http://localhost:9000/api/v1");
    }

    #[test]
    fn api_url_refuses_what_it_cannot_reach() {
        for hub in ["https://hub", "ftp://hub", "http://", ""] {
            assert!(
                matches!(api_url(hub), Err(ClientError::InvalidUrl { .. })),
                "{hub}"
            );
        }
    }

    #[test]
    fn paths_are_segments_under_the_base() {
        let client = HubClient::new("http://h:1", None).unwrap();
        let request = client
            .request(Method::GET, &["instance", "a b/c", "events", "x"])
            .build()
            .unwrap();
        assert_eq!(
            request.url().as_str(),
            "http://h:1/api/v1/instance/a%20b%2Fc/events/x"
        );
    }
}
