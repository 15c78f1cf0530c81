//! The filter between raw receiver readings and the position a walking listener uses: gates
//! (HDOP, speed with confirmation, repeated epochs), exponential smoothing, a publish
//! threshold so jitter does not re-trigger zone edges, and the fix-loss clock.
//!
//! Pure: time comes in as arguments ([`Instant`]s for ages and hold, the receiver's time of day
//! for motion), so every behaviour is testable without sleeping. May not touch: I/O, tasks.

use std::time::{Duration, Instant};

use super::{Fix, Reading};

/// Metres per degree of latitude (and of longitude at the equator).
const M_PER_DEG: f64 = 111_320.0;

/// Tuning of the filter; [`Default`] suits a pedestrian with a consumer receiver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FilterConfig {
    /// A reading implying a faster move than this from the last accepted one is a jump.
    pub max_speed_mps: f64,
    /// Consecutive mutually consistent jumped readings that confirm a real move.
    pub confirm_readings: usize,
    /// Readings with a known HDOP above this are rejected (≈ 5 m × HDOP of error).
    pub max_hdop: f64,
    /// Time constant of the exponential smoothing.
    pub smoothing_s: f64,
    /// The published position moves only when the smoothed one is this far from it.
    pub min_move_m: f64,
    /// No accepted reading for this long counts as a lost fix.
    pub stale_after: Duration,
    /// How long the last fix is held once lost (`[position] hold_s`).
    pub hold: Duration,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            max_speed_mps: 10.0,
            confirm_readings: 3,
            max_hdop: 5.0,
            smoothing_s: 2.0,
            min_move_m: 1.0,
            stale_after: Duration::from_secs(3),
            hold: Duration::from_secs(10),
        }
    }
}

/// What the filter did with one reading.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Accepted, and the published position moved (or was set for the first time).
    Moved(Fix),
    /// Accepted; the published position stays (moved less than the threshold).
    Absorbed,
    /// The receiver's time did not advance (the same epoch reported again).
    Repeated,
    /// HDOP above the bound.
    RejectedHdop,
    /// Too far, too fast from the last accepted reading, not (yet) confirmed.
    RejectedJump,
}

/// Where the fix-loss state machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Fresh readings are coming in.
    Good,
    /// The fix was lost; the last one is held until `hold` has passed.
    Holding,
    /// No fix (never had one, or held for longer than `hold`).
    Lost,
}

#[derive(Debug, Clone)]
struct Accepted {
    lat: f64,
    lon: f64,
    at: Instant,
    time_of_day_s: Option<f64>,
}

/// The filter state; one per position source.
#[derive(Debug)]
pub(crate) struct Filter {
    config: FilterConfig,
    last: Option<Accepted>,
    smoothed: Option<(f64, f64)>,
    published: Option<Fix>,
    candidates: Vec<Accepted>,
    lost_at: Option<Instant>,
}

/// Distance in metres between two nearby points (equirectangular: plenty at walking scale).
pub(crate) fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let mid_lat = ((a.0 + b.0) / 2.0).to_radians();
    let dy = (b.0 - a.0) * M_PER_DEG;
    let dx = (b.1 - a.1) * M_PER_DEG * mid_lat.cos();
    dx.hypot(dy)
}

/// Seconds between two readings: the receiver's clock when both have it (replays and bursts
/// arrive faster than real time), else arrival time.
fn elapsed_s(from: &Accepted, to: &Accepted) -> f64 {
    if let (Some(a), Some(b)) = (from.time_of_day_s, to.time_of_day_s) {
        // Across midnight the time of day wraps.
        let d = (b - a).rem_euclid(86_400.0);
        if d < 3600.0 {
            return d;
        }
    }
    to.at.saturating_duration_since(from.at).as_secs_f64()
}

impl Filter {
    /// A filter with no fix yet.
    pub(crate) fn new(config: FilterConfig) -> Self {
        Self {
            config,
            last: None,
            smoothed: None,
            published: None,
            candidates: Vec::new(),
            lost_at: None,
        }
    }

    /// The published fix (the last one, also while holding or lost).
    pub(crate) fn published(&self) -> Option<&Fix> {
        self.published.as_ref()
    }

    /// Offers a reading received at `now`.
    pub(crate) fn offer(&mut self, reading: &Reading, now: Instant) -> Verdict {
        if reading.hdop.is_some_and(|h| h > self.config.max_hdop) {
            return Verdict::RejectedHdop;
        }
        let this = Accepted {
            lat: reading.lat,
            lon: reading.lon,
            at: now,
            time_of_day_s: reading.time_of_day_s,
        };
        let Some(last) = self.last.clone() else {
            return self.reset_to(&this, reading);
        };
        if let (Some(a), Some(b)) = (last.time_of_day_s, this.time_of_day_s)
            && (a - b).abs() < 1e-3
        {
            return Verdict::Repeated;
        }
        let dt_s = elapsed_s(&last, &this);
        // One second of slack: a single epoch of receiver noise is not a jump.
        let allowed_m = self.config.max_speed_mps * dt_s.max(1.0);
        if distance_m((last.lat, last.lon), (this.lat, this.lon)) > allowed_m {
            let consistent = self.candidates.last().is_none_or(|c| {
                distance_m((c.lat, c.lon), (this.lat, this.lon))
                    <= self.config.max_speed_mps * elapsed_s(c, &this).max(1.0)
            });
            if !consistent {
                self.candidates.clear();
            }
            self.candidates.push(this.clone());
            if self.candidates.len() >= self.config.confirm_readings {
                self.candidates.clear();
                return self.reset_to(&this, reading);
            }
            return Verdict::RejectedJump;
        }
        self.candidates.clear();
        self.last = Some(this);
        self.lost_at = None;
        let alpha = 1.0 - (-dt_s / self.config.smoothing_s.max(1e-3)).exp();
        let (slat, slon) = self.smoothed.unwrap_or((reading.lat, reading.lon));
        let smoothed = (
            slat + alpha * (reading.lat - slat),
            slon + alpha * (reading.lon - slon),
        );
        self.smoothed = Some(smoothed);
        let moved = self
            .published
            .as_ref()
            .is_none_or(|p| distance_m((p.lat, p.lon), smoothed) >= self.config.min_move_m);
        let fix = Fix {
            lat: if moved {
                smoothed.0
            } else {
                self.published_lat()
            },
            lon: if moved {
                smoothed.1
            } else {
                self.published_lon()
            },
            at: now,
            satellites: reading.satellites,
            hdop: reading.hdop,
        };
        self.published = Some(fix.clone());
        if moved {
            Verdict::Moved(fix)
        } else {
            Verdict::Absorbed
        }
    }

    fn published_lat(&self) -> f64 {
        self.published.as_ref().map_or(0.0, |p| p.lat)
    }

    fn published_lon(&self) -> f64 {
        self.published.as_ref().map_or(0.0, |p| p.lon)
    }

    /// Starts over at `this` (first reading, or a confirmed jump).
    fn reset_to(&mut self, this: &Accepted, reading: &Reading) -> Verdict {
        self.last = Some(this.clone());
        self.smoothed = Some((this.lat, this.lon));
        self.lost_at = None;
        let fix = Fix {
            lat: this.lat,
            lon: this.lon,
            at: this.at,
            satellites: reading.satellites,
            hdop: reading.hdop,
        };
        self.published = Some(fix.clone());
        Verdict::Moved(fix)
    }

    /// The receiver says it has no fix (or the source went away) at `now`.
    pub(crate) fn no_fix(&mut self, now: Instant) {
        self.lost_at.get_or_insert(now);
    }

    /// The fix-loss phase at `now`.
    pub(crate) fn phase(&self, now: Instant) -> Phase {
        let Some(last) = &self.last else {
            return Phase::Lost;
        };
        let stale_at = last.at + self.config.stale_after;
        let lost_since = match self.lost_at {
            Some(t) => Some(t.min(stale_at)),
            None => (now >= stale_at).then_some(stale_at),
        };
        match lost_since {
            None => Phase::Good,
            Some(t) if now.saturating_duration_since(t) < self.config.hold => Phase::Holding,
            Some(_) => Phase::Lost,
        }
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
