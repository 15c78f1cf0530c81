//! The drift controller of the sound-card sink: turns the fill of the engine → card ring into
//! a resampling ratio so that the ring neither runs dry nor grows although the engine (paced by
//! the monotonic clock) and the card (paced by its own crystal) disagree by some ppm.
//!
//! Pure arithmetic, called from the real-time callback: no allocation, no locks, no panics.
//! Owns: the smoothed fill, the PI state and the ratio. May not touch: the ring or the device.

/// Largest correction either way: ±0.5 % (a crystal is off by ≤ 100 ppm; the rest is slack
/// for a renderer that is briefly late, not a pitch change anyone hears).
pub(crate) const MAX_CORRECTION: f64 = 0.005;
/// Time constant of the fill smoothing: the renderer pushes in 10–20 ms bursts and the card
/// pulls in periods, so the instantaneous fill saw-tooths; the controller sees the average.
const SMOOTHING_S: f64 = 0.5;
/// Proportional gain, per second of fill error: 10 ms too full → 0.1 % faster.
const KP_PER_S: f64 = 0.1;
/// Integral gain (critically damped with `KP_PER_S`): removes the steady-state offset a
/// constant clock drift would otherwise leave in the fill.
const KI_PER_S2: f64 = KP_PER_S * KP_PER_S / 4.0;

/// PI controller from ring fill to resampling ratio.
///
/// The ratio multiplies the input step: above 1 the sink consumes engine frames faster than
/// nominal (the ring is too full), below 1 slower.
#[derive(Debug, Clone)]
pub(crate) struct DriftController {
    target_s: f64,
    smoothed_s: Option<f64>,
    integral: f64,
    ratio: f64,
}

impl DriftController {
    /// A controller holding the ring at `target_s` seconds of audio.
    pub(crate) fn new(target_s: f64) -> Self {
        Self {
            target_s,
            smoothed_s: None,
            integral: 0.0,
            ratio: 1.0,
        }
    }

    /// The current ratio (1 ± [`MAX_CORRECTION`]).
    pub(crate) fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Forgets the history (after an underrun or a resync the fill jumps by design).
    pub(crate) fn reset_smoothing(&mut self) {
        self.smoothed_s = None;
    }

    /// Feeds one observation: the ring holds `fill_s` seconds of audio, `elapsed_s` seconds
    /// after the previous observation. Returns the new ratio.
    pub(crate) fn update(&mut self, fill_s: f64, elapsed_s: f64) -> f64 {
        let dt = if elapsed_s.is_finite() {
            elapsed_s.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let fill = if fill_s.is_finite() {
            fill_s.max(0.0)
        } else {
            0.0
        };
        let smoothed = match self.smoothed_s {
            None => fill,
            Some(s) => s + (fill - s) * (dt / SMOOTHING_S).min(1.0),
        };
        self.smoothed_s = Some(smoothed);
        let error_s = smoothed - self.target_s;
        // Anti-windup (conditional integration): while the output is saturated in the
        // direction the error pushes, the integral holds, so a large start-up offset does
        // not overshoot into an empty ring afterwards.
        let limit = MAX_CORRECTION / KI_PER_S2;
        let candidate = (self.integral + error_s * dt).clamp(-limit, limit);
        let unclamped = KP_PER_S * error_s + KI_PER_S2 * candidate;
        if unclamped.abs() <= MAX_CORRECTION || unclamped.signum() != error_s.signum() {
            self.integral = candidate;
        }
        let correction = KP_PER_S * error_s + KI_PER_S2 * self.integral;
        self.ratio = 1.0 + correction.clamp(-MAX_CORRECTION, MAX_CORRECTION);
        self.ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a producer at `1 + drift` times the nominal rate pushing 20 ms bursts and a
    /// card pulling 10 ms periods at the controller's ratio; returns (fill, ratio) samples.
    fn simulate(drift: f64, start_fill_s: f64, seconds: f64) -> Vec<(f64, f64)> {
        let target_s = 0.05;
        let mut c = DriftController::new(target_s);
        let mut fill_s = start_fill_s;
        let mut out = Vec::new();
        let period_s = 0.01;
        let steps = (seconds / period_s) as usize;
        for i in 0..steps {
            if i % 2 == 0 {
                fill_s += 0.02 * (1.0 + drift);
            }
            // What the card callback observes: the fill at the start of its period.
            let ratio = c.update(fill_s, period_s);
            out.push((fill_s, ratio));
            fill_s -= period_s * ratio;
        }
        out
    }

    #[test]
    fn a_ring_that_drifts_fuller_is_pulled_back_to_its_target() {
        for drift in [300e-6, -300e-6, 2e-3, -2e-3] {
            let run = simulate(drift, 0.05, 600.0);
            let tail = &run[run.len() - 1000..];
            let mean_fill = tail.iter().map(|(f, _)| f).sum::<f64>() / tail.len() as f64;
            assert!(
                (mean_fill - 0.05).abs() < 0.003,
                "drift {drift}: fill settled at {mean_fill} s, not 0.05 s"
            );
            let mean_ratio = tail.iter().map(|(_, r)| r).sum::<f64>() / tail.len() as f64;
            assert!(
                (mean_ratio - (1.0 + drift)).abs() < 1e-4,
                "drift {drift}: ratio settled at {mean_ratio}"
            );
        }
    }

    #[test]
    fn a_ring_that_starts_far_from_target_converges_without_running_dry() {
        for start in [0.02, 0.2] {
            let run = simulate(150e-6, start, 600.0);
            assert!(run.iter().all(|(f, _)| *f > 0.02), "ran dry from {start}");
            let last = run.last().map(|(f, _)| *f).unwrap_or_default();
            assert!((last - 0.05).abs() < 0.025, "from {start}: ended at {last}");
        }
    }

    #[test]
    fn the_ratio_never_leaves_half_a_percent_even_for_a_hopeless_drift() {
        let run = simulate(0.02, 0.05, 120.0);
        assert!(
            run.iter()
                .all(|(_, r)| (r - 1.0).abs() <= MAX_CORRECTION + 1e-12)
        );
        let last_ratio = run.last().map(|(_, r)| *r).unwrap_or_default();
        assert!((last_ratio - (1.0 + MAX_CORRECTION)).abs() < 1e-9);
        let mut c = DriftController::new(0.05);
        assert!((c.update(f64::NAN, f64::INFINITY) - 1.0).abs() <= MAX_CORRECTION + 1e-12);
    }
}
