-- Pushing the venue's contributions to a central Roundware server (issue 17, the fleet hub's
-- bridge; ../shared/spec/fleet.md §2.1 and §3.5.3). api/2 has no idempotency keys, so what
-- is in flight is recorded here: an asset's central envelope before its upload (a retry
-- looks at the envelope first), and for a vote or listen event whether a POST was sent whose
-- answer never came (a retry looks the row up first). Once central has a row, its id goes
-- into `remote_ids` with digest 'pushed', and the pull recognises the venue's own uploads.
-- A 4xx answer makes the row a dead letter: kept, shown in the console, not retried.
CREATE TABLE central_push (
    -- Central's api/2 root.
    source TEXT NOT NULL,
    -- The local table: assets, votes, listen_events.
    tbl TEXT NOT NULL,
    local_id INTEGER NOT NULL,
    -- Assets: the envelope made at central for this asset.
    envelope INTEGER,
    -- A create was sent whose answer never came.
    sent INTEGER NOT NULL DEFAULT 0,
    -- A dead letter: what central answered, and when (naive UTC).
    dead TEXT,
    dead_at TEXT,
    PRIMARY KEY (source, tbl, local_id)
) WITHOUT ROWID;
CREATE INDEX central_push_dead ON central_push(source, dead_at) WHERE dead IS NOT NULL;
