//! Who is calling: `Authorization: token <key>` (scheme word in any case) resolved to a user,
//! and the four access levels of api/2 routes (anyone, any token holder, the owner of the
//! object, staff).
//!
//! Ownership (decisions.md): an asset, vote, listen event, event, envelope or stream belongs to
//! the user whose session made it. The route table checks that an owner-level caller holds a
//! token; the handler, which knows the object, asks [`Caller::may_change`] with the owner the
//! store found (`crate::store::owners`). Staff pass every check.
//!
//! Also the checks and redactions several resources share: `own_session` (acting in a
//! session needs its owner) and `redact_contributor` (usernames for staff only).
//!
//! A header that is present but names no valid token is refused with 401 even on routes open
//! to anyone, as DRF does. Resolved tokens are cached briefly so a busy list endpoint does not
//! pay a database round trip for authentication.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::{ApiResult, AppState};
use crate::store::Table;
use crate::store::assets::Asset;
use crate::store::owners::{self, Owned};
use crate::store::users::User;

/// How long a resolved token is trusted without asking the database again (a staff flag
/// changed with the CLI takes effect within this time).
const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 4096;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// No token needed.
    Anyone,
    /// Any valid token.
    Token,
    /// A token of the object's owner (the user whose session made it) or of staff; the route
    /// table checks for a token, the handler for the owner ([`Caller::may_change`]).
    Owner,
    /// A token of a staff user.
    Staff,
}

impl Access {
    /// Checks a caller against this level.
    ///
    /// # Errors
    /// 401 without a token, 403 for a non-staff user on a staff operation.
    pub(crate) fn check(self, caller: &Caller) -> Result<(), ApiError> {
        match (self, caller.user) {
            (Self::Anyone, _) => Ok(()),
            (_, None) => Err(ApiError::NotAuthenticated),
            (Self::Token | Self::Owner, Some(_)) => Ok(()),
            (Self::Staff, Some(u)) if u.is_staff => Ok(()),
            (Self::Staff, Some(_)) => Err(ApiError::Forbidden),
        }
    }

    /// Name used in the OpenAPI document.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Anyone => "anyone",
            Self::Token => "token",
            Self::Owner => "owner",
            Self::Staff => "staff",
        }
    }
}

/// An authenticated user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthUser {
    /// User id.
    pub id: i64,
    /// Staff may write configuration.
    pub is_staff: bool,
    /// A kiosk's token: it may only read (api/2 `GET`s and event streams).
    pub is_kiosk: bool,
}

/// The caller of a request: anonymous or a user.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caller {
    /// `None` for anonymous requests.
    pub user: Option<AuthUser>,
}

impl Caller {
    /// True for staff users.
    pub(crate) fn is_staff(&self) -> bool {
        self.user.is_some_and(|u| u.is_staff)
    }

    /// The caller's user id, if any.
    pub(crate) fn user_id(&self) -> Option<i64> {
        self.user.map(|u| u.id)
    }

    /// True for staff and for the user `owner` names; an object without an owner (the demo's,
    /// the box's own, made before owners were recorded) is staff's alone.
    pub(crate) fn owns(&self, owner: Option<i64>) -> bool {
        match self.user {
            Some(u) => u.is_staff || owner == Some(u.id),
            None => false,
        }
    }

    /// `Ok` for staff and for the owner, else 403 naming what is protected (401 without a
    /// token).
    ///
    /// # Errors
    /// [`ApiError::NotAuthenticated`] or a 403 `detail`.
    pub(crate) fn may_change(&self, owner: Option<i64>, what: &str) -> Result<(), ApiError> {
        if self.user.is_none() {
            return Err(ApiError::NotAuthenticated);
        }
        if self.owns(owner) {
            Ok(())
        } else {
            Err(ApiError::Detail(
                axum::http::StatusCode::FORBIDDEN,
                format!("Only the visitor who made this {what}, or staff, may do that."),
            ))
        }
    }

    /// [`Caller::may_change`] for the stored row `id` of `what`: its owner is looked up
    /// (404 when there is no such row).
    ///
    /// # Errors
    /// 401, 403 or 404 as above; the store's failures.
    pub(crate) async fn may_change_row(
        &self,
        state: &AppState,
        what: Owned,
        id: i64,
    ) -> Result<(), ApiError> {
        let owner = state.store.read(move |c| owners::of(c, what, id)).await?;
        let noun = match what {
            Owned::Asset => "recording",
            Owned::Vote => "vote",
            Owned::ListenEvent => "listen event",
            Owned::Event => "event",
            Owned::Envelope => "envelope",
        };
        self.may_change(owner, noun)
    }

    /// The owner a non-staff caller's lists are limited to (`None` for staff: everything).
    pub(crate) fn list_scope(&self) -> Option<i64> {
        if self.is_staff() {
            None
        } else {
            self.user_id()
        }
    }
}

/// Short-lived cache of resolved tokens.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<String, (AuthUser, Instant)>>,
}

impl TokenCache {
    fn get(&self, key: &str) -> Option<AuthUser> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(u, _)| *u)
    }

    /// Forgets every resolved token (a revoked token must stop working at once).
    pub(crate) fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    fn put(&self, key: &str, user: AuthUser) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
            entries.insert(key.to_string(), (user, Instant::now()));
        }
    }
}

/// The key of `Bearer <key>` or `token <key>` (scheme word in any case): the scheme of the
/// compatibility layers (event streams, the Livepeer API), which take api/2's too.
pub(super) fn bearer_key(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(char::is_whitespace)?;
    let key = key.trim();
    ((scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        && !key.is_empty()
        && !key.contains(char::is_whitespace))
    .then_some(key)
}

/// Extracts the token key from an `Authorization` header value, if it uses the token scheme.
fn token_key(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(char::is_whitespace)?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("token") && !key.is_empty() && !key.contains(char::is_whitespace))
        .then_some(key)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(*caller);
        }
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Caller::default());
        };
        let key = header
            .to_str()
            .ok()
            .and_then(token_key)
            .ok_or(ApiError::InvalidToken)?;
        let user = resolve(state, key).await?.ok_or(ApiError::InvalidToken)?;
        let caller = Caller { user: Some(user) };
        parts.extensions.insert(caller);
        Ok(caller)
    }
}

/// The active user owning token `key`, through the short-lived cache.
///
/// # Errors
/// Store failures.
pub(crate) async fn resolve(state: &AppState, key: &str) -> Result<Option<AuthUser>, ApiError> {
    if let Some(user) = state.tokens.get(key) {
        return Ok(Some(user));
    }
    let owned = key.to_string();
    let found = state
        .store
        .read(move |c| crate::store::users::by_token(c, &owned))
        .await?;
    let found = found.map(|o| AuthUser {
        id: o.id,
        is_staff: o.is_staff,
        is_kiosk: o.is_kiosk,
    });
    if let Some(user) = found {
        state.tokens.put(key, user);
    }
    Ok(found)
}

/// What a caller may see of other people's device ids. A device id works as a password
/// (`POST users/` hands out the device's token), so only staff and the device itself see it.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    staff: bool,
    device_id: Option<String>,
}

impl Viewer {
    /// The viewer behind a caller (one small read for non-staff token holders).
    ///
    /// # Errors
    /// Store failures.
    pub(crate) async fn of(state: &AppState, caller: &Caller) -> Result<Self, ApiError> {
        let Some(user) = caller.user else {
            return Ok(Self {
                staff: false,
                device_id: None,
            });
        };
        if user.is_staff {
            return Ok(Self {
                staff: true,
                device_id: None,
            });
        }
        let device_id = state
            .store
            .read(move |c| Ok(User::get(c, user.id)?.device_id))
            .await?;
        Ok(Self {
            staff: false,
            device_id,
        })
    }

    /// `device_id` as this viewer may see it: unchanged for staff and for the device itself,
    /// else `None`.
    pub(crate) fn redact(&self, device_id: Option<String>) -> Option<String> {
        match (&device_id, &self.device_id) {
            _ if self.staff => device_id,
            (Some(d), Some(own)) if d == own => device_id,
            _ => None,
        }
    }
}

/// `Ok` when the caller may act as session `session_id` (it is theirs, or they are staff), or
/// when there is no such session (the write that follows refuses it in the endpoint's own
/// words); someone else's session is a 403. The box's own listening session belongs to
/// nobody, so only staff act in it (no visitor can silence the kiosk with `block_asset`).
///
/// # Errors
/// 403 for someone else's session.
pub(super) async fn own_session(
    state: &AppState,
    caller: &Caller,
    session_id: i64,
) -> ApiResult<()> {
    let owner = state
        .store
        .read(move |c| owners::of_session_if_any(c, session_id))
        .await?;
    if owner.is_none_or(|owner| caller.owns(owner)) {
        Ok(())
    } else {
        Err(ApiError::Detail(
            axum::http::StatusCode::FORBIDDEN,
            format!("Session {session_id} is not yours; act only in your own sessions."),
        ))
    }
}

/// Leaves the contributor's username out for anyone but staff: it names staff logins and
/// ends in four characters of the device id, a bearer secret.
pub(super) fn redact_contributor(asset: &mut Asset, staff: bool) {
    if !staff && let Some(user) = asset.user.as_mut() {
        user.username = String::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_token_schemes_are_read_in_any_case() {
        assert_eq!(bearer_key("Bearer abc"), Some("abc"));
        assert_eq!(bearer_key("bearer  abc "), Some("abc"));
        assert_eq!(bearer_key("token abc"), Some("abc"));
        assert_eq!(bearer_key("Basic abc"), None);
        assert_eq!(bearer_key("Bearer"), None);
        assert_eq!(bearer_key("Bearer "), None);
        assert_eq!(bearer_key("Bearer a b"), None);
    }

    #[test]
    fn the_token_scheme_word_is_case_insensitive() {
        assert_eq!(token_key("token abc"), Some("abc"));
        assert_eq!(token_key("Token abc"), Some("abc"));
        assert_eq!(token_key("TOKEN   abc "), Some("abc"));
        assert_eq!(token_key("Bearer abc"), None);
        assert_eq!(token_key("token"), None);
        assert_eq!(token_key("token a b"), None);
    }

    #[test]
    fn staff_operations_refuse_anonymous_with_401_and_users_with_403() {
        let anon = Caller::default();
        let user = Caller {
            user: Some(AuthUser {
                id: 1,
                is_staff: false,
                is_kiosk: false,
            }),
        };
        let staff = Caller {
            user: Some(AuthUser {
                id: 2,
                is_staff: true,
                is_kiosk: false,
            }),
        };
        assert!(matches!(
            Access::Staff.check(&anon),
            Err(ApiError::NotAuthenticated)
        ));
        assert!(matches!(
            Access::Staff.check(&user),
            Err(ApiError::Forbidden)
        ));
        assert!(Access::Staff.check(&staff).is_ok());
        assert!(Access::Token.check(&user).is_ok());
        assert!(matches!(
            Access::Token.check(&anon),
            Err(ApiError::NotAuthenticated)
        ));
        assert!(Access::Anyone.check(&anon).is_ok());
        assert!(Access::Owner.check(&user).is_ok());
        assert!(matches!(
            Access::Owner.check(&anon),
            Err(ApiError::NotAuthenticated)
        ));
    }

    #[test]
    fn only_the_owner_and_staff_may_change_an_object_and_nobody_owns_an_ownerless_one() {
        let user = |id, is_staff| Caller {
            user: Some(AuthUser {
                id,
                is_staff,
                is_kiosk: false,
            }),
        };
        assert!(user(7, false).may_change(Some(7), "asset").is_ok());
        assert!(user(7, true).may_change(Some(8), "asset").is_ok());
        assert!(user(7, true).may_change(None, "asset").is_ok());
        let err = user(8, false).may_change(Some(7), "asset").unwrap_err();
        assert!(matches!(err, ApiError::Detail(s, ref m) if s == 403 && m.contains("asset")));
        assert!(user(7, false).may_change(None, "asset").is_err());
        assert!(matches!(
            Caller::default().may_change(Some(7), "asset"),
            Err(ApiError::NotAuthenticated)
        ));
    }
}
