//! The engine's read-only snapshot of one project: what may play, where, and how.
//!
//! A [`Catalog`] is loaded from the store in one read transaction whenever the store's
//! revision changes (so a new upload is eligible within a second) and shared as
//! `Arc<Catalog>` by every stream of the project. Nothing here changes after loading.
//!
//! Owns: the snapshot types and the SQL that fills them. May not touch: audio, clocks,
//! per-listener state (that is [`crate::playlist::Playlist`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::audiotracks::NS_PER_SECOND;
use geo::{MultiLineString, MultiPolygon};
use rusqlite::{Connection, OptionalExtension};

use crate::geometry;

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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, Copy, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenFilter {
    /// Tag category of every tag whose category is one of `categories` (every tag that
    /// appears in an active listen group's items, and their siblings in those categories).
    pub category_of: HashMap<i64, i64>,
    /// Categories of the active listen groups.
    pub categories: Vec<i64>,
    /// Tags of every active item of every active listen group (the default filter).
    pub active_tags: Vec<i64>,
}

/// Everything the engine needs to know about one project, as of one store revision.
#[derive(Debug, Clone, PartialEq)]
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

impl Catalog {
    /// Loads the snapshot of project `project_id` in one consistent read (`None` when the
    /// project does not exist). `media_dir` is where asset renditions live.
    ///
    /// # Errors
    /// Any SQLite error.
    pub fn load(
        conn: &Connection,
        project_id: i64,
        media_dir: &Path,
    ) -> Result<Option<Catalog>, rusqlite::Error> {
        // One read transaction so every table is seen at the same revision; a caller already
        // inside a transaction has that guarantee.
        let tx = if conn.is_autocommit() {
            Some(conn.unchecked_transaction()?)
        } else {
            None
        };
        let Some(project) = load_project(conn, project_id)? else {
            return Ok(None);
        };
        let catalog = Catalog {
            project,
            assets: load_assets(conn, project_id, media_dir)?,
            timed: load_timed(conn, project_id)?,
            tracks: load_tracks(conn, project_id)?,
            speakers: load_speakers(conn, project_id)?,
            filter: load_filter(conn, project_id)?,
        };
        if let Some(tx) = tx {
            tx.finish()?;
        }
        Ok(Some(catalog))
    }
}

/// The blocked set of user `user_id` (§7.10): every asset they voted `block_asset` on, plus
/// every asset created by a user they voted `block_user` against. The voter of a vote is its
/// `voter_id`, or the user registered with the device of the vote's session; the creator of an
/// asset is its `user_id`, or the user registered with the device of its session.
///
/// # Errors
/// Any SQLite error.
pub fn blocked_assets(conn: &Connection, user_id: i64) -> rusqlite::Result<HashSet<i64>> {
    let ids = super::sql::ids(
        conn,
        "WITH my_votes(asset_id, type) AS (
              SELECT v.asset_id, v.type FROM votes v
               WHERE v.voter_id = ?1
                  OR v.session_id IN (SELECT s.id FROM sessions s JOIN users u
                                        ON u.device_id = s.device_id WHERE u.id = ?1)),
          creators(asset_id, user_id) AS (
              SELECT a.id, COALESCE(a.user_id,
                  (SELECT u.id FROM users u JOIN sessions s ON s.device_id = u.device_id
                    WHERE s.id = a.session_id ORDER BY u.id LIMIT 1))
                FROM assets a),
          blocked_users(id) AS (
              SELECT c.user_id FROM my_votes m JOIN creators c ON c.asset_id = m.asset_id
               WHERE m.type = 'block_user' AND c.user_id IS NOT NULL)
         SELECT asset_id FROM my_votes WHERE type = 'block_asset'
         UNION
         SELECT a.id FROM assets a
          WHERE a.user_id IN (SELECT id FROM blocked_users)
             OR a.session_id IN (SELECT s.id FROM sessions s JOIN users u
                                   ON u.device_id = s.device_id
                                  WHERE u.id IN (SELECT id FROM blocked_users))",
        [user_id],
    )?;
    Ok(ids.into_iter().collect())
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;

fn load_project(conn: &Connection, project_id: i64) -> rusqlite::Result<Option<ProjectRules>> {
    conn.prepare_cached(
        "SELECT id, listen_enabled, recording_radius, repeat_mode, ordering,
                timed_asset_priority, out_of_range_distance, out_of_range_url, demo_stream_url
           FROM projects WHERE id = ?1",
    )?
    .query_row([project_id], |r| {
        let repeat: String = r.get(3)?;
        let ordering: String = r.get(4)?;
        Ok(ProjectRules {
            id: r.get(0)?,
            listen_enabled: r.get(1)?,
            recording_radius_m: r.get::<_, Option<f64>>(2)?.unwrap_or(1.0),
            repeat_mode: if repeat == "continuous" {
                RepeatMode::Continuous
            } else {
                RepeatMode::Stop
            },
            ordering: match ordering.as_str() {
                "by_weight" => Ordering::ByWeight,
                "by_like" => Ordering::ByLike,
                _ => Ordering::Random,
            },
            timed_asset_priority: r.get(5)?,
            out_of_range_distance_m: r.get(6)?,
            out_of_range_url: r.get(7)?,
            demo_stream_url: r.get(8)?,
        })
    })
    .optional()
}

fn load_assets(
    conn: &Connection,
    project_id: i64,
    media_dir: &Path,
) -> rusqlite::Result<Vec<Asset>> {
    let mut tags: HashMap<i64, Vec<i64>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT t.asset_id, t.tag_id FROM asset_tags t JOIN assets a ON a.id = t.asset_id
              WHERE a.project_id = ?1 ORDER BY t.asset_id, t.tag_id",
        )?;
        let rows = stmt.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            let (asset, tag): (i64, i64) = row?;
            tags.entry(asset).or_default().push(tag);
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.language_id, a.submitted, a.audiolength, a.latitude, a.longitude,
                a.shape, a.weight,
                (SELECT COUNT(*) FROM votes v WHERE v.asset_id = a.id AND v.type = 'like'),
                a.volume, a.start_time, a.end_time, a.filename,
                COALESCE(a.user_id,
                    (SELECT u.id FROM users u JOIN sessions s ON s.device_id = u.device_id
                      WHERE s.id = a.session_id ORDER BY u.id LIMIT 1))
           FROM assets a
          WHERE a.project_id = ?1 AND a.audiolength > 0
            AND a.filename IS NOT NULL AND a.filename <> ''
          ORDER BY a.id",
    )?;
    let rows = stmt.query_map([project_id], |r| {
        let id: i64 = r.get(0)?;
        let audiolength_ns: i64 = r.get(3)?;
        let shape: Option<String> = r.get(6)?;
        let filename: String = r.get(12)?;
        Ok(Asset {
            id,
            language_id: r.get(1)?,
            submitted: r.get(2)?,
            audiolength_ns,
            latitude: r.get(4)?,
            longitude: r.get(5)?,
            shape: shape.as_deref().and_then(geometry::stored_multipolygon),
            tags: tags.get(&id).cloned().unwrap_or_default(),
            weight: r.get(7)?,
            likes: r.get(8)?,
            volume: r.get::<_, Option<f64>>(9)?.unwrap_or(1.0) as f32,
            start_s: r.get::<_, Option<f64>>(10)?.unwrap_or(0.0),
            end_s: r
                .get::<_, Option<f64>>(11)?
                .unwrap_or(audiolength_ns as f64 / 1e9),
            path: media_dir.join(filename),
            creator_user_id: r.get(13)?,
        })
    })?;
    rows.collect()
}

fn load_timed(conn: &Connection, project_id: i64) -> rusqlite::Result<Vec<TimedAsset>> {
    let mut stmt = conn.prepare_cached(
        "SELECT asset_id, start, \"end\" FROM timed_assets WHERE project_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([project_id], |r| {
        Ok(TimedAsset {
            asset_id: r.get(0)?,
            start_s: r.get(1)?,
            end_s: r.get(2)?,
        })
    })?;
    rows.collect()
}

fn load_tracks(conn: &Connection, project_id: i64) -> rusqlite::Result<Vec<Track>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, minvolume, maxvolume, minduration, maxduration, mindeadair, maxdeadair,
                minfadeintime, maxfadeintime, minfadeouttime, maxfadeouttime,
                minpanpos, maxpanpos, minpanduration, maxpanduration
           FROM audiotracks WHERE project_id = ?1 AND active = 1 ORDER BY id",
    )?;
    let rows = stmt.query_map([project_id], |r| {
        let range = |i: usize| -> rusqlite::Result<Range> {
            Ok(Range {
                min: r.get(i)?,
                max: r.get(i + 1)?,
            })
        };
        // Timings are stored in nanoseconds, as the reference server stores them.
        let seconds = |i: usize| -> rusqlite::Result<Range> {
            let ns = range(i)?;
            Ok(Range {
                min: ns.min / NS_PER_SECOND,
                max: ns.max / NS_PER_SECOND,
            })
        };
        Ok(Track {
            id: r.get(0)?,
            volume: range(1)?,
            duration_s: seconds(3)?,
            deadair_s: seconds(5)?,
            fadein_s: seconds(7)?,
            fadeout_s: seconds(9)?,
            pan: range(11)?,
            pan_duration_s: seconds(13)?,
        })
    })?;
    rows.collect()
}

fn load_speakers(conn: &Connection, project_id: i64) -> rusqlite::Result<Vec<Speaker>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, activeyn, minvolume, maxvolume, uri, backupuri, shape, attenuation_distance
           FROM speakers WHERE project_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([project_id], |r| {
        let shape: Option<String> = r.get(6)?;
        let shape = shape
            .as_deref()
            .and_then(geometry::stored_multipolygon)
            .unwrap_or_else(|| MultiPolygon(Vec::new()));
        Ok(Speaker {
            id: r.get(0)?,
            active: r.get(1)?,
            minvolume: r.get::<_, f64>(2)? as f32,
            maxvolume: r.get::<_, f64>(3)? as f32,
            uri: r.get(4)?,
            backupuri: r.get(5)?,
            boundary: geometry::boundary(&shape),
            shape,
            attenuation_distance_m: r.get::<_, f64>(7)?,
        })
    })?;
    rows.collect()
}

fn load_filter(conn: &Connection, project_id: i64) -> rusqlite::Result<ListenFilter> {
    const GROUPS: &str = "SELECT g.id, g.tag_category_id FROM ui_groups g
        WHERE g.project_id = ?1 AND g.active = 1 AND g.ui_mode = 'listen'";
    let categories = super::sql::ids(
        conn,
        &format!("SELECT DISTINCT tag_category_id FROM ({GROUPS}) ORDER BY 1"),
        [project_id],
    )?;
    let active_tags = super::sql::ids(
        conn,
        &format!(
            "SELECT DISTINCT i.tag_id FROM ui_items i JOIN ({GROUPS}) g ON g.id = i.ui_group_id
              WHERE i.active = 1 ORDER BY 1"
        ),
        [project_id],
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT t.id, t.tag_category_id FROM tags t
          WHERE t.tag_category_id IN (SELECT tag_category_id FROM ({GROUPS}))"
    ))?;
    let rows = stmt.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let category_of = rows.collect::<rusqlite::Result<HashMap<i64, i64>>>()?;
    Ok(ListenFilter {
        category_of,
        categories,
        active_tags,
    })
}
