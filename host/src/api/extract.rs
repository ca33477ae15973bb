//! `Path` and `Query` extractors whose rejections are [`ApiError`]s, so a
//! path segment that is not UTF-8 or a missing query parameter gets the same
//! JSON error body (400) as every other bad request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// `axum::extract::Path`, rejecting with a JSON 400.
#[derive(Debug)]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, rejecting with a JSON 400.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// How much of a refused request body is read and thrown away so the client
/// can finish sending and read the error, and for how long.
const DISCARD_LIMIT: usize = 64 << 20;
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops `body` in the background, up to [`DISCARD_LIMIT`] bytes
/// or [`DISCARD_TIME`]. A handler that refuses a request before reading its
/// body calls this so the error is a response the client reads: closing the
/// connection while the client is still sending shows it only a broken pipe.
/// Nothing read here goes anywhere.
pub fn discard_body(body: axum::body::Body) {
    use futures::StreamExt;
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut read = 0usize;
        let drain = async {
            while let Some(Ok(chunk)) = stream.next().await {
                read += chunk.len();
                if read > DISCARD_LIMIT {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
    });
}
