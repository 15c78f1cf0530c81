//! Broadcast channels (the Livepeer stream API's "streams", audio-only) and their push
//! targets. A row holds what a client configured (name, stream key or pull source, record,
//! suspended, tags) and the ingest's counters; whether a channel is live right now is not
//! stored (that is `crate::broadcast`'s, and a restart ends every source).
//!
//! Ids are text: Livepeer clients treat them as opaque strings. The JSON-valued columns
//! (`pull`, `user_tags`, `creator_id`) are stored as the client sent them, already checked by
//! the API.
//!
//! Owns: the `channels`, `multistream_targets`, `channel_targets`, `channel_sessions` and
//! `clips` tables. May not touch: live state, sockets, media files.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde_json::Value;

use super::StoreResult;

/// One broadcast channel as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Channel {
    /// Opaque id (a UUID).
    pub id: String,
    /// The client's label.
    pub name: String,
    /// The push key (the source password); `None` for a pull channel.
    pub stream_key: Option<String>,
    /// The name listeners and clips use.
    pub playback_id: String,
    /// Whether each live session is archived.
    pub record: bool,
    /// Whether ingest is refused.
    pub suspended: bool,
    /// `{source, headers, isMobile, location}` of a pull channel.
    pub pull: Option<Value>,
    /// The client's metadata.
    pub user_tags: Option<Value>,
    /// `{type: "unverified", value}`.
    pub creator_id: Option<Value>,
    /// The staff user who made it.
    pub created_by: Option<i64>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last ingest activity, 0 if never.
    pub last_seen_ms: i64,
    /// Unix ms of the last terminate.
    pub last_terminated_at_ms: Option<i64>,
    /// Source bytes received over all sessions.
    pub source_bytes: i64,
    /// Source audio received over all sessions, in ms.
    pub source_duration_ms: i64,
    /// The push targets, in the order they were added.
    pub targets: Vec<ChannelTarget>,
    /// Whether a pull channel should be pulling (resumed at start).
    pub pulling: bool,
}

/// A target a channel pushes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelTarget {
    /// The target's id.
    pub target_id: String,
    /// The rendition name the client asked for.
    pub profile: String,
}

/// A push target (Livepeer's multistream target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Opaque id (a UUID).
    pub id: String,
    /// The client's label.
    pub name: String,
    /// `icecast://user:pass@host:port/mount` or `http(s)://…`: a secret, never answered.
    pub url: String,
    /// Whether pushing to it is off.
    pub disabled: bool,
    /// The staff user who made it.
    pub created_by: Option<i64>,
    /// Unix ms.
    pub created_at_ms: i64,
}

const SELECT: &str = "SELECT id, name, stream_key, playback_id, record, suspended, pull, user_tags,
    creator_id, created_by, created_at_ms, last_seen_ms, last_terminated_at_ms, source_bytes,
    source_duration_ms, pulling FROM channels";

fn json_column(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<Value>> {
    let text: Option<String> = r.get(i)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: r.get(0)?,
        name: r.get(1)?,
        stream_key: r.get(2)?,
        playback_id: r.get(3)?,
        record: r.get(4)?,
        suspended: r.get(5)?,
        pull: json_column(r, 6)?,
        user_tags: json_column(r, 7)?,
        creator_id: json_column(r, 8)?,
        created_by: r.get(9)?,
        created_at_ms: r.get(10)?,
        last_seen_ms: r.get(11)?,
        last_terminated_at_ms: r.get(12)?,
        source_bytes: r.get(13)?,
        source_duration_ms: r.get(14)?,
        targets: Vec::new(),
        pulling: r.get(15)?,
    })
}

fn with_targets(c: &Connection, mut channel: Channel) -> StoreResult<Channel> {
    let mut stmt = c.prepare_cached(
        "SELECT target_id, profile FROM channel_targets WHERE channel_id = ?1 ORDER BY rowid",
    )?;
    channel.targets = stmt
        .query_map([&channel.id], |r| {
            Ok(ChannelTarget {
                target_id: r.get(0)?,
                profile: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(channel)
}

fn one(c: &Connection, column: &str, value: &str) -> StoreResult<Option<Channel>> {
    let found = c
        .query_row(&format!("{SELECT} WHERE {column} = ?1"), [value], from_row)
        .optional()?;
    found.map(|ch| with_targets(c, ch)).transpose()
}

/// The channel with id `id`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn get(c: &Connection, id: &str) -> StoreResult<Option<Channel>> {
    one(c, "id", id)
}

/// The channel whose playback id is `playback_id`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn by_playback_id(c: &Connection, playback_id: &str) -> StoreResult<Option<Channel>> {
    one(c, "playback_id", playback_id)
}

/// The channel whose stream key is `key`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn by_stream_key(c: &Connection, key: &str) -> StoreResult<Option<Channel>> {
    one(c, "stream_key", key)
}

/// Every channel, oldest first.
///
/// # Errors
/// SQLite failures.
pub(crate) fn list(c: &Connection) -> StoreResult<Vec<Channel>> {
    let mut stmt = c.prepare_cached(&format!("{SELECT} ORDER BY created_at_ms, id"))?;
    let rows: Vec<Channel> = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    rows.into_iter().map(|ch| with_targets(c, ch)).collect()
}

fn json_text(v: Option<&Value>) -> Option<String> {
    v.map(Value::to_string)
}

/// Stores a new channel (its targets are attached with [`attach`]).
///
/// # Errors
/// SQLite failures (a duplicate id, key or playback id is a constraint violation).
pub(crate) fn insert(tx: &Transaction<'_>, ch: &Channel) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO channels (id, name, stream_key, playback_id, record, suspended, pull,
            user_tags, creator_id, created_by, created_at_ms, pulling)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            ch.id,
            ch.name,
            ch.stream_key,
            ch.playback_id,
            ch.record,
            ch.suspended,
            json_text(ch.pull.as_ref()),
            json_text(ch.user_tags.as_ref()),
            json_text(ch.creator_id.as_ref()),
            ch.created_by,
            ch.created_at_ms,
            ch.pulling,
        ],
    )?;
    Ok(())
}

/// Writes the fields a client may change (name, record, suspended, tags, creator) and
/// whether it pulls.
///
/// # Errors
/// SQLite failures.
pub(crate) fn save(tx: &Transaction<'_>, ch: &Channel) -> StoreResult<()> {
    tx.execute(
        "UPDATE channels SET name = ?2, record = ?3, suspended = ?4, user_tags = ?5,
            creator_id = ?6, pulling = ?7 WHERE id = ?1",
        params![
            ch.id,
            ch.name,
            ch.record,
            ch.suspended,
            json_text(ch.user_tags.as_ref()),
            json_text(ch.creator_id.as_ref()),
            ch.pulling,
        ],
    )?;
    Ok(())
}

/// Sets whether pull channel `id` should be pulling.
///
/// # Errors
/// SQLite failures.
pub(crate) fn set_pulling(tx: &Transaction<'_>, id: &str, pulling: bool) -> StoreResult<()> {
    tx.execute(
        "UPDATE channels SET pulling = ?2 WHERE id = ?1",
        params![id, pulling],
    )?;
    Ok(())
}

/// Removes channel `id` (and its target links); whether it existed.
///
/// # Errors
/// SQLite failures.
pub(crate) fn delete(tx: &Transaction<'_>, id: &str) -> StoreResult<bool> {
    Ok(tx.execute("DELETE FROM channels WHERE id = ?1", [id])? > 0)
}

/// Adds a live session's ingest to channel `id`'s counters.
///
/// # Errors
/// SQLite failures.
pub(crate) fn add_ingest(
    tx: &Transaction<'_>,
    id: &str,
    bytes: u64,
    duration_ms: u64,
    last_seen_ms: i64,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE channels SET source_bytes = source_bytes + ?2,
            source_duration_ms = source_duration_ms + ?3, last_seen_ms = max(last_seen_ms, ?4)
          WHERE id = ?1",
        params![
            id,
            i64::try_from(bytes).unwrap_or(i64::MAX),
            i64::try_from(duration_ms).unwrap_or(i64::MAX),
            last_seen_ms
        ],
    )?;
    Ok(())
}

/// Notes a terminate of channel `id` at `at_ms` (a pull stops until the next start-pull).
///
/// # Errors
/// SQLite failures.
pub(crate) fn set_terminated(tx: &Transaction<'_>, id: &str, at_ms: i64) -> StoreResult<()> {
    tx.execute(
        "UPDATE channels SET last_terminated_at_ms = ?2, pulling = 0 WHERE id = ?1",
        params![id, at_ms],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Targets

const SELECT_TARGET: &str =
    "SELECT id, name, url, disabled, created_by, created_at_ms FROM multistream_targets";

fn target_from_row(r: &Row<'_>) -> rusqlite::Result<Target> {
    Ok(Target {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        disabled: r.get(3)?,
        created_by: r.get(4)?,
        created_at_ms: r.get(5)?,
    })
}

/// The target with id `id`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn target(c: &Connection, id: &str) -> StoreResult<Option<Target>> {
    Ok(c.query_row(
        &format!("{SELECT_TARGET} WHERE id = ?1"),
        [id],
        target_from_row,
    )
    .optional()?)
}

/// Every target, oldest first.
///
/// # Errors
/// SQLite failures.
pub(crate) fn targets(c: &Connection) -> StoreResult<Vec<Target>> {
    let mut stmt = c.prepare_cached(&format!("{SELECT_TARGET} ORDER BY created_at_ms, id"))?;
    Ok(stmt
        .query_map([], target_from_row)?
        .collect::<Result<_, _>>()?)
}

/// Stores a new target.
///
/// # Errors
/// SQLite failures.
pub(crate) fn insert_target(tx: &Transaction<'_>, t: &Target) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO multistream_targets (id, name, url, disabled, created_by, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            t.id,
            t.name,
            t.url,
            t.disabled,
            t.created_by,
            t.created_at_ms
        ],
    )?;
    Ok(())
}

/// Writes a target's name, URL and switch.
///
/// # Errors
/// SQLite failures.
pub(crate) fn save_target(tx: &Transaction<'_>, t: &Target) -> StoreResult<()> {
    tx.execute(
        "UPDATE multistream_targets SET name = ?2, url = ?3, disabled = ?4 WHERE id = ?1",
        params![t.id, t.name, t.url, t.disabled],
    )?;
    Ok(())
}

/// Removes target `id` (and its channel links); whether it existed.
///
/// # Errors
/// SQLite failures.
pub(crate) fn delete_target(tx: &Transaction<'_>, id: &str) -> StoreResult<bool> {
    Ok(tx.execute("DELETE FROM multistream_targets WHERE id = ?1", [id])? > 0)
}

/// Makes channel `channel_id` push to target `target_id` (again: the profile is replaced).
///
/// # Errors
/// SQLite failures.
pub(crate) fn attach(
    tx: &Transaction<'_>,
    channel_id: &str,
    target_id: &str,
    profile: &str,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO channel_targets (channel_id, target_id, profile) VALUES (?1, ?2, ?3)
         ON CONFLICT (channel_id, target_id) DO UPDATE SET profile = excluded.profile",
        params![channel_id, target_id, profile],
    )?;
    Ok(())
}

/// Stops channel `channel_id` pushing to target `target_id`; whether it did.
///
/// # Errors
/// SQLite failures.
pub(crate) fn detach(tx: &Transaction<'_>, channel_id: &str, target_id: &str) -> StoreResult<bool> {
    Ok(tx.execute(
        "DELETE FROM channel_targets WHERE channel_id = ?1 AND target_id = ?2",
        params![channel_id, target_id],
    )? > 0)
}

/// Detaches every target of channel `channel_id`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn detach_all(tx: &Transaction<'_>, channel_id: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM channel_targets WHERE channel_id = ?1",
        [channel_id],
    )?;
    Ok(())
}

/// The channels that push to target `target_id`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn channels_of_target(c: &Connection, target_id: &str) -> StoreResult<Vec<String>> {
    let mut stmt =
        c.prepare_cached("SELECT channel_id FROM channel_targets WHERE target_id = ?1")?;
    Ok(stmt
        .query_map([target_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------
// Sessions

/// One live session of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelSession {
    /// Opaque id (a UUID).
    pub id: String,
    /// The channel.
    pub channel_id: String,
    /// Unix ms it went live.
    pub started_ms: i64,
    /// Unix ms it ended; `None` while live (or cut off by a crash, until the next start).
    pub ended_ms: Option<i64>,
    /// Source bytes.
    pub bytes: i64,
    /// Source audio, in ms.
    pub duration_ms: i64,
    /// Whether it was recorded.
    pub record: bool,
    /// `waiting`, `ready`, `failed` or `none`.
    pub recording_status: String,
    /// The recording's media name (`recordings/<id>.mp3`), once ready.
    pub file: Option<String>,
}

const SELECT_SESSION: &str = "SELECT id, channel_id, started_ms, ended_ms, bytes, duration_ms,
    record, recording_status, file FROM channel_sessions";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<ChannelSession> {
    Ok(ChannelSession {
        id: r.get(0)?,
        channel_id: r.get(1)?,
        started_ms: r.get(2)?,
        ended_ms: r.get(3)?,
        bytes: r.get(4)?,
        duration_ms: r.get(5)?,
        record: r.get(6)?,
        recording_status: r.get(7)?,
        file: r.get(8)?,
    })
}

/// Writes session `s` whole (made when it goes live, completed when it ends, in either order).
///
/// # Errors
/// SQLite failures (a channel deleted meanwhile is a constraint violation).
pub(crate) fn put_session(tx: &Transaction<'_>, s: &ChannelSession) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO channel_sessions (id, channel_id, started_ms, ended_ms, bytes, duration_ms,
            record, recording_status, file) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET ended_ms = excluded.ended_ms, bytes = excluded.bytes,
            duration_ms = excluded.duration_ms, recording_status = excluded.recording_status,
            file = excluded.file
          WHERE channel_sessions.ended_ms IS NULL OR excluded.ended_ms IS NOT NULL",
        params![
            s.id,
            s.channel_id,
            s.started_ms,
            s.ended_ms,
            s.bytes,
            s.duration_ms,
            s.record,
            s.recording_status,
            s.file
        ],
    )?;
    Ok(())
}

/// The session with id `id`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn session(c: &Connection, id: &str) -> StoreResult<Option<ChannelSession>> {
    Ok(c.query_row(
        &format!("{SELECT_SESSION} WHERE id = ?1"),
        [id],
        session_from_row,
    )
    .optional()?)
}

/// Sessions, newest first: of channel `channel_id`, or of every channel.
///
/// # Errors
/// SQLite failures.
pub(crate) fn sessions(
    c: &Connection,
    channel_id: Option<&str>,
) -> StoreResult<Vec<ChannelSession>> {
    let mut stmt = c.prepare_cached(&format!(
        "{SELECT_SESSION} WHERE ?1 IS NULL OR channel_id = ?1 ORDER BY started_ms DESC, id"
    ))?;
    Ok(stmt
        .query_map([channel_id], session_from_row)?
        .collect::<Result<_, _>>()?)
}

/// Sessions whose recording was being written (a crash cut them off).
///
/// # Errors
/// SQLite failures.
pub(crate) fn unfinished_recordings(c: &Connection) -> StoreResult<Vec<ChannelSession>> {
    let mut stmt = c.prepare_cached(&format!(
        "{SELECT_SESSION} WHERE recording_status = 'waiting'"
    ))?;
    Ok(stmt
        .query_map([], session_from_row)?
        .collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------
// Clips

/// A clip cut from a live channel or a personal stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClipRow {
    /// Opaque id (a UUID).
    pub id: String,
    /// The playback id it was cut from.
    pub playback_id: String,
    /// The channel, when cut from one.
    pub channel_id: Option<String>,
    /// The personal stream, when cut from one.
    pub stream_id: Option<i64>,
    /// The channel's live session.
    pub session_id: Option<String>,
    /// The client's label.
    pub name: String,
    /// Unix ms of its first frame.
    pub start_ms: i64,
    /// Unix ms its last frame ends.
    pub end_ms: i64,
    /// Media name (`clips/<id>.mp3`).
    pub file: String,
    /// Bytes.
    pub size: i64,
    /// Who cut it.
    pub created_by: Option<i64>,
    /// Unix ms.
    pub created_at_ms: i64,
}

const SELECT_CLIP: &str = "SELECT id, playback_id, channel_id, stream_id, session_id, name,
    start_ms, end_ms, file, size, created_by, created_at_ms FROM clips";

fn clip_from_row(r: &Row<'_>) -> rusqlite::Result<ClipRow> {
    Ok(ClipRow {
        id: r.get(0)?,
        playback_id: r.get(1)?,
        channel_id: r.get(2)?,
        stream_id: r.get(3)?,
        session_id: r.get(4)?,
        name: r.get(5)?,
        start_ms: r.get(6)?,
        end_ms: r.get(7)?,
        file: r.get(8)?,
        size: r.get(9)?,
        created_by: r.get(10)?,
        created_at_ms: r.get(11)?,
    })
}

/// Stores a clip.
///
/// # Errors
/// SQLite failures.
pub(crate) fn insert_clip(tx: &Transaction<'_>, c: &ClipRow) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO clips (id, playback_id, channel_id, stream_id, session_id, name, start_ms,
            end_ms, file, size, created_by, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            c.id,
            c.playback_id,
            c.channel_id,
            c.stream_id,
            c.session_id,
            c.name,
            c.start_ms,
            c.end_ms,
            c.file,
            c.size,
            c.created_by,
            c.created_at_ms
        ],
    )?;
    Ok(())
}

/// Clips of a channel (by its id) or of a playback id, newest first.
///
/// # Errors
/// SQLite failures.
pub(crate) fn clips_of(c: &Connection, channel_or_playback: &str) -> StoreResult<Vec<ClipRow>> {
    let mut stmt = c.prepare_cached(&format!(
        "{SELECT_CLIP} WHERE channel_id = ?1 OR playback_id = ?1 ORDER BY created_at_ms DESC, id"
    ))?;
    Ok(stmt
        .query_map([channel_or_playback], clip_from_row)?
        .collect::<Result<_, _>>()?)
}

/// How many clips user `user_id` cut since `since_ms`.
///
/// # Errors
/// SQLite failures.
pub(crate) fn clips_by_since(c: &Connection, user_id: i64, since_ms: i64) -> StoreResult<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM clips WHERE created_by = ?1 AND created_at_ms >= ?2",
        params![user_id, since_ms],
        |r| r.get(0),
    )?)
}

/// Clips cut while session `session_id` was live, newest first.
///
/// # Errors
/// SQLite failures.
pub(crate) fn clips_of_session(c: &Connection, session_id: &str) -> StoreResult<Vec<ClipRow>> {
    let mut stmt = c.prepare_cached(&format!(
        "{SELECT_CLIP} WHERE session_id = ?1 ORDER BY created_at_ms DESC, id"
    ))?;
    Ok(stmt
        .query_map([session_id], clip_from_row)?
        .collect::<Result<_, _>>()?)
}
