//! Who owns what (decisions.md): an asset, vote, listen event, event or envelope belongs to the
//! user whose session made it, a session to the user who opened it (`sessions.user_id`, set
//! from the caller's token). `None` means nobody but staff: the demo's and staff's objects
//! without a session, the box's own listening session, rows made before owners were recorded.
//!
//! Owns: the ownership queries. May not touch: access decisions (the API asks
//! `Caller::may_change` with what these return).

use rusqlite::{Connection, OptionalExtension};

use super::{StoreError, StoreResult};

/// The objects owned through their session: (table, name for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owned {
    /// `assets`
    Asset,
    /// `votes`
    Vote,
    /// `listen_events`
    ListenEvent,
    /// `events`
    Event,
    /// `envelopes`
    Envelope,
}

impl Owned {
    fn table(self) -> &'static str {
        match self {
            Self::Asset => "assets",
            Self::Vote => "votes",
            Self::ListenEvent => "listen_events",
            Self::Event => "events",
            Self::Envelope => "envelopes",
        }
    }

    /// The object's name in messages and not-found errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Asset => "asset",
            Self::Vote => "vote",
            Self::ListenEvent => "listen event",
            Self::Event => "event",
            Self::Envelope => "envelope",
        }
    }
}

/// The owner of session `id`.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such session.
pub(crate) fn of_session(conn: &Connection, id: i64) -> StoreResult<Option<i64>> {
    of_session_if_any(conn, id)?.ok_or_else(|| StoreError::not_found("session", id))
}

/// The owner of session `id` if the session exists: `None` for no such session, `Some(None)`
/// for a session nobody owns.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn of_session_if_any(conn: &Connection, id: i64) -> StoreResult<Option<Option<i64>>> {
    Ok(conn
        .prepare_cached("SELECT user_id FROM sessions WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// The owner of object `id` of kind `what`: the user of its session.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such object.
pub(crate) fn of(conn: &Connection, what: Owned, id: i64) -> StoreResult<Option<i64>> {
    conn.prepare_cached(&format!(
        "SELECT s.user_id FROM {} o LEFT JOIN sessions s ON s.id = o.session_id WHERE o.id = ?1",
        what.table()
    ))?
    .query_row([id], |r| r.get::<_, Option<i64>>(0))
    .optional()?
    .ok_or_else(|| StoreError::not_found(what.name(), id))
}

/// Who may download the media files of stem `stem` (every file `stem.*` of one upload):
/// `None` when anyone may (a submitted recording, a speaker bed, a file no asset names),
/// `Some(owner)` when only that owner and staff may (every asset naming the stem is
/// unsubmitted: recordings waiting for moderation or withdrawn are not published).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn of_unpublished_media(
    conn: &Connection,
    stem: &str,
) -> StoreResult<Option<Option<i64>>> {
    // Stored names are `<stem>.<ext>`; `stem.` ≤ name < `stem/` selects exactly them ('/' is
    // the character after '.') and uses the indexes on `file` and `filename`.
    let (low, high) = (format!("{stem}."), format!("{stem}/"));
    let mut stmt = conn.prepare_cached(
        "SELECT a.submitted, s.user_id FROM assets a LEFT JOIN sessions s ON s.id = a.session_id
          WHERE (a.file >= ?1 AND a.file < ?2) OR (a.filename >= ?1 AND a.filename < ?2)",
    )?;
    let rows = stmt.query_map([&low, &high], |r| {
        Ok((r.get::<_, bool>(0)?, r.get::<_, Option<i64>>(1)?))
    })?;
    let mut private: Option<Option<i64>> = None;
    for row in rows {
        let (submitted, owner) = row?;
        if submitted {
            return Ok(None);
        }
        private = Some(owner);
    }
    Ok(private)
}

/// The ids of the sessions `user_id` opened (for "your own only" list filters).
///
/// # Errors
/// Only SQLite failures.
#[cfg(test)]
pub(crate) fn sessions_of(conn: &Connection, user_id: i64) -> StoreResult<Vec<i64>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM sessions WHERE user_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([user_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> Connection {
        let conn = crate::store::migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date)
                  VALUES (1, 'p', 0, 0, '2026-01-01T00:00:00');
             INSERT INTO users (id, username, date_joined, device_id)
                  VALUES (7, 'alice', '2026-01-01T00:00:00', 'phone-a');
             INSERT INTO sessions (id, device_id, starttime, project_id, user_id)
                  VALUES (3, 'phone-a', '2026-01-01T00:00:00', 1, 7),
                         (4, NULL, '2026-01-01T00:00:00', 1, NULL);
             INSERT INTO envelopes (id, session_id, created) VALUES (10, 3, '2026-01-01T00:00:00'),
                                                                  (11, 4, '2026-01-01T00:00:00');",
        )
        .expect("seed");
        conn
    }

    #[test]
    fn unsubmitted_recordings_media_is_private_to_their_owner_and_submitted_media_is_public() {
        let conn = seeded();
        conn.execute_batch(
            "INSERT INTO assets (id, session_id, file, filename, submitted, created, updated)
                  VALUES (20, 3, '20260101-000000-3.wav', '20260101-000000-3.pcm.wav', 0,
                          '2026-01-01T00:00:00', '2026-01-01T00:00:00'),
                         (21, 3, '20260101-000001-3.m4a', '20260101-000001-3.wav', 1,
                          '2026-01-01T00:00:00', '2026-01-01T00:00:00');",
        )
        .expect("assets");
        assert_eq!(
            of_unpublished_media(&conn, "20260101-000000-3").unwrap(),
            Some(Some(7))
        );
        assert_eq!(
            of_unpublished_media(&conn, "20260101-000001-3").unwrap(),
            None
        );
        assert_eq!(of_unpublished_media(&conn, "speaker-bed").unwrap(), None);
        // A stem that is a prefix of another stem's name is not confused with it.
        assert_eq!(
            of_unpublished_media(&conn, "20260101-000000").unwrap(),
            None
        );
    }

    #[test]
    fn the_owners_migration_gives_old_sessions_their_devices_user_and_reserves_the_box_device() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(crate::store::MIGRATIONS[0])
            .expect("schema 1");
        conn.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date)
                  VALUES (1, 'p', 0, 0, '2026-01-01T00:00:00');
             INSERT INTO users (id, username, date_joined, device_id)
                  VALUES (5, 'x', '2026-01-01T00:00:00', 'phone-x'),
                         (6, 'squatter', '2026-01-01T00:00:00', 'roundwared-local');
             INSERT INTO sessions (id, device_id, starttime, project_id)
                  VALUES (1, 'phone-x', '2026-01-01T00:00:00', 1),
                         (2, 'roundwared-local', '2026-01-01T00:00:00', 1),
                         (3, NULL, '2026-01-01T00:00:00', 1);",
        )
        .expect("old data");
        conn.execute_batch(crate::store::MIGRATIONS[1])
            .expect("schema 2");
        assert_eq!(of_session(&conn, 1).unwrap(), Some(5));
        // Nobody can tell the box's session from the squatter's: the squatter keeps it, and the
        // local listener (which takes only a session without a user) opens a fresh one.
        assert_eq!(of_session(&conn, 2).unwrap(), Some(6));
        assert_eq!(of_session(&conn, 3).unwrap(), None);
        let device: Option<String> = conn
            .query_row("SELECT device_id FROM users WHERE id = 6", [], |r| r.get(0))
            .unwrap();
        assert_eq!(device, None, "the reserved device id is taken back");
    }

    #[test]
    fn an_object_belongs_to_the_user_of_its_session_and_a_sessionless_one_to_nobody() {
        let conn = seeded();
        assert_eq!(of(&conn, Owned::Envelope, 10).unwrap(), Some(7));
        assert_eq!(of(&conn, Owned::Envelope, 11).unwrap(), None);
        assert_eq!(of_session(&conn, 3).unwrap(), Some(7));
        assert_eq!(sessions_of(&conn, 7).unwrap(), vec![3]);
        assert!(matches!(
            of(&conn, Owned::Envelope, 99),
            Err(StoreError::NotFound {
                what: "envelope",
                ..
            })
        ));
        assert!(matches!(
            of_session(&conn, 99),
            Err(StoreError::NotFound {
                what: "session",
                ..
            })
        ));
    }
}
