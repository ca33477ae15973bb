//! Operations over real HTTP: chunked uploads (`/uploads`), `POST /gc` and
//! `POST /shutdown` (in process, and against a real `weir serve`).

mod lifecycle;

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
