//! Audiotracks: the voices of a project's mix. Each row bounds how an asset is played
//! (volume, duration, silence between assets, fades, pan) and which tags it plays.
//!
//! The ten timing columns (`minduration` … `maxpanduration`) are stored in **nanoseconds**,
//! as the reference server stores them, and cross this module's boundary in **seconds**: the
//! [`Audiotrack`] row and [`AudiotrackInput`] hold seconds, and the conversion happens only
//! here. `banned_duration` is whole seconds in both places.

use rusqlite::{Row, Transaction};
use serde::Serialize;

use super::sql::{self};
use super::{
    Editable, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test,
};

/// Nanoseconds per second: the unit of the stored timing columns.
pub(crate) const NS_PER_SECOND: f64 = 1e9;

/// The values `timed_asset_priority` may take. The iOS framework crashes on anything else;
/// `neutral` is not in the reference model but iOS knows it, so it is accepted too.
pub(crate) const PRIORITIES: [&str; 5] = ["discard", "neutral", "lowest", "normal", "highest"];

/// The ten timing columns, stored in nanoseconds, in pairs (min, max).
pub(crate) const TIMING_PAIRS: [(&str, &str); 5] = [
    ("minduration", "maxduration"),
    ("mindeadair", "maxdeadair"),
    ("minfadeintime", "maxfadeintime"),
    ("minfadeouttime", "maxfadeouttime"),
    ("minpanduration", "maxpanduration"),
];

/// An audiotrack as api/2 shows it: every key always present, timings in seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Audiotrack {
    /// Row id.
    pub id: i64,
    /// Lowest playback volume (0..).
    pub minvolume: f64,
    /// Highest playback volume.
    pub maxvolume: f64,
    /// Shortest excerpt, seconds.
    pub minduration: f64,
    /// Longest excerpt, seconds.
    pub maxduration: f64,
    /// Shortest silence between assets, seconds.
    pub mindeadair: f64,
    /// Longest silence between assets, seconds.
    pub maxdeadair: f64,
    /// Shortest fade-in, seconds.
    pub minfadeintime: f64,
    /// Longest fade-in, seconds.
    pub maxfadeintime: f64,
    /// Shortest fade-out, seconds.
    pub minfadeouttime: f64,
    /// Longest fade-out, seconds.
    pub maxfadeouttime: f64,
    /// Leftmost pan position (−1..1).
    pub minpanpos: f64,
    /// Rightmost pan position (−1..1).
    pub maxpanpos: f64,
    /// Shortest pan movement, seconds.
    pub minpanduration: f64,
    /// Longest pan movement, seconds.
    pub maxpanduration: f64,
    /// Whether assets may repeat.
    pub repeatrecordings: bool,
    /// Whether the track plays.
    pub active: bool,
    /// Whether the track starts with dead air.
    pub start_with_silence: bool,
    /// How long a played asset stays banned, seconds.
    pub banned_duration: i64,
    /// Whether a playing asset fades out when the listener's filter drops it.
    pub fadeout_when_filtered: bool,
    /// One of [`PRIORITIES`].
    pub timed_asset_priority: String,
    /// Tags this track is limited to.
    pub tag_filters: Vec<i64>,
    /// Project.
    pub project_id: i64,
}

fn secs(r: &Row<'_>, i: usize) -> rusqlite::Result<f64> {
    Ok(r.get::<_, f64>(i)? / NS_PER_SECOND)
}

impl Table for Audiotrack {
    const WHAT: &'static str = "audiotrack";
    const TABLE: &'static str = "audiotracks";
    const SELECT: &'static str = "SELECT id, minvolume, maxvolume, minduration, maxduration, mindeadair, maxdeadair, \
         minfadeintime, maxfadeintime, minfadeouttime, maxfadeouttime, minpanpos, maxpanpos, \
         minpanduration, maxpanduration, repeatrecordings, active, start_with_silence, banned_duration, \
         fadeout_when_filtered, timed_asset_priority, \
         (SELECT group_concat(tag_id) FROM (SELECT tag_id FROM audiotrack_tags \
            WHERE audiotrack_id = audiotracks.id ORDER BY tag_id)), \
         project_id FROM audiotracks";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            minvolume: r.get(1)?,
            maxvolume: r.get(2)?,
            minduration: secs(r, 3)?,
            maxduration: secs(r, 4)?,
            mindeadair: secs(r, 5)?,
            maxdeadair: secs(r, 6)?,
            minfadeintime: secs(r, 7)?,
            maxfadeintime: secs(r, 8)?,
            minfadeouttime: secs(r, 9)?,
            maxfadeouttime: secs(r, 10)?,
            minpanpos: r.get(11)?,
            maxpanpos: r.get(12)?,
            minpanduration: secs(r, 13)?,
            maxpanduration: secs(r, 14)?,
            repeatrecordings: r.get(15)?,
            active: r.get(16)?,
            start_with_silence: r.get(17)?,
            banned_duration: r.get(18)?,
            fadeout_when_filtered: r.get(19)?,
            timed_asset_priority: r.get(20)?,
            tag_filters: sql::id_list(r.get(21)?),
            project_id: r.get(22)?,
        })
    }
}

/// `GET audiotracks/`: project and flags exactly; each timing exactly in stored nanoseconds
/// (as the reference server) or bounded in seconds.
impl Queried for Audiotrack {
    const PARAMS: &'static [Param] = &[
        Param::new(
            &["project_id", "project"],
            "project_id",
            Test::Eq,
            Kind::Int,
        ),
        Param::eq(&["active"], Kind::Bool),
        Param::eq(&["repeatrecordings"], Kind::Bool),
        Param::eq(&["start_with_silence"], Kind::Bool),
        Param::eq(&["fadeout_when_filtered"], Kind::Bool),
        Param::eq(&["minduration"], Kind::Float),
        Param::new(
            &["minduration__lte"],
            "minduration",
            Test::Le,
            Kind::Seconds,
        ),
        Param::new(
            &["minduration__gte"],
            "minduration",
            Test::Ge,
            Kind::Seconds,
        ),
        Param::eq(&["maxduration"], Kind::Float),
        Param::new(
            &["maxduration__lte"],
            "maxduration",
            Test::Le,
            Kind::Seconds,
        ),
        Param::new(
            &["maxduration__gte"],
            "maxduration",
            Test::Ge,
            Kind::Seconds,
        ),
        Param::eq(&["mindeadair"], Kind::Float),
        Param::new(&["mindeadair__lte"], "mindeadair", Test::Le, Kind::Seconds),
        Param::new(&["mindeadair__gte"], "mindeadair", Test::Ge, Kind::Seconds),
        Param::eq(&["maxdeadair"], Kind::Float),
        Param::new(&["maxdeadair__lte"], "maxdeadair", Test::Le, Kind::Seconds),
        Param::new(&["maxdeadair__gte"], "maxdeadair", Test::Ge, Kind::Seconds),
    ];
}

impl Filtered for Audiotrack {
    type Filter = Given<Self>;
}

/// Fields of a create or PATCH; `None` leaves a field as it is (or at its default on create).
/// Timings are in seconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct AudiotrackInput {
    /// Project (must exist).
    pub project_id: Option<i64>,
    /// Lowest volume.
    pub minvolume: Option<f64>,
    /// Highest volume.
    pub maxvolume: Option<f64>,
    /// Seconds.
    pub minduration: Option<f64>,
    /// Seconds.
    pub maxduration: Option<f64>,
    /// Seconds.
    pub mindeadair: Option<f64>,
    /// Seconds.
    pub maxdeadair: Option<f64>,
    /// Seconds.
    pub minfadeintime: Option<f64>,
    /// Seconds.
    pub maxfadeintime: Option<f64>,
    /// Seconds.
    pub minfadeouttime: Option<f64>,
    /// Seconds.
    pub maxfadeouttime: Option<f64>,
    /// −1..1.
    pub minpanpos: Option<f64>,
    /// −1..1.
    pub maxpanpos: Option<f64>,
    /// Seconds.
    pub minpanduration: Option<f64>,
    /// Seconds.
    pub maxpanduration: Option<f64>,
    /// Flag.
    pub repeatrecordings: Option<bool>,
    /// Flag.
    pub active: Option<bool>,
    /// Flag.
    pub start_with_silence: Option<bool>,
    /// Whole seconds.
    pub banned_duration: Option<i64>,
    /// Flag.
    pub fadeout_when_filtered: Option<bool>,
    /// One of [`PRIORITIES`].
    pub timed_asset_priority: Option<String>,
    /// Tag ids (each must exist); replaces the list.
    pub tag_filters: Option<Vec<i64>>,
}

/// A fresh track with the model defaults; the required numbers are zero until set.
fn defaults() -> Audiotrack {
    Audiotrack {
        id: 0,
        minvolume: 0.0,
        maxvolume: 0.0,
        minduration: 0.0,
        maxduration: 0.0,
        mindeadair: 0.0,
        maxdeadair: 0.0,
        minfadeintime: 0.0,
        maxfadeintime: 0.0,
        minfadeouttime: 0.0,
        maxfadeouttime: 0.0,
        minpanpos: 0.0,
        maxpanpos: 0.0,
        minpanduration: 0.0,
        maxpanduration: 0.0,
        repeatrecordings: false,
        active: true,
        start_with_silence: false,
        banned_duration: 0,
        fadeout_when_filtered: false,
        timed_asset_priority: "normal".into(),
        tag_filters: Vec::new(),
        project_id: 0,
    }
}

fn apply(a: &mut Audiotrack, i: &AudiotrackInput) {
    fn set<T: Clone>(slot: &mut T, v: &Option<T>) {
        if let Some(v) = v {
            *slot = v.clone();
        }
    }
    set(&mut a.project_id, &i.project_id);
    set(&mut a.minvolume, &i.minvolume);
    set(&mut a.maxvolume, &i.maxvolume);
    set(&mut a.minduration, &i.minduration);
    set(&mut a.maxduration, &i.maxduration);
    set(&mut a.mindeadair, &i.mindeadair);
    set(&mut a.maxdeadair, &i.maxdeadair);
    set(&mut a.minfadeintime, &i.minfadeintime);
    set(&mut a.maxfadeintime, &i.maxfadeintime);
    set(&mut a.minfadeouttime, &i.minfadeouttime);
    set(&mut a.maxfadeouttime, &i.maxfadeouttime);
    set(&mut a.minpanpos, &i.minpanpos);
    set(&mut a.maxpanpos, &i.maxpanpos);
    set(&mut a.minpanduration, &i.minpanduration);
    set(&mut a.maxpanduration, &i.maxpanduration);
    set(&mut a.repeatrecordings, &i.repeatrecordings);
    set(&mut a.active, &i.active);
    set(&mut a.start_with_silence, &i.start_with_silence);
    set(&mut a.banned_duration, &i.banned_duration);
    set(&mut a.fadeout_when_filtered, &i.fadeout_when_filtered);
    set(&mut a.timed_asset_priority, &i.timed_asset_priority);
    set(&mut a.tag_filters, &i.tag_filters);
}

/// Every (min, max) pair of a track, with the name of its min field.
fn pairs(a: &Audiotrack) -> [(&'static str, &'static str, f64, f64); 7] {
    [
        ("minvolume", "maxvolume", a.minvolume, a.maxvolume),
        ("minduration", "maxduration", a.minduration, a.maxduration),
        ("mindeadair", "maxdeadair", a.mindeadair, a.maxdeadair),
        (
            "minfadeintime",
            "maxfadeintime",
            a.minfadeintime,
            a.maxfadeintime,
        ),
        (
            "minfadeouttime",
            "maxfadeouttime",
            a.minfadeouttime,
            a.maxfadeouttime,
        ),
        ("minpanpos", "maxpanpos", a.minpanpos, a.maxpanpos),
        (
            "minpanduration",
            "maxpanduration",
            a.minpanduration,
            a.maxpanduration,
        ),
    ]
}

/// The rules that involve the stored row as well as the input: every min ≤ its max, the
/// project and every tag exist.
fn check(tx: &Transaction<'_>, a: &Audiotrack) -> StoreResult<()> {
    for (min, max, lo, hi) in pairs(a) {
        if lo > hi {
            return Err(StoreError::conflict(
                min,
                format!("{min} ({lo}) must not be greater than {max} ({hi})."),
            ));
        }
    }
    if !sql::exists(tx, "projects", a.project_id)? {
        return Err(StoreError::conflict(
            "project_id",
            format!("Project {} not found.", a.project_id),
        ));
    }
    for tag in &a.tag_filters {
        if !sql::exists(tx, "tags", *tag)? {
            return Err(StoreError::conflict(
                "tag_filters",
                format!("Tag {tag} not found."),
            ));
        }
    }
    Ok(())
}

fn params(a: &Audiotrack) -> [rusqlite::types::Value; 22] {
    use rusqlite::types::Value::{Integer, Real, Text};
    let ns = |s: f64| Real(s * NS_PER_SECOND);
    [
        Integer(a.project_id),
        Real(a.minvolume),
        Real(a.maxvolume),
        ns(a.minduration),
        ns(a.maxduration),
        ns(a.mindeadair),
        ns(a.maxdeadair),
        ns(a.minfadeintime),
        ns(a.maxfadeintime),
        ns(a.minfadeouttime),
        ns(a.maxfadeouttime),
        Real(a.minpanpos),
        Real(a.maxpanpos),
        ns(a.minpanduration),
        ns(a.maxpanduration),
        Integer(a.repeatrecordings.into()),
        Integer(a.active.into()),
        Integer(a.start_with_silence.into()),
        Integer(a.banned_duration),
        Integer(a.fadeout_when_filtered.into()),
        Text(a.timed_asset_priority.clone()),
        Integer(a.id),
    ]
}

const SET_COLUMNS: &str = "project_id, minvolume, maxvolume, minduration, maxduration, mindeadair, \
     maxdeadair, minfadeintime, maxfadeintime, minfadeouttime, maxfadeouttime, minpanpos, \
     maxpanpos, minpanduration, maxpanduration, repeatrecordings, active, start_with_silence, \
     banned_duration, fadeout_when_filtered, timed_asset_priority";

/// Replaces the tags audiotrack `id` is limited to.
fn set_tags(tx: &Transaction<'_>, id: i64, tags: &[i64]) -> rusqlite::Result<()> {
    sql::replace_links(tx, "audiotrack_tags", "audiotrack_id", "tag_id", id, tags)
}

impl Editable for Audiotrack {
    type Input = AudiotrackInput;

    /// Creates an audiotrack from the model defaults plus `input` (the caller has checked that
    /// the required fields are there).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming the field for a min above its max, an unknown project or
    /// an unknown tag.
    fn create(tx: &Transaction<'_>, input: &AudiotrackInput) -> StoreResult<Self> {
        let mut a = defaults();
        apply(&mut a, input);
        check(tx, &a)?;
        let p = params(&a);
        tx.execute(
            &format!(
                "INSERT INTO audiotracks ({SET_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
            ),
            rusqlite::params_from_iter(&p[..21]),
        )?;
        let id = tx.last_insert_rowid();
        set_tags(tx, id, &a.tag_filters)?;
        Audiotrack::get(tx, id)
    }

    /// Applies a PATCH; the rules are checked against the merged row.
    ///
    /// # Errors
    /// Not found, or the conflicts of `create`.
    fn patch(tx: &Transaction<'_>, id: i64, input: &AudiotrackInput) -> StoreResult<Self> {
        let mut a = Audiotrack::get(tx, id)?;
        apply(&mut a, input);
        check(tx, &a)?;
        let assignments: Vec<String> = SET_COLUMNS
            .split(", ")
            .enumerate()
            .map(|(n, c)| format!("{} = ?{}", c.trim(), n + 1))
            .collect();
        tx.execute(
            &format!(
                "UPDATE audiotracks SET {} WHERE id = ?22",
                assignments.join(", ")
            ),
            rusqlite::params_from_iter(params(&a)),
        )?;
        if input.tag_filters.is_some() {
            set_tags(tx, id, &a.tag_filters)?;
        }
        Audiotrack::get(tx, id)
    }
}
