//! Timed assets: an asset made available to a project's mix between `start` and `end`
//! seconds after a stream (or client session) starts, whatever the listener's location.
//!
//! The column `end` is an SQL keyword and is always written quoted.

use rusqlite::{Row, Transaction};
use serde::Serialize;

use super::sql::{self};
use super::{
    Editable, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test,
};

/// The message the reference server gives when `end` comes before `start`.
pub(crate) const END_BEFORE_START: &str = "End time must be greater than start time.";

/// A timed asset as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct TimedAsset {
    /// Row id.
    pub id: i64,
    /// Seconds from stream start when the asset becomes available.
    pub start: f64,
    /// Seconds from stream start when it stops being available.
    pub end: f64,
    /// Asset.
    pub asset_id: i64,
    /// Project.
    pub project_id: i64,
}

impl Table for TimedAsset {
    const WHAT: &'static str = "timed asset";
    const TABLE: &'static str = "timed_assets";
    const SELECT: &'static str =
        "SELECT id, start, \"end\", asset_id, project_id FROM timed_assets";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            start: r.get(1)?,
            end: r.get(2)?,
            asset_id: r.get(3)?,
            project_id: r.get(4)?,
        })
    }
}

/// `GET timedassets/`: the project and asset, `start` and `end` exactly or as bounds (seconds).
impl Queried for TimedAsset {
    const PARAMS: &'static [Param] = &[
        Param::new(
            &["project_id", "project"],
            "project_id",
            Test::Eq,
            Kind::Int,
        ),
        Param::new(&["asset_id", "asset"], "asset_id", Test::Eq, Kind::Int),
        Param::eq(&["start"], Kind::Float),
        Param::new(&["end"], "\"end\"", Test::Eq, Kind::Float),
        Param::new(&["start__lte"], "start", Test::Le, Kind::Float),
        Param::new(&["start__gte"], "start", Test::Ge, Kind::Float),
        Param::new(&["end__lte"], "\"end\"", Test::Le, Kind::Float),
        Param::new(&["end__gte"], "\"end\"", Test::Ge, Kind::Float),
    ];
}

impl Filtered for TimedAsset {
    type Filter = Given<Self>;
}

/// Fields of a create or PATCH; `None` keeps the stored value.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimedAssetInput {
    /// Seconds.
    pub start: Option<f64>,
    /// Seconds.
    pub end: Option<f64>,
    /// Asset (must exist).
    pub asset_id: Option<i64>,
    /// Project (must exist).
    pub project_id: Option<i64>,
}

fn merged(base: &TimedAsset, i: &TimedAssetInput) -> TimedAsset {
    TimedAsset {
        id: base.id,
        start: i.start.unwrap_or(base.start),
        end: i.end.unwrap_or(base.end),
        asset_id: i.asset_id.unwrap_or(base.asset_id),
        project_id: i.project_id.unwrap_or(base.project_id),
    }
}

fn check(tx: &Transaction<'_>, t: &TimedAsset) -> StoreResult<()> {
    if t.end < t.start {
        return Err(StoreError::conflict("non_field_errors", END_BEFORE_START));
    }
    if !sql::exists(tx, "projects", t.project_id)? {
        return Err(StoreError::conflict(
            "project_id",
            format!("Project {} not found.", t.project_id),
        ));
    }
    if !sql::exists(tx, "assets", t.asset_id)? {
        return Err(StoreError::conflict(
            "asset_id",
            format!("Asset {} not found.", t.asset_id),
        ));
    }
    Ok(())
}

impl Editable for TimedAsset {
    type Input = TimedAssetInput;

    /// Creates a timed asset: a conflict for `end` before `start` (`non_field_errors`, as
    /// the reference) or an unknown project or asset.
    fn create(tx: &Transaction<'_>, input: &TimedAssetInput) -> StoreResult<Self> {
        let base = TimedAsset {
            id: 0,
            start: 0.0,
            end: 0.0,
            asset_id: 0,
            project_id: 0,
        };
        let t = merged(&base, input);
        check(tx, &t)?;
        tx.execute(
            "INSERT INTO timed_assets (project_id, asset_id, start, \"end\") VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![t.project_id, t.asset_id, t.start, t.end],
        )?;
        Self::get(tx, tx.last_insert_rowid())
    }

    /// A PATCH with only one of `start`/`end` is checked against the stored other.
    fn patch(tx: &Transaction<'_>, id: i64, input: &TimedAssetInput) -> StoreResult<Self> {
        let t = merged(&Self::get(tx, id)?, input);
        check(tx, &t)?;
        tx.execute(
            "UPDATE timed_assets SET project_id = ?2, asset_id = ?3, start = ?4, \"end\" = ?5
              WHERE id = ?1",
            rusqlite::params![id, t.project_id, t.asset_id, t.start, t.end],
        )?;
        Self::get(tx, id)
    }
}
