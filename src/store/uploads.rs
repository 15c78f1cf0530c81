//! The database side of an upload (reference-server §5): checking the envelope, session and
//! asset named by the request, the `submitted` cascade, and creating (or re-filing) the asset
//! row with its tags, localized ids and envelope link in the caller's one transaction. The
//! media files themselves are written by [`crate::media`] before this runs.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::assets::{Asset, LOC_ALT_TEXT, LOC_DESCRIPTION};
use super::loc::{self, Owner};
use super::{StoreError, StoreResult, speakers, time};
use crate::geometry;
use crate::store::Table;

/// The session of an envelope, or `None` when the envelope does not exist.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn envelope_session(conn: &Connection, envelope_id: i64) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT session_id FROM envelopes WHERE id = ?1")?
        .query_row([envelope_id], |r| r.get(0))
        .optional()?)
}

/// The stored media name (`file`) of an asset; `None` when the asset does not exist,
/// `Some(None)` when it has no file.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn asset_file(conn: &Connection, asset_id: i64) -> StoreResult<Option<Option<String>>> {
    Ok(conn
        .prepare_cached("SELECT file FROM assets WHERE id = ?1")?
        .query_row([asset_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .map(|f| f.filter(|f| !f.is_empty())))
}

/// Everything an upload sets on the new asset.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewUpload {
    /// The envelope receiving it (must exist).
    pub envelope_id: i64,
    /// The recording session (must exist).
    pub session_id: i64,
    /// `user_id` from the request: used when it names a user.
    pub user_id: Option<i64>,
    /// `project_id` from the request (admin-updates); else the session's project.
    pub project_id: Option<i64>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Longitude.
    pub longitude: Option<f64>,
    /// Explicit `submitted`; `None` runs the cascade.
    pub submitted: Option<bool>,
    /// `audio`, `photo`, `text` or `video`.
    pub media_type: String,
    /// Description text.
    pub description: String,
    /// Volume.
    pub volume: f64,
    /// Weight 0–99.
    pub weight: i64,
    /// Tags (unknown ids are ignored).
    pub tag_ids: Vec<i64>,
    /// Localized description ids (unknown ids are ignored).
    pub description_loc_ids: Vec<i64>,
    /// Localized alt-text ids (unknown ids are ignored).
    pub alt_text_loc_ids: Vec<i64>,
    /// Stored original.
    pub file: String,
    /// Playback file.
    pub filename: String,
    /// Measured length in nanoseconds (audio).
    pub audiolength_ns: Option<i64>,
    /// Explicit length in seconds (admin-updates), overriding the measured one.
    pub audio_length_in_seconds: Option<f64>,
    /// Explicit start (seconds); default 0 for audio.
    pub start_time: Option<f64>,
    /// Explicit end (seconds); default the length for audio.
    pub end_time: Option<f64>,
}

/// Session facts the upload needs.
struct SessionFacts {
    project_id: i64,
    language_id: Option<i64>,
    device_id: Option<String>,
    geo_listen_enabled: bool,
}

fn session_facts(conn: &Connection, id: i64) -> StoreResult<SessionFacts> {
    conn.prepare_cached(
        "SELECT project_id, language_id, device_id, geo_listen_enabled FROM sessions WHERE id = ?1",
    )?
    .query_row([id], |r| {
        Ok(SessionFacts {
            project_id: r.get(0)?,
            language_id: r.get(1)?,
            device_id: r.get(2)?,
            geo_listen_enabled: r.get(3)?,
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::not_found("session", id))
}

/// The `submitted` cascade (reference-server §5 step 8); returns (submitted, lat, lon).
fn cascade(
    conn: &Connection,
    u: &NewUpload,
    project_id: i64,
    geo_listen: bool,
) -> StoreResult<(bool, Option<f64>, Option<f64>)> {
    let (p_lat, p_lon, auto_submit, range_m): (f64, f64, bool, f64) = conn
        .prepare_cached(
            "SELECT latitude, longitude, auto_submit, out_of_range_distance FROM projects WHERE id = ?1",
        )?
        .query_row([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?
        .ok_or_else(|| StoreError::conflict("project_id", format!("Project {project_id} does not exist.")))?;
    let (Some(lat), Some(lon)) = (u.latitude, u.longitude) else {
        let submitted = u.submitted.unwrap_or(false);
        return Ok((submitted, Some(p_lat), Some(p_lon)));
    };
    if let Some(s) = u.submitted {
        return Ok((s, Some(lat), Some(lon)));
    }
    let in_range = !geo_listen
        || speakers::active_shapes(conn, project_id)?
            .iter()
            .any(|shape| geometry::distance_to_shape_m(shape, lon, lat) <= range_m);
    Ok((in_range && auto_submit, Some(lat), Some(lon)))
}

fn existing(tx: &Transaction<'_>, table: &str, ids: &[i64]) -> StoreResult<Vec<i64>> {
    let mut out = Vec::new();
    for id in ids {
        if super::sql::exists(tx, table, *id)? && !out.contains(id) {
            out.push(*id);
        }
    }
    Ok(out)
}

/// Creates the asset of an upload and puts it into the envelope.
///
/// # Errors
/// [`StoreError::NotFound`] for a missing envelope (`envelope`) or session (`session`);
/// a `project_id` conflict for an unknown project.
pub(crate) fn create(tx: &Transaction<'_>, u: &NewUpload) -> StoreResult<Asset> {
    if envelope_session(tx, u.envelope_id)?.is_none() {
        return Err(StoreError::not_found("envelope", u.envelope_id));
    }
    let s = session_facts(tx, u.session_id)?;
    let project_id = u.project_id.unwrap_or(s.project_id);
    let (submitted, latitude, longitude) = cascade(tx, u, project_id, s.geo_listen_enabled)?;
    let user_id = match u.user_id {
        Some(id) if super::sql::exists(tx, "users", id)? => Some(id),
        _ => match &s.device_id {
            Some(d) => super::users::by_device(tx, d)?,
            None => None,
        },
    };
    let audiolength = match u.audio_length_in_seconds {
        Some(sec) => Some(time::seconds_to_ns(sec)),
        None => u.audiolength_ns,
    };
    let length_s = audiolength.map(|ns| ns as f64 / 1e9);
    let is_audio = u.media_type == "audio";
    let start_time = u.start_time.or(if is_audio { Some(0.0) } else { None });
    let end_time = u.end_time.or(if is_audio { length_s } else { None });
    let now = time::now();
    tx.prepare_cached(
        "INSERT INTO assets (session_id, user_id, latitude, longitude, filename, file, volume,
            submitted, project_id, created, updated, audiolength, start_time, end_time,
            language_id, weight, mediatype, description, initialenvelope_id, id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(rusqlite::params![
        u.session_id,
        user_id,
        latitude,
        longitude,
        u.filename,
        u.file,
        u.volume,
        submitted,
        project_id,
        now,
        audiolength,
        start_time,
        end_time,
        s.language_id,
        u.weight,
        u.media_type,
        u.description,
        u.envelope_id,
        super::fleet::next_id(tx, "assets")?,
    ])?;
    let id = tx.last_insert_rowid();
    let tags = existing(tx, "tags", &u.tag_ids)?;
    super::sql::replace_links(tx, "asset_tags", "asset_id", "tag_id", id, &tags)?;
    let desc = existing(tx, "localized_strings", &u.description_loc_ids)?;
    loc::set(
        tx,
        Owner::Asset,
        id,
        LOC_DESCRIPTION,
        "description_loc_ids",
        &desc,
    )?;
    let alt = existing(tx, "localized_strings", &u.alt_text_loc_ids)?;
    loc::set(tx, Owner::Asset, id, LOC_ALT_TEXT, "alt_text_loc_ids", &alt)?;
    tx.execute(
        "INSERT OR IGNORE INTO envelope_assets (envelope_id, asset_id) VALUES (?1, ?2)",
        [u.envelope_id, id],
    )?;
    Asset::get(tx, id)
}

/// Re-files an existing asset into an envelope with freshly stored media (the `asset_id`
/// form of the upload): new file names and length, the envelope's session. Returns the asset
/// and its previous `file` (whose files the caller removes after the commit).
///
/// # Errors
/// [`StoreError::NotFound`] for a missing asset or envelope.
pub(crate) fn refile(
    tx: &Transaction<'_>,
    asset_id: i64,
    envelope_id: i64,
    file: &str,
    filename: &str,
    audiolength_ns: Option<i64>,
) -> StoreResult<(Asset, Option<String>)> {
    let session_id = envelope_session(tx, envelope_id)?
        .ok_or_else(|| StoreError::not_found("envelope", envelope_id))?;
    let old = asset_file(tx, asset_id)?.ok_or_else(|| StoreError::not_found("asset", asset_id))?;
    let length_s = audiolength_ns.map(|ns| ns as f64 / 1e9);
    tx.execute(
        "UPDATE assets SET file = ?1, filename = ?2, session_id = ?3, updated = ?4,
            audiolength = COALESCE(?5, audiolength), start_time = CASE WHEN ?5 IS NULL THEN start_time ELSE 0 END,
            end_time = COALESCE(?6, end_time)
          WHERE id = ?7",
        rusqlite::params![file, filename, session_id, time::now(), audiolength_ns, length_s, asset_id],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO envelope_assets (envelope_id, asset_id) VALUES (?1, ?2)",
        [envelope_id, asset_id],
    )?;
    Ok((Asset::get(tx, asset_id)?, old))
}

/// Every media name or URL a row holds (asset `file` and `filename`, speaker `uri` and
/// `backupuri`, the projects' URLs, floor plan images): the start-up sweep keeps the files whose stem one of
/// these names.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn media_names(conn: &Connection) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT file FROM assets UNION SELECT filename FROM assets
         UNION SELECT uri FROM speakers UNION SELECT backupuri FROM speakers
         UNION SELECT out_of_range_url FROM projects UNION SELECT demo_stream_url FROM projects
         UNION SELECT sharing_url FROM projects UNION SELECT files_url FROM projects
         UNION SELECT file FROM floorplans",
    )?;
    let names = stmt
        .query_map([], |r| r.get::<_, Option<String>>(0))?
        .filter_map(|n| n.transpose())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names.into_iter().filter(|n| !n.is_empty()).collect())
}
