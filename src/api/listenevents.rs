//! `listenevents/`: which asset a session heard and for how long. Clients post one when an
//! asset starts (`{starttime, session, asset}`) and PATCH its `duration_in_seconds` when it
//! stops. They are written in the caller's own sessions and changed, deleted or read only by
//! their owner or staff (what a visitor heard, where and when, is theirs); the count stays
//! public.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::Uri;
use serde_json::{Value, json};

use super::auth::own_session;
use super::auth::{Access, Caller};
use super::input::{Body, FieldErrors, Fields, Query};
use super::paging::{Paging, paged};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiResult, AppState, BaseUrl, Id};
use crate::store::listenevents::{
    self, DateRange, ListenEvent, ListenEventFilter, ListenEventInput, seconds_to_ns,
};
use crate::store::owners::Owned;
use crate::store::{Editable, Table};

pub(super) fn routes(r: &mut Routes) {
    r.at("/listenevents/", "listenevents")
        .get(
            Access::Token,
            "List listen events of your own sessions (staff: all; `paginate=true` for pages)",
            list,
        )
        .query(super::paging::page_fields(filter_fields()))
        .post(
            Access::Owner,
            "Record that one of your own sessions started hearing an asset",
            create,
        )
        .body(body_fields(true))
        .add();
    r.at("/listenevents/count/", "listenevents")
        .get(
            Access::Token,
            "Count listen events matching the filters",
            count,
        )
        .query(filter_fields())
        .add();
    r.at("/listenevents/{id}/", "listenevents")
        .get(
            Access::Owner,
            "Get a listen event (your own, or any for staff)",
            get_one,
        )
        .patch(
            Access::Owner,
            "Update your listen event (e.g. its duration_in_seconds)",
            patch,
        )
        .body(body_fields(false))
        .delete(Access::Owner, "Delete your listen event", delete)
        .add();
}

/// Longest listen accepted, in seconds (its nanoseconds still fit the column).
const MAX_DURATION_S: f64 = 1e9;

/// The body [`input`] reads (`creating`: session, asset and start are required).
fn body_fields(creating: bool) -> Obj {
    obj()
        .id("session_id")
        .req_if(creating)
        .id("asset_id")
        .req_if(creating)
        .datetime("starttime")
        .req_if(creating)
        .num("duration_in_seconds")
        .range(0.0, MAX_DURATION_S)
        .nullable()
}

/// The filters [`filter`] reads.
fn filter_fields() -> Obj {
    obj()
        .num("duration__lte")
        .doc("nanoseconds, as the reference")
        .num("duration__gte")
        .doc("nanoseconds, as the reference")
        .int("duration")
        .datetime("start_time__gte")
        .datetime("start_time__lte")
        .datetime("starttime")
        .choice(
            "start_time__range",
            &["today", "yesterday", "week", "month", "year"],
        )
        .int("project_id")
        .int("session_id")
        .int("session")
        .int("asset_id")
        .int("asset")
}

/// Reads the body of a create or PATCH: `session`/`session_id`, `asset`/`asset_id`,
/// `starttime`/`start_time`, `duration_in_seconds` (seconds → nanoseconds).
fn input(body: &Fields, errs: &mut FieldErrors) -> ListenEventInput {
    let pick = |names: &[&'static str]| body.first_key(names);
    let session_id = pick(&["session_id", "session"]).and_then(|k| body.int(k, errs));
    let asset_id = pick(&["asset_id", "asset"]).and_then(|k| body.int(k, errs));
    let starttime = pick(&["starttime", "start_time"]).and_then(|k| body.datetime(k, errs));
    let duration = body
        .nullable_float("duration_in_seconds", errs)
        .filter(|d| {
            let ok = d.is_none_or(|d| (0.0..=MAX_DURATION_S).contains(&d));
            if !ok {
                errs.add(
                    "duration_in_seconds",
                    format!("Must be between 0 and {MAX_DURATION_S} seconds."),
                );
            }
            ok
        })
        .map(|d| d.map(seconds_to_ns));
    ListenEventInput {
        session_id,
        asset_id,
        starttime,
        duration,
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<ListenEvent>> {
    let mut errs = FieldErrors::default();
    let new = input(&body, &mut errs);
    let missing = |names: &[&str]| !names.iter().any(|k| body.has_value(k));
    for (names, field) in [
        (&["session_id", "session"][..], "session"),
        (&["asset_id", "asset"][..], "asset"),
        (&["starttime", "start_time"][..], "starttime"),
    ] {
        if missing(names) {
            errs.add(field, "This field is required.");
        }
    }
    errs.finish()?;
    if let Some(sid) = new.session_id {
        own_session(&state, &caller, sid).await?;
    }
    Ok(Json(
        state
            .store
            .write(move |tx| ListenEvent::create(tx, &new))
            .await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<ListenEvent>> {
    let mut errs = FieldErrors::default();
    let p = input(&body, &mut errs);
    errs.finish()?;
    caller
        .may_change_row(&state, Owned::ListenEvent, id)
        .await?;
    if let Some(sid) = p.session_id {
        own_session(&state, &caller, sid).await?;
    }
    Ok(Json(
        state
            .store
            .write(move |tx| ListenEvent::patch(tx, id, &p))
            .await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    caller
        .may_change_row(&state, Owned::ListenEvent, id)
        .await?;
    state
        .store
        .write(move |tx| ListenEvent::delete(tx, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<ListenEvent>> {
    caller
        .may_change_row(&state, Owned::ListenEvent, id)
        .await?;
    Ok(Json(
        state.store.read(move |c| ListenEvent::get(c, id)).await?,
    ))
}

fn filter(q: &Fields) -> ApiResult<ListenEventFilter> {
    let mut errs = FieldErrors::default();
    let range = q
        .string("start_time__range", &mut errs)
        .filter(|s| !s.trim().is_empty());
    let start_time_range = range.as_deref().and_then(|s| {
        let parsed = DateRange::parse(s);
        if parsed.is_none() {
            errs.add(
                "start_time__range",
                "Select a valid choice: today, yesterday, week, month or year.",
            );
        }
        parsed
    });
    let f = ListenEventFilter {
        duration_lte: q.float("duration__lte", &mut errs),
        duration_gte: q.float("duration__gte", &mut errs),
        duration: q.int("duration", &mut errs),
        start_time_gte: q.datetime("start_time__gte", &mut errs),
        start_time_lte: q.datetime("start_time__lte", &mut errs),
        starttime: q.datetime("starttime", &mut errs),
        start_time_range,
        project_id: q.int("project_id", &mut errs),
        session_id: q
            .int("session_id", &mut errs)
            .or(q.int("session", &mut errs)),
        asset_id: q.int("asset_id", &mut errs).or(q.int("asset", &mut errs)),
        owner_id: None,
    };
    errs.finish()?;
    Ok(f)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    uri: Uri,
    Query(q): Query,
) -> ApiResult<Json<Value>> {
    let mut f = filter(&q)?;
    f.owner_id = caller.list_scope();
    match Paging::from_query(&q)? {
        None => {
            let rows = state
                .store
                .read(move |c| listenevents::list(c, &f, None))
                .await?;
            Ok(Json(json!(rows)))
        }
        Some(paging) => {
            let (count, page, rows) = state
                .store
                .read(move |c| {
                    let count = listenevents::count(c, &f)?;
                    let Some(page) = paging.resolve(count) else {
                        return Ok((count, None, Vec::new()));
                    };
                    let rows = listenevents::list(c, &f, Some(paging.window(page)))?;
                    Ok((count, Some(page), rows))
                })
                .await?;
            let page = page.ok_or_else(Paging::invalid)?;
            Ok(Json(json!(paged(
                &base.0, &uri, count, page, &paging, rows
            ))))
        }
    }
}

async fn count(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Value>> {
    let f = filter(&q)?;
    let n = state
        .store
        .read(move |c| listenevents::count(c, &f))
        .await?;
    Ok(Json(json!({"count": n})))
}
