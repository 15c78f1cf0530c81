//! `timedassets/`: read by any token holder, written by staff. `start` and `end` are seconds
//! from stream start; `end` must not come before `start` (400 under `non_field_errors`, the
//! reference's message), also when a PATCH changes only one of them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::auth::Access;
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiResult, AppState, Id};
use crate::store::timedassets::{self, TimedAsset, TimedAssetFilter, TimedAssetInput};

pub(super) fn routes(r: &mut Routes) {
    let a = r
        .at("/timedassets/", "timedassets")
        .get(Access::Token, "List timed assets", list)
        .query(
            obj()
                .int("project_id")
                .int("project")
                .int("asset_id")
                .int("asset")
                .num("start")
                .num("end")
                .num("start__lte")
                .num("start__gte")
                .num("end__lte")
                .num("end__gte"),
        )
        .post(Access::Staff, "Create a timed asset", create)
        .body(body_fields(true));
    r.add(a);
    let a = r
        .at("/timedassets/{id}/", "timedassets")
        .get(Access::Token, "Get a timed asset", get_one)
        .patch(Access::Staff, "Update a timed asset", patch)
        .body(body_fields(false))
        .delete(Access::Staff, "Delete a timed asset", delete);
    r.add(a);
}

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<TimedAsset>>> {
    let mut e = FieldErrors::default();
    let f = TimedAssetFilter {
        project_id: q.int("project_id", &mut e).or(q.int("project", &mut e)),
        asset_id: q.int("asset_id", &mut e).or(q.int("asset", &mut e)),
        start: q.float("start", &mut e),
        end: q.float("end", &mut e),
        start_lte: q.float("start__lte", &mut e),
        start_gte: q.float("start__gte", &mut e),
        end_lte: q.float("end__lte", &mut e),
        end_gte: q.float("end__gte", &mut e),
    };
    e.finish()?;
    Ok(Json(
        state.store.read(move |c| timedassets::list(c, &f)).await?,
    ))
}

async fn get_one(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<TimedAsset>> {
    Ok(Json(
        state.store.read(move |c| timedassets::get(c, id)).await?,
    ))
}

/// The body [`input`] reads (`creating`: all four required; `end` not before `start`).
fn body_fields(creating: bool) -> Obj {
    obj()
        .id("project_id")
        .req_if(creating)
        .id("asset_id")
        .req_if(creating)
        .num("start")
        .range(0.0, f64::MAX)
        .req_if(creating)
        .doc("seconds from stream start")
        .num("end")
        .range(0.0, f64::MAX)
        .req_if(creating)
        .doc("seconds from stream start")
}

fn input(b: &Fields, creating: bool) -> ApiResult<TimedAssetInput> {
    let mut e = FieldErrors::default();
    let project_key = b
        .first_key(&["project_id", "project"])
        .unwrap_or("project_id");
    let asset_key = b.first_key(&["asset_id", "asset"]).unwrap_or("asset_id");
    for key in [project_key, asset_key, "start", "end"] {
        if b.raw(key).is_some_and(Value::is_null) {
            e.add(key, "This field may not be null.");
        }
    }
    let mut seconds = |key: &str| {
        let v = if creating {
            b.req_float(key, &mut e)
        } else {
            b.float(key, &mut e)
        };
        v.filter(|v| {
            let ok = *v >= 0.0;
            if !ok {
                e.add(key, "Must not be negative.");
            }
            ok
        })
    };
    let start = seconds("start");
    let end = seconds("end");
    let input = if creating {
        TimedAssetInput {
            start,
            end,
            asset_id: b.req_int(asset_key, &mut e),
            project_id: b.req_int(project_key, &mut e),
        }
    } else {
        TimedAssetInput {
            start,
            end,
            asset_id: b.int(asset_key, &mut e),
            project_id: b.int(project_key, &mut e),
        }
    };
    e.finish()?;
    Ok(input)
}

async fn create(State(state): State<AppState>, Body(b): Body) -> ApiResult<Json<TimedAsset>> {
    let i = input(&b, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| timedassets::create(tx, &i))
            .await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    Id(id): Id,
    Body(b): Body,
) -> ApiResult<Json<TimedAsset>> {
    let i = input(&b, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| timedassets::patch(tx, id, &i))
            .await?,
    ))
}

async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| timedassets::delete(tx, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
