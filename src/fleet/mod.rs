//! Fleet mode: many boxes of one venue sharing one catalogue over NATS JetStream
//! (`../shared/spec/fleet.md`, issue 17).
//!
//! So far: the connection to this box's own nats-server and the version guard ([`nats`]).
//! The publisher, apply loop, media fetch, hub and bridge come next (see fleet.md §3.8).
//!
//! Owns: everything that talks to NATS. May not touch: SQL (the store's), the mixer, HTTP.

pub(crate) mod nats;

/// Why fleet mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// This box's nats-server could not be reached.
    #[error(
        "fleet mode: cannot reach this box's nats-server at {url} ([fleet] nats_url): {reason} \
         (is roundwared-nats.service running?)"
    )]
    Unreachable {
        /// `[fleet] nats_url`.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// The database cannot become this box's (another box's, or rows to renumber first).
    #[error("fleet mode: [fleet] box = {number}: {message}")]
    Claim {
        /// `[fleet] box`.
        number: u32,
        /// Why, from the store.
        message: String,
    },
    /// The server is older than `[fleet] min_nats_server`.
    #[error(
        "fleet mode: the nats-server at {url} is version {found}, older than [fleet] \
         min_nats_server = \"{min}\" (older servers lose media on a flapping link); install the \
         nats-server the roundwared package ships, or a newer one"
    )]
    TooOld {
        /// `[fleet] nats_url`.
        url: String,
        /// The server's version as it announced it.
        found: String,
        /// `[fleet] min_nats_server`.
        min: crate::config::ServerVersion,
    },
}
