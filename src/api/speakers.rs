//! `speakers/`: read by any token holder, written by staff.
//!
//! `shape` is accepted as GeoJSON (Polygon or MultiPolygon, as an object or a JSON string) or
//! WKT and always answered as a MultiPolygon; `boundary` and `attenuation_border` are derived
//! by the store. A create needs exactly one of `uri` and a multipart `file`. A `file` is
//! checked and converted like an asset upload ([`crate::ingest::Ingest::convert`]): stored as
//! `speaker-project<P>-<safe stem>-<YYYYmmdd-HHMMSS><ext>` with an MP3 rendition next to it,
//! and `uri` is stored as `/rwmedia/<mp3>` and shown as the absolute URL of that MP3. `uri` must be an http(s) URL or a
//! `/rwmedia/` path; `backupuri` may also be `""`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::auth::Access;
use super::crud::FromQuery;
use super::input::{Body, FieldErrors, Fields, Query, UploadedFile};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, BaseUrl, Id, media_files};
use crate::ingest::Spooled;
use crate::media::{Purpose, Written, files};
use crate::store::Given;
use crate::store::assets;
use crate::store::speakers::{Speaker, SpeakerInput};
use crate::store::{Editable, Filtered, Table};

pub(super) fn routes(r: &mut Routes) {
    r
        .at("/speakers/", "speakers")
        .get(Access::Token, "List speakers", list)
        .query(Given::<Speaker>::fields())
        .post(
            Access::Staff,
            "Create a speaker from a uri or an uploaded file (borders are derived from shape and attenuation_distance)",
            create,
        )
        .body(body_fields(true))
        .add();
    r.at("/speakers/{id}/", "speakers")
        .get(Access::Token, "Get a speaker", get_one)
        .patch(
            Access::Staff,
            "Update a speaker (borders are derived again when shape or distance change)",
            patch,
        )
        .body(body_fields(false))
        .delete(
            Access::Staff,
            "Delete a speaker (`delete_binary=true` also removes its file in /rwmedia/)",
            delete,
        )
        .query(obj().bool("delete_binary"))
        .add();
}

const EITHER: &str = "Request must include either 'file' or 'uri', but not both.";
const NOT_BOTH: &str = "Request cannot include both 'file' and 'uri'.";
/// Stands in for `uri` while the fields of a file upload are validated.
const PENDING_URI: &str = "/rwmedia/pending-upload";

/// Longest `uri`/`backupuri` (the reference's URLField).
const MAX_URI: usize = 200;
/// Longest `code`.
const MAX_CODE: usize = 10;

/// Keys that may not be JSON null (`backupuri` null is read as `""`).
const NON_NULL: [&str; 9] = [
    "project_id",
    "project",
    "activeyn",
    "code",
    "maxvolume",
    "minvolume",
    "uri",
    "shape",
    "attenuation_distance",
];

/// What [`valid_uri`] accepts, as a JSON Schema pattern: an http(s) URL (scheme in any case)
/// with a host, or a `/rwmedia/` path; no spaces or control characters anywhere.
const URI_PATTERN: &str = r"^([hH][tT][tT][pP][sS]?://[^\s\x00-\x1f\x7f-\x9f/?#:][^\s\x00-\x1f\x7f-\x9f]*|/rwmedia/[^\s\x00-\x1f\x7f-\x9f]+)$";

/// The body [`input`] reads (`creating`: project, volumes, uri, shape and distance required).
/// A multipart `file` may stand in for `uri` (one of the two, never both).
fn body_fields(creating: bool) -> Obj {
    obj()
        .id("project_id")
        .req_if(creating)
        .num("maxvolume")
        .range(0.0, f64::MAX)
        .req_if(creating)
        .num("minvolume")
        .range(0.0, f64::MAX)
        .req_if(creating)
        .text("uri", MAX_URI)
        .pattern(URI_PATTERN)
        .req_if(creating)
        .doc("http(s) URL or /rwmedia/ path; or send a multipart `file` instead")
        .geometry("shape")
        .req_if(creating)
        .int("attenuation_distance")
        .int_range(0, i64::MAX)
        .req_if(creating)
        .doc("metres")
        .bool("activeyn")
        .text("code", MAX_CODE)
        .text("backupuri", MAX_URI)
        .pattern(&format!("^$|{URI_PATTERN}"))
        .nullable()
}

/// An http(s) URL with a host, or a path under `/rwmedia/`; no spaces or control characters.
fn valid_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if let Some(name) = s.strip_prefix("/rwmedia/") {
        return !name.is_empty();
    }
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    rest.and_then(|r| r.split(['/', '?', '#']).next())
        .is_some_and(|host| !host.is_empty() && !host.starts_with(':'))
}

fn check_uri(key: &str, v: Option<String>, blank_ok: bool, e: &mut FieldErrors) -> Option<String> {
    let v = v?;
    if blank_ok && v.is_empty() {
        return Some(v);
    }
    if v.chars().count() > MAX_URI {
        e.add(
            key,
            format!("Ensure this field has no more than {MAX_URI} characters."),
        );
        return None;
    }
    if !valid_uri(&v) {
        e.add(
            key,
            "Enter a valid URL: http://…, https://… or a /rwmedia/ path.",
        );
        return None;
    }
    Some(v)
}

fn has_file(b: &Fields) -> bool {
    b.files().iter().any(|f| f.field == "file") || b.has("file")
}

/// Speaker media on this box are stored as `/rwmedia/<name>` (so a change of the box's
/// address never breaks them) and handed out as absolute URLs.
fn absolute(mut sp: Speaker, base: &BaseUrl) -> Speaker {
    for uri in [&mut sp.uri, &mut sp.backupuri] {
        if uri.starts_with("/rwmedia/") {
            *uri = media_files::media_url(&base.0, uri.trim_start_matches("/rwmedia/"));
        }
    }
    sp
}

async fn list(
    State(state): State<AppState>,
    base: BaseUrl,
    Query(q): Query,
) -> ApiResult<Json<Vec<Speaker>>> {
    let mut e = FieldErrors::default();
    let f = Given::<Speaker>::from_query(&q, &mut e);
    e.finish()?;
    let list = state.store.read(move |c| Speaker::list(c, &f)).await?;
    Ok(Json(
        list.into_iter().map(|sp| absolute(sp, &base)).collect(),
    ))
}

async fn get_one(
    State(state): State<AppState>,
    base: BaseUrl,
    Id(id): Id,
) -> ApiResult<Json<Speaker>> {
    let sp = state.store.read(move |c| Speaker::get(c, id)).await?;
    Ok(Json(absolute(sp, &base)))
}

/// Reads a create (`creating`: project, volumes, uri, shape and distance required) or PATCH.
fn input(b: &Fields, creating: bool) -> ApiResult<SpeakerInput> {
    let mut e = FieldErrors::default();
    for key in NON_NULL {
        if b.raw(key).is_some_and(Value::is_null) {
            e.add(key, "This field may not be null.");
        }
    }
    let project_key = b
        .first_key(&["project_id", "project"])
        .unwrap_or("project_id");
    let (project_id, maxvolume, minvolume, uri, distance) = if creating {
        (
            b.req_int(project_key, &mut e),
            b.req_float("maxvolume", &mut e),
            b.req_float("minvolume", &mut e),
            b.req_string("uri", &mut e),
            b.req_int("attenuation_distance", &mut e),
        )
    } else {
        let uri = b.string("uri", &mut e);
        let null = b.raw("uri").is_some_and(Value::is_null);
        if b.has("uri") && !null && uri.as_deref().is_none_or(|u| u.trim().is_empty()) {
            e.add("uri", "This field may not be blank.");
        }
        (
            b.int(project_key, &mut e),
            b.float("maxvolume", &mut e),
            b.float("minvolume", &mut e),
            uri,
            b.int("attenuation_distance", &mut e),
        )
    };
    let mut not_negative = |key: &str, v: Option<f64>| {
        v.filter(|v| {
            let ok = *v >= 0.0;
            if !ok {
                e.add(key, "Must not be negative.");
            }
            ok
        })
    };
    let maxvolume = not_negative("maxvolume", maxvolume);
    let minvolume = not_negative("minvolume", minvolume);
    let attenuation_distance = distance.filter(|d| {
        let ok = *d >= 0;
        if !ok {
            e.add("attenuation_distance", "Must not be negative.");
        }
        ok
    });
    let shape = match b.geometry("shape", &mut e) {
        Some(Some(mp)) => Some(mp),
        Some(None) => {
            if !b.raw("shape").is_some_and(Value::is_null) {
                e.add("shape", "This field may not be blank.");
            }
            None
        }
        None => {
            if creating && !b.has("shape") {
                e.add("shape", "This field is required.");
            }
            None
        }
    };
    let code = b.string("code", &mut e);
    if code.as_ref().is_some_and(|c| c.chars().count() > MAX_CODE) {
        e.add(
            "code",
            format!("Ensure this field has no more than {MAX_CODE} characters."),
        );
    }
    let backupuri = if b.raw("backupuri").is_some_and(Value::is_null) {
        Some(String::new())
    } else {
        b.nullable_string("backupuri", &mut e).flatten()
    };
    let input = SpeakerInput {
        project_id,
        activeyn: b.bool("activeyn", &mut e),
        code,
        maxvolume,
        minvolume,
        uri: check_uri("uri", uri, false, &mut e),
        backupuri: check_uri(
            "backupuri",
            backupuri.map(|s| s.trim().to_string()),
            true,
            &mut e,
        ),
        shape,
        attenuation_distance,
    };
    e.finish()?;
    Ok(input)
}

/// The fields of a request carrying a `file` instead of a `uri`, validated with a
/// placeholder uri; returns them and the file.
fn file_input(b: &mut Fields, creating: bool) -> ApiResult<(SpeakerInput, UploadedFile)> {
    let file = b
        .take_file("file")
        .ok_or_else(|| ApiError::bad_request("'file' must be a file part of a multipart body."))?;
    let mut map = b.as_map().clone();
    map.insert("uri".into(), Value::String(PENDING_URI.into()));
    Ok((input(&Fields::from_map(map), creating)?, file))
}

/// Stores a speaker file and its MP3; returns the MP3's `/rwmedia/` path and the files' guard.
async fn store_file(
    state: &AppState,
    project_id: i64,
    file: UploadedFile,
) -> ApiResult<(String, Written)> {
    let name = format!(
        "speaker-project{project_id}-{}-{}",
        files::safe_stem(file.filename.as_deref()),
        files::timestamp()
    );
    let spooled = Spooled {
        spool: file.spool,
        ticket: file.ticket,
    };
    let done = state
        .ingest
        .convert(spooled, "audio", Purpose::Speaker, name)
        .await?;
    let mp3 = done.stored.mp3.unwrap_or(done.stored.file);
    Ok((format!("/rwmedia/{mp3}"), done.written))
}

async fn create(
    State(state): State<AppState>,
    base: BaseUrl,
    Body(mut b): Body,
) -> ApiResult<Json<Speaker>> {
    match (b.has("uri"), has_file(&b)) {
        (true, true) | (false, false) => return Err(ApiError::bad_request(EITHER)),
        (false, true) => {
            let (mut i, file) = file_input(&mut b, true)?;
            let project_id = i.project_id.unwrap_or_default();
            let exists = state
                .store
                .read(move |c| Ok(crate::store::sql::exists(c, "projects", project_id)?))
                .await?;
            if !exists {
                return Err(ApiError::field(
                    "project_id",
                    format!("Invalid pk \"{project_id}\" - object does not exist."),
                ));
            }
            let (uri, written) = store_file(&state, project_id, file).await?;
            i.uri = Some(uri);
            let speaker = state.store.write(move |tx| Speaker::create(tx, &i)).await?;
            written.keep();
            return Ok(Json(absolute(speaker, &base)));
        }
        (true, false) => {}
    }
    let i = input(&b, true)?;
    let speaker = state.store.write(move |tx| Speaker::create(tx, &i)).await?;
    Ok(Json(absolute(speaker, &base)))
}

async fn patch(
    State(state): State<AppState>,
    Id(id): Id,
    base: BaseUrl,
    Body(mut b): Body,
) -> ApiResult<Json<Speaker>> {
    match (b.has("uri"), has_file(&b)) {
        (true, true) => return Err(ApiError::bad_request(NOT_BOTH)),
        (false, true) => {
            let (mut i, file) = file_input(&mut b, false)?;
            let wanted = i.project_id;
            let project_id = state
                .store
                .read(move |c| {
                    let current = Speaker::get(c, id)?.project_id;
                    Ok(wanted.unwrap_or(current))
                })
                .await?;
            let (uri, written) = store_file(&state, project_id, file).await?;
            i.uri = Some(uri);
            let speaker = state
                .store
                .write(move |tx| Speaker::patch(tx, id, &i))
                .await?;
            written.keep();
            return Ok(Json(absolute(speaker, &base)));
        }
        _ => {}
    }
    let i = input(&b, false)?;
    let speaker = state
        .store
        .write(move |tx| Speaker::patch(tx, id, &i))
        .await?;
    Ok(Json(absolute(speaker, &base)))
}

/// Deletes the row; with `?delete_binary=true` then also the media files named by its `uri`
/// when that points at this box's `/rwmedia/` (the original and its renditions), unless an
/// asset still names them. A failed removal is logged; the answer is 204 either way.
async fn delete(
    State(state): State<AppState>,
    Id(id): Id,
    Query(q): Query,
    base: BaseUrl,
) -> ApiResult<StatusCode> {
    let mut e = FieldErrors::default();
    let delete_binary = q.bool("delete_binary", &mut e).unwrap_or(false);
    e.finish()?;
    let stems = state
        .store
        .write(move |tx| {
            let speaker = Speaker::get(tx, id)?;
            Speaker::delete(tx, id)?;
            if !delete_binary {
                return Ok(Vec::new());
            }
            media_files::stems_to_remove(&[Some(speaker.uri.as_str())], &base.0, |stem| {
                assets::media_names_with_prefix(tx, stem)
            })
        })
        .await?;
    files::remove_stems(&state.config.storage.media_dir(), stems).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::valid_uri;

    #[test]
    fn speaker_uris_are_http_urls_or_media_paths() {
        for ok in [
            "http://example.com/a.mp3",
            "HTTPS://example.com:8000/scapes1.mp3",
            "/rwmedia/speaker-project1-bed.mp3",
            "http://10.0.0.1:8000/s'😀.mp3",
        ] {
            assert!(valid_uri(ok), "{ok}");
        }
        for bad in [
            "",
            "example.com/a.mp3",
            "ftp://example.com/a.mp3",
            "http://",
            "http:///a.mp3",
            "/rwmedia/",
            "/etc/passwd",
            "http://exa mple.com/a.mp3",
            "javascript:alert(1)",
        ] {
            assert!(!valid_uri(bad), "{bad}");
        }
    }
}
