//! Listening/recording sessions: one per client start, tying a device to a project and a
//! language.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::{
    Filter, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test, time,
};

/// A session as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Session {
    /// Row id (also the stream id).
    pub id: i64,
    /// Copied from the token user's device profile.
    pub device_id: Option<String>,
    /// UTC start.
    pub starttime: String,
    /// Never set by api/2.
    pub stoptime: Option<String>,
    /// Client type.
    pub client_type: Option<String>,
    /// Client system, e.g. `iOS 14.4`.
    pub client_system: Option<String>,
    /// Demo stream flag.
    pub demo_stream_enabled: bool,
    /// Whether location drives this session's listening.
    pub geo_listen_enabled: bool,
    /// RFC 822 offset such as `-0500`, echoed as given.
    pub timezone: String,
    /// Project.
    pub project_id: i64,
    /// Language.
    pub language_id: Option<i64>,
}

impl Table for Session {
    const WHAT: &'static str = "session";
    const TABLE: &'static str = "sessions";
    const SELECT: &'static str = "SELECT id, device_id, starttime, stoptime, client_type, \
         client_system, demo_stream_enabled, geo_listen_enabled, timezone, project_id, language_id \
         FROM sessions";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            device_id: r.get(1)?,
            starttime: r.get(2)?,
            stoptime: r.get(3)?,
            client_type: r.get(4)?,
            client_system: r.get(5)?,
            demo_stream_enabled: r.get(6)?,
            geo_listen_enabled: r.get(7)?,
            timezone: r.get(8)?,
            project_id: r.get(9)?,
            language_id: r.get(10)?,
        })
    }
}

/// What a client asks for when it starts a session.
#[derive(Debug, Default, Clone)]
pub(crate) struct NewSession {
    /// Project (required).
    pub project_id: i64,
    /// Language code (`en-US` is cut to `en`); unknown codes fall back to language 1.
    pub language: Option<String>,
    /// Language id, used when no code is given.
    pub language_id: Option<i64>,
    /// Defaults to the project's flag.
    pub geo_listen_enabled: Option<bool>,
    /// Demo stream flag.
    pub demo_stream_enabled: Option<bool>,
    /// Defaults to the user's registered client type.
    pub client_type: Option<String>,
    /// Client system.
    pub client_system: Option<String>,
    /// Validated offset, default `0000`.
    pub timezone: Option<String>,
    /// The caller (device_id and client_type come from them).
    pub user_id: Option<i64>,
}

/// Creates a session with the reference server's defaults.
///
/// # Errors
/// Field conflicts for an unknown project or language id.
pub(crate) fn create(tx: &Transaction<'_>, n: &NewSession) -> StoreResult<Session> {
    let project_geo: Option<bool> = tx
        .prepare_cached("SELECT geo_listen_enabled FROM projects WHERE id = ?1")?
        .query_row([n.project_id], |r| r.get(0))
        .optional()?;
    let Some(project_geo) = project_geo else {
        return Err(StoreError::conflict(
            "project_id",
            format!("Project {} not found.", n.project_id),
        ));
    };
    let language_id = match (&n.language, n.language_id) {
        (Some(code), _) => super::languages::id_for_locale(tx, code)?.unwrap_or(1),
        (None, Some(id)) => {
            if !super::sql::exists(tx, "languages", id)? {
                return Err(StoreError::conflict(
                    "language_id",
                    format!("Language {id} not found."),
                ));
            }
            id
        }
        (None, None) => 1,
    };
    let (device_id, profile_client_type): (Option<String>, Option<String>) = match n.user_id {
        Some(uid) => tx
            .prepare_cached("SELECT device_id, client_type FROM users WHERE id = ?1")?
            .query_row([uid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((None, None)),
        None => (None, None),
    };
    tx.execute(
        "INSERT INTO sessions (device_id, starttime, project_id, language_id, client_type, client_system,
                               demo_stream_enabled, geo_listen_enabled, timezone, user_id, id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        rusqlite::params![
            device_id,
            time::now(),
            n.project_id,
            language_id,
            n.client_type.clone().or(profile_client_type),
            n.client_system,
            n.demo_stream_enabled.unwrap_or(false),
            n.geo_listen_enabled.unwrap_or(project_geo),
            n.timezone.as_deref().unwrap_or("0000"),
            n.user_id,
            super::fleet::next_id(tx, "sessions")?,
        ],
    )?;
    Session::get(tx, tx.last_insert_rowid())
}

/// `GET sessions/`: each field exactly, the language also by code; `_owner`: only the sessions
/// this user opened (non-staff callers see their own only).
impl Queried for Session {
    const PARAMS: &'static [Param] = &[
        Param::new(
            &["project_id", "project"],
            "project_id",
            Test::Eq,
            Kind::Int,
        ),
        Param::eq(&["language_id"], Kind::Int),
        Param::new(
            &["language"],
            "language_id",
            Test::Clause("language_id IN (SELECT id FROM languages WHERE language_code = ?)"),
            Kind::Text,
        ),
        Param::eq(&["geo_listen_enabled"], Kind::Bool),
        Param::eq(&["demo_stream_enabled"], Kind::Bool),
        Param::eq(&["device_id"], Kind::Text),
        Param::eq(&["client_type"], Kind::Text),
        Param::eq(&["client_system"], Kind::Text),
        Param::eq(&["timezone"], Kind::Text),
        Param::new(&["_owner"], "user_id", Test::Eq, Kind::Int),
    ];
}

impl Filtered for Session {
    type Filter = Given<Self>;
}

/// How many sessions match a filter.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn count(conn: &Connection, f: &Given<Session>) -> StoreResult<i64> {
    Session::count(conn, &f.where_clause())
}

/// The box's own listener's session in `project_id` (device
/// [`super::users::LOCAL_DEVICE`], no user), created on first use so that its stream id stays
/// the same across restarts; `None` when there is no such project.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn local_session(tx: &Transaction<'_>, project_id: i64) -> StoreResult<Option<i64>> {
    if !super::sql::exists(tx, "projects", project_id)? {
        return Ok(None);
    }
    let device = super::users::LOCAL_DEVICE;
    let found: Option<i64> = tx
        .query_row(
            "SELECT id FROM sessions WHERE device_id = ?1 AND user_id IS NULL AND project_id = ?2 \
             ORDER BY id DESC LIMIT 1",
            rusqlite::params![device, project_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = found {
        return Ok(Some(id));
    }
    tx.execute(
        "INSERT INTO sessions (device_id, starttime, project_id, language_id, client_type,
                               geo_listen_enabled, timezone, id)
         VALUES (?1, ?2, ?3, 1, 'roundwared-local', 1, '0000', ?4)",
        rusqlite::params![
            device,
            time::now(),
            project_id,
            super::fleet::next_id(tx, "sessions")?
        ],
    )?;
    Ok(Some(tx.last_insert_rowid()))
}

/// Sets session `id`'s language by its code; the language's id, or `None` (and no change)
/// for a code the box does not have.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn set_language(tx: &Transaction<'_>, id: i64, code: &str) -> StoreResult<Option<i64>> {
    let Some(language_id) = super::languages::id_for_code(tx, code)? else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE sessions SET language_id = ?1 WHERE id = ?2",
        rusqlite::params![language_id, id],
    )?;
    Ok(Some(language_id))
}
