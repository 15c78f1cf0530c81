//! The box's volume and output as the rest of the daemon sees them ([`LocalAudio`]): the
//! current choice, and applying it on a small `volume` thread of its own, so no ALSA call runs
//! on the async runtime. The volume goes to the card's hardware mixer element when it has one
//! (`asound::mixer`, the software gain then stays at unity), else to the software gain that the
//! card's feed ramps to (`gain`). After the card comes back (a USB card replugged starts with
//! its own mixer level) or the output changes, the volume is applied again.
//!
//! Builds with and without the `soundcard` feature: without it there is no card and the volume
//! is only remembered. Owns: the choice and the volume thread. May not touch: the store (the
//! caller saves choices), the card's stream (it asks `CardSink` to switch), HTTP.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::gain::{SoftGain, volume_to_gain};
use crate::config::LocalConfig;
use crate::store::settings::{LOCAL_OUTPUT, LOCAL_VOLUME, Setting};
use crate::store::{Store, StoreError};

/// How long a caller waits for the volume thread to report what a change did.
#[cfg(feature = "soundcard")]
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How often the volume thread looks at the card's state, to put the volume back on a card
/// that came back (a replugged card starts at its own level: keep that moment short).
#[cfg(feature = "soundcard")]
const CARD_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// The volume and output now, for the API and the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AudioStatus {
    /// The volume, 0–100.
    pub volume: u8,
    /// The chosen output (ALSA PCM name, or `"none"`).
    pub output: String,
    /// What the volume moves: `"mixer"` (the card's element), `"software"` (a gain on the
    /// mix before the card) or `"none"` (no card: only remembered).
    pub volume_via: &'static str,
    /// The hardware element in use (`"Master on hw:CARD=Device"`).
    pub mixer: Option<String>,
    /// Why the hardware mixer is not used, when it is not.
    pub mixer_note: Option<String>,
    /// Whether a change of output applies at once (`false`: on the next restart, because the
    /// box started without a sound card).
    pub output_applies_live: bool,
}

/// Handle on the box's volume and output; cheap to clone.
#[derive(Clone)]
pub(crate) struct LocalAudio {
    inner: Arc<Inner>,
}

struct Inner {
    soft: SoftGain,
    #[cfg_attr(not(feature = "soundcard"), allow(dead_code))]
    mixer_control: Option<String>,
    status: Mutex<AudioStatus>,
    #[cfg(feature = "soundcard")]
    worker: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    #[cfg(feature = "soundcard")]
    sink: Mutex<Option<Arc<super::soundcard::CardSink>>>,
}

/// A request to the volume thread: apply the current choice, then answer (if anyone waits).
#[cfg(feature = "soundcard")]
struct Job(Option<tokio::sync::oneshot::Sender<()>>);

impl LocalAudio {
    /// The volume control for `output` at `volume` (0–100); `mixer_control` names the
    /// hardware element to prefer. The software gain starts where it will stay, so the first
    /// sound is at the right level: unity when `output` has a hardware mixer (probed here, so
    /// call this off the async runtime), else the volume's gain.
    pub(crate) fn new(volume: u8, output: &str, mixer_control: Option<String>) -> Self {
        #[cfg(feature = "soundcard")]
        let hardware = output != "none" && {
            let mut quiet = super::asound::Quiet::install();
            let found = super::asound::mixer::HwMixer::find(output, mixer_control.as_deref());
            quiet.flush(output);
            found.is_ok()
        };
        #[cfg(not(feature = "soundcard"))]
        let hardware = false;
        let gain = if hardware {
            1.0
        } else {
            volume_to_gain(volume)
        };
        Self {
            inner: Arc::new(Inner {
                soft: SoftGain::new(gain),
                mixer_control,
                status: Mutex::new(AudioStatus {
                    volume,
                    output: output.to_owned(),
                    volume_via: "none",
                    mixer: None,
                    mixer_note: None,
                    output_applies_live: false,
                }),
                #[cfg(feature = "soundcard")]
                worker: Mutex::new(None),
                #[cfg(feature = "soundcard")]
                sink: Mutex::new(None),
            }),
        }
    }

    /// The software gain the card's feed follows.
    #[cfg(feature = "soundcard")]
    pub(crate) fn soft_gain(&self) -> SoftGain {
        self.inner.soft.clone()
    }

    /// The volume and output now.
    pub(crate) fn status(&self) -> AudioStatus {
        self.inner.lock_status().clone()
    }

    /// Starts applying the volume to `sink`'s output (its hardware mixer or the software
    /// gain), now and whenever it changes or the card comes back.
    #[cfg(feature = "soundcard")]
    pub(crate) fn attach(&self, sink: Option<Arc<super::soundcard::CardSink>>) {
        self.inner.lock_status().output_applies_live = sink.is_some();
        *self.inner.sink.lock().unwrap_or_else(|e| e.into_inner()) = sink;
        let (tx, rx) = std::sync::mpsc::channel();
        // Weak: the thread must not keep the card (and itself) alive once the handles are gone.
        let inner = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("volume".into())
            .spawn(move || volume_thread(&inner, &rx));
        match spawned {
            Ok(_) => {
                let _ = tx.send(Job(None));
                *self.inner.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
            }
            Err(e) => log::error!("cannot start the volume thread: {e}; the volume stays as it is"),
        }
    }

    /// Remembers the choice in a build without a sound card (nothing to apply).
    #[cfg(not(feature = "soundcard"))]
    pub(crate) fn attach(&self) {
        self.inner.soft.set(volume_to_gain(self.status().volume));
    }

    /// Sets the volume (0–100, clamped) and waits briefly until it is applied.
    pub(crate) async fn set_volume(&self, volume: u8) -> AudioStatus {
        self.inner.lock_status().volume = volume.min(100);
        self.apply().await;
        self.status()
    }

    /// Plays on `output` from now on when the card permits it (see
    /// [`AudioStatus::output_applies_live`]), else from the next start; the volume follows.
    pub(crate) async fn set_output(&self, output: &str) -> AudioStatus {
        self.inner.lock_status().output = output.to_owned();
        #[cfg(feature = "soundcard")]
        {
            let sink = self
                .inner
                .sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let live = sink.is_some_and(|s| s.set_device(output));
            self.inner.lock_status().output_applies_live = live;
        }
        self.apply().await;
        self.status()
    }

    /// Whether ALSA knows `output` as a playback PCM (`"none"` always; without the
    /// `soundcard` feature only `"none"` and `"default"`).
    pub(crate) async fn knows_output(&self, output: &str) -> bool {
        #[cfg(feature = "soundcard")]
        {
            let name = output.to_owned();
            tokio::task::spawn_blocking(move || super::asound::devices::is_known_output(&name))
                .await
                .unwrap_or(false)
        }
        #[cfg(not(feature = "soundcard"))]
        {
            matches!(output, "none" | "default")
        }
    }

    /// The ALSA outputs as a JSON array of `{name, description, hardware_mixer}` (empty
    /// without the `soundcard` feature).
    pub(crate) async fn outputs(&self) -> serde_json::Value {
        #[cfg(feature = "soundcard")]
        {
            let mixer_control = self.inner.mixer_control.clone();
            let list = tokio::task::spawn_blocking(move || {
                super::asound::devices::list_outputs(mixer_control.as_deref())
            })
            .await
            .unwrap_or_default();
            serde_json::to_value(list).unwrap_or_default()
        }
        #[cfg(not(feature = "soundcard"))]
        {
            serde_json::Value::Array(Vec::new())
        }
    }

    /// Asks the volume thread to apply the current choice and waits for it (bounded).
    async fn apply(&self) {
        #[cfg(feature = "soundcard")]
        {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let sent = self
                .inner
                .worker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|w| w.send(Job(Some(tx))).is_ok());
            if sent {
                let _ = tokio::time::timeout(APPLY_WAIT, rx).await;
                return;
            }
        }
        let volume = self.status().volume;
        self.inner.soft.set(volume_to_gain(volume));
    }
}

impl Inner {
    fn lock_status(&self) -> std::sync::MutexGuard<'_, AudioStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The volume thread: applies on request, and again when the card starts playing after not
/// playing (first open, back after unplugging, a new output), until the handle is gone.
#[cfg(feature = "soundcard")]
fn volume_thread(inner: &std::sync::Weak<Inner>, jobs: &std::sync::mpsc::Receiver<Job>) {
    use std::sync::mpsc::RecvTimeoutError;

    use super::soundcard::CardState;

    let mut quiet = super::asound::Quiet::install();
    let mut was_playing = false;
    loop {
        let reply = match jobs.recv_timeout(CARD_CHECK) {
            Ok(Job(reply)) => Some(reply),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let playing = inner
            .sink
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|s| s.status().state == CardState::Playing);
        let came_back = playing && !was_playing;
        was_playing = playing;
        if reply.is_none() && !came_back {
            continue;
        }
        apply_now(&inner);
        quiet.flush("volume");
        if let Some(Some(tx)) = reply {
            let _ = tx.send(());
        }
    }
}

/// Applies the current volume to the output's hardware mixer, or to the software gain.
#[cfg(feature = "soundcard")]
fn apply_now(inner: &Inner) {
    use super::asound::mixer::HwMixer;

    let AudioStatus { volume, output, .. } = inner.lock_status().clone();
    let gain = volume_to_gain(volume);
    let (via, mixer, note) = if output == "none" {
        inner.soft.set(gain);
        (
            "none",
            None,
            Some("no sound card (output \"none\")".to_owned()),
        )
    } else {
        match HwMixer::find(&output, inner.mixer_control.as_deref())
            .and_then(|m| m.set_volume(volume).map(|()| m))
        {
            Ok(m) => {
                inner.soft.set(1.0);
                ("mixer", Some(format!("{} on {}", m.element, m.ctl)), None)
            }
            Err(e) => {
                inner.soft.set(gain);
                ("software", None, Some(e.to_string()))
            }
        }
    };
    let mut status = inner.lock_status();
    if status.volume_via != via || status.mixer != mixer {
        match (&mixer, &note) {
            (Some(m), _) => log::info!("local volume {volume}: through the card's mixer, {m}"),
            (None, Some(n)) if via == "software" && inner.mixer_control.is_some() => log::warn!(
                "local volume {volume}: [local] mixer_control {:?} not usable ({n}); using a software gain",
                inner.mixer_control.as_deref().unwrap_or_default()
            ),
            (None, Some(n)) if via == "software" => {
                log::info!("local volume {volume}: software gain (no hardware mixer: {n})");
            }
            _ => {}
        }
    }
    status.volume_via = via;
    status.mixer = mixer;
    status.mixer_note = note;
}

/// Choices made in the console, applied and saved so they survive restarts.
impl LocalAudio {
    /// Sets the box's volume (0–100) and saves the choice so it survives restarts.
    ///
    /// # Errors
    /// [`StoreError`] if the choice cannot be saved (it is applied all the same).
    pub(crate) async fn choose_volume(
        &self,
        store: &Store,
        local: &LocalConfig,
        volume: u8,
    ) -> Result<AudioStatus, StoreError> {
        let status = self.set_volume(volume).await;
        let setting = Setting {
            value: status.volume.to_string(),
            config_value: local.volume.to_string(),
        };
        store.save_setting(LOCAL_VOLUME, setting).await?;
        Ok(status)
    }

    /// Plays on `output` (live when the card permits, else from the next start) and saves the
    /// choice. The caller checked that ALSA knows the name.
    ///
    /// # Errors
    /// [`StoreError`] if the choice cannot be saved.
    pub(crate) async fn choose_output(
        &self,
        store: &Store,
        local: &LocalConfig,
        output: &str,
    ) -> Result<AudioStatus, StoreError> {
        let status = self.set_output(output).await;
        let setting = Setting {
            value: output.to_owned(),
            config_value: local.output.clone(),
        };
        store.save_setting(LOCAL_OUTPUT, setting).await?;
        Ok(status)
    }
}
