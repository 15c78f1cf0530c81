//! Uploads (reference-server §5) over HTTP: `PATCH envelopes/:id/` (a `file`, or an
//! `asset_id` to re-file) and `POST assets/`. Each handler reads the request into an
//! [`UploadRequest`], calls the upload service ([`crate::ingest::Ingest::accept`], which
//! checks ownership, logs `start_upload`, converts, commits, tells the engine and sweeps files
//! on failure) and answers the Asset with absolute media URLs and the contributor redacted
//! for anyone but staff.
//!
//! Fields are read from the form first, then the query string, then a JSON body (the
//! `start_upload` event reads the query string only). The file part arrives spooled to disk
//! under an admission ticket ([`Body`]; 413 over the limit). Refusals answer as
//! [`super::ingest`] words them: 400 `{"detail": ...}` naming the problem, 403 for someone
//! else's envelope, recording or session, 503 with `Retry-After`, 507; success is 200.
//!
//! Owns: the upload routes, reading their fields. May not touch: the upload's steps (the
//! service's), SQL.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;

use super::auth::{Access, Caller};
use super::ingest::as_detail;
use super::input::{Body, FieldErrors, Fields, Query, UploadedFile};
use super::limits::{Allow, kind};
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, BaseUrl, Id, media_files};
use crate::ingest::{AssetFields, Spooled, UploadRequest, Uploader};
use crate::store::assets::{Asset, DESCRIPTION_MAX, MEDIA_TYPES};
use crate::store::events::NewEvent;
use crate::store::uploads::NewUpload;

/// Registers `PATCH envelopes/{id}/` on the envelope resource being built.
pub(super) fn envelope_route(a: super::routes::Resource<'_>) -> super::routes::Resource<'_> {
    a.patch(
        Access::Owner,
        "Upload into your envelope (multipart `file`, or `asset_id` of your own recording); answers the Asset",
        envelope_upload,
    )
    .body(asset_fields(obj().file("file").id("asset_id")))
    .limited()
}

/// Registers `POST assets/` on the asset resource being built.
pub(super) fn asset_route(a: super::routes::Resource<'_>) -> super::routes::Resource<'_> {
    a.post(
        Access::Owner,
        "Upload an asset (multipart `file` and `envelope_ids` with one of your envelopes); answers the Asset",
        asset_upload,
    )
    .body(
        asset_fields(obj().file("file").req().ids("envelope_ids").items(1, 1).req())
            .id("project_id")
            .num("audio_length_in_seconds")
            .num("start_time")
            .num("end_time"),
    )
    .limited()
}

/// The asset fields every upload reads ([`read_fields`]), added to `o`.
fn asset_fields(o: Obj) -> Obj {
    o.id("session_id")
        .choice("media_type", MEDIA_TYPES)
        .text("description", DESCRIPTION_MAX)
        .int("weight")
        .int_range(0, 99)
        .lat("latitude")
        .lon("longitude")
        .int("user_id")
        .doc("staff only; others are credited as themselves")
        .bool("submitted")
        .num("volume")
        .ids("tag_ids")
        .ids("description_loc_ids")
        .ids("alt_text_loc_ids")
}

/// The request's field sources in lookup order: form, query, JSON.
struct FieldSources<'a>(Vec<&'a Fields>);

impl<'a> FieldSources<'a> {
    fn new(headers: &HeaderMap, query: &'a Fields, body: &'a Fields) -> Self {
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| ct.to_ascii_lowercase().contains("json"));
        Self(if json {
            vec![query, body]
        } else {
            vec![body, query]
        })
    }

    /// The first source holding a value for one of `keys` (non-blank first, then any), with
    /// the key found.
    fn pick<'k>(&self, keys: &[&'k str]) -> Option<(&'a Fields, &'k str)> {
        for blank_ok in [false, true] {
            for f in &self.0 {
                for k in keys {
                    if (blank_ok && f.has(k)) || f.has_value(k) {
                        return Some((f, k));
                    }
                }
            }
        }
        None
    }

    fn int(&self, keys: &[&str], e: &mut FieldErrors) -> Option<i64> {
        self.pick(keys).and_then(|(f, k)| f.int(k, e))
    }

    fn float(&self, keys: &[&str], e: &mut FieldErrors) -> Option<f64> {
        self.pick(keys).and_then(|(f, k)| f.float(k, e))
    }

    fn string(&self, keys: &[&str], e: &mut FieldErrors) -> Option<String> {
        self.pick(keys).and_then(|(f, k)| f.string(k, e))
    }

    fn ids(&self, keys: &[&str], e: &mut FieldErrors) -> Vec<i64> {
        self.pick(keys)
            .and_then(|(f, k)| f.ids(k, e))
            .unwrap_or_default()
    }

    fn has(&self, key: &str) -> bool {
        self.pick(&[key]).is_some_and(|(f, k)| f.has_value(k))
    }
}

/// `submitted` as the reference reads it: `N n false False 0` / `Y y true True 1`; blank → cascade.
fn submitted(src: &FieldSources<'_>, e: &mut FieldErrors) -> Option<bool> {
    let (f, k) = src.pick(&["submitted"])?;
    match f.raw(k) {
        Some(serde_json::Value::Bool(b)) => Some(*b),
        _ => {
            let text = f.string(k, e)?;
            match text.trim() {
                "" => None,
                "N" | "n" | "false" | "False" | "0" => Some(false),
                "Y" | "y" | "true" | "True" | "1" => Some(true),
                other => {
                    e.add(
                        "submitted",
                        format!("\"{other}\" is not one of true/false/1/0/Y/N."),
                    );
                    None
                }
            }
        }
    }
}

/// Reads the new asset's fields (everything but the envelope, files and session).
fn read_upload(src: &FieldSources<'_>, admin_fields: bool) -> ApiResult<NewUpload> {
    let mut e = FieldErrors::default();
    let media_type = src
        .string(&["media_type", "mediatype"], &mut e)
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| "audio".into());
    if !MEDIA_TYPES.contains(&media_type.as_str()) {
        e.add(
            "media_type",
            format!("\"{media_type}\" is not one of {}.", MEDIA_TYPES.join(", ")),
        );
    }
    let description = src.string(&["description"], &mut e).unwrap_or_default();
    if description.chars().count() > DESCRIPTION_MAX {
        e.add(
            "description",
            format!("Ensure this field has no more than {DESCRIPTION_MAX} characters."),
        );
    }
    let weight = src.int(&["weight"], &mut e).unwrap_or(50);
    if !(0..=99).contains(&weight) {
        e.add("weight", "Must be between 0 and 99.");
    }
    let latitude = src.float(&["latitude"], &mut e);
    let longitude = src.float(&["longitude"], &mut e);
    if latitude.is_some_and(|l| !(-90.0..=90.0).contains(&l)) {
        e.add("latitude", "Must be between -90 and 90.");
    }
    if longitude.is_some_and(|l| !(-180.0..=180.0).contains(&l)) {
        e.add("longitude", "Must be between -180 and 180.");
    }
    let u = NewUpload {
        user_id: src.int(&["user_id"], &mut e),
        latitude,
        longitude,
        submitted: submitted(src, &mut e),
        media_type,
        description,
        volume: src.float(&["volume"], &mut e).unwrap_or(1.0),
        weight,
        tag_ids: src.ids(&["tag_ids", "tags"], &mut e),
        description_loc_ids: src.ids(&["description_loc_ids"], &mut e),
        alt_text_loc_ids: src.ids(&["alt_text_loc_ids"], &mut e),
        project_id: if admin_fields {
            src.int(&["project_id", "project"], &mut e)
        } else {
            None
        },
        audio_length_in_seconds: if admin_fields {
            src.float(&["audio_length_in_seconds"], &mut e)
        } else {
            None
        },
        start_time: if admin_fields {
            src.float(&["start_time"], &mut e)
        } else {
            None
        },
        end_time: if admin_fields {
            src.float(&["end_time"], &mut e)
        } else {
            None
        },
        ..NewUpload::default()
    };
    e.finish().map_err(as_detail)?;
    Ok(u)
}

/// Reads an upload's asset fields and named session; their problems as one `detail` line
/// (the service reports them after its ownership checks).
fn read_fields(src: &FieldSources<'_>, admin_fields: bool) -> Result<AssetFields, String> {
    let read = || {
        let upload = read_upload(src, admin_fields)?;
        let mut e = FieldErrors::default();
        let session_id = src.int(&["session_id", "session"], &mut e);
        e.finish().map_err(as_detail)?;
        Ok(AssetFields { upload, session_id })
    };
    read().map_err(|err: ApiError| match err {
        ApiError::Detail(_, detail) => detail,
        other => other.to_string(),
    })
}

/// The `start_upload` event's optional fields, from the query string only (problems ignored).
fn start_upload(query: &Fields) -> NewEvent {
    let mut event = NewEvent::default();
    super::events::optional_fields(query, &mut event, &mut FieldErrors::default());
    event
}

/// The signed-in caller as the upload service sees them (the routes need a token).
fn uploader(caller: &Caller) -> ApiResult<Uploader> {
    let user = caller.user.ok_or(ApiError::NotAuthenticated)?;
    Ok(Uploader {
        user_id: user.id,
        staff: user.is_staff,
    })
}

fn spooled(file: UploadedFile) -> Spooled {
    Spooled {
        spool: file.spool,
        ticket: file.ticket,
    }
}

/// Calls the upload service and answers its Asset: media URLs absolute, the contributor
/// redacted for anyone but staff.
async fn accept(
    state: &AppState,
    caller: &Caller,
    base: &BaseUrl,
    request: UploadRequest,
) -> ApiResult<Json<Asset>> {
    let mut asset = state.ingest.accept(uploader(caller)?, request).await?;
    media_files::absolutize(&mut asset, &base.0);
    super::auth::redact_contributor(&mut asset, caller.is_staff());
    Ok(Json(asset))
}

/// The envelope of the path, checked before the body is read: it exists and the caller owns
/// it (or is staff), so a visitor cannot make the box spool a file into someone else's
/// envelope only to refuse it afterwards.
struct OwnEnvelope {
    id: i64,
    caller: Caller,
}

impl axum::extract::FromRequestParts<AppState> for OwnEnvelope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Id(id) = Id::from_request_parts(parts, state).await?;
        let caller = Caller::from_request_parts(parts, state).await?;
        state.ingest.check_envelope(uploader(&caller)?, id).await?;
        Ok(Self { id, caller })
    }
}

async fn envelope_upload(
    State(state): State<AppState>,
    _limit: Allow<kind::Uploads>,
    OwnEnvelope {
        id: envelope_id,
        caller,
    }: OwnEnvelope,
    base: BaseUrl,
    Query(query): Query,
    headers: HeaderMap,
    Body(mut body): Body,
) -> ApiResult<Json<Asset>> {
    let file = body.take_file("file");
    let src = FieldSources::new(&headers, &query, &body);
    let mut e = FieldErrors::default();
    let asset_id = src.int(&["asset_id"], &mut e);
    e.finish().map_err(as_detail)?;
    if file.is_none() && asset_id.is_none() {
        return Err(ApiError::bad_request("asset_id or file required"));
    }
    let request = UploadRequest {
        envelope_id,
        file: file.map(spooled),
        refile: asset_id,
        fields: read_fields(&src, false),
        start_upload: start_upload(&query),
    };
    accept(&state, &caller, &base, request).await
}

async fn asset_upload(
    State(state): State<AppState>,
    caller: Caller,
    _limit: Allow<kind::Uploads>,
    base: BaseUrl,
    Query(query): Query,
    headers: HeaderMap,
    Body(mut body): Body,
) -> ApiResult<Json<Asset>> {
    let file = body.take_file("file");
    let src = FieldSources::new(&headers, &query, &body);
    let Some(file) = file else {
        return Err(ApiError::bad_request("Must supply file for asset content"));
    };
    let mut e = FieldErrors::default();
    let envelopes = src.ids(&["envelope_ids", "envelope_id"], &mut e);
    if e.finish().is_err()
        || envelopes.len() != 1
        || !src.has("envelope_ids") && envelopes.is_empty()
    {
        return Err(ApiError::bad_request(
            "envelope_ids must hold exactly one envelope id",
        ));
    }
    let request = UploadRequest {
        envelope_id: envelopes[0],
        file: Some(spooled(file)),
        refile: None,
        fields: read_fields(&src, true),
        start_upload: start_upload(&query),
    };
    accept(&state, &caller, &base, request).await
}
