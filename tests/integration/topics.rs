//! Topics over real HTTP: every content type, instances as producers and
//! consumers, a three-stage pipeline, lossless hand-off in both orders, many
//! producers and subscribers, and the refusals.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};

async fn publish(
    hub: &TestHub,
    topic: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> Response {
    hub.client
        .post(hub.url(&format!("/topic/{topic}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn subscribe(hub: &TestHub, topic: &str, content_type: Option<&str>) -> Response {
    let mut request = hub.client.get(hub.url(&format!("/topic/{topic}")));
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// Reads a topic stream until `len` bytes have arrived.
async fn read_exactly(response: Response, len: usize) -> String {
    let mut stream = response.bytes_stream();
    let mut out = Vec::new();
    while out.len() < len {
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn http_to_http_in_every_content_type() {
    let hub = TestHub::start().await;
    for (i, ct) in [
        "application/x-ndjson",
        "text/x-ndjson",
        "text/plain",
        "application/octet-stream",
    ]
    .iter()
    .enumerate()
    {
        let topic = format!("t{i}");
        let consumer = subscribe(&hub, &topic, Some(ct)).await;
        let response = publish(&hub, &topic, ct, "{\"a\":1}\nline two\n").await;
        assert_eq!(json_of(response).await, (StatusCode::OK, json!({})));
        assert_eq!(read_exactly(consumer, 17).await, "{\"a\":1}\nline two\n");
    }
    let (_, topics) = json_of(hub.get("/topics").await).await;
    let types: Vec<&str> = topics
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["contentType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "application/x-ndjson",
            "text/x-ndjson",
            "text/plain",
            "application/octet-stream"
        ]
    );
}

#[tokio::test]
async fn a_record_without_a_final_newline_gets_one() {
    let hub = TestHub::start().await;
    publish(&hub, "tail", "application/x-ndjson", "{\"a\":1}").await;
    assert_eq!(
        read_exactly(subscribe(&hub, "tail", None).await, 8).await,
        "{\"a\":1}\n"
    );
}

#[tokio::test]
async fn producer_first_and_consumer_first_both_deliver_everything() {
    let hub = TestHub::start().await;
    let records: String = (0..1000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    // Producer first: nobody listens yet, the topic retains it.
    let response = publish(&hub, "early", "application/x-ndjson", records.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, topics) = json_of(hub.get("/topics").await).await;
    assert_eq!(topics[0]["retainedBytes"], records.len());
    assert_eq!(
        read_exactly(subscribe(&hub, "early", None).await, records.len()).await,
        records
    );
    // Consumer first.
    let consumer = subscribe(&hub, "late", None).await;
    publish(&hub, "late", "application/x-ndjson", records.clone()).await;
    assert_eq!(read_exactly(consumer, records.len()).await, records);
}

#[tokio::test]
async fn a_full_topic_back_pressures_its_producer_until_read() {
    let hub = TestHub::with(|c| c.topic_capacity = 64 << 10, None).await;
    let big: String = (0..20_000).map(|i| format!("{{\"n\":{i:08}}}\n")).collect(); // 300 KB
    let len = big.len();
    let producer = tokio::spawn({
        let (client, url) = (hub.client.clone(), hub.url("/topic/slow"));
        async move {
            client
                .post(url)
                .header("content-type", "application/x-ndjson")
                .body(big)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !producer.is_finished(),
        "the producer waits while the topic is full"
    );
    let (_, topics) = json_of(hub.get("/topics").await).await;
    assert!(
        topics[0]["retainedBytes"].as_u64().unwrap() <= 64 << 10,
        "{topics}"
    );
    let body = read_exactly(subscribe(&hub, "slow", None).await, len).await;
    assert_eq!(body.lines().count(), 20_000);
    assert_eq!(producer.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn eight_producers_three_subscribers_every_record_whole_and_once() {
    const PRODUCERS: usize = 8;
    const RECORDS: usize = 2000;
    let hub = TestHub::with(|c| c.topic_capacity = 256 << 10, None).await;
    let subscribers: Vec<Response> =
        futures::future::join_all((0..3).map(|_| subscribe(&hub, "many", None))).await;
    let producers = (0..PRODUCERS).map(|p| {
        let (client, url) = (hub.client.clone(), hub.url("/topic/many"));
        async move {
            // Each body arrives in small pieces that split records mid-way.
            let body: String = (0..RECORDS)
                .map(|i| {
                    format!(
                        "{{\"p\":{p},\"i\":{i},\"pad\":\"{}\"}}\n",
                        "x".repeat(i % 50)
                    )
                })
                .collect();
            let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = body
                .into_bytes()
                .chunks(777)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            let response = client
                .post(url)
                .header("content-type", "application/x-ndjson")
                .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    });
    let readers = subscribers.into_iter().map(|response| async move {
        let mut stream = response.bytes_stream();
        let (mut buf, mut seen) = (Vec::new(), HashMap::<(u64, u64), usize>::new());
        while seen.len() < PRODUCERS * RECORDS {
            let chunk = tokio::time::timeout(WAIT, stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let record: Value = serde_json::from_slice(&line).unwrap_or_else(|_| {
                    panic!("split record {:?}", String::from_utf8_lossy(&line))
                });
                *seen
                    .entry((record["p"].as_u64().unwrap(), record["i"].as_u64().unwrap()))
                    .or_default() += 1;
            }
        }
        assert!(seen.values().all(|&n| n == 1), "a record arrived twice");
        seen.len()
    });
    let (_, counts) = tokio::join!(
        futures::future::join_all(producers),
        futures::future::join_all(readers)
    );
    assert_eq!(counts, vec![PRODUCERS * RECORDS; 3]);
}

#[tokio::test]
async fn topic_refusals() {
    let hub = TestHub::start().await;
    let create = |body: Value| hub.post_json("/topics", body);
    assert_eq!(
        json_of(create(json!({"id": "made", "content-type": "text/plain"})).await)
            .await
            .1["contentType"],
        "text/plain"
    );
    assert_error(
        create(json!({"id": "made", "content-type": "text/plain"})).await,
        StatusCode::BAD_REQUEST,
        "already exists",
    )
    .await;
    assert_error(
        create(json!({"content-type": "text/plain"})).await,
        StatusCode::BAD_REQUEST,
        "missing topic id",
    )
    .await;
    assert_error(
        create(json!({"id": "x"})).await,
        StatusCode::BAD_REQUEST,
        "missing content-type",
    )
    .await;
    assert_error(
        create(json!({"id": "x", "content-type": "image/png"})).await,
        StatusCode::BAD_REQUEST,
        "Unsupported content-type",
    )
    .await;
    assert_error(
        create(json!({"id": "bad name!", "content-type": "text/plain"})).await,
        StatusCode::BAD_REQUEST,
        "invalid topic name",
    )
    .await;
    assert_error(
        publish(&hub, "made", "application/octet-stream", "{}\n").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Acceptable Content-Type for made is text/plain",
    )
    .await;
    let no_type = hub
        .client
        .post(hub.url("/topic/made"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(no_type, StatusCode::BAD_REQUEST, "Unsupported content-type").await;
    let wrong_reader = hub
        .client
        .get(hub.url("/topic/made"))
        .header("content-type", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_error(
        wrong_reader,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Acceptable Content-Type",
    )
    .await;
    let deleted = hub
        .client
        .delete(hub.url("/topics/made"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(deleted).await.1,
        json!({"message": "Topic made removed"})
    );
    let again = hub
        .client
        .delete(hub.url("/topics/made"))
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "not found").await;
}

#[tokio::test]
async fn http_to_instance_and_instance_to_http() {
    let hub = TestHub::start().await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let id = hub
        .start_instance(
            &hello,
            json!({ "inputTopic": "names", "outputTopic": "greetings" }),
        )
        .await;
    let info = hub.info(&id).await;
    assert_eq!(
        (info["requires"].as_str(), info["provides"].as_str()),
        (Some("names"), Some("greetings"))
    );
    let input = hub
        .client
        .post(hub.url(&format!("/instance/{id}/input")))
        .header("content-type", "text/plain")
        .body("x\n")
        .send()
        .await
        .unwrap();
    assert_error(
        input,
        StatusCode::METHOD_NOT_ALLOWED,
        "Input provided in other way",
    )
    .await;
    let inout = hub
        .client
        .post(hub.url(&format!("/instance/{id}/inout")))
        .body("x\n")
        .send()
        .await
        .unwrap();
    assert_error(
        inout,
        StatusCode::METHOD_NOT_ALLOWED,
        "Input provided in other way",
    )
    .await;
    let greetings = subscribe(&hub, "greetings", None).await;
    publish(&hub, "names", "application/x-ndjson", "ann\nbob\n").await;
    assert_eq!(
        read_exactly(greetings, 22).await,
        "Hello ann!\nHello bob!\n"
    );
}

#[tokio::test]
async fn a_three_stage_pipeline_of_instances() {
    let hub = TestHub::start().await;
    let (args, hello, upper) = tokio::join!(
        hub.upload(weir_tests::ARGS_TO_OUTPUT_DIR),
        hub.upload(weir_tests::HELLO_DIR),
        hub.upload(weir_tests::UPPERCASE_DIR)
    );
    let result = subscribe(&hub, "stage-3", None).await;
    hub.start_instance(
        &upper,
        json!({ "inputTopic": "stage-2", "outputTopic": "stage-3" }),
    )
    .await;
    hub.start_instance(
        &hello,
        json!({ "inputTopic": "stage-1", "outputTopic": "stage-2" }),
    )
    .await;
    hub.start_instance(
        &args,
        json!({ "outputTopic": "stage-1", "args": ["ann", "bob"] }),
    )
    .await;
    let expected = "HELLO ANN!\nHELLO BOB!\nHELLO {}!\n";
    assert_eq!(read_exactly(result, expected.len()).await, expected);
}

#[tokio::test]
async fn an_instance_reading_and_writing_one_topic_is_refused() {
    let hub = TestHub::start().await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let response = hub
        .post_json(
            &format!("/sequence/{hello}/start"),
            json!({ "inputTopic": "loop", "outputTopic": "loop" }),
        )
        .await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "feeding its output back into its input",
    )
    .await;
}

#[tokio::test]
async fn plugins_publish_and_subscribe_at_run_time() {
    let hub = TestHub::start().await;
    let relay = hub
        .upload_file(&crate::packages::archive_of(
            "topic-relay",
            weir_tests::TOPIC_RELAY,
        ))
        .await;
    // Subscriber instance first: it waits for two lines of "jobs".
    let reader = hub
        .start_instance(
            &relay,
            json!({ "appConfig": { "subscribe_to": "jobs", "count": 2 } }),
        )
        .await;
    let output = hub.get(&format!("/instance/{reader}/output")).await;
    // An HTTP client watches what a publishing instance writes to "jobs".
    let watcher = subscribe(&hub, "jobs", None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let writer = hub
        .start_instance(&relay, json!({ "appConfig": { "publish_to": "jobs" } }))
        .await;
    hub.input(&writer, "first\nsecond\n").await;
    assert_eq!(
        tokio::time::timeout(WAIT, output.text())
            .await
            .unwrap()
            .unwrap(),
        "first\nsecond\n"
    );
    assert_eq!(read_exactly(watcher, 13).await, "first\nsecond\n");
    assert_eq!(hub.wait_ended(&reader).await["terminated"]["exitcode"], 0);
}

/// The Scramjet CLI's `si topic get T` sends no content type and `si topic
/// send T FILE` sends `text/plain` with `expect: 100-continue`: the subscriber
/// does not fix the type, the producer declares it, and both records arrive
/// once.
#[tokio::test]
async fn the_scramjet_clis_get_then_send_delivers_every_record_once() {
    let hub = TestHub::start().await;
    let reader = subscribe(&hub, "cli", None).await;
    let sent = hub
        .client
        .post(hub.url("/topic/cli"))
        .header("content-type", "text/plain")
        .header("expect", "100-continue")
        .body("{\"n\":1}\n{\"n\":2}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(sent).await, (StatusCode::OK, json!({})));
    let mut stream = reader.bytes_stream();
    let mut got = Vec::new();
    while got.len() < 16 {
        let chunk = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
        got.extend_from_slice(&chunk.unwrap().unwrap());
    }
    assert_eq!(String::from_utf8(got).unwrap(), "{\"n\":1}\n{\"n\":2}\n");
    // Nothing more: each record came once.
    let more = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(more.is_err(), "unexpected extra data: {more:?}");
    let (_, topics) = json_of(hub.get("/topics").await).await;
    assert_eq!(topics[0]["contentType"], "text/plain", "{topics}");
    assert_eq!(topics[0]["publishedBytes"], 16, "{topics}");
    // Line-framed types mix: an ndjson producer joins the text/plain topic.
    let ndjson = publish(&hub, "cli", "application/x-ndjson", "{\"n\":3}\n").await;
    assert_eq!(ndjson.status(), StatusCode::OK);
    let chunk = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
    assert_eq!(&chunk.unwrap().unwrap()[..], b"{\"n\":3}\n");
}

/// A refused publish (bytes into a line-framed topic) is answered before the
/// body is read, and the body is read and dropped, so a client that writes
/// its whole 10 MiB body before reading (as Node's http does) reads the 415
/// and its reason instead of a broken pipe; nothing reaches the topic.
#[tokio::test]
async fn a_refused_publish_is_a_415_the_sender_can_read() {
    let hub = TestHub::start().await;
    let created = hub
        .post_json(
            "/topics",
            json!({"id": "lines", "content-type": "application/x-ndjson"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let text = hub
        .send_whole_body_then_read(
            "POST /api/v1/topic/lines",
            "content-type: application/octet-stream",
            10 << 20,
        )
        .await;
    assert!(text.starts_with("HTTP/1.1 415"), "{text}");
    assert!(
        text.contains(r#"{"error":"Acceptable Content-Type for lines is application/x-ndjson"}"#),
        "{text}"
    );
    let (_, topics) = json_of(hub.get("/topics").await).await;
    assert_eq!(topics[0]["publishedBytes"], 0, "{topics}");
    assert_eq!(topics[0]["retainedBytes"], 0, "{topics}");
}
