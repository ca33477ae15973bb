//! Reading jobs, tasks, artifacts, logs and counts.

use super::*;

/// Every worker state, in the order the counts list them.
const WORKER_STATES: [WorkerState; 3] =
    [WorkerState::Online, WorkerState::Lost, WorkerState::Offline];

impl JobManager {
    /// Every job, oldest first, optionally only those in `filter`.
    pub fn list(&self, filter: Option<JobState>) -> Vec<Value> {
        let state = self.lock();
        let mut jobs: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| filter.is_none_or(|s| j.state == s))
            .collect();
        jobs.sort_by_key(|j| j.seq);
        jobs.into_iter()
            .map(|j| job_view(j, &state.workers))
            .collect()
    }

    pub(super) fn not_found(id: &str) -> JobError {
        JobError::NotFound(format!("Job {id} not found"))
    }

    /// One job.
    pub fn get(&self, id: &str) -> Result<Value, JobError> {
        let state = self.lock();
        state
            .jobs
            .get(id)
            .map(|j| job_view(j, &state.workers))
            .ok_or_else(|| Self::not_found(id))
    }

    /// The state of one job, if it exists.
    pub fn job_state(&self, id: &str) -> Option<JobState> {
        self.lock().jobs.get(id).map(|j| j.state)
    }

    /// A page of a job's tasks, in index order: up to `limit` tasks whose
    /// index is above `after` (from the first, without it) → the page and
    /// whether tasks follow it.
    pub fn tasks(
        &self,
        id: &str,
        after: Option<usize>,
        limit: usize,
    ) -> Result<(Vec<Value>, bool), JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        let total = job.tasks.len();
        let start = after.map_or(0, |a| a.saturating_add(1)).min(total);
        let end = start.saturating_add(limit).min(total);
        let page = job.tasks[start..end].iter().map(view::task).collect();
        Ok((page, end < total))
    }

    /// The job task `task_id` belongs to.
    pub fn job_of_task(&self, task_id: &str) -> Option<String> {
        self.lock().tasks.get(task_id).map(|(job, _)| job.clone())
    }

    /// The package (sequence id) job `id` renders.
    pub fn package_of(&self, id: &str) -> Option<String> {
        self.lock().jobs.get(id).map(|j| j.package_id.clone())
    }

    /// A job's artifact index.
    pub fn artifacts(&self, id: &str) -> Result<Vec<Value>, JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        Ok(job
            .artifacts
            .values()
            .map(|a| view::artifact(&job.id, a))
            .collect())
    }

    /// One artifact's index entry and file path.
    pub fn artifact(&self, id: &str, name: &str) -> Result<(ArtifactMeta, PathBuf), JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        let meta = job
            .artifacts
            .get(name)
            .cloned()
            .ok_or_else(|| JobError::NotFound(format!("Job {id} has no artifact {name:?}")))?;
        Ok((meta, self.artifact_dir(id).join(name)))
    }

    /// The job's log so far and a live feed of what follows.
    pub fn log(&self, id: &str) -> Result<LogFeed, JobError> {
        let state = self.lock();
        let job = state.jobs.get(id).ok_or_else(|| Self::not_found(id))?;
        // Lines are written under this lock: the length read here is exactly
        // what precedes the subscription.
        let len = std::fs::metadata(&job.log.path).map_or(0, |m| m.len());
        Ok(LogFeed {
            path: job.log.path.clone(),
            len,
            live: job.log.live.subscribe(),
        })
    }

    /// The figures the task metrics keep (durations, retries).
    pub fn task_metrics(&self) -> &TaskMetrics {
        &self.task_metrics
    }

    /// Jobs, tasks and workers per state.
    pub fn state_counts(&self) -> StateCounts {
        let state = self.lock();
        let job_states = JobState::ALL;
        let mut jobs: Vec<(&'static str, u64)> =
            job_states.iter().map(|s| (s.as_str(), 0)).collect();
        let mut tasks: Vec<(&'static str, u64)> =
            TaskState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for job in state.jobs.values() {
            if let Some(slot) = job_states.iter().position(|&s| s == job.state) {
                jobs[slot].1 += 1;
            }
            for (slot, n) in job.counts.iter().enumerate() {
                tasks[slot].1 += *n as u64;
            }
        }
        let workers = WORKER_STATES
            .iter()
            .map(|&ws| {
                let n = state.workers.values().filter(|w| w.state == ws).count();
                (view::worker_state(ws), n as u64)
            })
            .collect();
        StateCounts {
            jobs,
            tasks,
            workers,
        }
    }

    /// Counts of jobs per state and workers per state, and the online workers' slots, for
    /// `/status`.
    pub fn counts(&self) -> crate::wire::RenderCounts {
        let state = self.lock();
        let mut jobs: BTreeMap<String, u64> = JobState::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        for job in state.jobs.values() {
            *jobs.entry(job.state.as_str().to_string()).or_default() += 1;
        }
        let mut workers: BTreeMap<String, u64> = WORKER_STATES
            .iter()
            .map(|&s| (view::worker_state(s).to_string(), 0))
            .collect();
        let (mut slots, mut busy) = (0, 0);
        for w in state.workers.values() {
            *workers
                .entry(view::worker_state(w.state).to_string())
                .or_default() += 1;
            if w.state == WorkerState::Online {
                slots += w.slots as u64;
                busy += w.active.len() as u64;
            }
        }
        crate::wire::RenderCounts {
            jobs,
            workers,
            slots,
            busy_slots: busy,
        }
    }

    /// The package digest → sequence id map entry of a live job, for
    /// `GET /packages/:digest` (only packages some job uses are served).
    pub fn package_for_digest(&self, digest: &str) -> Option<String> {
        self.lock()
            .jobs
            .values()
            .find(|j| j.digest == digest)
            .map(|j| j.package_id.clone())
    }

    /// Whether any unfinished job uses sequence `id`.
    pub fn uses_package(&self, id: &str) -> bool {
        self.lock()
            .jobs
            .values()
            .any(|j| j.package_id == id && !j.state.is_terminal())
    }
}

/// Why a queued job's tasks do not start, when no online, enabled worker
/// may take them at all (`None` while one could, even if it is busy).
pub(super) fn waiting_reason(job: &Job, workers: &BTreeMap<String, Worker>) -> Option<String> {
    if !matches!(job.state, JobState::Queued | JobState::Active) || job.queued.is_empty() {
        return None;
    }
    let online: Vec<&Worker> = workers
        .values()
        .filter(|w| w.state == WorkerState::Online && w.status == WorkerStatus::Enabled)
        .filter(|w| w.local || !job.local_only)
        .collect();
    if online.is_empty() {
        return Some(if job.local_only {
            "no worker can take it: its package has grants, so only the hub's own slots may run it, and the hub has none (--slots 0)".into()
        } else {
            "no worker is online (the hub has no slots of its own: --slots 0); start `weir worker`"
                .into()
        });
    }
    let tagged: Vec<&&Worker> = online
        .iter()
        .filter(|w| tags_match(&w.tags, &job.tags))
        .collect();
    if tagged.is_empty() {
        return Some(format!(
            "no online worker has the job's tags {}: start one with `weir worker --tags {}` (the hub's own slots take `--slot-tags`)",
            job.tags.join(","),
            job.tags.join(",")
        ));
    }
    if tagged.iter().all(|w| job.blocklist.contains(&w.id)) {
        return Some("every online worker with its tags is blocklisted for this job".into());
    }
    None
}

/// A job's view with why it waits, if it cannot start.
pub(super) fn job_view(job: &Job, workers: &BTreeMap<String, Worker>) -> Value {
    let mut body = view::job(job);
    if let Some(why) = waiting_reason(job, workers) {
        body["waiting"] = why.into();
    }
    body
}
