//! Render jobs through the HTTP API: the mandelbrot job end to end, ordering
//! policies, cancel/pause/resume, retries, blocklisting, timeouts, the
//! worker protocol (leases, lost workers, fencing) and recovery after a
//! restart or a SIGKILL of the manager.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use weir::hub::HubConfig;
use weir::jobs::Ordering;

use crate::hub_scale::ServerProcess;
use crate::hub_support::{TestHub, WAIT, assert_error, json_of};

async fn hub_with(slots: usize, tweak: impl FnOnce(&mut HubConfig)) -> TestHub {
    TestHub::with(
        |c| {
            c.jobs.slots = slots;
            tweak(c);
        },
        None,
    )
    .await
}

async fn submit(hub: &TestHub, body: Value) -> Value {
    let (status, job) = json_of(hub.post_json("/jobs", body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job
}

async fn get_job(hub: &TestHub, id: &str) -> Value {
    let (status, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

/// Polls the job until `done` holds.
async fn wait_for(hub: &TestHub, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let job = get_job(hub, id).await;
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_state(hub: &TestHub, id: &str, state: &str) -> Value {
    wait_for(hub, id, state, |j| j["state"] == state).await
}

async fn tasks(hub: &TestHub, id: &str) -> Vec<Value> {
    let (status, tasks) = json_of(hub.get(&format!("/jobs/{id}/tasks")).await).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    tasks.as_array().unwrap().clone()
}

async fn artifacts(hub: &TestHub, id: &str) -> Vec<Value> {
    let (status, list) = json_of(hub.get(&format!("/jobs/{id}/artifacts")).await).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

async fn bytes(hub: &TestHub, url: &str) -> (String, Vec<u8>) {
    let response = hub
        .client
        .get(format!("{}{url}", hub.base.trim_end_matches("/api/v1")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (ct, response.bytes().await.unwrap().to_vec())
}

async fn post(hub: &TestHub, path: &str) -> (StatusCode, Value) {
    json_of(hub.post_json(path, json!({})).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_frame_mandelbrot_job_renders_100_correct_deterministic_pngs() {
    let hub = hub_with(2, |_| {}).await;
    hub.upload(weir_tests::MANDELBROT_DIR).await;
    let settings = json!({"width": 96, "height": 64, "max_iter": 100});
    let first = submit(
        &hub,
        json!({"package": "mandelbrot", "frames": "1-100", "chunkSize": 10, "settings": settings}),
    )
    .await;
    assert_eq!(first["state"], "queued");
    assert_eq!(first["framesTotal"], 100);
    assert_eq!(first["tasksTotal"], 10);
    let id = first["id"].as_str().unwrap();
    let done = wait_state(&hub, id, "completed").await;
    assert_eq!(done["framesDone"], 100);
    assert_eq!(done["progress"], 100.0);
    assert_eq!(done["taskCounts"]["completed"], 10);
    assert!(done["finishedAt"].is_string() && done["startedAt"].is_string());

    let list = artifacts(&hub, id).await;
    assert_eq!(list.len(), 100);
    let mut hashes = Vec::new();
    for (i, artifact) in list.iter().enumerate() {
        let frame = i as i64 + 1;
        assert_eq!(artifact["name"], format!("frame-{frame:06}.png"));
        assert_eq!(artifact["frame"], frame);
        let (ct, data) = bytes(&hub, artifact["url"].as_str().unwrap()).await;
        assert_eq!(ct, "image/png");
        assert_eq!(artifact["size"], data.len());
        let sha = hex::encode(Sha256::digest(&data));
        assert_eq!(artifact["sha256"], sha);
        let decoder = png::Decoder::new(std::io::Cursor::new(&data));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (96, 64), "frame {frame}");
        assert!(
            pixels.iter().any(|&p| p != pixels[0]),
            "frame {frame} is blank"
        );
        hashes.push(sha);
    }
    let distinct: BTreeSet<_> = hashes.iter().collect();
    assert_eq!(distinct.len(), 100, "every zoom step is a different image");

    // The same frames again, in other chunks: byte-identical.
    let again = submit(&hub, json!({"package": "mandelbrot", "frames": {"start": 1, "end": 100}, "chunkSize": 7, "settings": settings})).await;
    let again_id = again["id"].as_str().unwrap();
    wait_state(&hub, again_id, "completed").await;
    let again_hashes: Vec<String> = artifacts(&hub, again_id)
        .await
        .iter()
        .map(|a| a["sha256"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(again_hashes, hashes);

    // The job log tells the story and ends with the job.
    let log = hub.read_to_end(&format!("/jobs/{id}/log")).await;
    assert!(
        log.contains("queued: 100 frames (1-100) in 10 tasks"),
        "{log}"
    );
    assert!(
        log.contains("frames 91-100 completed on worker local"),
        "{log}"
    );
    assert!(log.trim_end().ends_with("job completed"), "{log}");

    // Deleting removes the job and its files.
    let response = hub
        .client
        .delete(hub.url(&format!("/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        hub.get(&format!("/jobs/{id}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    assert!(!hub.dir.path().join("artifacts").join(id).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_are_checked_with_clear_errors() {
    let hub = hub_with(0, |_| {}).await;
    let (_, config) = json_of(hub.get("/config").await).await;
    assert_eq!(config["render"]["slots"], 0);
    assert_eq!(config["render"]["ordering"], "priority");
    assert_eq!(config["render"]["maxRetries"], 3);
    hub.upload(weir_tests::MANDELBROT_DIR).await;
    hub.upload(weir_tests::HELLO_DIR).await;
    let cases = [
        (
            json!({"frames": "1-2"}),
            StatusCode::BAD_REQUEST,
            "missing package",
        ),
        (
            json!({"package": "nope", "frames": "1"}),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            json!({"package": "hello", "frames": "1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "render package",
        ),
        (
            json!({"package": "mandelbrot"}),
            StatusCode::BAD_REQUEST,
            "missing frames",
        ),
        (
            json!({"package": "mandelbrot", "frames": "5-1"}),
            StatusCode::BAD_REQUEST,
            "ends before it starts",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1-x"}),
            StatusCode::BAD_REQUEST,
            "not N or N-M",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1-2000000"}),
            StatusCode::BAD_REQUEST,
            "at most 1000000",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "chunkSize": 0}),
            StatusCode::BAD_REQUEST,
            "chunkSize",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "settings": [1]}),
            StatusCode::BAD_REQUEST,
            "settings must be a JSON object",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "tags": ["a b"]}),
            StatusCode::BAD_REQUEST,
            "tag \"a b\"",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "colour": 1}),
            StatusCode::BAD_REQUEST,
            "unknown field `colour`",
        ),
    ];
    for (body, status, needle) in cases {
        assert_error(hub.post_json("/jobs", body).await, status, needle).await;
    }
    let response = hub
        .client
        .post(hub.url("/jobs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "Could not parse").await;
    assert_error(
        hub.get("/jobs?state=bogus").await,
        StatusCode::BAD_REQUEST,
        "unknown job state",
    )
    .await;
    for path in [
        "/jobs/nope",
        "/jobs/nope/tasks",
        "/jobs/nope/artifacts",
        "/jobs/nope/log",
        "/jobs/nope/events",
    ] {
        assert_error(hub.get(path).await, StatusCode::NOT_FOUND, "not found").await;
    }
    assert_error(
        hub.post_json("/jobs/nope/cancel", json!({})).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;

    // State rules: a queued job cannot be resumed or requeued.
    let job = submit(&hub, json!({"package": "mandelbrot", "frames": "1-3"})).await;
    let id = job["id"].as_str().unwrap();
    assert_error(
        hub.post_json(&format!("/jobs/{id}/resume"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "only paused jobs",
    )
    .await;
    assert_error(
        hub.post_json(&format!("/jobs/{id}/requeue"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "only completed, failed or canceled",
    )
    .await;
    assert_error(
        hub.post_json(&format!("/jobs/{id}/explode"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "unknown job action",
    )
    .await;
    assert_error(
        hub.get(&format!("/jobs/{id}/artifacts/frame-000001.png"))
            .await,
        StatusCode::NOT_FOUND,
        "no artifact",
    )
    .await;
    let (status, listed) = json_of(hub.get("/jobs?state=queued").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, none) = json_of(hub.get("/jobs?state=active").await).await;
    assert_eq!(none, json!([]));

    // A queued task is not requeued (nothing runs on a hub without slots).
    let queued_task = tasks(&hub, id).await[0]["id"].as_str().unwrap().to_string();
    let twice = hub
        .post_json(&format!("/tasks/{queued_task}/requeue"), json!({}))
        .await;
    assert_error(twice, StatusCode::CONFLICT, "is queued already").await;

    // The package of an unfinished job stays until the job is done with it.
    let delete = hub
        .client
        .delete(hub.url("/sequence/mandelbrot"))
        .send()
        .await
        .unwrap();
    assert_error(delete, StatusCode::CONFLICT, "unfinished render jobs").await;
    let (status, _) = post(&hub, &format!("/jobs/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK);
    let delete = hub
        .client
        .delete(hub.url("/sequence/mandelbrot"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::OK);
}

/// Runs three one-frame jobs (priorities 10, 90, 50) queued behind a
/// blocker on a one-slot hub and returns the order their tasks started.
async fn start_order(ordering: Ordering) -> Vec<String> {
    let hub = hub_with(1, |c| c.jobs.ordering = ordering).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let blocker = submit(&hub, json!({"package": "render-test", "frames": "1", "settings": {"spin_ms": 300}, "name": "blocker"})).await;
    wait_for(
        &hub,
        blocker["id"].as_str().unwrap(),
        "blocker to start",
        |j| j["state"] == "active",
    )
    .await;
    let mut ids = Vec::new();
    for (name, priority) in [("a", 10), ("b", 90), ("c", 50)] {
        let job = submit(&hub, json!({"package": "render-test", "frames": "1", "priority": priority, "name": name, "settings": {"spin_ms": 20}})).await;
        ids.push((name, job["id"].as_str().unwrap().to_string()));
    }
    let mut started = Vec::new();
    for (name, id) in &ids {
        let job = wait_state(&hub, id, "completed").await;
        let task = &tasks(&hub, id).await[0];
        assert!(job["startedAt"].is_string());
        started.push((
            task["startedAt"].as_str().unwrap().to_string(),
            name.to_string(),
        ));
    }
    started.sort();
    started.into_iter().map(|(_, name)| name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ordering_policy_is_honoured() {
    assert_eq!(start_order(Ordering::Priority).await, ["b", "c", "a"]);
    assert_eq!(start_order(Ordering::OldestFirst).await, ["a", "b", "c"]);
    assert_eq!(start_order(Ordering::NewestFirst).await, ["c", "b", "a"]);
    let mut random = start_order(Ordering::Random).await;
    random.sort();
    assert_eq!(random, ["a", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_changed_after_submit_reorders_the_queue() {
    // The slot has the tag the update gives the job, so it may run it.
    let hub = hub_with(1, |c| c.jobs.slot_tags = vec!["urgent".into()]).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let blocker = submit(
        &hub,
        json!({"package": "render-test", "frames": "1", "settings": {"spin_ms": 300}}),
    )
    .await;
    wait_for(
        &hub,
        blocker["id"].as_str().unwrap(),
        "blocker to start",
        |j| j["state"] == "active",
    )
    .await;
    let low = submit(&hub, json!({"package": "render-test", "frames": "1", "priority": 10, "settings": {"spin_ms": 20}})).await;
    let high = submit(&hub, json!({"package": "render-test", "frames": "1", "priority": 20, "settings": {"spin_ms": 20}})).await;
    let low_id = low["id"].as_str().unwrap();
    let request = hub
        .client
        .patch(hub.url(&format!("/jobs/{low_id}")))
        .json(&json!({"priority": 99, "tags": ["urgent"]}));
    let (status, patched) = json_of(request.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["priority"], 99);
    assert_eq!(patched["tags"], json!(["urgent"]));
    wait_state(&hub, low_id, "completed").await;
    let high_id = high["id"].as_str().unwrap();
    wait_state(&hub, high_id, "completed").await;
    let low_start = tasks(&hub, low_id).await[0]["startedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let high_start = tasks(&hub, high_id).await[0]["startedAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        low_start < high_start,
        "{low_start} should come before {high_start}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_render_within_a_second() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    // Frame 1 never returns on its own (a busy loop).
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1-3", "settings": {"hang_frames": [1]}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_for(&hub, id, "the hanging task to run", |j| {
        j["taskCounts"]["active"] == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    let (status, canceled) = post(&hub, &format!("/jobs/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["state"], "canceled");
    assert_eq!(canceled["taskCounts"]["canceled"], 3);
    // The one slot is free again: a new job runs to completion.
    let next = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    wait_state(&hub, next["id"].as_str().unwrap(), "completed").await;
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the slot was busy for {took:?} after cancel"
    );
    assert_error(
        hub.post_json(&format!("/jobs/{id}/cancel"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "it is canceled",
    )
    .await;
    // Requeue runs the canceled frames again (frame 1 still hangs).
    let (status, requeued) = post(&hub, &format!("/jobs/{id}/requeue")).await;
    assert_eq!(status, StatusCode::OK, "{requeued}");
    assert_eq!(
        requeued["taskCounts"]["queued"].as_u64().unwrap()
            + requeued["taskCounts"]["active"].as_u64().unwrap(),
        3
    );
    let (status, _) = post(&hub, &format!("/jobs/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_new_work_and_resume_finishes_the_job() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1-8", "settings": {"spin_ms": 60}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_for(&hub, id, "two frames", |j| {
        j["framesDone"].as_u64().unwrap() >= 2
    })
    .await;
    let (status, paused) = post(&hub, &format!("/jobs/{id}/pause")).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["state"], "paused");
    assert_eq!(
        paused["taskCounts"]["active"], 0,
        "the running task went back to the queue"
    );
    let done_at_pause = paused["framesDone"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let still = job_state(&hub, id).await;
    assert_eq!(still["state"], "paused");
    assert_eq!(
        still["framesDone"].as_u64().unwrap(),
        done_at_pause,
        "nothing runs while paused"
    );
    assert_error(
        hub.post_json(&format!("/jobs/{id}/pause"), json!({})).await,
        StatusCode::CONFLICT,
        "only queued or active",
    )
    .await;
    let (status, resumed) = post(&hub, &format!("/jobs/{id}/resume")).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["state"], "active");
    wait_state(&hub, id, "completed").await;
    let names: Vec<String> = artifacts(&hub, id)
        .await
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        (1..=8)
            .map(|f| format!("frame-{f:06}.txt"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_is_not_a_try_of_the_frame() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let settings = json!({"spin_ms": 1500, "echo_attempt": true});
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1", "settings": settings}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_for(&hub, id, "the frame running", |j| {
        j["taskCounts"]["active"] == 1
    })
    .await;
    let (status, paused) = post(&hub, &format!("/jobs/{id}/pause")).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    let (status, resumed) = post(&hub, &format!("/jobs/{id}/resume")).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    wait_state(&hub, id, "completed").await;
    let listed = artifacts(&hub, id).await;
    let (_, text) = bytes(&hub, listed[0]["url"].as_str().unwrap()).await;
    // The second lease of the task renders the frame's first try.
    assert_eq!(String::from_utf8(text).unwrap(), "frame 1 attempt 1\n");
    let tasks = tasks(&hub, id).await;
    assert_eq!(
        tasks[0]["attempt"], 2,
        "the lease was taken twice: {tasks:?}"
    );
}

async fn job_state(hub: &TestHub, id: &str) -> Value {
    get_job(hub, id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tasks_are_retried_until_their_retries_run_out() {
    let hub = hub_with(2, |c| c.jobs.blocklist_after = 100).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;

    // Flaky: every frame fails twice, then succeeds.
    let flaky = submit(&hub, json!({"package": "render-test", "frames": "1-4", "chunkSize": 2, "settings": {"fail_attempts": 2}})).await;
    let id = flaky["id"].as_str().unwrap();
    let done = wait_state(&hub, id, "completed").await;
    assert_eq!(done["errors"].as_array().unwrap().len(), 4, "{done:#}");
    for task in tasks(&hub, id).await {
        assert_eq!(task["state"], "completed");
        assert_eq!(task["attempt"], 3);
        let failures = task["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 2);
        assert!(
            failures[0]["error"]
                .as_str()
                .unwrap()
                .contains("fails on purpose"),
            "{task}"
        );
    }
    let (_, body) = bytes(
        &hub,
        &format!("/api/v1/jobs/{id}/artifacts/frame-000003.txt"),
    )
    .await;
    assert_eq!(body, b"frame 3\n");

    // Always failing: frame 3 fails maxRetries + 1 times, then the job fails
    // and its other tasks stop.
    let bad = submit(&hub, json!({"package": "render-test", "frames": "1-3", "maxRetries": 2, "settings": {"fail_frames": [3], "spin_ms": 5}})).await;
    let id = bad["id"].as_str().unwrap();
    let failed = wait_state(&hub, id, "failed").await;
    let errors = failed["errors"].as_array().unwrap();
    let last = errors.last().unwrap().as_str().unwrap();
    assert!(
        last.contains("frames 3 failed 3 times (maxRetries 2)"),
        "{last}"
    );
    assert!(last.contains("frame 3 fails on purpose"), "{last}");
    let failed_task = tasks(&hub, id)
        .await
        .into_iter()
        .find(|t| t["frameStart"] == 3)
        .unwrap();
    assert_eq!(failed_task["state"], "failed");
    assert_eq!(failed_task["failures"].as_array().unwrap().len(), 3);

    // A trap (panic) is a failure like any other, never a crash of the hub.
    let trap = submit(&hub, json!({"package": "render-test", "frames": "1", "maxRetries": 0, "settings": {"trap_frames": [1]}})).await;
    let failed = wait_state(&hub, trap["id"].as_str().unwrap(), "failed").await;
    assert!(
        failed["errors"][0].as_str().unwrap().contains("attempt 1"),
        "{failed}"
    );
    let (status, _) = json_of(hub.get("/health").await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_keeps_failing_a_job_is_blocklisted() {
    let hub = hub_with(1, |c| c.jobs.blocklist_after = 2).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1-5", "maxRetries": 10, "settings": {"fail_frames": [1, 2, 3, 4, 5]}})).await;
    let id = job["id"].as_str().unwrap();
    let failed = wait_state(&hub, id, "failed").await;
    assert_eq!(failed["blocklist"], json!(["local"]));
    // The count it was blocklisted on, per worker, as operators see it.
    let failures = failed["workerFailures"]["local"].as_u64().unwrap_or(0);
    assert!(failures >= 2, "{failed}");
    let last = failed["errors"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        last.contains("every worker that can take this job is blocklisted"),
        "{last}"
    );
    let log = hub.read_to_end(&format!("/jobs/{id}/log")).await;
    assert!(
        log.contains("worker local blocklisted for this job after 2 failed tasks"),
        "{log}"
    );
    // Requeue clears the blocklist and the job runs (and fails) again.
    let (status, requeued) = post(&hub, &format!("/jobs/{id}/requeue")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(requeued["blocklist"], json!([]));
    wait_state(&hub, id, "failed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_past_its_timeout_fails() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1", "maxRetries": 1, "taskTimeoutMs": 300, "settings": {"hang_frames": [1]}})).await;
    let id = job["id"].as_str().unwrap();
    let failed = wait_state(&hub, id, "failed").await;
    let task = &tasks(&hub, id).await[0];
    let failures = task["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2);
    assert!(
        failures.iter().all(|f| f["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 300 ms")),
        "{task}"
    );
    assert!(
        failed["errors"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("failed 2 times")
    );
    // The slot is free again.
    let next = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    wait_state(&hub, next["id"].as_str().unwrap(), "completed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_times_out_keeps_the_frames_it_finished() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    // One task of three frames; frame 2 hangs on its first try only.
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1-3", "chunkSize": 3, "taskTimeoutMs": 1500,
               "settings": {"hang_first_try_frames": [2], "echo_attempt": true}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_state(&hub, id, "completed").await;
    let task = &tasks(&hub, id).await[0];
    assert_eq!(task["failures"].as_array().unwrap().len(), 1, "{task}");
    assert_eq!(
        task["resumeFrom"], 2,
        "the second try started at frame 2: {task}"
    );
    // Frame 1 is the first try's, not rendered again; frames 2 and 3 the second's.
    for (frame, attempt) in [(1, 1), (2, 2), (3, 2)] {
        let (_, body) = bytes(
            &hub,
            &format!("/api/v1/jobs/{id}/artifacts/frame-{frame:06}.txt"),
        )
        .await;
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!("frame {frame} attempt {attempt}\n")
        );
    }
    assert_eq!(get_job(&hub, id).await["framesDone"], 3);
    let log = hub.read_to_end(&format!("/jobs/{id}/log")).await;
    assert!(
        log.contains("kept frames 1-1 of that attempt; the next one starts at frame 2"),
        "{log}"
    );
}

async fn register(hub: &TestHub, name: &str) -> String {
    let (status, worker) = json_of(
        hub.post_json("/workers", json!({"name": name, "slots": 1}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{worker}");
    assert!(worker["leaseMs"].as_u64().unwrap() > 0);
    worker["id"].as_str().unwrap().to_string()
}

async fn pickup(hub: &TestHub, worker: &str) -> (StatusCode, Value) {
    let response = hub
        .client
        .post(hub.url(&format!("/workers/{worker}/pickup")))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return (status, Value::Null);
    }
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_protocol_leases_retries_elsewhere_and_fences_lost_workers() {
    let hub = hub_with(0, |c| c.jobs.lease = Duration::from_millis(600)).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let one = register(&hub, "one").await;
    let two = register(&hub, "two").await;
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1", "settings": {"x": 1}}),
    )
    .await;
    let job_id = job["id"].as_str().unwrap();

    // Worker one leases the task and fails it.
    let (status, lease) = pickup(&hub, &one).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["attempt"], 1);
    assert_eq!(
        (lease["frameStart"].as_i64(), lease["frameEnd"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(lease["settings"]["x"], 1);
    let task = lease["taskId"].as_str().unwrap().to_string();
    // The package is served by digest to workers.
    let digest = lease["package"]["digest"].as_str().unwrap();
    let (ct, wasm) = bytes(&hub, lease["package"]["url"].as_str().unwrap()).await;
    assert_eq!(ct, "application/wasm");
    assert_eq!(hex::encode(Sha256::digest(&wasm)), digest);
    assert_error(
        hub.get("/packages/0000").await,
        StatusCode::NOT_FOUND,
        "no job uses",
    )
    .await;

    let (status, _) = json_of(
        hub.post_json(
            &format!("/tasks/{task}/fail"),
            json!({"workerId": one, "attempt": 1, "error": "out of ink"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Worker one does not get it back while worker two could take it.
    let (status, _) = pickup(&hub, &one).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, lease) = pickup(&hub, &two).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["attempt"], 2);
    assert_eq!(lease["taskId"], task.as_str());

    // Two goes silent: after the lease it is lost and the task is requeued.
    // One keeps heartbeating and stays online.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (status, _) = json_of(
            hub.post_json(&format!("/workers/{one}/heartbeat"), json!({}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let beat = hub
        .post_json(&format!("/workers/{two}/heartbeat"), json!({"tasks": []}))
        .await;
    assert_error(beat, StatusCode::NOT_FOUND, "register again").await;
    let (_, worker) = json_of(hub.get(&format!("/workers/{two}")).await).await;
    assert_eq!(worker["state"], "lost");
    let current = get_job(&hub, job_id).await;
    assert!(
        current["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("worker two lost")),
        "{current}"
    );
    // Its late report is fenced off: nothing it uploads or says counts.
    let late = hub
        .client
        .put(hub.url(&format!(
            "/tasks/{task}/artifacts/frame-000001.txt?attempt=2&frame=1"
        )))
        .body("stale")
        .send()
        .await
        .unwrap();
    assert_error(late, StatusCode::CONFLICT, "no longer held").await;
    let late = hub
        .post_json(
            &format!("/tasks/{task}/complete"),
            json!({"workerId": two, "attempt": 2}),
        )
        .await;
    assert_error(late, StatusCode::CONFLICT, "no longer held").await;

    // One is the only worker left: it gets the retry, heartbeats, uploads and completes.
    let (status, lease) = pickup(&hub, &one).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["attempt"], 3);
    let (status, reply) = json_of(hub.post_json(&format!("/workers/{one}/heartbeat"), json!({"tasks": [{"taskId": task, "attempt": 3, "progress": 0.5, "log": ["half way"]}]})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply, json!({"cancel": [], "reasons": {}, "drain": false}));
    assert_eq!(get_job(&hub, job_id).await["progress"], 50.0);
    let upload = hub
        .client
        .put(hub.url(&format!(
            "/tasks/{task}/artifacts/frame-000001.txt?attempt=3&frame=1"
        )))
        .header("content-type", "text/plain")
        .body("frame 1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CREATED);
    let wrong_frame = hub
        .client
        .put(hub.url(&format!("/tasks/{task}/artifacts/x.txt?attempt=3&frame=9")))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(wrong_frame, StatusCode::BAD_REQUEST, "not part of task").await;
    let bad_name = hub
        .client
        .put(hub.url(&format!(
            "/tasks/{task}/artifacts/.hidden?attempt=3&frame=1"
        )))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(bad_name, StatusCode::BAD_REQUEST, "artifact name").await;
    let (status, _) = json_of(
        hub.post_json(
            &format!("/tasks/{task}/complete"),
            json!({"workerId": one, "attempt": 3}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let done = get_job(&hub, job_id).await;
    assert_eq!(done["state"], "completed");
    let (ct, body) = bytes(
        &hub,
        &format!("/api/v1/jobs/{job_id}/artifacts/frame-000001.txt"),
    )
    .await;
    assert_eq!(
        (ct.as_str(), body.as_slice()),
        ("text/plain", b"frame 1\n".as_slice())
    );
    let log = hub.read_to_end(&format!("/jobs/{job_id}/log")).await;
    assert!(log.contains("[1] half way"), "{log}");

    // Disabled and draining workers get 423; unknown ones 404.
    let request = hub
        .client
        .patch(hub.url(&format!("/workers/{one}")))
        .json(&json!({"status": "disabled"}));
    assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    assert_error(
        hub.client
            .post(hub.url(&format!("/workers/{one}/pickup")))
            .send()
            .await
            .unwrap(),
        StatusCode::LOCKED,
        "disabled",
    )
    .await;
    let request = hub
        .client
        .patch(hub.url(&format!("/workers/{one}")))
        .json(&json!({"status": "draining"}));
    assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    let (_, reply) = json_of(
        hub.post_json(&format!("/workers/{one}/heartbeat"), json!({}))
            .await,
    )
    .await;
    assert_eq!(reply["drain"], true);
    let request = hub
        .client
        .patch(hub.url(&format!("/workers/{one}")))
        .json(&json!({"status": "asleep"}));
    assert_error(
        request.send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "enabled, disabled or draining",
    )
    .await;
    assert_error(
        hub.client
            .post(hub.url("/workers/nope/pickup"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "register again",
    )
    .await;
    let response = hub
        .client
        .delete(hub.url(&format!("/workers/{one}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        hub.get(&format!("/workers/{one}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_tells_a_remote_worker_to_stop_on_its_next_heartbeat() {
    let hub = hub_with(0, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let worker = register(&hub, "remote").await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    let (_, lease) = pickup(&hub, &worker).await;
    let task = lease["taskId"].as_str().unwrap();
    let (status, _) = post(
        &hub,
        &format!("/jobs/{}/cancel", job["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, reply) = json_of(
        hub.post_json(
            &format!("/workers/{worker}/heartbeat"),
            json!({"tasks": [{"taskId": task, "attempt": 1}]}),
        )
        .await,
    )
    .await;
    assert_eq!(reply["cancel"], json!([task]));
    assert_eq!(reply["reasons"][task], "the job was canceled", "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_tells_a_remote_worker_it_is_a_pause() {
    let hub = hub_with(0, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let worker = register(&hub, "w").await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    let (_, lease) = pickup(&hub, &worker).await;
    let task = lease["taskId"].as_str().unwrap();
    let paused = hub
        .post_json(
            &format!("/jobs/{}/pause", job["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    let (_, reply) = json_of(
        hub.post_json(
            &format!("/workers/{worker}/heartbeat"),
            json!({"tasks": [{"taskId": task, "attempt": 1}]}),
        )
        .await,
    )
    .await;
    assert_eq!(reply["cancel"], json!([task]));
    assert_eq!(reply["reasons"][task], "the job was paused", "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_events_stream_as_server_sent_events_until_the_job_ends() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1-3", "settings": {"spin_ms": 30}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let response = hub.get(&format!("/jobs/{id}/events")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    });
    read.await.expect("the event stream ends when the job does");
    // Every event has an id (for Last-Event-ID); the first is the job.
    assert!(text.starts_with("id: "), "{text}");
    assert!(
        text.lines().nth(1) == Some("event: job")
            && text.lines().nth(2).unwrap().starts_with("data: {"),
        "{text}"
    );
    assert!(text.contains("event: task\n"), "{text}");
    let last = text.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("data: ") && last.contains("\"state\":\"completed\""),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_jobs_survive_a_restart_and_a_remote_workers_task_waits_one_lease_for_it() {
    let lease = Duration::from_millis(1500);
    let hub = hub_with(0, |c| c.jobs.lease = lease).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let worker = register(&hub, "doomed").await;
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1-4", "chunkSize": 2}),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_string();
    // One task is running (leased), with a staged artifact, when the hub
    // goes away.
    let (status, lease_body) = pickup(&hub, &worker).await;
    assert_eq!(status, StatusCode::OK);
    let task = lease_body["taskId"].as_str().unwrap().to_string();
    let staged = hub
        .client
        .put(hub.url(&format!(
            "/tasks/{task}/artifacts/frame-000001.txt?attempt=1&frame=1"
        )))
        .body("half-done")
        .send()
        .await
        .unwrap();
    assert_eq!(staged.status(), StatusCode::CREATED);
    let staging = hub.dir.path().join("artifacts").join(".staging");
    let staged_file = staging.join(format!("{task}-1-frame-000001.txt"));
    assert!(
        staged_file.is_file()
            && staging
                .join(format!("{task}-1-frame-000001.txt.meta"))
                .is_file()
    );
    let dir = hub.stop();
    let hub = TestHub::on(
        dir,
        |c| {
            c.jobs.slots = 2;
            c.jobs.lease = lease;
        },
        None,
    )
    .await;
    // The attempt is still the worker's, with what it staged: it may come
    // back within a lease and report.
    let (_, tasks_now) = json_of(hub.get(&format!("/jobs/{id}/tasks")).await).await;
    let held = tasks_now
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task.as_str())
        .unwrap();
    assert_eq!(
        (held["state"].as_str(), held["worker"].as_str()),
        (Some("active"), Some(worker.as_str())),
        "{held}"
    );
    assert!(staged_file.is_file(), "what the attempt staged is kept");
    // It does not come back: lost after the lease, its task runs elsewhere.
    let done = wait_state(&hub, &id, "completed").await;
    assert_eq!(done["framesDone"], 4);
    assert!(!staged_file.exists(), "the lost attempt's files are gone");
    let (_, body) = bytes(
        &hub,
        &format!("/api/v1/jobs/{id}/artifacts/frame-000001.txt"),
    )
    .await;
    assert_eq!(
        body, b"frame 1\n",
        "the artifact comes from the attempt that completed"
    );
    let (_, worker) = json_of(hub.get(&format!("/workers/{worker}")).await).await;
    assert_eq!(worker["state"], "lost", "{worker}");
    let log = hub.read_to_end(&format!("/jobs/{id}/log")).await;
    assert!(log.contains("lost: no heartbeat"), "{log}");
    // The log written before the restart is still there.
    assert!(log.contains("queued: 4 frames (1-4) in 2 tasks"), "{log}");
    assert!(log.contains("frames 1-2 started on worker doomed"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_killed_with_sigkill_finishes_every_accepted_job_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let package = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::RENDER_TEST_DIR))
        .await
        .unwrap();
    let mut manager = ServerProcess::on(dir.path(), &["--slots", "2"]);
    let response = client
        .post(format!("{}/sequence", manager.base))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(&package).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, job) = json_of(
            client
                .post(format!("{}/jobs", manager.base))
                .json(&json!({"package": "render-test", "frames": "1-20", "chunkSize": 2, "settings": {"spin_ms": 40}}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    // Kill it mid-render: some frames are done, some running, most queued.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, job) = json_of(
            client
                .get(format!("{}/jobs/{}", manager.base, ids[0]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        if job["framesDone"].as_u64().unwrap() >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    manager.child.kill().unwrap(); // SIGKILL
    manager.child.wait().unwrap();
    let before: u64 = {
        let restarted = ServerProcess::on(dir.path(), &["--slots", "0"]);
        let (_, job) = json_of(
            client
                .get(format!("{}/jobs/{}", restarted.base, ids[0]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            job["taskCounts"]["active"], 0,
            "nothing runs on a pure manager: {job}"
        );
        job["framesDone"].as_u64().unwrap()
    };
    assert!(before >= 4, "completed frames are kept: {before}");
    let manager = ServerProcess::on(dir.path(), &["--slots", "2"]);
    for id in &ids {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, job) = json_of(
                client
                    .get(format!("{}/jobs/{id}", manager.base))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            if job["state"] == "completed" {
                break;
            }
            assert!(Instant::now() < deadline, "job did not finish: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, list) = json_of(
            client
                .get(format!("{}/jobs/{id}/artifacts", manager.base))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (1..=20).map(|f| format!("frame-{f:06}.txt")).collect();
        assert_eq!(names, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_packages_with_grants_run_only_on_the_hubs_own_slots() {
    let wasm = std::fs::read(weir_tests::RENDER_TEST).unwrap();
    let manifest = b"name = \"granted-render\"\nkind = \"render\"\ncomponent = \"render.wasm\"\n[grants]\nfiles = true\n";
    let package = crate::support::archive(
        "granted-render",
        &[("weir.toml", manifest), ("render.wasm", &wasm)],
    );
    let allow_files = |c: &mut HubConfig| c.grants.files = true;

    // A pure manager cannot run them at all: refused up front.
    let manager = hub_with(0, allow_files).await;
    manager.upload_file(&package).await;
    let refused = manager
        .post_json("/jobs", json!({"package": "granted-render", "frames": "1"}))
        .await;
    assert_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "only the hub's own render slots",
    )
    .await;

    // With local slots, a remote worker is never offered the task.
    let hub = hub_with(1, allow_files).await;
    hub.upload_file(&package).await;
    let remote = register(&hub, "remote").await;
    let job = submit(
        &hub,
        json!({"package": "granted-render", "frames": "1-4", "settings": {"spin_ms": 20}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    while get_job(&hub, id).await["state"] != "completed" {
        let (status, lease) = pickup(&hub, &remote).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{lease}");
        let _ = hub
            .post_json(&format!("/workers/{remote}/heartbeat"), json!({}))
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(tasks(&hub, id).await.iter().all(|t| t["worker"] == "local"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_carries_the_packages_limits_to_remote_workers() {
    let wasm = std::fs::read(weir_tests::RENDER_TEST).unwrap();
    let manifest = b"name = \"limited-render\"\nkind = \"render\"\ncomponent = \"render.wasm\"\n[limits]\nmemory_mb = 32\ncpu_ms = 500\ntimeout_ms = 4000\n";
    let package = crate::support::archive(
        "limited-render",
        &[("weir.toml", manifest), ("render.wasm", &wasm)],
    );
    let hub = hub_with(0, |_| {}).await;
    hub.upload_file(&package).await;
    let worker = register(&hub, "remote").await;
    let job = submit(&hub, json!({"package": "limited-render", "frames": "1"})).await;
    assert_eq!(
        job["taskTimeoutMs"], 4000,
        "the package's timeout caps the task's"
    );
    let (status, lease) = pickup(&hub, &worker).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(
        lease["limits"],
        json!({"memoryBytes": 32 << 20, "wallTimeMs": 4000, "cpuTimeMs": 500})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_event_stream_reports_jobs_workers_and_instances() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let response = hub.get("/events").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let worker = register(&hub, "dashboard-test").await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    let instance = hub.start_instance(&hello, json!({})).await;
    hub.input(&instance, "x\n").await;
    let mut text = String::new();
    let wanted = |text: &str| {
        text.contains(&format!("\"id\":\"{worker}\""))
            && text.contains("\"state\":\"completed\"")
            && text.contains(&format!(
                "\"id\":\"{instance}\",\"sequence\":\"{hello}\",\"status\":\"running\""
            ))
            && text.contains("\"exitcode\":0")
    };
    tokio::time::timeout(WAIT, async {
        while !wanted(&text) {
            let chunk = body.next().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("missing events in:\n{text}"));
    assert!(
        text.contains("event: worker\n") && text.contains("event: instance\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\"id\":\"{}\"", job["id"].as_str().unwrap())),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_can_be_rendered_again() {
    let hub = hub_with(1, |c| c.jobs.blocklist_after = 100).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    // Frame 2 fails every time: the job fails and frame 3's task is canceled.
    let job = submit(&hub, json!({"package": "render-test", "frames": "1-3", "maxRetries": 0, "settings": {"fail_frames": [2]}})).await;
    let id = job["id"].as_str().unwrap();
    wait_state(&hub, id, "failed").await;
    let all = tasks(&hub, id).await;
    let states: Vec<&str> = all.iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["completed", "failed", "canceled"]);
    // Requeue the canceled one: it runs, and the job ends failed again
    // (frame 2 is still failed), not stuck active.
    let third = all[2]["id"].as_str().unwrap();
    let (status, task) = post(&hub, &format!("/tasks/{third}/requeue")).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task["state"], "queued");
    let done = wait_for(&hub, id, "frame 3", |j| j["taskCounts"]["completed"] == 2).await;
    let done = if done["state"] == "failed" {
        done
    } else {
        wait_state(&hub, id, "failed").await
    };
    assert_eq!(done["framesDone"], 2);
    // Requeue a completed task: its frame is rendered again.
    let first = all[0]["id"].as_str().unwrap();
    let (status, _) = post(&hub, &format!("/tasks/{first}/requeue")).await;
    assert_eq!(status, StatusCode::OK);
    wait_for(&hub, id, "frame 1 again", |j| {
        j["taskCounts"]["completed"] == 2 && j["state"] == "failed"
    })
    .await;
    let first_task = tasks(&hub, id).await.remove(0);
    assert_eq!(first_task["attempt"], 2);
    assert_error(
        hub.post_json("/tasks/nope/requeue", json!({})).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    let (status, _) = post(&hub, &format!("/jobs/{id}/pause")).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a failed job cannot be paused"
    );
    let local = hub
        .client
        .delete(hub.url("/workers/local"))
        .send()
        .await
        .unwrap();
    assert_error(
        local,
        StatusCode::CONFLICT,
        "the hub's own slots cannot be removed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tagged_job_runs_only_on_workers_having_its_tags_and_says_why_it_waits() {
    let hub = hub_with(0, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let (status, gpu) = json_of(
        hub.post_json(
            "/workers",
            json!({"name": "gpu-box", "tags": ["gpu", "big"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{gpu}");
    let gpu = gpu["id"].as_str().unwrap().to_string();
    let any = register(&hub, "any-box").await;
    let tagged = submit(
        &hub,
        json!({"package": "render-test", "frames": "1", "tags": ["gpu"]}),
    )
    .await;
    let plain = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    // An untagged worker takes only untagged jobs: it skips the older gpu one.
    let (status, lease) = pickup(&hub, &any).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["jobId"], plain["id"]);
    let (status, _) = pickup(&hub, &any).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the gpu job is not for it");
    let (status, lease) = pickup(&hub, &gpu).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["jobId"], tagged["id"]);

    // A job needing a tag no worker has waits, and says why.
    let huge = submit(
        &hub,
        json!({"package": "render-test", "frames": "1", "tags": ["gpu", "huge"]}),
    )
    .await;
    let (status, _) = pickup(&hub, &gpu).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "gpu-box lacks the tag huge");
    let (_, waiting) = json_of(
        hub.get(&format!("/jobs/{}", huge["id"].as_str().unwrap()))
            .await,
    )
    .await;
    assert!(
        waiting["waiting"]
            .as_str()
            .is_some_and(|w| w.contains("no online worker has the job's tags gpu,huge")),
        "{waiting}"
    );
    let (_, listed) = json_of(hub.get("/jobs").await).await;
    let running = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == tagged["id"])
        .unwrap();
    assert!(running.get("waiting").is_none(), "{running}");
    let bad = hub
        .post_json("/workers", json!({"name": "x", "tags": ["no spaces"]}))
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "tag \"no spaces\"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_frames_of_one_task_cannot_store_artifacts_under_one_name() {
    let hub = hub_with(1, |c| c.jobs.blocklist_after = 100).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1-2", "chunkSize": 2, "maxRetries": 0, "settings": {"artifact_name": "same.txt"}})).await;
    let id = job["id"].as_str().unwrap();
    let failed = wait_state(&hub, id, "failed").await;
    let errors = failed["errors"].to_string();
    assert!(
        errors.contains("artifact \\\"same.txt\\\" was already produced by frame 1 of this task"),
        "{errors}"
    );
    assert!(
        errors.contains("frames 1-2 failed once (maxRetries 0)"),
        "{errors}"
    );
    let task = &tasks(&hub, id).await[0];
    assert_eq!(
        (task["state"].as_str(), task["progress"].as_f64()),
        (Some("failed"), Some(0.0)),
        "{task}"
    );
    assert!(
        artifacts(&hub, id).await.is_empty(),
        "the failed attempt stored nothing"
    );
    let staging = hub.dir.path().join("artifacts").join(".staging");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_cannot_store_artifacts_under_one_name() {
    let hub = hub_with(1, |c| c.jobs.blocklist_after = 100).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1-2", "maxRetries": 0, "settings": {"artifact_name": "same.txt"}})).await;
    let id = job["id"].as_str().unwrap();
    let failed = wait_state(&hub, id, "failed").await;
    let errors = failed["errors"].to_string();
    assert!(
        errors
            .contains("artifact \\\"same.txt\\\" was already produced by another task of this job"),
        "{errors}"
    );
    // The first frame's artifact is kept; nothing of the refused attempt is.
    let names: Vec<String> = artifacts(&hub, id)
        .await
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["same.txt"]);
    let staging = hub.dir.path().join("artifacts").join(".staging");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_registering_with_its_id_again_is_the_same_worker() {
    let hub = hub_with(0, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let registration = json!({"name": "box", "slots": 1, "id": "machine-1"});
    let (status, first) = json_of(hub.post_json("/workers", registration.clone()).await).await;
    assert_eq!(
        (status, first["id"].as_str()),
        (StatusCode::CREATED, Some("machine-1")),
        "{first}"
    );
    let job = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    let (status, lease) = pickup(&hub, "machine-1").await;
    assert_eq!(status, StatusCode::OK, "{lease}");

    // The machine restarted: its earlier run's task failed, the worker is one.
    let (status, again) = json_of(hub.post_json("/workers", registration).await).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (StatusCode::CREATED, Some("machine-1")),
        "{again}"
    );
    assert_eq!(again["tasksFailed"], 1, "{again}");
    let task = &tasks(&hub, job["id"].as_str().unwrap()).await[0];
    assert!(
        task["failures"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("worker box started again")),
        "{task}"
    );
    let (_, workers) = json_of(hub.get("/workers").await).await;
    assert_eq!(workers.as_array().unwrap().len(), 1, "{workers}");
    let bad = hub
        .post_json("/workers", json!({"name": "x", "id": "not an id"}))
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "worker id \"not an id\"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_within_its_failure_threshold_completes_with_its_failed_frames_listed() {
    let hub = hub_with(1, |c| c.jobs.blocklist_after = 100).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let tolerant = submit(&hub, json!({"package": "render-test", "frames": "1-10", "chunkSize": 1, "maxRetries": 0, "failureThreshold": 20, "settings": {"fail_frames": [3, 7]}})).await;
    let id = tolerant["id"].as_str().unwrap();
    let done = wait_state(&hub, id, "completed").await;
    assert_eq!(done["failedFrames"], json!(["3", "7"]), "{done}");
    assert_eq!(done["framesDone"], 8, "{done}");
    assert!(
        done["errors"]
            .to_string()
            .contains("the job goes on (1 of 10 tasks failed, failureThreshold 20%)"),
        "{done}"
    );
    // Past the threshold the job fails, as without one.
    let strict = submit(&hub, json!({"package": "render-test", "frames": "1-10", "chunkSize": 1, "maxRetries": 0, "failureThreshold": 20, "settings": {"fail_frames": [1, 2, 3]}})).await;
    let failed = wait_state(&hub, strict["id"].as_str().unwrap(), "failed").await;
    assert!(
        failed["errors"]
            .to_string()
            .contains("frames 3 failed once"),
        "{failed}"
    );
    let refused = hub
        .post_json(
            "/jobs",
            json!({"package": "render-test", "frames": "1", "failureThreshold": 101}),
        )
        .await;
    assert_error(
        refused,
        StatusCode::BAD_REQUEST,
        "failureThreshold is a percentage",
    )
    .await;
}
