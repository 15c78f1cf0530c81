//! Which row changes are changes of which object. SQLite's update hook on the writer
//! connection is called for every row inserted, updated or deleted — whatever SQL did it,
//! hand-written or cascaded — and notes the table and rowid in a list the writer thread keeps
//! for the transaction in progress; [`resolve`] turns those into `(type, id)` of objects just
//! before the commit. A row of an object's own table is that object; a row of a link table
//! (`asset_tags`, `loc_links`, …) belongs to the object it names, read back by rowid. A link
//! row that is deleted cannot be read back, so the link tables also carry a TEMP trigger that
//! notes the object a deleted link named (the only SQL the capture runs on a write; deleting
//! links is rare, and a trigger on every table cost more than the rest of the outbox).
//!
//! Owns: the table → object map and the notes. May not touch: the outbox table (see
//! [`super::flush`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rusqlite::Connection;
use rusqlite::hooks::Action;

use crate::store::StoreResult;

/// A change noted in the transaction in progress.
#[derive(Debug)]
pub(super) struct Note {
    pub object_type: &'static str,
    pub object_id: i64,
    /// The project, when the note knows it.
    pub project_id: Option<i64>,
    /// Data given with the note (objects that are not rows: a personal stream).
    pub data: Option<String>,
    /// For data given with the note: the object ended.
    pub is_deleted: bool,
}

impl Note {
    fn of(object_type: &'static str, object_id: i64) -> Self {
        Self {
            object_type,
            object_id,
            project_id: None,
            data: None,
            is_deleted: false,
        }
    }
}

/// What the hook saw.
#[derive(Debug)]
enum Seen {
    /// A note ready as it is.
    Object(Note),
    /// A row of link table `SOURCES[i]`, inserted or updated: the object it names is read
    /// back.
    Link(usize, i64),
    /// The link-delete trigger noted something in `temp.changes`.
    TempNotes,
}

thread_local! {
    /// What the writer thread's transaction in progress changed.
    static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
    /// The transaction in progress applies the venue catalogue (fleet mode): its changes are
    /// not this box's to publish.
    static FROM_FLEET: Cell<bool> = const { Cell::new(false) };
}

/// Marks the transaction in progress as applying the venue catalogue.
pub(super) fn mark_from_fleet() {
    FROM_FLEET.with(|f| f.set(true));
}

/// Whether the transaction in progress applies the catalogue; clears the mark.
pub(super) fn take_from_fleet() -> bool {
    FROM_FLEET.with(|f| f.replace(false))
}

/// Adds a note to the transaction in progress.
pub(super) fn note(n: Note) {
    SEEN.with(|seen| seen.borrow_mut().push(Seen::Object(n)));
}

/// Forgets what the transaction in progress changed (it rolled back).
pub(crate) fn discard() {
    SEEN.with(|seen| seen.borrow_mut().clear());
    FROM_FLEET.with(|f| f.set(false));
}

/// A table whose rows are (part of) objects.
struct Source {
    table: &'static str,
    /// Own table: its rows are objects of this type.
    object_type: &'static str,
    /// Link table: the column naming the object (for `loc_links`, `owner_id`, the type
    /// coming from `owner`).
    link: Option<&'static str>,
}

const fn own(table: &'static str, object_type: &'static str) -> Source {
    Source {
        table,
        object_type,
        link: None,
    }
}

const fn link(table: &'static str, object_type: &'static str, column: &'static str) -> Source {
    Source {
        table,
        object_type,
        link: Some(column),
    }
}

/// `loc_links.owner` values that are objects' types.
const LOCALIZED: [&str; 5] = ["project", "tag", "asset", "uigroup", "uielement"];

const SOURCES: &[Source] = &[
    own("assets", "asset"),
    link("asset_tags", "asset", "asset_id"),
    link("envelope_assets", "asset", "asset_id"),
    own("envelopes", "envelope"),
    link("envelope_assets", "envelope", "envelope_id"),
    own("votes", "vote"),
    own("listen_events", "listenevent"),
    own("sessions", "session"),
    own("events", "event"),
    own("speakers", "speaker"),
    own("projects", "project"),
    link("project_languages", "project", "project_id"),
    own("tags", "tag"),
    // the type is the row's `owner` (one of LOCALIZED)
    link("loc_links", "", "owner_id"),
    own("audiotracks", "audiotrack"),
    own("floorplans", "floorplan"),
    link("audiotrack_tags", "audiotrack", "audiotrack_id"),
    own("languages", "language"),
    own("localized_strings", "localizedstring"),
    own("project_groups", "projectgroup"),
    link("project_group_projects", "projectgroup", "group_id"),
    own("tag_categories", "tagcategory"),
    own("tag_relationships", "tagrelationship"),
    own("timed_assets", "timedasset"),
    own("ui_element_names", "uielementname"),
    own("ui_elements", "uielement"),
    own("ui_groups", "uigroup"),
    own("ui_items", "uiitem"),
];

/// The temp table the link-delete triggers note into, and the triggers.
fn link_delete_sql() -> String {
    let mut sql = String::from(
        "CREATE TEMP TABLE IF NOT EXISTS changes (
            seq INTEGER PRIMARY KEY,
            object_type TEXT NOT NULL,
            object_id INTEGER NOT NULL
        );\n",
    );
    for (n, s) in SOURCES.iter().enumerate() {
        let Some(column) = s.link else { continue };
        let (ty, when) = if s.table == "loc_links" {
            let owners: Vec<String> = LOCALIZED.iter().map(|o| format!("'{o}'")).collect();
            (
                "OLD.owner",
                format!(" WHEN OLD.owner IN ({})", owners.join(", ")),
            )
        } else {
            ("", String::new())
        };
        let ty = if ty.is_empty() {
            format!("'{}'", s.object_type)
        } else {
            ty.to_string()
        };
        sql.push_str(&format!(
            "CREATE TEMP TRIGGER IF NOT EXISTS link_gone_{n} AFTER DELETE ON main.{table}{when}
             BEGIN INSERT INTO changes (object_type, object_id) VALUES ({ty}, OLD.{column}); END;\n",
            table = s.table,
        ));
    }
    sql
}

/// Installs the hook and the link-delete triggers on the writer connection.
///
/// # Errors
/// SQLite failures (a link table missing from the schema).
pub(super) fn install(conn: &Connection) -> StoreResult<()> {
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.execute_batch(&link_delete_sql())?;
    let mut by_table: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (i, s) in SOURCES.iter().enumerate() {
        by_table.entry(s.table).or_default().push(i);
    }
    conn.update_hook(Some(
        move |action: Action, db: &str, table: &str, row_id: i64| {
            if db == "temp" {
                if table == "changes" && action == Action::SQLITE_INSERT {
                    SEEN.with(|seen| seen.borrow_mut().push(Seen::TempNotes));
                }
                return;
            }
            let Some(sources) = by_table.get(table) else {
                return;
            };
            SEEN.with(|seen| {
                let mut seen = seen.borrow_mut();
                for &i in sources {
                    match SOURCES[i].link {
                        None => seen.push(Seen::Object(Note::of(SOURCES[i].object_type, row_id))),
                        // A deleted link row is noted by its trigger.
                        Some(_) if action == Action::SQLITE_DELETE => {}
                        Some(_) => seen.push(Seen::Link(i, row_id)),
                    }
                }
            });
        },
    ));
    Ok(())
}

/// The objects the transaction in progress changed, in the order they were first noted
/// (repeats included); none are left noted.
///
/// # Errors
/// Only SQLite failures.
pub(super) fn resolve(tx: &Connection) -> StoreResult<Vec<Note>> {
    let seen = SEEN.with(|seen| std::mem::take(&mut *seen.borrow_mut()));
    let mut notes = Vec::with_capacity(seen.len());
    let mut temp = false;
    for s in seen {
        match s {
            Seen::Object(n) => notes.push(n),
            Seen::TempNotes => temp = true,
            Seen::Link(i, row_id) => {
                let source = &SOURCES[i];
                let column = source.link.unwrap_or("rowid");
                let named: Option<(String, i64)> = {
                    use rusqlite::OptionalExtension;
                    tx.prepare_cached(&format!(
                        "SELECT {}, {column} FROM {} WHERE rowid = ?1",
                        if source.table == "loc_links" {
                            "owner"
                        } else {
                            "''"
                        },
                        source.table
                    ))?
                    .query_row([row_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                };
                let Some((owner, id)) = named else { continue };
                let object_type = if source.table == "loc_links" {
                    match LOCALIZED.iter().find(|o| **o == owner) {
                        Some(o) => *o,
                        None => continue,
                    }
                } else {
                    source.object_type
                };
                notes.push(Note::of(object_type, id));
            }
        }
    }
    if temp {
        let mut stmt =
            tx.prepare_cached("SELECT object_type, object_id FROM changes ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (ty, id) = row?;
            if let Some(t) = LOCALIZED
                .iter()
                .chain(SOURCES.iter().map(|s| &s.object_type))
                .find(|t| **t == ty)
            {
                notes.push(Note::of(t, id));
            }
        }
        tx.prepare_cached("DELETE FROM changes")?.execute([])?;
    }
    Ok(notes)
}
