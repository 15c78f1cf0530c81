//! Project groups: named sets of projects, and the "project chooser" query that lists the
//! projects of a group available at a listener's location.
//!
//! A project is available at a point when it does not use location for listening
//! (`geo_listen_enabled` false) or when the point lies inside the shape of one of its active
//! speakers. decisions.md: the point is (longitude, latitude) in the right order, and only the
//! group with exactly this id is searched (the reference swaps the two and matches ids by digit).

use rusqlite::{Connection, Row, Transaction};
use serde::Serialize;

use super::loc::{self, Owner};
use super::sql::{self};
use super::{
    Editable, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test, speakers,
};
use crate::geometry;

/// A project group as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ProjectGroup {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Inactive groups offer no projects.
    pub active: bool,
    /// Free text.
    pub description: String,
    /// Member projects, by id.
    pub project_ids: Vec<i64>,
}

impl Table for ProjectGroup {
    const WHAT: &'static str = "project group";
    const TABLE: &'static str = "project_groups";
    const SELECT: &'static str = "SELECT id, name, active, description, \
         (SELECT group_concat(project_id) FROM (SELECT project_id FROM project_group_projects \
            WHERE group_id = project_groups.id ORDER BY project_id)) FROM project_groups";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            active: r.get(2)?,
            description: r.get(3)?,
            project_ids: sql::id_list(r.get(4)?),
        })
    }
}

/// `GET projectgroups/`: `name` contains (any case), `active` exactly.
impl Queried for ProjectGroup {
    const PARAMS: &'static [Param] = &[
        Param::new(&["name"], "name", Test::Contains, Kind::Text),
        Param::eq(&["active"], Kind::Bool),
    ];
}

impl Filtered for ProjectGroup {
    type Filter = Given<Self>;
}

/// Fields of a create or PATCH; `None` keeps the stored value (or the default).
#[derive(Debug, Default, Clone)]
pub(crate) struct ProjectGroupInput {
    /// Name (required on create).
    pub name: Option<String>,
    /// Default true.
    pub active: Option<bool>,
    /// Default `""`.
    pub description: Option<String>,
    /// Replaces the member list; every id must be a project.
    pub project_ids: Option<Vec<i64>>,
}

fn set_projects(tx: &Transaction<'_>, id: i64, ids: &[i64]) -> StoreResult<()> {
    for p in ids {
        if !sql::exists(tx, "projects", *p)? {
            return Err(StoreError::conflict(
                "project_ids",
                format!("Project {p} not found."),
            ));
        }
    }
    sql::replace_links(
        tx,
        "project_group_projects",
        "group_id",
        "project_id",
        id,
        ids,
    )?;
    Ok(())
}

impl Editable for ProjectGroup {
    type Input = ProjectGroupInput;

    /// A conflict naming `project_ids` for an id that is not a project.
    fn create(tx: &Transaction<'_>, i: &ProjectGroupInput) -> StoreResult<Self> {
        tx.execute(
            "INSERT INTO project_groups (name, active, description) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                i.name.as_deref().unwrap_or(""),
                i.active.unwrap_or(true),
                i.description.as_deref().unwrap_or("")
            ],
        )?;
        let id = tx.last_insert_rowid();
        set_projects(tx, id, i.project_ids.as_deref().unwrap_or(&[]))?;
        Self::get(tx, id)
    }

    fn patch(tx: &Transaction<'_>, id: i64, i: &ProjectGroupInput) -> StoreResult<Self> {
        Self::get(tx, id)?;
        tx.execute(
            "UPDATE project_groups SET name = coalesce(?2, name), active = coalesce(?3, active),
                    description = coalesce(?4, description) WHERE id = ?1",
            rusqlite::params![id, i.name, i.active, i.description],
        )?;
        if let Some(ids) = &i.project_ids {
            set_projects(tx, id, ids)?;
        }
        Self::get(tx, id)
    }
}

/// One entry of `GET projectgroups/:id/projects/`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ProjectChoice {
    /// Project id.
    pub project_id: i64,
    /// Project name.
    pub name: String,
    /// Project owner.
    pub owner: String,
    /// The project description in the asked language (then English, then any); `""` when it
    /// has none.
    pub description_loc: String,
    /// `<media base>/rwmedia/project<id>-thumb.png`.
    pub thumbnail_url: String,
}

/// The language row for a code such as `es` or `es-MX`; English when unknown.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn language_by_code(conn: &Connection, code: &str) -> StoreResult<i64> {
    match super::languages::id_for_locale(conn, code)? {
        Some(id) => Ok(id),
        None => loc::english_id(conn),
    }
}

/// The projects of group `group_id` available at (`latitude`, `longitude`), by id, with their
/// descriptions in `language_id`. `media_base` is the absolute URL base of `/rwmedia/`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn projects_at(
    conn: &Connection,
    group_id: i64,
    latitude: f64,
    longitude: f64,
    language_id: i64,
    media_base: &str,
) -> StoreResult<Vec<ProjectChoice>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.name, p.owner, p.geo_listen_enabled FROM projects p
           JOIN project_group_projects g ON g.project_id = p.id
          WHERE g.group_id = ?1 ORDER BY p.id",
    )?;
    let members = stmt
        .query_map([group_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for (id, name, owner, geo) in members {
        let here = !geo
            || speakers::active_shapes(conn, id)?
                .iter()
                .any(|shape| geometry::contains(shape, longitude, latitude));
        if !here {
            continue;
        }
        let description_loc =
            loc::resolve(conn, Owner::Project, id, "description", language_id)?.unwrap_or_default();
        out.push(ProjectChoice {
            project_id: id,
            name,
            owner,
            description_loc,
            thumbnail_url: format!("{media_base}/rwmedia/project{id}-thumb.png"),
        });
    }
    Ok(out)
}
