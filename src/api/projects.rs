//! `projects/`: read by any token holder, written by staff. The project sub-routes (tags,
//! uigroups, uiconfig, assets, uielements) live with their resources.
//!
//! decisions.md: `GET projects/:id/` takes `session_id` optionally (English without it), and
//! localized text falls back to English, then to any language.

use axum::Json;
use axum::extract::State;

use super::auth::Access;
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiResult, AppState, Id};
use crate::store::loc;
use crate::store::projects::{self, Project, ProjectFilter, ProjectInput};

pub(super) fn routes(r: &mut Routes) {
    r.at("/projects/", "projects")
        .get(Access::Token, "List projects", list)
        .query(
            obj()
                .string("name")
                .string("owner")
                .bool("listen_enabled")
                .bool("geo_listen_enabled")
                .bool("speak_enabled")
                .bool("geo_speak_enabled")
                .bool("auto_submit")
                .bool("demo_stream_enabled")
                .string("audio_format")
                .string("ordering")
                .string("repeat_mode")
                .ids("languages")
                .id("session_id")
                .string("admin")
                .doc("present (any value): every localized string"),
        )
        .post(Access::Staff, "Create a project", create)
        .body(fields(true))
        .add();
    r.at("/projects/{id}/", "projects")
        .get(
            Access::Token,
            "Get a project, localized for session_id (optional)",
            get_one,
        )
        .query(
            obj()
                .id("session_id")
                .string("admin")
                .doc("present (any value): every localized string"),
        )
        .patch(Access::Staff, "Update a project", patch)
        .body(fields(false))
        .delete(
            Access::Staff,
            "Delete a project with its sessions, speakers, audiotracks and UI",
            delete,
        )
        .add();
}

const REPEAT_MODES: [&str; 2] = ["stop", "continuous"];
const ORDERINGS: [&str; 3] = ["by_like", "by_weight", "random"];
const BITRATES: [&str; 8] = ["64", "96", "112", "128", "160", "192", "256", "320"];

/// The body of a create (`creating`: name and position required) or PATCH, as [`input`] reads it.
fn fields(creating: bool) -> Obj {
    let mut o = obj()
        .text("name", 50)
        .nonblank()
        .req_if(creating)
        .text("owner", 128)
        .lat("latitude")
        .req_if(creating)
        .lon("longitude")
        .req_if(creating)
        .datetime("pub_date")
        .text("audio_format", 50)
        .bool("auto_submit")
        .int("max_recording_length")
        .int_range(1, i64::MAX)
        .doc("seconds")
        .bool("listen_questions_dynamic")
        .bool("speak_questions_dynamic")
        .text("sharing_url", 512)
        .text("out_of_range_url", 512)
        .int("recording_radius")
        .nullable()
        .bool("listen_enabled")
        .bool("geo_listen_enabled")
        .bool("speak_enabled")
        .bool("geo_speak_enabled")
        .bool("reset_tag_defaults_on_startup")
        .bool("timed_asset_priority")
        .choice("repeat_mode", &REPEAT_MODES)
        .text("files_url", 512)
        .text("files_version", 16)
        .choice("audio_stream_bitrate", &BITRATES)
        .choice("ordering", &ORDERINGS)
        .bool("demo_stream_enabled")
        .text("demo_stream_url", 512)
        .num("out_of_range_distance")
        .range(0.0, f64::MAX)
        .ids("language_ids")
        .items(1, super::input::MAX_IDS)
        .doc("at least one");
    for field in [
        "description",
        "sharing_message",
        "out_of_range_message",
        "legal_agreement",
        "demo_stream_message",
    ] {
        o = o.ids(loc_keys(field)[1]).doc("localized string ids");
    }
    o
}

/// The localization language for a request: the session's (unknown session → 404), else English.
async fn language(state: &AppState, q: &Fields) -> ApiResult<i64> {
    let mut errs = FieldErrors::default();
    let session_id = q.int("session_id", &mut errs);
    errs.finish()?;
    Ok(state
        .store
        .read(move |c| loc::language_for(c, session_id))
        .await?)
}

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<Project>>> {
    let mut errs = FieldErrors::default();
    let f = ProjectFilter {
        name: q.string("name", &mut errs),
        owner: q.string("owner", &mut errs),
        listen_enabled: q.bool("listen_enabled", &mut errs),
        geo_listen_enabled: q.bool("geo_listen_enabled", &mut errs),
        speak_enabled: q.bool("speak_enabled", &mut errs),
        geo_speak_enabled: q.bool("geo_speak_enabled", &mut errs),
        auto_submit: q.bool("auto_submit", &mut errs),
        demo_stream_enabled: q.bool("demo_stream_enabled", &mut errs),
        audio_format: q.string("audio_format", &mut errs),
        ordering: q.string("ordering", &mut errs),
        repeat_mode: q.string("repeat_mode", &mut errs),
        languages: q.ids("languages", &mut errs),
    };
    errs.finish()?;
    let admin = q.has("admin");
    let lang = language(&state, &q).await?;
    Ok(Json(
        state
            .store
            .read(move |c| projects::list(c, &f, lang, admin))
            .await?,
    ))
}

async fn get_one(
    State(state): State<AppState>,
    Id(id): Id,
    Query(q): Query,
) -> ApiResult<Json<Project>> {
    let admin = q.has("admin");
    let lang = language(&state, &q).await?;
    Ok(Json(
        state
            .store
            .read(move |c| projects::get(c, id, lang, admin))
            .await?,
    ))
}

/// Reads the project fields of a create or PATCH body.
fn input(b: &Fields, creating: bool) -> ApiResult<ProjectInput> {
    let mut e = FieldErrors::default();
    let text = |key: &str, max: usize, e: &mut FieldErrors| {
        let v = b.string(key, e);
        if v.as_ref().is_some_and(|s| s.chars().count() > max) {
            e.add(
                key,
                format!("Ensure this field has no more than {max} characters."),
            );
        }
        v
    };
    let name = text("name", 50, &mut e);
    if b.raw("name").is_some_and(serde_json::Value::is_null) {
        // A null name once created a project named "" (security review L2).
        e.add("name", "This field may not be null.");
    } else if name.as_deref().is_some_and(|n| n.trim().is_empty())
        || (creating && name.is_none() && !b.has("name"))
    {
        e.add(
            "name",
            if creating {
                "This field is required."
            } else {
                "This field may not be blank."
            },
        );
    }
    let p = ProjectInput {
        name,
        owner: text("owner", 128, &mut e),
        latitude: if creating {
            b.req_float("latitude", &mut e)
        } else {
            b.float("latitude", &mut e)
        }
        .filter(|v| in_range(*v, 90.0, "latitude", &mut e)),
        longitude: if creating {
            b.req_float("longitude", &mut e)
        } else {
            b.float("longitude", &mut e)
        }
        .filter(|v| in_range(*v, 180.0, "longitude", &mut e)),
        pub_date: b.datetime("pub_date", &mut e),
        audio_format: text("audio_format", 50, &mut e),
        auto_submit: b.bool("auto_submit", &mut e),
        max_recording_length: b.int("max_recording_length", &mut e).filter(|v| {
            let ok = *v > 0;
            if !ok {
                e.add(
                    "max_recording_length",
                    "Must be a positive number of seconds.",
                );
            }
            ok
        }),
        listen_questions_dynamic: b.bool("listen_questions_dynamic", &mut e),
        speak_questions_dynamic: b.bool("speak_questions_dynamic", &mut e),
        sharing_url: text("sharing_url", 512, &mut e),
        out_of_range_url: text("out_of_range_url", 512, &mut e),
        recording_radius: b.nullable_int("recording_radius", &mut e),
        listen_enabled: b.bool("listen_enabled", &mut e),
        geo_listen_enabled: b.bool("geo_listen_enabled", &mut e),
        speak_enabled: b.bool("speak_enabled", &mut e),
        geo_speak_enabled: b.bool("geo_speak_enabled", &mut e),
        reset_tag_defaults_on_startup: b.bool("reset_tag_defaults_on_startup", &mut e),
        timed_asset_priority: b.bool("timed_asset_priority", &mut e),
        repeat_mode: b.choice("repeat_mode", &REPEAT_MODES, &mut e),
        files_url: text("files_url", 512, &mut e),
        files_version: text("files_version", 16, &mut e),
        audio_stream_bitrate: b.choice("audio_stream_bitrate", &BITRATES, &mut e),
        ordering: b.choice("ordering", &ORDERINGS, &mut e),
        demo_stream_enabled: b.bool("demo_stream_enabled", &mut e),
        demo_stream_url: text("demo_stream_url", 512, &mut e),
        out_of_range_distance: b.float("out_of_range_distance", &mut e).filter(|v| {
            let ok = *v >= 0.0;
            if !ok {
                e.add("out_of_range_distance", "Must not be negative.");
            }
            ok
        }),
        language_ids: match b.first_key(&["language_ids", "languages"]) {
            Some(k) => b.ids(k, &mut e),
            None => None,
        },
        loc_ids: projects::LOC_FIELDS
            .iter()
            .filter_map(|(field, _, _)| {
                let keys = loc_keys(field);
                let key = b.first_key(&keys)?;
                b.ids(key, &mut e).map(|ids| (*field, key_static(key), ids))
            })
            .collect(),
    };
    e.finish()?;
    Ok(p)
}

/// Input names of a localized field: `<field>_loc` (the model name) and `<field>_loc_ids`.
fn loc_keys(field: &str) -> [&'static str; 2] {
    match field {
        "description" => ["description_loc", "description_loc_ids"],
        "sharing_message" => ["sharing_message_loc", "sharing_message_loc_ids"],
        "out_of_range_message" => ["out_of_range_message_loc", "out_of_range_message_loc_ids"],
        "legal_agreement" => ["legal_agreement_loc", "legal_agreement_loc_ids"],
        _ => ["demo_stream_message_loc", "demo_stream_message_loc_ids"],
    }
}

fn key_static(key: &str) -> &'static str {
    projects::LOC_FIELDS
        .iter()
        .flat_map(|(f, _, _)| loc_keys(f))
        .find(|k| *k == key)
        .unwrap_or("localized")
}

fn in_range(v: f64, limit: f64, key: &str, e: &mut FieldErrors) -> bool {
    let ok = (-limit..=limit).contains(&v);
    if !ok {
        e.add(key, format!("Must be between -{limit} and {limit}."));
    }
    ok
}

async fn create(State(state): State<AppState>, Body(b): Body) -> ApiResult<Json<Project>> {
    let p = input(&b, true)?;
    let lang = state.store.read(loc::english_id).await?;
    Ok(Json(
        state
            .store
            .write(move |tx| projects::create(tx, &p, lang))
            .await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    Id(id): Id,
    Body(b): Body,
) -> ApiResult<Json<Project>> {
    let p = input(&b, false)?;
    let lang = state.store.read(loc::english_id).await?;
    Ok(Json(
        state
            .store
            .write(move |tx| projects::patch(tx, id, &p, lang))
            .await?,
    ))
}

async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<axum::http::StatusCode> {
    let floorplan = state
        .store
        .write(move |tx| {
            let floorplan = crate::store::floorplans::file_of(tx, id)?;
            projects::delete(tx, id)?;
            Ok(floorplan)
        })
        .await?;
    // The floor plan row went with the project; its image goes too.
    if let Some(stem) = floorplan
        .as_deref()
        .and_then(crate::media::files::media_stem)
    {
        crate::media::files::remove_stems(&state.config.storage.media_dir(), vec![stem]).await;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}
