//! roundwared: the Roundware server for a Raspberry-Pi-class box.
//!
//! ```text
//!  HTTP clients ──► api (axum, thin) ──► store (SQLite threads) ──revision──► caches, engine
//! ```
//!
//! The library holds everything; `main.rs` only parses the command line, builds the real
//! configuration and calls into here. Module map (data flows left to right):
//! [`config`] → [`store`] ← [`api`]; [`output`] (MP3 encoder, stream feeds) → [`api`];
//! [`telemetry`] sets up logging.

pub mod api;
pub mod audio;
pub mod conductor;
pub mod config;
pub mod demo;
pub mod media;
pub mod output;
pub mod playlist;
pub mod position;
pub mod spatial;
pub mod store;
pub mod telemetry;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use config::Config;
use store::Store;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data directory could not be prepared.
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// A started daemon: the database is open and migrated, the HTTP port is bound.
pub struct Daemon {
    listener: tokio::net::TcpListener,
    state: api::AppState,
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
        let store = Store::open(&config.storage.database_path())?;
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
        Ok(Self {
            listener,
            state: api::AppState::new(store, Arc::new(config)),
        })
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
    pub fn feeds(&self) -> &output::feed::Feeds {
        &self.state.feeds
    }

    /// Serves until `shutdown` completes, then stops accepting, closes every stream feed (so
    /// open stream bodies end) and lets open requests finish.
    ///
    /// Connections are accepted through [`api::conn::TunedListener`] so a stream response
    /// can cap its socket's send buffer.
    ///
    /// # Errors
    /// [`RunError::Serve`] if the server fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        let engine = self.state.engine.clone();
        #[cfg(unix)]
        let reloader = tokio::spawn(reload_on_sighup(
            self.state.config.source.clone(),
            self.state.position.clone(),
        ));
        let app = api::router(self.state);
        let listener = api::conn::TunedListener::new(self.listener);
        // Stream bodies never end on their own: stop the engine (which ends every body) as
        // soon as shutdown begins, so graceful shutdown does not wait on open streams.
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<api::conn::ConnTuning>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tokio::task::spawn_blocking(move || engine.shutdown())
                .await
                .ok();
        })
        .await
        .map_err(RunError::Serve);
        #[cfg(unix)]
        reloader.abort();
        served
    }
}

/// On SIGHUP, re-reads the config file and applies the sections that can change while
/// running (today `[position]`); a bad file is logged and the running settings are kept.
#[cfg(unix)]
async fn reload_on_sighup(path: Option<std::path::PathBuf>, position: position::PositionSource) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cannot listen for SIGHUP: {e}");
            return;
        }
    };
    while hup.recv().await.is_some() {
        let Some(path) = &path else {
            log::warn!("SIGHUP: no config file to re-read (built-in defaults)");
            continue;
        };
        match Config::load(path) {
            Ok(config) => {
                log::info!("SIGHUP: reloading [position] from {}", path.display());
                position.reload(&config.position);
            }
            Err(e) => log::error!("SIGHUP: keeping the running settings: {e}"),
        }
    }
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
