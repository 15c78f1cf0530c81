//! The mixer: one listener's bus. It drains commands at the start of each call, renders its
//! asset and speaker voices into the stereo output, applies the master gain and a soft
//! limiter, and advances its sample clock.
//!
//! **Real-time boundary.** [`Mixer::render`] and everything it calls (this file, `voice.rs`,
//! `live.rs` ring reads, `rt.rs`) never allocates, frees, locks, blocks, logs or panics: the
//! voice tables are created with fixed capacity, finished voices go back to the control side
//! through the retire queue, counters are atomics. The same type drives the MP3 renderer
//! threads and the sound card callback.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::rt::{
    BLOCK_FRAMES, COMMAND_QUEUE, COMMANDS_PER_BLOCK, Counters, MAX_SPEAKERS, MAX_VOICES,
    RETIRE_QUEUE,
};
use super::voice::{AssetVoice, SpeakerVoice};

/// What the control side asks of a mixer. Built off the real-time thread (any allocation
/// happens there), moved through the queue, applied at the start of a block.
pub enum Command {
    /// Schedules an asset voice (it starts at its own `start_at_frame`).
    Play(Box<AssetVoice>),
    /// Fades out every voice of a track over `fade_frames` (scheduled ones are dropped).
    StopTrack {
        /// Track index.
        track: u8,
        /// Fade length.
        fade_frames: u32,
    },
    /// Adds a speaker voice (at gain 0; a `SpeakerGain` follows).
    AddSpeaker(Box<SpeakerVoice>),
    /// Ramps a speaker voice to `gain` over `ramp_frames`.
    SpeakerGain {
        /// The voice's key.
        key: u64,
        /// Target gain.
        gain: f32,
        /// Ramp length.
        ramp_frames: u32,
    },
    /// Fades a speaker voice out over `ramp_frames` and removes it.
    RemoveSpeaker {
        /// The voice's key.
        key: u64,
        /// Fade length.
        ramp_frames: u32,
    },
}

/// A command with the instant it was sent, for the control-to-mixer latency figure.
pub struct Stamped {
    /// The command.
    pub command: Command,
    /// When the control side sent it; for a consequence of a position fix, when the fix
    /// arrived.
    pub sent: Instant,
    /// Whether `sent` is a fix's arrival (counted in the fix-to-mixer latency too).
    pub from_fix: bool,
}

/// Something the mixer no longer needs; dropped on the control side (it may free memory).
pub enum Retired {
    /// A finished or stopped asset voice.
    Voice(Box<AssetVoice>),
    /// A removed speaker voice.
    Speaker(Box<SpeakerVoice>),
    /// A command that could not be applied (no room), returned for dropping.
    Command(Command),
}

/// Level above which the soft limiter starts bending the signal (about −1 dBFS).
const LIMIT_KNEE: f32 = 0.89;
/// Master gain on the bus: unity. Equal-power panning already leaves mono sources 3 dB below
/// full scale per channel; overlaps beyond full scale are caught by the limiter.
const MASTER_GAIN: f32 = 1.0;

/// The real-time half: owned by the thread that renders.
// Voices stay boxed: they travel queue → table → retire queue as boxes, so the render thread
// moves pointers and never allocates or frees.
#[allow(clippy::vec_box)]
pub struct Mixer {
    commands: rtrb::Consumer<Stamped>,
    retire: rtrb::Producer<Retired>,
    voices: Vec<Box<AssetVoice>>,
    speakers: Vec<Box<SpeakerVoice>>,
    parked: Option<Retired>,
    frame: u64,
    counters: Arc<Counters>,
}

/// The control half: sends commands, takes back retired voices, reads counters.
pub struct MixerControl {
    commands: rtrb::Producer<Stamped>,
    retire: rtrb::Consumer<Retired>,
    counters: Arc<Counters>,
    /// While set, commands are stamped with this fix arrival instead of the send time.
    fix_at: Option<Instant>,
}

/// A connected mixer and its control handle.
pub fn mixer() -> (Mixer, MixerControl) {
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_QUEUE);
    let (ret_tx, ret_rx) = rtrb::RingBuffer::new(RETIRE_QUEUE);
    let counters = Arc::new(Counters::default());
    (
        Mixer {
            commands: cmd_rx,
            retire: ret_tx,
            voices: Vec::with_capacity(MAX_VOICES),
            speakers: Vec::with_capacity(MAX_SPEAKERS),
            parked: None,
            frame: 0,
            counters: counters.clone(),
        },
        MixerControl {
            commands: cmd_tx,
            retire: ret_rx,
            counters,
            fix_at: None,
        },
    )
}

impl MixerControl {
    /// Queues a command; false (and the command dropped here) when the queue is full.
    pub fn send(&mut self, command: Command) -> bool {
        let ok = self
            .commands
            .push(Stamped {
                command,
                sent: self.fix_at.unwrap_or_else(Instant::now),
                from_fix: self.fix_at.is_some(),
            })
            .is_ok();
        if !ok {
            self.counters.dropped_commands.fetch_add(1, Relaxed);
        }
        ok
    }

    /// Until called again with `None`, stamps the commands sent as consequences of a position
    /// fix that arrived at `at` (the fix-to-mixer latency figure).
    pub fn set_fix_origin(&mut self, at: Option<Instant>) {
        self.fix_at = at;
    }

    /// Takes back what the mixer has finished with; finished asset ids are returned so the
    /// caller can tell which track became free.
    pub fn collect(&mut self) -> Vec<(u8, i64)> {
        let mut ended = Vec::new();
        while let Ok(r) = self.retire.pop() {
            if let Retired::Voice(v) = r {
                ended.push((v.track, v.asset_id));
            }
        }
        ended
    }

    /// The mixer's counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
}

impl Mixer {
    /// The sample clock: frames rendered so far.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Renders `out.len() / 2` stereo frames (any count; work is done in blocks of at most
    /// [`BLOCK_FRAMES`]). Real-time safe.
    pub fn render(&mut self, out: &mut [f32]) {
        for block in out.chunks_mut(BLOCK_FRAMES * 2) {
            self.render_block(block);
        }
    }

    fn render_block(&mut self, out: &mut [f32]) {
        self.apply_commands();
        out.fill(0.0);
        let now = self.frame;
        let mut sounding = 0u32;
        for v in &mut self.voices {
            v.render(out, now);
            sounding += u32::from(v.started(now) && !v.finished());
        }
        for s in &mut self.speakers {
            if !s.render(out) {
                self.counters.source_underruns.fetch_add(1, Relaxed);
            }
        }
        let mut peak = 0.0f32;
        for s in out.iter_mut() {
            let x = *s * MASTER_GAIN;
            let a = x.abs();
            let y = if a <= LIMIT_KNEE {
                x
            } else {
                let u = (a - LIMIT_KNEE) / (1.0 - LIMIT_KNEE);
                (LIMIT_KNEE + (1.0 - LIMIT_KNEE) * u / (1.0 + u)).copysign(x)
            };
            peak = peak.max(y.abs());
            *s = y;
        }
        self.frame += (out.len() / 2) as u64;
        self.retire_finished();
        self.counters.frames.store(self.frame, Relaxed);
        self.counters.voices.store(sounding, Relaxed);
        self.counters.peak_bits.store(peak.to_bits(), Relaxed);
    }

    fn apply_commands(&mut self) {
        for _ in 0..COMMANDS_PER_BLOCK {
            if self.parked.is_some() {
                break;
            }
            let Ok(Stamped {
                command,
                sent,
                from_fix,
            }) = self.commands.pop()
            else {
                break;
            };
            let us = sent.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
            if from_fix {
                self.counters.fix_latency_last_us.store(us, Relaxed);
                self.counters.fix_latency_max_us.fetch_max(us, Relaxed);
                self.counters.fix_commands.fetch_add(1, Relaxed);
            } else {
                self.counters.command_latency_last_us.store(us, Relaxed);
                self.counters.command_latency_max_us.fetch_max(us, Relaxed);
            }
            self.apply(command);
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Play(v) => {
                if self.voices.len() < self.voices.capacity() {
                    self.voices.push(v);
                } else {
                    self.counters.dropped_commands.fetch_add(1, Relaxed);
                    self.give_back(Retired::Voice(v));
                }
            }
            Command::StopTrack { track, fade_frames } => {
                let now = self.frame;
                let mut i = 0;
                while i < self.voices.len() {
                    let v = &mut self.voices[i];
                    if v.track == track && !v.started(now) && self.retire.slots() > 0 {
                        let v = self.voices.swap_remove(i);
                        self.give_back(Retired::Voice(v));
                        continue;
                    }
                    if v.track == track {
                        // (A scheduled voice that cannot be handed back now fades instead.)
                        v.stop(fade_frames);
                    }
                    i += 1;
                }
            }
            Command::AddSpeaker(s) => {
                if self.speakers.len() < self.speakers.capacity() {
                    self.speakers.push(s);
                } else {
                    self.counters.dropped_commands.fetch_add(1, Relaxed);
                    self.give_back(Retired::Speaker(s));
                }
            }
            Command::SpeakerGain {
                key,
                gain,
                ramp_frames,
            } => {
                if let Some(s) = self.speakers.iter_mut().find(|s| s.key == key) {
                    s.ramp_to(gain, ramp_frames);
                }
            }
            Command::RemoveSpeaker { key, ramp_frames } => {
                if let Some(s) = self.speakers.iter_mut().find(|s| s.key == key) {
                    s.remove(ramp_frames);
                }
            }
        }
    }

    fn give_back(&mut self, r: Retired) {
        if let Err(rtrb::PushError::Full(r)) = self.retire.push(r) {
            self.parked = Some(r);
        }
    }

    fn retire_finished(&mut self) {
        if let Some(p) = self.parked.take() {
            self.give_back(p);
            if self.parked.is_some() {
                return;
            }
        }
        let mut i = 0;
        while i < self.voices.len() {
            if self.voices[i].finished() && self.retire.slots() > 0 {
                let v = self.voices.swap_remove(i);
                self.give_back(Retired::Voice(v));
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.speakers.len() {
            if self.speakers[i].finished() && self.retire.slots() > 0 {
                let s = self.speakers.swap_remove(i);
                self.give_back(Retired::Speaker(s));
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::pcm::Pcm16;
    use crate::audio::rt::SpeakerSource;
    use crate::audio::voice::PanWalk;

    fn sine(frames: usize, amp: f32) -> Arc<Pcm16> {
        let samples = (0..frames)
            .map(|i| ((i as f32 * 0.0627).sin() * amp * 32767.0) as i16)
            .collect();
        Arc::new(Pcm16 {
            channels: 1,
            samples,
        })
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    #[test]
    fn a_scheduled_voice_plays_and_is_handed_back_when_it_ends() {
        let (mut m, mut c) = mixer();
        let pan = PanWalk::new(0.0, 0.0, 1, 1, 1);
        let v = AssetVoice::new(2, 42, sine(50_000, 0.5), 0, 4410, 441, (441, 441), 1.0, pan);
        assert!(c.send(Command::Play(Box::new(v))));
        let mut out = vec![0.0f32; 441 * 2];
        m.render(&mut out);
        assert!(rms(&out) < 1e-6, "not before its start");
        let mut heard = 0.0f32;
        for _ in 0..11 {
            m.render(&mut out);
            heard = heard.max(rms(&out));
        }
        assert!(heard > 0.1);
        assert_eq!(c.collect(), vec![(2, 42)]);
        assert_eq!(c.counters().frames(), 12 * 441);
    }

    #[test]
    fn pan_moves_energy_between_the_channels() {
        for (pan, left_louder) in [(-0.9f32, true), (0.9, false)] {
            let (mut m, mut c) = mixer();
            let walk = PanWalk::new(pan, pan, 1, 1, 1);
            let v = AssetVoice::new(0, 1, sine(50_000, 0.5), 0, 40_000, 0, (441, 441), 1.0, walk);
            c.send(Command::Play(Box::new(v)));
            let mut out = vec![0.0f32; 4410 * 2];
            m.render(&mut out);
            let l: Vec<f32> = out.iter().step_by(2).copied().collect();
            let r: Vec<f32> = out.iter().skip(1).step_by(2).copied().collect();
            assert_eq!(rms(&l) > 3.0 * rms(&r), left_louder, "pan {pan}");
            assert_eq!(rms(&r) > 3.0 * rms(&l), !left_louder, "pan {pan}");
        }
    }

    #[test]
    fn loud_overlaps_are_limited_below_full_scale() {
        let (mut m, mut c) = mixer();
        for key in 0..4 {
            let s = SpeakerVoice::new(key, SpeakerSource::Loop(sine(44_100, 1.0)), 0);
            c.send(Command::AddSpeaker(Box::new(s)));
            c.send(Command::SpeakerGain {
                key,
                gain: 1.0,
                ramp_frames: 1,
            });
        }
        let mut out = vec![0.0f32; 4410 * 2];
        m.render(&mut out);
        m.render(&mut out);
        assert!(out.iter().all(|s| s.abs() < 1.0));
        assert!(c.counters().peak() > LIMIT_KNEE);
    }

    #[test]
    fn a_removed_speaker_fades_out_and_comes_back_to_the_control_side() {
        let (mut m, mut c) = mixer();
        let s = SpeakerVoice::new(9, SpeakerSource::Loop(sine(44_100, 0.5)), 0);
        c.send(Command::AddSpeaker(Box::new(s)));
        c.send(Command::SpeakerGain {
            key: 9,
            gain: 1.0,
            ramp_frames: 441,
        });
        let mut out = vec![0.0f32; 441 * 2];
        m.render(&mut out);
        m.render(&mut out);
        c.send(Command::RemoveSpeaker {
            key: 9,
            ramp_frames: 882,
        });
        m.render(&mut out);
        m.render(&mut out);
        assert!(out[880].abs() < 1e-3, "silent at the end of the fade");
        m.render(&mut out);
        assert!(rms(&out) < 1e-6);
        assert_eq!(m.speakers.len(), 0);
        assert!(c.counters().command_latency_max_us.load(Relaxed) < 10_000_000);
    }
}
