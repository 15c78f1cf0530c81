//! Voices: one asset excerpt with its envelope and wandering pan, or one speaker bed with its
//! smoothed gain. Each renders a run of frames *added* into a stereo bus.
//!
//! Real-time code (reached from [`super::mix::Mixer::render`]): no allocation, locks, logging
//! or panics. Gains are interpolated linearly across each run from exact values at its ends,
//! so every change is a ramp.

use std::sync::Arc;

use super::live::LiveCursor;
use super::pcm::Pcm16;
use super::rt::SpeakerSource;

/// Gain of a mono source in each channel at the centre (equal power).
const CENTRE_GAIN: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Left and right gains of the equal-power pan law for `pan` in [-1, 1].
pub(crate) fn pan_gains(pan: f32) -> (f32, f32) {
    let theta = (pan.clamp(-1.0, 1.0) + 1.0) * std::f32::consts::FRAC_PI_4;
    (theta.cos(), theta.sin())
}

/// Left and right gains for a source: the equal-power law for mono, a balance for stereo
/// (full level on both sides at the centre, the far side lowered as the pan moves).
fn channel_gains(pan: f32, stereo: bool) -> (f32, f32) {
    if stereo {
        let p = pan.clamp(-1.0, 1.0);
        ((1.0 - p).min(1.0), (1.0 + p).min(1.0))
    } else {
        pan_gains(pan)
    }
}

/// A small xorshift generator: random pan targets on the render thread without allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi].
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// A pan position moving toward random targets in `[min, max]` (reference-server §7.6 with
/// the decisions.md fix: targets really lie in the configured range; equal bounds = fixed).
#[derive(Debug, Clone, Copy)]
pub struct PanWalk {
    pos: f32,
    step: f32,
    frames_left: u32,
    min: f32,
    max: f32,
    dur_min_frames: u32,
    dur_max_frames: u32,
    rng: Rng,
}

impl PanWalk {
    /// Starts at a random point of the range.
    pub fn new(min: f32, max: f32, dur_min_frames: u32, dur_max_frames: u32, seed: u64) -> Self {
        let (min, max) = (min.clamp(-1.0, 1.0), max.clamp(-1.0, 1.0));
        let (min, max) = (min.min(max), max.max(min));
        let mut rng = Rng::new(seed);
        let pos = rng.range(min, max);
        Self {
            pos,
            step: 0.0,
            frames_left: 0,
            min,
            max,
            dur_min_frames: dur_min_frames.max(1),
            dur_max_frames: dur_max_frames.max(dur_min_frames.max(1)),
            rng,
        }
    }

    /// Current position.
    pub fn pos(&self) -> f32 {
        self.pos
    }

    /// Moves `frames` forward, drawing a new target when one is reached.
    pub fn advance(&mut self, frames: u32) {
        if self.max - self.min <= f32::EPSILON {
            self.pos = self.min;
            return;
        }
        let mut left = frames;
        while left > 0 {
            if self.frames_left == 0 {
                let target = self.rng.range(self.min, self.max);
                let dur = self
                    .rng
                    .range(self.dur_min_frames as f32, self.dur_max_frames as f32)
                    .max(1.0) as u32;
                self.step = (target - self.pos) / dur as f32;
                self.frames_left = dur;
            }
            let n = left.min(self.frames_left);
            self.pos = (self.pos + self.step * n as f32).clamp(self.min, self.max);
            self.frames_left -= n;
            left -= n;
        }
    }
}

/// One asset excerpt: `len_frames` of `pcm` from `offset_frames`, starting on the mixer clock
/// at `start_at_frame`, with a linear fade-in and fade-out, a volume, and a wandering pan.
pub struct AssetVoice {
    /// Audiotrack index (for stop commands).
    pub track: u8,
    /// Asset id (reported back when the voice ends).
    pub asset_id: i64,
    /// The decoded asset.
    pub pcm: Arc<Pcm16>,
    /// First frame of the excerpt in `pcm`.
    pub offset_frames: usize,
    /// Excerpt length.
    pub len_frames: usize,
    /// Mixer frame at which it starts.
    pub start_at_frame: u64,
    /// Fade-in length.
    pub fade_in_frames: usize,
    /// Fade-out length (ending exactly at the end of the excerpt).
    pub fade_out_frames: usize,
    /// Peak gain (asset volume × track volume).
    pub volume: f32,
    /// Pan.
    pub pan: PanWalk,
    played: usize,
    stop_gain: f32,
    stop_step: f32,
}

impl AssetVoice {
    /// A voice ready to be scheduled. Fades longer than the excerpt are shortened so that
    /// fade-in + fade-out never exceed it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        track: u8,
        asset_id: i64,
        pcm: Arc<Pcm16>,
        offset_frames: usize,
        len_frames: usize,
        start_at_frame: u64,
        fades_frames: (usize, usize),
        volume: f32,
        pan: PanWalk,
    ) -> Self {
        let offset_frames = offset_frames.min(pcm.frames());
        let len_frames = len_frames.min(pcm.frames() - offset_frames);
        let (mut fade_in, mut fade_out) = fades_frames;
        if fade_in + fade_out > len_frames {
            fade_in = len_frames / 2;
            fade_out = len_frames - fade_in;
        }
        Self {
            track,
            asset_id,
            pcm,
            offset_frames,
            len_frames,
            start_at_frame,
            fade_in_frames: fade_in,
            fade_out_frames: fade_out,
            volume,
            pan,
            played: 0,
            stop_gain: 1.0,
            stop_step: 0.0,
        }
    }

    /// True once it has played out or faded to silence after a stop.
    pub fn finished(&self) -> bool {
        self.played >= self.len_frames || self.stop_gain <= 0.0
    }

    /// True once the mixer clock has reached its start.
    pub fn started(&self, now_frame: u64) -> bool {
        now_frame >= self.start_at_frame
    }

    /// Begins a fade to silence over `frames` (a skip or pause); shorter than what remains of
    /// the envelope, or it simply plays out.
    pub fn stop(&mut self, frames: u32) {
        let remaining = self.len_frames.saturating_sub(self.played);
        if self.stop_step > 0.0 || remaining <= frames as usize {
            return;
        }
        self.stop_step = 1.0 / frames.max(1) as f32;
    }

    fn envelope(&self, at: usize) -> f32 {
        let fin = if self.fade_in_frames == 0 {
            1.0
        } else {
            (at as f32 / self.fade_in_frames as f32).min(1.0)
        };
        let left = self.len_frames.saturating_sub(at);
        let fout = if self.fade_out_frames == 0 {
            1.0
        } else {
            (left as f32 / self.fade_out_frames as f32).min(1.0)
        };
        self.volume * fin * fout
    }

    /// Adds `bus.len() / 2` frames starting at mixer frame `now_frame` into `bus`.
    pub fn render(&mut self, bus: &mut [f32], now_frame: u64) {
        let frames = bus.len() / 2;
        let skip = self
            .start_at_frame
            .saturating_sub(now_frame)
            .min(frames as u64) as usize;
        let mut at = skip;
        // Runs end at the envelope's corners and are at most a block long, so the linear
        // interpolation between their ends follows the envelope exactly.
        while at < frames && !self.finished() {
            let corners = [
                self.fade_in_frames,
                self.len_frames.saturating_sub(self.fade_out_frames),
                self.len_frames,
            ];
            let next_corner = corners
                .iter()
                .copied()
                .filter(|c| *c > self.played)
                .min()
                .unwrap_or(self.len_frames);
            let n = (frames - at)
                .min(next_corner - self.played)
                .min(super::rt::BLOCK_FRAMES);
            if n == 0 {
                break;
            }
            let Some(out) = bus.get_mut(at * 2..(at + n) * 2) else {
                return;
            };
            self.render_run(out);
            at += n;
        }
    }

    fn render_run(&mut self, out: &mut [f32]) {
        let n = out.len() / 2;
        let g0 = self.envelope(self.played) * self.stop_gain;
        let stop1 = (self.stop_gain - self.stop_step * n as f32).max(0.0);
        let g1 = self.envelope(self.played + n) * stop1;
        let ch = usize::from(self.pcm.channels.max(1));
        let stereo = ch == 2;
        let (l0, r0) = channel_gains(self.pan.pos(), stereo);
        self.pan.advance(n as u32);
        let (l1, r1) = channel_gains(self.pan.pos(), stereo);
        let first = (self.offset_frames + self.played) * ch;
        let Some(src) = self.pcm.samples.get(first..first + n * ch) else {
            self.played = self.len_frames;
            return;
        };
        let scale = 1.0 / 32768.0;
        let inv = 1.0 / n as f32;
        let (mut gl, mut gr) = (g0 * l0 * scale, g0 * r0 * scale);
        let dl = (g1 * l1 * scale - gl) * inv;
        let dr = (g1 * r1 * scale - gr) * inv;
        if stereo {
            for (o, s) in out.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                o[0] += f32::from(s[0]) * gl;
                o[1] += f32::from(s[1]) * gr;
                gl += dl;
                gr += dr;
            }
        } else {
            for (o, &s) in out.chunks_exact_mut(2).zip(src) {
                let s = f32::from(s);
                o[0] += s * gl;
                o[1] += s * gr;
                gl += dl;
                gr += dr;
            }
        }
        self.played += n;
        self.stop_gain = stop1;
    }
}

/// A speaker bed for one listener: the shared source, this listener's gain ramp and position.
pub struct SpeakerVoice {
    /// Identifies this voice in commands (speaker id and source generation).
    pub key: u64,
    source: SpeakerSource,
    gain: f32,
    target: f32,
    step: f32,
    loop_pos: usize,
    live: LiveCursor,
    removing: bool,
}

impl SpeakerVoice {
    /// A silent voice on `source`; raise it with a gain command.
    pub fn new(key: u64, source: SpeakerSource, start_frame: usize) -> Self {
        let loop_pos = match &source {
            SpeakerSource::Loop(pcm) => start_frame % pcm.frames().max(1),
            SpeakerSource::Live(_) => 0,
        };
        Self {
            key,
            source,
            gain: 0.0,
            target: 0.0,
            step: 0.0,
            loop_pos,
            live: LiveCursor::default(),
            removing: false,
        }
    }

    /// Current gain.
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Target gain.
    pub fn target(&self) -> f32 {
        self.target
    }

    /// Ramps to `gain` over `frames`.
    pub fn ramp_to(&mut self, gain: f32, frames: u32) {
        self.target = gain.clamp(0.0, 4.0);
        self.step = (self.target - self.gain).abs() / frames.max(1) as f32;
    }

    /// Fades out and asks to be removed.
    pub fn remove(&mut self, frames: u32) {
        self.ramp_to(0.0, frames);
        self.removing = true;
    }

    /// True when it has faded out after a removal.
    pub fn finished(&self) -> bool {
        self.removing && self.gain <= 0.0
    }

    fn next_gain(&self, frames: usize) -> f32 {
        let delta = self.step * frames as f32;
        if self.gain < self.target {
            (self.gain + delta).min(self.target)
        } else {
            (self.gain - delta).max(self.target)
        }
    }

    /// Adds `bus.len() / 2` frames into `bus`; returns false if a live source had no data.
    pub fn render(&mut self, bus: &mut [f32]) -> bool {
        let frames = bus.len() / 2;
        let g0 = self.gain;
        let g1 = self.next_gain(frames);
        self.gain = g1;
        match &self.source {
            SpeakerSource::Loop(pcm) => {
                let total = pcm.frames();
                if total == 0 {
                    return true;
                }
                if g0 <= 0.0 && g1 <= 0.0 {
                    self.loop_pos = (self.loop_pos + frames) % total;
                    return true;
                }
                let ch = usize::from(pcm.channels.max(1));
                let scale = 1.0 / 32768.0;
                let inv = 1.0 / frames.max(1) as f32;
                let mono = if ch == 1 { CENTRE_GAIN } else { 1.0 };
                let (mut g, dg) = (g0 * scale * mono, (g1 - g0) * scale * mono * inv);
                let mut done = 0;
                while done < frames {
                    let run = (frames - done).min(total - self.loop_pos);
                    let first = self.loop_pos * ch;
                    let (Some(src), Some(out)) = (
                        pcm.samples.get(first..first + run * ch),
                        bus.get_mut(done * 2..(done + run) * 2),
                    ) else {
                        return true;
                    };
                    if ch == 1 {
                        for (o, &s) in out.chunks_exact_mut(2).zip(src) {
                            let v = f32::from(s) * g;
                            o[0] += v;
                            o[1] += v;
                            g += dg;
                        }
                    } else {
                        for (o, s) in out.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                            o[0] += f32::from(s[0]) * g;
                            o[1] += f32::from(s[1]) * g;
                            g += dg;
                        }
                    }
                    done += run;
                    self.loop_pos = (self.loop_pos + run) % total;
                }
                true
            }
            SpeakerSource::Live(ring) => ring.mix_into(&mut self.live, bus, g0, g1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dc(frames: usize) -> Arc<Pcm16> {
        Arc::new(Pcm16 {
            channels: 1,
            samples: vec![16384; frames].into_boxed_slice(),
        })
    }

    #[test]
    fn the_pan_law_keeps_power_constant() {
        for p in [-1.0f32, -0.5, 0.0, 0.3, 1.0] {
            let (l, r) = pan_gains(p);
            assert!((l * l + r * r - 1.0).abs() < 1e-5);
        }
        assert!(pan_gains(-1.0).1.abs() < 1e-6);
        assert!(pan_gains(1.0).0.abs() < 1e-6);
    }

    #[test]
    fn a_pan_walk_stays_inside_its_range_and_moves() {
        let mut walk = PanWalk::new(0.2, 0.8, 441, 4410, 7);
        let mut seen = (f32::MAX, f32::MIN);
        for _ in 0..2000 {
            walk.advance(441);
            seen = (seen.0.min(walk.pos()), seen.1.max(walk.pos()));
        }
        assert!(seen.0 >= 0.2 && seen.1 <= 0.8, "{seen:?}");
        assert!(seen.1 - seen.0 > 0.3, "{seen:?}");
        let mut fixed = PanWalk::new(-0.5, -0.5, 441, 441, 3);
        fixed.advance(10_000);
        assert!((fixed.pos() + 0.5).abs() < 1e-6);
    }

    #[test]
    fn an_excerpt_fades_in_holds_and_ends_at_exactly_zero() {
        let pan = PanWalk::new(0.0, 0.0, 1, 1, 1);
        let mut v = AssetVoice::new(0, 1, dc(10_000), 100, 4410, 0, (441, 882), 1.0, pan);
        let mut bus = vec![0.0f32; 4410 * 2];
        v.render(&mut bus, 0);
        assert!(v.finished());
        assert!(bus[0].abs() < 1e-3, "starts silent");
        let hold = 0.5 * CENTRE_GAIN;
        assert!((bus[2000 * 2] - hold).abs() < 1e-3, "holds at volume");
        assert!(bus[4409 * 2].abs() < 2e-3, "ends silent");
        let max_step = bus
            .chunks_exact(2)
            .map(|f| f[0])
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_step < hold / 400.0,
            "no step larger than the fade slope: {max_step}"
        );
    }

    #[test]
    fn a_stopped_voice_fades_to_silence_over_the_requested_time() {
        let pan = PanWalk::new(0.0, 0.0, 1, 1, 1);
        let mut v = AssetVoice::new(0, 1, dc(100_000), 0, 90_000, 0, (0, 0), 1.0, pan);
        let mut bus = vec![0.0f32; 441 * 2];
        v.render(&mut bus, 0);
        v.stop(4410);
        for _ in 0..10 {
            bus.fill(0.0);
            v.render(&mut bus, 0);
        }
        assert!(v.finished());
        assert!(bus[440 * 2] < 1e-3);
    }

    #[test]
    fn a_voice_waits_for_its_start_frame() {
        let pan = PanWalk::new(0.0, 0.0, 1, 1, 1);
        let mut v = AssetVoice::new(0, 1, dc(10_000), 0, 5000, 1000, (0, 0), 1.0, pan);
        let mut bus = vec![0.0f32; 441 * 2];
        v.render(&mut bus, 441);
        assert!(bus.iter().all(|s| *s == 0.0));
        v.render(&mut bus, 882);
        assert!(bus[(1000 - 882 - 1) * 2] == 0.0 && bus[(1000 - 882) * 2] > 0.1);
    }

    #[test]
    fn a_speaker_ramps_smoothly_to_its_target_and_loops() {
        let mut s = SpeakerVoice::new(1, SpeakerSource::Loop(dc(1000)), 0);
        s.ramp_to(1.0, 44_100);
        let mut last = 0.0f32;
        for _ in 0..100 {
            let mut bus = vec![0.0f32; 882];
            s.render(&mut bus);
            assert!(bus[0] >= last - 1e-6 && bus[0] - last < 0.01);
            last = bus[880];
        }
        assert!((s.gain() - 1.0).abs() < 1e-6);
    }
}
