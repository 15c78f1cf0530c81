//! Accepted TCP connections with one knob a handler can turn later: the kernel send buffer.
//!
//! The listener wraps every accepted socket in a [`TunedStream`] and hands each request a
//! [`ConnTuning`] (as axum connect info). Ordinary requests never touch it, so API and media
//! transfers keep Linux's send-buffer autotuning. A stream listener calls
//! [`ConnTuning::cap_send_buffer`]; the cap is applied with `SO_SNDBUF` on the socket's next
//! write, i.e. before the response head goes out. A stalled stream client then holds about a
//! second of audio in the kernel instead of minutes (audio-engine §1.1, "Measured caveat").
//!
//! Owns: accept, the socket wrapper. May not touch: routing, request handling.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections accept a later `SO_SNDBUF` cap.
#[derive(Debug)]
pub struct TunedListener {
    inner: TcpListener,
}

impl TunedListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for TunedListener {
    type Io = TunedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's accept loop: retries (with a pause) on EMFILE and friends.
        let (io, addr) = Listener::accept(&mut self.inner).await;
        (
            TunedStream {
                io,
                send_buffer_bytes: Arc::new(AtomicUsize::new(0)),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted TCP stream that applies a requested send-buffer size on its next write.
#[derive(Debug)]
pub struct TunedStream {
    io: TcpStream,
    /// Requested `SO_SNDBUF` in bytes; 0 = nothing pending.
    send_buffer_bytes: Arc<AtomicUsize>,
}

impl TunedStream {
    fn apply_pending(&self) {
        let want = self.send_buffer_bytes.swap(0, Ordering::Relaxed);
        if want != 0 {
            if let Err(e) = socket2::SockRef::from(&self.io).set_send_buffer_size(want) {
                log::debug!("cannot cap SO_SNDBUF at {want} bytes: {e}");
            }
        }
    }
}

impl AsyncRead for TunedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for TunedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.apply_pending();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
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
pub struct ConnTuning {
    send_buffer_bytes: Arc<AtomicUsize>,
    /// The peer's address.
    pub remote: SocketAddr,
}

impl ConnTuning {
    /// Caps the connection's kernel send buffer at `bytes` (Linux doubles the value for its
    /// bookkeeping) from the next write on.
    pub fn cap_send_buffer(&self, bytes: usize) {
        self.send_buffer_bytes
            .store(bytes.max(1), Ordering::Relaxed);
    }
}

impl Connected<IncomingStream<'_, TunedListener>> for ConnTuning {
    fn connect_info(stream: IncomingStream<'_, TunedListener>) -> Self {
        Self {
            send_buffer_bytes: stream.io().send_buffer_bytes.clone(),
            remote: *stream.remote_addr(),
        }
    }
}
