//! Floor plans: one site image per project (a museum's floor plan, a park's site plan),
//! drawn under the zones on the visitor page and in the console. The image is a file in the
//! media folder; the row holds its media name, its size in pixels, the axis-aligned box it
//! covers on the map (degrees) and the opacity it is drawn with. The row's id is its project's
//! id, and it goes with its project.
//!
//! Owns: the `floorplans` table. May not touch: the image files (the API writes and removes
//! them around these rows).

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::table::Table;
use super::{StoreError, StoreResult, time};

/// A project's floor plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct FloorPlan {
    /// The project it belongs to (also its id).
    pub project_id: i64,
    /// The image's media name (a URL on the wire).
    #[serde(rename = "url")]
    pub file: String,
    /// Image width in pixels.
    pub width_px: u32,
    /// Image height in pixels.
    pub height_px: u32,
    /// Where the image lies on the map.
    #[serde(flatten)]
    pub bounds: Bounds,
    /// 0 (invisible) to 1 (opaque).
    pub opacity: f64,
    /// When it was last changed.
    pub updated: String,
}

/// An axis-aligned box on the map, in degrees.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct Bounds {
    /// Southern edge (latitude).
    pub south: f64,
    /// Western edge (longitude).
    pub west: f64,
    /// Northern edge (latitude).
    pub north: f64,
    /// Eastern edge (longitude).
    pub east: f64,
}

impl Bounds {
    /// What is wrong with the box, as (field, message); `None` when it is a proper box.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let lat = -90.0..=90.0;
        let lon = -180.0..=180.0;
        for (field, v, range) in [
            ("south", self.south, &lat),
            ("north", self.north, &lat),
            ("west", self.west, &lon),
            ("east", self.east, &lon),
        ] {
            if !range.contains(&v) {
                return Some((
                    field,
                    format!(
                        "{v} is not a {} from {} to {}.",
                        if field == "south" || field == "north" {
                            "latitude"
                        } else {
                            "longitude"
                        },
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        if self.south >= self.north {
            return Some((
                "south",
                format!(
                    "The southern edge ({}) must be below the northern edge ({}).",
                    self.south, self.north
                ),
            ));
        }
        if self.west >= self.east {
            return Some((
                "west",
                format!(
                    "The western edge ({}) must be west of the eastern edge ({}).",
                    self.west, self.east
                ),
            ));
        }
        None
    }
}

impl Table for FloorPlan {
    const WHAT: &'static str = "floor plan of project";
    const TABLE: &'static str = "floorplans";
    const SELECT: &'static str = "SELECT project_id, file, width_px, height_px, south, west, north, east, opacity, updated FROM floorplans";
    const ID: &'static str = "project_id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            project_id: r.get(0)?,
            file: r.get(1)?,
            width_px: r.get(2)?,
            height_px: r.get(3)?,
            bounds: Bounds {
                south: r.get(4)?,
                west: r.get(5)?,
                north: r.get(6)?,
                east: r.get(7)?,
            },
            opacity: r.get(8)?,
            updated: r.get(9)?,
        })
    }
}

/// Sets project `plan.project_id`'s floor plan (its `updated` is set here); returns it as
/// stored, and the media name of the image it replaced, whose files the caller removes after
/// the commit.
///
/// # Errors
/// [`StoreError::NotFound`] for a missing project; SQLite failures.
pub(crate) fn put(
    tx: &Transaction<'_>,
    plan: &FloorPlan,
) -> StoreResult<(FloorPlan, Option<String>)> {
    let exists: bool = tx.query_row(
        "SELECT count(*) > 0 FROM projects WHERE id = ?1",
        [plan.project_id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::not_found("project", plan.project_id));
    }
    let old = file_of(tx, plan.project_id)?;
    let b = plan.bounds;
    tx.execute(
        "INSERT INTO floorplans (project_id, file, width_px, height_px, south, west, north, east, opacity, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (project_id) DO UPDATE SET file = excluded.file, width_px = excluded.width_px,
           height_px = excluded.height_px, south = excluded.south, west = excluded.west,
           north = excluded.north, east = excluded.east, opacity = excluded.opacity,
           updated = excluded.updated",
        params![
            plan.project_id,
            plan.file,
            plan.width_px,
            plan.height_px,
            b.south,
            b.west,
            b.north,
            b.east,
            plan.opacity,
            time::now()
        ],
    )?;
    let stored = FloorPlan::get(tx, plan.project_id)?;
    Ok((stored, old.filter(|f| *f != plan.file)))
}

/// Moves project `project_id`'s floor plan to `bounds` and/or draws it with `opacity`.
///
/// # Errors
/// [`StoreError::NotFound`] when the project has no floor plan; SQLite failures.
pub(crate) fn place(
    tx: &Transaction<'_>,
    project_id: i64,
    bounds: Option<Bounds>,
    opacity: Option<f64>,
) -> StoreResult<FloorPlan> {
    let mut plan = FloorPlan::get(tx, project_id)?;
    if let Some(b) = bounds {
        plan.bounds = b;
    }
    if let Some(o) = opacity {
        plan.opacity = o;
    }
    let b = plan.bounds;
    tx.execute(
        "UPDATE floorplans SET south = ?2, west = ?3, north = ?4, east = ?5, opacity = ?6, updated = ?7
          WHERE project_id = ?1",
        params![project_id, b.south, b.west, b.north, b.east, plan.opacity, time::now()],
    )?;
    FloorPlan::get(tx, project_id)
}

/// Removes project `project_id`'s floor plan; returns its image's media name.
///
/// # Errors
/// [`StoreError::NotFound`] when there is none; SQLite failures.
pub(crate) fn remove(tx: &Transaction<'_>, project_id: i64) -> StoreResult<String> {
    let file = file_of(tx, project_id)?
        .ok_or_else(|| StoreError::not_found(FloorPlan::WHAT, project_id))?;
    tx.execute("DELETE FROM floorplans WHERE project_id = ?1", [project_id])?;
    Ok(file)
}

/// The media name of project `project_id`'s floor plan image, if it has one.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn file_of(conn: &Connection, project_id: i64) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT file FROM floorplans WHERE project_id = ?1")?
        .query_row([project_id], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(south: f64, west: f64, north: f64, east: f64) -> Bounds {
        Bounds {
            south,
            west,
            north,
            east,
        }
    }

    #[test]
    fn a_box_must_be_on_the_globe_and_have_its_edges_in_order() {
        assert_eq!(b(42.35, -71.07, 42.36, -71.06).problem(), None);
        assert_eq!(
            b(42.36, -71.07, 42.35, -71.06).problem().unwrap().0,
            "south"
        );
        assert_eq!(b(42.35, -71.06, 42.36, -71.07).problem().unwrap().0, "west");
        assert_eq!(b(42.35, -71.07, 91.0, -71.06).problem().unwrap().0, "north");
        assert_eq!(b(42.35, -181.0, 42.36, -71.06).problem().unwrap().0, "west");
        assert!(b(f64::NAN, 0.0, 1.0, 1.0).problem().is_some());
    }
}
