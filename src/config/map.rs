//! `[map]`: what the pages draw under speaker zones. Parsed into [`MapConfig`].
//!
//! Owns: the keys, their defaults and messages. May not touch: the tiles file itself (opened
//! by [`crate::tiles`] at start, which reports what is wrong with it).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[map]`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapConfig {
    /// The MBTiles file served at `/tiles/{z}/{x}/{y}` as the maps' base layer; `None`: no
    /// tiles (the pages show the project's floor plan, or a plain grid).
    pub tiles: Option<PathBuf>,
}

/// The raw `[map]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMap {
    tiles: String,
}

impl RawMap {
    /// The keys, validated; a relative `tiles` path is taken inside `data_dir`.
    pub(super) fn validate(&self, data_dir: &Path) -> Result<MapConfig, (&'static str, String)> {
        let tiles = self.tiles.trim();
        if tiles.is_empty() {
            return Ok(MapConfig { tiles: None });
        }
        if tiles.contains('\0') {
            return Err(("map.tiles", "the path contains a NUL character".into()));
        }
        let path = Path::new(tiles);
        Ok(MapConfig {
            tiles: Some(if path.is_absolute() {
                path.to_path_buf()
            } else {
                data_dir.join(path)
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_tiles_key_means_no_tiles_and_a_relative_one_lives_in_the_data_directory() {
        let data = Path::new("/var/lib/roundwared");
        let raw = |t: &str| RawMap { tiles: t.into() };
        assert_eq!(raw("").validate(data).unwrap().tiles, None);
        assert_eq!(raw("  ").validate(data).unwrap().tiles, None);
        assert_eq!(
            raw("town.mbtiles").validate(data).unwrap().tiles,
            Some(PathBuf::from("/var/lib/roundwared/town.mbtiles"))
        );
        assert_eq!(
            raw("/srv/maps/town.mbtiles").validate(data).unwrap().tiles,
            Some(PathBuf::from("/srv/maps/town.mbtiles"))
        );
        assert_eq!(raw("a\0b").validate(data).unwrap_err().0, "map.tiles");
    }
}
