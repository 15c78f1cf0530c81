//! The MP3 renderer: one thread per HTTP stream that runs the stream's [`Mixer`] against the
//! monotonic clock (pacing by sample count since start, never by `sleep(block)`), encodes
//! each block with LAME, and publishes whole-frame chunks with the current ICY title to the
//! stream's [`Feed`], which every HTTP client of the stream shares.
//!
//! Soft real time: the thread never waits for a client (publishing cannot block), stays a
//! little ahead of real time so clients always have data, and counts late blocks and
//! underruns. Titles arrive through a lock-free queue ([`super::titles`]); the thread
//! allocates only the chunk it publishes (every 250 ms) and takes the feed's lock for that
//! push.
//!
//! The local listener's renderer also feeds the sound card (its `tap`) and runs at
//! `SCHED_FIFO` one below the card's callback. Its MP3 encode stays on this thread: the
//! callback, the only hard deadline, reads a ring held at about 50 ms plus this thread's
//! 40 ms lead, while mixing and encoding one 10 ms block costs a fraction of a millisecond
//! (`block_work_us` in the stream's status), so an encode can never starve the card; a
//! separate encoder thread would add a second ring and a thread per box for no measured gain
//! (the card soak in the README: no dropouts with 20 phone streams loading the box).
//!
//! Owns: pacing and encoding. May not touch: playlist or geo decisions, the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::feed::{Chunk, Feed};
use super::mp3::Mp3Encoder;
use crate::audio::mix::Mixer;
use crate::audio::pcm::RATE_HZ;
use crate::audio::rt::BLOCK_FRAMES;
use crate::output::titles::TitleReceiver;

/// How far ahead of real time an HTTP-only renderer keeps its stream: slack for a busy box's
/// scheduler, invisible behind the clients' 1.5 s burst.
pub(crate) const HTTP_LEAD_FRAMES: u64 = RATE_HZ as u64 / 2;
/// Lead of a renderer that also feeds a sound card: the card's own small buffer is the slack,
/// and every millisecond here is latency between a control change and the loudspeaker.
pub(crate) const CARD_LEAD_FRAMES: u64 = RATE_HZ as u64 / 25;

/// Somewhere else each rendered block goes (the sound card of the local listener).
pub(crate) trait BlockSink: Send {
    /// Takes one block of interleaved stereo at the engine rate; must not block.
    fn push_block(&mut self, interleaved: &[f32]);
}

/// How often a renderer that feeds a sound card wakes: control changes (a GPS fix) reach
/// its mixer within about this.
pub(crate) const CARD_WAKE: Duration = Duration::from_millis(5);

/// How a renderer runs.
pub(crate) struct RenderOptions {
    /// Frames kept ahead of real time.
    pub lead_frames: u64,
    /// How often the thread wakes to render up to the lead.
    pub wake: Duration,
    /// `SCHED_FIFO` priority of the thread (0: normal scheduling).
    pub rt_priority: u8,
    /// An extra destination for every block.
    pub tap: Option<Box<dyn BlockSink>>,
}

impl RenderOptions {
    /// A renderer feeding a sound card through `tap`: small lead, frequent wake-ups,
    /// real-time priority `rt_priority` when not 0.
    pub(crate) fn card(tap: Box<dyn BlockSink>, rt_priority: u8) -> Self {
        Self {
            lead_frames: CARD_LEAD_FRAMES,
            wake: CARD_WAKE,
            rt_priority,
            tap: Some(tap),
        }
    }
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            lead_frames: HTTP_LEAD_FRAMES,
            wake: WAKE,
            rt_priority: 0,
            tap: None,
        }
    }
}
/// An HTTP renderer wakes this often (so control changes reach the mixer within about this).
const WAKE: Duration = Duration::from_millis(20);
/// Audio per published chunk (one socket write per client per chunk: about 4 KB at
/// 128 kbps, the size Icecast moves per write).
const CHUNK_FRAMES: u64 = RATE_HZ as u64 / 4;
/// Further behind than this, the stream skips ahead instead of trying to catch up.
const MAX_BEHIND_FRAMES: u64 = RATE_HZ as u64;

/// Counters of one renderer.
#[derive(Debug, Default)]
pub(crate) struct RenderStats {
    /// Blocks rendered after the moment they should already have been playing.
    pub late_blocks: AtomicU64,
    /// Times the stream fell behind real time (clients were starved).
    pub underruns: AtomicU64,
    /// How far ahead of real time the stream is, in ms (negative: behind).
    pub lead_ms: AtomicI64,
    /// Time spent rendering and encoding one block, in µs (last block).
    pub block_work_us: AtomicU64,
}

/// A running renderer; dropping it stops the thread.
pub(crate) struct Renderer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<RenderStats>,
}

impl Renderer {
    /// The renderer's counters.
    pub(crate) fn stats(&self) -> &Arc<RenderStats> {
        &self.stats
    }

    /// Stops the thread (the feed is closed by it on the way out) and waits for it.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts rendering `mixer` into `feed`.
///
/// # Errors
/// If the thread cannot be spawned.
pub(crate) fn spawn(
    stream_id: i64,
    mut mixer: Mixer,
    mut encoder: Mp3Encoder,
    feed: Feed,
    mut titles: TitleReceiver,
    options: RenderOptions,
) -> std::io::Result<Renderer> {
    let RenderOptions {
        lead_frames,
        wake: wake_every,
        rt_priority,
        mut tap,
    } = options;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(RenderStats::default());
    let (stop2, stats2) = (stop.clone(), stats.clone());
    let thread = std::thread::Builder::new()
        .name(format!("rw-stream-{stream_id}"))
        .spawn(move || {
            let mut block = vec![0.0f32; BLOCK_FRAMES * 2];
            let mut mp3 = Vec::with_capacity(64 * 1024);
            let mut title: Arc<str> = Arc::from("");
            let mut chunk_from = 0u64;
            let mut origin = Instant::now();
            let mut behind = false;
            if rt_priority > 0 {
                let promotion = super::sched::Promotion::default();
                promotion.promote_current_thread(rt_priority);
                let text = promotion.describe();
                if promotion.refused() {
                    log::warn!(stream = stream_id; "stream {stream_id}: render thread runs {text}");
                } else {
                    log::info!(stream = stream_id; "stream {stream_id}: render thread runs {text}");
                }
            }
            let mut wake = Instant::now();
            while !stop2.load(Relaxed) && !feed.is_closed() {
                let wall = (origin.elapsed().as_secs_f64() * f64::from(RATE_HZ)) as u64;
                if wall > mixer.frame() + MAX_BEHIND_FRAMES {
                    // Hopelessly late (an overloaded box): skip ahead rather than pile up.
                    origin += Duration::from_secs_f64(
                        (wall - mixer.frame()) as f64 / f64::from(RATE_HZ),
                    );
                    stats2.underruns.fetch_add(1, Relaxed);
                    behind = true;
                } else if wall > mixer.frame() {
                    if !behind {
                        stats2.underruns.fetch_add(1, Relaxed);
                    }
                    behind = true;
                } else {
                    behind = false;
                }
                let wall = (origin.elapsed().as_secs_f64() * f64::from(RATE_HZ)) as u64;
                while mixer.frame() < wall + lead_frames {
                    let t0 = Instant::now();
                    if mixer.frame() + (BLOCK_FRAMES as u64) < wall {
                        stats2.late_blocks.fetch_add(1, Relaxed);
                    }
                    mixer.render(&mut block);
                    if let Some(t) = tap.as_mut() {
                        t.push_block(&block);
                    }
                    if let Some(t) = titles.due(mixer.frame()) {
                        title = t;
                    }
                    if let Err(e) = encoder.encode(&block, &mut mp3) {
                        log::error!(stream = stream_id; "stream {stream_id}: MP3 encoder failed: {e}; ending the stream");
                        feed.close();
                        return;
                    }
                    stats2
                        .block_work_us
                        .store(t0.elapsed().as_micros() as u64, Relaxed);
                    let first = chunk_from == 0;
                    if !mp3.is_empty() && (first || mixer.frame() >= chunk_from + CHUNK_FRAMES) {
                        feed.publish(Chunk {
                            mp3: Bytes::copy_from_slice(&mp3),
                            title: title.clone(),
                        });
                        mp3.clear();
                        chunk_from = mixer.frame();
                    }
                }
                let lead = mixer.frame() as i64 - wall as i64;
                stats2
                    .lead_ms
                    .store(lead * 1000 / i64::from(RATE_HZ), Relaxed);
                wake += wake_every;
                let now = Instant::now();
                if wake > now {
                    std::thread::sleep(wake - now);
                } else {
                    wake = now;
                }
            }
            feed.close();
        })?;
    Ok(Renderer {
        stop,
        thread: Some(thread),
        stats,
    })
}
