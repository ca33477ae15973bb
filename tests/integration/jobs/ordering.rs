//! Which job runs first: ordering policies, priority changes and tags.

use super::*;

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
