//! The filter on scripted walks with explicit times: no sleeping.

use super::*;

const LAT0: f64 = 52.52;
const LON0: f64 = 13.405;

/// A reading `north_m` metres north and `east_m` east of the origin at receiver time `t_s`.
fn at(north_m: f64, east_m: f64, t_s: f64) -> Reading {
    Reading {
        lat: LAT0 + north_m / M_PER_DEG,
        lon: LON0 + east_m / (M_PER_DEG * LAT0.to_radians().cos()),
        time_of_day_s: Some(36_000.0 + t_s),
        satellites: Some(8),
        hdop: Some(1.1),
    }
}

fn north_of_origin_m(fix: &Fix) -> f64 {
    (fix.lat - LAT0) * M_PER_DEG
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

#[test]
fn the_first_reading_is_published_as_is() {
    let mut f = Filter::new(FilterConfig::default());
    let t0 = Instant::now();
    assert_eq!(f.phase(t0), Phase::Lost);
    let Verdict::Moved(fix) = f.offer(&at(0.0, 0.0, 0.0), t0) else {
        panic!("first reading not published");
    };
    assert_eq!((fix.lat, fix.lon), (LAT0, LON0));
    assert_eq!(f.phase(t0), Phase::Good);
}

#[test]
fn a_single_jump_is_rejected_and_the_walk_goes_on() {
    let mut f = Filter::new(FilterConfig::default());
    let t0 = Instant::now();
    for i in 0..5 {
        let s = f64::from(i);
        f.offer(&at(1.3 * s, 0.0, s), secs(t0, s));
    }
    // 80 m in one second: a multipath spike.
    assert_eq!(
        f.offer(&at(85.0, 0.0, 5.0), secs(t0, 5.0)),
        Verdict::RejectedJump
    );
    let before = north_of_origin_m(f.published().unwrap());
    assert!(before < 8.0, "{before}");
    for i in 6..10 {
        let s = f64::from(i);
        assert_ne!(
            f.offer(&at(1.3 * s, 0.0, s), secs(t0, s)),
            Verdict::RejectedJump
        );
    }
    let after = north_of_origin_m(f.published().unwrap());
    assert!((5.0..12.0).contains(&after), "{after}");
}

#[test]
fn a_jump_confirmed_by_consecutive_readings_is_accepted() {
    let mut f = Filter::new(FilterConfig::default());
    let t0 = Instant::now();
    f.offer(&at(0.0, 0.0, 0.0), t0);
    // The receiver comes out of a tunnel 200 m further on and stays consistent.
    assert_eq!(
        f.offer(&at(200.0, 0.0, 1.0), secs(t0, 1.0)),
        Verdict::RejectedJump
    );
    assert_eq!(
        f.offer(&at(201.0, 0.0, 2.0), secs(t0, 2.0)),
        Verdict::RejectedJump
    );
    let Verdict::Moved(fix) = f.offer(&at(202.0, 0.0, 3.0), secs(t0, 3.0)) else {
        panic!("confirmed jump not accepted");
    };
    assert!((north_of_origin_m(&fix) - 202.0).abs() < 0.01);
}

#[test]
fn a_high_hdop_is_rejected_and_a_repeated_epoch_is_skipped() {
    let mut f = Filter::new(FilterConfig::default());
    let t0 = Instant::now();
    f.offer(&at(0.0, 0.0, 0.0), t0);
    let mut poor = at(3.0, 0.0, 1.0);
    poor.hdop = Some(12.0);
    assert_eq!(f.offer(&poor, secs(t0, 1.0)), Verdict::RejectedHdop);
    assert_eq!(
        f.offer(&at(0.5, 0.0, 0.0), secs(t0, 1.0)),
        Verdict::Repeated
    );
}

#[test]
fn jitter_around_a_standing_listener_is_not_republished() {
    let mut f = Filter::new(FilterConfig::default());
    let t0 = Instant::now();
    f.offer(&at(0.0, 0.0, 0.0), t0);
    // ±1.5 m of noise every second for a minute: the smoothed position stays within a metre.
    let mut moves = 0;
    for i in 1..60 {
        let s = f64::from(i);
        let n = if i % 2 == 0 { 1.5 } else { -1.5 };
        let e = if i % 3 == 0 { 1.2 } else { -0.8 };
        if let Verdict::Moved(_) = f.offer(&at(n, e, s), secs(t0, s)) {
            moves += 1;
        }
    }
    assert_eq!(moves, 0);
    assert_eq!(f.phase(secs(t0, 59.0)), Phase::Good);
}

#[test]
fn a_steady_walk_is_followed_smoothly() {
    let mut f = Filter::new(FilterConfig::default());
    let t0 = Instant::now();
    let mut moves = 0;
    for i in 0..30 {
        let s = f64::from(i);
        if let Verdict::Moved(_) = f.offer(&at(1.3 * s, 0.0, s), secs(t0, s)) {
            moves += 1;
        }
    }
    // 38 m walked: published in steps of at least a metre, lagging by a few metres at most.
    assert!((10..=30).contains(&moves), "{moves}");
    let lag = 1.3 * 29.0 - north_of_origin_m(f.published().unwrap());
    assert!((0.0..4.0).contains(&lag), "{lag}");
}

#[test]
fn a_lost_fix_is_held_then_reported_lost() {
    let config = FilterConfig {
        hold: Duration::from_secs(10),
        ..FilterConfig::default()
    };
    let mut f = Filter::new(config);
    let t0 = Instant::now();
    f.offer(&at(0.0, 0.0, 0.0), t0);
    f.no_fix(secs(t0, 1.0));
    assert_eq!(f.phase(secs(t0, 1.0)), Phase::Holding);
    assert_eq!(f.phase(secs(t0, 10.9)), Phase::Holding);
    assert_eq!(f.phase(secs(t0, 11.1)), Phase::Lost);
    assert!(f.published().is_some(), "the last fix is still known");
    // A good reading ends the loss.
    f.offer(&at(1.0, 0.0, 20.0), secs(t0, 20.0));
    assert_eq!(f.phase(secs(t0, 20.0)), Phase::Good);
}

#[test]
fn silence_counts_as_a_lost_fix_after_the_stale_time() {
    let mut f = Filter::new(FilterConfig::default());
    let t0 = Instant::now();
    f.offer(&at(0.0, 0.0, 0.0), t0);
    assert_eq!(f.phase(secs(t0, 2.9)), Phase::Good);
    assert_eq!(f.phase(secs(t0, 3.1)), Phase::Holding);
    assert_eq!(f.phase(secs(t0, 12.9)), Phase::Holding);
    assert_eq!(f.phase(secs(t0, 13.1)), Phase::Lost);
}
