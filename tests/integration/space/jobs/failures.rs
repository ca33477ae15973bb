//! Render jobs of a space when machines fail: a worker killed mid-task, NATS restarted
//! mid-job, and the refusals (a full queue, a package no machine can run, a component
//! gone from the store).

use super::*;

#[tokio::test]
async fn a_killed_workers_task_runs_elsewhere_within_the_lease() {
    let nats = Nats::start();
    // A short lease: the consumer's ack wait is the accepting hub's.
    let hubs = hubs(
        &nats,
        "lease",
        &[("a", &["--slots", "0", "--lease-secs", "2"])],
    )
    .await;
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;
    let mut first = SpaceWorker::start(&nats, "lease", "w1");
    let online = wait_workers(&hubs[0], 1).await;
    let first_id = online[0]["id"].as_str().unwrap().to_string();
    let id = submit(&hubs[0], slow("1", 3000)).await;
    wait_job(&hubs[0], &id, JOB_WAIT, |j| j["taskCounts"]["active"] == 1).await;
    let _second = SpaceWorker::start(&nats, "lease", "w2");
    wait_workers(&hubs[0], 2).await;

    first.kill(); // SIGKILL, mid-frame
    let killed = Instant::now();
    let deadline = killed + JOB_WAIT;
    let retaken = loop {
        let task = tasks(&hubs[0], &id).await.remove(0);
        if task["attempt"] == 2 && task["state"] == "active" {
            break killed.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the task was not taken again: {task}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("worker SIGKILL → its task running elsewhere after {retaken:?} (lease 2 s)");
    completed(&hubs[0], &id).await;
    let task = tasks(&hubs[0], &id).await.remove(0);
    assert_eq!(task["state"], "completed", "{task}");
    assert_ne!(task["worker"], first_id.as_str(), "{task}");
    let failure = &task["failures"][0];
    assert_eq!(failure["worker"], first_id.as_str(), "{task}");
    assert!(
        failure["error"].as_str().unwrap().contains("lost"),
        "{task}"
    );
    assert_eq!(stored_objects(&nats, "lease", &id).await.len(), 1);
}

#[tokio::test]
async fn nats_restarted_mid_job_loses_nothing() {
    let mut nats = Nats::start();
    let hubs = hubs(
        &nats,
        "restart",
        &[("a", &["--slots", "1"]), ("b", &["--slots", "0"])],
    )
    .await;
    let _worker = SpaceWorker::start(&nats, "restart", "w1");
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;
    wait_workers(&hubs[1], 2).await;
    let id = submit(&hubs[1], slow("1-12", 300)).await;
    wait_job(&hubs[0], &id, JOB_WAIT, |j| {
        j["taskCounts"]["completed"].as_u64() >= Some(2)
    })
    .await;

    nats.restart();
    let done = completed(&hubs[1], &id).await;
    assert_eq!(done["framesDone"], 12, "{done}");
    let (_, artifacts) = get_json(&api(&hubs[0], &format!("/jobs/{id}/artifacts"))).await;
    assert_eq!(artifacts.as_array().unwrap().len(), 12, "{artifacts}");
    assert_eq!(stored_objects(&nats, "restart", &id).await.len(), 12);
}

#[tokio::test]
async fn what_the_space_cannot_run_is_refused_with_a_reason() {
    let nats = Nats::start();
    let hubs = hubs(
        &nats,
        "refuse",
        &[(
            "a",
            &[
                "--slots",
                "0",
                "--space-max-queued-tasks",
                "50",
                "--grant-scratch-mb",
                "8",
            ],
        )],
    )
    .await;
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;

    // More tasks than the queue holds: 503, and no job is left behind.
    let (status, body) = post(&hubs[0], "/jobs", slow("1-60", 0)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("queue"), "{body}");
    let (_, jobs) = get_json(&api(&hubs[0], "/jobs")).await;
    assert_eq!(jobs, json!([]), "a refused job is not kept");
    // What fits is taken.
    submit(&hubs[0], slow("1-40", 0)).await;

    // A package asking for grants runs only on hubs' own slots: none here.
    let manifest = "name = \"granted-render\"\nkind = \"render\"\ncomponent = \"probe.wasm\"\n[grants]\nscratch_mb = 1\n";
    let wasm = std::fs::read(weir_tests::GRANTS_RENDER_PROBE).unwrap();
    let package = crate::support::archive(
        "space-granted-render",
        &[("weir.toml", manifest.as_bytes()), ("probe.wasm", &wasm)],
    );
    let response = client()
        .post(api(&hubs[0], "/sequence"))
        .body(std::fs::read(package).unwrap())
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(
        &hubs[0],
        "/jobs",
        json!({"package": "granted-render", "frames": "1"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--slots"),
        "{body}"
    );
}

#[tokio::test]
async fn a_component_missing_from_the_store_fails_the_job_with_the_reason() {
    let nats = Nats::start();
    let hubs = hubs(&nats, "missing", &[("a", &["--slots", "0"])]).await;
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;
    let mut job = slow("1", 0);
    job["maxRetries"] = json!(1);
    let id = submit(&hubs[0], job).await;
    let digest = job_digest(&hubs[0], &id).await;
    // The component goes before any worker fetched it.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let store = js.get_object_store("weir-packages-missing").await.unwrap();
    store.delete(&digest).await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let _worker = SpaceWorker::start_in(&nats, "missing", "w1", cache.path());
    // Failed, with the reason and the end in its record.
    let failed = wait_job(&hubs[0], &id, JOB_WAIT, |j| {
        j["state"] == "failed" && j["errors"] != json!([]) && j["finishedAt"].is_string()
    })
    .await;
    let errors = failed["errors"].to_string();
    assert!(
        errors.contains("missing from the space's package store"),
        "{failed}"
    );
}

async fn job_digest(hub: &SpaceHub, id: &str) -> String {
    job(hub, id).await["package"]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_late_result_of_a_stalled_worker_is_dropped_and_each_frame_stored_once() {
    let nats = Nats::start();
    let hubs = hubs(
        &nats,
        "late",
        &[("a", &["--slots", "0", "--lease-secs", "2"])],
    )
    .await;
    upload(&hubs[0], weir_tests::RENDER_TEST_DIR).await;
    let slow_worker = SpaceWorker::start(&nats, "late", "w1");
    let online = wait_workers(&hubs[0], 1).await;
    let stalled_id = online[0]["id"].as_str().unwrap().to_string();
    let id = submit(&hubs[0], slow("1", 1500)).await;
    wait_job(&hubs[0], &id, JOB_WAIT, |j| j["taskCounts"]["active"] == 1).await;

    // The worker stalls (SIGSTOP) past its lease; another one takes the task and ends it.
    signal(&slow_worker, "-STOP");
    let _second = SpaceWorker::start(&nats, "late", "w2");
    let done = completed(&hubs[0], &id).await;
    assert_eq!(done["framesDone"], 1, "{done}");
    let task = tasks(&hubs[0], &id).await.remove(0);
    assert_eq!(task["attempt"], 2, "{task}");
    assert_ne!(task["worker"], stalled_id.as_str(), "{task}");

    // It wakes up and finishes its frame: the record names attempt 2, so its result
    // is not kept, and its object goes.
    signal(&slow_worker, "-CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let task = tasks(&hubs[0], &id).await.remove(0);
    assert_eq!(
        (task["attempt"].clone(), task["state"].clone()),
        (json!(2), json!("completed")),
        "{task}"
    );
    let (_, artifacts) = get_json(&api(&hubs[0], &format!("/jobs/{id}/artifacts"))).await;
    assert_eq!(artifacts.as_array().unwrap().len(), 1, "{artifacts}");
    let objects = stored_objects(&nats, "late", &id).await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(
        objects[0].contains("/2/"),
        "attempt 2's object is the one kept: {objects:?}"
    );
}

fn signal(worker: &SpaceWorker, which: &str) {
    let status = std::process::Command::new("kill")
        .arg(which)
        .arg(worker.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_hub_stopping_hands_its_running_tasks_back_without_a_failed_try() {
    let nats = Nats::start();
    let hubs = hubs(
        &nats,
        "handback",
        &[("a", &["--slots", "1"]), ("b", &["--slots", "0"])],
    )
    .await;
    upload(&hubs[1], weir_tests::RENDER_TEST_DIR).await;
    wait_workers(&hubs[1], 1).await;
    let id = submit(&hubs[1], slow("1", 3000)).await;
    wait_job(&hubs[1], &id, JOB_WAIT, |j| j["taskCounts"]["active"] == 1).await;
    let _worker = SpaceWorker::start(&nats, "handback", "w1");
    wait_workers(&hubs[1], 2).await;

    // SIGTERM: hub a stops, handing the task it renders back to the queue.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &hubs[0].child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    completed(&hubs[1], &id).await;
    let task = tasks(&hubs[1], &id).await.remove(0);
    assert_eq!(task["attempt"], 2, "{task}");
    assert_ne!(task["worker"], "a", "{task}");
    assert_eq!(
        task["failures"],
        json!([]),
        "a hand-back is not a failed try: {task}"
    );
}

#[tokio::test]
async fn workers_sharing_a_cache_dir_all_join_when_started_at_once() {
    let nats = Nats::start();
    let hubs = hubs(&nats, "shared-cache", &[("a", &["--slots", "0"])]).await;
    // The default cache dir is one per user: workers started together on one machine
    // share it (the components by digest), each with its own job store.
    let cache = crate::support::scratch().join("one-cache");
    let workers: Vec<SpaceWorker> = (1..=4)
        .map(|n| SpaceWorker::start_in(&nats, "shared-cache", &format!("w{n}"), &cache))
        .collect();
    let online = wait_workers(&hubs[0], workers.len()).await;
    let names: BTreeSet<&str> = online.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["w1", "w2", "w3", "w4"]),
        "{online:?}"
    );
}
