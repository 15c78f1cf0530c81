//! Votes on assets (`like`, `flag`, `rate`, `block_asset`, `block_user`): the plain CRUD of
//! `votes/`, the per-asset counts, the summary of `votes/summary/`, and the listener's vote of
//! `POST assets/:id/votes/` with its toggle rule and `vote_asset` event.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::events::NewEvent;
use super::sql::Where;
use super::{Editable, Filter, StoreError, StoreResult, Table};

/// The vote types.
pub(crate) const VOTE_TYPES: &[&str] = &["like", "flag", "rate", "block_asset", "block_user"];

/// Votes of one type on one asset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct VoteCount {
    /// Vote type.
    #[serde(rename = "type")]
    pub vote_type: String,
    /// How many.
    pub total: i64,
    /// Mean value; only for `rate`, and only when some rate vote has a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg: Option<f64>,
}

/// A vote as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Vote {
    /// Row id.
    pub id: i64,
    /// Value (ratings), or null.
    pub value: Option<i64>,
    /// Vote type.
    #[serde(rename = "type")]
    pub vote_type: String,
    /// The voting user, or null.
    pub voter_id: Option<i64>,
    /// The asset voted on.
    pub asset_id: i64,
    /// The voting session.
    pub session_id: i64,
    /// The asset's vote counts by type, fewest first.
    pub asset_votes: Vec<VoteCount>,
}

impl Table for Vote {
    const WHAT: &'static str = "vote";
    const TABLE: &'static str = "votes";
    const SELECT: &'static str =
        "SELECT v.id, v.value, v.type, v.voter_id, v.asset_id, v.session_id FROM votes v";
    const ID: &'static str = "v.id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            value: r.get(1)?,
            vote_type: r.get(2)?,
            voter_id: r.get(3)?,
            asset_id: r.get(4)?,
            session_id: r.get(5)?,
            asset_votes: Vec::new(),
        })
    }

    /// Adds the counts of the vote's asset.
    fn complete(mut self, conn: &Connection) -> StoreResult<Self> {
        self.asset_votes = counts(conn, self.asset_id)?;
        Ok(self)
    }
}

/// Vote counts by type for the assets selected by `asset_sql` (a subquery yielding asset
/// ids), keyed by asset id; each list is ordered by count ascending (then type).
fn counts_where(
    conn: &Connection,
    asset_sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<HashMap<i64, Vec<VoteCount>>> {
    // Running totals kept by triggers (migration 0003), not a count over every vote.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT asset_id, type, total,
                CASE WHEN valued > 0 THEN CAST(value_sum AS REAL) / valued END
           FROM vote_counts
          WHERE asset_id IN ({asset_sql}) AND total > 0
          ORDER BY asset_id, total, type"
    ))?;
    let mut out: HashMap<i64, Vec<VoteCount>> = HashMap::new();
    let mut rows = stmt.query(params)?;
    while let Some(r) = rows.next()? {
        let vote_type: String = r.get(1)?;
        let avg: Option<f64> = r.get(3)?;
        out.entry(r.get(0)?).or_default().push(VoteCount {
            avg: avg.filter(|_| vote_type == "rate"),
            vote_type,
            total: r.get(2)?,
        });
    }
    Ok(out)
}

/// An asset's vote counts by type, fewest first; `avg` on `rate` only.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn counts(conn: &Connection, asset_id: i64) -> StoreResult<Vec<VoteCount>> {
    Ok(counts_where(conn, "?1", [asset_id])?
        .remove(&asset_id)
        .unwrap_or_default())
}

/// Filters of `GET votes/` and `GET votes/summary/`.
#[derive(Debug, Default, Clone)]
pub(crate) struct VoteFilter {
    /// exact (also the auto filter `voter`)
    pub voter_id: Option<i64>,
    /// exact (also `session`)
    pub session_id: Option<i64>,
    /// The session's project.
    pub project_id: Option<i64>,
    /// exact (also `asset`)
    pub asset_id: Option<i64>,
    /// exact vote type
    pub vote_type: Option<String>,
    /// exact value
    pub value: Option<i64>,
    /// The asset's media type.
    pub media_type: Option<String>,
}

impl Filter for VoteFilter {
    fn where_clause(&self) -> Where {
        let mut w = Where::new();
        w.eq_opt("v.voter_id", self.voter_id)
            .eq_opt("v.session_id", self.session_id)
            .eq_opt("v.asset_id", self.asset_id)
            .eq_opt("v.type", self.vote_type.clone())
            .eq_opt("v.value", self.value);
        if let Some(p) = self.project_id {
            w.raw(
                "v.session_id IN (SELECT id FROM sessions WHERE project_id = ?)",
                [SqlValue::Integer(p)],
            );
        }
        if let Some(m) = &self.media_type {
            w.raw(
                "v.asset_id IN (SELECT id FROM assets WHERE mediatype = ?)",
                [SqlValue::Text(m.clone())],
            );
        }
        w
    }
}

/// Votes matching a filter, by id, each with its asset's counts.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn list(conn: &Connection, f: &VoteFilter) -> StoreResult<Vec<Vote>> {
    let w = f.where_clause();
    let mut votes = Vote::rows(conn, &w, None)?;
    let counts = counts_where(
        conn,
        &format!("SELECT v.asset_id FROM votes v{}", w.sql()),
        w.params(),
    )?;
    for v in &mut votes {
        v.asset_votes = counts.get(&v.asset_id).cloned().unwrap_or_default();
    }
    Ok(votes)
}

/// What `asset_votes` holds in a summary entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum SummaryVotes {
    /// `type=` other than rate: how many votes of that type the asset has.
    Count(i64),
    /// `type=rate`: the mean value and the number of rate votes.
    Rate {
        /// Mean value, null when no rate vote has a value.
        average: Option<f64>,
        /// Number of rate votes.
        count: i64,
    },
    /// No type: counts of every type, fewest first.
    Types(Vec<VoteCount>),
}

/// One asset of `GET votes/summary/`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct SummaryEntry {
    /// The asset.
    pub asset_id: i64,
    /// Its votes, shaped by the requested type.
    pub asset_votes: SummaryVotes,
}

/// One entry per asset with a matching vote, in the order of each asset's first matching
/// vote; `summary_type` is the `type` parameter (it shapes `asset_votes`).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn summary(
    conn: &Connection,
    f: &VoteFilter,
    summary_type: Option<&str>,
) -> StoreResult<Vec<SummaryEntry>> {
    let w = f.where_clause();
    let assets = super::sql::ids(
        conn,
        &format!(
            "SELECT v.asset_id FROM votes v{} GROUP BY v.asset_id ORDER BY min(v.id)",
            w.sql()
        ),
        w.params(),
    )?;
    let counts = counts_where(
        conn,
        &format!("SELECT v.asset_id FROM votes v{}", w.sql()),
        w.params(),
    )?;
    Ok(assets
        .into_iter()
        .map(|asset_id| {
            let all = counts.get(&asset_id).cloned().unwrap_or_default();
            let of = |t: &str| all.iter().find(|c| c.vote_type == t);
            let asset_votes = match summary_type {
                None => SummaryVotes::Types(all.clone()),
                Some("rate") => SummaryVotes::Rate {
                    average: of("rate").and_then(|c| c.avg),
                    count: of("rate").map_or(0, |c| c.total),
                },
                Some(t) => SummaryVotes::Count(of(t).map_or(0, |c| c.total)),
            };
            SummaryEntry {
                asset_id,
                asset_votes,
            }
        })
        .collect())
}

/// Fields of a create or PATCH on `votes/` (absent = unchanged).
#[derive(Debug, Default, Clone)]
pub(crate) struct VoteInput {
    /// Vote type.
    pub vote_type: Option<String>,
    /// Asset (must exist).
    pub asset_id: Option<i64>,
    /// Session (must exist).
    pub session_id: Option<i64>,
    /// Value; `Some(None)` clears it.
    pub value: Option<Option<i64>>,
    /// Voter (must exist); `Some(None)` clears it.
    pub voter_id: Option<Option<i64>>,
}

fn check_refs(tx: &Transaction<'_>, v: &VoteInput) -> StoreResult<()> {
    let checks = [
        ("assets", "asset_id", v.asset_id),
        ("sessions", "session_id", v.session_id),
        ("users", "voter_id", v.voter_id.flatten()),
    ];
    for (table, field, id) in checks {
        super::sql::check_ref(tx, table, field, id)?;
    }
    Ok(())
}

impl Editable for Vote {
    type Input = VoteInput;

    /// Creates a vote as given (no toggle, no event); type, asset and session are required
    /// (the API checks).
    ///
    /// # Errors
    /// Field conflicts for unknown references.
    fn create(tx: &Transaction<'_>, v: &VoteInput) -> StoreResult<Self> {
        check_refs(tx, v)?;
        tx.execute(
            "INSERT INTO votes (voter_id, value, session_id, asset_id, type, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                v.voter_id.flatten(),
                v.value.flatten(),
                v.session_id,
                v.asset_id,
                v.vote_type,
                super::fleet::next_id(tx, "votes")?
            ],
        )?;
        Vote::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH.
    ///
    /// # Errors
    /// Not found, or field conflicts for unknown references.
    fn patch(tx: &Transaction<'_>, id: i64, v: &VoteInput) -> StoreResult<Self> {
        Vote::get(tx, id)?;
        check_refs(tx, v)?;
        tx.execute(
            "UPDATE votes SET type = coalesce(?2, type), asset_id = coalesce(?3, asset_id),
                    session_id = coalesce(?4, session_id),
                    value = CASE WHEN ?5 THEN ?6 ELSE value END,
                    voter_id = CASE WHEN ?7 THEN ?8 ELSE voter_id END
              WHERE id = ?1",
            rusqlite::params![
                id,
                v.vote_type,
                v.asset_id,
                v.session_id,
                v.value.is_some(),
                v.value.flatten(),
                v.voter_id.is_some(),
                v.voter_id.flatten(),
            ],
        )?;
        Vote::get(tx, id)
    }
}

/// A listener's vote through `POST assets/:id/votes/`.
#[derive(Debug, Clone)]
pub(crate) struct AssetVote {
    /// The voting session (must exist).
    pub session_id: i64,
    /// Vote type.
    pub vote_type: String,
    /// `None` when the request had no `value` (toggles off an existing vote).
    pub value: Option<i64>,
    /// The `vote_asset` event to log when the session's device has a user (its session and
    /// type are filled in here).
    pub event: NewEvent,
}

/// Votes on an asset as a listener: the voter is the user registered with the session's
/// device; a `vote_asset` event is logged when there is one. If the session already voted
/// this type on the asset, a request without `value` removes that vote (the answer is then
/// `None`) and one with `value` updates it; otherwise a vote is created.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown asset or session.
pub(crate) fn vote_asset(
    tx: &Transaction<'_>,
    asset_id: i64,
    v: &AssetVote,
) -> StoreResult<Option<Vote>> {
    if !super::sql::exists(tx, "assets", asset_id)? {
        return Err(StoreError::not_found("asset", asset_id));
    }
    let device: Option<String> = tx
        .prepare_cached("SELECT device_id FROM sessions WHERE id = ?1")?
        .query_row([v.session_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("session", v.session_id))?;
    let voter = match &device {
        Some(d) => super::users::by_device(tx, d)?,
        None => None,
    };
    if voter.is_some() {
        let mut event = v.event.clone();
        event.session_id = v.session_id;
        event.event_type = "vote_asset".into();
        super::events::create(tx, &event)?;
    }
    let existing = super::sql::ids(
        tx,
        "SELECT id FROM votes WHERE session_id = ?1 AND asset_id = ?2 AND type = ?3 ORDER BY id",
        rusqlite::params![v.session_id, asset_id, v.vote_type],
    )?;
    match (existing.first(), v.value) {
        (Some(_), None) => {
            tx.execute(
                "DELETE FROM votes WHERE session_id = ?1 AND asset_id = ?2 AND type = ?3",
                rusqlite::params![v.session_id, asset_id, v.vote_type],
            )?;
            Ok(None)
        }
        (Some(first), Some(value)) => {
            tx.execute(
                "UPDATE votes SET value = ?4 WHERE session_id = ?1 AND asset_id = ?2 AND type = ?3",
                rusqlite::params![v.session_id, asset_id, v.vote_type, value],
            )?;
            Vote::get(tx, *first).map(Some)
        }
        (None, value) => {
            tx.execute(
                "INSERT INTO votes (voter_id, value, session_id, asset_id, type, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    voter,
                    value,
                    v.session_id,
                    asset_id,
                    v.vote_type,
                    super::fleet::next_id(tx, "votes")?
                ],
            )?;
            Vote::get(tx, tx.last_insert_rowid()).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrated_in_memory;

    /// `(type, total, avg)` of asset 10, as `asset_votes` shows them.
    fn shown(conn: &Connection) -> Vec<(String, i64, Option<f64>)> {
        counts(conn, 10)
            .unwrap()
            .into_iter()
            .map(|c| (c.vote_type, c.total, c.avg))
            .collect()
    }

    #[test]
    fn running_vote_counts_follow_every_insert_change_and_delete() {
        let conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd');
             INSERT INTO sessions (id, starttime, project_id) VALUES (5, 's', 1);
             INSERT INTO assets (id, session_id, project_id, created, updated) VALUES (10, 5, 1, 'c', 'u'), (11, 5, 1, 'c', 'u');
             INSERT INTO votes (id, session_id, asset_id, type, value) VALUES
                 (1, 5, 10, 'like', NULL), (2, 5, 10, 'like', NULL), (3, 5, 10, 'rate', 4),
                 (4, 5, 10, 'rate', 5), (5, 5, 10, 'rate', NULL);",
        )
        .unwrap();
        assert_eq!(
            shown(&conn),
            [("like".into(), 2, None), ("rate".into(), 3, Some(4.5))]
        );
        conn.execute_batch(
            "UPDATE votes SET type = 'rate', value = 1 WHERE id = 1;
             DELETE FROM votes WHERE id = 4;
             UPDATE votes SET asset_id = 11 WHERE id = 2;",
        )
        .unwrap();
        assert_eq!(shown(&conn), [("rate".into(), 3, Some(2.5))]);
        conn.execute("DELETE FROM assets WHERE id = 10", [])
            .unwrap();
        assert!(shown(&conn).is_empty());
        let left: i64 = conn
            .query_row(
                "SELECT total FROM vote_counts WHERE asset_id = 11",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 1);
    }
}
