-- Settings the console changes at run time and that must survive a restart (issue 16: the
-- local listener's volume and output). One row per key; `value` is what the curator chose and
-- `config_value` the configuration file's value it replaced, so a later edit of the file
-- (a different config_value) takes over again (see store/settings.rs).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    config_value TEXT NOT NULL,
    changed_ms INTEGER NOT NULL
) WITHOUT ROWID;
