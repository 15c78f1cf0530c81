//! The producer end of the sound card's ring, owned by the local listener's render thread: it
//! copies each rendered block into the ring through the software gain ([`GainRamp`] towards the
//! [`SoftGain`] target, unity when the card has a hardware mixer), so the box's volume changes
//! what the card plays and never what the HTTP stream of the same mix carries.
//!
//! Soft real time (design.md §3.4): never blocks, allocates, locks or logs; what does not fit
//! is dropped and counted. Owns: the producer and the ramp state. May not touch: the device.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::Shared;
#[cfg(test)]
use super::callback::{TARGET_FILL_MS, frames_in_ms};
use crate::output::gain::{GainRamp, SoftGain};

/// Producer end of the ring, owned by the render thread. Never blocks or allocates.
pub(crate) struct CardFeed {
    pub(super) ring: Option<rtrb::Producer<f32>>,
    pub(super) shared: Arc<Shared>,
    pub(super) gain: SoftGain,
    pub(super) ramp: GainRamp,
}

impl crate::output::render::BlockSink for CardFeed {
    fn push_block(&mut self, interleaved: &[f32]) {
        self.push(interleaved);
    }
}

impl CardFeed {
    /// A feed into `ring` whose level follows `gain` (starting at its target, no fade-in).
    pub(super) fn new(
        ring: Option<rtrb::Producer<f32>>,
        shared: Arc<Shared>,
        gain: SoftGain,
    ) -> Self {
        let ramp = GainRamp::new(gain.target());
        Self {
            ring,
            shared,
            gain,
            ramp,
        }
    }

    /// Pushes interleaved stereo `f32` at 44.1 kHz, scaled by the software gain; returns the
    /// frames accepted. What does not fit is dropped and counted. Never blocks or allocates.
    /// A trailing half frame is ignored.
    pub(crate) fn push(&mut self, interleaved: &[f32]) -> usize {
        let frames = interleaved.len() / 2;
        let Some(ring) = self.ring.as_mut() else {
            return 0;
        };
        let n = frames.min(ring.slots() / 2);
        if n > 0
            && let Ok(chunk) = ring.write_chunk_uninit(n * 2)
        {
            let target = self.gain.target();
            let ramp = &mut self.ramp;
            let mut g = ramp.current();
            chunk.fill_from_iter(interleaved.iter().enumerate().map(|(i, s)| {
                if i % 2 == 0 {
                    g = ramp.step(target);
                }
                s * g
            }));
        }
        if n < frames {
            self.shared
                .dropped_frames
                .fetch_add((frames - n) as u64, Relaxed);
        }
        n
    }

    /// Frames the ring wants to reach its target fill (0 for device `"none"`); a renderer
    /// that paces itself by this keeps the card's latency at the target.
    #[cfg(test)]
    pub(crate) fn wanted_frames(&self) -> usize {
        match &self.ring {
            Some(ring) => {
                let fill = (ring.buffer().capacity() - ring.slots()) / 2;
                frames_in_ms(TARGET_FILL_MS).saturating_sub(fill)
            }
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use assert_no_alloc::{assert_no_alloc, reset_violation_count, violation_count};

    use super::*;
    use crate::output::gain::RAMP_MS;

    #[test]
    fn a_volume_change_reaches_the_ring_as_a_ramp_without_allocating() {
        let (producer, mut consumer) = rtrb::RingBuffer::new(44_100 * 2);
        let gain = SoftGain::new(1.0);
        let mut feed = CardFeed::new(Some(producer), Arc::new(Shared::default()), gain.clone());
        let block = vec![0.5f32; 441 * 2];
        reset_violation_count();
        assert_no_alloc(|| {
            feed.push(&block);
            gain.set(0.0);
            for _ in 0..5 {
                feed.push(&block);
            }
        });
        assert_eq!(violation_count(), 0, "the feed allocated");
        let mut out = Vec::new();
        while let Ok(s) = consumer.pop() {
            out.push(s);
        }
        assert_eq!(out.len(), 6 * 441 * 2);
        assert!((out[0] - 0.5).abs() < 1e-6, "unity before the change");
        let bound = 0.5 * 1000.0 / (RAMP_MS as f32 * 44_100.0) + 1e-6;
        for pair in out.chunks(2).collect::<Vec<_>>().windows(2) {
            assert!((pair[1][0] - pair[0][0]).abs() <= bound, "a jump: {pair:?}");
        }
        assert!(out[out.len() - 1].abs() < 1e-6, "silent after the ramp");
    }
}
