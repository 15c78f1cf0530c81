//! The event outbox: one row per change of any object, written in the same SQLite transaction
//! as the change, with an id that only grows. Event streams read it as a cursor (issue 14);
//! fleet replication will read the same rows.
//!
//! **Capture.** The writer connection carries TEMP triggers ([`install_capture`]) on every
//! table whose rows make up an object of an event type (`assets`, `asset_tags`,
//! `envelope_assets`, `loc_links`, …). They note `(type, id, project)` in a per-connection
//! temp table; [`flush`], run by the store just before every commit, turns the notes into
//! outbox rows: one per object however many of its rows changed, holding the object as its
//! api/2 `GET` shows it (read back inside the transaction, so it is exactly what was
//! committed), or `is_deleted` when it is gone (with the object as it was last seen, when the
//! outbox still has it). Every write path is covered, hand-written SQL
//! included, and a rolled-back transaction leaves no note (the temp table is transactional).
//! Objects that are not rows (a personal stream starting or ending) are noted with their data
//! by [`record`].
//!
//! Media are stored as names, not URLs: whoever shows a change to a client absolutizes them
//! for that client's address, as the api/2 handlers do.
//!
//! Owns: the outbox table, the capture triggers, retention. May not touch: HTTP, filters,
//! consumers.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::assets::Asset;
use super::audiotracks::Audiotrack;
use super::envelopes::Envelope;
use super::events::Event;
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

/// Every object type a change can be of: the event types and the rest of a project's
/// configuration (what fleet replication will carry; event streams do not offer these).
pub(crate) const OBJECT_TYPES: [&str; 21] = [
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
    "audiotrack",
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
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    /// Outbox id: increases with every change, never reused.
    pub id: i64,
    /// When it was committed, Unix milliseconds.
    pub created_ms: i64,
    /// One of [`OBJECT_TYPES`].
    pub object_type: &'static str,
    /// The object's id.
    pub object_id: i64,
    /// The object's project, when it has one.
    pub project_id: Option<i64>,
    /// The object is gone (or, for a stream, ended).
    pub is_deleted: bool,
    /// The object as its api/2 `GET` shows it; once deleted, as it was last seen (`None` if
    /// that is no longer kept).
    pub data: Option<Value>,
}

/// A table whose rows are (part of) an object of an event type.
struct Source {
    table: &'static str,
    object_type: &'static str,
    /// The object's id, as an expression over the row `R`.
    id: &'static str,
    /// The object's project, as an expression over the row `R`.
    project: &'static str,
    /// Only rows matching this condition over `R`.
    when: &'static str,
}

const BY_SESSION: &str = "(SELECT project_id FROM sessions WHERE id = R.session_id)";
const BY_ASSET: &str = "(SELECT project_id FROM assets WHERE id = R.asset_id)";

const fn source(
    table: &'static str,
    object_type: &'static str,
    id: &'static str,
    project: &'static str,
) -> Source {
    Source {
        table,
        object_type,
        id,
        project,
        when: "",
    }
}

const SOURCES: &[Source] = &[
    source("assets", "asset", "R.id", "R.project_id"),
    source("asset_tags", "asset", "R.asset_id", BY_ASSET),
    source("envelope_assets", "asset", "R.asset_id", BY_ASSET),
    source("envelopes", "envelope", "R.id", BY_SESSION),
    source(
        "envelope_assets",
        "envelope",
        "R.envelope_id",
        "(SELECT s.project_id FROM envelopes e JOIN sessions s ON s.id = e.session_id
           WHERE e.id = R.envelope_id)",
    ),
    source("votes", "vote", "R.id", BY_SESSION),
    source("listen_events", "listenevent", "R.id", BY_SESSION),
    source("sessions", "session", "R.id", "R.project_id"),
    source("events", "event", "R.id", BY_SESSION),
    source("speakers", "speaker", "R.id", "R.project_id"),
    source("projects", "project", "R.id", "R.id"),
    source(
        "project_languages",
        "project",
        "R.project_id",
        "R.project_id",
    ),
    source("tags", "tag", "R.id", "R.project_id"),
    Source {
        when: "R.owner = 'project'",
        ..source("loc_links", "project", "R.owner_id", "R.owner_id")
    },
    Source {
        when: "R.owner = 'tag'",
        ..source(
            "loc_links",
            "tag",
            "R.owner_id",
            "(SELECT project_id FROM tags WHERE id = R.owner_id)",
        )
    },
    source("audiotracks", "audiotrack", "R.id", "R.project_id"),
    source(
        "audiotrack_tags",
        "audiotrack",
        "R.audiotrack_id",
        "(SELECT project_id FROM audiotracks WHERE id = R.audiotrack_id)",
    ),
    source("languages", "language", "R.id", "NULL"),
    source("localized_strings", "localizedstring", "R.id", "NULL"),
    source("project_groups", "projectgroup", "R.id", "NULL"),
    source(
        "project_group_projects",
        "projectgroup",
        "R.group_id",
        "NULL",
    ),
    source("tag_categories", "tagcategory", "R.id", "NULL"),
    source("tag_relationships", "tagrelationship", "R.id", "NULL"),
    source("timed_assets", "timedasset", "R.id", "R.project_id"),
    source("ui_element_names", "uielementname", "R.id", "NULL"),
    source("ui_elements", "uielement", "R.id", "R.project_id"),
    source("ui_groups", "uigroup", "R.id", "R.project_id"),
    source(
        "ui_items",
        "uiitem",
        "R.id",
        "(SELECT project_id FROM ui_groups WHERE id = R.ui_group_id)",
    ),
    Source {
        when: "R.owner = 'uigroup'",
        ..source(
            "loc_links",
            "uigroup",
            "R.owner_id",
            "(SELECT project_id FROM ui_groups WHERE id = R.owner_id)",
        )
    },
    Source {
        when: "R.owner = 'uielement'",
        ..source(
            "loc_links",
            "uielement",
            "R.owner_id",
            "(SELECT project_id FROM ui_elements WHERE id = R.owner_id)",
        )
    },
    Source {
        when: "R.owner = 'asset'",
        ..source(
            "loc_links",
            "asset",
            "R.owner_id",
            "(SELECT project_id FROM assets WHERE id = R.owner_id)",
        )
    },
];

/// The temp table and triggers of [`install_capture`], as SQL.
fn capture_sql() -> String {
    let mut sql = String::from(
        "CREATE TEMP TABLE IF NOT EXISTS changes (
            seq INTEGER PRIMARY KEY,
            object_type TEXT NOT NULL,
            object_id INTEGER NOT NULL,
            project_id INTEGER,
            data TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0
        );\n",
    );
    for (n, s) in SOURCES.iter().enumerate() {
        for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
            let when = if s.when.is_empty() {
                String::new()
            } else {
                format!(" WHEN {}", s.when.replace("R.", &format!("{row}.")))
            };
            sql.push_str(&format!(
                "CREATE TEMP TRIGGER IF NOT EXISTS capture_{n}_{op} AFTER {op} ON main.{table}{when}
                 BEGIN INSERT INTO changes (object_type, object_id, project_id)
                       VALUES ('{ty}', {id}, {project}); END;\n",
                table = s.table,
                ty = s.object_type,
                id = s.id.replace("R.", &format!("{row}.")),
                project = s.project.replace("R.", &format!("{row}.")),
            ));
        }
    }
    // A localized string edited in place changes every object showing it.
    sql.push_str(
        "CREATE TEMP TRIGGER IF NOT EXISTS capture_strings AFTER UPDATE ON main.localized_strings
         BEGIN INSERT INTO changes (object_type, object_id)
               SELECT owner, owner_id FROM loc_links WHERE string_id = NEW.id; END;\n",
    );
    sql
}

/// Installs the capture on the writer connection (TEMP objects live as long as it does).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn install_capture(conn: &Connection) -> StoreResult<()> {
    // The notes live and die within one transaction: memory, not a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.execute_batch(&capture_sql())?;
    Ok(())
}

/// Notes a change of an object that is not a row (a personal stream started, moved or
/// ended), with its data; written to the outbox by the coming [`flush`]. Only for a store
/// whose capture is installed (the caller checks `Store::events_enabled`).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn record(
    tx: &Connection,
    object_type: &'static str,
    object_id: i64,
    project_id: Option<i64>,
    data: &Value,
    is_deleted: bool,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO changes (object_type, object_id, project_id, data, is_deleted)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        object_type,
        object_id,
        project_id,
        data.to_string(),
        is_deleted
    ])?;
    Ok(())
}

/// A change noted by the capture, not yet written.
struct Noted {
    object_type: &'static str,
    object_id: i64,
    project_id: Option<i64>,
    data: Option<String>,
    is_deleted: bool,
}

/// Turns the transaction's notes into outbox rows (one per object, in the order objects were
/// first touched) and clears them; returns the rows written. Run inside the transaction,
/// just before its commit.
///
/// # Errors
/// Only SQLite failures (the transaction then rolls back: no change without its event).
pub(crate) fn flush(tx: &Connection, now_ms: i64) -> StoreResult<Vec<Arc<Change>>> {
    let mut noted: Vec<Noted> = Vec::new();
    let mut index: HashMap<(&'static str, i64), usize> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT object_type, object_id, project_id, data, is_deleted FROM changes ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let ty: String = r.get(0)?;
            let Some(object_type) = object_type(&ty) else {
                continue;
            };
            let n = Noted {
                object_type,
                object_id: r.get(1)?,
                project_id: r.get(2)?,
                data: r.get(3)?,
                is_deleted: r.get(4)?,
            };
            match index.get(&(n.object_type, n.object_id)) {
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
            }
        }
    }
    if noted.is_empty() {
        return Ok(Vec::new());
    }
    tx.prepare_cached("DELETE FROM changes")?.execute([])?;
    let mut english = None;
    let mut written = Vec::with_capacity(noted.len());
    for n in noted {
        // Recorded data (a stream's) is kept when it ends; a row that is gone has none.
        let (data, is_deleted) = match n.data {
            Some(text) => (serde_json::from_str::<Value>(&text).ok(), n.is_deleted),
            None => match current(tx, n.object_type, n.object_id, &mut english) {
                Ok(Some(data)) => (Some(data), false),
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
        let project_id = match n.object_type {
            "project" => Some(n.object_id),
            _ => data
                .as_ref()
                .and_then(|d| d.get("project_id"))
                .and_then(Value::as_i64)
                .or(n.project_id),
        };
        tx.prepare_cached(
            "INSERT INTO outbox (created_ms, object_type, object_id, project_id, is_deleted, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            now_ms,
            n.object_type,
            n.object_id,
            project_id,
            is_deleted,
            data.as_ref().map(Value::to_string)
        ])?;
        written.push(Arc::new(Change {
            id: tx.last_insert_rowid(),
            created_ms: now_ms,
            object_type: n.object_type,
            object_id: n.object_id,
            project_id,
            is_deleted,
            data,
        }));
    }
    Ok(written)
}

/// The object as the newest change still kept showed it.
fn last_seen(tx: &Connection, object_type: &str, id: i64) -> StoreResult<Option<Value>> {
    let text: Option<String> = tx
        .prepare_cached(
            "SELECT data FROM outbox WHERE object_type = ?1 AND object_id = ?2 AND data IS NOT NULL
              ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![object_type, id], |r| r.get(0))
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// The static name of an object type.
fn object_type(name: &str) -> Option<&'static str> {
    OBJECT_TYPES.iter().copied().find(|t| *t == name)
}

/// The object as its api/2 `GET` shows it (English texts, no admin lists, media as stored
/// names); `None` when there is no such object.
fn current(
    conn: &Connection,
    object_type: &str,
    id: i64,
    english: &mut Option<i64>,
) -> StoreResult<Option<Value>> {
    fn json<T: serde::Serialize>(found: StoreResult<T>) -> StoreResult<Option<Value>> {
        match found {
            Ok(v) => Ok(serde_json::to_value(v).ok()),
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
    let data: Option<String> = r.get(6)?;
    Ok(object_type(&ty).map(|object_type| Change {
        id: r.get(0).unwrap_or_default(),
        created_ms: r.get(1).unwrap_or_default(),
        object_type,
        object_id: r.get(3).unwrap_or_default(),
        project_id: r.get(4).unwrap_or_default(),
        is_deleted: r.get(5).unwrap_or_default(),
        data: data.and_then(|d| serde_json::from_str(&d).ok()),
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
/// growing.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn prune(tx: &Connection, before_ms: i64, max_rows: i64) -> StoreResult<usize> {
    // Ids grow with time: everything before the first change young enough goes (no index on
    // the time needed, so none is kept up on every write).
    let old = tx.execute(
        "DELETE FROM outbox WHERE id < coalesce(
            (SELECT id FROM outbox WHERE created_ms >= ?1 ORDER BY id LIMIT 1),
            (SELECT MAX(id) FROM outbox))",
        [before_ms],
    )?;
    let over = tx.execute(
        "DELETE FROM outbox WHERE id <= (SELECT MAX(id) FROM outbox) - ?1",
        [max_rows.max(1)],
    )?;
    Ok(old + over)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrated_in_memory;

    fn captured() -> Connection {
        let conn = migrated_in_memory();
        install_capture(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd');
             INSERT INTO sessions (id, starttime, project_id) VALUES (5, '2026-01-01T00:00:00Z', 1);",
        )
        .unwrap();
        flush(&conn, 1).unwrap();
        conn
    }

    #[test]
    fn a_new_asset_with_tags_is_one_change_holding_the_asset_as_read_back() {
        let conn = captured();
        conn.execute_batch(
            "INSERT INTO tags (id, project_id, value) VALUES (3, 1, 'x');
             INSERT INTO assets (id, session_id, project_id, created, updated, file)
                  VALUES (10, 5, 1, 'c', 'u', 'a.mp3');
             INSERT INTO asset_tags VALUES (10, 3);",
        )
        .unwrap();
        let changes = flush(&conn, 7).unwrap();
        let kinds: Vec<_> = changes
            .iter()
            .map(|c| (c.object_type, c.object_id))
            .collect();
        assert_eq!(kinds, [("tag", 3), ("asset", 10)]);
        let asset = &changes[1];
        assert_eq!(asset.project_id, Some(1));
        assert_eq!(asset.created_ms, 7);
        let data = asset.data.as_ref().unwrap();
        assert_eq!(data["tag_ids"], serde_json::json!([3]));
        assert_eq!(data["file"], "a.mp3");
        assert!(flush(&conn, 8).unwrap().is_empty(), "notes are cleared");
        let stored = after(&conn, 0, 100).unwrap();
        assert_eq!(stored.len(), 4, "project, session, tag, asset");
        assert_eq!(stored[3], **asset);
    }

    #[test]
    fn a_deleted_object_is_one_change_marked_deleted_showing_it_as_last_seen() {
        let conn = captured();
        conn.execute_batch(
            "INSERT INTO assets (id, session_id, project_id, created, updated) VALUES (10, 5, 1, 'c', 'u');",
        )
        .unwrap();
        flush(&conn, 1).unwrap();
        conn.execute("DELETE FROM assets WHERE id = 10", [])
            .unwrap();
        let changes = flush(&conn, 2).unwrap();
        assert_eq!(changes.len(), 1);
        assert!(changes[0].is_deleted);
        assert_eq!(changes[0].data.as_ref().unwrap()["id"], 10, "as last seen");
        assert_eq!(
            changes[0].project_id,
            Some(1),
            "the project of the row that went"
        );
        // Made and deleted in one transaction: never seen, so shown without data.
        conn.execute_batch(
            "INSERT INTO assets (id, session_id, project_id, created, updated) VALUES (11, 5, 1, 'c', 'u');
             DELETE FROM assets WHERE id = 11;",
        )
        .unwrap();
        let changes = flush(&conn, 3).unwrap();
        assert!(changes[0].is_deleted && changes[0].data.is_none());
    }

    #[test]
    fn a_localized_string_edited_in_place_changes_the_objects_showing_it() {
        let conn = captured();
        conn.execute_batch(
            "INSERT INTO localized_strings (id, localized_string, language_id) VALUES (9, 'hi', 1);
             INSERT INTO tags (id, project_id, value) VALUES (3, 1, 'x');
             INSERT INTO loc_links (owner, owner_id, field, position, string_id)
                  VALUES ('tag', 3, 'msg', 0, 9);",
        )
        .unwrap();
        flush(&conn, 1).unwrap();
        conn.execute(
            "UPDATE localized_strings SET localized_string = 'hello' WHERE id = 9",
            [],
        )
        .unwrap();
        let kinds: Vec<_> = flush(&conn, 2)
            .unwrap()
            .iter()
            .map(|c| (c.object_type, c.object_id))
            .collect();
        assert_eq!(kinds, [("localizedstring", 9), ("tag", 3)]);
    }

    #[test]
    fn recorded_stream_changes_keep_their_data_and_ids_only_grow_after_pruning() {
        let conn = captured();
        let data = serde_json::json!({"stream_id": 5, "active": false});
        record(&conn, "stream", 5, Some(1), &data, true).unwrap();
        let changes = flush(&conn, 3).unwrap();
        assert_eq!(changes[0].data.as_ref(), Some(&data));
        assert!(changes[0].is_deleted);
        let last = changes[0].id;
        assert_eq!(head(&conn).unwrap(), last);
        assert_eq!(
            prune(&conn, i64::MAX, 1000).unwrap(),
            usize::try_from(last - 1).unwrap(),
            "everything but the newest"
        );
        assert_eq!(oldest(&conn).unwrap(), Some(last));
        assert_eq!(head(&conn).unwrap(), last, "the head survives retention");
        conn.execute("UPDATE sessions SET timezone = '0100' WHERE id = 5", [])
            .unwrap();
        assert!(flush(&conn, 4).unwrap()[0].id > last);
    }

    #[test]
    fn max_rows_keeps_the_newest_changes() {
        let conn = captured();
        for n in 0..5 {
            conn.execute(
                "UPDATE sessions SET timezone = ?1 WHERE id = 5",
                [n.to_string()],
            )
            .unwrap();
            flush(&conn, 10).unwrap();
        }
        let head = head(&conn).unwrap();
        prune(&conn, 0, 2).unwrap();
        let kept: Vec<i64> = after(&conn, 0, 100).unwrap().iter().map(|c| c.id).collect();
        assert_eq!(kept, [head - 1, head]);
    }
}
