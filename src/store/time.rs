//! Timestamps as the wire and the database hold them: naive ISO-8601 in UTC with
//! microseconds and no zone suffix (`2026-11-21T17:29:44.610672`), which also sorts as time.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// The current time, formatted for storage and output.
pub(crate) fn now() -> String {
    format(Utc::now().naive_utc())
}

/// The current time in Unix milliseconds (outbox rows, event `meta.timestamp`).
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Formats a naive UTC time for storage and output.
pub(crate) fn format(t: NaiveDateTime) -> String {
    t.format(FORMAT).to_string()
}

/// Parses a client's timestamp: naive (taken as UTC), `Z`, or with an offset (converted to
/// UTC); a space instead of `T` and a bare date are accepted too. Returns the storage form.
pub(crate) fn parse(input: &str) -> Option<String> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(format(t.with_timezone(&Utc).naive_utc()));
    }
    for pattern in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, pattern) {
            return Some(format(t.with_timezone(&Utc).naive_utc()));
        }
    }
    let naive = s.trim_end_matches('Z');
    for pattern in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, pattern) {
            return Some(format(t));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(format)
}

/// Nanoseconds (how the reference server stores durations) → seconds rounded to 2 decimals,
/// as the wire shows them.
pub(crate) fn ns_to_seconds(ns: i64) -> f64 {
    ((ns as f64) / 1e7).round() / 100.0
}

/// Seconds from the wire → stored nanoseconds.
pub(crate) fn seconds_to_ns(seconds: f64) -> i64 {
    (seconds * 1e9).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_microseconds_and_no_zone() {
        let t = now();
        assert_eq!(t.len(), 26, "{t}");
        assert!(!t.ends_with('Z') && !t.contains('+'));
        assert!(parse(&t).is_some());
    }

    #[test]
    fn naive_zulu_and_offset_forms_all_become_naive_utc() {
        assert_eq!(
            parse("2026-11-22T02:34:10.005Z").unwrap(),
            "2026-11-22T02:34:10.005000"
        );
        assert_eq!(
            parse("2021-07-30T10:00:00").unwrap(),
            "2021-07-30T10:00:00.000000"
        );
        assert_eq!(
            parse("2021-07-30T10:00:00+02:00").unwrap(),
            "2021-07-30T08:00:00.000000"
        );
        assert_eq!(
            parse("2021-07-30T10:00:00-0500").unwrap(),
            "2021-07-30T15:00:00.000000"
        );
        assert_eq!(parse("2014-01-01").unwrap(), "2014-01-01T00:00:00.000000");
        assert_eq!(
            parse("2014-01-01 12:30:00").unwrap(),
            "2014-01-01T12:30:00.000000"
        );
    }

    #[test]
    fn garbage_is_not_a_time() {
        assert!(parse("yesterday").is_none());
        assert!(parse("2014-13-45").is_none());
        assert!(parse("").is_none());
    }

    mod properties {
        use chrono::{Duration, NaiveDate};
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(crate::proptest_config())]

            #[test]
            fn naive_zulu_and_offset_forms_all_round_trip_to_naive_utc(
                (y, mo, d) in (1970i32..2100, 1u32..=12, 1u32..=28),
                (h, mi, s, us) in (0u32..24, 0u32..60, 0u32..60, 0u32..1_000_000),
                offset_min in -840i64..=840,
            ) {
                let utc = NaiveDate::from_ymd_opt(y, mo, d)
                    .and_then(|d| d.and_hms_micro_opt(h, mi, s, us))
                    .unwrap();
                let want = format(utc);
                let naive = utc.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
                prop_assert_eq!(parse(&naive), Some(want.clone()));
                prop_assert_eq!(parse(&format!("{naive}Z")), Some(want.clone()));
                prop_assert_eq!(parse(&naive.replacen('T', " ", 1)), Some(want.clone()));
                let local = utc + Duration::minutes(offset_min);
                let sign = if offset_min < 0 { '-' } else { '+' };
                let (oh, om) = (offset_min.abs() / 60, offset_min.abs() % 60);
                let local = local.format("%Y-%m-%dT%H:%M:%S%.6f");
                prop_assert_eq!(parse(&format!("{local}{sign}{oh:02}:{om:02}")), Some(want.clone()));
                prop_assert_eq!(parse(&format!("{local}{sign}{oh:02}{om:02}")), Some(want));
            }

            #[test]
            fn any_text_is_a_time_in_storage_form_or_none_never_a_panic(text in ".{0,40}") {
                if let Some(t) = parse(&text) {
                    prop_assert_eq!(parse(&t), Some(t));
                }
            }
        }
    }
}
