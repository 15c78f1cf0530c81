//! `GET /stream/0/streams/{id}/events`: App.net's endpoint protocol — one long-lived response
//! of `JSON\r\n` frames, or Server-Sent Events for `Accept: text/event-stream` (resumable with
//! `Last-Event-ID`); `?purge=1`, `?auto_delete=1`; no compression or buffering.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::Value;

use super::streams::{selection, with_filter};
use super::{AdnError, AdnResult, Consumer, path_id, text};
use crate::api::conn::ConnTuning;
use crate::api::{AppState, BaseUrl, media_files};
use crate::events::{Connect, EventsError, Framing, Presenter};
use crate::store::eventstreams;
use crate::store::outbox::Change;

/// Kernel send buffer of an event connection.
const SEND_BUFFER_BYTES: usize = 32 * 1024;

/// `GET /stream/0/streams/{id}/events`: the stream's frames until the client leaves, a newer
/// connection takes over or the stream is deleted.
pub(super) async fn connect(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    Path(id): Path<String>,
    crate::api::input::Query(q): crate::api::input::Query,
    headers: HeaderMap,
    Tuning(conn): Tuning,
) -> AdnResult<Response> {
    let (user, id) = (who.0.id, path_id(&id, "stream")?);
    let flag = |name: &str| text(&q, name).is_some_and(|v| matches!(v, "1" | "true" | "True"));
    let sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let last_event_id = match headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or_else(|| text(&q, "last_event_id"))
    {
        None => None,
        Some(raw) => Some(
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    AdnError::bad(format!(
                        "Last-Event-ID: {raw:?} is not a message id (a `meta.id` this stream sent)"
                    ))
                })?,
        ),
    };
    let row = state
        .store
        .read(move |c| eventstreams::stream(c, user, id))
        .await?;
    let (row, filter) = with_filter(&state, row).await?;
    let kill: crate::events::Kill = match conn {
        Some(tuning) => {
            // The kernel holds a few frames, not megabytes: a consumer that stops reading
            // fills its own queue, which is what the overflow rule watches.
            tuning.cap_send_buffer(SEND_BUFFER_BYTES);
            Arc::new(move || tuning.abort())
        }
        None => Arc::new(|| {}),
    };
    let framing = if sse { Framing::Sse } else { Framing::LongPoll };
    let body = state
        .events
        .connect(Connect {
            selection: selection(&row, filter.as_ref()),
            stream: row,
            framing,
            purge: flag("purge"),
            auto_delete: flag("auto_delete"),
            last_event_id,
            present: presenter(base.0, who.0.is_staff),
            kill,
        })
        .await
        .map_err(|e| match e {
            EventsError::TooMany(_) => AdnError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "too-many-connections",
                e.to_string(),
            ),
            EventsError::Store(s) => s.into(),
        })?;
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    // One response per connection: when the server ends it (taken over, overflow, stream
    // deleted), the connection closes too, as App.net's disconnect does.
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(response)
}

/// The connection's handle, when served through [`crate::api::serve`] (not in router-only tests).
pub(super) struct Tuning(Option<ConnTuning>);

impl<S: Send + Sync> FromRequestParts<S> for Tuning {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<ConnTuning>>()
                .map(|c| c.0.clone()),
        ))
    }
}

/// Shows a change as the api/2 `GET` shows the object to this consumer: media as absolute
/// URLs for its address, contributors' usernames for staff only.
fn presenter(base: String, staff: bool) -> Presenter {
    let key = format!("{base} {staff}");
    Presenter::new(key, move |change: &Change| {
        let mut data = change.data()?.clone();
        match change.object_type {
            "asset" => {
                if let Some(name) = data.get("file").and_then(Value::as_str) {
                    data["file"] = Value::String(media_files::media_url(&base, name));
                }
                if !staff && let Some(user) = data.get_mut("user").and_then(Value::as_object_mut) {
                    user.insert("username".into(), Value::String(String::new()));
                }
            }
            "speaker" => {
                for key in ["uri", "backupuri"] {
                    if let Some(name) = data
                        .get(key)
                        .and_then(Value::as_str)
                        .and_then(|u| u.strip_prefix("/rwmedia/"))
                    {
                        data[key] = Value::String(media_files::media_url(&base, name));
                    }
                }
            }
            _ => {}
        }
        Some(data)
    })
}
