-- Ownership (decisions.md: only the user whose session made an object, or staff, may change
-- it). A session now records the user who opened it; assets, votes, listen events, events and
-- envelopes are owned through their session.
ALTER TABLE sessions ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX sessions_user ON sessions(user_id);
-- /rwmedia/ looks up the asset of a file by name (unsubmitted recordings are private).
CREATE INDEX assets_file ON assets(file);
CREATE INDEX assets_filename ON assets(filename);

-- Sessions made before this migration: the user registered with the session's device. The
-- local listener's device id ('roundwared-local') was never meant to be registrable: its
-- sessions stay without a user (the box's own) unless a visitor registered that device id, in
-- which case nobody can tell the box's session from the visitor's, so they all go to the
-- visitor and the local listener opens a fresh one.
UPDATE sessions
   SET user_id = (SELECT u.id FROM users u WHERE u.device_id = sessions.device_id ORDER BY u.id LIMIT 1)
 WHERE device_id IS NOT NULL;

-- The reserved device id is taken back from whoever registered it (their token keeps working).
UPDATE users SET device_id = NULL WHERE device_id = 'roundwared-local';
