//! SQL pieces every resource module uses: a small builder for the `WHERE` clauses of list
//! filters (every filter a bound parameter, never text pasted into SQL), existence and
//! reference checks, the `SET` list of a PATCH (`Assignments`), the cycle check of
//! self-referencing trees and deletes by id.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::{StoreError, StoreResult};

/// Conjunction of SQL conditions with their bound parameters.
#[derive(Debug, Default, Clone)]
pub(crate) struct Where {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    /// An empty condition (matches everything).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds `column = ?`.
    pub(crate) fn eq(&mut self, column: &str, value: impl Into<Value>) -> &mut Self {
        self.clauses.push(format!("{column} = ?"));
        self.params.push(value.into());
        self
    }

    /// Adds `column = ?` when `value` is present.
    pub(crate) fn eq_opt<V: Into<Value>>(&mut self, column: &str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.eq(column, v);
        }
        self
    }

    /// Adds `column <op> ?` (op is one of `<`, `<=`, `>`, `>=`), when `value` is present.
    pub(crate) fn cmp_opt<V: Into<Value>>(
        &mut self,
        column: &str,
        op: &str,
        value: Option<V>,
    ) -> &mut Self {
        if let Some(v) = value {
            self.clauses.push(format!("{column} {op} ?"));
            self.params.push(v.into());
        }
        self
    }

    /// Adds a case-insensitive substring match, when `value` is present.
    pub(crate) fn contains_opt(&mut self, column: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.clauses.push(format!("{column} LIKE ? ESCAPE '\\'"));
            self.params
                .push(Value::Text(format!("%{}%", escape_like(v))));
        }
        self
    }

    /// Adds a case-insensitive prefix match, when `value` is present.
    pub(crate) fn starts_with_opt(&mut self, column: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.clauses
                .push(format!("CAST({column} AS TEXT) LIKE ? ESCAPE '\\'"));
            self.params
                .push(Value::Text(format!("{}%", escape_like(v))));
        }
        self
    }

    /// Adds `column IN (?, ?, ...)`; an empty list matches nothing.
    pub(crate) fn in_list(&mut self, column: &str, values: &[i64]) -> &mut Self {
        if values.is_empty() {
            self.clauses.push("0".into());
        } else {
            let marks = vec!["?"; values.len()].join(", ");
            self.clauses.push(format!("{column} IN ({marks})"));
            self.params
                .extend(values.iter().map(|v| Value::Integer(*v)));
        }
        self
    }

    /// With `Some(user)`: only rows whose `session_column` names a session `user` opened (the
    /// "your own only" view of non-staff callers).
    pub(crate) fn owned_by(&mut self, session_column: &str, user: Option<i64>) -> &mut Self {
        if let Some(user) = user {
            self.clauses.push(format!(
                "{session_column} IN (SELECT id FROM sessions WHERE user_id = ?)"
            ));
            self.params.push(Value::Integer(user));
        }
        self
    }

    /// Adds a raw clause with `?` placeholders and their values.
    pub(crate) fn raw(
        &mut self,
        clause: impl Into<String>,
        params: impl IntoIterator<Item = Value>,
    ) -> &mut Self {
        self.clauses.push(clause.into());
        self.params.extend(params);
        self
    }

    /// ` WHERE a AND b ...`, or the empty string.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The bound parameters, in order.
    pub(crate) fn params(&self) -> rusqlite::ParamsFromIter<std::slice::Iter<'_, Value>> {
        rusqlite::params_from_iter(self.params.iter())
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Parses `group_concat` output (`"3,5,8"`) into ids.
pub(crate) fn id_list(text: Option<String>) -> Vec<i64> {
    text.map(|t| t.split(',').filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_default()
}

/// Reads the ids returned by a one-column query.
pub(crate) fn ids(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| r.get(0))?;
    rows.collect()
}

/// Replaces the rows of a many-to-many link table for one owner.
pub(crate) fn replace_links(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    owner_column: &str,
    other_column: &str,
    owner_id: i64,
    others: &[i64],
) -> rusqlite::Result<()> {
    tx.execute(
        &format!("DELETE FROM {table} WHERE {owner_column} = ?1"),
        [owner_id],
    )?;
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO {table} ({owner_column}, {other_column}) VALUES (?1, ?2)"
    ))?;
    for other in others {
        stmt.execute([owner_id, *other])?;
    }
    Ok(())
}

/// True if a row with this id exists in `table`.
pub(crate) fn exists(conn: &rusqlite::Connection, table: &str, id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(&format!("SELECT 1 FROM {table} WHERE id = ?1"))?
        .exists([id])
}

/// Checks that a referenced row exists; `None` passes.
///
/// # Errors
/// [`super::StoreError::Conflict`] naming `field` (DRF's wording) when it does not.
pub(crate) fn check_ref(
    conn: &rusqlite::Connection,
    table: &str,
    field: &'static str,
    id: Option<i64>,
) -> super::StoreResult<()> {
    match id {
        Some(id) if !exists(conn, table, id)? => Err(super::StoreError::conflict(
            field,
            format!("Invalid pk \"{id}\" - object does not exist."),
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// PATCH assignments, tree checks and deletes by id, shared by the resource modules

/// The `SET` list of a PATCH: only the fields a client sent are assigned.
#[derive(Debug, Default)]
pub(crate) struct Assignments(Vec<(&'static str, Value)>);

impl Assignments {
    /// Assigns `column` when `value` is `Some` (an `Option<Option<_>>` assigns NULL for
    /// `Some(None)`).
    pub(crate) fn set<V: Into<Value>>(
        &mut self,
        column: &'static str,
        value: Option<V>,
    ) -> &mut Self {
        if let Some(v) = value {
            self.0.push((column, v.into()));
        }
        self
    }

    /// Runs `UPDATE table SET ... WHERE id = ?` (nothing when no field was sent).
    pub(crate) fn apply(&self, tx: &Transaction<'_>, table: &str, id: i64) -> rusqlite::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let set: Vec<String> = self.0.iter().map(|(c, _)| format!("{c} = ?")).collect();
        let mut params: Vec<Value> = self.0.iter().map(|(_, v)| v.clone()).collect();
        params.push(Value::Integer(id));
        tx.execute(
            &format!("UPDATE {table} SET {} WHERE id = ?", set.join(", ")),
            rusqlite::params_from_iter(params),
        )?;
        Ok(())
    }
}

/// True if making `parent` the parent of row `id` (in a table with a self-referencing
/// `parent_id`) would make `id` its own ancestor.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn creates_cycle(
    conn: &Connection,
    table: &str,
    id: i64,
    parent: i64,
) -> StoreResult<bool> {
    let mut stmt = conn.prepare_cached(&format!("SELECT parent_id FROM {table} WHERE id = ?1"))?;
    let mut current = Some(parent);
    // Bounded walk: an existing cycle (made outside the API) cannot hang the request.
    for _ in 0..10_000 {
        match current {
            None => return Ok(false),
            Some(p) if p == id => return Ok(true),
            Some(p) => {
                current = stmt
                    .query_row([p], |r| r.get::<_, Option<i64>>(0))
                    .optional()?
                    .flatten();
            }
        }
    }
    Ok(true)
}

/// Deletes one row by id.
///
/// # Errors
/// [`StoreError::NotFound`] (as `what`) when nothing was deleted.
pub(crate) fn delete_row(
    tx: &Transaction<'_>,
    table: &str,
    what: &'static str,
    id: i64,
) -> StoreResult<()> {
    let n = tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])?;
    if n == 0 {
        return Err(StoreError::not_found(what, id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn an_empty_in_list_matches_nothing() {
        let mut w = Where::new();
        w.in_list("id", &[]);
        assert_eq!(w.sql(), " WHERE 0");
    }

    #[test]
    fn clauses_are_joined_with_and_and_values_bound() {
        let mut w = Where::new();
        w.eq("project_id", 3)
            .contains_opt("name", Some("it's; DROP"));
        assert_eq!(w.sql(), " WHERE project_id = ? AND name LIKE ? ESCAPE '\\'");
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (project_id INT, name TEXT); INSERT INTO t VALUES (3, 'x it''s; DROP y');").unwrap();
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM t{}", w.sql()),
                w.params(),
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}
