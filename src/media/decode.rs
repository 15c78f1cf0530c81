//! Decoding audio with symphonia into interleaved `f32` PCM, packet by packet, measuring the
//! exact duration from the decoded frame count (encoder delay and padding trimmed where the
//! container says). Refuses empty, truncated, undecodable and over-long input with a message
//! for the client.
//!
//! Every decoded sample passes through [`sanitize`] before anyone sees it: a float WAV may
//! hold NaN, ±Inf or 1e38, and LAME aborts the whole process (a C `assert`) on such input.
//! Owns: the decode loop and its checks. May not touch: resampling, encoding, files.

use std::io::Cursor;

use bytes::Bytes;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use super::MediaError;

/// Decoded audio: interleaved samples in [-1, 1].
#[derive(Debug, Clone, Default)]
pub struct Pcm {
    /// Sample rate in Hz.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Interleaved samples.
    pub samples: Vec<f32>,
}

impl Pcm {
    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / f64::from(self.rate.max(1))
    }

    /// Duration in nanoseconds (the reference's `audiolength`).
    pub fn nanoseconds(&self) -> i64 {
        nanoseconds(self.frames() as u64, self.rate)
    }
}

/// `frames` at `rate` Hz in nanoseconds.
pub fn nanoseconds(frames: u64, rate: u32) -> i64 {
    i64::try_from(u128::from(frames) * 1_000_000_000 / u128::from(rate.max(1))).unwrap_or(i64::MAX)
}

/// Formats a duration as `H:MM:SS` for messages.
pub fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Makes decoded samples safe for every consumer: NaN and ±Inf become silence (0), finite
/// values are clamped to [-1, 1]. In place, no allocation, no panic, so it may run anywhere
/// (it runs on decode threads, never on the render path).
pub fn sanitize(samples: &mut [f32]) {
    for s in samples {
        *s = if s.is_finite() {
            s.clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
}

/// What a panic inside the decoder (a bug a crafted file triggered) becomes.
fn decoder_failed() -> MediaError {
    log::warn!("the audio decoder failed on an upload (see the panic above); refused");
    MediaError::Undecodable("its headers make the decoder fail (a damaged or crafted file)".into())
}

/// Share of packets that may fail to decode (damaged frames are skipped) before the whole
/// file counts as undecodable.
const MAX_BAD_PACKET_SHARE: f64 = 0.05;

/// Sample rates accepted (telephone quality up to studio masters).
pub const RATES_HZ: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// What a finished decode measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Sample rate in Hz.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Frames decoded (samples per channel).
    pub frames: u64,
}

impl Decoded {
    /// Duration in nanoseconds.
    pub fn nanoseconds(&self) -> i64 {
        nanoseconds(self.frames, self.rate)
    }
}

/// One decoded packet.
#[derive(Debug)]
pub struct Block<'a> {
    /// Sample rate in Hz.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Interleaved samples in [-1, 1].
    pub samples: &'a [f32],
}

/// A decode in progress: call [`Decoder::next_chunk`] until it gives `None`, then
/// [`Decoder::finish`] for the checks that need the whole stream (damage, truncation).
pub struct Decoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    declared_frames: Option<u64>,
    max_seconds: f64,
    rate: u32,
    channels: u16,
    frames: u64,
    packets: u64,
    bad_packets: u64,
    chunk: Vec<f32>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Probes `source` and prepares its first audio track. `max_seconds` bounds the
    /// recording: a longer one is refused from its header when it states its length, else
    /// as soon as the decoded frames pass the limit.
    ///
    /// # Errors
    /// [`MediaError`] naming the problem.
    pub fn open(source: Box<dyn MediaSource>, max_seconds: f64) -> Result<Self, MediaError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::open_inner(source, max_seconds)
        }))
        .unwrap_or_else(|_| Err(decoder_failed()))
    }

    fn open_inner(source: Box<dyn MediaSource>, max_seconds: f64) -> Result<Self, MediaError> {
        let mss = MediaSourceStream::new(source, Default::default());
        let format = symphonia::default::get_probe()
            .probe(
                &Hint::new(),
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| {
                MediaError::Undecodable(format!("the audio format is not recognised ({e})"))
            })?;
        let track = format
            .default_track(TrackType::Audio)
            .or_else(|| format.tracks().first())
            .ok_or_else(|| MediaError::Undecodable("the file holds no audio track".into()))?;
        let track_id = track.id;
        let declared_frames = track.num_frames;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| MediaError::Undecodable("the file holds no audio track".into()))?
            .clone();
        // A header can claim any rate; resampling from an absurd one costs gigabytes, and a
        // 1 Hz "recording" of a few frames decodes to minutes. Refuse before doing any work.
        match params.sample_rate {
            Some(rate) if RATES_HZ.contains(&rate) => {}
            Some(rate) => {
                return Err(MediaError::Unsupported(format!(
                    "a sample rate of {rate} Hz (accepted: {} to {} Hz)",
                    RATES_HZ.start(),
                    RATES_HZ.end()
                )));
            }
            None => {
                return Err(MediaError::Undecodable(
                    "the file does not state its sample rate".into(),
                ));
            }
        }
        if let (Some(frames), Some(rate)) = (declared_frames, params.sample_rate) {
            let seconds = frames as f64 / f64::from(rate.max(1));
            if seconds > max_seconds {
                return Err(MediaError::TooLong {
                    seconds,
                    max: max_seconds,
                });
            }
        }
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| {
                MediaError::Undecodable(format!("no decoder for this audio codec ({e})"))
            })?;
        Ok(Self {
            format,
            decoder,
            track_id,
            declared_frames,
            max_seconds,
            rate: 0,
            channels: 0,
            frames: 0,
            packets: 0,
            bad_packets: 0,
            chunk: Vec::new(),
        })
    }

    /// The sample rate, known once the first chunk has been decoded (0 before).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// 1 or 2, known once the first chunk has been decoded (0 before).
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.rate.max(1))
    }

    /// The next packet's samples, interleaved and sanitised; `None` at the end of the stream.
    /// The block borrows the decoder until the next call.
    ///
    /// # Errors
    /// [`MediaError`] for a cut-off or damaged stream, a change of format inside the file, more
    /// than two channels, or a recording past the limit.
    pub fn next_chunk(&mut self) -> Result<Option<Block<'_>>, MediaError> {
        // A decoder bug triggered by a crafted file (an arithmetic overflow on a header field,
        // an index out of bounds) is the file's problem: a clean refusal, never a 500.
        let more = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.fill()))
            .unwrap_or_else(|_| Err(decoder_failed()))?;
        if !more {
            return Ok(None);
        }
        Ok(Some(Block {
            rate: self.rate,
            channels: self.channels,
            samples: &self.chunk,
        }))
    }

    /// Decodes the next packet of the track into `chunk`; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, MediaError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) | Err(SymError::ResetRequired) => return Ok(false),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(MediaError::Truncated(
                        "the file ends in the middle of the audio".into(),
                    ));
                }
                Err(e) => {
                    return Err(MediaError::Undecodable(format!(
                        "the audio stream is damaged ({e})"
                    )));
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            self.packets += 1;
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(SymError::DecodeError(_)) => {
                    self.bad_packets += 1;
                    continue;
                }
                Err(e) => {
                    return Err(MediaError::Undecodable(format!(
                        "the audio cannot be decoded ({e})"
                    )));
                }
            };
            let spec = buf.spec();
            let channels = spec.channels().count();
            if channels == 0 || channels > 2 {
                return Err(MediaError::Unsupported(format!(
                    "{channels} audio channels; only mono and stereo recordings are accepted"
                )));
            }
            if self.rate == 0 {
                self.rate = spec.rate();
                self.channels = channels as u16;
            } else if self.rate != spec.rate() || usize::from(self.channels) != channels {
                return Err(MediaError::Unsupported(
                    "the sample rate or channel count changes inside the file".into(),
                ));
            }
            buf.copy_to_vec_interleaved(&mut self.chunk);
            sanitize(&mut self.chunk);
            self.frames += (self.chunk.len() / channels) as u64;
            if self.seconds() > self.max_seconds {
                return Err(MediaError::LongerThan {
                    max: self.max_seconds,
                });
            }
            if !self.chunk.is_empty() {
                return Ok(true);
            }
        }
    }

    /// The checks that need the whole stream: too many damaged packets, no audio at all, or
    /// less audio than the header announced.
    ///
    /// # Errors
    /// [`MediaError`] naming the problem.
    pub fn finish(self) -> Result<Decoded, MediaError> {
        let (packets, bad) = (self.packets, self.bad_packets);
        if packets > 0 && bad as f64 > (packets as f64 * MAX_BAD_PACKET_SHARE).max(2.0) {
            return Err(MediaError::Undecodable(format!(
                "{bad} of {packets} audio packets are damaged"
            )));
        }
        if self.frames == 0 || self.rate == 0 {
            return Err(MediaError::Undecodable(
                "the file holds no audio samples".into(),
            ));
        }
        if let Some(frames) = self.declared_frames {
            // Containers that state a length (WAV, FLAC, MP4, MP3 with a Xing header) must
            // deliver it; a shortfall beyond a frame or two of codec slack means a cut-off file.
            let slack = 4096 + frames / 100;
            if self.frames + slack < frames {
                return Err(MediaError::Truncated(format!(
                    "the header announces {:.2} s but only {:.2} s of audio could be decoded",
                    frames as f64 / f64::from(self.rate),
                    self.seconds()
                )));
            }
        }
        Ok(Decoded {
            rate: self.rate,
            channels: self.channels,
            frames: self.frames,
        })
    }
}

/// Decodes a whole file held in memory (speaker beds, tests). `max_seconds` bounds the
/// recording length: a longer one is refused as soon as that is known.
///
/// # Errors
/// [`MediaError`] naming the problem.
pub fn decode(bytes: Bytes, max_seconds: f64) -> Result<Pcm, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let mut decoder = Decoder::open(Box::new(Cursor::new(bytes)), max_seconds)?;
    let mut samples = Vec::new();
    while let Some(block) = decoder.next_chunk()? {
        samples.extend_from_slice(block.samples);
    }
    let done = decoder.finish()?;
    Ok(Pcm {
        rate: done.rate,
        channels: done.channels,
        samples,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A float WAV (format 3) of `samples` at `rate` Hz mono, 32 or 64 bits per sample.
    pub(crate) fn float_wav_at(samples: &[f64], bits: u16, rate: u32) -> Vec<u8> {
        let width = usize::from(bits / 8);
        let mut data = Vec::with_capacity(samples.len() * width);
        for &s in samples {
            if bits == 64 {
                data.extend_from_slice(&s.to_le_bytes());
            } else {
                data.extend_from_slice(&(s as f32).to_le_bytes());
            }
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&((4 + 8 + 16 + 8 + data.len()) as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(bits / 8)).to_le_bytes());
        out.extend_from_slice(&(bits / 8).to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    /// A float WAV at 44.1 kHz.
    pub(crate) fn float_wav(samples: &[f64], bits: u16) -> Vec<u8> {
        float_wav_at(samples, bits, 44_100)
    }

    /// 0.1 s of a quiet tone, then 0.1 s of each hostile value.
    pub(crate) fn hostile_samples() -> Vec<f64> {
        let mut v: Vec<f64> = (0..4410)
            .map(|i| (f64::from(i) * 0.06).sin() * 0.5)
            .collect();
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e10,
            1e38,
            -1e38,
        ] {
            v.extend(std::iter::repeat_n(bad, 4410));
        }
        v
    }

    #[test]
    fn sanitize_silences_non_finite_samples_and_clamps_the_rest() {
        let mut s = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e10,
            -1e38,
            0.25,
            -1.0,
            1.5,
        ];
        sanitize(&mut s);
        let want = [0.0f32, 0.0, 0.0, 1.0, -1.0, 0.25, -1.0, 1.0];
        assert_eq!(s.map(f32::to_bits), want.map(f32::to_bits), "{s:?}");
    }

    #[test]
    fn float_wavs_of_nan_inf_and_huge_values_decode_to_finite_samples_within_full_scale() {
        for bits in [32, 64] {
            let wav = float_wav(&hostile_samples(), bits);
            let pcm = decode(wav.into(), 60.0).expect("decodes");
            assert_eq!(pcm.frames(), 7 * 4410, "{bits}-bit");
            assert!(
                pcm.samples.iter().all(|s| s.is_finite() && s.abs() <= 1.0),
                "{bits}-bit: every sample finite and within [-1, 1]"
            );
            // The tone before the damage is untouched.
            assert!((pcm.samples[100] - (100.0f32 * 0.06).sin() * 0.5).abs() < 1e-6);
        }
    }

    #[test]
    fn a_recording_is_refused_from_its_header_or_once_its_decoded_frames_pass_the_limit() {
        let mut wav = float_wav(&vec![0.1; 44_100 * 3], 32);
        let err = decode(wav.clone().into(), 2.0).expect_err("too long");
        assert!(matches!(err, MediaError::TooLong { .. }), "{err}");
        // A streaming writer's WAV does not state its length: it is counted as it decodes.
        wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = decode(wav.into(), 2.0).expect_err("too long");
        assert!(matches!(err, MediaError::LongerThan { .. }), "{err}");
        assert!(err.to_string().contains("longer than 0:00:02"), "{err}");
    }
}
