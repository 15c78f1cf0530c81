//! `[broadcast]`: broadcast channels (the Livepeer stream API). Parsed into
//! [`BroadcastConfig`].
//!
//! Owns: the keys, their defaults and messages. May not touch: channels themselves.

use serde::Deserialize;

/// The longest clip buffer a box keeps per channel or stream, in seconds.
pub(super) const MAX_CLIP_BUFFER_S: u32 = 600;

/// `[broadcast]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastConfig {
    /// Seconds of each live channel kept for clips (0: no clips of channels).
    pub clip_buffer_s: u32,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        Self { clip_buffer_s: 120 }
    }
}

/// The raw `[broadcast]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBroadcast {
    clip_buffer_s: u32,
}

impl Default for RawBroadcast {
    fn default() -> Self {
        Self { clip_buffer_s: 120 }
    }
}

impl RawBroadcast {
    /// The keys, validated.
    pub(super) fn validate(&self) -> Result<BroadcastConfig, (&'static str, String)> {
        clip_buffer("broadcast.clip_buffer_s", self.clip_buffer_s)?;
        Ok(BroadcastConfig {
            clip_buffer_s: self.clip_buffer_s,
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
            RawBroadcast::default().validate().unwrap().clip_buffer_s,
            120
        );
        let (key, why) = RawBroadcast { clip_buffer_s: 601 }.validate().unwrap_err();
        assert_eq!(key, "broadcast.clip_buffer_s");
        assert!(why.contains("600"), "{why}");
    }
}
