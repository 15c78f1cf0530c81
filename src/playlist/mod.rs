//! What a listener hears next: the reference server's candidate list, proximity playlist,
//! ordering, bans, timed assets and blocks (reference-server §7.2–7.5, §7.10), as pure
//! functions of a [`catalog::Catalog`] snapshot, the listener's request and `now`.
//!
//! Owns: per-listener selection state. May not touch: clocks (time is a parameter), audio,
//! the network.

pub mod catalog;
