//! The one error type of the HTTP boundary and how it becomes a response: DRF-style
//! `{"detail": "..."}` or a field map `{"field": ["message"]}`, always JSON, never a 500 for
//! anything a client can send.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Everything a handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 404 for a path id that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A 4xx with a `detail` message.
    #[error("{1}")]
    Detail(StatusCode, String),
    /// 400 with DRF's field-error map.
    #[error("invalid fields: {0:?}")]
    Fields(BTreeMap<String, Vec<String>>),
    /// 401: no credentials on a route that needs them.
    #[error("authentication credentials were not provided")]
    NotAuthenticated,
    /// 401: an `Authorization` header that does not name a valid token.
    #[error("invalid token")]
    InvalidToken,
    /// 403: authenticated, but not allowed.
    #[error("permission denied")]
    Forbidden,
    /// 405 for a method a route does not have.
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// Come back later: 429 when a per-address or per-user limit was reached, 503 when the box
    /// is busy; the message names the limit, and `Retry-After` says when the next attempt can
    /// pass.
    #[error("{detail}")]
    Retry {
        /// 429 or 503.
        status: StatusCode,
        /// What was limited and how to get under the limit.
        detail: String,
        /// Seconds until the next attempt can pass (at least 1).
        retry_after_s: u64,
    },
    /// 503: the store is shutting down.
    #[error("service unavailable")]
    Unavailable,
    /// 500: a bug or a broken database; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// 400 with a `detail` message.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::Detail(StatusCode::BAD_REQUEST, detail.into())
    }

    /// 503 with `Retry-After`: the box is busy for everyone.
    pub(crate) fn busy(detail: impl Into<String>, retry_after_s: u64) -> Self {
        Self::Retry {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: detail.into(),
            retry_after_s,
        }
    }

    /// 400 naming one field.
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut map = BTreeMap::new();
        map.insert(field.into(), vec![message.into()]);
        Self::Fields(map)
    }

    /// 507 Insufficient Storage with a `detail` naming the disk.
    pub(crate) fn disk_full(detail: impl Into<String>) -> Self {
        Self::Detail(StatusCode::INSUFFICIENT_STORAGE, detail.into())
    }

    /// 404 naming what was not found, e.g. `not_found("asset", 7)`.
    pub(crate) fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} {id}"))
    }
}

/// The answer when SQLite reports `SQLITE_FULL`.
pub(crate) const DATABASE_FULL: &str = "The box's disk is full: the database cannot store this change \
     (SQLITE_FULL) and nothing was saved. Staff can make room by deleting old recordings.";

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what, id } => Self::not_found(what, id),
            StoreError::Conflict { field, message } => Self::field(field, message),
            StoreError::InUse(message) => Self::bad_request(message),
            StoreError::Closed => Self::Unavailable,
            e if e.is_disk_full() => Self::disk_full(DATABASE_FULL),
            // A safety net: input checks should catch these first, but a constraint the
            // database enforces is still the client's mistake, never a 500.
            e if e.constraint_violation().is_some() => Self::bad_request(format!(
                "The request conflicts with stored data ({}).",
                e.constraint_violation().unwrap_or_default()
            )),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::NotFound(what) => (
                StatusCode::NOT_FOUND,
                json!({"detail": format!("Not found: {what}.")}),
            ),
            Self::Detail(status, detail) => (status, json!({"detail": detail})),
            Self::Fields(map) => (StatusCode::BAD_REQUEST, json!(map)),
            Self::NotAuthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Authentication credentials were not provided."}),
            ),
            Self::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Invalid token."}),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"detail": "You do not have permission to perform this action."}),
            ),
            Self::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"detail": format!("Method \"{m}\" not allowed.")}),
            ),
            Self::Retry {
                status,
                detail,
                retry_after_s,
            } => {
                let mut response = (status, axum::Json(json!({"detail": detail}))).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s.max(1)));
                return response;
            }
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"detail": "The server is shutting down; try again shortly."}),
            ),
            Self::Internal(cause) => {
                log::error!("internal error answering a request: {cause}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"detail": "Internal server error."}),
                )
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        response
    }
}

/// Result of a handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_database_answers_507_naming_the_disk() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        let response = ApiError::from(StoreError::Sqlite(full)).into_response();
        assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    }

    #[test]
    fn a_busy_answer_carries_retry_after() {
        let response = ApiError::busy("busy", 7).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
