use serde_json::json;

use super::*;
use crate::store::migrated_in_memory;

const SEED: &str = "
    INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd');
    INSERT INTO tag_categories (id, name) VALUES (1, 'c');
    INSERT INTO tags (id, value, tag_category_id) VALUES (7, 'seven', 1), (8, 'eight', 1);
    INSERT INTO fleet_state (id, box, uid) VALUES (1, 3, 'u');";

fn seeded() -> Connection {
    let conn = migrated_in_memory();
    conn.execute_batch(SEED).unwrap();
    conn
}

/// An asset of box 2 with its session, envelope, tags and a localized description.
fn box_two_asset(conn: &Connection) -> i64 {
    let asset = 2_000_000_000_005;
    conn.execute_batch(&format!(
        "INSERT INTO users (id, username, date_joined) VALUES (2000000000001, 'v', 'd');
         INSERT INTO sessions (id, starttime, project_id) VALUES (2000000000002, 's', 1);
         INSERT INTO envelopes (id, session_id, created) VALUES (2000000000003, 2000000000002, 'c');
         INSERT INTO assets (id, session_id, user_id, project_id, created, updated, file, filename,
                             description, initialenvelope_id)
              VALUES ({asset}, 2000000000002, 2000000000001, 1, 'c', 'u', 'b2/x.wav', 'b2/x.wav',
                      'hello', 2000000000003);
         INSERT INTO asset_tags VALUES ({asset}, 7), ({asset}, 8);
         INSERT INTO envelope_assets VALUES (2000000000003, {asset});
         INSERT INTO localized_strings (id, localized_string, language_id) VALUES (41, 'hi', 1);
         INSERT INTO loc_links VALUES ('asset', {asset}, 'description', 0, 41);"
    ))
    .unwrap();
    asset
}

fn state(conn: &Connection, name: &str, id: i64) -> Value {
    read_state(conn, kind_named(name).unwrap(), id)
        .unwrap()
        .expect("the object exists")
}

fn apply_at(conn: &mut Connection, seq: u64, name: &str, id: i64, s: Option<&Value>) -> Applied {
    let tx = conn.transaction().unwrap();
    let applied = apply(&tx, seq, kind_named(name).unwrap(), id, s).unwrap();
    tx.commit().unwrap();
    applied
}

#[test]
fn every_kind_names_tables_and_columns_the_schema_has() {
    let conn = migrated_in_memory();
    for kind in KINDS.iter().chain(&TELEMETRY_KINDS) {
        let main = columns(&conn, kind.table).unwrap();
        assert!(main.iter().any(|c| c.name == kind.key), "{}", kind.table);
        if kind.media {
            assert!(main.iter().any(|c| c.name == "file"), "{}", kind.table);
        }
        for (table, column) in kind.links {
            assert!(
                columns(&conn, table)
                    .unwrap()
                    .iter()
                    .any(|c| c.name == *column),
                "{table}.{column}"
            );
        }
        assert!(
            crate::store::outbox::EVENT_TYPES
                .iter()
                .chain(&crate::store::outbox::CONFIG_TYPES)
                .any(|t| *t == kind.name)
        );
    }
}

#[test]
fn an_asset_state_read_at_one_box_applies_at_another_with_its_links() {
    let origin = seeded();
    let asset = box_two_asset(&origin);
    let mut other = seeded();
    for (seq, name, id) in [
        (1, "session", 2_000_000_000_002),
        (2, "envelope", 2_000_000_000_003),
        (3, "asset", asset),
    ] {
        let s = state(&origin, name, id);
        assert_eq!(
            apply_at(&mut other, seq, name, id, Some(&s)),
            Applied::Upserted
        );
    }
    let got = state(&other, "asset", asset);
    let sent = state(&origin, "asset", asset);
    assert_eq!(got["rows"]["asset_tags"], sent["rows"]["asset_tags"]);
    assert_eq!(
        got["rows"]["envelope_assets"],
        sent["rows"]["envelope_assets"]
    );
    assert_eq!(got["rows"]["loc_links"], sent["rows"]["loc_links"]);
    assert_eq!(got["rows"]["assets"][0]["description"], "hello");
    // Users stay at their box: the reference is dropped, not the asset.
    assert_eq!(got["rows"]["assets"][0]["user_id"], Value::Null);
    let position: i64 = other
        .query_row("SELECT applied_seq FROM fleet_state", [], |r| r.get(0))
        .unwrap();
    assert_eq!(position, 3);
}

#[test]
fn a_position_is_applied_once_and_a_tombstone_deletes_the_object_and_its_links() {
    let origin = seeded();
    let asset = box_two_asset(&origin);
    let mut other = seeded();
    let session = state(&origin, "session", 2_000_000_000_002);
    apply_at(&mut other, 1, "session", 2_000_000_000_002, Some(&session));
    let mut s = state(&origin, "asset", asset);
    apply_at(&mut other, 2, "asset", asset, Some(&s));
    s["rows"]["assets"][0]["description"] = json!("changed");
    assert_eq!(
        apply_at(&mut other, 2, "asset", asset, Some(&s)),
        Applied::Already
    );
    assert_eq!(
        state(&other, "asset", asset)["rows"]["assets"][0]["description"],
        "hello"
    );
    assert_eq!(
        apply_at(&mut other, 3, "asset", asset, Some(&s)),
        Applied::Upserted
    );
    assert_eq!(
        state(&other, "asset", asset)["rows"]["assets"][0]["description"],
        "changed"
    );
    assert_eq!(
        apply_at(&mut other, 4, "asset", asset, None),
        Applied::Deleted(Some("b2/x.wav".into()))
    );
    assert!(
        read_state(&other, kind_named("asset").unwrap(), asset)
            .unwrap()
            .is_none()
    );
    let links: i64 = other
        .query_row("SELECT count(*) FROM asset_tags", [], |r| r.get(0))
        .unwrap();
    assert_eq!(links, 0);
}

#[test]
fn a_state_naming_a_required_row_this_box_lacks_is_skipped_and_the_position_moves_on() {
    let mut conn = seeded();
    let vote = json!({"rows": {"votes": [{
        "id": 2_000_000_000_009_i64, "session_id": 2_000_000_000_002_i64,
        "asset_id": 2_000_000_000_005_i64, "type": "like", "value": null, "voter_id": null
    }]}});
    let Applied::Skipped(why) = apply_at(&mut conn, 5, "vote", 2_000_000_000_009, Some(&vote))
    else {
        panic!("a vote on a session this box lacks cannot be applied");
    };
    assert!(
        why.contains("votes.") && why.contains("this box does not have"),
        "{why}"
    );
    let position: i64 = conn
        .query_row("SELECT applied_seq FROM fleet_state", [], |r| r.get(0))
        .unwrap();
    assert_eq!(position, 5);
}

#[test]
fn columns_this_database_lacks_are_ignored_and_a_row_for_another_id_is_refused() {
    let mut conn = seeded();
    let category = json!({"rows": {"tag_categories": [
        {"id": 9, "name": "new", "x\"); DROP TABLE tags; --": 1}
    ]}});
    assert_eq!(
        apply_at(&mut conn, 1, "tagcategory", 9, Some(&category)),
        Applied::Upserted
    );
    assert_eq!(
        state(&conn, "tagcategory", 9)["rows"]["tag_categories"][0]["name"],
        "new"
    );
    let Applied::Skipped(why) = apply_at(&mut conn, 2, "tagcategory", 10, Some(&category)) else {
        panic!("a row for another id is refused");
    };
    assert!(why.contains("not row 10"), "{why}");
    assert!(state(&conn, "tag", 7)["rows"]["tags"][0]["value"] == "seven");
}

#[test]
fn a_floor_plan_travels_by_its_project_and_a_new_image_says_which_file_it_replaced() {
    let source = seeded();
    source
        .execute_batch(
            "INSERT INTO floorplans (project_id, file, width_px, height_px, south, west, north, east, updated)
                  VALUES (1, 'floorplan-project1-a.png', 800, 400, 0, 0, 1, 2, 'u')",
        )
        .unwrap();
    let first = state(&source, "floorplan", 1);
    assert_eq!(first["rows"]["floorplans"][0]["width_px"], 800);

    let mut here = seeded();
    assert_eq!(
        apply_at(&mut here, 1, "floorplan", 1, Some(&first)),
        Applied::Upserted
    );
    assert_eq!(state(&here, "floorplan", 1), first);
    source
        .execute_batch(
            "UPDATE floorplans SET file = 'floorplan-project1-b.png', width_px = 600 WHERE project_id = 1",
        )
        .unwrap();
    let second = state(&source, "floorplan", 1);
    assert_eq!(
        apply_at(&mut here, 2, "floorplan", 1, Some(&second)),
        Applied::Replaced {
            old: "floorplan-project1-a.png".into(),
            new: Some("floorplan-project1-b.png".into()),
        }
    );
    // Moved only: the same image, nothing to remove.
    source
        .execute_batch("UPDATE floorplans SET north = 1.5 WHERE project_id = 1")
        .unwrap();
    let moved = state(&source, "floorplan", 1);
    assert_eq!(
        apply_at(&mut here, 3, "floorplan", 1, Some(&moved)),
        Applied::Upserted
    );
    assert_eq!(
        apply_at(&mut here, 4, "floorplan", 1, None),
        Applied::Deleted(Some("floorplan-project1-b.png".into()))
    );
    let left: i64 = here
        .query_row("SELECT count(*) FROM floorplans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}
