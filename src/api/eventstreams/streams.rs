//! `/stream/0/streams[/{id}]`: App.net app streams, owned by the token that made them (at most
//! `[events] max_streams_per_token`); a `PUT` changes what a connected consumer gets at once,
//! a delete ends its connection.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::filters::filter_json;
use super::{
    AdnError, AdnResult, Consumer, MAX_KEY_CHARS, accepted_types, json_body, ok, ok_list, path_id,
    text,
};
use crate::api::{AppState, BaseUrl};
use crate::events::{Filter, Selection};
use crate::store::eventstreams::{self, FilterRow, StreamInput, StreamRow};
use crate::store::outbox::EVENT_TYPES;

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
            EVENT_TYPES.join(", ")
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
        if !EVENT_TYPES.contains(&name) {
            return Err(AdnError::bad(format!(
                "object_types: unknown object type {t}; the accepted ones are {}",
                EVENT_TYPES.join(", ")
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

/// A stream with its filter.
pub(super) async fn with_filter(
    state: &AppState,
    row: StreamRow,
) -> AdnResult<(StreamRow, Option<FilterRow>)> {
    let filter = match row.filter_id {
        Some(id) => Some(
            state
                .store
                .read(move |c| eventstreams::filter_by_id(c, id))
                .await?,
        ),
        None => None,
    };
    Ok((row, filter))
}

/// `{data: <the stream with its filter>, meta}`.
async fn answer(state: &AppState, row: StreamRow, base: &BaseUrl) -> AdnResult<Response> {
    let (row, filter) = with_filter(state, row).await?;
    Ok(ok(stream_json(&row, filter.as_ref(), base)))
}

/// What a stream delivers, from its row and filter.
pub(super) fn selection(row: &StreamRow, filter: Option<&FilterRow>) -> Selection {
    let types = EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| row.object_types.iter().any(|o| o == t))
        .collect();
    let filter = filter.and_then(|f| {
        Filter::parse(&f.body, &EVENT_TYPES)
            .ok()
            .map(|parsed| (f.id, parsed))
    });
    Selection { types, filter }
}

pub(super) async fn create(
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
    answer(&state, row, &base).await
}

pub(super) async fn list(
    State(state): State<AppState>,
    who: Consumer,
    base: BaseUrl,
    crate::api::input::Query(q): crate::api::input::Query,
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

pub(super) async fn get_one(
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
    answer(&state, row, &base).await
}

pub(super) async fn update(
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
    let (row, filter) = with_filter(&state, row).await?;
    state
        .events
        .stream_changed(row.id, selection(&row, filter.as_ref()));
    Ok(ok(stream_json(&row, filter.as_ref(), &base)))
}

pub(super) async fn delete(
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

pub(super) async fn delete_all(
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
