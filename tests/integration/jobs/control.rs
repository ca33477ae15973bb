//! Cancel, pause, resume and re-rendering one task.

use super::*;

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
