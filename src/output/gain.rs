//! The box's volume as numbers: the curator's 0–100 scale mapped to decibels and to a linear
//! gain ([`volume_to_db`], [`volume_to_gain`]), and the software gain applied to what the
//! sound card plays when the card has no hardware mixer: a target the control side stores in
//! an atomic ([`SoftGain`]) and a per-frame ramp the render thread runs towards it
//! ([`GainRamp`]), so a change never clicks.
//!
//! Real time (design.md §3.4): [`GainRamp::step`] and [`SoftGain::target`] neither allocate,
//! lock, log nor panic. Builds with and without the `soundcard` feature.
//!
//! Owns: the volume law and the ramp. May not touch: ALSA (that is `output::alsa`), the card's
//! ring, the store.

// Without a sound card nothing ramps: the law is still used to remember the volume.
#![cfg_attr(not(feature = "soundcard"), allow(dead_code))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::audio::pcm::RATE_HZ;

/// The range the 0–100 scale spans above silence: 1 is 60 dB below 100, the usual span of a
/// perceptual volume control (librespot's log mapping uses the same default).
pub(crate) const VOLUME_RANGE_DB: f32 = 60.0;

/// The highest volume.
pub(crate) const MAX_VOLUME: u8 = 100;

/// Time a software gain change takes from silence to full level (and proportionally less for
/// smaller steps): long enough to never click, short enough to feel immediate.
pub(crate) const RAMP_MS: u32 = 30;

/// The level of `volume` (clamped to 0–100) in dB below full scale; `None` for 0 (silence).
///
/// ```text
/// 100 → 0 dB, 50 → −30 dB, 1 → −59.4 dB, 0 → silence
/// ```
pub(crate) fn volume_to_db(volume: u8) -> Option<f32> {
    let v = volume.min(MAX_VOLUME);
    (v > 0).then(|| (f32::from(v) - f32::from(MAX_VOLUME)) * VOLUME_RANGE_DB / 100.0)
}

/// The linear amplitude gain of `volume` (0–100): 1.0 at 100, 0.0 at 0, equal steps in dB
/// between.
pub(crate) fn volume_to_gain(volume: u8) -> f32 {
    volume_to_db(volume).map_or(0.0, |db| 10f32.powf(db / 20.0))
}

/// The control side of a software gain: the target the render thread ramps to.
#[derive(Debug, Clone)]
pub(crate) struct SoftGain(Arc<AtomicU32>);

impl SoftGain {
    /// A gain whose target starts at `gain` (linear amplitude).
    pub(crate) fn new(gain: f32) -> Self {
        Self(Arc::new(AtomicU32::new(gain.clamp(0.0, 1.0).to_bits())))
    }

    /// Sets the target (clamped to 0..=1); the render thread reaches it within [`RAMP_MS`].
    pub(crate) fn set(&self, gain: f32) {
        let g = if gain.is_finite() {
            gain.clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.0.store(g.to_bits(), Relaxed);
    }

    /// The current target. Real-time safe.
    pub(crate) fn target(&self) -> f32 {
        f32::from_bits(self.0.load(Relaxed))
    }
}

impl Default for SoftGain {
    fn default() -> Self {
        Self::new(1.0)
    }
}

/// The render side: the gain in effect, moved towards the target by at most one step per frame.
#[derive(Debug, Clone)]
pub(crate) struct GainRamp {
    current: f32,
    step_per_frame: f32,
}

impl GainRamp {
    /// A ramp starting at `gain` (no fade-in at start) that moves by at most 1.0 per
    /// [`RAMP_MS`] at the engine rate.
    pub(crate) fn new(gain: f32) -> Self {
        Self {
            current: gain.clamp(0.0, 1.0),
            step_per_frame: 1000.0 / (RAMP_MS as f32 * RATE_HZ as f32),
        }
    }

    /// The gain in effect now.
    pub(crate) fn current(&self) -> f32 {
        self.current
    }

    /// Moves one frame towards `target` and returns the gain for that frame. Real-time safe.
    pub(crate) fn step(&mut self, target: f32) -> f32 {
        let target = target.clamp(0.0, 1.0);
        let delta = (target - self.current).clamp(-self.step_per_frame, self.step_per_frame);
        self.current += delta;
        self.current
    }

    /// Multiplies interleaved stereo `frames` in place by the ramped gain towards `target`.
    /// At unity with the target reached, the samples are left untouched. Real-time safe.
    #[cfg(test)]
    pub(crate) fn apply(&mut self, target: f32, interleaved: &mut [f32]) {
        let target = target.clamp(0.0, 1.0);
        if (self.current - target).abs() <= f32::EPSILON {
            self.current = target;
            if (target - 1.0).abs() > f32::EPSILON {
                for s in interleaved.iter_mut() {
                    *s *= target;
                }
            }
            return;
        }
        for frame in interleaved.chunks_mut(2) {
            let g = self.step(target);
            for s in frame {
                *s *= g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_volume_is_unity_gain_and_zero_is_silence() {
        assert!((volume_to_gain(100) - 1.0).abs() < 1e-6);
        assert!(volume_to_gain(0).abs() < 1e-9);
        assert_eq!(volume_to_db(0), None);
        assert!((volume_to_db(100).unwrap()).abs() < 1e-6);
    }

    #[test]
    fn each_volume_step_is_the_same_number_of_decibels() {
        assert!((volume_to_db(50).unwrap() + 30.0).abs() < 1e-4);
        assert!((volume_to_db(1).unwrap() + 59.4).abs() < 1e-4);
        for v in 1..100u8 {
            let step = volume_to_db(v + 1).unwrap() - volume_to_db(v).unwrap();
            assert!((step - 0.6).abs() < 1e-4, "step at {v}: {step}");
            assert!(volume_to_gain(v + 1) > volume_to_gain(v));
        }
        let half = volume_to_gain(50);
        assert!((20.0 * half.log10() + 30.0).abs() < 1e-3, "{half}");
    }

    #[test]
    fn volumes_above_100_count_as_100() {
        assert!((volume_to_gain(250) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_soft_gain_target_is_clamped_and_never_nan() {
        let g = SoftGain::new(0.5);
        g.set(3.0);
        assert!((g.target() - 1.0).abs() < 1e-9);
        g.set(-1.0);
        assert!(g.target().abs() < 1e-9);
        g.set(f32::NAN);
        assert!((g.target() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_ramp_never_moves_more_than_one_step_per_frame_and_reaches_its_target_in_time() {
        let mut ramp = GainRamp::new(1.0);
        let frames = (RATE_HZ * RAMP_MS / 1000) as usize + 2;
        let mut block = vec![1.0f32; frames * 2];
        ramp.apply(0.0, &mut block);
        let bound = 1000.0 / (RAMP_MS as f32 * RATE_HZ as f32) + 1e-6;
        let mut last = 1.0f32;
        for frame in block.chunks(2) {
            assert!((frame[0] - frame[1]).abs() < 1e-9, "both channels alike");
            assert!((frame[0] - last).abs() <= bound, "{last} → {}", frame[0]);
            last = frame[0];
        }
        assert!(last.abs() < 1e-6, "silent after {RAMP_MS} ms: {last}");
        assert!(ramp.current().abs() < 1e-6);
    }

    #[test]
    fn the_ramp_carries_over_block_boundaries() {
        let mut ramp = GainRamp::new(0.0);
        let mut a = vec![1.0f32; 64];
        let mut b = vec![1.0f32; 64];
        ramp.apply(1.0, &mut a);
        ramp.apply(1.0, &mut b);
        let bound = 1000.0 / (RAMP_MS as f32 * RATE_HZ as f32) + 1e-6;
        assert!((b[0] - a[62]).abs() <= bound);
        assert!(b[0] > a[62], "still rising");
    }

    #[test]
    fn a_reached_gain_scales_every_sample() {
        let mut ramp = GainRamp::new(0.5);
        let mut block = [0.8f32, -0.8, 0.4, -0.4];
        ramp.apply(0.5, &mut block);
        assert!((block[0] - 0.4).abs() < 1e-6 && (block[3] + 0.2).abs() < 1e-6);
        let mut unity = GainRamp::new(1.0);
        let mut same = [0.3f32, -0.3];
        unity.apply(1.0, &mut same);
        assert!((same[0] - 0.3).abs() < 1e-9);
    }
}
