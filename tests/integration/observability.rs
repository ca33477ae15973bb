//! What the people who run a hub watch it with: resumable event streams,
//! scoped and read-only tokens, Prometheus metrics (parsed by the reference
//! Python parser), per-instance accounting, JSON logs and the OpenAPI document (checked by
//! `openapi-spec-validator`).

mod openapi;
mod sessions;
mod streams;

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::hub::{TestHub, WAIT, json_of};

/// One Server-Sent Event: `id`, `event`, `data`.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<String>,
    event: String,
    data: String,
}

/// Reads events from an SSE response until `want` of them came or `idle`
/// passed without one.
async fn read_events(response: reqwest::Response, want: usize, idle: Duration) -> Vec<Sse> {
    let mut body = response.bytes_stream();
    let mut pending = String::new();
    let mut events = Vec::new();
    while events.len() < want {
        let Ok(Some(chunk)) = tokio::time::timeout(idle, body.next()).await else {
            break;
        };
        pending.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let mut event = Sse {
                id: None,
                event: "message".into(),
                data: String::new(),
            };
            let mut any = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    event.id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event.event = v.trim().to_string();
                    any = true;
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data.push_str(v.trim_start());
                    any = true;
                }
            }
            if any {
                events.push(event);
            }
        }
    }
    events
}

/// `prometheus_client`'s OpenMetrics parser, run on `text`: every sample as
/// `name{labels} value` lines, sorted labels.
fn parse_openmetrics(text: &str) -> String {
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    python(script, text)
}

/// The Python validators, pinned, from PyPI: the reference OpenMetrics parser and the
/// OpenAPI document validator.
const PY_VALIDATORS: [&str; 2] = ["prometheus-client==0.21.1", "openapi-spec-validator==0.7.1"];

/// A directory holding [`PY_VALIDATORS`]: `$WEIR_PY_VALIDATORS` (`.ci/run` sets it), else
/// the pinned packages installed once under the guests' target dir with pip.
fn py_validators() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("WEIR_PY_VALIDATORS") {
            return dir.into();
        }
        let dir = std::path::Path::new(weir_tests::GUEST_TARGET_DIR).join("tools/py-validators-2");
        if !dir.join("openapi_spec_validator/__init__.py").is_file() {
            eprintln!("installing {PY_VALIDATORS:?} into {} (pip)", dir.display());
            let status = std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--target"])
                .arg(&dir)
                .args(PY_VALIDATORS)
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "these tests need `pip install --target DIR {}` and WEIR_PY_VALIDATORS=DIR",
                PY_VALIDATORS.join(" ")
            );
        }
        dir
    })
    .clone()
}

/// Runs the Python `script` with the validators on the path, `input` on its
/// stdin; its stdout, or a panic with its stderr.
fn python(script: &str, input: &str) -> String {
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", py_validators())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sample(parsed: &str, series: &str) -> f64 {
    parsed
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{parsed}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_and_accounting_count_known_work_exactly() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::PASSTHROUGH_DIR).await;
    let body = "one\ntwo\nthree\n";
    for _ in 0..3 {
        let id = hub.start_instance(&seq, json!({})).await;
        hub.input(&id, body).await;
        assert_eq!(
            hub.read_to_end(&format!("/instance/{id}/output")).await,
            body
        );
        let info = hub.wait_ended(&id).await;
        let usage = &info["usage"];
        assert_eq!(usage["input"]["bytes"], body.len(), "{usage}");
        assert_eq!(usage["input"]["lines"], 3, "{usage}");
        assert_eq!(usage["output"]["bytes"], body.len(), "{usage}");
        assert_eq!(usage["output"]["lines"], 3, "{usage}");
        assert!(usage["cpuMs"].as_f64().unwrap() > 0.0, "{usage}");
        assert!(
            usage["peakMemoryBytes"].as_u64().unwrap() >= 64 << 10,
            "{usage}"
        );
        assert!(usage["limits"]["memoryBytes"].as_u64().is_some(), "{usage}");
    }
    // A topic: two records published, then read by one subscriber.
    let published = hub
        .client
        .post(hub.url("/topic/metered"))
        .header("content-type", "application/x-ndjson")
        .body("{\"a\":1}\n{\"a\":2}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    let mut subscribed = hub.get("/topic/metered").await.bytes_stream();
    let mut got = Vec::new();
    while got.len() < 16 {
        let chunk = tokio::time::timeout(WAIT, subscribed.next()).await.unwrap();
        got.extend_from_slice(&chunk.unwrap().unwrap());
    }
    drop(subscribed);
    let response = hub
        .client
        .get(hub.base.replace("/api/v1", "/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let parsed = parse_openmetrics(&response.text().await.unwrap());
    assert_eq!(
        sample(&parsed, r#"weir_instance_starts_total{result="started"}"#),
        3.0
    );
    assert_eq!(
        sample(&parsed, r#"weir_instance_start_duration_seconds_count{}"#),
        3.0
    );
    assert_eq!(sample(&parsed, r#"weir_instances{state="completed"}"#), 3.0);
    let bytes = (3 * body.len()) as f64;
    assert_eq!(
        sample(&parsed, r#"weir_stream_bytes_total{stream="input"}"#),
        bytes
    );
    assert_eq!(
        sample(&parsed, r#"weir_stream_bytes_total{stream="output"}"#),
        bytes
    );
    assert_eq!(
        sample(&parsed, r#"weir_stream_records_total{stream="output"}"#),
        9.0
    );
    assert_eq!(
        sample(
            &parsed,
            r#"weir_http_requests_total{method="POST",route="/api/v1/sequence/{id}/start",status="200"}"#
        ),
        3.0
    );
    // One package, compiled or found compiled (the tests share a cache).
    let compiles = sample(&parsed, r#"weir_compile_cache_misses_total{}"#)
        + sample(&parsed, r#"weir_compile_cache_hits_total{}"#);
    assert_eq!(compiles, 1.0);
    assert!(sample(&parsed, r#"weir_process_resident_memory_bytes{}"#) > 1e6);
    assert_eq!(sample(&parsed, r#"weir_topics{}"#), 1.0);
    assert_eq!(
        sample(&parsed, r#"weir_topic_published_bytes_total{}"#),
        16.0
    );
    assert_eq!(
        sample(&parsed, r#"weir_topic_published_records_total{}"#),
        2.0
    );
    assert_eq!(
        sample(&parsed, r#"weir_topic_delivered_bytes_total{}"#),
        16.0
    );
    assert_eq!(
        sample(&parsed, r#"weir_topic_delivered_records_total{}"#),
        2.0
    );
    assert!(!parsed.contains(&seq), "no id becomes a label:\n{parsed}");
}

#[tokio::test]
async fn peak_memory_shows_what_a_plugin_allocated() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::MEMORY_HOG_DIR).await;
    let id = hub
        .start_instance(&seq, json!({"limits": {"memory": 32}}))
        .await;
    let info = hub.wait_ended(&id).await;
    let peak = info["usage"]["peakMemoryBytes"].as_u64().unwrap();
    // It takes 1 MiB blocks until the 32 MiB limit refuses one.
    assert!((24 << 20..=32 << 20).contains(&peak), "peak {peak}: {info}");
    assert_eq!(info["usage"]["limits"]["memoryBytes"], 32 << 20);
}

#[tokio::test]
async fn json_logs_have_a_line_per_request_with_its_route_status_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let (mut child, url) = crate::support::serve(Some(&stderr_path), |command| {
        command
            .args(["--slots", "0", "--log-format", "json", "--data-dir"])
            .arg(dir.path().join("data"))
            // The default filter of the JSON format (info) has the access lines.
            .env_remove("WEIR_LOG")
            .stderr(stderr);
    });
    let reply = reqwest::Client::new()
        .get(format!("{url}/api/v1/instance/no-such-instance"))
        .header("x-request-id", "req-observability-1")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&stderr_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["request_id"] == "req-observability-1")
        .unwrap_or_else(|| panic!("no access line in\n{log}"));
    assert_eq!(request["route"], "/api/v1/instance/{id}", "{request}");
    assert_eq!(request["status"], 404, "{request}");
    assert_eq!(request["instance"], "no-such-instance", "{request}");
    assert!(request["duration_ms"].as_f64().is_some(), "{request}");
    assert!(lines.iter().any(|l| l["level"] == "INFO"), "{log}");
}

#[tokio::test]
async fn a_completed_render_task_shows_its_cpu_memory_and_wall_time() {
    let hub = TestHub::with(|c| c.jobs.slots = 1, None).await;
    let seq = hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let (status, job) = json_of(
        hub.post_json(
            "/jobs",
            json!({"package": seq, "frames": "1-2", "chunkSize": 2, "settings": {"spin_ms": 50, "alloc_mb": 8}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap();
    let tasks = tokio::time::timeout(WAIT, async {
        loop {
            let (_, tasks) = json_of(hub.get(&format!("/jobs/{id}/tasks")).await).await;
            if tasks[0]["state"] == "completed" {
                return tasks;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let usage = &tasks[0]["usage"];
    // Two frames that spin 50 ms each: about that much CPU, within the wall time.
    let cpu = usage["cpuMs"].as_f64().unwrap();
    let wall = usage["wallMs"].as_u64().unwrap() as f64;
    assert!((80.0..=wall + 20.0).contains(&cpu), "{usage}");
    // Each frame allocates and touches 8 MiB.
    assert!(
        usage["peakMemoryBytes"].as_u64().unwrap() >= 8 << 20,
        "{usage}"
    );
}
