-- roundwared schema, version 1: every model of the Roundware api/2 data surface.
-- Times are naive UTC ISO-8601 text ("2026-11-21T17:29:44.610672"), which sorts as time.
-- Durations stored by the reference server in nanoseconds stay nanoseconds here (INTEGER/REAL).
-- Geometry is GeoJSON text (lon/lat order).
-- Ids are AUTOINCREMENT: clients keep ids (cached sessions, shared envelope links), so a
-- deleted id must never name a different row later.

CREATE TABLE languages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL DEFAULT '',
    language_code TEXT NOT NULL UNIQUE
);
INSERT INTO languages (id, name, language_code) VALUES (1, 'English', 'en');

CREATE TABLE localized_strings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    localized_string TEXT NOT NULL DEFAULT '',
    language_id INTEGER NOT NULL REFERENCES languages(id) ON DELETE CASCADE
);
CREATE INDEX localized_strings_language ON localized_strings(language_id);

-- Localized fields of every model (Project.description_loc, Tag.loc_msg, ...): one link table,
-- keyed by owner kind, owner id and field name; position keeps the order strings were attached.
CREATE TABLE loc_links (
    owner TEXT NOT NULL,
    owner_id INTEGER NOT NULL,
    field TEXT NOT NULL,
    position INTEGER NOT NULL,
    string_id INTEGER NOT NULL REFERENCES localized_strings(id) ON DELETE CASCADE,
    PRIMARY KEY (owner, owner_id, field, string_id)
);
CREATE INDEX loc_links_string ON loc_links(string_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    is_staff INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    date_joined TEXT NOT NULL,
    -- the UserProfile of the reference server, folded into the user row
    device_id TEXT,
    client_type TEXT
);
CREATE INDEX users_device_id ON users(device_id);

CREATE TABLE tokens (
    key TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    created TEXT NOT NULL
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    pub_date TEXT NOT NULL,
    audio_format TEXT NOT NULL DEFAULT 'mp3',
    auto_submit INTEGER NOT NULL DEFAULT 0,
    max_recording_length INTEGER NOT NULL DEFAULT 30,
    listen_questions_dynamic INTEGER NOT NULL DEFAULT 0,
    speak_questions_dynamic INTEGER NOT NULL DEFAULT 0,
    sharing_url TEXT NOT NULL DEFAULT '',
    out_of_range_url TEXT NOT NULL DEFAULT '',
    recording_radius INTEGER,
    listen_enabled INTEGER NOT NULL DEFAULT 0,
    geo_listen_enabled INTEGER NOT NULL DEFAULT 0,
    speak_enabled INTEGER NOT NULL DEFAULT 0,
    geo_speak_enabled INTEGER NOT NULL DEFAULT 0,
    reset_tag_defaults_on_startup INTEGER NOT NULL DEFAULT 0,
    timed_asset_priority INTEGER NOT NULL DEFAULT 1,
    repeat_mode TEXT NOT NULL DEFAULT 'stop',
    files_url TEXT NOT NULL DEFAULT '',
    files_version TEXT NOT NULL DEFAULT '',
    audio_stream_bitrate TEXT NOT NULL DEFAULT '128',
    ordering TEXT NOT NULL DEFAULT 'random',
    demo_stream_enabled INTEGER NOT NULL DEFAULT 0,
    demo_stream_url TEXT NOT NULL DEFAULT '',
    out_of_range_distance REAL NOT NULL DEFAULT 1000
);

CREATE TABLE project_languages (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    language_id INTEGER NOT NULL REFERENCES languages(id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, language_id)
);

CREATE TABLE project_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE project_group_projects (
    group_id INTEGER NOT NULL REFERENCES project_groups(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, project_id)
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT,
    starttime TEXT NOT NULL,
    stoptime TEXT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    language_id INTEGER REFERENCES languages(id) ON DELETE SET NULL,
    client_type TEXT,
    client_system TEXT,
    demo_stream_enabled INTEGER NOT NULL DEFAULT 0,
    geo_listen_enabled INTEGER NOT NULL DEFAULT 1,
    timezone TEXT NOT NULL DEFAULT '0000'
);
CREATE INDEX sessions_project ON sessions(project_id);
CREATE INDEX sessions_device ON sessions(device_id);

CREATE TABLE tag_categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    data TEXT
);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL,
    tag_category_id INTEGER REFERENCES tag_categories(id) ON DELETE SET NULL,
    value TEXT NOT NULL,
    description TEXT,
    data TEXT,
    filter TEXT NOT NULL DEFAULT '',
    location TEXT
);
CREATE INDEX tags_project ON tags(project_id);

CREATE TABLE tag_relationships (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES tag_relationships(id) ON DELETE SET NULL
);
CREATE INDEX tag_relationships_tag ON tag_relationships(tag_id);

CREATE TABLE ui_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    ui_mode TEXT NOT NULL DEFAULT 'listen',
    tag_category_id INTEGER NOT NULL REFERENCES tag_categories(id) ON DELETE CASCADE,
    select_mode TEXT NOT NULL DEFAULT 'single',
    active INTEGER NOT NULL DEFAULT 1,
    idx INTEGER NOT NULL,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    uiitem_filter TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX ui_groups_project ON ui_groups(project_id);

CREATE TABLE ui_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ui_group_id INTEGER NOT NULL REFERENCES ui_groups(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    is_default INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 0,
    parent_id INTEGER REFERENCES ui_items(id) ON DELETE SET NULL
);
CREATE INDEX ui_items_group ON ui_items(ui_group_id);

CREATE TABLE ui_element_names (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT,
    view TEXT NOT NULL
);

CREATE TABLE ui_elements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uielementname_id INTEGER NOT NULL REFERENCES ui_element_names(id) ON DELETE CASCADE,
    variant TEXT NOT NULL,
    file_extension TEXT NOT NULL,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    label_text_color TEXT NOT NULL DEFAULT '',
    label_position TEXT NOT NULL DEFAULT ''
);

CREATE TABLE audiotracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    minvolume REAL NOT NULL,
    maxvolume REAL NOT NULL,
    minduration REAL NOT NULL,
    maxduration REAL NOT NULL,
    mindeadair REAL NOT NULL,
    maxdeadair REAL NOT NULL,
    minfadeintime REAL NOT NULL,
    maxfadeintime REAL NOT NULL,
    minfadeouttime REAL NOT NULL,
    maxfadeouttime REAL NOT NULL,
    minpanpos REAL NOT NULL,
    maxpanpos REAL NOT NULL,
    minpanduration REAL NOT NULL,
    maxpanduration REAL NOT NULL,
    repeatrecordings INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    start_with_silence INTEGER NOT NULL DEFAULT 0,
    banned_duration INTEGER NOT NULL DEFAULT 0,
    fadeout_when_filtered INTEGER NOT NULL DEFAULT 0,
    timed_asset_priority TEXT NOT NULL DEFAULT 'normal'
);
CREATE INDEX audiotracks_project ON audiotracks(project_id);

CREATE TABLE audiotrack_tags (
    audiotrack_id INTEGER NOT NULL REFERENCES audiotracks(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (audiotrack_id, tag_id)
);

CREATE TABLE speakers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    activeyn INTEGER NOT NULL DEFAULT 0,
    code TEXT NOT NULL DEFAULT '',
    maxvolume REAL NOT NULL,
    minvolume REAL NOT NULL,
    uri TEXT NOT NULL,
    backupuri TEXT NOT NULL DEFAULT '',
    shape TEXT,
    boundary TEXT,
    attenuation_distance INTEGER NOT NULL,
    attenuation_border TEXT
);
CREATE INDEX speakers_project ON speakers(project_id);

CREATE TABLE assets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    latitude REAL,
    longitude REAL,
    shape TEXT,
    filename TEXT,
    file TEXT,
    volume REAL DEFAULT 1.0,
    submitted INTEGER NOT NULL DEFAULT 1,
    project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    audiolength INTEGER,
    start_time REAL,
    end_time REAL,
    language_id INTEGER REFERENCES languages(id) ON DELETE SET NULL,
    weight INTEGER NOT NULL DEFAULT 50,
    mediatype TEXT NOT NULL DEFAULT 'audio',
    description TEXT NOT NULL DEFAULT '',
    initialenvelope_id INTEGER REFERENCES envelopes(id) ON DELETE SET NULL
);
CREATE INDEX assets_project ON assets(project_id, submitted);
CREATE INDEX assets_session ON assets(session_id);
CREATE INDEX assets_created ON assets(created);
CREATE INDEX assets_updated ON assets(updated);

CREATE TABLE asset_tags (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (asset_id, tag_id)
);
CREATE INDEX asset_tags_tag ON asset_tags(tag_id);

CREATE TABLE envelopes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created TEXT NOT NULL
);
CREATE INDEX envelopes_session ON envelopes(session_id);

CREATE TABLE envelope_assets (
    envelope_id INTEGER NOT NULL REFERENCES envelopes(id) ON DELETE CASCADE,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    PRIMARY KEY (envelope_id, asset_id)
);
CREATE INDEX envelope_assets_asset ON envelope_assets(asset_id);

CREATE TABLE timed_assets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    start REAL NOT NULL,
    "end" REAL NOT NULL
);
CREATE INDEX timed_assets_project ON timed_assets(project_id);

CREATE TABLE votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    voter_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    value INTEGER,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    type TEXT NOT NULL
);
CREATE INDEX votes_asset ON votes(asset_id);
CREATE INDEX votes_session ON votes(session_id);
CREATE INDEX votes_voter ON votes(voter_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_time TEXT NOT NULL,
    client_time TEXT,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    data TEXT,
    latitude TEXT,
    longitude TEXT,
    tags TEXT
);
CREATE INDEX events_session ON events(session_id);

CREATE TABLE listen_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    starttime TEXT NOT NULL,
    duration INTEGER
);
CREATE INDEX listen_events_session ON listen_events(session_id);
CREATE INDEX listen_events_asset ON listen_events(asset_id);

-- Owners of localized fields drop their links when they go.
CREATE TRIGGER projects_loc_cleanup AFTER DELETE ON projects BEGIN
    DELETE FROM loc_links WHERE owner = 'project' AND owner_id = OLD.id;
END;
CREATE TRIGGER assets_loc_cleanup AFTER DELETE ON assets BEGIN
    DELETE FROM loc_links WHERE owner = 'asset' AND owner_id = OLD.id;
END;
CREATE TRIGGER tags_loc_cleanup AFTER DELETE ON tags BEGIN
    DELETE FROM loc_links WHERE owner = 'tag' AND owner_id = OLD.id;
END;
CREATE TRIGGER ui_groups_loc_cleanup AFTER DELETE ON ui_groups BEGIN
    DELETE FROM loc_links WHERE owner = 'uigroup' AND owner_id = OLD.id;
END;
CREATE TRIGGER ui_elements_loc_cleanup AFTER DELETE ON ui_elements BEGIN
    DELETE FROM loc_links WHERE owner = 'uielement' AND owner_id = OLD.id;
END;
