//! Projects: the top-level configuration of an installation (location, languages, recording
//! and listening switches, localized messages).

use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;
use serde_json::Value;

use super::loc::{self, LocString, Owner};
use super::sql::{Where, replace_links};
use super::{StoreError, StoreResult, time};

/// Hearing radius of an asset, in metres, for projects created without one.
pub(crate) const DEFAULT_RECORDING_RADIUS_M: i64 = 10;

/// The localized fields of a project: (stored field, output name, admin output key).
pub(crate) const LOC_FIELDS: [(&str, &str, &str); 5] = [
    ("description", "description", "description_loc_admin"),
    (
        "sharing_message",
        "sharing_message",
        "sharing_message_loc_admin",
    ),
    (
        "out_of_range_message",
        "out_of_range_message",
        "out_of_range_message_loc_admin",
    ),
    (
        "legal_agreement",
        "legal_agreement",
        "legal_agreement_loc_admin",
    ),
    (
        "demo_stream_message",
        "demo_stream_message",
        "demo_stream_message_loc_admin",
    ),
];

/// The scalar columns of a project, as stored and as shown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ProjectRow {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Owner.
    pub owner: String,
    /// Default latitude of assets.
    pub latitude: f64,
    /// Default longitude of assets.
    pub longitude: f64,
    /// Publication date.
    pub pub_date: String,
    /// Stream container, e.g. `mp3`.
    pub audio_format: String,
    /// Submit uploads in range automatically.
    pub auto_submit: bool,
    /// Seconds; client hint.
    pub max_recording_length: i64,
    /// Client hint.
    pub listen_questions_dynamic: bool,
    /// Client hint.
    pub speak_questions_dynamic: bool,
    /// Sharing URL.
    pub sharing_url: String,
    /// Played when the listener is out of range.
    pub out_of_range_url: String,
    /// Metres; per-asset hearing radius.
    pub recording_radius: Option<i64>,
    /// Listening on.
    pub listen_enabled: bool,
    /// Location drives listening.
    pub geo_listen_enabled: bool,
    /// Recording on.
    pub speak_enabled: bool,
    /// Recordings carry a location.
    pub geo_speak_enabled: bool,
    /// Client hint.
    pub reset_tag_defaults_on_startup: bool,
    /// Timed assets win over location.
    pub timed_asset_priority: bool,
    /// `stop` or `continuous`.
    pub repeat_mode: String,
    /// UI element bundle URL.
    pub files_url: String,
    /// UI element bundle version.
    pub files_version: String,
    /// Default stream bitrate, kbps as text.
    pub audio_stream_bitrate: String,
    /// `random`, `by_weight` or `by_like`.
    pub ordering: String,
    /// Demo stream flag.
    pub demo_stream_enabled: bool,
    /// Demo stream URL.
    pub demo_stream_url: String,
    /// Metres from the nearest speaker beyond which a listener is out of range.
    pub out_of_range_distance: f64,
}

const COLUMNS: &str = "id, name, owner, latitude, longitude, pub_date, audio_format, auto_submit, \
    max_recording_length, listen_questions_dynamic, speak_questions_dynamic, sharing_url, \
    out_of_range_url, recording_radius, listen_enabled, geo_listen_enabled, speak_enabled, \
    geo_speak_enabled, reset_tag_defaults_on_startup, timed_asset_priority, repeat_mode, files_url, \
    files_version, audio_stream_bitrate, ordering, demo_stream_enabled, demo_stream_url, \
    out_of_range_distance";

fn row(r: &Row<'_>) -> rusqlite::Result<ProjectRow> {
    Ok(ProjectRow {
        id: r.get(0)?,
        name: r.get(1)?,
        owner: r.get(2)?,
        latitude: r.get(3)?,
        longitude: r.get(4)?,
        pub_date: r.get(5)?,
        audio_format: r.get(6)?,
        auto_submit: r.get(7)?,
        max_recording_length: r.get(8)?,
        listen_questions_dynamic: r.get(9)?,
        speak_questions_dynamic: r.get(10)?,
        sharing_url: r.get(11)?,
        out_of_range_url: r.get(12)?,
        recording_radius: r.get(13)?,
        listen_enabled: r.get(14)?,
        geo_listen_enabled: r.get(15)?,
        speak_enabled: r.get(16)?,
        geo_speak_enabled: r.get(17)?,
        reset_tag_defaults_on_startup: r.get(18)?,
        timed_asset_priority: r.get(19)?,
        repeat_mode: r.get(20)?,
        files_url: r.get(21)?,
        files_version: r.get(22)?,
        audio_stream_bitrate: r.get(23)?,
        ordering: r.get(24)?,
        demo_stream_enabled: r.get(25)?,
        demo_stream_url: r.get(26)?,
        out_of_range_distance: r.get(27)?,
    })
}

/// A project with its localized fields resolved for one language.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Project {
    /// Scalar columns.
    #[serde(flatten)]
    pub row: ProjectRow,
    /// Languages offered.
    pub language_ids: Vec<i64>,
    /// Resolved localized texts and, with `admin`, the string lists.
    #[serde(flatten)]
    pub localized: serde_json::Map<String, Value>,
}

/// The scalar row of a project.
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn row_by_id(conn: &Connection, id: i64) -> StoreResult<ProjectRow> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM projects WHERE id = ?1"))?
        .query_row([id], row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("project", id))
}

fn complete(
    conn: &Connection,
    row: ProjectRow,
    language_id: i64,
    admin: bool,
) -> StoreResult<Project> {
    let language_ids = super::sql::ids(
        conn,
        "SELECT language_id FROM project_languages WHERE project_id = ?1 ORDER BY language_id",
        [row.id],
    )?;
    let mut localized = serde_json::Map::new();
    for (field, name, admin_key) in LOC_FIELDS {
        let text = loc::resolve(conn, Owner::Project, row.id, field, language_id)?;
        localized.insert(name.into(), text.map_or(Value::Null, Value::String));
        if admin {
            let strings: Vec<LocString> = loc::strings(conn, Owner::Project, row.id, field)?;
            localized.insert(
                admin_key.into(),
                serde_json::to_value(strings).unwrap_or(Value::Null),
            );
        }
    }
    Ok(Project {
        row,
        language_ids,
        localized,
    })
}

/// One project localized for `language_id`.
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn get(
    conn: &Connection,
    id: i64,
    language_id: i64,
    admin: bool,
) -> StoreResult<Project> {
    let r = row_by_id(conn, id)?;
    complete(conn, r, language_id, admin)
}

/// Filters of `GET projects/`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProjectFilter {
    /// icontains
    pub name: Option<String>,
    /// exact
    pub owner: Option<String>,
    /// exact
    pub listen_enabled: Option<bool>,
    /// exact
    pub geo_listen_enabled: Option<bool>,
    /// exact
    pub speak_enabled: Option<bool>,
    /// exact
    pub geo_speak_enabled: Option<bool>,
    /// exact
    pub auto_submit: Option<bool>,
    /// exact
    pub demo_stream_enabled: Option<bool>,
    /// exact
    pub audio_format: Option<String>,
    /// exact
    pub ordering: Option<String>,
    /// exact
    pub repeat_mode: Option<String>,
    /// projects offering any of these languages
    pub languages: Option<Vec<i64>>,
}

/// Projects matching a filter, localized for `language_id`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn list(
    conn: &Connection,
    f: &ProjectFilter,
    language_id: i64,
    admin: bool,
) -> StoreResult<Vec<Project>> {
    let mut w = Where::new();
    w.contains_opt("name", f.name.as_deref())
        .eq_opt("owner", f.owner.clone())
        .eq_opt("listen_enabled", f.listen_enabled)
        .eq_opt("geo_listen_enabled", f.geo_listen_enabled)
        .eq_opt("speak_enabled", f.speak_enabled)
        .eq_opt("geo_speak_enabled", f.geo_speak_enabled)
        .eq_opt("auto_submit", f.auto_submit)
        .eq_opt("demo_stream_enabled", f.demo_stream_enabled)
        .eq_opt("audio_format", f.audio_format.clone())
        .eq_opt("ordering", f.ordering.clone())
        .eq_opt("repeat_mode", f.repeat_mode.clone());
    if let Some(langs) = &f.languages {
        let mut inner = Where::new();
        inner.in_list("language_id", langs);
        w.raw(
            format!(
                "id IN (SELECT project_id FROM project_languages{})",
                inner.sql()
            ),
            langs.iter().map(|l| rusqlite::types::Value::Integer(*l)),
        );
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM projects{} ORDER BY id",
        w.sql()
    ))?;
    let rows = stmt
        .query_map(w.params(), row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|r| complete(conn, r, language_id, admin))
        .collect()
}

/// Every settable field of a project; `None` leaves a field unchanged (or at its default on
/// create). `recording_radius` distinguishes "unchanged" from "set to null".
#[derive(Debug, Default, Clone)]
pub(crate) struct ProjectInput {
    /// Name.
    pub name: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Longitude.
    pub longitude: Option<f64>,
    /// Publication date (storage form).
    pub pub_date: Option<String>,
    /// Stream container.
    pub audio_format: Option<String>,
    /// Flag.
    pub auto_submit: Option<bool>,
    /// Seconds.
    pub max_recording_length: Option<i64>,
    /// Flag.
    pub listen_questions_dynamic: Option<bool>,
    /// Flag.
    pub speak_questions_dynamic: Option<bool>,
    /// URL.
    pub sharing_url: Option<String>,
    /// URL.
    pub out_of_range_url: Option<String>,
    /// Metres, nullable.
    pub recording_radius: Option<Option<i64>>,
    /// Flag.
    pub listen_enabled: Option<bool>,
    /// Flag.
    pub geo_listen_enabled: Option<bool>,
    /// Flag.
    pub speak_enabled: Option<bool>,
    /// Flag.
    pub geo_speak_enabled: Option<bool>,
    /// Flag.
    pub reset_tag_defaults_on_startup: Option<bool>,
    /// Flag.
    pub timed_asset_priority: Option<bool>,
    /// Choice.
    pub repeat_mode: Option<String>,
    /// URL.
    pub files_url: Option<String>,
    /// Version text.
    pub files_version: Option<String>,
    /// Choice.
    pub audio_stream_bitrate: Option<String>,
    /// Choice.
    pub ordering: Option<String>,
    /// Flag.
    pub demo_stream_enabled: Option<bool>,
    /// URL.
    pub demo_stream_url: Option<String>,
    /// Metres.
    pub out_of_range_distance: Option<f64>,
    /// Languages offered (non-empty when given).
    pub language_ids: Option<Vec<i64>>,
    /// Localized string ids per stored field name.
    pub loc_ids: Vec<(&'static str, &'static str, Vec<i64>)>,
}

fn check_languages(tx: &Transaction<'_>, ids: &[i64]) -> StoreResult<()> {
    if ids.is_empty() {
        return Err(StoreError::conflict(
            "language_ids",
            "A project needs at least one language.",
        ));
    }
    for id in ids {
        if !super::sql::exists(tx, "languages", *id)? {
            return Err(StoreError::conflict(
                "language_ids",
                format!("Language {id} not found."),
            ));
        }
    }
    Ok(())
}

fn apply(tx: &Transaction<'_>, id: i64, p: &ProjectInput) -> StoreResult<()> {
    tx.execute(
        "UPDATE projects SET
            name = coalesce(?2, name), owner = coalesce(?3, owner), latitude = coalesce(?4, latitude),
            longitude = coalesce(?5, longitude), pub_date = coalesce(?6, pub_date),
            audio_format = coalesce(?7, audio_format), auto_submit = coalesce(?8, auto_submit),
            max_recording_length = coalesce(?9, max_recording_length),
            listen_questions_dynamic = coalesce(?10, listen_questions_dynamic),
            speak_questions_dynamic = coalesce(?11, speak_questions_dynamic),
            sharing_url = coalesce(?12, sharing_url), out_of_range_url = coalesce(?13, out_of_range_url),
            recording_radius = CASE WHEN ?14 THEN ?15 ELSE recording_radius END,
            listen_enabled = coalesce(?16, listen_enabled), geo_listen_enabled = coalesce(?17, geo_listen_enabled),
            speak_enabled = coalesce(?18, speak_enabled), geo_speak_enabled = coalesce(?19, geo_speak_enabled),
            reset_tag_defaults_on_startup = coalesce(?20, reset_tag_defaults_on_startup),
            timed_asset_priority = coalesce(?21, timed_asset_priority), repeat_mode = coalesce(?22, repeat_mode),
            files_url = coalesce(?23, files_url), files_version = coalesce(?24, files_version),
            audio_stream_bitrate = coalesce(?25, audio_stream_bitrate), ordering = coalesce(?26, ordering),
            demo_stream_enabled = coalesce(?27, demo_stream_enabled),
            demo_stream_url = coalesce(?28, demo_stream_url),
            out_of_range_distance = coalesce(?29, out_of_range_distance)
         WHERE id = ?1",
        rusqlite::params![
            id,
            p.name,
            p.owner,
            p.latitude,
            p.longitude,
            p.pub_date,
            p.audio_format,
            p.auto_submit,
            p.max_recording_length,
            p.listen_questions_dynamic,
            p.speak_questions_dynamic,
            p.sharing_url,
            p.out_of_range_url,
            p.recording_radius.is_some(),
            p.recording_radius.flatten(),
            p.listen_enabled,
            p.geo_listen_enabled,
            p.speak_enabled,
            p.geo_speak_enabled,
            p.reset_tag_defaults_on_startup,
            p.timed_asset_priority,
            p.repeat_mode,
            p.files_url,
            p.files_version,
            p.audio_stream_bitrate,
            p.ordering,
            p.demo_stream_enabled,
            p.demo_stream_url,
            p.out_of_range_distance,
        ],
    )?;
    if let Some(langs) = &p.language_ids {
        check_languages(tx, langs)?;
        replace_links(
            tx,
            "project_languages",
            "project_id",
            "language_id",
            id,
            langs,
        )?;
    }
    for (field, api_field, ids) in &p.loc_ids {
        loc::set(tx, Owner::Project, id, field, api_field, ids)?;
    }
    Ok(())
}

/// Creates a project; name, latitude and longitude must be given. Languages default to
/// English.
///
/// # Errors
/// Field conflicts for unknown languages or localized strings.
pub(crate) fn create(
    tx: &Transaction<'_>,
    p: &ProjectInput,
    language_id: i64,
) -> StoreResult<Project> {
    tx.execute(
        "INSERT INTO projects (name, latitude, longitude, pub_date) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            p.name.as_deref().unwrap_or(""),
            p.latitude.unwrap_or(0.0),
            p.longitude.unwrap_or(0.0),
            time::now()
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut p = p.clone();
    if p.recording_radius.is_none() {
        // iOS decodes recording_radius as a required number.
        p.recording_radius = Some(Some(DEFAULT_RECORDING_RADIUS_M));
    }
    if p.language_ids.is_none() {
        p.language_ids = Some(vec![loc::english_id(tx)?]);
    }
    apply(tx, id, &p)?;
    get(tx, id, language_id, false)
}

/// Updates a project.
///
/// # Errors
/// Not found, or field conflicts.
pub(crate) fn patch(
    tx: &Transaction<'_>,
    id: i64,
    p: &ProjectInput,
    language_id: i64,
) -> StoreResult<Project> {
    row_by_id(tx, id)?;
    apply(tx, id, p)?;
    get(tx, id, language_id, false)
}

/// Deletes a project; its sessions, speakers, audiotracks, UI groups, timed assets and UI
/// elements go with it, while its assets and tags stay without a project.
///
/// # Errors
/// Not found.
pub(crate) fn delete(tx: &Transaction<'_>, id: i64) -> StoreResult<()> {
    if tx.execute("DELETE FROM projects WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::not_found("project", id));
    }
    Ok(())
}
