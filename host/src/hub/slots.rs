//! The hub's own render slots: each leases a task from the job manager, runs
//! its frames on the hub's runtime with the job's package, stages the
//! artifacts and reports back, as a remote worker does over HTTP.

use std::sync::Arc;

use super::Hub;
use crate::jobs::{JobManager, LOCAL_WORKER, Lease, PickupError, Upload, run_frames};
use crate::runtime::{Artifact, LogHook, ProgressHook, RenderError};

/// Starts the hub's local render slots (`JobsConfig::slots` of them). They
/// hold the hub weakly and end when it is dropped.
pub(super) fn spawn_local_slots(hub: &Arc<Hub>) {
    for slot in 0..hub.jobs().config().slots {
        let weak = Arc::downgrade(hub);
        tokio::spawn(async move {
            tracing::debug!(slot, "render slot started");
            loop {
                let Some(hub) = weak.upgrade() else { break };
                let jobs = hub.jobs().clone();
                match jobs.pickup(LOCAL_WORKER) {
                    Ok(Some(lease)) => {
                        run_local(&hub, &jobs, lease).await;
                        continue;
                    }
                    Ok(None) | Err(PickupError::Refused(_)) => {}
                    Err(PickupError::Unknown(_)) => break,
                    Err(PickupError::Storage(e)) => {
                        tracing::error!(error = %e, "render slot cannot lease a task");
                    }
                }
                // A hub shutting down takes no more tasks of its space (it hands back those
                // it runs: `Space::hand_back`).
                if let Some(space_slot) = jobs.space_slot().cloned()
                    && !hub.is_shutting_down()
                {
                    drop(hub);
                    if jobs.run_space_task(&space_slot).await {
                        continue;
                    }
                    jobs.work_available().await;
                    continue;
                }
                drop(hub);
                jobs.work_available().await;
            }
        });
    }
}

async fn run_local(hub: &Arc<Hub>, jobs: &Arc<JobManager>, lease: Lease) {
    let task_id = lease.task_id.clone();
    let attempt = lease.spec.attempt;
    let program = match hub.sequence(&lease.package_id) {
        Ok(sequence) if sequence.program.digest == lease.digest => sequence.program.clone(),
        _ => {
            let _ = jobs.fail(
                &task_id,
                LOCAL_WORKER,
                attempt,
                "the job's package was deleted or replaced",
            );
            return;
        }
    };
    let progress_jobs = jobs.clone();
    let progress_task = task_id.clone();
    let on_progress: ProgressHook = Arc::new(move |p| {
        progress_jobs.local_progress(&progress_task, attempt, p);
    });
    let log_jobs = jobs.clone();
    let log_task = task_id.clone();
    let on_log: LogHook = Arc::new(move |level, message| {
        log_jobs.local_log(&log_task, level, message);
    });
    let first_frame = lease.spec.frame_start;
    let sink = |frame: i64, artifacts: Vec<Artifact>| {
        let jobs = jobs.clone();
        let task_id = task_id.clone();
        async move {
            for artifact in artifacts {
                let data = bytes::Bytes::from(artifact.data);
                jobs.stage_artifact(
                    Upload {
                        task_id: &task_id,
                        worker: Some(LOCAL_WORKER),
                        attempt,
                        frame,
                    },
                    &artifact.name,
                    &artifact.media_type,
                    data,
                )
                .await
                .map_err(|e| e.to_string())?;
            }
            let done = u32::try_from(frame - first_frame + 1).unwrap_or(0);
            jobs.frames_finished(&task_id, LOCAL_WORKER, attempt, done);
            Ok(())
        }
    };
    let result = run_frames(
        hub.runtime(),
        &program,
        &lease.spec,
        lease.cancel.clone(),
        on_progress,
        Some(on_log),
        sink,
    )
    .await;
    // A canceled task was already moved on by whoever canceled it; a
    // report for an attempt the manager took back is refused (409) and
    // ignored.
    let report = match result {
        Ok(usage) => jobs.complete(&task_id, LOCAL_WORKER, attempt, Some(usage)),
        Err(RenderError::Canceled) => Ok(()),
        Err(e) => jobs.fail(&task_id, LOCAL_WORKER, attempt, &e.to_string()),
    };
    if let Err(e) = report {
        tracing::debug!(task = %task_id, error = %e, "task report not taken");
    }
}
