-- Fleet mode (issue 17, ../shared/spec/fleet.md §3.3): which box of the venue this database
-- belongs to, and per-table counters for the rows it creates, numbered box × 10^12 + n so
-- that no two boxes ever issue the same id (all below 2^53, exact in JavaScript). A
-- standalone box has no fleet_state row and keeps SQLite's own ids.
CREATE TABLE fleet_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    box INTEGER NOT NULL CHECK (box BETWEEN 1 AND 9007),
    -- Made when the database joined: tells this box from another claiming the same number.
    uid TEXT NOT NULL,
    -- The venue catalogue's position applied here, and the outbox row published up to.
    applied_seq INTEGER NOT NULL DEFAULT 0,
    published_id INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE fleet_seq (
    table_name TEXT PRIMARY KEY,
    last INTEGER NOT NULL
) WITHOUT ROWID;

-- Changes applied from the venue catalogue are outbox rows like any (event streams show
-- them) but are not this box's to publish back.
ALTER TABLE outbox ADD COLUMN from_fleet INTEGER NOT NULL DEFAULT 0;
