//! What the local slots report of a running task: frames finished, progress, log lines.

use super::*;

impl JobManager {
    pub(super) fn progress_event(&self, job: &mut Job) {
        let due = job
            .last_progress_event
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due {
            job.last_progress_event = Some(Instant::now());
            self.emit_job(job);
        }
    }

    /// The attempt `attempt` of `task_id`, run by `worker`, has finished (rendered and
    /// stored) its first `frames` frames: they are kept should the attempt fail later.
    pub fn frames_finished(&self, task_id: &str, worker: &str, attempt: u32, frames: u32) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some((job_id, idx)) = state.tasks.get(task_id)
            && let Some(job) = state.jobs.get_mut(job_id)
        {
            let task = &mut job.tasks[*idx];
            if task.state == TaskState::Active
                && task.attempt == attempt
                && task.worker.as_deref() == Some(worker)
            {
                task.frames_finished = task.frames_finished.max(frames);
            }
        }
    }

    /// Progress of a task run by the local slots (0.0–1.0).
    pub fn local_progress(&self, task_id: &str, attempt: u32, progress: f32) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some((job_id, idx)) = state.tasks.get(task_id)
            && let Some(job) = state.jobs.get_mut(job_id)
        {
            let task = &mut job.tasks[*idx];
            if task.state == TaskState::Active && task.attempt == attempt {
                // The guest reports an f32; four decimals are all a progress figure needs.
                task.progress = (f64::from(progress.clamp(0.0, 1.0)) * 10_000.0).round() / 10_000.0;
                self.progress_event(job);
            }
        }
    }

    /// A plugin log line of a task run by the local slots.
    pub fn local_log(&self, task_id: &str, level: &str, message: &str) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some((job_id, idx)) = state.tasks.get(task_id)
            && let Some(job) = state.jobs.get_mut(job_id)
        {
            let label = job.tasks[*idx].frames_label();
            job.log_line("plugin", &format!("[{label}] {level}: {message}"));
        }
    }
}
