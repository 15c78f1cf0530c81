//! The local listener's sound card as the rest of the daemon sees it: a status handle for
//! routes ([`Card::status_json`]) and for `/healthz`, `/metrics` and the watchdog
//! ([`CardProbe`]), and [`Card::open`], which opens the configured output and hands back the
//! [`BlockSink`] its render thread feeds, and the box's volume and output control
//! ([`LocalAudio`], reached through [`Card::audio`]).
//!
//! Builds with and without the `soundcard` feature: without it there is never a card, and a
//! configured output is refused with one log line.
//!
//! Owns: the card's handle and its probe. May not touch: the card's callback and ring (that is
//! `soundcard`), the engine, HTTP.

#[cfg(feature = "soundcard")]
use std::sync::Arc;

use crate::health::{ComponentState, Probe};
use crate::output::render::BlockSink;
use crate::output::volume::LocalAudio;

#[cfg(feature = "soundcard")]
use crate::output::soundcard::{CardConfig, CardSink, CardState};

/// The sound card's status for routes and probes (`None`: no card configured or built), and
/// the local listener's volume control (`None`: no local listener).
#[derive(Clone, Default)]
pub(crate) struct Card {
    #[cfg(feature = "soundcard")]
    sink: Option<Arc<CardSink>>,
    audio: Option<LocalAudio>,
}

impl Card {
    /// Opens `output` (an ALSA device name; `"none"`: no card) with real-time priority
    /// `rt_priority` for its callback and `audio`'s software gain on its feed; starts applying
    /// `audio`'s volume; returns the handle and the sink a render thread feeds.
    #[cfg(feature = "soundcard")]
    pub(crate) fn open(
        output: &str,
        rt_priority: u8,
        audio: LocalAudio,
    ) -> (Self, Option<Box<dyn BlockSink>>) {
        if output == "none" {
            audio.attach(None);
            return (
                Self {
                    sink: None,
                    audio: Some(audio),
                },
                None,
            );
        }
        let (sink, feed) = CardSink::start(CardConfig {
            device: output.to_owned(),
            buffer_ms: 40,
            rt_priority,
            gain: audio.soft_gain(),
        });
        let sink = Arc::new(sink);
        audio.attach(Some(sink.clone()));
        (
            Self {
                sink: Some(sink),
                audio: Some(audio),
            },
            Some(Box::new(feed)),
        )
    }

    /// This build has no sound card: logs why a configured output is not played.
    #[cfg(not(feature = "soundcard"))]
    pub(crate) fn open(
        output: &str,
        _rt_priority: u8,
        audio: LocalAudio,
    ) -> (Self, Option<Box<dyn BlockSink>>) {
        if output != "none" {
            log::warn!(
                "[local] output = {output:?}, but this build has no sound card support (feature `soundcard`); the local mix is served over HTTP only"
            );
        }
        audio.attach();
        (Self { audio: Some(audio) }, None)
    }

    /// The local listener's volume and output control (`None`: no local listener).
    pub(crate) fn audio(&self) -> Option<&LocalAudio> {
        self.audio.as_ref()
    }

    /// The card's status as JSON (null without a card).
    #[cfg_attr(not(feature = "soundcard"), allow(clippy::unused_self))]
    pub(crate) fn status_json(&self) -> serde_json::Value {
        #[cfg(feature = "soundcard")]
        if let Some(s) = &self.sink {
            return serde_json::to_value(s.status()).unwrap_or_default();
        }
        serde_json::Value::Null
    }
}

/// The sound card for health and metrics.
#[cfg_attr(not(feature = "soundcard"), allow(dead_code))]
pub(crate) struct CardProbe(pub Card);

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
