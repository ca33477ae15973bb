//! Render jobs on a hub (`docs/render-jobs.md`): the job routes `weir job`
//! uses, and the worker protocol `weir worker` speaks.

use std::path::{Path, PathBuf};
use std::pin::Pin;

use crate::wire::{PatchWorker, TaskResult};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{
    ArtifactInfo, ByteStream, ClientError, Heartbeat, HeartbeatReply, HubClient, Job, JobEvent,
    PatchJob, Removed, SubmitJob, Task, TaskLease, Worker, WorkerRegistration, decode, stream,
};

/// Tasks per page when [`HubClient::job_tasks`] reads them all.
const TASK_PAGE: usize = 1000;

/// Job, task and worker events, as they happen, each with the id to resume
/// after it (`Last-Event-ID`).
pub type JobEventStream =
    Pin<Box<dyn Stream<Item = Result<(JobEvent, Option<String>), ClientError>> + Send>>;

/// The jobs API.
impl HubClient {
    /// `POST /jobs`: submits a job.
    pub async fn submit_job(&self, job: &SubmitJob) -> Result<Job, ClientError> {
        self.post_json(&["jobs"], job).await
    }

    /// `GET /jobs[?state=S]`: every job, oldest first, or those in `state`.
    pub async fn jobs(&self, state: Option<&str>) -> Result<Vec<Job>, ClientError> {
        let query: Vec<(&str, &str)> = state.map(|state| ("state", state)).into_iter().collect();
        self.json(self.request_with_query(Method::GET, &["jobs"], &query))
            .await
    }

    /// `GET /jobs/{id}`.
    pub async fn job(&self, id: &str) -> Result<Job, ClientError> {
        self.get_json(&["jobs", id]).await
    }

    /// `PATCH /jobs/{id}`: changes its priority and/or tags.
    pub async fn patch_job(&self, id: &str, patch: &PatchJob) -> Result<Job, ClientError> {
        let request = self.request(Method::PATCH, &["jobs", id]).json(patch);
        self.json(request).await
    }

    /// `DELETE /jobs/{id}`: stops the job and removes it with its artifacts.
    pub async fn delete_job(&self, id: &str) -> Result<Removed, ClientError> {
        self.json(self.request(Method::DELETE, &["jobs", id])).await
    }

    /// `DELETE /jobs/{id}/blocklist[?worker=W]`: a worker (default: every
    /// one) may take the job's tasks again.
    pub async fn unblock_job(&self, id: &str, worker: Option<&str>) -> Result<Job, ClientError> {
        let query: Vec<(&str, &str)> = worker.map(|w| ("worker", w)).into_iter().collect();
        self.json(self.request_with_query(Method::DELETE, &["jobs", id, "blocklist"], &query))
            .await
    }

    /// `POST /jobs/{id}/cancel`.
    pub async fn cancel_job(&self, id: &str) -> Result<Job, ClientError> {
        self.job_action(id, "cancel").await
    }

    /// `POST /jobs/{id}/pause`: no new tasks start; running ones are requeued.
    pub async fn pause_job(&self, id: &str) -> Result<Job, ClientError> {
        self.job_action(id, "pause").await
    }

    /// `POST /jobs/{id}/resume`.
    pub async fn resume_job(&self, id: &str) -> Result<Job, ClientError> {
        self.job_action(id, "resume").await
    }

    /// `POST /jobs/{id}/requeue`: failed and canceled tasks (all of them, for
    /// a finished job) run again with fresh retries.
    pub async fn requeue_job(&self, id: &str) -> Result<Job, ClientError> {
        self.job_action(id, "requeue").await
    }

    /// `POST /tasks/{id}/requeue`: renders one task's frames again.
    pub async fn requeue_task(&self, task: &str) -> Result<Task, ClientError> {
        self.post_json(&["tasks", task, "requeue"], &json!({}))
            .await
    }

    async fn job_action(&self, id: &str, action: &str) -> Result<Job, ClientError> {
        self.post_json(&["jobs", id, action], &json!({})).await
    }

    /// Every task of a job, in index order (`GET /jobs/{id}/tasks`, page by
    /// page).
    pub async fn job_tasks(&self, id: &str) -> Result<Vec<Task>, ClientError> {
        let mut all: Vec<Task> = Vec::new();
        loop {
            let after = all.last().map(|t| t.index);
            let page = self.job_tasks_page(id, after, TASK_PAGE).await?;
            let full = page.len() == TASK_PAGE;
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    /// `GET /jobs/{id}/tasks?limit=N&after=INDEX`: up to `limit` (at most
    /// 1000) tasks whose index is above `after`, in index order.
    pub async fn job_tasks_page(
        &self,
        id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Task>, ClientError> {
        let limit = limit.to_string();
        let after = after.map(|a| a.to_string());
        let mut query = vec![("limit", limit.as_str())];
        if let Some(after) = &after {
            query.push(("after", after));
        }
        let path = ["jobs", id, "tasks"];
        self.json(self.request_with_query(Method::GET, &path, &query))
            .await
    }

    /// `GET /jobs/{id}/artifacts`: the artifact index.
    pub async fn job_artifacts(&self, id: &str) -> Result<Vec<ArtifactInfo>, ClientError> {
        self.get_json(&["jobs", id, "artifacts"]).await
    }

    /// `GET /jobs/{id}/artifacts/{name}`: the artifact's bytes.
    pub async fn artifact(&self, job: &str, name: &str) -> Result<ByteStream, ClientError> {
        let request = self.request(Method::GET, &["jobs", job, "artifacts", name]);
        Ok(stream::bytes(self.send(request).await?))
    }

    /// Downloads an artifact into the file `path`, streamed; the file appears
    /// (atomically) only once all of it is there. Returns its size.
    pub async fn download_artifact(
        &self,
        job: &str,
        name: &str,
        path: &Path,
    ) -> Result<u64, ClientError> {
        let body = self.artifact(job, name).await?;
        save(body, path).await
    }

    /// `GET /jobs/{id}/log`: the job log, replayed, then live until the job ends.
    pub async fn job_log(&self, id: &str) -> Result<ByteStream, ClientError> {
        let request = self.request(Method::GET, &["jobs", id, "log"]);
        Ok(stream::bytes(self.send(request).await?))
    }

    /// `GET /jobs/{id}/events`: the job's events as they happen; after
    /// `last_id` (an id this stream gave before) when resuming. `None` when a
    /// resumed stream has nothing more to say (the job had ended).
    pub async fn job_events(
        &self,
        id: &str,
        last_id: Option<&str>,
    ) -> Result<Option<JobEventStream>, ClientError> {
        self.event_stream(&["jobs", id, "events"], last_id).await
    }

    /// `GET /events`: every job, task, worker and instance event as it
    /// happens; after `last_id` when resuming.
    pub async fn hub_events(&self, last_id: Option<&str>) -> Result<JobEventStream, ClientError> {
        let events = self.event_stream(&["events"], last_id).await?;
        Ok(events.unwrap_or_else(|| Box::pin(futures::stream::empty())))
    }

    async fn event_stream(
        &self,
        path: &[&str],
        last_id: Option<&str>,
    ) -> Result<Option<JobEventStream>, ClientError> {
        let mut request = self
            .request(Method::GET, path)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = self.send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let events = stream::sse(stream::bytes(response));
        Ok(Some(Box::pin(events.map(|event| {
            event.map(|event| (JobEvent::parse(&event.event, &event.data), event.id))
        }))))
    }
}

/// The worker side of the protocol.
impl HubClient {
    /// `POST /workers`: registers a worker; the reply carries its id,
    /// `leaseMs` and `heartbeatMs`.
    pub async fn register_worker(
        &self,
        registration: &WorkerRegistration,
    ) -> Result<Worker, ClientError> {
        self.post_json(&["workers"], registration).await
    }

    /// `GET /workers`: every worker, the hub's own slots included.
    pub async fn workers(&self) -> Result<Vec<Worker>, ClientError> {
        self.get_json(&["workers"]).await
    }

    /// `GET /workers/{id}`.
    pub async fn worker(&self, id: &str) -> Result<Worker, ClientError> {
        self.get_json(&["workers", id]).await
    }

    /// `PATCH /workers/{id}`: sets its status (`enabled`, `disabled` or
    /// `draining`).
    pub async fn patch_worker(&self, id: &str, status: &str) -> Result<Worker, ClientError> {
        let request = self
            .request(Method::PATCH, &["workers", id])
            .json(&PatchWorker {
                status: Some(status.to_string()),
            });
        self.json(request).await
    }

    /// `DELETE /workers/{id}`: signs the worker off; its tasks are requeued.
    pub async fn delete_worker(&self, id: &str) -> Result<Removed, ClientError> {
        self.json(self.request(Method::DELETE, &["workers", id]))
            .await
    }

    /// `POST /workers/{id}/pickup`: a task to run, or `None` when there is
    /// nothing to do (204). An unknown worker is a 404 error (register
    /// again); a disabled or draining one a 423.
    pub async fn pickup(&self, worker: &str) -> Result<Option<TaskLease>, ClientError> {
        let request = self
            .request(Method::POST, &["workers", worker, "pickup"])
            .header(ACCEPT, "application/json");
        let response = self.send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        decode(response).await.map(Some)
    }

    /// `POST /workers/{id}/heartbeat`: reports the running tasks; the reply
    /// names tasks to stop and whether to drain.
    pub async fn heartbeat(
        &self,
        worker: &str,
        beat: &Heartbeat,
    ) -> Result<HeartbeatReply, ClientError> {
        self.post_json(&["workers", worker, "heartbeat"], beat)
            .await
    }

    /// `PUT /tasks/{id}/artifacts/{name}?attempt=N&frame=F`: uploads one
    /// artifact of `frame`; a 409 means this attempt lost the task.
    pub async fn upload_artifact(
        &self,
        task: &str,
        attempt: u32,
        frame: i64,
        name: &str,
        media_type: &str,
        data: Bytes,
    ) -> Result<(), ClientError> {
        let (attempt, frame) = (attempt.to_string(), frame.to_string());
        let query = [("attempt", attempt.as_str()), ("frame", frame.as_str())];
        let request = self
            .request_with_query(Method::PUT, &["tasks", task, "artifacts", name], &query)
            .header(CONTENT_TYPE, media_type)
            .body(data);
        self.call(request).await
    }

    /// `POST /tasks/{id}/complete`: commits the uploaded artifacts, with
    /// what the frames used (CPU ms, peak memory bytes).
    pub async fn complete_task(
        &self,
        task: &str,
        worker: &str,
        attempt: u32,
        usage: Option<(f64, u64)>,
    ) -> Result<(), ClientError> {
        let body = TaskResult {
            worker_id: Some(worker.to_string()),
            attempt: Some(attempt),
            cpu_ms: usage.map(|(cpu_ms, _)| cpu_ms),
            peak_memory_bytes: usage.map(|(_, peak)| peak),
            ..TaskResult::default()
        };
        let request = self
            .request(Method::POST, &["tasks", task, "complete"])
            .json(&body);
        self.call(request).await
    }

    /// `POST /tasks/{id}/fail`: reports the attempt failed with `error`
    /// after finishing its first `frames_done` frames.
    pub async fn fail_task(
        &self,
        task: &str,
        worker: &str,
        attempt: u32,
        error: &str,
        frames_done: u32,
    ) -> Result<(), ClientError> {
        let body = TaskResult {
            worker_id: Some(worker.to_string()),
            attempt: Some(attempt),
            error: Some(error.to_string()),
            frames_done: Some(frames_done),
            ..TaskResult::default()
        };
        let request = self
            .request(Method::POST, &["tasks", task, "fail"])
            .json(&body);
        self.call(request).await
    }

    /// `GET /packages/{digest}`: the component a task lease names.
    pub async fn package(&self, digest: &str) -> Result<ByteStream, ClientError> {
        let request = self.request(Method::GET, &["packages", digest]);
        Ok(stream::bytes(self.send(request).await?))
    }
}

/// Writes `body` to a temporary file next to `path`, then renames it.
async fn save(mut body: ByteStream, path: &Path) -> Result<u64, ClientError> {
    let partial = partial_path(path);
    let write = |cause| ClientError::Write {
        path: path.to_path_buf(),
        cause,
    };
    let mut file = tokio::fs::File::create(&partial).await.map_err(write)?;
    let mut size = 0;
    let copied = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            file.write_all(&chunk).await.map_err(write)?;
            size += chunk.len() as u64;
        }
        file.flush().await.map_err(write)?;
        file.sync_all().await.map_err(write)?;
        tokio::fs::rename(&partial, path).await.map_err(write)
    };
    match copied.await {
        Ok(()) => Ok(size),
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(e)
        }
    }
}

/// `dir/.name.partial-<random>` for `dir/name`.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    path.with_file_name(format!(".{name}.partial-{}", &unique[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_encoded_after_the_path() {
        let client = HubClient::new("http://h:1", None).unwrap();
        let request = client
            .request_with_query(
                Method::PUT,
                &["tasks", "t1", "artifacts", "frame 1.png"],
                &[("attempt", "2"), ("frame", "-3")],
            )
            .build()
            .unwrap();
        assert_eq!(
            request.url().as_str(),
            "http://h:1/api/v1/tasks/t1/artifacts/frame%201.png?attempt=2&frame=-3"
        );
    }

    #[test]
    fn job_events_keep_what_they_cannot_read() {
        let job = JobEvent::parse("job", r#"{"id":"j","state":"active","framesDone":3}"#);
        let JobEvent::Job(job) = job else {
            panic!("{job:?}")
        };
        assert_eq!((job.id.as_str(), job.frames_done), ("j", 3));
        assert_eq!(
            JobEvent::parse("job", "not json"),
            JobEvent::Other {
                event: "job".into(),
                data: "not json".into()
            }
        );
    }

    #[tokio::test]
    async fn save_writes_the_whole_body_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frame-0001.png");
        let chunks: Vec<Result<Bytes, ClientError>> =
            vec![Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"c"))];
        let size = save(Box::pin(futures::stream::iter(chunks)), &path)
            .await
            .unwrap();
        assert_eq!((size, std::fs::read(&path).unwrap()), (3, b"abc".to_vec()));

        let missing = dir.path().join("no-such-dir").join("x");
        let err = save(Box::pin(futures::stream::empty()), &missing).await;
        assert!(matches!(err, Err(ClientError::Write { .. })), "{err:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
