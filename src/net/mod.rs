//! The box's outgoing HTTP: one shared client (reqwest, rustls) for everything the box fetches
//! from elsewhere: the live speaker streams [`crate::audio`]'s pullers read, broadcast
//! channels' pull sources ([`fetch`]) and their pushes to Icecast targets ([`push`]).
//!
//! ```text
//!  audio::live puller ─► fetch::open_audio(url, headers) ─► AudioBody { reader, container }
//!                            └─ one blocking client (lazy): connect 10 s, idle read 10 s,
//!                               no total deadline (a live stream never ends), ≤ 5 redirects
//! ```
//!
//! Owns: building requests, timeouts, redirects, TLS, and judging whether an answer is audio
//! the box can decode. May not touch: the store, the engine, listeners, the HTTP server —
//! it hands back bytes and leaves decoding and playing to its callers.

pub(crate) mod fetch;
pub(crate) mod push;

#[cfg(test)]
mod fetch_tests;
#[cfg(test)]
pub(crate) mod loopback;
