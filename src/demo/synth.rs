//! Sound synthesis for the demo project: short, varied, pleasant pieces made in code
//! (struck bells, a drone chord, rain, a soft beat, a pentatonic arpeggio, wind), so that a
//! new box has something to hear without downloading anything.
//!
//! Everything is deterministic (a fixed-seed generator), mono, at [`RATE_HZ`], and peaks
//! below −3 dBFS.

use std::f32::consts::TAU;

/// Sample rate of every generated piece.
pub(crate) const RATE_HZ: u32 = 44_100;

/// A small deterministic noise source (xorshift32).
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        (x as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

fn frames(seconds: f32) -> usize {
    (seconds * RATE_HZ as f32) as usize
}

fn time(i: usize) -> f32 {
    i as f32 / RATE_HZ as f32
}

/// Scales a piece to peak at −3 dBFS and fades its ends over 20 ms (no clicks at loop
/// points or when an excerpt starts).
fn finish(mut samples: Vec<f32>) -> Vec<f32> {
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak > 0.0 {
        let gain = 0.707 / peak;
        samples.iter_mut().for_each(|s| *s *= gain);
    }
    let fade = frames(0.02).min(samples.len() / 2);
    let len = samples.len();
    for i in 0..fade {
        let g = i as f32 / fade as f32;
        samples[i] *= g;
        samples[len - 1 - i] *= g;
    }
    samples
}

/// Struck bells: inharmonic partials with exponential decay, one strike every 1.5 s.
pub(crate) fn bells(seconds: f32) -> Vec<f32> {
    let partials = [(1.0, 1.0), (2.76, 0.5), (5.40, 0.25), (8.93, 0.12)];
    let notes = [392.0f32, 523.25, 440.0, 587.33, 493.88];
    let mut out = vec![0.0; frames(seconds)];
    let strike_every = frames(1.5);
    for (n, start) in (0..out.len()).step_by(strike_every).enumerate() {
        let f0 = notes[n % notes.len()];
        for (i, s) in out[start..].iter_mut().enumerate() {
            let t = time(i);
            let env = (-t * 1.6).exp();
            if env < 1e-4 {
                break;
            }
            *s += partials
                .iter()
                .map(|(ratio, amp)| amp * (TAU * f0 * ratio * t).sin())
                .sum::<f32>()
                * env;
        }
    }
    finish(out)
}

/// A slowly breathing drone: a minor chord on A2 with a 0.1 Hz swell.
pub(crate) fn drone(seconds: f32) -> Vec<f32> {
    let chord = [110.0f32, 130.81, 164.81, 220.0];
    let out = (0..frames(seconds))
        .map(|i| {
            let t = time(i);
            let swell = 0.6 + 0.4 * (TAU * 0.1 * t).sin();
            chord
                .iter()
                .enumerate()
                .map(|(k, f)| (TAU * f * t + k as f32).sin() / (k as f32 + 1.0))
                .sum::<f32>()
                * swell
        })
        .collect();
    finish(out)
}

/// Rain: low-passed noise with random droplets.
pub(crate) fn rain(seconds: f32) -> Vec<f32> {
    let mut noise = Noise(0x1234_5678);
    let mut lp = 0.0f32;
    let mut drop_env = 0.0f32;
    let mut drop_phase = 0.0f32;
    let mut drop_hz = 2000.0f32;
    let out = (0..frames(seconds))
        .map(|_| {
            let n = noise.next();
            lp += 0.08 * (n - lp);
            if noise.next() > 0.9996 {
                drop_env = 1.0;
                drop_hz = 1500.0 + 1500.0 * noise.next().abs();
            }
            drop_env *= 0.9990;
            drop_phase += TAU * drop_hz / RATE_HZ as f32;
            lp * 0.8 + drop_env * drop_phase.sin() * 0.3
        })
        .collect();
    finish(out)
}

/// A soft beat at 90 BPM: a pitched-down kick on beats and a short noise tick off-beat.
pub(crate) fn pulse(seconds: f32) -> Vec<f32> {
    let beat = frames(60.0 / 90.0);
    let mut noise = Noise(0x0bad_cafe);
    let out = (0..frames(seconds))
        .map(|i| {
            let pos = i % beat;
            let t = time(pos);
            let kick_hz = 50.0 + 90.0 * (-t * 30.0).exp();
            let kick = (TAU * kick_hz * t).sin() * (-t * 8.0).exp();
            let off = (i + beat / 2) % beat;
            let tick = noise.next() * (-time(off) * 60.0).exp() * 0.3;
            kick + tick
        })
        .collect();
    finish(out)
}

/// A pentatonic arpeggio with plucked envelopes, four notes a second.
pub(crate) fn arpeggio(seconds: f32) -> Vec<f32> {
    let scale = [
        261.63f32, 293.66, 329.63, 392.0, 440.0, 523.25, 587.33, 659.25,
    ];
    let pattern = [0usize, 2, 4, 7, 5, 3, 6, 1];
    let step = frames(0.25);
    let out = (0..frames(seconds))
        .map(|i| {
            let f = scale[pattern[(i / step) % pattern.len()]];
            let t = time(i % step);
            let env = (-t * 9.0).exp();
            ((TAU * f * t).sin() + 0.3 * (TAU * 2.0 * f * t).sin()) * env
        })
        .collect();
    finish(out)
}

/// Wind: noise through a slowly sweeping resonant filter.
pub(crate) fn wind(seconds: f32) -> Vec<f32> {
    let mut noise = Noise(0x5eed_0001);
    let (mut low, mut band) = (0.0f32, 0.0f32);
    let out = (0..frames(seconds))
        .map(|i| {
            let t = time(i);
            let cutoff_hz = 300.0 + 250.0 * (TAU * 0.07 * t).sin() + 120.0 * (TAU * 0.31 * t).sin();
            let f = 2.0 * (std::f32::consts::PI * cutoff_hz / RATE_HZ as f32).sin();
            let q = 0.15;
            let input = noise.next();
            low += f * band;
            let high = input - low - q * band;
            band += f * high;
            band * (0.5 + 0.5 * (TAU * 0.05 * t).sin().abs())
        })
        .collect();
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn every_piece_has_the_asked_length_is_audible_and_never_clips() {
        for (name, piece) in [
            ("bells", bells(3.0)),
            ("drone", drone(3.0)),
            ("rain", rain(3.0)),
            ("pulse", pulse(3.0)),
            ("arpeggio", arpeggio(3.0)),
            ("wind", wind(3.0)),
        ] {
            assert_eq!(piece.len(), 3 * RATE_HZ as usize, "{name}");
            let peak = piece.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!(peak <= 0.71 && peak > 0.5, "{name} peak {peak}");
            assert!(rms(&piece) > 0.02, "{name} is too quiet");
            assert!(
                piece[0].abs() < 1e-3 && piece[piece.len() - 1].abs() < 1e-3,
                "{name} ends are not faded"
            );
        }
    }

    #[test]
    fn pieces_differ_from_each_other() {
        let a = rain(1.0);
        let b = wind(1.0);
        let diff: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum();
        assert!(diff > 100.0);
        assert_eq!(rain(1.0), a, "deterministic");
    }
}
