//! Scale over HTTP: a gigabyte through `passthrough` with the hub's memory
//! bounded, and a thousand instances alive at once.

use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::hub::{TestHub, WAIT, json_of};
use crate::support::process::HubProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streams_through_passthrough_over_http_with_bounded_memory() {
    const TOTAL: u64 = 1 << 30;
    const BLOCK: usize = 256 << 10;
    let server = HubProcess::start(&[], &[]);
    let client = reqwest::Client::new();
    let package = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::PASSTHROUGH_DIR))
        .await
        .unwrap();
    let reply: serde_json::Value = client
        .post(format!("{}/sequence", server.base))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(package).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seq = reply["id"].as_str().unwrap();
    let started: serde_json::Value = client
        .post(format!("{}/sequence/{seq}/start", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let output = client
        .get(format!("{}/instance/{id}/output", server.base))
        .send()
        .await
        .unwrap();
    let block = bytes::Bytes::from(vec![b'w'; BLOCK]);
    let body = futures::stream::iter(
        (0..TOTAL / BLOCK as u64).map(move |_| Ok::<_, std::io::Error>(block.clone())),
    );
    let input = client
        .post(format!("{}/instance/{id}/input", server.base))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let reader = async {
        let mut stream = output.bytes_stream();
        let (mut received, mut wrong) = (0u64, 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            wrong += chunk.iter().filter(|&&b| b != b'w').count() as u64;
            received += chunk.len() as u64;
        }
        (received, wrong)
    };
    let (sent, (received, wrong)) = tokio::join!(input, reader);
    assert_eq!(sent.unwrap().status(), StatusCode::OK);
    assert_eq!(
        (received, wrong),
        (TOTAL, 0),
        "every byte arrives unchanged"
    );
    let peak = server.peak_rss();
    assert!(
        peak < 160 << 20,
        "hub peak RSS {} MiB while streaming 1 GiB",
        peak >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_instances_are_alive_at_once() {
    const N: usize = 1000;
    let hub = TestHub::with(|c| c.max_instances = N, None).await;
    let seq = hub.upload(weir_tests::EVENTS_DIR).await;
    let mut ids = Vec::with_capacity(N);
    for _ in 0..N {
        ids.push(hub.start_instance(&seq, json!({})).await);
    }
    assert_eq!(hub.hub.alive_instances(), N);
    let (_, status) = json_of(hub.get("/status").await).await;
    assert_eq!(status["instances"]["running"], N, "{status}");
    assert_eq!(status["capacity"]["free"], 0);
    let refused = hub
        .post_json(&format!("/sequence/{seq}/start"), json!({}))
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Every one of them still answers.
    let last = ids.last().unwrap();
    let event = json!([5001, { "eventName": "test-event", "message": "last" }]);
    let once = tokio::spawn({
        let (client, url) = (
            hub.client.clone(),
            hub.url(&format!("/instance/{last}/once/test-response")),
        );
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    hub.post_json(&format!("/instance/{last}/_event"), event)
        .await;
    assert_eq!(
        tokio::time::timeout(WAIT, once).await.unwrap().unwrap(),
        json!("reply to last")
    );
    for id in &ids {
        hub.post_json(&format!("/instance/{id}/_kill"), json!({}))
            .await;
    }
    tokio::time::timeout(WAIT, async {
        while hub.hub.alive_instances() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn sigterm_stops_the_hub_even_with_a_stream_open() {
    let mut server = HubProcess::start(&[], &[]);
    let client = reqwest::Client::new();
    let open = client
        .get(format!("{}/topic/forever", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Some(status) = server.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    })
    .await
    .unwrap();
    assert!(
        exited.is_some_and(|s| s.success()),
        "the hub must exit (cleanly) within its grace period"
    );
    drop(open);
}
