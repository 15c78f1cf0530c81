//! Broadcast channels, live: which channels have a source right now, the MP3 feed each one
//! fans out to its listeners, and the ingest counters of the current session.
//!
//! A channel is configured through the Livepeer-compatible API (`api::livepeer`) and stored
//! by `store::channels`; it goes live when a source connects ([`ingest`], an Icecast source
//! client pushing to `/live/<streamKey>`). One source per channel: a second one is refused
//! while the first is live. The source's MP3 frames are published unchanged (no re-encode)
//! into a [`Feed`], the same fan-out queue personal streams use, so playback at
//! `/live/<playbackId>.mp3` is Icecast-grade: a burst on connect, slow readers skipped.
//! When the source leaves (or is terminated, suspended, deleted, or the daemon stops) the
//! feed closes, listeners' bodies end, and the session's counters are added to the row.
//!
//! Owns: the live map, sessions' counters, ending sources. May not touch: HTTP routing, SQL
//! beyond `store::channels`.

pub(crate) mod frames;
pub(crate) mod ingest;
pub(crate) mod pull;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::output::feed::{Feed, FeedStats};
use crate::store::Store;
use crate::store::channels::Channel;
use crate::store::time::now_ms;

/// How long a listener waits for a just-connected source's first frames.
const FIRST_AUDIO_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The live channels of the box; cheap to clone.
#[derive(Clone)]
pub(crate) struct Broadcast {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    live: Mutex<HashMap<String, Arc<Live>>>,
    /// Pull loops by channel id.
    pulls: Mutex<HashMap<String, Arc<pull::Pull>>>,
    /// Cancelled when the daemon stops: every source ends.
    shutdown: CancellationToken,
}

/// One live session of a channel.
pub(crate) struct Live {
    /// The channel's id.
    pub channel_id: String,
    /// Its playback id.
    pub playback_id: String,
    /// The feed, made when the first frame tells the bitrate.
    feed: OnceLock<Feed>,
    /// Unix ms the session started.
    pub started_ms: i64,
    bytes: AtomicU64,
    duration_us: AtomicU64,
    last_seen_ms: AtomicI64,
    /// Cancelled to end the source (terminate, suspend, delete, shutdown).
    stop: CancellationToken,
    /// The session's counters are in the row: it no longer counts as live.
    flushed: std::sync::atomic::AtomicBool,
}

/// A live channel's figures, for the API and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiveStats {
    /// Unix ms the current session started.
    pub started_ms: i64,
    /// Source bytes this session.
    pub bytes: u64,
    /// Source audio this session, in ms.
    pub duration_ms: u64,
    /// Unix ms of the last source data.
    pub last_seen_ms: i64,
    /// The source's bitrate, once known.
    pub bitrate_kbps: Option<u32>,
    /// Its listeners.
    pub feed: FeedStats,
}

/// Why a source may not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BeginError {
    /// The channel already has a source.
    #[error("channel {0} is already live: one source at a time")]
    AlreadyLive(String),
    /// The daemon is stopping.
    #[error("the box is shutting down")]
    ShuttingDown,
}

impl Broadcast {
    /// No channel live; sources end when `shutdown` is cancelled.
    pub(crate) fn new(store: Store, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                live: Mutex::new(HashMap::new()),
                pulls: Mutex::new(HashMap::new()),
                shutdown,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Live>>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims channel `channel_id` for a new source; the session lasts until the returned
    /// [`Session`] is finished or dropped.
    ///
    /// # Errors
    /// [`BeginError::AlreadyLive`] while another source is live on it.
    pub(crate) fn begin(&self, channel_id: &str, playback_id: &str) -> Result<Session, BeginError> {
        self.begin_under(channel_id, playback_id, &self.inner.shutdown)
    }

    /// [`Broadcast::begin`] for a source that also ends when `parent` is cancelled.
    ///
    /// # Errors
    /// As [`Broadcast::begin`].
    pub(crate) fn begin_under(
        &self,
        channel_id: &str,
        playback_id: &str,
        parent: &CancellationToken,
    ) -> Result<Session, BeginError> {
        if self.inner.shutdown.is_cancelled() || parent.is_cancelled() {
            return Err(BeginError::ShuttingDown);
        }
        let mut live = self.lock();
        if live.contains_key(channel_id) {
            return Err(BeginError::AlreadyLive(channel_id.to_owned()));
        }
        let now = now_ms();
        let session = Arc::new(Live {
            channel_id: channel_id.to_owned(),
            playback_id: playback_id.to_owned(),
            feed: OnceLock::new(),
            started_ms: now,
            bytes: AtomicU64::new(0),
            duration_us: AtomicU64::new(0),
            last_seen_ms: AtomicI64::new(now),
            stop: parent.child_token(),
            flushed: std::sync::atomic::AtomicBool::new(false),
        });
        live.insert(channel_id.to_owned(), session.clone());
        Ok(Session {
            live: session,
            broadcast: self.clone(),
            finished: false,
        })
    }

    /// The feed of the channel whose playback id is `playback_id`, while it is live. A source
    /// that has just connected has no feed until its first frames tell the bitrate: that is
    /// waited for, up to [`FIRST_AUDIO_WAIT`].
    pub(crate) async fn playback(&self, playback_id: &str) -> Option<Feed> {
        let deadline = tokio::time::Instant::now() + FIRST_AUDIO_WAIT;
        loop {
            let live = self
                .lock()
                .values()
                .find(|l| l.playback_id == playback_id)
                .cloned()?;
            if let Some(feed) = live.feed.get() {
                return (!feed.is_closed()).then(|| feed.clone());
            }
            if tokio::time::Instant::now() >= deadline || live.stop.is_cancelled() {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Figures of channel `channel_id` while it is live.
    pub(crate) fn stats(&self, channel_id: &str) -> Option<LiveStats> {
        self.lock()
            .get(channel_id)
            .filter(|l| !l.flushed.load(Ordering::Acquire))
            .map(|l| l.stats())
    }

    /// Ends channel `channel_id`'s current source and stops its pull, if it has them;
    /// whether it was live.
    pub(crate) fn end(&self, channel_id: &str) -> bool {
        if let Some(pull) = self.pulls().remove(channel_id) {
            pull.stop.cancel();
        }
        match self.lock().get(channel_id) {
            Some(live) => {
                live.stop.cancel();
                true
            }
            None => false,
        }
    }

    fn pulls(&self) -> MutexGuard<'_, HashMap<String, Arc<pull::Pull>>> {
        self.inner
            .pulls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts pulling `channel`'s `pull.source` (nothing if it is already pulling or has no
    /// source). Must be called within the tokio runtime.
    pub(crate) fn start_pull(&self, channel: &Channel) {
        let Some(url) = channel
            .pull
            .as_ref()
            .and_then(|p| p.get("source"))
            .and_then(|s| s.as_str())
        else {
            return;
        };
        let headers = channel
            .pull
            .as_ref()
            .and_then(|p| p.get("headers"))
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let pull = {
            let mut pulls = self.pulls();
            if pulls.get(&channel.id).is_some_and(|p| !p.stop.is_cancelled()) {
                return;
            }
            let pull = Arc::new(pull::Pull::new(self.inner.shutdown.child_token()));
            pulls.insert(channel.id.clone(), pull.clone());
            pull
        };
        log::info!(
            "channel {}: pulling {}",
            channel.id,
            pull::redact(url)
        );
        let spec = pull::PullSpec {
            channel_id: channel.id.clone(),
            playback_id: channel.playback_id.clone(),
            url: url.to_owned(),
            headers,
        };
        tokio::spawn(pull::run(self.clone(), spec, pull));
    }

    /// What keeps channel `channel_id`'s pull from playing, if anything.
    pub(crate) fn pull_issue(&self, channel_id: &str) -> Option<String> {
        self.pulls().get(channel_id).and_then(|p| p.issue())
    }

    /// Starts the pulls that were running when the daemon last stopped.
    pub(crate) async fn resume_pulls(&self) {
        match self.inner.store.read(crate::store::channels::list).await {
            Ok(all) => {
                for ch in all.iter().filter(|c| c.pulling && !c.suspended) {
                    self.start_pull(ch);
                }
            }
            Err(e) => log::warn!("cannot read the channels to resume their pulls: {e}"),
        }
    }

    /// Figures of every live channel, by channel id.
    pub(crate) fn all_stats(&self) -> Vec<(String, LiveStats)> {
        self.lock()
            .iter()
            .map(|(id, l)| (id.clone(), l.stats()))
            .collect()
    }
}

impl Live {
    fn stats(&self) -> LiveStats {
        let feed = self.feed.get();
        LiveStats {
            started_ms: self.started_ms,
            bytes: self.bytes.load(Ordering::Relaxed),
            duration_ms: self.duration_us.load(Ordering::Relaxed) / 1000,
            last_seen_ms: self.last_seen_ms.load(Ordering::Relaxed),
            bitrate_kbps: feed.map(Feed::bitrate_kbps),
            feed: feed.map(Feed::stats).unwrap_or_default(),
        }
    }
}

/// A source's hold on its channel: what it publishes, and the counters it adds to.
pub(crate) struct Session {
    live: Arc<Live>,
    broadcast: Broadcast,
    finished: bool,
}

impl Session {
    /// Resolves when the source must end (terminate, suspend, delete, shutdown).
    pub(crate) async fn stopped(&self) {
        self.live.stop.cancelled().await;
    }

    /// Whether the source must end.
    pub(crate) fn is_stopped(&self) -> bool {
        self.live.stop.is_cancelled()
    }

    /// Counts `bytes` received from the source.
    pub(crate) fn received(&self, bytes: usize) {
        self.live.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.live.last_seen_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Publishes whole MP3 frames to the listeners (the first call makes the feed, at the
    /// bitrate of `frames.first`).
    pub(crate) fn publish(&self, frames: frames::Frames) {
        let Some(first) = frames.first else {
            return;
        };
        let feed = self.live.feed.get_or_init(|| Feed::new(first.kbps));
        self.live
            .duration_us
            .fetch_add(frames.duration_us, Ordering::Relaxed);
        feed.publish(crate::output::feed::Chunk {
            mp3: frames.audio,
            title: Arc::from(""),
        });
    }

    /// Ends the session: listeners' bodies end, this session's counters are added to the
    /// channel's row, and then the channel is idle and free for a new source (so an idle
    /// channel's row already holds them).
    pub(crate) async fn finish(mut self) {
        if let Some(feed) = self.live.feed.get() {
            feed.close();
        }
        let stats = self.live.stats();
        let id = self.live.channel_id.clone();
        let stored = self
            .broadcast
            .inner
            .store
            .write_quiet(move |tx| {
                crate::store::channels::add_ingest(
                    tx,
                    &id,
                    stats.bytes,
                    stats.duration_ms,
                    stats.last_seen_ms,
                )
            })
            .await;
        if let Err(e) = stored {
            log::warn!(
                "channel {}: cannot store the session's counters: {e}",
                self.live.channel_id
            );
        }
        self.live.flushed.store(true, Ordering::Release);
        self.release();
    }

    fn release(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(feed) = self.live.feed.get() {
            feed.close();
        }
        let mut live = self.broadcast.lock();
        if live
            .get(&self.live.channel_id)
            .is_some_and(|l| Arc::ptr_eq(l, &self.live))
        {
            live.remove(&self.live.channel_id);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.release();
    }
}
