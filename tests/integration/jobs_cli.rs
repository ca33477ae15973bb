//! Render jobs from the command line (`weir job`, `weir worker`), run as the
//! real binary against a real `weir serve` (docs/render-jobs.md).

mod manager;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::pack;
use manager::Manager;

/// `frame-000001.EXT` … for `frames`, each once.
fn frame_names(frames: std::ops::RangeInclusive<i64>, ext: &str) -> BTreeMap<String, usize> {
    frames.map(|n| (format!("frame-{n:06}.{ext}"), 1)).collect()
}

/// The width and height of the PNG at `path`.
fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(path).unwrap()));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

#[test]
fn submit_watch_renders_mandelbrot_and_artifacts_download_writes_the_pngs() {
    let manager = Manager::start(&["--slots", "2"]);
    // A package file is uploaded first.
    let package = pack(weir_tests::MANDELBROT_DIR);
    let output = manager.run(&[
        "job",
        "submit",
        package.to_str().unwrap(),
        "--frames",
        "1-6",
        "--chunk-size",
        "2",
        "--set",
        "width=48",
        "--set",
        "height=32",
        "--name",
        "zoom",
        "--watch",
    ]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        manager.logs()
    );
    let id = stdout
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("submitted job "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    // Not a terminal: plain progress lines, then the summary.
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("job {id} completed: 6/6 frames in ")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("job {id} ")), "{stdout}");

    let listed = manager.ok(&["job", "artifacts", &id]);
    assert!(listed.starts_with("NAME "), "{listed}");
    assert!(listed.contains("frame-000006.png  6 "), "{listed}");

    let download = manager.dir.path().join("frames");
    let said = manager.ok(&[
        "job",
        "artifacts",
        &id,
        "--download",
        download.to_str().unwrap(),
    ]);
    assert!(said.starts_with("downloaded 6 artifacts ("), "{said}");
    let mut files: Vec<String> = std::fs::read_dir(&download)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let expected: Vec<String> = frame_names(1..=6, "png").into_keys().collect();
    assert_eq!(files, expected);
    for file in &files {
        assert_eq!(png_size(&download.join(file)), (48, 32), "{file}");
    }
    let job = manager.json(&["job", "info", &id]);
    assert_eq!(job["state"], "completed");
    assert_eq!(job["name"], "zoom");
    assert_eq!(job["framesDone"], 6);
}

#[test]
fn job_commands_list_show_pause_resume_update_cancel_and_delete() {
    // No slots and no workers: the job stays queued until it is acted on.
    let manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let id = manager.submit(&[
        "render-test",
        "--frames",
        "1-10",
        "--name",
        "held",
        "--priority",
        "70",
        "--tag",
        "t1",
        "--settings",
        r#"{"spin_ms": 10}"#,
    ]);

    let list = manager.ok(&["job", "list"]);
    assert!(list.starts_with("ID "), "{list}");
    let row = list.lines().find(|line| line.starts_with(&id)).unwrap();
    assert!(
        row.contains(" held ") && row.contains(" queued ") && row.contains(" 0/10 "),
        "{row}"
    );
    assert_eq!(
        manager.json(&["job", "list", "--state", "queued"])[0]["id"],
        id.as_str()
    );
    assert_eq!(
        manager.json(&["job", "list", "--state", "completed"]),
        Value::Array(vec![])
    );

    // `-` is the job submitted last.
    assert_eq!(manager.json(&["job", "info", "-"])["id"], id.as_str());
    let info = manager.ok(&["job", "info", &id]);
    for expected in [
        "state ",
        "queued",
        "priority ",
        "70",
        "t1",
        "render-test",
        "\"spin_ms\":10",
    ] {
        assert!(info.contains(expected), "{expected:?} in {info}");
    }

    assert_eq!(
        manager.ok(&["job", "pause", &id]),
        format!("paused {id} (paused)\n")
    );
    let refused = manager.refused(&["job", "pause", &id]);
    assert!(refused.starts_with("error: "), "{refused}");
    assert_eq!(
        manager.ok(&["job", "resume", &id]),
        format!("resumed {id} (queued)\n")
    );

    let updated = manager.json(&["job", "update", &id, "--priority", "10", "--tag", "t2"]);
    assert_eq!(updated["priority"], 10);
    assert_eq!(updated["tags"], serde_json::json!(["t2"]));

    let tasks = manager.ok(&["job", "tasks", &id]);
    assert_eq!(tasks.lines().count(), 11, "{tasks}");
    assert!(
        tasks.lines().nth(1).unwrap().starts_with("0      1 "),
        "{tasks}"
    );

    assert_eq!(
        manager.ok(&["job", "cancel", &id]),
        format!("canceled {id} (canceled)\n")
    );
    let (code, stdout) = manager.watch(&id);
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(stdout, format!("job {id} canceled: 0/10 frames done\n"));
    // The log of an ended job is replayed and ends.
    manager.ok(&["job", "log", &id]);

    let requeued = manager.json(&["job", "requeue", &id]);
    assert_eq!(requeued["state"], "queued");
    assert_eq!(
        manager.ok(&["job", "delete", &id]),
        format!("deleted {id}\n")
    );
    let refused = manager.refused(&["job", "info", &id]);
    assert!(
        refused.starts_with("error: ") && refused.contains(&id),
        "{refused}"
    );
}

#[test]
fn watch_exits_1_with_the_error_when_the_job_fails() {
    let manager = Manager::start(&["--slots", "1"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let output = manager.run(&[
        "job",
        "submit",
        "render-test",
        "--frames",
        "1-3",
        "--set",
        "fail_frames=[2]",
        "--max-retries",
        "0",
        "--watch",
    ]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.contains(" failed: "), "{stdout}");
    assert!(last.contains("frame 2 fails on purpose"), "{stdout}");
}

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
fn one_task_is_requeued_by_the_index_weir_job_tasks_shows() {
    let manager = Manager::start(&["--slots", "1"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let id = manager.submit(&["render-test", "--frames", "1-3", "--chunk-size", "1"]);
    manager.completes(&id);
    let again = manager.ok(&["job", "requeue", &id, "--task", "1"]);
    assert_eq!(again, format!("requeued frames 2-2 of job {id}\n"));
    manager.completes(&id);
    let refused = manager.refused(&["job", "requeue", &id, "--task", "7"]);
    assert!(
        refused.contains(&format!("job {id} has no task 7")),
        "{refused}"
    );
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

#[test]
fn a_render_finished_while_the_manager_restarts_is_kept_not_rendered_again() {
    let mut manager = Manager::start(&["--slots", "0"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    manager.worker("patient");
    // One task of three frames of ~1 s each.
    let id = manager.submit(&[
        "render-test",
        "--frames",
        "1-3",
        "--chunk-size",
        "3",
        "--set",
        "spin_ms=1000",
    ]);
    let worker = manager.busy_worker("patient");
    let task = worker.active_tasks[0].clone();
    thread_sleep_ms(1300); // frame 1 uploaded, frame 2 rendering
    manager.restart(Duration::from_secs(2));
    manager.completes(&id);
    let tasks = manager.json(&["job", "tasks", &id]);
    let done = &tasks[0];
    assert_eq!(done["id"], task.as_str());
    assert_eq!(
        (done["state"].as_str(), done["attempt"].as_u64()),
        (Some("completed"), Some(1)),
        "the first attempt's result was kept: {done}"
    );
    assert_eq!(done["failures"], json!([]), "{done}");
    assert_eq!(manager.artifact_names(&id), frame_names(1..=3, "txt"));
    let workers = manager.remote_workers();
    assert_eq!(workers.len(), 1, "still one worker: {workers:?}");
    assert_eq!(workers[0].id, worker.id);
}

fn thread_sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn a_watch_outlives_a_manager_restart_and_says_so() {
    let mut manager = Manager::start(&["--slots", "1"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    let id = manager.submit(&[
        "render-test",
        "--frames",
        "1-12",
        "--chunk-size",
        "1",
        "--set",
        "spin_ms=500",
    ]);
    let watch = crate::support::weir()
        .args(["--hub", &manager.url(), "job", "watch", &id])
        .env_remove("WEIR_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    manager.restart(Duration::from_secs(2));
    let output = watch.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("the manager is unreachable"), "{stdout}");
    assert!(stdout.contains("reconnecting"), "{stdout}");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with(&format!("job {id} completed: 12/12 frames in ")),
        "{stdout}"
    );
    // Watching the ended job gives its own duration, not the watch's ~0 s.
    let (code, again) = manager.watch(&id);
    assert_eq!(code, Some(0));
    assert!(!again.contains("frames in 0.0s"), "{again}");
}

#[test]
fn redirected_logs_are_plain_text() {
    let mut manager = Manager::start(&["--slots", "1"]);
    manager.send(weir_tests::RENDER_TEST_DIR);
    manager.worker("plain-log");
    let id = manager.submit(&["render-test", "--frames", "1-2"]);
    manager.completes(&id);
    let logs = manager.logs();
    assert!(
        logs.contains("weir"),
        "the hub and the worker logged: {logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes in files: {logs:?}"
    );
}
