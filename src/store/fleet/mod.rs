//! Fleet mode's rows: which box this database belongs to, and the ids of the rows it creates
//! (`box × 10^12 + n`, fleet.md §3.3), so that no two boxes of a venue ever issue the same id.
//!
//! Every insert of a box-origin row (assets, envelopes, sessions, users, votes, listen events,
//! events) binds its id
//! from [`next_id`]: `NULL` on a standalone box (SQLite numbers the row as before), the box's
//! next id in fleet mode.
//!
//! What this box has to publish is read from the event outbox ([`to_publish`]), from the
//! `published_id` cursor on; the catalogue is applied by [`rows::apply`].
//!
//! Owns: `fleet_state`, `fleet_seq`, the outbox's publication cursor. May not touch: NATS,
//! anything outside the transaction.

pub(crate) mod import;
pub(crate) mod join;
pub(crate) mod push;
pub(crate) mod rows;

use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::Value;

pub(crate) use rows::{Applied, Kind, kind_named, telemetry_kind};

use super::{StoreError, StoreResult};
use crate::config::MAX_BOX;

/// Ids of one box: `[box × BOX_SPAN, (box + 1) × BOX_SPAN)`.
pub(crate) const BOX_SPAN: i64 = 1_000_000_000_000;

/// The largest id handed out: 2^53 - 1, exact in JavaScript (the clients' numbers).
const MAX_EXACT_ID: i64 = (1 << 53) - 1;

/// The box this database belongs to, if it is in a fleet.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn box_number(tx: &Transaction<'_>) -> rusqlite::Result<Option<u32>> {
    tx.prepare_cached("SELECT box FROM fleet_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

/// The id the next `table` row created here takes: `None` on a standalone box (SQLite's own
/// numbering), else the box's next, never reused even after a delete.
///
/// # Errors
/// SQLite failures; a box that has used up its range (10^12 rows of one table).
pub(crate) fn next_id(tx: &Transaction<'_>, table: &'static str) -> StoreResult<Option<i64>> {
    let Some(number) = box_number(tx)? else {
        return Ok(None);
    };
    let last: i64 = tx
        .prepare_cached(
            "INSERT INTO fleet_seq (table_name, last) VALUES (?1, 1)
             ON CONFLICT (table_name) DO UPDATE SET last = last + 1
             RETURNING last",
        )?
        .query_row([table], |r| r.get(0))?;
    let id = i64::from(number) * BOX_SPAN + last;
    // The last box's range ends at 2^53 - 1 (the largest integer exact in JavaScript) before
    // its 10^12th row.
    if last >= BOX_SPAN || id > MAX_EXACT_ID {
        return Err(StoreError::conflict(
            table,
            format!("box {number} has used up its ids of {table}"),
        ));
    }
    Ok(Some(id))
}

/// Makes this database box `number`'s. Refused for a database of another box, and for a
/// standalone one that already holds rows of its own (they need `roundwared fleet join`,
/// which renumbers them once).
///
/// # Errors
/// [`StoreError::Conflict`] naming `fleet.box`, or SQLite failures.
pub(crate) fn claim(tx: &Transaction<'_>, number: u32) -> StoreResult<()> {
    if !(1..=MAX_BOX).contains(&number) {
        return Err(StoreError::conflict(
            "fleet.box",
            format!("{number} is not a box number (1 to {MAX_BOX})"),
        ));
    }
    match box_number(tx)? {
        Some(n) if n == number => return Ok(()),
        Some(n) => {
            return Err(StoreError::conflict(
                "fleet.box",
                format!("this database belongs to box {n}, not box {number}"),
            ));
        }
        None => {}
    }
    let own_rows: i64 = tx.query_row(
        "SELECT (SELECT count(*) FROM assets) + (SELECT count(*) FROM envelopes)
              + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM votes)",
        [],
        |r| r.get(0),
    )?;
    if own_rows > 0 {
        return Err(StoreError::conflict(
            "fleet.box",
            format!(
                "this box already holds {own_rows} sessions, envelopes, assets and votes of its \
                 own: run `roundwared fleet join` once to renumber them into box {number}'s range"
            ),
        ));
    }
    let uid = format!("{:032x}", rand::random::<u128>());
    tx.execute(
        "INSERT INTO fleet_state (id, box, uid) VALUES (1, ?1, ?2)",
        rusqlite::params![number, uid],
    )?;
    Ok(())
}

/// This database's box number and identity, if it is in a fleet.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn identity(conn: &Connection) -> StoreResult<Option<(u32, String)>> {
    Ok(conn
        .prepare_cached("SELECT box, uid FROM fleet_state WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// A change this box has to publish to the venue.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// Its outbox id (the publication cursor moves past it once the stream has it).
    pub outbox_id: i64,
    /// What it is; `None` for a change this box does not publish (a personal stream,
    /// configuration on a box that is not the hub): the cursor passes it.
    pub kind: Option<&'static Kind>,
    /// It goes on the box's telemetry stream (for central, through the hub), not the
    /// catalogue.
    pub telemetry: bool,
    /// Which one.
    pub id: i64,
    /// Its full state now ([`rows::read_state`]), `None` when it is gone.
    pub state: Option<Value>,
}

/// What [`to_publish`] found.
#[derive(Debug)]
pub(crate) struct ToPublish {
    /// The changes, oldest first.
    pub changes: Vec<Outgoing>,
    /// The outbox id the cursor may move to once they are published: the last change's, or,
    /// with none, the newest row read past (changes applied from the catalogue), so the
    /// cursor (and the retention that waits on it) does not stay behind them.
    pub through: i64,
}

/// Up to `limit` changes after the publication cursor that this box publishes: every change
/// of a carried kind made here (not applied from the catalogue); configuration only on the
/// hub (`config`), whose word it is in fleet mode; telemetry (listen events) only on a box
/// (the hub's are in its own database already).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn to_publish(conn: &Connection, config: bool, limit: i64) -> StoreResult<ToPublish> {
    // Read first: a change committed after it has a higher id and is not passed over.
    let head: i64 = conn
        .prepare_cached("SELECT coalesce(MAX(id), 0) FROM outbox")?
        .query_row([], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.object_type, o.object_id FROM outbox o, fleet_state f
          WHERE f.id = 1 AND o.id > f.published_id AND o.id <= ?2 AND o.from_fleet = 0
          ORDER BY o.id LIMIT ?1",
    )?;
    let found = stmt
        .query_map([limit, head], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let through = found.last().map_or(head, |(id, _, _)| *id);
    let mut changes = Vec::with_capacity(found.len());
    for (outbox_id, object_type, id) in found {
        let kind = kind_named(&object_type).filter(|k| k.box_origin || config);
        let telemetry = kind.is_none() && !config;
        let kind = kind.or_else(|| telemetry_kind(&object_type).filter(|_| telemetry));
        let state = match kind {
            Some(kind) => rows::read_state(conn, kind, id)?,
            None => None,
        };
        // Events the server makes for an upload or a vote, and heartbeats, never go to central
        // (`push::OWN_EVENTS`): they do not travel either.
        let own_event = state.as_ref().is_some_and(|s| {
            s["rows"]["events"][0]["event_type"]
                .as_str()
                .is_some_and(|t| push::OWN_EVENTS.contains(&t))
        });
        let kind = kind.filter(|_| !own_event);
        changes.push(Outgoing {
            outbox_id,
            telemetry: telemetry && kind.is_some(),
            kind,
            id,
            state,
        });
    }
    Ok(ToPublish { changes, through })
}

/// Writes a box's telemetry row at the hub (`None`: it was deleted there), inside the
/// caller's transaction. `Err` says why it cannot be written yet: its session or asset has
/// not arrived through the catalogue.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn apply_telemetry(
    tx: &Transaction<'_>,
    kind: &Kind,
    id: i64,
    state: Option<&Value>,
) -> StoreResult<Result<(), String>> {
    match state {
        Some(state) => rows::write_state(tx, kind, id, state),
        None => {
            rows::delete_object(tx, kind, id)?;
            Ok(Ok(()))
        }
    }
}

/// Moves the publication cursor to `outbox_id` (never back).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn published(tx: &Transaction<'_>, outbox_id: i64) -> StoreResult<()> {
    tx.prepare_cached("UPDATE fleet_state SET published_id = max(published_id, ?1) WHERE id = 1")?
        .execute([outbox_id])?;
    Ok(())
}

/// The `file` of every asset box `number` made (its id range).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn own_asset_files(conn: &Connection, number: u32) -> StoreResult<Vec<String>> {
    let first = i64::from(number) * BOX_SPAN;
    let mut stmt = conn.prepare_cached(
        "SELECT file FROM assets WHERE id >= ?1 AND id < ?2 AND file IS NOT NULL",
    )?;
    let files = stmt
        .query_map([first, first + BOX_SPAN], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(files)
}

/// Where this box stands: the catalogue position applied and the changes still to publish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Position {
    /// The last catalogue sequence applied here.
    pub applied_seq: u64,
    /// Changes made here not yet in this box's stream.
    pub outbox_depth: u64,
}

/// The box number and [`Position`] of the database at `path`, opened read-only (for
/// `roundwared fleet status`, safe while the daemon runs).
///
/// # Errors
/// The file cannot be opened, or SQLite failures.
pub(crate) fn read_only_position(path: &std::path::Path) -> StoreResult<(Option<u32>, Position)> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let number = identity(&conn)?.map(|(n, _)| n);
    Ok((number, position(&conn)?))
}

/// [`Position`] now (zeros on a standalone box).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn position(conn: &Connection) -> StoreResult<Position> {
    Ok(conn
        .prepare_cached(
            "SELECT f.applied_seq, (SELECT count(*) FROM outbox o
                                     WHERE o.id > f.published_id AND o.from_fleet = 0)
               FROM fleet_state f WHERE f.id = 1",
        )?
        .query_row([], |r| {
            Ok(Position {
                applied_seq: r.get::<_, i64>(0)?.try_into().unwrap_or(0),
                outbox_depth: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
            })
        })
        .optional()?
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrated_in_memory;

    #[test]
    fn the_publication_cursor_passes_changes_applied_from_the_catalogue() {
        let mut conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO fleet_state (id, box, uid) VALUES (1, 2, 'u');
             INSERT INTO outbox (created_ms, object_type, object_id, is_deleted, from_fleet)
                  VALUES (1, 'asset', 7, 0, 1), (1, 'asset', 8, 0, 1);",
        )
        .unwrap();
        let found = to_publish(&conn, false, 10).unwrap();
        assert!(found.changes.is_empty());
        assert_eq!(found.through, 2);
        let tx = conn.transaction().unwrap();
        published(&tx, found.through).unwrap();
        tx.execute(
            "INSERT INTO outbox (created_ms, object_type, object_id, is_deleted)
                  VALUES (1, 'vote', 9, 1)",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
        let found = to_publish(&conn, false, 10).unwrap();
        assert_eq!(
            found.changes.len(),
            1,
            "a change made here is still published"
        );
        assert_eq!((found.changes[0].outbox_id, found.through), (3, 3));
        assert!(
            found.changes[0].state.is_none(),
            "a deleted vote goes as a tombstone"
        );
    }

    #[test]
    fn a_box_sends_listen_events_and_visitors_events_as_telemetry_and_the_hub_keeps_its_own() {
        let conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO fleet_state (id, box, uid) VALUES (1, 2, 'u');
             INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd');
             INSERT INTO sessions (id, starttime, project_id) VALUES (5, 't', 1);
             INSERT INTO assets (id, session_id, project_id, created, updated) VALUES (6, 5, 1, 't', 't');
             INSERT INTO listen_events (id, session_id, asset_id, starttime) VALUES (7, 5, 6, 't');
             INSERT INTO events (id, server_time, session_id, event_type) VALUES
                  (8, 't', 5, 'tour_step'), (9, 't', 5, 'start_upload');
             INSERT INTO outbox (created_ms, object_type, object_id, is_deleted) VALUES
                  (1, 'listenevent', 7, 0), (1, 'event', 8, 0), (1, 'event', 9, 0);",
        )
        .unwrap();
        let sent = |config: bool| -> Vec<(Option<&str>, bool)> {
            to_publish(&conn, config, 10)
                .unwrap()
                .changes
                .iter()
                .map(|c| (c.kind.map(|k| k.name), c.telemetry))
                .collect()
        };
        assert_eq!(
            sent(false),
            [
                (Some("listenevent"), true),
                (Some("event"), true),
                (None, false)
            ],
            "the upload's own event stays"
        );
        assert_eq!(sent(true), [(None, false), (None, false), (None, false)]);
    }

    #[test]
    fn a_standalone_box_leaves_ids_to_sqlite() {
        let mut conn = migrated_in_memory();
        let tx = conn.transaction().unwrap();
        assert_eq!(next_id(&tx, "assets").unwrap(), None);
    }

    #[test]
    fn a_fleet_box_numbers_its_rows_in_its_range_per_table_and_never_twice() {
        let mut conn = migrated_in_memory();
        let tx = conn.transaction().unwrap();
        claim(&tx, 2).unwrap();
        assert_eq!(next_id(&tx, "assets").unwrap(), Some(2 * BOX_SPAN + 1));
        assert_eq!(next_id(&tx, "assets").unwrap(), Some(2 * BOX_SPAN + 2));
        assert_eq!(next_id(&tx, "sessions").unwrap(), Some(2 * BOX_SPAN + 1));
        claim(&tx, 2).unwrap();
        let refused = claim(&tx, 3).unwrap_err().to_string();
        assert!(refused.contains("belongs to box 2"), "{refused}");
    }

    #[test]
    fn the_last_box_stops_below_two_to_the_53() {
        let mut conn = migrated_in_memory();
        let tx = conn.transaction().unwrap();
        claim(&tx, MAX_BOX).unwrap();
        let last_exact = MAX_EXACT_ID - i64::from(MAX_BOX) * BOX_SPAN;
        tx.execute(
            "INSERT INTO fleet_seq (table_name, last) VALUES ('assets', ?1)",
            [last_exact - 1],
        )
        .unwrap();
        assert_eq!(next_id(&tx, "assets").unwrap(), Some(MAX_EXACT_ID));
        let refused = next_id(&tx, "assets").unwrap_err().to_string();
        assert!(refused.contains("used up"), "{refused}");
    }

    #[test]
    fn a_standalone_box_with_rows_of_its_own_is_told_to_join() {
        let mut conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd');
             INSERT INTO sessions (id, starttime, project_id) VALUES (5, 's', 1);",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        let refused = claim(&tx, 2).unwrap_err().to_string();
        assert!(refused.contains("fleet join"), "{refused}");
        assert_eq!(box_number(&tx).unwrap(), None);
    }
}
