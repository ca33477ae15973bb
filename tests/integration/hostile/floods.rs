//! Floods of bytes with nowhere to go: a line-framed topic fed one endless record (over
//! HTTP or from an instance's output) refuses it past the record limit instead of holding
//! it, a long record costs time in proportion to its length, and a WebSocket sending big
//! frames to an instance that never reads holds a bounded amount of the hub's memory.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};
use crate::support::process::{HubProcess, fixture_package};

const MIB: usize = 1 << 20;
const CHUNK: usize = 64 << 10;

/// `first`, then `len` bytes of `fill` in 64 KiB chunks, then (after `hold`) the end.
fn body(first: &'static [u8], fill: u8, len: usize, hold: Duration) -> reqwest::Body {
    let chunks = (0..len.div_ceil(CHUNK)).map(move |i| vec![fill; CHUNK.min(len - i * CHUNK)]);
    let stream = futures::stream::iter(std::iter::once(first.to_vec()).chain(chunks))
        .map(Ok::<_, std::io::Error>)
        .chain(futures::stream::once(async move {
            // Holding the body open keeps the connection up until the reply is read.
            tokio::time::sleep(hold).await;
            Ok(Vec::new())
        }));
    reqwest::Body::wrap_stream(stream)
}

async fn topic_info(hub: &TestHub, name: &str) -> Value {
    let (_, topics) = json_of(hub.get("/topics").await).await;
    topics
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no topic {name} in {topics}"))
}

#[tokio::test]
async fn a_record_past_16_mib_without_a_newline_is_refused_with_413_and_dropped() {
    let hub = TestHub::start().await;
    let subscriber = hub
        .client
        .get(hub.url("/topic/flood"))
        .send()
        .await
        .unwrap();
    let mut subscriber = subscriber.bytes_stream();
    let publish = hub
        .client
        .post(hub.url("/topic/flood"))
        .header("content-type", "application/x-ndjson")
        .body(body(
            b"{\"first\":1}\n",
            b'x',
            17 * MIB,
            Duration::from_secs(5),
        ))
        .send();
    let refused = tokio::time::timeout(Duration::from_secs(4), publish)
        .await
        .expect("refused as soon as the record passes the limit")
        .unwrap();
    assert_error(refused, StatusCode::PAYLOAD_TOO_LARGE, "longer than 16 MiB").await;
    assert_eq!(topic_info(&hub, "flood").await["producers"], 0);
    // The record before it went out; nothing of the refused one did.
    let after = hub
        .client
        .post(hub.url("/topic/flood"))
        .header("content-type", "application/x-ndjson")
        .body("{\"after\":2}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    let mut got = Vec::new();
    while got.len() < 24 {
        let chunk = tokio::time::timeout(WAIT, subscriber.next()).await.unwrap();
        got.extend_from_slice(&chunk.unwrap().unwrap());
    }
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "{\"first\":1}\n{\"after\":2}\n"
    );
}

/// Publishes one record of `len` bytes (newline included) to a new topic of
/// `content_type` in 64 KiB chunks while a subscriber reads it; returns how long it took.
async fn one_record(hub: &TestHub, topic: &str, content_type: &str, len: usize) -> Duration {
    let subscriber = hub
        .client
        .get(hub.url(&format!("/topic/{topic}")))
        .header("content-type", content_type)
        .send()
        .await
        .unwrap();
    let read = async {
        let mut stream = subscriber.bytes_stream();
        let mut got = 0;
        while got < len {
            got += stream.next().await.unwrap().unwrap().len();
        }
    };
    let began = Instant::now();
    let chunks = (0..len.div_ceil(CHUNK)).map(move |i| {
        let n = CHUNK.min(len - i * CHUNK);
        let mut chunk = vec![b'y'; n];
        if (i + 1) * CHUNK >= len {
            chunk[n - 1] = b'\n';
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let publish = hub
        .client
        .post(hub.url(&format!("/topic/{topic}")))
        .header("content-type", content_type)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send();
    let (published, ()) = tokio::time::timeout(WAIT, async { tokio::join!(publish, read) })
        .await
        .unwrap();
    assert_eq!(published.unwrap().status(), StatusCode::OK);
    began.elapsed()
}

#[tokio::test]
async fn a_16_mib_record_costs_time_in_proportion_to_its_length() {
    let hub = TestHub::start().await;
    let bytes = one_record(&hub, "bytes", "application/octet-stream", 16 * MIB).await;
    let lines = one_record(&hub, "lines", "application/x-ndjson", 16 * MIB).await;
    // Rescanning what is pending on every chunk made this 256 × 8 MiB of scanning.
    assert!(
        lines < bytes * 4 + Duration::from_secs(1),
        "one 16 MiB ndjson record took {lines:?}, as octet-stream {bytes:?}"
    );
}

// Two threads: the producer must not starve this test's own timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_topic_fed_an_endless_record_stops_taking_it_and_says_why() {
    let hub = TestHub::start().await;
    let flood = super::upload_fixture(&hub, "output-flood", weir_tests::OUTPUT_FLOOD).await;
    let id = hub
        .start_instance(&flood, json!({"outputTopic": "flooded"}))
        .await;
    let mut log = hub.get(&format!("/instance/{id}/log")).await.bytes_stream();
    let mut text = String::new();
    let said = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = log.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("output no longer goes to topic flooded") {
                return true;
            }
        }
        false
    })
    .await;
    let topic = topic_info(&hub, "flooded").await;
    // Killed before any assertion: a flood left running would outlive the test.
    let killed = hub
        .post_json(&format!("/instance/{id}/_kill"), json!({}))
        .await;
    assert_eq!(killed.status(), StatusCode::ACCEPTED);
    hub.wait_ended(&id).await;
    assert!(said.unwrap_or(false), "no reason in the log: {text}");
    assert!(text.contains("longer than 16 MiB"), "{text}");
    assert_eq!(topic["retainedBytes"], 0, "{topic}");
    assert_eq!(topic["producers"], 0, "{topic}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_websocket_frames_to_an_instance_that_never_reads_hold_little_memory() {
    let hub = HubProcess::start(&[], &[]);
    let upload = hub
        .client
        .post(hub.url("/sequence"))
        .body(fixture_package("counter", weir_tests::COUNTER))
        .send()
        .await
        .unwrap();
    let (status, seq) = json_of(upload).await;
    assert_eq!(status, StatusCode::OK, "{seq}");
    // One line now, the next in ten minutes: it never reads its input.
    let id = hub
        .start_instance(
            seq["id"].as_str().unwrap(),
            json!({"appConfig": {"interval_ms": 600_000}}),
        )
        .await;
    let baseline = hub.rss();
    let url = format!("ws://{}/api/v1/instance/{id}/ws", hub.addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = bytes::Bytes::from(vec![b'w'; 15 * MIB]);
    let mut accepted = 0;
    let flood = async {
        for _ in 0..20 {
            socket.send(Message::Binary(frame.clone())).await.unwrap();
            accepted += 1;
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(4), flood).await;
    assert!(
        finished.is_err(),
        "20 × 15 MiB taken by an instance that reads nothing"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = hub.rss().saturating_sub(baseline);
    assert!(
        grown < 64 * MIB as u64,
        "{accepted} frames of 15 MiB sent, the hub grew by {} MiB",
        grown >> 20
    );
    drop(socket);
    let killed = hub
        .post_json(&format!("/instance/{id}/_kill"), json!({}))
        .await;
    assert_eq!(killed.status(), StatusCode::ACCEPTED);
}
