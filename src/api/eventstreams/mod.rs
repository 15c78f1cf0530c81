//! App.net app streams and filters over the box's objects, at `/stream/0/streams` and
//! `/stream/0/filters`, with App.net's envelope (`{data, meta: {code}}`, errors as
//! `{meta: {code, error_message, error_slug}}`) and its endpoint protocol at
//! `/stream/0/streams/{id}/events`: one long-lived response of `JSON\r\n` frames
//! (`long_poll`), or Server-Sent Events when the client asks for `text/event-stream`.
//!
//! Tokens: `Authorization: Bearer <key>` (or `token <key>`), or `?access_token=` for browsers'
//! `EventSource`; staff, or a kiosk token, which may follow only the object types a visitor
//! could read anyway. Streams and filters belong to the token that made them.
//!
//! Here: the routes, App.net's envelopes and errors, who may call; [`filters`] and [`streams`]
//! the lifecycle, [`endpoint`] the connection, [`doc`] the OpenAPI description.
//!
//! Owns: these routes, their envelopes and validation, how a change is shown to a consumer
//! (media URLs for its address, usernames for staff only, as the api/2 `GET` does). May not
//! touch: consumers, cursors (`crate::events`), SQL.

mod doc;
mod endpoint;
mod filters;
mod streams;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{self, AuthUser};
use super::input::Fields;
use crate::store::StoreError;
use crate::store::outbox::EVENT_TYPES;

/// Object types a kiosk token may follow: what any visitor may read through api/2 (sessions,
/// listen events and client events carry visitors' devices and positions).
const KIOSK_TYPES: [&str; 7] = [
    "asset", "envelope", "vote", "speaker", "project", "tag", "stream",
];
/// Largest JSON body of a stream or filter.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest `key`.
const MAX_KEY_CHARS: usize = 100;

/// Adds these routes to the OpenAPI document of api/2.
pub(super) fn document(doc: &mut Value) {
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(doc::openapi_paths());
    }
    if let (Some(schemes), Value::Object(ours)) = (
        doc["components"]["securitySchemes"].as_object_mut(),
        doc::security_schemes(),
    ) {
        schemes.extend(ours);
    }
}

/// The routes, merged at the root.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/stream/0/streams",
            get(streams::list)
                .post(streams::create)
                .delete(streams::delete_all),
        )
        .route(
            "/stream/0/streams/{id}",
            get(streams::get_one)
                .put(streams::update)
                .delete(streams::delete),
        )
        .route("/stream/0/streams/{id}/events", get(endpoint::connect))
        .route(
            "/stream/0/filters",
            get(filters::list)
                .post(filters::create)
                .delete(filters::delete_all),
        )
        .route(
            "/stream/0/filters/{id}",
            get(filters::get_one)
                .put(filters::update)
                .delete(filters::delete),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

// ---------------------------------------------------------------------------------------
// Envelopes

/// App.net's error: `{meta: {code, error_message, error_slug}}`.
#[derive(Debug)]
pub(super) struct AdnError {
    code: StatusCode,
    message: String,
    slug: &'static str,
}

impl AdnError {
    fn new(code: StatusCode, slug: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            slug,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", message)
    }
}

impl IntoResponse for AdnError {
    fn into_response(self) -> Response {
        let body = json!({"meta": {
            "code": self.code.as_u16(),
            "error_message": self.message,
            "error_slug": self.slug,
        }});
        let mut response = (self.code, axum::Json(body)).into_response();
        if self.code == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        response
    }
}

impl From<StoreError> for AdnError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => Self::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{what} {id} not found"),
            ),
            StoreError::Conflict { field, message } => Self::bad(format!("{field}: {message}")),
            StoreError::InUse(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            e if e.is_disk_full() => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient-storage",
                "the box's storage is full; nothing was changed",
            ),
            StoreError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the box is shutting down",
            ),
            other => {
                log::error!("event stream request failed: {other}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal-error",
                    "internal error",
                )
            }
        }
    }
}

type AdnResult<T> = Result<T, AdnError>;

/// `{data, meta: {code: 200}}`.
fn ok(data: Value) -> Response {
    axum::Json(json!({"data": data, "meta": {"code": 200}})).into_response()
}

/// A list with App.net's paging keys (every item fits on one page).
fn ok_list(items: Vec<Value>) -> Response {
    let ids = |pick: fn(&[Value]) -> Option<&Value>| {
        pick(&items)
            .and_then(|v| v.get("id"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (min_id, max_id) = (ids(<[Value]>::first), ids(<[Value]>::last));
    axum::Json(json!({
        "data": items,
        "meta": {"code": 200, "min_id": min_id, "max_id": max_id, "more": false},
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Who

/// The token holder of an event stream request: staff or a kiosk.
#[derive(Debug, Clone, Copy)]
pub(super) struct Consumer(AuthUser);

impl FromRequestParts<AppState> for Consumer {
    type Rejection = AdnError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AdnResult<Self> {
        if !state.config.events.enabled {
            return Err(AdnError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "event streams are switched off on this box ([events] enabled = false)",
            ));
        }
        let from_header = parts.headers.get(header::AUTHORIZATION).map(|h| {
            h.to_str()
                .ok()
                .and_then(auth::bearer_key)
                .map(str::to_string)
        });
        let query = Fields::from_urlencoded(parts.uri.query().unwrap_or("").as_bytes());
        let from_query = text(&query, "access_token").map(str::to_string);
        let key = match (from_header, from_query) {
            (Some(Some(k)), _) | (None, Some(k)) => k,
            (Some(None), _) => {
                return Err(AdnError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid-token",
                    "Authorization must be `Bearer <token>`",
                ));
            }
            (None, None) => {
                return Err(AdnError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid-token",
                    "Call requires authentication: send `Authorization: Bearer <token>` or \
                     `?access_token=<token>`",
                ));
            }
        };
        let user = auth::resolve(state, &key)
            .await
            .map_err(|_| AdnError::from(StoreError::Closed))?
            .ok_or_else(|| {
                AdnError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid-token",
                    "the token is not valid",
                )
            })?;
        if !user.is_staff && !user.is_kiosk {
            return Err(AdnError::new(
                StatusCode::FORBIDDEN,
                "not-authorized",
                "event streams need a staff token or a kiosk token",
            ));
        }
        Ok(Self(user))
    }
}

/// A query parameter's text.
fn text<'q>(q: &'q Fields, key: &str) -> Option<&'q str> {
    q.raw(key).and_then(Value::as_str)
}

/// A path id: App.net's ids are strings of digits.
fn path_id(raw: &str, what: &str) -> AdnResult<i64> {
    raw.parse::<i64>().map_err(|_| {
        AdnError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} {raw:?} not found"),
        )
    })
}

fn json_body(body: &Bytes) -> AdnResult<Value> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AdnError::bad(format!("the body must be JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(AdnError::bad("the body must be a JSON object"))
    }
}

/// The object types this caller may follow.
fn accepted_types(who: &Consumer) -> &'static [&'static str] {
    if who.0.is_staff {
        &EVENT_TYPES
    } else {
        &KIOSK_TYPES
    }
}
