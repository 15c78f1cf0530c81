//! `/api/2/fleet/`: where this box stands in its venue, for staff (the console's Fleet
//! section): `{"enabled": false}` on a standalone box, else the fleet's view (box, role,
//! registration, positions, outbox depth, media fetched, the last audit, this box's streams and
//! the hub's with their lag, the hub's registry of boxes; `central` is `null` until the bridge
//! to a central server is built). Reads; changes nothing.
//!
//! Owns: the route. May not touch: NATS (the view is gathered by `crate::fleet`), SQL.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::auth::Access;
use super::routes::Routes;

pub(super) fn routes(r: &mut Routes) {
    r.at("/fleet/", "fleet")
        .get(
            Access::Staff,
            "Where this box stands in its venue: box, role, registration, positions, outbox \
             depth, the last media audit, its streams' and the hub's lag, the venue's boxes \
             (`{\"enabled\": false}` on a standalone box; staff only)",
            view,
        )
        .add();
}

async fn view(State(state): State<AppState>) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match &state.fleet {
        None => (no_store, Json(json!({"enabled": false}))).into_response(),
        Some(fleet) => (no_store, Json(fleet.view().await)).into_response(),
    }
}
