//! The event outbox: one row per change of any object, written in the same SQLite transaction
//! as the change, with an id that only grows. Event streams read it as a cursor (issue 14);
//! fleet replication will read the same rows.
//!
//! **Capture** ([`capture`]). A pre-update hook on the writer connection notes, for every row
//! about to change in a table that makes up an object (`assets`, `asset_tags`,
//! `envelope_assets`, `loc_links`, …), which object it belongs to. [`flush`], run by the store
//! just before every commit, turns the notes into outbox rows: one per object however many of
//! its rows changed, holding the object as its api/2 `GET` shows it (read back inside the
//! transaction, so it is exactly what was committed), or `is_deleted` when it is gone (with
//! the object as it was last seen, when the outbox still has it). Every write path is covered,
//! hand-written SQL and cascades included; a rolled-back transaction's notes are discarded.
//! Objects that are not rows (a personal stream starting or ending) are noted with their data
//! by [`record`].
//!
//! Media are stored as names, not URLs: whoever shows a change to a client absolutizes them
//! for that client's address, as the api/2 handlers do.
//!
//! Owns: the outbox table, the capture, retention. May not touch: HTTP, filters, consumers.

mod capture;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rusqlite::{Connection, OptionalExtension, params};

use capture::Note;
pub(crate) use capture::discard;
use serde_json::Value;

use super::assets::Asset;
use super::audiotracks::Audiotrack;
use super::envelopes::Envelope;
use super::events::Event;
use super::floorplans::FloorPlan;
use super::languages::Language;
use super::listenevents::ListenEvent;
use super::loc::LocString;
use super::projectgroups::ProjectGroup;
use super::sessions::Session;
use super::speakers::Speaker;
use super::tags::{Localize, Relationship, TagCategory};
use super::timedassets::TimedAsset;
use super::uielements::{UiElement, UiElementName};
use super::uigroups::UiItem;
use super::votes::Vote;
use super::{StoreError, StoreResult, Table, loc, projects, tags, uigroups};

/// The object types event streams follow (App.net's `object_types`, in Roundware's words).
pub(crate) const EVENT_TYPES: [&str; 10] = [
    "asset",
    "envelope",
    "vote",
    "listenevent",
    "session",
    "event",
    "speaker",
    "project",
    "tag",
    "stream",
];

/// The rest of a project's configuration: changes the outbox records too (what fleet
/// replication will carry) but event streams do not offer.
pub(crate) const CONFIG_TYPES: [&str; 12] = [
    "audiotrack",
    "floorplan",
    "language",
    "localizedstring",
    "projectgroup",
    "tagcategory",
    "tagrelationship",
    "timedasset",
    "uielement",
    "uielementname",
    "uigroup",
    "uiitem",
];

/// One change as the outbox holds it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// Outbox id: increases with every change, never reused.
    pub id: i64,
    /// When it was committed, Unix milliseconds.
    pub created_ms: i64,
    /// One of [`EVENT_TYPES`] or [`CONFIG_TYPES`].
    pub object_type: &'static str,
    /// The object's id.
    pub object_id: i64,
    /// The object's project, when it has one.
    pub project_id: Option<i64>,
    /// The object is gone (or, for a stream, ended).
    pub is_deleted: bool,
    /// The object as its api/2 `GET` shows it, as JSON text; once deleted, as it was last
    /// seen (`None` if that is no longer kept).
    text: Option<Arc<str>>,
    /// `text` parsed, on first use (by a consumer, not on the writer thread).
    parsed: OnceLock<Option<Value>>,
}

impl Change {
    /// The object as JSON, parsed once whoever asks first.
    pub(crate) fn data(&self) -> Option<&Value> {
        self.parsed
            .get_or_init(|| {
                self.text
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok())
            })
            .as_ref()
    }
}

impl PartialEq for Change {
    fn eq(&self, other: &Self) -> bool {
        (self.id, self.created_ms, self.object_type, self.object_id)
            == (
                other.id,
                other.created_ms,
                other.object_type,
                other.object_id,
            )
            && (self.project_id, self.is_deleted, &self.text)
                == (other.project_id, other.is_deleted, &other.text)
    }
}

/// The ids an object's JSON names, read without building it.
#[derive(Debug, Default, serde::Deserialize)]
struct Named {
    project_id: Option<i64>,
    session_id: Option<i64>,
    ui_group_id: Option<i64>,
}

/// Installs the capture on the writer connection.
///
/// # Errors
/// The schema lacks a table or column the capture maps (a bug caught at start).
pub(crate) fn install_capture(conn: &Connection) -> StoreResult<()> {
    capture::install(conn)
}

/// Notes a change of an object that is not a row (a personal stream started, moved or
/// ended), with its data; written to the outbox by the coming [`flush`]. Called inside a write
/// (`_tx` says so) of a store whose capture is installed (the caller checks
/// `Store::events_enabled`).
///
/// # Errors
/// None so far (a `Result` like every write step).
pub(crate) fn record(
    _tx: &Connection,
    object_type: &'static str,
    object_id: i64,
    project_id: Option<i64>,
    data: &Value,
    is_deleted: bool,
) -> StoreResult<()> {
    capture::note(Note {
        object_type,
        object_id,
        project_id,
        data: Some(data.to_string()),
        is_deleted,
    });
    Ok(())
}

/// Marks the write in progress (`_tx` says so) as applying the venue catalogue: its changes
/// go to the outbox for event streams, marked `from_fleet` so the box does not publish them
/// back.
pub(crate) fn mark_from_fleet(_tx: &Connection) {
    capture::mark_from_fleet();
}

/// Turns the transaction's notes into outbox rows (one per object, in the order objects were
/// first touched) and clears them; returns the rows written. Run inside the transaction,
/// just before its commit.
///
/// # Errors
/// Only SQLite failures (the transaction then rolls back: no change without its event).
pub(crate) fn flush(tx: &Connection, now_ms: i64) -> StoreResult<Vec<Arc<Change>>> {
    let from_fleet = capture::take_from_fleet();
    let mut noted: Vec<Note> = Vec::new();
    let mut index: HashMap<(&'static str, i64), usize> = HashMap::new();
    let mut add = |n: Note, noted: &mut Vec<Note>| match index.get(&(n.object_type, n.object_id)) {
        Some(&at) => {
            let first = &mut noted[at];
            first.project_id = n.project_id.or(first.project_id);
            if n.data.is_some() {
                first.data = n.data;
                first.is_deleted = n.is_deleted;
            }
        }
        None => {
            index.insert((n.object_type, n.object_id), noted.len());
            noted.push(n);
        }
    };
    for n in capture::resolve(tx)? {
        let string = (n.object_type == "localizedstring").then_some(n.object_id);
        add(n, &mut noted);
        // A localized string edited in place changes every object showing it.
        if let Some(id) = string {
            for (object_type, object_id) in showing_string(tx, id)? {
                add(
                    Note {
                        object_type,
                        object_id,
                        project_id: None,
                        data: None,
                        is_deleted: false,
                    },
                    &mut noted,
                );
            }
        }
    }
    if noted.is_empty() {
        return Ok(Vec::new());
    }
    let mut english = None;
    let mut written = Vec::with_capacity(noted.len());
    for n in noted {
        // Recorded data (a stream's) is kept when it ends; a row that is gone has none.
        let (text, is_deleted) = match n.data {
            Some(text) => (Some(text), n.is_deleted),
            None => match current(tx, n.object_type, n.object_id, &mut english) {
                Ok(Some(text)) => (Some(text), false),
                // Gone: shown as it was last seen (so a consumer can tell which vote on which
                // recording went), if the outbox still has it.
                Ok(None) => (last_seen(tx, n.object_type, n.object_id)?, true),
                // A row the API cannot show either (damaged by hand): the change is still
                // announced, without data, and the write it belongs to goes through.
                Err(e) => {
                    log::warn!(
                        "event outbox: cannot read {} {} back: {e}",
                        n.object_type,
                        n.object_id
                    );
                    (None, false)
                }
            },
        };
        let named: Named = text
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let project_id = match n.object_type {
            "project" => Some(n.object_id),
            _ => match named.project_id.or(n.project_id) {
                Some(p) => Some(p),
                None => project_of(tx, &named)?,
            },
        };
        tx.prepare_cached(
            "INSERT INTO outbox (created_ms, object_type, object_id, project_id, is_deleted, data,
                                 from_fleet)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            now_ms,
            n.object_type,
            n.object_id,
            project_id,
            is_deleted,
            text.as_deref(),
            from_fleet
        ])?;
        written.push(Arc::new(Change {
            id: tx.last_insert_rowid(),
            created_ms: now_ms,
            object_type: n.object_type,
            object_id: n.object_id,
            project_id,
            is_deleted,
            text: text.map(Arc::from),
            parsed: OnceLock::new(),
        }));
    }
    Ok(written)
}

/// The objects showing localized string `id`.
fn showing_string(tx: &Connection, id: i64) -> StoreResult<Vec<(&'static str, i64)>> {
    let mut stmt =
        tx.prepare_cached("SELECT owner, owner_id FROM loc_links WHERE string_id = ?1")?;
    let rows = stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (owner, owner_id) = row?;
        if let Some(t) = object_type(&owner) {
            out.push((t, owner_id));
        }
    }
    Ok(out)
}

/// The project of an object whose data names only its session (votes, listen events, events,
/// envelopes) or its UI group (UI items).
fn project_of(tx: &Connection, named: &Named) -> StoreResult<Option<i64>> {
    let (sql, id) = if let Some(session) = named.session_id {
        ("SELECT project_id FROM sessions WHERE id = ?1", session)
    } else if let Some(group) = named.ui_group_id {
        ("SELECT project_id FROM ui_groups WHERE id = ?1", group)
    } else {
        return Ok(None);
    };
    Ok(tx
        .prepare_cached(sql)?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The object as the newest change still kept showed it (JSON text).
fn last_seen(tx: &Connection, object_type: &str, id: i64) -> StoreResult<Option<String>> {
    Ok(tx
        .prepare_cached(
            "SELECT data FROM outbox WHERE object_type = ?1 AND object_id = ?2 AND data IS NOT NULL
              ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![object_type, id], |r| r.get(0))
        .optional()?)
}

/// The static name of an object type.
fn object_type(name: &str) -> Option<&'static str> {
    EVENT_TYPES
        .iter()
        .chain(&CONFIG_TYPES)
        .copied()
        .find(|t| *t == name)
}

/// The object as its api/2 `GET` shows it (English texts, no admin lists, media as stored
/// names), as JSON text; `None` when there is no such object.
fn current(
    conn: &Connection,
    object_type: &str,
    id: i64,
    english: &mut Option<i64>,
) -> StoreResult<Option<String>> {
    fn json<T: serde::Serialize>(found: StoreResult<T>) -> StoreResult<Option<String>> {
        match found {
            Ok(v) => Ok(serde_json::to_string(&v).ok()),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
    let mut english = |conn: &Connection| -> StoreResult<i64> {
        if let Some(id) = *english {
            return Ok(id);
        }
        let id = loc::english_id(conn)?;
        *english = Some(id);
        Ok(id)
    };
    match object_type {
        "asset" => json(Asset::get(conn, id)),
        "envelope" => json(Envelope::get(conn, id)),
        "vote" => json(Vote::get(conn, id)),
        "listenevent" => json(ListenEvent::get(conn, id)),
        "session" => json(Session::get(conn, id)),
        "event" => json(Event::get(conn, id)),
        "speaker" => json(Speaker::get(conn, id)),
        "project" => json(projects::get(conn, id, english(conn)?, false)),
        "tag" => {
            let how = Localize {
                language_id: english(conn)?,
                admin: false,
            };
            json(tags::get(conn, id, how))
        }
        "audiotrack" => json(Audiotrack::get(conn, id)),
        "floorplan" => json(FloorPlan::get(conn, id)),
        "language" => json(Language::get(conn, id)),
        "localizedstring" => json(LocString::get(conn, id)),
        "projectgroup" => json(ProjectGroup::get(conn, id)),
        "tagcategory" => json(TagCategory::get(conn, id)),
        "tagrelationship" => json(Relationship::get(conn, id)),
        "timedasset" => json(TimedAsset::get(conn, id)),
        "uielement" => json(UiElement::get(conn, id)),
        "uielementname" => json(UiElementName::get(conn, id)),
        "uigroup" => {
            let how = Localize {
                language_id: english(conn)?,
                admin: false,
            };
            json(uigroups::get(conn, id, how))
        }
        "uiitem" => json(UiItem::get(conn, id)),
        _ => Ok(None),
    }
}

const CHANGE_COLUMNS: &str =
    "SELECT id, created_ms, object_type, object_id, project_id, is_deleted, data FROM outbox";

fn change_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Change>> {
    let ty: String = r.get(2)?;
    let text: Option<String> = r.get(6)?;
    Ok(object_type(&ty).map(|object_type| Change {
        id: r.get(0).unwrap_or_default(),
        created_ms: r.get(1).unwrap_or_default(),
        object_type,
        object_id: r.get(3).unwrap_or_default(),
        project_id: r.get(4).unwrap_or_default(),
        is_deleted: r.get(5).unwrap_or_default(),
        text: text.map(Arc::from),
        parsed: OnceLock::new(),
    }))
}

/// Up to `limit` changes after `cursor`, oldest first.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn after(conn: &Connection, cursor: i64, limit: i64) -> StoreResult<Vec<Change>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{CHANGE_COLUMNS} WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![cursor, limit], change_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        if let Some(c) = row? {
            out.push(c);
        }
    }
    Ok(out)
}

/// The id of the newest change ever written (0 before the first); retention never removes
/// it ([`prune`]).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn head(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(MAX(id), 0) FROM outbox")?
        .query_row([], |r| r.get(0))?)
}

/// The id of the oldest change still kept, if any.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn oldest(conn: &Connection) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT MIN(id) FROM outbox")?
        .query_row([], |r| r.get(0))?)
}

/// Retention: removes changes committed before `before_ms` and all but the newest
/// `max_rows`; returns how many went. The newest change always stays: it is what keeps ids
/// growing. In fleet mode, changes not yet published to the venue stay too.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn prune(tx: &Connection, before_ms: i64, max_rows: i64) -> StoreResult<usize> {
    // Ids grow with time: everything before the first change young enough goes (no index on
    // the time needed, so none is kept up on every write).
    let old = tx.execute(
        "DELETE FROM outbox WHERE id < coalesce(
            (SELECT id FROM outbox WHERE created_ms >= ?1 ORDER BY id LIMIT 1),
            (SELECT MAX(id) FROM outbox))
           AND id <= coalesce((SELECT published_id FROM fleet_state WHERE id = 1), id)",
        [before_ms],
    )?;
    let over = tx.execute(
        "DELETE FROM outbox WHERE id <= (SELECT MAX(id) FROM outbox) - ?1
           AND id <= coalesce((SELECT published_id FROM fleet_state WHERE id = 1), id)",
        [max_rows.max(1)],
    )?;
    Ok(old + over)
}

#[cfg(test)]
mod tests;
