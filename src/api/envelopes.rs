//! `envelopes/`: open to anyone, as on the reference server (uploading clients may not hold a
//! token). Create and read here; the upload (`PATCH envelopes/:id/`) is in
//! [`super::uploads`].

use axum::Json;
use axum::extract::State;

use super::auth::Access;
use super::input::{Body, FieldErrors, Query};
use super::routes::Routes;
use super::{ApiResult, AppState, Id};
use crate::store::envelopes::{self, Envelope, EnvelopeFilter};

pub(super) fn routes(r: &mut Routes) {
    let a = r
        .at("/envelopes/", "envelopes")
        .get(Access::Anyone, "List envelopes", list)
        .post(
            Access::Anyone,
            "Create an empty envelope for a session",
            create,
        );
    r.add(a);
    let a = r
        .at("/envelopes/{id}/", "envelopes")
        .get(Access::Anyone, "Get an envelope", get_one);
    r.add(super::uploads::envelope_route(a));
}

async fn create(State(state): State<AppState>, Body(body): Body) -> ApiResult<Json<Envelope>> {
    let mut errs = FieldErrors::default();
    let session_id = body.req_int("session_id", &mut errs);
    errs.finish()?;
    let session_id = session_id.unwrap_or_default();
    Ok(Json(
        state
            .store
            .write(move |tx| envelopes::create(tx, session_id))
            .await?,
    ))
}

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<Envelope>>> {
    let mut errs = FieldErrors::default();
    let f = EnvelopeFilter {
        session_id: q
            .int("session_id", &mut errs)
            .or(q.int("session", &mut errs)),
        project_id: q.int("project_id", &mut errs),
        asset_id: q.int("asset_id", &mut errs),
        assets: q.ids("assets", &mut errs).unwrap_or_default(),
        created: q.datetime("created", &mut errs),
    };
    errs.finish()?;
    Ok(Json(
        state.store.read(move |c| envelopes::list(c, &f)).await?,
    ))
}

/// Extra query parameters (the web client sends `?session_id=`) are ignored.
async fn get_one(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Envelope>> {
    Ok(Json(
        state.store.read(move |c| envelopes::get(c, id)).await?,
    ))
}
