//! Localized fields: which localized strings are attached to which field of which row, and
//! resolving a field to text in a listener's language.
//!
//! Resolution (decisions.md): the requested language first, then English, then any language;
//! `None` only when the field has no strings at all.

use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::Serialize;

use super::{StoreError, StoreResult};

/// The kinds of rows that own localized fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// `projects`
    Project,
    /// `assets`
    Asset,
    /// `tags`
    Tag,
    /// `ui_groups`
    UiGroup,
    /// `ui_elements`
    UiElement,
}

impl Owner {
    fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Asset => "asset",
            Self::Tag => "tag",
            Self::UiGroup => "uigroup",
            Self::UiElement => "uielement",
        }
    }
}

/// A localized string as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct LocString {
    /// Row id.
    pub id: i64,
    /// Language code, e.g. `en`.
    pub language: String,
    /// The text.
    pub text: String,
    /// Language row id.
    pub language_id: i64,
}

/// Replaces the strings attached to a field; every id must exist.
///
/// # Errors
/// [`StoreError::Conflict`] naming `api_field` when an id is not a localized string.
pub(crate) fn set(
    tx: &Transaction<'_>,
    owner: Owner,
    owner_id: i64,
    field: &str,
    api_field: &'static str,
    string_ids: &[i64],
) -> StoreResult<()> {
    for id in string_ids {
        if !super::sql::exists(tx, "localized_strings", *id)? {
            return Err(StoreError::conflict(
                api_field,
                format!("localized string {id} does not exist"),
            ));
        }
    }
    tx.execute(
        "DELETE FROM loc_links WHERE owner = ?1 AND owner_id = ?2 AND field = ?3",
        rusqlite::params![owner.as_str(), owner_id, field],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO loc_links (owner, owner_id, field, position, string_id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (position, id) in string_ids.iter().enumerate() {
        stmt.execute(rusqlite::params![
            owner.as_str(),
            owner_id,
            field,
            position as i64,
            id
        ])?;
    }
    Ok(())
}

/// The ids attached to a field, in the order they were attached.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn ids(
    conn: &Connection,
    owner: Owner,
    owner_id: i64,
    field: &str,
) -> StoreResult<Vec<i64>> {
    Ok(super::sql::ids(
        conn,
        "SELECT string_id FROM loc_links WHERE owner = ?1 AND owner_id = ?2 AND field = ?3 ORDER BY position",
        rusqlite::params![owner.as_str(), owner_id, field],
    )?)
}

/// The field's text in `language_id`, falling back to English, then to any language.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn resolve(
    conn: &Connection,
    owner: Owner,
    owner_id: i64,
    field: &str,
    language_id: i64,
) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT s.localized_string FROM loc_links l
               JOIN localized_strings s ON s.id = l.string_id
               JOIN languages g ON g.id = s.language_id
              WHERE l.owner = ?1 AND l.owner_id = ?2 AND l.field = ?3
              ORDER BY (s.language_id = ?4) DESC, (g.language_code = 'en') DESC, l.position
              LIMIT 1",
        )?
        .query_row(
            rusqlite::params![owner.as_str(), owner_id, field, language_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every string attached to a field (the `_admin` output).
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn strings(
    conn: &Connection,
    owner: Owner,
    owner_id: i64,
    field: &str,
) -> StoreResult<Vec<LocString>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, g.language_code, s.localized_string, s.language_id FROM loc_links l
           JOIN localized_strings s ON s.id = l.string_id
           JOIN languages g ON g.id = s.language_id
          WHERE l.owner = ?1 AND l.owner_id = ?2 AND l.field = ?3
          ORDER BY l.position",
    )?;
    let rows = stmt.query_map(rusqlite::params![owner.as_str(), owner_id, field], |r| {
        Ok(LocString {
            id: r.get(0)?,
            language: r.get(1)?,
            text: r.get(2)?,
            language_id: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The id of the English language row, or 1 if it was deleted.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn english_id(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT id FROM languages WHERE language_code = 'en'")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(1))
}

/// The language to localize in for a request: the session's language when a session is
/// given (the session must exist), else English.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown session.
pub(crate) fn language_for(conn: &Connection, session_id: Option<i64>) -> StoreResult<i64> {
    match session_id {
        None => english_id(conn),
        Some(sid) => {
            let lang: Option<Option<i64>> = conn
                .prepare_cached("SELECT language_id FROM sessions WHERE id = ?1")?
                .query_row([sid], |r| r.get(0))
                .optional()?;
            match lang {
                None => Err(StoreError::not_found("session", sid)),
                Some(Some(l)) => Ok(l),
                Some(None) => english_id(conn),
            }
        }
    }
}
