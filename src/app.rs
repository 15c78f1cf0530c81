//! The daemon's composition root: [`Daemon::start`] opens the data, builds every component
//! (the stream engine, the position source, the health registry and its probes, the shutdown
//! and reload hooks, the feeds, the upload service and its hook to the engine, the event
//! stream service) and hands them
//! ready-made to the HTTP layer; the local listener and the web pages are wired here too, so
//! no lower layer reaches up for them.
//!
//! Owns: start-up order, the tasks that live as long as the daemon (watchdog, SIGHUP reload,
//! limits pruner) and the shutdown sequence. May not touch: request handling, SQL, audio.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sd_notify::NotifyState;

use crate::broadcast::local::OwnChannels;
use crate::broadcast::{Broadcast, BroadcastProbe};
use crate::conductor::{AssetId, Engine, EngineConfig, EngineProbe, StreamId};
use crate::config::Config;
use crate::events::Events;
use crate::health::{DatabaseProbe, Health};
use crate::ingest::{Accepted, Ingest};
use crate::output::card::Card;
use crate::output::feed::Feeds;
use crate::position::{PositionProbe, PositionSource};
use crate::service::Lifecycle;
use crate::store::Store;
use crate::tiles::{Tiles, TilesProbe};
use crate::{api, backup, local_listener, media, service, store, web};

/// After SIGTERM, how long open requests may take before their connections are dropped; with
/// the final checkpoint the daemon exits within 2 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);

/// The most the final WAL checkpoint may take at shutdown (commits are durable without it).
const CHECKPOINT_DEADLINE: Duration = Duration::from_millis(300);

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data directory could not be prepared.
    #[error(
        "cannot prepare data directory {path}: {source} (set [storage] data_dir to a writable \
         folder, or give the roundwared user write access to it)"
    )]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error(
        "{0}. If the file is damaged, stop roundwared and restore a backup \
         (`roundwared restore BACKUP_DIR --force`); if it comes from a newer roundwared, install that version"
    )]
    Store(store::StoreError),
    /// Another roundwared (or a restore) is using the data directory.
    #[error(transparent)]
    Locked(#[from] backup::LockError),
    /// Fleet mode could not start (its nats-server is missing or too old).
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl From<store::StoreError> for RunError {
    fn from(e: store::StoreError) -> Self {
        Self::Store(e)
    }
}

/// A started daemon: the database is open and migrated, the HTTP port is bound.
pub struct Daemon {
    listener: api::conn::TunedListener,
    state: api::AppState,
    lifecycle: Lifecycle,
    database: Arc<DatabaseProbe>,
    /// The offline map tiles the pages draw (`[map] tiles`).
    tiles: Arc<Tiles>,
    _lock: backup::DataLock,
}

impl Daemon {
    /// Opens the store under `config.storage.data_dir` and binds `config.http.listen`.
    ///
    /// # Errors
    /// [`RunError`] naming the directory, database or address that failed.
    pub async fn start(config: Config) -> Result<Self, RunError> {
        let data_dir = config.storage.data_dir.clone();
        let media = config.storage.media_dir();
        std::fs::create_dir_all(&media).map_err(|source| RunError::DataDir {
            path: media,
            source,
        })?;
        let lock = backup::DataLock::acquire(&data_dir)?;
        let nats = if config.fleet.enabled {
            let client = crate::fleet::nats::connect(&config.fleet).await?;
            log::info!(
                "fleet mode: box {} ({:?}) on nats-server {} at {}",
                config.fleet.box_number,
                config.fleet.role,
                client.server_info().version,
                config.fleet.nats_url
            );
            Some(client)
        } else {
            None
        };
        let store = Store::open_with(
            &config.storage.database_path(),
            store::StoreOptions {
                // Fleet mode publishes from the outbox.
                events: config.events.enabled || config.fleet.enabled,
            },
        )?;
        if config.fleet.enabled {
            let number = config.fleet.box_number;
            store
                .write_quiet(move |tx| store::fleet::claim(tx, number))
                .await
                .map_err(|e| match e {
                    store::StoreError::Conflict { message, .. } => {
                        crate::fleet::FleetError::Claim { number, message }.into()
                    }
                    other => RunError::Store(other),
                })?;
        }
        media::sweep::at_start(&store, &config.storage.media_dir()).await;
        let listen = config.http.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RunError::Bind {
                addr: listen,
                source,
            })?;
        log::info!(
            "roundwared {} serving on {} with data in {}",
            env!("CARGO_PKG_VERSION"),
            listener.local_addr().unwrap_or(listen),
            data_dir.display()
        );
        let bound_port = listener.local_addr().map_or(listen.port(), |a| a.port());
        let listener = api::serve::capped_listener(listener, &config.http.connections);
        let config = Arc::new(config);
        let feeds = Feeds::default();
        let lifecycle = Lifecycle::new(config.clone());
        let broadcast = Broadcast::new(
            store.clone(),
            config.storage.media_dir(),
            &config.broadcast,
            lifecycle.shutdown.clone(),
        );
        // Speakers naming one of this box's channels read it in-process.
        let own: Arc<dyn crate::audio::LocalStreams> = Arc::new(OwnChannels::new(
            broadcast.clone(),
            bound_port,
            config.http.public_url.as_deref(),
        ));
        let engine = Engine::start(
            store.clone(),
            EngineConfig::from_config(&config),
            feeds.clone(),
            Some(own),
        );
        let position = PositionSource::start(&config.position);
        let health = Health::default();
        health.register(Arc::new(EngineProbe(engine.clone())));
        health.register(Arc::new(PositionProbe(position.clone())));
        let database = Arc::new(
            DatabaseProbe::new(store.clone(), data_dir)
                .with_reserve(config.storage.min_free_bytes()),
        );
        database.check().await;
        health.register_database(database.clone());
        health.register(Arc::new(BroadcastProbe(broadcast.clone())));
        let fleet = match nats {
            Some(client) => {
                let fleet = crate::fleet::start(
                    client,
                    store.clone(),
                    config.storage.media_dir(),
                    &config.fleet,
                    lifecycle.shutdown.clone(),
                )
                .await?;
                health.register(Arc::new(crate::fleet::status::FleetProbe(fleet.status())));
                if config.fleet.role == crate::config::FleetRole::Hub
                    && let Some(central) = config.fleet.central.clone()
                {
                    tokio::spawn(crate::bridge::run(
                        store.clone(),
                        config.clone(),
                        central,
                        fleet.status(),
                        lifecycle.shutdown.clone(),
                    ));
                }
                Some(fleet)
            }
            None => None,
        };
        let ingest = Arc::new(Ingest::new(
            store.clone(),
            &config,
            uploads_to_engine(engine.clone()),
        ));
        let events = Events::new(store.clone(), config.events.clone());
        // The outbox's retention runs in fleet mode too (it keeps what is not yet published).
        if config.events.enabled || config.fleet.enabled {
            events.start();
        }
        health.register(Arc::new(events.probe()));
        let tiles = Arc::new(Tiles::open(config.map.tiles.as_deref()));
        health.register(Arc::new(TilesProbe(tiles.clone())));
        let state = api::AppState::new(api::Components {
            broadcast,
            events,
            store,
            config,
            engine,
            feeds,
            health,
            position,
            card: Arc::new(OnceLock::new()),
            ingest,
            fleet,
        });
        Ok(Self {
            listener,
            state,
            lifecycle,
            database,
            tiles,
            _lock: lock,
        })
    }

    /// Starts the local listener when `[local] enabled`; a problem (no such project,
    /// listening disabled) is logged with the remedy and the daemon carries on without it.
    pub async fn start_local_listener(&self) {
        let s = &self.state;
        let card: Card =
            local_listener::start(&s.engine, &s.position, &s.health, &s.config.local, &s.store)
                .await;
        let _ = s.card.set(card);
    }

    /// The address actually bound (useful with port 0).
    ///
    /// # Errors
    /// Only if the socket has gone away.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The store (for seeding and inspection by tools and tests).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The live stream feeds served at `/stream<id>.mp3` (the engine registers its feeds here).
    pub fn feeds(&self) -> &Feeds {
        &self.state.feeds
    }

    /// The health registry, for components started beside the daemon.
    pub fn health(&self) -> &Health {
        &self.state.health
    }

    /// Serves until `shutdown` completes. Tells systemd `READY=1` first and runs the health /
    /// watchdog task and the SIGHUP reloader beside the server. On shutdown: `STOPPING=1`, the
    /// [`service::Lifecycle::shutdown`] token is cancelled (streams end), no new connections
    /// are accepted, open requests get [`SHUTDOWN_GRACE`], then the WAL is checkpointed.
    ///
    /// # Errors
    /// None so far: accept errors are retried and a failed connection ends only itself.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        let Self {
            listener,
            state,
            lifecycle,
            database,
            tiles,
            _lock,
        } = self;
        let token = lifecycle.shutdown.clone();
        tokio::spawn(service::watchdog_task(
            state.health.clone(),
            database,
            token.clone(),
        ));
        tokio::spawn(service::reload_on_sighup(
            state.config.source.clone(),
            lifecycle.clone(),
        ));
        // The position source follows a reloaded [position] without a restart.
        let mut reloads = lifecycle.subscribe_reloads();
        let position = state.position.clone();
        tokio::spawn(async move {
            while reloads.changed().await.is_ok() {
                let config = reloads.borrow_and_update().clone();
                log::info!(
                    "reload: [position] source is now {:?}",
                    config.position.source
                );
                position.reload(&config.position);
            }
        });
        api::limits::Limits::spawn_pruner(state.limits.clone(), token.clone());
        // Recordings cut off by a stop are finished; pull channels that were pulling pull again.
        state.broadcast.resume().await;
        let stop = token.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => {},
                () = stop.cancelled() => {},
            }
            service::notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
            stop.cancel();
        });
        let store = state.store.clone();
        let engine = state.engine.clone();
        let events = state.events.clone();
        let status = state.health.report().status_line();
        let connections = state.config.http.connections.clone();
        let broadcast = state.broadcast.clone();
        let pages = web::routes(state.config.http.home_project_id, tiles);
        let app = api::router(state, pages);
        service::notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
        // Stream bodies never end on their own: the engine stops (ending every body) as soon
        // as shutdown begins, so graceful shutdown does not wait on open streams. Connections
        // go through TunedListener (connection caps; a stream response can cap its socket's
        // send buffer) and api::serve (header-read timeout).
        let stopping = token.clone();
        let serve = api::serve::serve(listener, app, broadcast, &connections, async move {
            stopping.cancelled().await;
            // Event connections end too, each saving where its consumer got to.
            events.shutdown().await;
            tokio::task::spawn_blocking(move || engine.shutdown())
                .await
                .ok();
        });
        let result = tokio::select! {
            () = serve => Ok(()),
            () = async { token.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
                log::warn!(
                    "open requests did not finish within {} ms of the stop signal; closing them",
                    SHUTDOWN_GRACE.as_millis()
                );
                Ok(())
            }
        };
        match tokio::time::timeout(CHECKPOINT_DEADLINE, store.checkpoint()).await {
            Ok(Ok(())) => log::info!("database checkpointed; stopped"),
            Ok(Err(e)) => log::warn!("final checkpoint failed (commits are already durable): {e}"),
            Err(_) => log::warn!("final checkpoint still busy; leaving it to the next start"),
        }
        result
    }
}

/// The upload service's hook to the engine: the uploader hears a new recording next in their
/// own stream (reference-server §5 step 12). The engine is told on a task of its own, so an
/// upload's answer never waits for it.
fn uploads_to_engine(engine: Engine) -> Accepted {
    Box::new(move |asset| {
        if let Some(session_id) = asset.session_id {
            let (engine, asset_id) = (engine.clone(), asset.id);
            tokio::spawn(async move {
                engine
                    .uploaded(StreamId(session_id), AssetId(asset_id))
                    .await;
            });
        }
    })
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                log::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    log::info!("shutting down");
}
