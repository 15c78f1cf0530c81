//! One HTTP listener's body: the chunks of its [`Subscription`] as a byte stream, with ICY
//! metadata blocks interleaved when the client asked for them.
//!
//! Pieces are zero-copy slices of the shared chunks; only metadata blocks are allocated (one
//! every [`icy::METAINT`] bytes, a shared static zero byte when the title is unchanged).
//!
//! Owns: the per-listener ICY byte counter and last title. May not touch: HTTP headers,
//! sockets, the queue's internals.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;

use super::feed::{Next, Subscription};
use super::icy;

/// What [`ListenerBody::try_piece`] has now.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Bytes to send next.
    Ready(Bytes),
    /// Nothing until the feed publishes again ([`super::feed::Feed::notified`]).
    Wait,
    /// The feed closed: the body ends.
    Closed,
}

/// ICY state of a listener that sent `Icy-MetaData: 1`.
#[derive(Debug)]
struct Icy {
    /// Audio bytes left before the next metadata block.
    until_meta: usize,
    /// The title the last block announced (`None` before the first block).
    last_title: Option<Arc<str>>,
}

/// The byte stream of one listener.
#[derive(Debug)]
pub(crate) struct ListenerBody {
    sub: Subscription,
    icy: Option<Icy>,
    /// Audio of the current chunk not yet handed out.
    pending: Bytes,
    /// Title of the current chunk.
    title: Arc<str>,
}

impl ListenerBody {
    /// A body reading `sub`, with ICY metadata every [`icy::METAINT`] bytes when `with_icy`.
    pub(crate) fn new(sub: Subscription, with_icy: bool) -> Self {
        Self {
            sub,
            icy: with_icy.then_some(Icy {
                until_meta: icy::METAINT,
                last_title: None,
            }),
            pending: Bytes::new(),
            title: Arc::from(""),
        }
    }

    /// The next piece of the body; `None` when the feed closed.
    pub(crate) async fn next_piece(&mut self) -> Option<Bytes> {
        loop {
            // Registered before looking, so a publish in between still wakes us.
            let feed = self.sub.feed().clone();
            let notified = feed.notified();
            match self.try_piece() {
                Piece::Ready(piece) => return Some(piece),
                Piece::Closed => return None,
                Piece::Wait => notified.await,
            }
        }
    }

    /// The next piece if one is ready now: audio up to the next ICY block, or the block.
    pub(crate) fn try_piece(&mut self) -> Piece {
        if self.pending.is_empty() {
            match self.sub.try_next_chunk() {
                Next::Chunk(chunk) => {
                    self.pending = chunk.mp3;
                    self.title = chunk.title;
                }
                Next::Wait => return Piece::Wait,
                Next::Closed => return Piece::Closed,
            }
        }
        let piece = match &mut self.icy {
            None => std::mem::take(&mut self.pending),
            Some(state) if state.until_meta == 0 => {
                state.until_meta = icy::METAINT;
                if state.last_title.as_deref() == Some(&*self.title) {
                    icy::unchanged_block()
                } else {
                    state.last_title = Some(self.title.clone());
                    icy::title_block(&self.title)
                }
            }
            Some(state) => {
                let n = state.until_meta.min(self.pending.len());
                state.until_meta -= n;
                self.pending.split_to(n)
            }
        };
        self.sub.count_sent(piece.len());
        Piece::Ready(piece)
    }

    /// The body as a stream of byte pieces (for `axum::body::Body::from_stream`).
    pub(crate) fn into_stream(
        self,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        futures_util::stream::unfold(self, |mut body| async move {
            let piece = body.next_piece().await?;
            Some((Ok(piece), body))
        })
    }
}
