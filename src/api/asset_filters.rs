//! The filters of the asset lists (`GET assets/`, `assets/count/`, `assets/random/`,
//! `projects/:id/assets/`): how they are read from the query, and their description in the
//! OpenAPI document, side by side.

use super::ApiResult;
use super::input::{FieldErrors, Fields};
use super::schema::{Obj, obj};
use crate::store::assets::{AssetFilter, MEDIA_TYPES, OrderKey};

/// `admin` (present with any value: every localized string).
pub(super) fn admin_field(o: Obj) -> Obj {
    o.string("admin")
        .doc("present (any value): every localized string")
}

/// The query of the asset lists: the filters, `ordering`, `admin`, and the page parameters
/// where the list pages.
pub(super) fn list_fields(pages: bool) -> Obj {
    let o = admin_field(filter_fields(obj())).string("ordering").doc(
        "comma-separated keys, `-` for descending: id, created, weight, audiolength, likes (unknown keys are ignored)",
    );
    if pages {
        super::paging::page_fields(o)
    } else {
        o
    }
}

/// Every filter [`asset_filter`] reads, added to `o`. `session`, `project`, `tags` and
/// `envelope` must name existing objects (a 400 otherwise, as DRF's choice filters answer).
pub(super) fn filter_fields(o: Obj) -> Obj {
    o.int("session_id")
        .id("session")
        .int("project_id")
        .id("project")
        .ids("tag_ids")
        .doc("assets carrying every one of these tags")
        .ids("tag_ids_or")
        .doc("assets carrying any of these tags")
        .ids("tags")
        .string("media_type")
        .choice("mediatype", MEDIA_TYPES)
        .string("language")
        .ids("envelope_id")
        .ids("envelope_ids")
        .ids("envelope")
        .num("latitude")
        .doc("matched as a prefix of the stored text")
        .num("longitude")
        .doc("matched as a prefix of the stored text")
        .bool("submitted")
        .num("audiolength__lte")
        .doc("seconds")
        .num("audiolength__gte")
        .doc("seconds")
        .int("audiolength")
        .doc("nanoseconds")
        .datetime("created__lte")
        .datetime("created__gte")
        .datetime("created")
        .datetime("updated__lte")
        .datetime("updated__gte")
        .string("description")
        .string("filename")
        .string("text_filter")
        .string("user_str")
}

/// Non-blank text of a query parameter.
fn text(q: &Fields, key: &str, errs: &mut FieldErrors) -> Option<String> {
    q.string(key, errs).filter(|s| !s.trim().is_empty())
}

/// A number filter matched as a text prefix (`latitude=42.3` matches 42.37).
fn number_prefix(q: &Fields, key: &str, errs: &mut FieldErrors) -> Option<String> {
    let t = text(q, key, errs)?;
    let t = t.trim().to_string();
    if t.parse::<f64>().is_ok_and(f64::is_finite) {
        Some(t)
    } else {
        errs.add(key, "Enter a number.");
        None
    }
}

/// Seconds filter → nanoseconds, as the reference rounds it.
fn seconds_filter(q: &Fields, key: &str, errs: &mut FieldErrors) -> Option<f64> {
    q.float(key, errs)
        .map(|s| (s * 1e9 * 100.0).round() / 100.0)
}

/// Reads every filter of `GET assets/`; an invalid value is a 400 naming the parameter.
pub(super) fn asset_filter(q: &Fields) -> ApiResult<AssetFilter> {
    let mut errs = FieldErrors::default();
    let mut envelope_ids = q.ids("envelope_id", &mut errs).unwrap_or_default();
    envelope_ids.extend(q.ids("envelope_ids", &mut errs).unwrap_or_default());
    let mediatype = if q.has_value("mediatype") {
        q.choice("mediatype", MEDIA_TYPES, &mut errs)
    } else {
        None
    };
    let f = AssetFilter {
        ids: None,
        session_id: q.int("session_id", &mut errs),
        session: q.int("session", &mut errs),
        project_id: q.int("project_id", &mut errs),
        project: q.int("project", &mut errs),
        tag_ids: q.ids("tag_ids", &mut errs).unwrap_or_default(),
        tag_ids_or: q.ids("tag_ids_or", &mut errs).unwrap_or_default(),
        tags: q.ids("tags", &mut errs).unwrap_or_default(),
        media_type: text(q, "media_type", &mut errs),
        mediatype,
        language: text(q, "language", &mut errs),
        envelope_ids,
        envelope: q.ids("envelope", &mut errs).unwrap_or_default(),
        latitude: number_prefix(q, "latitude", &mut errs),
        longitude: number_prefix(q, "longitude", &mut errs),
        submitted: q.bool("submitted", &mut errs),
        audiolength_lte: seconds_filter(q, "audiolength__lte", &mut errs),
        audiolength_gte: seconds_filter(q, "audiolength__gte", &mut errs),
        audiolength: q.int("audiolength", &mut errs),
        created_lte: q.datetime("created__lte", &mut errs),
        created_gte: q.datetime("created__gte", &mut errs),
        created: q.datetime("created", &mut errs),
        updated_lte: q.datetime("updated__lte", &mut errs),
        updated_gte: q.datetime("updated__gte", &mut errs),
        description: text(q, "description", &mut errs),
        filename: text(q, "filename", &mut errs),
        text_filter: text(q, "text_filter", &mut errs),
        user_str: text(q, "user_str", &mut errs),
    };
    errs.finish()?;
    Ok(f)
}

/// `ordering=weight,-id`: known keys with an optional `-`; unknown keys are ignored, as
/// DRF's ordering filter ignores them.
pub(super) fn ordering(q: &Fields) -> Vec<(OrderKey, bool)> {
    let mut ignored = FieldErrors::default();
    text(q, "ordering", &mut ignored)
        .map(|s| {
            s.split(',')
                .filter_map(|term| {
                    let term = term.trim();
                    let (name, desc) = term
                        .strip_prefix('-')
                        .map_or((term, false), |rest| (rest, true));
                    OrderKey::parse(name).map(|k| (k, desc))
                })
                .collect()
        })
        .unwrap_or_default()
}
