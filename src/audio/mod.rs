//! The audio engine's sample side: decoded sources shared by all listeners, voices with
//! envelopes and pan, and the per-listener [`mix::Mixer`].
//!
//! ```text
//!  pcm (files, decoded once) ─┐
//!  live (HTTP beds, one ring) ─┼─► voice (envelope, pan, gain ramps) ─► mix (bus, limiter)
//!  mix: commands in, retired voices out; rt: sizes, sources, counters ─┘
//! ```
//!
//! Owns: samples and everything that touches them per frame. May not touch: the store,
//! playlist decisions, HTTP (`live` opens its streams through [`crate::net`]). `mix`,
//! `voice`, `rt` and the ring reads of `live` are real-time code (design.md §3.4): no
//! allocation, locks, logging or panics.

pub(crate) mod live;
pub mod mix;
pub(crate) mod pcm;
pub mod rt;
pub(crate) mod voice;

#[cfg(test)]
mod realtime_tests;

/// Streams this box serves itself (its broadcast channels), which a speaker whose `uri`
/// names one reads in-process instead of over HTTP to itself.
pub(crate) trait LocalStreams: Send + Sync {
    /// `None`: `url` is not one of this box's own streams (fetch it over HTTP); `Some(Err)`:
    /// it is, but cannot play now (the channel is idle), said why; `Some(Ok)`: its MP3 bytes
    /// as they go out, until it ends.
    fn open(&self, url: &str) -> Option<Result<Box<dyn std::io::Read + Send + Sync>, String>>;
}
