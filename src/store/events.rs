//! Events: the activity log clients write with `POST events/` and the server writes itself
//! (`vote_asset`, and later the stream and upload events). [`log_event`] is the one way other
//! store modules record one.
//!
//! Storage keeps the reference model's text columns (latitude, longitude and tags are text);
//! the API shows them as admin-updates does: numbers for the coordinates (null when the text is
//! not a number) and an integer list for `tag_ids`.

use rusqlite::{Connection, Row, Transaction};
use serde::Serialize;

use super::sql::Where;
use super::{Filter, Filtered, StoreError, StoreResult, Table, time};

/// An event as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Event {
    /// Row id.
    pub id: i64,
    /// When the server recorded it (naive UTC).
    pub server_time: String,
    /// The client's own time text, as sent.
    pub client_time: Option<String>,
    /// What happened, e.g. `start_listen`.
    pub event_type: String,
    /// Free text.
    pub data: Option<String>,
    /// Latitude, when the stored text is a number.
    pub latitude: Option<f64>,
    /// Longitude, when the stored text is a number.
    pub longitude: Option<f64>,
    /// Session.
    pub session_id: i64,
    /// Tag ids found in the stored tags text.
    pub tag_ids: Vec<i64>,
}

/// Reads a coordinate stored as text (or, from older writers, as a number).
fn coordinate(r: &Row<'_>, index: usize) -> rusqlite::Result<Option<f64>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(index)? {
        ValueRef::Real(f) => Some(f),
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite()),
        _ => None,
    })
}

/// The integer ids in a stored tags text such as `1,2` (anything else is skipped).
pub(crate) fn parse_tags(text: Option<&str>) -> Vec<i64> {
    text.map(|t| {
        t.split(',')
            .filter_map(|s| s.trim().parse::<i64>().ok())
            .collect()
    })
    .unwrap_or_default()
}

impl Table for Event {
    const WHAT: &'static str = "event";
    const TABLE: &'static str = "events";
    const SELECT: &'static str = "SELECT id, server_time, client_time, event_type, data, \
         latitude, longitude, session_id, tags FROM events";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let tags: Option<String> = r.get(8)?;
        Ok(Self {
            id: r.get(0)?,
            server_time: r.get(1)?,
            client_time: r.get(2)?,
            event_type: r.get(3)?,
            data: r.get(4)?,
            latitude: coordinate(r, 5)?,
            longitude: coordinate(r, 6)?,
            session_id: r.get(7)?,
            tag_ids: parse_tags(tags.as_deref()),
        })
    }
}

/// Everything an event can carry.
#[derive(Debug, Default, Clone)]
pub(crate) struct NewEvent {
    /// Session (must exist).
    pub session_id: i64,
    /// Event type.
    pub event_type: String,
    /// Client time text.
    pub client_time: Option<String>,
    /// Free text.
    pub data: Option<String>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Longitude.
    pub longitude: Option<f64>,
    /// Tag ids; stored as `1,2`, an empty list as nothing.
    pub tags: Option<Vec<i64>>,
}

/// Records an event with `server_time` = now.
///
/// # Errors
/// [`StoreError::NotFound`] (`session`) for an unknown session.
pub(crate) fn create(tx: &Transaction<'_>, e: &NewEvent) -> StoreResult<Event> {
    if !super::sql::exists(tx, "sessions", e.session_id)? {
        return Err(StoreError::not_found("session", e.session_id));
    }
    let tags = e
        .tags
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(|t| t.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    tx.prepare_cached(
        "INSERT INTO events (server_time, client_time, session_id, event_type, data, latitude, longitude, tags, id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(rusqlite::params![
        time::now(),
        e.client_time,
        e.session_id,
        e.event_type,
        e.data,
        e.latitude.map(|f| f.to_string()),
        e.longitude.map(|f| f.to_string()),
        tags,
        // In fleet mode the box's range: every box's events meet at the hub.
        super::fleet::next_id(tx, "events")?,
    ])?;
    Event::get(tx, tx.last_insert_rowid())
}

/// Records a server-side event (`vote_asset`, stream and upload events) in the caller's
/// transaction.
///
/// # Errors
/// [`StoreError::NotFound`] (`session`) for an unknown session.
pub(crate) fn log_event(
    tx: &Transaction<'_>,
    session_id: i64,
    event_type: &str,
    data: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    tags: Option<&[i64]>,
) -> StoreResult<Event> {
    create(
        tx,
        &NewEvent {
            session_id,
            event_type: event_type.to_string(),
            client_time: None,
            data,
            latitude,
            longitude,
            tags: tags.map(<[i64]>::to_vec),
        },
    )
}

/// Filters of `GET events/`.
#[derive(Debug, Default, Clone)]
pub(crate) struct EventFilter {
    /// icontains
    pub event_type: Option<String>,
    /// Prefix of the stored `server_time` text (e.g. `2026-11-21` or `2026-11-21T17`).
    pub server_time_prefix: Option<String>,
    /// Strictly before (naive UTC).
    pub server_time_lt: Option<String>,
    /// Strictly after (naive UTC).
    pub server_time_gt: Option<String>,
    /// exact
    pub session_id: Option<i64>,
    /// startswith on the stored text
    pub latitude: Option<String>,
    /// startswith on the stored text
    pub longitude: Option<String>,
    /// Every id must be one of the event's tag ids.
    pub tag_ids: Vec<i64>,
    /// exact on the stored tags text
    pub tags: Option<String>,
    /// Only events of sessions this user opened (non-staff callers see their own only).
    pub owner_id: Option<i64>,
}

impl Filter for EventFilter {
    fn where_clause(&self) -> Where {
        let mut w = Where::new();
        w.contains_opt("event_type", self.event_type.as_deref())
            .starts_with_opt("server_time", self.server_time_prefix.as_deref())
            .cmp_opt("server_time", "<", self.server_time_lt.clone())
            .cmp_opt("server_time", ">", self.server_time_gt.clone())
            .eq_opt("session_id", self.session_id)
            .owned_by("session_id", self.owner_id)
            .starts_with_opt("latitude", self.latitude.as_deref())
            .starts_with_opt("longitude", self.longitude.as_deref())
            .eq_opt("tags", self.tags.clone());
        for tag in &self.tag_ids {
            // An element of the comma list, never a substring of another id (2 ≠ 12).
            w.raw(
                "(',' || replace(coalesce(tags, ''), ' ', '') || ',') LIKE ('%,' || ? || ',%')",
                [rusqlite::types::Value::Integer(*tag)],
            );
        }
        w
    }
}

impl Filtered for Event {
    type Filter = EventFilter;

    fn list(conn: &Connection, f: &EventFilter) -> StoreResult<Vec<Self>> {
        let w = f.where_clause();
        Self::select(conn, &w)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_tags;

    #[test]
    fn stored_tags_text_becomes_ids_and_junk_is_skipped() {
        assert_eq!(parse_tags(Some("1,2")), vec![1, 2]);
        assert_eq!(parse_tags(Some("91,92,")), vec![91, 92]);
        assert_eq!(parse_tags(Some(",93")), vec![93]);
        assert_eq!(parse_tags(Some("[1, 2]")), vec![] as Vec<i64>);
        assert_eq!(parse_tags(None), vec![] as Vec<i64>);
    }
}
