//! Operations over real HTTP: chunked uploads (`/uploads`), `POST /gc` and
//! `POST /shutdown` (in process, and against a real `weir serve`).

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use weir::hub::HubConfig;

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};
use crate::support::process::HubProcess;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The packed plugin crate at `dir`, as bytes.
async fn package(dir: &'static str) -> Vec<u8> {
    let path = tokio::task::spawn_blocking(move || crate::support::pack(dir))
        .await
        .unwrap();
    std::fs::read(path).unwrap()
}

/// `POST /uploads` → (status, body).
async fn create(hub: &TestHub, body: Value) -> (StatusCode, Value) {
    json_of(hub.post_json("/uploads", body).await).await
}

/// Starts an upload of `bytes` → its id.
async fn start_upload(hub: &TestHub, bytes: &[u8]) -> String {
    let (status, upload) = create(hub, json!({"size": bytes.len(), "sha256": sha256(bytes)})).await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    upload["id"].as_str().unwrap().to_string()
}

async fn put_chunk(hub: &TestHub, id: &str, offset: impl ToString, chunk: &[u8]) -> Response {
    hub.client
        .put(hub.url(&format!("/uploads/{id}/chunks/{}", offset.to_string())))
        .header("content-type", "application/octet-stream")
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap()
}

async fn complete(hub: &TestHub, id: &str) -> Response {
    hub.post_json(&format!("/uploads/{id}/complete"), json!({}))
        .await
}

/// Names of the entries of `dir` (none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(read) => read
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Asserts that the hub holds no sequence, staged package or upload.
fn assert_nothing_stored(hub: &TestHub) {
    for sub in ["sequences", "staging", "uploads"] {
        let left = entries(&hub.dir.path().join(sub));
        assert!(left.is_empty(), "{sub}/ holds {left:?}");
    }
    assert!(hub.hub.sequences().is_empty());
}

#[tokio::test]
async fn a_package_sent_in_chunks_becomes_a_sequence_that_runs() {
    let hub = TestHub::start().await;
    let bytes = package(weir_tests::HELLO_DIR).await;
    let (status, upload) = create(
        &hub,
        json!({"size": bytes.len(), "sha256": sha256(&bytes).to_uppercase()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let id = upload["id"].as_str().unwrap().to_string();
    assert_eq!(
        upload,
        json!({"id": id, "size": bytes.len(), "received": 0, "chunkLimit": 16 << 20})
    );
    let third = bytes.len() / 3 + 1;
    let mut offset = 0;
    for chunk in bytes.chunks(third) {
        let (status, reply) = json_of(put_chunk(&hub, &id, offset, chunk).await).await;
        offset += chunk.len();
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply, json!({"id": id, "received": offset}));
    }
    let (status, info) = json_of(hub.get(&format!("/uploads/{id}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&info["id"], &info["size"], &info["received"]),
        (&json!(id), &json!(bytes.len()), &json!(bytes.len()))
    );
    assert!(info["createdAt"].as_str().unwrap().ends_with('Z'), "{info}");
    let (status, stored) = json_of(complete(&hub, &id).await).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let sequence = stored["id"].as_str().unwrap();
    assert_eq!(
        stored,
        json!({"id": sequence}),
        "the reply of POST /sequence"
    );
    let instance = hub.start_instance(sequence, json!({})).await;
    hub.input(&instance, "x\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{instance}/output"))
            .await,
        "Hello x!\n"
    );
    assert!(entries(&hub.dir.path().join("uploads")).is_empty());
    assert_error(
        hub.get(&format!("/uploads/{id}")).await,
        StatusCode::NOT_FOUND,
        &format!("Upload {id} not found"),
    )
    .await;

    // The same bytes again, replacing that sequence: same id.
    let (status, upload) = create(
        &hub,
        json!({"size": bytes.len(), "sha256": sha256(&bytes), "replace": "hello"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let id = upload["id"].as_str().unwrap();
    assert_eq!(
        put_chunk(&hub, id, 0, &bytes).await.status(),
        StatusCode::OK
    );
    let running = hub.start_instance(sequence, json!({})).await;
    assert_error(
        complete(&hub, id).await,
        StatusCode::CONFLICT,
        "Can't update sequence with instances",
    )
    .await;
    hub.post_json(&format!("/instance/{running}/_kill"), json!({}))
        .await;
    hub.wait_ended(&running).await;
    let (status, replaced) = json_of(complete(&hub, id).await).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced, json!({"id": sequence}));
    assert_eq!(hub.hub.sequences().len(), 1);
}

#[tokio::test]
async fn chunks_must_start_where_the_upload_stands() {
    let hub = TestHub::start().await;
    let bytes = b"0123456789".repeat(10);
    let id = start_upload(&hub, &bytes).await;
    assert_error(
        put_chunk(&hub, &id, 5, &bytes[5..10]).await,
        StatusCode::CONFLICT,
        &format!(
            "expected offset 0, got 5: upload {id} has received 0 bytes, send the chunk that starts there"
        ),
    )
    .await;
    assert_eq!(
        put_chunk(&hub, &id, 0, &bytes[..40]).await.status(),
        StatusCode::OK
    );
    // A retry of a chunk the hub already has is refused, not stored twice.
    assert_error(
        put_chunk(&hub, &id, 0, &bytes[..40]).await,
        StatusCode::CONFLICT,
        "expected offset 40, got 0",
    )
    .await;
    assert_error(
        put_chunk(&hub, &id, "forty", &bytes[40..]).await,
        StatusCode::BAD_REQUEST,
        "the chunk offset must be a number of bytes, got \"forty\"",
    )
    .await;
    let text = hub
        .client
        .put(hub.url(&format!("/uploads/{id}/chunks/40")))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(
        text,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "raw application/octet-stream body",
    )
    .await;
    assert_error(
        complete(&hub, &id).await,
        StatusCode::CONFLICT,
        &format!("upload {id} has received 40 of 100 bytes; send the rest before completing it"),
    )
    .await;
    let (_, info) = json_of(hub.get(&format!("/uploads/{id}")).await).await;
    assert_eq!(info["received"], 40, "refused chunks change nothing");
    assert_error(
        put_chunk(&hub, "no-such-upload", 0, b"x").await,
        StatusCode::NOT_FOUND,
        "Upload no-such-upload not found",
    )
    .await;
    assert_error(
        complete(&hub, "no-such-upload").await,
        StatusCode::NOT_FOUND,
        "Upload no-such-upload not found",
    )
    .await;
}

#[tokio::test]
async fn oversized_uploads_and_chunks_and_bad_requests_are_refused() {
    let hub = TestHub::with(
        |c: &mut HubConfig| {
            c.upload_chunk_bytes = 1024;
            c.max_uploads = 2;
        },
        None,
    )
    .await;
    let sha = sha256(b"x");
    assert_error(
        hub.post_json(
            "/uploads",
            json!({"size": (256u64 << 20) + 1, "sha256": sha}),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the package is larger than the hub's limit of 256 MiB",
    )
    .await;
    for (body, message) in [
        (
            json!({"sha256": sha}),
            "size is required: the package's length in bytes",
        ),
        (
            json!({"size": 0, "sha256": sha}),
            "size must be at least 1 byte",
        ),
        (
            json!({"size": 10}),
            "sha256 must be 64 hexadecimal characters",
        ),
        (
            json!({"size": 10, "sha256": "abc"}),
            "sha256 must be 64 hexadecimal characters",
        ),
        (
            json!({"size": 10, "sha256": "g".repeat(64)}),
            "sha256 must be 64 hexadecimal characters",
        ),
        (
            json!({"size": -1, "sha256": sha}),
            "Could not parse content",
        ),
    ] {
        assert_error(
            hub.post_json("/uploads", body).await,
            StatusCode::BAD_REQUEST,
            message,
        )
        .await;
    }
    assert_error(
        hub.post_json(
            "/uploads",
            json!({"size": 10, "sha256": sha, "replace": "nope"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "Sequence with id: nope not found",
    )
    .await;

    let id = start_upload(&hub, &[7u8; 2000]).await;
    assert_error(
        put_chunk(&hub, &id, 0, &[7u8; 1025]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a chunk may hold at most 1024 bytes; send smaller chunks",
    )
    .await;
    assert_eq!(
        put_chunk(&hub, &id, 0, &[7u8; 1024]).await.status(),
        StatusCode::OK
    );
    assert_error(
        put_chunk(&hub, &id, 1024, &[7u8; 977]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the chunk ends past the upload's size of 2000 bytes",
    )
    .await;
    let (_, info) = json_of(hub.get(&format!("/uploads/{id}")).await).await;
    assert_eq!(info["received"], 1024, "refused chunks change nothing");
    let (status, done) = json_of(put_chunk(&hub, &id, 1024, &[7u8; 976]).await).await;
    assert_eq!((status, &done["received"]), (StatusCode::OK, &json!(2000)));

    // Two in flight is this hub's limit.
    start_upload(&hub, b"second").await;
    assert_error(
        hub.post_json("/uploads", json!({"size": 5, "sha256": sha}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "2 uploads are in flight, the hub's limit; complete or delete one, or retry later",
    )
    .await;
}

#[tokio::test]
async fn a_checksum_mismatch_is_refused_and_stores_nothing() {
    let hub = TestHub::start().await;
    let bytes = package(weir_tests::HELLO_DIR).await;
    let claimed = sha256(b"something else");
    let (status, upload) = create(&hub, json!({"size": bytes.len(), "sha256": claimed})).await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let id = upload["id"].as_str().unwrap();
    assert_eq!(
        put_chunk(&hub, id, 0, &bytes).await.status(),
        StatusCode::OK
    );
    assert_error(
        complete(&hub, id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!(
            "sha256 mismatch: expected {claimed}, got {}",
            sha256(&bytes)
        ),
    )
    .await;
    assert_error(
        hub.get(&format!("/uploads/{id}")).await,
        StatusCode::NOT_FOUND,
        &format!("Upload {id} not found"),
    )
    .await;
    assert_nothing_stored(&hub);

    // A package the hub refuses after a good checksum stores nothing either.
    let junk = b"not a gzip archive".to_vec();
    let id = start_upload(&hub, &junk).await;
    assert_eq!(
        put_chunk(&hub, &id, 0, &junk).await.status(),
        StatusCode::OK
    );
    let (status, _) = json_of(complete(&hub, &id).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_nothing_stored(&hub);
}

#[tokio::test]
async fn a_deleted_upload_is_discarded() {
    let hub = TestHub::start().await;
    let id = start_upload(&hub, b"0123456789").await;
    assert_eq!(
        put_chunk(&hub, &id, 0, b"01234").await.status(),
        StatusCode::OK
    );
    assert_eq!(entries(&hub.dir.path().join("uploads")).len(), 1);
    let response = hub
        .client
        .delete(hub.url(&format!("/uploads/{id}")))
        .send()
        .await
        .unwrap();
    let (status, reply) = json_of(response).await;
    assert_eq!((status, reply), (StatusCode::OK, json!({"id": id})));
    let gone = format!("Upload {id} not found");
    assert_error(
        hub.get(&format!("/uploads/{id}")).await,
        StatusCode::NOT_FOUND,
        &gone,
    )
    .await;
    assert_error(
        put_chunk(&hub, &id, 5, b"56789").await,
        StatusCode::NOT_FOUND,
        &gone,
    )
    .await;
    let again = hub
        .client
        .delete(hub.url(&format!("/uploads/{id}")))
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, &gone).await;
    assert_nothing_stored(&hub);
}

#[tokio::test]
async fn idle_uploads_are_discarded_and_a_restart_discards_all() {
    let hub = TestHub::with(|c| c.upload_idle = Duration::from_millis(200), None).await;
    let id = start_upload(&hub, b"0123456789").await;
    tokio::time::timeout(WAIT, async {
        while hub.get(&format!("/uploads/{id}")).await.status() == StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the idle upload is swept");
    assert!(entries(&hub.dir.path().join("uploads")).is_empty());

    let hub = TestHub::on(hub.stop(), |_| {}, None).await;
    let id = start_upload(&hub, b"0123456789").await;
    put_chunk(&hub, &id, 0, b"01234").await;
    let restarted = TestHub::on(hub.stop(), |_| {}, None).await;
    assert_eq!(
        restarted.get(&format!("/uploads/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(entries(&restarted.dir.path().join("uploads")).is_empty());
}

#[tokio::test]
async fn weir_seq_send_chunked_uploads_a_package_that_runs() {
    let hub = TestHub::with(|c| c.upload_chunk_bytes = 16 << 10, None).await;
    let path = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::HELLO_DIR))
        .await
        .unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 2 * (16 << 10), "several chunks: {size} bytes");
    let config = tempfile::tempdir().unwrap();
    let base = hub.base.clone();
    let config_dir = config.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        crate::support::weir()
            .args([
                "--hub",
                &base,
                "--json",
                "seq",
                "send",
                "--chunked",
                "--chunk-mb",
                "1",
            ])
            .arg(&path)
            .env("WEIR_CONFIG_DIR", config_dir)
            .env_remove("WEIR_TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let reply: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sequence = reply["id"].as_str().unwrap();
    let instance = hub.start_instance(sequence, json!({})).await;
    hub.input(&instance, "chunks\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{instance}/output"))
            .await,
        "Hello chunks!\n"
    );
    assert!(entries(&hub.dir.path().join("uploads")).is_empty());
}

#[tokio::test]
async fn gc_removes_unused_compiled_components_and_keeps_those_in_use() {
    // Its own cache: gc must not touch the one the other tests share.
    let hub = TestHub::with(|c| c.runtime.cache_dir = None, None).await;
    let sequence = hub.upload(weir_tests::HELLO_DIR).await;
    let cache = hub.dir.path().join("cache");
    let in_use = entries(&cache);
    assert_eq!(in_use.len(), 1, "{in_use:?}");
    let (_, engine) = in_use[0]
        .strip_suffix(".cwasm")
        .unwrap()
        .split_once('-')
        .unwrap();
    let orphan = format!("{}-{engine}.cwasm", "0".repeat(64));
    std::fs::write(cache.join(&orphan), vec![0u8; 1000]).unwrap();
    let stale_engine = format!("{}-{}.cwasm", "1".repeat(64), "f".repeat(16));
    std::fs::write(cache.join(&stale_engine), vec![0u8; 24]).unwrap();
    // Not artifacts (a compilation in progress, anything else): kept.
    for other in [".tmpAbC123", "notes.txt"] {
        std::fs::write(cache.join(other), b"keep").unwrap();
    }
    let (status, reply) = json_of(hub.post_json("/gc", json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["status"], "ok");
    let (pre, post) = (
        reply["preGcMemory"]["rss"].as_i64().unwrap(),
        reply["postGcMemory"]["rss"].as_i64().unwrap(),
    );
    assert!(pre > 0 && post > 0, "{reply}");
    assert_eq!(reply["delta"]["rss"].as_i64().unwrap(), post - pre);
    assert_eq!(reply["cacheFilesRemoved"], 2, "{reply}");
    assert_eq!(reply["cacheBytesFreed"], 1024, "{reply}");
    let mut left = entries(&cache);
    left.sort();
    let mut expected = vec![
        ".tmpAbC123".to_string(),
        in_use[0].clone(),
        "notes.txt".to_string(),
    ];
    expected.sort();
    assert_eq!(left, expected);
    // The sequence still runs, and still does after a restart (from the cache).
    let instance = hub.start_instance(&sequence, json!({})).await;
    hub.input(&instance, "gc\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{instance}/output"))
            .await,
        "Hello gc!\n"
    );
    let (_, again) = json_of(hub.post_json("/gc", json!({})).await).await;
    assert_eq!(
        (&again["cacheFilesRemoved"], &again["cacheBytesFreed"]),
        (&json!(0), &json!(0))
    );
}

#[tokio::test]
async fn a_shutting_down_hub_refuses_new_instances_and_jobs() {
    let hub = TestHub::with(|_| {}, Some("secret")).await;
    let unauthenticated = hub.client.post(hub.url("/shutdown")).send().await.unwrap();
    assert_error(
        unauthenticated,
        StatusCode::UNAUTHORIZED,
        "missing bearer token",
    )
    .await;
    let post = |path: &str, body: Value| {
        hub.client
            .post(hub.url(path))
            .bearer_auth("secret")
            .json(&body)
            .send()
    };
    let sequence = {
        let bytes = package(weir_tests::HELLO_DIR).await;
        let response = hub
            .client
            .post(hub.url("/sequence"))
            .bearer_auth("secret")
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        json_of(response).await.1["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(!hub.hub.is_shutting_down());
    assert_error(
        post("/shutdown", json!({"timeout": "soon"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Invalid timeout format",
    )
    .await;
    assert!(
        !hub.hub.is_shutting_down(),
        "a refused request changes nothing"
    );
    for _ in 0..2 {
        let (status, reply) =
            json_of(post("/shutdown", json!({"timeout": 100})).await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            reply,
            json!({"status": "ok", "message": "weir is shutting down"})
        );
    }
    assert!(hub.hub.is_shutting_down());
    assert_eq!(
        tokio::time::timeout(WAIT, hub.hub.shutdown_requested())
            .await
            .unwrap(),
        Duration::from_millis(100)
    );
    assert_error(
        post(&format!("/sequence/{sequence}/start"), json!({}))
            .await
            .unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the hub is shutting down",
    )
    .await;
    assert_error(
        post("/jobs", json!({"package": "hello", "frames": "1-2"}))
            .await
            .unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the hub is shutting down",
    )
    .await;
    let health = hub.client.get(hub.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "health stays open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_instances_exits_cleanly_and_keeps_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let mut server = HubProcess::on(dir.path(), &["--slots", "0"]);
    let base = server.base.clone();
    for plugin in [
        weir_tests::COUNTER_DIR,
        weir_tests::BUSY_LOOP_DIR,
        weir_tests::RENDER_TEST_DIR,
    ] {
        let response = client
            .post(format!("{base}/sequence"))
            .header("content-type", "application/octet-stream")
            .body(package(plugin).await)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let start = |name: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let (status, reply) = json_of(
                client
                    .post(format!("{base}/sequence/{name}/start"))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{reply}");
            reply["id"].as_str().unwrap().to_string()
        }
    };
    let counter = start("counter").await;
    // busy-loop never looks at signals: killed at the deadline.
    let spinning = start("busy-loop").await;
    let output = |id: String| {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let response = client
                .get(format!("{base}/instance/{id}/output"))
                .send()
                .await
                .unwrap();
            let mut body = response.bytes_stream();
            let mut text = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                text.extend_from_slice(&chunk);
            }
            String::from_utf8(text).unwrap()
        })
    };
    let (counted, spun) = (output(counter), output(spinning));
    let (status, job) = json_of(
        client
            .post(format!("{base}/jobs"))
            .json(&json!({"package": "render-test", "frames": "1-4"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job = job["id"].as_str().unwrap().to_string();

    let asked = Instant::now();
    let (status, reply) = json_of(
        client
            .post(format!("{base}/shutdown"))
            .json(&json!({"timeout": 1000}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reply,
        json!({"status": "ok", "message": "weir is shutting down"})
    );
    let counted = tokio::time::timeout(WAIT, counted).await.unwrap().unwrap();
    assert!(
        counted.ends_with("stopped\n"),
        "the counter was asked to stop: {counted:?}"
    );
    let spun = tokio::time::timeout(WAIT, spun).await.unwrap().unwrap();
    assert_eq!(spun, "", "busy-loop was killed");
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(10));
        (status, asked.elapsed())
    })
    .await
    .unwrap();
    let (status, took) = exited;
    assert!(
        status.is_some_and(|s| s.success()),
        "weir serve must exit 0 within the deadline and a margin: {status:?} after {took:?}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(8),
        "instances get the deadline, then the hub exits: {took:?}"
    );

    let restarted = HubProcess::on(dir.path(), &["--slots", "0"]);
    let (status, kept) = json_of(
        client
            .get(format!("{}/jobs/{job}", restarted.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["state"], "queued", "{kept}");
    let (_, sequences) = json_of(
        client
            .get(format!("{}/sequences", restarted.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(sequences.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn weir_hub_gc_and_shutdown_print_the_hubs_replies() {
    let hub = TestHub::with(|c| c.runtime.cache_dir = None, None).await;
    let run = |args: &'static [&'static str]| {
        let base = hub.base.clone();
        tokio::task::spawn_blocking(move || {
            let output = crate::support::weir()
                .args(["--hub", &base])
                .args(args)
                .env_remove("WEIR_TOKEN")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "weir {args:?}: {stderr}");
            String::from_utf8(output.stdout).unwrap()
        })
    };
    let gc = run(&["hub", "gc"]).await.unwrap();
    assert!(gc.contains("memory before"), "{gc}");
    assert!(
        gc.contains("0 compiled components removed, 0 B freed"),
        "{gc}"
    );
    let reply: Value = serde_json::from_str(
        &run(&["--json", "hub", "shutdown", "--timeout", "250"])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        reply,
        json!({"status": "ok", "message": "weir is shutting down"})
    );
    assert_eq!(
        tokio::time::timeout(WAIT, hub.hub.shutdown_requested())
            .await
            .unwrap(),
        Duration::from_millis(250)
    );
    let text = run(&["hub", "shutdown"]).await.unwrap();
    assert_eq!(text, "weir is shutting down\n");
}
