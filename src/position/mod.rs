//! Where the box itself is: position sources chosen by `[position] source` (gpsd, NMEA on a
//! serial port, a fixed point, or none), filtered for a walking listener and published on a
//! `watch` channel as a [`PositionState`].
//!
//! ```text
//!  gpsd reader (task) ─┐
//!  NMEA reader (thread)─┼─ Event ─► hub task: Filter + fix-loss clock ─► watch<PositionState>
//!  fixed (once) ───────┘                                                  (local listener, API)
//! ```
//!
//! [`PositionProbe`] reports the source to `/healthz` and `/metrics`.
//!
//! Owns: the readers' lifetimes, the filter state, the published state and its counters. May
//! not touch: the stream engine (the integrator feeds fixes into it from the `watch`), the
//! store, HTTP.

pub(crate) mod filter;
pub(crate) mod gpsd;
pub(crate) mod nmea;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{FixLossPolicy, PositionConfig, PositionSourceKind};
use crate::health::{ComponentState, Probe};
use filter::{Filter, FilterConfig, Phase, Verdict};

/// One position reading from a receiver, before filtering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// The receiver's UTC time of day in seconds, when it gave one (measures motion in replays).
    pub time_of_day_s: Option<f64>,
    /// Satellites used, when known.
    pub satellites: Option<u32>,
    /// Horizontal dilution of precision, when known.
    pub hdop: Option<f64>,
}

/// A filtered position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fix {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// When the receiver last confirmed it (the fix's age is measured from here).
    pub at: Instant,
    /// Satellites used, when known.
    pub satellites: Option<u32>,
    /// Horizontal dilution of precision, when known.
    pub hdop: Option<f64>,
}

/// Health of the position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// A fresh fix.
    Ok,
    /// No fix (never had one, or held for longer than `hold_s`); `on_fix_loss` applies.
    NoFix,
    /// The fix was lost less than `hold_s` ago; the last one is still used.
    Holding,
    /// The source itself is unavailable (gpsd unreachable, serial device missing), past the
    /// hold; the text says why.
    SourceDown(String),
}

impl Status {
    /// Short name for the status route: `ok`, `no_fix`, `holding`, `source_down`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoFix => "no_fix",
            Self::Holding => "holding",
            Self::SourceDown(_) => "source_down",
        }
    }
}

/// Running totals since the source started (kept across reloads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Lines received (good or bad).
    pub sentences: u64,
    /// Lines that were garbage, had a wrong checksum or were malformed.
    pub bad_sentences: u64,
    /// Readings rejected as implausible jumps.
    pub rejected_jumps: u64,
    /// Readings rejected for a high HDOP.
    pub rejected_hdop: u64,
    /// Reconnection (or reopen) attempts after the source went away.
    pub reconnects: u64,
    /// Times the published position moved.
    pub moves: u64,
}

/// What the position source publishes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PositionState {
    /// The position the listener should use now: the filtered fix; while holding, the last
    /// one; after the hold, per `on_fix_loss` the last one (`hold`), the fixed point
    /// (`fixed`) or `None` (`pause`: pause the listener).
    pub fix: Option<Fix>,
    /// The last fix from the receiver itself, whatever `on_fix_loss` says (for its age).
    pub last_fix: Option<Fix>,
    /// Health.
    pub status: Status,
    /// `[position] source`: `none`, `gpsd`, `nmea` or `fixed`.
    pub source: &'static str,
    /// `[position] on_fix_loss`.
    pub on_fix_loss: FixLossPolicy,
    /// `[position] hold_s`.
    pub hold_s: u64,
    /// Running totals.
    pub counters: Counters,
}

impl PositionState {
    fn initial(config: &PositionConfig, counters: Counters) -> Self {
        Self {
            fix: None,
            last_fix: None,
            status: Status::NoFix,
            source: config.source.name(),
            on_fix_loss: config.on_fix_loss,
            hold_s: config.hold_s,
            counters,
        }
    }

    /// Whether a watcher should react: the position or the health changed (counters and the
    /// fix's age alone do not wake watchers).
    fn differs_for_watchers(&self, other: &Self) -> bool {
        let pos = |s: &Self| s.fix.as_ref().map(|f| (f.lat, f.lon));
        #[allow(clippy::float_cmp)]
        let moved = pos(self) != pos(other);
        moved || self.status != other.status || self.source != other.source
    }
}

/// What a line from a receiver turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// A position reading.
    Reading(Reading),
    /// The receiver says it has no fix.
    NoFix,
    /// A well-formed line of no interest.
    Ignored,
    /// A bad line, and why.
    Bad(String),
    /// A read timed out (no line); not counted.
    Idle,
}

/// What readers tell the hub.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// Connected / device opened.
    Up,
    /// The source went away, and why.
    Down(String),
    /// About to try again.
    Reconnecting,
    /// One line.
    Line(Outcome),
}

/// Back-off before reconnect attempt `attempt` (0-based): 250 ms doubling to 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(5))
}

/// How often the hub re-evaluates the fix-loss clock when nothing arrives.
const TICK: Duration = Duration::from_millis(200);

/// The running position source; cheap to clone. Dropping the last clone stops it.
#[derive(Clone)]
pub(crate) struct PositionSource {
    inner: Arc<Inner>,
}

struct Inner {
    tx: watch::Sender<PositionState>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().map(std::mem::take).unwrap_or_default();
        for t in tasks {
            t.abort();
        }
    }
}

impl std::fmt::Debug for PositionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PositionSource")
            .field("source", &self.inner.tx.borrow().source)
            .finish()
    }
}

impl PositionSource {
    /// Starts the configured source on the current tokio runtime.
    pub(crate) fn start(config: &PositionConfig) -> Self {
        let (tx, _) = watch::channel(PositionState::initial(config, Counters::default()));
        let source = Self {
            inner: Arc::new(Inner {
                tx,
                tasks: Mutex::new(Vec::new()),
            }),
        };
        source.launch(config, Counters::default());
        source
    }

    /// The current state (with up-to-date counters and fix time).
    pub(crate) fn state(&self) -> PositionState {
        self.inner.tx.borrow().clone()
    }

    /// A receiver that wakes when the position or its health changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<PositionState> {
        self.inner.tx.subscribe()
    }

    /// Applies a new `[position]` section (SIGHUP): stops the current reader and starts the
    /// new one. Counters carry over; the fix starts afresh.
    pub(crate) fn reload(&self, config: &PositionConfig) {
        self.stop();
        let counters = self.inner.tx.borrow().counters.clone();
        self.inner
            .tx
            .send_replace(PositionState::initial(config, counters.clone()));
        self.launch(config, counters);
    }

    /// Stops the reader and the hub (the serial thread ends at its next read timeout).
    pub(crate) fn stop(&self) {
        let tasks = match self.inner.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for t in tasks {
            t.abort();
        }
    }

    fn launch(&self, config: &PositionConfig, counters: Counters) {
        let mut tasks = Vec::new();
        match config.source {
            PositionSourceKind::None => {}
            PositionSourceKind::Fixed => {
                let (lat, lon) = config.fixed.unwrap_or_default();
                log::info!("position: fixed at {lat}, {lon}");
                self.inner.tx.send_modify(|s| {
                    s.fix = Some(fixed_fix(lat, lon));
                    s.last_fix = s.fix.clone();
                    s.status = Status::Ok;
                });
            }
            PositionSourceKind::Gpsd | PositionSourceKind::Nmea => {
                let (events_tx, events_rx) = mpsc::channel(256);
                if config.source == PositionSourceKind::Gpsd {
                    tasks.push(tokio::spawn(gpsd::run(config.gpsd.clone(), events_tx)));
                } else {
                    let (device, baud) = (config.nmea_device.clone(), config.nmea_baud);
                    let spawned = std::thread::Builder::new()
                        .name("gps-nmea".into())
                        .spawn(move || nmea::run_serial(device, baud, events_tx));
                    if let Err(e) = spawned {
                        log::error!("position: cannot start the NMEA reader thread: {e}");
                    }
                }
                let hub = Hub::new(config, counters, self.inner.tx.clone());
                tasks.push(tokio::spawn(hub.run(events_rx)));
            }
        }
        match self.inner.tasks.lock() {
            Ok(mut t) => t.extend(tasks),
            Err(poisoned) => poisoned.into_inner().extend(tasks),
        }
    }
}

fn fixed_fix(lat: f64, lon: f64) -> Fix {
    Fix {
        lat,
        lon,
        at: Instant::now(),
        satellites: None,
        hdop: None,
    }
}

/// Owns the filter; turns reader events into published states.
struct Hub {
    filter: Filter,
    policy: FixLossPolicy,
    fixed: Option<(f64, f64)>,
    down: Option<String>,
    counters: Counters,
    tx: watch::Sender<PositionState>,
}

impl Hub {
    fn new(config: &PositionConfig, counters: Counters, tx: watch::Sender<PositionState>) -> Self {
        let filter = Filter::new(FilterConfig {
            hold: Duration::from_secs(config.hold_s),
            ..FilterConfig::default()
        });
        Self {
            filter,
            policy: config.on_fix_loss,
            fixed: config.fixed,
            down: None,
            counters,
            tx,
        }
    }

    async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.handle(ev, Instant::now()),
                    None => return,
                },
                _ = tick.tick() => {}
            }
            self.publish(Instant::now());
        }
    }

    fn handle(&mut self, ev: Event, now: Instant) {
        match ev {
            Event::Up => self.down = None,
            Event::Down(why) => {
                if self.down.is_none() {
                    log::warn!("position: {why}");
                }
                self.filter.no_fix(now);
                self.down = Some(why);
            }
            Event::Reconnecting => self.counters.reconnects += 1,
            Event::Line(Outcome::Idle) => {}
            Event::Line(outcome) => {
                self.counters.sentences += 1;
                match outcome {
                    Outcome::Bad(why) => {
                        self.counters.bad_sentences += 1;
                        let n = self.counters.bad_sentences;
                        if n <= 5 || n.is_multiple_of(100) {
                            log::warn!("position: bad sentence ({n} so far): {why}");
                        }
                    }
                    Outcome::NoFix => self.filter.no_fix(now),
                    Outcome::Reading(r) => match self.filter.offer(&r, now) {
                        Verdict::Moved(_) => self.counters.moves += 1,
                        Verdict::RejectedJump => self.counters.rejected_jumps += 1,
                        Verdict::RejectedHdop => self.counters.rejected_hdop += 1,
                        Verdict::Absorbed | Verdict::Repeated => {}
                    },
                    Outcome::Ignored | Outcome::Idle => {}
                }
            }
        }
    }

    fn publish(&self, now: Instant) {
        let last_fix = self.filter.published().cloned();
        let (status, fix) = match self.filter.phase(now) {
            Phase::Good => (Status::Ok, last_fix.clone()),
            Phase::Holding => (Status::Holding, last_fix.clone()),
            Phase::Lost => {
                let status = match &self.down {
                    Some(why) => Status::SourceDown(why.clone()),
                    None => Status::NoFix,
                };
                let fix = match self.policy {
                    FixLossPolicy::Hold => last_fix.clone(),
                    FixLossPolicy::Fixed => self.fixed.map(|(lat, lon)| fixed_fix(lat, lon)),
                    FixLossPolicy::Pause => None,
                };
                (status, fix)
            }
        };
        self.tx.send_if_modified(|s| {
            let next = PositionState {
                fix,
                last_fix,
                status,
                source: s.source,
                on_fix_loss: self.policy,
                hold_s: s.hold_s,
                counters: self.counters.clone(),
            };
            let wake = next.differs_for_watchers(s);
            if wake && next.status != s.status {
                log::info!("position: {} → {}", s.status.name(), next.status.name());
            }
            *s = next;
            wake
        });
    }
}

/// The position source for health and metrics.
pub(crate) struct PositionProbe(pub PositionSource);

impl Probe for PositionProbe {
    fn name(&self) -> &'static str {
        "position"
    }

    fn state(&self) -> ComponentState {
        let s = self.0.state();
        if s.source == "none" {
            return ComponentState::Disabled;
        }
        match s.status {
            Status::Ok => ComponentState::Ok,
            Status::Holding => ComponentState::Degraded("holding the last fix".into()),
            Status::NoFix => ComponentState::Degraded("no fix".into()),
            Status::SourceDown(why) => ComponentState::Degraded(why),
        }
    }

    fn write_metrics(&self, out: &mut String) {
        let s = self.0.state();
        if let Some(fix) = s.last_fix {
            let age = fix.at.elapsed().as_secs_f64();
            out.push_str(&format!("# HELP roundwared_gps_fix_age_seconds Age of the last position fix.\n# TYPE roundwared_gps_fix_age_seconds gauge\nroundwared_gps_fix_age_seconds {age:.1}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn position_config(toml: &str) -> PositionConfig {
        Config::from_toml_str(toml, std::path::Path::new("test.toml"))
            .unwrap()
            .position
    }

    #[tokio::test]
    async fn a_fixed_source_publishes_its_point_and_a_reload_replaces_it() {
        let source = PositionSource::start(&position_config(
            "[position]\nsource = \"fixed\"\nfixed = [52.5, 13.4]\n",
        ));
        let mut rx = source.subscribe();
        let s = source.state();
        assert_eq!((s.source, &s.status), ("fixed", &Status::Ok));
        let fix = s.fix.unwrap();
        assert_eq!((fix.lat, fix.lon), (52.5, 13.4));

        source.reload(&position_config("[position]\nsource = \"none\"\n"));
        assert!(
            rx.has_changed().unwrap(),
            "watchers are told about a reload"
        );
        let s = rx.borrow_and_update().clone();
        assert_eq!((s.source, &s.status, s.fix), ("none", &Status::NoFix, None));
    }

    #[tokio::test]
    async fn an_absent_device_is_reported_down_and_the_fixed_point_used_after_the_hold() {
        let source = PositionSource::start(&position_config(
            "[position]\nsource = \"nmea\"\nnmea_device = \"/nonexistent/ttyGPS\"\n\
             hold_s = 0\non_fix_loss = \"fixed\"\nfixed = [1.0, 2.0]\n",
        ));
        let mut rx = source.subscribe();
        let s = tokio::time::timeout(
            Duration::from_secs(5),
            rx.wait_for(|s| matches!(s.status, Status::SourceDown(_))),
        )
        .await
        .expect("reported down in time")
        .unwrap()
        .clone();
        let Status::SourceDown(why) = &s.status else {
            unreachable!()
        };
        assert!(why.contains("/nonexistent/ttyGPS"), "{why}");
        let fix = s.fix.unwrap();
        assert_eq!((fix.lat, fix.lon), (1.0, 2.0));
        assert_eq!(s.last_fix, None);
        source.stop();
    }

    #[test]
    fn back_off_doubles_from_a_quarter_second_to_five_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(5), Duration::from_secs(5));
        assert_eq!(backoff(40), Duration::from_secs(5));
    }
}
