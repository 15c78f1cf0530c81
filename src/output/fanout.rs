//! Icecast's fan-out loop: one writer task per feed writes each publish to every listener
//! handed to it, with non-blocking writes, instead of one task per listener.
//!
//! A listener served by its own task costs a task wake-up, a poll through the HTTP stack and
//! a write per chunk; a broadcast channel publishes about 38 pieces a second (one per source
//! read), so 500 listeners cost 19,000 wake-ups a second. Here a publish wakes one task,
//! which walks its listeners and offers each everything waiting for it in one vectored
//! `try_write`:
//! * a listener at live takes one write per round and is left waiting for the next;
//! * a listener whose socket is full ([`io::ErrorKind::WouldBlock`]) keeps its unsent bytes
//!   and is *blocked*: the task also waits for that socket to become writable and then
//!   serves the blocked listeners only, so the burst on connect flows at the client's pace;
//!   a listener that stays blocked falls out of the feed's queue and is skipped forward by
//!   [`super::feed`]'s lag policy, like any other;
//! * a listener whose write fails (it left, or its connection was aborted) is dropped, which
//!   closes its socket and ends its subscription.
//!
//! **Holding.** A write costs the kernel about the same whatever its size (measured: 6–9 µs
//! to a loopback listener, for a 418-byte frame or Icecast's 1,400-byte blocks alike), so a
//! channel relayed frame by frame to 500 listeners costs three times Icecast's CPU. With
//! [`HOLD_FROM_LISTENERS`] listeners or more, a publish starts a hold of the feed's
//! [`Feed::relay_hold_ms`] and the round after it writes everything published meanwhile,
//! one write per listener, as Icecast's blocks do. Fewer listeners get each piece as it
//! comes, where the cost is small and a live voice gains most from it.
//!
//! The task ends when the feed closes, closing every socket it holds.
//!
//! Owns: the handed-over listeners, their unsent bytes, the hold. May not touch: HTTP (the
//! response head arrives as the first unsent bytes), the queue's internals, the producer.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::feed::Feed;
use super::listener::{ListenerBody, Piece};

/// From this many listeners on, a feed's publishes are gathered for its relay hold.
pub(crate) const HOLD_FROM_LISTENERS: usize = 64;

/// Pieces offered to a listener in one write.
const MAX_PIECES_PER_WRITE: usize = 16;

/// A listener's connection as the writer needs it: non-blocking writes and write readiness
/// (a TCP stream in the daemon; a seam for the unit tests below).
pub(crate) trait Sink: Send + 'static {
    /// Writes what fits of `bufs`, in order, now, without waiting.
    ///
    /// # Errors
    /// [`io::ErrorKind::WouldBlock`] when nothing fits; any other error ends the listener.
    fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Ready once a write may succeed; registers `cx` to be woken for it otherwise.
    fn poll_write_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// One listener handed over to a feed's writer: its connection, its body (burst position,
/// ICY state) and the pieces not yet written.
pub(crate) struct Direct {
    sink: Box<dyn Sink>,
    body: ListenerBody,
    unsent: VecDeque<Bytes>,
    blocked: bool,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("unsent", &self.unsent.len())
            .field("blocked", &self.blocked)
            .finish_non_exhaustive()
    }
}

/// What a listener's turn ended with.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// At live, waiting for the next publish.
    Caught,
    /// Its socket is full.
    Blocked,
    /// It left, or the feed closed: drop it.
    Gone,
}

impl Direct {
    /// A listener whose connection gets `head` (the response head), then `body`.
    pub(crate) fn new(sink: Box<dyn Sink>, body: ListenerBody, head: Bytes) -> Self {
        let mut unsent = VecDeque::with_capacity(MAX_PIECES_PER_WRITE);
        unsent.push_back(head);
        Self {
            sink,
            body,
            unsent,
            blocked: false,
        }
    }

    /// Writes as much as the socket takes now, up to [`MAX_PIECES_PER_WRITE`] pieces a write.
    fn pump(&mut self) -> Turn {
        loop {
            let mut at_live = false;
            while self.unsent.len() < MAX_PIECES_PER_WRITE {
                match self.body.try_piece() {
                    Piece::Ready(piece) => self.unsent.push_back(piece),
                    Piece::Wait => {
                        at_live = true;
                        break;
                    }
                    Piece::Closed => return Turn::Gone,
                }
            }
            self.unsent.retain(|p| !p.is_empty());
            if self.unsent.is_empty() {
                return self.turn(Turn::Caught);
            }
            let mut slices = [IoSlice::new(&[]); MAX_PIECES_PER_WRITE];
            let n = self.unsent.len().min(MAX_PIECES_PER_WRITE);
            for (slice, piece) in slices.iter_mut().zip(&self.unsent) {
                *slice = IoSlice::new(piece);
            }
            match self.sink.try_write_vectored(&slices[..n]) {
                Ok(0) => return Turn::Gone,
                Ok(written) => self.consume(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.turn(Turn::Blocked);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("stream listener left: {e}");
                    return Turn::Gone;
                }
            }
            if at_live && self.unsent.is_empty() {
                return self.turn(Turn::Caught);
            }
        }
    }

    /// Drops `written` bytes from the front of the unsent pieces.
    fn consume(&mut self, mut written: usize) {
        while written > 0 {
            let Some(front) = self.unsent.front_mut() else {
                return;
            };
            if front.len() > written {
                front.advance(written);
                return;
            }
            written -= front.len();
            self.unsent.pop_front();
        }
    }

    fn turn(&mut self, turn: Turn) -> Turn {
        self.blocked = turn == Turn::Blocked;
        turn
    }
}

/// Whom the next round serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    /// Nobody (a hold began).
    Nobody,
    /// Every listener (a publish, the end of a hold).
    All,
    /// The blocked listeners (a socket became writable).
    Blocked,
    /// The listener that just arrived (its head and burst).
    Newest,
}

/// What woke the writer.
enum Wake {
    Published,
    HoldOver,
    Arrived(Direct),
    Writable,
}

/// The writer task of `feed`: takes listeners from `arrivals`, writes every publish to them,
/// and ends (closing them all) when the feed closes.
pub(crate) async fn run(feed: Feed, mut arrivals: UnboundedReceiver<Direct>) {
    let mut listeners: Vec<Direct> = Vec::new();
    let mut round = Round::All;
    let mut hold_until: Option<Instant> = None;
    loop {
        // Counted from here: a publish while the listeners are served still wakes the task.
        let notified = feed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        match round {
            Round::Nobody => {}
            Round::All => listeners.retain_mut(|l| l.pump() != Turn::Gone),
            Round::Blocked => listeners.retain_mut(|l| !l.blocked || l.pump() != Turn::Gone),
            Round::Newest => {
                if listeners.last_mut().is_some_and(|l| l.pump() == Turn::Gone) {
                    listeners.pop();
                }
            }
        }
        if feed.is_closed() {
            return;
        }
        let any_blocked = listeners.iter().any(|l| l.blocked);
        let wake = tokio::select! {
            biased;
            () = &mut notified, if hold_until.is_none() => Wake::Published,
            () = tokio::time::sleep_until(hold_until.unwrap_or_else(Instant::now)),
                if hold_until.is_some() => Wake::HoldOver,
            Some(listener) = arrivals.recv() => Wake::Arrived(listener),
            () = writable(&mut listeners), if any_blocked => Wake::Writable,
        };
        round = match wake {
            Wake::Published => match hold(&feed, listeners.len()) {
                Some(hold) => {
                    hold_until = Some(Instant::now() + hold);
                    Round::Nobody
                }
                None => Round::All,
            },
            Wake::HoldOver => {
                hold_until = None;
                Round::All
            }
            Wake::Arrived(listener) => {
                listeners.push(listener);
                Round::Newest
            }
            Wake::Writable => Round::Blocked,
        };
    }
}

/// How long to gather publishes before the next round, if at all.
fn hold(feed: &Feed, listeners: usize) -> Option<Duration> {
    let hold_ms = feed.relay_hold_ms();
    (hold_ms > 0 && listeners >= HOLD_FROM_LISTENERS)
        .then(|| Duration::from_millis(u64::from(hold_ms)))
}

/// Ready once any blocked listener's socket is writable (or failed).
async fn writable(listeners: &mut [Direct]) {
    poll_fn(|cx| {
        let mut ready = false;
        for l in listeners.iter_mut().filter(|l| l.blocked) {
            ready |= l.sink.poll_write_ready(cx).is_ready();
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::output::feed::Chunk;

    /// A socket with room for `room` bytes until the test drains it; records what it took.
    #[derive(Clone, Default)]
    struct Pipe(Arc<Mutex<PipeState>>);

    #[derive(Default)]
    struct PipeState {
        taken: Vec<u8>,
        room: usize,
        failed: bool,
        writes: usize,
        waker: Option<std::task::Waker>,
    }

    impl Pipe {
        fn with_room(room: usize) -> Self {
            let pipe = Self::default();
            pipe.0.lock().unwrap().room = room;
            pipe
        }
        fn drain(&self, room: usize) {
            let mut s = self.0.lock().unwrap();
            s.room = room;
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
        fn fail(&self) {
            self.0.lock().unwrap().failed = true;
        }
        fn taken(&self) -> Vec<u8> {
            self.0.lock().unwrap().taken.clone()
        }
    }

    impl Sink for Pipe {
        fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            if s.failed {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if s.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            s.writes += 1;
            let mut written = 0;
            for buf in bufs {
                let n = buf.len().min(s.room);
                s.room -= n;
                s.taken.extend_from_slice(&buf[..n]);
                written += n;
            }
            Ok(written)
        }
        fn poll_write_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let mut s = self.0.lock().unwrap();
            if s.room > 0 || s.failed {
                Poll::Ready(Ok(()))
            } else {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn chunk(byte: u8, n: usize) -> Chunk {
        Chunk {
            mp3: Bytes::from(vec![byte; n]),
            title: Arc::from(""),
        }
    }

    fn hand_over(feed: &Feed, pipe: &Pipe) {
        let body = ListenerBody::new(feed.subscribe().unwrap(), false);
        feed.fan_out(Direct::new(
            Box::new(pipe.clone()),
            body,
            Bytes::from_static(b"HEAD"),
        ));
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    #[tokio::test]
    async fn every_listener_gets_the_head_then_each_publish_in_order() {
        let feed = Feed::new(128);
        let (a, b) = (Pipe::with_room(1 << 20), Pipe::with_room(1 << 20));
        hand_over(&feed, &a);
        hand_over(&feed, &b);
        settle().await;
        feed.publish(chunk(1, 10));
        feed.publish(chunk(2, 5));
        settle().await;
        let want = [&b"HEAD"[..], &[1; 10], &[2; 5]].concat();
        assert_eq!(a.taken(), want);
        assert_eq!(b.taken(), want);
        assert_eq!(feed.listeners(), 2);
        assert_eq!(feed.stats().bytes_sent, 30, "audio bytes of both listeners");
    }

    #[tokio::test]
    async fn a_full_socket_holds_its_listener_back_without_holding_up_the_others() {
        let feed = Feed::new(128);
        feed.publish(chunk(7, 100)); // in the burst
        let (slow, fast) = (Pipe::with_room(30), Pipe::with_room(1 << 20));
        hand_over(&feed, &slow);
        hand_over(&feed, &fast);
        settle().await;
        feed.publish(chunk(8, 50));
        settle().await;
        assert_eq!(fast.taken().len(), 4 + 150, "the fast one has everything");
        assert_eq!(slow.taken().len(), 30, "the slow one what fitted");
        // The slow reader drains its socket: the rest flows without another publish.
        slow.drain(1 << 20);
        settle().await;
        let want = [&b"HEAD"[..], &[7; 100], &[8; 50]].concat();
        assert_eq!(
            slow.taken(),
            want,
            "nothing lost or reordered across the partial write"
        );
    }

    #[tokio::test]
    async fn a_listener_that_left_is_dropped_and_stops_counting() {
        let feed = Feed::new(128);
        let (gone, stays) = (Pipe::with_room(1 << 20), Pipe::with_room(1 << 20));
        hand_over(&feed, &gone);
        hand_over(&feed, &stays);
        settle().await;
        gone.fail();
        feed.publish(chunk(1, 10));
        settle().await;
        assert_eq!(feed.listeners(), 1);
        assert_eq!(stays.taken().len(), 14);
    }

    #[tokio::test]
    async fn with_many_listeners_a_hold_gathers_the_publishes_into_one_write_each() {
        let feed = Feed::new(128);
        feed.set_relay_hold_ms(200);
        let pipes: Vec<Pipe> = (0..HOLD_FROM_LISTENERS)
            .map(|_| Pipe::with_room(1 << 20))
            .collect();
        for pipe in &pipes {
            hand_over(&feed, pipe);
        }
        settle().await;
        let writes_before: Vec<usize> = pipes.iter().map(|p| p.0.lock().unwrap().writes).collect();
        for byte in 1..=4 {
            feed.publish(chunk(byte, 100));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            pipes.iter().all(|p| p.taken().len() == 4),
            "nothing written during the hold"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let want = [&b"HEAD"[..], &[1; 100], &[2; 100], &[3; 100], &[4; 100]].concat();
        for (pipe, before) in pipes.iter().zip(writes_before) {
            assert_eq!(pipe.taken(), want);
            assert_eq!(
                pipe.0.lock().unwrap().writes,
                before + 1,
                "one write for four pieces"
            );
        }
    }

    #[tokio::test]
    async fn a_few_listeners_get_each_publish_at_once_whatever_the_hold() {
        let feed = Feed::new(128);
        feed.set_relay_hold_ms(500);
        let pipe = Pipe::with_room(1 << 20);
        hand_over(&feed, &pipe);
        settle().await;
        feed.publish(chunk(1, 10));
        settle().await;
        assert_eq!(pipe.taken().len(), 14);
    }

    #[tokio::test]
    async fn closing_the_feed_ends_the_writer_and_every_subscription() {
        let feed = Feed::new(128);
        let pipe = Pipe::with_room(0); // blocked from the start
        hand_over(&feed, &pipe);
        settle().await;
        assert_eq!(feed.listeners(), 1);
        feed.close();
        settle().await;
        assert_eq!(feed.listeners(), 0);
    }
}
