//! App.net app streams and filters as rows: each belongs to the user whose token made it (a
//! token is one user's), and a stream is a cursor into the outbox ([`super::outbox`]).
//!
//! Owns: the `event_streams` and `event_filters` tables. May not touch: filter semantics
//! (stored as the JSON the event service validated), connections.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{StoreError, StoreResult, outbox};

/// A stored filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FilterRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// The filter as App.net shows it (name, match_policy, clauses), validated before storing.
    pub body: Value,
}

/// A stored stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// The caller's name for it, unique per user.
    pub key: Option<String>,
    /// Object types delivered.
    pub object_types: Vec<String>,
    /// Its filter, if any.
    pub filter_id: Option<i64>,
    /// The last outbox id written to a consumer.
    pub cursor: i64,
    /// Messages left unread when the last connection overflowed (0: it did not).
    pub overflowed: i64,
}

/// What a create or update of a stream sets.
#[derive(Debug, Clone)]
pub(crate) struct StreamInput {
    /// `key`.
    pub key: Option<String>,
    /// `object_types`.
    pub object_types: Vec<String>,
    /// `filter_id`.
    pub filter_id: Option<i64>,
}

fn filter_from_row(r: &Row<'_>) -> rusqlite::Result<FilterRow> {
    let body: String = r.get(2)?;
    Ok(FilterRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    })
}

fn stream_from_row(r: &Row<'_>) -> rusqlite::Result<StreamRow> {
    let types: String = r.get(3)?;
    Ok(StreamRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        key: r.get(2)?,
        object_types: serde_json::from_str(&types).unwrap_or_default(),
        filter_id: r.get(4)?,
        cursor: r.get(5)?,
        overflowed: r.get(6)?,
    })
}

const FILTER: &str = "SELECT id, user_id, body FROM event_filters";
const STREAM: &str =
    "SELECT id, user_id, key, object_types, filter_id, cursor, overflowed FROM event_streams";

/// One of `user_id`'s filters.
///
/// # Errors
/// [`StoreError::NotFound`] when there is none (or it is someone else's).
pub(crate) fn filter(conn: &Connection, user_id: i64, id: i64) -> StoreResult<FilterRow> {
    conn.prepare_cached(&format!("{FILTER} WHERE id = ?1 AND user_id = ?2"))?
        .query_row(params![id, user_id], filter_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("filter", id))
}

/// A filter by id whoever owns it (a connected stream's filter).
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn filter_by_id(conn: &Connection, id: i64) -> StoreResult<FilterRow> {
    conn.prepare_cached(&format!("{FILTER} WHERE id = ?1"))?
        .query_row([id], filter_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("filter", id))
}

/// `user_id`'s filters, by id.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn filters(conn: &Connection, user_id: i64) -> StoreResult<Vec<FilterRow>> {
    let mut stmt = conn.prepare_cached(&format!("{FILTER} WHERE user_id = ?1 ORDER BY id"))?;
    let rows = stmt.query_map([user_id], filter_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores a new filter.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn create_filter(tx: &Connection, user_id: i64, body: &Value) -> StoreResult<FilterRow> {
    tx.execute(
        "INSERT INTO event_filters (user_id, body) VALUES (?1, ?2)",
        params![user_id, body.to_string()],
    )?;
    filter(tx, user_id, tx.last_insert_rowid())
}

/// Replaces a filter's body (its id stays).
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn replace_filter(
    tx: &Connection,
    user_id: i64,
    id: i64,
    body: &Value,
) -> StoreResult<FilterRow> {
    let n = tx.execute(
        "UPDATE event_filters SET body = ?1 WHERE id = ?2 AND user_id = ?3",
        params![body.to_string(), id, user_id],
    )?;
    if n == 0 {
        return Err(StoreError::not_found("filter", id));
    }
    filter(tx, user_id, id)
}

/// The ids of the streams using filter `id`.
fn streams_using(tx: &Connection, id: i64) -> StoreResult<Vec<i64>> {
    let mut stmt =
        tx.prepare_cached("SELECT id FROM event_streams WHERE filter_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes filters (`id`, or all of the user's) unless a stream uses one; returns them.
///
/// # Errors
/// [`StoreError::NotFound`]; [`StoreError::InUse`] naming the streams.
pub(crate) fn delete_filters(
    tx: &Connection,
    user_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<FilterRow>> {
    let doomed = match id {
        Some(id) => vec![filter(tx, user_id, id)?],
        None => filters(tx, user_id)?,
    };
    for f in &doomed {
        let users = streams_using(tx, f.id)?;
        if !users.is_empty() {
            let ids: Vec<String> = users.iter().map(i64::to_string).collect();
            return Err(StoreError::InUse(format!(
                "filter {} is used by stream {}; delete the stream or give it another filter first",
                f.id,
                ids.join(", ")
            )));
        }
    }
    for f in &doomed {
        tx.execute("DELETE FROM event_filters WHERE id = ?1", [f.id])?;
    }
    Ok(doomed)
}

/// One of `user_id`'s streams.
///
/// # Errors
/// [`StoreError::NotFound`] when there is none (or it is someone else's).
pub(crate) fn stream(conn: &Connection, user_id: i64, id: i64) -> StoreResult<StreamRow> {
    conn.prepare_cached(&format!("{STREAM} WHERE id = ?1 AND user_id = ?2"))?
        .query_row(params![id, user_id], stream_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("stream", id))
}

/// `user_id`'s streams by id, or the one with `key`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn streams(
    conn: &Connection,
    user_id: i64,
    key: Option<&str>,
) -> StoreResult<Vec<StreamRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{STREAM} WHERE user_id = ?1 AND (?2 IS NULL OR key = ?2) ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![user_id, key], stream_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Checks what a create or update refers to: the filter must be the user's, the key free.
fn check(tx: &Connection, user_id: i64, id: Option<i64>, input: &StreamInput) -> StoreResult<()> {
    if let Some(f) = input.filter_id {
        filter(tx, user_id, f).map_err(|_| {
            StoreError::conflict("filter_id", format!("filter {f} not found among yours"))
        })?;
    }
    if let Some(key) = &input.key {
        let taken: Option<i64> = tx
            .prepare_cached("SELECT id FROM event_streams WHERE user_id = ?1 AND key = ?2")?
            .query_row(params![user_id, key], |r| r.get(0))
            .optional()?;
        if taken.is_some_and(|t| Some(t) != id) {
            return Err(StoreError::conflict(
                "key",
                format!("a stream of yours with key {key:?} already exists"),
            ));
        }
    }
    Ok(())
}

/// Creates a stream reading from now on, unless the user has `max` already.
///
/// # Errors
/// [`StoreError::Conflict`] for the limit, a taken key or a filter that is not the user's.
pub(crate) fn create_stream(
    tx: &Connection,
    user_id: i64,
    input: &StreamInput,
    max: i64,
) -> StoreResult<StreamRow> {
    let n: i64 = tx.query_row(
        "SELECT COUNT(*) FROM event_streams WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    if n >= max {
        return Err(StoreError::conflict(
            "streams",
            format!(
                "this token has {n} streams, the most allowed ([events] max_streams_per_token = \
                 {max}); delete one first"
            ),
        ));
    }
    check(tx, user_id, None, input)?;
    tx.execute(
        "INSERT INTO event_streams (user_id, key, object_types, filter_id, cursor)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            user_id,
            input.key,
            serde_json::to_string(&input.object_types).unwrap_or_else(|_| "[]".into()),
            input.filter_id,
            outbox::head(tx)?
        ],
    )?;
    stream(tx, user_id, tx.last_insert_rowid())
}

/// Replaces a stream's key, object types and filter (its cursor stays).
///
/// # Errors
/// [`StoreError::NotFound`]; conflicts as [`create_stream`].
pub(crate) fn update_stream(
    tx: &Connection,
    user_id: i64,
    id: i64,
    input: &StreamInput,
) -> StoreResult<StreamRow> {
    stream(tx, user_id, id)?;
    check(tx, user_id, Some(id), input)?;
    tx.execute(
        "UPDATE event_streams SET key = ?1, object_types = ?2, filter_id = ?3 WHERE id = ?4",
        params![
            input.key,
            serde_json::to_string(&input.object_types).unwrap_or_else(|_| "[]".into()),
            input.filter_id,
            id
        ],
    )?;
    stream(tx, user_id, id)
}

/// Deletes streams (`id`, or all of the user's); returns them.
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn delete_streams(
    tx: &Connection,
    user_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<StreamRow>> {
    let doomed = match id {
        Some(id) => vec![stream(tx, user_id, id)?],
        None => streams(tx, user_id, None)?,
    };
    for s in &doomed {
        tx.execute("DELETE FROM event_streams WHERE id = ?1", [s.id])?;
    }
    Ok(doomed)
}

/// Deletes a stream whoever owns it (`?auto_delete=1` when its connection closes); a stream
/// already gone is fine.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn delete_by_id(tx: &Connection, id: i64) -> StoreResult<()> {
    tx.execute("DELETE FROM event_streams WHERE id = ?1", [id])?;
    Ok(())
}

/// Saves where consumers are: `(stream id, cursor, overflowed)`; streams deleted meanwhile
/// are skipped.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn save_cursors(tx: &Connection, cursors: &[(i64, i64, i64)]) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE event_streams SET cursor = MAX(cursor, ?2), overflowed = ?3 WHERE id = ?1",
    )?;
    for (id, cursor, overflowed) in cursors {
        stmt.execute(params![id, cursor, overflowed])?;
    }
    Ok(())
}

/// Moves a stream's cursor to `cursor` (purge, or a client resuming from an older
/// `Last-Event-ID`), clearing its overflow note.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn set_cursor(tx: &Connection, id: i64, cursor: i64) -> StoreResult<()> {
    tx.execute(
        "UPDATE event_streams SET cursor = ?2, overflowed = 0 WHERE id = ?1",
        params![id, cursor],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrated_in_memory;

    fn with_user() -> Connection {
        let conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO users (id, username, date_joined) VALUES (1, 'a', 'x'), (2, 'b', 'x');",
        )
        .unwrap();
        conn
    }

    fn input(key: Option<&str>, filter_id: Option<i64>) -> StreamInput {
        StreamInput {
            key: key.map(Into::into),
            object_types: vec!["asset".into()],
            filter_id,
        }
    }

    #[test]
    fn a_filter_in_use_cannot_be_deleted_and_the_error_names_the_stream() {
        let conn = with_user();
        let f = create_filter(&conn, 1, &serde_json::json!({"clauses": []})).unwrap();
        let s = create_stream(&conn, 1, &input(None, Some(f.id)), 5).unwrap();
        let err = delete_filters(&conn, 1, Some(f.id)).unwrap_err();
        assert!(matches!(&err, StoreError::InUse(m) if m.contains(&format!("stream {}", s.id))));
        delete_streams(&conn, 1, Some(s.id)).unwrap();
        assert_eq!(delete_filters(&conn, 1, None).unwrap().len(), 1);
    }

    #[test]
    fn streams_are_per_user_limited_and_keys_unique_per_user() {
        let conn = with_user();
        create_stream(&conn, 1, &input(Some("k"), None), 2).unwrap();
        let dup = create_stream(&conn, 1, &input(Some("k"), None), 2).unwrap_err();
        assert!(matches!(dup, StoreError::Conflict { field: "key", .. }));
        create_stream(&conn, 2, &input(Some("k"), None), 2).unwrap();
        create_stream(&conn, 1, &input(None, None), 2).unwrap();
        let over = create_stream(&conn, 1, &input(None, None), 2).unwrap_err();
        assert!(matches!(
            over,
            StoreError::Conflict {
                field: "streams",
                ..
            }
        ));
        assert_eq!(streams(&conn, 1, Some("k")).unwrap().len(), 1);
        assert_eq!(streams(&conn, 2, None).unwrap().len(), 1);
        assert!(
            stream(&conn, 2, 1).is_err(),
            "someone else's stream is not found"
        );
    }

    #[test]
    fn another_users_filter_cannot_be_attached() {
        let conn = with_user();
        let f = create_filter(&conn, 2, &serde_json::json!({})).unwrap();
        let err = create_stream(&conn, 1, &input(None, Some(f.id)), 5).unwrap_err();
        assert!(matches!(
            err,
            StoreError::Conflict {
                field: "filter_id",
                ..
            }
        ));
    }

    #[test]
    fn saved_cursors_never_move_back() {
        let conn = with_user();
        let s = create_stream(&conn, 1, &input(None, None), 5).unwrap();
        save_cursors(&conn, &[(s.id, 9, 0)]).unwrap();
        save_cursors(&conn, &[(s.id, 4, 3)]).unwrap();
        let now = stream(&conn, 1, s.id).unwrap();
        assert_eq!((now.cursor, now.overflowed), (9, 3));
        set_cursor(&conn, s.id, 2).unwrap();
        assert_eq!(stream(&conn, 1, s.id).unwrap().cursor, 2);
    }
}
