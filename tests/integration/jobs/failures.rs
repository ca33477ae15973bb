//! The failure ladder: retries, blocklists, timeouts, artifact name clashes, the failure threshold.

use super::*;

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
