//! The sound-card sink of the local listener: a cpal (ALSA) output stream fed from an rtrb
//! ring that the local listener's render thread fills at 44.1 kHz, resampled to the device
//! rate with a drift-compensating ratio (`drift`), reopened with back-off when the device is
//! missing or vanishes.
//!
//! Threads: the caller's render thread owns the [`CardFeed`] (producer, never blocks); a
//! supervisor thread owns the cpal `Stream` (it is not `Send`), opens, watches and reopens it,
//! and logs state changes with the device name (one line when the device is missing, one when
//! it is back, never one per retry; alsa-lib's own messages on that thread go to our log at
//! debug level through `asound::Quiet`); cpal's callback runs `callback::CardCallback`
//! (real time: no allocation, locks or logging). [`CardSink`] is the control handle: status,
//! switching to another device live ([`CardSink::set_device`]) and, on drop, shutdown. The
//! software gain is applied by the render thread's [`CardFeed`] (`feed.rs`).
//!
//! Owns: the device, its format and buffer, the ring, resampling, fault handling. May not
//! touch: the mixer, the renderer's pacing, HTTP, the store.

mod callback;
mod drift;
mod feed;
mod open;
#[cfg(test)]
mod tests;

pub(crate) use feed::CardFeed;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::asound::Quiet;
use super::gain::SoftGain;
use super::sched::Promotion;
use callback::{CardCallback, Meters, RING_MS, TARGET_FILL_MS, frames_in_ms};
use open::{CallbackSlot, OpenError, failure_text, open};

/// Largest card buffer accepted (larger requests are clamped): fades must stay responsive.
pub(crate) const MAX_BUFFER_MS: u32 = 40;
/// First wait before reopening a missing or failed device; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between reopen attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the supervisor looks at the stream's fault flag and the xrun counter.
const WATCH: Duration = Duration::from_millis(100);
/// Xruns are logged at most this often (with the count since the last line).
const XRUN_LOG_EVERY: Duration = Duration::from_secs(10);

/// Which sound card, how much buffer, and the software gain its feed applies.
#[derive(Debug, Clone)]
pub(crate) struct CardConfig {
    /// ALSA/cpal device name: `"default"`, `"hw:CARD=Device,DEV=0"`, `"plughw:1,0"`…, or
    /// `"none"` for no sound card at all.
    pub device: String,
    /// Device buffer in ms (two periods), at most [`MAX_BUFFER_MS`].
    pub buffer_ms: u32,
    /// `SCHED_FIFO` priority for the callback thread (1–99), 0 to leave it alone.
    pub rt_priority: u8,
    /// The software gain the render thread's feed ramps to (unity with a hardware mixer).
    pub gain: SoftGain,
}

/// What the control handle tells the supervisor (dropping the sender stops it).
#[derive(Debug)]
enum Control {
    /// Close the current device and play on this one instead (`"none"`: no device).
    Reopen(String),
}

/// What the sink is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CardState {
    /// Device `"none"`: no card thread.
    Disabled,
    /// The first open is under way.
    Starting,
    /// The stream runs.
    Playing,
    /// The device does not exist (yet): retried with back-off.
    WaitingForDevice,
    /// The device exists but failed to open or failed while playing: retried with back-off.
    Error,
    /// The sink was dropped.
    Stopped,
}

impl CardState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Disabled,
            1 => Self::Starting,
            2 => Self::Playing,
            3 => Self::WaitingForDevice,
            4 => Self::Error,
            _ => Self::Stopped,
        }
    }
}

/// A snapshot for the status route and the tests.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct CardStatus {
    /// State of the sink.
    pub state: CardState,
    /// The configured device name.
    pub device: String,
    /// Human-readable state, naming the device (`"waiting for device hw:CARD=X,DEV=0"`).
    pub summary: String,
    /// The last open or stream error, if any since the last successful open.
    pub last_error: Option<String>,
    /// Rate the device runs at (0 before the first open).
    pub device_rate_hz: u32,
    /// Sample format on the wire to the device (`"f32"`, `"i16"`), empty before the first open.
    pub sample_format: String,
    /// Device buffer the stream asked for, in ms.
    pub card_buffer_ms: u32,
    /// Audio waiting in the ring between the renderer and the callback, in ms.
    pub buffer_fill_ms: f64,
    /// Target of that fill, in ms.
    pub target_fill_ms: u32,
    /// ALSA xruns reported by cpal (recovered).
    pub xruns: u64,
    /// Callbacks that found the ring empty (silence played instead).
    pub underruns: u64,
    /// Frames the renderer pushed that did not fit in the ring (dropped).
    pub dropped_frames: u64,
    /// Times the ring was over-full and the sink skipped ahead.
    pub resyncs: u64,
    /// Successful opens after the first (device came back, or recovered from an error).
    pub reopens: u64,
    /// Drift correction: input frames consumed per nominal frame (1 ± 0.005).
    pub resample_ratio: f64,
    /// Largest absolute sample of the latest callback (0..1), for a meter.
    pub peak: f32,
    /// Device frames written since start, silence included.
    pub device_frames: u64,
    /// Scheduling of the callback thread (`"SCHED_FIFO priority 20"`, or why it is normal).
    pub callback_scheduling: String,
    /// Mean time the callback spends per call, in % of the device period.
    pub callback_load_mean_pct: f64,
    /// Longest time the callback spent in one call, in % of the device period.
    pub callback_load_max_pct: f64,
}

/// State shared by the handle, the feed, the supervisor and the callbacks.
#[derive(Debug, Default)]
struct Shared {
    state: AtomicU8,
    meters: Arc<Meters>,
    xruns: AtomicU64,
    dropped_frames: AtomicU64,
    reopens: AtomicU64,
    /// Set by cpal's error callback when the stream is dead (not for xruns): the
    /// [`failure_text`] code of what cpal reported, 0 while the stream is fine.
    stream_failed: AtomicU8,
    /// How the callback thread is scheduled.
    promotion: Promotion,
    /// Written by the supervisor only (never by a callback).
    details: Mutex<Details>,
}

#[derive(Debug, Default)]
struct Details {
    /// The device played on (or waited for) now.
    device: String,
    last_error: Option<String>,
    device_rate_hz: u32,
    sample_format: String,
    card_buffer_ms: u32,
}

impl Shared {
    fn set_state(&self, s: CardState) {
        self.state.store(s as u8, Relaxed);
    }

    fn details(&self) -> std::sync::MutexGuard<'_, Details> {
        self.details.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Control handle of the sink; dropping it stops the stream and the supervisor.
pub(crate) struct CardSink {
    shared: Arc<Shared>,
    control: Option<mpsc::Sender<Control>>,
    thread: Option<JoinHandle<()>>,
}

impl CardSink {
    /// Opens the device on its own thread and returns the producer. A missing device is not
    /// an error: it is retried with back-off and reported in [`CardSink::status`]. Device
    /// `"none"` starts no thread; its feed accepts nothing.
    pub(crate) fn start(config: CardConfig) -> (CardSink, CardFeed) {
        let shared = Arc::new(Shared::default());
        shared.details().device.clone_from(&config.device);
        if config.device == "none" {
            shared.set_state(CardState::Disabled);
            let sink = CardSink {
                shared: shared.clone(),
                control: None,
                thread: None,
            };
            let feed = CardFeed::new(None, shared, config.gain);
            return (sink, feed);
        }
        shared.set_state(CardState::Starting);
        let (producer, consumer) = rtrb::RingBuffer::new(frames_in_ms(RING_MS) * 2);
        let callback = CardCallback::new(consumer, shared.meters.clone());
        let (stop_tx, stop_rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("soundcard".into())
            .spawn(move || supervise(thread_config, callback, &thread_shared, &stop_rx));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                log::error!("sound card {}: cannot start its thread: {e}", config.device);
                shared.set_state(CardState::Error);
                shared.details().last_error = Some(format!("cannot start thread: {e}"));
                None
            }
        };
        let sink = CardSink {
            shared: shared.clone(),
            control: Some(stop_tx),
            thread,
        };
        let feed = CardFeed::new(Some(producer), shared, config.gain);
        (sink, feed)
    }

    /// Plays on `device` from now on: the current stream closes and the new device opens
    /// (or is waited for, with back-off) on the supervisor thread; `"none"` stops playing.
    /// Returns false when this sink started without a device (its render thread has no ring
    /// to feed) and cannot switch live.
    pub(crate) fn set_device(&self, device: &str) -> bool {
        match &self.control {
            Some(tx) => tx.send(Control::Reopen(device.to_owned())).is_ok(),
            None => false,
        }
    }

    /// A snapshot of state, device, buffer fill and counters.
    pub(crate) fn status(&self) -> CardStatus {
        let s = &self.shared;
        let m = &s.meters;
        let state = CardState::from_u8(s.state.load(Relaxed));
        let d = s.details();
        let device = &d.device;
        let summary = match state {
            CardState::Disabled => "no sound card (device \"none\")".to_string(),
            CardState::Starting => format!("opening {device}"),
            CardState::Playing => format!("playing on {device}"),
            CardState::WaitingForDevice => format!("waiting for device {device}"),
            CardState::Error => format!(
                "error on {device}: {}",
                d.last_error.as_deref().unwrap_or("unknown")
            ),
            CardState::Stopped => format!("stopped ({device})"),
        };
        CardStatus {
            state,
            device: device.clone(),
            summary,
            last_error: d.last_error.clone(),
            device_rate_hz: d.device_rate_hz,
            sample_format: d.sample_format.clone(),
            card_buffer_ms: d.card_buffer_ms,
            buffer_fill_ms: f64::from(m.fill_frames.load(Relaxed)) * 1000.0
                / f64::from(crate::audio::pcm::RATE_HZ),
            target_fill_ms: TARGET_FILL_MS,
            xruns: s.xruns.load(Relaxed),
            underruns: m.underruns.load(Relaxed),
            dropped_frames: s.dropped_frames.load(Relaxed),
            resyncs: m.resyncs.load(Relaxed),
            reopens: s.reopens.load(Relaxed),
            resample_ratio: f64::from_bits(m.ratio_bits.load(Relaxed)),
            peak: f32::from_bits(m.peak_bits.load(Relaxed)),
            device_frames: m.device_frames.load(Relaxed),
            callback_scheduling: s.promotion.describe(),
            callback_load_mean_pct: m.load.mean_pct(),
            callback_load_max_pct: m.load.max_pct(),
        }
    }
}

impl Drop for CardSink {
    fn drop(&mut self) {
        // Dropping the sender wakes the supervisor at once.
        self.control.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if self.shared.state.load(Relaxed) != CardState::Disabled as u8 {
            self.shared.set_state(CardState::Stopped);
        }
    }
}

/// The supervisor loop: open, watch, reopen with back-off (or on another device when told),
/// until the handle is dropped.
fn supervise(
    mut config: CardConfig,
    callback: CardCallback,
    shared: &Arc<Shared>,
    control: &mpsc::Receiver<Control>,
) {
    let mut quiet = Quiet::install();
    let slot: CallbackSlot = Arc::new(Mutex::new(Some(callback)));
    let mut backoff = FIRST_BACKOFF;
    let mut opened_once = false;
    // Whether "not found" was logged since the device last played: one line while it is
    // missing, one when it is back, never one per retry.
    let mut missing_logged = false;
    let mut last_logged: Option<(CardState, String)> = None;
    let switch_to = |config: &mut CardConfig, device: String| {
        log::info!("sound card: switching from {} to {device}", config.device);
        shared.details().device.clone_from(&device);
        config.device = device;
    };
    loop {
        if config.device == "none" {
            shared.set_state(CardState::Disabled);
            match control.recv() {
                Ok(Control::Reopen(device)) => {
                    switch_to(&mut config, device);
                    continue;
                }
                Err(_) => return,
            }
        }
        let name = config.device.clone();
        shared.stream_failed.store(0, Relaxed);
        let result = open(&config, &slot, shared);
        quiet.flush(&name);
        match result {
            Ok(opened) => {
                if opened_once {
                    shared.reopens.fetch_add(1, Relaxed);
                }
                opened_once = true;
                backoff = FIRST_BACKOFF;
                {
                    let mut d = shared.details();
                    d.last_error = None;
                    d.device_rate_hz = opened.rate_hz;
                    d.sample_format = opened.format.to_string();
                    d.card_buffer_ms = opened.buffer_ms;
                }
                shared.set_state(CardState::Playing);
                let back = if missing_logged { "back: " } else { "" };
                log::info!(
                    "sound card {name}: {back}playing at {} Hz, {}, {} ms buffer",
                    opened.rate_hz,
                    opened.format,
                    opened.buffer_ms
                );
                missing_logged = false;
                last_logged = None;
                let outcome = watch(&name, shared, control);
                drop(opened);
                quiet.flush(&name);
                match outcome {
                    Watched::Stop => return,
                    Watched::Reopen(device) => {
                        switch_to(&mut config, device);
                        opened_once = false;
                        continue;
                    }
                    Watched::Failed => {}
                }
                let msg = format!(
                    "the stream failed: {}",
                    failure_text(shared.stream_failed.load(Relaxed))
                );
                shared.set_state(CardState::Error);
                shared.details().last_error = Some(msg.clone());
                log::warn!("sound card {name}: {msg}; reopening");
                last_logged = Some((CardState::Error, msg));
            }
            Err(e) => {
                let state = if e.is_missing() {
                    CardState::WaitingForDevice
                } else {
                    CardState::Error
                };
                let msg = e.to_string();
                shared.set_state(state);
                shared.details().last_error = Some(msg.clone());
                if state == CardState::WaitingForDevice {
                    if !missing_logged {
                        log::warn!(
                            "sound card {name}: not found ({msg}); the local mix plays as soon as \
                             it appears (checked every 1-{} s, not logged again). Check that the \
                             card is plugged in and that `roundwared devices` lists {name:?}, or \
                             choose another [local] output",
                            MAX_BACKOFF.as_secs()
                        );
                        missing_logged = true;
                    }
                } else {
                    let entry = (state, msg);
                    if last_logged.as_ref() != Some(&entry) {
                        log::error!(
                            "sound card {name}: cannot open: {}; retrying with back-off",
                            entry.1
                        );
                        last_logged = Some(entry);
                    }
                }
                if matches!(e, OpenError::CallbackLost) {
                    return;
                }
                match control.recv_timeout(backoff) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(Control::Reopen(device)) => {
                        switch_to(&mut config, device);
                        backoff = FIRST_BACKOFF;
                        missing_logged = false;
                        last_logged = None;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How watching a playing stream ended.
enum Watched {
    /// The handle was dropped.
    Stop,
    /// The stream failed (the device vanished or broke).
    Failed,
    /// The handle asked for another device.
    Reopen(String),
}

/// Waits while the stream plays; logs xruns now and then, and the callback thread's
/// scheduling once known, until told to stop or switch, or the stream fails.
fn watch(name: &str, shared: &Shared, control: &mpsc::Receiver<Control>) -> Watched {
    let mut xruns_logged = shared.xruns.load(Relaxed);
    let mut last_xrun_log = Instant::now();
    let mut scheduling_logged = false;
    loop {
        match control.recv_timeout(WATCH) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(Control::Reopen(device)) => return Watched::Reopen(device),
            Err(RecvTimeoutError::Disconnected) => return Watched::Stop,
        }
        if shared.stream_failed.load(Relaxed) != 0 {
            return Watched::Failed;
        }
        if !scheduling_logged && shared.promotion.settled() {
            scheduling_logged = true;
            let text = shared.promotion.describe();
            if shared.promotion.refused() {
                log::warn!("sound card {name}: callback thread runs {text}");
            } else {
                log::info!("sound card {name}: callback thread runs {text}");
            }
        }
        let xruns = shared.xruns.load(Relaxed);
        if xruns > xruns_logged && last_xrun_log.elapsed() >= XRUN_LOG_EVERY {
            log::warn!(
                "sound card {name}: {} xrun(s) recovered ({xruns} in all)",
                xruns - xruns_logged
            );
            xruns_logged = xruns;
            last_xrun_log = Instant::now();
        }
    }
}
