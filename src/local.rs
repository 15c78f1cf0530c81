//! The box as a listener: wires the configured position source and sound card to the
//! engine's local stream, and reports the engine, the sound card and the position to
//! `/healthz`, `/metrics` and the watchdog through [`crate::health::Probe`]s.
//!
//! Owns: the glue task that turns position updates into moves of the local listener (and
//! the `on_fix_loss = "pause"` policy), the sound-card handle. May not touch: mixing,
//! playlist rules, SQL.

use std::sync::Arc;

use crate::api::AppState;
use crate::conductor::Engine;
use crate::health::{ComponentState, Probe};
use crate::playlist::Position;
use crate::position::{PositionSource, Status};

#[cfg(feature = "soundcard")]
use crate::output::soundcard::{CardConfig, CardFeed, CardSink, CardState};

#[cfg(feature = "soundcard")]
impl crate::output::render::BlockSink for CardFeed {
    fn push_block(&mut self, interleaved: &[f32]) {
        self.push(interleaved);
    }
}

/// The sound card's status for routes and probes (`None`: no card configured or built).
#[derive(Clone, Default)]
pub struct Card {
    #[cfg(feature = "soundcard")]
    sink: Option<Arc<CardSink>>,
}

impl Card {
    /// The card's status as JSON (null without a card).
    pub fn status_json(&self) -> serde_json::Value {
        #[cfg(feature = "soundcard")]
        if let Some(s) = &self.sink {
            return serde_json::to_value(s.status()).unwrap_or_default();
        }
        serde_json::Value::Null
    }
}

/// Starts the local listener when `[local] enabled`: its sound card (unless `output =
/// "none"`), its stream, and the task that moves it with the position source. Problems are
/// logged with the remedy; the daemon carries on without the part that failed.
pub async fn start(state: &AppState) -> Card {
    let local = &state.config.local;
    if !local.enabled {
        return Card::default();
    }
    let (card, tap) = open_card(&local.output, local.realtime_priority);
    match state
        .engine
        .start_local(local.project_id, tap, local.realtime_priority)
        .await
    {
        Ok(_) => {
            tokio::spawn(follow_position(
                state.engine.clone(),
                state.position.clone(),
            ));
        }
        Err(e) => log::warn!("local listener not started: {e} (fix [local] in the configuration)"),
    }
    state.health.register(Arc::new(CardProbe(card.clone())));
    card
}

#[cfg(feature = "soundcard")]
fn open_card(
    output: &str,
    rt_priority: u8,
) -> (Card, Option<Box<dyn crate::output::render::BlockSink>>) {
    if output == "none" {
        return (Card::default(), None);
    }
    let (sink, feed) = CardSink::start(CardConfig {
        device: output.to_owned(),
        buffer_ms: 40,
        rt_priority,
    });
    (
        Card {
            sink: Some(Arc::new(sink)),
        },
        Some(Box::new(feed)),
    )
}

#[cfg(not(feature = "soundcard"))]
fn open_card(
    output: &str,
    _rt_priority: u8,
) -> (Card, Option<Box<dyn crate::output::render::BlockSink>>) {
    if output != "none" {
        log::warn!(
            "[local] output = {output:?}, but this build has no sound card support (feature `soundcard`); the local mix is served over HTTP only"
        );
    }
    (Card::default(), None)
}

/// Moves the local listener with every published fix; with no fix (after the hold, policy
/// `pause`) its assets pause until a fix returns.
async fn follow_position(engine: Engine, position: PositionSource) {
    let mut rx = position.subscribe();
    let mut paused = false;
    // The arrival of the last fix moved to (a held fix is republished with its old one).
    let mut last_at = None;
    loop {
        let state = rx.borrow_and_update().clone();
        match state.fix {
            Some(fix) => {
                if paused {
                    engine.pause_local(false);
                    paused = false;
                }
                let fresh = (last_at != Some(fix.at)).then_some(fix.at);
                last_at = Some(fix.at);
                engine.move_local(Position::at(fix.lat, fix.lon), fresh);
            }
            // Lost after having had one (never having had a fix is already silence).
            None if state.source != "none" && !paused && state.last_fix.is_some() => {
                log::info!(
                    "local listener: no position ({}); pausing its recordings",
                    state.status.name()
                );
                engine.pause_local(true);
                paused = true;
            }
            None => {}
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// The engine for health: alive while its control loop ticks.
pub struct EngineProbe(pub Engine);

impl Probe for EngineProbe {
    fn name(&self) -> &'static str {
        "engine"
    }

    fn state(&self) -> ComponentState {
        if self.0.ticking() {
            ComponentState::Ok
        } else {
            ComponentState::Down("the stream engine's control loop has stopped".into())
        }
    }

    fn alive(&self) -> bool {
        self.0.ticking()
    }

    fn write_metrics(&self, out: &mut String) {
        let st = self.0.status();
        let sum = |f: fn(&crate::conductor::StreamStatus) -> u64| -> u64 {
            st.streams.iter().map(f).sum()
        };
        let lines = [
            (
                "roundwared_streams",
                "gauge",
                "Personal streams running.",
                st.streams.len() as u64,
            ),
            (
                "roundwared_stream_listeners",
                "gauge",
                "HTTP clients connected to streams.",
                sum(|s| s.listeners as u64),
            ),
            (
                "roundwared_stream_underruns_total",
                "counter",
                "Times a stream fell behind real time.",
                sum(|s| s.underruns),
            ),
            (
                "roundwared_stream_late_blocks_total",
                "counter",
                "Blocks rendered after their time.",
                sum(|s| s.late_blocks),
            ),
            (
                "roundwared_stream_source_underruns_total",
                "counter",
                "Blocks a live speaker source had no data.",
                sum(|s| s.source_underruns),
            ),
            (
                "roundwared_stream_lagged_clients_total",
                "counter",
                "Stream clients skipped ahead for falling behind.",
                sum(|s| s.lagged_clients),
            ),
            (
                "roundwared_decoded_source_bytes",
                "gauge",
                "Decoded audio held in memory.",
                st.resident_source_bytes as u64,
            ),
        ];
        for (name, kind, help, v) in lines {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
    }
}

/// The sound card for health and metrics.
struct CardProbe(Card);

impl Probe for CardProbe {
    fn name(&self) -> &'static str {
        "soundcard"
    }

    fn state(&self) -> ComponentState {
        #[cfg(feature = "soundcard")]
        if let Some(sink) = &self.0.sink {
            let s = sink.status();
            return match s.state {
                CardState::Playing => ComponentState::Ok,
                CardState::Disabled => ComponentState::Disabled,
                _ => ComponentState::Degraded(s.summary),
            };
        }
        ComponentState::Disabled
    }

    fn write_metrics(&self, out: &mut String) {
        #[cfg(feature = "soundcard")]
        if let Some(sink) = &self.0.sink {
            let s = sink.status();
            for (name, help, v) in [
                (
                    "roundwared_soundcard_xruns_total",
                    "ALSA xruns of the local sound card.",
                    s.xruns,
                ),
                (
                    "roundwared_soundcard_underruns_total",
                    "Callbacks the sound card's ring was empty.",
                    s.underruns,
                ),
                (
                    "roundwared_soundcard_reopens_total",
                    "Times the sound card was reopened.",
                    s.reopens,
                ),
            ] {
                out.push_str(&format!(
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
                ));
            }
        }
        let _ = out;
    }
}

/// The position source for health and metrics.
pub struct PositionProbe(pub PositionSource);

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
