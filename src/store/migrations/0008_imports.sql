-- Rows imported from another Roundware server's api/2 (`roundwared import`, and the fleet
-- hub's bridge to a central server; issue 17, ../shared/spec/fleet.md §3.5): which local row
-- each of the source's rows became. Imported rows take this database's own ids, so an import
-- never overwrites a row of the box's own, and the next import of the same source updates the
-- same rows.
CREATE TABLE remote_ids (
    -- The source's api/2 root, as configured.
    source TEXT NOT NULL,
    -- The local table.
    tbl TEXT NOT NULL,
    remote_id INTEGER NOT NULL,
    local_id INTEGER NOT NULL,
    -- The source's project the row came with (NULL: shared by every project, e.g. languages).
    project INTEGER,
    -- Assets: the source's media URL the local files were made from.
    media TEXT,
    -- A digest of the source's state last written: an unchanged row is not written again
    -- (in fleet mode every write is published to the venue).
    digest TEXT,
    PRIMARY KEY (source, tbl, remote_id)
) WITHOUT ROWID;
CREATE INDEX remote_ids_local ON remote_ids(tbl, local_id);
