//! The Livepeer Studio stream API, audio-only, at `/livepeer/api`, as the `livepeer` Python
//! SDK 0.3.0 calls it (`Livepeer(api_key=TOKEN, server_url="http://<box>:8888/livepeer/api")`).
//! A Livepeer "stream" is a broadcast channel here (`crate::broadcast`), not a personal
//! stream and not an event stream.
//!
//! * Keys: `Authorization: Bearer <token>` with a staff user's Roundware token (from
//!   `POST /api/2/login/`; api/2's `token <key>` works too); missing or unknown is 401, not
//!   staff is 403.
//! * Errors are Studio's `{"errors": ["…"]}`; success codes are exactly those the SDK checks
//!   (201 create, 204 for PATCH, DELETE, terminate and start-pull).
//! * Every other known Livepeer area (assets, webhooks, rooms, transcoding, AI, access
//!   control, tasks, metrics) answers 501 `{"errors": ["not supported on this appliance"]}`;
//!   an unknown path under the prefix is 404.
//!
//! Here: the routes, the error shape, who may call. [`shape`] reads payloads and draws the
//! Stream object, [`streams`] the stream operations, [`targets`] the multistream targets,
//! [`sessions`] the live sessions and their recordings.
//!
//! Owns: these routes, Studio's conventions. May not touch: SQL beyond `store::channels`,
//! sources (ended through `crate::broadcast`).

mod clips;
mod doc;
mod sessions;
mod shape;
mod streams;
mod targets;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{self, AuthUser};
use crate::store::StoreError;

/// Largest JSON body of a stream operation.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Livepeer areas this box does not offer: 501, so the SDK raises `SDKError(501)`.
const NOT_OFFERED: [&str; 10] = [
    "asset",
    "webhook",
    "room",
    "transcode",
    "generate",
    "access-control",
    "task",
    "data",
    "api-token",
    "beta",
];

/// Adds these routes to the OpenAPI document of api/2.
pub(super) fn document(doc: &mut Value) {
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(doc::openapi_paths());
    }
}

/// The routes, merged at the root.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/livepeer/api/stream",
            get(streams::list).post(streams::create),
        )
        .route(
            "/livepeer/api/stream/{id}",
            get(streams::get_one)
                .patch(streams::update)
                .delete(streams::delete),
        )
        .route(
            "/livepeer/api/stream/{id}/terminate",
            delete(streams::terminate),
        )
        .route(
            "/livepeer/api/stream/{id}/start-pull",
            post(streams::start_pull),
        )
        .route(
            "/livepeer/api/stream/{id}/create-multistream-target",
            post(targets::add_to_stream),
        )
        .route(
            "/livepeer/api/stream/{id}/multistream/{target_id}",
            delete(targets::remove_from_stream),
        )
        .route(
            "/livepeer/api/multistream/target",
            get(targets::list).post(targets::create),
        )
        .route(
            "/livepeer/api/multistream/target/{id}",
            get(targets::get_one)
                .patch(targets::update)
                .delete(targets::delete),
        )
        .route(
            "/livepeer/api/stream/{id}/sessions",
            get(sessions::of_stream),
        )
        .route("/livepeer/api/stream/{id}/clips", get(clips::of_stream))
        .route("/livepeer/api/clip", post(clips::create))
        .route("/livepeer/api/session", get(sessions::list))
        .route("/livepeer/api/session/{id}", get(sessions::get_one))
        .route("/livepeer/api/session/{id}/clips", get(sessions::clips))
        .route("/livepeer/api/playback/{id}", get(streams::playback_info))
        .route("/livepeer/api/{*rest}", axum::routing::any(not_offered))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// 501 for a known Livepeer area, 404 for anything else under the prefix.
async fn not_offered(_: Staff, axum::extract::Path(rest): axum::extract::Path<String>) -> LpError {
    let area = rest.split('/').next().unwrap_or_default();
    if NOT_OFFERED.contains(&area) || rest.starts_with("stream/") {
        LpError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not supported on this appliance",
        )
    } else {
        LpError::new(StatusCode::NOT_FOUND, "not found")
    }
}

// ---------------------------------------------------------------------------------------
// Errors

/// Studio's error: a status and `{"errors": [message]}`.
#[derive(Debug)]
pub(super) struct LpError {
    code: StatusCode,
    message: String,
}

impl LpError {
    fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 404 `not found`, as Studio words it.
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found")
    }

    /// 422 for a field the box cannot take: `<field>: <reason>`.
    fn unprocessable(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field}: {reason}"),
        )
    }
}

impl IntoResponse for LpError {
    fn into_response(self) -> Response {
        let mut response =
            (self.code, axum::Json(json!({ "errors": [self.message] }))).into_response();
        if self.code == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for LpError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            return Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "the box's storage is full; nothing was changed",
            );
        }
        match e {
            StoreError::Closed => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "the box is shutting down")
            }
            StoreError::Conflict { field, message } => Self::unprocessable(field, message),
            other => {
                log::error!("Livepeer API request failed: {other}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

type LpResult<T> = Result<T, LpError>;

// ---------------------------------------------------------------------------------------
// Who

/// A staff user calling with `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Staff(AuthUser);

impl FromRequestParts<AppState> for Staff {
    type Rejection = LpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> LpResult<Self> {
        let Key(user) = Key::from_request_parts(parts, state).await?;
        if !user.is_staff {
            return Err(LpError::new(
                StatusCode::FORBIDDEN,
                "broadcast channels need a staff user's token",
            ));
        }
        Ok(Self(user))
    }
}

/// Any user calling with a valid key (clips of one's own personal stream).
#[derive(Debug, Clone, Copy)]
pub(super) struct Key(AuthUser);

impl FromRequestParts<AppState> for Key {
    type Rejection = LpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> LpResult<Self> {
        let unauthorized = |m: &str| LpError::new(StatusCode::UNAUTHORIZED, m);
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            unauthorized(
                "no API key: send `Authorization: Bearer <token>` with a staff user's token",
            )
        })?;
        let key = header
            .to_str()
            .ok()
            .and_then(auth::bearer_key)
            .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))?;
        let user = auth::resolve(state, key)
            .await
            .map_err(|_| LpError::from(StoreError::Closed))?
            .ok_or_else(|| unauthorized("the API key is not valid"))?;
        Ok(Self(user))
    }
}
