//! Assets: the recordings, photos and texts of a project, with their tags, envelopes,
//! localized description/alt-text ids and uploading user; the filters of `GET assets/`; the
//! blocked set of a listener (reference-server §7.10).
//!
//! Lists are read with one query: tags, envelopes and localized ids come from `group_concat`
//! subqueries and the user from a join, so a list of a thousand assets costs one statement.
//! The stored `file` is a media file name; the API turns it into an absolute URL.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;
use serde_json::Value;

use super::loc::{self, LocString, Owner};
use super::sql::{Where, id_list};
use super::users::User;
use super::{StoreError, StoreResult, Table, time};

/// `loc_links.field` of the localized description (`description_loc_ids`).
pub(crate) const LOC_DESCRIPTION: &str = "description";
/// `loc_links.field` of the localized alt text (`alt_text_loc_ids`).
pub(crate) const LOC_ALT_TEXT: &str = "alt_text";
/// The media types an asset may have.
pub(crate) const MEDIA_TYPES: &[&str] = &["audio", "video", "photo", "text"];
/// Longest description accepted.
pub(crate) const DESCRIPTION_MAX: usize = 2048;

/// An asset as api/2 shows it (reference-server §2.6); every field is always present.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Asset {
    /// Row id.
    pub id: i64,
    /// Free text; never null.
    pub description: String,
    /// Where it was recorded.
    pub latitude: Option<f64>,
    /// Where it was recorded.
    pub longitude: Option<f64>,
    /// Listening region (GeoJSON) or null.
    pub shape: Value,
    /// Playback file name.
    pub filename: Option<String>,
    /// Stored media name here; the API replaces it with the absolute URL (null when empty).
    pub file: Option<String>,
    /// Playback volume.
    pub volume: Option<f64>,
    /// Visible to listeners.
    pub submitted: bool,
    /// Creation time (naive UTC).
    pub created: String,
    /// Last change (naive UTC).
    pub updated: String,
    /// 0–99, for weighted ordering.
    pub weight: i64,
    /// Language.
    pub language_id: Option<i64>,
    /// Localized description string ids.
    pub description_loc_ids: Vec<i64>,
    /// Localized alt-text string ids.
    pub alt_text_loc_ids: Vec<i64>,
    /// `audio`, `video`, `photo` or `text`.
    pub media_type: String,
    /// Length in seconds (2 decimals); null when unknown or zero.
    pub audio_length_in_seconds: Option<f64>,
    /// Start of the active region, seconds.
    pub start_time: Option<f64>,
    /// End of the active region, seconds.
    pub end_time: Option<f64>,
    /// Tags.
    pub tag_ids: Vec<i64>,
    /// Recording session.
    pub session_id: Option<i64>,
    /// Project.
    pub project_id: Option<i64>,
    /// Envelopes holding it.
    pub envelope_ids: Vec<i64>,
    /// The uploading user, nested, or null.
    pub user: Option<User>,
    /// With `admin`: every localized description string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc_description_admin: Option<Vec<LocString>>,
    /// With `admin`: every localized alt-text string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc_alt_text_admin: Option<Vec<LocString>>,
}

const SELECT: &str = "SELECT a.id, a.description, a.latitude, a.longitude, a.shape, a.filename, a.file,
        a.volume, a.submitted, a.created, a.updated, a.weight, a.language_id, a.mediatype,
        a.audiolength, a.start_time, a.end_time, a.session_id, a.project_id,
        (SELECT group_concat(t.tag_id, ',' ORDER BY t.tag_id) FROM asset_tags t WHERE t.asset_id = a.id),
        (SELECT group_concat(e.envelope_id, ',' ORDER BY e.envelope_id) FROM envelope_assets e WHERE e.asset_id = a.id),
        (SELECT group_concat(l.string_id, ',' ORDER BY l.position) FROM loc_links l
          WHERE l.owner = 'asset' AND l.owner_id = a.id AND l.field = 'description'),
        (SELECT group_concat(l.string_id, ',' ORDER BY l.position) FROM loc_links l
          WHERE l.owner = 'asset' AND l.owner_id = a.id AND l.field = 'alt_text'),
        u.id, u.username, u.first_name, u.last_name, u.email, u.device_id, u.client_type
   FROM assets a LEFT JOIN users u ON u.id = a.user_id";

/// Nanoseconds → seconds rounded to 2 decimals; `None` for unknown or zero lengths.
pub(crate) fn length_in_seconds(ns: Option<i64>) -> Option<f64> {
    ns.filter(|n| *n != 0).map(super::time::ns_to_seconds)
}

impl Table for Asset {
    const WHAT: &'static str = "asset";
    const TABLE: &'static str = "assets";
    const SELECT: &'static str = SELECT;
    const ID: &'static str = "a.id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let shape: Option<String> = r.get(4)?;
        let file: Option<String> = r.get(6)?;
        let user = match r.get::<_, Option<i64>>(23)? {
            Some(id) => Some(User {
                id,
                username: r.get(24)?,
                first_name: r.get(25)?,
                last_name: r.get(26)?,
                // Contributors are shown by name only: a device id is a bearer credential
                // (`POST users/` returns its token) and e-mails are private. Staff read them
                // through `users/`.
                email: String::new(),
                device_id: None,
                client_type: r.get(29)?,
            }),
            None => None,
        };
        Ok(Self {
            id: r.get(0)?,
            description: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            latitude: r.get(2)?,
            longitude: r.get(3)?,
            shape: crate::geometry::stored_json(shape.as_deref()),
            filename: r.get(5)?,
            file: file.filter(|f| !f.is_empty()),
            volume: r.get(7)?,
            submitted: r.get(8)?,
            created: r.get(9)?,
            updated: r.get(10)?,
            weight: r.get(11)?,
            language_id: r.get(12)?,
            media_type: r.get(13)?,
            audio_length_in_seconds: length_in_seconds(r.get(14)?),
            start_time: r.get(15)?,
            end_time: r.get(16)?,
            session_id: r.get(17)?,
            project_id: r.get(18)?,
            tag_ids: id_list(r.get(19)?),
            envelope_ids: id_list(r.get(20)?),
            description_loc_ids: id_list(r.get(21)?),
            alt_text_loc_ids: id_list(r.get(22)?),
            user,
            loc_description_admin: None,
            loc_alt_text_admin: None,
        })
    }
}

/// Fills the `_admin` lists (every localized string of both localized fields).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn add_admin_strings(conn: &Connection, asset: &mut Asset) -> StoreResult<()> {
    asset.loc_description_admin =
        Some(loc::strings(conn, Owner::Asset, asset.id, LOC_DESCRIPTION)?);
    asset.loc_alt_text_admin = Some(loc::strings(conn, Owner::Asset, asset.id, LOC_ALT_TEXT)?);
    Ok(())
}

/// The sortable keys of `ordering=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderKey {
    /// `id`
    Id,
    /// `session_id`
    SessionId,
    /// `audiolength`
    AudioLength,
    /// `weight`
    Weight,
    /// `volume`
    Volume,
}

impl OrderKey {
    /// Parses one `ordering` term name (without `-`).
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "session_id" => Self::SessionId,
            "audiolength" => Self::AudioLength,
            "weight" => Self::Weight,
            "volume" => Self::Volume,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            Self::Id => "a.id",
            Self::SessionId => "a.session_id",
            Self::AudioLength => "a.audiolength",
            Self::Weight => "a.weight",
            Self::Volume => "a.volume",
        }
    }
}

/// `ORDER BY` text for `(key, descending)` terms, then id; nulls sort as PostgreSQL sorts
/// them (last ascending, first descending).
fn order_sql(order: &[(OrderKey, bool)]) -> String {
    let mut terms: Vec<String> = order
        .iter()
        .map(|(key, desc)| {
            if *desc {
                format!("{} DESC NULLS FIRST", key.column())
            } else {
                format!("{} ASC NULLS LAST", key.column())
            }
        })
        .collect();
    terms.push("a.id".into());
    format!(" ORDER BY {}", terms.join(", "))
}

/// Filters of `GET assets/` (reference-server §2.6).
#[derive(Debug, Default, Clone)]
pub(crate) struct AssetFilter {
    /// Ids to restrict to (random selection).
    pub ids: Option<Vec<i64>>,
    /// exact
    pub session_id: Option<i64>,
    /// exact, auto filter `session` (must exist)
    pub session: Option<i64>,
    /// exact
    pub project_id: Option<i64>,
    /// exact, auto filter `project` (must exist)
    pub project: Option<i64>,
    /// The asset has every one of these tags.
    pub tag_ids: Vec<i64>,
    /// The asset has at least one of these tags (when non-empty).
    pub tag_ids_or: Vec<i64>,
    /// auto filter `tags`: at least one of these tags (each must exist).
    pub tags: Vec<i64>,
    /// exact media type (`media_type`)
    pub media_type: Option<String>,
    /// exact media type (the auto filter `mediatype`; both apply when both are given)
    pub mediatype: Option<String>,
    /// Language code.
    pub language: Option<String>,
    /// The asset is in every one of these envelopes.
    pub envelope_ids: Vec<i64>,
    /// auto filter `envelope`: in at least one of these envelopes (each must exist).
    pub envelope: Vec<i64>,
    /// Text prefix of the latitude.
    pub latitude: Option<String>,
    /// Text prefix of the longitude.
    pub longitude: Option<String>,
    /// exact
    pub submitted: Option<bool>,
    /// Length at most, in nanoseconds.
    pub audiolength_lte: Option<f64>,
    /// Length at least, in nanoseconds.
    pub audiolength_gte: Option<f64>,
    /// Exact length in nanoseconds.
    pub audiolength: Option<i64>,
    /// Created at or before.
    pub created_lte: Option<String>,
    /// Created at or after.
    pub created_gte: Option<String>,
    /// Exact creation time.
    pub created: Option<String>,
    /// Updated at or before.
    pub updated_lte: Option<String>,
    /// Updated at or after.
    pub updated_gte: Option<String>,
    /// icontains
    pub description: Option<String>,
    /// icontains
    pub filename: Option<String>,
    /// icontains on description or filename
    pub text_filter: Option<String>,
    /// icontains on the user's names, e-mail or username
    pub user_str: Option<String>,
}

impl AssetFilter {
    /// Checks the auto filters that name rows (`session`, `project`, `tags`, `envelope`):
    /// like the reference's choice filters, an unknown id is an invalid value.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming the parameter.
    pub(crate) fn check(&self, conn: &Connection) -> StoreResult<()> {
        let choice = |table: &str, field: &'static str, id: i64| -> StoreResult<()> {
            if super::sql::exists(conn, table, id)? {
                Ok(())
            } else {
                Err(StoreError::conflict(
                    field,
                    format!("Select a valid choice. {id} is not one of the available choices."),
                ))
            }
        };
        if let Some(id) = self.session {
            choice("sessions", "session", id)?;
        }
        if let Some(id) = self.project {
            choice("projects", "project", id)?;
        }
        for id in &self.tags {
            choice("tags", "tags", *id)?;
        }
        for id in &self.envelope {
            choice("envelopes", "envelope", *id)?;
        }
        Ok(())
    }

    fn where_clause(&self) -> Where {
        let mut w = Where::new();
        if let Some(ids) = &self.ids {
            w.in_list("a.id", ids);
        }
        w.eq_opt("a.session_id", self.session_id)
            .eq_opt("a.session_id", self.session)
            .eq_opt("a.project_id", self.project_id)
            .eq_opt("a.project_id", self.project)
            .eq_opt("a.mediatype", self.media_type.clone())
            .eq_opt("a.mediatype", self.mediatype.clone())
            .starts_with_opt("a.latitude", self.latitude.as_deref())
            .starts_with_opt("a.longitude", self.longitude.as_deref())
            .eq_opt("a.submitted", self.submitted)
            .cmp_opt("a.audiolength", "<=", self.audiolength_lte)
            .cmp_opt("a.audiolength", ">=", self.audiolength_gte)
            .eq_opt("a.audiolength", self.audiolength)
            .cmp_opt("a.created", "<=", self.created_lte.clone())
            .cmp_opt("a.created", ">=", self.created_gte.clone())
            .eq_opt("a.created", self.created.clone())
            .cmp_opt("a.updated", "<=", self.updated_lte.clone())
            .cmp_opt("a.updated", ">=", self.updated_gte.clone())
            .contains_opt("a.description", self.description.as_deref())
            .contains_opt("a.filename", self.filename.as_deref());
        for tag in &self.tag_ids {
            w.raw(
                "a.id IN (SELECT asset_id FROM asset_tags WHERE tag_id = ?)",
                [SqlValue::Integer(*tag)],
            );
        }
        for any in [&self.tag_ids_or, &self.tags] {
            if !any.is_empty() {
                let marks = vec!["?"; any.len()].join(", ");
                w.raw(
                    format!("a.id IN (SELECT asset_id FROM asset_tags WHERE tag_id IN ({marks}))"),
                    any.iter().map(|t| SqlValue::Integer(*t)),
                );
            }
        }
        if let Some(code) = &self.language {
            w.raw(
                "a.language_id IN (SELECT id FROM languages WHERE language_code = ?)",
                [SqlValue::Text(code.clone())],
            );
        }
        for envelope in &self.envelope_ids {
            w.raw(
                "a.id IN (SELECT asset_id FROM envelope_assets WHERE envelope_id = ?)",
                [SqlValue::Integer(*envelope)],
            );
        }
        if !self.envelope.is_empty() {
            let marks = vec!["?"; self.envelope.len()].join(", ");
            w.raw(
                format!(
                    "a.id IN (SELECT asset_id FROM envelope_assets WHERE envelope_id IN ({marks}))"
                ),
                self.envelope.iter().map(|e| SqlValue::Integer(*e)),
            );
        }
        if let Some(text) = &self.text_filter {
            let pattern = SqlValue::Text(format!("%{}%", super::sql::escape_like(text)));
            w.raw(
                "(a.description LIKE ? ESCAPE '\\' OR a.filename LIKE ? ESCAPE '\\')",
                [pattern.clone(), pattern],
            );
        }
        if let Some(text) = &self.user_str {
            let pattern = SqlValue::Text(format!("%{}%", super::sql::escape_like(text)));
            w.raw(
                "a.user_id IN (SELECT id FROM users WHERE first_name LIKE ? ESCAPE '\\' \
                 OR last_name LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' \
                 OR username LIKE ? ESCAPE '\\')",
                std::iter::repeat_n(pattern, 4),
            );
        }
        w
    }
}

/// Assets matching a filter in the given order (then by id); `page` is `(limit, offset)`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn list(
    conn: &Connection,
    f: &AssetFilter,
    order: &[(OrderKey, bool)],
    page: Option<(i64, i64)>,
) -> StoreResult<Vec<Asset>> {
    let w = f.where_clause();
    let limit = page
        .map(|(limit, offset)| format!(" LIMIT {limit} OFFSET {offset}"))
        .unwrap_or_default();
    let mut stmt =
        conn.prepare_cached(&format!("{SELECT}{}{}{limit}", w.sql(), order_sql(order)))?;
    let rows = stmt.query_map(w.params(), Asset::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many assets match a filter.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn count(conn: &Connection, f: &AssetFilter) -> StoreResult<i64> {
    let w = f.where_clause();
    Ok(conn
        .prepare_cached(&format!("SELECT count(*) FROM assets a{}", w.sql()))?
        .query_row(w.params(), |r| r.get(0))?)
}

/// Up to `limit` distinct assets picked at random among those matching a filter, by id.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn random(conn: &Connection, f: &AssetFilter, limit: i64) -> StoreResult<Vec<Asset>> {
    let w = f.where_clause();
    let ids = super::sql::ids(
        conn,
        &format!(
            "SELECT a.id FROM assets a{} ORDER BY random() LIMIT {}",
            w.sql(),
            limit.max(0)
        ),
        w.params(),
    )?;
    let picked = AssetFilter {
        ids: Some(ids),
        ..AssetFilter::default()
    };
    list(conn, &picked, &[], None)
}

/// The fields a PATCH may change; `Some(None)` clears a nullable field.
#[derive(Debug, Default, Clone)]
pub(crate) struct AssetPatch {
    /// Description (at most [`DESCRIPTION_MAX`] characters).
    pub description: Option<String>,
    /// Latitude.
    pub latitude: Option<Option<f64>>,
    /// Longitude.
    pub longitude: Option<Option<f64>>,
    /// Shape as GeoJSON text.
    pub shape: Option<Option<String>>,
    /// Volume.
    pub volume: Option<Option<f64>>,
    /// Submitted flag.
    pub submitted: Option<bool>,
    /// Weight 0–99.
    pub weight: Option<i64>,
    /// Media type.
    pub media_type: Option<String>,
    /// Active region start.
    pub start_time: Option<Option<f64>>,
    /// Active region end.
    pub end_time: Option<Option<f64>>,
    /// Language (must exist).
    pub language_id: Option<Option<i64>>,
    /// Project (must exist).
    pub project_id: Option<Option<i64>>,
    /// Session (must exist).
    pub session_id: Option<Option<i64>>,
    /// User (must exist).
    pub user_id: Option<Option<i64>>,
    /// Replaces the tags (each must exist).
    pub tag_ids: Option<Vec<i64>>,
    /// Replaces the envelopes holding the asset (each must exist).
    pub envelope_ids: Option<Vec<i64>>,
    /// Replaces the localized description strings.
    pub description_loc_ids: Option<Vec<i64>>,
    /// Replaces the localized alt-text strings.
    pub alt_text_loc_ids: Option<Vec<i64>>,
}

fn must_exist(
    tx: &Transaction<'_>,
    table: &str,
    field: &'static str,
    ids: impl IntoIterator<Item = i64>,
) -> StoreResult<()> {
    for id in ids {
        super::sql::check_ref(tx, table, field, Some(id))?;
    }
    Ok(())
}

/// Applies a PATCH (every reference checked first) and returns the asset; `updated` = now.
///
/// # Errors
/// Not found, or a field conflict naming the first unknown reference.
pub(crate) fn patch(tx: &Transaction<'_>, id: i64, p: &AssetPatch) -> StoreResult<Asset> {
    if !super::sql::exists(tx, "assets", id)? {
        return Err(StoreError::not_found("asset", id));
    }
    must_exist(tx, "languages", "language_id", p.language_id.flatten())?;
    must_exist(tx, "projects", "project_id", p.project_id.flatten())?;
    must_exist(tx, "sessions", "session_id", p.session_id.flatten())?;
    must_exist(tx, "users", "user_id", p.user_id.flatten())?;
    must_exist(tx, "tags", "tag_ids", p.tag_ids.iter().flatten().copied())?;
    must_exist(
        tx,
        "envelopes",
        "envelope_ids",
        p.envelope_ids.iter().flatten().copied(),
    )?;

    let mut sets: Vec<(&str, SqlValue)> = vec![("updated", SqlValue::Text(time::now()))];
    let opt_real = |v: Option<f64>| v.map_or(SqlValue::Null, SqlValue::Real);
    let opt_int = |v: Option<i64>| v.map_or(SqlValue::Null, SqlValue::Integer);
    if let Some(v) = &p.description {
        sets.push(("description", SqlValue::Text(v.clone())));
    }
    if let Some(v) = p.latitude {
        sets.push(("latitude", opt_real(v)));
    }
    if let Some(v) = p.longitude {
        sets.push(("longitude", opt_real(v)));
    }
    if let Some(v) = &p.shape {
        sets.push(("shape", v.clone().map_or(SqlValue::Null, SqlValue::Text)));
    }
    if let Some(v) = p.volume {
        sets.push(("volume", opt_real(v)));
    }
    if let Some(v) = p.submitted {
        sets.push(("submitted", SqlValue::Integer(i64::from(v))));
    }
    if let Some(v) = p.weight {
        sets.push(("weight", SqlValue::Integer(v)));
    }
    if let Some(v) = &p.media_type {
        sets.push(("mediatype", SqlValue::Text(v.clone())));
    }
    if let Some(v) = p.start_time {
        sets.push(("start_time", opt_real(v)));
    }
    if let Some(v) = p.end_time {
        sets.push(("end_time", opt_real(v)));
    }
    if let Some(v) = p.language_id {
        sets.push(("language_id", opt_int(v)));
    }
    if let Some(v) = p.project_id {
        sets.push(("project_id", opt_int(v)));
    }
    if let Some(v) = p.session_id {
        sets.push(("session_id", opt_int(v)));
    }
    if let Some(v) = p.user_id {
        sets.push(("user_id", opt_int(v)));
    }
    let assignments: Vec<String> = sets.iter().map(|(c, _)| format!("{c} = ?")).collect();
    let mut params: Vec<SqlValue> = sets.into_iter().map(|(_, v)| v).collect();
    params.push(SqlValue::Integer(id));
    tx.execute(
        &format!("UPDATE assets SET {} WHERE id = ?", assignments.join(", ")),
        rusqlite::params_from_iter(params),
    )?;

    if let Some(tags) = &p.tag_ids {
        super::sql::replace_links(tx, "asset_tags", "asset_id", "tag_id", id, tags)?;
    }
    if let Some(envelopes) = &p.envelope_ids {
        super::sql::replace_links(
            tx,
            "envelope_assets",
            "asset_id",
            "envelope_id",
            id,
            envelopes,
        )?;
    }
    if let Some(ids) = &p.description_loc_ids {
        loc::set(
            tx,
            Owner::Asset,
            id,
            LOC_DESCRIPTION,
            "description_loc_ids",
            ids,
        )?;
    }
    if let Some(ids) = &p.alt_text_loc_ids {
        loc::set(tx, Owner::Asset, id, LOC_ALT_TEXT, "alt_text_loc_ids", ids)?;
    }
    Asset::get(tx, id)
}

/// The stored `file` and `filename` values of all assets that begin with `prefix` (used by
/// `delete_binary` to keep files another asset still refers to).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn media_names_with_prefix(conn: &Connection, prefix: &str) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT file FROM assets WHERE substr(file, 1, length(?1)) = ?1
         UNION SELECT filename FROM assets WHERE substr(filename, 1, length(?1)) = ?1",
    )?;
    let rows = stmt.query_map([prefix], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The answer of `GET assets/blocked/`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Blocked {
    /// The session's device.
    pub device_id: Option<String>,
    /// Assets the session's user must not hear, ascending.
    pub blocked_asset_ids: Vec<i64>,
}

/// The blocked set of a session's user (reference-server §7.10): the assets they voted
/// `block_asset` on, plus every asset created by a user they voted `block_user` against
/// (the user behind the voted asset: its uploader, or the user registered with the device of
/// its session; "created by" = uploaded by that user or recorded in a session of their device).
///
/// # Errors
/// [`StoreError::NotFound`] (`session`) for an unknown session.
pub(crate) fn blocked(conn: &Connection, session_id: i64) -> StoreResult<Blocked> {
    let device_id: Option<String> = conn
        .prepare_cached("SELECT device_id FROM sessions WHERE id = ?1")?
        .query_row([session_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("session", session_id))?;
    let voter = match &device_id {
        Some(d) => super::users::by_device(conn, d)?,
        None => None,
    };
    let Some(voter) = voter else {
        return Ok(Blocked {
            device_id,
            blocked_asset_ids: Vec::new(),
        });
    };
    let ids = super::sql::ids(
        conn,
        "WITH voted(asset_id) AS (
              SELECT asset_id FROM votes WHERE voter_id = ?1 AND type = 'block_user'),
          blocked_users(id) AS (
              SELECT u.id FROM users u
               WHERE u.device_id IN (SELECT s.device_id FROM voted v
                                       JOIN assets a ON a.id = v.asset_id
                                       JOIN sessions s ON s.id = a.session_id)
              UNION
              SELECT a.user_id FROM voted v JOIN assets a ON a.id = v.asset_id
               WHERE a.user_id IS NOT NULL),
          blocked_devices(device_id) AS (
              SELECT device_id FROM users
               WHERE id IN (SELECT id FROM blocked_users) AND device_id IS NOT NULL)
         SELECT asset_id FROM votes WHERE voter_id = ?1 AND type = 'block_asset'
         UNION
         SELECT a.id FROM assets a
          WHERE a.user_id IN (SELECT id FROM blocked_users)
             OR a.session_id IN (SELECT id FROM sessions
                                  WHERE device_id IN (SELECT device_id FROM blocked_devices))
         ORDER BY 1",
        [voter],
    )?;
    Ok(Blocked {
        device_id,
        blocked_asset_ids: ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_seconds_with_two_decimals_and_zero_is_unknown() {
        assert_eq!(length_in_seconds(Some(5_000_000_000)), Some(5.0));
        assert_eq!(length_in_seconds(Some(1_234_567_890)), Some(1.23));
        assert_eq!(length_in_seconds(Some(0)), None);
        assert_eq!(length_in_seconds(None), None);
    }

    #[test]
    fn ordering_puts_nulls_where_postgres_does_and_ends_with_id() {
        assert_eq!(
            order_sql(&[(OrderKey::Weight, true), (OrderKey::Volume, false)]),
            " ORDER BY a.weight DESC NULLS FIRST, a.volume ASC NULLS LAST, a.id"
        );
        assert_eq!(OrderKey::parse("audiolength"), Some(OrderKey::AudioLength));
        assert_eq!(OrderKey::parse("created"), None);
    }
}
