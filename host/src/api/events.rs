//! Server-Sent Events: `GET /events` (every job, task, worker and instance
//! change) and `GET /jobs/:id/events` (one job's, until it ends).
//!
//! Every event carries an `id:` (see [`crate::events`]). A client that comes
//! back with `Last-Event-ID` gets the events it missed, each once, then the
//! live ones; one whose id is too old gets a `reset` event first and then,
//! on a job's stream, the job as it is now. Idle streams get a keep-alive
//! comment every ten seconds so proxies do not cut them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::extract::Path;
use super::{ApiError, AppState};
use crate::events::{Change, Feed, Resume};
use crate::jobs::{JobManager, JobState};
use crate::wire;

type SseItem = Result<Event, Infallible>;

/// The client's `Last-Event-ID`, if it sent one.
fn last_event_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty())
}

fn change_event(feed: &Feed, change: &Change) -> SseItem {
    Ok(Event::default()
        .id(feed.id(change.seq))
        .event(change.kind)
        .data(change.data.to_string()))
}

/// A `reset`: the client missed changes that are no longer kept and must
/// read the current state again. With `seq`, the id to resume from after it.
fn reset_event(feed: &Feed, seq: Option<u64>, why: &str) -> SseItem {
    let mut event = Event::default().event("reset").data(
        wire::to_json(wire::FeedReset {
            reason: why.to_string(),
        })
        .to_string(),
    );
    if let Some(seq) = seq {
        event = event.id(feed.id(seq));
    }
    Ok(event)
}

fn sse(stream: impl Stream<Item = SseItem> + Send + 'static) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response()
}

const TOO_OLD: &str = "the Last-Event-ID is older than the events this hub keeps (or from before it restarted); read the current state again";

/// `GET /events`: SSE of every job, task, worker and instance change. A new
/// stream starts with an `open` event, whose id a client can come back with.
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let feed = state.hub.events().clone();
    let subscription = feed.subscribe(last_event_id(&headers));
    let first: Vec<SseItem> = match subscription.resume {
        Resume::Live => vec![Ok(Event::default()
            .id(feed.id(subscription.last_seq))
            .event("open")
            .data("{}"))],
        Resume::Missed(changes) => changes.iter().map(|c| change_event(&feed, c)).collect(),
        Resume::Reset => vec![reset_event(&feed, Some(subscription.last_seq), TOO_OLD)],
    };
    let live = futures::stream::unfold((subscription.live, feed), |(mut rx, feed)| async move {
        let item = match rx.recv().await {
            Ok(change) => change_event(&feed, &change),
            Err(RecvError::Lagged(n)) => reset_event(
                &feed,
                None,
                &format!("{n} events were skipped because this client read too slowly"),
            ),
            Err(RecvError::Closed) => return None,
        };
        Some((item, (rx, feed)))
    });
    sse(futures::stream::iter(first).chain(live))
}

/// `GET /jobs/:id/events`: SSE of this job's changes, starting with the job
/// as it is (or, resumed, with what the client missed) and ending once it
/// reaches a final state. Resumed after its end: 204, which tells a browser's
/// `EventSource` to stop reconnecting.
pub async fn job_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (jobs, feed) = (state.hub.jobs().clone(), state.hub.events().clone());
    let subscription = feed.subscribe(last_event_id(&headers));
    let (resume, last_seq) = (subscription.resume, subscription.last_seq);
    let Some((first, done)) = job_replay(&jobs, &feed, &id, resume, last_seq)? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let live = job_follow(subscription.live, jobs, feed, id, done);
    Ok(sse(futures::stream::iter(first).chain(live)))
}

/// What a job's event stream starts with, after `resume`: the job as it is (new or reset
/// streams) or the changes the client missed, and whether the job has ended. `None`: a
/// resumed stream of an ended job that missed nothing (its end was the last event).
fn job_replay(
    jobs: &JobManager,
    feed: &Feed,
    id: &str,
    resume: Resume,
    last_seq: u64,
) -> Result<Option<(Vec<SseItem>, bool)>, ApiError> {
    let snapshot = || -> Result<(SseItem, bool), ApiError> {
        let job = jobs.get(id)?;
        let done = ended(&job);
        let event = Event::default()
            .id(feed.id(last_seq))
            .event("job")
            .data(job.to_string());
        Ok((Ok(event), done))
    };
    let mut first = Vec::new();
    let mut done = false;
    match resume {
        Resume::Live => {
            let (event, ended) = snapshot()?;
            first.push(event);
            done = ended;
        }
        Resume::Missed(changes) => {
            for change in changes.iter().filter(|c| c.job_id.as_deref() == Some(id)) {
                first.push(change_event(feed, change));
                done |= is_final(change);
            }
            // Nothing missed: a job that has ended has nothing more to say.
            if first.is_empty() && snapshot()?.1 {
                return Ok(None);
            }
        }
        Resume::Reset => {
            first.push(reset_event(feed, Some(last_seq), TOO_OLD));
            let (event, ended) = snapshot()?;
            first.push(event);
            done = ended;
        }
    }
    Ok(Some((first, done)))
}

/// Job `id`'s changes from `rx` until it ends (`done`: it has): each step yields one change,
/// or after a lag a `reset` and the job as it is now.
fn job_follow(
    rx: tokio::sync::broadcast::Receiver<Arc<Change>>,
    jobs: Arc<JobManager>,
    feed: Arc<Feed>,
    id: String,
    done: bool,
) -> impl Stream<Item = SseItem> + Send + 'static {
    let state = (rx, (jobs, feed), id, done);
    futures::stream::unfold(state, |(mut rx, (jobs, feed), id, done)| async move {
        if done {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(change) if change.job_id.as_deref() == Some(id.as_str()) => {
                    let done = is_final(&change);
                    let events = vec![change_event(&feed, &change)];
                    return Some((events, (rx, (jobs, feed), id, done)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let why =
                        format!("{n} events were skipped because this client read too slowly");
                    let mut events = vec![reset_event(&feed, None, &why)];
                    let now = jobs.get(&id).ok();
                    let done = now.as_ref().is_none_or(ended);
                    if let Some(job) = now {
                        events.push(Ok(Event::default().event("job").data(job.to_string())));
                    }
                    return Some((events, (rx, (jobs, feed), id, done)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .flat_map(futures::stream::iter)
}

/// A job view that is final: a final state, or removed.
fn ended(job: &Value) -> bool {
    job.get("removed").is_some()
        || job
            .get("state")
            .and_then(Value::as_str)
            .and_then(JobState::parse)
            .is_some_and(JobState::is_terminal)
}

/// A job change after which nothing more will happen.
fn is_final(change: &Arc<Change>) -> bool {
    change.kind == "job" && ended(&change.data)
}
