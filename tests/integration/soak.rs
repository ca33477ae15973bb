//! A bounded soak: well-behaved instances keep streaming through a real `weir serve` while
//! hostile ones are started over and over, hit their limits or get killed, and die, and
//! hostile clients come and go: idle and half-sent connections, a topic fed one endless
//! record, a WebSocket flooding an instance that never reads. The well-behaved outputs are
//! complete and correct and the hub's memory returns to its baseline once the hostile
//! instances and clients are gone.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::hub::WAIT;
use crate::support::process::{HubProcess, stream_through};

const MIB: u64 = 1 << 20;
/// How long hostile instances keep being started.
const HOSTILE_PHASE: Duration = Duration::from_secs(12);
/// Growth of the hub's RSS over its warmed-up baseline still counted as "returned".
const RSS_SLACK: u64 = 48 * MIB;

/// Sequence ids of the packages the soak uses.
struct Sequences {
    passthrough: String,
    uppercase: String,
    memory_hog: String,
    busy_loop: String,
    deep_recursion: String,
    panic: String,
    output_flood: String,
    counter: String,
}

impl Sequences {
    async fn upload(hub: &HubProcess) -> Sequences {
        Sequences {
            passthrough: hub.upload("passthrough", weir_tests::PASSTHROUGH).await,
            uppercase: hub.upload("uppercase", weir_tests::UPPERCASE).await,
            memory_hog: hub.upload("memory-hog", weir_tests::MEMORY_HOG).await,
            busy_loop: hub.upload("busy-loop", weir_tests::BUSY_LOOP).await,
            deep_recursion: hub
                .upload("deep-recursion", weir_tests::DEEP_RECURSION)
                .await,
            panic: hub.upload("panic", weir_tests::PANIC).await,
            output_flood: hub.upload("output-flood", weir_tests::OUTPUT_FLOOD).await,
            counter: hub.upload("counter", weir_tests::COUNTER).await,
        }
    }
}

/// Starts an instance with its log already open: the log stream ends with the instance
/// and its last line says how, so a short retention cannot hide the end.
async fn start_watched(hub: &HubProcess, seq: &str) -> (String, Response) {
    let id = hub.start_instance(seq, json!({})).await;
    let log = hub.get(&format!("/instance/{id}/log")).await;
    assert_eq!(log.status(), StatusCode::OK);
    (id, log)
}

/// Reads the log to its end and asserts the end line names `exitcode` and `needle`.
async fn assert_ended(log: Response, exitcode: i32, needle: &str) {
    let text = tokio::time::timeout(WAIT, log.text())
        .await
        .expect("the instance ends")
        .unwrap();
    let end = text
        .lines()
        .rev()
        .find(|line| line.contains("instance ended: "))
        .unwrap_or_else(|| panic!("no end line in the log: {text}"));
    assert!(
        end.contains(&format!("(exit code {exitcode})")) && end.contains(needle),
        "{end} lacks exit code {exitcode} or {needle:?}"
    );
}

/// Streams `total` bytes through each of 8 fresh instances (4 `passthrough`, 4
/// `uppercase`) at once, checking every byte.
async fn well_behaved(hub: &HubProcess, seqs: &Sequences, total: u64, pace: Duration) {
    let mut streams = Vec::new();
    for i in 0..8 {
        let (seq, upper) = if i % 2 == 0 {
            (&seqs.passthrough, false)
        } else {
            (&seqs.uppercase, true)
        };
        let (id, log) = start_watched(hub, seq).await;
        streams.push(async move {
            stream_through(hub, &id, total, upper, pace).await;
            assert_ended(log, 0, "Instance completed").await;
        });
    }
    futures::future::join_all(streams).await;
}

/// Starts one of each hostile instance at once and checks how each ends; returns the
/// longest a `_kill` took to end its instance.
async fn hostile_round(hub: &HubProcess, seqs: &Sequences) -> Duration {
    let killed = |seq: &str| {
        let seq = seq.to_string();
        async move {
            let (id, log) = start_watched(hub, &seq).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let asked = Instant::now();
            let reply = hub
                .post_json(&format!("/instance/{id}/_kill"), json!({}))
                .await;
            assert_eq!(reply.status(), StatusCode::ACCEPTED);
            assert_ended(log, 137, "Instance killed").await;
            asked.elapsed()
        }
    };
    let trapped = |seq: &str, input: Option<&'static str>, needle: &'static str| {
        let seq = seq.to_string();
        async move {
            let (id, log) = start_watched(hub, &seq).await;
            if let Some(line) = input {
                let url = hub.url(&format!("/instance/{id}/input"));
                let sent = hub.client.post(url).header("content-type", "text/plain");
                assert!(sent.body(line).send().await.unwrap().status().is_success());
            }
            assert_ended(log, 101, needle).await;
        }
    };
    let ((), (), (), busy, flood, (), (), ()) = tokio::join!(
        trapped(&seqs.memory_hog, None, "memory limit of 256 MiB exceeded"),
        trapped(&seqs.deep_recursion, None, "stack"),
        trapped(
            &seqs.panic,
            Some("line\n"),
            "panicked at tests/fixtures/panic/src/lib.rs:"
        ),
        killed(&seqs.busy_loop),
        killed(&seqs.output_flood),
        idle_connections(hub),
        endless_record(hub),
        websocket_flood(hub, seqs),
    );
    busy.max(flood)
}

/// Sockets that never send a request and sockets that stop halfway through its head: the
/// hub closes every one of them after its timeout (1 s here).
async fn idle_connections(hub: &HubProcess) {
    let mut sockets = Vec::new();
    for i in 0..40 {
        let mut socket = TcpStream::connect(hub.addr()).await.unwrap();
        if i % 2 == 0 {
            socket
                .write_all(b"GET /api/v1/version HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        sockets.push(socket);
    }
    for mut socket in sockets {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "an idle connection was not closed: {read:?}"
        );
    }
}

/// An ndjson topic fed 24 MiB without a newline: refused (413) at the record limit.
async fn endless_record(hub: &HubProcess) {
    let chunks = (0..24 * 16).map(|_| Ok::<_, std::io::Error>(vec![b'z'; 64 << 10]));
    let hold = futures::stream::once(async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(Vec::new())
    });
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks).chain(hold));
    let reply = hub
        .client
        .post(hub.url("/topic/soak-endless"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send();
    let reply = tokio::time::timeout(Duration::from_secs(4), reply)
        .await
        .expect("the endless record is refused at the limit")
        .unwrap();
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// 4 MiB WebSocket frames to an instance that never reads, for a second (16 of them
/// were taken before input was bounded in bytes); then the socket goes and the instance
/// is killed. (`hostile::floods` sends 15 MiB frames; here smaller ones keep glibc from
/// holding on to the freed frames, which it does for blocks past its mmap threshold.)
async fn websocket_flood(hub: &HubProcess, seqs: &Sequences) {
    let id = hub
        .start_instance(
            &seqs.counter,
            json!({"appConfig": {"interval_ms": 600_000}}),
        )
        .await;
    let log = hub.get(&format!("/instance/{id}/log")).await;
    let url = format!("ws://{}/api/v1/instance/{id}/ws", hub.addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = bytes::Bytes::from(vec![b'w'; 4 * MIB as usize]);
    let flood = async {
        for _ in 0..32 {
            socket.send(Message::Binary(frame.clone())).await.unwrap();
        }
    };
    let flooded = tokio::time::timeout(Duration::from_secs(1), flood).await;
    assert!(
        flooded.is_err(),
        "300 MiB taken by an instance that reads nothing"
    );
    drop(socket);
    let killed = hub
        .post_json(&format!("/instance/{id}/_kill"), json!({}))
        .await;
    assert_eq!(killed.status(), StatusCode::ACCEPTED);
    assert_ended(log, 137, "Instance killed").await;
}

/// Polls until no instance is listed (all ended and reaped).
async fn wait_all_reaped(hub: &HubProcess) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: Value = hub.get("/instances").await.json().await.unwrap();
        if list.as_array().is_some_and(Vec::is_empty) {
            return;
        }
        assert!(Instant::now() < deadline, "instances never reaped: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the hub's RSS for a few seconds until it is within `limit`; returns the last value.
async fn settled_rss(hub: &HubProcess, limit: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rss = hub.rss();
        if rss <= limit || Instant::now() > deadline {
            return rss;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_behaved_instances_stream_correctly_while_hostile_ones_die() {
    let began = Instant::now();
    let hub = HubProcess::start(
        &["--instance-retention-secs", "1"],
        &[
            ("WEIR_HEADER_TIMEOUT_SECS", "1"),
            ("WEIR_IDLE_TIMEOUT_SECS", "1"),
        ],
    );
    let seqs = Sequences::upload(&hub).await;
    // Warm-up: every path used once, so one-time allocations are in the baseline.
    tokio::join!(
        well_behaved(&hub, &seqs, MIB, Duration::ZERO),
        hostile_round(&hub, &seqs)
    );
    wait_all_reaped(&hub).await;
    let baseline = hub.rss();
    let warm = began.elapsed();

    // 8 streams of 6 MiB in 24 paced blocks, while hostile rounds run for HOSTILE_PHASE.
    let streams = well_behaved(&hub, &seqs, 6 * MIB, HOSTILE_PHASE / 24);
    let hostile = async {
        let (start, mut rounds, mut slowest_kill) = (Instant::now(), 0, Duration::ZERO);
        while start.elapsed() < HOSTILE_PHASE {
            slowest_kill = slowest_kill.max(hostile_round(&hub, &seqs).await);
            rounds += 1;
        }
        (rounds, slowest_kill)
    };
    let ((), (rounds, slowest_kill)) = tokio::join!(streams, hostile);
    assert!(rounds >= 2, "only {rounds} hostile rounds ran");
    // Generous: the kill itself is prompt (see `hostile`), but this machine may be loaded.
    assert!(
        slowest_kill < Duration::from_secs(5),
        "a kill took {slowest_kill:?}"
    );

    wait_all_reaped(&hub).await;
    let peak = hub.peak_rss();
    assert!(
        peak > baseline + 128 * MIB,
        "the memory hogs really used memory: peak {} MiB",
        peak >> 20
    );
    let rss = settled_rss(&hub, baseline + RSS_SLACK).await;
    assert!(
        rss <= baseline + RSS_SLACK,
        "hub RSS {} MiB after the soak, baseline {} MiB",
        rss >> 20,
        baseline >> 20
    );
    eprintln!(
        "soak: warm-up {warm:?}, {rounds} hostile rounds, slowest kill {slowest_kill:?}, \
         RSS {} → {} (peak {}) MiB, {:?}",
        baseline >> 20,
        rss >> 20,
        peak >> 20,
        began.elapsed()
    );
}
