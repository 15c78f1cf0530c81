//! Streaming conversion of decoded audio to the rendition rate (44.1 kHz) with rubato's FFT
//! resampler: samples go in packet by packet and come out in chunks, so a recording is never
//! held whole. The output matches rubato's `process_all` on the whole clip: the resampler's
//! start-up delay is trimmed and exactly ⌈frames × ratio⌉ frames come out.
//!
//! Owns: chunking, delay trimming and the exact output length. May not touch: decoding,
//! encoding, files.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

use super::MediaError;

/// The rate of every rendition (and of the stream engine's mix).
pub const OUTPUT_RATE: u32 = 44_100;

/// Frames per resampler chunk.
const CHUNK_FRAMES: usize = 1024;

/// A resampler fed in pieces of any size; a pass-through when the input is already at
/// [`OUTPUT_RATE`].
pub(crate) struct Resampler {
    fft: Option<Fft<f32>>,
    channels: usize,
    rate: u32,
    /// Interleaved input not yet resampled (less than one chunk between calls).
    pending: Vec<f32>,
    /// One chunk of interleaved output.
    out: Vec<f32>,
    /// Output frames of the start-up delay still to drop.
    to_trim: usize,
    in_frames: u64,
    out_frames: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("in_frames", &self.in_frames)
            .field("out_frames", &self.out_frames)
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `rate` Hz with `channels` interleaved channels to [`OUTPUT_RATE`].
    ///
    /// # Errors
    /// [`MediaError::Unsupported`] for a rate the resampler cannot handle.
    pub(crate) fn new(rate: u32, channels: u16) -> Result<Self, MediaError> {
        let channels = usize::from(channels.max(1));
        let fft = if rate == OUTPUT_RATE {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    rate as usize,
                    OUTPUT_RATE as usize,
                    CHUNK_FRAMES,
                    channels,
                    FixedSync::Input,
                )
                .map_err(|e| unsupported(rate, &e.to_string()))?,
            )
        };
        let (out_len, to_trim) = fft.as_ref().map_or((0, 0), |f| {
            (f.output_frames_max() * channels, f.output_delay())
        });
        Ok(Self {
            fft,
            channels,
            rate,
            pending: Vec::with_capacity(CHUNK_FRAMES * channels * 2),
            out: vec![0.0; out_len],
            to_trim,
            in_frames: 0,
            out_frames: 0,
        })
    }

    /// Frames that will come out in all for the input given so far.
    fn expected_out_frames(&self) -> u64 {
        (self.in_frames as f64 * f64::from(OUTPUT_RATE) / f64::from(self.rate.max(1))).ceil() as u64
    }

    /// Adds interleaved samples; resampled output is handed to `sink` as it is made.
    ///
    /// # Errors
    /// A resampler failure, or whatever `sink` returns.
    pub(crate) fn push(
        &mut self,
        samples: &[f32],
        sink: &mut dyn FnMut(&[f32]) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        let frames = samples.len() / self.channels;
        self.in_frames += frames as u64;
        if self.fft.is_none() {
            self.out_frames += frames as u64;
            return sink(&samples[..frames * self.channels]);
        }
        self.pending
            .extend_from_slice(&samples[..frames * self.channels]);
        let chunk = CHUNK_FRAMES * self.channels;
        let mut done = 0;
        while self.pending.len() - done >= chunk {
            self.process(done, None, u64::MAX, sink)?;
            done += chunk;
        }
        self.pending.drain(..done);
        Ok(())
    }

    /// Resamples the rest (the last partial chunk and the delay line) so that exactly
    /// ⌈input frames × ratio⌉ frames have come out in all.
    ///
    /// # Errors
    /// A resampler failure, or whatever `sink` returns.
    pub(crate) fn finish(
        mut self,
        sink: &mut dyn FnMut(&[f32]) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        if self.fft.is_none() {
            return Ok(());
        }
        let expected = self.expected_out_frames();
        let left = self.pending.len() / self.channels;
        self.pending.resize(CHUNK_FRAMES * self.channels, 0.0);
        if left > 0 {
            self.process(0, Some(left), expected, sink)?;
        }
        // Pump silence through the delay line until every expected frame is out.
        let mut guard = 0;
        while self.out_frames < expected {
            self.process(0, Some(0), expected, sink)?;
            guard += 1;
            if guard > 64 {
                return Err(unsupported(self.rate, "the resampler does not drain"));
            }
        }
        Ok(())
    }

    /// Resamples one chunk starting at `offset` samples of `pending`, drops what is left of
    /// the start-up delay and hands at most `limit - out_frames` frames to `sink`.
    fn process(
        &mut self,
        offset: usize,
        partial: Option<usize>,
        limit: u64,
        sink: &mut dyn FnMut(&[f32]) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        let (rate, ch) = (self.rate, self.channels);
        let Some(fft) = self.fft.as_mut() else {
            return Ok(());
        };
        let input = &self.pending[offset..offset + CHUNK_FRAMES * ch];
        let input = InterleavedSlice::new(input, ch, CHUNK_FRAMES)
            .map_err(|e| unsupported(rate, &e.to_string()))?;
        let out_frames = self.out.len() / ch;
        let mut output = InterleavedSlice::new_mut(&mut self.out, ch, out_frames)
            .map_err(|e| unsupported(rate, &e.to_string()))?;
        let indexing = Indexing {
            partial_len: partial,
            ..Indexing::default()
        };
        let (_, produced) = fft
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| unsupported(rate, &e.to_string()))?;
        let skip = produced.min(self.to_trim);
        self.to_trim -= skip;
        let room = usize::try_from(limit.saturating_sub(self.out_frames)).unwrap_or(usize::MAX);
        let take = (produced - skip).min(room);
        if take > 0 {
            self.out_frames += take as u64;
            sink(&self.out[skip * ch..(skip + take) * ch])?;
        }
        Ok(())
    }
}

fn unsupported(rate: u32, e: &str) -> MediaError {
    MediaError::Unsupported(format!("cannot resample {rate} Hz audio ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frames: usize, channels: usize, rate: u32) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| {
                ((i / channels) as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5
            })
            .collect()
    }

    fn streamed(samples: &[f32], rate: u32, channels: u16, piece_frames: usize) -> Vec<f32> {
        let mut r = Resampler::new(rate, channels).unwrap();
        let mut out = Vec::new();
        let mut sink = |s: &[f32]| {
            out.extend_from_slice(s);
            Ok(())
        };
        for piece in samples.chunks(piece_frames * usize::from(channels)) {
            r.push(piece, &mut sink).unwrap();
        }
        r.finish(&mut sink).unwrap();
        out
    }

    #[test]
    fn streaming_in_odd_pieces_gives_what_resampling_the_whole_clip_gives() {
        for (rate, channels, frames) in
            [(48_000, 2, 48_000 + 77), (22_050, 1, 3000), (8000, 1, 500)]
        {
            let samples = tone(frames, channels, rate);
            let mut whole = Fft::<f32>::new(
                rate as usize,
                OUTPUT_RATE as usize,
                CHUNK_FRAMES,
                channels,
                FixedSync::Input,
            )
            .unwrap();
            let input = InterleavedSlice::new(&samples, channels, frames).unwrap();
            let want = whole.process_all(&input, frames, None).unwrap().take_data();
            for piece in [1152, 333, 4096] {
                let got = streamed(&samples, rate, channels as u16, piece);
                assert_eq!(got.len(), want.len(), "{rate} Hz, pieces of {piece}");
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-4, "{rate} Hz, pieces of {piece}: off by {worst}");
            }
        }
    }

    #[test]
    fn audio_already_at_the_output_rate_passes_through_unchanged() {
        let samples = tone(5000, 2, OUTPUT_RATE);
        assert_eq!(streamed(&samples, OUTPUT_RATE, 2, 700), samples);
    }
}
