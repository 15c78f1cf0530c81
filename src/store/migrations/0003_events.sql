-- Event streams (issue 14). The outbox: one row per change of any object, written in the
-- transaction of the change (see store/outbox.rs), read by event streams as a cursor and
-- later by fleet replication. AUTOINCREMENT: ids only ever grow, even after retention
-- deletes every row.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    object_id INTEGER NOT NULL,
    project_id INTEGER,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    -- the object as its api/2 GET shows it (stored media names, not URLs); NULL when deleted
    data TEXT
);
CREATE INDEX outbox_created ON outbox(created_ms);
-- a deletion shows the object as it was last seen
CREATE INDEX outbox_object ON outbox(object_type, object_id);

-- App.net filters, owned by the token's user.
CREATE TABLE event_filters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- the filter as App.net shows it: name, match_policy, clauses
    body TEXT NOT NULL
);
CREATE INDEX event_filters_user ON event_filters(user_id);

-- App.net app streams: a stream is a cursor into the outbox.
CREATE TABLE event_streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT,
    object_types TEXT NOT NULL,
    filter_id INTEGER REFERENCES event_filters(id) ON DELETE RESTRICT,
    -- the last outbox id written to a consumer
    cursor INTEGER NOT NULL,
    -- messages that waited unread when the last connection was closed for overflowing
    overflowed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, key)
);
CREATE INDEX event_streams_filter ON event_streams(filter_id);

-- A kiosk token may read event streams and api/2 GETs, nothing else.
ALTER TABLE users ADD COLUMN is_kiosk INTEGER NOT NULL DEFAULT 0;
