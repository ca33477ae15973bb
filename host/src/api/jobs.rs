//! Render-job routes: jobs, tasks, artifacts, workers, the worker protocol
//! and Server-Sent Events (`docs/render-jobs.md`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use super::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::files;
use super::json::read_json;
use super::streams::stream_response;
use super::{ApiError, AppState};
use crate::jobs::{
    JobAction, JobState, Lease, MAX_TASK_PAGE, PatchJob, PickupError, SubmitJob, TaskUsage, Upload,
    WorkerStatus,
};
use crate::wire;

/// `POST /jobs`: queue a render job → 201 job.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: SubmitJob = read_json(&headers, body).await?;
    if state.hub.is_shutting_down() {
        return Err(ApiError::Unavailable("the hub is shutting down".into()));
    }
    let package = request
        .package
        .clone()
        .ok_or_else(|| ApiError::BadRequest("missing package (a sequence id or name)".into()))?;
    let sequence = state.hub.sequence_or_fetch(&package).await?;
    // In a space the job goes to JetStream, for every hub and worker to run.
    let job = state
        .hub
        .jobs()
        .changes_for_new()
        .submit(sequence.job_source(), request)
        .await?;
    Ok((StatusCode::CREATED, Json(job)).into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
}

/// `GET /jobs?state=S`
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = match query.state.as_deref() {
        None | Some("") => None,
        Some(name) => Some(JobState::parse(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown job state {name:?}; use queued, active, paused, completed, failed or canceled"
            ))
        })?),
    };
    Ok(Json(Value::Array(state.hub.jobs().list(filter))))
}

/// `GET /jobs/:id`
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.hub.jobs().get(&id)?))
}

/// `PATCH|PUT /jobs/:id`: priority and tags.
pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let patch: PatchJob = read_json(&headers, body).await?;
    Ok(Json(
        state.hub.jobs().changes_of(&id).patch(&id, patch).await?,
    ))
}

/// The reply to a delete of `id`.
fn removed(id: String) -> wire::Removed {
    wire::Removed {
        id,
        removed: true,
        extra: serde_json::Map::new(),
    }
}

/// `DELETE /jobs/:id`
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::Removed>, ApiError> {
    state.hub.jobs().changes_of(&id).delete(&id).await?;
    Ok(Json(removed(id)))
}

/// `POST /jobs/:id/{cancel,pause,resume,requeue}`
pub async fn control(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let action: JobAction = action.parse().map_err(ApiError::NotFound)?;
    fetch_package_of(&state, &id).await;
    let changes = state.hub.jobs().changes_of(&id);
    let job = changes.control(&id, action, package_check(&state)).await?;
    Ok(Json(job))
}

#[derive(Deserialize)]
pub struct TasksQuery {
    limit: Option<String>,
    after: Option<String>,
}

/// `GET /jobs/:id/tasks?limit=N&after=INDEX`: a page of tasks in index
/// order, with a `Link: <…>; rel="next"` header while more follow.
pub async fn tasks(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<TasksQuery>,
) -> Result<Response, ApiError> {
    let (limit, after) = page_of(&query)?;
    let (page, more) = state.hub.jobs().tasks(&id, after, limit)?;
    let last = page.last().and_then(|t| t["index"].as_u64());
    let mut response = Json(Value::Array(page)).into_response();
    if let (true, Some(last)) = (more, last) {
        let next = format!("</api/v1/jobs/{id}/tasks?limit={limit}&after={last}>; rel=\"next\"");
        if let Ok(next) = header::HeaderValue::try_from(next) {
            response.headers_mut().insert(header::LINK, next);
        }
    }
    Ok(response)
}

fn page_of(query: &TasksQuery) -> Result<(usize, Option<usize>), ApiError> {
    let limit = match query.limit.as_deref() {
        None => MAX_TASK_PAGE,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_TASK_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit {text:?}: use a whole number from 1 to {MAX_TASK_PAGE}"
                ))
            })?,
    };
    let after = match query.after.as_deref() {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "after {text:?}: use the index of the last task of the previous page (a whole number from 0)"
            ))
        })?),
    };
    Ok((limit, after))
}

/// `GET /jobs/:id/artifacts`
pub async fn artifacts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Array(state.hub.jobs().artifacts(&id)?)))
}

/// `GET /jobs/:id/artifacts/:name`: the bytes, with their media type.
pub async fn artifact(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (meta, path) = state.hub.jobs().artifact(&id, &name)?;
    if let (Some(object), Some(space)) = (&meta.object, state.hub.jobs().space()) {
        let reader = space.artifact(object).await?;
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
        return Ok(files::download(
            &meta.media_type,
            &meta.name,
            meta.size,
            body,
        ));
    }
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("artifact {}: {e}", path.display())))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok(files::download(
        &meta.media_type,
        &meta.name,
        meta.size,
        body,
    ))
}

/// `GET /jobs/:id/log`: the job log as text lines, replayed, then live
/// until the job ends.
pub async fn log(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lines = state.hub.jobs().clone().log_stream(&id).await?;
    Ok(stream_response(lines, "text/plain; charset=utf-8"))
}

// ---- workers -------------------------------------------------------------

/// `POST /workers`: register a remote worker → 201.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: wire::WorkerRegistration = read_json(&headers, body).await?;
    let name = request
        .name
        .ok_or_else(|| ApiError::BadRequest("missing worker name".into()))?;
    let worker = state.hub.jobs().register(
        &name,
        request.slots.unwrap_or(1),
        request.tags,
        request.id.as_deref(),
        request.version.as_deref().unwrap_or_default(),
    )?;
    Ok((StatusCode::CREATED, Json(worker)).into_response())
}

/// `GET /workers`
pub async fn workers(State(state): State<AppState>) -> Json<Value> {
    Json(Value::Array(state.hub.jobs().workers()))
}

/// `GET /workers/:id`
pub async fn worker(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.hub.jobs().worker(&id)?))
}

/// `PATCH /workers/:id` `{"status": "enabled" | "disabled" | "draining"}`
pub async fn patch_worker(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let patch: wire::PatchWorker = read_json(&headers, body).await?;
    let status = match patch.status.as_deref() {
        Some("enabled" | "enable") => WorkerStatus::Enabled,
        Some("disabled" | "disable") => WorkerStatus::Disabled,
        Some("draining" | "drain") => WorkerStatus::Draining,
        other => {
            return Err(ApiError::BadRequest(format!(
                "status {other:?}: use enabled, disabled or draining"
            )));
        }
    };
    Ok(Json(state.hub.jobs().set_worker_status(&id, status)?))
}

/// `DELETE /workers/:id`: sign off; its tasks are requeued.
pub async fn delete_worker(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::Removed>, ApiError> {
    state.hub.jobs().remove_worker(&id)?;
    Ok(Json(removed(id)))
}

/// `POST /workers/:id/pickup`: 200 task lease, 204 nothing to do.
pub async fn pickup(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.hub.jobs().pickup(&id) {
        Ok(Some(lease)) => Ok(Json(lease_reply(&state, lease)).into_response()),
        Ok(None) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(PickupError::Unknown(m)) => Err(ApiError::NotFound(m)),
        Err(PickupError::Refused(m)) => Err(ApiError::Locked(m)),
        Err(PickupError::Storage(e)) => Err(e.into()),
    }
}

/// What a remote worker gets for `lease`: the task, its component, and the package's own
/// limits (a remote worker has only the component, not its manifest).
fn lease_reply(state: &AppState, lease: Lease) -> wire::TaskLease {
    let limits = state
        .hub
        .sequence(&lease.package_id)
        .map(|s| s.program.limits())
        .unwrap_or_default();
    let config = state.hub.jobs().config();
    let spec = lease.spec;
    wire::TaskLease {
        task_id: lease.task_id,
        job_id: spec.job_id,
        attempt: spec.attempt,
        frame_attempt: spec.frame_attempt,
        frame_start: spec.frame_start,
        frame_end: spec.frame_end,
        settings: serde_json::from_str(&spec.settings).unwrap_or_default(),
        timeout_ms: spec.timeout.as_millis() as u64,
        package: wire::LeasePackage {
            url: format!("/api/v1/packages/{}", lease.digest),
            digest: lease.digest,
        },
        limits: Some(wire::LeaseLimits {
            memory_bytes: limits.memory_bytes.map(|b| b as u64),
            wall_time_ms: limits.wall_time.map(|d| d.as_millis() as u64),
            cpu_time_ms: limits.cpu_time.map(|d| d.as_millis() as u64),
        }),
        lease_ms: config.lease.as_millis() as u64,
        heartbeat_ms: config.heartbeat.as_millis() as u64,
        extra: serde_json::Map::new(),
    }
}

/// `POST /workers/:id/heartbeat` → `{"cancel": [...], "drain": bool}`
pub async fn heartbeat(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::HeartbeatReply>, ApiError> {
    let beat: wire::Heartbeat = read_json(&headers, body).await?;
    let reply = state.hub.jobs().heartbeat(&id, beat.tasks)?;
    Ok(Json(reply))
}

/// An artifact's media type, from the upload's `content-type` (default
/// `application/octet-stream`): at most 127 printable ASCII characters.
fn artifact_media_type(headers: &HeaderMap) -> Result<String, ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    if media_type.len() > 127 || media_type.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return Err(ApiError::BadRequest(
            "content-type: at most 127 printable ASCII characters".into(),
        ));
    }
    Ok(media_type.to_string())
}

/// Which attempt of which frame an artifact upload belongs to.
#[derive(Deserialize)]
pub struct UploadQuery {
    attempt: u32,
    frame: i64,
    worker: Option<String>,
}

/// `PUT /tasks/:id/artifacts/:name?attempt=N&frame=F`: one artifact of a
/// running attempt, checked against the lease before its body is read and
/// streamed to disk.
pub async fn upload_artifact(
    State(state): State<AppState>,
    Path((task_id, name)): Path<(String, String)>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let media_type = artifact_media_type(&headers)?;
    let size = state
        .hub
        .jobs()
        .stage_artifact_stream(
            Upload {
                task_id: &task_id,
                worker: query.worker.as_deref(),
                attempt: query.attempt,
                frame: query.frame,
            },
            &name,
            &media_type,
            body.into_data_stream(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::StoredArtifact { name, size }),
    )
        .into_response())
}

fn result_fields(result: &wire::TaskResult) -> Result<(&str, u32), ApiError> {
    let worker = result
        .worker_id
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("missing workerId".into()))?;
    let attempt = result
        .attempt
        .ok_or_else(|| ApiError::BadRequest("missing attempt".into()))?;
    Ok((worker, attempt))
}

/// `POST /tasks/:id/complete` `{"workerId", "attempt"}`
pub async fn complete(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::TaskEnded>, ApiError> {
    let result: wire::TaskResult = read_json(&headers, body).await?;
    let (worker, attempt) = result_fields(&result)?;
    let usage = match (result.cpu_ms, result.peak_memory_bytes) {
        (Some(cpu_ms), Some(peak_memory_bytes)) if cpu_ms.is_finite() && cpu_ms >= 0.0 => {
            Some(TaskUsage {
                cpu_ms,
                peak_memory_bytes,
            })
        }
        _ => None,
    };
    state
        .hub
        .jobs()
        .complete(&task_id, worker, attempt, usage)?;
    Ok(Json(wire::TaskEnded {
        id: task_id,
        completed: true,
        failed: false,
    }))
}

/// `POST /tasks/:id/fail` `{"workerId", "attempt", "error"}`
pub async fn fail(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<wire::TaskEnded>, ApiError> {
    let result: wire::TaskResult = read_json(&headers, body).await?;
    let (worker, attempt) = result_fields(&result)?;
    let error = result
        .error
        .as_deref()
        .unwrap_or("the worker gave no reason");
    if let Some(done) = result.frames_done {
        state
            .hub
            .jobs()
            .frames_finished(&task_id, worker, attempt, done);
    }
    state.hub.jobs().fail(&task_id, worker, attempt, error)?;
    Ok(Json(wire::TaskEnded {
        id: task_id,
        completed: false,
        failed: true,
    }))
}

/// `POST /tasks/:id/requeue`: render one task's frames again.
pub async fn requeue_task(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some(job) = state.hub.jobs().job_of_task(&task_id) {
        fetch_package_of(&state, &job).await;
    }
    let changes = state.hub.jobs().changes_of_task(&task_id);
    Ok(Json(
        changes
            .requeue_task(&task_id, package_check(&state))
            .await?,
    ))
}

/// Whether the hub holds a package (id, digest): a requeue needs its job's.
fn package_check(state: &AppState) -> std::sync::Arc<crate::jobs::PackageCheck> {
    let hub = state.hub.clone();
    std::sync::Arc::new(move |package: &str, digest: &str| hub.has_package(package, digest))
}

/// Loads the package of a job of the space from the space when this hub does not hold
/// it, so a requeue finds it (or tells that it is gone).
async fn fetch_package_of(state: &AppState, id: &str) {
    if state.hub.jobs().is_shared(id)
        && let Some(package) = state.hub.jobs().package_of(id)
    {
        let _ = state.hub.sequence_or_fetch(&package).await;
    }
}

/// `GET /packages/:digest`: the component a task lease names.
pub async fn package(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no job uses a package with digest {digest}"));
    let id = state
        .hub
        .jobs()
        .package_for_digest(&digest)
        .ok_or_else(not_found)?;
    let sequence = state.hub.sequence(&id).map_err(|_| not_found())?;
    if sequence.program.digest != digest {
        return Err(not_found());
    }
    let path = sequence.package.component_path.clone();
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("component {}: {e}", path.display())))?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok(files::download(
        "application/wasm",
        &format!("{digest}.wasm"),
        len,
        body,
    ))
}

/// `DELETE /jobs/:id/blocklist[?worker=ID]`: takes a worker (default: every
/// worker) off the job's blocklist.
pub async fn unblock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<Unblock>,
) -> Result<Json<Value>, ApiError> {
    let changes = state.hub.jobs().changes_of(&id);
    Ok(Json(changes.unblock(&id, query.worker.as_deref()).await?))
}

/// The query of `DELETE /jobs/:id/blocklist`.
#[derive(Deserialize)]
pub struct Unblock {
    worker: Option<String>,
}
