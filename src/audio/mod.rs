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
