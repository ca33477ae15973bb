//! Submitting a job: the request checked, the job split into tasks and stored.

use super::*;

impl JobManager {
    /// Queues a job for `package` (a render package).
    pub fn submit(&self, package: JobPackage<'_>, request: SubmitJob) -> Result<Value, JobError> {
        let mut job = self.build(package, request)?;
        let id = job.id.clone();
        std::fs::create_dir_all(self.artifact_dir(&id))?;
        self.insert_task_rows(&job)?;
        let mut state = self.lock();
        job.seq = state.next_seq;
        if let Err(e) = state.store.write(|tx| tx.job(&job)) {
            for task in &job.tasks {
                state.tasks.remove(&task.id);
            }
            return Err(storage(e));
        }
        state.next_seq += 1;
        job.log_line("info", &job.queued_line());
        let body = view::job(&job);
        self.emit_job(&job);
        state.jobs.insert(id, job);
        drop(state);
        self.work.notify_waiters();
        Ok(body)
    }

    /// Checks a submission and makes its job, split into queued tasks.
    pub(super) fn build(
        &self,
        package: JobPackage<'_>,
        request: SubmitJob,
    ) -> Result<Job, JobError> {
        let manifest = package.manifest;
        if manifest.kind != Kind::Render || package.entry_kind != "render" {
            return Err(JobError::Invalid(format!(
                "package {} is a {} package; jobs need a render package (kind = \"render\", exporting the render world)",
                manifest.name, package.entry_kind
            )));
        }
        if !manifest.grants.is_empty() && self.config.slots == 0 && self.space().is_none() {
            return Err(JobError::Invalid(format!(
                "package {} asks for [grants], which only the hub's own render slots provide (remote workers get only the component), and this hub has --slots 0",
                manifest.name
            )));
        }
        let frames = request
            .frames
            .ok_or_else(|| JobError::BadRequest("missing frames, e.g. \"1-100\"".into()))?;
        let (frames, frames_text) = frames.resolve().map_err(JobError::BadRequest)?;
        let chunk_size = request.chunk_size.unwrap_or(1);
        if chunk_size == 0 || chunk_size > MAX_FRAMES {
            return Err(JobError::BadRequest(format!(
                "chunkSize must be 1..={MAX_FRAMES}"
            )));
        }
        let settings = match request.settings {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Object(map)) => Value::Object(map),
            Some(_) => {
                return Err(JobError::BadRequest(
                    "settings must be a JSON object".into(),
                ));
            }
        };
        let mut merged = manifest.config.clone();
        if let Value::Object(map) = &settings {
            merged.extend(map.clone());
        }
        check_tags(&request.tags)?;
        let failure_threshold = request.failure_threshold.unwrap_or(0);
        if failure_threshold > 100 {
            return Err(JobError::BadRequest(
                "failureThreshold is a percentage of the job's tasks: 0-100".into(),
            ));
        }
        let max_retries = request.max_retries.unwrap_or(self.config.max_retries);
        if max_retries > 100 {
            return Err(JobError::BadRequest(
                "maxRetries must be at most 100".into(),
            ));
        }
        let task_timeout_ms = request
            .task_timeout_ms
            .unwrap_or(self.config.task_timeout.as_millis() as u64);
        if task_timeout_ms == 0 {
            return Err(JobError::BadRequest(
                "taskTimeoutMs must be positive".into(),
            ));
        }
        // The package's `timeout_ms` bounds each task; it only tightens.
        let task_timeout_ms = task_timeout_ms.min(manifest.limits.timeout_ms.unwrap_or(u64::MAX));
        let name = request.name.unwrap_or_else(|| manifest.name.clone());
        if name.len() > 256 {
            return Err(JobError::BadRequest("name: at most 256 bytes".into()));
        }
        let ranges = frames::ranges(&frames, chunk_size);
        if ranges.len() > MAX_TASKS {
            return Err(JobError::BadRequest(format!(
                "{} frames in chunks of {chunk_size} make {} tasks; a job may have at most {MAX_TASKS} tasks: raise chunkSize",
                frames.len(),
                ranges.len()
            )));
        }
        let now = now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let mut job = Job {
            id: id.clone(),
            seq: 0,
            name,
            package_id: package.id.to_string(),
            package_name: manifest.name.clone(),
            digest: package.digest.to_string(),
            settings,
            merged_settings: Value::Object(merged).to_string(),
            local_only: !manifest.grants.is_empty(),
            frames: frames_text,
            chunk_size,
            frames_total: frames.len(),
            priority: request.priority.unwrap_or(50),
            tags: request.tags,
            state: JobState::Queued,
            max_retries,
            failure_threshold,
            task_timeout_ms,
            errors: Vec::new(),
            blocklist: Vec::new(),
            worker_failures: BTreeMap::new(),
            created_ms: now,
            updated_ms: now,
            started_ms: None,
            finished_ms: None,
            limits: None,
            blocklist_after: None,
            shared: false,
            recorded: None,
            tasks: Vec::new(),
            counts: [0; 5],
            frames_done: 0,
            queued: BTreeSet::new(),
            active: BTreeSet::new(),
            artifacts: BTreeMap::new(),
            log: JobLog::new(self.logs_dir.join(format!("{id}.log"))),
            last_progress_event: None,
        };
        job.tasks = new_tasks(&id, &ranges, |_| uuid::Uuid::new_v4().to_string());
        job.rebuild_indexes();
        Ok(job)
    }
}

impl Job {
    /// The log line a job starts with.
    pub(super) fn queued_line(&self) -> String {
        format!(
            "queued: {} frames ({}) in {} tasks, package {} ({})",
            self.frames_total,
            self.frames,
            self.tasks.len(),
            self.package_name,
            &self.digest[..12.min(self.digest.len())]
        )
    }
}

/// Queued tasks of job `job_id` for frame `ranges`, the task at index `i` with id `id(i)`.
pub(super) fn new_tasks(
    job_id: &str,
    ranges: &[(i64, i64)],
    mut id: impl FnMut(usize) -> String,
) -> Vec<Task> {
    ranges
        .iter()
        .enumerate()
        .map(|(index, &(start, end))| Task {
            id: id(index),
            job_id: job_id.to_string(),
            index,
            frame_start: start,
            frame_end: end,
            state: TaskState::Queued,
            attempt: 0,
            worker: None,
            progress: 0.0,
            failures: Vec::new(),
            started_ms: None,
            finished_ms: None,
            usage: None,
            resume_from: None,
            stored: Vec::new(),
            frames_finished: 0,
            started_at: None,
            cancel: None,
            staged: Vec::new(),
            tries_failed: 0,
        })
        .collect()
}

pub(super) fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

pub(super) fn check_tags(tags: &[String]) -> Result<(), JobError> {
    if tags.len() > 32 {
        return Err(JobError::BadRequest("at most 32 tags".into()));
    }
    if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
        return Err(JobError::BadRequest(format!(
            "tag {bad:?}: use 1-64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}
