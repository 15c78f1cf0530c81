//! One listener's control state: its playlist, what each audiotrack is doing and when it
//! next picks, its speakers' gains, its ICY titles, and the handle to its mixer.
//!
//! Runs on the control side (a tokio task or an API handler, under the stream's own lock,
//! never across an `.await`). Time comes from the mixer's sample clock (`frames`), so
//! scheduling is sample-accurate: every asset start and end is a frame number handed to the
//! mixer ahead of time. Owns: the reference engine's track mechanics (§7.6) and control
//! operations (§7.7). May not touch: SQL (effects are returned for the caller to write),
//! samples.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::audio::mix::Command;
use crate::audio::mix::MixerControl;
use crate::audio::pcm::{Pcm16, RATE_HZ};
use crate::audio::rt::BLOCK_FRAMES;
use crate::audio::voice::{AssetVoice, PanWalk};
use crate::output::titles::TitleSender;
use crate::playlist::{Playlist, Position};
use crate::spatial;
use crate::store::catalog::{Catalog, Range, Track};

use super::sources::Sources;

/// Shortest fade at any start or stop (a de-click ramp).
const MIN_FADE_FRAMES: usize = BLOCK_FRAMES;
/// Tracks pick this far ahead of the frame an asset is due, so that the voice reaches the
/// mixer before its first sample (the control tick runs every 50 ms; a load may take a moment).
const LOOKAHEAD_FRAMES: u64 = RATE_HZ as u64 / 4;
/// The earliest a voice can start: two blocks after the mixer's clock.
const MIN_LEAD_FRAMES: u64 = 2 * BLOCK_FRAMES as u64;
/// When a track finds nothing, it looks again after this (plus a dead air), as the
/// reference's one-second tick did.
const RETRY_FRAMES: u64 = RATE_HZ as u64;

fn frames(seconds: f64) -> u64 {
    (seconds.max(0.0) * f64::from(RATE_HZ)).round() as u64
}

fn draw(rng: &mut SmallRng, r: Range) -> f64 {
    let (lo, hi) = (r.min.min(r.max), r.max.max(r.min));
    if hi - lo <= f64::EPSILON {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// Where a blocking load leaves its result for the next tick.
type LoadSlot = Arc<Mutex<Option<super::sources::Loaded>>>;

/// What an audiotrack is doing.
#[derive(Debug, Clone, PartialEq)]
enum TrackState {
    /// Dead air: the next pick happens at this frame.
    Waiting { pick_at: u64 },
    /// The asset's audio is being loaded; it starts at `start_at` or as soon as loaded.
    Loading { asset_id: i64, start_at: u64 },
    /// Playing until `ends_at`.
    Playing { asset_id: i64, ends_at: u64 },
}

/// Something the caller must write to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A listen event: the asset started, with its planned duration.
    Listened {
        /// Asset.
        asset_id: i64,
        /// Planned duration in nanoseconds.
        duration_ns: i64,
    },
}

/// Who listens: fixed facts about the session.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    /// Session (= stream) id.
    pub session_id: i64,
    /// Project.
    pub project_id: i64,
    /// `session.geo_listen_enabled`.
    pub geo: bool,
    /// The listening user (for blocks), via the session's device.
    pub user_id: Option<i64>,
}

struct SpeakerSlot {
    key: u64,
    uri: (String, String),
}

/// Fade-in of a speaker bed present when a stream starts (100 ms: no click, no wait).
const START_FADE_IN_FRAMES: u32 = RATE_HZ / 10;

/// The control state of one stream.
pub struct StreamState {
    /// Facts about the listener.
    pub info: ListenerInfo,
    catalog: Arc<Catalog>,
    /// Selection state.
    pub playlist: Playlist,
    position: Option<Position>,
    tracks: Vec<TrackState>,
    speakers: HashMap<i64, SpeakerSlot>,
    next_key: u64,
    paused: bool,
    rng: SmallRng,
    control: MixerControl,
    titles: TitleSender,
    last_empty_title: Vec<Option<usize>>,
    loads: Vec<LoadSlot>,
    speaker_ramp_frames: u32,
    /// The monotonic clock as of the last call that gave it.
    now_s: f64,
    /// The zones last announced to event consumers ([`StreamState::zones_changed`]).
    announced_zones: Option<Vec<i64>>,
}

impl StreamState {
    /// A stream whose tracks start with a dead-air wait (the reference never starts with an
    /// asset at once).
    pub fn new(
        info: ListenerInfo,
        catalog: Arc<Catalog>,
        playlist: Playlist,
        control: MixerControl,
        titles: TitleSender,
        speaker_ramp_ms: u32,
        seed: u64,
    ) -> Self {
        let mut s = Self {
            info,
            playlist,
            position: None,
            tracks: Vec::new(),
            speakers: HashMap::new(),
            next_key: 1,
            paused: false,
            rng: SmallRng::seed_from_u64(seed),
            control,
            titles,
            last_empty_title: Vec::new(),
            loads: Vec::new(),
            speaker_ramp_frames: (u64::from(speaker_ramp_ms) * u64::from(RATE_HZ) / 1000) as u32,
            catalog,
            now_s: 0.0,
            announced_zones: None,
        };
        s.titles.push(0, "stream_started=True");
        s.reset_tracks(0);
        s
    }

    /// The mixer clock.
    pub fn frame(&self) -> u64 {
        self.control.counters().frames()
    }

    /// Seconds since the stream started (timed assets count from here).
    pub fn elapsed_s(&self) -> f64 {
        self.frame() as f64 / f64::from(RATE_HZ)
    }

    /// The mixer's counters.
    pub fn counters(&self) -> &Arc<crate::audio::rt::Counters> {
        self.control.counters()
    }

    /// The last position sent, if any.
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// True while paused.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Number of audiotracks.
    pub fn track_count(&self) -> usize {
        self.catalog.tracks.len()
    }

    /// Asset playing on each track (None when silent), for status.
    pub fn playing(&self) -> Vec<Option<i64>> {
        let now = self.frame();
        self.tracks
            .iter()
            .map(|t| match t {
                TrackState::Playing { asset_id, ends_at } if *ends_at > now => Some(*asset_id),
                _ => None,
            })
            .collect()
    }

    fn reset_tracks(&mut self, now: u64) {
        let tracks = self.catalog.tracks.clone();
        self.tracks = tracks
            .iter()
            .map(|t| TrackState::Waiting {
                pick_at: now + frames(draw(&mut self.rng, t.deadair_s)),
            })
            .collect();
        self.last_empty_title = vec![None; tracks.len()];
        self.loads = tracks.iter().map(|_| LoadSlot::default()).collect();
    }

    /// A new catalog (an upload, an edit): the playlist is rebuilt from the last position and
    /// the speakers follow; tracks keep playing.
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>, now_s: f64, sources: &Sources) {
        let tracks_changed = catalog.tracks.len() != self.catalog.tracks.len();
        self.catalog = catalog;
        if tracks_changed {
            self.stop_all_tracks();
            let now = self.frame();
            self.reset_tracks(now);
        }
        self.rebuild(now_s);
        self.update_speakers(sources);
    }

    /// The catalog this stream plays from.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    fn rebuild(&mut self, now_s: f64) {
        self.now_s = now_s;
        let position = if self.info.geo { self.position } else { None };
        self.playlist
            .rebuild(&self.catalog, position.as_ref(), now_s);
    }

    /// `move_listener` (and the location part of `modify_stream`): new position, playlist
    /// and speaker gains. Returns when the gain commands are queued to the mixer.
    pub fn move_to(&mut self, position: Position, now_s: f64, sources: &Sources) {
        self.position = Some(position);
        self.rebuild(now_s);
        self.update_speakers(sources);
    }

    /// The speakers whose zone (or attenuation border) the listener is in, by id.
    pub fn zones(&self) -> Vec<i64> {
        let position = self.position.map(|p| (p.latitude, p.longitude));
        self.catalog
            .speakers
            .iter()
            .filter(|sp| spatial::speaker_gain(sp, self.info.geo, position) > 0.0)
            .map(|sp| sp.id)
            .collect()
    }

    /// The listener's zones, when they differ from those last returned here (the first call
    /// always returns them): what event consumers are told of a stream's moves.
    pub fn zones_changed(&mut self) -> Option<Vec<i64>> {
        let zones = self.zones();
        if self.announced_zones.as_ref() == Some(&zones) {
            return None;
        }
        self.announced_zones = Some(zones.clone());
        Some(zones)
    }

    /// Stamps the mixer commands sent until the next call with a fix's arrival (`None`:
    /// with their send time).
    pub fn set_fix_origin(&mut self, at: Option<std::time::Instant>) {
        self.control.set_fix_origin(at);
    }

    /// `modify_stream`: new tags (and optionally a position), then a rebuild.
    pub fn set_tags(&mut self, tags: Option<Vec<i64>>, now_s: f64) {
        self.playlist.set_tags(tags);
        self.rebuild(now_s);
    }

    /// A new blocked set (a block vote), then a skip (§7.7).
    pub fn set_blocked(&mut self, blocked: HashSet<i64>, now_s: f64) {
        self.playlist.set_blocked(blocked);
        self.rebuild(now_s);
        self.skip();
    }

    /// Speaker targets for the current position; adds voices for speakers that become
    /// audible once their source is resolved (a later call retries), removes voices of
    /// speakers gone from the catalog.
    pub fn update_speakers(&mut self, sources: &Sources) {
        let position = self.position.map(|p| (p.latitude, p.longitude));
        let ramp = self.speaker_ramp_frames.max(BLOCK_FRAMES as u32);
        let catalog = self.catalog.clone();
        let mut seen = HashSet::new();
        for sp in &catalog.speakers {
            seen.insert(sp.id);
            let gain = spatial::speaker_gain(sp, self.info.geo, position);
            let uri = (sp.uri.clone(), sp.backupuri.clone());
            if let Some(slot) = self.speakers.get(&sp.id)
                && slot.uri != uri
            {
                let key = slot.key;
                self.control.send(Command::RemoveSpeaker {
                    key,
                    ramp_frames: ramp,
                });
                self.speakers.remove(&sp.id);
            }
            if let Some(slot) = self.speakers.get(&sp.id) {
                if gain <= 0.0 {
                    // Silent for this listener: fade out and free the mixer slot (it comes
                    // back when the listener walks in again).
                    self.control.send(Command::RemoveSpeaker {
                        key: slot.key,
                        ramp_frames: ramp,
                    });
                    self.speakers.remove(&sp.id);
                } else {
                    self.control.send(Command::SpeakerGain {
                        key: slot.key,
                        gain,
                        ramp_frames: ramp,
                    });
                }
                continue;
            }
            if gain <= 0.0 {
                continue;
            }
            let Some(source) = sources.cached_speaker(&uri.0, &uri.1) else {
                continue;
            };
            let key = self.next_key;
            self.next_key += 1;
            let voice = crate::audio::voice::SpeakerVoice::new(key, source, self.frame() as usize);
            if self.control.send(Command::AddSpeaker(Box::new(voice))) {
                // A listener who just pressed play hears the bed at once (a short fade-in);
                // later entries into a zone follow the walking ramp.
                let fade_in = if self.frame() < u64::from(RATE_HZ) {
                    START_FADE_IN_FRAMES.min(ramp)
                } else {
                    ramp
                };
                self.control.send(Command::SpeakerGain {
                    key,
                    gain,
                    ramp_frames: fade_in,
                });
                self.speakers.insert(sp.id, SpeakerSlot { key, uri });
            }
        }
        let gone: Vec<i64> = self
            .speakers
            .keys()
            .copied()
            .filter(|id| !seen.contains(id))
            .collect();
        for id in gone {
            if let Some(slot) = self.speakers.remove(&id) {
                self.control.send(Command::RemoveSpeaker {
                    key: slot.key,
                    ramp_frames: ramp,
                });
            }
        }
    }

    /// True when some audible speaker still waits for its source (the caller retries).
    pub fn speakers_pending(&self) -> bool {
        let position = self.position.map(|p| (p.latitude, p.longitude));
        self.catalog.speakers.iter().any(|sp| {
            !self.speakers.contains_key(&sp.id)
                && spatial::speaker_gain(sp, self.info.geo, position) > 0.0
        })
    }

    /// skip (§7.7): every playing asset fades out over a random fade-out; the next one
    /// starts after a fresh dead air.
    pub fn skip(&mut self) {
        let now = self.frame();
        for i in 0..self.tracks.len() {
            let Some(track) = self.catalog.tracks.get(i).cloned() else {
                continue;
            };
            let fade = frames(draw(&mut self.rng, track.fadeout_s)).max(MIN_FADE_FRAMES as u64);
            if let TrackState::Playing { asset_id, ends_at } = self.tracks[i]
                && ends_at > now
            {
                self.control.send(Command::StopTrack {
                    track: i as u8,
                    fade_frames: fade as u32,
                });
                let end = ends_at.min(now + fade);
                self.end_title(i, &track, asset_id, end, self.now_s);
                self.tracks[i] = TrackState::Waiting {
                    pick_at: end + frames(draw(&mut self.rng, track.deadair_s)),
                };
            } else if let TrackState::Loading { .. } = self.tracks[i] {
                self.tracks[i] = TrackState::Waiting {
                    pick_at: now + frames(draw(&mut self.rng, track.deadair_s)),
                };
            }
        }
    }

    fn stop_all_tracks(&mut self) {
        for i in 0..self.tracks.len() {
            self.control.send(Command::StopTrack {
                track: i as u8,
                fade_frames: MIN_FADE_FRAMES as u32 * 2,
            });
        }
    }

    /// pause: no new assets; playing ones fade out; speakers keep playing.
    pub fn pause(&mut self) {
        self.paused = true;
        self.skip();
    }

    /// resume: tracks pick again after a dead air.
    pub fn resume(&mut self) {
        if !self.paused {
            return;
        }
        self.paused = false;
        let now = self.frame();
        for i in 0..self.tracks.len() {
            if let (TrackState::Waiting { .. }, Some(t)) =
                (&self.tracks[i], self.catalog.tracks.get(i).cloned())
            {
                self.tracks[i] = TrackState::Waiting {
                    pick_at: now + frames(draw(&mut self.rng, t.deadair_s)),
                };
            }
        }
    }

    /// playasset: the asset is the next pick on every track, then a skip.
    pub fn play_asset(&mut self, asset_id: i64) {
        self.playlist.force(asset_id);
        self.skip();
    }

    fn remaining(&self, now_s: f64) -> usize {
        self.playlist
            .remaining(&self.catalog, now_s, self.elapsed_s())
    }

    fn end_title(&mut self, i: usize, track: &Track, asset_id: i64, at: u64, now_s: f64) {
        let remaining = self.remaining(now_s);
        self.titles.push(
            at,
            &format!(
                "audiotrack={}&remaining={remaining}&asset={asset_id}&complete=True",
                track.id
            ),
        );
        if let Some(t) = self.last_empty_title.get_mut(i) {
            *t = None;
        }
    }

    /// Advances every track whose time has come: finished assets, dead air over, loads
    /// done. `now_s` is the monotonic clock for bans. Returns store writes to make.
    pub fn tick(&mut self, now_s: f64, sources: &Sources) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.now_s = now_s;
        self.control.collect();
        let now = self.frame();
        for i in 0..self.tracks.len() {
            let Some(track) = self.catalog.tracks.get(i).cloned() else {
                continue;
            };
            match self.tracks[i] {
                TrackState::Playing { asset_id, ends_at } if ends_at <= now + LOOKAHEAD_FRAMES => {
                    self.end_title(i, &track, asset_id, ends_at, now_s);
                    self.tracks[i] = TrackState::Waiting {
                        pick_at: ends_at + frames(draw(&mut self.rng, track.deadair_s)),
                    };
                }
                _ => {}
            }
            if let TrackState::Waiting { pick_at } = self.tracks[i]
                && pick_at <= now + LOOKAHEAD_FRAMES
                && !self.paused
            {
                self.pick(
                    i,
                    &track,
                    pick_at.max(now + MIN_LEAD_FRAMES),
                    now_s,
                    sources,
                );
            }
            if let TrackState::Loading { asset_id, start_at } = self.tracks[i] {
                let done = self.loads[i]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                match done {
                    Some(Ok(pcm)) => {
                        let at = start_at.max(now + MIN_LEAD_FRAMES);
                        match self.start(i, &track, asset_id, pcm, at, now_s) {
                            Some(e) => effects.push(e),
                            // Gone from the catalog meanwhile, or the mixer is full: try
                            // again after a dead air rather than stay stuck.
                            None => {
                                self.tracks[i] = TrackState::Waiting {
                                    pick_at: now + frames(draw(&mut self.rng, track.deadair_s)),
                                };
                            }
                        }
                    }
                    Some(Err(_)) => {
                        // The file is missing or broken (logged by the loader): the asset
                        // stays banned and the track waits for its next dead air.
                        self.tracks[i] = TrackState::Waiting {
                            pick_at: now + frames(draw(&mut self.rng, track.deadair_s)),
                        };
                    }
                    None => {}
                }
            }
        }
        effects
    }

    fn pick(&mut self, i: usize, track: &Track, at: u64, now_s: f64, sources: &Sources) {
        let elapsed = at as f64 / f64::from(RATE_HZ);
        let Some(asset_id) = self.playlist.next(&self.catalog, now_s, elapsed) else {
            let remaining = self.remaining(now_s);
            if self.last_empty_title.get(i).copied().flatten() != Some(remaining) {
                self.titles.push(
                    at,
                    &format!("audiotrack={}&remaining={remaining}", track.id),
                );
                if let Some(t) = self.last_empty_title.get_mut(i) {
                    *t = Some(remaining);
                }
            }
            self.tracks[i] = TrackState::Waiting {
                pick_at: at + RETRY_FRAMES + frames(draw(&mut self.rng, track.deadair_s)),
            };
            return;
        };
        let Some(path) = self.catalog.asset(asset_id).map(|a| a.path.clone()) else {
            self.tracks[i] = TrackState::Waiting {
                pick_at: at + RETRY_FRAMES,
            };
            return;
        };
        self.tracks[i] = TrackState::Loading {
            asset_id,
            start_at: at,
        };
        let slot = Arc::new(Mutex::new(None));
        self.loads[i] = slot.clone();
        if let Some(pcm) = sources.cached_asset(&path) {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Ok(pcm));
            return;
        }
        let sources = sources.clone();
        let job = move || {
            let result = sources.load_asset(&path);
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::spawn_blocking(job);
        } else {
            job();
        }
    }

    /// Chooses the excerpt, fades, volume and pan (§7.6), schedules the voice and its title.
    fn start(
        &mut self,
        i: usize,
        track: &Track,
        asset_id: i64,
        pcm: Arc<Pcm16>,
        at: u64,
        now_s: f64,
    ) -> Option<Effect> {
        let asset = self.catalog.asset(asset_id)?.clone();
        let total_s = pcm.frames() as f64 / f64::from(RATE_HZ);
        let start_s = asset.start_s.clamp(0.0, total_s);
        let end_s = if asset.end_s > start_s {
            asset.end_s.min(total_s)
        } else {
            total_s
        };
        let region_s = (end_s - start_s).max(0.0);
        let wanted = draw(
            &mut self.rng,
            Range {
                min: track.duration_s.min.max(1.0),
                max: track.duration_s.max.max(1.0),
            },
        );
        let duration_s = region_s.min(wanted);
        let offset_s = if region_s > duration_s {
            self.rng.random_range(start_s..=end_s - duration_s)
        } else {
            start_s
        };
        let len = frames(duration_s) as usize;
        let mut fade_in = frames(draw(&mut self.rng, track.fadein_s)) as usize;
        let mut fade_out = frames(draw(&mut self.rng, track.fadeout_s)) as usize;
        if fade_in + fade_out > len {
            fade_in = len / 2;
            fade_out = len / 2;
        }
        let fades = (fade_in.max(MIN_FADE_FRAMES), fade_out.max(MIN_FADE_FRAMES));
        let volume = asset.volume * draw(&mut self.rng, track.volume) as f32;
        let pan = PanWalk::new(
            track.pan.min as f32,
            track.pan.max as f32,
            frames(track.pan_duration_s.min) as u32,
            frames(track.pan_duration_s.max) as u32,
            self.rng.random(),
        );
        let voice = AssetVoice::new(
            i as u8,
            asset_id,
            pcm,
            frames(offset_s) as usize,
            len,
            at,
            fades,
            volume,
            pan,
        );
        let len = voice.len_frames as u64;
        if !self.control.send(Command::Play(Box::new(voice))) {
            return None;
        }
        self.tracks[i] = TrackState::Playing {
            asset_id,
            ends_at: at + len,
        };
        let tags = asset
            .tags
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join("%2C");
        let remaining = self.remaining(now_s);
        self.titles.push(
            at,
            &format!(
                "audiotrack={}&remaining={remaining}&asset={asset_id}&tags={tags}",
                track.id
            ),
        );
        if let Some(t) = self.last_empty_title.get_mut(i) {
            *t = None;
        }
        Some(Effect::Listened {
            asset_id,
            duration_ns: (len as i128 * 1_000_000_000 / i128::from(RATE_HZ)) as i64,
        })
    }
}
