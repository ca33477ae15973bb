//! What the people who run a hub watch it with: resumable event streams,
//! scoped and read-only tokens, Prometheus metrics (parsed by the reference
//! Python parser), per-instance accounting, JSON logs and the OpenAPI document (checked by
//! `openapi-spec-validator`).

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

fn seq_of(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

#[tokio::test]
async fn a_dropped_event_stream_resumes_with_every_missed_event_once() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::HELLO_DIR).await;
    let first = read_events(hub.get("/events").await, 1, WAIT).await;
    assert_eq!(first[0].event, "open", "{first:?}");
    let last_id = first[0].id.clone().expect("the open event has an id");
    // The connection is gone; three instances start and end meanwhile.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = hub.start_instance(&seq, json!({})).await;
        hub.input(&id, "x\n").await;
        hub.read_to_end(&format!("/instance/{id}/output")).await;
        hub.wait_ended(&id).await;
        ids.push(id);
    }
    let resumed = hub
        .client
        .get(hub.url("/events"))
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    let missed = read_events(resumed, 1000, Duration::from_millis(700)).await;
    let seqs: Vec<u64> = missed
        .iter()
        .map(|e| seq_of(e.id.as_ref().unwrap()))
        .collect();
    let expected: Vec<u64> =
        (seq_of(&last_id) + 1..=seq_of(&last_id) + seqs.len() as u64).collect();
    assert_eq!(
        seqs, expected,
        "every missed event, in order, each once: {missed:?}"
    );
    for id in &ids {
        let about: Vec<&Sse> = missed
            .iter()
            .filter(|e| e.data.contains(id.as_str()))
            .collect();
        assert!(
            about
                .iter()
                .any(|e| e.event == "instance" && e.data.contains("\"completed\"")),
            "instance {id} ending is among the missed events: {about:?}"
        );
    }
    // An id this hub never gave (or forgot): told to start over.
    let stale = hub
        .client
        .get(hub.url("/events"))
        .header("last-event-id", "0badc0de-7")
        .send()
        .await
        .unwrap();
    let stale = read_events(stale, 1, WAIT).await;
    assert_eq!(stale[0].event, "reset", "{stale:?}");
}

#[tokio::test]
async fn a_jobs_stream_resumes_and_says_when_there_is_nothing_more() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let (status, job) = json_of(
        hub.post_json(
            "/jobs",
            json!({"package": seq, "frames": "1-4", "chunkSize": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let events = read_events(hub.get(&format!("/jobs/{id}/events")).await, 1, WAIT).await;
    assert_eq!(events[0].event, "job");
    let after = events[0].id.clone().unwrap();
    // Wait for the end without the stream, then resume from the first event.
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
            if job["state"] == "completed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let resumed = hub
        .client
        .get(hub.url(&format!("/jobs/{id}/events")))
        .header("last-event-id", &after)
        .send()
        .await
        .unwrap();
    let missed = read_events(resumed, 1000, Duration::from_secs(2)).await;
    let last_job = missed
        .iter()
        .rev()
        .find(|e| e.event == "job")
        .expect("job events");
    assert!(last_job.data.contains("\"completed\""), "{missed:?}");
    assert!(
        missed.iter().all(|e| e.data.contains(id.as_str())),
        "only this job's events: {missed:?}"
    );
    // Resumed after its end, with nothing missed: 204, so a browser stops
    // reconnecting.
    let done = hub
        .client
        .get(hub.url(&format!("/jobs/{id}/events")))
        .header("last-event-id", last_job.id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}

/// A path of `route` with its parameters filled in.
fn concrete(path: &str, instance: &str) -> String {
    path.replace("{space}", "s")
        .replace("{hub}", "h")
        .replace("{*rest}", "version")
        .replace("{id}", instance)
        .replace("{offset}", "0")
        .replace("{name}", "n")
        .replace("{action}", "cancel")
        .replace("{digest}", "d")
}

#[tokio::test]
async fn a_session_token_opens_its_instance_and_nothing_else() {
    let admin = "admin-token-0123456789";
    let read = "read-token-0123456789";
    let hub = TestHub::with_read_token(admin, read).await;
    let client = &hub.client;
    let package = std::fs::read(
        tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::PASSTHROUGH_DIR))
            .await
            .unwrap(),
    )
    .unwrap();
    let (status, up) = json_of(
        client
            .post(hub.url("/sequence"))
            .bearer_auth(admin)
            .body(package.clone())
            .timeout(crate::support::hub::COMPILE_WAIT)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{up}");
    let seq = up["id"].as_str().unwrap().to_string();
    let start = |body: Value| {
        client
            .post(hub.url(&format!("/sequence/{seq}/start")))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    let (status, started) = json_of(start(json!({"sessionToken": true})).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let token = started["sessionToken"]
        .as_str()
        .expect("a minted token")
        .to_string();
    assert!(token.len() >= 32, "{token}");
    let id = started["id"].as_str().unwrap().to_string();
    let (_, other) = json_of(start(json!({})).await.unwrap()).await;
    let other = other["id"].as_str().unwrap().to_string();
    let (status, refused) = json_of(start(json!({"sessionToken": "short"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    // Its own routes: info, input, output.
    let info = client
        .get(hub.url(&format!("/instance/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.unwrap();
    assert!(
        info.get("sessionToken").is_none(),
        "the token is never shown again"
    );
    let sent = client
        .post(hub.url(&format!("/instance/{id}/input")))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("through\n")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let output = client
        .get(hub.url(&format!("/instance/{id}/output")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(output.status(), StatusCode::OK);
    assert_eq!(output.text().await.unwrap(), "through\n");

    // A browser's WebSocket: the token as a subprotocol, chosen back by the hub.
    {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let (_, ws_reply) = json_of(start(json!({"sessionToken": true})).await.unwrap()).await;
        let ws_id = ws_reply["id"].as_str().unwrap();
        let ws_token = ws_reply["sessionToken"].as_str().unwrap();
        let url = format!(
            "{}/instance/{ws_id}/ws",
            hub.base.replace("http://", "ws://")
        );
        let protocol = format!("weir.bearer.{ws_token}");
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (mut socket, reply) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(
            reply.headers()["sec-websocket-protocol"].to_str().unwrap(),
            protocol
        );
        socket.send(Message::text("by socket\n")).await.unwrap();
        socket
            .send(Message::binary(Vec::<u8>::new()))
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(Ok(message)) = tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
            match message {
                Message::Binary(data) => out.extend_from_slice(&data),
                Message::Close(_) => break,
                _ => {}
            }
        }
        assert_eq!(String::from_utf8(out).unwrap(), "by socket\n");
        // Another instance's WebSocket does not open with it.
        let other_url = format!(
            "{}/instance/{other}/ws",
            hub.base.replace("http://", "ws://")
        );
        let mut request = other_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let refused = tokio_tungstenite::connect_async(request).await;
        assert!(refused.is_err(), "another instance's socket opened");
    }

    // Every other route of the API: 403 with the session token.
    for route in weir::api::ROUTES {
        // Open to everyone (what a token opens, liveness): nothing to refuse.
        if route.path == "/health" || route.path == "/access" {
            continue;
        }
        let own = route.path.starts_with("/instance/{id}");
        let target = if own { &other } else { &id };
        let method = match route.method {
            "ANY" => Method::GET,
            m => Method::from_bytes(m.as_bytes()).unwrap(),
        };
        let response = client
            .request(method.clone(), hub.url(&concrete(route.path, target)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{method} {} with instance {id}'s session token",
            route.path
        );
    }
    let metrics = client
        .get(hub.base.replace("/api/v1", "/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::FORBIDDEN);

    // The read-only token: GET routes, nothing that changes anything.
    let listed = client
        .get(hub.url("/instances"))
        .bearer_auth(read)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    for (method, path) in [
        (Method::POST, format!("/sequence/{seq}/start")),
        (Method::DELETE, format!("/sequence/{seq}")),
        (Method::POST, format!("/instance/{other}/_kill")),
        (Method::POST, "/sequence".to_string()),
    ] {
        let response = client
            .request(method.clone(), hub.url(&path))
            .bearer_auth(read)
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("read-only"),
            "{body}"
        );
    }
    // A client's own token works the same as a minted one.
    let (status, mine) = json_of(
        start(json!({"sessionToken": "my-own-viewer-token-42"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert!(
        mine.get("sessionToken").is_none(),
        "a given token is not echoed"
    );
    let mine = mine["id"].as_str().unwrap();
    let info = client
        .get(hub.url(&format!("/instance/{mine}")))
        .bearer_auth("my-own-viewer-token-42")
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
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
async fn the_openapi_document_validates_and_lists_exactly_the_routes() {
    let hub = TestHub::start().await;
    let (status, doc) = json_of(hub.get("/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    let script = r#"
import json, sys
from openapi_spec_validator import validate
doc = json.load(sys.stdin)
validate(doc)
for path, item in sorted(doc["paths"].items()):
    for method in sorted(k for k in item if k in ("get", "post", "put", "patch", "delete")):
        print(method.upper(), path)
"#;
    let listed = python(script, &doc.to_string());
    let mut expected: Vec<String> = Vec::new();
    for route in weir::api::ROUTES {
        let path = route.path.replace("{*", "{");
        let methods: &[&str] = match route.method {
            "ANY" => &["DELETE", "GET", "PATCH", "POST", "PUT"],
            m => &[m][..],
        };
        for m in methods {
            expected.push(format!("{m} {path}"));
        }
    }
    expected.sort();
    let mut got: Vec<String> = listed.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, expected, "the document's operations are the router's");
    assert_eq!(doc["openapi"], "3.1.0");
    let start = &doc["paths"]["/sequence/{id}/start"]["post"];
    assert_eq!(
        start["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/StartRequest"
    );
    let limits = &doc["components"]["schemas"]["StartRequest"]["properties"]["limits"];
    assert!(
        !limits.is_null(),
        "{}",
        doc["components"]["schemas"]["StartRequest"]
    );
    assert!(start["responses"]["422"].is_object(), "{start}");
    // Replies that are the code's own types name them.
    assert_eq!(
        doc["paths"]["/topics"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["items"]["$ref"],
        "#/components/schemas/TopicInfo"
    );
    let topic = &doc["components"]["schemas"]["TopicInfo"]["properties"];
    assert!(topic["retainedBytes"].is_object(), "{topic}");
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

/// The replies the document gives a schema (the client's own wire types)
/// match what the hub sends, checked with the reference JSON Schema
/// validator on real replies of every kind: a hub with a sequence, a
/// finished instance, a completed job with its tasks and artifacts, a
/// remote worker, a topic.
#[tokio::test]
async fn replies_match_the_schemas_the_document_gives_them() {
    let hub = TestHub::with(|c| c.jobs.slots = 1, None).await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let mandelbrot = hub.upload(weir_tests::MANDELBROT_DIR).await;
    let mut cases: Vec<Value> = Vec::new();
    let mut record = |method: &str, template: &str, status: StatusCode, reply: Value| {
        assert!(status.is_success(), "{method} {template}: {status} {reply}");
        cases.push(json!({"method": method.to_lowercase(), "path": template,
                          "status": status.as_u16().to_string(), "reply": reply}));
    };
    let (status, started) = json_of(
        hub.post_json(&format!("/sequence/{hello}/start"), json!({}))
            .await,
    )
    .await;
    record("POST", "/sequence/{id}/start", status, started.clone());
    let instance = started["id"].as_str().unwrap().to_string();
    let ended = hub
        .client
        .post(hub.url(&format!("/instance/{instance}/input")))
        .header("content-type", "text/plain")
        .body("world\n")
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{:?}", ended.status());
    let (status, job) = json_of(
        hub.post_json(
            "/jobs",
            json!({"package": mandelbrot, "frames": "1-2", "settings": {"width": 16, "height": 16}}),
        )
        .await,
    )
    .await;
    record("POST", "/jobs", status, job.clone());
    let job = job["id"].as_str().unwrap().to_string();
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, now) = json_of(hub.get(&format!("/jobs/{job}")).await).await;
            let (_, inst) = json_of(hub.get(&format!("/instance/{instance}")).await).await;
            if now["state"] == "completed" && !inst["terminated"].is_null() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the job and the instance end");
    let (status, worker) = json_of(
        hub.post_json(
            "/workers",
            json!({"name": "schema-box", "slots": 1, "version": "9.9.9"}),
        )
        .await,
    )
    .await;
    record("POST", "/workers", status, worker.clone());
    let worker = worker["id"].as_str().unwrap().to_string();
    let (status, topic) = json_of(
        hub.post_json(
            "/topics",
            json!({"id": "schema-topic", "content-type": "text/plain"}),
        )
        .await,
    )
    .await;
    record("POST", "/topics", status, topic);
    for (template, path) in [
        ("/version", "/version".to_string()),
        ("/config", "/config".to_string()),
        ("/status", "/status".to_string()),
        ("/health", "/health".to_string()),
        ("/help", "/help".to_string()),
        ("/load-check", "/load-check".to_string()),
        ("/sequences", "/sequences".to_string()),
        ("/sequence/{id}", format!("/sequence/{hello}")),
        ("/instances", "/instances".to_string()),
        ("/instance/{id}", format!("/instance/{instance}")),
        ("/jobs", "/jobs".to_string()),
        ("/jobs/{id}", format!("/jobs/{job}")),
        ("/jobs/{id}/tasks", format!("/jobs/{job}/tasks")),
        ("/jobs/{id}/artifacts", format!("/jobs/{job}/artifacts")),
        ("/workers", "/workers".to_string()),
        ("/workers/{id}", format!("/workers/{worker}")),
        ("/topics", "/topics".to_string()),
        ("/access", "/access".to_string()),
        ("/entities", "/entities".to_string()),
        ("/spaces", "/spaces".to_string()),
        (
            "/instance/{id}/health",
            format!("/instance/{instance}/health"),
        ),
    ] {
        let (status, reply) = json_of(hub.get(&path).await).await;
        record("GET", template, status, reply);
    }
    let (status, gc) = json_of(hub.post_json("/gc", json!({})).await).await;
    record("POST", "/gc", status, gc);
    let (status, upload) = json_of(
        hub.post_json("/uploads", json!({"size": 4, "sha256": "0".repeat(64)}))
            .await,
    )
    .await;
    record("POST", "/uploads", status, upload.clone());
    let upload = upload["id"].as_str().unwrap().to_string();
    let (status, reply) = json_of(hub.get(&format!("/uploads/{upload}")).await).await;
    record("GET", "/uploads/{id}", status, reply);
    let published = hub
        .client
        .post(hub.url("/topic/schema-topic"))
        .header("content-type", "text/plain")
        .body("one\n")
        .send()
        .await
        .unwrap();
    let (status, reply) = json_of(published).await;
    record("POST", "/topic/{name}", status, reply);
    for (template, path) in [
        ("/uploads/{id}", format!("/uploads/{upload}")),
        ("/topics/{name}", "/topics/schema-topic".to_string()),
    ] {
        let removed = hub.client.delete(hub.url(&path)).send().await.unwrap();
        let (status, reply) = json_of(removed).await;
        record("DELETE", template, status, reply);
    }
    let (status, requeued) = json_of(
        hub.post_json(&format!("/jobs/{job}/requeue"), json!({}))
            .await,
    )
    .await;
    record("POST", "/jobs/{id}/{action}", status, requeued);
    let deleted = hub
        .client
        .delete(hub.url(&format!("/jobs/{job}")))
        .send()
        .await
        .unwrap();
    let (status, deleted) = json_of(deleted).await;
    record("DELETE", "/jobs/{id}", status, deleted);

    let (_, doc) = json_of(hub.get("/openapi.json").await).await;
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
given = json.load(sys.stdin)
doc = given["doc"]
for case in given["cases"]:
    response = doc["paths"][case["path"]][case["method"]]["responses"][case["status"]]
    schema = response["content"]["application/json"]["schema"]
    root = dict(schema, components=doc["components"])
    for error in Draft202012Validator(root).iter_errors(case["reply"]):
        path = "/".join(str(p) for p in error.absolute_path)
        print(f'{case["method"].upper()} {case["path"]}: at {path or "."}: {error.message[:200]}')
    print(f'checked {case["method"].upper()} {case["path"]} with {json.dumps(schema)[:60]}')
"#;
    let input = json!({"doc": doc, "cases": cases}).to_string();
    let printed = python(script, &input);
    let problems: Vec<&str> = printed
        .lines()
        .filter(|l| !l.starts_with("checked "))
        .collect();
    assert!(
        problems.is_empty(),
        "replies that break their schema:\n{}",
        problems.join("\n")
    );
    let checked = printed
        .lines()
        .filter(|l| l.starts_with("checked "))
        .count();
    assert_eq!(checked, cases.len());
    // Every case had a named schema, not just "any JSON".
    for line in printed.lines().filter(|l| l.starts_with("checked ")) {
        assert!(line.contains("#/components/schemas/"), "{line}");
    }
}
