//! A job's state machine: its tasks' states and the indexes kept with them, the job's
//! state derived from them, and the transitions (cancel, pause, requeue, fail). Pure: no
//! storage, no locks; the manager persists what it changes.

use super::*;

impl Job {
    pub(super) fn rebuild_indexes(&mut self) {
        self.counts = [0; 5];
        self.frames_done = 0;
        self.queued.clear();
        self.active.clear();
        for task in &self.tasks {
            self.counts[task.state.slot()] += 1;
            match task.state {
                TaskState::Queued => {
                    self.queued.insert(task.index);
                }
                TaskState::Active => {
                    self.active.insert(task.index);
                }
                TaskState::Completed => self.frames_done += task.frame_count(),
                _ => {}
            }
        }
    }

    pub(super) fn set_task_state(&mut self, idx: usize, to: TaskState) {
        let task = &mut self.tasks[idx];
        let from = task.state;
        if from == to {
            return;
        }
        // A task that is not running shows no running attempt's progress.
        if matches!(
            to,
            TaskState::Queued | TaskState::Failed | TaskState::Canceled
        ) {
            task.progress = 0.0;
        }
        self.counts[from.slot()] -= 1;
        self.counts[to.slot()] += 1;
        match from {
            TaskState::Queued => {
                self.queued.remove(&idx);
            }
            TaskState::Active => {
                self.active.remove(&idx);
            }
            TaskState::Completed => self.frames_done -= task.frame_count(),
            _ => {}
        }
        match to {
            TaskState::Queued => {
                self.queued.insert(idx);
            }
            TaskState::Active => {
                self.active.insert(idx);
            }
            TaskState::Completed => self.frames_done += task.frame_count(),
            _ => {}
        }
        task.state = to;
    }

    /// Refuses to run the job again once its package is gone.
    pub(super) fn check_package(
        &self,
        stored: &dyn Fn(&str, &str) -> bool,
    ) -> Result<(), JobError> {
        if stored(&self.package_id, &self.digest) {
            return Ok(());
        }
        Err(JobError::Conflict(format!(
            "job {} renders package {} (sequence {}, digest {}), which was deleted or replaced since; upload the package and submit a new job",
            self.id,
            self.package_name,
            self.package_id,
            &self.digest[..12.min(self.digest.len())]
        )))
    }

    /// Queued while nothing ran, active once something did, completed when all did.
    /// Whether the failed tasks are within the job's failure threshold.
    pub(super) fn failures_tolerated(&self) -> bool {
        let failed = self.counts[TaskState::Failed.slot()];
        failed > 0
            && self.failure_threshold > 0
            && failed * 100 <= self.tasks.len() * self.failure_threshold as usize
    }

    /// The frames of its failed tasks (`3`, `7-8`).
    pub(super) fn failed_frames(&self) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|t| t.state == TaskState::Failed)
            .map(Task::frames_label)
            .collect()
    }

    pub(super) fn derived_state(&self) -> JobState {
        let completed = self.counts[TaskState::Completed.slot()];
        let failed = self.counts[TaskState::Failed.slot()];
        if completed == self.tasks.len() {
            JobState::Completed
        } else if self.queued.is_empty() && self.active.is_empty() {
            // Nothing left to run and not all completed (after a single
            // task was requeued on a failed or canceled job).
            if completed + failed == self.tasks.len() && self.failures_tolerated() {
                JobState::Completed
            } else if failed > 0 {
                JobState::Failed
            } else {
                JobState::Canceled
            }
        } else if completed > 0 || !self.active.is_empty() {
            JobState::Active
        } else {
            JobState::Queued
        }
    }

    /// Stops running tasks (signalling their workers) and cancels them and
    /// the queued ones; returns the indexes changed. One pass, without
    /// per-task index updates: a job may have 100,000 queued tasks.
    pub(super) fn cancel_tasks(
        &mut self,
        workers: &mut BTreeMap<String, Worker>,
        why: &str,
    ) -> Vec<usize> {
        let active = std::mem::take(&mut self.active);
        let queued = std::mem::take(&mut self.queued);
        for &idx in &active {
            self.signal_stop(idx, workers, why);
        }
        self.counts[TaskState::Active.slot()] -= active.len();
        self.counts[TaskState::Queued.slot()] -= queued.len();
        self.counts[TaskState::Canceled.slot()] += active.len() + queued.len();
        let mut changed: Vec<usize> = active.into_iter().chain(queued).collect();
        changed.sort_unstable();
        let now = now_ms();
        for &idx in &changed {
            let task = &mut self.tasks[idx];
            task.state = TaskState::Canceled;
            task.finished_ms = Some(now);
        }
        changed
    }

    /// Stops running tasks and puts them back in the queue (no failure).
    pub(super) fn stop_active_tasks_to_queue(
        &mut self,
        workers: &mut BTreeMap<String, Worker>,
        why: &str,
    ) -> Vec<usize> {
        let active: Vec<usize> = self.active.iter().copied().collect();
        for &idx in &active {
            self.signal_stop(idx, workers, why);
            self.set_task_state(idx, TaskState::Queued);
            self.tasks[idx].progress = 0.0;
        }
        active
    }

    pub(super) fn requeue_task(&mut self, idx: usize, worker: &mut Worker) {
        let task = &mut self.tasks[idx];
        if let Some(cancel) = task.cancel.take() {
            cancel.cancel();
        }
        worker.active.remove(&task.id);
        task.worker = None;
        task.progress = 0.0;
        task.staged.clear();
        self.set_task_state(idx, TaskState::Queued);
        if self.state != JobState::Paused && !self.state.is_terminal() {
            self.state = self.derived_state();
        }
    }

    /// Cancels a running task's execution wherever it runs (`why` goes to a
    /// remote worker with its heartbeat answer).
    pub(super) fn signal_stop(
        &mut self,
        idx: usize,
        workers: &mut BTreeMap<String, Worker>,
        why: &str,
    ) {
        let task = &mut self.tasks[idx];
        if task.state != TaskState::Active {
            return;
        }
        if let Some(cancel) = task.cancel.take() {
            cancel.cancel();
        }
        task.staged.clear();
        if let Some(w) = task.worker.take()
            && let Some(worker) = workers.get_mut(&w)
        {
            worker.active.remove(&task.id);
            if !worker.local {
                worker.cancel.insert(task.id.clone(), why.to_string());
            }
        }
    }

    /// Fails the job: every other queued or running task is canceled.
    pub(super) fn fail_job(
        &mut self,
        reason: &str,
        workers: &mut BTreeMap<String, Worker>,
    ) -> Vec<usize> {
        let changed = self.cancel_tasks(workers, "the job failed");
        self.state = JobState::Failed;
        self.finished_ms = Some(now_ms());
        self.push_error(reason.to_string());
        self.log_line("error", &format!("job failed: {reason}"));
        changed
    }

    pub(super) fn push_error(&mut self, error: String) {
        if self.errors.len() >= MAX_ERRORS {
            self.errors.remove(0);
        }
        self.errors.push(error);
    }

    pub(super) fn log_line(&mut self, level: &str, message: &str) {
        let line: Arc<str> = format!("{} {level} {message}", crate::time::iso_now()).into();
        self.log.write(&line);
        let _ = self.log.live.send(line);
    }

    /// Progress in percent, counting running tasks' partial progress.
    pub(super) fn progress(&self) -> f64 {
        if self.frames_total == 0 {
            return 100.0;
        }
        let partial: f64 = self
            .active
            .iter()
            .map(|&i| self.tasks[i].progress * self.tasks[i].frame_count() as f64)
            .sum();
        ((self.frames_done as f64 + partial) / self.frames_total as f64 * 100.0).min(100.0)
    }
}

impl Task {
    pub(super) fn frames_label(&self) -> String {
        if self.frame_start == self.frame_end {
            self.frame_start.to_string()
        } else {
            format!("{}-{}", self.frame_start, self.frame_end)
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A job of `tasks` one-frame tasks (frames 1..=tasks), all queued.
    pub(in crate::jobs) fn job(tasks: usize) -> Job {
        let mut job: Job = serde_json::from_value(serde_json::json!({
            "id": "job", "seq": 1, "name": "test", "package_id": "seq", "package_name": "test",
            "digest": "0".repeat(64), "settings": {}, "merged_settings": "{}",
            "frames": format!("1-{tasks}"), "chunk_size": 1, "frames_total": tasks,
            "priority": 50, "tags": [], "state": "queued", "max_retries": 1,
            "task_timeout_ms": 1000, "errors": [], "blocklist": [], "worker_failures": {},
            "created_ms": 0, "updated_ms": 0, "started_ms": null, "finished_ms": null,
        }))
        .expect("a job record");
        for index in 0..tasks {
            let frame = index as i64 + 1;
            job.tasks.push(
                serde_json::from_value(serde_json::json!({
                    "id": format!("t{index}"), "job_id": "job", "index": index,
                    "frame_start": frame, "frame_end": frame, "state": "queued", "attempt": 0,
                    "worker": null, "progress": 0.0, "failures": [], "started_ms": null,
                    "finished_ms": null,
                }))
                .expect("a task record"),
            );
        }
        job.rebuild_indexes();
        job
    }

    fn workers() -> BTreeMap<String, Worker> {
        let mut workers = BTreeMap::new();
        workers.insert(
            LOCAL_WORKER.to_string(),
            Worker::new(LOCAL_WORKER.into(), "local", 2, Vec::new(), true),
        );
        workers.insert(
            "remote".to_string(),
            Worker::new("remote".into(), "remote", 2, Vec::new(), false),
        );
        workers
    }

    /// Runs task `idx` on `worker`, as a lease does.
    fn start(job: &mut Job, workers: &mut BTreeMap<String, Worker>, idx: usize, worker: &str) {
        job.set_task_state(idx, TaskState::Active);
        let task = &mut job.tasks[idx];
        task.attempt += 1;
        task.worker = Some(worker.to_string());
        task.cancel = Some(CancellationToken::new());
        workers
            .get_mut(worker)
            .expect("a worker")
            .active
            .insert(task.id.clone());
    }

    /// The indexes kept incrementally agree with those rebuilt from the tasks.
    fn assert_indexes(job: &Job) {
        let (counts, done) = (job.counts, job.frames_done);
        let (queued, active) = (job.queued.clone(), job.active.clone());
        let mut rebuilt = job_clone(job);
        rebuilt.rebuild_indexes();
        assert_eq!(counts, rebuilt.counts, "per-state counts");
        assert_eq!(done, rebuilt.frames_done, "frames done");
        assert_eq!(queued, rebuilt.queued, "queued index");
        assert_eq!(active, rebuilt.active, "active index");
    }

    fn job_clone(job: &Job) -> Job {
        let mut copy: Job = serde_json::from_value(serde_json::to_value(job).unwrap()).unwrap();
        copy.tasks = job
            .tasks
            .iter()
            .map(|t| serde_json::from_value(serde_json::to_value(t).unwrap()).unwrap())
            .collect();
        copy
    }

    #[test]
    fn a_new_job_is_queued_with_every_task_in_the_queue() {
        let job = job(4);
        assert_eq!(job.derived_state(), JobState::Queued);
        assert_eq!(job.queued.len(), 4);
        assert_eq!(job.counts[TaskState::Queued.slot()], 4);
        assert_eq!(job.progress(), 0.0);
    }

    #[test]
    fn the_job_is_active_once_a_task_runs_and_completed_when_all_did() {
        let (mut job, mut workers) = (job(3), workers());
        start(&mut job, &mut workers, 0, LOCAL_WORKER);
        assert_eq!(job.derived_state(), JobState::Active);
        job.tasks[0].progress = 0.5;
        assert!(
            (job.progress() - 100.0 / 6.0).abs() < 1e-9,
            "{}",
            job.progress()
        );
        for idx in 0..3 {
            if idx > 0 {
                start(&mut job, &mut workers, idx, "remote");
            }
            job.set_task_state(idx, TaskState::Completed);
            assert_indexes(&job);
        }
        assert_eq!(job.frames_done, 3);
        assert_eq!(job.derived_state(), JobState::Completed);
        assert_eq!(job.progress(), 100.0);
    }

    #[test]
    fn a_task_that_stops_running_shows_no_progress() {
        let (mut job, mut workers) = (job(1), workers());
        start(&mut job, &mut workers, 0, LOCAL_WORKER);
        job.tasks[0].progress = 0.7;
        job.set_task_state(0, TaskState::Queued);
        assert_eq!(job.tasks[0].progress, 0.0);
        assert_indexes(&job);
    }

    #[test]
    fn cancel_stops_running_tasks_where_they_run_and_cancels_the_queue() {
        let (mut job, mut workers) = (job(4), workers());
        start(&mut job, &mut workers, 0, LOCAL_WORKER);
        start(&mut job, &mut workers, 1, "remote");
        job.set_task_state(2, TaskState::Completed);
        let local_token = job.tasks[0].cancel.clone().unwrap();
        let changed = job.cancel_tasks(&mut workers, "the job was canceled");
        assert_eq!(changed, vec![0, 1, 3], "the running and queued tasks");
        assert!(
            local_token.is_cancelled(),
            "a local slot stops through its token"
        );
        let remote = &workers["remote"];
        assert_eq!(
            remote.cancel.get("t1").map(String::as_str),
            Some("the job was canceled"),
            "a remote worker hears it with its next heartbeat"
        );
        assert!(remote.active.is_empty() && workers[LOCAL_WORKER].active.is_empty());
        assert!(
            workers[LOCAL_WORKER].cancel.is_empty(),
            "local slots need no message"
        );
        assert_eq!(
            job.tasks[2].state,
            TaskState::Completed,
            "done work stays done"
        );
        for idx in [0, 1, 3] {
            assert_eq!(job.tasks[idx].state, TaskState::Canceled);
            assert!(job.tasks[idx].finished_ms.is_some());
        }
        assert_indexes(&job);
        assert_eq!(job.derived_state(), JobState::Canceled);
    }

    #[test]
    fn pause_puts_running_tasks_back_in_the_queue_without_a_failure() {
        let (mut job, mut workers) = (job(2), workers());
        start(&mut job, &mut workers, 0, "remote");
        job.tasks[0].progress = 0.4;
        let changed = job.stop_active_tasks_to_queue(&mut workers, "the job was paused");
        assert_eq!(changed, vec![0]);
        let task = &job.tasks[0];
        assert_eq!(task.state, TaskState::Queued);
        assert!(task.failures.is_empty() && task.worker.is_none());
        assert_eq!(task.progress, 0.0);
        assert_eq!(workers["remote"].cancel["t0"], "the job was paused");
        assert_indexes(&job);
    }

    #[test]
    fn a_requeued_task_leaves_its_worker_and_the_job_stays_paused() {
        let (mut job, mut workers) = (job(2), workers());
        start(&mut job, &mut workers, 0, "remote");
        job.state = JobState::Active;
        let token = job.tasks[0].cancel.clone().unwrap();
        let mut remote = workers.remove("remote").unwrap();
        job.requeue_task(0, &mut remote);
        assert!(token.is_cancelled());
        assert!(remote.active.is_empty());
        assert_eq!(job.tasks[0].state, TaskState::Queued);
        assert_eq!(
            job.state,
            JobState::Queued,
            "nothing runs or ran: queued again"
        );
        assert_indexes(&job);

        start(&mut job, &mut workers, 1, LOCAL_WORKER);
        job.state = JobState::Paused;
        let mut local = workers.remove(LOCAL_WORKER).unwrap();
        job.requeue_task(1, &mut local);
        assert_eq!(job.state, JobState::Paused, "a paused job stays paused");
    }

    #[test]
    fn failing_the_job_cancels_the_rest_and_keeps_the_reason() {
        let (mut job, mut workers) = (job(3), workers());
        start(&mut job, &mut workers, 0, "remote");
        job.set_task_state(1, TaskState::Failed);
        let changed = job.fail_job("frames 2 failed twice", &mut workers);
        assert_eq!(changed, vec![0, 2]);
        assert_eq!(job.state, JobState::Failed);
        assert!(job.finished_ms.is_some());
        assert_eq!(job.errors, vec!["frames 2 failed twice".to_string()]);
        assert_eq!(workers["remote"].cancel["t0"], "the job failed");
        assert_eq!(job.derived_state(), JobState::Failed);
        assert_indexes(&job);
    }

    #[test]
    fn the_failure_threshold_decides_between_completed_and_failed() {
        let mut job = job(10);
        for idx in 0..9 {
            job.set_task_state(idx, TaskState::Completed);
        }
        job.set_task_state(9, TaskState::Failed);
        assert_eq!(
            job.derived_state(),
            JobState::Failed,
            "threshold 0: any failure fails it"
        );
        job.failure_threshold = 10;
        assert!(job.failures_tolerated());
        assert_eq!(
            job.derived_state(),
            JobState::Completed,
            "1 of 10 within 10 %"
        );
        assert_eq!(job.failed_frames(), vec!["10".to_string()]);
        job.set_task_state(8, TaskState::Failed);
        assert!(!job.failures_tolerated(), "2 of 10 is over 10 %");
        assert_eq!(job.derived_state(), JobState::Failed);
    }

    #[test]
    fn errors_are_bounded() {
        let mut job = job(1);
        for n in 0..MAX_ERRORS + 5 {
            job.push_error(format!("error {n}"));
        }
        assert_eq!(job.errors.len(), MAX_ERRORS);
        assert_eq!(job.errors[0], "error 5", "the oldest go first");
    }

    #[test]
    fn every_sequence_of_transitions_keeps_the_indexes_true() {
        use rand::{Rng, SeedableRng};
        let states = TaskState::ALL;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut job = job(16);
        for _ in 0..2000 {
            let idx = rng.random_range(0..16);
            let to = states[rng.random_range(0..states.len())];
            job.set_task_state(idx, to);
        }
        assert_indexes(&job);
        let total: usize = job.counts.iter().sum();
        assert_eq!(total, 16);
    }

    #[test]
    fn frame_labels_name_one_frame_or_a_range() {
        let mut job = job(1);
        assert_eq!(job.tasks[0].frames_label(), "1");
        job.tasks[0].frame_end = 4;
        assert_eq!(job.tasks[0].frames_label(), "1-4");
        assert_eq!(job.tasks[0].frame_count(), 4);
    }
}
