//! Byte streams from the hub, and NDJSON values read from them.

use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde_json::Value;

use super::ClientError;

/// A body streamed from the hub, chunk by chunk as it arrives.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send>>;

/// JSON values streamed from the hub, one per NDJSON line.
pub type JsonStream = Pin<Box<dyn Stream<Item = Result<Value, ClientError>> + Send>>;

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
}
