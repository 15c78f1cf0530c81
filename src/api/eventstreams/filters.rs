//! `/stream/0/filters[/{id}]`: App.net filters, owned by the token that made them; a `PUT`
//! switches the connected streams using it at once, a delete of one in use is 409.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;

use super::{AdnError, AdnResult, Consumer, accepted_types, json_body, ok, ok_list, path_id};
use crate::api::AppState;
use crate::events::Filter;
use crate::store::eventstreams::{self, FilterRow};

pub(super) fn filter_json(row: &FilterRow) -> Value {
    let mut v = row.body.clone();
    if let Some(map) = v.as_object_mut() {
        map.insert("id".into(), Value::String(row.id.to_string()));
    }
    v
}

fn parse_filter(who: &Consumer, body: &Value) -> AdnResult<Filter> {
    Filter::parse(body, accepted_types(who)).map_err(|e| AdnError::bad(e.to_string()))
}

pub(super) async fn create(
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

pub(super) async fn list(State(state): State<AppState>, who: Consumer) -> AdnResult<Response> {
    let user = who.0.id;
    let rows = state
        .store
        .read(move |c| eventstreams::filters(c, user))
        .await?;
    Ok(ok_list(rows.iter().map(filter_json).collect()))
}

pub(super) async fn get_one(
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

pub(super) async fn update(
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

pub(super) async fn delete(
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

pub(super) async fn delete_all(
    State(state): State<AppState>,
    who: Consumer,
) -> AdnResult<Response> {
    let user = who.0.id;
    let rows = state
        .store
        .write_quiet(move |tx| eventstreams::delete_filters(tx, user, None))
        .await?;
    Ok(ok_list(rows.iter().map(filter_json).collect()))
}
