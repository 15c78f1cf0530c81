//! Decoding uploads with symphonia into interleaved `f32` PCM, measuring the exact duration
//! from the decoded frame count (encoder delay and padding trimmed where the container says).
//! Refuses empty, truncated, undecodable and over-long input with a message for the client.

use std::io::Cursor;

use bytes::Bytes;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
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
        (self.frames() as u128 * 1_000_000_000 / u128::from(self.rate.max(1))) as i64
    }
}

/// Formats a duration as `H:MM:SS` for messages.
pub fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Share of packets that may fail to decode (damaged frames are skipped) before the whole
/// file counts as undecodable.
const MAX_BAD_PACKET_SHARE: f64 = 0.05;

/// Sample rates accepted (telephone quality up to studio masters).
pub const RATES_HZ: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// Decodes a whole file held in memory. `max_seconds` bounds the recording length: a longer
/// one is refused as soon as that is known (from the header, or while decoding).
///
/// # Errors
/// [`MediaError`] naming the problem.
pub fn decode(bytes: Bytes, max_seconds: f64) -> Result<Pcm, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut format = symphonia::default::get_probe()
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
    let declared = track.num_frames;
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
    if let (Some(frames), Some(rate)) = (declared, params.sample_rate) {
        let seconds = frames as f64 / f64::from(rate.max(1));
        if seconds > max_seconds {
            return Err(MediaError::TooLong {
                seconds,
                max: max_seconds,
            });
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| MediaError::Undecodable(format!("no decoder for this audio codec ({e})")))?;

    let mut pcm = Pcm::default();
    let mut chunk: Vec<f32> = Vec::new();
    let (mut packets, mut bad) = (0u64, 0u64);
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(MediaError::Truncated(
                    "the file ends in the middle of the audio".into(),
                ));
            }
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                return Err(MediaError::Undecodable(format!(
                    "the audio stream is damaged ({e})"
                )));
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        packets += 1;
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(_)) => {
                bad += 1;
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
        if pcm.rate == 0 {
            pcm.rate = spec.rate();
            pcm.channels = channels as u16;
        } else if pcm.rate != spec.rate() || usize::from(pcm.channels) != channels {
            return Err(MediaError::Unsupported(
                "the sample rate or channel count changes inside the file".into(),
            ));
        }
        buf.copy_to_vec_interleaved(&mut chunk);
        pcm.samples.extend_from_slice(&chunk);
        if pcm.seconds() > max_seconds {
            return Err(MediaError::TooLong {
                seconds: pcm.seconds(),
                max: max_seconds,
            });
        }
    }
    if packets > 0 && bad as f64 > (packets as f64 * MAX_BAD_PACKET_SHARE).max(2.0) {
        return Err(MediaError::Undecodable(format!(
            "{bad} of {packets} audio packets are damaged"
        )));
    }
    if pcm.frames() == 0 || pcm.rate == 0 {
        return Err(MediaError::Undecodable(
            "the file holds no audio samples".into(),
        ));
    }
    if let Some(frames) = declared {
        // Containers that state a length (WAV, FLAC, MP4, MP3 with a Xing header) must
        // deliver it; a shortfall beyond a frame or two of codec slack means a cut-off file.
        let slack = 4096 + frames / 100;
        if (pcm.frames() as u64) + slack < frames {
            return Err(MediaError::Truncated(format!(
                "the header announces {:.2} s but only {:.2} s of audio could be decoded",
                frames as f64 / f64::from(pcm.rate),
                pcm.seconds()
            )));
        }
    }
    Ok(pcm)
}
