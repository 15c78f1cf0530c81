//! The stream-logic scenarios of reference-server §8.3 (test_recording_collection) and the
//! test_db tag filter table, on in-memory catalogs with a 3 s ban timeout.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use geo::{MultiPolygon, polygon};

use super::{Listener, Playlist, Position};
use crate::store::catalog::{
    Asset, Catalog, ListenFilter, Ordering, ProjectRules, RepeatMode, TimedAsset,
};

const EN: i64 = 1;
const ES: i64 = 2;
const BAN_S: f64 = 3.0;
/// Stream clock far past every timed window of the fixtures.
const LATE_S: f64 = 1000.0;

fn asset(id: i64, tags: &[i64], lat: f64, lon: f64, weight: i64) -> Asset {
    Asset {
        id,
        language_id: Some(EN),
        submitted: true,
        audiolength_ns: 2000,
        latitude: Some(lat),
        longitude: Some(lon),
        shape: None,
        tags: tags.to_vec(),
        weight,
        likes: 0,
        volume: 1.0,
        start_s: 0.0,
        end_s: 0.0,
        path: PathBuf::from(format!("/media/{id}.wav")),
        creator_user_id: None,
    }
}

fn rules(id: i64, radius_m: f64) -> ProjectRules {
    ProjectRules {
        id,
        listen_enabled: true,
        recording_radius_m: radius_m,
        repeat_mode: RepeatMode::Stop,
        ordering: Ordering::ByWeight,
        timed_asset_priority: true,
        out_of_range_distance_m: 1000.0,
        out_of_range_url: String::new(),
        demo_stream_url: String::new(),
    }
}

/// tag1 (1) and tag2 (2) are both in category 10 (`tagcatname`).
fn filter(active_tags: &[i64]) -> ListenFilter {
    ListenFilter {
        category_of: HashMap::from([(1, 10), (2, 10)]),
        categories: vec![10],
        active_tags: active_tags.to_vec(),
    }
}

fn catalog(project: ProjectRules, assets: Vec<Asset>, filter: ListenFilter) -> Catalog {
    Catalog {
        project,
        assets,
        timed: Vec::new(),
        tracks: Vec::new(),
        speakers: Vec::new(),
        filter,
    }
}

/// P1: radius 10, stop, geo; A1–A3; listen groups with active tags {1, 2}.
fn p1() -> Catalog {
    catalog(
        rules(1, 10.0),
        vec![
            asset(1, &[1], 0.1, 0.1, 50),
            asset(2, &[1], 0.1, 0.1, 100),
            asset(3, &[2], 0.1, 0.1, 200),
        ],
        filter(&[1, 2]),
    )
}

/// P2: radius 20, no assets, no listen groups.
fn p2() -> Catalog {
    catalog(rules(2, 20.0), Vec::new(), ListenFilter::default())
}

/// P3: radius 10, stop, timed priority; A4–A8; active tags {2}; timed A4, A6, A7.
fn p3() -> Catalog {
    let mut a8 = asset(8, &[2], 2.0, 2.0, 90);
    a8.shape = Some(MultiPolygon(vec![polygon![
        (x: 10.0, y: 10.0), (x: 20.0, y: 10.0), (x: 20.0, y: 20.0), (x: 10.0, y: 20.0),
        (x: 10.0, y: 10.0)
    ]]));
    let mut c = catalog(
        rules(3, 10.0),
        vec![
            asset(4, &[2], 2.0, 2.0, 50),
            asset(5, &[2], 0.1, 0.1, 200),
            asset(6, &[1], 0.1, 0.1, 300),
            asset(7, &[2], 2.0, 2.0, 100),
            a8,
        ],
        filter(&[2]),
    );
    c.timed = vec![
        TimedAsset {
            asset_id: 4,
            start_s: 0.0,
            end_s: 15.0,
        },
        TimedAsset {
            asset_id: 6,
            start_s: 0.0,
            end_s: 30.0,
        },
        TimedAsset {
            asset_id: 7,
            start_s: 0.0,
            end_s: 30.0,
        },
    ];
    c
}

fn geo() -> Listener {
    Listener {
        language_id: Some(EN),
        geo: true,
    }
}

fn global() -> Listener {
    Listener {
        language_id: Some(EN),
        geo: false,
    }
}

fn here() -> Position {
    Position::at(0.1, 0.1)
}

/// Successive picks at `now_s` (stream clock `elapsed_s`) until the first `None`, inclusive.
fn picks(pl: &mut Playlist, c: &Catalog, now_s: f64, elapsed_s: f64) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    loop {
        let next = pl.next(c, now_s, elapsed_s);
        out.push(next);
        if next.is_none() || out.len() > 20 {
            return out;
        }
    }
}

fn seq(ids: &[i64]) -> Vec<Option<i64>> {
    ids.iter().map(|i| Some(*i)).chain([None]).collect()
}

#[test]
fn without_tags_the_candidates_are_the_projects_active_listen_tags() {
    // Scenario 1.
    let pl = Playlist::new(geo(), BAN_S, 1);
    assert_eq!(pl.candidates(&p1()), vec![1, 2, 3]);
    assert_eq!(pl.candidates(&p2()), Vec::<i64>::new());
}

#[test]
fn a_project_without_listen_ui_groups_plays_every_submitted_asset_of_the_language() {
    let mut spanish = asset(3, &[], 0.1, 0.1, 50);
    spanish.language_id = Some(ES);
    let mut unsubmitted = asset(4, &[], 0.1, 0.1, 50);
    unsubmitted.submitted = false;
    let c = catalog(
        rules(2, 20.0),
        vec![
            asset(1, &[], 0.1, 0.1, 50),
            asset(2, &[7], 0.1, 0.1, 50),
            spanish,
            unsubmitted,
        ],
        ListenFilter::default(),
    );
    let mut pl = Playlist::new(global(), BAN_S, 1);
    assert_eq!(pl.candidates(&c), vec![1, 2]);
    // An explicit empty list is no filter either while there is no vocabulary.
    pl.set_tags(Some(Vec::new()));
    assert_eq!(pl.candidates(&c), vec![1, 2]);
    // Once listen groups exist, an empty list hears nothing again.
    let mut with_groups = c;
    with_groups.filter = filter(&[]);
    assert_eq!(pl.candidates(&with_groups), Vec::<i64>::new());
}

#[test]
fn random_ordering_varies_the_first_pick_across_seeds() {
    // Scenario 2.
    let mut c = p1();
    c.project.ordering = Ordering::Random;
    let firsts: HashSet<i64> = (0..40)
        .filter_map(|seed| {
            let mut pl = Playlist::new(geo(), BAN_S, seed);
            pl.rebuild(&c, Some(&here()), 0.0);
            pl.next(&c, 0.0, LATE_S)
        })
        .collect();
    assert!(firsts.len() > 1, "first picks {firsts:?}");
    // Every seed still plays each asset once.
    let mut pl = Playlist::new(geo(), BAN_S, 7);
    pl.rebuild(&c, Some(&here()), 0.0);
    let mut all: Vec<_> = picks(&mut pl, &c, 0.0, LATE_S)
        .into_iter()
        .flatten()
        .collect();
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3]);
}

#[test]
fn by_like_and_by_weight_play_the_highest_first() {
    // Scenario 3: likes A2 = 2, A1 = 1 → [A1, A2] ascending, A2 first.
    let mut c = p1();
    c.project.ordering = Ordering::ByLike;
    c.assets[0].likes = 1;
    c.assets[1].likes = 2;
    c.assets[0].weight = 500; // weight must not matter under by_like
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.set_tags(Some(vec![1]));
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[2, 1]));

    let c = p1();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.set_tags(Some(vec![1]));
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[2, 1]));
}

#[test]
fn stop_mode_plays_each_asset_once_by_weight() {
    // Scenario 4.
    let c = p1();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2, 1]));
}

#[test]
fn a_geo_listener_hears_assets_again_only_after_leaving_and_the_ban_expiring() {
    // Scenario 5.
    let c = p1();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2, 1]));
    pl.rebuild(&c, Some(&Position::at(2.0, 0.1)), 0.0);
    assert_eq!(pl.next(&c, 0.0, LATE_S), None);
    pl.rebuild(&c, Some(&here()), 1.0);
    assert_eq!(pl.next(&c, 1.0, LATE_S), None, "still timeout-banned");
    pl.rebuild(&c, Some(&here()), 4.0);
    assert_eq!(picks(&mut pl, &c, 4.0, LATE_S), seq(&[3, 2, 1]));
}

#[test]
fn staying_put_keeps_the_proximity_ban_after_the_timeout() {
    // §7.4: a proximity ban holds until the listener has left the asset's range.
    let c = p1();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2, 1]));
    pl.rebuild(&c, Some(&here()), 10.0);
    assert_eq!(pl.next(&c, 10.0, LATE_S), None);
}

#[test]
fn a_global_listener_gets_assets_back_on_a_tag_change_after_the_timeout() {
    // Scenario 6.
    let c = p1();
    let mut pl = Playlist::new(global(), BAN_S, 1);
    pl.rebuild(&c, None, 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2, 1]));
    pl.set_tags(Some(vec![1]));
    pl.rebuild(&c, None, 0.5);
    assert_eq!(pl.next(&c, 0.5, LATE_S), None, "bans still active");
    pl.set_tags(Some(vec![1]));
    pl.rebuild(&c, None, 3.5);
    assert_eq!(picks(&mut pl, &c, 3.5, LATE_S), seq(&[2, 1]));
}

#[test]
fn continuous_mode_refills_once_the_timeout_bans_expire() {
    // Scenario 7, for a geo listener at the assets and for global listeners anywhere.
    let mut c = p1();
    c.project.repeat_mode = RepeatMode::Continuous;
    let cases = [
        (geo(), here()),
        (global(), Position::at(10.0, 10.0)),
        (global(), here()),
    ];
    for (listener, position) in cases {
        let mut pl = Playlist::new(listener, BAN_S, 1);
        pl.rebuild(&c, Some(&position), 0.0);
        assert_eq!(
            picks(&mut pl, &c, 0.0, LATE_S),
            seq(&[3, 2, 1]),
            "{listener:?}"
        );
        assert_eq!(
            pl.next(&c, 1.0, LATE_S),
            None,
            "{listener:?}: bans hold for 3 s"
        );
        assert_eq!(pl.next(&c, 3.0, LATE_S), Some(3), "{listener:?}");
    }
}

#[test]
fn stop_mode_does_not_refill_after_the_timeout() {
    let c = p1();
    let mut pl = Playlist::new(global(), BAN_S, 1);
    pl.rebuild(&c, None, 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2, 1]));
    assert_eq!(pl.next(&c, 10.0, LATE_S), None);
}

#[test]
fn a_forced_asset_is_the_next_pick() {
    // Scenario 8: playasset(A2) on a by_like playlist [A1, A2, A3] → A2 next.
    let mut c = p1();
    c.project.ordering = Ordering::ByLike;
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    pl.force(2);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[2, 3, 1]));
    // Forcing bypasses bans and filters too, and survives a rebuild.
    pl.force(2);
    pl.rebuild(&c, Some(&Position::at(50.0, 50.0)), 0.5);
    assert_eq!(pl.remaining(&c, 0.5, LATE_S), 1);
    assert_eq!(pl.next(&c, 0.5, LATE_S), Some(2));
    // An id that is not an asset of the catalog is dropped.
    pl.force(99);
    assert_eq!(pl.next(&c, 0.5, LATE_S), None);
}

#[test]
fn remaining_counts_the_playlist_and_the_eligible_timed_assets_once() {
    let mut c = p3();
    c.timed.push(TimedAsset {
        asset_id: 5,
        start_s: 0.0,
        end_s: 30.0,
    });
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    // A5 is both in the playlist and timed; A7, A4 are timed; A6 fails the tag filter.
    assert_eq!(pl.remaining(&c, 0.0, 1.0), 3);
    assert_eq!(pl.remaining(&c, 0.0, 20.0), 2, "A4's window has closed");
    assert_eq!(picks(&mut pl, &c, 0.0, 1.0), seq(&[5, 7, 4]));
}

#[test]
fn widening_the_tags_adds_only_the_unbanned_assets() {
    // Scenario 9.
    let c = p1();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.set_tags(Some(vec![1]));
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[2, 1]));
    pl.set_tags(Some(vec![1, 2]));
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3]));
}

#[test]
fn a_geo_listener_without_a_location_hears_nothing() {
    // Scenario 10.
    let c = p1();
    let mut pl = Playlist::new(global(), BAN_S, 1);
    pl.rebuild(&c, None, 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2, 1]));
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, None, 0.0);
    assert_eq!(pl.next(&c, 0.0, LATE_S), None);
}

#[test]
fn timed_assets_with_priority_play_before_the_proximity_playlist() {
    // Scenario 11.
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(pl.remaining(&c, 0.0, 1.0), 3, "A5 + timed A7, A4");
    assert_eq!(picks(&mut pl, &c, 0.0, 1.0), seq(&[7, 4, 5]));
    assert_eq!(pl.remaining(&c, 0.0, 1.0), 0);
}

#[test]
fn timed_assets_without_priority_play_when_the_playlist_is_empty() {
    // Scenario 12.
    let mut c = p3();
    c.project.timed_asset_priority = false;
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, 1.0), seq(&[5, 7, 4]));
}

#[test]
fn a_timed_asset_passes_the_tag_filter_and_ignores_location() {
    // Scenario 13: tags "1", listener at (0, 0.1) (0 is a value).
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.set_tags(Some(vec![1]));
    pl.rebuild(&c, Some(&Position::at(0.0, 0.1)), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, 1.0), seq(&[6]));
}

#[test]
fn timed_assets_play_far_from_everything() {
    // Scenario 14.
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&Position::at(10.0, 0.1)), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, 1.0), seq(&[7, 4]));
}

#[test]
fn timed_assets_only_play_inside_their_window() {
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&Position::at(10.0, 0.1)), 0.0);
    // At 20 s A4's window (0–15 s) has closed; at 30 s A7's is still open (inclusive).
    assert_eq!(picks(&mut pl, &c, 0.0, 30.0), seq(&[7]));
    assert_eq!(pl.next(&c, 5.0, 31.0), None);
}

#[test]
fn blocked_assets_leave_the_playlist() {
    // Scenario 15.
    let c = p1();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2, 1]));
    let mut pl = Playlist::new(geo(), BAN_S, 2);
    pl.set_blocked(HashSet::from([1]));
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 2]));
    // A block during a stream takes effect at once.
    let mut pl = Playlist::new(geo(), BAN_S, 3);
    pl.rebuild(&c, Some(&here()), 0.0);
    pl.set_blocked(HashSet::from([2]));
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[3, 1]));
}

#[test]
fn blocked_assets_still_play_as_timed_assets() {
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.set_blocked(HashSet::from([5, 7]));
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, 1.0), seq(&[7, 4]));
}

#[test]
fn range_listening_beats_the_asset_shape() {
    // Scenario 16 (stream clock past the timed windows, so only the proximity playlist plays).
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    let mut p = here();
    p.range_max_m = Some(1_000_000.0);
    pl.rebuild(&c, Some(&p), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[5, 7, 8, 4]));
}

#[test]
fn a_minimum_range_excludes_the_nearest_assets() {
    // Scenario 17.
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    let mut p = here();
    p.range_max_m = Some(1_000_000.0);
    p.range_min_m = Some(10_000.0);
    pl.rebuild(&c, Some(&p), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[7, 8, 4]));
}

#[test]
fn an_asset_shape_beats_the_recording_radius() {
    // Scenario 18.
    let c = p3();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    pl.rebuild(&c, Some(&Position::at(15.0, 15.0)), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[8]));
}

#[test]
fn directional_listening_wraps_at_north() {
    // Assets due north-west (bearing ≈ 355°) and due east of the listener, 1 km away.
    let mut c = p1();
    c.assets = vec![
        asset(1, &[1], 0.009, -0.000_8, 50),
        asset(2, &[1], 0.0, 0.009, 100),
    ];
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    let mut p = Position::at(0.0, 0.0);
    p.heading_deg = Some(0.0);
    pl.rebuild(&c, Some(&p), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[1]));
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    p.heading_deg = Some(90.0);
    pl.rebuild(&c, Some(&p), 0.0);
    assert_eq!(picks(&mut pl, &c, 0.0, LATE_S), seq(&[2]));
    // A range limit applies in directional mode too.
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    p.range_max_m = Some(500.0);
    pl.rebuild(&c, Some(&p), 0.0);
    assert_eq!(pl.next(&c, 0.0, LATE_S), None);
}

#[test]
fn the_test_db_tag_filter_table_holds() {
    // P1 listen groups on cat1, cat2, cat3; tag1∈cat1, tag2∈cat2, tag3∈cat3; active tags [tag1].
    let mut short = asset(5, &[1], 0.0, 0.0, 50);
    short.audiolength_ns = 50;
    let mut spanish = asset(6, &[1], 0.0, 0.0, 50);
    spanish.language_id = Some(ES);
    let mut unsubmitted = asset(7, &[1], 0.0, 0.0, 50);
    unsubmitted.submitted = false;
    let mut no_language = asset(8, &[1], 0.0, 0.0, 50);
    no_language.language_id = None;
    let mut c = catalog(
        rules(1, 10.0),
        vec![
            asset(1, &[1], 0.0, 0.0, 50),
            asset(2, &[2], 0.0, 0.0, 50),
            asset(3, &[1, 2], 0.0, 0.0, 50),
            short,
            spanish,
            unsubmitted,
            no_language,
        ],
        ListenFilter {
            category_of: HashMap::from([(1, 1), (2, 2), (3, 3)]),
            categories: vec![1, 2, 3],
            active_tags: vec![1],
        },
    );
    let all = |c: &Catalog, language: i64, tags: Option<Vec<i64>>| {
        let mut pl = Playlist::new(
            Listener {
                language_id: Some(language),
                geo: false,
            },
            BAN_S,
            1,
        );
        pl.set_tags(tags);
        pl.candidates(c)
    };
    assert_eq!(all(&c, EN, None), vec![1, 3]);
    assert_eq!(all(&c, EN, Some(vec![3])), Vec::<i64>::new());
    assert_eq!(all(&c, EN, Some(vec![1])), vec![1, 3]);
    assert_eq!(all(&c, EN, Some(vec![2])), vec![2, 3]);
    assert_eq!(all(&c, EN, Some(vec![1, 2])), vec![3]);
    assert_eq!(
        all(&c, EN, Some(vec![99])),
        vec![1, 2, 3],
        "unknown tags impose nothing"
    );
    assert_eq!(all(&c, ES, None), vec![6]);
    let mut pl = Playlist::new(
        Listener {
            language_id: None,
            geo: false,
        },
        BAN_S,
        1,
    );
    assert_eq!(pl.candidates(&c), Vec::<i64>::new());
    pl.set_language(Some(EN));
    assert_eq!(pl.candidates(&c), vec![1, 3]);

    // P2: A4 [tag2], one listen group on cat2 → tag1 imposes nothing.
    let p2 = catalog(
        rules(2, 10.0),
        vec![asset(4, &[2], 0.0, 0.0, 50)],
        ListenFilter {
            category_of: HashMap::from([(2, 2)]),
            categories: vec![2],
            active_tags: vec![2],
        },
    );
    assert_eq!(all(&p2, EN, Some(vec![1])), vec![4]);

    // Making cat1's group inactive: cat1 stops constraining.
    c.filter.categories = vec![2, 3];
    c.filter.category_of.remove(&1);
    assert_eq!(all(&c, EN, Some(vec![1, 2])), vec![2, 3]);
}

#[test]
fn the_upcoming_list_is_the_pick_order_with_a_playasset_pick_first() {
    let c = p1();
    let mut pl = Playlist::new(geo(), BAN_S, 1);
    assert_eq!(pl.tags(), None);
    pl.set_tags(Some(vec![1, 2]));
    assert_eq!(pl.tags(), Some(&[1, 2][..]));
    pl.rebuild(&c, Some(&here()), 0.0);
    assert_eq!(pl.upcoming(), vec![3, 2, 1]);
    pl.force(1);
    assert_eq!(pl.upcoming(), vec![1, 3, 2]);
    assert_eq!(pl.next(&c, 0.0, LATE_S), Some(1));
    assert_eq!(pl.upcoming(), vec![3, 2]);
}
