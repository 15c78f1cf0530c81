//! `envelopes/`: an upload's container, made for one of the caller's own sessions. The
//! reference server left envelopes open to anyone, which let anyone file into anyone's session
//! and re-file anyone's recording; every Roundware client sends its token here (the web SDK and
//! iOS send `Authorization` on every call after `POST users/`, client-contract.md §1.0), so
//! roundwared asks for it: creating, reading and uploading into an envelope are for the owner of
//! its session, or staff. Create and read here; the upload (`PATCH envelopes/:id/`) is in
//! [`super::uploads`].

use axum::Json;
use axum::extract::State;

use super::auth::{Access, Caller};
use super::input::{Body, FieldErrors, Query};
use super::routes::Routes;
use super::schema::obj;
use super::{ApiResult, AppState, Id};
use crate::store::envelopes::{self, Envelope, EnvelopeFilter};
use crate::store::owners::Owned;
use crate::store::{Filtered, Table};

pub(super) fn routes(r: &mut Routes) {
    r.at("/envelopes/", "envelopes")
        .get(
            Access::Token,
            "List envelopes of your own sessions (staff: all)",
            list,
        )
        .query(
            obj()
                .int("session_id")
                .int("session")
                .int("project_id")
                .int("asset_id")
                .ids("assets")
                .datetime("created"),
        )
        .post(
            Access::Owner,
            "Create an empty envelope for one of your own sessions",
            create,
        )
        .body(obj().id("session_id").req())
        .add();
    let a = r.at("/envelopes/{id}/", "envelopes").get(
        Access::Owner,
        "Get an envelope (your own, or any for staff)",
        get_one,
    );
    super::uploads::envelope_route(a).add();
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<Envelope>> {
    let mut errs = FieldErrors::default();
    let session_id = body.req_int("session_id", &mut errs);
    errs.finish()?;
    let session_id = session_id.unwrap_or_default();
    super::auth::own_session(&state, &caller, session_id).await?;
    Ok(Json(
        state
            .store
            .write(move |tx| envelopes::create(tx, session_id))
            .await?,
    ))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query,
) -> ApiResult<Json<Vec<Envelope>>> {
    let mut errs = FieldErrors::default();
    let f = EnvelopeFilter {
        session_id: q
            .int("session_id", &mut errs)
            .or(q.int("session", &mut errs)),
        project_id: q.int("project_id", &mut errs),
        asset_id: q.int("asset_id", &mut errs),
        assets: q.ids("assets", &mut errs).unwrap_or_default(),
        created: q.datetime("created", &mut errs),
        owner_id: (!caller.is_staff()).then(|| caller.user_id()).flatten(),
    };
    errs.finish()?;
    Ok(Json(
        state.store.read(move |c| Envelope::list(c, &f)).await?,
    ))
}

/// Extra query parameters (the web client sends `?session_id=`) are ignored.
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<Envelope>> {
    caller.may_change_row(&state, Owned::Envelope, id).await?;
    Ok(Json(state.store.read(move |c| Envelope::get(c, id)).await?))
}
