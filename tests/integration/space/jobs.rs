//! Render jobs across a space: real `weir serve` hubs and `weir worker --nats` processes
//! on a real `nats-server -js`; the queue, leases and records live in JetStream, so a
//! job submitted to one hub runs on every machine's slots and outlives its hub.

mod failures;

use std::collections::{BTreeSet, HashSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::nats::Nats;
use super::{SpaceHub, client, get_json, wait_for_list};
use crate::support::hub::{WAIT, json_of};

/// How long a job may take to finish here (several processes share 2 cores).
const JOB_WAIT: Duration = Duration::from_secs(240);

/// A `weir worker --nats URL --space SPACE --name NAME --slots 1`, killed on drop.
struct SpaceWorker {
    child: Child,
}

impl SpaceWorker {
    fn start(nats: &Nats, space: &str, name: &str) -> SpaceWorker {
        let cache = crate::support::scratch().join("space-worker-cache");
        SpaceWorker::start_in(nats, space, name, &cache)
    }

    /// A worker with its own cache of components (it fetches every one from the space).
    fn start_in(nats: &Nats, space: &str, name: &str, cache: &std::path::Path) -> SpaceWorker {
        let log = std::env::temp_dir().join(format!("weir-space-worker-{space}-{name}.log"));
        let child = crate::support::weir()
            .args(["worker", "--nats", &nats.url(), "--space", space])
            .args(["--name", name, "--slots", "1"])
            .arg("--cache-dir")
            .arg(cache)
            .env("WEIR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        SpaceWorker { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SpaceWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn api(hub: &SpaceHub, path: &str) -> String {
    format!("{}/api/v1{path}", hub.url)
}

/// Uploads the plugin at `dir` to `hub` → its sequence id.
async fn upload(hub: &SpaceHub, dir: &'static str) -> String {
    let package = tokio::task::spawn_blocking(move || crate::support::pack(dir))
        .await
        .unwrap();
    let response = client()
        .post(api(hub, "/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(package).unwrap())
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn post(hub: &SpaceHub, path: &str, body: Value) -> (StatusCode, Value) {
    json_of(
        client()
            .post(api(hub, path))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// `POST /jobs` on `hub` → the job's id.
async fn submit(hub: &SpaceHub, body: Value) -> String {
    let (status, job) = post(hub, "/jobs", body).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job["id"].as_str().unwrap().to_string()
}

async fn job(hub: &SpaceHub, id: &str) -> Value {
    let (status, job) = get_json(&api(hub, &format!("/jobs/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

async fn tasks(hub: &SpaceHub, id: &str) -> Vec<Value> {
    let (status, tasks) = get_json(&api(hub, &format!("/jobs/{id}/tasks"))).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    tasks.as_array().unwrap().clone()
}

/// Polls job `id` on `hub` until `check` holds (within `within`).
async fn wait_job(
    hub: &SpaceHub,
    id: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, job) = get_json(&api(hub, &format!("/jobs/{id}"))).await;
        if status == StatusCode::OK && check(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} on {} never got there: {job}",
            hub.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn completed(hub: &SpaceHub, id: &str) -> Value {
    let job = wait_job(hub, id, JOB_WAIT, |j| {
        j["state"] != "queued" && j["state"] != "active"
    })
    .await;
    assert_eq!(job["state"], "completed", "{job}");
    job
}

/// Objects of job `job` in the space's artifact store: one per artifact stored once.
async fn stored_objects(nats: &Nats, space: &str, job: &str) -> Vec<String> {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let store = js
        .get_object_store(format!("weir-artifacts-{space}"))
        .await
        .unwrap();
    let mut list = store.list().await.unwrap();
    let mut names = Vec::new();
    while let Some(info) = list.next().await {
        let info = info.unwrap();
        if !info.deleted && info.name.starts_with(&format!("{job}/")) {
            names.push(info.name);
        }
    }
    names
}

/// Hubs `ids` of `space` with `extra` flags each, all listed.
async fn hubs(nats: &Nats, space: &str, hubs: &[(&str, &[&str])]) -> Vec<SpaceHub> {
    let started: Vec<SpaceHub> = hubs
        .iter()
        .map(|(id, extra)| SpaceHub::start(nats, space, id, extra))
        .collect();
    wait_for_list(&started[0], space, |l| l.len() == hubs.len()).await;
    started
}

/// Waits until `hub` lists `n` online workers of the space.
async fn wait_workers(hub: &SpaceHub, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT * 2;
    loop {
        let (_, workers) = get_json(&api(hub, "/workers")).await;
        let online: Vec<Value> = workers
            .as_array()
            .into_iter()
            .flatten()
            .filter(|w| w["state"] == "online")
            .cloned()
            .collect();
        if online.len() >= n {
            return online;
        }
        assert!(Instant::now() < deadline, "workers never came: {workers}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_hundred_frames_render_on_every_machine_each_stored_once() {
    let nats = Nats::start();
    let hubs = hubs(
        &nats,
        "farm",
        &[
            ("a", &["--slots", "1"]),
            ("b", &["--slots", "1"]),
            ("c", &["--slots", "0"]),
        ],
    )
    .await;
    let _workers = [
        SpaceWorker::start(&nats, "farm", "w1"),
        SpaceWorker::start(&nats, "farm", "w2"),
    ];
    upload(&hubs[0], weir_tests::MANDELBROT_DIR).await;
    // Two hubs' slots and two workers.
    wait_workers(&hubs[2], 4).await;

    let id = submit(
        &hubs[2],
        json!({"package": "mandelbrot", "frames": "1-100",
               "settings": {"width": 96, "height": 64, "max_iter": 200}}),
    )
    .await;
    let done = completed(&hubs[1], &id).await;
    assert_eq!(done["framesDone"], 100, "{done}");

    // Every hub tells the same truth.
    for hub in &hubs {
        let job = wait_job(hub, &id, WAIT, |j| j["state"] == "completed").await;
        assert_eq!(job["taskCounts"]["completed"], 100, "{job}");
    }
    let tasks = tasks(&hubs[0], &id).await;
    assert_eq!(tasks.len(), 100);
    let machines: BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["worker"].as_str().unwrap())
        .collect();
    assert!(
        machines.len() >= 3,
        "several machines rendered: {machines:?}"
    );
    assert!(tasks.iter().all(|t| t["state"] == "completed"), "{tasks:?}");

    let (_, artifacts) = get_json(&api(&hubs[2], &format!("/jobs/{id}/artifacts"))).await;
    let artifacts = artifacts.as_array().unwrap();
    let names: BTreeSet<String> = artifacts
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = (1..=100).map(|n| format!("frame-{n:06}.png")).collect();
    assert_eq!(names, expected);
    // Each downloads from any hub as a valid PNG of the size asked for, each its own.
    let mut digests = HashSet::new();
    for (n, name) in names.iter().enumerate() {
        let hub = &hubs[n % 3];
        let bytes = client()
            .get(api(hub, &format!("/jobs/{id}/artifacts/{name}")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (96, 64), "{name}");
        digests.insert(sha256(&bytes));
    }
    assert_eq!(digests.len(), 100, "100 distinct frames");
    // Stored once each: no object of a lost or doubled attempt is left.
    assert_eq!(stored_objects(&nats, "farm", &id).await.len(), 100);

    // A hub that joins afterwards knows the job whole: its end, its tasks, its artifacts.
    let late = SpaceHub::start(&nats, "farm", "d", &["--slots", "0"]);
    let job = wait_job(&late, &id, WAIT, |j| j["taskCounts"]["completed"] == 100).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert!(job["finishedAt"].is_string(), "the end is recorded: {job}");
    assert!(job["startedAt"].is_string(), "the start is recorded: {job}");
    let (_, artifacts) = get_json(&api(&late, &format!("/jobs/{id}/artifacts"))).await;
    assert_eq!(artifacts.as_array().unwrap().len(), 100);

    // The log tells the whole story on any hub.
    let log = client()
        .get(api(&hubs[1], &format!("/jobs/{id}/log")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("queued: 100 frames"), "{log}");
    assert_eq!(log.matches("completed on worker").count(), 100, "{log}");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A render-test job of `frames`, each frame taking `spin_ms`.
fn slow(frames: &str, spin_ms: u64) -> Value {
    json!({"package": "render-test", "frames": frames, "settings": {"spin_ms": spin_ms}})
}

#[tokio::test]
async fn the_job_outlives_the_hub_that_took_it() {
    let nats = Nats::start();
    let mut hubs = hubs(
        &nats,
        "outlive",
        &[("a", &["--slots", "1"]), ("c", &["--slots", "0"])],
    )
    .await;
    let _worker = SpaceWorker::start(&nats, "outlive", "w1");
    upload(&hubs[1], weir_tests::RENDER_TEST_DIR).await;
    wait_workers(&hubs[0], 2).await;
    let id = submit(&hubs[1], slow("1-12", 400)).await;
    wait_job(&hubs[0], &id, JOB_WAIT, |j| {
        j["taskCounts"]["completed"].as_u64() >= Some(2)
    })
    .await;

    // `weir job watch` on another hub follows it to its end, as on one hub.
    let watch = crate::support::weir()
        .args(["--hub", &hubs[0].url, "job", "watch", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    hubs[1].kill(); // SIGKILL of the hub that accepted the job, mid-render
    let done = completed(&hubs[0], &id).await;
    let watched = tokio::task::spawn_blocking(move || crate::support::finish(watch, WAIT))
        .await
        .unwrap();
    assert!(
        watched.status.success(),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    let said = String::from_utf8_lossy(&watched.stdout).to_string()
        + &String::from_utf8_lossy(&watched.stderr);
    assert!(said.contains("completed"), "{said}");
    assert_eq!(done["framesDone"], 12, "{done}");
    let (_, artifacts) = get_json(&api(&hubs[0], &format!("/jobs/{id}/artifacts"))).await;
    assert_eq!(artifacts.as_array().unwrap().len(), 12, "{artifacts}");
    assert_eq!(stored_objects(&nats, "outlive", &id).await.len(), 12);
}

#[tokio::test]
async fn cancel_from_another_hub_stops_the_running_renders_at_once() {
    let nats = Nats::start();
    let hubs = hubs(
        &nats,
        "stop",
        &[("a", &["--slots", "1"]), ("b", &["--slots", "0"])],
    )
    .await;
    let _worker = SpaceWorker::start(&nats, "stop", "w1");
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;
    wait_workers(&hubs[1], 2).await;
    let id = submit(&hubs[0], slow("1-6", 60_000)).await;
    // Both slots (hub a's and the worker's) render a frame of a minute.
    wait_job(&hubs[1], &id, JOB_WAIT, |j| j["taskCounts"]["active"] == 2).await;

    let asked = Instant::now();
    let (status, canceled) = post(&hubs[1], &format!("/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["state"], "canceled", "{canceled}");
    // The running attempts end: their slots write them canceled themselves.
    let deadline = Instant::now() + WAIT;
    loop {
        let tasks = tasks(&hubs[0], &id).await;
        let ran = tasks.iter().filter(|t| t["attempt"] == 1).count();
        let stopped = tasks.iter().filter(|t| t["state"] == "canceled").count();
        if ran == 2 && stopped == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renders did not stop: {tasks:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The slots are free again (a frame of a minute would hold them): a new job runs.
    let next = submit(&hubs[1], slow("1-2", 10)).await;
    completed(&hubs[0], &next).await;
    eprintln!(
        "cancel → renders stopped and the next job done in {:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn priority_orders_jobs_submitted_to_different_hubs() {
    let nats = Nats::start();
    let hubs = hubs(
        &nats,
        "order",
        &[("a", &["--slots", "0"]), ("b", &["--slots", "0"])],
    )
    .await;
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;
    let mut low = slow("1-3", 50);
    low["priority"] = json!(10);
    let mut high = slow("1-3", 50);
    high["priority"] = json!(90);
    let low = submit(&hubs[0], low).await;
    let high = submit(&hubs[1], high).await;
    // Both queued before any slot exists: one worker takes the higher priority first.
    wait_job(&hubs[0], &high, WAIT, |j| j["state"] == "queued").await;
    let _worker = SpaceWorker::start(&nats, "order", "w1");
    completed(&hubs[0], &low).await;
    completed(&hubs[0], &high).await;
    let high_end = tasks(&hubs[1], &high)
        .await
        .iter()
        .map(|t| t["finishedAt"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    let low_start = tasks(&hubs[1], &low)
        .await
        .iter()
        .map(|t| t["startedAt"].as_str().unwrap().to_string())
        .min()
        .unwrap();
    assert!(
        high_end <= low_start,
        "priority 90 ran first: it ended {high_end}, priority 10 began {low_start}"
    );
}

#[tokio::test]
async fn events_blocklists_and_retries_work_from_any_hub() {
    let nats = Nats::start();
    let hubs = hubs(
        &nats,
        "events",
        &[
            ("a", &["--slots", "0", "--blocklist-after", "1"]),
            ("b", &["--slots", "0"]),
        ],
    )
    .await;
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;
    let _workers = [
        SpaceWorker::start(&nats, "events", "w1"),
        SpaceWorker::start(&nats, "events", "w2"),
    ];
    wait_workers(&hubs[1], 2).await;
    // One task whose first try fails: the worker it failed on is blocklisted (after 1
    // failure, the accepting hub's setting) and the retry runs on the other one.
    let id = submit(
        &hubs[0],
        json!({"package": "render-test", "frames": "1-3", "chunkSize": 3,
               "settings": {"spin_ms": 20, "fail_attempts": 1}}),
    )
    .await;
    // The job's event stream on the other hub, to its end.
    let response = client()
        .get(api(&hubs[1], &format!("/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    tokio::time::timeout(JOB_WAIT, async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await
    .expect("the event stream ends when the job does");
    assert!(
        text.starts_with("id: ") && text.contains("event: task\n"),
        "{text}"
    );
    let last = text.trim_end().lines().last().unwrap();
    assert!(last.contains("\"state\":\"completed\""), "{last}");

    let job = completed(&hubs[1], &id).await;
    let blocked = job["blocklist"].as_array().unwrap();
    assert!(
        !blocked.is_empty(),
        "a worker that failed a task is blocklisted: {job}"
    );
    for task in tasks(&hubs[1], &id).await {
        let failed_on = task["failures"][0]["worker"].as_str().unwrap().to_string();
        assert_eq!(task["attempt"], 2, "{task}");
        assert_ne!(
            task["worker"],
            failed_on.as_str(),
            "the retry ran elsewhere: {task}"
        );
    }
}
