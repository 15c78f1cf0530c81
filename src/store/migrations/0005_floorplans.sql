-- Floor plans (issue 16): one site image per project, drawn under the zones on the maps.
-- The image is a file in the media folder (`file`, a media name); the row says where it lies
-- on the map (an axis-aligned box in degrees) and how opaque it is drawn. The project's id is
-- the row's id, so the outbox names a floor plan by its project.
CREATE TABLE floorplans (
    project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    file TEXT NOT NULL,
    width_px INTEGER NOT NULL,
    height_px INTEGER NOT NULL,
    south REAL NOT NULL,
    west REAL NOT NULL,
    north REAL NOT NULL,
    east REAL NOT NULL,
    opacity REAL NOT NULL DEFAULT 0.8,
    updated TEXT NOT NULL,
    CHECK (south < north AND west < east AND opacity >= 0 AND opacity <= 1)
);
