//! `audiotracks/`: read by any token holder, written by staff.
//!
//! Timings (`minduration` … `maxpanduration`) are seconds on the wire in both directions (the
//! store keeps nanoseconds); the `*__lte`/`*__gte` filters take seconds, while the plain exact
//! filters (`?minduration=5000000000`) compare stored nanoseconds, as the reference server does.
//! Every min must not exceed its max, volumes are not negative and pan positions lie in −1..1.

use serde_json::Value;

use super::ApiResult;
use super::crud::{self, FromBody, Names};
use super::input::{FieldErrors, Fields};
use super::routes::Routes;
use super::schema::{Obj, obj};
use crate::store::audiotracks::{Audiotrack, AudiotrackInput, PRIORITIES, TIMING_PAIRS};

const AUDIOTRACKS: Names = Names::new("audiotracks", "an audiotrack", "audiotracks");

pub(super) fn routes(r: &mut Routes) {
    crud::routes::<Audiotrack>(r, AUDIOTRACKS, body_fields);
}

/// Every input key; JSON null is refused for all of them (no column is nullable).
/// Longest timing (duration, dead air, fade, pan time, ban) accepted, in seconds.
const MAX_TIMING_S: f64 = 86_400.0;
/// Loudest volume accepted (1.0 is unity gain; a little headroom above it is allowed).
const MAX_VOLUME: f64 = 2.0;

const FIELDS: [&str; 23] = [
    "project_id",
    "project",
    "minvolume",
    "maxvolume",
    "minduration",
    "maxduration",
    "mindeadair",
    "maxdeadair",
    "minfadeintime",
    "maxfadeintime",
    "minfadeouttime",
    "maxfadeouttime",
    "minpanpos",
    "maxpanpos",
    "minpanduration",
    "maxpanduration",
    "repeatrecordings",
    "active",
    "start_with_silence",
    "banned_duration",
    "fadeout_when_filtered",
    "timed_asset_priority",
    "tag_filters",
];

/// The body [`AudiotrackInput::from_body`] reads (`creating`: the project and every number are required; each min
/// must not exceed its max).
fn body_fields(creating: bool) -> Obj {
    let mut o = obj()
        .id("project_id")
        .req_if(creating)
        .num("minvolume")
        .range(0.0, MAX_VOLUME)
        .req_if(creating)
        .num("maxvolume")
        .range(0.0, MAX_VOLUME)
        .req_if(creating);
    for (min, max) in TIMING_PAIRS {
        o = o
            .num(min)
            .range(0.0, MAX_TIMING_S)
            .req_if(creating)
            .doc("seconds")
            .num(max)
            .range(0.0, MAX_TIMING_S)
            .req_if(creating)
            .doc("seconds");
    }
    o.num("minpanpos")
        .range(-1.0, 1.0)
        .req_if(creating)
        .num("maxpanpos")
        .range(-1.0, 1.0)
        .req_if(creating)
        .bool("repeatrecordings")
        .bool("active")
        .bool("start_with_silence")
        .int("banned_duration")
        .int_range(0, MAX_TIMING_S as i64)
        .doc("seconds")
        .bool("fadeout_when_filtered")
        .choice("timed_asset_priority", &PRIORITIES)
        .ids("tag_filters")
}

/// Reads the fields of a create (`creating`: the numbers and the project are required) or a
/// PATCH; checks what one field alone can tell.
impl FromBody for AudiotrackInput {
    fn from_body(b: &Fields, creating: bool) -> ApiResult<Self> {
        let mut e = FieldErrors::default();
        for key in FIELDS {
            if b.raw(key).is_some_and(Value::is_null) {
                e.add(key, "This field may not be null.");
            }
        }
        let number = |key: &str, e: &mut FieldErrors| {
            if creating {
                b.req_float(key, e)
            } else {
                b.float(key, e)
            }
        };
        let not_negative = |key: &'static str, e: &mut FieldErrors| {
            number(key, e).filter(|v| {
                let ok = *v >= 0.0;
                if !ok {
                    e.add(key, "Must not be negative.");
                }
                ok
            })
        };
        let pan = |key: &'static str, e: &mut FieldErrors| {
            number(key, e).filter(|v| {
                let ok = (-1.0..=1.0).contains(v);
                if !ok {
                    e.add(key, "Must be between -1.0 and 1.0.");
                }
                ok
            })
        };
        let project_key = b
            .first_key(&["project_id", "project"])
            .unwrap_or("project_id");
        let project_id = if creating {
            b.req_int(project_key, &mut e)
        } else {
            b.int(project_key, &mut e)
        };
        // A day bounds every timing: beyond it the nanoseconds overflow what clients decode.
        let within_a_day = |key: &'static str, e: &mut FieldErrors| {
            not_negative(key, e).filter(|v| {
                let ok = *v <= MAX_TIMING_S;
                if !ok {
                    e.add(key, format!("Must be at most {MAX_TIMING_S} seconds."));
                }
                ok
            })
        };
        let timing = |n: usize, e: &mut FieldErrors| {
            let (min, max) = TIMING_PAIRS[n];
            (within_a_day(min, e), within_a_day(max, e))
        };
        let volume = |key: &'static str, e: &mut FieldErrors| {
            not_negative(key, e).filter(|v| {
                let ok = *v <= MAX_VOLUME;
                if !ok {
                    e.add(key, format!("Must be between 0 and {MAX_VOLUME}."));
                }
                ok
            })
        };
        let (minduration, maxduration) = timing(0, &mut e);
        let (mindeadair, maxdeadair) = timing(1, &mut e);
        let (minfadeintime, maxfadeintime) = timing(2, &mut e);
        let (minfadeouttime, maxfadeouttime) = timing(3, &mut e);
        let (minpanduration, maxpanduration) = timing(4, &mut e);
        let input = AudiotrackInput {
            project_id,
            minvolume: volume("minvolume", &mut e),
            maxvolume: volume("maxvolume", &mut e),
            minduration,
            maxduration,
            mindeadair,
            maxdeadair,
            minfadeintime,
            maxfadeintime,
            minfadeouttime,
            maxfadeouttime,
            minpanpos: pan("minpanpos", &mut e),
            maxpanpos: pan("maxpanpos", &mut e),
            minpanduration,
            maxpanduration,
            repeatrecordings: b.bool("repeatrecordings", &mut e),
            active: b.bool("active", &mut e),
            start_with_silence: b.bool("start_with_silence", &mut e),
            banned_duration: b.int("banned_duration", &mut e).filter(|v| {
                let ok = (0..=MAX_TIMING_S as i64).contains(v);
                if !ok {
                    e.add(
                        "banned_duration",
                        format!("Must be between 0 and {MAX_TIMING_S} seconds."),
                    );
                }
                ok
            }),
            fadeout_when_filtered: b.bool("fadeout_when_filtered", &mut e),
            timed_asset_priority: b.choice("timed_asset_priority", &PRIORITIES, &mut e),
            tag_filters: b.ids("tag_filters", &mut e),
        };
        e.finish()?;
        Ok(input)
    }
}
