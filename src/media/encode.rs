//! The renditions of an audio upload, written incrementally as decoded PCM arrives: the MP3
//! clients download (LAME, 128 kbps CBR, with a LAME/Info tag written over the first frame at
//! the end so players and ffprobe know the exact length), and the 16-bit PCM WAV the stream
//! engine mixes from without decoding MP3 per listener (its header is patched at the end).
//! In-memory helpers ([`mp3`], [`wav16`], [`to_output_rate`]) run the same writers.
//!
//! Owns: LAME settings and the WAV layout. May not touch: decoding, file naming.

use std::io::{Cursor, Seek, SeekFrom, Write};

use mp3lame_encoder::{Bitrate, Builder, Encoder, FlushNoGap, InterleavedPcm, MonoPcm, Quality};

use super::MediaError;
use super::decode::Pcm;
pub use super::resample::OUTPUT_RATE;
use super::resample::Resampler;

/// Frames handed to LAME per call (bounds the output buffer).
const MP3_CALL_FRAMES: usize = 4096;

/// Converts `pcm` to [`OUTPUT_RATE`] (returned unchanged when it already is).
///
/// # Errors
/// [`MediaError::Unsupported`] for a rate the resampler cannot handle.
pub fn to_output_rate(pcm: Pcm) -> Result<Pcm, MediaError> {
    if pcm.rate == OUTPUT_RATE {
        return Ok(pcm);
    }
    let mut resampler = Resampler::new(pcm.rate, pcm.channels)?;
    let mut samples = Vec::with_capacity(
        (pcm.samples.len() as f64 * f64::from(OUTPUT_RATE) / f64::from(pcm.rate.max(1))) as usize
            + 64,
    );
    let mut sink = |s: &[f32]| {
        samples.extend_from_slice(s);
        Ok(())
    };
    resampler.push(&pcm.samples, &mut sink)?;
    resampler.finish(&mut sink)?;
    Ok(Pcm {
        rate: OUTPUT_RATE,
        channels: pcm.channels,
        samples,
    })
}

/// An MP3 being written to `out` (CBR at the chosen bitrate, LAME/Info tag at the end).
pub struct Mp3Writer<W: Write + Seek> {
    encoder: Encoder,
    out: W,
    start: u64,
    channels: usize,
    buf: Vec<u8>,
    bytes: u64,
}

impl<W: Write + Seek> std::fmt::Debug for Mp3Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp3Writer")
            .field("channels", &self.channels)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

fn lame_err(what: &str, e: impl std::fmt::Debug) -> MediaError {
    MediaError::Encode(format!("{what}: {e:?}"))
}

impl<W: Write + Seek> Mp3Writer<W> {
    /// A LAME encoder for `channels` (1 or 2) at `rate` Hz writing to `out` from its current
    /// position.
    ///
    /// # Errors
    /// [`MediaError::Encode`] if LAME refuses the settings, [`MediaError::Io`] for `out`.
    pub fn new(mut out: W, channels: u16, rate: u32, kbps: Bitrate) -> Result<Self, MediaError> {
        let mut builder = Builder::new().ok_or_else(|| lame_err("LAME", "cannot initialise"))?;
        builder
            .set_num_channels(channels as u8)
            .map_err(|e| lame_err("channels", e))?;
        builder
            .set_sample_rate(rate)
            .map_err(|e| lame_err("sample rate", e))?;
        builder
            .set_brate(kbps)
            .map_err(|e| lame_err("bitrate", e))?;
        builder
            .set_quality(Quality::Good)
            .map_err(|e| lame_err("quality", e))?;
        builder
            .set_to_write_vbr_tag(true)
            .map_err(|e| lame_err("tag", e))?;
        let encoder = builder.build().map_err(|e| lame_err("LAME", e))?;
        let start = out.stream_position()?;
        Ok(Self {
            encoder,
            out,
            start,
            channels: usize::from(channels.max(1)),
            buf: Vec::new(),
            bytes: 0,
        })
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Encodes interleaved samples (already sanitised: LAME asserts on non-finite input).
    ///
    /// # Errors
    /// [`MediaError::Encode`] or [`MediaError::Io`].
    pub fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        for piece in samples.chunks(MP3_CALL_FRAMES * self.channels) {
            let frames = piece.len() / self.channels;
            self.buf.clear();
            self.buf
                .reserve(mp3lame_encoder::max_required_buffer_size(frames));
            if self.channels == 1 {
                self.encoder.encode_to_vec(MonoPcm(piece), &mut self.buf)
            } else {
                self.encoder
                    .encode_to_vec(InterleavedPcm(&piece[..frames * 2]), &mut self.buf)
            }
            .map_err(|e| lame_err("encode", e))?;
            self.out.write_all(&self.buf)?;
            self.bytes += self.buf.len() as u64;
        }
        Ok(())
    }

    /// Flushes LAME, writes the LAME/Info tag over the placeholder first frame and returns
    /// the sink (positioned at the end).
    ///
    /// # Errors
    /// [`MediaError::Encode`] or [`MediaError::Io`].
    pub fn finish(mut self) -> Result<W, MediaError> {
        self.buf.clear();
        self.buf.reserve(7200);
        self.encoder
            .flush_to_vec::<FlushNoGap>(&mut self.buf)
            .map_err(|e| lame_err("flush", e))?;
        self.out.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        // The first frame is a placeholder for the LAME/Info tag (delay, padding, frame count).
        let size = self.encoder.lame_tag_size();
        if size > 0 && size as u64 <= self.bytes {
            let mut tag = Vec::with_capacity(size);
            if let Some(n) = self.encoder.lame_tag_encode_to_vec(&mut tag)
                && n.get() as u64 <= self.bytes
            {
                let end = self.out.stream_position()?;
                self.out.seek(SeekFrom::Start(self.start))?;
                self.out.write_all(&tag[..n.get()])?;
                self.out.seek(SeekFrom::Start(end))?;
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Largest `data` chunk a RIFF header can describe.
const MAX_WAV_DATA_BYTES: u64 = u32::MAX as u64 - 36;

/// A 16-bit PCM WAV (canonical 44-byte header) being written to `out`; samples are rounded.
#[derive(Debug)]
pub struct Wav16Writer<W: Write + Seek> {
    out: W,
    start: u64,
    data_bytes: u64,
    buf: Vec<u8>,
}

impl<W: Write + Seek> Wav16Writer<W> {
    /// Writes a header for `channels` at `rate` Hz (sizes patched by [`Self::finish`]).
    ///
    /// # Errors
    /// [`MediaError::Io`] for `out`.
    pub fn new(mut out: W, channels: u16, rate: u32) -> Result<Self, MediaError> {
        let start = out.stream_position()?;
        out.write_all(&header(channels.max(1), rate, 0))?;
        Ok(Self {
            out,
            start,
            data_bytes: 0,
            buf: Vec::new(),
        })
    }

    /// Bytes of sample data written so far.
    pub fn bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Appends interleaved samples.
    ///
    /// # Errors
    /// [`MediaError::Io`], or [`MediaError::Unsupported`] past the 4 GiB a WAV can hold.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        self.data_bytes += samples.len() as u64 * 2;
        if self.data_bytes > MAX_WAV_DATA_BYTES {
            return Err(MediaError::Unsupported(
                "a recording whose 16-bit rendition would pass the 4 GiB a WAV file can hold"
                    .into(),
            ));
        }
        self.buf.clear();
        self.buf.reserve(samples.len() * 2);
        for s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&self.buf)?;
        Ok(())
    }

    /// Patches the RIFF and data sizes and returns the sink (positioned at the end).
    ///
    /// # Errors
    /// [`MediaError::Io`].
    pub fn finish(mut self) -> Result<W, MediaError> {
        let data = self.data_bytes as u32;
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(self.start + 4))?;
        self.out.write_all(&(36 + data).to_le_bytes())?;
        self.out.seek(SeekFrom::Start(self.start + 40))?;
        self.out.write_all(&data.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The canonical 44-byte header of a 16-bit PCM WAV.
fn header(channels: u16, rate: u32, data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let byte_rate = rate * u32::from(channels) * 2;
    let fields: [&[u8]; 12] = [
        b"RIFF",
        &(36 + data_len).to_le_bytes(),
        b"WAVEfmt ",
        &16u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &channels.to_le_bytes(),
        &rate.to_le_bytes(),
        &byte_rate.to_le_bytes(),
        &(channels * 2).to_le_bytes(),
        &16u16.to_le_bytes(),
        b"data",
        &data_len.to_le_bytes(),
    ];
    let mut at = 0;
    for f in fields {
        h[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    h
}

/// Encodes PCM (mono or stereo, any rate LAME accepts) as CBR MP3 at `kbps`, in memory.
///
/// # Errors
/// [`MediaError::Encode`] if LAME refuses the settings or the data.
pub fn mp3(pcm: &Pcm, kbps: Bitrate) -> Result<Vec<u8>, MediaError> {
    let mut w = Mp3Writer::new(Cursor::new(Vec::new()), pcm.channels, pcm.rate, kbps)?;
    let mut samples = pcm.samples.clone();
    super::decode::sanitize(&mut samples);
    w.write(&samples)?;
    Ok(w.finish()?.into_inner())
}

/// A 16-bit PCM WAV (canonical 44-byte header) of `pcm`, dithered by rounding.
pub fn wav16(pcm: &Pcm) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + pcm.samples.len() * 2);
    out.extend_from_slice(&header(
        pcm.channels.max(1),
        pcm.rate,
        (pcm.samples.len() * 2) as u32,
    ));
    for s in &pcm.samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, channels: u16, seconds: f64) -> Pcm {
        let frames = (f64::from(rate) * seconds) as usize;
        let samples = (0..frames * usize::from(channels))
            .map(|i| {
                let t = (i / usize::from(channels)) as f32 / rate as f32;
                (t * 440.0 * std::f32::consts::TAU).sin() * 0.5
            })
            .collect();
        Pcm {
            rate,
            channels,
            samples,
        }
    }

    #[test]
    fn a_wav_written_in_pieces_equals_the_one_written_at_once() {
        let pcm = tone(OUTPUT_RATE, 2, 0.3);
        let mut w = Wav16Writer::new(Cursor::new(Vec::new()), 2, OUTPUT_RATE).unwrap();
        for piece in pcm.samples.chunks(999) {
            w.write(piece).unwrap();
        }
        assert_eq!(w.finish().unwrap().into_inner(), wav16(&pcm));
    }

    #[test]
    fn an_mp3_written_in_pieces_equals_the_one_written_at_once_and_keeps_its_length() {
        let pcm = tone(OUTPUT_RATE, 1, 2.0);
        let mut w =
            Mp3Writer::new(Cursor::new(Vec::new()), 1, OUTPUT_RATE, Bitrate::Kbps128).unwrap();
        for piece in pcm.samples.chunks(1000) {
            w.write(piece).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        assert_eq!(bytes, mp3(&pcm, Bitrate::Kbps128).unwrap());
        let back = crate::media::decode::decode(bytes.into(), 60.0).unwrap();
        let off = back.frames().abs_diff(pcm.frames());
        assert!(
            off <= 2 * 1152,
            "{} decoded frames for {}",
            back.frames(),
            pcm.frames()
        );
    }

    #[test]
    fn the_mp3_encoder_survives_non_finite_and_huge_samples() {
        let mut pcm = tone(OUTPUT_RATE, 1, 0.5);
        pcm.samples[100..5000].fill(f32::NAN);
        pcm.samples[6000..9000].fill(1e38);
        pcm.samples[9000..12_000].fill(f32::NEG_INFINITY);
        let bytes = mp3(&pcm, Bitrate::Kbps128).unwrap();
        let back = crate::media::decode::decode(bytes.into(), 60.0).unwrap();
        assert!(back.samples.iter().all(|s| s.is_finite()));
    }
}
