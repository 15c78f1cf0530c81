//! Row states on the venue catalogue (fleet.md §3.4, §3.6): an object read as its full rows
//! (its main row, its link rows, the localized strings it shows) to publish, and such a state
//! applied to this database exactly once, in catalogue order, with the catalogue position.
//!
//! Every table and column name in SQL here comes from [`KINDS`] or from SQLite's own schema
//! pragmas, never from a message: a state names columns, and only the ones this database has
//! are written.
//!
//! Owns: the kinds carried and their tables, reading and applying states. May not touch:
//! NATS, media files.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Transaction, params_from_iter};
use serde_json::{Map, Value};

use super::super::StoreResult;

/// An object type the fleet carries and the tables that make it up.
#[derive(Debug)]
pub(crate) struct Kind {
    /// The outbox's object type (`asset`, `tag`, …), also the subject's token.
    pub name: &'static str,
    /// Its main table.
    pub table: &'static str,
    /// The main table's key column (`id`; a floor plan's is its project's).
    pub(super) key: &'static str,
    /// Its main row names a media file (`file`) that travels with it through the buckets.
    pub media: bool,
    /// Link tables holding its rows: `(table, column naming the object)`.
    pub(super) links: &'static [(&'static str, &'static str)],
    /// It has localized strings (`loc_links` with `owner` = the kind's name).
    pub(super) localized: bool,
    /// Created at any box (visitors' rows, numbered in the box's range); else configuration,
    /// written only on the hub.
    pub box_origin: bool,
}

const fn kind(
    name: &'static str,
    table: &'static str,
    links: &'static [(&'static str, &'static str)],
    localized: bool,
    box_origin: bool,
) -> Kind {
    Kind {
        name,
        table,
        key: "id",
        media: false,
        links,
        localized,
        box_origin,
    }
}

/// `kind` with its media file travelling with it.
const fn with_media(kind: Kind) -> Kind {
    Kind {
        media: true,
        ..kind
    }
}

/// `kind` keyed by `key` instead of `id`.
const fn keyed(key: &'static str, kind: Kind) -> Kind {
    Kind { key, ..kind }
}

/// What the fleet carries, in the order a fresh catalogue is best applied (parents first).
/// Listen events and events go to central only (fleet.md §3.2), users stay at their box.
pub(crate) const KINDS: [Kind; 19] = [
    kind("language", "languages", &[], false, false),
    kind("localizedstring", "localized_strings", &[], false, false),
    kind(
        "project",
        "projects",
        &[("project_languages", "project_id")],
        true,
        false,
    ),
    kind(
        "projectgroup",
        "project_groups",
        &[("project_group_projects", "group_id")],
        false,
        false,
    ),
    kind("tagcategory", "tag_categories", &[], false, false),
    kind("tag", "tags", &[], true, false),
    kind("tagrelationship", "tag_relationships", &[], false, false),
    kind("uigroup", "ui_groups", &[], true, false),
    kind("uiitem", "ui_items", &[], false, false),
    kind("uielementname", "ui_element_names", &[], false, false),
    kind("uielement", "ui_elements", &[], true, false),
    kind("speaker", "speakers", &[], false, false),
    kind(
        "audiotrack",
        "audiotracks",
        &[("audiotrack_tags", "audiotrack_id")],
        false,
        false,
    ),
    kind("session", "sessions", &[], false, true),
    kind("envelope", "envelopes", &[], false, true),
    with_media(kind(
        "asset",
        "assets",
        &[("asset_tags", "asset_id"), ("envelope_assets", "asset_id")],
        true,
        true,
    )),
    kind("vote", "votes", &[], false, true),
    kind("timedasset", "timed_assets", &[], false, false),
    // One per project, named by it; its site image travels in the hub's bucket.
    with_media(keyed(
        "project_id",
        kind("floorplan", "floorplans", &[], false, false),
    )),
];

/// What boxes send the hub for central only, on their telemetry streams (fleet.md §3.4
/// `TEL_b<n>`): never on the catalogue, applied only at the hub.
pub(crate) const TELEMETRY_KINDS: [Kind; 2] = [
    kind("listenevent", "listen_events", &[], false, true),
    kind("event", "events", &[], false, true),
];

/// The telemetry kind named `name`.
pub(crate) fn telemetry_kind(name: &str) -> Option<&'static Kind> {
    TELEMETRY_KINDS.iter().find(|k| k.name == name)
}

/// The kind named `name`, if the fleet carries it.
pub(crate) fn kind_named(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// What applying one state did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The row (and its links) now hold the state.
    Upserted,
    /// As [`Applied::Upserted`], and the media file the object named before is no longer
    /// its own (the caller removes it once the transaction has committed, unless the new one
    /// shares its files).
    Replaced {
        /// The file it named.
        old: String,
        /// The file it names now.
        new: Option<String>,
    },
    /// The object is gone; for an asset, the media file it named (its files are the caller's
    /// to remove once the transaction has committed).
    Deleted(Option<String>),
    /// Not applied: why (logged once by the caller; the position still advances).
    Skipped(String),
    /// The position was already past it (applied before a restart).
    Already,
}

/// The object's full state: `{"rows": {table: [row, …], …}}`, or `None` when it is gone.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn read_state(conn: &Connection, kind: &Kind, id: i64) -> StoreResult<Option<Value>> {
    let main = select_rows(conn, kind.table, kind.key, id)?;
    if main.is_empty() {
        return Ok(None);
    }
    let mut rows = Map::new();
    rows.insert(kind.table.into(), Value::Array(main));
    for (table, column) in kind.links {
        rows.insert(
            (*table).into(),
            Value::Array(select_rows(conn, table, column, id)?),
        );
    }
    if kind.localized {
        let mut stmt = conn.prepare_cached(
            "SELECT owner, owner_id, field, position, string_id FROM loc_links
              WHERE owner = ?1 AND owner_id = ?2 ORDER BY field, position",
        )?;
        let links = collect(stmt.query(rusqlite::params![kind.name, id])?)?;
        let mut strings = Vec::new();
        for link in &links {
            if let Some(string) = link.get("string_id").and_then(Value::as_i64) {
                strings.extend(select_rows(conn, "localized_strings", "id", string)?);
            }
        }
        rows.insert("localized_strings".into(), Value::Array(strings));
        rows.insert("loc_links".into(), Value::Array(links));
    }
    Ok(Some(serde_json::json!({ "rows": rows })))
}

/// Applies the state of `kind` `id` at catalogue position `seq` (`None`: deleted), together
/// with the position, inside the caller's transaction. A position at or before the one
/// applied is [`Applied::Already`]: each position is applied once.
///
/// # Errors
/// Only SQLite failures (the caller's transaction then rolls back, position included).
pub(crate) fn apply(
    tx: &Transaction<'_>,
    seq: u64,
    kind: &Kind,
    id: i64,
    state: Option<&Value>,
) -> StoreResult<Applied> {
    if !take_position(tx, seq)? {
        return Ok(Applied::Already);
    }
    let Some(state) = state else {
        return Ok(Applied::Deleted(delete_object(tx, kind, id)?));
    };
    let before = media_file(tx, kind, id)?;
    Ok(match write_state(tx, kind, id, state)? {
        Ok(()) => {
            let new = media_file(tx, kind, id)?;
            match before {
                Some(old) if Some(&old) != new.as_ref() => Applied::Replaced { old, new },
                _ => Applied::Upserted,
            }
        }
        Err(why) => Applied::Skipped(why),
    })
}

/// The media file object `kind` `id` names here, for a kind with media.
fn media_file(conn: &Connection, kind: &Kind, id: i64) -> StoreResult<Option<String>> {
    if !kind.media {
        return Ok(None);
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT file FROM \"{}\" WHERE \"{}\" = ?1",
            kind.table, kind.key
        ))?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Deletes object `kind` `id` and its localized links; for a kind with media, the media file
/// it named (its files are the caller's to remove once the transaction has committed).
///
/// # Errors
/// Only SQLite failures.
pub(super) fn delete_object(
    tx: &Transaction<'_>,
    kind: &Kind,
    id: i64,
) -> StoreResult<Option<String>> {
    let file = media_file(tx, kind, id)?;
    tx.execute(
        &format!("DELETE FROM \"{}\" WHERE \"{}\" = ?1", kind.table, kind.key),
        [id],
    )?;
    if kind.localized {
        tx.prepare_cached("DELETE FROM loc_links WHERE owner = ?1 AND owner_id = ?2")?
            .execute(rusqlite::params![kind.name, id])?;
    }
    Ok(file)
}

/// Writes the state of object `kind` `id` (its main row, links and localized strings) over
/// what this database holds. `Err` says why it was not written (nothing was).
///
/// # Errors
/// Only SQLite failures.
pub(super) fn write_state(
    tx: &Transaction<'_>,
    kind: &Kind,
    id: i64,
    state: &Value,
) -> StoreResult<Result<(), String>> {
    let rows = |table: &str| -> &[Value] {
        state
            .get("rows")
            .and_then(|r| r.get(table))
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    };
    let Some(main) = rows(kind.table).first().and_then(Value::as_object) else {
        return Ok(Err(format!("the state has no {} row", kind.table)));
    };
    if main.get(kind.key).and_then(Value::as_i64) != Some(id) {
        return Ok(Err(format!("its {} row is not row {id}", kind.table)));
    }
    if kind.localized {
        for string in rows("localized_strings")
            .iter()
            .filter_map(Value::as_object)
        {
            // A string in a language this box lacks is left out, and its link with it.
            let _left_out = upsert(tx, "localized_strings", "id", string)?;
        }
    }
    if let Err(why) = upsert(tx, kind.table, kind.key, main)? {
        return Ok(Err(why));
    }
    for (table, column) in kind.links {
        tx.execute(
            &format!("DELETE FROM \"{table}\" WHERE \"{column}\" = ?1"),
            [id],
        )?;
        for row in rows(table).iter().filter_map(Value::as_object) {
            if row.get(*column).and_then(Value::as_i64) == Some(id) {
                insert_link(tx, table, row)?;
            }
        }
    }
    if kind.localized {
        tx.prepare_cached("DELETE FROM loc_links WHERE owner = ?1 AND owner_id = ?2")?
            .execute(rusqlite::params![kind.name, id])?;
        for row in rows("loc_links").iter().filter_map(Value::as_object) {
            let ours = row.get("owner").and_then(Value::as_str) == Some(kind.name)
                && row.get("owner_id").and_then(Value::as_i64) == Some(id);
            if ours {
                insert_link(tx, "loc_links", row)?;
            }
        }
    }
    Ok(Ok(()))
}

/// Moves the position to `seq` without applying anything (a message this box cannot read:
/// the caller logs why). [`Applied::Already`] when it was past it.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn advance(tx: &Transaction<'_>, seq: u64) -> StoreResult<Applied> {
    Ok(if take_position(tx, seq)? {
        Applied::Skipped(String::new())
    } else {
        Applied::Already
    })
}

/// Moves the position to `seq`; `false` when it was already there or past.
fn take_position(tx: &Transaction<'_>, seq: u64) -> StoreResult<bool> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    let applied: i64 = tx
        .prepare_cached("SELECT applied_seq FROM fleet_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(i64::MAX);
    if seq <= applied {
        return Ok(false);
    }
    tx.prepare_cached("UPDATE fleet_state SET applied_seq = ?1 WHERE id = 1")?
        .execute([seq])?;
    Ok(true)
}

/// One column of a table, as SQLite describes it.
pub(super) struct Column {
    pub(super) name: String,
    pub(super) not_null: bool,
}

pub(super) fn columns(conn: &Connection, table: &str) -> StoreResult<Vec<Column>> {
    let mut stmt = conn.prepare_cached("SELECT name, \"notnull\" FROM pragma_table_info(?1)")?;
    let rows = stmt.query_map([table], |r| {
        Ok(Column {
            name: r.get(0)?,
            not_null: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The table's foreign keys: `(column, parent table, parent column)`.
pub(super) fn foreign_keys(
    conn: &Connection,
    table: &str,
) -> StoreResult<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT \"from\", \"table\", coalesce(\"to\", 'id') FROM pragma_foreign_key_list(?1)",
    )?;
    let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn select_rows(conn: &Connection, table: &str, column: &str, id: i64) -> StoreResult<Vec<Value>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM \"{table}\" WHERE \"{column}\" = ?1"
    ))?;
    collect(stmt.query([id])?)
}

fn collect(mut rows: rusqlite::Rows<'_>) -> StoreResult<Vec<Value>> {
    let names: Vec<String> = rows
        .as_ref()
        .map(|s| s.column_names().into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut object = Map::new();
        for (i, name) in names.iter().enumerate() {
            let value = match row.get::<_, Sql>(i)? {
                Sql::Null | Sql::Blob(_) => Value::Null,
                Sql::Integer(n) => Value::from(n),
                Sql::Real(x) => Value::from(x),
                Sql::Text(t) => Value::from(t),
            };
            object.insert(name.clone(), value);
        }
        out.push(Value::Object(object));
    }
    Ok(out)
}

fn to_sql(value: &Value) -> Sql {
    match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(Sql::Integer)
            .or_else(|| n.as_f64().map(Sql::Real))
            .unwrap_or(Sql::Null),
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// The row's values for this database's columns of `table`, with references to rows this
/// database does not have set to NULL where the column allows it. `Err` names a reference
/// that cannot be dropped.
fn resolve(
    conn: &Connection,
    table: &str,
    row: &Map<String, Value>,
) -> StoreResult<Result<Vec<(String, Sql)>, String>> {
    let columns = columns(conn, table)?;
    let mut values: Vec<(String, Sql)> = columns
        .iter()
        .filter_map(|c| row.get(&c.name).map(|v| (c.name.clone(), to_sql(v))))
        .collect();
    for (from, parent, to) in foreign_keys(conn, table)? {
        let Some(slot) = values.iter_mut().find(|(name, _)| *name == from) else {
            continue;
        };
        if matches!(slot.1, Sql::Null) {
            continue;
        }
        let present = conn
            .prepare_cached(&format!("SELECT 1 FROM \"{parent}\" WHERE \"{to}\" = ?1"))?
            .exists([&slot.1])?;
        if present {
            continue;
        }
        if columns.iter().any(|c| c.name == from && c.not_null) {
            let named = match &slot.1 {
                Sql::Integer(n) => n.to_string(),
                Sql::Text(t) => format!("{t:?}"),
                other => format!("{other:?}"),
            };
            return Ok(Err(format!(
                "its {table}.{from} names {parent} {named}, which this box does not have"
            )));
        }
        slot.1 = Sql::Null;
    }
    Ok(Ok(values))
}

/// Inserts or updates the row with the same `key` (its primary key column).
fn upsert(
    tx: &Transaction<'_>,
    table: &str,
    key: &str,
    row: &Map<String, Value>,
) -> StoreResult<Result<(), String>> {
    let values = match resolve(tx, table, row)? {
        Ok(v) => v,
        Err(why) => return Ok(Err(why)),
    };
    if !values.iter().any(|(name, _)| name == key) {
        return Ok(Err(format!("its {table} row has no {key}")));
    }
    let names: Vec<String> = values.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = names
        .iter()
        .filter(|n| *n != &format!("\"{key}\""))
        .map(|n| format!("{n} = excluded.{n}"))
        .collect();
    let conflict = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    tx.prepare_cached(&format!(
        "INSERT INTO \"{table}\" ({}) VALUES ({}) ON CONFLICT (\"{key}\") {conflict}",
        names.join(", "),
        marks.join(", ")
    ))?
    .execute(params_from_iter(values.into_iter().map(|(_, v)| v)))?;
    Ok(Ok(()))
}

/// Inserts a link row, dropped (a dangling reference, as the reference server ignores unknown
/// tag ids) when it names a row this database does not have.
fn insert_link(tx: &Transaction<'_>, table: &str, row: &Map<String, Value>) -> StoreResult<()> {
    let Ok(values) = resolve(tx, table, row)? else {
        return Ok(());
    };
    let names: Vec<String> = values.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO \"{table}\" ({}) VALUES ({})",
        names.join(", "),
        marks.join(", ")
    ))?
    .execute(params_from_iter(values.into_iter().map(|(_, v)| v)))?;
    Ok(())
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
