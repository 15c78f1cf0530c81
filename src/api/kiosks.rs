//! `/api/2/kiosks/`: read-only tokens for kiosk screens (the live wall at `/wall/`), made and
//! revoked by staff in the console. A kiosk token may read api/2 (`GET`) and follow event
//! streams of the types any visitor may read; the route table refuses its other requests.

use axum::extract::State;
use axum::http::StatusCode;

use super::auth::Access;
use super::input::FieldErrors;
use super::schema::obj;
use super::{ApiError, ApiResult, AppState, Id};
use crate::store::users;

/// `GET/POST /api/2/kiosks/`, `DELETE /api/2/kiosks/{id}/`: read-only tokens for kiosk
/// screens (the live wall), made by staff in the console.
pub(super) fn routes(r: &mut super::routes::Routes) {
    r.at("/kiosks/", "kiosks")
        .get(Access::Staff, "List kiosk tokens (staff only)", list_kiosks)
        .post(
            Access::Staff,
            "Make a kiosk token: it may only read api/2 and follow event streams (staff only)",
            create_kiosk,
        )
        .body(
            obj()
                .text("name", 60)
                .req()
                .pattern("^[A-Za-z0-9_-]{1,60}$"),
        )
        .add();
    r.at("/kiosks/{id}/", "kiosks")
        .delete(
            Access::Staff,
            "Revoke a kiosk token (staff only)",
            delete_kiosk,
        )
        .add();
}

async fn list_kiosks(State(state): State<AppState>) -> ApiResult<axum::Json<Vec<users::Kiosk>>> {
    Ok(axum::Json(state.store.read(users::kiosks).await?))
}

async fn create_kiosk(
    State(state): State<AppState>,
    super::input::Body(body): super::input::Body,
) -> ApiResult<axum::Json<users::Kiosk>> {
    let mut errs = FieldErrors::default();
    let name = body.string("name", &mut errs);
    errs.finish()?;
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty()
        || name.chars().count() > 60
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(ApiError::field(
            "name",
            "Use 1 to 60 letters, digits, - or _ (e.g. lobby-wall).",
        ));
    }
    let kiosk = state
        .store
        .write(move |tx| users::create_kiosk(tx, &name))
        .await?;
    // Creates answer 200, as every api/2 create does.
    Ok(axum::Json(kiosk))
}

async fn delete_kiosk(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| users::delete_kiosk(tx, id))
        .await?;
    state.tokens.forget_all();
    // Open screens stop too, not only new requests.
    state.events.disconnect_user(id);
    Ok(StatusCode::NO_CONTENT)
}
