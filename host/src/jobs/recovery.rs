//! Opening the job store and recovering what a previous run left: jobs and
//! their completed frames, tasks to queue again or to keep for the remote
//! worker still rendering them, and the staged artifacts of those.

use std::path::{Path, PathBuf};

use super::*;

impl JobManager {
    /// Opens the job store in `data_dir` and recovers its state: jobs and
    /// their completed frames are kept; tasks that were running are queued
    /// again; remote workers must register again.
    /// Changes go to `events`, the hub-wide feed.
    pub fn open(
        data_dir: &Path,
        config: JobsConfig,
        events: Arc<Feed>,
    ) -> Result<Arc<JobManager>, JobError> {
        check_tags(&config.slot_tags)?;
        let artifacts_dir = data_dir.join("artifacts");
        std::fs::create_dir_all(&artifacts_dir)?;
        let store = store::Store::open(&data_dir.join("jobs.sqlite")).map_err(storage)?;
        let loaded = store.load().map_err(storage)?;
        let mut state = State {
            store,
            jobs: HashMap::new(),
            tasks: HashMap::new(),
            workers: BTreeMap::new(),
            next_seq: 1,
            unsaved: bulk::Unsaved::default(),
        };
        for job in loaded.jobs {
            state.next_seq = state.next_seq.max(job.seq + 1);
            state.jobs.insert(job.id.clone(), job);
        }
        let mut requeued = Vec::new();
        let mut stopped = Vec::new();
        // Remote workers that were online may still be rendering: their
        // tasks stay theirs for one lease, in which they can come back and
        // report (the hub's own slots died with the hub).
        let online: std::collections::HashSet<String> = loaded
            .workers
            .iter()
            .filter(|w| !w.local && w.state == WorkerState::Online)
            .map(|w| w.id.clone())
            .collect();
        let mut kept: HashMap<String, u32> = HashMap::new();
        for mut task in loaded.tasks {
            let Some(job) = state.jobs.get_mut(&task.job_id) else {
                continue;
            };
            if job.state.is_terminal()
                && matches!(task.state, TaskState::Queued | TaskState::Active)
            {
                // An ended job runs nothing: its cancel (or failure) ended
                // before all its task rows were written.
                task.state = TaskState::Canceled;
                task.worker = None;
                task.finished_ms = job.finished_ms;
                stopped.push((job.id.clone(), job.tasks.len()));
            } else if task.state == TaskState::Active
                && task.worker.as_ref().is_some_and(|w| online.contains(w))
            {
                let ran_ms = now_ms().saturating_sub(task.started_ms.unwrap_or_else(now_ms));
                task.started_at = Instant::now().checked_sub(Duration::from_millis(ran_ms));
                kept.insert(task.id.clone(), task.attempt);
            } else if task.state == TaskState::Active {
                task.state = TaskState::Queued;
                task.worker = None;
                task.progress = 0.0;
                requeued.push(task.id.clone());
            }
            if task.index != job.tasks.len() {
                tracing::warn!(job = %job.id, "job store: task {} out of order", task.id);
                task.index = job.tasks.len();
            }
            state
                .tasks
                .insert(task.id.clone(), (job.id.clone(), task.index));
            job.tasks.push(task);
        }
        for (job_id, artifact) in loaded.artifacts {
            if let Some(job) = state.jobs.get_mut(&job_id) {
                job.artifacts.insert(artifact.name.clone(), artifact);
            }
        }
        // Staged artifacts: those of the kept attempts stay, the rest (of
        // attempts that never completed) go.
        let staging_dir = artifacts_dir.join(".staging");
        std::fs::create_dir_all(&staging_dir)?;
        let mut staged = recover_staging(&staging_dir, &kept)?;
        for job in state.jobs.values_mut() {
            for task in &mut job.tasks {
                if let Some(artifacts) = staged.remove(&task.id) {
                    task.staged = artifacts;
                }
            }
        }
        let logs_dir = data_dir.join("joblogs");
        std::fs::create_dir_all(&logs_dir)?;
        for job in state.jobs.values_mut() {
            job.log = JobLog::new(logs_dir.join(format!("{}.log", job.id)));
            job.rebuild_indexes();
            if !job.state.is_terminal() && job.state != JobState::Paused {
                job.state = job.derived_state();
            }
        }
        for mut worker in loaded.workers {
            if worker.local {
                continue;
            }
            if worker.state == WorkerState::Online {
                // One lease from now to heartbeat again, or it is lost.
                worker.seen = Some(Instant::now());
                worker.active =
                    kept.keys()
                        .filter(|t| {
                            state.tasks.get(*t).and_then(|(job, idx)| {
                                state.jobs.get(job)?.tasks[*idx].worker.clone()
                            }) == Some(worker.id.clone())
                        })
                        .cloned()
                        .collect();
            }
            state.workers.insert(worker.id.clone(), worker);
        }
        if config.slots > 0 {
            let local = Worker::new(
                LOCAL_WORKER.into(),
                "local",
                config.slots,
                config.slot_tags.clone(),
                true,
            );
            state.workers.insert(LOCAL_WORKER.into(), local);
        }
        {
            let State {
                store, jobs, tasks, ..
            } = &mut state;
            store
                .write(|tx| {
                    for (job, idx) in &stopped {
                        if let Some(job) = jobs.get(job) {
                            tx.task(&job.tasks[*idx])?;
                        }
                    }
                    for id in &requeued {
                        if let Some((job, idx)) = tasks.get(id)
                            && let Some(job) = jobs.get(job)
                        {
                            tx.task(&job.tasks[*idx])?;
                            tx.job(job)?;
                        }
                    }
                    Ok(())
                })
                .map_err(storage)?;
        }
        for job in state.jobs.values_mut() {
            if !requeued.is_empty() && !job.state.is_terminal() {
                job.log_line("info", "manager restarted; running tasks were queued again");
            }
        }
        if !requeued.is_empty() {
            tracing::info!(
                tasks = requeued.len(),
                "requeued tasks that were running before the restart"
            );
        }
        Ok(Arc::new(JobManager {
            state: Mutex::new(state),
            config,
            events,
            work: Notify::new(),
            artifacts_dir,
            staging_dir,
            logs_dir,
            artifact_uploads: tokio::sync::Semaphore::new(staging::MAX_ARTIFACT_UPLOADS),
            task_metrics: TaskMetrics::default(),
            space: std::sync::OnceLock::new(),
            space_slot: std::sync::OnceLock::new(),
        }))
    }
}

/// The index entry beside a staged artifact.
pub(super) fn meta_path(staged: &Path) -> PathBuf {
    let mut name = staged.as_os_str().to_owned();
    name.push(".meta");
    PathBuf::from(name)
}

/// Keeps in `staging` the artifacts (with their index entries) of the
/// attempts in `kept` (task id → attempt) and removes everything else;
/// answers the kept entries by task id.
fn recover_staging(
    staging: &Path,
    kept: &HashMap<String, u32>,
) -> std::io::Result<HashMap<String, Vec<ArtifactMeta>>> {
    let mut found: HashMap<String, Vec<ArtifactMeta>> = HashMap::new();
    let mut keep = std::collections::HashSet::new();
    for entry in std::fs::read_dir(staging)?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "meta") {
            continue;
        }
        let Some(meta) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<StagedMeta>(&b).ok())
        else {
            continue;
        };
        let data = path.with_extension("");
        if kept.get(&meta.artifact.task_id) == Some(&meta.attempt) && data.is_file() {
            keep.insert(path.clone());
            keep.insert(data);
            found
                .entry(meta.artifact.task_id.clone())
                .or_default()
                .push(meta.artifact);
        }
    }
    for entry in std::fs::read_dir(staging)?.flatten() {
        if !keep.contains(&entry.path()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(found)
}

/// What a `.meta` file beside a staged artifact holds.
#[derive(Serialize, Deserialize)]
pub(super) struct StagedMeta {
    pub(super) attempt: u32,
    pub(super) artifact: ArtifactMeta,
}
