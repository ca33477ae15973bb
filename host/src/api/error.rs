//! The one error type of the HTTP API and its JSON body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::hub::HubError;
use crate::space::SpaceError;

/// An API error: a status and a message, sent as `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no bearer token was sent.
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// 403: the bearer token is wrong, or does not open this route.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route, sequence or instance.
    #[error("{0}")]
    NotFound(String),
    /// 405: the operation is not allowed in this state.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406: the request lacks a required content type.
    #[error("{0}")]
    NotAcceptable(String),
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 423: the worker may not take tasks now (disabled or draining).
    #[error("{0}")]
    Locked(String),
    /// 413: the body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the content type is not accepted here.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but refused (bad package, bad instance id).
    #[error("{0}")]
    Unprocessable(String),
    /// 502: another hub of the space did not answer.
    #[error("{0}")]
    BadGateway(String),
    /// 503: the hub is at capacity.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the hub failed; the cause is logged, the body stays generic.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Locked(_) => StatusCode::LOCKED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let body = Json(crate::wire::ErrorBody {
            error: self.to_string(),
        });
        (self.status(), body).into_response()
    }
}

impl From<SpaceError> for ApiError {
    fn from(err: SpaceError) -> Self {
        match err {
            SpaceError::UnknownHub(m) => ApiError::NotFound(m),
            SpaceError::Unhealthy(m) => ApiError::Unavailable(m),
            SpaceError::Upstream(m) => ApiError::BadGateway(m),
            SpaceError::Config(m) => ApiError::BadRequest(m),
            SpaceError::DuplicateId(m) => ApiError::Conflict(m),
            SpaceError::Nats(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<crate::jobs::JobError> for ApiError {
    fn from(err: crate::jobs::JobError) -> Self {
        HubError::from(err).into()
    }
}

impl From<HubError> for ApiError {
    fn from(err: HubError) -> Self {
        match err {
            HubError::NotFound(m) => ApiError::NotFound(m),
            HubError::BadRequest(m) => ApiError::BadRequest(m),
            HubError::Conflict(m) => ApiError::Conflict(m),
            HubError::Invalid(m) => ApiError::Unprocessable(m),
            HubError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            HubError::Mismatch(m) => ApiError::UnsupportedMediaType(m),
            HubError::Capacity(m) => ApiError::Unavailable(m),
            HubError::Package(e) if e.is_user_error() => ApiError::Unprocessable(e.to_string()),
            HubError::Runtime(e) if e.is_user_error() => ApiError::Unprocessable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
