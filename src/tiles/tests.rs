use super::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-rest-of-a-png";
const PBF: &[u8] = b"\x1f\x8b\x08\x00-gzipped-vector-tile";

/// Writes an MBTiles file with `format` metadata (if any) and tiles at XYZ addresses.
fn mbtiles(path: &Path, format: Option<&str>, tiles: &[(u8, u32, u32, &[u8])]) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE metadata (name TEXT, value TEXT);
         CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
         CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);",
    )
    .unwrap();
    if let Some(f) = format {
        conn.execute("INSERT INTO metadata VALUES ('format', ?1)", [f])
            .unwrap();
    }
    for (z, x, y, data) in tiles {
        let row = (1u32 << z) - 1 - y;
        conn.execute(
            "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![z, x, row, data],
        )
        .unwrap();
    }
}

#[test]
fn tiles_are_found_by_their_xyz_address_although_mbtiles_counts_rows_from_the_south() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.mbtiles");
    mbtiles(
        &path,
        Some("png"),
        &[(2, 1, 0, b"north"), (2, 1, 3, b"south"), (0, 0, 0, PNG)],
    );
    let set = TileSet::open(&path).unwrap();
    assert_eq!(set.format(), TileFormat::Png);
    assert_eq!(set.tile(2, 1, 0).unwrap().as_deref(), Some(&b"north"[..]));
    assert_eq!(set.tile(2, 1, 3).unwrap().as_deref(), Some(&b"south"[..]));
    assert_eq!(set.tile(2, 2, 0).unwrap(), None);
    assert_eq!(set.tilejson()["minzoom"], 0);
    assert_eq!(set.tilejson()["maxzoom"], 2);
    assert_eq!(set.tilejson()["tiles"][0], "/tiles/{z}/{x}/{y}");
    assert_ne!(set.etag(2, 1, 0), set.etag(2, 1, 3));
}

#[test]
fn the_format_is_read_from_the_first_tile_when_the_metadata_does_not_say() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.mbtiles");
    mbtiles(&path, None, &[(0, 0, 0, PNG)]);
    assert_eq!(TileSet::open(&path).unwrap().format(), TileFormat::Png);
}

#[test]
fn every_unusable_file_is_refused_with_a_reason_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mbtiles");
    let err = TileSet::open(&missing).unwrap_err();
    assert!(matches!(err, TilesError::Missing(_)), "{err}");
    assert!(err.to_string().contains("missing.mbtiles"), "{err}");

    let text = dir.path().join("notes.mbtiles");
    std::fs::write(&text, "this is not a database, just some text ".repeat(200)).unwrap();
    let err = TileSet::open(&text).unwrap_err();
    assert!(matches!(err, TilesError::NotSqlite { .. }), "{err}");

    let plain = dir.path().join("plain.sqlite");
    Connection::open(&plain)
        .unwrap()
        .execute_batch("CREATE TABLE things (a)")
        .unwrap();
    let err = TileSet::open(&plain).unwrap_err();
    assert!(matches!(err, TilesError::NotMbtiles(_)), "{err}");

    let vector = dir.path().join("vector.mbtiles");
    mbtiles(&vector, Some("pbf"), &[(0, 0, 0, PBF)]);
    let err = TileSet::open(&vector).unwrap_err();
    assert!(err.to_string().contains("pbf tiles"), "{err}");

    let unknown = dir.path().join("unknown.mbtiles");
    mbtiles(&unknown, None, &[(0, 0, 0, PBF)]);
    assert!(matches!(
        TileSet::open(&unknown).unwrap_err(),
        TilesError::NotRaster { .. }
    ));

    let empty = dir.path().join("empty.mbtiles");
    mbtiles(&empty, Some("png"), &[]);
    assert!(matches!(
        TileSet::open(&empty).unwrap_err(),
        TilesError::Empty(_)
    ));
}

#[test]
fn tilejson_carries_well_formed_bounds_and_texts_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.mbtiles");
    mbtiles(&path, Some("webp"), &[(14, 0, 0, b"x")]);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "INSERT INTO metadata VALUES ('bounds', '-71.07,42.35,-71.05,42.36');
         INSERT INTO metadata VALUES ('center', 'not,a,centre');
         INSERT INTO metadata VALUES ('minzoom', '12'), ('maxzoom', '18');
         INSERT INTO metadata VALUES ('attribution', '© OpenStreetMap contributors');",
    )
    .unwrap();
    let set = TileSet::open(&path).unwrap();
    let tj = set.tilejson();
    assert_eq!(tj["format"], "webp");
    assert_eq!(tj["bounds"], json!([-71.07, 42.35, -71.05, 42.36]));
    assert!(tj.get("center").is_none(), "{tj}");
    assert_eq!(
        (tj["minzoom"].clone(), tj["maxzoom"].clone()),
        (json!(12), json!(18))
    );
    assert_eq!(tj["attribution"], "© OpenStreetMap contributors");
}

#[test]
fn the_health_probe_names_why_configured_tiles_are_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let off = TilesProbe(std::sync::Arc::new(Tiles::open(None)));
    assert_eq!(off.state(), ComponentState::Disabled);
    let missing = dir.path().join("gone.mbtiles");
    let bad = TilesProbe(std::sync::Arc::new(Tiles::open(Some(&missing))));
    let state = bad.state();
    assert_eq!(state.label(), "degraded");
    assert!(
        state.reason().unwrap().contains("gone.mbtiles"),
        "{state:?}"
    );
}
