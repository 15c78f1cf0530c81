//! List filters written as data: a resource whose filters are plain column tests declares
//! them once ([`Queried::PARAMS`]: the query names, the column, the test, the value's kind),
//! and that one table is what the HTTP layer reads from a query string, what the OpenAPI
//! document describes and what becomes the `WHERE` clause here. Resources whose filters have
//! rules of their own (ownership scopes, date ranges, pagination) keep typed filters.
//!
//! Owns: the parameter table's types and the clause built from given values. May not touch:
//! HTTP types (the API reads the table through [`Param`]'s fields).

use std::marker::PhantomData;

use rusqlite::types::Value;

use super::sql::Where;
use super::table::{Filter, Table};

/// How a parameter tests its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    /// `column = ?`
    Eq,
    /// A case-insensitive substring (`LIKE`, with the pattern's metacharacters escaped).
    Contains,
    /// A case-sensitive substring (`instr(column, ?) > 0`).
    Instr,
    /// A case-sensitive prefix (`instr(column, ?) = 1`).
    Prefix,
    /// `column <= ?`
    Le,
    /// `column >= ?`
    Ge,
    /// A clause of its own with one `?` (a subquery on another table).
    Clause(&'static str),
}

/// What a parameter's value is, as the query string gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An integer (ids, indexes).
    Int,
    /// A number.
    Float,
    /// Seconds, compared with a column stored in nanoseconds.
    Seconds,
    /// `true`/`false` in the forms clients send.
    Bool,
    /// Text.
    Text,
    /// Text, documented as one of these values.
    Choice(&'static [&'static str]),
}

/// One filter parameter of a list. A parameter whose name begins with `_` is the server's
/// own (an ownership scope): it is never read from a query or documented.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Param {
    /// The query names that set it, preferred first (`project_id`, then `project`).
    pub names: &'static [&'static str],
    /// The column as the resource's `SELECT` names it.
    pub column: &'static str,
    /// How the column is tested.
    pub test: Test,
    /// The value's kind.
    pub kind: Kind,
}

impl Param {
    /// `names` tested with `test` against `column`, holding a `kind`.
    pub(crate) const fn new(
        names: &'static [&'static str],
        column: &'static str,
        test: Test,
        kind: Kind,
    ) -> Self {
        Self {
            names,
            column,
            test,
            kind,
        }
    }

    /// The column equal to the value of the one query name that is also the column's name.
    pub(crate) const fn eq(name: &'static [&'static str], kind: Kind) -> Self {
        Self::new(name, name[0], Test::Eq, kind)
    }
}

/// A resource listed through a table of plain parameters.
pub(crate) trait Queried: Table {
    /// Its parameters.
    const PARAMS: &'static [Param];
}

/// The values a request gave for `R`'s parameters (by index into [`Queried::PARAMS`]).
#[derive(Debug)]
pub(crate) struct Given<R> {
    /// (index into [`Queried::PARAMS`], value), ordered by index.
    values: Vec<(usize, Value)>,
    resource: PhantomData<fn() -> R>,
}

impl<R> Default for Given<R> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            resource: PhantomData,
        }
    }
}

impl<R> Clone for Given<R> {
    fn clone(&self) -> Self {
        Self {
            values: self.values.clone(),
            resource: PhantomData,
        }
    }
}

impl<R: Queried> Given<R> {
    /// Sets parameter `index` (a value given twice keeps the last).
    pub(crate) fn set(&mut self, index: usize, value: impl Into<Value>) {
        match self.values.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(at) => self.values[at].1 = value.into(),
            Err(at) => self.values.insert(at, (index, value.into())),
        }
    }

    fn index(name: &str) -> usize {
        // Callers name parameters of their own resource's table; a wrong name is a bug that
        // every use of it hits at once in the tests.
        R::PARAMS
            .iter()
            .position(|p| p.names.contains(&name))
            .expect("a parameter of the resource")
    }

    /// With the parameter called `name` set to `value`.
    pub(crate) fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.set(Self::index(name), value);
        self
    }

    /// With the parameter called `name` set to `value` when there is one.
    pub(crate) fn with_opt(self, name: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(value) => self.with(name, value),
            None => self,
        }
    }

    /// Removes the text parameter called `name`, answering its value if it was given.
    pub(crate) fn take_text(&mut self, name: &str) -> Option<String> {
        let index = Self::index(name);
        let at = self.values.iter().position(|(i, _)| *i == index)?;
        match self.values.remove(at).1 {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl<R: Queried> Filter for Given<R> {
    fn where_clause(&self) -> Where {
        let mut w = Where::new();
        // `values` is kept in parameter order, so equal filters give equal SQL.
        for (i, value) in &self.values {
            let p = &R::PARAMS[*i];
            let value = match (p.kind, value) {
                (Kind::Seconds, Value::Real(s)) => {
                    Value::Real(s * super::audiotracks::NS_PER_SECOND)
                }
                (_, v) => v.clone(),
            };
            match (p.test, &value) {
                (Test::Eq, _) => w.raw(format!("{} = ?", p.column), [value]),
                (Test::Le, _) => w.raw(format!("{} <= ?", p.column), [value]),
                (Test::Ge, _) => w.raw(format!("{} >= ?", p.column), [value]),
                (Test::Contains, Value::Text(t)) => w.contains_opt(p.column, Some(t)),
                (Test::Instr, _) => w.raw(format!("instr({}, ?) > 0", p.column), [value]),
                (Test::Prefix, _) => w.raw(format!("instr({}, ?) = 1", p.column), [value]),
                (Test::Clause(clause), _) => w.raw(clause, [value]),
                (Test::Contains, _) => w.raw("0", std::iter::empty()),
            };
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, Row};

    use super::*;

    #[derive(Debug)]
    struct Track {
        id: i64,
    }

    impl Table for Track {
        const WHAT: &'static str = "track";
        const TABLE: &'static str = "tracks";
        const SELECT: &'static str = "SELECT id FROM tracks";
        fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
            Ok(Self { id: r.get(0)? })
        }
    }

    impl Queried for Track {
        const PARAMS: &'static [Param] = &[
            Param::eq(&["project_id", "project"], Kind::Int),
            Param::new(&["name"], "name", Test::Contains, Kind::Text),
            Param::new(&["length__gte"], "length_ns", Test::Ge, Kind::Seconds),
            Param::new(&["code"], "code", Test::Instr, Kind::Text),
        ];
    }

    fn ids(given: &Given<Track>) -> Vec<i64> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE tracks (id INTEGER PRIMARY KEY, project_id INT, name TEXT, length_ns INT, code TEXT);
             INSERT INTO tracks VALUES (1, 1, 'Rain 50%', 2000000000, 'Ab'),
                                       (2, 1, 'rain', 500000000, 'ab'),
                                       (3, 2, 'Bells', 9000000000, 'AB');",
        )
        .unwrap();
        Track::select(&conn, &given.where_clause())
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect()
    }

    #[test]
    fn given_values_become_bound_tests_of_their_columns() {
        let mut g = Given::<Track>::default();
        assert_eq!(ids(&g), [1, 2, 3]);
        g.set(0, Value::Integer(1));
        assert_eq!(ids(&g), [1, 2]);
        g.set(1, Value::Text("RAIN".into()));
        assert_eq!(ids(&g), [1, 2], "contains is case-insensitive");
        g.set(1, Value::Text("%".into()));
        assert_eq!(ids(&g), [1], "LIKE metacharacters match themselves");
    }

    #[test]
    fn seconds_compare_with_nanoseconds_and_instr_is_case_sensitive() {
        let mut g = Given::<Track>::default();
        g.set(2, Value::Real(1.5));
        assert_eq!(ids(&g), [1, 3]);
        let mut g = Given::<Track>::default();
        g.set(3, Value::Text("ab".into()));
        assert_eq!(ids(&g), [2]);
    }
}
