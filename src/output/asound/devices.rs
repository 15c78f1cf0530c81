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
/// card), or a card's device in the usual forms (`plughw:1,0`, `hw:CARD=Device,DEV=0`,
/// `sysdefault:CARD=Device`…) for a card that exists, which alsa-lib does not list.
///
/// Nothing is opened to find out: an ALSA PCM name can be a whole inline definition (a `file`
/// plugin writing wherever the name says, a `ladspa` plugin loading a library…), so a name
/// from a request is only compared, never handed to `snd_pcm_open`.
pub(crate) fn is_known_output(name: &str) -> bool {
    if name == "none" || name == "default" {
        return true;
    }
    if name.trim().is_empty() || name.contains('\0') || name.len() > 200 {
        return false;
    }
    let mut quiet = super::Quiet::install();
    let known = listed(name) || card_device(name).is_some_and(card_exists);
    quiet.flush("devices");
    known
}

fn listed(name: &str) -> bool {
    alsa::device_name::HintIter::new_str(None, "pcm").is_ok_and(|mut hints| {
        hints.any(|h| {
            h.direction != Some(alsa::Direction::Capture) && h.name.as_deref() == Some(name)
        })
    })
}

/// The plugins a card's devices are opened through, by name.
const CARD_PLUGINS: [&str; 8] = [
    "hw",
    "plughw",
    "sysdefault",
    "front",
    "dmix",
    "iec958",
    "hdmi",
    "surround51",
];

/// The card of a `plugin:CARD[,DEV[,SUBDEV]]` name (with or without `CARD=`/`DEV=`), when
/// `name` has that shape and nothing else.
pub(crate) fn card_device(name: &str) -> Option<&str> {
    let (plugin, args) = name.split_once(':')?;
    if !CARD_PLUGINS.contains(&plugin) {
        return None;
    }
    let mut parts = args.split(',');
    let card = parts.next()?;
    let card = card.strip_prefix("CARD=").unwrap_or(card);
    let card_ok = !card.is_empty()
        && card.len() <= 32
        && card
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let rest_ok = parts.all(|p| {
        let n = p
            .strip_prefix("DEV=")
            .or_else(|| p.strip_prefix("SUBDEV="))
            .unwrap_or(p);
        !n.is_empty() && n.len() <= 3 && n.chars().all(|c| c.is_ascii_digit())
    });
    (card_ok && rest_ok).then_some(card)
}

/// Whether a sound card with this index or id exists now.
fn card_exists(card: &str) -> bool {
    std::ffi::CString::new(card).is_ok_and(|c| alsa::card::Card::from_str(&c).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_device_names_are_recognised_and_anything_else_is_not() {
        assert_eq!(card_device("plughw:1,0"), Some("1"));
        assert_eq!(card_device("hw:CARD=Headphones,DEV=0"), Some("Headphones"));
        assert_eq!(card_device("sysdefault:CARD=Device"), Some("Device"));
        assert_eq!(card_device("file:FILE=/etc/passwd"), None);
        assert_eq!(card_device("hw:0,0,FILE=x"), None);
        assert_eq!(card_device("plug:'hw:0'"), None);
        assert_eq!(card_device("hw:../x"), None);
        assert_eq!(card_device("boxout"), None);
    }

    #[test]
    fn an_inline_plugin_definition_is_not_a_known_output() {
        assert!(!is_known_output(
            "file:FILE=/tmp/roundwared-should-not-exist,FORMAT=raw"
        ));
        assert!(!std::path::Path::new("/tmp/roundwared-should-not-exist").exists());
        assert!(is_known_output("none"));
    }
}
