//! Running tasks: the frame loop shared by the hub's local slots and remote
//! `weir worker` processes, and the local slots themselves.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::TaskUsage;
use crate::runtime::{
    Artifact, FrameRequest, LogHook, Program, ProgressHook, RenderError, RenderOptions,
    RenderUsage, Runtime,
};

/// What a worker needs to run one task.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Job id (passed to the plugin).
    pub job_id: String,
    /// The lease's attempt number (the token every report names).
    pub attempt: u32,
    /// Which try of its frames this is, as the plugin sees it (`frame-request.attempt`): 1,
    /// plus one per failed attempt. A pause, a requeue by the manager or a worker signing off
    /// takes a new lease but is not a try.
    pub frame_attempt: u32,
    /// First frame.
    pub frame_start: i64,
    /// Last frame (inclusive).
    pub frame_end: i64,
    /// Settings, JSON object text.
    pub settings: String,
    /// Time limit of the whole task.
    pub timeout: Duration,
}

/// Renders the task's frames in order, handing each frame's artifacts to
/// `sink` before the next frame starts (so at most one frame's artifacts are
/// held). `on_progress` gets the task's progress (0.0–1.0). Stops with
/// [`RenderError::Canceled`] when `cancel` fires and with
/// [`RenderError::TimedOut`] past the task's time limit. Returns what the
/// frames used.
pub async fn run_frames<F, Fut>(
    runtime: &Runtime,
    program: &Program,
    spec: &TaskSpec,
    cancel: CancellationToken,
    on_progress: ProgressHook,
    on_log: Option<LogHook>,
    mut sink: F,
) -> Result<TaskUsage, RenderError>
where
    F: FnMut(i64, Vec<Artifact>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let usage = Arc::new(RenderUsage::default());
    let count = (spec.frame_end - spec.frame_start + 1).max(1) as f32;
    for (done, frame) in (spec.frame_start..=spec.frame_end).enumerate() {
        let remaining = spec
            .timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or(RenderError::TimedOut(spec.timeout))?;
        let base = done as f32;
        let task_progress = on_progress.clone();
        let options = RenderOptions {
            cancel: Some(cancel.clone()),
            timeout: Some(remaining),
            on_progress: Some(Arc::new(move |p: f32| {
                task_progress((base + p.clamp(0.0, 1.0)) / count)
            })),
            on_log: on_log.clone(),
            usage: Some(usage.clone()),
        };
        let request = FrameRequest {
            job_id: spec.job_id.clone(),
            frame,
            attempt: spec.frame_attempt,
            settings: spec.settings.clone(),
        };
        let artifacts = match runtime.render(program, request, &options).await {
            Err(RenderError::TimedOut(_)) => return Err(RenderError::TimedOut(spec.timeout)),
            other => other?,
        };
        sink(frame, artifacts).await.map_err(RenderError::Failed)?;
        on_progress((base + 1.0) / count);
    }
    Ok(TaskUsage {
        cpu_ms: usage.cpu().as_secs_f64() * 1000.0,
        peak_memory_bytes: usage.peak_memory_bytes() as u64,
    })
}
