//! `events/`: the client activity log (`start_session`, `location_update`, `client_error`,
//! ...). A token holder records events in their own sessions and reads only their own (events
//! carry positions: everyone's would be a location trail of every visitor); staff read all.
//! Events are never changed or deleted through the API (PATCH and DELETE answer 405).

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use super::auth::{Access, Caller};
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, Id};
use crate::store::StoreError;
use crate::store::events::{self, Event, EventFilter, NewEvent};
use crate::store::owners::Owned;
use crate::store::{Filtered, Table};

pub(super) fn routes(r: &mut Routes) {
    r.at("/events/", "events")
        .get(
            Access::Token,
            "List events (your own sessions'; staff: all)",
            list,
        )
        .query(
            obj()
                .string("event_type")
                .string("server_time")
                .pattern("^[0-9T:. -]{1,26}$")
                .doc("the start of a timestamp, e.g. 2026-11-21 or 2026-11-21T17:29")
                .datetime("server_time__lt")
                .datetime("server_time__gt")
                .int("session_id")
                .string("latitude")
                .string("longitude")
                .ids("tag_ids")
                .string("tags"),
        )
        .post(
            Access::Owner,
            "Record an event for one of your own sessions",
            create,
        )
        .body(event_fields(
            obj()
                .id("session_id")
                .req()
                .text("event_type", 50)
                .nonblank()
                .req(),
        ))
        .add();
    r.at("/events/{id}/", "events")
        .get(
            Access::Owner,
            "Get an event (your own, or any for staff)",
            get_one,
        )
        .add();
}

/// Longest event `data` kept, in characters (clients send a line or two: `asset_id:12`,
/// an error description, a share URL).
pub(super) const DATA_MAX: usize = 16 * 1024;

/// The `data` of an event: text as sent; a JSON object, array, number or boolean as its
/// JSON text.
pub(super) fn data_text(body: &Fields) -> Option<String> {
    match body.raw("data")? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `text` cut to at most [`DATA_MAX`] characters (for data the server itself copies from a
/// request, which a client cannot be told to shorten).
pub(super) fn clip_data(text: String) -> String {
    match text.char_indices().nth(DATA_MAX) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text,
    }
}

/// Adds the optional fields [`optional_fields`] reads to a body description.
pub(super) fn event_fields(o: Obj) -> Obj {
    o.text("client_time", 50)
        .num("latitude")
        .num("longitude")
        .ids("tag_ids")
        .text("data", DATA_MAX)
}

/// The optional event fields every event-writing request may carry: `client_time`,
/// `latitude`, `longitude`, `tags`/`tag_ids`, `data`.
pub(super) fn optional_fields(body: &Fields, e: &mut NewEvent, errs: &mut FieldErrors) {
    e.client_time = body.string("client_time", errs);
    if e.client_time
        .as_ref()
        .is_some_and(|t| t.chars().count() > 50)
    {
        errs.add(
            "client_time",
            "Ensure this field has no more than 50 characters.",
        );
        e.client_time = None;
    }
    e.latitude = body.float("latitude", errs);
    e.longitude = body.float("longitude", errs);
    e.tags = body
        .first_key(&["tags", "tag_ids"])
        .and_then(|k| body.ids(k, errs));
    e.data = data_text(body);
    if e.data
        .as_ref()
        .is_some_and(|d| d.chars().count() > DATA_MAX)
    {
        errs.add("data", crate::api::input::too_long(DATA_MAX));
        e.data = None;
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<Event>> {
    let mut errs = FieldErrors::default();
    if !body.has_value("session_id") {
        return Err(ApiError::bad_request(
            "a session_id is required for this operation",
        ));
    }
    if !body.has_value("event_type") {
        return Err(ApiError::bad_request(
            "an event_type is required for this operation",
        ));
    }
    let mut e = NewEvent {
        session_id: body.req_int("session_id", &mut errs).unwrap_or_default(),
        event_type: body.req_string("event_type", &mut errs).unwrap_or_default(),
        ..NewEvent::default()
    };
    if e.event_type.chars().count() > 50 {
        errs.add(
            "event_type",
            "Ensure this field has no more than 50 characters.",
        );
    }
    optional_fields(&body, &mut e, &mut errs);
    errs.finish()?;
    super::auth::own_session(&state, &caller, e.session_id).await?;
    state
        .store
        .write(move |tx| events::create(tx, &e))
        .await
        .map(Json)
        .map_err(|err| match err {
            StoreError::NotFound {
                what: "session", ..
            } => ApiError::bad_request("Session matching query does not exist."),
            other => other.into(),
        })
}

/// True for text that can start a stored timestamp (`2026-11-21T17:29`).
fn timestamp_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 26
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | 'T' | ':' | '.'))
}

fn filter(q: &Fields) -> ApiResult<EventFilter> {
    let mut errs = FieldErrors::default();
    let text =
        |key: &str, errs: &mut FieldErrors| q.string(key, errs).filter(|s| !s.trim().is_empty());
    let server_time_prefix = text("server_time", &mut errs).map(|s| s.trim().replace(' ', "T"));
    if server_time_prefix
        .as_deref()
        .is_some_and(|p| !timestamp_prefix(p))
    {
        errs.add(
            "server_time",
            "Expected the start of a timestamp, such as 2026-11-21 or 2026-11-21T17:29.",
        );
    }
    let f = EventFilter {
        event_type: text("event_type", &mut errs),
        server_time_prefix,
        server_time_lt: q.datetime("server_time__lt", &mut errs),
        server_time_gt: q.datetime("server_time__gt", &mut errs),
        session_id: q.int("session_id", &mut errs),
        latitude: text("latitude", &mut errs),
        longitude: text("longitude", &mut errs),
        tag_ids: q.ids("tag_ids", &mut errs).unwrap_or_default(),
        tags: text("tags", &mut errs),
        owner_id: None,
    };
    errs.finish()?;
    Ok(f)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query,
) -> ApiResult<Json<Vec<Event>>> {
    let mut f = filter(&q)?;
    f.owner_id = caller.list_scope();
    Ok(Json(state.store.read(move |c| Event::list(c, &f)).await?))
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<Event>> {
    caller.may_change_row(&state, Owned::Event, id).await?;
    Ok(Json(state.store.read(move |c| Event::get(c, id)).await?))
}

#[cfg(test)]
mod tests {
    use super::timestamp_prefix;

    #[test]
    fn server_time_prefixes_are_timestamp_starts() {
        for ok in ["2026", "2026-11-21", "2026-11-21T17:29:44.6"] {
            assert!(timestamp_prefix(ok), "{ok}");
        }
        for bad in ["", "today", "2026%", "2026_11"] {
            assert!(!timestamp_prefix(bad), "{bad}");
        }
    }
}
