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
