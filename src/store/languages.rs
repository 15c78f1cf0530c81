//! Languages and the localized strings written in them (the texts that localized fields of
//! projects, tags, UI groups and UI elements point at).
//!
//! Deleting a language is refused while anything still depends on it: the default language
//! (pk 1, which sessions fall back to), localized strings written in it (SQLite would
//! silently delete that text), or projects offering it. Sessions and assets in a deleted
//! language are not a reason to refuse: they simply lose the language (and read English).

use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::loc::LocString;
use super::sql::{Assignments, check_ref};
use super::{
    Editable, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test,
};

/// A language.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Language {
    /// Row id.
    pub id: i64,
    /// Display name (may be empty).
    pub name: String,
    /// Two-letter code, e.g. `en`.
    pub language_code: String,
}

impl Table for Language {
    const WHAT: &'static str = "language";
    const TABLE: &'static str = "languages";
    const SELECT: &'static str = "SELECT id, name, language_code FROM languages";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            language_code: r.get(2)?,
        })
    }

    /// Refused while something depends on the language (see the module doc):
    /// [`StoreError::InUse`] says what, and nothing is deleted.
    fn delete(tx: &Transaction<'_>, id: i64) -> StoreResult<()> {
        let language = Self::get(tx, id)?;
        if id == 1 {
            return Err(StoreError::InUse(format!(
                "Language {id} ({}) is the default language that new sessions fall back to; it cannot be deleted.",
                language.language_code
            )));
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
            return Err(StoreError::InUse(format!(
                "Language {id} ({}) is still used by {}; delete or reassign those first.",
                language.language_code,
                uses.join(" and ")
            )));
        }
        tx.execute("DELETE FROM languages WHERE id = ?1", [id])?;
        Ok(())
    }
}

/// The id of the language with this code, if any.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn id_for_code(conn: &Connection, code: &str) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM languages WHERE language_code = ?1")?
        .query_row([code], |r| r.get(0))
        .optional()?)
}

/// The language of a client locale: `es-MX`, `es_MX` and `ES` all find `es`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn id_for_locale(conn: &Connection, locale: &str) -> StoreResult<Option<i64>> {
    let short = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    id_for_code(conn, &short)
}

/// `GET languages/`: code and name contain (any case).
impl Queried for Language {
    const PARAMS: &'static [Param] = &[
        Param::new(
            &["language_code"],
            "language_code",
            Test::Contains,
            Kind::Text,
        ),
        Param::new(&["name"], "name", Test::Contains, Kind::Text),
    ];
}

impl Filtered for Language {
    type Filter = Given<Self>;
}

/// Fields of a language create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct LanguageInput {
    /// Display name.
    pub name: Option<String>,
    /// Code (required on create; two characters, checked by the caller).
    pub language_code: Option<String>,
}

fn check_code_free(conn: &Connection, code: Option<&str>, except: i64) -> StoreResult<()> {
    if let Some(code) = code
        && id_for_code(conn, code)?.is_some_and(|id| id != except)
    {
        return Err(StoreError::conflict(
            "language_code",
            "language_code already exists in database",
        ));
    }
    Ok(())
}

impl Editable for Language {
    type Input = LanguageInput;

    /// Creates a language.
    ///
    /// # Errors
    /// A field conflict when the code is taken.
    fn create(tx: &Transaction<'_>, l: &LanguageInput) -> StoreResult<Self> {
        check_code_free(tx, l.language_code.as_deref(), 0)?;
        tx.execute(
            "INSERT INTO languages (name, language_code) VALUES (?1, ?2)",
            rusqlite::params![
                l.name.as_deref().unwrap_or(""),
                l.language_code.as_deref().unwrap_or("")
            ],
        )?;
        Language::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH to a language (keeping its own code is fine).
    ///
    /// # Errors
    /// Not found; a field conflict when the code is taken by another language.
    fn patch(tx: &Transaction<'_>, id: i64, l: &LanguageInput) -> StoreResult<Self> {
        Language::get(tx, id)?;
        check_code_free(tx, l.language_code.as_deref(), id)?;
        let mut a = Assignments::default();
        a.set("name", l.name.clone())
            .set("language_code", l.language_code.clone());
        a.apply(tx, "languages", id)?;
        Language::get(tx, id)
    }
}

// ---------------------------------------------------------------------------------------
// Localized strings

impl Table for LocString {
    const WHAT: &'static str = "localized string";
    const TABLE: &'static str = "localized_strings";
    const SELECT: &'static str = "SELECT s.id, g.language_code, s.localized_string, s.language_id
           FROM localized_strings s JOIN languages g ON g.id = s.language_id";
    const ID: &'static str = "s.id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            language: r.get(1)?,
            text: r.get(2)?,
            language_id: r.get(3)?,
        })
    }
}

/// `GET localizedstrings/`: the language by id or by code; the text contains (any case).
impl Queried for LocString {
    const PARAMS: &'static [Param] = &[
        Param::new(&["language_id"], "s.language_id", Test::Eq, Kind::Int),
        Param::new(&["language"], "g.language_code", Test::Eq, Kind::Text),
        Param::new(
            &["localized_string"],
            "s.localized_string",
            Test::Contains,
            Kind::Text,
        ),
    ];
}

impl Filtered for LocString {
    type Filter = Given<Self>;
}

/// Fields of a localized string create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct StringInput {
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

impl Editable for LocString {
    type Input = StringInput;

    /// Creates a localized string.
    ///
    /// # Errors
    /// A field conflict for an unknown language.
    fn create(tx: &Transaction<'_>, s: &StringInput) -> StoreResult<Self> {
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
        LocString::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH to a localized string.
    ///
    /// # Errors
    /// Not found; a field conflict for an unknown language.
    fn patch(tx: &Transaction<'_>, id: i64, s: &StringInput) -> StoreResult<Self> {
        LocString::get(tx, id)?;
        let language_id = input_language(tx, s)?;
        let mut a = Assignments::default();
        a.set("localized_string", s.text.clone())
            .set("language_id", language_id);
        a.apply(tx, "localized_strings", id)?;
        LocString::get(tx, id)
    }
}
