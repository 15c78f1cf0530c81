//! What the fleet hub still has to push to a central Roundware server, and what it pushed
//! (fleet.md §2.1 and §3.5.3). The venue's contributions are read from the hub's own
//! database, which holds every box's assets and votes (the catalogue) and their listen events
//! and events (telemetry): an asset, vote, listen event or event of a project carried from
//! central that is not yet in `remote_ids` for central is waiting to be pushed. Events the
//! server itself makes for an upload or a vote ([`OWN_EVENTS`]) are not pushed: central makes
//! its own when the upload or vote reaches it; nor are stream heartbeats.
//!
//! api/2 has no idempotency keys, so what is in flight is recorded in `central_push`: an
//! asset's central envelope before its upload, and for a vote or listen event that a create
//! was sent. A retry after an unknown outcome looks first (the envelope's assets, or the row
//! by its fields), so nothing is created twice. A pushed row's central id goes into
//! `remote_ids` with digest [`PUSHED`]; the pull recognises it there and never imports the
//! venue's own recording back as a new one. A 4xx answer makes the row a dead letter.
//!
//! Owns: `central_push`, the pushed rows of `remote_ids`. May not touch: HTTP, media files.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::super::{StoreResult, time};

/// The `remote_ids` digest of a row the venue pushed (not pulled): the pull leaves it alone.
pub(crate) const PUSHED: &str = "pushed";

/// Dead letters listed by [`backlog`].
const DEAD_SHOWN: i64 = 5;

/// A listen event without a duration is pushed once it is this old (a client that never
/// sends the duration must not hold it back for ever).
pub(crate) const LISTEN_SETTLE_S: i64 = 3600;

/// Event types not pushed: central records its own for the upload and the vote, and a
/// stream's heartbeats say only that a connection was open.
pub(crate) const OWN_EVENTS: [&str; 3] = ["start_upload", "vote_asset", "heartbeat"];

/// The visit a contribution was made in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Visit {
    /// The local session (`None`: made without one, pushed as the bridge's own).
    pub session_id: Option<i64>,
    /// Its device, whose user at central the contribution is attributed to.
    pub device_id: Option<String>,
    /// Its language code.
    pub language: Option<String>,
    /// Its session at central, once made.
    pub central_session: Option<i64>,
    /// The central project.
    pub central_project: i64,
}

/// An asset waiting to be pushed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssetToPush {
    /// Its local id.
    pub local_id: i64,
    /// Who made it, where.
    pub visit: Visit,
    /// Its envelope at central, when one was made.
    pub envelope: Option<i64>,
    /// Where it was recorded.
    pub latitude: Option<f64>,
    /// Where it was recorded.
    pub longitude: Option<f64>,
    /// Its description.
    pub description: String,
    /// `audio`, `photo`, `text`, `video`.
    pub media_type: String,
    /// Its volume.
    pub volume: Option<f64>,
    /// Its weight.
    pub weight: i64,
    /// Whether it is submitted.
    pub submitted: bool,
    /// Its tags, as central's ids (tags that did not come from central are left out).
    pub central_tags: Vec<i64>,
    /// Its playback file, relative to the media folder.
    pub filename: String,
}

/// A vote waiting to be pushed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VoteToPush {
    /// Its local id.
    pub local_id: i64,
    /// Who voted, where.
    pub visit: Visit,
    /// The asset's central id.
    pub central_asset: i64,
    /// `like`, `flag`, `rate`, …
    pub vote_type: String,
    /// Its value.
    pub value: Option<i64>,
    /// A create was sent whose answer never came: look before sending again.
    pub sent: bool,
}

/// A listen event waiting to be pushed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListenToPush {
    /// Its local id.
    pub local_id: i64,
    /// Who listened, where.
    pub visit: Visit,
    /// The asset's central id.
    pub central_asset: i64,
    /// When listening started (naive UTC).
    pub starttime: String,
    /// How long, in nanoseconds.
    pub duration_ns: Option<i64>,
    /// A create was sent whose answer never came: look before sending again.
    pub sent: bool,
}

/// An event waiting to be pushed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventToPush {
    /// Its local id.
    pub local_id: i64,
    /// Whose, where.
    pub visit: Visit,
    /// Its type.
    pub event_type: String,
    /// The client's time, as the client sent it.
    pub client_time: Option<String>,
    /// Its data text.
    pub data: Option<String>,
    /// Where (text, as stored).
    pub latitude: Option<String>,
    /// Where (text, as stored).
    pub longitude: Option<String>,
    /// Its tags, as central's ids.
    pub central_tags: Vec<i64>,
    /// A create was sent whose answer never came: look before sending again.
    pub sent: bool,
}

/// One dead letter: a contribution central refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct DeadLetter {
    /// `asset`, `vote`, `listenevent`, `event`.
    pub kind: String,
    /// Its local id.
    pub id: i64,
    /// What central answered.
    pub why: String,
    /// When (naive UTC).
    pub at: String,
}

/// The push's backlog.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Backlog {
    /// Contributions waiting to be pushed.
    pub waiting: u64,
    /// Contributions central has from this venue.
    pub pushed: u64,
    /// Contributions central refused.
    pub dead: u64,
    /// The latest dead letters, newest first.
    pub dead_letters: Vec<DeadLetter>,
}

/// The visit columns every query below selects first: session, device, language code,
/// central session, central project (`s` the session, `p` the project's `remote_ids`).
const VISIT: &str = "s.id, s.device_id, (SELECT l.language_code FROM languages l
         WHERE l.id = s.language_id),
       (SELECT rs.remote_id FROM remote_ids rs
         WHERE rs.tbl = 'sessions' AND rs.local_id = s.id AND rs.source = ?1),
       p.remote_id";

fn visit(r: &Row<'_>) -> rusqlite::Result<Visit> {
    Ok(Visit {
        session_id: r.get(0)?,
        device_id: r.get(1)?,
        language: r.get(2)?,
        central_session: r.get(3)?,
        central_project: r.get(4)?,
    })
}

/// Not yet at central, and not a dead letter (`x` the row, `tbl` its table).
fn waiting(tbl: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM remote_ids r
                      WHERE r.tbl = '{tbl}' AND r.local_id = x.id AND r.source = ?1)
         AND NOT EXISTS (SELECT 1 FROM central_push c
                          WHERE c.source = ?1 AND c.tbl = '{tbl}' AND c.local_id = x.id
                            AND c.dead IS NOT NULL)"
    )
}

/// Assets of a project carried from central (`p`), with a playback file, not yet there
/// (`?1` the source).
fn assets_waiting() -> String {
    format!(
        "FROM assets x
           JOIN remote_ids p ON p.tbl = 'projects' AND p.local_id = x.project_id
                            AND p.source = ?1
           LEFT JOIN sessions s ON s.id = x.session_id
          WHERE x.filename IS NOT NULL AND {}",
        waiting("assets")
    )
}

/// Votes on an asset central has (`a`), in a visit of a carried project, not yet there.
fn votes_waiting() -> String {
    format!(
        "FROM votes x
           JOIN remote_ids a ON a.tbl = 'assets' AND a.local_id = x.asset_id AND a.source = ?1
           JOIN sessions s ON s.id = x.session_id
           JOIN remote_ids p ON p.tbl = 'projects' AND p.local_id = s.project_id
                            AND p.source = ?1
          WHERE {}",
        waiting("votes")
    )
}

/// Listen events as votes, once finished or started before `?2`.
fn listens_waiting() -> String {
    format!(
        "FROM listen_events x
           JOIN remote_ids a ON a.tbl = 'assets' AND a.local_id = x.asset_id AND a.source = ?1
           JOIN sessions s ON s.id = x.session_id
           JOIN remote_ids p ON p.tbl = 'projects' AND p.local_id = s.project_id
                            AND p.source = ?1
          WHERE (x.duration IS NOT NULL OR x.starttime < ?2) AND {}",
        waiting("listen_events")
    )
}

/// Events in a visit of a carried project, but for [`OWN_EVENTS`], not yet there.
fn events_waiting() -> String {
    let own: Vec<String> = OWN_EVENTS.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "FROM events x
           JOIN sessions s ON s.id = x.session_id
           JOIN remote_ids p ON p.tbl = 'projects' AND p.local_id = s.project_id
                            AND p.source = ?1
          WHERE x.event_type NOT IN ({}) AND {}",
        own.join(", "),
        waiting("events")
    )
}

/// The assets waiting for central at `source`, oldest first: those of a project carried
/// from central, with a playback file, that central does not have yet.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn pending_assets(
    conn: &Connection,
    source: &str,
    limit: i64,
) -> StoreResult<Vec<AssetToPush>> {
    let sql = format!(
        "SELECT {VISIT}, x.id,
                (SELECT c.envelope FROM central_push c
                  WHERE c.source = ?1 AND c.tbl = 'assets' AND c.local_id = x.id),
                x.latitude, x.longitude, x.description, x.mediatype, x.volume, x.weight,
                x.submitted, x.filename
         {}
          ORDER BY x.id LIMIT ?2",
        assets_waiting()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_map(params![source, limit], |r| {
            Ok(AssetToPush {
                visit: visit(r)?,
                local_id: r.get(5)?,
                envelope: r.get(6)?,
                latitude: r.get(7)?,
                longitude: r.get(8)?,
                description: r.get(9)?,
                media_type: r.get(10)?,
                volume: r.get(11)?,
                weight: r.get(12)?,
                submitted: r.get(13)?,
                filename: r.get(14)?,
                central_tags: Vec::new(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut tags = conn.prepare_cached(
        "SELECT r.remote_id FROM asset_tags t
           JOIN remote_ids r ON r.tbl = 'tags' AND r.local_id = t.tag_id AND r.source = ?1
          WHERE t.asset_id = ?2 ORDER BY r.remote_id",
    )?;
    found
        .into_iter()
        .map(|mut a| {
            a.central_tags = tags
                .query_map(params![source, a.local_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(a)
        })
        .collect()
}

/// The votes waiting for central at `source`: those on an asset central has.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn pending_votes(
    conn: &Connection,
    source: &str,
    limit: i64,
) -> StoreResult<Vec<VoteToPush>> {
    let sql = format!(
        "SELECT {VISIT}, x.id, a.remote_id, x.type, x.value,
                EXISTS (SELECT 1 FROM central_push c
                         WHERE c.source = ?1 AND c.tbl = 'votes' AND c.local_id = x.id
                           AND c.sent)
         {}
          ORDER BY x.id LIMIT ?2",
        votes_waiting()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_map(params![source, limit], |r| {
            Ok(VoteToPush {
                visit: visit(r)?,
                local_id: r.get(5)?,
                central_asset: r.get(6)?,
                vote_type: r.get(7)?,
                value: r.get(8)?,
                sent: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(found)
}

/// The listen events waiting for central at `source`: those on an asset central has, once
/// finished (a duration) or [`LISTEN_SETTLE_S`] old.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn pending_listens(
    conn: &Connection,
    source: &str,
    limit: i64,
) -> StoreResult<Vec<ListenToPush>> {
    let settled = settled_before();
    let sql = format!(
        "SELECT {VISIT}, x.id, a.remote_id, x.starttime, x.duration,
                EXISTS (SELECT 1 FROM central_push c
                         WHERE c.source = ?1 AND c.tbl = 'listen_events' AND c.local_id = x.id
                           AND c.sent)
         {}
          ORDER BY x.id LIMIT ?3",
        listens_waiting()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_map(params![source, settled, limit], |r| {
            Ok(ListenToPush {
                visit: visit(r)?,
                local_id: r.get(5)?,
                central_asset: r.get(6)?,
                starttime: r.get(7)?,
                duration_ns: r.get(8)?,
                sent: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(found)
}

/// The events waiting for central at `source`, oldest first.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn pending_events(
    conn: &Connection,
    source: &str,
    limit: i64,
) -> StoreResult<Vec<EventToPush>> {
    let sql = format!(
        "SELECT {VISIT}, x.id, x.event_type, x.client_time, x.data, x.latitude, x.longitude,
                x.tags,
                EXISTS (SELECT 1 FROM central_push c
                         WHERE c.source = ?1 AND c.tbl = 'events' AND c.local_id = x.id
                           AND c.sent)
         {}
          ORDER BY x.id LIMIT ?2",
        events_waiting()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_map(params![source, limit], |r| {
            let tags: Option<String> = r.get(11)?;
            Ok((
                EventToPush {
                    visit: visit(r)?,
                    local_id: r.get(5)?,
                    event_type: r.get(6)?,
                    client_time: r.get(7)?,
                    data: r.get(8)?,
                    latitude: r.get(9)?,
                    longitude: r.get(10)?,
                    central_tags: Vec::new(),
                    sent: r.get(12)?,
                },
                tags,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut central = conn.prepare_cached(
        "SELECT remote_id FROM remote_ids WHERE tbl = 'tags' AND local_id = ?2 AND source = ?1",
    )?;
    found
        .into_iter()
        .map(|(mut e, tags)| {
            for tag in crate::store::events::parse_tags(tags.as_deref()) {
                if let Some(id) = central
                    .query_row(params![source, tag], |r| r.get(0))
                    .optional()?
                {
                    e.central_tags.push(id);
                }
            }
            Ok(e)
        })
        .collect()
}

fn settled_before() -> String {
    time::format(chrono::Utc::now().naive_utc() - chrono::Duration::seconds(LISTEN_SETTLE_S))
}

/// Records the envelope made at central for asset `local_id`, before its upload.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn record_envelope(
    tx: &Transaction<'_>,
    source: &str,
    local_id: i64,
    envelope: i64,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO central_push (source, tbl, local_id, envelope) VALUES (?1, 'assets', ?2, ?3)
         ON CONFLICT (source, tbl, local_id) DO UPDATE SET envelope = excluded.envelope",
    )?
    .execute(params![source, local_id, envelope])?;
    Ok(())
}

/// Records that a create of `tbl` row `local_id` is about to be sent (its answer may never
/// come: the next try looks first).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn record_sent(
    tx: &Transaction<'_>,
    source: &str,
    tbl: &str,
    local_id: i64,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO central_push (source, tbl, local_id, sent) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (source, tbl, local_id) DO UPDATE SET sent = 1",
    )?
    .execute(params![source, tbl, local_id])?;
    Ok(())
}

/// Records that central has `tbl` row `local_id` as `remote_id` (in `project`): it is not
/// pushed again, and the pull recognises it. A central id already recorded for another row
/// is refused (`false`): central's row is someone else's.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn record_pushed(
    tx: &Transaction<'_>,
    source: &str,
    tbl: &str,
    local_id: i64,
    remote_id: i64,
    project: i64,
) -> StoreResult<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO remote_ids (source, tbl, remote_id, local_id, project, digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (source, tbl, remote_id) DO NOTHING",
        )?
        .execute(params![source, tbl, remote_id, local_id, project, PUSHED])?;
    if inserted == 1 {
        tx.prepare_cached(
            "DELETE FROM central_push WHERE source = ?1 AND tbl = ?2 AND local_id = ?3",
        )?
        .execute(params![source, tbl, local_id])?;
    }
    Ok(inserted == 1)
}

/// The central ids of `tbl` already recorded (to tell a row found at central from another
/// row's).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn is_known(
    conn: &Connection,
    source: &str,
    tbl: &str,
    remote_id: i64,
) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM remote_ids WHERE source = ?1 AND tbl = ?2 AND remote_id = ?3",
        )?
        .exists(params![source, tbl, remote_id])?)
}

/// Records the session made at central for local session `local_id`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn record_session(
    tx: &Transaction<'_>,
    source: &str,
    local_id: i64,
    remote_id: i64,
    project: i64,
) -> StoreResult<()> {
    record_pushed(tx, source, "sessions", local_id, remote_id, project)?;
    Ok(())
}

/// Makes `tbl` row `local_id` a dead letter: central refused it (`why`).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn record_dead(
    tx: &Transaction<'_>,
    source: &str,
    tbl: &str,
    local_id: i64,
    why: &str,
) -> StoreResult<()> {
    let why: String = why.chars().take(500).collect();
    tx.prepare_cached(
        "INSERT INTO central_push (source, tbl, local_id, dead, dead_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, tbl, local_id) DO UPDATE SET dead = ?4, dead_at = ?5",
    )?
    .execute(params![source, tbl, local_id, why, time::now()])?;
    Ok(())
}

/// The local asset the venue pushed in one of `envelopes` (central's ids), if any: central
/// lists an upload whose answer the bridge never had.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn pushed_in_envelope(
    conn: &Connection,
    source: &str,
    envelopes: &[i64],
) -> StoreResult<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT local_id FROM central_push
          WHERE source = ?1 AND tbl = 'assets' AND envelope = ?2",
    )?;
    for envelope in envelopes {
        if let Some(local) = stmt
            .query_row(params![source, envelope], |r| r.get(0))
            .optional()?
        {
            return Ok(Some(local));
        }
    }
    Ok(None)
}

/// The push's backlog at `source`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn backlog(conn: &Connection, source: &str) -> StoreResult<Backlog> {
    let count = |sql: &str, settled: Option<String>| -> StoreResult<u64> {
        let mut stmt = conn.prepare_cached(sql)?;
        let n: i64 = match settled {
            Some(t) => stmt.query_row(params![source, t], |r| r.get(0))?,
            None => stmt.query_row(params![source], |r| r.get(0))?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let waiting = count(&format!("SELECT count(*) {}", assets_waiting()), None)?
        + count(&format!("SELECT count(*) {}", votes_waiting()), None)?
        + count(
            &format!("SELECT count(*) {}", listens_waiting()),
            Some(settled_before()),
        )?
        + count(&format!("SELECT count(*) {}", events_waiting()), None)?;
    let pushed = count(
        "SELECT count(*) FROM remote_ids
          WHERE source = ?1 AND digest = 'pushed' AND tbl <> 'sessions'",
        None,
    )?;
    let dead = count(
        "SELECT count(*) FROM central_push WHERE source = ?1 AND dead IS NOT NULL",
        None,
    )?;
    let dead_letters = conn
        .prepare_cached(
            "SELECT tbl, local_id, dead, dead_at FROM central_push
              WHERE source = ?1 AND dead IS NOT NULL ORDER BY dead_at DESC LIMIT ?2",
        )?
        .query_map(params![source, DEAD_SHOWN], |r| {
            let tbl: String = r.get(0)?;
            Ok(DeadLetter {
                kind: kind_of(&tbl).to_owned(),
                id: r.get(1)?,
                why: r.get(2)?,
                at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Backlog {
        waiting,
        pushed,
        dead,
        dead_letters,
    })
}

/// The object kind a table's rows are (as the console names them).
fn kind_of(tbl: &str) -> &str {
    match tbl {
        "assets" => "asset",
        "votes" => "vote",
        "listen_events" => "listenevent",
        "events" => "event",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrated_in_memory;

    const CENTRAL: &str = "http://central/api/2/";

    /// Project 1 came from central (its 70), project 2 is the venue's own; tag 5 is central's
    /// 700, tag 6 the venue's. Session 10 (device phone-1, Spanish) is in project 1, 11 in 2.
    /// Asset 100 was pulled from central (its 7000); 101 and 102 were recorded at the venue in
    /// project 1 (101 tagged 5 and 6), 103 in project 2.
    fn venue() -> Connection {
        let conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO languages (id, name, language_code) VALUES (2, 'Español', 'es');
             INSERT INTO projects (id, name, latitude, longitude, pub_date)
                  VALUES (1, 'Central', 0, 0, 'd'), (2, 'Ours', 0, 0, 'd');
             INSERT INTO tags (id, project_id, value) VALUES (5, 1, 'birds'), (6, 1, 'ours');
             INSERT INTO sessions (id, device_id, starttime, project_id, language_id)
                  VALUES (10, 'phone-1', 't', 1, 2), (11, 'phone-2', 't', 2, 1);
             INSERT INTO assets (id, session_id, project_id, created, updated, filename, latitude, longitude)
                  VALUES (100, NULL, 1, 't', 't', 'c.mp3', NULL, NULL),
                         (101, 10, 1, 't', 't', 'a.mp3', 1.5, 2.5),
                         (102, 10, 1, 't', 't', 'b.mp3', NULL, NULL),
                         (103, 11, 2, 't', 't', 'd.mp3', NULL, NULL);
             INSERT INTO asset_tags (asset_id, tag_id) VALUES (101, 5), (101, 6);
             INSERT INTO remote_ids (source, tbl, remote_id, local_id, project, digest) VALUES
                  ('http://central/api/2/', 'projects', 70, 1, 70, 'x'),
                  ('http://central/api/2/', 'tags', 700, 5, 70, 'x'),
                  ('http://central/api/2/', 'assets', 7000, 100, 70, 'x');",
        )
        .unwrap();
        conn
    }

    fn waiting_assets(conn: &Connection) -> Vec<i64> {
        pending_assets(conn, CENTRAL, 10)
            .unwrap()
            .iter()
            .map(|a| a.local_id)
            .collect()
    }

    fn in_tx<T>(conn: &mut Connection, f: impl FnOnce(&Transaction<'_>) -> T) -> T {
        let tx = conn.transaction().unwrap();
        let out = f(&tx);
        tx.commit().unwrap();
        out
    }

    #[test]
    fn only_the_venues_own_recordings_of_projects_from_central_wait_with_their_visit_and_central_tags()
     {
        let conn = venue();
        let waiting = pending_assets(&conn, CENTRAL, 10).unwrap();
        assert_eq!(
            waiting.iter().map(|a| a.local_id).collect::<Vec<_>>(),
            [101, 102],
            "not the one pulled from central, not the one of the venue's own project"
        );
        let first = &waiting[0];
        assert_eq!(
            first.visit,
            Visit {
                session_id: Some(10),
                device_id: Some("phone-1".into()),
                language: Some("es".into()),
                central_session: None,
                central_project: 70,
            }
        );
        assert_eq!(first.central_tags, [700], "the venue's own tag stays here");
        assert_eq!((first.latitude, first.longitude), (Some(1.5), Some(2.5)));
        assert_eq!(first.filename, "a.mp3");
        assert_eq!(first.envelope, None);
        assert_eq!(
            pending_assets(&conn, "http://other/api/2/", 10).unwrap(),
            []
        );
    }

    #[test]
    fn an_envelope_recorded_before_the_upload_is_found_again_and_a_pushed_recording_waits_no_more()
    {
        let mut conn = venue();
        in_tx(&mut conn, |tx| record_envelope(tx, CENTRAL, 101, 55)).unwrap();
        in_tx(&mut conn, |tx| record_session(tx, CENTRAL, 10, 900, 70)).unwrap();
        let waiting = pending_assets(&conn, CENTRAL, 10).unwrap();
        assert_eq!(waiting[0].envelope, Some(55));
        assert_eq!(waiting[1].visit.central_session, Some(900));
        assert_eq!(
            pushed_in_envelope(&conn, CENTRAL, &[54, 55]).unwrap(),
            Some(101)
        );
        assert_eq!(pushed_in_envelope(&conn, CENTRAL, &[54]).unwrap(), None);

        assert!(
            in_tx(&mut conn, |tx| record_pushed(
                tx, CENTRAL, "assets", 101, 7001, 70
            ))
            .unwrap()
        );
        assert_eq!(waiting_assets(&conn), [102]);
        assert!(
            is_known(&conn, CENTRAL, "assets", 7001).unwrap(),
            "the pull recognises it"
        );
        let known = super::super::import::known_asset(&conn, CENTRAL, 7001)
            .unwrap()
            .unwrap();
        assert!(known.pushed, "and leaves it alone");
        // Central answering an id that is already another row's is refused.
        assert!(
            !in_tx(&mut conn, |tx| record_pushed(
                tx, CENTRAL, "assets", 102, 7001, 70
            ))
            .unwrap()
        );
        assert_eq!(waiting_assets(&conn), [102]);
    }

    #[test]
    fn votes_and_listen_events_wait_for_their_asset_at_central_and_a_refusal_is_a_dead_letter() {
        let mut conn = venue();
        conn.execute_batch(
            "INSERT INTO votes (id, session_id, asset_id, type, value) VALUES
                  (1, 10, 100, 'like', NULL), (2, 10, 101, 'rate', 4), (3, 11, 103, 'like', NULL);
             INSERT INTO listen_events (id, session_id, asset_id, starttime, duration) VALUES
                  (1, 10, 100, '2026-12-07T10:00:00.000000', 2500000000),
                  (2, 10, 100, '2999-01-01T00:00:00.000000', NULL),
                  (3, 10, 100, '2001-01-01T00:00:00.000000', NULL),
                  (4, 10, 101, '2026-12-07T10:00:00.000000', 1000000000);",
        )
        .unwrap();
        let votes = pending_votes(&conn, CENTRAL, 10).unwrap();
        assert_eq!(
            votes.len(),
            1,
            "vote 2's asset is not at central yet: {votes:?}"
        );
        assert_eq!((votes[0].local_id, votes[0].central_asset), (1, 7000));
        assert!(!votes[0].sent);
        let listens: Vec<i64> = pending_listens(&conn, CENTRAL, 10)
            .unwrap()
            .iter()
            .map(|l| l.local_id)
            .collect();
        assert_eq!(
            listens,
            [1, 3],
            "finished, or started long ago; 4 waits for its asset"
        );

        in_tx(&mut conn, |tx| {
            record_pushed(tx, CENTRAL, "assets", 101, 7001, 70)
        })
        .unwrap();
        in_tx(&mut conn, |tx| record_sent(tx, CENTRAL, "votes", 2)).unwrap();
        let votes = pending_votes(&conn, CENTRAL, 10).unwrap();
        assert_eq!(
            votes
                .iter()
                .map(|v| (v.local_id, v.sent))
                .collect::<Vec<_>>(),
            [(1, false), (2, true)]
        );
        assert_eq!(votes[1].value, Some(4));

        in_tx(&mut conn, |tx| {
            record_dead(tx, CENTRAL, "votes", 1, "400: no such asset")
        })
        .unwrap();
        in_tx(&mut conn, |tx| {
            record_pushed(tx, CENTRAL, "listen_events", 1, 5, 70)
        })
        .unwrap();
        assert_eq!(pending_votes(&conn, CENTRAL, 10).unwrap().len(), 1);
        let backlog = backlog(&conn, CENTRAL).unwrap();
        // Waiting: asset 102, vote 2, listen events 3 and 4.
        assert_eq!((backlog.waiting, backlog.pushed, backlog.dead), (4, 2, 1));
        assert_eq!(backlog.dead_letters.len(), 1);
        assert_eq!(backlog.dead_letters[0].kind, "vote");
        assert_eq!(backlog.dead_letters[0].id, 1);
        assert_eq!(backlog.dead_letters[0].why, "400: no such asset");
    }
}
