//! Resource limits: wall-clock and CPU time per instance, limits that a
//! package or a start request may only tighten, the same limits on render
//! frames and tasks, and compiling uploads in a bounded child process.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::timeout;
use weir::hub::HubConfig;
use weir::runtime::{FrameRequest, Limits, RenderError, RenderOptions, Runtime, RuntimeConfig};

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};
use crate::support::process::HubProcess;

/// A package of the component at `wasm` with this `weir.toml` (its
/// `component` is `plugin.wasm`).
fn package(name: &str, wasm: &str, manifest: &str) -> std::path::PathBuf {
    let bytes = std::fs::read(wasm).unwrap();
    crate::support::archive(
        name,
        &[
            ("weir.toml", manifest.as_bytes()),
            ("plugin.wasm", bytes.as_slice()),
        ],
    )
}

async fn upload_refused(hub: &TestHub, path: &std::path::Path, message: &str) {
    let response = hub
        .client
        .post(hub.url("/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(path).unwrap())
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, message).await;
}

async fn start(hub: &TestHub, seq: &str, limits: Value) -> reqwest::Response {
    hub.post_json(
        &format!("/sequence/{seq}/start"),
        json!({ "limits": limits }),
    )
    .await
}

#[tokio::test]
async fn a_start_time_limit_kills_a_busy_loop_errored_on_time() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::BUSY_LOOP_DIR).await;
    let started = Instant::now();
    let id = hub
        .start_instance(&seq, json!({ "limits": { "timeoutMs": 500 } }))
        .await;
    let info = hub.wait_ended(&id).await;
    let took = started.elapsed();
    assert_eq!(info["status"], "errored", "{info}");
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 137, "reason": "Instance killed: time limit of 500 ms exceeded" })
    );
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "ended after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_limit_traps_a_busy_loop_but_not_instances_that_wait() {
    let hub = TestHub::start().await;
    let busy = hub.upload(weir_tests::BUSY_LOOP_DIR).await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let counter = hub.upload(weir_tests::COUNTER_DIR).await;
    let limits = json!({ "cpuMs": 300 });
    // Waiting on input for a second uses no CPU time.
    let idle = hub
        .start_instance(&hello, json!({ "limits": limits }))
        .await;
    // Waking every 20 ms for a second uses a little.
    let waking = hub
        .start_instance(
            &counter,
            json!({ "limits": limits, "appConfig": { "interval_ms": 20, "count": 50 } }),
        )
        .await;
    let started = Instant::now();
    let spinning = hub.start_instance(&busy, json!({ "limits": limits })).await;
    let info = hub.wait_ended(&spinning).await;
    let took = started.elapsed();
    assert_eq!(info["status"], "errored", "{info}");
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 101, "reason": "Sequence trapped: CPU time limit of 300 ms exceeded" })
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "ended after {took:?}"
    );
    let expected: String = (1..=50).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        hub.read_to_end(&format!("/instance/{waking}/output")).await,
        expected
    );
    assert_eq!(hub.wait_ended(&waking).await["terminated"]["exitcode"], 0);
    tokio::time::sleep(Duration::from_millis(1000).saturating_sub(started.elapsed())).await;
    assert_eq!(hub.info(&idle).await["status"], "running");
    hub.input(&idle, "patient\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{idle}/output")).await,
        "Hello patient!\n"
    );
    assert_eq!(hub.wait_ended(&idle).await["terminated"]["exitcode"], 0);
}

#[tokio::test]
async fn start_limits_above_the_hubs_are_refused_and_the_hubs_apply() {
    let hub = TestHub::with(
        |c: &mut HubConfig| {
            c.runtime.max_memory_bytes = 64 << 20;
            c.runtime.max_wall_time = Some(Duration::from_millis(700));
            c.runtime.max_cpu_time = Some(Duration::from_secs(5));
        },
        None,
    )
    .await;
    let seq = hub.upload(weir_tests::BUSY_LOOP_DIR).await;
    let cases = [
        (
            json!({ "memory": 128 }),
            "limits.memory 128 is above this hub's 64 MiB",
        ),
        (
            json!({ "timeoutMs": 5000 }),
            "limits.timeoutMs 5000 is above this hub's 700 ms",
        ),
        (
            json!({ "cpuMs": 5001 }),
            "limits.cpuMs 5001 is above this hub's 5000 ms",
        ),
    ];
    for (limits, message) in cases {
        assert_error(
            start(&hub, &seq, limits).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
        )
        .await;
    }
    assert_error(
        start(&hub, &seq, json!({ "cpuMs": 0 })).await,
        StatusCode::BAD_REQUEST,
        "limits.cpuMs must be at least 1 (ms)",
    )
    .await;
    assert!(hub.hub.instances().is_empty(), "nothing was started");
    // Within the hub's limits a request is taken; without one the hub's apply.
    let (status, _) = json_of(start(&hub, &seq, json!({ "memory": 32 })).await).await;
    assert_eq!(status, StatusCode::OK);
    let id = hub.start_instance(&seq, json!({})).await;
    let info = hub.wait_ended(&id).await;
    assert_eq!(
        info["terminated"]["reason"],
        "Instance killed: time limit of 700 ms exceeded"
    );
    let (_, config) = json_of(hub.get("/config").await).await;
    assert_eq!(
        (
            config["instanceTimeoutMs"].clone(),
            config["instanceCpuMs"].clone()
        ),
        (json!(700), json!(5000))
    );
}

#[tokio::test]
async fn package_limits_above_the_hubs_are_refused_at_upload() {
    let hub = TestHub::with(
        |c: &mut HubConfig| c.runtime.max_cpu_time = Some(Duration::from_secs(1)),
        None,
    )
    .await;
    let memory = package(
        "limits-memory",
        weir_tests::HELLO,
        "name = 'greedy'\ncomponent = 'plugin.wasm'\n[limits]\nmemory_mb = 4096\n",
    );
    upload_refused(
        &hub,
        &memory,
        "limits.memory_mb 4096 is above this hub's 256 MiB",
    )
    .await;
    let cpu = package(
        "limits-cpu",
        weir_tests::HELLO,
        "name = 'greedy'\ncomponent = 'plugin.wasm'\n[limits]\ncpu_ms = 5000\n",
    );
    upload_refused(&hub, &cpu, "limits.cpu_ms 5000 is above this hub's 1000 ms").await;
    let zero = package(
        "limits-zero",
        weir_tests::HELLO,
        "name = 'zero'\ncomponent = 'plugin.wasm'\n[limits]\ntimeout_ms = 0\n",
    );
    upload_refused(&hub, &zero, "[limits] timeout_ms must be at least 1").await;
    let (_, sequences) = json_of(hub.get("/sequences").await).await;
    assert_eq!(sequences, json!([]), "nothing of a refused upload is kept");
    // A package's own limit applies to each of its instances, tighter than the hub's.
    let tight = package(
        "limits-tight",
        weir_tests::BUSY_LOOP,
        "name = 'tight'\ncomponent = 'plugin.wasm'\n[limits]\ntimeout_ms = 300\n",
    );
    let seq = hub.upload_file(&tight).await;
    let id = hub
        .start_instance(&seq, json!({ "limits": { "timeoutMs": 900 } }))
        .await;
    assert_eq!(
        hub.wait_ended(&id).await["terminated"]["reason"],
        "Instance killed: time limit of 300 ms exceeded"
    );
}

fn hanging_frame() -> FrameRequest {
    FrameRequest {
        job_id: "job-1".into(),
        frame: 1,
        attempt: 1,
        settings: json!({ "hang_frames": [1] }).to_string(),
    }
}

#[tokio::test]
async fn a_render_frame_gets_its_packages_time_cpu_and_memory_limits() {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(crate::support::scratch().join("components")),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let program = runtime.load(weir_tests::RENDER_TEST.as_ref()).unwrap();
    let limit = Duration::from_millis(300);
    let timed = program.clone().with_limits(Limits {
        wall_time: Some(limit),
        ..Limits::default()
    });
    // The package's timeout is tighter than the caller's.
    let options = RenderOptions {
        timeout: Some(Duration::from_secs(10)),
        ..RenderOptions::default()
    };
    let started = Instant::now();
    let result = timeout(WAIT, runtime.render(&timed, hanging_frame(), &options))
        .await
        .unwrap();
    assert!(
        matches!(result, Err(RenderError::TimedOut(d)) if d == limit),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let cpu = program.clone().with_limits(Limits {
        cpu_time: Some(Duration::from_millis(200)),
        ..Limits::default()
    });
    match timeout(
        WAIT,
        runtime.render(&cpu, hanging_frame(), &RenderOptions::default()),
    )
    .await
    .unwrap()
    {
        Err(RenderError::Trapped(m)) => assert_eq!(m, "CPU time limit of 200 ms exceeded"),
        other => panic!("expected Trapped, got {other:?}"),
    }
    let small = program.with_limits(Limits {
        memory_bytes: Some(32 << 20),
        ..Limits::default()
    });
    let request = FrameRequest {
        settings: json!({ "alloc_mb": 64 }).to_string(),
        ..hanging_frame()
    };
    match runtime
        .render(&small, request, &RenderOptions::default())
        .await
    {
        Err(RenderError::Trapped(m)) => assert_eq!(m, "memory limit of 32 MiB exceeded"),
        other => panic!("expected Trapped, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_packages_timeout_caps_its_jobs_task_timeout() {
    let hub = TestHub::with(|c: &mut HubConfig| c.jobs.slots = 1, None).await;
    let path = package(
        "limits-render",
        weir_tests::RENDER_TEST,
        "name = 'render-tight'\nkind = 'render'\ncomponent = 'plugin.wasm'\n[limits]\ntimeout_ms = 300\n",
    );
    hub.upload_file(&path).await;
    let body = json!({
        "package": "render-tight", "frames": "1", "maxRetries": 0, "taskTimeoutMs": 60000,
        "settings": { "hang_frames": [1] },
    });
    let (status, job) = json_of(hub.post_json("/jobs", body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["taskTimeoutMs"], 300, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    let job = loop {
        let (_, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
        if job["state"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "job did not fail: {job:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let errors = job["errors"].to_string();
    assert!(errors.contains("timed out after 300 ms"), "{job:#}");
}

/// Uploads `package` to a real `weir serve` → status and body.
async fn upload_to(server: &HubProcess, package: &std::path::Path) -> (StatusCode, Value) {
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let response = client
        .post(format!("{}/sequence", server.base))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(package).unwrap())
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn version_of(server: &HubProcess) -> StatusCode {
    reqwest::get(format!("{}/version", server.base))
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiling_an_upload_is_bounded_in_time_and_memory_and_the_hub_keeps_serving() {
    let hello = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::HELLO_DIR))
        .await
        .unwrap();
    for (flags, message) in [
        (
            ["--compile-memory-mb", "16"],
            "the component does not compile: compiling needed more than 16 MiB",
        ),
        (
            ["--compile-timeout-secs", "0.001"],
            "the component does not compile: compiling took longer than 1 ms",
        ),
    ] {
        let server = HubProcess::start(&flags, &[]);
        let (status, body) = upload_to(&server, &hello).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{flags:?}: {body}"
        );
        assert_eq!(body["error"], message, "{flags:?}");
        assert_eq!(version_of(&server).await, StatusCode::OK);
    }
    // With the defaults a normal upload compiles in the child and runs.
    let server = HubProcess::start(&[], &[]);
    let (status, body) = upload_to(&server, &hello).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let seq = body["id"].as_str().unwrap();
    let started: Value = client
        .post(format!("{}/sequence/{seq}/start", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["id"].as_str().unwrap();
    client
        .post(format!("{}/instance/{id}/input", server.base))
        .header("content-type", "text/plain")
        .body("child\n")
        .send()
        .await
        .unwrap();
    let output = client
        .get(format!("{}/instance/{id}/output", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(output, "Hello child!\n");
    let config: Value = reqwest::get(format!("{}/config", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["maxInstances"],
        json!(weir::hub::default_max_instances())
    );
    assert_eq!(
        config["compile"],
        json!({ "inChildProcess": true, "timeoutMs": 180000, "memoryBytes": 2048u64 << 20 })
    );
}
