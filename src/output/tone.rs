//! A stand-in producer: a sine rendered and LAME-encoded in real time on its own thread and
//! published into a [`Feed`] in 100 ms chunks, the way the engine's render thread does. For
//! tests, benchmarks and bring-up before the engine exists.
//!
//! Owns: its thread. May not touch: anything but the feed it was given.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::feed::{Chunk, Feed};
use super::mp3::{EncodeError, Mp3Encoder, SAMPLE_RATE_HZ};

/// Length of one rendered block and published chunk.
const BLOCK_MS: u64 = 100;

/// A paced sine feeding a [`Feed`]; stops when dropped or when the feed closes.
pub struct ToneSource {
    stop: Arc<AtomicBool>,
    title: Arc<Mutex<Arc<str>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ToneSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToneSource").finish_non_exhaustive()
    }
}

impl ToneSource {
    /// Starts publishing a `frequency_hz` sine at −6 dBFS into `feed`, encoded at the feed's
    /// bitrate, with ICY title `title`.
    ///
    /// # Errors
    /// [`EncodeError`] if the feed's bitrate is not one LAME accepts.
    pub fn start(feed: Feed, frequency_hz: f32, title: &str) -> Result<Self, EncodeError> {
        let mut encoder = Mp3Encoder::new(feed.bitrate_kbps())?;
        let stop = Arc::new(AtomicBool::new(false));
        let title = Arc::new(Mutex::new(Arc::<str>::from(title)));
        let (stop_in, title_in) = (stop.clone(), title.clone());
        let thread = std::thread::Builder::new()
            .name("tone-source".into())
            .spawn(move || {
                let frames = (SAMPLE_RATE_HZ as u64 * BLOCK_MS / 1000) as usize;
                let step = frequency_hz * std::f32::consts::TAU / SAMPLE_RATE_HZ as f32;
                let mut phase = 0.0f32;
                let mut pcm = vec![0.0f32; frames * 2];
                let mut out = Vec::with_capacity(16 * 1024);
                let mut deadline = Instant::now();
                while !stop_in.load(Ordering::Relaxed) && !feed.is_closed() {
                    for pair in pcm.chunks_exact_mut(2) {
                        let v = phase.sin() * 0.5;
                        pair[0] = v;
                        pair[1] = v;
                        phase = (phase + step) % std::f32::consts::TAU;
                    }
                    out.clear();
                    if let Err(e) = encoder.encode(&pcm, &mut out) {
                        log::error!("tone source: {e}");
                        return;
                    }
                    if !out.is_empty() {
                        let title = title_in
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone();
                        feed.publish(Chunk {
                            mp3: Bytes::copy_from_slice(&out),
                            title,
                        });
                    }
                    deadline += Duration::from_millis(BLOCK_MS);
                    if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => return Err(EncodeError::Setup(format!("cannot start thread: {e}"))),
        };
        Ok(Self {
            stop,
            title,
            thread,
        })
    }

    /// Changes the title published with the following chunks.
    pub fn set_title(&self, title: &str) {
        *self.title.lock().unwrap_or_else(PoisonError::into_inner) = Arc::from(title);
    }
}

impl Drop for ToneSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
