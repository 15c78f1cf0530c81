//! `roundwared fleet join`: a standalone box's own rows renumbered once into its fleet range
//! (fleet.md §3.3), so that they can travel without colliding with any other box's.
//!
//! Users, sessions, envelopes, recordings, votes, listen events and events take `box × 10^12 + 1, 2, …` in their old
//! order; every reference to them follows (found from the schema's foreign keys, so a table
//! added later is not forgotten), and so do the localized strings' links, the event outbox's
//! history (which the box then publishes to the venue) and the per-table counters. One
//! transaction with the foreign keys checked at its end: all or nothing.
//!
//! Owns: the renumbering. May not touch: media files (their names stay), NATS.

use rusqlite::Transaction;

use super::{BOX_SPAN, box_number};
use crate::store::{StoreError, StoreResult};

/// The tables renumbered, with the outbox's name for their objects (users have none).
const RENUMBERED: [(&str, Option<&str>); 7] = [
    ("users", None),
    ("sessions", Some("session")),
    ("envelopes", Some("envelope")),
    ("assets", Some("asset")),
    ("votes", Some("vote")),
    ("listen_events", Some("listenevent")),
    ("events", Some("event")),
];

/// Renumbers the database's own rows into box `number`'s range and makes it that box's;
/// returns how many rows of each table moved.
///
/// # Errors
/// [`StoreError::Conflict`] naming `fleet.box` for a database already in a fleet or a number
/// out of range; SQLite failures (nothing is changed then).
pub(crate) fn join(tx: &Transaction<'_>, number: u32) -> StoreResult<Vec<(&'static str, i64)>> {
    if !(1..=crate::config::MAX_BOX).contains(&number) {
        return Err(StoreError::conflict(
            "fleet.box",
            format!(
                "{number} is not a box number (1 to {})",
                crate::config::MAX_BOX
            ),
        ));
    }
    if let Some(n) = box_number(tx)? {
        return Err(StoreError::conflict(
            "fleet.box",
            format!("this database is already box {n}'s"),
        ));
    }
    tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
    let base = i64::from(number) * BOX_SPAN;
    let tables: Vec<String> = tx
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut moved = Vec::new();
    for (table, object_type) in RENUMBERED {
        tx.execute_batch(&format!(
            "DROP TABLE IF EXISTS temp.renumber;
             CREATE TEMP TABLE renumber (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);
             INSERT INTO temp.renumber
                  SELECT id, {base} + row_number() OVER (ORDER BY id) FROM \"{table}\";"
        ))?;
        let count: i64 = tx.query_row("SELECT count(*) FROM temp.renumber", [], |r| r.get(0))?;
        for child in &tables {
            let references: Vec<String> = tx
                .prepare(
                    "SELECT \"from\" FROM pragma_foreign_key_list(?1)
                      WHERE \"table\" = ?2 AND coalesce(\"to\", 'id') = 'id'",
                )?
                .query_map([child.as_str(), table], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for column in references {
                tx.execute_batch(&format!(
                    "UPDATE \"{child}\" SET \"{column}\" =
                        (SELECT new FROM temp.renumber WHERE old = \"{child}\".\"{column}\")
                      WHERE \"{column}\" IN (SELECT old FROM temp.renumber)"
                ))?;
            }
        }
        if let Some(object_type) = object_type {
            tx.execute(
                "UPDATE loc_links SET owner_id =
                    (SELECT new FROM temp.renumber WHERE old = loc_links.owner_id)
                  WHERE owner = ?1 AND owner_id IN (SELECT old FROM temp.renumber)",
                [object_type],
            )?;
            tx.execute(
                "UPDATE outbox SET object_id =
                    (SELECT new FROM temp.renumber WHERE old = outbox.object_id)
                  WHERE object_type = ?1 AND object_id IN (SELECT old FROM temp.renumber)",
                [object_type],
            )?;
        }
        // Every new id is above every old one: no row takes an id still in use.
        tx.execute_batch(&format!(
            "UPDATE \"{table}\" SET id = (SELECT new FROM temp.renumber WHERE old = \"{table}\".id);
             DROP TABLE temp.renumber;"
        ))?;
        tx.execute(
            "INSERT INTO fleet_seq (table_name, last) VALUES (?1, ?2)
             ON CONFLICT (table_name) DO UPDATE SET last = max(last, excluded.last)",
            rusqlite::params![table, count],
        )?;
        moved.push((table, count));
    }
    let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        return Err(StoreError::conflict(
            "fleet.box",
            format!("{broken} references would not follow the renumbering; nothing was changed"),
        ));
    }
    tx.execute(
        "INSERT INTO fleet_state (id, box, uid) VALUES (1, ?1, ?2)",
        rusqlite::params![number, format!("{:032x}", rand::random::<u128>())],
    )?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fleet::rows::{kind_named, read_state};
    use crate::store::migrated_in_memory;

    #[test]
    fn a_standalone_box_joins_with_its_rows_and_every_reference_in_its_range() {
        let mut conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd');
             INSERT INTO tag_categories (id, name) VALUES (1, 'c');
             INSERT INTO tags (id, value, tag_category_id) VALUES (7, 'seven', 1);
             INSERT INTO users (id, username, date_joined) VALUES (3, 'v', 'd');
             INSERT INTO tokens (key, user_id, created) VALUES ('k', 3, 'd');
             INSERT INTO sessions (id, starttime, project_id) VALUES (5, 's', 1), (6, 's', 1);
             INSERT INTO envelopes (id, session_id, created) VALUES (9, 6, 'c');
             INSERT INTO assets (id, session_id, user_id, project_id, created, updated, file,
                                 initialenvelope_id)
                  VALUES (4, 6, 3, 1, 'c', 'u', 'x.wav', 9);
             INSERT INTO asset_tags VALUES (4, 7);
             INSERT INTO envelope_assets VALUES (9, 4);
             INSERT INTO votes (id, voter_id, session_id, asset_id, type) VALUES (2, 3, 5, 4, 'like');
             INSERT INTO listen_events (id, session_id, asset_id, starttime) VALUES (8, 5, 4, 't');
             INSERT INTO events (id, server_time, session_id, event_type) VALUES (3, 't', 6, 'x');
             INSERT INTO outbox (created_ms, object_type, object_id, is_deleted)
                  VALUES (1, 'asset', 4, 0);",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        let moved = join(&tx, 7).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            moved,
            vec![
                ("users", 1),
                ("sessions", 2),
                ("envelopes", 1),
                ("assets", 1),
                ("votes", 1),
                ("listen_events", 1),
                ("events", 1)
            ]
        );
        let b = 7 * BOX_SPAN;
        let asset = read_state(&conn, kind_named("asset").unwrap(), b + 1)
            .unwrap()
            .expect("the recording under its new id");
        let row = &asset["rows"]["assets"][0];
        assert_eq!(row["session_id"], b + 2, "the second session");
        assert_eq!(row["user_id"], b + 1);
        assert_eq!(row["initialenvelope_id"], b + 1);
        assert_eq!(
            asset["rows"]["asset_tags"][0]["tag_id"], 7,
            "tags are configuration"
        );
        assert_eq!(asset["rows"]["envelope_assets"][0]["envelope_id"], b + 1);
        let vote: (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT id, voter_id, session_id, asset_id FROM votes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(vote, (b + 1, b + 1, b + 1, b + 1));
        let heard: (i64, i64, i64) = conn
            .query_row(
                "SELECT l.id, l.session_id, e.session_id FROM listen_events l, events e",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            heard,
            (b + 1, b + 1, b + 2),
            "listen events and events travel too"
        );
        let token_user: i64 = conn
            .query_row("SELECT user_id FROM tokens WHERE key = 'k'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(token_user, b + 1);
        let outboxed: i64 = conn
            .query_row("SELECT object_id FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(outboxed, b + 1);
        // The next recording continues the range; joining again is refused.
        let tx = conn.transaction().unwrap();
        assert_eq!(super::super::next_id(&tx, "assets").unwrap(), Some(b + 2));
        assert!(
            join(&tx, 7)
                .unwrap_err()
                .to_string()
                .contains("already box 7")
        );
    }
}
