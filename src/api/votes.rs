//! `votes/`: plain CRUD on votes (the listener's toggle vote is `POST assets/:id/votes/`), and
//! `votes/summary/`, the per-asset counts clients use for `by_like` ordering.
//!
//! Ownership (decisions.md): a vote is cast in one of the caller's own sessions and counts as
//! the caller's (`voter_id` is staff's to set); only its owner or staff change or delete it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::assets::check_vote_type;
use super::auth::own_session;
use super::auth::{Access, Caller};
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, Id};
use crate::store::owners::Owned;
use crate::store::votes::{self, SummaryEntry, VOTE_TYPES, Vote, VoteFilter, VoteInput};
use crate::store::{Editable, Table};

pub(super) fn routes(r: &mut Routes) {
    r.at("/votes/", "votes")
        .get(Access::Token, "List votes", list)
        .query(filter_fields())
        .post(
            Access::Owner,
            "Create a vote in one of your own sessions (no toggle, no event)",
            create,
        )
        .body(body_fields(true))
        .add();
    r.at("/votes/summary/", "votes")
        .get(
            Access::Token,
            "Vote summary per asset (a count, a rate average, or counts by type)",
            summary,
        )
        .query(filter_fields())
        .add();
    r.at("/votes/{id}/", "votes")
        .get(Access::Token, "Get a vote", get_one)
        .patch(Access::Owner, "Update your vote (or any, for staff)", patch)
        .body(body_fields(false))
        .delete(
            Access::Owner,
            "Delete your vote (or any, for staff)",
            delete,
        )
        .add();
}

/// The body [`input`] reads (`creating`: type, asset and session are required).
fn body_fields(creating: bool) -> Obj {
    obj()
        .choice("type", VOTE_TYPES)
        .req_if(creating)
        .id("asset_id")
        .req_if(creating)
        .id("session_id")
        .req_if(creating)
        .int("value")
        .nullable()
        .id("voter_id")
        .nullable()
        .doc("staff only")
}

/// The filters [`filter`] reads.
fn filter_fields() -> Obj {
    obj()
        .int("voter_id")
        .int("voter")
        .int("session_id")
        .int("session")
        .int("project_id")
        .int("asset_id")
        .int("asset")
        .choice("type", VOTE_TYPES)
        .int("value")
        .string("media_type")
}

fn input(body: &Fields, errs: &mut FieldErrors) -> ApiResult<VoteInput> {
    let key = |names: &[&'static str]| body.first_key(names);
    let v = VoteInput {
        vote_type: key(&["type", "vote_type"]).and_then(|k| body.string(k, errs)),
        asset_id: key(&["asset_id", "asset"]).and_then(|k| body.int(k, errs)),
        session_id: key(&["session_id", "session"]).and_then(|k| body.int(k, errs)),
        value: body.nullable_int("value", errs),
        voter_id: key(&["voter_id", "voter"]).and_then(|k| body.nullable_int(k, errs)),
    };
    if let Some(t) = &v.vote_type {
        check_vote_type(t)?;
    }
    Ok(v)
}

/// The checks every vote write makes: the session named is the caller's, and only staff name
/// another voter (a non-staff vote always counts as the caller's).
async fn owned_input(state: &AppState, caller: &Caller, mut v: VoteInput) -> ApiResult<VoteInput> {
    if let Some(sid) = v.session_id {
        own_session(state, caller, sid).await?;
    }
    if !caller.is_staff() {
        if v.voter_id
            .flatten()
            .is_some_and(|id| Some(id) != caller.user_id())
        {
            return Err(ApiError::field(
                "voter_id",
                "Only staff may vote in someone else's name.",
            ));
        }
        if v.voter_id.is_some() || v.session_id.is_some() {
            v.voter_id = Some(caller.user_id());
        }
    }
    Ok(v)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<Vote>> {
    let mut errs = FieldErrors::default();
    let v = input(&body, &mut errs)?;
    for (present, field) in [
        (v.vote_type.is_some(), "type"),
        (v.asset_id.is_some(), "asset_id"),
        (v.session_id.is_some(), "session_id"),
    ] {
        let sent = match field {
            "type" => ["type", "vote_type"],
            "asset_id" => ["asset_id", "asset"],
            _ => ["session_id", "session"],
        };
        if !present && !sent.iter().any(|k| body.has_value(k)) {
            errs.add(field, "This field is required.");
        }
    }
    errs.finish()?;
    let v = owned_input(&state, &caller, v).await?;
    Ok(Json(
        state.store.write(move |tx| Vote::create(tx, &v)).await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<Vote>> {
    let mut errs = FieldErrors::default();
    let v = input(&body, &mut errs)?;
    errs.finish()?;
    caller.may_change_row(&state, Owned::Vote, id).await?;
    let v = owned_input(&state, &caller, v).await?;
    Ok(Json(
        state.store.write(move |tx| Vote::patch(tx, id, &v)).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    caller.may_change_row(&state, Owned::Vote, id).await?;
    state.store.write(move |tx| Vote::delete(tx, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_one(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Vote>> {
    Ok(Json(state.store.read(move |c| Vote::get(c, id)).await?))
}

fn filter(q: &Fields) -> ApiResult<VoteFilter> {
    let mut errs = FieldErrors::default();
    let vote_type = q.string("type", &mut errs).filter(|t| !t.trim().is_empty());
    if let Some(t) = &vote_type {
        check_vote_type(t)?;
    }
    let f = VoteFilter {
        voter_id: q.int("voter_id", &mut errs).or(q.int("voter", &mut errs)),
        session_id: q
            .int("session_id", &mut errs)
            .or(q.int("session", &mut errs)),
        project_id: q.int("project_id", &mut errs),
        asset_id: q.int("asset_id", &mut errs).or(q.int("asset", &mut errs)),
        vote_type,
        value: q.int("value", &mut errs),
        media_type: q
            .string("media_type", &mut errs)
            .filter(|t| !t.trim().is_empty()),
    };
    errs.finish()?;
    Ok(f)
}

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<Vote>>> {
    let f = filter(&q)?;
    Ok(Json(state.store.read(move |c| votes::list(c, &f)).await?))
}

async fn summary(
    State(state): State<AppState>,
    Query(q): Query,
) -> ApiResult<Json<Vec<SummaryEntry>>> {
    let f = filter(&q)?;
    Ok(Json(
        state
            .store
            .read(move |c| votes::summary(c, &f, f.vote_type.as_deref()))
            .await?,
    ))
}
