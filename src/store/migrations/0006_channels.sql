-- Broadcast channels (issue 13): the Livepeer stream API's streams, audio-only. A channel is
-- pushed by an Icecast source client (it has a stream key) or pulled from a URL (`pull`, the
-- request's JSON); `playback_id` names it for listeners and clips. Ids are text (Livepeer's
-- clients treat them as opaque strings). The counters are the ingest's, kept across restarts.
CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stream_key TEXT UNIQUE,
    playback_id TEXT NOT NULL UNIQUE,
    record INTEGER NOT NULL DEFAULT 0,
    suspended INTEGER NOT NULL DEFAULT 0,
    pull TEXT,
    user_tags TEXT,
    creator_id TEXT,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL DEFAULT 0,
    last_terminated_at_ms INTEGER,
    source_bytes INTEGER NOT NULL DEFAULT 0,
    source_duration_ms INTEGER NOT NULL DEFAULT 0,
    -- a pull channel asked to pull (create, start-pull) and not terminated or suspended
    -- since: the daemon resumes it at start
    pulling INTEGER NOT NULL DEFAULT 0,
    CHECK (stream_key IS NOT NULL OR pull IS NOT NULL)
);

-- Push targets (Livepeer's multistream targets): where a live channel is sent on as an
-- Icecast source. `url` carries the target's password: it is written, never read back out.
CREATE TABLE multistream_targets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at_ms INTEGER NOT NULL
);

-- Which targets a channel pushes to, with the rendition name the client gave (always the
-- source audio on this box).
CREATE TABLE channel_targets (
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES multistream_targets(id) ON DELETE CASCADE,
    profile TEXT NOT NULL,
    PRIMARY KEY (channel_id, target_id)
);

-- Live sessions of a channel (Livepeer's sessions): one row per source connection, with its
-- counters and, for a channel that records, its archive: `file` is a media name under the
-- media folder's `recordings/`, `recording_status` Livepeer's (waiting while it is written,
-- ready, failed, none when not recorded). The daemon finishes a `waiting` one left by a
-- crash at its next start.
CREATE TABLE channel_sessions (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    bytes INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    record INTEGER NOT NULL DEFAULT 0,
    recording_status TEXT NOT NULL DEFAULT 'none',
    file TEXT
);
CREATE INDEX channel_sessions_by_channel ON channel_sessions (channel_id, started_ms);

-- Clips (Livepeer's clip assets): a window cut from the rolling buffer of a live channel or a
-- personal stream, kept as an MP3 in the media folder's `clips/`. A clip outlives what it was
-- cut from, so it names its source by playback id (and channel or stream) without a reference.
CREATE TABLE clips (
    id TEXT PRIMARY KEY,
    playback_id TEXT NOT NULL,
    channel_id TEXT,
    stream_id INTEGER,
    session_id TEXT,
    name TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX clips_by_playback ON clips (playback_id, created_at_ms);
CREATE INDEX clips_by_channel ON clips (channel_id, created_at_ms);
