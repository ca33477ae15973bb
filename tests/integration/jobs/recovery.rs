//! Crashes and restarts of the manager lose no accepted job.

use super::*;

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
    let mut manager = HubProcess::on(dir.path(), &["--slots", "2"]);
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
        let restarted = HubProcess::on(dir.path(), &["--slots", "0"]);
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
    let manager = HubProcess::on(dir.path(), &["--slots", "2"]);
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
