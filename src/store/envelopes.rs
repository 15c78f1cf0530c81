//! Envelopes: a contribution's container. A client creates one per contribution, then
//! uploads its assets into it (the upload itself belongs to the media module).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, Transaction};
use serde::Serialize;

use super::sql::{Where, id_list};
use super::{Filter, Filtered, StoreError, StoreResult, Table, time};

/// An envelope as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Envelope {
    /// Row id.
    pub id: i64,
    /// The contributing session.
    pub session_id: i64,
    /// Creation time (naive UTC).
    pub created: String,
    /// Assets in it, ascending.
    pub asset_ids: Vec<i64>,
}

impl Table for Envelope {
    const WHAT: &'static str = "envelope";
    const TABLE: &'static str = "envelopes";
    const SELECT: &'static str = "SELECT e.id, e.session_id, e.created,
        (SELECT group_concat(x.asset_id, ',' ORDER BY x.asset_id) FROM envelope_assets x
          WHERE x.envelope_id = e.id)
   FROM envelopes e";
    const ID: &'static str = "e.id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            session_id: r.get(1)?,
            created: r.get(2)?,
            asset_ids: id_list(r.get(3)?),
        })
    }
}

/// Creates an empty envelope for a session.
///
/// # Errors
/// A `session_id` conflict (`Session not found`) for an unknown session.
pub(crate) fn create(tx: &Transaction<'_>, session_id: i64) -> StoreResult<Envelope> {
    if !super::sql::exists(tx, "sessions", session_id)? {
        return Err(StoreError::conflict("session_id", "Session not found"));
    }
    tx.execute(
        "INSERT INTO envelopes (session_id, created, id) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            session_id,
            time::now(),
            super::fleet::next_id(tx, "envelopes")?
        ],
    )?;
    Envelope::get(tx, tx.last_insert_rowid())
}

/// Filters of `GET envelopes/`.
#[derive(Debug, Default, Clone)]
pub(crate) struct EnvelopeFilter {
    /// exact (also the auto filter `session`)
    pub session_id: Option<i64>,
    /// The session's project.
    pub project_id: Option<i64>,
    /// Holds this asset.
    pub asset_id: Option<i64>,
    /// auto filter `assets`: holds at least one of these.
    pub assets: Vec<i64>,
    /// Exact creation time.
    pub created: Option<String>,
    /// Only envelopes of sessions this user opened (non-staff callers see their own only).
    pub owner_id: Option<i64>,
}

impl Filter for EnvelopeFilter {
    fn where_clause(&self) -> Where {
        let mut w = Where::new();
        w.eq_opt("e.session_id", self.session_id)
            .eq_opt("e.created", self.created.clone())
            .owned_by("e.session_id", self.owner_id);
        if let Some(p) = self.project_id {
            w.raw(
                "e.session_id IN (SELECT id FROM sessions WHERE project_id = ?)",
                [SqlValue::Integer(p)],
            );
        }
        if let Some(a) = self.asset_id {
            w.raw(
                "e.id IN (SELECT envelope_id FROM envelope_assets WHERE asset_id = ?)",
                [SqlValue::Integer(a)],
            );
        }
        if !self.assets.is_empty() {
            let marks = vec!["?"; self.assets.len()].join(", ");
            w.raw(
                format!(
                    "e.id IN (SELECT envelope_id FROM envelope_assets WHERE asset_id IN ({marks}))"
                ),
                self.assets.iter().map(|a| SqlValue::Integer(*a)),
            );
        }
        w
    }
}

impl Filtered for Envelope {
    type Filter = EnvelopeFilter;

    fn list(conn: &Connection, f: &EnvelopeFilter) -> StoreResult<Vec<Self>> {
        let w = f.where_clause();
        Self::select(conn, &w)
    }
}
