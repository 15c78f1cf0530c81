//! `votes/`: plain CRUD on votes for any token holder (the listener's toggle vote is
//! `POST assets/:id/votes/`), and `votes/summary/`, the per-asset counts clients use for
//! `by_like` ordering.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::assets::check_vote_type;
use super::auth::Access;
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::{ApiResult, AppState, Id};
use crate::store::votes::{self, SummaryEntry, Vote, VoteFilter, VoteInput};

pub(super) fn routes(r: &mut Routes) {
    let a = r
        .at("/votes/", "votes")
        .get(Access::Token, "List votes", list)
        .post(Access::Token, "Create a vote (no toggle, no event)", create);
    r.add(a);
    let a = r.at("/votes/summary/", "votes").get(
        Access::Token,
        "Vote summary per asset (a count, a rate average, or counts by type)",
        summary,
    );
    r.add(a);
    let a = r
        .at("/votes/{id}/", "votes")
        .get(Access::Token, "Get a vote", get_one)
        .patch(Access::Token, "Update a vote", patch)
        .delete(Access::Token, "Delete a vote", delete);
    r.add(a);
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

async fn create(State(state): State<AppState>, Body(body): Body) -> ApiResult<Json<Vote>> {
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
    Ok(Json(
        state.store.write(move |tx| votes::create(tx, &v)).await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<Vote>> {
    let mut errs = FieldErrors::default();
    let v = input(&body, &mut errs)?;
    errs.finish()?;
    Ok(Json(
        state
            .store
            .write(move |tx| votes::patch(tx, id, &v))
            .await?,
    ))
}

async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state.store.write(move |tx| votes::delete(tx, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_one(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Vote>> {
    Ok(Json(state.store.read(move |c| votes::get(c, id)).await?))
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
