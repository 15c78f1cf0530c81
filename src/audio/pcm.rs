//! Decoded audio held in memory for the mixer: 16-bit frames at the engine rate, shared
//! read-only by every listener (`Arc<Pcm16>`), loaded once per box.
//!
//! Loading is blocking file and CPU work: callers run it on a blocking thread, never on the
//! render path. Owns: reading the engine's WAV renditions (fast path) and decoding anything
//! else through [`crate::media`]; the loop seam of speaker beds. May not touch: mixing, the
//! store, the network.

use std::path::Path;

use crate::media::decode::{Pcm, decode};
use crate::media::encode::{OUTPUT_RATE, to_output_rate};

/// The engine's sample rate (every source is converted to it before it reaches the mixer).
pub(crate) const RATE_HZ: u32 = OUTPUT_RATE;

/// Longest source the engine loads: 30 min of stereo is 318 MB as 16-bit PCM, and decoding
/// passes through 32-bit floats, so longer beds would not fit a small Pi. Longer ambience
/// belongs on an `http://` stream (pulled, never held whole).
const MAX_SOURCE_S: f64 = 30.0 * 60.0;

/// Length of the crossfade that makes a loop seamless.
const LOOP_SEAM_FRAMES: usize = 441 * 2;

/// Interleaved 16-bit samples, mono or stereo, at [`RATE_HZ`].
#[derive(Debug, Default)]
pub struct Pcm16 {
    /// 1 or 2.
    pub channels: u16,
    /// Interleaved samples.
    pub samples: Box<[i16]>,
}

impl Pcm16 {
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Memory held, in bytes.
    pub fn bytes(&self) -> usize {
        self.samples.len() * 2
    }

    /// Converts decoded float PCM (already at the engine rate) to 16 bits, keeping mono as
    /// mono and folding more than two channels down to stereo.
    pub fn from_pcm(pcm: &Pcm) -> Self {
        let channels = usize::from(pcm.channels.max(1));
        let to_i16 = |s: f32| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        if channels <= 2 {
            return Self {
                channels: channels as u16,
                samples: pcm.samples.iter().map(|&s| to_i16(s)).collect(),
            };
        }
        let samples = pcm
            .samples
            .chunks_exact(channels)
            .flat_map(|f| [to_i16(f[0]), to_i16(f[1])])
            .collect();
        Self {
            channels: 2,
            samples,
        }
    }

    /// Makes the buffer loop without a click: the last `LOOP_SEAM_FRAMES` are crossfaded
    /// (equal power) into the first ones and removed, so playing it over and over is continuous.
    pub fn into_loop(self) -> Self {
        let ch = usize::from(self.channels.max(1));
        let frames = self.frames();
        if frames < LOOP_SEAM_FRAMES * 4 {
            return self;
        }
        let mut samples = self.samples.into_vec();
        let tail_start = frames - LOOP_SEAM_FRAMES;
        for i in 0..LOOP_SEAM_FRAMES {
            let t = (i as f32 + 0.5) / LOOP_SEAM_FRAMES as f32;
            let (fade_in, fade_out) = (
                (t * std::f32::consts::FRAC_PI_2).sin(),
                (t * std::f32::consts::FRAC_PI_2).cos(),
            );
            for c in 0..ch {
                let head = f32::from(samples[i * ch + c]);
                let tail = f32::from(samples[(tail_start + i) * ch + c]);
                let v = head * fade_in + tail * fade_out;
                samples[i * ch + c] = v.clamp(-32768.0, 32767.0) as i16;
            }
        }
        samples.truncate(tail_start * ch);
        Self {
            channels: self.channels,
            samples: samples.into_boxed_slice(),
        }
    }
}

/// Why a source could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The bytes are not audio the engine can decode.
    #[error("cannot decode {path}: {reason}")]
    Decode {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Loads a file: the engine's own PCM16 44.1 kHz WAV renditions are read directly, anything
/// else is decoded and resampled.
///
/// # Errors
/// [`LoadError`] naming the file.
pub(crate) fn load_file(path: &Path) -> Result<Pcm16, LoadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: shown.clone(),
        source,
    })?;
    if let Some(pcm) = parse_wav16(&bytes) {
        return Ok(pcm);
    }
    decode_bytes(bytes.into(), &shown)
}

/// Decodes encoded audio (MP3, WAV of any kind, FLAC, …) to the engine format.
///
/// # Errors
/// [`LoadError::Decode`] naming `what`.
pub(crate) fn decode_bytes(bytes: bytes::Bytes, what: &str) -> Result<Pcm16, LoadError> {
    let err = |reason: String| LoadError::Decode {
        path: what.to_owned(),
        reason,
    };
    let pcm = decode(bytes, MAX_SOURCE_S).map_err(|e| err(e.to_string()))?;
    let pcm = to_output_rate(pcm).map_err(|e| err(e.to_string()))?;
    Ok(Pcm16::from_pcm(&pcm))
}

/// Reads a canonical PCM16 WAV at [`RATE_HZ`] with one or two channels (what ingest writes);
/// `None` for anything else (the caller then decodes it properly).
fn parse_wav16(b: &[u8]) -> Option<Pcm16> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let u16_at = |i: usize| b.get(i..i + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |i: usize| {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let mut pos = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32_at(pos + 4)? as usize;
        let body = pos + 8;
        if id == b"fmt " {
            format = Some((
                u16_at(body)?,
                u16_at(body + 2)?,
                u32_at(body + 4)?,
                u16_at(body + 14)?,
            ));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format?;
            if tag != 1 || bits != 16 || rate != RATE_HZ || !(1..=2).contains(&channels) {
                return None;
            }
            let end = body.checked_add(len)?.min(b.len());
            let data = &b[body..end];
            let frame_bytes = usize::from(channels) * 2;
            let usable = data.len() - data.len() % frame_bytes;
            let samples = data[..usable]
                .chunks_exact(2)
                .map(|s| i16::from_le_bytes([s[0], s[1]]))
                .collect();
            return Some(Pcm16 { channels, samples });
        }
        pos = body.checked_add(len + (len & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::encode::wav16;

    fn tone(frames: usize, channels: u16) -> Pcm {
        let samples = (0..frames * usize::from(channels))
            .map(|i| ((i / usize::from(channels)) as f32 * 0.05).sin() * 0.5)
            .collect();
        Pcm {
            rate: RATE_HZ,
            channels,
            samples,
        }
    }

    #[test]
    fn an_ingest_wav_is_read_without_decoding_and_keeps_its_samples() {
        let pcm = tone(1000, 2);
        let parsed = parse_wav16(&wav16(&pcm)).expect("canonical wav");
        assert_eq!(parsed.channels, 2);
        assert_eq!(parsed.frames(), 1000);
        assert_eq!(parsed.samples[3], (pcm.samples[3] * 32767.0).round() as i16);
    }

    #[test]
    fn a_wav_at_another_rate_is_left_to_the_decoder() {
        let mut pcm = tone(1000, 1);
        pcm.rate = 48_000;
        assert!(parse_wav16(&wav16(&pcm)).is_none());
        let decoded = decode_bytes(wav16(&pcm).into(), "x.wav").expect("decodes");
        assert!(
            (decoded.frames() as i64 - 919).abs() <= 2,
            "{}",
            decoded.frames()
        );
    }

    #[test]
    fn a_speaker_bed_of_nan_inf_and_huge_samples_loads_as_silence_there_and_keeps_its_tone() {
        use crate::media::decode::tests::{float_wav_at, hostile_samples};
        // At 48 kHz the bed is resampled: one NaN left in would smear over its whole chunk.
        let bed = float_wav_at(&hostile_samples(), 32, 48_000);
        let pcm = decode_bytes(bed.into(), "bed.wav").expect("decodes");
        let tone = &pcm.samples[..3000];
        assert!(tone.iter().any(|s| s.abs() > 10_000), "the tone survives");
        let nan_part = &pcm.samples[5000..8000];
        assert!(nan_part.iter().all(|s| s.abs() < 50), "NaN became silence");
        let inf_part = &pcm.samples[9000..11_000];
        assert!(inf_part.iter().all(|s| s.abs() < 50), "+Inf became silence");
        let huge = &pcm.samples[17_000..19_500];
        assert!(huge.iter().all(|s| *s > 32_000), "1e10 became full scale");
    }

    #[test]
    fn garbage_is_refused_with_the_name_of_the_source() {
        let err = decode_bytes(bytes::Bytes::from_static(b"not audio at all"), "bed.mp3")
            .expect_err("garbage");
        assert!(err.to_string().contains("bed.mp3"), "{err}");
    }

    #[test]
    fn a_loop_has_no_jump_at_its_seam() {
        // A sine whose length is not a whole number of periods jumps at the seam unless
        // the loop is crossfaded.
        let pcm = Pcm16::from_pcm(&tone(20_000, 1));
        let looped = pcm.into_loop();
        let s = &looped.samples;
        let seam = (i32::from(s[0]) - i32::from(s[s.len() - 1])).abs();
        let max_step = s
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0);
        assert!(seam <= max_step + 64, "seam {seam} vs step {max_step}");
    }
}
