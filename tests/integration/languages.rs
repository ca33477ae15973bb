//! The JavaScript and Python examples (`plugins/js`, `plugins/python`), built by `weir pack`
//! with the real componentizers, give exactly the outputs of their Rust twins: through
//! `weir run`, through the hub's HTTP API (streams and events), and as render jobs. And the
//! hub refuses, at upload, what these components cannot do: start under a memory limit
//! below their initial memory, or import `wasi:http`.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

use crate::support::hub::{TestHub, assert_error, json_of};
use crate::support::{archive, js_plugin, pack, py_plugin, run, run_ok};

/// Both languages' directories of example `name`.
fn twins(name: &str) -> [&'static str; 2] {
    [js_plugin(name), py_plugin(name)]
}

#[test]
fn hello_greets_each_line_in_javascript_and_python() {
    for dir in twins("hello") {
        let out = run_ok(&pack(dir), &[], b"world\nweir\n");
        assert_eq!(out, "Hello world!\nHello weir!\n", "{dir}");
    }
}

#[test]
fn uppercase_upper_cases_bytes_in_javascript_and_python() {
    for dir in twins("uppercase") {
        let out = run_ok(&pack(dir), &[], "Hello, wörld 123\nno newline".as_bytes());
        assert_eq!(out, "HELLO, WöRLD 123\nNO NEWLINE", "{dir}");
    }
}

#[test]
fn uppercase_streams_a_megabyte_exactly_in_javascript_and_python() {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = data.to_ascii_uppercase();
    for dir in twins("uppercase") {
        let output = run(&pack(dir), &[], &data);
        assert!(
            output.status.success(),
            "{dir}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.stdout == expected, "{dir} changed the bytes");
    }
}

#[test]
fn ndjson_map_marks_each_record_processed_in_javascript_and_python() {
    for dir in twins("ndjson-map") {
        let out = run_ok(
            &pack(dir),
            &[],
            b"{\"a\":1}\n\n{\"id\":\"x\",\"n\":[1,2]}\n",
        );
        assert_eq!(
            out, "{\"a\":1,\"processed\":true}\n{\"id\":\"x\",\"n\":[1,2],\"processed\":true}\n",
            "{dir}"
        );
    }
}

#[test]
fn ndjson_map_names_the_bad_line_in_javascript_and_python() {
    for dir in twins("ndjson-map") {
        for input in [&b"{\"a\":1}\nnot json\n"[..], b"{\"a\":1}\n[1]\n"] {
            let output = run(&pack(dir), &[], input);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("line 2"), "{dir}: {stderr}");
            assert_eq!(output.status.code(), Some(23), "{dir}: {stderr}");
            // What came before the bad line still reached the output.
            assert_eq!(output.stdout, b"{\"a\":1,\"processed\":true}\n", "{dir}");
        }
        let stderr = String::from_utf8_lossy(&run(&pack(dir), &[], b"[1]\n").stderr).into_owned();
        assert!(
            stderr.contains("line 1: expected a JSON object"),
            "{dir}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_runs_through_the_hub_in_javascript_and_python() {
    let hub = TestHub::start().await;
    for dir in twins("hello") {
        let seq = hub.upload(dir).await;
        let id = hub.start_instance(&seq, json!({})).await;
        hub.input(&id, "world\nweir\n").await;
        assert_eq!(
            hub.read_to_end(&format!("/instance/{id}/output")).await,
            "Hello world!\nHello weir!\n",
            "{dir}"
        );
        let info = hub.wait_ended(&id).await;
        assert_eq!(info["terminated"]["exitcode"], 0, "{dir}: {info}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_round_trip_through_the_hub_in_javascript_and_python() {
    let hub = TestHub::start().await;
    // The Rust twin first: the others must end the way it does.
    let mut ended = None;
    for dir in [weir_tests::EVENTS_DIR].into_iter().chain(twins("events")) {
        let seq = hub.upload(dir).await;
        let id = hub.start_instance(&seq, json!({})).await;
        let event_path = format!("/instance/{id}/_event");
        let send = |message: Value| {
            hub.post_json(
                &event_path,
                json!([5001, { "eventName": "test-event", "message": message }]),
            )
        };
        let once = |hub: &TestHub| {
            let (client, url) = (
                hub.client.clone(),
                hub.url(&format!("/instance/{id}/once/test-response")),
            );
            tokio::spawn(async move {
                client
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        };
        let reply = once(&hub);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(json_of(send(json!("hi")).await).await.0, StatusCode::OK);
        assert_eq!(reply.await.unwrap(), json!("reply to hi"), "{dir}");
        let reply = once(&hub);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        send(json!({"n": 1})).await;
        assert_eq!(reply.await.unwrap(), json!("reply to {\"n\":1}"), "{dir}");
        let (status, _) = json_of(
            hub.post_json(
                &format!("/instance/{id}/_stop"),
                json!({"timeout": 5000, "canCallKeepalive": false}),
            )
            .await,
        )
        .await;
        assert!(status.is_success(), "{dir}: stop answered {status}");
        let info = hub.wait_ended(&id).await;
        let end = (
            info["status"].clone(),
            info["terminated"]["exitcode"].clone(),
        );
        assert_eq!(
            &end,
            ended.get_or_insert_with(|| end.clone()),
            "{dir}: {info}"
        );
    }
}

/// The decoded RGB pixels of a job's PNG artifacts, in frame order.
async fn rendered(hub: &TestHub, package: &str, frames: &str) -> Vec<Vec<u8>> {
    let settings = json!({"width": 48, "height": 32, "max_iter": 60});
    let (status, job) = json_of(
        hub.post_json(
            "/jobs",
            json!({"package": package, "frames": frames, "chunkSize": 2, "settings": settings}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
        if job["state"] == "completed" {
            break;
        }
        assert!(
            job["state"] != "failed" && std::time::Instant::now() < deadline,
            "{package}: {job:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, list) = json_of(hub.get(&format!("/jobs/{id}/artifacts")).await).await;
    let mut frames = Vec::new();
    for (i, artifact) in list.as_array().unwrap().iter().enumerate() {
        assert_eq!(
            artifact["name"],
            format!("frame-{:06}.png", i + 1),
            "{package}"
        );
        let url = format!(
            "{}{}",
            hub.base.trim_end_matches("/api/v1"),
            artifact["url"].as_str().unwrap()
        );
        let data = hub
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(data))
            .read_info()
            .unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(
            (info.width, info.height, info.color_type),
            (48, 32, png::ColorType::Rgb),
            "{package}"
        );
        frames.push(pixels);
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandelbrot_jobs_render_the_rust_twins_pixels_in_javascript_and_python() {
    let hub = TestHub::with(|c| c.jobs.slots = 2, None).await;
    hub.upload(weir_tests::MANDELBROT_DIR).await;
    let rust = rendered(&hub, "mandelbrot", "1-3").await;
    assert_eq!(rust.len(), 3);
    for dir in twins("mandelbrot") {
        let package = hub.upload(dir).await;
        let frames = rendered(&hub, &package, "1-3").await;
        assert_eq!(
            frames, rust,
            "{dir} renders other pixels than the Rust mandelbrot"
        );
    }
}

/// The component of `package`, written to a file next to it.
fn component_of(package: &Path) -> PathBuf {
    let (_, bytes) = wasm_in(package);
    let path = package.with_extension("wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The `.wasm` entry of `package`: its name and bytes.
fn wasm_in(package: &Path) -> (String, Vec<u8>) {
    let file = std::fs::File::open(package).unwrap();
    let mut entries = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in entries.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path.ends_with(".wasm") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            return (path, bytes);
        }
    }
    panic!("no component in {}", package.display())
}

/// `package`'s component with `weir.toml` replaced by `manifest`.
fn repacked(package: &Path, name: &str, manifest: &str) -> PathBuf {
    let (path, bytes) = wasm_in(package);
    let manifest = format!("component = {path:?}\n{manifest}");
    archive(name, &[("weir.toml", manifest.as_bytes()), (&path, &bytes)])
}

async fn upload_refused(hub: &TestHub, package: &Path, needle: &str) {
    let response = hub
        .client
        .post(hub.url("/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(package).unwrap())
        // Sending and unpacking 12–18 MB takes a while on a busy machine.
        .timeout(crate::support::hub::COMPILE_WAIT)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, needle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_below_a_components_initial_memory_is_refused_at_upload() {
    let hub = TestHub::start().await;
    let python = pack(py_plugin("hello"));
    let small = repacked(
        &python,
        "py-hello-8mb",
        "name = \"hello-py\"\n[limits]\nmemory_mb = 8\n",
    );
    upload_refused(&hub, &small, "but the package's limits.memory_mb is 8 MiB").await;
    upload_refused(
        &hub,
        &small,
        "needs at least 13 MiB of linear memory to start (",
    )
    .await;
    // 16 MiB is enough, and a start request may not go below the minimum either.
    let enough = repacked(
        &python,
        "py-hello-16mb",
        "name = \"hello-py\"\n[limits]\nmemory_mb = 16\n",
    );
    let seq = hub.upload_file(&enough).await;
    let response = hub
        .post_json(
            &format!("/sequence/{seq}/start"),
            json!({"limits": {"memory": 4}}),
        )
        .await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "but the start request's limits.memory is 4 MiB",
    )
    .await;

    // A hub whose instances get 8 MiB refuses the JavaScript component (it starts with 9 MiB).
    let small_hub = TestHub::with(|c| c.runtime.max_memory_bytes = 8 << 20, None).await;
    upload_refused(
        &small_hub,
        &pack(js_plugin("hello")),
        "but the memory limit of an instance here is 8 MiB",
    )
    .await;
    upload_refused(
        &small_hub,
        &pack(js_plugin("hello")),
        "needs at least 10 MiB of linear memory to start (",
    )
    .await;
}

/// A JavaScript plugin built by componentize-js with its defaults, which import `wasi:http`
/// (built once per run of the test binary's inputs, like the examples).
fn default_javascript_build() -> PathBuf {
    let package = crate::support::scratch().join("js-default-build.tar.gz");
    if package.is_file() {
        return package;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.js"), "export function run() {}\n").unwrap();
    let wasm = dir.path().join("default.wasm");
    let [(_, js), _] = crate::componentizers::env();
    let status = std::process::Command::new(js)
        .arg(dir.path().join("app.js"))
        .arg("--wit")
        .arg(Path::new(weir_tests::WORKSPACE_DIR).join("wit"))
        .args(["--world-name", "sequence", "--out"])
        .arg(&wasm)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&wasm).unwrap();
    let built = archive(
        "js-default-build-new",
        &[
            (
                "weir.toml",
                b"name = \"fetchy\"\ncomponent = \"default.wasm\"\n",
            ),
            ("default.wasm", &bytes),
        ],
    );
    std::fs::rename(built, &package).unwrap();
    package
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_importing_wasi_http_is_refused_naming_the_build_flag() {
    let hub = TestHub::start().await;
    let package = tokio::task::spawn_blocking(default_javascript_build)
        .await
        .unwrap();
    upload_refused(&hub, &package, "wasi:http/outgoing-handler@0.2").await;
    upload_refused(
        &hub,
        &package,
        "build a JavaScript plugin with `componentize-js -d http fetch-event`",
    )
    .await;
    // Refused before compiling (20–30 s for such a component): nothing entered the cache.
    let wasm = std::fs::read(component_of(&package)).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(&wasm));
    let cache = crate::support::scratch().join("components");
    let cached = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(&digest));
    assert!(!cached, "{digest} was compiled into {}", cache.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_of_three_slots_runs_three_python_instances_at_once() {
    // 14 core instances each: the pool holds one per slot, not 8 × slots in all.
    let hub = TestHub::with(|c| c.max_instances = 3, None).await;
    let seq = hub.upload(py_plugin("events")).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(hub.start_instance(&seq, json!({})).await);
    }
    for id in &ids {
        // Each one answers an event, so each one is running.
        let reply = {
            let (client, url) = (
                hub.client.clone(),
                hub.url(&format!("/instance/{id}/once/test-response")),
            );
            tokio::spawn(async move {
                client
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        hub.post_json(
            &format!("/instance/{id}/_event"),
            json!([5001, {"eventName": "test-event", "message": id}]),
        )
        .await;
        assert_eq!(reply.await.unwrap(), json!(format!("reply to {id}")));
    }
    let fourth = hub
        .post_json(&format!("/sequence/{seq}/start"), json!({}))
        .await;
    assert_eq!(fourth.status(), StatusCode::SERVICE_UNAVAILABLE);
}
