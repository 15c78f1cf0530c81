//! Languages and the localized strings written in them (the texts that localized fields of
//! projects, tags, UI groups and UI elements point at).
//!
//! Deleting a language is refused while anything still depends on it: the default language
//! (pk 1, which sessions fall back to), localized strings written in it (SQLite would
//! silently delete that text), or projects offering it. Sessions and assets in a deleted
//! language are not a reason to refuse: they simply lose the language (and read English).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::loc::LocString;
use super::sql::Where;
use super::sql::{Assignments, check_ref};
use super::{StoreError, StoreResult};

/// A language.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Language {
    /// Row id.
    pub id: i64,
    /// Display name (may be empty).
    pub name: String,
    /// Two-letter code, e.g. `en`.
    pub language_code: String,
}

fn row(r: &Row<'_>) -> rusqlite::Result<Language> {
    Ok(Language {
        id: r.get(0)?,
        name: r.get(1)?,
        language_code: r.get(2)?,
    })
}

/// One language.
///
/// # Errors
/// [`StoreError::NotFound`] if there is none.
pub fn get(conn: &Connection, id: i64) -> StoreResult<Language> {
    conn.prepare_cached("SELECT id, name, language_code FROM languages WHERE id = ?1")?
        .query_row([id], row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("language", id))
}

/// The id of the language with this code, if any.
///
/// # Errors
/// Only SQLite failures.
pub fn id_for_code(conn: &Connection, code: &str) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM languages WHERE language_code = ?1")?
        .query_row([code], |r| r.get(0))
        .optional()?)
}

/// The language of a client locale: `es-MX`, `es_MX` and `ES` all find `es`.
///
/// # Errors
/// Only SQLite failures.
pub fn id_for_locale(conn: &Connection, locale: &str) -> StoreResult<Option<i64>> {
    let short = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    id_for_code(conn, &short)
}

/// Filters of `GET languages/` (both case-insensitive substring matches).
#[derive(Debug, Default, Clone)]
pub struct LanguageFilter {
    /// icontains
    pub language_code: Option<String>,
    /// icontains
    pub name: Option<String>,
}

/// Languages matching a filter, by id.
///
/// # Errors
/// Only SQLite failures.
pub fn list(conn: &Connection, f: &LanguageFilter) -> StoreResult<Vec<Language>> {
    let mut w = Where::new();
    w.contains_opt("language_code", f.language_code.as_deref())
        .contains_opt("name", f.name.as_deref());
    let mut stmt = conn.prepare(&format!(
        "SELECT id, name, language_code FROM languages{} ORDER BY id",
        w.sql()
    ))?;
    let rows = stmt.query_map(w.params(), row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Fields of a language create or PATCH.
#[derive(Debug, Default, Clone)]
pub struct LanguageInput {
    /// Display name.
    pub name: Option<String>,
    /// Code (required on create; two characters, checked by the caller).
    pub language_code: Option<String>,
}

fn check_code_free(conn: &Connection, code: Option<&str>, except: i64) -> StoreResult<()> {
    if let Some(code) = code {
        if id_for_code(conn, code)?.is_some_and(|id| id != except) {
            return Err(StoreError::conflict(
                "language_code",
                "language_code already exists in database",
            ));
        }
    }
    Ok(())
}

/// Creates a language.
///
/// # Errors
/// A field conflict when the code is taken.
pub fn create(tx: &Transaction<'_>, l: &LanguageInput) -> StoreResult<Language> {
    check_code_free(tx, l.language_code.as_deref(), 0)?;
    tx.execute(
        "INSERT INTO languages (name, language_code) VALUES (?1, ?2)",
        rusqlite::params![
            l.name.as_deref().unwrap_or(""),
            l.language_code.as_deref().unwrap_or("")
        ],
    )?;
    get(tx, tx.last_insert_rowid())
}

/// Applies a PATCH to a language (keeping its own code is fine).
///
/// # Errors
/// Not found; a field conflict when the code is taken by another language.
pub fn patch(tx: &Transaction<'_>, id: i64, l: &LanguageInput) -> StoreResult<Language> {
    get(tx, id)?;
    check_code_free(tx, l.language_code.as_deref(), id)?;
    let mut a = Assignments::default();
    a.set("name", l.name.clone())
        .set("language_code", l.language_code.clone());
    a.apply(tx, "languages", id)?;
    get(tx, id)
}

/// Why a language may not be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse(pub String);

/// Deletes a language unless something depends on it (see the module doc); nothing is
/// deleted when it answers `Ok(Err(InUse))`.
///
/// # Errors
/// Not found.
pub fn delete(tx: &Transaction<'_>, id: i64) -> StoreResult<Result<(), InUse>> {
    let language = get(tx, id)?;
    if id == 1 {
        return Ok(Err(InUse(format!(
            "Language {id} ({}) is the default language that new sessions fall back to; it cannot be deleted.",
            language.language_code
        ))));
    }
    let strings: i64 = tx.query_row(
        "SELECT count(*) FROM localized_strings WHERE language_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let projects = super::sql::ids(
        tx,
        "SELECT project_id FROM project_languages WHERE language_id = ?1 ORDER BY project_id",
        [id],
    )?;
    let mut uses = Vec::new();
    if strings > 0 {
        uses.push(format!("{strings} localized string(s)"));
    }
    if !projects.is_empty() {
        let list: Vec<String> = projects.iter().map(i64::to_string).collect();
        uses.push(format!("project(s) {}", list.join(", ")));
    }
    if !uses.is_empty() {
        return Ok(Err(InUse(format!(
            "Language {id} ({}) is still used by {}; delete or reassign those first.",
            language.language_code,
            uses.join(" and ")
        ))));
    }
    tx.execute("DELETE FROM languages WHERE id = ?1", [id])?;
    Ok(Ok(()))
}

// ---------------------------------------------------------------------------------------
// Localized strings

const STRING_SELECT: &str = "SELECT s.id, g.language_code, s.localized_string, s.language_id
                               FROM localized_strings s JOIN languages g ON g.id = s.language_id";

fn string_row(r: &Row<'_>) -> rusqlite::Result<LocString> {
    Ok(LocString {
        id: r.get(0)?,
        language: r.get(1)?,
        text: r.get(2)?,
        language_id: r.get(3)?,
    })
}

/// One localized string.
///
/// # Errors
/// [`StoreError::NotFound`] if there is none.
pub fn get_string(conn: &Connection, id: i64) -> StoreResult<LocString> {
    conn.prepare_cached(&format!("{STRING_SELECT} WHERE s.id = ?1"))?
        .query_row([id], string_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("localized string", id))
}

/// Filters of `GET localizedstrings/`.
#[derive(Debug, Default, Clone)]
pub struct StringFilter {
    /// exact
    pub language_id: Option<i64>,
    /// language code, exact
    pub language: Option<String>,
    /// icontains on the text
    pub localized_string: Option<String>,
}

/// Localized strings matching a filter, by id.
///
/// # Errors
/// Only SQLite failures.
pub fn list_strings(conn: &Connection, f: &StringFilter) -> StoreResult<Vec<LocString>> {
    let mut w = Where::new();
    w.eq_opt("s.language_id", f.language_id)
        .contains_opt("s.localized_string", f.localized_string.as_deref());
    if let Some(code) = &f.language {
        w.raw("g.language_code = ?", [Value::Text(code.clone())]);
    }
    let mut stmt = conn.prepare(&format!("{STRING_SELECT}{} ORDER BY s.id", w.sql()))?;
    let rows = stmt.query_map(w.params(), string_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Fields of a localized string create or PATCH.
#[derive(Debug, Default, Clone)]
pub struct StringInput {
    /// The text (required on create).
    pub text: Option<String>,
    /// The language (required on create, unless given by code).
    pub language_id: Option<i64>,
    /// The language by code (`language: "es"`), used when `language_id` is absent.
    pub language_code: Option<String>,
}

/// The language an input names, by id or by code.
fn input_language(tx: &Transaction<'_>, s: &StringInput) -> StoreResult<Option<i64>> {
    match (&s.language_id, &s.language_code) {
        (Some(id), _) => {
            check_ref(tx, "languages", "language_id", Some(*id))?;
            Ok(Some(*id))
        }
        (None, Some(code)) => match id_for_code(tx, code)? {
            Some(id) => Ok(Some(id)),
            None => Err(StoreError::conflict(
                "language",
                format!("Language code \"{code}\" not found."),
            )),
        },
        (None, None) => Ok(None),
    }
}

/// Creates a localized string.
///
/// # Errors
/// A field conflict for an unknown language.
pub fn create_string(tx: &Transaction<'_>, s: &StringInput) -> StoreResult<LocString> {
    let Some(language_id) = input_language(tx, s)? else {
        return Err(StoreError::conflict(
            "language_id",
            "This field is required.",
        ));
    };
    tx.execute(
        "INSERT INTO localized_strings (localized_string, language_id) VALUES (?1, ?2)",
        rusqlite::params![s.text.as_deref().unwrap_or(""), language_id],
    )?;
    get_string(tx, tx.last_insert_rowid())
}

/// Applies a PATCH to a localized string.
///
/// # Errors
/// Not found; a field conflict for an unknown language.
pub fn patch_string(tx: &Transaction<'_>, id: i64, s: &StringInput) -> StoreResult<LocString> {
    get_string(tx, id)?;
    let language_id = input_language(tx, s)?;
    let mut a = Assignments::default();
    a.set("localized_string", s.text.clone())
        .set("language_id", language_id);
    a.apply(tx, "localized_strings", id)?;
    get_string(tx, id)
}

/// Deletes a localized string (it disappears from every field it was attached to).
///
/// # Errors
/// Not found.
pub fn delete_string(tx: &Transaction<'_>, id: i64) -> StoreResult<()> {
    super::sql::delete_row(tx, "localized_strings", "localized string", id)
}
