//! `assets/` (list with every filter of reference-server §2.6, pagination and ordering; get,
//! PATCH, DELETE; per-asset votes; random; blocked; count) and `projects/:id/assets/`.
//!
//! The two list endpoints are the hottest reads of the API (clients refresh their asset pool
//! every 30 s to 3 min), so they are served from the [`super::list_cache::ListCache`], keyed
//! by path, canonical query, base URL and whether the viewer is staff, and valid until the
//! next committed write.
//!
//! Ownership (decisions.md): PATCH and DELETE are for the asset's owner (the user whose session
//! recorded it) or staff; `delete_binary`, `user_id` and moving an asset into someone else's
//! session are staff's. A vote is cast in one of the caller's own sessions. Contributors are
//! shown without their username to anyone but staff (it names staff logins and holds four
//! characters of a device id).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::asset_filters::{admin_field, asset_filter, filter_fields, list_fields, ordering};
use super::auth::{self, Access, Caller, Viewer};
use super::input::{Body, FieldErrors, Fields, Query};
use super::list_cache::{cache_key, json_response};
use super::paging::{Paging, paged};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, BaseUrl, Id, media_files};
use crate::store::StoreError;
use crate::store::Table;
use crate::store::assets::{self, Asset, AssetPatch, Blocked, DESCRIPTION_MAX, MEDIA_TYPES};
use crate::store::events::NewEvent;
use crate::store::owners::{self, Owned};
use crate::store::votes::{self, AssetVote, VOTE_TYPES, Vote, VoteCount};

pub(super) fn routes(r: &mut Routes) {
    let a = r
        .at("/assets/", "assets")
        .get(
            Access::Token,
            "List assets matching the filters (`paginate=true` for pages)",
            list,
        )
        .query(list_fields(true));
    super::uploads::asset_route(a).add();
    r.at("/assets/count/", "assets")
        .get(Access::Token, "Count assets matching the filters", count)
        .query(filter_fields(obj()))
        .add();
    r.at("/assets/random/", "assets")
        .get(
            Access::Token,
            "Up to `limit` random assets matching the filters",
            random,
        )
        .query(filter_fields(obj().int("limit").int_range(0, i64::MAX)))
        .add();
    r.at("/assets/blocked/", "assets")
        .get(
            Access::Token,
            "Assets the session's user blocked (directly or by blocking their author)",
            blocked,
        )
        .query(obj().id("session_id").req())
        .add();
    r
        .at("/assets/{id}/", "assets")
        .get(Access::Token, "Get an asset", get_one)
        .query(admin_field(obj()))
        .patch(
            Access::Owner,
            "Update an asset (its owner or staff; `user_id` and others' sessions: staff)",
            patch,
        )
        .body(patch_fields())
        .delete(
            Access::Owner,
            "Delete an asset (its owner or staff; `delete_binary=true`, staff only, also removes its media files)",
            delete,
        )
        .query(obj().bool("delete_binary"))
        .add();
    r
        .at("/assets/{id}/votes/", "assets")
        .get(
            Access::Token,
            "Vote counts of an asset by type",
            vote_counts,
        )
        .post(
            Access::Owner,
            "Vote on an asset as one of your own sessions (a repeat without value withdraws the vote)",
            vote,
        )
        .body(
            super::events::event_fields(obj().id("session_id").req())
                .choice("vote_type", VOTE_TYPES)
                .req()
                .int("value"),
        )
        .add();
    r.at("/projects/{id}/assets/", "projects")
        .get(
            Access::Token,
            "Assets of a project (bare array; the asset filters apply)",
            project_assets,
        )
        .query(list_fields(false))
        .add();
}

// ---------------------------------------------------------------------------------------
// Lists

/// Renders `GET assets/` (`project` = None) or `GET projects/:id/assets/`.
async fn render_list(
    state: &AppState,
    base: &str,
    uri: &Uri,
    project: Option<i64>,
    staff: bool,
) -> ApiResult<Vec<u8>> {
    let q = Fields::from_urlencoded(uri.query().unwrap_or("").as_bytes());
    let mut f = asset_filter(&q)?;
    let order = ordering(&q);
    let admin = q.has("admin");
    let paging = match project {
        Some(_) => None,
        None => Paging::from_query(&q)?,
    };
    if project.is_some() {
        f.project_id = project;
    }
    let (count, page, mut rows) = state
        .store
        .read(move |c| {
            if let Some(p) = project
                && !crate::store::sql::exists(c, "projects", p)?
            {
                return Err(StoreError::not_found("project", p));
            }
            f.check(c)?;
            let (count, page, window) = match &paging {
                None => (0, Some(1), None),
                Some(pg) => {
                    let count = assets::count(c, &f)?;
                    match pg.resolve(count) {
                        None => return Ok((count, None, Vec::new())),
                        Some(page) => (count, Some(page), Some(pg.window(page))),
                    }
                }
            };
            let mut rows = assets::list(c, &f, &order, window)?;
            if admin {
                for a in &mut rows {
                    assets::add_admin_strings(c, a)?;
                }
            }
            Ok((count, page, rows))
        })
        .await?;
    for a in &mut rows {
        media_files::absolutize(a, base);
        auth::redact_contributor(a, staff);
    }
    let body = match paging {
        None => serde_json::to_vec(&rows),
        Some(pg) => {
            let page = page.ok_or_else(Paging::invalid)?;
            serde_json::to_vec(&paged(base, uri, count, page, &pg, rows))
        }
    };
    body.map_err(|e| ApiError::Internal(e.to_string()))
}

/// Serves a list from the cache, rendering and storing it on a miss.
async fn cached_list(
    state: &AppState,
    caller: &Caller,
    base: &BaseUrl,
    uri: &Uri,
    headers: &HeaderMap,
    project: Option<i64>,
) -> ApiResult<Response> {
    let staff = caller.is_staff();
    let viewer = if staff { "staff\n" } else { "" };
    let key = format!("{viewer}{}", cache_key(&base.0, uri.path(), uri.query()));
    // Read before the data: an entry is then never newer than the revision it is filed under.
    let revision = state.store.revision();
    let body = state
        .cache
        .get_or_render(&key, revision, || async {
            render_list(state, &base.0, uri, project, staff)
                .await
                .map(Bytes::from)
        })
        .await?;
    Ok(json_response(&body, headers))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    cached_list(&state, &caller, &base, &uri, &headers, None).await
}

async fn project_assets(
    State(state): State<AppState>,
    caller: Caller,
    Id(project): Id,
    base: BaseUrl,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    cached_list(&state, &caller, &base, &uri, &headers, Some(project)).await
}

async fn count(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Value>> {
    let f = asset_filter(&q)?;
    let n = state
        .store
        .read(move |c| {
            f.check(c)?;
            assets::count(c, &f)
        })
        .await?;
    Ok(Json(json!({"count": n})))
}

async fn random(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    Query(q): Query,
) -> ApiResult<Json<Vec<Asset>>> {
    let f = asset_filter(&q)?;
    let mut errs = FieldErrors::default();
    let limit = q.int("limit", &mut errs).unwrap_or(1);
    if limit < 0 {
        errs.add("limit", "Ensure this value is greater than or equal to 0.");
    }
    errs.finish()?;
    let mut rows = state
        .store
        .read(move |c| {
            f.check(c)?;
            assets::random(c, &f, limit)
        })
        .await?;
    for a in &mut rows {
        media_files::absolutize(a, &base.0);
        auth::redact_contributor(a, caller.is_staff());
    }
    Ok(Json(rows))
}

async fn blocked(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query,
) -> ApiResult<Json<Blocked>> {
    let mut errs = FieldErrors::default();
    let session_id = q.req_int("session_id", &mut errs);
    errs.finish()?;
    let session_id = session_id.unwrap_or_default();
    let viewer = Viewer::of(&state, &caller).await?;
    let mut blocked = state
        .store
        .read(move |c| assets::blocked(c, session_id))
        .await
        .map_err(session_not_found)?;
    blocked.device_id = viewer.redact(blocked.device_id.take());
    Ok(Json(blocked))
}

/// An unknown session named in a query or body is a 400, not a 404.
fn session_not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound {
            what: "session", ..
        } => ApiError::bad_request("Session not found."),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------
// One asset

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    base: BaseUrl,
    Query(q): Query,
) -> ApiResult<Json<Asset>> {
    let admin = q.has("admin");
    let mut asset = state
        .store
        .read(move |c| {
            let mut a = Asset::get(c, id)?;
            if admin {
                assets::add_admin_strings(c, &mut a)?;
            }
            Ok(a)
        })
        .await?;
    media_files::absolutize(&mut asset, &base.0);
    auth::redact_contributor(&mut asset, caller.is_staff());
    Ok(Json(asset))
}

/// The first of several accepted names that is present in the body.
fn key<'k>(body: &Fields, names: &[&'k str]) -> Option<&'k str> {
    body.first_key(names)
}

/// The body of an asset PATCH, as [`asset_patch`] reads it.
fn patch_fields() -> Obj {
    obj()
        .text("description", DESCRIPTION_MAX)
        .lat("latitude")
        .nullable()
        .lon("longitude")
        .nullable()
        .geometry("shape")
        .nullable()
        .num("volume")
        .nullable()
        .bool("submitted")
        .int("weight")
        .int_range(0, 99)
        .choice("media_type", MEDIA_TYPES)
        .num("start_time")
        .nullable()
        .num("end_time")
        .nullable()
        .id("language_id")
        .nullable()
        .id("project_id")
        .nullable()
        .id("session_id")
        .nullable()
        .id("user_id")
        .nullable()
        .doc("staff only")
        .ids("tag_ids")
        .ids("envelope_ids")
        .ids("description_loc_ids")
        .ids("alt_text_loc_ids")
}

fn asset_patch(body: &Fields) -> ApiResult<AssetPatch> {
    let mut errs = FieldErrors::default();
    let description = match body.nullable_string("description", &mut errs) {
        Some(None) => {
            errs.add("description", "This field may not be null.");
            None
        }
        Some(Some(d)) if d.chars().count() > DESCRIPTION_MAX => {
            errs.add(
                "description",
                format!("Ensure this field has no more than {DESCRIPTION_MAX} characters."),
            );
            None
        }
        other => other.flatten(),
    };
    let weight = body.int("weight", &mut errs);
    if let Some(w) = weight.filter(|w| !(0..=99).contains(w)) {
        errs.add(
            "weight",
            format!("\"{w}\" is not a valid choice (0 to 99)."),
        );
    }
    let shape = body
        .geometry("shape", &mut errs)
        .map(|g| g.map(|mp| crate::geometry::multipolygon_json(&mp).to_string()));
    let nullable_int = |names: &[&str], errs: &mut FieldErrors| {
        key(body, names).and_then(|k| body.nullable_int(k, errs))
    };
    let id_list = |names: &[&str], errs: &mut FieldErrors| {
        key(body, names).and_then(|k| {
            if body.raw(k) == Some(&Value::Null) {
                Some(Vec::new())
            } else {
                body.ids(k, errs)
            }
        })
    };
    // The same ranges as an upload's (a position off the globe never reaches the mixer).
    let mut coordinate = |key: &str, limit: f64| {
        body.nullable_float(key, &mut errs).filter(|v| {
            let ok = v.is_none_or(|v| (-limit..=limit).contains(&v));
            if !ok {
                errs.add(key, format!("Must be between -{limit} and {limit}."));
            }
            ok
        })
    };
    let latitude = coordinate("latitude", 90.0);
    let longitude = coordinate("longitude", 180.0);
    let p = AssetPatch {
        description,
        latitude,
        longitude,
        shape,
        volume: body.nullable_float("volume", &mut errs),
        submitted: body.bool("submitted", &mut errs),
        weight,
        media_type: key(body, &["media_type", "mediatype"])
            .and_then(|k| body.choice(k, MEDIA_TYPES, &mut errs)),
        start_time: body.nullable_float("start_time", &mut errs),
        end_time: body.nullable_float("end_time", &mut errs),
        language_id: nullable_int(&["language_id", "language"], &mut errs),
        project_id: nullable_int(&["project_id", "project"], &mut errs),
        session_id: nullable_int(&["session_id", "session"], &mut errs),
        user_id: nullable_int(&["user_id", "user"], &mut errs),
        tag_ids: id_list(&["tag_ids", "tags"], &mut errs),
        envelope_ids: id_list(&["envelope_ids", "envelope"], &mut errs),
        description_loc_ids: id_list(&["description_loc_ids", "loc_description"], &mut errs),
        alt_text_loc_ids: id_list(&["alt_text_loc_ids", "loc_alt_text"], &mut errs),
    };
    errs.finish()?;
    Ok(p)
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    base: BaseUrl,
    Body(body): Body,
) -> ApiResult<Json<Asset>> {
    let p = asset_patch(&body)?;
    if p.user_id.is_some() && !caller.is_staff() {
        return Err(ApiError::field(
            "user_id",
            "Only staff may change who made a recording.",
        ));
    }
    let new_session = p.session_id.flatten();
    let owners = state
        .store
        .read(move |c| {
            let asset = owners::of(c, Owned::Asset, id)?;
            let session = match new_session {
                Some(s) => Some(owners::of_session(c, s).map_err(session_not_found_store)?),
                None => None,
            };
            Ok((asset, session))
        })
        .await?;
    caller.may_change(owners.0, "recording")?;
    if let Some(session_owner) = owners.1
        && !caller.owns(session_owner)
    {
        return Err(ApiError::field(
            "session_id",
            "Only staff may move a recording into someone else's session.",
        ));
    }
    let mut asset = state
        .store
        .write(move |tx| assets::patch(tx, id, &p))
        .await?;
    media_files::absolutize(&mut asset, &base.0);
    auth::redact_contributor(&mut asset, caller.is_staff());
    Ok(Json(asset))
}

/// An unknown session named in a body, as a field conflict (400) rather than a 404 of the path.
fn session_not_found_store(err: StoreError) -> StoreError {
    match err {
        StoreError::NotFound {
            what: "session",
            id,
        } => StoreError::conflict("session_id", format!("Session {id} not found.")),
        other => other,
    }
}

/// Deletes the row; with `?delete_binary=true` then also the asset's media files (the
/// original and its renditions, see [`crate::media::files::remove_stems`]) unless another asset
/// still names them. A failed removal is logged; the answer is 204 either way.
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(q): Query,
    base: BaseUrl,
) -> ApiResult<StatusCode> {
    let mut e = FieldErrors::default();
    let delete_binary = q.bool("delete_binary", &mut e).unwrap_or(false);
    e.finish()?;
    caller.may_change_row(&state, Owned::Asset, id).await?;
    if delete_binary && !caller.is_staff() {
        return Err(ApiError::Detail(
            StatusCode::FORBIDDEN,
            "Only staff may delete a recording's files (delete_binary); delete it without them."
                .into(),
        ));
    }
    let stems = state
        .store
        .write(move |tx| {
            let asset = Asset::get(tx, id)?;
            Asset::delete(tx, id)?;
            if !delete_binary {
                return Ok(Vec::new());
            }
            let refs = [asset.file.as_deref(), asset.filename.as_deref()];
            media_files::stems_to_remove(&refs, &base.0, |stem| {
                assets::media_names_with_prefix(tx, stem)
            })
        })
        .await?;
    crate::media::files::remove_stems(&state.config.storage.media_dir(), stems).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Votes of one asset

async fn vote_counts(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Vec<VoteCount>>> {
    Ok(Json(
        state
            .store
            .read(move |c| {
                if !crate::store::sql::exists(c, "assets", id)? {
                    return Err(StoreError::not_found("asset", id));
                }
                votes::counts(c, id)
            })
            .await?,
    ))
}

/// An unknown vote type is refused with the list of valid ones.
pub(super) fn check_vote_type(t: &str) -> ApiResult<()> {
    if VOTE_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "\"{t}\" is not a valid vote type; use one of: {}.",
            VOTE_TYPES.join(", ")
        )))
    }
}

async fn vote(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Response> {
    if !body.has_value("session_id") {
        return Err(ApiError::bad_request(
            "a session_id is required for this operation",
        ));
    }
    if !body.has_value("vote_type") {
        return Err(ApiError::bad_request(
            "a vote_type is required for this operation",
        ));
    }
    let mut errs = FieldErrors::default();
    let session_id = body.int("session_id", &mut errs);
    let vote_type = body.string("vote_type", &mut errs).unwrap_or_default();
    let value = body.int("value", &mut errs);
    errs.finish()?;
    check_vote_type(&vote_type)?;
    if let Some(sid) = session_id {
        auth::own_session(&state, &caller, sid).await?;
    }
    // The event copies what the client sent; a malformed optional field there does not
    // fail the vote.
    let mut event = NewEvent::default();
    super::events::optional_fields(&body, &mut event, &mut FieldErrors::default());
    if event.data.is_none() {
        event.data = Some(super::events::clip_data(
            Value::Object(body.as_map().clone()).to_string(),
        ));
    }
    let blocks = vote_type.starts_with("block_");
    let v = AssetVote {
        session_id: session_id.unwrap_or_default(),
        vote_type,
        value,
        event,
    };
    let voted: Option<Vote> = state
        .store
        .write(move |tx| votes::vote_asset(tx, id, &v))
        .await
        .map_err(session_not_found)?;
    if blocks && let Some(session_id) = session_id {
        // Streams of the voter drop what is now blocked and skip (§7.7).
        state
            .engine
            .blocks_changed(crate::conductor::StreamId(session_id))
            .await;
    }
    Ok(match voted {
        Some(v) => Json(v).into_response(),
        // The reference answers a withdrawn vote with its serializer's blank object.
        None => {
            Json(json!({"value": null, "type": "", "voter": null, "session": null, "asset": null}))
                .into_response()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_names_become_absolute_encoded_urls() {
        assert_eq!(
            media_files::media_url("http://box:8888", "rec one.wav"),
            "http://box:8888/rwmedia/rec%20one.wav"
        );
        assert_eq!(
            media_files::media_url("http://box", "https://cdn.example/x.mp3"),
            "https://cdn.example/x.mp3"
        );
    }
}
