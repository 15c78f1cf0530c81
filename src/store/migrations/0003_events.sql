-- Event streams (issue 14). The outbox: one row per change of any object, written in the
-- transaction of the change (see store/outbox.rs), read by event streams as a cursor and
-- later by fleet replication. Ids only ever grow: retention always keeps the newest row, so
-- the next id (the largest plus one) never goes back (AUTOINCREMENT would cost a write of
-- sqlite_sequence on every change).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    object_id INTEGER NOT NULL,
    project_id INTEGER,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    -- the object as its api/2 GET shows it (stored media names, not URLs); NULL when deleted
    data TEXT
);
-- a deletion shows the object as it was last seen
CREATE INDEX outbox_object ON outbox(object_type, object_id);

-- A vote's api/2 GET carries its recording's counts by type (asset_votes), which the vote's
-- answer and now the outbox read on every vote: kept as running totals by triggers instead of
-- counted over every vote of the recording each time.
CREATE TABLE vote_counts (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    total INTEGER NOT NULL,
    -- votes with a value, and the sum of their values (for the average of `rate` votes)
    valued INTEGER NOT NULL,
    value_sum INTEGER NOT NULL,
    PRIMARY KEY (asset_id, type)
) WITHOUT ROWID;
INSERT INTO vote_counts (asset_id, type, total, valued, value_sum)
    SELECT asset_id, type, count(*), count(value), coalesce(sum(value), 0)
      FROM votes GROUP BY asset_id, type;
CREATE TRIGGER vote_counts_add AFTER INSERT ON votes BEGIN
    INSERT INTO vote_counts (asset_id, type, total, valued, value_sum)
         VALUES (NEW.asset_id, NEW.type, 1, NEW.value IS NOT NULL, coalesce(NEW.value, 0))
    ON CONFLICT (asset_id, type) DO UPDATE SET
         total = total + 1,
         valued = valued + (excluded.valued),
         value_sum = value_sum + excluded.value_sum;
END;
CREATE TRIGGER vote_counts_remove AFTER DELETE ON votes BEGIN
    UPDATE vote_counts SET total = total - 1,
           valued = valued - (OLD.value IS NOT NULL),
           value_sum = value_sum - coalesce(OLD.value, 0)
     WHERE asset_id = OLD.asset_id AND type = OLD.type;
    DELETE FROM vote_counts WHERE asset_id = OLD.asset_id AND type = OLD.type AND total <= 0;
END;
CREATE TRIGGER vote_counts_change AFTER UPDATE OF asset_id, type, value ON votes BEGIN
    UPDATE vote_counts SET total = total - 1,
           valued = valued - (OLD.value IS NOT NULL),
           value_sum = value_sum - coalesce(OLD.value, 0)
     WHERE asset_id = OLD.asset_id AND type = OLD.type;
    DELETE FROM vote_counts WHERE asset_id = OLD.asset_id AND type = OLD.type AND total <= 0;
    INSERT INTO vote_counts (asset_id, type, total, valued, value_sum)
         VALUES (NEW.asset_id, NEW.type, 1, NEW.value IS NOT NULL, coalesce(NEW.value, 0))
    ON CONFLICT (asset_id, type) DO UPDATE SET
         total = total + 1,
         valued = valued + (excluded.valued),
         value_sum = value_sum + excluded.value_sum;
END;

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
