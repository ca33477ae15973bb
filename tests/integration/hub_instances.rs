//! Instance routes over real HTTP: streams, events, stop and kill.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};

#[tokio::test]
async fn hello_over_http_and_instance_info() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::HELLO_DIR).await;
    let id = hub
        .start_instance(&seq, json!({ "appConfig": { "a": 1 }, "args": ["x"] }))
        .await;
    let info = hub.info(&id).await;
    assert_eq!(info["status"], "running");
    assert_eq!(
        (info["appConfig"].clone(), info["args"].clone()),
        (json!({"a": 1}), json!(["x"]))
    );
    assert_eq!(info["sequence"]["id"], seq.as_str());
    hub.input(&id, "world\nweir\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{id}/output")).await,
        "Hello world!\nHello weir!\n"
    );
    let info = hub.wait_ended(&id).await;
    assert_eq!(info["status"], "completed");
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 0, "reason": "Instance completed" })
    );
    assert!(info["ended"].as_str().unwrap().ends_with('Z'));
    let (_, list) = json_of(hub.get("/instances").await).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str()),
        "ended instances stay listed"
    );
    let log = hub.read_to_end(&format!("/instance/{id}/log")).await;
    assert!(log.contains("instance ended: Instance completed"), "{log}");
}

#[tokio::test]
async fn args_and_config_reach_the_plugin_and_early_output_is_kept() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::ARGS_TO_OUTPUT_DIR).await;
    let id = hub
        .start_instance(
            &seq,
            json!({ "appConfig": { "k": "v" }, "args": ["one", 2, {"three": 3}] }),
        )
        .await;
    hub.wait_ended(&id).await; // all output was written before anyone read it
    let out = hub.read_to_end(&format!("/instance/{id}/output")).await;
    assert_eq!(out, "one\n2\n{\"three\":3}\n{\"k\":\"v\"}\n");
}

#[tokio::test]
async fn input_appends_across_posts_until_ended() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::HELLO_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let post = |body: &'static str, end: &'static str, ct: Option<&'static str>| {
        let mut request = hub
            .client
            .post(hub.url(&format!("/instance/{id}/input")))
            .header("x-end-stream", end)
            .body(body);
        if let Some(ct) = ct {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    assert_error(
        post("a\n", "false", None).await.unwrap(),
        StatusCode::NOT_ACCEPTABLE,
        "Content-Type must be defined",
    )
    .await;
    assert_eq!(
        post("a\n", "false", Some("text/plain"))
            .await
            .unwrap()
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post("b\n", "false", None).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post("c\n", "true", None).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        hub.read_to_end(&format!("/instance/{id}/output")).await,
        "Hello a!\nHello b!\nHello c!\n"
    );
    assert_error(
        post("d\n", "true", None).await.unwrap(),
        StatusCode::CONFLICT,
        "already ended",
    )
    .await;
}

#[tokio::test]
async fn events_round_trip_through_event_once_and_events() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::EVENTS_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let stream = hub
        .get(&format!("/instance/{id}/events/test-response"))
        .await;
    assert_eq!(stream.status(), StatusCode::OK);
    let once = tokio::spawn({
        let (client, url) = (
            hub.client.clone(),
            hub.url(&format!("/instance/{id}/once/test-response")),
        );
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let event_path = format!("/instance/{id}/_event");
    let send = |message: Value| {
        hub.post_json(
            &event_path,
            json!([5001, { "eventName": "test-event", "message": message }]),
        )
    };
    assert_eq!(
        json_of(send(json!("hi")).await).await,
        (StatusCode::OK, json!({ "accepted": "OK" }))
    );
    assert_eq!(
        tokio::time::timeout(WAIT, once).await.unwrap().unwrap(),
        json!("reply to hi")
    );
    send(json!({"n": 1})).await;
    let mut lines = stream.bytes_stream();
    let mut received = String::new();
    while received.matches('\n').count() < 2 {
        let chunk = tokio::time::timeout(WAIT, lines.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(received, "\"reply to hi\"\n\"reply to {\\\"n\\\":1}\"\n");
    let (status, last) = json_of(
        hub.get(&format!("/instance/{id}/event/test-response"))
            .await,
    )
    .await;
    assert_eq!(
        (status, last),
        (StatusCode::OK, json!("reply to {\"n\":1}"))
    );
    let bad = hub
        .post_json(
            &format!("/instance/{id}/_event"),
            json!([5001, { "message": 1 }]),
        )
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "eventName missing").await;
}

#[tokio::test]
async fn a_sequence_emits_while_it_holds_its_input_and_output() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::LINE_EVENTS_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let events = hub.get(&format!("/instance/{id}/events/line")).await;
    assert_eq!(events.status(), StatusCode::OK);
    hub.input(&id, "one\ntwo\nthree\n").await;
    let output = hub.read_to_end(&format!("/instance/{id}/output")).await;
    assert_eq!(output, "one\ntwo\nthree\n");
    // The event stream ends with the instance: every line's event, in order.
    let text = tokio::time::timeout(WAIT, events.text())
        .await
        .unwrap()
        .unwrap();
    let seen: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        seen,
        [
            json!({"n": 1, "text": "one"}),
            json!({"n": 2, "text": "two"}),
            json!({"n": 3, "text": "three"}),
        ]
    );
    let log = hub.read_to_end(&format!("/instance/{id}/log")).await;
    assert!(log.contains("all lines seen"), "{log}");
}

#[tokio::test]
async fn stop_replies_at_once_and_counter_ends_with_stopped_and_138() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::COUNTER_DIR).await;
    let id = hub
        .start_instance(&seq, json!({ "appConfig": { "interval_ms": 10 } }))
        .await;
    let output = hub.get(&format!("/instance/{id}/output")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    let reply = hub
        .post_json(
            &format!("/instance/{id}/_stop"),
            json!({ "timeout": 10000, "canCallKeepalive": false }),
        )
        .await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "_stop must not block for its timeout"
    );
    let (status, info) = json_of(reply).await;
    assert_eq!(
        (status, info["status"].clone()),
        (StatusCode::ACCEPTED, json!("stopping"))
    );
    let text = String::from_utf8(output.bytes().await.unwrap().to_vec()).unwrap();
    assert!(
        text.starts_with("1\n2\n") && text.ends_with("stopped\n"),
        "{text}"
    );
    let info = hub.wait_ended(&id).await;
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 138, "reason": "Instance stopped" })
    );
    let bad = hub
        .post_json(
            &format!("/instance/{id}/_stop"),
            json!({ "timeout": "soon" }),
        )
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "Invalid timeout format").await;
}

#[tokio::test]
async fn kill_ends_a_busy_loop_promptly_with_137() {
    let hub = TestHub::start().await;
    let seq = hub
        .upload_file(&crate::packages::archive_of(
            "busy-loop",
            weir_tests::BUSY_LOOP,
        ))
        .await;
    let id = hub.start_instance(&seq, json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    let (status, info) = json_of(
        hub.post_json(&format!("/instance/{id}/_kill"), json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(
        matches!(info["status"].as_str(), Some("killing" | "completed")),
        "{info}"
    );
    let info = hub.wait_ended(&id).await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "killed after {:?}",
        asked.elapsed()
    );
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 137, "reason": "Instance killed" })
    );
    assert_error(
        hub.post_json(&format!("/instance/{id}/_kill"), json!({}))
            .await,
        StatusCode::BAD_REQUEST,
        "Instance not running",
    )
    .await;
    let event = hub
        .post_json(
            &format!("/instance/{id}/_event"),
            json!([5001, { "eventName": "x" }]),
        )
        .await;
    assert_error(event, StatusCode::BAD_REQUEST, "Instance not running").await;
}

#[tokio::test]
async fn kill_with_remove_immediately_forgets_the_instance() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::COUNTER_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    hub.post_json(
        &format!("/instance/{id}/_kill"),
        json!({ "removeImmediately": true }),
    )
    .await;
    tokio::time::timeout(WAIT, async {
        while hub.get(&format!("/instance/{id}")).await.status() != StatusCode::NOT_FOUND {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn ended_instances_are_forgotten_after_the_retention_time() {
    let hub = TestHub::with(|c| c.instance_retention = Duration::from_millis(200), None).await;
    let seq = hub.upload(weir_tests::ARGS_TO_OUTPUT_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    hub.wait_ended(&id).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_error(
        hub.get(&format!("/instance/{id}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
}

#[tokio::test]
async fn unknown_instances_get_404_on_every_route() {
    let hub = TestHub::start().await;
    for path in [
        "",
        "/health",
        "/output",
        "/stdout",
        "/stderr",
        "/log",
        "/event/x",
        "/once/x",
        "/events/x",
    ] {
        assert_error(
            hub.get(&format!("/instance/nope{path}")).await,
            StatusCode::NOT_FOUND,
            "Instance nope not found",
        )
        .await;
    }
    for path in ["/_stop", "/_kill", "/_event", "/input", "/stdin", "/inout"] {
        let response = hub
            .client
            .post(hub.url(&format!("/instance/nope{path}")))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "Instance nope not found").await;
    }
}

#[tokio::test]
async fn every_output_reader_gets_every_chunk_from_when_it_joined() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::COUNTER_DIR).await;
    let id = hub
        .start_instance(
            &seq,
            json!({ "appConfig": { "interval_ms": 20, "count": 10 } }),
        )
        .await;
    let mut first = hub
        .get(&format!("/instance/{id}/output"))
        .await
        .bytes_stream();
    // The second reader joins once the first has seen output.
    let head = tokio::time::timeout(WAIT, first.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let second = hub.get(&format!("/instance/{id}/output")).await;
    let rest = async {
        let mut a = head.to_vec();
        while let Some(chunk) = first.next().await {
            a.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(a).unwrap()
    };
    let (a, b) = tokio::join!(rest, second.text());
    let b = b.unwrap();
    let all: String = (1..=10).map(|i| format!("{i}\n")).collect();
    assert_eq!(a, all, "the first reader gets everything");
    assert!(
        all.ends_with(&b) && b.len() < a.len() && b.ends_with("10\n"),
        "the second gets the tail: {b:?}"
    );
}

#[tokio::test]
async fn stderr_and_stdout_are_separate_streams() {
    let hub = TestHub::start().await;
    let seq = hub
        .upload_file(&crate::packages::archive_of("panic", weir_tests::PANIC))
        .await;
    let id = hub.start_instance(&seq, json!({})).await;
    hub.input(&id, "line\n").await;
    let info = hub.wait_ended(&id).await;
    assert_eq!(info["status"], "errored");
    assert_eq!(info["terminated"]["exitcode"], 101);
    // The reason is the panic, not the `unreachable` it ends in.
    let reason = info["terminated"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Sequence trapped: panicked at tests/fixtures/panic/src/lib.rs:")
            && reason.ends_with(": deliberate panic"),
        "{reason}"
    );
    let stderr = hub.read_to_end(&format!("/instance/{id}/stderr")).await;
    assert!(stderr.contains("deliberate panic"), "{stderr}");
    assert_eq!(hub.read_to_end(&format!("/instance/{id}/stdout")).await, "");
}

#[tokio::test]
async fn inout_transforms_in_one_request() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::UPPERCASE_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let response = hub
        .client
        .post(hub.url(&format!("/instance/{id}/inout")))
        .body("shout this\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "SHOUT THIS\n");
}

#[tokio::test]
async fn websocket_frames_are_input_and_output() {
    use tokio_tungstenite::tungstenite::Message;
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::HELLO_DIR).await;
    let (status, reply) = json_of(
        hub.post_json(&format!("/sequence/{seq}/start"), json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ws_path = reply["endpoints"]["ws"].as_str().unwrap();
    let url = format!(
        "{}{}",
        hub.base
            .replace("http://", "ws://")
            .trim_end_matches("/api/v1"),
        ws_path
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures::SinkExt;
    socket.send(Message::text("socket\n")).await.unwrap();
    socket
        .send(Message::binary(Vec::<u8>::new()))
        .await
        .unwrap(); // ends the input
    let mut out = Vec::new();
    while let Some(Ok(message)) = tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
        match message {
            Message::Binary(data) => out.extend_from_slice(&data),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(String::from_utf8(out).unwrap(), "Hello socket!\n");
}

/// `si seq prune --force`, request by request as the Scramjet CLI sends them:
/// list the sequences, kill every listed instance with
/// `[4002, {"removeImmediately": true}]`, wait until the sequence lists none,
/// delete each sequence; every reply 2xx with a JSON body. A sequence lists
/// only its live instances; an ended one stays readable during retention.
#[tokio::test]
async fn the_scramjet_clis_prune_removes_every_sequence() {
    let hub = TestHub::start().await;
    let running_seq = hub.upload(weir_tests::COUNTER_DIR).await;
    let running = hub.start_instance(&running_seq, json!({})).await;
    let ended_seq = hub.upload(weir_tests::ARGS_TO_OUTPUT_DIR).await;
    let ended = hub.start_instance(&ended_seq, json!({})).await;
    hub.wait_ended(&ended).await;
    let (_, ended_ids) = json_of(hub.get(&format!("/sequence/{ended_seq}/instances")).await).await;
    assert_eq!(
        ended_ids,
        json!([ended]),
        "retained instances stay listed here"
    );

    let (_, sequences) = json_of(hub.get("/sequences").await).await;
    let listed = |id: &str| {
        sequences
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["instances"]
            .clone()
    };
    assert_eq!(listed(&running_seq), json!([running]));
    assert_eq!(listed(&ended_seq), json!([]), "{sequences}");
    for sequence in sequences.as_array().unwrap() {
        let id = sequence["id"].as_str().unwrap();
        for instance in sequence["instances"].as_array().unwrap() {
            let (status, reply) = json_of(
                hub.post_json(
                    &format!("/instance/{}/_kill", instance.as_str().unwrap()),
                    json!([4002, { "removeImmediately": true }]),
                )
                .await,
            )
            .await;
            assert!(status.is_success(), "{status} {reply}");
            assert!(reply.is_object(), "{reply}");
        }
        tokio::time::timeout(WAIT, async {
            loop {
                let (_, info) = json_of(hub.get(&format!("/sequence/{id}")).await).await;
                if info["instances"] == json!([]) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap();
        let deleted = hub
            .client
            .delete(hub.url(&format!("/sequence/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_of(deleted).await,
            (StatusCode::OK, json!({ "id": id }))
        );
    }
    assert_eq!(json_of(hub.get("/sequences").await).await.1, json!([]));
    // The kill asked for removal: the killed instance is gone too.
    tokio::time::timeout(WAIT, async {
        while hub.get(&format!("/instance/{running}")).await.status() != StatusCode::NOT_FOUND {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn killing_an_ended_instance_removes_it_only_when_asked() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::ARGS_TO_OUTPUT_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    hub.wait_ended(&id).await;
    let path = format!("/instance/{id}/_kill");
    let kill = |body| hub.post_json(&path, body);
    assert_error(
        kill(json!({})).await,
        StatusCode::BAD_REQUEST,
        "Instance not running",
    )
    .await;
    assert_eq!(hub.info(&id).await["id"], id.as_str(), "still retained");
    let (status, reply) = json_of(kill(json!({ "removeImmediately": true })).await).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["id"], id.as_str());
    assert_error(
        hub.get(&format!("/instance/{id}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
}
