//! `weir worker`: rendering, timeouts, kills, signals, draining, refusals and back-off against
//! a real manager.

use super::*;

#[test]
fn two_workers_render_every_frame_exactly_once() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::MANDELBROT_DIR);
    let first = manager.worker("w1");
    let second = manager.worker("w2");
    manager.wait_for_workers("the workers did not register", |w| w.len() == 2);

    let id = manager.submit(&[
        "mandelbrot",
        "--frames",
        "1-24",
        "--chunk-size",
        "2",
        "--settings",
        r#"{"width": 160, "height": 120, "max_iter": 400}"#,
    ]);
    manager.completes(&id);
    assert_eq!(manager.artifact_names(&id), frame_names(1..=24, "png"));

    let workers: BTreeMap<String, String> = manager
        .remote_workers()
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect();
    let tasks = manager.json(&["job", "tasks", &id]);
    let mut used = BTreeSet::new();
    for task in tasks.as_array().unwrap() {
        assert_eq!(task["state"], "completed", "{task}");
        // What the worker measured comes with its report.
        let usage = &task["usage"];
        assert!(usage["cpuMs"].as_f64().unwrap() > 0.0, "{task}");
        assert!(usage["peakMemoryBytes"].as_u64().unwrap() > 0, "{task}");
        assert!(usage["wallMs"].as_u64().is_some(), "{task}");
        let worker = task["worker"].as_str().unwrap();
        used.insert(
            workers
                .get(worker)
                .cloned()
                .unwrap_or_else(|| panic!("{task}")),
        );
    }
    assert_eq!(used.len(), 2, "both workers rendered: {used:?}");

    // SIGTERM: the workers sign off and exit 0.
    manager.terminate(first);
    manager.terminate(second);
    assert!(manager.wait_worker(first).success());
    assert!(manager.wait_worker(second).success());
    manager.wait_for_workers("the workers did not sign off", |w| {
        w.iter().all(|w| w.state != "online")
    });
}

/// A render-test job whose frames take about 300 ms each.
fn slow_job(manager: &Manager, frames: &str) -> String {
    manager.submit(&["render-test", "--frames", frames, "--set", "spin_ms=300"])
}

#[test]
fn a_workers_task_that_times_out_keeps_the_frames_it_finished() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    manager.worker("w1");
    manager.wait_for_workers("the worker did not register", |w| w.len() == 1);
    // One task of three frames; frame 2 hangs on its first try only.
    let id = manager.submit(&[
        "render-test",
        "--frames",
        "1-3",
        "--chunk-size",
        "3",
        "--task-timeout-secs",
        "2",
        "--set",
        "hang_first_try_frames=[2]",
        "--set",
        "echo_attempt=true",
    ]);
    manager.completes(&id);
    let tasks = manager.json(&["job", "tasks", &id]);
    let task = &tasks[0];
    assert_eq!(task["failures"].as_array().unwrap().len(), 1, "{task}");
    assert_eq!(task["resumeFrom"], 2, "{task}");
    // Frame 1 is the first try's (reported by the worker as finished), not
    // rendered again.
    use sha2::Digest;
    let sha = |text: &str| hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let artifacts = manager.json(&["job", "artifacts", &id]);
    let by_frame: BTreeMap<i64, String> = artifacts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["frame"].as_i64().unwrap(),
                a["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(by_frame[&1], sha("frame 1 attempt 1\n"), "{artifacts}");
    assert_eq!(by_frame[&2], sha("frame 2 attempt 2\n"), "{artifacts}");
    assert_eq!(by_frame[&3], sha("frame 3 attempt 2\n"), "{artifacts}");
}

#[test]
fn a_killed_workers_task_is_requeued_and_every_frame_is_stored_once() {
    let mut manager = Manager::start(&["--slots", "0", "--lease-secs", "2"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let doomed = manager.worker("doomed");
    manager.worker("survivor");
    let id = slow_job(&manager, "1-12");

    let victim = manager.busy_worker("doomed");
    let held = victim.active_tasks[0].clone();
    manager.workers[doomed].kill().unwrap();
    manager.workers[doomed].wait().unwrap();

    manager.completes(&id);
    assert_eq!(manager.artifact_names(&id), frame_names(1..=12, "txt"));
    let tasks = manager.json(&["job", "tasks", &id]);
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 12);
    for task in tasks {
        assert_eq!(task["state"], "completed", "{task}");
    }
    let artifacts = manager.json(&["job", "artifacts", &id]);
    let task_of_frame: BTreeSet<(i64, &str)> = artifacts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["frame"].as_i64().unwrap(), a["taskId"].as_str().unwrap()))
        .collect();
    assert_eq!(task_of_frame.len(), 12, "{artifacts}");
    // The task the killed worker held failed once there (its lease was
    // lost), then completed elsewhere; unless the worker finished it in the
    // instant between being asked and being killed.
    let retried = tasks.iter().find(|t| t["id"] == held.as_str()).unwrap();
    if retried["worker"] != victim.id.as_str() {
        assert_eq!(
            retried["failures"][0]["worker"],
            victim.id.as_str(),
            "{retried}"
        );
    }
    let lost = manager.remote_workers();
    let lost = lost.iter().find(|w| w.id == victim.id).unwrap();
    assert_eq!(lost.state, "lost");
}

#[test]
fn a_terminated_worker_finishes_its_task_takes_no_more_and_signs_off() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let index = manager.worker("leaving");
    let id = manager.submit(&[
        "render-test",
        "--frames",
        "1-2",
        "--chunk-size",
        "1",
        "--set",
        "spin_ms=1500",
    ]);
    let worker = manager.busy_worker("leaving");
    let held = worker.active_tasks[0].clone();

    manager.terminate(index);
    assert!(manager.wait_worker(index).success());
    let tasks = manager.json(&["job", "tasks", &id]);
    let tasks = tasks.as_array().unwrap();
    let finished = tasks.iter().find(|t| t["id"] == held.as_str()).unwrap();
    assert_eq!(
        finished["state"], "completed",
        "the task it held: {finished}"
    );
    let other = tasks.iter().find(|t| t["id"] != held.as_str()).unwrap();
    assert_eq!(other["state"], "queued", "it took no more: {other}");
    for task in tasks {
        assert_eq!(task["failures"], json!([]), "{task}");
    }
    let left = manager.remote_workers();
    assert!(
        left.iter()
            .all(|w| w.id != worker.id || w.state != "online"),
        "{left:?}"
    );
    let log = std::fs::read_to_string(manager.dir.path().join("worker-leaving.log")).unwrap();
    assert!(
        log.contains("finishing the running tasks, then signing off"),
        "{log}"
    );
    assert!(
        log.contains(&format!("worker {} signed off", worker.id)),
        "{log}"
    );
}

#[test]
fn a_second_signal_stops_the_task_at_once_and_it_is_queued_again_without_a_failure() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let index = manager.worker("leaving");
    // No retries: a shutdown counted as a failure would fail the job.
    let id = manager.submit(&[
        "render-test",
        "--frames",
        "1",
        "--max-retries",
        "0",
        "--set",
        "spin_ms=20000",
    ]);
    let worker = manager.busy_worker("leaving");

    manager.terminate(index);
    std::thread::sleep(Duration::from_millis(300));
    manager.terminate(index);
    assert!(manager.wait_worker(index).success());
    let tasks = manager.json(&["job", "tasks", &id]);
    let task = &tasks[0];
    assert_eq!(task["state"], "queued", "{task}");
    assert_eq!(task["failures"], json!([]), "{task}");
    let job = manager.json(&["job", "info", &id]);
    assert_eq!(job["state"], "queued", "{job}");
    let log = std::fs::read_to_string(manager.dir.path().join("worker-leaving.log")).unwrap();
    assert!(log.contains("it goes back to the queue"), "{log}");
    assert!(
        log.contains(&format!("worker {} signed off", worker.id)),
        "{log}"
    );
}

#[test]
fn a_drained_worker_finishes_its_task_and_exits() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let index = manager.worker("drained");
    let id = slow_job(&manager, "1-2");
    let worker = manager.busy_worker("drained");
    let held = worker.active_tasks[0].clone();

    let worker_id = worker.id.clone();
    manager.api(|client| async move { client.patch_worker(&worker_id, "draining").await });
    assert!(manager.wait_worker(index).success());
    let tasks = manager.json(&["job", "tasks", &id]);
    let task = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == held.as_str())
        .unwrap();
    assert_eq!(task["state"], "completed", "{task}");
    let after = manager.json(&["job", "info", &id]);
    assert_eq!(after["framesDone"], 1, "{after}");
}

#[test]
fn a_worker_the_manager_forgot_registers_again_and_the_job_completes() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    manager.worker("forgotten");
    let id = slow_job(&manager, "1-4");
    let old = manager.busy_worker("forgotten");

    let old_id = old.id.clone();
    manager.api(|client| async move { client.delete_worker(&old_id).await });
    // It registers again, under its own stable id.
    manager.wait_for_workers("the worker did not register again", |workers| {
        workers
            .iter()
            .any(|w| w.name == "forgotten" && w.id == old.id && w.state == "online")
    });
    manager.completes(&id);
    assert_eq!(manager.artifact_names(&id), frame_names(1..=4, "txt"));
}

#[test]
fn token_is_required_by_the_manager_and_sent_by_job_and_worker() {
    let mut manager = Manager::start(&["--slots", "0", "--token", "s3cret"]);
    let refused = manager.refused(&["job", "list"]);
    assert!(
        refused.starts_with("error: missing bearer token"),
        "{refused}"
    );

    let package = pack(weir_tests::RENDER_TEST_DIR);
    let with_token = ["--token", "s3cret"];
    let send = [&with_token[..], &["seq", "send", package.to_str().unwrap()]].concat();
    manager.ok(&send);
    manager.worker_with("trusted", &with_token);
    let submit = [
        &with_token[..],
        &["job", "submit", "render-test", "--frames", "1-3", "--watch"],
    ]
    .concat();
    let stdout = manager.ok(&submit);
    assert!(stdout.contains(" completed: 3/3 frames in "), "{stdout}");
}

#[test]
fn a_job_no_worker_can_take_says_why_until_one_that_can_comes() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let id = manager.submit(&["render-test", "--frames", "1-2", "--tag", "gpu"]);
    let info = manager.ok(&["job", "info", &id]);
    assert!(info.contains("no worker is online"), "{info}");
    manager.worker("plain");
    manager.wait_for_workers("the plain worker did not register", |w| {
        w.iter().any(|w| w.state == "online")
    });
    let info = manager.ok(&["job", "info", &id]);
    assert!(
        info.contains("no online worker has the job's tags gpu"),
        "an untagged worker may not take it: {info}"
    );
    manager.worker_with("gpu-box", &["--tags", "gpu"]);
    manager.completes(&id);
    let tasks = manager.json(&["job", "tasks", &id]);
    let remote = manager.remote_workers();
    // Each says which weir it runs, for the operators' worker table.
    for worker in &remote {
        assert_eq!(worker.version, env!("CARGO_PKG_VERSION"), "{worker:?}");
    }
    let workers: BTreeMap<String, String> = remote.into_iter().map(|w| (w.id, w.name)).collect();
    for task in tasks.as_array().unwrap() {
        let by = &workers[task["worker"].as_str().unwrap()];
        assert_eq!(by, "gpu-box", "{task}");
    }
    // The table names workers as the job log does.
    let table = manager.ok(&["job", "tasks", &id]);
    assert_eq!(table.matches(" gpu-box ").count(), 2, "{table}");
}

#[test]
fn a_worker_refused_by_the_manager_exits_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, url) = crate::support::serve(None, |command| {
        command
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--token", "right", "--slots", "0"]);
    });
    let started = std::time::Instant::now();
    let output = crate::support::weir()
        .args([
            "worker",
            "--manager",
            &url,
            "--token",
            "wrong",
            "--slots",
            "1",
        ])
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env("WEIR_LOG", "info")
        .output()
        .unwrap();
    let _ = hub.kill();
    let _ = hub.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the manager refused this worker"),
        "{stderr}"
    );
    assert!(stderr.contains("--token"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it gave up at once"
    );
}

#[test]
fn a_worker_without_its_manager_backs_off_and_says_so_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("worker.log");
    let mut worker = crate::support::weir()
        .args([
            "worker",
            "--manager",
            &format!("http://127.0.0.1:{port}"),
            "--slots",
            "1",
        ])
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env("WEIR_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    let _ = worker.kill();
    let _ = worker.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    let failures = log.matches("registering with the manager failed").count();
    assert_eq!(failures, 1, "one line for the outage: {log}");
    assert!(log.contains("waiting up to 30s between tries"), "{log}");
}
#[test]
fn weir_worker_lists_and_steers_the_managers_workers() {
    let mut manager = Manager::start(&["--slots", "1"]);
    let index = manager.worker("steered");
    manager.wait_for_workers("the worker did not register", |w| {
        w.iter().any(|w| w.name == "steered" && w.state == "online")
    });
    let list = manager.ok(&["worker", "list"]);
    assert!(list.starts_with("NAME"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("steered ") && l.contains("online")),
        "{list}"
    );
    assert!(list.lines().any(|l| l.starts_with("local ")), "{list}");
    let info = manager.ok(&["worker", "info", "steered"]);
    assert!(info.contains("state") && info.contains("online"), "{info}");

    let disabled = manager.ok(&["worker", "disable", "steered"]);
    assert!(disabled.ends_with("is disabled\n"), "{disabled}");
    let enabled = manager.json(&["worker", "enable", "steered"]);
    assert_eq!(enabled["status"], "enabled", "{enabled}");
    let refused = manager.refused(&["worker", "remove", "nobody"]);
    assert!(refused.contains("no worker \"nobody\""), "{refused}");
    // Draining: the worker finishes (nothing here), takes no more and exits.
    let drained = manager.ok(&["worker", "drain", "steered"]);
    assert!(drained.ends_with("is draining\n"), "{drained}");
    assert!(manager.wait_worker(index).success());
}

#[test]
fn a_restarted_worker_keeps_its_identity_and_its_blocklist_until_it_is_cleared() {
    let mut manager = Manager::start(&["--slots", "0", "--blocklist-after", "1"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let first = manager.worker("steady");
    let before = manager.wait_for_workers("the worker did not register", |w| {
        w.iter().any(|w| w.name == "steady" && w.state == "online")
    });
    let id = before
        .iter()
        .find(|w| w.name == "steady")
        .unwrap()
        .id
        .clone();
    // A second worker of the same name on the same cache gets its own id.
    let twin = manager.worker("steady");
    let both = manager.wait_for_workers("the twin did not register", |w| {
        w.iter()
            .filter(|w| w.name == "steady" && w.state == "online")
            .count()
            == 2
    });
    assert_eq!(both.iter().filter(|w| w.id == id).count(), 1, "{both:?}");
    manager.terminate(twin);
    assert!(manager.wait_worker(twin).success());

    // It fails one task of a job: blocklisted for it, and as nobody else
    // may run the job, the job fails.
    let job = manager.submit(&["render-test", "--frames", "1", "--set", "fail_attempts=1"]);
    let (code, _) = manager.watch(&job);
    assert_eq!(code, Some(1));
    let info = manager.json(&["job", "info", &job]);
    assert_eq!(info["blocklist"], json!([id.clone()]), "{info}");
    // Restarted (the process gone, a new one on the same cache): the same
    // worker, with its counters; a reconnect does not escape the blocklist.
    manager.workers[first].kill().unwrap();
    manager.workers[first].wait().unwrap();
    manager.worker("steady");
    let after = manager.wait_for_workers("the worker did not come back", |w| {
        w.iter().any(|w| w.id == id && w.state == "online")
    });
    // One entry: the twin signed off, and the restart is no new worker.
    assert_eq!(
        after.iter().filter(|w| w.name == "steady").count(),
        1,
        "{after:?}"
    );
    assert!(
        after.iter().any(|w| w.id == id && w.tasks_failed == 1),
        "{after:?}"
    );
    let info = manager.json(&["job", "info", &job]);
    assert_eq!(info["blocklist"], json!([id.clone()]), "{info}");
    // Cleared, it takes the job's tasks again.
    let cleared = manager.json(&["job", "unblock", &job]);
    assert_eq!(cleared["blocklist"], json!([]), "{cleared}");
    manager.ok(&["job", "requeue", &job]);
    manager.completes(&job);
}
