//! Crossing the real-time boundary: the fixed sizes of the mixer, the commands the control side
//! sends it, the voices it hands back for dropping, and the counters it reports through.
//!
//! Everything here is reachable from [`super::mix::Mixer::render`]: no allocation, no locks,
//! no logging, no panics. Queues are `rtrb` SPSC rings allocated once; counters are atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use super::live::LiveRing;
use super::pcm::Pcm16;
use super::voice::{AssetVoice, SpeakerVoice};

/// Frames per mixer block: 10 ms at 44.1 kHz.
pub const BLOCK_FRAMES: usize = 441;
/// Asset voices one mixer can hold at once (sounding or scheduled).
pub const MAX_VOICES: usize = 16;
/// Speaker voices one mixer can hold at once (a replaced source fades out beside its successor).
pub const MAX_SPEAKERS: usize = 64;
/// Commands applied per block at most (the rest wait for the next block).
pub const COMMANDS_PER_BLOCK: usize = 64;
/// Capacity of the command queue.
pub const COMMAND_QUEUE: usize = 256;
/// Capacity of the retire queue (every voice the mixer can hold, twice).
pub const RETIRE_QUEUE: usize = 2 * (MAX_VOICES + MAX_SPEAKERS);

/// Where a speaker's audio comes from; shared by every listener of the box.
#[derive(Clone)]
pub enum SpeakerSource {
    /// A decoded file, looped without a seam.
    Loop(Arc<Pcm16>),
    /// A live HTTP stream, decoded once per box into a ring.
    Live(Arc<LiveRing>),
}

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

/// Counters a mixer updates and anyone may read.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames rendered since the mixer was made (its sample clock).
    pub frames: AtomicU64,
    /// Blocks in which a live source had no data for this listener.
    pub source_underruns: AtomicU64,
    /// Commands dropped because a mixer table was full.
    pub dropped_commands: AtomicU64,
    /// Asset voices currently sounding.
    pub voices: AtomicU32,
    /// Peak absolute sample of the last block (f32 bits), for meters.
    pub peak_bits: AtomicU32,
    /// Latency of the last applied command, microseconds.
    pub command_latency_last_us: AtomicU64,
    /// Largest command latency seen, microseconds.
    pub command_latency_max_us: AtomicU64,
    /// Commands applied that followed a position fix (the local listener).
    pub fix_commands: AtomicU64,
    /// Time from the fix's arrival to the last such command applied in the mixer, µs.
    pub fix_latency_last_us: AtomicU64,
    /// Largest such time, µs.
    pub fix_latency_max_us: AtomicU64,
}

impl Counters {
    /// The mixer's clock in frames.
    pub fn frames(&self) -> u64 {
        self.frames.load(Relaxed)
    }

    /// Peak of the last block (0..=1).
    pub fn peak(&self) -> f32 {
        f32::from_bits(self.peak_bits.load(Relaxed))
    }
}
