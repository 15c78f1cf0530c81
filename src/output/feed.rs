//! One encoded stream fanned out to its HTTP listeners, and the registry of live streams.
//!
//! A render thread publishes whole-frame MP3 chunks (about 250 ms each) with the current ICY
//! title; every listener gets the *same* `Bytes` (one encode, N socket writers).
//!
//! The queue is Icecast's design, bounded in time instead of bytes: one shared deque of
//! refcounted chunks holding the last [`MAX_LAG_MS`] of audio, and one read cursor (a chunk
//! sequence number) per listener.
//! * A new listener starts [`BURST_MS`] behind live, on a chunk boundary, so its first byte is
//!   an MP3 frame sync and the player's pre-buffer fills at once.
//! * A listener whose next chunk has already left the queue (it fell more than
//!   [`MAX_LAG_MS`] behind: a stalled phone, a paused tab) skips forward to the burst position
//!   at a chunk boundary and [`FeedStats::lag_skips`] counts it. It never makes the producer
//!   wait and never grows memory: the queue's size depends only on the bitrate.
//! * [`Feed::publish`] takes a mutex for a push (no allocation beyond the deque's ring, no
//!   waiting on any client) and wakes the waiting listeners.
//!
//! Owns: the chunk queue, listener cursors and counters, the id → feed map. May not touch:
//! HTTP (see `api::stream`), encoding, the engine.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

pub use super::clips::{Clip, ClipError};

/// Audio a new listener receives at once on connect.
pub const BURST_MS: u64 = 1_500;

/// How far behind live a listener may fall (in the application queue) before it is skipped
/// forward; kernel socket buffers add to this (capped by `api::stream` per connection).
pub const MAX_LAG_MS: u64 = 3_000;

/// A piece of the stream: whole MP3 frames and the ICY title current while they play.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Whole MP3 frames (the first byte is a frame sync).
    pub mp3: Bytes,
    /// The ICY `StreamTitle` for these frames.
    pub title: Arc<str>,
}

/// Counters of one feed for the status route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedStats {
    /// HTTP clients connected now.
    pub listeners: usize,
    /// HTTP clients ever connected.
    pub clients_total: u64,
    /// Times a listener fell more than [`MAX_LAG_MS`] behind and was skipped forward.
    pub lag_skips: u64,
    /// Body bytes handed to the HTTP layer for all listeners (audio and ICY metadata).
    pub bytes_sent: u64,
}

/// One live MP3 stream and its listeners; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

struct Inner {
    bitrate_kbps: u32,
    /// The name clips ask for this feed by (personal streams; channels have their own).
    playback_id: Option<String>,
    /// The last minutes of audio for clips, when kept.
    clips: Option<Mutex<super::clips::ClipRing>>,
    /// Bytes of audio per second at the bitrate (CBR).
    bytes_per_s: u64,
    queue: Mutex<Queue>,
    /// Woken on every publish and on close.
    notify: Notify,
    /// How long the fan-out writer gathers publishes once many listen ([`super::fanout`]).
    relay_hold_ms: AtomicU32,
    /// The writer task of the listeners handed over by [`Feed::fan_out`], once there is one.
    writer: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<super::fanout::Direct>>,
    closed: AtomicBool,
    listeners: AtomicUsize,
    clients_total: AtomicU64,
    lag_skips: AtomicU64,
    bytes_sent: AtomicU64,
}

struct Queue {
    chunks: VecDeque<Chunk>,
    /// Sequence number of `chunks[0]`.
    first_seq: u64,
    /// Sum of the chunks' lengths.
    bytes: u64,
    closed: bool,
}

impl Queue {
    fn end_seq(&self) -> u64 {
        self.first_seq + self.chunks.len() as u64
    }

    /// The sequence number [`BURST_MS`] of audio before the end (a chunk boundary).
    fn burst_seq(&self, burst_bytes: u64) -> u64 {
        let mut sum = 0;
        let mut seq = self.end_seq();
        for chunk in self.chunks.iter().rev() {
            if sum >= burst_bytes {
                break;
            }
            sum += chunk.mp3.len() as u64;
            seq -= 1;
        }
        seq
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("bitrate_kbps", &self.inner.bitrate_kbps)
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Feed {
    /// An empty, open feed for a stream encoded at `bitrate_kbps`.
    pub fn new(bitrate_kbps: u32) -> Self {
        Self::with_clips(bitrate_kbps, 0, None)
    }

    /// [`Feed::new`] keeping its last `clip_buffer_s` seconds for clips (0: none), known to
    /// clips as `playback_id`.
    pub fn with_clips(bitrate_kbps: u32, clip_buffer_s: u32, playback_id: Option<String>) -> Self {
        let bytes_per_s = u64::from(bitrate_kbps.max(1)) * 1000 / 8;
        Self {
            inner: Arc::new(Inner {
                bitrate_kbps,
                playback_id,
                clips: (clip_buffer_s > 0)
                    .then(|| Mutex::new(super::clips::ClipRing::new(clip_buffer_s))),
                bytes_per_s,
                queue: Mutex::new(Queue {
                    chunks: VecDeque::with_capacity(64),
                    first_seq: 0,
                    bytes: 0,
                    closed: false,
                }),
                notify: Notify::new(),
                relay_hold_ms: AtomicU32::new(0),
                writer: std::sync::OnceLock::new(),
                closed: AtomicBool::new(false),
                listeners: AtomicUsize::new(0),
                clients_total: AtomicU64::new(0),
                lag_skips: AtomicU64::new(0),
                bytes_sent: AtomicU64::new(0),
            }),
        }
    }

    /// The bitrate the stream is encoded at (the `icy-br` header).
    pub fn bitrate_kbps(&self) -> u32 {
        self.inner.bitrate_kbps
    }

    /// Never blocks (called from a render thread, not from tokio).
    ///
    /// Appends `chunk` for every listener and drops the chunks older than [`MAX_LAG_MS`].
    /// Ignored once the feed is closed.
    pub fn publish(&self, chunk: Chunk) {
        if chunk.mp3.is_empty() {
            return;
        }
        if let Some(clips) = &self.inner.clips {
            clips
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(&chunk.mp3, super::clips::now_ms());
        }
        let max_bytes = self.ms_to_bytes(MAX_LAG_MS);
        {
            let mut q = self.lock();
            if q.closed {
                return;
            }
            q.bytes += chunk.mp3.len() as u64;
            q.chunks.push_back(chunk);
            while q.chunks.len() > 1 && q.bytes > max_bytes {
                if let Some(old) = q.chunks.pop_front() {
                    q.bytes -= old.mp3.len() as u64;
                    q.first_seq += 1;
                }
            }
        }
        self.inner.notify.notify_waiters();
    }

    /// A future woken by the next publish or close; it counts from its creation, so create it
    /// before looking at the queue.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.notify.notified()
    }

    /// Lets the fan-out writer gather this feed's publishes for up to `hold_ms` before a round
    /// of writes once it has [`super::fanout::HOLD_FROM_LISTENERS`] listeners (0: never). For
    /// a feed published in small pieces (a relayed channel); a feed of 250 ms chunks gains
    /// nothing from it.
    pub(crate) fn set_relay_hold_ms(&self, hold_ms: u32) {
        self.inner.relay_hold_ms.store(hold_ms, Ordering::Relaxed);
    }

    /// See [`Feed::set_relay_hold_ms`].
    pub(crate) fn relay_hold_ms(&self) -> u32 {
        self.inner.relay_hold_ms.load(Ordering::Relaxed)
    }

    /// Hands `listener` to this feed's writer task (started with the first one), which writes
    /// to every such listener in turn at each publish; see [`super::fanout`].
    pub(crate) fn fan_out(&self, listener: super::fanout::Direct) {
        let writer = self.inner.writer.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(super::fanout::run(self.clone(), rx));
            tx
        });
        // The writer only ends once the feed is closed; the listener is then dropped (closed).
        let _ = writer.send(listener);
    }

    /// The name clips ask for this feed by, if it has one.
    pub fn playback_id(&self) -> Option<&str> {
        self.inner.playback_id.as_deref()
    }

    /// Cuts `[start_ms, end_ms)` (Unix ms) out of the clip buffer.
    ///
    /// # Errors
    /// No clip buffer (as an empty window), or the window's fault ([`ClipError`]).
    pub fn clip(&self, start_ms: i64, end_ms: i64) -> Result<Clip, ClipError> {
        match &self.inner.clips {
            Some(ring) => ring
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .cut(start_ms, end_ms),
            None => Err(ClipError::Unavailable {
                from_ms: 0,
                to_ms: 0,
            }),
        }
    }

    /// The length of the clip buffer in ms (0: none).
    pub fn clip_buffer_ms(&self) -> i64 {
        self.inner.clips.as_ref().map_or(0, |r| {
            r.lock().unwrap_or_else(PoisonError::into_inner).keep_ms()
        })
    }

    /// Ends every client's body cleanly and refuses new ones (kill, idle teardown, shutdown).
    pub fn close(&self) {
        {
            let mut q = self.lock();
            q.closed = true;
            q.chunks.clear();
            q.bytes = 0;
        }
        self.inner.closed.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`Feed::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// HTTP clients connected now (the engine's idle teardown reads it).
    pub fn listeners(&self) -> usize {
        self.inner.listeners.load(Ordering::Relaxed)
    }

    /// Counters for the status route: listeners, clients_total, lag_skips, bytes_sent.
    pub fn stats(&self) -> FeedStats {
        FeedStats {
            listeners: self.listeners(),
            clients_total: self.inner.clients_total.load(Ordering::Relaxed),
            lag_skips: self.inner.lag_skips.load(Ordering::Relaxed),
            bytes_sent: self.inner.bytes_sent.load(Ordering::Relaxed),
        }
    }

    /// A new listener positioned [`BURST_MS`] behind live; `None` once the feed is closed.
    /// The listener counts in [`Feed::listeners`] until the subscription is dropped.
    pub fn subscribe(&self) -> Option<Subscription> {
        let cursor = {
            let q = self.lock();
            if q.closed {
                return None;
            }
            q.burst_seq(self.ms_to_bytes(BURST_MS))
        };
        self.inner.listeners.fetch_add(1, Ordering::Relaxed);
        self.inner.clients_total.fetch_add(1, Ordering::Relaxed);
        Some(Subscription {
            feed: self.clone(),
            cursor,
        })
    }

    fn ms_to_bytes(&self, ms: u64) -> u64 {
        self.inner.bytes_per_s * ms / 1000
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned queue is still consistent: every mutation above is panic-free.
        self.inner
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One listener's read position in a [`Feed`]; counts as a listener until dropped.
pub struct Subscription {
    feed: Feed,
    /// Sequence number of the next chunk to hand out.
    cursor: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// What the queue holds for a cursor right now.
#[derive(Debug)]
pub(crate) enum Next {
    /// The next chunk (the cursor moved past it).
    Chunk(Chunk),
    /// The listener is at live: wait for [`Feed::notified`].
    Wait,
    /// The feed closed.
    Closed,
}

impl Subscription {
    /// The next chunk for this listener, waiting for the producer if it is at live; `None`
    /// when the feed is closed. Skips forward (and counts a lag skip) when the listener fell
    /// out of the queue.
    pub async fn next_chunk(&mut self) -> Option<Chunk> {
        loop {
            // Registered before looking, so a publish in between still wakes us.
            let notified = self.feed.inner.notify.notified();
            match poll_queue(&self.feed, &mut self.cursor) {
                Next::Chunk(chunk) => return Some(chunk),
                Next::Closed => return None,
                Next::Wait => notified.await,
            }
        }
    }

    /// [`Subscription::next_chunk`] without waiting: [`Next::Wait`] at live.
    pub(crate) fn try_next_chunk(&mut self) -> Next {
        poll_queue(&self.feed, &mut self.cursor)
    }

    /// Adds `n` body bytes to the feed's [`FeedStats::bytes_sent`].
    pub fn count_sent(&self, n: usize) {
        self.feed
            .inner
            .bytes_sent
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The feed this subscription reads.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }
}

/// The chunk at `cursor` (advancing it), after a skip forward if it fell out of the queue.
fn poll_queue(feed: &Feed, cursor: &mut u64) -> Next {
    let q = feed.lock();
    if q.closed {
        return Next::Closed;
    }
    if *cursor < q.first_seq {
        *cursor = q.burst_seq(feed.ms_to_bytes(BURST_MS));
        feed.inner.lag_skips.fetch_add(1, Ordering::Relaxed);
    }
    let Ok(index) = usize::try_from(*cursor - q.first_seq) else {
        return Next::Wait;
    };
    match q.chunks.get(index) {
        Some(chunk) => {
            *cursor += 1;
            Next::Chunk(chunk.clone())
        }
        None => Next::Wait,
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.inner.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Registry of live feeds: session/stream id → [`Feed`]; cheap to clone.
#[derive(Clone, Default)]
pub struct Feeds {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    feeds: HashMap<i64, Feed>,
    /// Set by [`Feeds::close_all`]: the daemon is stopping, later feeds are closed at once.
    closed: bool,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeds")
            .field("count", &self.lock().feeds.len())
            .finish()
    }
}

impl Feeds {
    /// Registers `feed` under `id`; a feed previously under `id` is closed. After
    /// [`Feeds::close_all`] the feed is closed at once (the daemon is stopping).
    pub fn insert(&self, id: i64, feed: Feed) {
        let old = {
            let mut r = self.lock();
            if r.closed {
                feed.close();
            }
            r.feeds.insert(id, feed)
        };
        if let Some(old) = old {
            old.close();
        }
    }

    /// The feed under `id`, if any (it may be closed).
    pub fn by_playback_id(&self, playback_id: &str) -> Option<(i64, Feed)> {
        self.lock()
            .feeds
            .iter()
            .find(|(_, f)| f.playback_id() == Some(playback_id))
            .map(|(id, f)| (*id, f.clone()))
    }

    /// The feed of stream `id`.
    pub fn get(&self, id: i64) -> Option<Feed> {
        self.lock().feeds.get(&id).cloned()
    }

    /// Unregisters and returns the feed under `id` (the caller closes it if it should end).
    pub fn remove(&self, id: i64) -> Option<Feed> {
        self.lock().feeds.remove(&id)
    }

    /// Removes `feed` from under `id` only if it is still the one registered there (a new
    /// stream of the same session may have replaced it meanwhile).
    pub fn remove_if_same(&self, id: i64, feed: &Feed) -> bool {
        let mut r = self.lock();
        if r.feeds
            .get(&id)
            .is_some_and(|f| Arc::ptr_eq(&f.inner, &feed.inner))
        {
            r.feeds.remove(&id);
            true
        } else {
            false
        }
    }

    /// Closes every feed (daemon shutdown: open stream bodies end so the server can stop);
    /// feeds inserted afterwards are closed on insertion.
    pub fn close_all(&self) {
        let feeds: Vec<Feed> = {
            let mut r = self.lock();
            r.closed = true;
            r.feeds.values().cloned().collect()
        };
        for feed in feeds {
            feed.close();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize, title: &str) -> Chunk {
        Chunk {
            mp3: Bytes::from(vec![0xFF; n]),
            title: Arc::from(title),
        }
    }

    #[tokio::test]
    async fn a_new_listener_starts_a_burst_behind_live_on_a_chunk_boundary() {
        let feed = Feed::new(128); // 16000 bytes/s: burst 24000 bytes
        for _ in 0..30 {
            feed.publish(chunk(1600, "t"));
        }
        let mut sub = feed.subscribe().unwrap();
        let mut got = 0;
        while got < 24_000 {
            got += sub.next_chunk().await.unwrap().mp3.len();
        }
        assert_eq!(got, 24_000);
        assert!(matches!(poll_queue(&sub.feed, &mut sub.cursor), Next::Wait));
        assert_eq!(feed.listeners(), 1);
        drop(sub);
        assert_eq!(feed.listeners(), 0);
        assert_eq!(feed.stats().clients_total, 1);
    }

    #[tokio::test]
    async fn a_listener_that_falls_out_of_the_queue_skips_to_the_burst_position() {
        let feed = Feed::new(128);
        feed.publish(chunk(1600, "a"));
        let mut sub = feed.subscribe().unwrap();
        // 6 s published without reading: the queue keeps only 3 s.
        for _ in 0..60 {
            feed.publish(chunk(1600, "b"));
        }
        let mut got = 0;
        while let Next::Chunk(c) = poll_queue(&sub.feed, &mut sub.cursor) {
            got += c.mp3.len();
        }
        assert_eq!(got, 24_000, "only the burst after the skip");
        assert_eq!(feed.stats().lag_skips, 1);
    }

    #[tokio::test]
    async fn close_ends_waiting_listeners_and_refuses_new_ones() {
        let feed = Feed::new(64);
        let mut sub = feed.subscribe().unwrap();
        let waiter = tokio::spawn(async move { sub.next_chunk().await.is_none() });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        feed.close();
        assert!(waiter.await.unwrap());
        assert!(feed.subscribe().is_none());
        assert!(feed.is_closed());
        assert_eq!(feed.listeners(), 0);
    }

    #[test]
    fn feeds_closed_by_close_all_stay_closed_for_late_inserts() {
        let feeds = Feeds::default();
        let a = Feed::new(128);
        feeds.insert(1, a.clone());
        feeds.close_all();
        assert!(a.is_closed());
        let b = Feed::new(128);
        feeds.insert(2, b.clone());
        assert!(b.is_closed());
        assert!(feeds.remove(1).is_some());
        assert!(feeds.get(1).is_none());
    }
}
