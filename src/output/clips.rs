//! The clip buffer of a feed: its last few minutes as the MP3 frames listeners got, each
//! stamped with the wall-clock time it plays at, so `POST /clip {startTime, endTime}` (Unix
//! ms) cuts exactly that window (± one frame) without decoding or encoding anything.
//!
//! Stamps follow the audio's own timeline (frame durations added up from the first chunk),
//! re-anchored to the clock when a source falls behind it by more than [`SLIP_MS`] (a
//! stalled pusher, a network gap), so they stay within a fraction of a second of the wall
//! clock. The buffer holds the same `Bytes` the listener queue shares; it costs the
//! bitrate × its length, nothing per listener.
//!
//! Owns: the timestamped frames and cutting windows. May not touch: sockets, files.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::mp3::FrameHeader;

/// How far behind the clock the audio timeline may fall before it is re-anchored.
const SLIP_MS: i64 = 500;

/// A cut window: the frames, and the times they cover.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Whole MP3 frames, back to back.
    pub mp3: Bytes,
    /// Unix ms of the first frame.
    pub start_ms: i64,
    /// Unix ms the last frame ends.
    pub end_ms: i64,
}

/// Why a window cannot be cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipError {
    /// `end` is not after `start`.
    #[error("endTime must occur after startTime")]
    Inverted,
    /// Longer than the buffer.
    #[error("the window is {asked_ms} ms long; at most {max_ms} ms can be clipped")]
    TooLong {
        /// The window asked for.
        asked_ms: i64,
        /// The buffer's length.
        max_ms: i64,
    },
    /// Not (wholly) in the buffer.
    #[error(
        "the window is not in the buffer: the available window is {from_ms} to {to_ms} (Unix ms)"
    )]
    Unavailable {
        /// Oldest buffered time.
        from_ms: i64,
        /// Newest buffered time.
        to_ms: i64,
    },
}

/// The last `keep_ms` of a feed.
#[derive(Debug)]
pub(crate) struct ClipRing {
    keep_ms: i64,
    /// (start Unix ms, duration µs, frames).
    chunks: VecDeque<(i64, u64, Bytes)>,
    /// Where the next chunk starts on the audio timeline (Unix µs).
    next_us: Option<i64>,
}

impl ClipRing {
    /// An empty buffer of `keep_s` seconds.
    pub(crate) fn new(keep_s: u32) -> Self {
        Self {
            keep_ms: i64::from(keep_s) * 1000,
            chunks: VecDeque::with_capacity(512),
            next_us: None,
        }
    }

    /// The buffer's length in ms.
    pub(crate) fn keep_ms(&self) -> i64 {
        self.keep_ms
    }

    /// Adds a chunk of whole frames published at `now_ms`.
    pub(crate) fn push(&mut self, mp3: &Bytes, now_ms: i64) {
        let duration_us = frames(mp3).map(|(_, h)| h.duration_us()).sum::<u64>();
        if duration_us == 0 {
            return;
        }
        let dur = i64::try_from(duration_us).unwrap_or(i64::MAX);
        let mut start_us = self.next_us.unwrap_or(now_ms * 1000 - dur);
        if now_ms * 1000 - (start_us + dur) > SLIP_MS * 1000 {
            start_us = now_ms * 1000 - dur;
        }
        self.next_us = Some(start_us + dur);
        self.chunks
            .push_back((start_us / 1000, duration_us, mp3.clone()));
        let horizon = (start_us + dur) / 1000 - self.keep_ms;
        while let Some(&(t, d, _)) = self.chunks.front() {
            if t + i64::try_from(d / 1000).unwrap_or(0) > horizon {
                break;
            }
            self.chunks.pop_front();
        }
    }

    /// The buffered window: (oldest, newest) Unix ms.
    pub(crate) fn available(&self) -> Option<(i64, i64)> {
        let first = self.chunks.front()?.0;
        let (t, d, _) = self.chunks.back()?;
        Some((first, t + i64::try_from(d / 1000).unwrap_or(0)))
    }

    /// The frames whose middles lie in `[start_ms, end_ms)`.
    ///
    /// # Errors
    /// An inverted or too long window, or one not wholly buffered (one frame of slack).
    pub(crate) fn cut(&self, start_ms: i64, end_ms: i64) -> Result<Clip, ClipError> {
        if end_ms <= start_ms {
            return Err(ClipError::Inverted);
        }
        if end_ms - start_ms > self.keep_ms {
            return Err(ClipError::TooLong {
                asked_ms: end_ms - start_ms,
                max_ms: self.keep_ms,
            });
        }
        let (from_ms, to_ms) = self.available().unwrap_or((0, 0));
        const SLACK_MS: i64 = 30;
        if start_ms < from_ms - SLACK_MS || end_ms > to_ms + SLACK_MS || from_ms == to_ms {
            return Err(ClipError::Unavailable { from_ms, to_ms });
        }
        let mut out = BytesMut::new();
        let (mut first, mut last) = (None, 0);
        for (t, _, mp3) in &self.chunks {
            let mut at_us = t * 1000;
            for (range, header) in frames(mp3) {
                let d = i64::try_from(header.duration_us()).unwrap_or(0);
                let middle_ms = (at_us + d / 2) / 1000;
                if middle_ms >= start_ms && middle_ms < end_ms {
                    first.get_or_insert(at_us / 1000);
                    last = (at_us + d) / 1000;
                    out.extend_from_slice(&mp3[range]);
                }
                at_us += d;
            }
        }
        Ok(Clip {
            mp3: out.freeze(),
            start_ms: first.unwrap_or(start_ms),
            end_ms: last,
        })
    }
}

/// The wall clock in Unix ms.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The frames of a chunk: their byte ranges and headers.
fn frames(mp3: &[u8]) -> impl Iterator<Item = (std::ops::Range<usize>, FrameHeader)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let header = FrameHeader::parse(mp3.get(pos..)?)?;
        let range = pos..(pos + header.len).min(mp3.len());
        pos += header.len;
        Some((range, header))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::mp3::Mp3Encoder;

    fn mp3(seconds: f32) -> Bytes {
        let mut enc = Mp3Encoder::new(128).unwrap();
        let pcm = vec![0.0f32; (seconds * 44_100.0) as usize * 2];
        let mut out = Vec::new();
        enc.encode(&pcm, &mut out).unwrap();
        Bytes::from(out)
    }

    /// A ring fed `seconds` of audio in 250 ms chunks, in real time from `t0`.
    fn fed(seconds: u32, keep_s: u32, t0: i64) -> ClipRing {
        let mut ring = ClipRing::new(keep_s);
        let chunk = mp3(0.25);
        let chunk_us: u64 = frames(&chunk).map(|(_, h)| h.duration_us()).sum();
        let mut now_us = t0 * 1000;
        for _ in 0..seconds * 4 {
            now_us += i64::try_from(chunk_us).unwrap();
            ring.push(&chunk, now_us / 1000);
        }
        ring
    }

    #[test]
    fn a_window_is_cut_to_the_frame_and_only_the_buffered_past_is_kept() {
        let t0 = 1_700_000_000_000;
        let ring = fed(90, 60, t0);
        let (from, to) = ring.available().unwrap();
        assert!((to - from - 60_000).abs() < 300, "{from}..{to}");
        let clip = ring.cut(to - 10_000, to).unwrap();
        let frames_ms = frames(&clip.mp3).count() as f64 * 1152.0 / 44.1;
        assert!((frames_ms - 10_000.0).abs() <= 27.0, "{frames_ms} ms");
        assert!((clip.end_ms - clip.start_ms - 10_000).abs() <= 27);
    }

    #[test]
    fn inverted_too_long_and_unbuffered_windows_are_refused_saying_what_is_available() {
        let t0 = 1_700_000_000_000;
        let ring = fed(30, 60, t0);
        let (from, to) = ring.available().unwrap();
        assert_eq!(ring.cut(to, to - 5).unwrap_err(), ClipError::Inverted);
        assert!(matches!(
            ring.cut(to - 61_000, to),
            Err(ClipError::TooLong { max_ms: 60_000, .. })
        ));
        match ring.cut(from - 5_000, from + 5_000) {
            Err(ClipError::Unavailable { from_ms, to_ms }) => {
                assert_eq!((from_ms, to_ms), (from, to))
            }
            other => panic!("{other:?}"),
        }
        assert!(ring.cut(to - 1_000, to + 2_000).is_err(), "not the future");
    }

    #[test]
    fn a_source_that_stalls_is_stamped_at_the_clock_again() {
        let mut ring = ClipRing::new(60);
        let chunk = mp3(0.25);
        ring.push(&chunk, 1_000_000);
        // Ten seconds later, the next chunk: it plays now, not 250 ms after the first.
        ring.push(&chunk, 1_010_000);
        let (_, to) = ring.available().unwrap();
        assert!((to - 1_010_000).abs() < 30, "{to}");
    }
}
