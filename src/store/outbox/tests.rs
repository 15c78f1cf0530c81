//! The capture and the outbox on an in-memory database.

use super::*;
use crate::store::migrated_in_memory;

fn captured() -> Connection {
    let conn = migrated_in_memory();
    install_capture(&conn).unwrap();
    conn.execute_batch(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd');
         INSERT INTO sessions (id, starttime, project_id) VALUES (5, '2026-01-01T00:00:00Z', 1);",
    )
    .unwrap();
    flush(&conn, 1).unwrap();
    conn
}

#[test]
fn a_new_asset_with_tags_is_one_change_holding_the_asset_as_read_back() {
    let conn = captured();
    conn.execute_batch(
        "INSERT INTO tags (id, project_id, value) VALUES (3, 1, 'x');
         INSERT INTO assets (id, session_id, project_id, created, updated, file)
              VALUES (10, 5, 1, 'c', 'u', 'a.mp3');
         INSERT INTO asset_tags VALUES (10, 3);",
    )
    .unwrap();
    let changes = flush(&conn, 7).unwrap();
    let kinds: Vec<_> = changes
        .iter()
        .map(|c| (c.object_type, c.object_id))
        .collect();
    assert_eq!(kinds, [("tag", 3), ("asset", 10)]);
    let asset = &changes[1];
    assert_eq!(asset.project_id, Some(1));
    assert_eq!(asset.created_ms, 7);
    let data = asset.data().unwrap();
    assert_eq!(data["tag_ids"], serde_json::json!([3]));
    assert_eq!(data["file"], "a.mp3");
    assert!(flush(&conn, 8).unwrap().is_empty(), "notes are cleared");
    let stored = after(&conn, 0, 100).unwrap();
    assert_eq!(stored.len(), 4, "project, session, tag, asset");
    assert_eq!(stored[3], **asset);
}

#[test]
fn a_deleted_object_is_one_change_marked_deleted_showing_it_as_last_seen() {
    let conn = captured();
    conn.execute_batch(
        "INSERT INTO assets (id, session_id, project_id, created, updated) VALUES (10, 5, 1, 'c', 'u');",
    )
    .unwrap();
    flush(&conn, 1).unwrap();
    conn.execute("DELETE FROM assets WHERE id = 10", [])
        .unwrap();
    let changes = flush(&conn, 2).unwrap();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].is_deleted);
    assert_eq!(changes[0].data().unwrap()["id"], 10, "as last seen");
    assert_eq!(
        changes[0].project_id,
        Some(1),
        "the project of the row that went"
    );
    // Made and deleted in one transaction: never seen, so shown without data.
    conn.execute_batch(
        "INSERT INTO assets (id, session_id, project_id, created, updated) VALUES (11, 5, 1, 'c', 'u');
         DELETE FROM assets WHERE id = 11;",
    )
    .unwrap();
    let changes = flush(&conn, 3).unwrap();
    assert!(changes[0].is_deleted && changes[0].data().is_none());
}

#[test]
fn a_localized_string_edited_in_place_changes_the_objects_showing_it() {
    let conn = captured();
    conn.execute_batch(
        "INSERT INTO localized_strings (id, localized_string, language_id) VALUES (9, 'hi', 1);
         INSERT INTO tags (id, project_id, value) VALUES (3, 1, 'x');
         INSERT INTO loc_links (owner, owner_id, field, position, string_id)
              VALUES ('tag', 3, 'msg', 0, 9);",
    )
    .unwrap();
    flush(&conn, 1).unwrap();
    conn.execute(
        "UPDATE localized_strings SET localized_string = 'hello' WHERE id = 9",
        [],
    )
    .unwrap();
    let kinds: Vec<_> = flush(&conn, 2)
        .unwrap()
        .iter()
        .map(|c| (c.object_type, c.object_id))
        .collect();
    assert_eq!(kinds, [("localizedstring", 9), ("tag", 3)]);
}

#[test]
fn recorded_stream_changes_keep_their_data_and_ids_only_grow_after_pruning() {
    let conn = captured();
    let data = serde_json::json!({"stream_id": 5, "active": false});
    record(&conn, "stream", 5, Some(1), &data, true).unwrap();
    let changes = flush(&conn, 3).unwrap();
    assert_eq!(changes[0].data(), Some(&data));
    assert!(changes[0].is_deleted);
    let last = changes[0].id;
    assert_eq!(head(&conn).unwrap(), last);
    assert_eq!(
        prune(&conn, i64::MAX, 1000).unwrap(),
        usize::try_from(last - 1).unwrap(),
        "everything but the newest"
    );
    assert_eq!(oldest(&conn).unwrap(), Some(last));
    assert_eq!(head(&conn).unwrap(), last, "the head survives retention");
    conn.execute("UPDATE sessions SET timezone = '0100' WHERE id = 5", [])
        .unwrap();
    assert!(flush(&conn, 4).unwrap()[0].id > last);
}

#[test]
fn max_rows_keeps_the_newest_changes() {
    let conn = captured();
    for n in 0..5 {
        conn.execute(
            "UPDATE sessions SET timezone = ?1 WHERE id = 5",
            [n.to_string()],
        )
        .unwrap();
        flush(&conn, 10).unwrap();
    }
    let head = head(&conn).unwrap();
    prune(&conn, 0, 2).unwrap();
    let kept: Vec<i64> = after(&conn, 0, 100).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(kept, [head - 1, head]);
}

#[test]
fn removing_only_links_still_changes_the_object_they_named() {
    let conn = captured();
    conn.execute_batch(
        "INSERT INTO tags (id, project_id, value) VALUES (3, 1, 'x');
         INSERT INTO assets (id, session_id, project_id, created, updated) VALUES (10, 5, 1, 'c', 'u');
         INSERT INTO asset_tags VALUES (10, 3);
         INSERT INTO localized_strings (id, localized_string, language_id) VALUES (9, 'hi', 1);
         INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES ('tag', 3, 'msg', 0, 9);",
    )
    .unwrap();
    flush(&conn, 1).unwrap();
    conn.execute_batch("DELETE FROM asset_tags WHERE asset_id = 10; DELETE FROM loc_links;")
        .unwrap();
    let changes = flush(&conn, 2).unwrap();
    let kinds: Vec<_> = changes
        .iter()
        .map(|c| (c.object_type, c.object_id))
        .collect();
    assert_eq!(kinds, [("asset", 10), ("tag", 3)]);
    assert_eq!(changes[0].data().unwrap()["tag_ids"], serde_json::json!([]));
    assert!(flush(&conn, 3).unwrap().is_empty(), "nothing noted twice");
}

#[test]
fn a_rolled_back_transaction_leaves_no_change() {
    let mut conn = captured();
    let tx = conn.transaction().unwrap();
    tx.execute("UPDATE sessions SET timezone = '0100' WHERE id = 5", [])
        .unwrap();
    drop(tx);
    discard();
    assert!(flush(&conn, 1).unwrap().is_empty());
}
