//! `users/` (device registration, anonymous) and `login/` (username and password → token).
//!
//! decisions.md: listing users is staff only; a token holder may read and PATCH only their own
//! user; `POST users/` without `device_id` or `client_type` is a 400, not the reference's 500.
//! Names are at most 150 characters and e-mails 254 (Django's limits); only staff rename
//! users (a visitor renaming itself `curator` would squat a login name). The box's own
//! listener device id is reserved.
//! Registrations and logins are limited per client address ([`super::limits`]); failed logins
//! back off ([`super::login_guard`]); the staff list is paged on request and bounded without.

use axum::Json;
use axum::http::Uri;
use serde_json::{Value, json};

use super::auth::{Access, Caller};
use super::input::{Body, FieldErrors, Query};
use super::limits::{Allow, ClientIp, kind};
use super::paging::{Paging, paged};
use super::routes::Routes;
use super::schema::obj;
use super::{ApiError, ApiResult, AppState, BaseUrl, Id};
use crate::store::Table;
use crate::store::users::{self, User, UserFilter, UserPatch};

pub(super) fn routes(r: &mut Routes) {
    r.at("/users/", "users")
        .get(Access::Staff, "List users (staff only)", list)
        .query(super::paging::page_fields(
            obj()
                .string("username")
                .string("first_name")
                .string("last_name")
                .string("email")
                .string("search_str")
                .bool("is_staff")
                .string("device_id"),
        ))
        .post(
            Access::Anyone,
            "Register a device: the same device_id always returns the same user and token",
            create,
        )
        .limited()
        .body(
            obj()
                .string("device_id")
                .nonblank()
                .req()
                .string("client_type")
                .nonblank()
                .req()
                .text("first_name", NAME_MAX)
                .text("last_name", NAME_MAX)
                .text("email", EMAIL_MAX),
        )
        .add();
    r.at("/users/{id}/", "users")
        .get(
            Access::Token,
            "Get a user (your own, or any for staff)",
            get_one,
        )
        .patch(
            Access::Token,
            "Update names or e-mail of a user (your own, or any for staff)",
            patch,
        )
        .body(
            obj()
                .text("username", NAME_MAX)
                .nonblank()
                .doc("staff only")
                .text("first_name", NAME_MAX)
                .text("last_name", NAME_MAX)
                .text("email", EMAIL_MAX)
                .pattern("^$|@"),
        )
        .add();
    r.at("/login/", "login")
        .post(
            Access::Anyone,
            "Exchange username and password for a token (wrong ones: 400, as DRF answers)",
            login,
        )
        .body(
            obj()
                .string("username")
                .nonblank()
                .req()
                .string("password")
                .nonblank()
                .req(),
        )
        .limited()
        .add();
}

/// Most users `GET users/` lists without `paginate=true` (about 1.4 MB of JSON).
const UNPAGED_MAX: i64 = 10_000;

async fn create(
    state: axum::extract::State<AppState>,
    _limit: Allow<kind::Registrations>,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let mut errs = FieldErrors::default();
    let device_id = body.req_string("device_id", &mut errs);
    let client_type = body.req_string("client_type", &mut errs);
    let names = UserPatch {
        username: None,
        first_name: body.string_max("first_name", NAME_MAX, &mut errs),
        last_name: body.string_max("last_name", NAME_MAX, &mut errs),
        email: body.string_max("email", EMAIL_MAX, &mut errs),
    };
    errs.finish()?;
    let (device_id, client_type) = (
        device_id.unwrap_or_default(),
        client_type.unwrap_or_default(),
    );
    let (user, token) = state
        .store
        .write(move |tx| users::register_device(tx, &device_id, &client_type, &names))
        .await?;
    let mut out = serde_json::to_value(&user).map_err(|e| ApiError::Internal(e.to_string()))?;
    out["token"] = json!(token);
    Ok(Json(out))
}

async fn list(
    state: axum::extract::State<AppState>,
    BaseUrl(base): BaseUrl,
    uri: Uri,
    Query(q): Query,
) -> ApiResult<Json<Value>> {
    let mut errs = FieldErrors::default();
    let filter = UserFilter {
        username: q.string("username", &mut errs),
        first_name: q.string("first_name", &mut errs),
        last_name: q.string("last_name", &mut errs),
        email: q.string("email", &mut errs),
        search_str: q.string("search_str", &mut errs),
        is_staff: q.bool("is_staff", &mut errs),
        device_id: q.string("device_id", &mut errs),
    };
    errs.finish()?;
    let paging = Paging::from_query(&q)?;
    let (count, page, rows) = state
        .store
        .read(move |c| {
            let count = users::count(c, &filter)?;
            let (page, window) = match &paging {
                Some(p) => match p.resolve(count) {
                    Some(page) => (Some(page), Some(p.window(page))),
                    None => return Ok((count, None, Vec::new())),
                },
                None if count > UNPAGED_MAX => return Ok((count, None, Vec::new())),
                None => (None, None),
            };
            Ok((count, page, users::list(c, &filter, window)?))
        })
        .await?;
    match (paging, page) {
        (Some(p), Some(page)) => Ok(Json(json!(paged(&base, &uri, count, page, &p, rows)))),
        (Some(_), None) => Err(Paging::invalid()),
        (None, _) if count > UNPAGED_MAX => Err(ApiError::bad_request(format!(
            "{count} users match, more than the {UNPAGED_MAX} listed at once; ask for pages \
             (paginate=true&page_size=1000&page=1) or narrow the list with filters \
             (username, search_str, is_staff, device_id)."
        ))),
        (None, _) => Ok(Json(json!(rows))),
    }
}

/// Longest first name, last name or username (Django's `max_length`).
const NAME_MAX: usize = 150;
/// Longest e-mail address (Django's EmailField).
const EMAIL_MAX: usize = 254;

/// Non-staff callers may only see and change themselves.
fn own_or_staff(caller: &Caller, id: i64) -> ApiResult<()> {
    match caller.user {
        Some(u) if u.is_staff || u.id == id => Ok(()),
        Some(_) => Err(ApiError::Forbidden),
        None => Err(ApiError::NotAuthenticated),
    }
}

async fn get_one(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<User>> {
    own_or_staff(&caller, id)?;
    Ok(Json(state.store.read(move |c| User::get(c, id)).await?))
}

async fn patch(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<User>> {
    own_or_staff(&caller, id)?;
    let mut errs = FieldErrors::default();
    for fixed in ["device_id", "client_type"] {
        if body.has(fixed) {
            errs.add(
                fixed,
                "This field is set by device registration and cannot be changed.",
            );
        }
    }
    let p = UserPatch {
        username: body.string("username", &mut errs),
        first_name: body.string_max("first_name", NAME_MAX, &mut errs),
        last_name: body.string_max("last_name", NAME_MAX, &mut errs),
        email: body.string_max("email", EMAIL_MAX, &mut errs),
    };
    if p.username.is_some() && !caller.is_staff() {
        errs.add(
            "username",
            "Only staff may rename users; change your first or last name instead.",
        );
    } else if p
        .username
        .as_deref()
        .is_some_and(|u| u.trim().is_empty() || u.chars().count() > NAME_MAX)
    {
        errs.add("username", "Must be 1 to 150 characters.");
    }
    if p.email
        .as_deref()
        .is_some_and(|e| !e.is_empty() && !e.contains('@'))
    {
        errs.add("email", "Enter a valid email address.");
    }
    errs.finish()?;
    Ok(Json(
        state
            .store
            .write(move |tx| users::patch(tx, id, &p))
            .await?,
    ))
}

/// Password verifications allowed at the same time.
static LOGIN_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

async fn login(
    state: axum::extract::State<AppState>,
    ClientIp(ip): ClientIp,
    _limit: Allow<kind::Logins>,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let mut errs = FieldErrors::default();
    let username = body.req_string("username", &mut errs);
    let password = body.req_string("password", &mut errs);
    errs.finish()?;
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
    let back_off = &state.limits.logins_failed;
    back_off.check(ip, &username)?;
    let name = username.clone();
    let found = state
        .store
        .read(move |c| users::login_lookup(c, &name))
        .await?;
    // Verify on a blocking thread: Argon2 takes tens of milliseconds on a Pi and about 19 MiB
    // of memory, so only a couple run at once (a flood of logins queues, it cannot exhaust
    // the box's memory).
    let _permit = LOGIN_SLOTS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Unknown usernames and device users are verified against a dummy hash: every failure
    // takes as long as a wrong password and reads the same.
    let user_id = tokio::task::spawn_blocking(move || crate::users::authenticate(found, &password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(user_id) = user_id else {
        back_off.failed(ip, &username);
        return Err(ApiError::field(
            "non_field_errors",
            "Unable to log in with provided credentials.",
        ));
    };
    back_off.succeeded(ip, &username);
    let token = state
        .store
        .write(move |tx| users::token_for(tx, user_id))
        .await?;
    Ok(Json(json!({"token": token})))
}
