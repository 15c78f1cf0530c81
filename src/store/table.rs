//! The shape most resources share: one row per object, read by id or by a filter, created
//! and PATCHed from an input, deleted by id. [`Table`] maps a row and gives the generic reads
//! and the delete; [`Filtered`] and [`Editable`] name a resource's filter and input (see
//! [`super::params`] for filters written as a table), so the
//! HTTP layer can serve every plain resource with one set of handlers.
//!
//! A resource whose reads need more than an id (localization, the caller's view) or whose
//! delete has rules of its own overrides the provided methods or keeps its own functions;
//! nothing here hides SQL a resource really writes differently.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};

use super::sql::{Where, delete_row};
use super::{StoreError, StoreResult};

/// A resource stored one row per object.
pub(crate) trait Table: Sized + Send + 'static {
    /// What a missing row is called in errors (`timed asset`).
    const WHAT: &'static str;
    /// The table rows are deleted from.
    const TABLE: &'static str;
    /// `SELECT <columns> FROM <table> [joins]`, without `WHERE` or `ORDER BY`.
    const SELECT: &'static str;
    /// The id column as [`Table::SELECT`] names it (`id`, `s.id`).
    const ID: &'static str = "id";
    /// How lists are ordered (by id unless a resource has an order of its own).
    const ORDER_BY: &'static str = Self::ID;

    /// Maps one row of [`Table::SELECT`].
    ///
    /// # Errors
    /// A column of the wrong type.
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self>;

    /// Fills in what the row cannot carry (the ids of localized strings, read by a second
    /// query); the identity by default.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn complete(self, _conn: &Connection) -> StoreResult<Self> {
        Ok(self)
    }

    /// One object as its row reads, before [`Table::complete`].
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is none.
    fn row(conn: &Connection, id: i64) -> StoreResult<Self> {
        conn.prepare_cached(&format!("{} WHERE {} = ?1", Self::SELECT, Self::ID))?
            .query_row([id], Self::from_row)
            .optional()?
            .ok_or_else(|| StoreError::not_found(Self::WHAT, id))
    }

    /// One object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is none.
    fn get(conn: &Connection, id: i64) -> StoreResult<Self> {
        Self::row(conn, id)?.complete(conn)
    }

    /// The rows matching `w`, in [`Table::ORDER_BY`] order, before [`Table::complete`];
    /// `window` is `(limit, offset)`.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn rows(conn: &Connection, w: &Where, window: Option<(i64, i64)>) -> StoreResult<Vec<Self>> {
        let window = window.map_or(String::new(), |(limit, offset)| {
            format!(" LIMIT {limit} OFFSET {offset}")
        });
        let mut stmt = conn.prepare(&format!(
            "{}{} ORDER BY {}{window}",
            Self::SELECT,
            w.sql(),
            Self::ORDER_BY
        ))?;
        let rows = stmt.query_map(w.params(), Self::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The objects matching `w`, in [`Table::ORDER_BY`] order.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn select(conn: &Connection, w: &Where) -> StoreResult<Vec<Self>> {
        Self::select_window(conn, w, None)
    }

    /// The objects matching `w`, in [`Table::ORDER_BY`] order; `window` is `(limit, offset)`.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn select_window(
        conn: &Connection,
        w: &Where,
        window: Option<(i64, i64)>,
    ) -> StoreResult<Vec<Self>> {
        let rows = Self::rows(conn, w, window)?;
        rows.into_iter().map(|row| row.complete(conn)).collect()
    }

    /// How many objects match `w`.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn count(conn: &Connection, w: &Where) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM ({}{})", Self::SELECT, w.sql());
        Ok(conn.prepare(&sql)?.query_row(w.params(), |r| r.get(0))?)
    }

    /// Deletes one object (what refers to it goes by the schema's `ON DELETE` rules).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is none.
    fn delete(tx: &Transaction<'_>, id: i64) -> StoreResult<()> {
        delete_row(tx, Self::TABLE, Self::WHAT, id)
    }
}

/// A list filter: what it keeps, as a `WHERE` clause on the resource's `SELECT`.
pub(crate) trait Filter {
    /// The clause, every value bound.
    fn where_clause(&self) -> Where;
}

/// A resource listed through a filter of its own.
pub(crate) trait Filtered: Table {
    /// The list's filters.
    type Filter: Filter + Send + 'static;

    /// The objects matching `f`, in [`Table::ORDER_BY`] order.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn list(conn: &Connection, f: &Self::Filter) -> StoreResult<Vec<Self>> {
        Self::select(conn, &f.where_clause())
    }
}

/// A resource created and PATCHed from one input type (`None` fields keep stored values).
pub(crate) trait Editable: Table {
    /// The fields of a create or PATCH.
    type Input: Send + 'static;

    /// Creates an object.
    ///
    /// # Errors
    /// A field conflict (a missing reference, a taken unique value).
    fn create(tx: &Transaction<'_>, input: &Self::Input) -> StoreResult<Self>;

    /// Applies a PATCH.
    ///
    /// # Errors
    /// Not found; a field conflict.
    fn patch(tx: &Transaction<'_>, id: i64, input: &Self::Input) -> StoreResult<Self>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Note {
        id: i64,
        text: String,
    }

    impl Table for Note {
        const WHAT: &'static str = "note";
        const TABLE: &'static str = "notes";
        const SELECT: &'static str = "SELECT id, text FROM notes";
        fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
            Ok(Self {
                id: r.get(0)?,
                text: r.get(1)?,
            })
        }
    }

    fn notes() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);
             INSERT INTO notes VALUES (2, 'b'), (1, 'a'), (3, 'ab');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn get_maps_the_row_and_names_a_missing_one() {
        let conn = notes();
        assert_eq!(
            Note::get(&conn, 2).unwrap(),
            Note {
                id: 2,
                text: "b".into()
            }
        );
        let err = Note::get(&conn, 9).unwrap_err();
        assert!(matches!(
            err,
            StoreError::NotFound {
                what: "note",
                id: 9
            }
        ));
    }

    #[test]
    fn select_filters_and_orders_by_id() {
        let conn = notes();
        let mut w = Where::new();
        w.contains_opt("text", Some("a"));
        let ids: Vec<i64> = Note::select(&conn, &w)
            .unwrap()
            .iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(ids, [1, 3]);
    }

    #[test]
    fn a_window_pages_in_order_and_count_ignores_it() {
        let conn = notes();
        let ids: Vec<i64> = Note::select_window(&conn, &Where::new(), Some((1, 1)))
            .unwrap()
            .iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(ids, [2]);
        let mut w = Where::new();
        w.contains_opt("text", Some("a"));
        assert_eq!(Note::count(&conn, &w).unwrap(), 2);
    }

    #[test]
    fn delete_removes_one_row_and_a_second_delete_is_not_found() {
        let mut conn = notes();
        let tx = conn.transaction().unwrap();
        Note::delete(&tx, 1).unwrap();
        assert!(matches!(
            Note::delete(&tx, 1),
            Err(StoreError::NotFound { what: "note", .. })
        ));
        assert_eq!(Note::select(&tx, &Where::new()).unwrap().len(), 2);
    }
}
