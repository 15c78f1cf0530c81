//! The card's hardware volume through ALSA's simple mixer: which control device belongs to an
//! output ([`ctl_for_output`]), which element to move ([`choose_element`]: the configured one,
//! else `Master`, `PCM`, `Speaker`, `Headphone`, else the first with a playback volume), and
//! moving it to a 0–100 volume ([`HwMixer::set_volume`]): over the element's dB range when it
//! has one (the same law as the software gain, `gain::volume_to_db`), else linearly over its
//! raw range, in small steps a few ms apart so a big change is a short ramp and not a click.
//!
//! Runs on the volume thread or the `devices` command, never on an audio thread. Owns: the
//! mixer handle while it sets a volume. May not touch: the PCM stream, the software gain.

use std::time::Duration;

use alsa::Round;
use alsa::mixer::{MilliBel, Mixer, Selem, SelemChannelId, SelemId};

use crate::output::gain::{VOLUME_RANGE_DB, volume_to_db};

/// Elements tried in this order when none is configured.
const PREFERRED_ELEMENTS: [&str; 4] = ["Master", "PCM", "Speaker", "Headphone"];
/// Steps of a hardware volume change, and the pause between them (a 45 ms ramp: a full swing
/// moves about 4 dB per step).
const RAMP_STEPS: i64 = 16;
const RAMP_STEP_PAUSE: Duration = Duration::from_millis(3);

/// Why the hardware mixer cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MixerError {
    /// The control device does not open (no such card, or a PCM without a control device).
    #[error("no mixer on {ctl}: {source}")]
    Open {
        /// The control device tried.
        ctl: String,
        /// What alsa-lib said.
        source: alsa::Error,
    },
    /// The control device has no element with a playback volume (or not the configured one).
    #[error("{ctl} has no playback volume control{}", .wanted.as_ref().map(|w| format!(" named {w:?}")).unwrap_or_default())]
    NoElement {
        /// The control device.
        ctl: String,
        /// The configured element, if one was configured.
        wanted: Option<String>,
    },
    /// Setting the volume failed.
    #[error("cannot set {element} on {ctl}: {source}")]
    Set {
        /// The control device.
        ctl: String,
        /// The element.
        element: String,
        /// What alsa-lib said.
        source: alsa::Error,
    },
}

/// The control device of an ALSA output: `hw:CARD=X` for `…:CARD=X,…`, `hw:N` for `hw:N,M`,
/// `plughw:N`…, and the output's own name otherwise (`default`, or a PCM defined with a
/// control device of the same name).
pub(crate) fn ctl_for_output(output: &str) -> String {
    if let Some(at) = output.find("CARD=") {
        let card = output[at + 5..].split(',').next().unwrap_or_default();
        return format!("hw:CARD={card}");
    }
    if let Some((_, args)) = output.split_once(':') {
        let card = args.split(',').next().unwrap_or_default();
        if !card.is_empty() && card.chars().all(|c| c.is_ascii_digit()) {
            return format!("hw:{card}");
        }
    }
    output.to_owned()
}

/// A mixer element as [`choose_element`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Its name.
    pub name: String,
    /// Whether it has a playback volume.
    pub playback_volume: bool,
}

/// The element to move: `wanted` if given (and it has a playback volume), else the first of
/// [`PREFERRED_ELEMENTS`] present, else the first with a playback volume.
pub(crate) fn choose_element<'a>(
    elements: &'a [Candidate],
    wanted: Option<&str>,
) -> Option<&'a Candidate> {
    let usable = || elements.iter().filter(|e| e.playback_volume);
    if let Some(w) = wanted {
        return usable().find(|e| e.name == w);
    }
    PREFERRED_ELEMENTS
        .iter()
        .find_map(|p| usable().find(|e| e.name == *p))
        .or_else(|| usable().next())
}

/// The hardware volume of one output: its control device and the element chosen there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HwMixer {
    /// The control device (`hw:CARD=X`).
    pub ctl: String,
    /// The element moved (`Master`).
    pub element: String,
}

impl HwMixer {
    /// Finds the element for `output` (`wanted`: the configured `[local] mixer_control`).
    ///
    /// # Errors
    /// [`MixerError::Open`] when there is no control device, [`MixerError::NoElement`] when
    /// it has no (such) playback volume.
    pub(crate) fn find(output: &str, wanted: Option<&str>) -> Result<Self, MixerError> {
        let ctl = ctl_for_output(output);
        if ctl.contains('\0') || wanted.is_some_and(|w| w.contains('\0')) {
            // alsa's CString conversions would panic on an inner NUL.
            return Err(MixerError::NoElement {
                ctl,
                wanted: wanted.map(str::to_owned),
            });
        }
        let mixer = Mixer::new(&ctl, false).map_err(|source| MixerError::Open {
            ctl: ctl.clone(),
            source,
        })?;
        let elements: Vec<Candidate> = mixer
            .iter()
            .filter_map(Selem::new)
            .filter_map(|s| {
                let id = s.get_id();
                let name = id.get_name().ok()?.to_owned();
                (id.get_index() == 0).then(|| Candidate {
                    name,
                    playback_volume: s.has_playback_volume(),
                })
            })
            .collect();
        match choose_element(&elements, wanted) {
            Some(c) => Ok(Self {
                ctl,
                element: c.name.clone(),
            }),
            None => Err(MixerError::NoElement {
                ctl,
                wanted: wanted.map(str::to_owned),
            }),
        }
    }

    /// Moves the element to `volume` (0–100) in [`RAMP_STEPS`] steps; 0 also turns its
    /// playback switch off (when it has one), anything else on.
    ///
    /// # Errors
    /// [`MixerError`] naming the device and element.
    pub(crate) fn set_volume(&self, volume: u8) -> Result<(), MixerError> {
        let set_err = |source| MixerError::Set {
            ctl: self.ctl.clone(),
            element: self.element.clone(),
            source,
        };
        let mixer = Mixer::new(&self.ctl, false).map_err(|source| MixerError::Open {
            ctl: self.ctl.clone(),
            source,
        })?;
        let selem = mixer
            .find_selem(&SelemId::new(&self.element, 0))
            .ok_or_else(|| MixerError::NoElement {
                ctl: self.ctl.clone(),
                wanted: Some(self.element.clone()),
            })?;
        let target = raw_for_volume(&selem, volume);
        let from = selem
            .get_playback_volume(SelemChannelId::FrontLeft)
            .unwrap_or(target);
        if volume > 0 && selem.has_playback_switch() {
            selem.set_playback_switch_all(1).map_err(set_err)?;
        }
        for step in 1..=RAMP_STEPS {
            let raw = from + (target - from) * step / RAMP_STEPS;
            selem.set_playback_volume_all(raw).map_err(set_err)?;
            if step < RAMP_STEPS && from != target {
                std::thread::sleep(RAMP_STEP_PAUSE);
            }
        }
        if volume == 0 && selem.has_playback_switch() {
            selem.set_playback_switch_all(0).map_err(set_err)?;
        }
        Ok(())
    }
}

/// The element's raw value for `volume`: the top [`VOLUME_RANGE_DB`] of its dB range mapped
/// like the software gain, or its raw range linearly when it states no dB.
fn raw_for_volume(selem: &Selem<'_>, volume: u8) -> i64 {
    let (min, max) = selem.get_playback_volume_range();
    let (min_mb, max_mb) = selem.get_playback_db_range();
    if max_mb.0 > min_mb.0 {
        let Some(db) = volume_to_db(volume) else {
            return min;
        };
        let floor_mb = (max_mb.0 - (VOLUME_RANGE_DB * 100.0) as i64).max(min_mb.0);
        let want_mb = (max_mb.0 + (db * 100.0) as i64).max(floor_mb);
        return selem
            .ask_playback_db_vol(MilliBel(want_mb), Round::Floor)
            .unwrap_or(max)
            .clamp(min, max);
    }
    min + (max - min) * i64::from(volume.min(100)) / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(name: &str, playback_volume: bool) -> Candidate {
        Candidate {
            name: name.into(),
            playback_volume,
        }
    }

    #[test]
    fn a_card_output_is_controlled_through_its_card() {
        assert_eq!(
            ctl_for_output("hw:CARD=Headphones,DEV=0"),
            "hw:CARD=Headphones"
        );
        assert_eq!(ctl_for_output("sysdefault:CARD=Device"), "hw:CARD=Device");
        assert_eq!(ctl_for_output("plughw:1,0"), "hw:1");
        assert_eq!(ctl_for_output("hw:0"), "hw:0");
        assert_eq!(ctl_for_output("default"), "default");
        assert_eq!(ctl_for_output("boxvol"), "boxvol");
    }

    #[test]
    fn master_is_preferred_then_pcm_speaker_headphone_then_the_first_with_a_volume() {
        let els = [el("Capture", false), el("Headphone", true), el("PCM", true)];
        assert_eq!(choose_element(&els, None).unwrap().name, "PCM");
        let els = [el("Mic", false), el("Digital", true)];
        assert_eq!(choose_element(&els, None).unwrap().name, "Digital");
        let els = [el("Master", false), el("Speaker", true)];
        assert_eq!(choose_element(&els, None).unwrap().name, "Speaker");
        assert_eq!(choose_element(&[el("Mic", false)], None), None);
    }

    #[test]
    fn a_configured_element_is_used_and_never_swapped_for_another() {
        let els = [el("Master", true), el("Box Volume", true)];
        assert_eq!(
            choose_element(&els, Some("Box Volume")).unwrap().name,
            "Box Volume"
        );
        assert_eq!(choose_element(&els, Some("Speaker")), None);
    }
}
