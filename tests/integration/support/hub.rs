//! An in-process hub on 127.0.0.1:0 for the HTTP tests.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use weir::api::{self, AppState};
use weir::hub::{Hub, HubConfig};

/// Every network wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(30);
/// How long an upload (which compiles the component) may take.
pub const COMPILE_WAIT: Duration = Duration::from_secs(300);

pub struct TestHub {
    pub base: String,
    pub client: Client,
    pub hub: Arc<Hub>,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestHub {
    pub async fn start() -> TestHub {
        TestHub::with(|_| {}, None).await
    }

    /// A hub with `tweak` applied to its config and an optional token.
    pub async fn with(tweak: impl FnOnce(&mut HubConfig), token: Option<&str>) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        TestHub::on(dir, tweak, token).await
    }

    /// A hub with an admin token and a read-only token.
    pub async fn with_read_token(token: &str, read_token: &str) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        TestHub::launch(dir, |_| {}, Some(token), Some(read_token)).await
    }

    /// A hub on an existing data directory (for restart tests).
    pub async fn on(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut HubConfig),
        token: Option<&str>,
    ) -> TestHub {
        TestHub::launch(dir, tweak, token, None).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut HubConfig),
        token: Option<&str>,
        read_token: Option<&str>,
    ) -> TestHub {
        let mut config = HubConfig::new(dir.path());
        config.runtime.cache_dir = Some(crate::support::scratch().join("components"));
        config.max_instances = 64;
        tweak(&mut config);
        let hub = Hub::open(config).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState {
            hub: hub.clone(),
            token: token.map(Arc::from),
            read_token: read_token.map(Arc::from),
            metrics_open: false,
            listen: addr.to_string(),
            space: None,
        };
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state, async move {
            let _ = rx.await;
        }));
        TestHub {
            base: format!("http://{addr}/api/v1"),
            client: Client::builder().timeout(WAIT).build().unwrap(),
            hub,
            dir,
            shutdown: Some(tx),
        }
    }

    /// Stops the server and hands back the data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads the plugin crate at `dir` (packed with `weir pack`) → sequence id.
    pub async fn upload(&self, dir: &'static str) -> String {
        let package = tokio::task::spawn_blocking(move || crate::support::pack(dir))
            .await
            .unwrap();
        self.upload_file(&package).await
    }

    pub async fn upload_file(&self, path: &std::path::Path) -> String {
        let bytes = std::fs::read(path).unwrap();
        let response = self
            .client
            .post(self.url("/sequence"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            // Compiling a 12–18 MB JavaScript or Python component takes 20–30 s, longer
            // while other tests compile.
            .timeout(COMPILE_WAIT)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Starts an instance → instance id.
    pub async fn start_instance(&self, sequence: &str, body: Value) -> String {
        let (status, reply) = json_of(
            self.post_json(&format!("/sequence/{sequence}/start"), body)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply["id"].as_str().unwrap().to_string()
    }

    /// Posts `body` as the whole input (ending it).
    pub async fn input(&self, instance: &str, body: &'static str) {
        let response = self
            .client
            .post(self.url(&format!("/instance/{instance}/input")))
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Reads a stream route to its end.
    pub async fn read_to_end(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK);
        String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap()
    }

    pub async fn info(&self, instance: &str) -> Value {
        json_of(self.get(&format!("/instance/{instance}")).await)
            .await
            .1
    }

    /// Sends `request_line` with `header` and a `size`-byte body over a raw
    /// socket, writing the whole body before reading (as Node's http does),
    /// and returns the reply's text. Panics if the hub closes the connection
    /// while the body is still being sent.
    pub async fn send_whole_body_then_read(
        &self,
        request_line: &str,
        header: &str,
        size: usize,
    ) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self
            .base
            .trim_start_matches("http://")
            .trim_end_matches("/api/v1")
            .to_string();
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "{request_line} HTTP/1.1\r\nHost: {addr}\r\n{header}\r\ncontent-length: {size}\r\n\r\n"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..size / chunk.len() {
            tokio::time::timeout(WAIT, socket.write_all(&chunk))
                .await
                .unwrap()
                .expect("the hub kept reading the refused body");
        }
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed before the reply: {reply:?}");
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply).into_owned();
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                return text;
            }
        }
    }

    /// Polls the instance until it has ended and returns its info.
    pub async fn wait_ended(&self, instance: &str) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                let info = self.info(instance).await;
                if info.get("terminated").is_some() {
                    return info;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap()
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Status and JSON body of a response (the body must be JSON).
pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "not-json": text }));
    (status, body)
}

/// Asserts an error reply: status and a message containing `needle`.
pub async fn assert_error(response: Response, status: StatusCode, needle: &str) {
    let (got, body) = json_of(response).await;
    assert_eq!(got, status, "{body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no JSON error body: {body}"));
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}
