//! roundwared: the Roundware server for a Raspberry-Pi-class box.
//!
//! The library holds everything; `main.rs` only parses the command line, builds the real
//! configuration and calls into here ([`Daemon::start`], then [`Daemon::run`]).
//!
//! # Layout
//!
//! ```text
//!  HTTP clients ─► api ─► store (SQLite threads) ──revision──► caches, conductor
//!  api, GPS ─► conductor (one control state per listener) ─► playlist + spatial (pure rules)
//!            ─► audio (mixer, over lock-free rings) ─► output (MP3 feeds, sound card)
//! ```
//!
//! Floors, each using only those below it: `app` (the composition root: builds every component
//! and hands them to the others) · [`api`], [`local_listener`], [`web`] · [`conductor`] ·
//! [`ingest`], [`output`], [`playlist`], [`spatial`], [`position`], [`service`], [`health`],
//! [`backup`], [`demo`], [`tiles`], [`bridge`], [`fleet`] · [`audio`], [`store`], [`media`], [`users`] · [`config`],
//! [`geometry`], [`telemetry`], [`http_headers`], [`net`]. [`health`] is the seam every
//! component reports through (`/healthz`, `/metrics`, the watchdog); [`ingest`] is the upload
//! service (checks, conversion, commit; it tells the engine through a hook `app` wires);
//! [`service`] speaks to systemd and holds the shutdown and reload hooks; [`backup`] makes and
//! restores online copies of the data; [`web`] embeds the visitor page and the curator console;
//! [`tiles`] reads the offline map tiles the pages draw under the zones; [`net`] is the box's
//! outgoing HTTP client (live speaker streams, broadcast pulls and pushes); [`fleet`] shares
//! the catalogue with the venue's other boxes over NATS JetStream (the outbox out, the venue
//! catalogue in, through the store); [`bridge`] imports a project from another server's api/2
//! (`roundwared import`, and the fleet hub's pulls from a central server).
//!
//! # Real time
//!
//! Two entry points are hard real time (design.md §3.4): [`audio::mix::Mixer::render`] and
//! the sound card's fill (`output::soundcard`'s callback state, run by cpal's data callback).
//! Nothing reachable from them allocates, frees, locks, blocks, logs or panics. What crosses
//! the boundary: the mixer's command queue in and retire queue out (`rtrb` rings of boxed
//! voices, built and dropped on the control side; see [`audio::rt`]), the card's sample
//! ring, shared decoded sources behind `Arc`s that the control side keeps alive, and atomics
//! for every counter and meter. Unit tests run both entry points under a counting allocator
//! (`audio::realtime_tests`, and the card's tests) and fail on any allocation or free.
//!
//! Soft real time, and exempt from the rule above: the render threads
//! ([`output::render`]) that pace a mixer, encode MP3 and publish to a feed, including the
//! local listener's, which runs at `SCHED_FIFO` one below the card and keeps the card's ring
//! topped up ahead of it (see that module for why its encode stays on that thread). They
//! take ICY titles from a lock-free queue ([`output::titles`]) and allocate only for the MP3
//! chunks they publish.

// The crate documentation is for contributors and is built with `--document-private-items`
// (CI does): it links the private modules it describes.
#![allow(rustdoc::private_intra_doc_links)]

mod api;
mod app;
mod audio;
pub mod backup;
mod bridge;
mod broadcast;
mod conductor;
pub mod config;
mod demo;
mod events;
mod fleet;
mod geometry;
mod health;
mod http_headers;
mod ingest;
mod local_listener;
mod media;
mod net;
mod output;
mod playlist;
mod position;
mod service;
mod spatial;
mod store;
pub mod telemetry;
mod tiles;
mod users;
mod web;

pub use app::{Daemon, RunError, SHUTDOWN_GRACE, shutdown_signal};
pub use bridge::{BridgeError, import as import_project};
pub use demo::seed_if_empty;
pub use fleet::init::{
    InitError as FleetInitError, InitOptions as FleetInitOptions, init as fleet_init,
};
pub use fleet::join::join as fleet_join;
pub use fleet::report::status_report as fleet_status_report;
#[cfg(feature = "soundcard")]
pub use output::asound::devices::{OutputDevice, list_outputs};
pub use users::add_user_blocking;

/// Internals the integration tests and benchmarks drive directly (the mixer with a real
/// decoder, a feed with a tone, a store opened beside a daemon), under the paths they have
/// in this crate. Not part of the supported surface: it may change with any release.
#[doc(hidden)]
pub mod testing {
    /// See `crate::audio`.
    pub mod audio {
        pub use crate::audio::{mix, rt};
    }
    /// See `crate::conductor`.
    pub mod conductor {
        pub use crate::conductor::{sources, stream};
    }
    /// See `crate::geometry`.
    pub mod geometry {
        pub use crate::geometry::boundary;
    }
    /// See `crate::health`.
    pub mod health {
        pub use crate::health::{ComponentState, Health, Probe};
    }
    /// See `crate::media`.
    pub mod media {
        pub use crate::media::{decode, encode};
    }
    /// See `crate::output`.
    pub mod output {
        pub use crate::output::{feed, mp3, sched, titles, tone};
    }
    /// See `crate::playlist`.
    pub mod playlist {
        pub use crate::playlist::{Listener, Playlist, Position};
    }
    /// See `crate::store`.
    pub mod store {
        pub use crate::store::{Store, catalog, users};
    }
    /// See `crate::users`.
    pub mod users {
        pub use crate::users::hash_password;
    }
}

/// The unit tests' allocator: the system allocator, counting every allocation and free a
/// thread makes inside `assert_no_alloc` (the real-time boundary tests).
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

/// Property tests' settings: 256 cases each, and a failing case saved next to the test's
/// source (`<file>.proptest-regressions`, to be committed) rather than in a folder at the top of
/// the repository.
#[cfg(test)]
pub(crate) fn proptest_config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..proptest::test_runner::Config::default()
    }
}
