//! What the hubs of a space share through JetStream: packages (object store
//! and catalog) and topics (a stream each), across real `weir serve`
//! processes and a real `nats-server -js`, NATS restarted under load.

mod topics;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::nats::Nats;
use super::{SpaceHub, client, get_json, wait_for_list};
use crate::support::hub::{WAIT, assert_error, json_of};

/// Three hubs `a`, `b`, `c` of `space`, all listed.
async fn three_hubs(nats: &Nats, space: &str) -> [SpaceHub; 3] {
    let hubs = ["a", "b", "c"].map(|id| SpaceHub::start(nats, space, id, &[]));
    wait_for_list(&hubs[0], space, |l| l.len() == 3).await;
    hubs
}

async fn hello_package() -> std::path::PathBuf {
    tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::HELLO_DIR))
        .await
        .unwrap()
}

fn api(hub: &SpaceHub, path: &str) -> String {
    format!("{}/api/v1{path}", hub.url)
}

async fn upload(hub: &SpaceHub, package: &std::path::Path) -> (StatusCode, Value) {
    let response = client()
        .post(api(hub, "/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(package).unwrap())
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn start(hub: &SpaceHub, sequence: &str) -> String {
    start_with(hub, sequence, json!({})).await
}

async fn start_with(hub: &SpaceHub, sequence: &str, request: Value) -> String {
    let response = client()
        .post(api(hub, &format!("/sequence/{sequence}/start")))
        .json(&request)
        .send()
        .await
        .unwrap();
    let (status, started) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    started["id"].as_str().unwrap().to_string()
}

/// Sends `input` to an instance and reads its whole output.
async fn run_through(hub: &SpaceHub, instance: &str, input: &'static str) -> String {
    let sent = client()
        .post(api(hub, &format!("/instance/{instance}/input")))
        .header("content-type", "text/plain")
        .body(input)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let output = client()
        .get(api(hub, &format!("/instance/{instance}/output")))
        .send()
        .await
        .unwrap();
    output.text().await.unwrap()
}

async fn ids(hub: &SpaceHub) -> Vec<String> {
    let (status, listed) = get_json(&api(hub, "/sequences")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_package_uploaded_to_one_hub_is_listed_started_and_deleted_on_every_hub() {
    let nats = Nats::start();
    let [a, b, c] = three_hubs(&nats, "pk").await;
    let package = hello_package().await;

    // A refused upload leaves the space's catalog as it was.
    let refused = client()
        .post(api(&a, "/sequence"))
        .body(b"not a package".to_vec())
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    assert!(ids(&b).await.is_empty());

    // The first upload of a JavaScript package compiles the runner (once per machine).
    let response = client()
        .post(api(&a, "/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(&package).unwrap())
        .timeout(crate::support::hub::COMPILE_WAIT)
        .send()
        .await
        .unwrap();
    let (status, uploaded) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    let sequence = uploaded["id"].as_str().unwrap().to_string();
    // Acknowledged means stored in the space: every hub lists it at once.
    for hub in [&a, &b, &c] {
        assert_eq!(ids(hub).await, std::slice::from_ref(&sequence));
    }
    let (status, info) = get_json(&api(&b, &format!("/sequence/{sequence}"))).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["config"]["name"], "hello", "{info}");

    // b has never held it: it fetches it by digest, compiles it and runs it.
    let on_b = start(&b, &sequence).await;
    assert_eq!(
        run_through(&b, &on_b, "world\n").await,
        "Hello world!\n",
        "the package fetched by hub b runs there"
    );
    let on_c = start(&c, "hello").await; // by package name too
    let (_, sequences) = get_json(&c.space("pk", "/sequences")).await;
    assert_eq!(sequences.as_array().unwrap().len(), 1, "{sequences}");
    assert_eq!(sequences[0]["hub"], "a", "uploaded to a: {sequences}");

    // Deleting is space-wide and waits for every hub's instances.
    let kill = |hub: &SpaceHub, instance: &str| {
        client()
            .post(api(hub, &format!("/instance/{instance}/_kill")))
            .json(&json!({}))
            .send()
    };
    tokio::time::timeout(WAIT, async {
        loop {
            let response = client()
                .delete(api(&a, &format!("/sequence/{sequence}")))
                .send()
                .await
                .unwrap();
            let (status, body) = json_of(response).await;
            if status == StatusCode::CONFLICT {
                let message = body["error"].as_str().unwrap_or_default().to_string();
                // Refused while the heartbeats list the instances of b and c.
                assert!(message.contains("Sequence in use"), "{body}");
                if message.contains("hub b") {
                    kill(&b, &on_b).await.unwrap();
                } else if message.contains("hub c") {
                    kill(&c, &on_c).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            break;
        }
    })
    .await
    .expect("the space-wide delete never went through");
    for hub in [&a, &b, &c] {
        assert!(ids(hub).await.is_empty());
    }
    // b's compiled copy went with it (its catalog watch dropped it).
    tokio::time::timeout(WAIT, async {
        loop {
            let (status, _) = get_json(&api(&b, &format!("/sequence/{sequence}"))).await;
            if status == StatusCode::NOT_FOUND {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("hub b kept its copy of a deleted package");
    assert_error(
        client()
            .post(api(&b, &format!("/sequence/{sequence}/start")))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
}

/// A subscriber's whole stream of a topic, as lines, once it has `want`.
async fn read_lines(response: reqwest::Response, want: usize) -> Vec<String> {
    let mut body = response.bytes_stream();
    let mut text = Vec::new();
    while text.iter().filter(|&&b| b == b'\n').count() < want {
        let chunk = tokio::time::timeout(WAIT, body.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "a subscriber waited too long, with {} of {want} records: {}",
                    text.iter().filter(|&&b| b == b'\n').count(),
                    String::from_utf8_lossy(&text).replace('\n', " ")
                )
            })
            .expect("the topic stream ended")
            .unwrap();
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Checks that `lines` holds each producer's records once, in its order.
fn assert_each_once_in_order(lines: &[String], producers: &[&str], each: usize) {
    let mut next: HashMap<&str, usize> = producers.iter().map(|p| (*p, 0)).collect();
    for line in lines {
        let (producer, n) = line.split_once('-').unwrap();
        let n: usize = n.parse().unwrap();
        let expected = next.get_mut(producer).unwrap();
        assert_eq!(n, *expected, "{producer}'s records out of order or twice");
        *expected += 1;
    }
    assert!(next.values().all(|&n| n == each), "{next:?}");
}

fn records(producer: &str, count: usize) -> String {
    (0..count).map(|i| format!("{producer}-{i}\n")).collect()
}

#[tokio::test]
async fn nats_restarted_under_load_loses_no_package_and_no_record() {
    let mut nats = Nats::start();
    let a = SpaceHub::start(&nats, "rs", "a", &[]);
    let b = SpaceHub::start(&nats, "rs", "b", &[]);
    wait_for_list(&a, "rs", |l| l.len() == 2).await;
    let (_, uploaded) = upload(&a, &hello_package().await).await;
    let sequence = uploaded["id"].as_str().unwrap().to_string();

    // No whole-request timeout: the stream outlives the restart.
    let subscriber = reqwest::Client::new()
        .get(api(&b, "/topic/load"))
        .header("content-type", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    // A producer that keeps writing, a record every few ms, while NATS is
    // stopped and started again under it.
    const COUNT: usize = 600;
    let body = futures::stream::iter(0..COUNT).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, std::io::Error>(format!("{{\"n\":{i}}}\n"))
    });
    let producer = tokio::spawn(
        client()
            .post(api(&a, "/topic/load"))
            .header("content-type", "application/x-ndjson")
            .body(reqwest::Body::wrap_stream(body))
            .timeout(Duration::from_secs(120))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    nats.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.restart();
    let restarted = std::time::Instant::now();
    let published = producer.await.unwrap().unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    eprintln!("producer done {:?} after the restart", restarted.elapsed());
    let lines = tokio::time::timeout(Duration::from_secs(60), read_lines(subscriber, COUNT))
        .await
        .expect("records were lost across the NATS restart");
    eprintln!(
        "subscriber done {:?} after the restart",
        restarted.elapsed()
    );
    let numbers: Vec<usize> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap() as usize
        })
        .collect();
    assert_eq!(
        numbers,
        (0..COUNT).collect::<Vec<_>>(),
        "each record once, in order"
    );

    // The package stored before the restart is still the space's.
    assert_eq!(ids(&b).await, std::slice::from_ref(&sequence));
    let instance = start(&b, &sequence).await;
    assert_eq!(
        run_through(&b, &instance, "again\n").await,
        "Hello again!\n"
    );

    // b's catalog watch lives through the restart: a deletion made on a
    // after it removes b's copy from b's disk.
    let copy = b._dir.path().join("sequences").join(&sequence);
    assert!(copy.is_dir(), "b holds the package it ran");
    tokio::time::timeout(WAIT, async {
        loop {
            let response = client()
                .delete(api(&a, &format!("/sequence/{sequence}")))
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::OK {
                break;
            }
            // 409 until b's heartbeat no longer lists the ended instance.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the package was never deleted");
    tokio::time::timeout(WAIT, async {
        while copy.exists() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("hub b kept the deleted package after the NATS restart");
}

#[tokio::test]
async fn an_upload_while_nats_is_away_is_refused_and_stores_nothing() {
    let mut nats = Nats::start();
    let a = SpaceHub::start(&nats, "away", "a", &[]);
    wait_for_list(&a, "away", |l| l.len() == 1).await;
    let package = hello_package().await;
    nats.stop();
    let started = std::time::Instant::now();
    let (status, body) = upload(&a, &package).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("the space's package store is unavailable")),
        "{body}"
    );
    eprintln!("refused after {:?}", started.elapsed());
    // Nothing half-stored: not on the hub, not in the space once NATS is back.
    assert!(
        !a._dir
            .path()
            .join("sequences")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
    nats.restart();
    tokio::time::timeout(WAIT, async {
        loop {
            let (status, listed) = get_json(&api(&a, "/sequences")).await;
            if status == StatusCode::OK && listed == json!([]) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the hub did not list an empty space after NATS came back");
    let (status, _) = upload(&a, &package).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same upload works once NATS is back"
    );
}

#[tokio::test]
async fn a_scramjet_javascript_sequence_uploaded_to_one_hub_runs_on_another() {
    let nats = Nats::start();
    let runners = tokio::task::spawn_blocking(|| crate::support::runners_dir().to_path_buf())
        .await
        .unwrap();
    let runners = runners.to_str().unwrap();
    let a = SpaceHub::start(&nats, "js", "a", &["--runners-dir", runners]);
    let b = SpaceHub::start(&nats, "js", "b", &["--runners-dir", runners]);
    wait_for_list(&a, "js", |l| l.len() == 2).await;
    let dir = std::path::Path::new(weir_tests::WORKSPACE_DIR)
        .join("../shared/peers/scramjet-hub/sequences/uppercase");
    let package = crate::support::archive_dir("space-peer-uppercase", &dir);
    // The first upload of a JavaScript package compiles the runner (once per machine).
    let response = client()
        .post(api(&a, "/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(&package).unwrap())
        .timeout(crate::support::hub::COMPILE_WAIT)
        .send()
        .await
        .unwrap();
    let (status, uploaded) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    let sequence = uploaded["id"].as_str().unwrap().to_string();
    // b fetches the package (source and package.json, no component) by its SHA-256 and
    // runs it on its own JavaScript runner.
    let instance = start(&b, &sequence).await;
    let output = run_through(&b, &instance, "from hub a\n").await;
    assert_eq!(output, "FROM HUB A\n");
}
