//! Streaming routes: input/stdin in, output/stdout/stderr/log out, the
//! one-request `inout` transform and the WebSocket endpoint.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};

use super::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, Stream, StreamExt};

use super::{ApiError, AppState};
use crate::hub::InstanceRecord;
use crate::runtime::{EventStream, InputError, InputWriter, Instance, InstanceStatus, Terminated};
use crate::streams::{Pipe, PipeReader};

/// A chunked `application/octet-stream` response fed by a pipe reader.
pub fn pipe_body(reader: PipeReader) -> Response {
    stream_response(reader.into_stream(), "application/octet-stream")
}

pub(super) fn stream_response(
    stream: impl Stream<Item = Bytes> + Send + 'static,
    content_type: &'static str,
) -> Response {
    let body = Body::from_stream(stream.map(Ok::<_, Infallible>));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// An NDJSON response of the messages of events named `name`.
pub fn ndjson_body(events: EventStream, name: String) -> Response {
    let stream = futures::stream::unfold((events, name), |(mut events, name)| async move {
        loop {
            let event = events.next().await?;
            if event.name == name {
                let mut line = event.message.into_bytes();
                line.push(b'\n');
                return Some((Bytes::from(line), (events, name)));
            }
        }
    });
    stream_response(stream, "application/x-ndjson")
}

/// Which input channel a POST feeds.
#[derive(Clone, Copy)]
enum Target {
    Input,
    Stdin,
}

fn end_stream(headers: &HeaderMap) -> bool {
    headers
        .get("x-end-stream")
        .map(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
        .unwrap_or(true)
}

async fn feed(
    record: &InstanceRecord,
    target: Target,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let instance = &record.instance;
    check_feed(record, target, headers)?;
    let sender = match target {
        Target::Input => instance.input(),
        Target::Stdin => instance.stdin(),
    }
    .ok_or_else(ended)?;
    if matches!(target, Target::Input)
        && let Some(content_type) = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    {
        instance.set_input_content_type(content_type);
    }
    record.mark_input_started();
    let end = end_stream(headers);
    send_body(body, &sender).await?;
    if end {
        sender.end();
    }
    Ok((if end {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    })
    .into_response())
}

/// Refuses a body for an input that reads from a topic, and a first input body without a
/// content type (as the Scramjet hub does).
fn check_feed(
    record: &InstanceRecord,
    target: Target,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    // A WASI command's stdin is its input: the same stream, the same rules.
    let is_input = matches!(target, Target::Input) || record.instance.stdin_is_input();
    if !is_input {
        return Ok(());
    }
    if record.requires.is_some() {
        return Err(ApiError::MethodNotAllowed(
            "Input provided in other way: this instance reads its input from a topic".into(),
        ));
    }
    if matches!(target, Target::Input)
        && !headers.contains_key(header::CONTENT_TYPE)
        && !record.input_started()
    {
        return Err(ApiError::NotAcceptable(
            "Content-Type must be defined".into(),
        ));
    }
    Ok(())
}

fn ended() -> ApiError {
    ApiError::Conflict("the input of this instance has already ended".into())
}

async fn send_body(body: Body, sender: &InputWriter) -> Result<(), ApiError> {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("input interrupted: {e}")))?;
        match sender.send(chunk).await {
            Ok(()) => {}
            Err(InputError::Ended) => {
                return Err(ApiError::Conflict(
                    "the input of this instance was ended (by another request) while this one was sending; the rest of this body was not taken".into(),
                ));
            }
            Err(InputError::Gone) => break, // the instance ended; the rest has nowhere to go
        }
    }
    Ok(())
}

/// `POST /instance/:id/input` (`x-end-stream`, default true)
pub async fn input(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let record = state.hub.instance(&id)?;
    feed(&record, Target::Input, &headers, body).await
}

/// `POST /instance/:id/stdin` (`x-end-stream`, default true)
pub async fn stdin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let record = state.hub.instance(&id)?;
    feed(&record, Target::Stdin, &headers, body).await
}

fn read(state: &AppState, id: &str, pick: fn(&Instance) -> &Pipe) -> Result<Response, ApiError> {
    let record = state.hub.instance(id)?;
    Ok(pipe_body(pick(&record.instance).reader()))
}

/// `GET /instance/:id/output`
pub async fn output(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    read(&state, &id, Instance::output)
}

/// `GET /instance/:id/stdout`
pub async fn stdout(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    read(&state, &id, Instance::stdout)
}

/// `GET /instance/:id/stderr`
pub async fn stderr(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    read(&state, &id, Instance::stderr)
}

/// `GET /instance/:id/log`
pub async fn log(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    read(&state, &id, Instance::log)
}

/// `POST /instance/:id/inout`: the body is the input (ended with the body),
/// the response streams the output.
pub async fn inout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let record = state.hub.instance(&id)?;
    if record.requires.is_some() {
        return Err(ApiError::MethodNotAllowed(
            "Input provided in other way".into(),
        ));
    }
    let sender = record.instance.input().ok_or_else(ended)?;
    record.mark_input_started();
    let output = record.instance.output().reader();
    tokio::spawn(async move {
        let _ = send_body(body, &sender).await;
        sender.end();
    });
    Ok(pipe_body(output))
}

/// `GET /instance/:id/ws`: frames sent are input, frames received are output.
pub async fn ws(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let record = state.hub.instance(&id)?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "{}: open this route as a WebSocket (GET with Upgrade: websocket)",
            rejection.body_text()
        ))
    })?;
    if record.requires.is_some() {
        return Err(ApiError::MethodNotAllowed(
            "Input provided in other way: this instance reads its input from a topic".into(),
        ));
    }
    let sender = record.instance.input().ok_or_else(ended)?;
    record.mark_input_started();
    // A browser that sent its token as a subprotocol needs it chosen back.
    let upgrade = match super::access::websocket_token_protocol(&headers) {
        Some(protocol) => upgrade.protocols([protocol.to_string()]),
        None => upgrade,
    };
    Ok(upgrade.on_upgrade(move |socket| websocket(socket, record.instance.clone(), sender)))
}

/// Data frames (text or binary) are input; an empty data frame (or the
/// socket closing) ends the input for every writer while the output keeps
/// flowing; output ends with a Close frame saying how the instance ended.
async fn websocket(socket: WebSocket, instance: Instance, input: InputWriter) {
    let (mut tx, mut rx) = socket.split();
    let mut output = instance.output().reader();
    let ended = instance.clone();
    let writer = tokio::spawn(async move {
        while let Some(chunk) = output.next().await {
            if tx.send(Message::Binary(chunk)).await.is_err() {
                return;
            }
        }
        let close = close_frame(&ended.wait().await, ended.status());
        let _ = tx.send(Message::Close(Some(close))).await;
    });
    while let Some(Ok(message)) = rx.next().await {
        let data = match message {
            Message::Binary(data) => data,
            Message::Text(text) => Bytes::from(text.as_str().to_owned()),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if data.is_empty() {
            input.end();
            continue;
        }
        // Frames after the end (or after the instance ended) are dropped.
        let _ = input.send(data).await;
    }
    input.end();
    let _ = writer.await;
}

/// 1000 when the instance completed (also when stopped or killed), 1011
/// with the reason when it errored. A Close reason holds at most 123 bytes.
fn close_frame(terminated: &Terminated, status: InstanceStatus) -> CloseFrame {
    let code = if status == InstanceStatus::Errored {
        close_code::ERROR
    } else {
        close_code::NORMAL
    };
    let mut end = terminated.reason.len().min(123);
    while !terminated.reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: terminated.reason[..end].into(),
    }
}
