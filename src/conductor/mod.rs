//! The conductor: the only bridge from the control plane (API calls, catalog changes,
//! positions) to the audio engine. It owns every live stream's control state, keeps one
//! catalog snapshot per project up to date with the store, ticks the audiotracks, writes the
//! events the reference server wrote, and tears idle streams down.
//!
//! ```text
//!  api::streams ─► Engine ─► StreamState (playlist, tracks, speakers) ─► MixerControl ─► Mixer
//!  store revision ─► catalog reload ─┘              renderer thread ◄─────────────────┘
//! ```
//!
//! [`Engine`]'s operations, by file: `mod.rs` starts it and opens, kills and shuts down
//! streams (`start`, `open`, `kill`, `shutdown`, `ticking`, `is_active`); `control.rs` is
//! what a stream's listener asks through the API (`update`, `heartbeat`, `play_asset`,
//! `replay`, `skip`, `pause`, `uploaded`, `blocks_changed`); `loops.rs` the control loop
//! (ticks, catalog reloads, idle teardown); `local.rs` the box's own listener (`start_local`,
//! `local_id`, `move_local`, `pause_local`); `status.rs` its counters and health probe
//! (`status`, `log_counters`, [`EngineProbe`]).
//!
//! Owns: streams and their lifecycle. May not touch: samples (the mixer's), HTTP types.

pub mod sources;
pub mod stream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::audio::mix::mixer;
use crate::config::Config;
use crate::output::feed::{Feed, Feeds};
use crate::output::mp3::Mp3Encoder;
use crate::output::render::{self, Renderer};
use crate::playlist::{Playlist, Position};
use crate::store::catalog::Catalog;
use crate::store::{Store, StoreError};

use sources::Sources;
use stream::{ListenerInfo, StreamState};

/// A stream's id: the id of the session it plays for (what api/2 calls the stream id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StreamId(pub i64);

/// An asset's id where it travels beside a stream's, so the two cannot be swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AssetId(pub i64);

/// How often tracks are advanced.
const TICK: Duration = Duration::from_millis(50);
/// Without streams, the control loop wakes this often (for the watchdog's liveness check).
const IDLE_WAKE: Duration = Duration::from_secs(2);
/// How often idle streams are looked for (the reference's ping interval).
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// How often every stream's counters are written to the log (ticks of [`TICK`]).
const LOG_EVERY_TICKS: u64 = 1200;
/// A burst of store writes is folded into one catalog reload after this.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);

/// Why a stream operation was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    /// No such session.
    #[error("session {0} not found")]
    NoSession(i64),
    /// No running stream for the session.
    #[error("no stream available for session: {0}")]
    NoStream(i64),
    /// A request the engine cannot honour (the message names the parameter).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// As many streams run as the box is configured for.
    #[error(
        "the box is already mixing {0} streams, its configured maximum ([stream] max_streams); try again later"
    )]
    Busy(usize),
    /// The stream's thread could not start.
    #[error("cannot start the stream: {0}")]
    Start(String),
}

/// Settings the engine reads from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    /// Idle time before teardown.
    pub heartbeat_timeout: Duration,
    /// Timeout ban length.
    pub ban_timeout_s: f64,
    /// Default MP3 bitrate.
    pub bitrate_kbps: u32,
    /// Speaker gain smoothing.
    pub speaker_ramp_ms: u32,
    /// Decoded-asset cache budget.
    pub cache_bytes: usize,
    /// The media folder.
    pub media_dir: std::path::PathBuf,
    /// Most streams running at once.
    pub max_streams: usize,
    /// Seconds of each stream kept for clips.
    pub clip_buffer_s: u32,
}

impl EngineConfig {
    /// From the daemon's configuration.
    pub(crate) fn from_config(c: &Config) -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(c.stream.heartbeat_timeout_s),
            ban_timeout_s: c.stream.ban_timeout_s as f64,
            bitrate_kbps: c.stream.bitrate_kbps,
            speaker_ramp_ms: c.stream.speaker_ramp_ms,
            cache_bytes: c.stream.cache_mb as usize * 1024 * 1024,
            media_dir: c.storage.media_dir(),
            max_streams: c.stream.max_streams as usize,
            clip_buffer_s: c.stream.clip_buffer_s,
        }
    }
}

/// `POST streams/` parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenRequest {
    /// The session (= stream id).
    pub session_id: i64,
    /// Must equal the session's project when given.
    pub project_id: Option<i64>,
    /// Listener position, when given.
    pub position: Option<Position>,
    /// `audio_stream_bitrate`.
    pub bitrate_kbps: Option<u32>,
    /// The request body, for the `request_stream` event.
    pub data: Option<String>,
}

/// What `POST streams/` answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Opened {
    /// A stream is running (new or reused).
    Stream,
    /// The session asked for the demo stream.
    Demo {
        /// `project.demo_stream_url` (empty: the caller builds the default).
        url: String,
        /// The localized message.
        message: String,
    },
    /// The listener is too far from every active speaker.
    OutOfRange {
        /// `project.out_of_range_url`.
        url: String,
        /// The localized message.
        message: String,
    },
}

/// `PATCH streams/:id/` parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Update {
    /// `tag_ids` when present (modify_stream); empty = no change.
    pub tags: Option<Vec<i64>>,
    /// `language` code (modify_stream only).
    pub language: Option<String>,
    /// Position with directional/range parameters, when lat and lon are both given.
    pub position: Option<Position>,
}

/// How a stream starts.
struct Launch {
    /// The listener's first position.
    position: Option<Position>,
    /// MP3 bitrate.
    bitrate_kbps: u32,
    /// Exempt from the idle teardown (the local listener).
    persistent: bool,
    /// Renderer settings.
    render: render::RenderOptions,
}

struct Entry {
    state: Mutex<StreamState>,
    renderer: Mutex<Renderer>,
    feed: Feed,
    bitrate_kbps: u32,
    activity: Mutex<Instant>,
    idle_checks: AtomicU8,
    persistent: bool,
}

impl Entry {
    fn state(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self) {
        *self.activity.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

struct Inner {
    store: Store,
    config: EngineConfig,
    feeds: Feeds,
    sources: Sources,
    streams: Mutex<HashMap<i64, Arc<Entry>>>,
    /// Catalogs by project, with the store revision they were loaded at.
    catalogs: Mutex<HashMap<i64, (u64, Arc<Catalog>)>>,
    epoch: Instant,
    closed: AtomicBool,
    /// The local listener's stream id, once started.
    local: Mutex<Option<i64>>,
    /// When the control loop last ticked (ms since `epoch`), for the watchdog.
    last_tick_ms: std::sync::atomic::AtomicU64,
    /// Wakes the control loop when the first stream starts (it idles without streams).
    wake: tokio::sync::Notify,
}

/// The stream engine handle (cheap to clone).
#[derive(Clone)]
pub(crate) struct Engine {
    inner: Arc<Inner>,
}

mod control;
mod local;
mod loops;
mod status;

pub(crate) use status::{EngineProbe, EngineStatus};

impl Engine {
    /// An engine over `store`, publishing streams into `feeds`; speakers naming one of
    /// `local`'s streams read it in-process. Spawns its tasks on the current tokio runtime.
    pub(crate) fn start(
        store: Store,
        config: EngineConfig,
        feeds: Feeds,
        local: Option<Arc<dyn crate::audio::LocalStreams>>,
    ) -> Self {
        let sources = Sources::new(&config.media_dir, config.cache_bytes).with_local(local);
        let engine = Self {
            inner: Arc::new(Inner {
                store,
                config,
                feeds,
                sources,
                streams: Mutex::default(),
                catalogs: Mutex::default(),
                epoch: Instant::now(),
                closed: AtomicBool::new(false),
                local: Mutex::new(None),
                last_tick_ms: std::sync::atomic::AtomicU64::new(0),
                wake: tokio::sync::Notify::new(),
            }),
        };
        tokio::spawn(engine.clone().tick_loop());
        tokio::spawn(engine.clone().reload_loop());
        tokio::spawn(engine.clone().idle_loop());
        engine
    }

    fn now_s(&self) -> f64 {
        self.inner.epoch.elapsed().as_secs_f64()
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<i64, Arc<Entry>>> {
        self.inner
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, id: i64) -> Option<Arc<Entry>> {
        self.streams().get(&id).cloned()
    }

    /// True while the control loop runs (it ticked within the last 5 s).
    pub(crate) fn ticking(&self) -> bool {
        let last = self.inner.last_tick_ms.load(Relaxed) as f64 / 1000.0;
        self.now_s() - last < 5.0
    }

    /// The visitors' streams of a project with the speakers whose zones each listener is in
    /// (what event consumers are told of them, as a starting point), by stream id.
    pub(crate) fn listeners(&self, project_id: i64) -> Vec<(i64, Vec<i64>)> {
        let entries: Vec<(i64, Arc<Entry>)> = self
            .streams()
            .iter()
            .filter(|(_, e)| !e.persistent)
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        let mut out: Vec<(i64, Vec<i64>)> = entries
            .into_iter()
            .filter_map(|(id, e)| {
                let s = e.state();
                (s.info.project_id == project_id).then(|| (id, s.zones()))
            })
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// True while a stream runs for the session.
    pub(crate) fn is_active(&self, StreamId(id): StreamId) -> bool {
        self.entry(id).is_some()
    }

    /// The catalog of a project as of the store's current revision.
    async fn catalog(&self, project_id: i64) -> Result<Option<Arc<Catalog>>, EngineError> {
        let revision = self.inner.store.revision();
        if let Some((rev, c)) = self
            .inner
            .catalogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&project_id)
            && *rev == revision
        {
            return Ok(Some(c.clone()));
        }
        let media = self.inner.config.media_dir.clone();
        let loaded = self
            .inner
            .store
            .read(move |c| Ok(Catalog::load(c, project_id, &media)?))
            .await?;
        let Some(catalog) = loaded.map(Arc::new) else {
            return Ok(None);
        };
        self.inner
            .catalogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(project_id, (revision, catalog.clone()));
        let (sources, c) = (self.inner.sources.clone(), catalog.clone());
        tokio::task::spawn_blocking(move || sources.resolve_speakers(&c));
        Ok(Some(catalog))
    }

    /// Starts (or reuses) the stream of a session; the caller answers with the URL.
    ///
    /// # Errors
    /// Unknown session, a project mismatch, listening disabled, a bad bitrate.
    pub(crate) async fn open(&self, req: OpenRequest) -> Result<Opened, EngineError> {
        control::open(self, req).await
    }

    fn spawn_stream(
        &self,
        info: ListenerInfo,
        catalog: Arc<Catalog>,
        mut playlist: Playlist,
        launch: Launch,
    ) -> Result<Arc<Entry>, EngineError> {
        let Launch {
            position,
            bitrate_kbps,
            persistent,
            render: options,
        } = launch;
        let id = info.session_id;
        let running = self.streams().len();
        if running >= self.inner.config.max_streams && !persistent {
            return Err(EngineError::Busy(running));
        }
        let (mixer, control) = mixer();
        let (titles, title_rx) = crate::output::titles::title_queue();
        let encoder =
            Mp3Encoder::new(bitrate_kbps).map_err(|e| EngineError::Start(e.to_string()))?;
        // A random playback id: clips of this stream are asked for by it (its owner's or
        // staff's token is still needed), and nobody can guess another listener's.
        let playback_id = format!("rw-{:016x}", rand::random::<u64>());
        let feed = Feed::with_clips(
            bitrate_kbps,
            self.inner.config.clip_buffer_s,
            Some(playback_id),
        );
        let renderer = render::spawn(id, mixer, encoder, feed.clone(), title_rx, options)
            .map_err(|e| EngineError::Start(e.to_string()))?;
        let now_s = self.now_s();
        playlist.rebuild(&catalog, position.as_ref().filter(|_| info.geo), now_s);
        let mut state = StreamState::new(
            info,
            catalog,
            playlist,
            control,
            titles,
            self.inner.config.speaker_ramp_ms,
            rand::random(),
        );
        if let Some(p) = position {
            state.move_to(p, now_s, &self.inner.sources);
        } else {
            state.update_speakers(&self.inner.sources);
        }
        let entry = Arc::new(Entry {
            state: Mutex::new(state),
            renderer: Mutex::new(renderer),
            feed: feed.clone(),
            bitrate_kbps,
            activity: Mutex::new(Instant::now()),
            idle_checks: AtomicU8::new(0),
            persistent,
        });
        self.inner.feeds.insert(id, feed);
        self.streams().insert(id, entry.clone());
        self.inner.wake.notify_one();
        log::info!(stream = id; "stream {id} started at {bitrate_kbps} kbps");
        Ok(entry)
    }

    /// Ends a stream: its clients' bodies end, its thread stops, `cleanup_session` is logged.
    /// False if it was not running.
    pub(crate) async fn kill(&self, StreamId(id): StreamId) -> bool {
        let Some(entry) = self.streams().remove(&id) else {
            return false;
        };
        self.inner.feeds.remove_if_same(id, &entry.feed);
        entry.feed.close();
        let e2 = entry.clone();
        let _ = tokio::task::spawn_blocking(move || {
            e2.renderer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .stop();
        })
        .await;
        self.log_event(id, "cleanup_session", None, None).await;
        let project_id = entry.state().info.project_id;
        self.announce(id, project_id, false, Vec::new()).await;
        log::info!(stream = id; "stream {id} ended");
        self.release_unused_beds();
        true
    }

    /// Stops every stream (daemon shutdown): bodies end, threads stop, pullers stop.
    pub(crate) fn shutdown(&self) {
        self.inner.closed.store(true, Relaxed);
        let entries: Vec<Arc<Entry>> = self.streams().drain().map(|(_, e)| e).collect();
        self.inner.feeds.close_all();
        for e in entries {
            e.feed.close();
            e.renderer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .stop();
        }
        self.inner.sources.stop_all();
    }

    /// Tells event consumers (the outbox) of a stream that started, moved into or out of a
    /// zone, or ended; `data` is what `GET streams/:id/isactive` answers, with the project
    /// and the speakers whose zones the listener is in. A failure is logged, not returned.
    async fn announce(&self, id: i64, project_id: i64, active: bool, zones: Vec<i64>) {
        if !self.inner.store.events_enabled() {
            return;
        }
        let data = serde_json::json!({
            "stream_id": id,
            "active": active,
            "project_id": project_id,
            "speaker_ids": zones,
        });
        let result = self
            .inner
            .store
            .write_quiet(move |tx| {
                crate::store::outbox::record(tx, "stream", id, Some(project_id), &data, !active)
            })
            .await;
        if let Err(e) = result {
            log::warn!(stream = id; "cannot announce stream {id} to event streams: {e}");
        }
    }

    /// Announces a running stream's zones when they changed since the last announcement.
    async fn announce_zones(&self, id: i64) {
        let Some(entry) = self.entry(id) else { return };
        let changed = {
            let mut s = entry.state();
            s.zones_changed().map(|z| (s.info.project_id, z))
        };
        if let Some((project_id, zones)) = changed {
            self.announce(id, project_id, true, zones).await;
        }
    }

    async fn log_event(
        &self,
        id: i64,
        kind: &'static str,
        data: Option<String>,
        p: Option<Position>,
    ) {
        self.log_event_tags(id, kind, data, p, None).await;
    }

    /// Records a server-side event (reference-server §6); a failure is logged, not returned
    /// (the stream operation itself succeeded).
    async fn log_event_tags(
        &self,
        id: i64,
        kind: &'static str,
        data: Option<String>,
        p: Option<Position>,
        tags: Option<Vec<i64>>,
    ) {
        let result = self
            .inner
            .store
            .write(move |tx| {
                crate::store::events::log_event(
                    tx,
                    id,
                    kind,
                    data,
                    p.map(|p| p.latitude),
                    p.map(|p| p.longitude),
                    tags.as_deref(),
                )
            })
            .await;
        if let Err(e) = result {
            log::warn!(stream = id; "cannot log {kind} for stream {id}: {e}");
        }
    }
}
