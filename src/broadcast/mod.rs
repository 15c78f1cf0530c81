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
pub(crate) mod push;
pub(crate) mod record;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::output::feed::{Feed, FeedStats};
use crate::store::Store;
use crate::store::channels::Channel;
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
    /// No channel live; recordings go to `media_dir`; `clip_buffer_s` of each live channel
    /// is kept for clips; sources end when `shutdown` is cancelled.
    pub(crate) fn new(
        store: Store,
        media_dir: std::path::PathBuf,
        clip_buffer_s: u32,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                media_dir,
                clip_buffer_s,
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
            if pulls
                .get(&channel.id)
                .is_some_and(|p| !p.stop.is_cancelled())
            {
                return;
            }
            let pull = Arc::new(pull::Pull::new(self.inner.shutdown.child_token()));
            pulls.insert(channel.id.clone(), pull.clone());
            pull
        };
        log::info!("channel {}: pulling {}", channel.id, pull::redact(url));
        let spec = pull::PullSpec {
            channel_id: channel.id.clone(),
            playback_id: channel.playback_id.clone(),
            url: url.to_owned(),
            headers,
            record: channel.record,
        };
        tokio::spawn(pull::run(self.clone(), spec, pull));
    }

    fn pushes(&self) -> MutexGuard<'_, Pushes> {
        self.inner
            .pushes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes channel `channel_id`'s pushes match its enabled targets while it is live (and
    /// stops them all when it is not). Called when it goes live and when its targets change.
    pub(crate) async fn reconcile_targets(&self, channel_id: &str) {
        let live = self
            .lock()
            .get(channel_id)
            .filter(|l| !l.stop.is_cancelled())
            .cloned();
        let feed = live.as_ref().and_then(|l| l.feed.get().cloned());
        let wanted = match (&live, &feed) {
            (Some(_), Some(_)) => {
                let id = channel_id.to_owned();
                let read = self
                    .inner
                    .store
                    .read(move |c| {
                        let Some(ch) = crate::store::channels::get(c, &id)? else {
                            return Ok(None);
                        };
                        let mut targets = Vec::new();
                        for t in &ch.targets {
                            if let Some(target) = crate::store::channels::target(c, &t.target_id)? {
                                if !target.disabled {
                                    targets.push(target);
                                }
                            }
                        }
                        Ok(Some((ch.name, targets)))
                    })
                    .await;
                match read {
                    Ok(found) => found,
                    Err(e) => {
                        log::warn!("channel {channel_id}: cannot read its targets: {e}");
                        return;
                    }
                }
            }
            _ => None,
        };
        let mut pushes = self.pushes();
        let keep: Vec<String> = wanted
            .as_ref()
            .map(|(_, t)| t.iter().map(|t| t.id.clone()).collect())
            .unwrap_or_default();
        pushes.retain(|(ch, target), (stop, _)| {
            let stays = ch != channel_id || (keep.contains(target) && !stop.is_cancelled());
            if !stays {
                stop.cancel();
            }
            stays
        });
        let (Some((name, targets)), Some(live), Some(feed)) = (wanted, live, feed) else {
            return;
        };
        for target in targets {
            let key = (channel_id.to_owned(), target.id.clone());
            if pushes.contains_key(&key) {
                continue;
            }
            let endpoint = match crate::net::push::Endpoint::parse(&target.url) {
                Ok(e) => e,
                Err(e) => {
                    log::warn!(
                        "channel {channel_id}: target {} is unusable: its URL {e}",
                        target.id
                    );
                    continue;
                }
            };
            let stop = live.stop.child_token();
            let state = Arc::new(push::TargetState::default());
            pushes.insert(key, (stop.clone(), state.clone()));
            tokio::spawn(push::run(push::PushJob {
                channel_id: channel_id.to_owned(),
                channel_name: name.clone(),
                target_id: target.id,
                endpoint,
                feed: feed.clone(),
                stop,
                state,
            }));
        }
    }

    /// Stops the push of channel `channel_id` to target `target_id` and starts it again if it
    /// is still wanted (its URL or switch changed).
    pub(crate) async fn restart_target(&self, channel_id: &str, target_id: &str) {
        if let Some((stop, _)) = self
            .pushes()
            .remove(&(channel_id.to_owned(), target_id.to_owned()))
        {
            stop.cancel();
        }
        self.reconcile_targets(channel_id).await;
    }

    /// The push state of channel `channel_id`'s target `target_id`, while it is pushed.
    pub(crate) fn target_status(
        &self,
        channel_id: &str,
        target_id: &str,
    ) -> Option<push::TargetStatus> {
        self.pushes()
            .get(&(channel_id.to_owned(), target_id.to_owned()))
            .filter(|(stop, _)| !stop.is_cancelled())
            .map(|(_, state)| state.status())
    }

    /// What keeps channel `channel_id`'s pull from playing, if anything.
    pub(crate) fn pull_issue(&self, channel_id: &str) -> Option<String> {
        self.pulls().get(channel_id).and_then(|p| p.issue())
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

    /// Starts the pulls that were running when the daemon last stopped.
    async fn resume_pulls(&self) {
        match self.inner.store.read(crate::store::channels::list).await {
            Ok(all) => {
                for ch in all.iter().filter(|c| c.pulling && !c.suspended) {
                    self.start_pull(ch);
                }
            }
            Err(e) => log::warn!("cannot read the channels to resume their pulls: {e}"),
        }
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
        self.live.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.live.last_seen_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Publishes whole MP3 frames to the listeners (the first call makes the feed, at the
    /// bitrate of `frames.first`).
    pub(crate) fn publish(&self, frames: frames::Frames) {
        let Some(first) = frames.first else {
            return;
        };
        let clip_s = self.broadcast.inner.clip_buffer_s;
        let feed = self
            .live
            .feed
            .get_or_init(|| Feed::with_clips(first.kbps, clip_s, None));
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

/// Broadcast channels as a health component: live channels, their listeners and their push
/// targets in `/metrics`.
pub(crate) struct BroadcastProbe(pub(crate) Broadcast);

impl crate::health::Probe for BroadcastProbe {
    fn name(&self) -> &'static str {
        "broadcast"
    }

    fn state(&self) -> crate::health::ComponentState {
        crate::health::ComponentState::Ok
    }

    fn write_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let live: Vec<(String, LiveStats)> = self
            .0
            .lock()
            .iter()
            .filter(|(_, l)| !l.flushed.load(Ordering::Acquire))
            .map(|(id, l)| (id.clone(), l.stats()))
            .collect();
        out.push_str(
            "# HELP roundwared_channels_live Broadcast channels with a source now.\n\
             # TYPE roundwared_channels_live gauge\n",
        );
        let _ = writeln!(out, "roundwared_channels_live {}", live.len());
        out.push_str(
            "# HELP roundwared_channel_listeners Listeners of a live broadcast channel.\n\
             # TYPE roundwared_channel_listeners gauge\n",
        );
        for (id, s) in &live {
            let _ = writeln!(
                out,
                "roundwared_channel_listeners{{channel=\"{id}\"}} {}",
                s.feed.listeners
            );
        }
        out.push_str(
            "# HELP roundwared_channel_source_bytes Source bytes of a live channel's session.\n\
             # TYPE roundwared_channel_source_bytes gauge\n",
        );
        for (id, s) in &live {
            let _ = writeln!(
                out,
                "roundwared_channel_source_bytes{{channel=\"{id}\"}} {}",
                s.bytes
            );
        }
        let pushes: Vec<((String, String), push::TargetStatus)> = self
            .0
            .pushes()
            .iter()
            .filter(|(_, (stop, _))| !stop.is_cancelled())
            .map(|(k, (_, state))| (k.clone(), state.status()))
            .collect();
        out.push_str(
            "# HELP roundwared_channel_target_connected Whether a push target takes the channel now.\n\
             # TYPE roundwared_channel_target_connected gauge\n",
        );
        for ((ch, t), st) in &pushes {
            let _ = writeln!(
                out,
                "roundwared_channel_target_connected{{channel=\"{ch}\",target=\"{t}\"}} {}",
                u8::from(st.connected)
            );
        }
        out.push_str(
            "# HELP roundwared_channel_target_bytes Bytes pushed to a target this session.\n\
             # TYPE roundwared_channel_target_bytes gauge\n",
        );
        for ((ch, t), st) in &pushes {
            let _ = writeln!(
                out,
                "roundwared_channel_target_bytes{{channel=\"{ch}\",target=\"{t}\"}} {}",
                st.bytes
            );
        }
    }
}
