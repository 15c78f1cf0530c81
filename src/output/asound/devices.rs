//! The ALSA outputs this box knows, for `roundwared devices` and the console's output choice:
//! alsa-lib's device-name hints (`snd_device_name_hint`, what `aplay -L` prints: the cards'
//! PCMs and those defined in `asound.conf`/`~/.asoundrc`), each with its description and the
//! hardware mixer element the volume would move, if any.
//!
//! Owns: enumeration and the "does ALSA know this name" check. May not touch: the running
//! stream (a check never opens a PCM that is listed, so a playing card is not disturbed).

use serde::Serialize;

use super::mixer::HwMixer;

/// What `default` is, when the configuration does not say.
const DEFAULT_DESCRIPTION: &str = "The default ALSA output";

/// One playback PCM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputDevice {
    /// The PCM name, usable as `[local] output`.
    pub name: String,
    /// alsa-lib's description (card and device), one line.
    pub description: String,
    /// The mixer element the volume would move (`"Master on hw:CARD=X"`); `None`: software gain.
    pub hardware_mixer: Option<String>,
}

/// The playback PCMs ALSA lists, `default` first (added when the configuration lists none),
/// with `mixer_control` as the preferred mixer element.
pub fn list_outputs(mixer_control: Option<&str>) -> Vec<OutputDevice> {
    let mut quiet = super::Quiet::install();
    let out = outputs(mixer_control);
    quiet.flush("devices");
    out
}

fn outputs(mixer_control: Option<&str>) -> Vec<OutputDevice> {
    let mut out: Vec<OutputDevice> = Vec::new();
    if let Ok(hints) = alsa::device_name::HintIter::new_str(None, "pcm") {
        for h in hints {
            if h.direction == Some(alsa::Direction::Capture) {
                continue;
            }
            let Some(name) = h.name else { continue };
            if out.iter().any(|d| d.name == name) {
                continue;
            }
            let mut description = h
                .desc
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if description.is_empty() {
                description = if name == "default" {
                    DEFAULT_DESCRIPTION.into()
                } else {
                    "(no description in the ALSA configuration)".into()
                };
            }
            out.push(OutputDevice {
                hardware_mixer: mixer_of(&name, mixer_control),
                name,
                description,
            });
        }
    }
    if !out.iter().any(|d| d.name == "default") {
        out.insert(
            0,
            OutputDevice {
                name: "default".into(),
                description: DEFAULT_DESCRIPTION.into(),
                hardware_mixer: mixer_of("default", mixer_control),
            },
        );
    } else if let Some(i) = out.iter().position(|d| d.name == "default") {
        let d = out.remove(i);
        out.insert(0, d);
    }
    out
}

/// `"Element on ctl"` when `output` has a hardware mixer element.
fn mixer_of(output: &str, mixer_control: Option<&str>) -> Option<String> {
    HwMixer::find(output, mixer_control)
        .ok()
        .map(|m| format!("{} on {}", m.element, m.ctl))
}

/// Whether ALSA knows `name` as a playback PCM: listed by [`list_outputs`], `"none"` (no
/// card), or a name alsa-lib can open (`plughw:1,0` is valid without being listed; a busy
/// device exists).
pub(crate) fn is_known_output(name: &str) -> bool {
    if name == "none" || name == "default" {
        return true;
    }
    let mut quiet = super::Quiet::install();
    let known = known(name);
    quiet.flush("devices");
    known
}

fn known(name: &str) -> bool {
    if name.trim().is_empty() || name.contains('\0') || name.len() > 200 {
        return false;
    }
    if let Ok(hints) = alsa::device_name::HintIter::new_str(None, "pcm")
        && hints
            .filter(|h| h.direction != Some(alsa::Direction::Capture))
            .any(|h| h.name.as_deref() == Some(name))
    {
        return true;
    }
    match alsa::PCM::new(name, alsa::Direction::Playback, true) {
        Ok(_) => true,
        // alsa-lib answers -EBUSY when the device exists and someone (perhaps this daemon)
        // is playing on it.
        Err(e) => e.errno().abs() == EBUSY,
    }
}

/// `EBUSY` on Linux.
const EBUSY: i32 = 16;
