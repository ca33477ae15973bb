//! Load generator for weir topics, run against a live hub:
//!
//! ```sh
//! weir serve --listen 127.0.0.1:18400 --data-dir /tmp/tb &
//! cargo run --release -p weir --example topic_bench -- http://127.0.0.1:18400 plugins-dir
//! ```
//!
//! Measures ndjson records/s through one topic with 1 producer → 1 subscriber
//! and 8 producers → 8 subscribers (every subscriber receives every record),
//! and the end-to-end latency of one record through a two-instance pipeline
//! (HTTP → topic → `hello` → topic → `uppercase` → topic → HTTP).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};

const RECORDS_PER_PRODUCER: usize = 200_000;
const BATCH: usize = 1000;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let hub = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let packages = args.next();
    let api = format!("{hub}/api/v1");
    let client = reqwest::Client::new();
    for (producers, subscribers) in [(1, 1), (8, 8)] {
        let rate = fan(&client, &api, producers, subscribers).await;
        println!(
            "topic {producers} producer(s) → {subscribers} subscriber(s): {:.0} records/s published ({:.0} records/s delivered)",
            rate,
            rate * subscribers as f64
        );
    }
    if let Some(dir) = packages {
        pipeline_latency(&client, &api, &dir).await;
    }
}

/// Records/s published into one topic while every subscriber reads all of them.
async fn fan(client: &reqwest::Client, api: &str, producers: usize, subscribers: usize) -> f64 {
    let topic = format!("bench-{producers}x{subscribers}-{}", std::process::id());
    let total = producers * RECORDS_PER_PRODUCER;
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let response = client
            .get(format!("{api}/topic/{topic}"))
            .send()
            .await
            .unwrap();
        readers.push(tokio::spawn(async move {
            let mut stream = response.bytes_stream();
            let mut lines = 0usize;
            while lines < total {
                let chunk = stream.next().await.unwrap().unwrap();
                lines += chunk.iter().filter(|&&b| b == b'\n').count();
            }
            Instant::now()
        }));
    }
    let start = Instant::now();
    let writers: Vec<_> = (0..producers)
        .map(|p| {
            let (client, url) = (client.clone(), format!("{api}/topic/{topic}"));
            tokio::spawn(async move {
                let batches = (0..RECORDS_PER_PRODUCER / BATCH).map(move |b| {
                    let mut text = String::with_capacity(BATCH * 48);
                    for i in b * BATCH..(b + 1) * BATCH {
                        text.push_str(&format!("{{\"p\":{p},\"i\":{i},\"name\":\"name-{i}\"}}\n"));
                    }
                    Ok::<_, std::io::Error>(Bytes::from(text))
                });
                let response = client
                    .post(url)
                    .header("content-type", "application/x-ndjson")
                    .body(reqwest::Body::wrap_stream(futures::stream::iter(batches)))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let mut last = start;
    for reader in readers {
        last = last.max(reader.await.unwrap());
    }
    total as f64 / (last - start).as_secs_f64()
}

/// One record at a time through HTTP → hello → uppercase → HTTP.
async fn pipeline_latency(client: &reqwest::Client, api: &str, dir: &str) {
    let upload = |name: &str| {
        let body = std::fs::read(format!("{dir}/{name}.tar.gz")).unwrap();
        client
            .post(format!("{api}/sequence"))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let hello = id(upload("hello").await.unwrap().json().await.unwrap());
    let upper = id(upload("uppercase").await.unwrap().json().await.unwrap());
    let tag = std::process::id();
    let (t1, t2, t3) = (
        format!("lat-in-{tag}"),
        format!("lat-mid-{tag}"),
        format!("lat-out-{tag}"),
    );
    let start = |seq: String, input: String, output: String| {
        client
            .post(format!("{api}/sequence/{seq}/start"))
            .json(&json!({ "inputTopic": input, "outputTopic": output }))
            .send()
    };
    start(upper, t2.clone(), t3.clone()).await.unwrap();
    start(hello, t1.clone(), t2).await.unwrap();
    let mut out = client
        .get(format!("{api}/topic/{t3}"))
        .send()
        .await
        .unwrap()
        .bytes_stream();
    let mut latencies = Vec::new();
    for i in 0..1000 {
        let sent = Instant::now();
        client
            .post(format!("{api}/topic/{t1}"))
            .header("content-type", "application/x-ndjson")
            .body(format!("r{i}\n"))
            .send()
            .await
            .unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"\n") {
            got.extend_from_slice(
                &tokio::time::timeout(Duration::from_secs(10), out.next())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap(),
            );
        }
        latencies.push(sent.elapsed());
        assert_eq!(got, format!("HELLO R{i}!\n").as_bytes());
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "pipeline HTTP → topic → hello → topic → uppercase → topic → HTTP, 1000 records one at a time: p50 {:.3} ms, p99 {:.3} ms",
        p(0.5).as_secs_f64() * 1000.0,
        p(0.99).as_secs_f64() * 1000.0
    );
}
