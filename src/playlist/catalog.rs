//! The engine's read-only snapshot of one project: what may play, where, and how.
//!
//! A [`Catalog`] is loaded from the store in one read transaction whenever the store's
//! revision changes (so a new upload is eligible within a second) and shared as
//! `Arc<Catalog>` by every stream of the project. Nothing here changes after loading.
//!
//! Owns: the snapshot types and the SQL that fills them. May not touch: audio, clocks,
//! per-listener state (that is [`super::Playlist`]).

use std::collections::HashMap;
use std::path::PathBuf;

use geo::{MultiLineString, MultiPolygon};

/// How a project orders its playlist (reference-server §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// Shuffled on every rebuild.
    Random,
    /// Highest `weight` first; among equal weights the higher id first.
    ByWeight,
    /// Most `like` votes first; among equal counts the higher id first.
    ByLike,
}

/// What happens when the proximity playlist runs dry (reference-server §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatMode {
    /// Nothing more until a later location or tag update rebuilds the playlist.
    Stop,
    /// Proximity bans are cleared and the playlist rebuilt (timeout bans still hold).
    Continuous,
}

/// Project-level settings the engine reads.
#[derive(Debug, Clone)]
pub struct ProjectRules {
    /// Project id.
    pub id: i64,
    /// `listen_enabled`: streams are refused when false.
    pub listen_enabled: bool,
    /// `recording_radius` in metres (1 m when unset, as the reference's settings fallback).
    pub recording_radius_m: f64,
    /// `repeat_mode`.
    pub repeat_mode: RepeatMode,
    /// `ordering`.
    pub ordering: Ordering,
    /// `timed_asset_priority`.
    pub timed_asset_priority: bool,
    /// `out_of_range_distance` in metres.
    pub out_of_range_distance_m: f64,
    /// `out_of_range_url` (may be empty).
    pub out_of_range_url: String,
    /// `demo_stream_url` (may be empty).
    pub demo_stream_url: String,
}

/// One audio asset of the project (photos, text and assets without audio are not loaded).
#[derive(Debug, Clone)]
pub struct Asset {
    /// Asset id.
    pub id: i64,
    /// `language_id` (an asset without a language never plays).
    pub language_id: Option<i64>,
    /// `submitted`.
    pub submitted: bool,
    /// `audiolength` in nanoseconds.
    pub audiolength_ns: i64,
    /// Point location, when set.
    pub latitude: Option<f64>,
    /// Point location, when set.
    pub longitude: Option<f64>,
    /// Per-asset region, when set (beats the recording radius).
    pub shape: Option<MultiPolygon<f64>>,
    /// Tag ids, ascending.
    pub tags: Vec<i64>,
    /// `weight`.
    pub weight: i64,
    /// Count of `like` votes.
    pub likes: i64,
    /// `volume` (1.0 when null).
    pub volume: f32,
    /// Active region start in seconds (0 when null).
    pub start_s: f64,
    /// Active region end in seconds (the audio length when null).
    pub end_s: f64,
    /// Absolute path of the engine's PCM rendition (`filename` under the media folder).
    pub path: PathBuf,
    /// Id of the user who recorded it (via its session's device), for `block_user`.
    pub creator_user_id: Option<i64>,
}

/// A timed asset row: the asset is a candidate while the stream clock is in `[start_s, end_s]`.
#[derive(Debug, Clone, Copy)]
pub struct TimedAsset {
    /// The asset.
    pub asset_id: i64,
    /// Seconds since the stream started.
    pub start_s: f64,
    /// Seconds since the stream started (inclusive).
    pub end_s: f64,
}

/// An inclusive range drawn from uniformly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

/// One audiotrack: a voice slot that plays assets one after another (reference-server §7.6).
/// All times in seconds.
#[derive(Debug, Clone)]
pub struct Track {
    /// Audiotrack id.
    pub id: i64,
    /// Volume factor range.
    pub volume: Range,
    /// Excerpt length range.
    pub duration_s: Range,
    /// Silence between assets.
    pub deadair_s: Range,
    /// Fade-in length range.
    pub fadein_s: Range,
    /// Fade-out length range.
    pub fadeout_s: Range,
    /// Pan position range in [-1, 1] (equal values: fixed pan).
    pub pan: Range,
    /// Time taken to move to the next pan target.
    pub pan_duration_s: Range,
}

/// One speaker: a looping ambient source heard inside its shape.
#[derive(Debug, Clone)]
pub struct Speaker {
    /// Speaker id.
    pub id: i64,
    /// `activeyn`.
    pub active: bool,
    /// Gain outside (and on the edge of) the shape.
    pub minvolume: f32,
    /// Gain deep inside the shape.
    pub maxvolume: f32,
    /// Where the audio comes from: `/rwmedia/<file>` (the box's own media) or an `http://` URL.
    pub uri: String,
    /// Tried when `uri` does not give audio (may be empty).
    pub backupuri: String,
    /// The zone.
    pub shape: MultiPolygon<f64>,
    /// Its outline (distances to the edge are measured to this).
    pub boundary: MultiLineString<f64>,
    /// Metres inside the edge over which the gain rises from min to max.
    pub attenuation_distance_m: f64,
}

/// The project's active listen UI groups, as the tag filter needs them (reference-server §7.2).
#[derive(Debug, Clone, Default)]
pub struct ListenFilter {
    /// Tag category of every tag that appears in an active listen group's items.
    pub category_of: HashMap<i64, i64>,
    /// Categories of the active listen groups.
    pub categories: Vec<i64>,
    /// Tags of every active item of every active listen group (the default filter).
    pub active_tags: Vec<i64>,
}

/// Everything the engine needs to know about one project, as of one store revision.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Project settings.
    pub project: ProjectRules,
    /// Audio assets, ascending id.
    pub assets: Vec<Asset>,
    /// Timed assets of the project.
    pub timed: Vec<TimedAsset>,
    /// Active audiotracks, ascending id.
    pub tracks: Vec<Track>,
    /// Every speaker of the project (active or not), ascending id.
    pub speakers: Vec<Speaker>,
    /// Listen groups for the tag filter.
    pub filter: ListenFilter,
}

impl Catalog {
    /// The asset with this id, if it is an audio asset of the project.
    pub fn asset(&self, id: i64) -> Option<&Asset> {
        self.assets
            .binary_search_by_key(&id, |a| a.id)
            .ok()
            .and_then(|i| self.assets.get(i))
    }
}
