//! The real-time half of the sound-card sink: what the cpal data callback runs. It pulls
//! interleaved stereo `f32` at the engine rate from the rtrb ring, resamples to the device
//! rate with a 4-point cubic (Catmull-Rom) interpolator whose step the [`DriftController`]
//! adjusts by ring fill, maps stereo onto the device's channels and converts to its format.
//!
//! Rules (design.md §3.4): no allocation, no locks, no logging, no panics: fixed-size scratch
//! allocated at construction, clamped indices, counters in atomics. Owns: the ring's consumer
//! end, the resampler state, the priming and underrun policy. May not touch: the device, the
//! supervisor's state machine (it only raises counters the supervisor reads).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use super::drift::DriftController;
use crate::audio::pcm::RATE_HZ;

/// Ring capacity: one second, so a renderer running half a second ahead fits whole.
pub(crate) const RING_MS: u32 = 1000;
/// The fill the drift controller holds: covers the renderer's 20 ms wake-ups with slack.
pub(crate) const TARGET_FILL_MS: u32 = 50;
/// Above this fill the sink skips ahead to the target at once (a renderer that pushed a burst,
/// or a device that was away): drift correction would take minutes to drain it.
pub(crate) const RESYNC_FILL_MS: u32 = 300;
/// Output frames processed per inner step (the scratch size).
const SCRATCH_FRAMES: usize = 256;

/// CardCallback-rate frames in `ms` milliseconds.
pub(crate) fn frames_in_ms(ms: u32) -> usize {
    (u64::from(RATE_HZ) * u64::from(ms) / 1000) as usize
}

/// Counters and meters the callback raises and the control side reads.
#[derive(Debug, Default)]
pub(crate) struct Meters {
    /// Callbacks that found the ring empty mid-block (the rest of the block was silence).
    pub(crate) underruns: AtomicU64,
    /// Times the ring was over-full and the sink skipped ahead to the target fill.
    pub(crate) resyncs: AtomicU64,
    /// CardCallback frames in the ring at the last callback.
    pub(crate) fill_frames: AtomicU32,
    /// `f64` bits of the current resampling ratio (drift correction, 1.0 = nominal).
    pub(crate) ratio_bits: AtomicU64,
    /// `f32` bits of the largest absolute sample of the last callback.
    pub(crate) peak_bits: AtomicU32,
    /// Device frames written (silence included).
    pub(crate) device_frames: AtomicU64,
    /// Time the callback spends per call against the device period.
    pub(crate) load: CallbackLoad,
}

/// The callback's work in proportion to its period: a running sum for the mean and the
/// largest single call, in atomics the callback updates without locking.
#[derive(Debug, Default)]
pub(crate) struct CallbackLoad {
    work_ns: AtomicU64,
    period_ns: AtomicU64,
    max_ppm: AtomicU64,
}

impl CallbackLoad {
    /// Records one call that took `work_ns` of a `period_ns` device period.
    pub(crate) fn record(&self, work_ns: u64, period_ns: u64) {
        self.work_ns.fetch_add(work_ns, Relaxed);
        self.period_ns.fetch_add(period_ns, Relaxed);
        let ppm = work_ns.saturating_mul(1_000_000) / period_ns.max(1);
        self.max_ppm.fetch_max(ppm, Relaxed);
    }

    /// Total work over total period time, in %.
    pub(crate) fn mean_pct(&self) -> f64 {
        let period = self.period_ns.load(Relaxed);
        if period == 0 {
            return 0.0;
        }
        self.work_ns.load(Relaxed) as f64 * 100.0 / period as f64
    }

    /// The heaviest single call, in % of its period.
    pub(crate) fn max_pct(&self) -> f64 {
        self.max_ppm.load(Relaxed) as f64 / 10_000.0
    }
}

/// One output sample type the callback can write.
pub(crate) trait OutSample: Copy {
    /// Converts a clamped `[-1, 1]` value.
    fn from_unit(x: f32) -> Self;
}

impl OutSample for f32 {
    fn from_unit(x: f32) -> Self {
        x
    }
}

impl OutSample for i16 {
    fn from_unit(x: f32) -> Self {
        (x * 32767.0).round() as i16
    }
}

/// The callback-side state; moved into the cpal callback and handed back when the stream ends.
pub(crate) struct CardCallback {
    ring: rtrb::Consumer<f32>,
    meters: Arc<Meters>,
    drift: DriftController,
    /// Input frames per output frame at the nominal rates.
    nominal_step: f64,
    device_rate_hz: u32,
    /// Four input frames: the interpolation runs between `hist[1]` and `hist[2]`.
    hist: [[f32; 2]; 4],
    /// Position between `hist[1]` and `hist[2]`, in input frames (0 ≤ pos < 1 after a step).
    pos: f64,
    /// Whether the ring reached its target since the last underrun (else: silence).
    primed: bool,
    scratch: Box<[f32]>,
    target_frames: usize,
    resync_frames: usize,
}

impl CardCallback {
    /// A callback state reading `ring`, reporting into `meters`.
    pub(crate) fn new(ring: rtrb::Consumer<f32>, meters: Arc<Meters>) -> Self {
        let target_frames = frames_in_ms(TARGET_FILL_MS);
        meters.ratio_bits.store(1.0f64.to_bits(), Relaxed);
        Self {
            ring,
            meters,
            drift: DriftController::new(f64::from(TARGET_FILL_MS) / 1000.0),
            nominal_step: 1.0,
            device_rate_hz: RATE_HZ,
            hist: [[0.0; 2]; 4],
            pos: 0.0,
            primed: false,
            scratch: vec![0.0; SCRATCH_FRAMES * 2].into_boxed_slice(),
            target_frames,
            resync_frames: frames_in_ms(RESYNC_FILL_MS),
        }
    }

    /// Prepares for a (re)opened device at `rate_hz`: silence until the ring is primed.
    pub(crate) fn reset_for_device(&mut self, rate_hz: u32) {
        let rate_hz = rate_hz.max(1);
        self.device_rate_hz = rate_hz;
        self.nominal_step = f64::from(RATE_HZ) / f64::from(rate_hz);
        self.hist = [[0.0; 2]; 4];
        self.pos = 0.0;
        self.primed = false;
        self.drift.reset_smoothing();
    }

    /// Fills one device buffer of `channels`-interleaved samples. Never blocks or allocates.
    pub(crate) fn fill<T: OutSample>(&mut self, out: &mut [T], channels: usize) {
        let channels = channels.max(1);
        let frames = out.len() / channels;
        self.before_block(frames);
        let mut peak = 0.0f32;
        let mut done = 0;
        while done < frames {
            let n = (frames - done).min(SCRATCH_FRAMES);
            self.render_stereo(n);
            let dst = out
                .get_mut(done * channels..(done + n) * channels)
                .unwrap_or_default();
            for (frame, src) in dst
                .chunks_exact_mut(channels)
                .zip(self.scratch.chunks_exact(2))
            {
                let l = sanitize(src[0]);
                let r = sanitize(src[1]);
                peak = peak.max(l.abs()).max(r.abs());
                match frame {
                    [mono] => *mono = T::from_unit(0.5 * (l + r)),
                    [a, b, rest @ ..] => {
                        *a = T::from_unit(l);
                        *b = T::from_unit(r);
                        for x in rest {
                            *x = T::from_unit(0.0);
                        }
                    }
                    [] => {}
                }
            }
            done += n;
        }
        // Samples past the last whole frame (a malformed buffer): silence.
        for x in out.get_mut(frames * channels..).unwrap_or_default() {
            *x = T::from_unit(0.0);
        }
        self.meters.peak_bits.store(peak.to_bits(), Relaxed);
        self.meters.device_frames.fetch_add(frames as u64, Relaxed);
    }

    /// Once per callback: resync an over-full ring, update the drift ratio, prime.
    fn before_block(&mut self, frames: usize) {
        let mut fill = self.ring.slots() / 2;
        if fill > self.resync_frames {
            let skip = (fill - self.target_frames) * 2;
            if let Ok(chunk) = self.ring.read_chunk(skip) {
                chunk.commit_all();
            }
            fill = self.ring.slots() / 2;
            self.drift.reset_smoothing();
            self.meters.resyncs.fetch_add(1, Relaxed);
        }
        self.meters.fill_frames.store(fill as u32, Relaxed);
        if !self.primed {
            if fill < self.target_frames {
                return;
            }
            self.primed = true;
            self.drift.reset_smoothing();
        }
        let elapsed_s = frames as f64 / f64::from(self.device_rate_hz);
        let ratio = self
            .drift
            .update(fill as f64 / f64::from(RATE_HZ), elapsed_s);
        self.meters.ratio_bits.store(ratio.to_bits(), Relaxed);
    }

    /// Renders `n ≤ SCRATCH_FRAMES` stereo frames into the scratch buffer.
    fn render_stereo(&mut self, n: usize) {
        let n = n.min(SCRATCH_FRAMES);
        let step = self.nominal_step * self.drift.ratio();
        let mut i = 0;
        while i < n && self.primed {
            while self.pos >= 1.0 {
                let mut frame = [0.0f32; 2];
                if self.ring.pop_entire_slice(&mut frame).is_err() {
                    // Underrun: silence until the ring is primed again.
                    self.primed = false;
                    self.meters.underruns.fetch_add(1, Relaxed);
                    break;
                }
                self.hist = [self.hist[1], self.hist[2], self.hist[3], frame];
                self.pos -= 1.0;
            }
            if !self.primed {
                break;
            }
            let t = self.pos as f32;
            for ch in 0..2 {
                let y = [
                    self.hist[0][ch],
                    self.hist[1][ch],
                    self.hist[2][ch],
                    self.hist[3][ch],
                ];
                self.scratch[i * 2 + ch] = catmull_rom(y, t);
            }
            self.pos += step;
            i += 1;
        }
        for x in self.scratch.get_mut(i * 2..n * 2).unwrap_or_default() {
            *x = 0.0;
        }
    }
}

/// Cubic interpolation between `y[1]` (t = 0) and `y[2]` (t = 1).
fn catmull_rom(y: [f32; 4], t: f32) -> f32 {
    let a = -0.5 * y[0] + 1.5 * y[1] - 1.5 * y[2] + 0.5 * y[3];
    let b = y[0] - 2.5 * y[1] + 2.0 * y[2] - 0.5 * y[3];
    let c = -0.5 * y[0] + 0.5 * y[2];
    ((a * t + b) * t + c) * t + y[1]
}

/// NaN → 0, everything clamped to the unit range.
fn sanitize(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callback(capacity_ms: u32) -> (rtrb::Producer<f32>, CardCallback, Arc<Meters>) {
        let (p, c) = rtrb::RingBuffer::new(frames_in_ms(capacity_ms) * 2);
        let meters = Arc::new(Meters::default());
        (p, CardCallback::new(c, meters.clone()), meters)
    }

    fn tone(frames: usize, hz: f64, amp: f32, phase0: usize) -> Vec<f32> {
        (phase0..phase0 + frames)
            .flat_map(|i| {
                let x = amp * (2.0 * std::f64::consts::PI * hz * i as f64 / 44100.0).sin() as f32;
                [x, x]
            })
            .collect()
    }

    #[test]
    fn a_tone_resampled_to_48_khz_keeps_its_frequency_and_level() {
        let (mut p, mut e, meters) = callback(RING_MS);
        e.reset_for_device(48_000);
        let input = tone(frames_in_ms(200), 440.0, 0.5, 0);
        for x in &input {
            let _ = p.push(*x);
        }
        let mut out = vec![0.0f32; 4800 * 2];
        e.fill(&mut out, 2);
        let left: Vec<f32> = out.iter().step_by(2).copied().collect();
        // Zero crossings over the 100 ms window: 2 per cycle.
        let crossings = left
            .windows(2)
            .skip(10)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((86..=90).contains(&crossings), "{crossings} crossings");
        let peak = left[10..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.5).abs() < 0.01, "peak {peak}");
        assert_eq!(meters.underruns.load(Relaxed), 0);
    }

    #[test]
    fn an_empty_ring_gives_silence_and_one_underrun_then_waits_for_the_target_fill() {
        let (mut p, mut e, meters) = callback(RING_MS);
        e.reset_for_device(44_100);
        let mut out = vec![1.0f32; 512 * 2];
        e.fill(&mut out, 2);
        assert!(
            out.iter().all(|x| *x == 0.0),
            "unprimed output must be silent"
        );
        for x in tone(frames_in_ms(TARGET_FILL_MS), 440.0, 0.5, 0) {
            let _ = p.push(x);
        }
        let mut out = vec![0.0f32; frames_in_ms(TARGET_FILL_MS + 20) * 2];
        e.fill(&mut out, 2);
        assert_eq!(meters.underruns.load(Relaxed), 1);
        assert!(out.iter().any(|x| x.abs() > 0.4));
        let tail = &out[out.len() - 200..];
        assert!(tail.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn an_over_full_ring_skips_ahead_to_the_target_and_counts_a_resync() {
        let (mut p, mut e, meters) = callback(RING_MS);
        e.reset_for_device(44_100);
        for x in tone(frames_in_ms(RESYNC_FILL_MS + 100), 440.0, 0.5, 0) {
            let _ = p.push(x);
        }
        let mut out = vec![0.0f32; 441 * 2];
        e.fill(&mut out, 2);
        assert_eq!(meters.resyncs.load(Relaxed), 1);
        let fill = meters.fill_frames.load(Relaxed) as usize;
        assert_eq!(fill, frames_in_ms(TARGET_FILL_MS));
    }

    #[test]
    fn i16_and_multichannel_devices_get_converted_clamped_samples() {
        let (mut p, mut e, _) = callback(RING_MS);
        e.reset_for_device(44_100);
        for i in 0..frames_in_ms(TARGET_FILL_MS + 50) {
            let _ = p.push(if i % 2 == 0 { 2.0 } else { f32::NAN });
            let _ = p.push(-0.5);
        }
        let mut out = vec![7i16; 100 * 4];
        e.fill(&mut out, 4);
        let later = &out[40 * 4..41 * 4];
        assert!(later[1] == -16384 || later[1] == -16383, "{later:?}");
        assert_eq!(&later[2..], &[0, 0]);
        assert!(out.iter().all(|x| *x >= -32767));
    }

    /// Pushes `frames` of a quiet tone into the ring (the render thread's side).
    fn push_frames(p: &mut rtrb::Producer<f32>, frames: usize) {
        for x in tone(frames, 330.0, 0.25, 0) {
            let _ = p.push(x);
        }
    }

    #[test]
    fn the_card_fill_makes_no_allocation_through_priming_resync_underrun_and_formats() {
        use assert_no_alloc::{assert_no_alloc, reset_violation_count, violation_count};
        let (mut p, mut e, meters) = callback(RING_MS);
        e.reset_for_device(48_000);
        let mut stereo = vec![0.0f32; 480 * 2];
        let mut quad = vec![0i16; 480 * 4];
        let mut mono = vec![0.0f32; 441];
        let mut counted = |e: &mut CardCallback, label: &str| {
            reset_violation_count();
            assert_no_alloc(|| {
                for _ in 0..10 {
                    e.fill(&mut stereo, 2);
                    e.fill(&mut quad, 4);
                    e.fill(&mut mono, 1);
                }
            });
            assert_eq!(violation_count(), 0, "{label}");
        };
        // Priming: silence until the ring reaches its target.
        counted(&mut e, "priming");
        // A burst far past the resync threshold (a renderer that pushed ahead, a device that
        // was away): the fill skips ahead.
        push_frames(&mut p, frames_in_ms(RESYNC_FILL_MS + 400));
        counted(&mut e, "resync");
        assert!(meters.resyncs.load(Relaxed) >= 1, "a resync happened");
        // Draining to empty mid-block: an underrun, then silence until primed again.
        counted(&mut e, "underrun");
        assert!(meters.underruns.load(Relaxed) >= 1, "an underrun happened");
        // A device reopened at another rate.
        e.reset_for_device(44_100);
        push_frames(&mut p, frames_in_ms(TARGET_FILL_MS * 2));
        counted(&mut e, "reopened at 44.1 kHz");
    }
}
