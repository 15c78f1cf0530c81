//! Speakers: polygon zones of a project where a looped audio source (`uri`) is heard, loud
//! inside the attenuation border and fading to `minvolume` at the shape's edge.
//!
//! `shape` is stored as GeoJSON MultiPolygon text; `boundary` (the shape's rings as a
//! MultiLineString) and `attenuation_border` (the shape shrunk inward by
//! `attenuation_distance` metres, one closed LineString) are derived here on every save that
//! changes the shape or the distance. Rows written by other means (fixtures, imports) without
//! the derived columns get them computed on read, as the reference model does on load.

use geo::MultiPolygon;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;
use serde_json::Value;

use super::sql::{self};
use super::{
    Editable, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test,
};
use crate::geometry;

/// A speaker as api/2 shows it; every key always present, `backupuri` never null.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Speaker {
    /// Row id.
    pub id: i64,
    /// Whether the speaker plays.
    pub activeyn: bool,
    /// Short label.
    pub code: String,
    /// Volume inside the attenuation border.
    pub maxvolume: f64,
    /// Volume at and beyond the shape's edge.
    pub minvolume: f64,
    /// The audio source (an HTTP URL or a `/rwmedia/` path).
    pub uri: String,
    /// Fallback source; `""` when there is none.
    pub backupuri: String,
    /// GeoJSON MultiPolygon, or null.
    pub shape: Value,
    /// GeoJSON MultiLineString of the shape's closed rings, or null.
    pub boundary: Value,
    /// Metres over which the volume fades at the edge.
    pub attenuation_distance: i64,
    /// GeoJSON closed LineString: the shape shrunk by `attenuation_distance`, or null.
    pub attenuation_border: Value,
    /// Project.
    pub project_id: i64,
}

/// The derived geometry of a shape, as stored GeoJSON text: (boundary, attenuation border).
fn derived(mp: &MultiPolygon<f64>, attenuation_distance: i64) -> (String, String) {
    let boundary = geometry::multilinestring_json(&geometry::boundary(mp));
    let border = geometry::linestring_json(&geometry::attenuation_border(
        mp,
        attenuation_distance as f64,
    ));
    (boundary.to_string(), border.to_string())
}

impl Table for Speaker {
    const WHAT: &'static str = "speaker";
    const TABLE: &'static str = "speakers";
    const SELECT: &'static str = "SELECT id, activeyn, code, maxvolume, minvolume, uri, backupuri, shape, boundary, \
         attenuation_distance, attenuation_border, project_id FROM speakers";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let shape: Option<String> = r.get(7)?;
        let mut boundary: Option<String> = r.get(8)?;
        let attenuation_distance: i64 = r.get(9)?;
        let mut border: Option<String> = r.get(10)?;
        if (boundary.is_none() || border.is_none())
            && let Some(mp) = shape.as_deref().and_then(geometry::stored_multipolygon)
        {
            let (b, a) = derived(&mp, attenuation_distance);
            boundary.get_or_insert(b);
            border.get_or_insert(a);
        }
        Ok(Self {
            id: r.get(0)?,
            activeyn: r.get(1)?,
            code: r.get(2)?,
            maxvolume: r.get(3)?,
            minvolume: r.get(4)?,
            uri: r.get(5)?,
            backupuri: r.get(6)?,
            shape: geometry::stored_json(shape.as_deref()),
            boundary: geometry::stored_json(boundary.as_deref()),
            attenuation_distance,
            attenuation_border: geometry::stored_json(border.as_deref()),
            project_id: r.get(11)?,
        })
    }
}

/// `GET speakers/`: active or not, and the project, exactly.
impl Queried for Speaker {
    const PARAMS: &'static [Param] = &[
        Param::eq(&["activeyn"], Kind::Bool),
        Param::new(
            &["project_id", "project"],
            "project_id",
            Test::Eq,
            Kind::Int,
        ),
    ];
}

impl Filtered for Speaker {
    type Filter = Given<Self>;
}

/// Fields of a create or PATCH; `None` leaves a field as it is (or at its default).
#[derive(Debug, Default, Clone)]
pub(crate) struct SpeakerInput {
    /// Project (must exist).
    pub project_id: Option<i64>,
    /// Flag (default false).
    pub activeyn: Option<bool>,
    /// Label (default `""`).
    pub code: Option<String>,
    /// Volume inside the border.
    pub maxvolume: Option<f64>,
    /// Volume outside.
    pub minvolume: Option<f64>,
    /// Source.
    pub uri: Option<String>,
    /// Fallback source (default `""`).
    pub backupuri: Option<String>,
    /// Zone.
    pub shape: Option<MultiPolygon<f64>>,
    /// Metres.
    pub attenuation_distance: Option<i64>,
}

/// The stored state a save starts from.
struct Current {
    project_id: i64,
    activeyn: bool,
    code: String,
    maxvolume: f64,
    minvolume: f64,
    uri: String,
    backupuri: String,
    shape: Option<String>,
    attenuation_distance: i64,
}

fn check(tx: &Transaction<'_>, c: &Current) -> StoreResult<()> {
    if c.minvolume > c.maxvolume {
        return Err(StoreError::conflict(
            "minvolume",
            format!(
                "minvolume ({}) must not be greater than maxvolume ({}).",
                c.minvolume, c.maxvolume
            ),
        ));
    }
    if !sql::exists(tx, "projects", c.project_id)? {
        return Err(StoreError::conflict(
            "project_id",
            format!("Project {} not found.", c.project_id),
        ));
    }
    Ok(())
}

fn merge(c: &mut Current, i: &SpeakerInput) -> bool {
    if let Some(v) = i.project_id {
        c.project_id = v;
    }
    if let Some(v) = i.activeyn {
        c.activeyn = v;
    }
    if let Some(v) = &i.code {
        c.code.clone_from(v);
    }
    if let Some(v) = i.maxvolume {
        c.maxvolume = v;
    }
    if let Some(v) = i.minvolume {
        c.minvolume = v;
    }
    if let Some(v) = &i.uri {
        c.uri.clone_from(v);
    }
    if let Some(v) = &i.backupuri {
        c.backupuri.clone_from(v);
    }
    let mut geometry_changed = false;
    if let Some(mp) = &i.shape {
        c.shape = Some(geometry::multipolygon_json(mp).to_string());
        geometry_changed = true;
    }
    if let Some(d) = i.attenuation_distance {
        geometry_changed |= d != c.attenuation_distance;
        c.attenuation_distance = d;
    }
    geometry_changed
}

impl Editable for Speaker {
    type Input = SpeakerInput;

    /// Creates a speaker and derives its borders (the caller has checked that `uri`, the volumes,
    /// the shape, the distance and the project are given).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for minvolume above maxvolume or an unknown project.
    fn create(tx: &Transaction<'_>, input: &SpeakerInput) -> StoreResult<Self> {
        let mut c = Current {
            project_id: 0,
            activeyn: false,
            code: String::new(),
            maxvolume: 0.0,
            minvolume: 0.0,
            uri: String::new(),
            backupuri: String::new(),
            shape: None,
            attenuation_distance: 0,
        };
        merge(&mut c, input);
        check(tx, &c)?;
        let (boundary, border) = match &input.shape {
            Some(mp) => {
                let (b, a) = derived(mp, c.attenuation_distance);
                (Some(b), Some(a))
            }
            None => (None, None),
        };
        tx.execute(
            "INSERT INTO speakers (project_id, activeyn, code, maxvolume, minvolume, uri, backupuri,
                                   shape, boundary, attenuation_distance, attenuation_border)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params![
                c.project_id,
                c.activeyn,
                c.code,
                c.maxvolume,
                c.minvolume,
                c.uri,
                c.backupuri,
                c.shape,
                boundary,
                c.attenuation_distance,
                border
            ],
        )?;
        Speaker::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH; the borders are derived again when the shape or the distance changes.
    ///
    /// # Errors
    /// Not found, or the conflicts of `create`.
    fn patch(tx: &Transaction<'_>, id: i64, input: &SpeakerInput) -> StoreResult<Self> {
        let mut c = tx
            .prepare_cached(
                "SELECT project_id, activeyn, code, maxvolume, minvolume, uri, backupuri, shape,
                        attenuation_distance FROM speakers WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(Current {
                    project_id: r.get(0)?,
                    activeyn: r.get(1)?,
                    code: r.get(2)?,
                    maxvolume: r.get(3)?,
                    minvolume: r.get(4)?,
                    uri: r.get(5)?,
                    backupuri: r.get(6)?,
                    shape: r.get(7)?,
                    attenuation_distance: r.get(8)?,
                })
            })
            .optional()?
            .ok_or_else(|| StoreError::not_found("speaker", id))?;
        let geometry_changed = merge(&mut c, input);
        check(tx, &c)?;
        tx.execute(
            "UPDATE speakers SET project_id = ?2, activeyn = ?3, code = ?4, maxvolume = ?5,
                    minvolume = ?6, uri = ?7, backupuri = ?8, shape = ?9, attenuation_distance = ?10
              WHERE id = ?1",
            rusqlite::params![
                id,
                c.project_id,
                c.activeyn,
                c.code,
                c.maxvolume,
                c.minvolume,
                c.uri,
                c.backupuri,
                c.shape,
                c.attenuation_distance
            ],
        )?;
        if geometry_changed {
            let derived = c
                .shape
                .as_deref()
                .and_then(geometry::stored_multipolygon)
                .map(|mp| derived(&mp, c.attenuation_distance));
            let (boundary, border) = derived.unzip();
            tx.execute(
                "UPDATE speakers SET boundary = ?2, attenuation_border = ?3 WHERE id = ?1",
                rusqlite::params![id, boundary, border],
            )?;
        }
        Speaker::get(tx, id)
    }
}

/// The shapes of a project's active speakers (for "is this point in the project's area").
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn active_shapes(
    conn: &Connection,
    project_id: i64,
) -> StoreResult<Vec<MultiPolygon<f64>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT shape FROM speakers WHERE project_id = ?1 AND activeyn AND shape IS NOT NULL
          ORDER BY id",
    )?;
    let rows = stmt.query_map([project_id], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        if let Some(mp) = geometry::stored_multipolygon(&text?) {
            out.push(mp);
        }
    }
    Ok(out)
}
