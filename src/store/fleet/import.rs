//! Rows imported from another Roundware server's api/2: `roundwared import` and the fleet
//! hub's bridge to a central server (fleet.md §3.5). An object arrives as a row state shaped
//! like the fleet's ([`super::rows`]) but numbered with the source's ids; here every id in it
//! (its own, its references, its links and localized strings) becomes this database's, through
//! the `remote_ids` map. A row seen for the first time takes a fresh local id (in fleet mode,
//! a box-origin table's next id in the box's range), so an import never overwrites a row of
//! the box's own, and importing the same source again updates the same rows.
//!
//! A reference to a row the import has not brought is dropped where the column allows it;
//! where it does not, the object is not written and the caller is told why. Languages are
//! matched by their code, not their id: every database already has English.
//!
//! Owns: `remote_ids`, translating a source's ids. May not touch: HTTP, media files (their
//! names arrive in the state; removing replaced files is the caller's, after the commit).

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use super::super::StoreResult;
use super::rows::{self, Kind};

/// One of the source's objects as a row state (`{"rows": {table: [row, …]}}`) with the
/// source's ids.
#[derive(Debug, Clone)]
pub(crate) struct RemoteState {
    /// What it is.
    pub kind: &'static Kind,
    /// Its id at the source.
    pub remote_id: i64,
    /// Its rows.
    pub state: Value,
}

/// An imported asset as this database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownAsset {
    /// Its local id.
    pub local_id: i64,
    /// The source's media URL its files were made from.
    pub media: Option<String>,
    /// Its files here: `file`, `filename`, `audiolength`.
    pub file: Option<String>,
    /// The playback file.
    pub filename: Option<String>,
    /// Length in nanoseconds.
    pub audiolength_ns: Option<i64>,
    /// The venue's own recording, pushed to the source ([`super::push`]): left alone.
    pub pushed: bool,
}

/// What [`write()`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrote {
    /// The object is new here, under this local id.
    New(i64),
    /// The object changed at the source and was written over its local row.
    Updated(i64),
    /// The source shows it as it was last written: nothing was written.
    Unchanged(i64),
}

/// Writes `object` from `source` (an api/2 root), carried with the source's `project` (`None`
/// for rows every project shares). `media` is recorded for an asset (the source's URL its
/// files were made from). Returns what was done, or why it was not written.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn write(
    tx: &Transaction<'_>,
    source: &str,
    project: Option<i64>,
    object: &RemoteState,
    media: Option<&str>,
) -> StoreResult<Result<Wrote, String>> {
    let kind = object.kind;
    if kind.name == "language" {
        return Ok(language(tx, source, object)?.map(Wrote::Unchanged));
    }
    let digest = digest(&object.state);
    let known: Option<(i64, Option<String>)> = tx
        .prepare_cached(
            "SELECT local_id, digest FROM remote_ids WHERE source = ?1 AND tbl = ?2 AND remote_id = ?3",
        )?
        .query_row(rusqlite::params![source, kind.table, object.remote_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((local, Some(seen))) = &known {
        let present = tx
            .prepare_cached(&format!("SELECT 1 FROM \"{}\" WHERE id = ?1", kind.table))?
            .exists([local])?;
        if present && *seen == digest {
            return Ok(Ok(Wrote::Unchanged(*local)));
        }
    }
    let local_id = local_or_new(tx, source, kind.table, object.remote_id, project)?;
    let mut state = object.state.clone();
    let Some(tables) = state.get_mut("rows").and_then(Value::as_object_mut) else {
        return Ok(Err("the state has no rows".into()));
    };
    // Its own localized strings take local ids first: the links name them.
    if let Some(strings) = tables
        .get_mut("localized_strings")
        .and_then(Value::as_array_mut)
    {
        for string in strings.iter_mut().filter_map(Value::as_object_mut) {
            let Some(remote) = string.get("id").and_then(Value::as_i64) else {
                continue;
            };
            let local = local_or_new(tx, source, "localized_strings", remote, None)?;
            string.insert("id".into(), local.into());
        }
    }
    for (table, rows) in tables.iter_mut() {
        let Some(rows) = rows.as_array_mut() else {
            continue;
        };
        let columns = rows::columns(tx, table)?;
        let references = rows::foreign_keys(tx, table)?;
        for row in rows.iter_mut().filter_map(Value::as_object_mut) {
            if table == kind.table {
                row.insert("id".into(), local_id.into());
            }
            let own = if table == "loc_links" {
                Some("owner_id")
            } else {
                kind.links.iter().find(|(t, _)| t == table).map(|(_, c)| *c)
            };
            if let Some(column) = own {
                row.insert(column.into(), local_id.into());
            }
            if let Err(why) = translate(tx, source, table, row, own, &columns, &references)? {
                if table == kind.table {
                    return Ok(Err(why));
                }
                // A link naming a row the import lacks is left out.
                row.clear();
            }
        }
        rows.retain(|r| r.as_object().is_some_and(|o| !o.is_empty()));
    }
    if let Err(why) = rows::write_state(tx, kind, local_id, &state)? {
        return Ok(Err(why));
    }
    tx.prepare_cached(
        "UPDATE remote_ids SET digest = ?4, media = coalesce(?5, media)
          WHERE source = ?1 AND tbl = ?2 AND remote_id = ?3",
    )?
    .execute(rusqlite::params![
        source,
        kind.table,
        object.remote_id,
        digest,
        media
    ])?;
    Ok(Ok(if known.is_some() {
        Wrote::Updated(local_id)
    } else {
        Wrote::New(local_id)
    }))
}

/// A digest of a state as the source showed it (serde_json's maps are ordered, so the same
/// state gives the same text).
fn digest(state: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    state.to_string().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The imported asset `remote_id` of `source`, if this database has it.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn known_asset(
    conn: &Connection,
    source: &str,
    remote_id: i64,
) -> StoreResult<Option<KnownAsset>> {
    Ok(conn
        .prepare_cached(
            "SELECT r.local_id, r.media, a.file, a.filename, a.audiolength, r.digest = ?3
               FROM remote_ids r JOIN assets a ON a.id = r.local_id
              WHERE r.source = ?1 AND r.tbl = 'assets' AND r.remote_id = ?2",
        )?
        .query_row(
            rusqlite::params![source, remote_id, super::push::PUSHED],
            |r| {
                Ok(KnownAsset {
                    local_id: r.get(0)?,
                    media: r.get(1)?,
                    file: r.get(2)?,
                    filename: r.get(3)?,
                    audiolength_ns: r.get(4)?,
                    pushed: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                })
            },
        )
        .optional()?)
}

/// How many rows of `kind` this database holds from `source` with `project`.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn imported(
    conn: &Connection,
    source: &str,
    project: i64,
    kind: &Kind,
) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM remote_ids WHERE source = ?1 AND tbl = ?2 AND project = ?3",
        )?
        .query_row(rusqlite::params![source, kind.table, project], |r| r.get(0))?)
}

/// Deletes the rows of `kind` imported from `source` with `project` that the source no longer
/// lists (`seen`: the remote ids it listed). Returns the media files of deleted assets, the
/// caller's to remove once the transaction has committed.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn retire(
    tx: &Transaction<'_>,
    source: &str,
    project: i64,
    kind: &Kind,
    seen: &HashSet<i64>,
) -> StoreResult<Vec<String>> {
    let gone: Vec<(i64, i64)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT remote_id, local_id FROM remote_ids
              WHERE source = ?1 AND tbl = ?2 AND project = ?3",
        )?;
        let rows = stmt.query_map(rusqlite::params![source, kind.table, project], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|(remote, _)| !seen.contains(remote))
            .collect()
    };
    let mut files = Vec::new();
    for (remote, local) in gone {
        files.extend(rows::delete_object(tx, kind, local)?);
        tx.prepare_cached(
            "DELETE FROM remote_ids WHERE source = ?1 AND tbl = ?2 AND remote_id = ?3",
        )?
        .execute(rusqlite::params![source, kind.table, remote])?;
    }
    Ok(files)
}

/// A language: the local one with the same code, else a new one.
fn language(
    tx: &Transaction<'_>,
    source: &str,
    object: &RemoteState,
) -> StoreResult<Result<i64, String>> {
    let row = object
        .state
        .pointer("/rows/languages/0")
        .and_then(Value::as_object);
    let Some(code) = row
        .and_then(|r| r.get("language_code"))
        .and_then(Value::as_str)
    else {
        return Ok(Err("the language has no language_code".into()));
    };
    let name = row
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let local: i64 = tx
        .prepare_cached(
            "INSERT INTO languages (name, language_code) VALUES (?1, ?2)
             ON CONFLICT (language_code) DO UPDATE SET name = languages.name
             RETURNING id",
        )?
        .query_row(rusqlite::params![name, code], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO remote_ids (source, tbl, remote_id, local_id) VALUES (?1, 'languages', ?2, ?3)
         ON CONFLICT (source, tbl, remote_id) DO UPDATE SET local_id = excluded.local_id",
    )?
    .execute(rusqlite::params![source, object.remote_id, local])?;
    Ok(Ok(local))
}

/// The local id of the source's row, or a new one (recorded).
fn local_or_new(
    tx: &Transaction<'_>,
    source: &str,
    table: &'static str,
    remote_id: i64,
    project: Option<i64>,
) -> StoreResult<i64> {
    if let Some(local) = mapped(tx, source, table, remote_id)? {
        return Ok(local);
    }
    let local = match super::next_id(tx, table)? {
        Some(id) if is_box_origin(table) => id,
        _ => {
            // SQLite's own numbering, as an AUTOINCREMENT insert would take it.
            let sequence: i64 = tx
                .prepare_cached(
                    "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?1",
                )?
                .query_row([table], |r| r.get(0))?;
            let max: i64 = tx
                .prepare_cached(&format!("SELECT coalesce(max(id), 0) FROM \"{table}\""))?
                .query_row([], |r| r.get(0))?;
            sequence.max(max) + 1
        }
    };
    tx.prepare_cached(
        "INSERT INTO remote_ids (source, tbl, remote_id, local_id, project) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(rusqlite::params![source, table, remote_id, local, project])?;
    Ok(local)
}

/// Tables whose rows a box numbers in its own range in fleet mode.
fn is_box_origin(table: &str) -> bool {
    rows::KINDS
        .iter()
        .chain(&rows::TELEMETRY_KINDS)
        .any(|k| k.box_origin && k.table == table)
}

fn mapped(
    conn: &Connection,
    source: &str,
    table: &str,
    remote_id: i64,
) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT local_id FROM remote_ids WHERE source = ?1 AND tbl = ?2 AND remote_id = ?3",
        )?
        .query_row(rusqlite::params![source, table, remote_id], |r| r.get(0))
        .optional()?)
}

/// Turns the row's references into local ids. A reference to a row not imported becomes NULL,
/// or, where the column is required, `Err` naming it.
fn translate(
    conn: &Connection,
    source: &str,
    table: &str,
    row: &mut Map<String, Value>,
    own: Option<&str>,
    columns: &[rows::Column],
    references: &[(String, String, String)],
) -> StoreResult<Result<(), String>> {
    for (from, parent, to) in references {
        if to != "id" {
            continue;
        }
        let Some(remote) = row.get(from).and_then(Value::as_i64) else {
            continue;
        };
        if own == Some(from.as_str()) {
            // The column naming the object itself holds its local id already.
            continue;
        }
        match mapped(conn, source, parent, remote)? {
            Some(local) => {
                row.insert(from.clone(), local.into());
            }
            None if columns.iter().any(|c| c.name == *from && c.not_null) => {
                return Ok(Err(format!(
                    "its {table}.{from} names {parent} {remote} of the source, which was not \
                     imported"
                )));
            }
            None => {
                row.insert(from.clone(), Value::Null);
            }
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::fleet::kind_named;
    use crate::store::migrated_in_memory;

    const SRC: &str = "http://central/api/2/";

    fn remote(kind: &str, id: i64, rows: Value) -> RemoteState {
        RemoteState {
            kind: kind_named(kind).unwrap(),
            remote_id: id,
            state: json!({ "rows": rows }),
        }
    }

    fn write_all(conn: &mut Connection, objects: &[RemoteState]) -> Vec<Result<Wrote, String>> {
        let tx = conn.transaction().unwrap();
        let out = objects
            .iter()
            .map(|o| write(&tx, SRC, Some(12), o, None).unwrap())
            .collect();
        tx.commit().unwrap();
        out
    }

    fn source_project() -> Vec<RemoteState> {
        vec![
            remote(
                "language",
                5,
                json!({"languages": [{"id": 5, "name": "Español", "language_code": "es"}]}),
            ),
            remote(
                "language",
                6,
                json!({"languages": [{"id": 6, "name": "English", "language_code": "en"}]}),
            ),
            remote(
                "project",
                1,
                json!({
                    "projects": [{"id": 1, "name": "Central", "latitude": 1.0, "longitude": 2.0, "pub_date": "d"}],
                    "project_languages": [{"project_id": 1, "language_id": 5}],
                    "localized_strings": [{"id": 90, "localized_string": "Hola", "language_id": 5}],
                    "loc_links": [{"owner": "project", "owner_id": 1, "field": "description", "position": 0, "string_id": 90}],
                }),
            ),
            remote(
                "tag",
                1,
                json!({
                    "tags": [{"id": 1, "value": "birds", "project_id": 1, "tag_category_id": 44}],
                    "localized_strings": [], "loc_links": [],
                }),
            ),
        ]
    }

    #[test]
    fn imported_rows_take_fresh_local_ids_and_their_references_follow() {
        let mut conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'Ours', 0, 0, 'd');
             INSERT INTO tags (id, project_id, value) VALUES (1, 1, 'our tag');",
        )
        .unwrap();
        let wrote = write_all(&mut conn, &source_project());
        let Ok(Wrote::New(project)) = wrote[2] else {
            panic!("{wrote:?}")
        };
        assert_ne!(project, 1, "the box's own project keeps its id");
        let (ours, theirs): (String, String) = conn
            .query_row(
                "SELECT (SELECT value FROM tags WHERE id = 1), (SELECT value FROM tags WHERE project_id = ?1)",
                [project],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((ours.as_str(), theirs.as_str()), ("our tag", "birds"));
        // Spanish is new here; English is matched by its code, not the source's id 6.
        let (es, en): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT id FROM languages WHERE language_code = 'es'),
                        (SELECT count(*) FROM languages WHERE language_code = 'en')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(en, 1);
        let linked: (i64, String, i64) = conn
            .query_row(
                "SELECT p.language_id, s.localized_string, s.language_id
                   FROM project_languages p, loc_links l JOIN localized_strings s ON s.id = l.string_id
                  WHERE p.project_id = ?1 AND l.owner = 'project' AND l.owner_id = ?1",
                [project],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(linked, (es, "Hola".into(), es));
        // The category the tag named was not imported: the reference is dropped, not guessed.
        let category: Option<i64> = conn
            .query_row(
                "SELECT tag_category_id FROM tags WHERE project_id = ?1",
                [project],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(category, None);
    }

    #[test]
    fn the_same_source_again_updates_the_same_rows_and_leaves_unchanged_ones_alone() {
        let mut conn = migrated_in_memory();
        let first = write_all(&mut conn, &source_project());
        let again = write_all(&mut conn, &source_project());
        assert!(
            again[2..]
                .iter()
                .all(|w| matches!(w, Ok(Wrote::Unchanged(_)))),
            "{again:?}"
        );
        let mut renamed = source_project();
        renamed[3].state["rows"]["tags"][0]["value"] = json!("owls");
        let third = write_all(&mut conn, &renamed);
        let (Ok(Wrote::New(tag)), Ok(Wrote::Updated(same))) = (&first[3], &third[3]) else {
            panic!("{first:?} {third:?}")
        };
        assert_eq!(tag, same);
        let value: String = conn
            .query_row("SELECT value FROM tags WHERE id = ?1", [tag], |r| r.get(0))
            .unwrap();
        assert_eq!(value, "owls");
    }

    #[test]
    fn a_row_whose_required_reference_was_not_imported_is_refused_and_what_the_source_dropped_is_retired()
     {
        let mut conn = migrated_in_memory();
        write_all(&mut conn, &source_project());
        // A UI item needs its group and its tag.
        let item = remote(
            "uiitem",
            3,
            json!({"ui_items": [{"id": 3, "ui_group_id": 77, "idx": 1, "tag_id": 1}]}),
        );
        let refused = write_all(&mut conn, &[item]);
        let Err(why) = &refused[0] else {
            panic!("{refused:?}")
        };
        assert!(
            why.contains("ui_items.ui_group_id names ui_groups 77"),
            "{why}"
        );
        let tx = conn.transaction().unwrap();
        let tags = kind_named("tag").unwrap();
        let count = |tx: &Transaction<'_>| -> i64 {
            tx.query_row("SELECT count(*) FROM tags", [], |r| r.get(0))
                .unwrap()
        };
        retire(&tx, SRC, 12, tags, &HashSet::from([1])).unwrap();
        assert_eq!(count(&tx), 1, "a tag the source still lists stays");
        retire(&tx, SRC, 12, tags, &HashSet::new()).unwrap();
        assert_eq!(count(&tx), 0, "a tag the source no longer lists goes");
        tx.commit().unwrap();
    }
}
