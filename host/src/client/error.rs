//! What can go wrong talking to a hub.

use reqwest::StatusCode;
use serde_json::Value;

/// An error from [`HubClient`](super::HubClient).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub URL cannot be used (not `http://host:port`).
    #[error("invalid hub URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request could not be sent, or the connection failed while a body
    /// was streaming.
    #[error("{}", transport_message(.url, .cause))]
    Transport {
        /// The request's URL.
        url: String,
        /// The underlying HTTP error.
        cause: reqwest::Error,
    },
    /// The hub answered with an error status. `message` is the hub's own
    /// words (its `{"error": "..."}`), or the status when it sent none.
    #[error("{message}")]
    Hub {
        /// The HTTP status.
        status: StatusCode,
        /// The hub's message.
        message: String,
    },
    /// The hub's reply is not the JSON this client expects.
    #[error("unexpected reply from {url}: {cause}")]
    Decode {
        /// The request's URL.
        url: String,
        /// Why it could not be decoded.
        cause: serde_json::Error,
    },
    /// A local file to upload could not be read.
    #[error("cannot read {}: {cause}", .path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A body downloaded from the hub could not be written to a file.
    #[error("cannot write {}: {cause}", .path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

impl ClientError {
    /// The HTTP status, when the hub answered with an error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Hub { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may work: the hub was unreachable, or
    /// failed (5xx), as while it restarts.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Hub { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

/// Names the innermost cause (e.g. "Connection refused"), which is what a
/// user can act on; reqwest's own message only repeats the URL.
fn transport_message(url: &str, cause: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = cause;
    while let Some(next) = root.source() {
        root = next;
    }
    if cause.is_connect() {
        format!("cannot connect to the hub at {url}: {root}")
    } else if cause.is_body() || cause.is_decode() {
        format!("the connection to the hub broke ({url}): {root}")
    } else {
        format!("request to {url} failed: {root}")
    }
}

/// The message of an error reply: `{"error": "..."}` (or Scramjet's
/// serialized error object), else the body as text, else the status.
pub(crate) fn hub_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        match value.get("error") {
            Some(Value::String(message)) if !message.is_empty() => return message.clone(),
            Some(error @ Value::Object(fields)) => {
                return match fields.get("message") {
                    Some(Value::String(message)) => message.clone(),
                    _ => error.to_string(),
                };
            }
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('{') {
        status.to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_the_hubs_error_field() {
        let body = br#"{"error":"Instance x not found"}"#;
        assert_eq!(
            hub_message(StatusCode::NOT_FOUND, body),
            "Instance x not found"
        );
    }

    #[test]
    fn message_of_a_serialized_error_is_its_message() {
        let body = br#"{"error":{"message":"Invalid pkg tar.gz archive","code":"X"}}"#;
        assert_eq!(
            hub_message(StatusCode::UNPROCESSABLE_ENTITY, body),
            "Invalid pkg tar.gz archive"
        );
    }

    #[test]
    fn message_of_an_empty_or_unknown_body_is_the_status() {
        assert_eq!(hub_message(StatusCode::NOT_FOUND, b""), "404 Not Found");
        assert_eq!(
            hub_message(StatusCode::BAD_REQUEST, b"{\"other\":1}"),
            "400 Bad Request"
        );
        assert_eq!(
            hub_message(StatusCode::BAD_GATEWAY, b"upstream down\n"),
            "upstream down"
        );
    }
}
