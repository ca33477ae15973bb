//! Hostile connections against a real `weir serve`: sockets that never send a request or
//! stop halfway through its head are closed after their timeouts (auth runs after the head,
//! so a token does not help), more idle sockets than the process has file descriptors do
//! not lock everyone out, and long-lived streams are never cut by those timeouts.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::process::HubProcess;

/// Timeouts short enough for a test; the defaults are 10 s and 60 s.
const SHORT_TIMEOUTS: &[(&str, &str)] = &[
    ("WEIR_HEADER_TIMEOUT_SECS", "1"),
    ("WEIR_IDLE_TIMEOUT_SECS", "2"),
];

/// Waits up to `limit` for the hub to close `socket`; returns how long that took, or
/// `None` if it is still open.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let began = Instant::now();
    let mut buf = [0u8; 4096];
    let until = tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // a response to a request sent earlier
            }
        }
    });
    until.await.ok().map(|()| began.elapsed())
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed_even_with_a_token() {
    let mut env = SHORT_TIMEOUTS.to_vec();
    env.push(("WEIR_TOKEN", "secret"));
    let hub = HubProcess::start(&[], &env);
    let addr = hub.addr().to_string();
    let silent = TcpStream::connect(&addr).await.unwrap();
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /api/v1/version HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut silent = silent;
    let (half, silent, kept) = tokio::join!(
        closed_within(&mut half, Duration::from_secs(6)),
        closed_within(&mut silent, Duration::from_secs(6)),
        closed_within(&mut kept, Duration::from_secs(6)),
    );
    let half = half.expect("a half-sent request head is closed");
    let silent = silent.expect("a connection that never sends is closed");
    let kept = kept.expect("an idle kept-alive connection is closed");
    assert!(
        half < Duration::from_millis(1900),
        "header timeout 1 s: {half:?}"
    );
    assert!(
        silent >= Duration::from_millis(1500),
        "idle timeout 2 s: {silent:?}"
    );
    assert!(
        kept >= Duration::from_millis(1500),
        "idle timeout 2 s: {kept:?}"
    );
    // Those were the hostile ones; the hub still answers.
    let health = hub.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn more_idle_sockets_than_open_files_wait_their_turn_and_the_hub_keeps_serving() {
    // 200 descriptors: 136 connections at most (a quarter, at least 64, kept for the rest).
    let hub = HubProcess::start_with_open_files(&[], &[("WEIR_IDLE_TIMEOUT_SECS", "2")], 200);
    let addr = hub.addr().to_string();
    let mut idle = Vec::new();
    for _ in 0..220 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Queued behind the idle ones, served once the idle timeout has closed them.
    let began = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(15), hub.get("/health"))
        .await
        .expect("the hub answers while idle sockets hold every connection");
    assert_eq!(health.status(), StatusCode::OK);
    eprintln!(
        "answered after {:?} behind 220 idle sockets",
        began.elapsed()
    );
    let line = hub.wait_log("connection cap reached").await;
    assert!(line.contains("136 connections open"), "{line}");
    // Every idle socket was closed by the hub, none refused by a full descriptor table.
    for socket in &mut idle {
        assert!(
            closed_within(socket, Duration::from_secs(15))
                .await
                .is_some()
        );
    }
}

#[tokio::test]
async fn long_lived_streams_outlive_the_idle_and_header_timeouts() {
    let hub = HubProcess::start(&[], SHORT_TIMEOUTS);
    let passthrough = hub.upload("passthrough", weir_tests::PASSTHROUGH).await;
    let quiet = Duration::from_secs(4); // twice the idle timeout, four times the header one

    // An output stream that has nothing to say for a while.
    let streamed = hub.start_instance(&passthrough, json!({})).await;
    let output = hub.get(&format!("/instance/{streamed}/output")).await;
    assert_eq!(output.status(), StatusCode::OK);
    // Server-sent events with nothing to report for a while.
    let events = hub.get("/events").await;
    assert_eq!(events.status(), StatusCode::OK);
    // A WebSocket with no frames for a while.
    let socketed = hub.start_instance(&passthrough, json!({})).await;
    let url = format!("ws://{}/api/v1/instance/{socketed}/ws", hub.addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // An input body that pauses between its chunks.
    let paused =
        futures::stream::iter([&b"first "[..], &b"second\n"[..]]).then(move |chunk| async move {
            if chunk.starts_with(b"second") {
                tokio::time::sleep(quiet).await;
            }
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(chunk))
        });
    let input = hub
        .client
        .post(hub.url(&format!("/instance/{streamed}/input")))
        .header("content-type", "text/plain")
        .body(reqwest::Body::wrap_stream(paused))
        .send();
    let (input, ()) = tokio::join!(input, tokio::time::sleep(quiet));
    assert_eq!(input.unwrap().status(), StatusCode::OK);

    let text = tokio::time::timeout(Duration::from_secs(10), output.text())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text, "first second\n");

    socket.send(Message::text("late\n")).await.unwrap();
    socket
        .send(Message::binary(Vec::<u8>::new()))
        .await
        .unwrap();
    let mut echoed = Vec::new();
    while let Some(Ok(message)) = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
    {
        match message {
            Message::Binary(data) => echoed.extend_from_slice(&data),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(echoed, b"late\n");

    // The event stream is still open: an instance started now shows up on it.
    let third = hub.start_instance(&passthrough, json!({})).await;
    let mut events = events.bytes_stream();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while let Some(chunk) = events.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains(&third) {
                return text;
            }
        }
        panic!("the event stream ended: {text}");
    })
    .await;
    assert!(seen.is_ok(), "no event for {third} after a quiet spell");
}
