//! `sessions/`: a client starts one per visit; it fixes the project, language and whether
//! location drives listening. Any token holder may create sessions, which then belong to them
//! (`crate::store::owners`); a visitor reads only their own sessions (a session's client system
//! and device are private), staff read all; the count stays public. A session's `device_id` is
//! shown only to staff and to that device (it works as a credential).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::auth::{Access, Caller, Viewer};
use super::crud::FromQuery;
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::obj;
use super::{ApiResult, AppState, Id};
use crate::store::Given;
use crate::store::sessions::{self, NewSession, Session};
use crate::store::{Filtered, Table};

pub(super) fn routes(r: &mut Routes) {
    r.at("/sessions/", "sessions")
        .get(Access::Token, "List sessions (your own; staff: all)", list)
        .query(Given::<Session>::fields())
        .post(Access::Token, "Start a session for a project", create)
        .body(
            obj()
                .id("project_id")
                .req()
                .string("language")
                .doc("a language code or a locale, e.g. en or en-US")
                .id("language_id")
                .bool("geo_listen_enabled")
                .bool("demo_stream_enabled")
                .text("client_type", 254)
                .text("client_system", 255)
                .string("timezone")
                .pattern(r"^[+-]?[0-9]{4}$"),
        )
        .add();
    r.at("/sessions/count/", "sessions")
        .get(Access::Token, "Count sessions matching the filters", count)
        .query(Given::<Session>::fields())
        .add();
    r.at("/sessions/{id}/", "sessions")
        .get(
            Access::Owner,
            "Get a session (your own, or any for staff)",
            get_one,
        )
        .add();
}

/// `^[+-]?\d{4}$`
fn valid_timezone(tz: &str) -> bool {
    let digits = tz.strip_prefix(['+', '-']).unwrap_or(tz);
    digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<Session>> {
    let mut errs = FieldErrors::default();
    let timezone = body.string("timezone", &mut errs);
    if let Some(tz) = &timezone
        && !valid_timezone(tz)
    {
        errs.add(
            "timezone",
            "Timezone must be in RFC822 GMT format (e.g. '-0800')",
        );
    }
    let new = NewSession {
        project_id: body.req_int("project_id", &mut errs).unwrap_or_default(),
        language: body
            .string("language", &mut errs)
            .filter(|s| !s.trim().is_empty()),
        language_id: body.int("language_id", &mut errs),
        geo_listen_enabled: body.bool("geo_listen_enabled", &mut errs),
        demo_stream_enabled: body.bool("demo_stream_enabled", &mut errs),
        client_type: body.string_max("client_type", 254, &mut errs),
        client_system: body.string_max("client_system", 255, &mut errs),
        timezone,
        user_id: caller.user.map(|u| u.id),
    };
    errs.finish()?;
    Ok(Json(
        state
            .store
            .write(move |tx| sessions::create(tx, &new))
            .await?,
    ))
}

fn filter(q: &Fields) -> ApiResult<Given<Session>> {
    let mut errs = FieldErrors::default();
    let f = Given::from_query(q, &mut errs);
    errs.finish()?;
    Ok(f)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query,
) -> ApiResult<Json<Vec<Session>>> {
    let f = filter(&q)?.with_opt("_owner", caller.list_scope());
    let viewer = Viewer::of(&state, &caller).await?;
    let mut list = state.store.read(move |c| Session::list(c, &f)).await?;
    for s in &mut list {
        s.device_id = viewer.redact(s.device_id.take());
    }
    Ok(Json(list))
}

async fn count(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Value>> {
    let f = filter(&q)?;
    let n = state.store.read(move |c| sessions::count(c, &f)).await?;
    Ok(Json(json!({"count": n})))
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<Session>> {
    // One read: the session and its owner. Only its owner (whose device it names) and staff
    // pass, and both may see its `device_id`.
    let (owner, session) = state
        .store
        .read(move |c| {
            Ok((
                crate::store::owners::of_session(c, id)?,
                Session::get(c, id)?,
            ))
        })
        .await?;
    caller.may_change(owner, "session")?;
    Ok(Json(session))
}

#[cfg(test)]
mod tests {
    use super::valid_timezone;

    #[test]
    fn timezones_are_rfc822_offsets() {
        for ok in ["0000", "-0500", "+1130"] {
            assert!(valid_timezone(ok), "{ok}");
        }
        for bad in ["EST", "", "-05:00", "05", "+12345"] {
            assert!(!valid_timezone(bad), "{bad}");
        }
    }
}
