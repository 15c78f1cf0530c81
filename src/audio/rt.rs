//! Crossing the real-time boundary: the fixed sizes of the mixer, the sources its speaker
//! voices read, and the counters it reports through (the commands and retired voices are in
//! [`super::mix`], beside the mixer that applies them).
//!
//! Everything here is reachable from [`super::mix::Mixer::render`]: no allocation, no locks,
//! no logging, no panics. Queues are `rtrb` SPSC rings allocated once; counters are atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use super::live::LiveRing;
use super::pcm::Pcm16;

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
