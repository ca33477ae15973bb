//! Space topics: records from several hubs reach subscribers on every hub, in order, once; a
//! full topic holds its producer back.

use super::*;

#[tokio::test]
async fn a_topic_carries_records_from_two_hubs_to_subscribers_on_three() {
    let nats = Nats::start();
    let hubs = three_hubs(&nats, "tp").await;

    // Published before anyone listens: kept for the first subscriber.
    let early = client()
        .post(api(&hubs[0], "/topic/early"))
        .header("content-type", "application/x-ndjson")
        .body("{\"kept\":1}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), StatusCode::OK);
    let first = client()
        .get(api(&hubs[2], "/topic/early"))
        .send()
        .await
        .unwrap();
    assert_eq!(read_lines(first, 1).await, ["{\"kept\":1}"]);

    // The Space API's topic routes reach the same topics.
    let via_space = client()
        .get(hubs[1].space("tp", "/topic/spaced"))
        .send()
        .await
        .unwrap();
    assert_eq!(via_space.status(), StatusCode::OK);
    let published = client()
        .post(hubs[0].space("tp", "/topic/spaced"))
        .header("content-type", "application/x-ndjson")
        .body("{\"s\":1}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    assert_eq!(read_lines(via_space, 1).await, ["{\"s\":1}"]);

    // Subscribers on all three hubs, producers on a and b at once.
    let mut subscribers = Vec::new();
    for hub in &hubs {
        let response = client()
            .get(api(hub, "/topic/readings"))
            .header("content-type", "text/plain")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        subscribers.push(response);
    }
    const EACH: usize = 5000;
    let publish = |hub: &SpaceHub, producer: &'static str| {
        client()
            .post(api(hub, "/topic/readings"))
            .header("content-type", "text/plain")
            .body(records(producer, EACH))
            .send()
    };
    let (pa, pb) = tokio::join!(publish(&hubs[0], "pa"), publish(&hubs[1], "pb"));
    assert_eq!(pa.unwrap().status(), StatusCode::OK);
    assert_eq!(pb.unwrap().status(), StatusCode::OK);
    let received = futures::future::join_all(
        subscribers
            .into_iter()
            .map(|response| read_lines(response, 2 * EACH)),
    )
    .await;
    for lines in &received {
        assert_eq!(lines.len(), 2 * EACH);
        assert_each_once_in_order(lines, &["pa", "pb"], EACH);
    }

    // Every hub lists the space's topics; the type is the space's.
    let (_, topics) = get_json(&api(&hubs[1], "/topics")).await;
    let names: Vec<&str> = topics
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["early", "readings", "spaced"], "{topics}");
    assert_error(
        client()
            .post(api(&hubs[2], "/topic/readings"))
            .header("content-type", "application/octet-stream")
            .body("bytes")
            .send()
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Acceptable Content-Type for readings is text/plain",
    )
    .await;

    // Deleting it on one hub ends every hub's subscribers.
    let late = client()
        .get(api(&hubs[1], "/topic/readings"))
        .send()
        .await
        .unwrap();
    let deleted = client()
        .delete(api(&hubs[0], "/topics/readings"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let ended = tokio::time::timeout(WAIT, late.bytes()).await;
    assert!(ended.is_ok(), "a subscriber outlived its deleted topic");
}
#[tokio::test]
async fn instance_outputs_and_plugins_publish_into_a_topic_read_on_another_hub() {
    let nats = Nats::start();
    let [a, b, c] = three_hubs(&nats, "io").await;
    let (_, hello) = upload(&a, &hello_package().await).await;
    let relay = crate::packages::archive_of("topic-relay", weir_tests::TOPIC_RELAY);
    let (_, relay) = upload(&b, &relay).await;
    let subscriber = client()
        .get(api(&c, "/topic/greetings"))
        .send()
        .await
        .unwrap();
    assert_eq!(subscriber.status(), StatusCode::OK);

    // An instance's output topic on a, a plugin publishing at run time on b.
    let greeter = start_with(
        &a,
        hello["id"].as_str().unwrap(),
        json!({ "outputTopic": "greetings" }),
    )
    .await;
    let publisher = start_with(
        &b,
        relay["id"].as_str().unwrap(),
        json!({ "appConfig": { "publish_to": "greetings" } }),
    )
    .await;
    for (hub, instance, line) in [(&a, &greeter, "world\n"), (&b, &publisher, "relayed\n")] {
        let sent = client()
            .post(api(hub, &format!("/instance/{instance}/input")))
            .header("content-type", "text/plain")
            .body(line)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), StatusCode::OK);
    }
    let mut lines = read_lines(subscriber, 2).await;
    lines.sort();
    assert_eq!(lines, ["Hello world!", "relayed"]);
}

#[tokio::test]
async fn a_full_topic_holds_its_producer_back_until_the_subscriber_reads() {
    let nats = Nats::start();
    let a = SpaceHub::start(&nats, "bp", "a", &["--topic-retention-mb", "1"]);
    let b = SpaceHub::start(&nats, "bp", "b", &["--topic-retention-mb", "1"]);
    wait_for_list(&a, "bp", |l| l.len() == 2).await;
    let subscriber = reqwest::Client::new()
        .get(api(&b, "/topic/slow"))
        .header("content-type", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    // 32 MiB against 1 MiB of retention and the sockets' buffers: the
    // producer cannot finish while nobody reads.
    const COUNT: usize = 320_000;
    let body: String = (0..COUNT)
        .map(|i| format!("{{\"n\":{i:08},\"pad\":\"{}\"}}\n", "x".repeat(80)))
        .collect();
    let producer = tokio::spawn(
        reqwest::Client::new()
            .post(api(&a, "/topic/slow"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!producer.is_finished(), "the producer was not held back");
    let (_, topics) = get_json(&api(&a, "/topics")).await;
    let retained = topics[0]["retainedBytes"].as_u64().unwrap();
    assert!(retained <= 1 << 20, "the topic holds {retained} bytes");

    let lines = read_lines(subscriber, COUNT).await;
    let published = producer.await.unwrap().unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    assert_eq!(lines.len(), COUNT);
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("{{\"n\":{i:08},")),
            "record {i}: {line}"
        );
    }
}
