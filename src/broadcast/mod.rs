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
//! Beside it: [`ingest`] (push sources), [`local`] (speakers fed in-process), [`pull`] (pull sources), [`push`] (sending a live
//! channel on to Icecast targets), [`record`] (recordings), [`frames`] (MP3 framing), and
//! `probe` (the metrics). Clips are cut from the feed's own buffer (`output::clips`).
//!
//! Owns: the live map, sessions' counters, ending sources. May not touch: HTTP routing, SQL
//! beyond `store::channels`.

pub(crate) mod frames;
pub(crate) mod ingest;
pub(crate) mod local;
mod probe;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod record;
pub(crate) mod transcode;

pub(crate) use probe::BroadcastProbe;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::output::feed::{Feed, FeedStats};
use crate::store::Store;
use crate::store::time::now_ms;

/// A new session id (a UUID's layout).
fn new_session_id() -> String {
    use rand::Rng as _;
    let b: [u8; 16] = rand::rng().random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Push loops by (channel id, target id): how to stop each, and its state.
type Pushes = HashMap<(String, String), (CancellationToken, Arc<push::TargetState>)>;

/// How long a listener waits for a just-connected source's first frames.
const FIRST_AUDIO_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The live channels of the box; cheap to clone.
#[derive(Clone)]
pub(crate) struct Broadcast {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// The media folder (recordings live in its `recordings/`).
    media_dir: std::path::PathBuf,
    /// Seconds of each live channel kept for clips.
    clip_buffer_s: u32,
    /// How long a channel with many listeners gathers pieces ([`Feed::set_relay_hold_ms`]).
    relay_hold_ms: u32,
    live: Mutex<HashMap<String, Arc<Live>>>,
    /// Pull loops by channel id.
    pulls: Mutex<HashMap<String, Arc<pull::Pull>>>,
    /// Push loops by (channel id, target id): how to stop each, and its state.
    pushes: Mutex<Pushes>,
    /// Cancelled when the daemon stops: every source ends.
    shutdown: CancellationToken,
}

/// One live session of a channel.
pub(crate) struct Live {
    /// The channel's id.
    pub channel_id: String,
    /// This session's id.
    pub session_id: String,
    /// Whether it is recorded.
    record: bool,
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
    /// No channel live; recordings go to `media_dir`; channels keep clips and relay as
    /// `config` says; sources end when `shutdown` is cancelled.
    pub(crate) fn new(
        store: Store,
        media_dir: std::path::PathBuf,
        config: &crate::config::BroadcastConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                media_dir,
                clip_buffer_s: config.clip_buffer_s,
                relay_hold_ms: config.relay_hold_ms,
                live: Mutex::new(HashMap::new()),
                pulls: Mutex::new(HashMap::new()),
                pushes: Mutex::new(HashMap::new()),
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
    pub(crate) fn begin(
        &self,
        channel_id: &str,
        playback_id: &str,
        record: bool,
    ) -> Result<Session, BeginError> {
        self.begin_under(channel_id, playback_id, record, &self.inner.shutdown)
    }

    /// [`Broadcast::begin`] for a source that also ends when `parent` is cancelled.
    ///
    /// # Errors
    /// As [`Broadcast::begin`].
    pub(crate) fn begin_under(
        &self,
        channel_id: &str,
        playback_id: &str,
        record: bool,
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
        let session_id = new_session_id();
        let session = Arc::new(Live {
            channel_id: channel_id.to_owned(),
            session_id: session_id.clone(),
            record,
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
        drop(live);
        let row = session.row(None, None);
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store
                .write_quiet(move |tx| crate::store::channels::put_session(tx, &row))
                .await
            {
                log::warn!("cannot store a new channel session: {e}");
            }
        });
        let recorder = record.then(|| record::Recorder::start(&self.inner.media_dir, &session_id));
        // Once the first frames made the feed, the channel's targets are pushed to.
        let this = self.clone();
        let (id, pid) = (channel_id.to_owned(), playback_id.to_owned());
        tokio::spawn(async move {
            if this.playback(&pid).await.is_some() {
                this.reconcile_targets(&id).await;
            }
        });
        Ok(Session {
            live: session,
            broadcast: self.clone(),
            recorder,
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

    /// The feed of the live channel whose playback id is `playback_id`, at once (no wait),
    /// with its channel id and session id: for clips.
    pub(crate) fn live_feed(&self, playback_id: &str) -> Option<(String, String, Feed)> {
        self.lock()
            .values()
            .find(|l| l.playback_id == playback_id && !l.flushed.load(Ordering::Acquire))
            .and_then(|l| {
                Some((
                    l.channel_id.clone(),
                    l.session_id.clone(),
                    l.feed.get()?.clone(),
                ))
            })
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

    /// The media folder recordings are written under.
    pub(crate) fn media_dir(&self) -> &std::path::Path {
        &self.inner.media_dir
    }

    /// At start: finishes the recordings a crash cut off, and starts the pulls that were
    /// running when the daemon last stopped.
    pub(crate) async fn resume(&self) {
        record::recover(&self.inner.store, &self.inner.media_dir).await;
        self.resume_pulls().await;
    }
}

impl Live {
    /// The session's row: as it starts (`ended` `None`), or as it ended.
    fn row(
        &self,
        ended: Option<(i64, &LiveStats)>,
        recording: Option<&Result<String, String>>,
    ) -> crate::store::channels::ChannelSession {
        let (status, file) = match (self.record, recording) {
            (false, _) => ("none", None),
            (true, None) => ("waiting", None),
            (true, Some(Ok(name))) => ("ready", Some(name.clone())),
            (true, Some(Err(_))) => ("failed", None),
        };
        crate::store::channels::ChannelSession {
            id: self.session_id.clone(),
            channel_id: self.channel_id.clone(),
            started_ms: self.started_ms,
            ended_ms: ended.map(|(at, _)| at),
            bytes: ended.map_or(0, |(_, s)| i64::try_from(s.bytes).unwrap_or(i64::MAX)),
            duration_ms: ended.map_or(0, |(_, s)| i64::try_from(s.duration_ms).unwrap_or(i64::MAX)),
            record: self.record,
            recording_status: status.into(),
            file,
        }
    }

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

/// Counts a session's source bytes (and when it last heard from the source).
#[derive(Clone)]
pub(crate) struct Received(Arc<Live>);

impl Received {
    /// Counts `bytes` received from the source now.
    pub(crate) fn add(&self, bytes: usize) {
        self.0.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.0.last_seen_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// A source's hold on its channel: what it publishes, and the counters it adds to.
pub(crate) struct Session {
    live: Arc<Live>,
    broadcast: Broadcast,
    recorder: Option<record::Recorder>,
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
        self.received_counter().add(bytes);
    }

    /// A counter of source bytes for another thread or task.
    pub(crate) fn received_counter(&self) -> Received {
        Received(self.live.clone())
    }

    /// Publishes whole MP3 frames to the listeners (the first call makes the feed, at the
    /// bitrate of `frames.first`).
    pub(crate) fn publish(&self, frames: frames::Frames) {
        let Some(first) = frames.first else {
            return;
        };
        let clip_s = self.broadcast.inner.clip_buffer_s;
        let feed = self.live.feed.get_or_init(|| {
            let feed = Feed::with_clips(first.kbps, clip_s, None);
            feed.set_relay_hold_ms(self.broadcast.inner.relay_hold_ms);
            feed
        });
        if let Some(r) = &self.recorder {
            r.write(&frames.audio);
        }
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
        self.live.stop.cancel();
        if let Some(feed) = self.live.feed.get() {
            feed.close();
        }
        let stats = self.live.stats();
        let recording = match self.recorder.take() {
            Some(r) => {
                let done = r
                    .finish(&self.broadcast.inner.media_dir, &self.live.session_id)
                    .await;
                if let Err(e) = &done {
                    log::warn!(
                        "channel {}: session {} was not recorded: {e}",
                        self.live.channel_id,
                        self.live.session_id
                    );
                }
                Some(done)
            }
            None => None,
        };
        let row = self.live.row(Some((now_ms(), &stats)), recording.as_ref());
        let id = self.live.channel_id.clone();
        let stored = self
            .broadcast
            .inner
            .store
            .write_quiet(move |tx| {
                crate::store::channels::put_session(tx, &row)?;
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
            // The channel went while it was live (deleted): its recording goes too.
            if let Some(Ok(name)) = &recording {
                let _ = tokio::fs::remove_file(self.broadcast.inner.media_dir.join(name)).await;
            }
        }
        self.live.flushed.store(true, Ordering::Release);
        self.release();
    }

    fn release(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.live.stop.cancel();
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
