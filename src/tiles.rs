//! Offline map tiles for outdoor tours: an MBTiles file (`[map] tiles`) read straight out of
//! its SQLite tables, served by `web::tiles` at `/tiles/{z}/{x}/{y}` and described at
//! `/tiles/tile.json` (TileJSON 3.0) for the pages' maps.
//!
//! The file is checked once at start: it must exist, be SQLite with MBTiles' `tiles` table
//! (or view) and hold raster tiles (PNG, JPEG or WebP, by its `format` metadata or, without
//! one, by the first tile's bytes). Anything else leaves the box without tiles: one clear
//! log line, the reason in `/healthz`, and the pages fall back to the floor plan or a grid.
//! The file is opened read-only; a few connections take turns so tiles are read in parallel
//! on blocking threads. Tile ETags come from the file's identity (device, inode, size, mtime)
//! and the tile's address, so a revalidation is answered without reading the tile.
//!
//! Owns: opening, checking and reading the MBTiles file. May not touch: the box's own
//! database, HTTP (the routes are `web::tiles`).

use std::hash::{Hash as _, Hasher as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{Value, json};

use crate::health::{ComponentState, Probe};

/// Deepest zoom level served (MBTiles files rarely go past 22).
pub(crate) const MAX_ZOOM: u8 = 24;

/// Connections reading tiles in parallel.
const READERS: usize = 4;

/// Why an MBTiles file cannot be used. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TilesError {
    /// The file is not there.
    #[error("{0}: no such file (check `[map] tiles`)")]
    Missing(PathBuf),
    /// The file cannot be opened or read as SQLite.
    #[error("{path}: not an SQLite (MBTiles) file: {message}")]
    NotSqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// SQLite, but without MBTiles' `tiles` table.
    #[error("{0}: not an MBTiles file (it has no `tiles` table)")]
    NotMbtiles(PathBuf),
    /// The file holds no tiles at all.
    #[error("{0}: the MBTiles file holds no tiles")]
    Empty(PathBuf),
    /// Vector tiles (or a format the pages cannot draw).
    #[error(
        "{path}: holds {format} tiles; the maps need raster tiles (png, jpg or webp): export raster tiles, e.g. with QGIS's \"Generate XYZ tiles (MBTiles)\""
    )]
    NotRaster {
        /// The file.
        path: PathBuf,
        /// The format found.
        format: String,
    },
    /// A read failed after the file was accepted.
    #[error("reading tile from {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
}

/// The raster formats the pages draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TileFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

impl TileFormat {
    /// From MBTiles' `format` metadata value.
    fn from_metadata(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "png" => Some(Self::Png),
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// From a tile's first bytes.
    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    /// The HTTP content type.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// TileJSON's name of it.
    fn name(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }
}

/// An opened, checked MBTiles file.
pub(crate) struct TileSet {
    path: PathBuf,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    format: TileFormat,
    /// Quoted-ETag prefix from the file's identity.
    etag_base: String,
    tilejson: Value,
}

impl std::fmt::Debug for TileSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileSet")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl TileSet {
    /// Opens and checks `path` (see the module doc).
    ///
    /// # Errors
    /// What makes the file unusable, naming it.
    pub(crate) fn open(path: &Path) -> Result<Self, TilesError> {
        let meta = std::fs::metadata(path).map_err(|_| TilesError::Missing(path.into()))?;
        if !meta.is_file() {
            return Err(TilesError::Missing(path.into()));
        }
        let not_sqlite = |e: rusqlite::Error| TilesError::NotSqlite {
            path: path.into(),
            message: e.to_string(),
        };
        let open = || {
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(not_sqlite)
        };
        let first = open()?;
        // Reading the schema is the first real read: a file that is not SQLite fails here.
        let has_tiles: bool = first
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'tiles' AND type IN ('table', 'view')",
                [],
                |r| r.get(0),
            )
            .map_err(not_sqlite)?;
        if !has_tiles {
            return Err(TilesError::NotMbtiles(path.into()));
        }
        let metadata = read_metadata(&first);
        let sample: Option<Vec<u8>> = first
            .query_row("SELECT tile_data FROM tiles LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(not_sqlite)?;
        let Some(sample) = sample else {
            return Err(TilesError::Empty(path.into()));
        };
        let declared = metadata.get("format").map(String::as_str);
        let format = match declared {
            Some(f) => TileFormat::from_metadata(f),
            None => TileFormat::sniff(&sample),
        }
        .ok_or_else(|| TilesError::NotRaster {
            path: path.into(),
            format: declared.map_or_else(|| "unrecognised".to_string(), str::to_string),
        })?;
        let (minzoom, maxzoom) = zoom_range(&first, &metadata).map_err(not_sqlite)?;
        let mut readers = vec![Mutex::new(first)];
        for _ in 1..READERS {
            readers.push(Mutex::new(open()?));
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
        )
            .hash(&mut hasher);
        let tilejson = tilejson(&metadata, format, minzoom, maxzoom);
        Ok(Self {
            path: path.into(),
            readers,
            next: AtomicUsize::new(0),
            format,
            etag_base: format!("{:016x}", hasher.finish()),
            tilejson,
        })
    }

    /// The tiles' format.
    pub(crate) fn format(&self) -> TileFormat {
        self.format
    }

    /// The file's TileJSON 3.0 description (tiles at `/tiles/{z}/{x}/{y}`).
    pub(crate) fn tilejson(&self) -> &Value {
        &self.tilejson
    }

    /// The quoted ETag of tile (z, x, y) in the XYZ scheme.
    pub(crate) fn etag(&self, z: u8, x: u32, y: u32) -> String {
        format!("\"{}-{z}-{x}-{y}\"", self.etag_base)
    }

    /// Tile (z, x, y) in the XYZ scheme (y down), `None` when the file does not hold it.
    /// Blocking: call from a blocking thread.
    ///
    /// # Errors
    /// SQLite failures reading the file.
    pub(crate) fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, TilesError> {
        // MBTiles rows count from the south (TMS).
        let row = (1u64 << z) - 1 - u64::from(y);
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        // Take the first idle connection, else wait for the one in turn.
        let conn = (0..self.readers.len())
            .find_map(|i| {
                self.readers[(start + i) % self.readers.len()]
                    .try_lock()
                    .ok()
            })
            .unwrap_or_else(|| {
                self.readers[start]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            });
        conn.prepare_cached(
            "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
        )
        .and_then(|mut s| {
            s.query_row(rusqlite::params![z, x, row], |r| r.get(0))
                .optional()
        })
        .map_err(|e| TilesError::Read {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

/// The `metadata` table as name → value (empty when it is missing: it is optional in
/// practice, and `tiles` is what matters).
fn read_metadata(conn: &Connection) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let Ok(mut stmt) = conn.prepare("SELECT name, value FROM metadata") else {
        return out;
    };
    let Ok(rows) = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    }) else {
        return out;
    };
    for (name, value) in rows.flatten() {
        if let Some(value) = value {
            out.insert(name.to_ascii_lowercase(), value);
        }
    }
    out
}

/// The zoom levels held: from the metadata when it says, else from the tiles.
fn zoom_range(
    conn: &Connection,
    metadata: &std::collections::HashMap<String, String>,
) -> rusqlite::Result<(u8, u8)> {
    let from_meta = |key: &str| {
        metadata
            .get(key)
            .and_then(|v| v.trim().parse::<u8>().ok())
            .filter(|z| *z <= MAX_ZOOM)
    };
    if let (Some(min), Some(max)) = (from_meta("minzoom"), from_meta("maxzoom"))
        && min <= max
    {
        return Ok((min, max));
    }
    let (min, max): (i64, i64) = conn.query_row(
        "SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let clamp = |z: i64| u8::try_from(z.clamp(0, i64::from(MAX_ZOOM))).unwrap_or(MAX_ZOOM);
    Ok((clamp(min), clamp(max)))
}

/// TileJSON 3.0 from the metadata (`bounds` and `center` only when well formed).
fn tilejson(
    metadata: &std::collections::HashMap<String, String>,
    format: TileFormat,
    minzoom: u8,
    maxzoom: u8,
) -> Value {
    let numbers = |key: &str, n: usize| -> Option<Vec<f64>> {
        let v: Vec<f64> = metadata
            .get(key)?
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .ok()?;
        (v.len() == n && v.iter().all(|x| x.is_finite())).then_some(v)
    };
    let mut out = json!({
        "tilejson": "3.0.0",
        "tiles": ["/tiles/{z}/{x}/{y}"],
        "scheme": "xyz",
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "format": format.name(),
    });
    if let Some(b) = numbers("bounds", 4).filter(|b| {
        (-180.0..=180.0).contains(&b[0])
            && (-180.0..=180.0).contains(&b[2])
            && (-90.0..=90.0).contains(&b[1])
            && (-90.0..=90.0).contains(&b[3])
    }) {
        out["bounds"] = json!(b);
    }
    if let Some(c) = numbers("center", 3) {
        out["center"] = json!(c);
    }
    for key in ["name", "attribution", "description"] {
        if let Some(v) = metadata.get(key).filter(|v| !v.trim().is_empty()) {
            // A page shows these; keep them short.
            out[key] = json!(v.chars().take(500).collect::<String>());
        }
    }
    out
}

/// The box's tiles: none configured, configured but unusable (why), or ready.
#[derive(Debug)]
pub(crate) enum Tiles {
    /// `[map] tiles` is not set.
    Off,
    /// Set, but the file cannot be used; the message says why.
    Unusable(String),
    /// Served.
    Ready(std::sync::Arc<TileSet>),
}

impl Tiles {
    /// Opens `[map] tiles`, logging one line about the outcome.
    pub(crate) fn open(path: Option<&Path>) -> Self {
        let Some(path) = path else {
            return Self::Off;
        };
        match TileSet::open(path) {
            Ok(set) => {
                log::info!(
                    "map tiles: serving {} ({} tiles, zoom {}–{})",
                    path.display(),
                    set.format.name(),
                    set.tilejson["minzoom"],
                    set.tilejson["maxzoom"]
                );
                Self::Ready(std::sync::Arc::new(set))
            }
            Err(e) => {
                log::error!("map tiles: {e}; the maps show the floor plan or a plain grid instead");
                Self::Unusable(e.to_string())
            }
        }
    }
}

/// `/healthz`'s view of the tiles.
pub(crate) struct TilesProbe(pub(crate) std::sync::Arc<Tiles>);

impl Probe for TilesProbe {
    fn name(&self) -> &'static str {
        "tiles"
    }

    fn state(&self) -> ComponentState {
        match &*self.0 {
            Tiles::Off => ComponentState::Disabled,
            Tiles::Unusable(why) => ComponentState::Degraded(why.clone()),
            Tiles::Ready(_) => ComponentState::Ok,
        }
    }
}

#[cfg(test)]
mod tests;
