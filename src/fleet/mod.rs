//! Fleet mode: many boxes of one venue sharing one catalogue over NATS JetStream
//! (`../shared/spec/fleet.md`, issue 17).
//!
//! The data flow: a change made here → the event outbox (same transaction) → [`publish`]
//! (the box's own stream and media bucket, local) → the hub's `CATALOGUE` (sourced over the
//! leaf link) → every box's mirror of it → [`apply`] (media fetched, then the row and its
//! position in one transaction). [`nats`] connects and checks the server's version,
//! [`streams`] names and creates the streams, [`registry`] claims box numbers and keeps the
//! hub's sources in step, [`audit`] puts back files the hub's copy lacks, [`view`] gathers
//! where the box stands for the API, the console and [`report`]. The commands: [`init`]
//! (writes `[fleet]`, `nats.conf` and the systemd drop-in), [`join`], [`report`] (`fleet
//! status`). The hub's pulls from a central server are `crate::bridge`'s.
//!
//! Owns: everything that talks to NATS. May not touch: SQL (the store's `fleet` module), the
//! mixer, HTTP.

pub(crate) mod apply;
pub(crate) mod audit;
pub(crate) mod init;
pub(crate) mod join;
pub(crate) mod nats;
pub(crate) mod publish;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod status;
pub(crate) mod streams;
pub(crate) mod telemetry;
pub(crate) mod view;

use std::path::PathBuf;
use std::sync::Arc;

use async_nats::jetstream;
use tokio_util::sync::CancellationToken;

use crate::config::{FleetConfig, FleetRole};
use crate::store::Store;
pub(crate) use status::Status;
use streams::Origin;

/// What the fleet's tasks share.
#[derive(Clone)]
pub(crate) struct Shared {
    store: Store,
    media_dir: PathBuf,
    origin: Origin,
    is_hub: bool,
    media_workers: usize,
    status: Arc<Status>,
    shutdown: CancellationToken,
}

/// Fleet mode running on this box: what the daemon's start keeps for `/healthz`, `/metrics`
/// and `GET /api/2/fleet/`.
#[derive(Clone)]
pub(crate) struct Fleet {
    status: Arc<Status>,
    store: Store,
    local: jetstream::Context,
    hub: jetstream::Context,
    number: u32,
    is_hub: bool,
}

impl Fleet {
    /// The counters and problems the fleet's tasks report.
    pub(crate) fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// Where this box stands now: its status, its position in the database and its streams'
    /// and the hub's state (each question bounded by [`view::ASK`]).
    pub(crate) async fn view(&self) -> view::View {
        let (position, links) = tokio::join!(
            self.store.read(crate::store::fleet::position),
            view::gather(&self.local, &self.hub, self.number, self.is_hub),
        );
        // A database that cannot be read now shows in /healthz; the view keeps the rest.
        let position = position.unwrap_or_default();
        view::View::new(self.status.snapshot(), position, links)
    }
}

/// Creates this box's streams and starts the publisher, the apply loop and registration
/// (on the hub: the registry's reconcile instead). Returns what the API shows.
///
/// # Errors
/// [`FleetError::Stream`] when the box's own nats-server refuses a stream, or the database
/// has not been claimed.
pub(crate) async fn start(
    client: async_nats::Client,
    store: Store,
    media_dir: PathBuf,
    config: &FleetConfig,
    shutdown: CancellationToken,
) -> Result<Fleet, FleetError> {
    let (number, uid) = store
        .read(crate::store::fleet::identity)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| FleetError::Stream("the database has not joined the fleet".into()))?;
    let is_hub = config.role == FleetRole::Hub;
    if config.media_fetch == crate::config::MediaFetch::Lazy {
        log::warn!(
            "fleet: [fleet] media_fetch = \"lazy\" is not built yet; media are fetched as they \
             arrive"
        );
    }
    let origin = if is_hub {
        Origin::hub()
    } else {
        Origin::of_box(number)
    };
    let local = jetstream::new(client.clone());
    let hub = jetstream::with_domain(client, &config.hub_domain);
    // The hub's catalogue is set up with every registered box: an update naming none would
    // drop every source until the registry's watch added them back.
    let registered = if is_hub {
        registry::registered(&local, number).await
    } else {
        Vec::new()
    };
    let bucket = if is_hub {
        streams::ensure_hub(&local, &registered).await?
    } else {
        streams::ensure_box(&local, &origin, &config.hub_domain).await?
    };
    let status = Arc::new(Status::new(number, is_hub));
    let fleet = Fleet {
        status: status.clone(),
        store: store.clone(),
        local: local.clone(),
        hub: hub.clone(),
        number,
        is_hub,
    };
    let shared = Shared {
        store,
        media_dir,
        origin,
        is_hub,
        media_workers: usize::try_from(config.media_workers).unwrap_or(1),
        status,
        shutdown,
    };
    if !is_hub {
        // The hub's own bucket is the venue's copy: nothing to compare it with.
        tokio::spawn(audit::run(
            shared.clone(),
            bucket.clone(),
            local.clone(),
            hub.clone(),
            number,
            std::time::Duration::from_secs(u64::from(config.audit_s)),
        ));
    }
    tokio::spawn(publish::run(shared.clone(), local.clone(), bucket));
    tokio::spawn(apply::run(shared.clone(), local.clone(), hub.clone()));
    if is_hub {
        tokio::spawn(telemetry::run(shared.clone(), local.clone()));
        tokio::spawn(registry::reconcile(
            shared.clone(),
            local,
            number,
            registered,
        ));
    }
    // The hub registers too: its number is then nobody else's.
    tokio::spawn(registry::register(shared, hub, number, uid));
    Ok(fleet)
}

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
    /// The box's own nats-server refused a stream or bucket.
    #[error("fleet mode: this box's nats-server: {0}")]
    Stream(String),
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
