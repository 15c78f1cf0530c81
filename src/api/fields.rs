//! Field rules the plain resources share (tags, languages, UI groups and elements): renamed
//! inputs, required-on-create text and integers, choices and choice filters, DRF's length
//! error, and the localization parameters of their reads.
//!
//! Owns: these rules' wording (Django REST framework's). May not touch: the store, anything a
//! single resource means.

use super::ApiError;
use super::input::{FieldErrors, Fields};
use super::schema::{Obj, obj};
use crate::store::StoreError;

/// The localization query of the reads: `session_id` and `admin`.
pub(super) fn loc_fields() -> Obj {
    obj()
        .id("session_id")
        .doc("localizes for this session's language")
        .string("admin")
        .doc("present (any value): every localized string")
}

/// The localization parameters of a read: `session_id` (optional) and whether `admin` is
/// present (with any value).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LocParams {
    pub(super) session_id: Option<i64>,
    pub(super) admin: bool,
}

/// Reads `session_id` and `admin` from a query string.
pub(super) fn loc_params(q: &Fields, errs: &mut FieldErrors) -> LocParams {
    LocParams {
        session_id: q.int("session_id", errs),
        admin: q.has("admin"),
    }
}

/// An unknown `session_id` becomes 400 `{"detail":"Session not found"}`; every other store
/// error maps as usual.
pub(super) fn session_400(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound {
            what: "session", ..
        } => ApiError::bad_request("Session not found"),
        other => other.into(),
    }
}

/// The key a client used among renamed inputs (`project_id` or `project`), or the first.
pub(super) fn key<'k>(f: &Fields, names: &[&'k str]) -> &'k str {
    f.first_key(names).unwrap_or(names[0])
}

/// A text field that may not be null or blank: required on create, optional on PATCH.
pub(super) fn text(
    f: &Fields,
    key: &str,
    create: bool,
    max_chars: usize,
    errs: &mut FieldErrors,
) -> Option<String> {
    let value = if create {
        f.req_string(key, errs)
    } else {
        match f.nullable_string(key, errs)? {
            None => {
                errs.add(key, "This field may not be null.");
                None
            }
            Some(s) if s.trim().is_empty() => {
                errs.add(key, "This field may not be blank.");
                None
            }
            Some(s) => Some(s),
        }
    };
    check_len(key, value.as_deref(), max_chars, errs);
    value
}

/// Records DRF's length error when `value` has more than `max` characters.
pub(super) fn check_len(key: &str, value: Option<&str>, max: usize, errs: &mut FieldErrors) {
    if value.is_some_and(|v| v.chars().count() > max) {
        errs.add(
            key,
            format!("Ensure this field has no more than {max} characters."),
        );
    }
}

/// A required integer on create, an optional one on PATCH (null refused).
pub(super) fn int(f: &Fields, key: &str, create: bool, errs: &mut FieldErrors) -> Option<i64> {
    if create {
        f.req_int(key, errs)
    } else {
        match f.nullable_int(key, errs)? {
            None => {
                errs.add(key, "This field may not be null.");
                None
            }
            v => v,
        }
    }
}

/// A choice that is required on create (`required`), optional otherwise; null refused.
pub(super) fn choice(
    f: &Fields,
    key: &str,
    choices: &[&str],
    required: bool,
    errs: &mut FieldErrors,
) -> Option<String> {
    match f.raw(key) {
        None if required => {
            errs.add(key, "This field is required.");
            None
        }
        None => None,
        Some(serde_json::Value::Null) => {
            errs.add(key, "This field may not be null.");
            None
        }
        Some(_) => f.choice(key, choices, errs),
    }
}

/// A choice-valued filter: blank means no filter, anything outside `choices` is a 400.
pub(super) fn filter_choice(
    q: &Fields,
    key: &str,
    choices: &[&str],
    errs: &mut FieldErrors,
) -> Option<String> {
    if q.has_value(key) {
        q.choice(key, choices, errs)
    } else {
        None
    }
}
