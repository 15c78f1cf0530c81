//! The HTTP/1 server loop in place of `axum::serve`, which has no timeouts: connections come
//! from [`TunedListener`] (connection caps), each is served by hyper's HTTP/1 connection
//! builder with a timer and `[http] header_read_timeout_s`, each request carries
//! `ConnectInfo<ConnTuning>` for the handlers and has its body paced ([`super::slow_body`]).
//! Also raises the process's open-file limit.
//!
//! **Header-read timeout.** hyper starts it when it begins reading a request head: when the
//! connection opens, and again after each response on a keep-alive connection. A client that
//! trickles its head, or never sends one, or sits idle between requests is disconnected when
//! it runs out. It is not running while a response is being written, so a `/stream<id>.mp3`
//! answer (HTTP/1.0, close-delimited, endless) is never cut by it; request bodies are paced by
//! [`super::slow_body`].
//!
//! **Shutdown.** When `shutdown` completes the listener is closed and every connection is told
//! to finish its current response and close ([`GracefulShutdown`]); the caller bounds the wait.
//!
//! Owns: the accept loop, the HTTP/1 settings, the open-file limit. May not touch: routing,
//! handlers.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::conn::{TunedListener, TunedStream};
use super::listen;
use super::slow_body::{self, BodyPace};
use crate::broadcast::{Broadcast, ingest};
use crate::config::ConnectionConfig;

/// File descriptors kept free of the connection cap for the database, media files, the
/// sound card, GPS and logging.
pub(crate) const RESERVED_FDS: u64 = 256;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (systemd starts services at a soft 1,024)
/// and returns the soft limit now in force, when it is known.
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // "Unlimited" is not a valid file limit on Linux; the kernel's nr_open default is 2^20.
    let hard = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|soft| soft < hard) {
        let raised = Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            log::warn!("cannot raise the open-file limit to {hard}: {e}");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The connection cap that fits under `open_files` (the soft limit), keeping
/// [`RESERVED_FDS`] free; `None` when the configured cap fits.
pub(crate) fn connection_cap_for(configured: u32, open_files: Option<u64>) -> Option<usize> {
    let fits = open_files?.saturating_sub(RESERVED_FDS).max(16);
    (u64::from(configured) > fits).then_some(fits as usize)
}

/// Raises the open-file limit and wraps `listener` with the connection caps of `[http]`,
/// lowered (with a warning) when the open-file limit is too small for them.
pub(crate) fn capped_listener(listener: TcpListener, c: &ConnectionConfig) -> TunedListener {
    let open_files = raise_open_file_limit();
    let mut max = c.max_connections as usize;
    if let Some(fits) = connection_cap_for(c.max_connections, open_files) {
        log::warn!(
            "the open-file limit ({}) leaves room for {fits} connections, not [http] \
             max_connections = {max}; serving at most {fits} (raise LimitNOFILE= to lift it)",
            open_files.unwrap_or_default()
        );
        max = fits;
    }
    let per_ip = (c.max_connections_per_ip as usize).min(max);
    log::info!(
        "serving at most {max} connections, {per_ip} per client address; open-file limit {}",
        open_files.map_or("unknown".into(), |n| n.to_string())
    );
    TunedListener::new(listener, max, per_ip)
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish.
/// A connection that opens with an Icecast source request goes to `broadcast`'s ingest.
pub(crate) async fn serve(
    mut listener: TunedListener,
    app: Router,
    broadcast: Broadcast,
    settings: &ConnectionConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(settings.header_read_timeout_s));
    let pace = BodyPace::from(settings);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tuning = io.tuning(peer);
        let tuning_for_listeners = tuning.clone();
        let app = app.clone();
        let app_for_listeners = app.clone();
        let service = hyper::service::service_fn(move |req: axum::http::Request<Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(tuning.clone()));
            let (req, tripped) = slow_body::pace(req, pace);
            let answered = app.clone().oneshot(req);
            async move {
                let response = answered.await?;
                Ok::<_, Infallible>(slow_body::answer(response, tripped.as_deref(), pace))
            }
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let broadcast = broadcast.clone();
        let head_timeout = Duration::from_secs(settings.header_read_timeout_s);
        let listen = (app_for_listeners.clone(), tuning_for_listeners);
        tokio::spawn(async move {
            // One allowance for the whole head, however it is read.
            let head_deadline = tokio::time::Instant::now() + head_timeout;
            let io = match opening(&io, head_deadline).await {
                Opening::Source => {
                    ingest::serve(io, peer, broadcast, head_timeout).await;
                    return;
                }
                Opening::Listener => {
                    let (app, tuning) = listen;
                    match listen::serve(io, tuning, app, head_deadline).await {
                        Some(io) => io,
                        None => return,
                    }
                }
                Opening::Other => io,
            };
            let conn = watcher.watch(builder.serve_connection(TokioIo::new(io), service));
            if let Err(e) = conn.await {
                log::debug!("connection from {peer} ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// What a connection opens with.
enum Opening {
    /// An Icecast source request (`SOURCE`, `PUT /live/`): ingest's.
    Source,
    /// A stream request (`GET /live/`, `GET /stream`): [`listen`]'s first, then hyper's.
    Listener,
    /// Anything else, an early close or a silent client: hyper's (its header-read timeout
    /// deals with the silent one).
    Other,
}

/// Reads the connection's first bytes without consuming them.
async fn opening(io: &TunedStream, deadline: tokio::time::Instant) -> Opening {
    let mut first = [0u8; 16];
    loop {
        let peeked = tokio::time::timeout_at(deadline, io.peek(&mut first)).await;
        let Ok(Ok(n @ 1..)) = peeked else {
            return Opening::Other;
        };
        let first = &first[..n];
        match (
            ingest::is_source_request(first),
            listen::is_listener_request(first),
        ) {
            (Some(true), _) => return Opening::Source,
            (_, Some(true)) => return Opening::Listener,
            (Some(false), Some(false)) => return Opening::Other,
            // A client trickling its first bytes: look again shortly.
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        if tokio::time::Instant::now() >= deadline {
            return Opening::Other;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_room_for_the_daemons_own_files() {
        assert_eq!(connection_cap_for(4096, Some(65_536)), None);
        assert_eq!(connection_cap_for(4096, Some(1024)), Some(768));
        assert_eq!(connection_cap_for(4096, None), None);
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let soft = raise_open_file_limit().expect("a finite soft limit");
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        if let Some(hard) = hard {
            assert_eq!(soft, hard);
        }
    }
}
