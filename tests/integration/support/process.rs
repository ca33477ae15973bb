//! A real `weir serve` child process (the one helper for tests that need the binary: its
//! memory and CPU, its environment, a restart or a SIGKILL), and helpers to package fixtures and check streamed patterns.

use std::process::Child;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::{Compression, write::GzEncoder};
use futures::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::hub::{WAIT, json_of};

/// A `weir serve` child on a free port with its own data dir; killed on drop.
pub struct HubProcess {
    /// The `weir serve` process.
    pub child: Child,
    /// Its API base URL, `http://127.0.0.1:PORT/api/v1`.
    pub base: String,
    /// A client with the tests' timeout.
    pub client: Client,
    /// Its data dir, when it owns one (see [`HubProcess::on`]).
    _dir: Option<tempfile::TempDir>,
}

impl HubProcess {
    /// Starts `weir serve` with `extra` flags and `env` added to this process's environment.
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> HubProcess {
        HubProcess::start_with(extra, env, |_| {})
    }

    /// Starts `weir serve` with its open-file limit (soft and hard) at `open_files`.
    pub fn start_with_open_files(
        extra: &[&str],
        env: &[(&str, &str)],
        open_files: u64,
    ) -> HubProcess {
        HubProcess::start_with(extra, env, |command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the child between fork and exec and only
            // calls setrlimit, which is async-signal-safe.
            #[allow(unsafe_code)]
            unsafe {
                command.pre_exec(move || {
                    rlimit::setrlimit(rlimit::Resource::NOFILE, open_files, open_files)
                });
            }
        })
    }

    /// Starts `weir serve` on `data_dir`, which outlives it (for restart tests).
    pub fn on(data_dir: &std::path::Path, extra: &[&str]) -> HubProcess {
        HubProcess::serve(data_dir, None, extra, &[], |_| {})
    }

    fn start_with(
        extra: &[&str],
        env: &[(&str, &str)],
        configure: impl FnOnce(&mut std::process::Command),
    ) -> HubProcess {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        HubProcess::serve(&path, Some(dir), extra, env, configure)
    }

    fn serve(
        data_dir: &std::path::Path,
        dir: Option<tempfile::TempDir>,
        extra: &[&str],
        env: &[(&str, &str)],
        configure: impl FnOnce(&mut std::process::Command),
    ) -> HubProcess {
        let (child, url) = crate::support::serve(None, |command| {
            command
                .arg("--data-dir")
                .arg(data_dir)
                .args(extra)
                .envs(env.iter().copied());
            configure(command);
        });
        HubProcess {
            child,
            base: format!("{url}/api/v1"),
            // Idle pooled connections are dropped before a hub with a short
            // --idle-timeout-secs closes them under a request just sent.
            client: Client::builder()
                .timeout(WAIT)
                .pool_idle_timeout(Duration::from_millis(300))
                .build()
                .unwrap(),
            _dir: dir,
        }
    }

    /// The exit status, if the process exits within `within` (blocking).
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory of the hub now, in bytes (`VmRSS`).
    pub fn rss(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// The most memory the hub has ever had resident, in bytes (`VmHWM`).
    pub fn peak_rss(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// CPU time (user + system) the hub has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name; utime and stime are the 12th and 13th, in
        // USER_HZ (100 per second on Linux).
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    /// The hub's `host:port`.
    pub fn addr(&self) -> &str {
        self.base
            .trim_start_matches("http://")
            .trim_end_matches("/api/v1")
    }

    /// Reads the hub log (`GET /log`, replayed then live) until a line contains
    /// `needle`; returns that line.
    pub async fn wait_log(&self, needle: &str) -> String {
        let mut stream = self.get("/log").await.bytes_stream();
        let mut text = String::new();
        let found = tokio::time::timeout(WAIT, async {
            while let Some(chunk) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                    return Some(line.to_string());
                }
            }
            None
        })
        .await;
        found
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no log line with {needle:?} in {text}"))
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

    /// Uploads the component at `wasm` as package `name` → sequence id.
    pub async fn upload(&self, name: &str, wasm: &str) -> String {
        upload_fixture(&self.client, &self.url("/sequence"), name, wasm).await
    }

    /// Starts an instance → instance id.
    pub async fn start_instance(&self, sequence: &str, body: Value) -> String {
        let response = self
            .post_json(&format!("/sequence/{sequence}/start"), body)
            .await;
        let (status, reply) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply["id"].as_str().unwrap().to_string()
    }

    /// Polls the instance until it has ended and returns its info.
    pub async fn wait_ended(&self, instance: &str) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                let (status, info) =
                    json_of(self.get(&format!("/instance/{instance}")).await).await;
                // With a short --instance-retention-secs a slow poll could miss the end.
                assert_eq!(status, StatusCode::OK, "instance {instance}: {info}");
                if info.get("terminated").is_some() {
                    return info;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("instance {instance} did not end within {WAIT:?}"))
    }

    /// Kills the instance and returns its info and how long it took to end: from sending
    /// `_kill` to the time the hub stamped on the log line of the end, so this test's own
    /// polling does not count.
    pub async fn kill(&self, instance: &str) -> (Duration, Value) {
        let asked = SystemTime::now();
        let response = self
            .post_json(&format!("/instance/{instance}/_kill"), json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let info = self.wait_ended(instance).await;
        let log = self.get(&format!("/instance/{instance}/log")).await;
        let log = log.text().await.unwrap();
        let end = log
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| {
                line["msg"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("instance ended: "))
            })
            .unwrap_or_else(|| panic!("no end line in the log: {log}"));
        let ended = UNIX_EPOCH + Duration::from_millis(end["ts"].as_u64().unwrap());
        let took = ended.duration_since(asked).unwrap_or_default();
        (took, info)
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A package (`.tar.gz` bytes) holding the fixture component at `wasm` as `name`, built in
/// memory so concurrent tests never share a file.
pub fn fixture_package(name: &str, wasm: &str) -> Vec<u8> {
    let component = std::fs::read(wasm).unwrap();
    let manifest = format!("name = '{name}'\ncomponent = '{name}.wasm'\n");
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let component_name = format!("{name}.wasm");
    for (file, data) in [
        ("weir.toml", manifest.as_bytes()),
        (component_name.as_str(), component.as_slice()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, file, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Period of the test pattern: lower-case letters, cycling every 26 bytes and restarting
/// every 251, so a lost, repeated or reordered chunk shows.
const PERIOD: usize = 251;

/// Two periods of the pattern (upper-cased if `upper`), so any slice of up to one period
/// starting within the first can be compared in one go.
fn cycle(upper: bool) -> Vec<u8> {
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let one = (0..PERIOD).map(|i| letters[i % 26]);
    let mut two: Vec<u8> = one.clone().chain(one).collect();
    if upper {
        two.make_ascii_uppercase();
    }
    two
}

/// `len` bytes of the pattern from `offset`.
pub fn pattern(offset: u64, len: usize) -> Vec<u8> {
    let cycle = cycle(false);
    let mut out = Vec::with_capacity(len);
    let mut at = (offset % PERIOD as u64) as usize;
    while out.len() < len {
        let n = PERIOD.min(len - out.len());
        out.extend_from_slice(&cycle[at..at + n]);
        at = (at + n) % PERIOD;
    }
    out
}

/// Checks that `chunk` is the pattern from `offset` (upper-cased in `cycle`); returns the
/// offset of the first wrong byte.
fn first_mismatch(cycle: &[u8], offset: u64, chunk: &[u8]) -> Option<u64> {
    let mut done = 0;
    while done < chunk.len() {
        let at = ((offset + done as u64) % PERIOD as u64) as usize;
        let n = PERIOD.min(chunk.len() - done);
        let (got, want) = (&chunk[done..done + n], &cycle[at..at + n]);
        if got != want {
            let wrong = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
            return Some(offset + (done + wrong) as u64);
        }
        done += n;
    }
    None
}

/// Streams `total` bytes of the pattern through the running instance `id` (input posted
/// in 256 KiB blocks, `pace` apart, while the output is read) and checks every output byte
/// against the pattern, upper-cased if `upper`.
pub async fn stream_through(hub: &HubProcess, id: &str, total: u64, upper: bool, pace: Duration) {
    const BLOCK: u64 = 256 << 10;
    let output = hub.get(&format!("/instance/{id}/output")).await;
    assert_eq!(output.status(), StatusCode::OK);
    let blocks = (0..total.div_ceil(BLOCK)).map(move |i| {
        let len = BLOCK.min(total - i * BLOCK) as usize;
        Ok::<_, std::io::Error>(bytes::Bytes::from(pattern(i * BLOCK, len)))
    });
    let input = hub
        .client
        .post(hub.url(&format!("/instance/{id}/input")))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(
            futures::stream::iter(blocks).then(move |block| async move {
                tokio::time::sleep(pace).await;
                block
            }),
        ))
        .send();
    let check = async {
        let cycle = cycle(upper);
        let mut stream = output.bytes_stream();
        let mut offset = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            if let Some(wrong) = first_mismatch(&cycle, offset, &chunk) {
                panic!("instance {id}: wrong byte at offset {wrong}");
            }
            offset += chunk.len() as u64;
        }
        offset
    };
    let (sent, received) = tokio::time::timeout(WAIT * 2, async { tokio::join!(input, check) })
        .await
        .unwrap_or_else(|_| panic!("instance {id}: streaming {total} bytes took too long"));
    assert_eq!(sent.unwrap().status(), StatusCode::OK);
    assert_eq!(received, total, "instance {id}: every byte arrives");
}

#[test]
fn the_pattern_check_finds_lost_and_wrong_bytes() {
    let (lower, upper) = (cycle(false), cycle(true));
    let data = pattern(1000, 5000);
    assert_eq!(first_mismatch(&lower, 1000, &data), None);
    assert_eq!(
        first_mismatch(&upper, 1000, &data.to_ascii_uppercase()),
        None
    );
    assert_eq!(first_mismatch(&upper, 1000, &data), Some(1000));
    assert_eq!(
        first_mismatch(&lower, 1001, &data),
        Some(1001),
        "one byte lost"
    );
    let mut wrong = data.clone();
    wrong[3000] ^= 1;
    assert_eq!(first_mismatch(&lower, 1000, &wrong), Some(4000));
}

/// Uploads the fixture component `wasm` as package `name` to `POST {url}` (a hub's
/// `/sequence`) → sequence id.
pub async fn upload_fixture(client: &reqwest::Client, url: &str, name: &str, wasm: &str) -> String {
    let response = client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(fixture_package(name, wasm))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().to_string()
}
