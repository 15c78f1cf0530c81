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
//! Owns: these routes, their envelopes and validation, how a change is shown to a consumer
//! (media URLs for its address, usernames for staff only, as the api/2 `GET` does). May not
//! touch: consumers, cursors (`crate::events`), SQL.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::auth::{self, AuthUser};
use super::conn::ConnTuning;
use super::input::Fields;
use super::{AppState, BaseUrl, media_files};
use crate::events::{Connect, EventsError, Filter, Framing, Presenter, Selection};
use crate::store::eventstreams::{self, FilterRow, StreamInput, StreamRow};
use crate::store::outbox::{Change, OBJECT_TYPES};
use crate::store::{StoreError, users};

/// Object types a kiosk token may follow: what any visitor may read through api/2 (sessions,
/// listen events and client events carry visitors' devices and positions).
const KIOSK_TYPES: [&str; 7] = [
    "asset", "envelope", "vote", "speaker", "project", "tag", "stream",
];
/// Largest JSON body of a stream or filter.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// Kernel send buffer of an event connection.
const SEND_BUFFER_BYTES: usize = 32 * 1024;
/// Longest `key`.
const MAX_KEY_CHARS: usize = 100;

/// The routes, merged at the root.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/stream/0/streams",
            get(list_streams).post(create_stream).delete(delete_streams),
        )
        .route(
            "/stream/0/streams/{id}",
            get(get_stream).put(update_stream).delete(delete_stream),
        )
        .route("/stream/0/streams/{id}/events", get(connect))
        .route(
            "/stream/0/filters",
            get(list_filters).post(create_filter).delete(delete_filters),
        )
        .route(
            "/stream/0/filters/{id}",
            get(get_filter).put(update_filter).delete(delete_filter),
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
        let from_header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|h| h.to_str().ok().and_then(bearer).map(str::to_string));
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

/// The key of `Bearer <key>` (or `token <key>`, the api/2 scheme), scheme word in any case.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(char::is_whitespace)?;
    let key = key.trim();
    ((scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        && !key.is_empty()
        && !key.contains(char::is_whitespace))
    .then_some(key)
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

// ---------------------------------------------------------------------------------------
// Filters

fn accepted_types(who: &Consumer) -> &'static [&'static str] {
    if who.0.is_staff {
        &OBJECT_TYPES
    } else {
        &KIOSK_TYPES
    }
}

fn filter_json(row: &FilterRow) -> Value {
    let mut v = row.body.clone();
    if let Some(map) = v.as_object_mut() {
        map.insert("id".into(), Value::String(row.id.to_string()));
    }
    v
}

fn parse_filter(who: &Consumer, body: &Value) -> AdnResult<Filter> {
    Filter::parse(body, accepted_types(who)).map_err(|e| AdnError::bad(e.to_string()))
}

async fn create_filter(
    State(state): State<AppState>,
    who: Consumer,
    body: Bytes,
) -> AdnResult<Response> {
    let filter = parse_filter(&who, &json_body(&body)?)?;
    let stored = filter.to_json();
    let user = who.0.id;
    let row = state
        .store
        .write_quiet(move |tx| eventstreams::create_filter(tx, user, &stored))
        .await?;
    Ok(ok(filter_json(&row)))
}

async fn list_filters(State(state): State<AppState>, who: Consumer) -> AdnResult<Response> {
    let user = who.0.id;
    let rows = state
        .store
        .read(move |c| eventstreams::filters(c, user))
        .await?;
    Ok(ok_list(rows.iter().map(filter_json).collect()))
}

async fn get_filter(
    State(state): State<AppState>,
    who: Consumer,
    Path(id): Path<String>,
) -> AdnResult<Response> {
    let (user, id) = (who.0.id, path_id(&id, "filter")?);
    let row = state
        .store
        .read(move |c| eventstreams::filter(c, user, id))
        .await?;
    Ok(ok(filter_json(&row)))
}

async fn update_filter(
    State(state): State<AppState>,
    who: Consumer,
    Path(id): Path<String>,
    body: Bytes,
) -> AdnResult<Response> {
    let id = path_id(&id, "filter")?;
    let filter = parse_filter(&who, &json_body(&body)?)?;
    let stored = filter.to_json();
    let user = who.0.id;
    let row = state
        .store
        .write_quiet(move |tx| eventstreams::replace_filter(tx, user, id, &stored))
        .await?;
    // Connected streams using it switch at once (App.net).
    state.events.filter_changed(id, &filter);
    Ok(ok(filter_json(&row)))
}

async fn delete_filter(
    State(state): State<AppState>,
    who: Consumer,
    Path(id): Path<String>,
) -> AdnResult<Response> {
    let (user, id) = (who.0.id, path_id(&id, "filter")?);
    let mut rows = state
        .store
        .write_quiet(move |tx| eventstreams::delete_filters(tx, user, Some(id)))
        .await?;
    Ok(ok(rows.pop().map_or(Value::Null, |r| filter_json(&r))))
}

async fn delete_filters(State(state): State<AppState>, who: Consumer) -> AdnResult<Response> {
    let user = who.0.id;
    let rows = state
        .store
        .write_quiet(move |tx| eventstreams::delete_filters(tx, user, None))
        .await?;
    Ok(ok_list(rows.iter().map(filter_json).collect()))
}

// ---------------------------------------------------------------------------------------
// Streams

/// Reads the four keys App.net reads from a stream body.
fn stream_input(who: &Consumer, body: &Value) -> AdnResult<StreamInput> {
    let accepted = accepted_types(who);
    if let Some(t) = body.get("type").filter(|t| !t.is_null())
        && t.as_str() != Some("long_poll")
    {
        return Err(AdnError::bad(format!(
            "type: {t} is not a stream type; the only one is \"long_poll\" (the endpoint also \
             answers Server-Sent Events to `Accept: text/event-stream`)"
        )));
    }
    let Some(list) = body.get("object_types").and_then(Value::as_array) else {
        return Err(AdnError::bad(format!(
            "object_types: required, a list of one or more of {}",
            OBJECT_TYPES.join(", ")
        )));
    };
    if list.is_empty() {
        return Err(AdnError::bad(format!(
            "object_types: must not be empty; use one or more of {}",
            accepted.join(", ")
        )));
    }
    let mut object_types: Vec<String> = Vec::new();
    for t in list {
        let name = t.as_str().unwrap_or_default();
        if !OBJECT_TYPES.contains(&name) {
            return Err(AdnError::bad(format!(
                "object_types: unknown object type {t}; the accepted ones are {}",
                OBJECT_TYPES.join(", ")
            )));
        }
        if !accepted.contains(&name) {
            return Err(AdnError::new(
                StatusCode::FORBIDDEN,
                "not-authorized",
                format!(
                    "object_types: a kiosk token may not follow {name}; it may follow {}",
                    accepted.join(", ")
                ),
            ));
        }
        if !object_types.iter().any(|o| o == name) {
            object_types.push(name.to_string());
        }
    }
    let filter_id = match body.get("filter_id") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    };
    if body.get("filter_id").is_some_and(|f| !f.is_null()) && filter_id.is_none() {
        return Err(AdnError::bad(
            "filter_id: must be the id of one of your filters",
        ));
    }
    let key = match body.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if !k.is_empty() && k.chars().count() <= MAX_KEY_CHARS => {
            Some(k.clone())
        }
        Some(_) => {
            return Err(AdnError::bad(format!(
                "key: must be a string of 1 to {MAX_KEY_CHARS} characters"
            )));
        }
    };
    Ok(StreamInput {
        key,
        object_types,
        filter_id,
    })
}

/// A stream as App.net shows it, with its filter embedded.
fn stream_json(row: &StreamRow, filter: Option<&FilterRow>, base: &BaseUrl) -> Value {
    let mut v = Map::new();
    v.insert("id".into(), Value::String(row.id.to_string()));
    v.insert(
        "endpoint".into(),
        Value::String(format!("{}/stream/0/streams/{}/events", base.0, row.id)),
    );
    v.insert("object_types".into(), json!(row.object_types));
    v.insert("type".into(), Value::from("long_poll"));
    if let Some(k) = &row.key {
        v.insert("key".into(), Value::from(k.clone()));
    }
    if let Some(f) = filter {
        v.insert("filter".into(), filter_json(f));
    }
    Value::Object(v)
}

/// The streams with their filters, read together.
async fn with_filters(
    state: &AppState,
    rows: Vec<StreamRow>,
) -> AdnResult<Vec<(StreamRow, Option<FilterRow>)>> {
    Ok(state
        .store
        .read(move |c| {
            rows.into_iter()
                .map(|r| {
                    let f = match r.filter_id {
                        Some(id) => Some(eventstreams::filter_by_id(c, id)?),
                        None => None,
                    };
                    Ok((r, f))
                })
                .collect()
        })
        .await?)
}

/// What a stream delivers, from its row and filter.
fn selection(row: &StreamRow, filter: Option<&FilterRow>) -> Selection {
    let types = OBJECT_TYPES
        .iter()
        .copied()
        .filter(|t| row.object_types.iter().any(|o| o == t))
        .collect();
    let filter = filter.and_then(|f| {
        Filter::parse(&f.body, &OBJECT_TYPES)
            .ok()
            .map(|parsed| (f.id, parsed))
    });
    Selection { types, filter }
}

async fn create_stream(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    body: Bytes,
) -> AdnResult<Response> {
    let input = stream_input(&who, &json_body(&body)?)?;
    let (user, max) = (
        who.0.id,
        i64::from(state.config.events.max_streams_per_token),
    );
    let row = state
        .store
        .write_quiet(move |tx| eventstreams::create_stream(tx, user, &input, max))
        .await?;
    let mut all = with_filters(&state, vec![row]).await?;
    let (row, filter) = all.remove(0);
    Ok(ok(stream_json(&row, filter.as_ref(), &base)))
}

async fn list_streams(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    super::input::Query(q): super::input::Query,
) -> AdnResult<Response> {
    let user = who.0.id;
    let key = text(&q, "key").map(str::to_string);
    let rows = state
        .store
        .read(move |c| eventstreams::streams(c, user, key.as_deref()))
        .await?;
    let all = with_filters(&state, rows).await?;
    Ok(ok_list(
        all.iter()
            .map(|(r, f)| stream_json(r, f.as_ref(), &base))
            .collect(),
    ))
}

async fn get_stream(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    Path(id): Path<String>,
) -> AdnResult<Response> {
    let (user, id) = (who.0.id, path_id(&id, "stream")?);
    let row = state
        .store
        .read(move |c| eventstreams::stream(c, user, id))
        .await?;
    let mut all = with_filters(&state, vec![row]).await?;
    let (row, filter) = all.remove(0);
    Ok(ok(stream_json(&row, filter.as_ref(), &base)))
}

async fn update_stream(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    Path(id): Path<String>,
    body: Bytes,
) -> AdnResult<Response> {
    let id = path_id(&id, "stream")?;
    let input = stream_input(&who, &json_body(&body)?)?;
    let user = who.0.id;
    let row = state
        .store
        .write_quiet(move |tx| eventstreams::update_stream(tx, user, id, &input))
        .await?;
    let mut all = with_filters(&state, vec![row]).await?;
    let (row, filter) = all.remove(0);
    state
        .events
        .stream_changed(row.id, selection(&row, filter.as_ref()));
    Ok(ok(stream_json(&row, filter.as_ref(), &base)))
}

async fn delete_stream(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    Path(id): Path<String>,
) -> AdnResult<Response> {
    let (user, id) = (who.0.id, path_id(&id, "stream")?);
    let rows = state
        .store
        .write_quiet(move |tx| eventstreams::delete_streams(tx, user, Some(id)))
        .await?;
    deleted(&state, rows, &base, true).await
}

async fn delete_streams(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
) -> AdnResult<Response> {
    let user = who.0.id;
    let rows = state
        .store
        .write_quiet(move |tx| eventstreams::delete_streams(tx, user, None))
        .await?;
    deleted(&state, rows, &base, false).await
}

/// Ends the deleted streams' connections and answers with what was deleted.
async fn deleted(
    state: &AppState,
    rows: Vec<StreamRow>,
    base: &BaseUrl,
    one: bool,
) -> AdnResult<Response> {
    for r in &rows {
        state.events.stream_deleted(r.id);
    }
    let all = with_filters(state, rows).await?;
    let mut shown: Vec<Value> = all
        .iter()
        .map(|(r, f)| stream_json(r, f.as_ref(), base))
        .collect();
    Ok(if one {
        ok(shown.pop().unwrap_or(Value::Null))
    } else {
        ok_list(shown)
    })
}

// ---------------------------------------------------------------------------------------
// The endpoint

/// `GET /stream/0/streams/{id}/events`: the stream's frames until the client leaves, a newer
/// connection takes over or the stream is deleted.
async fn connect(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    Path(id): Path<String>,
    super::input::Query(q): super::input::Query,
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
    let mut all = with_filters(&state, vec![row]).await?;
    let (row, filter) = all.remove(0);
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
                StatusCode::SERVICE_UNAVAILABLE,
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

/// The connection's handle, when served through [`super::serve`] (not in router-only tests).
struct Tuning(Option<ConnTuning>);

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
    Arc::new(move |change: &Change| {
        let mut data = change.data.clone()?;
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

// ---------------------------------------------------------------------------------------
// Kiosk tokens (api/2, staff)

/// `GET/POST /api/2/kiosks/`, `DELETE /api/2/kiosks/{id}/`: read-only tokens for kiosk
/// screens (the live wall), made by staff in the console.
pub(super) fn kiosk_routes(r: &mut super::routes::Routes) {
    use super::auth::Access;
    use super::schema::obj;
    r.at("/kiosks/", "kiosks")
        .get(Access::Staff, "List kiosk tokens (staff only)", list_kiosks)
        .post(
            Access::Staff,
            "Make a kiosk token: it may only read api/2 and follow event streams (staff only)",
            create_kiosk,
        )
        .body(obj().text("name", 60).req())
        .add();
    r.at("/kiosks/{id}/", "kiosks")
        .delete(
            Access::Staff,
            "Revoke a kiosk token (staff only)",
            delete_kiosk,
        )
        .add();
}

async fn list_kiosks(
    State(state): State<AppState>,
) -> super::ApiResult<axum::Json<Vec<users::Kiosk>>> {
    Ok(axum::Json(state.store.read(users::kiosks).await?))
}

async fn create_kiosk(
    State(state): State<AppState>,
    super::input::Body(body): super::input::Body,
) -> super::ApiResult<(StatusCode, axum::Json<users::Kiosk>)> {
    let mut errs = super::input::FieldErrors::default();
    let name = body.string("name", &mut errs);
    errs.finish()?;
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty()
        || name.chars().count() > 60
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(super::ApiError::field(
            "name",
            "Use 1 to 60 letters, digits, - or _ (e.g. lobby-wall).",
        ));
    }
    let kiosk = state
        .store
        .write(move |tx| users::create_kiosk(tx, &name))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(kiosk)))
}

async fn delete_kiosk(
    State(state): State<AppState>,
    super::Id(id): super::Id,
) -> super::ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| users::delete_kiosk(tx, id))
        .await?;
    state.tokens.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_token_schemes_are_read_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("token abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer a b"), None);
    }
}
