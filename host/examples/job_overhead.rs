//! Where the time of one render task goes, in process:
//!
//! ```sh
//! cargo run --release -p weir --example job_overhead -- PACKAGE.tar.gz
//! ```
//!
//! PACKAGE is a packed render package (`weir pack tests/fixtures/render-test`).
//! Prints the cost of one bare `Runtime::render` of frame 1 and the wall time
//! per task of a 2,000-task job on one local slot (lease, render, stage the
//! artifact, complete — every step written to SQLite).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use weir::hub::{Hub, HubConfig};
use weir::jobs::{FrameSpec, SubmitJob};
use weir::runtime::{FrameRequest, RenderOptions};

#[tokio::main]
async fn main() {
    let package = std::env::args()
        .nth(1)
        .expect("usage: job_overhead PACKAGE.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::new(dir.path());
    config.jobs.slots = 1;
    let hub = Hub::open(config).unwrap();
    let bytes = std::fs::read(&package).unwrap();
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]);
    let sequence = hub.add_sequence(body, None).await.unwrap();

    let n = 2000;
    let started = Instant::now();
    for frame in 0..n {
        let request = FrameRequest {
            job_id: "bench".into(),
            frame,
            attempt: 1,
            settings: "{}".into(),
        };
        hub.runtime()
            .render(&sequence.program, request, &RenderOptions::default())
            .await
            .unwrap();
    }
    let render = started.elapsed() / n as u32;
    println!("bare render of an empty frame: {} µs", render.as_micros());

    let jobs = hub.jobs();
    let started = Instant::now();
    let job = jobs
        .changes_for_new()
        .submit(
            sequence.job_source(),
            SubmitJob {
                frames: Some(FrameSpec::Range { start: 1, end: n }),
                ..SubmitJob::default()
            },
        )
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    while jobs.job_state(&id).is_some_and(|s| !s.is_terminal()) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let per_task = started.elapsed() / n as u32;
    println!(
        "job of {n} one-frame tasks on one slot: {} µs per task, of which {} µs scheduling and storage",
        per_task.as_micros(),
        per_task.saturating_sub(render).as_micros()
    );
}
