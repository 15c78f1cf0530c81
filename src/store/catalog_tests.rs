//! Catalog::load and blocked_assets against a real (in-memory) SQLite database with the
//! daemon's schema.

use std::path::Path;

use rusqlite::{Connection, params};

use super::*;

const NOW: &str = "2026-01-01T00:00:00";

/// Two projects, three users on three devices, assets of every excluded kind, tracks,
/// speakers, timed assets, listen/speak groups and votes.
fn seed(conn: &Connection) {
    conn.execute_batch(&format!(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date, recording_radius,
                               repeat_mode, ordering, timed_asset_priority, listen_enabled,
                               out_of_range_distance, out_of_range_url)
              VALUES (1, 'P1', 0.1, 0.1, '{NOW}', NULL, 'continuous', 'by_like', 0, 1, 750,
                      'http://x/oor.mp3'),
                     (2, 'P2', 0, 0, '{NOW}', 20, 'stop', 'by_weight', 1, 0, 1000, '');
         INSERT INTO users (id, username, date_joined, device_id) VALUES
             (1, 'u1', '{NOW}', 'dev-a'), (2, 'u2', '{NOW}', 'dev-b'), (3, 'u3', '{NOW}', 'dev-c');
         INSERT INTO sessions (id, device_id, starttime, project_id, language_id) VALUES
             (1, 'dev-a', '{NOW}', 1, 1), (2, 'dev-b', '{NOW}', 1, 1), (3, 'dev-c', '{NOW}', 1, 1),
             (4, 'dev-x', '{NOW}', 2, 1);
         INSERT INTO tag_categories (id, name) VALUES (10, 'c10'), (20, 'c20'), (30, 'c30');
         INSERT INTO tags (id, project_id, tag_category_id, value) VALUES
             (1, 1, 10, 't1'), (2, 1, 10, 't2'), (3, 1, 20, 't3'), (4, 1, 30, 't4'),
             (5, 1, 10, 't5');
         INSERT INTO ui_groups (id, name, ui_mode, tag_category_id, active, idx, project_id) VALUES
             (1, 'listen', 'listen', 10, 1, 0, 1),
             (2, 'speak', 'speak', 20, 1, 1, 1),
             (3, 'old', 'listen', 30, 0, 2, 1);
         INSERT INTO ui_items (ui_group_id, idx, tag_id, active) VALUES
             (1, 0, 1, 1), (1, 1, 2, 0), (2, 0, 3, 1), (3, 0, 4, 1);
         INSERT INTO assets (id, session_id, user_id, latitude, longitude, shape, filename,
                             volume, submitted, project_id, created, updated, audiolength,
                             start_time, end_time, language_id, weight) VALUES
             (1, 1, NULL, 0.1, 0.2, NULL, 'a1.wav', NULL, 1, 1, '{NOW}', '{NOW}', 5000000000,
              NULL, NULL, 1, 70),
             (2, 2, NULL, NULL, NULL,
              '{{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,1],[0,0]]]]}}',
              'a2.wav', 0.5, 0, 1, '{NOW}', '{NOW}', 3000000000, 0.5, 2.5, NULL, 50),
             (3, 1, NULL, 0, 0, NULL, 'a3.wav', 1, 1, 1, '{NOW}', '{NOW}', 0, NULL, NULL, 1, 50),
             (4, 1, NULL, 0, 0, NULL, '', 1, 1, 1, '{NOW}', '{NOW}', 9000, NULL, NULL, 1, 50),
             (5, 4, NULL, 0, 0, NULL, 'a5.wav', 1, 1, 2, '{NOW}', '{NOW}', 9000, NULL, NULL, 1, 50),
             (6, 3, 1, 0, 0, NULL, 'a6.wav', 1, 1, 1, '{NOW}', '{NOW}', 9000, NULL, NULL, 1, 50),
             (7, 3, NULL, 0, 0, NULL, NULL, 1, 1, 1, '{NOW}', '{NOW}', 9000, NULL, NULL, 1, 50);
         INSERT INTO asset_tags (asset_id, tag_id) VALUES (1, 2), (1, 1), (2, 3), (5, 1);
         INSERT INTO timed_assets (project_id, asset_id, start, \"end\") VALUES
             (1, 1, 5, 15), (2, 5, 0, 30);
         -- timings in nanoseconds, as stored
         INSERT INTO audiotracks (id, project_id, minvolume, maxvolume, minduration, maxduration,
                                  mindeadair, maxdeadair, minfadeintime, maxfadeintime,
                                  minfadeouttime, maxfadeouttime, minpanpos, maxpanpos,
                                  minpanduration, maxpanduration, active) VALUES
             (1, 1, 0.5, 1.0, 5e9, 10e9, 1e9, 3e9, 1e8, 2e8, 3e8, 4e8, -1, 1, 2e9, 4e9, 1),
             (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0);
         INSERT INTO speakers (id, project_id, activeyn, maxvolume, minvolume, uri, backupuri,
                               shape, attenuation_distance) VALUES
             (1, 1, 1, 0.9, 0.1, '/rwmedia/s.mp3', 'http://b/s.mp3',
              '{{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,1],[0,0]]]]}}',
              100),
             (2, 1, 0, 1, 0, 'http://a/s.mp3', '', NULL, 0);"
    ))
    .expect("seed rows");
}

fn vote(conn: &Connection, voter: Option<i64>, session: i64, asset: i64, kind: &str) {
    conn.execute(
        "INSERT INTO votes (voter_id, session_id, asset_id, type) VALUES (?1, ?2, ?3, ?4)",
        params![voter, session, asset, kind],
    )
    .expect("vote row");
}

#[test]
fn a_project_loads_its_playable_assets_and_engine_settings() {
    let conn = crate::store::migrated_in_memory();
    seed(&conn);
    vote(&conn, Some(2), 2, 1, "like");
    vote(&conn, None, 3, 1, "like");
    vote(&conn, None, 3, 2, "dislike");
    let media = Path::new("/srv/media");

    assert!(Catalog::load(&conn, 99, media).unwrap().is_none());
    let c = Catalog::load(&conn, 1, media).unwrap().expect("project 1");

    assert_eq!(c.project.id, 1);
    assert!(c.project.listen_enabled);
    assert!(
        (c.project.recording_radius_m - 1.0).abs() < 1e-9,
        "null radius → 1 m"
    );
    assert_eq!(c.project.repeat_mode, RepeatMode::Continuous);
    assert_eq!(c.project.ordering, Ordering::ByLike);
    assert!(!c.project.timed_asset_priority);
    assert!((c.project.out_of_range_distance_m - 750.0).abs() < 1e-9);
    assert_eq!(c.project.out_of_range_url, "http://x/oor.mp3");

    // No audio (3), no file name (4, 7), other project (5) are left out.
    let ids: Vec<i64> = c.assets.iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![1, 2, 6]);
    let a1 = c.asset(1).unwrap();
    assert_eq!(a1.tags, vec![1, 2]);
    assert_eq!(a1.likes, 2);
    assert_eq!(a1.weight, 70);
    assert_eq!(a1.language_id, Some(1));
    assert!(a1.submitted);
    assert_eq!(a1.audiolength_ns, 5_000_000_000);
    assert_eq!((a1.latitude, a1.longitude), (Some(0.1), Some(0.2)));
    assert!((a1.volume - 1.0).abs() < 1e-6, "null volume → 1");
    assert!(a1.start_s.abs() < 1e-9 && (a1.end_s - 5.0).abs() < 1e-9);
    assert_eq!(a1.path, media.join("a1.wav"));
    assert_eq!(a1.creator_user_id, Some(1), "via its session's device");
    let a2 = c.asset(2).unwrap();
    assert!(!a2.submitted && a2.language_id.is_none());
    assert!(a2.shape.as_ref().is_some_and(|s| s.0.len() == 1));
    assert!((a2.volume - 0.5).abs() < 1e-6);
    assert!((a2.start_s - 0.5).abs() < 1e-9 && (a2.end_s - 2.5).abs() < 1e-9);
    assert_eq!(a2.creator_user_id, Some(2));
    assert_eq!(
        c.asset(6).unwrap().creator_user_id,
        Some(1),
        "assets.user_id wins"
    );

    assert_eq!(c.timed.len(), 1);
    assert_eq!(c.timed[0].asset_id, 1);
    assert!((c.timed[0].start_s - 5.0).abs() < 1e-9 && (c.timed[0].end_s - 15.0).abs() < 1e-9);

    assert_eq!(c.tracks.len(), 1, "inactive audiotracks are left out");
    let t = &c.tracks[0];
    assert_eq!(t.volume, Range { min: 0.5, max: 1.0 });
    assert_eq!(
        t.duration_s,
        Range {
            min: 5.0,
            max: 10.0
        }
    );
    assert_eq!(t.deadair_s, Range { min: 1.0, max: 3.0 });
    assert_eq!(t.fadein_s, Range { min: 0.1, max: 0.2 });
    assert_eq!(t.fadeout_s, Range { min: 0.3, max: 0.4 });
    assert_eq!(
        t.pan,
        Range {
            min: -1.0,
            max: 1.0
        }
    );
    assert_eq!(t.pan_duration_s, Range { min: 2.0, max: 4.0 });

    assert_eq!(c.speakers.len(), 2, "inactive speakers are loaded too");
    let s = &c.speakers[0];
    assert!(s.active && !c.speakers[1].active);
    assert_eq!(s.uri, "/rwmedia/s.mp3");
    assert_eq!(s.backupuri, "http://b/s.mp3");
    assert!((s.maxvolume - 0.9).abs() < 1e-6 && (s.minvolume - 0.1).abs() < 1e-6);
    assert!((s.attenuation_distance_m - 100.0).abs() < 1e-9);
    assert_eq!(s.shape.0.len(), 1);
    assert_eq!(s.boundary.0.len(), 1);
    assert!(c.speakers[1].shape.0.is_empty());

    // Only the active listen group counts; its active items give the default tags.
    assert_eq!(c.filter.categories, vec![10]);
    assert_eq!(c.filter.active_tags, vec![1]);
    assert_eq!(c.filter.category_of.get(&2), Some(&10));
    assert_eq!(c.filter.category_of.get(&5), Some(&10));
    assert_eq!(
        c.filter.category_of.get(&3),
        None,
        "speak categories do not constrain"
    );
    assert_eq!(
        c.filter.category_of.get(&4),
        None,
        "inactive groups do not constrain"
    );

    let p2 = Catalog::load(&conn, 2, media).unwrap().expect("project 2");
    assert_eq!(p2.assets.len(), 1);
    assert!(p2.filter.categories.is_empty() && p2.filter.active_tags.is_empty());
    assert!(p2.tracks.is_empty() && p2.speakers.is_empty());
}

#[test]
fn a_catalog_loads_inside_a_callers_transaction() {
    let mut conn = crate::store::migrated_in_memory();
    seed(&conn);
    let tx = conn.transaction().unwrap();
    let c = Catalog::load(&tx, 1, Path::new("/m"))
        .unwrap()
        .expect("project 1");
    assert_eq!(c.assets.len(), 3);
    tx.commit().unwrap();
}

#[test]
fn blocking_an_asset_or_its_creator_blocks_the_right_assets() {
    let conn = crate::store::migrated_in_memory();
    seed(&conn);
    assert!(blocked_assets(&conn, 3).unwrap().is_empty());
    // u3 blocks asset 2 through a vote on their device's session (no voter_id).
    vote(&conn, None, 3, 2, "block_asset");
    // u3 blocks the creator of asset 1 (u1, via dev-a): every asset of u1, by device or user_id.
    vote(&conn, Some(3), 3, 1, "block_user");
    // Someone else's blocks and other vote types do not count for u3.
    vote(&conn, Some(2), 2, 7, "block_asset");
    vote(&conn, None, 3, 7, "like");
    let mut blocked: Vec<i64> = blocked_assets(&conn, 3).unwrap().into_iter().collect();
    blocked.sort_unstable();
    assert_eq!(
        blocked,
        vec![1, 2, 3, 4, 6],
        "u1 recorded 1, 3, 4 on dev-a and uploaded 6"
    );
    let u2: Vec<i64> = blocked_assets(&conn, 2).unwrap().into_iter().collect();
    assert_eq!(u2, vec![7]);
    assert!(blocked_assets(&conn, 1).unwrap().is_empty());
}
