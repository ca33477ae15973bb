//! An instance's input fed by several writers at once: `/stdin` of a WASI
//! command, POSTs, slow POSTs and WebSockets all share one end, and the
//! WebSocket's Close frame says how the instance ended.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::hub::{TestHub, assert_error};

/// How long an instance may take to see the end of its input.
const SHORT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn socket(hub: &TestHub, id: &str) -> Socket {
    let url = format!("{}/instance/{id}/ws", hub.base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The binary frames a socket receives until its Close frame, and that frame.
async fn until_close(socket: &mut Socket) -> (String, Option<CloseFrame>) {
    let mut out = Vec::new();
    let close = timeout(SHORT, async {
        while let Some(message) = socket.next().await {
            match message.unwrap() {
                Message::Binary(data) => out.extend_from_slice(&data),
                Message::Close(frame) => return frame,
                _ => {}
            }
        }
        panic!("the socket ended without a Close frame");
    })
    .await
    .expect("the instance ends and the socket gets a Close frame");
    (String::from_utf8(out).unwrap(), close)
}

async fn ended_within(hub: &TestHub, id: &str, limit: Duration) -> Value {
    timeout(limit, hub.wait_ended(id))
        .await
        .expect("the instance sees the end of its input and ends")
}

async fn post_input(hub: &TestHub, id: &str, route: &str, body: &'static str, end: bool) {
    let response = hub
        .client
        .post(hub.url(&format!("/instance/{id}/{route}")))
        .header("content-type", "text/plain")
        .header("x-end-stream", if end { "true" } else { "false" })
        .body(body)
        .send()
        .await
        .unwrap();
    let expected = if end {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    assert_eq!(response.status(), expected, "POST /{route}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_of_a_wasi_command_is_its_input() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::WASI_WC_DIR).await;
    // 40 chunks of 8 KiB: more than the input channel holds (16 chunks).
    let id = hub.start_instance(&seq, json!({})).await;
    let chunk = Bytes::from("one two\n".repeat(1024));
    let chunks = (0..40).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let post = hub
        .client
        .post(hub.url(&format!("/instance/{id}/stdin")))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send();
    let response = timeout(SHORT, post).await.expect("the POST ends").unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let output = timeout(SHORT, hub.read_to_end(&format!("/instance/{id}/output")))
        .await
        .expect("the command reads its stdin to the end");
    assert_eq!(output, "40960 81920 327680\n");
    assert_eq!(ended_within(&hub, &id, SHORT).await["status"], "completed");

    // `/input` and `/stdin` feed the one stream; either may end it.
    let id = hub.start_instance(&seq, json!({})).await;
    post_input(&hub, &id, "input", "a b\n", false).await;
    post_input(&hub, &id, "stdin", "c\n", true).await;
    let output = timeout(SHORT, hub.read_to_end(&format!("/instance/{id}/output")))
        .await
        .expect("the end posted on /stdin ends the command's input");
    assert_eq!(output, "2 3 6\n");
    let again = hub
        .client
        .post(hub.url(&format!("/instance/{id}/input")))
        .header("content-type", "text/plain")
        .body("late")
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::CONFLICT, "has already ended").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_input_ends_it_while_an_idle_websocket_is_open() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::PASSTHROUGH_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let mut idle = socket(&hub, &id).await;
    post_input(&hub, &id, "input", "abc", true).await;
    let info = ended_within(&hub, &id, SHORT).await;
    assert_eq!(info["status"], "completed", "{info}");
    let (output, close) = until_close(&mut idle).await;
    assert_eq!(output, "abc");
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_writer_cannot_keep_an_ended_input_open() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::PASSTHROUGH_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let mut output = hub
        .get(&format!("/instance/{id}/output"))
        .await
        .bytes_stream();
    // A POST that keeps its body open (x-end-stream: false).
    let (mut body, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let slow = hub
        .client
        .post(hub.url(&format!("/instance/{id}/input")))
        .header("content-type", "text/plain")
        .header("x-end-stream", "false")
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let slow = tokio::spawn(slow);
    body.send(Ok(Bytes::from_static(b"first\n"))).await.unwrap();
    let first = timeout(SHORT, output.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");

    // Another request ends the input: the instance ends although the slow
    // request is still open...
    post_input(&hub, &id, "input", "end\n", true).await;
    let info = ended_within(&hub, &id, SHORT).await;
    assert_eq!(info["status"], "completed", "{info}");
    let mut rest = Vec::new();
    while let Some(chunk) = timeout(SHORT, output.next()).await.unwrap() {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8(rest).unwrap(), "end\n");
    // ...and what the slow request sends after the end is refused.
    body.send(Ok(Bytes::from_static(b"late\n"))).await.unwrap();
    drop(body);
    let response = timeout(SHORT, slow).await.unwrap().unwrap().unwrap();
    assert_error(
        response,
        StatusCode::CONFLICT,
        "was ended (by another request) while this one was sending",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_frame_from_either_of_two_websockets_ends_the_input() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::PASSTHROUGH_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let mut one = socket(&hub, &id).await;
    let mut two = socket(&hub, &id).await;
    one.send(Message::text("from one\n")).await.unwrap();
    let first = timeout(SHORT, one.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first, Message::binary(&b"from one\n"[..]));
    two.send(Message::binary(Vec::<u8>::new())).await.unwrap();
    let info = ended_within(&hub, &id, SHORT).await;
    assert_eq!(info["status"], "completed", "{info}");
    for socket in [&mut one, &mut two] {
        let (_, close) = until_close(socket).await;
        assert_eq!(close.map(|c| u16::from(c.code)), Some(1000));
    }
    let late = hub
        .client
        .post(hub.url(&format!("/instance/{id}/input")))
        .header("content-type", "text/plain")
        .body("late")
        .send()
        .await
        .unwrap();
    assert_error(late, StatusCode::CONFLICT, "has already ended").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_close_frame_says_how_the_instance_ended() {
    let hub = TestHub::start().await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let failing = hub
        .upload_file(&crate::packages::archive_of("failing", weir_tests::FAILING))
        .await;
    let cases = [
        (
            hello,
            "socket\n",
            "Hello socket!\n",
            1000,
            "Instance completed",
        ),
        (
            failing,
            "x",
            "",
            1011,
            "Sequence failed during execution: deliberate failure",
        ),
    ];
    for (seq, input, expected, code, reason) in cases {
        let id = hub.start_instance(&seq, json!({})).await;
        let mut socket = socket(&hub, &id).await;
        socket.send(Message::text(input)).await.unwrap();
        socket
            .send(Message::binary(Vec::<u8>::new()))
            .await
            .unwrap();
        let (output, close) = until_close(&mut socket).await;
        assert_eq!(output, expected);
        let close = close.expect("the Close frame carries a status");
        assert_eq!(u16::from(close.code), code, "{close:?}");
        assert_eq!(close.reason.as_str(), reason);
    }
}

#[tokio::test]
async fn an_instance_fed_by_a_topic_takes_no_input_from_clients() {
    let hub = TestHub::start().await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let wc = hub.upload(weir_tests::WASI_WC_DIR).await;
    let topic = json!({ "inputTopic": "names" });
    let sequence = hub.start_instance(&hello, topic.clone()).await;
    let url = format!(
        "{}/instance/{sequence}/ws",
        hub.base.replace("http://", "ws://")
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        }
        other => panic!("the WebSocket was not refused: {other:?}"),
    }
    // A WASI command's stdin is its input, which the topic feeds.
    let command = hub.start_instance(&wc, topic).await;
    let stdin = hub
        .client
        .post(hub.url(&format!("/instance/{command}/stdin")))
        .body("x\n")
        .send()
        .await
        .unwrap();
    assert_error(
        stdin,
        StatusCode::METHOD_NOT_ALLOWED,
        "Input provided in other way",
    )
    .await;
}
