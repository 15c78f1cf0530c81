//! `[broadcast]`: broadcast channels (the Livepeer stream API). Parsed into
//! [`BroadcastConfig`].
//!
//! Owns: the keys, their defaults and messages. May not touch: channels themselves.

use serde::Deserialize;

/// The longest clip buffer a box keeps per channel or stream, in seconds.
pub(super) const MAX_CLIP_BUFFER_S: u32 = 600;

/// The longest a channel's relay may gather its source's pieces, in milliseconds.
pub(super) const MAX_RELAY_HOLD_MS: u32 = 500;

/// `[broadcast]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastConfig {
    /// Seconds of each live channel kept for clips (0: no clips of channels).
    pub clip_buffer_s: u32,
    /// How long a channel with many listeners gathers its source's pieces before writing
    /// them to each listener at once (0: never gathers); see `output::fanout`.
    pub relay_hold_ms: u32,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        Self {
            clip_buffer_s: 120,
            relay_hold_ms: 120,
        }
    }
}

/// The raw `[broadcast]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBroadcast {
    clip_buffer_s: u32,
    relay_hold_ms: u32,
}

impl Default for RawBroadcast {
    fn default() -> Self {
        let d = BroadcastConfig::default();
        Self {
            clip_buffer_s: d.clip_buffer_s,
            relay_hold_ms: d.relay_hold_ms,
        }
    }
}

impl RawBroadcast {
    /// The keys, validated.
    pub(super) fn validate(&self) -> Result<BroadcastConfig, (&'static str, String)> {
        clip_buffer("broadcast.clip_buffer_s", self.clip_buffer_s)?;
        if self.relay_hold_ms > MAX_RELAY_HOLD_MS {
            return Err((
                "broadcast.relay_hold_ms",
                format!(
                    "{} ms is more than the {MAX_RELAY_HOLD_MS} ms a relay may hold audio back",
                    self.relay_hold_ms
                ),
            ));
        }
        Ok(BroadcastConfig {
            clip_buffer_s: self.clip_buffer_s,
            relay_hold_ms: self.relay_hold_ms,
        })
    }
}

/// Checks a `clip_buffer_s` key.
pub(super) fn clip_buffer(key: &'static str, s: u32) -> Result<(), (&'static str, String)> {
    if s > MAX_CLIP_BUFFER_S {
        return Err((
            key,
            format!("{s} s is more than the {MAX_CLIP_BUFFER_S} s a box keeps for clips"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_buffer_over_ten_minutes_is_refused_naming_the_key() {
        assert_eq!(
            RawBroadcast::default().validate().unwrap(),
            BroadcastConfig::default()
        );
        let raw = RawBroadcast {
            clip_buffer_s: 601,
            ..RawBroadcast::default()
        };
        let (key, why) = raw.validate().unwrap_err();
        assert_eq!(key, "broadcast.clip_buffer_s");
        assert!(why.contains("600"), "{why}");
    }

    #[test]
    fn a_relay_hold_over_half_a_second_is_refused_naming_the_key() {
        let raw = RawBroadcast {
            relay_hold_ms: 501,
            ..RawBroadcast::default()
        };
        let (key, why) = raw.validate().unwrap_err();
        assert_eq!(key, "broadcast.relay_hold_ms");
        assert!(why.contains("500 ms"), "{why}");
    }
}
