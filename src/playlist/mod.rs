//! What a listener hears next: the reference server's candidate list, proximity playlist,
//! ordering, bans, timed assets and blocks (reference-server §7.2–7.5, §7.10), as pure
//! functions of a [`Catalog`] snapshot (loaded by `store::catalog`), the listener's request and `now`.
//!
//! Owns: per-listener selection state. May not touch: clocks (time is a parameter), audio,
//! the network, the disk (whether an asset's file exists is the mixer's concern).
//!
//! Deliberate differences to the reference server:
//! * a tags-only rebuild and the `continuous` refill use the listener's last known position
//!   (the conductor passes it to [`Playlist::rebuild`]; the refill reuses the last one given),
//!   not "absent" (the reference rebuilt from (0,0) and emptied the playlist);
//! * numeric 0 latitude/longitude/heading are values, only `None` is absent;
//! * directional listening wraps at north (heading 0, width 30 hears 345°–15°);
//! * a forced asset ([`Playlist::force`]) survives rebuilds until it is handed out;
//! * an asset handed out (as a timed asset or forced) leaves the stack, so it is not popped
//!   again while its ban holds.
//!
//! A geo listener without a position has an empty proximity playlist (the reference's
//! "geo sessions start with an empty playlist"); timed assets still play, as they ignore
//! location. Randomness comes from a seeded [`StdRng`], so a seed replays a sequence.

mod rules;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::store::catalog::{Catalog, Ordering, RepeatMode};

/// Who is listening (fixed for a stream's life except the language).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// The session's language; `None` hears nothing (assets without a language never play).
    pub language_id: Option<i64>,
    /// `session.geo_listen_enabled`: the nearby rules apply.
    pub geo: bool,
}

/// A listener position with optional directional/range listening (§7.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// `listener_heading`: directional listening when set.
    pub heading_deg: Option<f64>,
    /// `listener_width` (30° when unset).
    pub width_deg: Option<f64>,
    /// `listener_range_min` (0 when unset).
    pub range_min_m: Option<f64>,
    /// `listener_range_max`: range listening when set (and no heading).
    pub range_max_m: Option<f64>,
}

impl Position {
    /// A plain point: no heading, no range.
    pub fn at(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
            heading_deg: None,
            width_deg: None,
            range_min_m: None,
            range_max_m: None,
        }
    }
}

/// One listener's selection state: the proximity playlist (a stack), bans, blocks, the
/// requested tags and language.
#[derive(Debug, Clone)]
pub struct Playlist {
    listener: Listener,
    ban_timeout_s: f64,
    rng: StdRng,
    tags: Option<Vec<i64>>,
    blocked: HashSet<i64>,
    /// The proximity playlist; the next asset is popped from the end.
    stack: Vec<i64>,
    /// Asset → when it was last handed out (seconds on the caller's monotonic clock).
    timeout_bans: HashMap<i64, f64>,
    /// Assets handed out in geo mode that may not replay until the listener has left them.
    proximity_bans: HashSet<i64>,
    /// The position of the last rebuild, reused by the `continuous` refill.
    last_position: Option<Position>,
    /// Something has been handed out since the stream started.
    played_any: bool,
    /// The `playasset` pick, handed out before anything else.
    forced: Option<i64>,
}

impl Playlist {
    /// An empty playlist for a listener; call [`Self::rebuild`] before the first pick.
    pub fn new(listener: Listener, ban_timeout_s: f64, seed: u64) -> Self {
        Self {
            listener,
            ban_timeout_s,
            rng: StdRng::seed_from_u64(seed),
            tags: None,
            blocked: HashSet::new(),
            stack: Vec::new(),
            timeout_bans: HashMap::new(),
            proximity_bans: HashSet::new(),
            last_position: None,
            played_any: false,
            forced: None,
        }
    }

    /// Requested tags; None = the project's active listen tags (§7.2).
    pub fn set_tags(&mut self, tags: Option<Vec<i64>>) {
        self.tags = tags;
    }

    /// The requested tags (None = the project's active listen tags).
    pub fn tags(&self) -> Option<&[i64]> {
        self.tags.as_deref()
    }

    /// The assets waiting to be handed out, next first (a `playasset` pick leads); what the
    /// staff status route shows as the stream's queue.
    pub fn upcoming(&self) -> Vec<i64> {
        self.forced
            .iter()
            .copied()
            .chain(self.stack.iter().rev().copied())
            .collect()
    }

    /// Switches the listener's language (takes effect at the next rebuild).
    pub fn set_language(&mut self, language_id: Option<i64>) {
        self.listener.language_id = language_id;
    }

    /// The user's blocked assets (§7.10); they also leave the current playlist at once.
    pub fn set_blocked(&mut self, blocked: HashSet<i64>) {
        self.stack.retain(|id| !blocked.contains(id));
        self.blocked = blocked;
    }

    /// Rebuild from scratch (§7.3 steps 1–4 + ordering §7.4). `position` None = no location.
    pub fn rebuild(&mut self, catalog: &Catalog, position: Option<&Position>, now_s: f64) {
        self.expire_bans(now_s);
        self.last_position = position.copied();
        if self.geo_position().is_some() {
            let radius_m = catalog.project.recording_radius_m;
            self.proximity_bans.retain(|id| {
                catalog
                    .asset(*id)
                    .zip(position)
                    .is_some_and(|(a, p)| rules::nearby(a, p, radius_m))
            });
        } else if self.listener.geo {
            // A geo listener without a position is near nothing, so has left everything.
            self.proximity_bans.clear();
        }
        let mut list: Vec<i64> = self
            .candidates(catalog)
            .into_iter()
            .filter(|id| {
                !self.timeout_bans.contains_key(id)
                    && !self.proximity_bans.contains(id)
                    && !self.blocked.contains(id)
                    && self.is_nearby(catalog, *id)
            })
            .collect();
        self.order(catalog, &mut list);
        self.stack = list;
    }

    /// Next asset for a track (§7.4 bans/repeat, §7.5 timed assets with priority). `now_s` is a
    /// monotonic clock in seconds (bans), `elapsed_s` seconds since the stream started (timed).
    /// Returns None when nothing may play. Gives the asset its timeout ban (+ proximity ban in
    /// geo mode with a position).
    pub fn next(&mut self, catalog: &Catalog, now_s: f64, elapsed_s: f64) -> Option<i64> {
        self.expire_bans(now_s);
        if let Some(id) = self.forced.take().filter(|id| catalog.asset(*id).is_some()) {
            self.hand_out(id, now_s);
            return Some(id);
        }
        let priority = catalog.project.timed_asset_priority;
        if priority && let Some(id) = self.pick_timed(catalog, elapsed_s) {
            self.hand_out(id, now_s);
            return Some(id);
        }
        if self.stack.is_empty()
            && self.played_any
            && catalog.project.repeat_mode == RepeatMode::Continuous
        {
            self.proximity_bans.clear();
            let position = self.last_position;
            self.rebuild(catalog, position.as_ref(), now_s);
        }
        if let Some(id) = self.stack.pop() {
            self.hand_out(id, now_s);
            return Some(id);
        }
        if !priority && let Some(id) = self.pick_timed(catalog, elapsed_s) {
            self.hand_out(id, now_s);
            return Some(id);
        }
        None
    }

    /// playasset: this asset is the next pick, bypassing filters and bans (§7.7). An id that
    /// is not an audio asset of the catalog at pick time is dropped.
    pub fn force(&mut self, asset_id: i64) {
        self.stack.retain(|id| *id != asset_id);
        self.forced = Some(asset_id);
    }

    /// Count for ICY titles: playlist + eligible timed assets (§7.9 "remaining").
    pub fn remaining(&self, catalog: &Catalog, now_s: f64, elapsed_s: f64) -> usize {
        let timed = self
            .timed_candidates(catalog, elapsed_s)
            .into_iter()
            .filter(|id| !self.banned_at(*id, now_s) && !self.stack.contains(id))
            .count();
        self.stack.len() + timed + usize::from(self.forced.is_some())
    }

    /// The candidate list `all` (ids ascending) for the current tags/language (§7.2).
    pub fn candidates(&self, catalog: &Catalog) -> Vec<i64> {
        rules::candidates(catalog, self.listener.language_id, self.tags.as_deref())
    }

    /// The position the nearby rules use: only a geo listener's.
    fn geo_position(&self) -> Option<&Position> {
        self.last_position.as_ref().filter(|_| self.listener.geo)
    }

    fn is_nearby(&self, catalog: &Catalog, id: i64) -> bool {
        if !self.listener.geo {
            return true;
        }
        match (self.last_position.as_ref(), catalog.asset(id)) {
            (Some(p), Some(a)) => rules::nearby(a, p, catalog.project.recording_radius_m),
            _ => false,
        }
    }

    fn expire_bans(&mut self, now_s: f64) {
        let timeout_s = self.ban_timeout_s;
        self.timeout_bans.retain(|_, at| now_s - *at < timeout_s);
    }

    fn banned_at(&self, id: i64, now_s: f64) -> bool {
        self.proximity_bans.contains(&id)
            || self
                .timeout_bans
                .get(&id)
                .is_some_and(|at| now_s - *at < self.ban_timeout_s)
    }

    fn hand_out(&mut self, id: i64, now_s: f64) {
        self.timeout_bans.insert(id, now_s);
        if self.geo_position().is_some() {
            self.proximity_bans.insert(id);
        }
        self.stack.retain(|x| *x != id);
        self.played_any = true;
    }

    /// Timed assets active at `elapsed_s` whose asset is in `all` (location and blocks ignored).
    fn timed_candidates(&self, catalog: &Catalog, elapsed_s: f64) -> Vec<i64> {
        let all = self.candidates(catalog);
        let mut ids: Vec<i64> = catalog
            .timed
            .iter()
            .filter(|t| t.start_s <= elapsed_s && elapsed_s <= t.end_s)
            .map(|t| t.asset_id)
            .filter(|id| all.binary_search(id).is_ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The timed candidate that plays first under the project's ordering, if any.
    fn pick_timed(&mut self, catalog: &Catalog, elapsed_s: f64) -> Option<i64> {
        let mut ids: Vec<i64> = self
            .timed_candidates(catalog, elapsed_s)
            .into_iter()
            .filter(|id| !self.timeout_bans.contains_key(id) && !self.proximity_bans.contains(id))
            .collect();
        self.order(catalog, &mut ids);
        ids.pop()
    }

    /// Orders a list so that popping from its end gives the next asset (§7.4).
    fn order(&mut self, catalog: &Catalog, ids: &mut [i64]) {
        let key = |id: &i64, f: fn(&crate::store::catalog::Asset) -> i64| {
            (catalog.asset(*id).map_or(i64::MIN, f), *id)
        };
        match catalog.project.ordering {
            Ordering::Random => ids.shuffle(&mut self.rng),
            Ordering::ByWeight => ids.sort_by_key(|id| key(id, |a| a.weight)),
            Ordering::ByLike => ids.sort_by_key(|id| key(id, |a| a.likes)),
        }
    }
}
