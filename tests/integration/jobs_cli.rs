//! Render jobs from the command line (`weir job`, `weir worker`), run as the
//! real binary against a real `weir serve` (docs/render-jobs.md).

mod manager;
mod restarts;
mod workers;

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
