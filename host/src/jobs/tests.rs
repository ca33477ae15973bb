//! The job manager's ladder, scheduler and recovery, driven directly on a real SQLite store in
//! a temporary data dir: what the HTTP tests cover end to end, here one rule at a time.

use super::*;
use crate::package::Manifest;

const DIGEST: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

fn manifest() -> Manifest {
    Manifest::from_toml(
        "name = \"frames\"\nversion = \"1.0.0\"\nkind = \"render\"\n",
        Some("component.wasm"),
    )
    .expect("a render manifest")
}

fn config() -> JobsConfig {
    JobsConfig {
        slots: 0,
        max_retries: 1,
        blocklist_after: 2,
        ..JobsConfig::default()
    }
}

/// A manager on a fresh data dir (kept in the returned guard).
fn manager(config: JobsConfig) -> (tempfile::TempDir, Arc<JobManager>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let jobs = JobManager::open(dir.path(), config, Arc::new(crate::events::Feed::new()))
        .expect("the manager opens");
    (dir, jobs)
}

fn submit(jobs: &JobManager, request: SubmitJob) -> String {
    let manifest = manifest();
    let package = JobPackage {
        id: "seq-1",
        digest: DIGEST,
        manifest: &manifest,
        entry_kind: "render",
    };
    let body = jobs.submit(package, request).expect("the job is queued");
    body["id"].as_str().expect("a job id").to_string()
}

fn frames(spec: &str) -> SubmitJob {
    SubmitJob {
        frames: Some(serde_json::from_value(Value::String(spec.into())).expect("frames")),
        ..SubmitJob::default()
    }
}

fn register(jobs: &JobManager, id: &str, tags: &[&str]) {
    jobs.register(
        id,
        1,
        tags.iter().map(|t| t.to_string()).collect(),
        Some(id),
        "test",
    )
    .expect("the worker registers");
}

fn lease(jobs: &JobManager, worker: &str) -> Lease {
    jobs.pickup(worker)
        .expect("the worker may pick up")
        .expect("a task is waiting")
}

fn state(jobs: &JobManager, id: &str) -> String {
    jobs.get(id).expect("the job")["state"]
        .as_str()
        .expect("a state")
        .to_string()
}

fn stored(_: &str, _: &str) -> bool {
    true
}

#[test]
fn a_leased_task_completes_and_a_late_report_of_an_old_attempt_is_fenced_off() {
    let (_dir, jobs) = manager(config());
    register(&jobs, "w1", &[]);
    let job = submit(&jobs, frames("1-2"));
    assert_eq!(state(&jobs, &job), "queued");
    let first = lease(&jobs, "w1");
    assert_eq!(state(&jobs, &job), "active");
    assert_eq!(first.spec.attempt, 1);
    jobs.complete(&first.task_id, "w1", 1, None)
        .expect("the holder completes it");
    let again = jobs.complete(&first.task_id, "w1", 1, None);
    assert!(matches!(again, Err(JobError::Conflict(_))), "{again:?}");
    let second = lease(&jobs, "w1");
    let stale = jobs.complete(&second.task_id, "w1", 7, None);
    assert!(
        matches!(stale, Err(JobError::Conflict(_))),
        "another attempt: {stale:?}"
    );
    jobs.complete(&second.task_id, "w1", second.spec.attempt, None)
        .expect("completes");
    assert_eq!(state(&jobs, &job), "completed");
    assert_eq!(jobs.get(&job).unwrap()["framesDone"], 2);
}

#[test]
fn a_failed_task_is_retried_on_another_worker_then_fails_the_job_out_of_retries() {
    let (_dir, jobs) = manager(config());
    register(&jobs, "w1", &[]);
    register(&jobs, "w2", &[]);
    let job = submit(&jobs, frames("1-3"));
    let first = lease(&jobs, "w1");
    jobs.fail(&first.task_id, "w1", 1, "boom").expect("fails");
    let view = jobs.get(&job).unwrap();
    assert_eq!(
        view["state"], "queued",
        "retried: nothing ran to the end yet"
    );
    assert_eq!(view["taskCounts"]["queued"], 3);
    // w1 does not get the task it failed while w2 could take it.
    let other = lease(&jobs, "w1");
    assert_ne!(other.task_id, first.task_id);
    let retry = lease(&jobs, "w2");
    assert_eq!(retry.task_id, first.task_id);
    assert_eq!(retry.spec.attempt, 2);
    assert_eq!(retry.spec.frame_attempt, 2, "the frames' second try");
    jobs.fail(&retry.task_id, "w2", 2, "boom again")
        .expect("fails");
    let view = jobs.get(&job).unwrap();
    assert_eq!(view["state"], "failed", "maxRetries 1: two failures end it");
    assert_eq!(view["taskCounts"]["failed"], 1);
    assert_eq!(view["taskCounts"]["canceled"], 2, "the rest stop with it");
    let errors = view["errors"].to_string();
    assert!(errors.contains("boom again"), "{errors}");
    let late = jobs.complete(&other.task_id, "w1", other.spec.attempt, None);
    assert!(matches!(late, Err(JobError::Conflict(_))), "{late:?}");
}

#[test]
fn a_worker_that_fails_blocklist_after_tasks_takes_no_more_of_the_job() {
    let mut config = config();
    config.max_retries = 5;
    let (_dir, jobs) = manager(config);
    register(&jobs, "w1", &[]);
    register(&jobs, "w2", &[]);
    let job = submit(&jobs, frames("1-4"));
    for _ in 0..2 {
        let lease = lease(&jobs, "w1");
        jobs.fail(&lease.task_id, "w1", lease.spec.attempt, "bad gpu")
            .expect("fails");
    }
    let view = jobs.get(&job).unwrap();
    assert_eq!(view["blocklist"], serde_json::json!(["w1"]));
    assert_eq!(view["workerFailures"]["w1"], 2);
    assert!(jobs.pickup("w1").unwrap().is_none(), "blocklisted");
    assert!(jobs.pickup("w2").unwrap().is_some(), "others still take it");
    jobs.unblock(&job, Some("w1")).expect("unblocks");
    assert!(jobs.pickup("w1").unwrap().is_some(), "unblocked");
}

#[test]
fn when_every_worker_is_blocklisted_the_job_fails_instead_of_waiting() {
    let mut config = config();
    config.max_retries = 5;
    config.blocklist_after = 1;
    let (_dir, jobs) = manager(config);
    register(&jobs, "w1", &[]);
    let job = submit(&jobs, frames("1"));
    let lease = lease(&jobs, "w1");
    jobs.fail(&lease.task_id, "w1", 1, "bad").expect("fails");
    let view = jobs.get(&job).unwrap();
    assert_eq!(view["state"], "failed");
    assert!(view["errors"].to_string().contains("blocklisted"), "{view}");
}

#[test]
fn pause_stops_running_tasks_without_a_failure_and_resume_runs_them_again() {
    let (_dir, jobs) = manager(config());
    register(&jobs, "w1", &[]);
    let job = submit(&jobs, frames("1-2"));
    let running = lease(&jobs, "w1");
    jobs.control(&job, JobAction::Pause, &stored)
        .expect("pauses");
    assert_eq!(state(&jobs, &job), "paused");
    let beat = jobs.heartbeat("w1", Vec::new()).expect("a heartbeat");
    assert_eq!(
        beat.cancel,
        vec![running.task_id.clone()],
        "the worker is told to stop"
    );
    assert_eq!(beat.reasons[&running.task_id], "the job was paused");
    assert!(
        jobs.pickup("w1").unwrap().is_none(),
        "a paused job starts nothing"
    );
    let refused = jobs.control(&job, JobAction::Pause, &stored);
    assert!(matches!(refused, Err(JobError::Conflict(_))), "{refused:?}");
    jobs.control(&job, JobAction::Resume, &stored)
        .expect("resumes");
    let again = lease(&jobs, "w1");
    assert_eq!(
        again.task_id, running.task_id,
        "the same task, first in the queue"
    );
    let (tasks, _) = jobs.tasks(&job, None, 10).unwrap();
    assert_eq!(
        tasks[0]["failures"],
        serde_json::json!([]),
        "a pause is no failure"
    );
}

#[test]
fn cancel_ends_the_job_and_requeue_runs_what_did_not_complete() {
    let (_dir, jobs) = manager(config());
    register(&jobs, "w1", &[]);
    let job = submit(&jobs, frames("1-3"));
    let done = lease(&jobs, "w1");
    jobs.complete(&done.task_id, "w1", 1, None).unwrap();
    let running = lease(&jobs, "w1");
    jobs.control(&job, JobAction::Cancel, &stored)
        .expect("cancels");
    let view = jobs.get(&job).unwrap();
    assert_eq!(view["state"], "canceled");
    assert_eq!(view["taskCounts"]["canceled"], 2);
    assert_eq!(view["taskCounts"]["completed"], 1);
    let late = jobs.complete(&running.task_id, "w1", running.spec.attempt, None);
    assert!(matches!(late, Err(JobError::Conflict(_))), "{late:?}");
    let gone = |_: &str, _: &str| false;
    let refused = jobs.control(&job, JobAction::Requeue, &gone);
    assert!(
        matches!(&refused, Err(JobError::Conflict(m)) if m.contains("deleted or replaced")),
        "{refused:?}"
    );
    jobs.control(&job, JobAction::Requeue, &stored)
        .expect("requeues");
    let view = jobs.get(&job).unwrap();
    assert_eq!(view["state"], "active", "one task stayed completed");
    assert_eq!(view["taskCounts"]["queued"], 2);
    assert_eq!(view["taskCounts"]["completed"], 1);
}

#[test]
fn one_task_of_an_ended_job_can_be_queued_again() {
    let (_dir, jobs) = manager(config());
    register(&jobs, "w1", &[]);
    let job = submit(&jobs, frames("1"));
    let lease1 = lease(&jobs, "w1");
    jobs.complete(&lease1.task_id, "w1", 1, None).unwrap();
    assert_eq!(state(&jobs, &job), "completed");
    let busy = jobs.requeue_task(&lease1.task_id, &stored);
    assert!(busy.is_ok(), "{busy:?}");
    assert_eq!(state(&jobs, &job), "queued");
    let twice = jobs.requeue_task(&lease1.task_id, &stored);
    assert!(matches!(twice, Err(JobError::Conflict(_))), "{twice:?}");
    let rerun = lease(&jobs, "w1");
    assert_eq!(rerun.spec.attempt, 2);
}

#[test]
fn priority_then_age_orders_the_queue_and_tags_route_jobs() {
    let (_dir, jobs) = manager(config());
    register(&jobs, "plain", &[]);
    register(&jobs, "gpu", &["gpu"]);
    let low = submit(
        &jobs,
        SubmitJob {
            priority: Some(10),
            ..frames("1")
        },
    );
    let high = submit(
        &jobs,
        SubmitJob {
            priority: Some(90),
            ..frames("1")
        },
    );
    let tagged = submit(
        &jobs,
        SubmitJob {
            tags: vec!["gpu".into()],
            priority: Some(99),
            ..frames("1")
        },
    );
    assert_eq!(
        lease(&jobs, "plain").spec.job_id,
        high,
        "an untagged worker skips tagged jobs"
    );
    jobs.pickup("plain").unwrap(); // one slot: busy now
    assert_eq!(
        lease(&jobs, "gpu").spec.job_id,
        tagged,
        "highest priority it may take"
    );
    let view = jobs.get(&low).unwrap();
    assert_eq!(view["state"], "queued");
}

#[test]
fn a_lost_worker_s_task_goes_back_to_the_queue_as_a_failure() {
    let mut config = config();
    config.lease = Duration::from_millis(50);
    let (_dir, jobs) = manager(config);
    register(&jobs, "w1", &[]);
    register(&jobs, "w2", &[]);
    let job = submit(&jobs, frames("1"));
    let lost = lease(&jobs, "w1");
    std::thread::sleep(Duration::from_millis(120));
    jobs.heartbeat("w2", Vec::new()).expect("w2 stays");
    jobs.sweep();
    let workers = jobs.workers();
    let w1 = workers.iter().find(|w| w["id"] == "w1").unwrap();
    assert_eq!(w1["state"], "lost");
    let (tasks, _) = jobs.tasks(&job, None, 10).unwrap();
    assert_eq!(tasks[0]["state"], "queued");
    assert!(
        tasks[0]["failures"].to_string().contains("lost"),
        "{}",
        tasks[0]
    );
    let retry = lease(&jobs, "w2");
    assert_eq!(retry.task_id, lost.task_id);
    assert!(
        matches!(jobs.pickup("w1"), Err(PickupError::Unknown(_))),
        "register again"
    );
}

#[test]
fn a_task_past_its_timeout_fails() {
    let (_dir, jobs) = manager(config());
    register(&jobs, "w1", &[]);
    let job = submit(
        &jobs,
        SubmitJob {
            task_timeout_ms: Some(30),
            ..frames("1")
        },
    );
    let running = lease(&jobs, "w1");
    std::thread::sleep(Duration::from_millis(80));
    jobs.heartbeat("w1", Vec::new()).unwrap();
    jobs.sweep();
    let (tasks, _) = jobs.tasks(&job, None, 10).unwrap();
    assert!(
        tasks[0]["failures"].to_string().contains("timed out"),
        "{}",
        tasks[0]
    );
    let beat = jobs.heartbeat("w1", Vec::new()).unwrap();
    assert!(
        beat.cancel.contains(&running.task_id),
        "the worker is told to stop"
    );
}

#[test]
fn a_restart_requeues_the_local_slots_tasks_and_keeps_a_live_remote_worker_s() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.slots = 1;
    let (job, local_task, remote_task) = {
        let jobs = JobManager::open(
            dir.path(),
            config.clone(),
            Arc::new(crate::events::Feed::new()),
        )
        .unwrap();
        register(&jobs, "w1", &[]);
        let job = submit(&jobs, frames("1-3"));
        let local = lease(&jobs, LOCAL_WORKER);
        let remote = lease(&jobs, "w1");
        (job, local.task_id, remote)
    };
    let jobs = JobManager::open(dir.path(), config, Arc::new(crate::events::Feed::new())).unwrap();
    let (tasks, _) = jobs.tasks(&job, None, 10).unwrap();
    let by_id = |id: &str| tasks.iter().find(|t| t["id"] == id).unwrap().clone();
    assert_eq!(
        by_id(&local_task)["state"],
        "queued",
        "the hub's own slots died with it"
    );
    assert_eq!(
        by_id(&remote_task.task_id)["state"],
        "active",
        "a remote worker may come back"
    );
    jobs.complete(&remote_task.task_id, "w1", remote_task.spec.attempt, None)
        .expect("the remote worker reports after the restart");
    assert_eq!(jobs.get(&job).unwrap()["framesDone"], 1);
    let log = std::fs::read_to_string(jobs.log(&job).unwrap().path).unwrap();
    assert!(log.contains("manager restarted"), "{log}");
}

#[test]
fn bad_submissions_are_refused_with_what_to_change() {
    let (_dir, jobs) = manager(config());
    let manifest = manifest();
    let package = JobPackage {
        id: "seq-1",
        digest: DIGEST,
        manifest: &manifest,
        entry_kind: "render",
    };
    let cases: Vec<(SubmitJob, &str)> = vec![
        (SubmitJob::default(), "missing frames"),
        (
            SubmitJob {
                chunk_size: Some(0),
                ..frames("1")
            },
            "chunkSize",
        ),
        (
            SubmitJob {
                settings: Some(Value::from(3)),
                ..frames("1")
            },
            "settings must be",
        ),
        (
            SubmitJob {
                tags: vec!["a b".into()],
                ..frames("1")
            },
            "tag \"a b\"",
        ),
        (
            SubmitJob {
                failure_threshold: Some(101),
                ..frames("1")
            },
            "failureThreshold",
        ),
        (
            SubmitJob {
                max_retries: Some(101),
                ..frames("1")
            },
            "maxRetries",
        ),
        (
            SubmitJob {
                task_timeout_ms: Some(0),
                ..frames("1")
            },
            "taskTimeoutMs",
        ),
        (
            SubmitJob {
                name: Some("n".repeat(300)),
                ..frames("1")
            },
            "name",
        ),
    ];
    for (request, expected) in cases {
        match jobs.submit(package, request) {
            Err(JobError::BadRequest(message)) => {
                assert!(
                    message.contains(expected),
                    "{message:?} should say {expected:?}"
                );
            }
            other => panic!("{expected}: {other:?}"),
        }
    }
    let sequence = JobPackage {
        entry_kind: "run",
        ..package
    };
    assert!(matches!(
        jobs.submit(sequence, frames("1")),
        Err(JobError::Invalid(_))
    ));
    assert!(jobs.list(None).is_empty(), "nothing refused was stored");
}
