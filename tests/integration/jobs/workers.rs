//! The remote worker protocol: leases, heartbeats, fencing, grants and limits.

use super::*;

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
