//! Artifact uploads against a real `weir serve`: one for no task is refused before a byte
//! of its body is read, and real ones stream to disk instead of into the hub's memory.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::hub::json_of;
use crate::support::process::HubProcess;

const MIB: u64 = 1 << 20;

/// Sends the head of a `PUT` announcing `len` body bytes and none of them; returns the
/// status line of the reply, or `None` if none came within 5 s.
async fn put_head_only(addr: &str, path: &str, len: u64) -> Option<String> {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /api/v1{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {len}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut reply))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&reply[..n]).to_string();
    text.lines().next().map(str::to_string)
}

#[tokio::test]
async fn an_artifact_for_no_task_is_refused_before_its_body_is_read() {
    let hub = HubProcess::start(&["--slots", "0"], &[]);
    let addr = hub.addr().to_string();
    let refusals = (0..4).map(|_| {
        put_head_only(
            &addr,
            "/tasks/bogus/artifacts/x.bin?attempt=1&frame=1",
            200 * MIB,
        )
    });
    for status in futures::future::join_all(refusals).await {
        let status = status.expect("the hub answers without waiting for 200 MB");
        assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    }
    // A bad name or a missing attempt is refused the same way.
    let status = put_head_only(&addr, "/tasks/bogus/artifacts/x.bin?frame=1", 200 * MIB).await;
    assert!(status.is_some_and(|s| s.starts_with("HTTP/1.1 400")));
}

const CHUNK: u64 = 64 << 10;

/// Chunk `i` of `total` bytes of a pattern that differs per `seed`.
fn pattern_chunk(total: u64, seed: u8, i: u64) -> Vec<u8> {
    let len = CHUNK.min(total - i * CHUNK) as usize;
    let mut chunk: Vec<u8> = (0..len).map(|b| (b % 251) as u8 ^ seed).collect();
    chunk[0] = i as u8; // chunks differ, so a lost or repeated one changes the hash
    chunk
}

/// `total` bytes of the pattern, in 64 KiB chunks.
fn pattern_body(
    total: u64,
    seed: u8,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures::stream::iter(0..total.div_ceil(CHUNK))
        .map(move |i| Ok(pattern_chunk(total, seed, i).into()))
}

fn pattern_sha256(total: u64, seed: u8) -> String {
    let mut hash = sha2::Sha256::new();
    for i in 0..total.div_ceil(CHUNK) {
        hash.update(pattern_chunk(total, seed, i));
    }
    hex::encode(hash.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_large_artifacts_stream_to_disk_not_into_memory() {
    const SIZE: u64 = 96 * MIB;
    let hub = HubProcess::start(&["--slots", "0"], &[]);
    let package = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::RENDER_TEST_DIR))
        .await
        .unwrap();
    let upload = hub
        .client
        .post(hub.url("/sequence"))
        .body(std::fs::read(package).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::OK);
    let (status, job) = json_of(
        hub.post_json(
            "/jobs",
            json!({"package": "render-test", "frames": "1-4", "chunkSize": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let mut leases = Vec::new();
    for i in 0..4 {
        let (status, worker) = json_of(
            hub.post_json("/workers", json!({"name": format!("w{i}"), "slots": 1}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{worker}");
        let worker = worker["id"].as_str().unwrap().to_string();
        let pickup = hub
            .client
            .post(hub.url(&format!("/workers/{worker}/pickup")))
            .send()
            .await
            .unwrap();
        let (status, lease) = json_of(pickup).await;
        assert_eq!(status, StatusCode::OK, "{lease}");
        leases.push((worker, lease));
    }
    let baseline = hub.rss();
    let uploads = leases.iter().enumerate().map(|(i, (_, lease))| {
        let task = lease["taskId"].as_str().unwrap();
        let frame = lease["frameStart"].as_i64().unwrap();
        hub.client
            .put(hub.url(&format!(
                "/tasks/{task}/artifacts/frame-{frame}.bin?attempt=1&frame={frame}"
            )))
            .body(reqwest::Body::wrap_stream(pattern_body(SIZE, i as u8)))
            .send()
    });
    for reply in futures::future::join_all(uploads).await {
        let (status, body) = json_of(reply.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["size"], SIZE);
    }
    let grown = hub.peak_rss().saturating_sub(baseline);
    assert!(
        grown < 64 * MIB,
        "4 × {} MiB uploads grew the hub by {} MiB",
        SIZE >> 20,
        grown >> 20
    );
    for (worker, lease) in &leases {
        let task = lease["taskId"].as_str().unwrap();
        let done = hub
            .post_json(
                &format!("/tasks/{task}/complete"),
                json!({"workerId": worker, "attempt": 1}),
            )
            .await;
        assert!(done.status().is_success(), "{}", done.text().await.unwrap());
    }
    let id = job["id"].as_str().unwrap();
    let (_, artifacts) = json_of(hub.get(&format!("/jobs/{id}/artifacts")).await).await;
    let artifacts: &Vec<Value> = artifacts.as_array().unwrap();
    assert_eq!(artifacts.len(), 4, "{artifacts:?}");
    for (i, (_, lease)) in leases.iter().enumerate() {
        let name = format!("frame-{}.bin", lease["frameStart"]);
        let meta = artifacts
            .iter()
            .find(|a| a["name"] == name.as_str())
            .unwrap();
        assert_eq!(meta["size"], SIZE);
        assert_eq!(meta["sha256"], pattern_sha256(SIZE, i as u8).as_str());
    }
}
