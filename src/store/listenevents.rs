//! Listen events (the reference's ListeningHistoryItem): which asset a session heard, when,
//! and for how long. Durations are stored in nanoseconds and shown in seconds.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::sql::Where;
use super::{Editable, Filter, StoreResult, Table, time};

/// A listen event as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ListenEvent {
    /// Row id.
    pub id: i64,
    /// Stored duration in seconds, 2 decimals; null when unknown.
    pub duration_in_seconds: Option<f64>,
    /// When listening started (naive UTC).
    pub start_time: String,
    /// Session.
    pub session_id: i64,
    /// Asset.
    pub asset_id: i64,
    /// The session's project.
    pub project_id: i64,
}

pub(crate) use super::time::{ns_to_seconds, seconds_to_ns};

impl Table for ListenEvent {
    const WHAT: &'static str = "listen event";
    const TABLE: &'static str = "listen_events";
    const SELECT: &'static str = "SELECT l.id, l.duration, l.starttime, l.session_id, l.asset_id, \
         s.project_id FROM listen_events l JOIN sessions s ON s.id = l.session_id";
    const ID: &'static str = "l.id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let duration: Option<i64> = r.get(1)?;
        Ok(Self {
            id: r.get(0)?,
            duration_in_seconds: duration.map(ns_to_seconds),
            start_time: r.get(2)?,
            session_id: r.get(3)?,
            asset_id: r.get(4)?,
            project_id: r.get(5)?,
        })
    }
}

/// Fields of a create or a PATCH (absent = unchanged).
#[derive(Debug, Default, Clone)]
pub(crate) struct ListenEventInput {
    /// Session.
    pub session_id: Option<i64>,
    /// Asset.
    pub asset_id: Option<i64>,
    /// Start (naive UTC).
    pub starttime: Option<String>,
    /// Duration in nanoseconds; `Some(None)` clears it.
    pub duration: Option<Option<i64>>,
}

fn check_refs(tx: &Transaction<'_>, input: &ListenEventInput) -> StoreResult<()> {
    super::sql::check_ref(tx, "sessions", "session", input.session_id)?;
    super::sql::check_ref(tx, "assets", "asset", input.asset_id)
}

impl Editable for ListenEvent {
    type Input = ListenEventInput;

    /// Creates a listen event; session, asset and start time are required (the API checks).
    ///
    /// # Errors
    /// Field conflicts for an unknown session or asset.
    fn create(tx: &Transaction<'_>, input: &ListenEventInput) -> StoreResult<Self> {
        check_refs(tx, input)?;
        tx.execute(
            "INSERT INTO listen_events (session_id, asset_id, starttime, duration, id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                input.session_id,
                input.asset_id,
                input.starttime.clone().unwrap_or_else(time::now),
                input.duration.flatten(),
                // In fleet mode the box's range: every box's listen events meet at the hub.
                super::fleet::next_id(tx, "listen_events")?,
            ],
        )?;
        ListenEvent::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH.
    ///
    /// # Errors
    /// Not found, or field conflicts for an unknown session or asset.
    fn patch(tx: &Transaction<'_>, id: i64, input: &ListenEventInput) -> StoreResult<Self> {
        ListenEvent::get(tx, id)?;
        check_refs(tx, input)?;
        tx.execute(
            "UPDATE listen_events SET session_id = coalesce(?2, session_id), asset_id = coalesce(?3, asset_id),
                    starttime = coalesce(?4, starttime),
                    duration = CASE WHEN ?5 THEN ?6 ELSE duration END
              WHERE id = ?1",
            rusqlite::params![
                id,
                input.session_id,
                input.asset_id,
                input.starttime,
                input.duration.is_some(),
                input.duration.flatten(),
            ],
        )?;
        ListenEvent::get(tx, id)
    }
}

/// The asset session `session_id` heard last (by listen event), if any.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn last_heard(conn: &Connection, session_id: i64) -> StoreResult<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT asset_id FROM listen_events WHERE session_id = ?1 \
             ORDER BY starttime DESC, id DESC LIMIT 1",
            [session_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// The date-range keywords of `start_time__range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateRange {
    /// Since midnight (UTC) today.
    Today,
    /// The whole of yesterday.
    Yesterday,
    /// The last seven days and today.
    Week,
    /// This calendar month.
    Month,
    /// This calendar year.
    Year,
}

impl DateRange {
    /// Parses `today`, `yesterday`, `week`, `month` or `year`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "today" => Self::Today,
            "yesterday" => Self::Yesterday,
            "week" => Self::Week,
            "month" => Self::Month,
            "year" => Self::Year,
            _ => return None,
        })
    }

    /// `[from, to)` as stored timestamps, relative to `today`.
    pub(crate) fn bounds(self, today: NaiveDate) -> (String, String) {
        let midnight = |d: NaiveDate| time::format(d.and_hms_opt(0, 0, 0).unwrap_or_default());
        let tomorrow = today + Duration::days(1);
        let (from, to) = match self {
            Self::Today => (today, tomorrow),
            Self::Yesterday => (today - Duration::days(1), today),
            Self::Week => (today - Duration::days(7), tomorrow),
            Self::Month => {
                let first = today.with_day(1).unwrap_or(today);
                let next = if today.month() == 12 {
                    NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
                }
                .unwrap_or(tomorrow);
                (first, next)
            }
            Self::Year => (
                NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
                NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).unwrap_or(tomorrow),
            ),
        };
        (midnight(from), midnight(to))
    }
}

/// Filters of `GET listenevents/`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListenEventFilter {
    /// Duration at most, in nanoseconds.
    pub duration_lte: Option<f64>,
    /// Duration at least, in nanoseconds.
    pub duration_gte: Option<f64>,
    /// Exact duration in nanoseconds.
    pub duration: Option<i64>,
    /// Start at or after.
    pub start_time_gte: Option<String>,
    /// Start at or before.
    pub start_time_lte: Option<String>,
    /// Exact start.
    pub starttime: Option<String>,
    /// Start within a date range.
    pub start_time_range: Option<DateRange>,
    /// The session's project.
    pub project_id: Option<i64>,
    /// exact
    pub session_id: Option<i64>,
    /// exact
    pub asset_id: Option<i64>,
    /// Only listen events of sessions this user opened (non-staff callers see their own only).
    pub owner_id: Option<i64>,
}

impl Filter for ListenEventFilter {
    fn where_clause(&self) -> Where {
        let mut w = Where::new();
        w.cmp_opt("l.duration", "<=", self.duration_lte)
            .cmp_opt("l.duration", ">=", self.duration_gte)
            .eq_opt("l.duration", self.duration)
            .cmp_opt("l.starttime", ">=", self.start_time_gte.clone())
            .cmp_opt("l.starttime", "<=", self.start_time_lte.clone())
            .eq_opt("l.starttime", self.starttime.clone())
            .eq_opt("s.project_id", self.project_id)
            .eq_opt("l.session_id", self.session_id)
            .eq_opt("l.asset_id", self.asset_id)
            .owned_by("l.session_id", self.owner_id);
        if let Some(range) = self.start_time_range {
            let (from, to) = range.bounds(Utc::now().date_naive());
            w.cmp_opt("l.starttime", ">=", Some(from))
                .cmp_opt("l.starttime", "<", Some(to));
        }
        w
    }
}

/// Listen events matching a filter, by id; `page` is `(limit, offset)`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn list(
    conn: &Connection,
    f: &ListenEventFilter,
    page: Option<(i64, i64)>,
) -> StoreResult<Vec<ListenEvent>> {
    ListenEvent::select_window(conn, &f.where_clause(), page)
}

/// How many listen events match a filter.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn count(conn: &Connection, f: &ListenEventFilter) -> StoreResult<i64> {
    ListenEvent::count(conn, &f.where_clause())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_convert_between_seconds_and_nanoseconds() {
        assert_eq!(seconds_to_ns(2.5), 2_500_000_000);
        assert!((ns_to_seconds(2_345_678_901) - 2.35).abs() < 1e-9);
    }

    #[test]
    fn date_ranges_are_half_open_days_months_and_years() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap();
        assert_eq!(
            DateRange::Today.bounds(d),
            (
                "2026-12-15T00:00:00.000000".into(),
                "2026-12-16T00:00:00.000000".into()
            )
        );
        assert_eq!(
            DateRange::Yesterday.bounds(d).0,
            "2026-12-14T00:00:00.000000"
        );
        assert_eq!(DateRange::Week.bounds(d).0, "2026-12-08T00:00:00.000000");
        assert_eq!(
            DateRange::Month.bounds(d),
            (
                "2026-12-01T00:00:00.000000".into(),
                "2027-01-01T00:00:00.000000".into()
            )
        );
        assert_eq!(DateRange::Year.bounds(d).1, "2027-01-01T00:00:00.000000");
        assert_eq!(DateRange::parse("Week"), Some(DateRange::Week));
        assert_eq!(DateRange::parse("fortnight"), None);
    }
}
