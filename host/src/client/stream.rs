//! Byte streams from the hub, and the NDJSON values and Server-Sent Events
//! read from them.

use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde_json::Value;

use super::ClientError;

/// A body streamed from the hub, chunk by chunk as it arrives.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send>>;

/// JSON values streamed from the hub, one per NDJSON line.
pub type JsonStream = Pin<Box<dyn Stream<Item = Result<Value, ClientError>> + Send>>;

/// Server-Sent Events streamed from the hub, one per event.
pub type SseStream = Pin<Box<dyn Stream<Item = Result<SseEvent, ClientError>> + Send>>;

/// One Server-Sent Event: its `event:` name, its `data:` lines and the
/// stream's last event id when it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event name; `message` when the hub sent none.
    pub event: String,
    /// The data lines, joined with newlines.
    pub data: String,
    /// The last `id:` the stream sent, up to this event (as a browser's
    /// `EventSource` keeps it): what `Last-Event-ID` resumes from.
    pub id: Option<String>,
}

/// The body of `response` as a [`ByteStream`].
pub(crate) fn bytes(response: reqwest::Response) -> ByteStream {
    let url = response.url().to_string();
    Box::pin(
        response
            .bytes_stream()
            .map_err(move |cause| ClientError::Transport {
                url: url.clone(),
                cause,
            }),
    )
}

/// Splits `bytes` into lines and parses each non-blank one as JSON; a last
/// line without a newline counts too.
pub(crate) fn ndjson(bytes: ByteStream, url: String) -> JsonStream {
    struct State {
        bytes: ByteStream,
        pending: Vec<u8>,
        ended: bool,
        url: String,
    }
    let state = State {
        bytes,
        pending: Vec::new(),
        ended: false,
        url,
    };
    Box::pin(futures::stream::try_unfold(state, |mut state| async move {
        loop {
            let line = match state.pending.iter().position(|&b| b == b'\n') {
                Some(end) => state.pending.drain(..=end).collect(),
                None if state.ended => std::mem::take(&mut state.pending),
                None => {
                    match state.bytes.next().await {
                        Some(chunk) => state.pending.extend_from_slice(&chunk?),
                        None => state.ended = true,
                    }
                    continue;
                }
            };
            if line.trim_ascii().is_empty() {
                if state.ended && state.pending.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            let value = serde_json::from_slice(&line).map_err(|cause| ClientError::Decode {
                url: state.url.clone(),
                cause,
            })?;
            return Ok(Some((value, state)));
        }
    }))
}

/// Reads `text/event-stream` from `bytes`: `field: value` lines, a blank
/// line ending each event; comments (`:` lines, the hub's keep-alives) and
/// events without data are skipped; `id:` is kept for the events after it.
pub(crate) fn sse(bytes: ByteStream) -> SseStream {
    struct State {
        bytes: ByteStream,
        pending: Vec<u8>,
        ended: bool,
        event: Option<String>,
        data: Option<String>,
        id: Option<String>,
    }
    let state = State {
        bytes,
        pending: Vec::new(),
        ended: false,
        event: None,
        data: None,
        id: None,
    };
    Box::pin(futures::stream::try_unfold(state, |mut state| async move {
        loop {
            let line: Vec<u8> = match state.pending.iter().position(|&b| b == b'\n') {
                Some(end) => state.pending.drain(..=end).collect(),
                None if state.ended && state.pending.is_empty() => Vec::new(),
                None if state.ended => std::mem::take(&mut state.pending),
                None => {
                    match state.bytes.next().await {
                        Some(chunk) => state.pending.extend_from_slice(&chunk?),
                        None => state.ended = true,
                    }
                    continue;
                }
            };
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let event = state.event.take();
                if let Some(data) = state.data.take() {
                    let event = event.unwrap_or_else(|| "message".into());
                    let id = state.id.clone();
                    return Ok(Some((SseEvent { event, data, id }, state)));
                }
                if state.ended && state.pending.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => state.event = Some(value.to_string()),
                "data" => match &mut state.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => state.data = Some(value.to_string()),
                },
                // An id with a NUL is ignored, as browsers do.
                "id" if !value.contains('\0') => {
                    state.id = Some(value.to_string()).filter(|id| !id.is_empty());
                }
                _ => {} // comments and `retry:`
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunks(parts: &[&'static str]) -> ByteStream {
        let items: Vec<Result<Bytes, ClientError>> = parts
            .iter()
            .map(|part| Ok(Bytes::from_static(part.as_bytes())))
            .collect();
        Box::pin(futures::stream::iter(items))
    }

    async fn collect(parts: &[&'static str]) -> Vec<Value> {
        ndjson(chunks(parts), "test".into())
            .try_collect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn ndjson_joins_lines_split_across_chunks() {
        let values = collect(&["{\"a\":", "1}\n\"tw", "o\"\n", "\n3"]).await;
        assert_eq!(values, vec![json!({"a": 1}), json!("two"), json!(3)]);
    }

    #[tokio::test]
    async fn ndjson_of_an_empty_body_is_empty() {
        assert!(collect(&[]).await.is_empty());
        assert!(collect(&["\n", "\n"]).await.is_empty());
    }

    #[tokio::test]
    async fn ndjson_fails_on_a_bad_line() {
        let result: Result<Vec<Value>, _> = ndjson(chunks(&["1\nnope\n"]), "test".into())
            .try_collect()
            .await;
        assert!(matches!(result, Err(ClientError::Decode { .. })));
    }

    async fn events(parts: &[&'static str]) -> Vec<(String, String)> {
        sse(chunks(parts))
            .map_ok(|e| (e.event, e.data))
            .try_collect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn sse_reads_events_split_across_chunks() {
        let got = events(&[
            ": keep-alive\n\nevent: job\r\nda",
            "ta: {\"id\":1}\r\n\r\nevent:task\ndata:a\ndata: b\n",
            "\ndata: plain\n\n",
        ])
        .await;
        assert_eq!(
            got,
            vec![
                ("job".to_string(), "{\"id\":1}".to_string()),
                ("task".to_string(), "a\nb".to_string()),
                ("message".to_string(), "plain".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn sse_skips_events_without_data_and_keeps_a_last_unterminated_one() {
        let got = events(&["event: job\n\nid: 3\nevent: worker\ndata: {}"]).await;
        assert_eq!(got, vec![("worker".to_string(), "{}".to_string())]);
        assert!(events(&[]).await.is_empty());
    }

    #[tokio::test]
    async fn sse_keeps_the_last_id_for_the_events_after_it() {
        let got: Vec<(String, Option<String>)> = sse(chunks(&[
            "id: a-1\ndata: 1\n\ndata: 2\n\nid: a-3\ndata: 3\n\nid:\ndata: 4\n\n",
        ]))
        .map_ok(|e| (e.data, e.id))
        .try_collect()
        .await
        .unwrap();
        let id = |s: &str| Some(s.to_string());
        assert_eq!(
            got,
            vec![
                ("1".into(), id("a-1")),
                ("2".into(), id("a-1")),
                ("3".into(), id("a-3")),
                ("4".into(), None),
            ]
        );
    }
}
