//! Uploads (reference-server §5): `PATCH envelopes/:id/` (a `file`, or an `asset_id` to
//! re-file), `POST assets/`, and the shared pieces the speaker upload uses.
//!
//! Ownership (decisions.md): the envelope must belong to the caller (its session is theirs),
//! a re-filed asset too, and a `session_id` field may only name one of the caller's sessions;
//! `user_id` is honoured from staff only (iOS sends `0`; others are credited to the caller).
//!
//! Fields are read from the form first, then the query string, then a JSON body. Every
//! failure is a 400 `{"detail": ...}` naming the problem (413 for a body over the limit, from
//! [`Body`]; 503 when too many uploads are in flight and 507 when the disk reserve would be
//! crossed, from [`super::ingest`]); success is 200 with the Asset. The file part arrives
//! spooled to disk; media work runs on a blocking thread ([`crate::media`]); the row commits
//! only after every file exists, and the files are removed again if the commit fails, so a
//! refused upload leaves nothing behind.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;

use super::auth::{Access, Caller};
use super::ingest::{Ticket, media_error};
use super::input::{Body, FieldErrors, Fields, Query, UploadedFile};
use super::limits::{Allow, kind};
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, BaseUrl, Id, media_files};
use crate::conductor::{AssetId, StreamId};
use crate::media::{self, Purpose, Stored, TempFile, Written};
use crate::store::StoreError;
use crate::store::assets::{Asset, DESCRIPTION_MAX, MEDIA_TYPES};
use crate::store::events::NewEvent;
use crate::store::owners::{self, Owned};
use crate::store::uploads::{self, NewUpload};

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

/// A field-error map as one `detail` line (uploads answer `{"detail": ...}` only).
pub(super) fn as_detail(err: ApiError) -> ApiError {
    match err {
        ApiError::Fields(map) => ApiError::bad_request(
            map.iter()
                .map(|(k, v)| format!("{k}: {}", v.join(" ")))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => other,
    }
}

/// Checks, converts and durably writes a spooled upload on a blocking thread, in one of the
/// conversion slots; the upload's `ticket` is given back when the conversion ends.
pub(super) async fn store_media(
    state: &AppState,
    spool: TempFile,
    ticket: Ticket,
    media_type: String,
    purpose: Purpose,
    base_name: String,
) -> ApiResult<(Stored, Option<i64>, Written)> {
    let dir = state.config.storage.media_dir();
    let limits = media::Limits {
        max_recording_s: state.config.limits.max_recording_s as f64,
        reserve: media::space::Reserve::new(&dir, state.config.storage.min_free_bytes()),
    };
    let done = state
        .ingest
        .convert(ticket, move || {
            media::ingest(spool, &media_type, purpose, &limits, &dir, &base_name)
        })
        .await?
        .map_err(media_error)?;
    Ok((done.stored, done.audiolength_ns, done.written))
}

/// Copies a stored original to a spool file (re-filing an asset from its own file), under a
/// ticket and the disk reserve.
async fn respool(state: &AppState, path: PathBuf) -> ApiResult<(TempFile, Ticket)> {
    let no_file = || ApiError::bad_request("No file in request");
    let len = tokio::fs::metadata(&path)
        .await
        .map_err(|_| no_file())?
        .len();
    let dir = state.config.storage.media_dir();
    let reserve = media::space::Reserve::new(&dir, state.config.storage.min_free_bytes());
    super::ingest::check_reserve(&reserve, Some(len))?;
    let ticket = state.ingest.admit()?;
    let spool = tokio::task::spawn_blocking(move || {
        let mut from = std::fs::File::open(&path)?;
        let tmp = TempFile::create(&dir)?;
        std::io::copy(&mut from, &mut tmp.file())?;
        Ok::<_, std::io::Error>(tmp)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("media task failed: {e}")))?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => no_file(),
        _ => media_error(e.into()),
    })?;
    Ok((spool, ticket))
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

/// Reads the asset fields of an upload (everything but the envelope, files and session).
fn read_fields(src: &FieldSources<'_>, admin_fields: bool) -> ApiResult<NewUpload> {
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

fn no_envelope(id: i64) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid Envelope ID Provided. No Envelope exists with ID {id}"
    ))
}

const NO_SESSION: &str = "Session matching query does not exist.";

/// Store errors of the commit, in the upload's words.
fn commit_error(envelope_id: i64) -> impl Fn(StoreError) -> ApiError {
    move |err| match err {
        StoreError::NotFound {
            what: "envelope", ..
        } => no_envelope(envelope_id),
        StoreError::NotFound {
            what: "session", ..
        } => ApiError::bad_request(NO_SESSION),
        StoreError::NotFound { what: "asset", id } => ApiError::bad_request(format!(
            "Invalid Asset ID Provided. No Asset exists with ID {id}"
        )),
        other => as_detail(other.into()),
    }
}

/// Logs `start_upload` for the envelope's session with the query-string fields only.
async fn log_start(state: &AppState, session_id: i64, query: &Fields) -> ApiResult<()> {
    let mut ev = NewEvent {
        session_id,
        event_type: "start_upload".into(),
        ..NewEvent::default()
    };
    super::events::optional_fields(query, &mut ev, &mut FieldErrors::default());
    state
        .store
        .write(move |tx| crate::store::events::create(tx, &ev).map(|_| ()))
        .await?;
    Ok(())
}

/// The path of a stored media name, if it is a plain name inside the media folder.
fn media_path(state: &AppState, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.starts_with("http");
    plain.then(|| state.config.storage.media_dir().join(name))
}

/// What one upload request asks for.
struct Target {
    envelope_id: i64,
    file: Option<UploadedFile>,
    asset_id: Option<i64>,
    /// `POST assets/` also reads `project_id` and explicit lengths (admin-updates).
    admin_fields: bool,
}

/// Who owns what an upload touches: the envelope's session and owner, and for a re-file the
/// asset's stored file and owner.
struct Owners {
    env_session: Option<i64>,
    env_owner: Option<i64>,
    /// `None`: no re-file; `Some(None)`: no such asset; `Some(Some(file))`.
    asset_file: Option<Option<Option<String>>>,
    asset_owner: Option<i64>,
}

/// The shared upload: envelope and ownership checked, event logged, media stored, row
/// committed.
async fn upload(
    state: &AppState,
    caller: &Caller,
    base: &BaseUrl,
    src: &FieldSources<'_>,
    query: &Fields,
    target: Target,
) -> ApiResult<Asset> {
    let Target {
        envelope_id,
        file,
        asset_id,
        admin_fields,
    } = target;
    let found = state
        .store
        .read(move |c| {
            let env_session = uploads::envelope_session(c, envelope_id)?;
            let env_owner = match env_session {
                Some(_) => owners::of(c, Owned::Envelope, envelope_id)?,
                None => None,
            };
            let (asset_file, asset_owner) = match asset_id {
                Some(id) => match uploads::asset_file(c, id)? {
                    Some(file) => (Some(Some(file)), owners::of(c, Owned::Asset, id)?),
                    None => (Some(None), None),
                },
                None => (None, None),
            };
            Ok(Owners {
                env_session,
                env_owner,
                asset_file,
                asset_owner,
            })
        })
        .await?;
    let env_session = found.env_session.ok_or_else(|| no_envelope(envelope_id))?;
    caller.may_change(found.env_owner, "envelope")?;
    if let Some(id) = asset_id {
        if matches!(found.asset_file, Some(None)) {
            return Err(ApiError::bad_request(format!(
                "Invalid Asset ID Provided. No Asset exists with ID {id}"
            )));
        }
        // Re-filing replaces the asset's files: only its owner (or staff) may do that.
        caller.may_change(found.asset_owner, "recording")?;
    }
    let asset_file = found.asset_file;
    log_start(state, env_session, query).await?;

    let mut u = read_fields(src, admin_fields)?;
    let mut e = FieldErrors::default();
    let session_id = src.int(&["session_id", "session"], &mut e);
    e.finish().map_err(as_detail)?;
    u.envelope_id = envelope_id;
    u.session_id = session_id.unwrap_or(env_session);
    if !caller.is_staff() || u.user_id.is_none() {
        // iOS sends `user_id=0`; anyone but staff is credited as themselves.
        u.user_id = caller.user_id();
    }
    if u.session_id != env_session {
        super::auth::own_session(state, caller, u.session_id).await?;
        let sid = u.session_id;
        let exists = state
            .store
            .read(move |c| Ok(crate::store::sql::exists(c, "sessions", sid)?))
            .await?;
        if !exists {
            return Err(ApiError::bad_request(NO_SESSION));
        }
    }

    let (spool, ticket) = match (file, asset_file.flatten().flatten()) {
        (Some(f), _) => (f.spool, f.ticket),
        (None, Some(old)) => {
            let path = media_path(state, &old)
                .ok_or_else(|| ApiError::bad_request("No file in request"))?;
            respool(state, path).await?
        }
        (None, None) => return Err(ApiError::bad_request("No file in request")),
    };
    let base_name = format!("{}-{}", media::files::timestamp(), u.session_id);
    let (stored, audiolength, written) = store_media(
        state,
        spool,
        ticket,
        u.media_type.clone(),
        Purpose::Asset,
        base_name,
    )
    .await?;
    u.file = stored.file;
    u.filename = stored.filename;
    u.audiolength_ns = audiolength;

    let mut asset = match asset_id {
        None => state
            .store
            .write(move |tx| uploads::create(tx, &u))
            .await
            .map_err(commit_error(envelope_id))?,
        Some(id) => {
            let (file, filename) = (u.file.clone(), u.filename.clone());
            let (asset, old) = state
                .store
                .write(move |tx| {
                    uploads::refile(tx, id, envelope_id, &file, &filename, audiolength)
                })
                .await
                .map_err(commit_error(envelope_id))?;
            // The replaced original and its renditions (`<stem>.*`), when it is an upload's
            // own file (a plain name: the demo's shared sounds live in a folder).
            let stems = (old.as_deref())
                .filter(|name| media_path(state, name).is_some())
                .and_then(media_files::media_stem);
            media_files::remove_stems(state, stems.into_iter().collect()).await;
            asset
        }
    };
    written.keep();
    // The uploader hears the new recording next in their own stream (§5 step 12).
    let (engine, session_id, new_id) = (state.engine.clone(), asset.session_id, asset.id);
    if let Some(session_id) = session_id {
        tokio::spawn(async move {
            engine.uploaded(StreamId(session_id), AssetId(new_id)).await;
        });
    }
    media_files::absolutize(&mut asset, &base.0);
    super::auth::redact_contributor(&mut asset, caller.is_staff());
    Ok(asset)
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
        let owner = state
            .store
            .read(move |c| match owners::of(c, Owned::Envelope, id) {
                Ok(owner) => Ok(Some(owner)),
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            })
            .await?
            .ok_or_else(|| no_envelope(id))?;
        caller.may_change(owner, "envelope")?;
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
    let target = Target {
        envelope_id,
        file,
        asset_id,
        admin_fields: false,
    };
    let asset = upload(&state, &caller, &base, &src, &query, target).await?;
    Ok(Json(asset))
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
    let target = Target {
        envelope_id: envelopes[0],
        file: Some(file),
        asset_id: None,
        admin_fields: true,
    };
    let asset = upload(&state, &caller, &base, &src, &query, target).await?;
    Ok(Json(asset))
}
