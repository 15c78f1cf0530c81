//! Accepted TCP connections: the connection caps, and one knob a handler can turn later, the
//! kernel send buffer.
//!
//! [`TunedListener::accept`] counts open connections in total and per client address
//! ([`super::client::client_key`]: an IPv6 /64 is one client) and closes any connection over
//! `[http] max_connections` or `max_connections_per_ip` right away, with one warning a minute
//! at most. The count is released when the connection's socket is dropped.
//!
//! The listener wraps every accepted socket in a [`TunedStream`] and hands each request a
//! [`ConnTuning`] (as axum connect info). Ordinary requests never touch it, so API and media
//! transfers keep Linux's send-buffer autotuning. A stream listener calls
//! [`ConnTuning::cap_send_buffer`]; the cap is applied with `SO_SNDBUF` on the socket's next
//! write, i.e. before the response head goes out. A stalled stream client then holds about a
//! second of audio in the kernel instead of minutes (audio-engine §1.1, "Measured caveat").
//!
//! A handler may also close its connection outright ([`ConnTuning::abort`]): an event
//! consumer that stopped reading cannot be ended by ending its body, since the body is no
//! longer polled.
//!
//! Owns: accept, the connection caps, the socket wrapper. May not touch: routing, request
//! handling.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::client::{LogThrottle, client_key};

/// Open connections, in total and per client address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// The connection caps and the open-connection count they are checked against.
#[derive(Debug)]
struct Caps {
    open: Mutex<Open>,
    max_total: usize,
    max_per_ip: usize,
}

impl Caps {
    fn open(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One counted connection; dropping it releases the count.
#[derive(Debug)]
struct Slot {
    caps: Arc<Caps>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.caps.open();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
    }
}

/// Why a connection was closed at accept.
enum Refusal {
    Total(usize),
    PerIp(usize),
}

/// A TCP listener that enforces the connection caps and whose connections accept a later
/// `SO_SNDBUF` cap.
#[derive(Debug)]
pub(crate) struct TunedListener {
    inner: TcpListener,
    caps: Arc<Caps>,
    refused: LogThrottle,
    failed: LogThrottle,
}

impl TunedListener {
    /// Wraps a bound listener that keeps at most `max_total` connections open, and at most
    /// `max_per_ip` from one client address.
    pub(crate) fn new(inner: TcpListener, max_total: usize, max_per_ip: usize) -> Self {
        Self {
            inner,
            caps: Arc::new(Caps {
                open: Mutex::default(),
                max_total,
                max_per_ip,
            }),
            refused: LogThrottle::default(),
            failed: LogThrottle::default(),
        }
    }

    fn admit(&self, peer: SocketAddr) -> Result<Slot, Refusal> {
        let ip = client_key(peer.ip());
        let mut open = self.caps.open();
        if open.total >= self.caps.max_total {
            return Err(Refusal::Total(open.total));
        }
        let of_ip = open.by_ip.entry(ip).or_default();
        if *of_ip >= self.caps.max_per_ip {
            return Err(Refusal::PerIp(*of_ip));
        }
        *of_ip += 1;
        open.total += 1;
        Ok(Slot {
            caps: self.caps.clone(),
            ip,
        })
    }

    /// The next connection within the caps; connections over a cap are closed here. Accept
    /// errors are retried (after a pause when the process is out of file descriptors).
    pub(crate) async fn accept(&mut self) -> (TunedStream, SocketAddr) {
        loop {
            let (io, peer) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    self.failed.warn(|held| {
                        format!("cannot accept connections: {e} (retrying each second; {held} more since the last such line)")
                    });
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            match self.admit(peer) {
                Ok(slot) => {
                    let stream = TunedStream {
                        io,
                        send_buffer_bytes: Arc::new(AtomicUsize::new(0)),
                        abort: Arc::default(),
                        _slot: slot,
                    };
                    return (stream, peer);
                }
                Err(why) => {
                    drop(io);
                    let (max, key) = match why {
                        Refusal::Total(_) => (self.caps.max_total, "max_connections"),
                        Refusal::PerIp(_) => (self.caps.max_per_ip, "max_connections_per_ip"),
                    };
                    let from = match why {
                        Refusal::Total(n) => format!("{n} connections are open"),
                        Refusal::PerIp(n) => format!("{} has {n} open", client_key(peer.ip())),
                    };
                    self.refused.warn(|held| {
                        format!(
                            "connection from {peer} closed at accept: {from}, the most allowed \
                             ([http] {key} = {max}); {held} more closed since the last such line"
                        )
                    });
                }
            }
        }
    }

    /// The bound address.
    ///
    /// # Errors
    /// Only if the socket has gone away.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Errors of one incoming connection, not of the listener (as hyper and axum treat them).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// An accepted TCP stream that applies a requested send-buffer size on its next write.
#[derive(Debug)]
pub(crate) struct TunedStream {
    io: TcpStream,
    /// Requested `SO_SNDBUF` in bytes; 0 = nothing pending.
    send_buffer_bytes: Arc<AtomicUsize>,
    /// Set by [`ConnTuning::abort`]: every further read or write fails.
    abort: Arc<Abort>,
    /// This connection's place in the connection caps.
    _slot: Slot,
}

/// A request to close a connection, and the task to wake for it.
#[derive(Debug, Default)]
struct Abort {
    requested: AtomicBool,
    waker: AtomicWaker,
}

impl Abort {
    /// `Err` once an abort was requested; else remembers whom to wake for one.
    fn check(&self, cx: &Context<'_>) -> io::Result<()> {
        self.waker.register(cx.waker());
        if self.requested.load(Ordering::Acquire) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed by the server",
            ))
        } else {
            Ok(())
        }
    }
}

impl TunedStream {
    /// The bytes waiting to be read, without consuming them.
    ///
    /// # Errors
    /// Socket failures.
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.peek(buf).await
    }

    /// The handle requests on this connection get as `ConnectInfo<ConnTuning>`.
    pub(crate) fn tuning(&self, remote: SocketAddr) -> ConnTuning {
        ConnTuning {
            send_buffer_bytes: self.send_buffer_bytes.clone(),
            abort: self.abort.clone(),
            remote,
        }
    }

    fn apply_pending(&self) {
        let want = self.send_buffer_bytes.swap(0, Ordering::Relaxed);
        if want != 0
            && let Err(e) = socket2::SockRef::from(&self.io).set_send_buffer_size(want)
        {
            log::debug!("cannot cap SO_SNDBUF at {want} bytes: {e}");
        }
    }
}

/// The fan-out writer's view of a listener's connection: the same abort and send-buffer
/// handling as the async writes above.
impl crate::output::fanout::Sink for TunedStream {
    fn try_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if self.abort.requested.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed by the server",
            ));
        }
        self.apply_pending();
        // sendmsg(2) rather than tokio's writev(2): the socket call skips the file layer's
        // position lock and checks, which show in a fan-out of hundreds of writes a round.
        let sock = socket2::SockRef::from(&self.io);
        self.io
            .try_io(tokio::io::Interest::WRITABLE, || sock.send_vectored(bufs))
    }

    fn poll_write_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.abort.check(cx)?;
        self.io.poll_write_ready(cx)
    }
}

impl AsyncRead for TunedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.abort.check(cx)?;
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for TunedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.abort.check(cx)?;
        self.apply_pending();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.abort.check(cx)?;
        self.apply_pending();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Per-connection handle given to handlers as `ConnectInfo<ConnTuning>`.
#[derive(Clone, Debug)]
pub(crate) struct ConnTuning {
    send_buffer_bytes: Arc<AtomicUsize>,
    abort: Arc<Abort>,
    /// The peer's address.
    pub remote: SocketAddr,
}

impl ConnTuning {
    /// Caps the connection's kernel send buffer at `bytes` (Linux doubles the value for its
    /// bookkeeping) from the next write on.
    pub(crate) fn cap_send_buffer(&self, bytes: usize) {
        self.send_buffer_bytes
            .store(bytes.max(1), Ordering::Relaxed);
    }

    /// Closes the connection: its next read or write fails (the task serving it is woken for
    /// that), whatever the response is doing.
    pub(crate) fn abort(&self) {
        self.abort.requested.store(true, Ordering::Release);
        self.abort.waker.wake();
    }
}
