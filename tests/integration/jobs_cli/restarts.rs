//! A manager that restarts mid-job: finished renders are kept and a watch says so.

use super::*;

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
