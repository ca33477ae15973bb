//! Streams the Space routes relay: another hub's WebSocket, frame by frame
//! (close codes included), and another hub's log lines tagged with its id.

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderValue;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::ApiError;
use crate::space::HubEntry;

/// Longest log line passed on whole; longer ones are cut.
const MAX_LINE: usize = 64 << 10;

/// Opens the same WebSocket on `hub` and relays frames both ways until
/// either side closes.
pub async fn forward(
    upgrade: WebSocketUpgrade,
    hub: &HubEntry,
    path: &str,
    auth: Option<&HeaderValue>,
) -> Result<Response, ApiError> {
    let url = format!(
        "{}/api/v1/{}",
        hub.url.replacen("http", "ws", 1),
        path.trim_start_matches('/')
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ApiError::BadGateway(format!("bad WebSocket address {url}: {e}")))?;
    if let Some(auth) = auth {
        request.headers_mut().insert("authorization", auth.clone());
    }
    let (upstream, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(response) => ApiError::BadGateway(format!(
                "hub {} refused the WebSocket with {}",
                hub.id,
                response.status()
            )),
            other => ApiError::BadGateway(format!("hub {} did not answer: {other}", hub.id)),
        })?;
    Ok(upgrade.on_upgrade(move |client| relay(client, upstream)))
}

async fn relay(
    client: WebSocket,
    upstream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) {
    let (mut client_tx, mut client_rx) = client.split();
    let (mut upstream_tx, mut upstream_rx) = upstream.split();
    let up = async {
        while let Some(Ok(message)) = client_rx.next().await {
            let closing = matches!(message, Message::Close(_));
            if upstream_tx.send(to_upstream(message)).await.is_err() || closing {
                break;
            }
        }
    };
    let down = async {
        while let Some(Ok(message)) = upstream_rx.next().await {
            let Some(message) = from_upstream(message) else {
                continue;
            };
            let closing = matches!(message, Message::Close(_));
            if client_tx.send(message).await.is_err() || closing {
                break;
            }
        }
    };
    // Output ends with the upstream's Close; input may end first and the
    // output still flows, so the relay lasts until the upstream is done.
    tokio::join!(up, down);
}

fn to_upstream(message: Message) -> tungstenite::Message {
    match message {
        Message::Text(text) => tungstenite::Message::text(text.as_str()),
        Message::Binary(data) => tungstenite::Message::binary(data),
        Message::Ping(data) => tungstenite::Message::Ping(data),
        Message::Pong(data) => tungstenite::Message::Pong(data),
        Message::Close(frame) => {
            tungstenite::Message::Close(frame.map(|f| tungstenite::protocol::CloseFrame {
                code: f.code.into(),
                reason: f.reason.as_str().into(),
            }))
        }
    }
}

fn from_upstream(message: tungstenite::Message) -> Option<Message> {
    Some(match message {
        tungstenite::Message::Text(text) => Message::Text(text.as_str().into()),
        tungstenite::Message::Binary(data) => Message::Binary(data),
        tungstenite::Message::Ping(data) => Message::Ping(data),
        tungstenite::Message::Pong(data) => Message::Pong(data),
        tungstenite::Message::Close(frame) => Message::Close(frame.map(|f| CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().into(),
        })),
        tungstenite::Message::Frame(_) => return None,
    })
}

/// The JSON lines of `body`, each with `"hub": hub` added (lines that are
/// not JSON objects pass as they are).
pub fn tag_lines(body: Body, hub: String) -> impl Stream<Item = Bytes> + Send {
    let state = (body.into_data_stream(), BytesMut::new(), hub);
    futures::stream::unfold(state, |(mut stream, mut pending, hub)| async move {
        loop {
            if let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line = pending.split_to(end + 1);
                return Some((tag(&line, &hub), (stream, pending, hub)));
            }
            if pending.len() > MAX_LINE {
                let line = pending.split_to(MAX_LINE);
                return Some((tag(&line, &hub), (stream, pending, hub)));
            }
            match stream.next().await {
                Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    })
}

fn tag(line: &[u8], hub: &str) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(mut fields)) => {
            fields.insert("hub".into(), hub.into());
            let mut text = serde_json::Value::Object(fields).to_string();
            text.push('\n');
            Bytes::from(text)
        }
        _ => Bytes::copy_from_slice(line),
    }
}
