//! The stream encoder: LAME (bundled 3.100 through `mp3lame-encoder`), 44.1 kHz stereo CBR at
//! a chosen bitrate, default quality, no Xing/Info tag (a live stream has no length to
//! announce). Output is cut at MP3 frame boundaries: [`Mp3Encoder::encode`] appends only
//! whole frames and holds the bytes of an unfinished frame for the next call, so every chunk
//! a feed publishes starts with a frame sync and a listener can join or skip at any chunk.
//!
//! Owns: the LAME handle and the frame splitter. May not touch: feeds, sockets, threads.

use mp3lame_encoder::{Bitrate, Builder, InterleavedPcm};

/// The sample rate every stream is encoded at.
pub const SAMPLE_RATE_HZ: u32 = 44_100;

/// PCM samples (per channel) in one MPEG-1 Layer III frame.
pub const SAMPLES_PER_FRAME: usize = 1152;

/// Why an encoder could not be built or could not encode.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The bitrate is not one an MPEG-1 Layer III stream can carry.
    #[error(
        "{0} kbps is not a valid MP3 bitrate (32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256 or 320)"
    )]
    InvalidBitrate(u32),
    /// LAME refused a setting or could not start.
    #[error("LAME setup failed: {0}")]
    Setup(String),
    /// Interleaved stereo needs an even number of samples.
    #[error("interleaved stereo input has an odd number of samples ({0})")]
    OddSampleCount(usize),
    /// LAME failed while encoding.
    #[error("LAME encoding failed: {0}")]
    Lame(String),
}

/// A LAME encoder for one live stream; emits whole MP3 frames only.
pub struct Mp3Encoder {
    lame: mp3lame_encoder::Encoder,
    /// LAME output not yet handed out: at most the start of one unfinished frame between calls.
    held: Vec<u8>,
    bitrate_kbps: u32,
}

impl std::fmt::Debug for Mp3Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp3Encoder")
            .field("bitrate_kbps", &self.bitrate_kbps)
            .field("held_bytes", &self.held.len())
            .finish()
    }
}

impl Mp3Encoder {
    /// LAME, 44.1 kHz stereo CBR at `bitrate_kbps` (a valid MP3 bitrate 32..=320), default quality.
    ///
    /// # Errors
    /// [`EncodeError::InvalidBitrate`] for any other bitrate, [`EncodeError::Setup`] if LAME
    /// refuses the settings.
    pub fn new(bitrate_kbps: u32) -> Result<Self, EncodeError> {
        let brate = lame_bitrate(bitrate_kbps).ok_or(EncodeError::InvalidBitrate(bitrate_kbps))?;
        let setup = |what: &str, e: String| EncodeError::Setup(format!("{what}: {e}"));
        let mut builder =
            Builder::new().ok_or_else(|| setup("LAME", "cannot initialise".into()))?;
        builder
            .set_num_channels(2)
            .map_err(|e| setup("channels", format!("{e:?}")))?;
        builder
            .set_sample_rate(SAMPLE_RATE_HZ)
            .map_err(|e| setup("sample rate", format!("{e:?}")))?;
        // Without this LAME resamples low bitrates (96 kbps → 32 kHz); the stream promises
        // 44.1 kHz whatever the bitrate.
        builder
            .set_output_sample_rate(std::num::NonZeroU32::new(SAMPLE_RATE_HZ))
            .map_err(|e| setup("output sample rate", format!("{e:?}")))?;
        builder
            .set_brate(brate)
            .map_err(|e| setup("bitrate", format!("{e:?}")))?;
        builder
            .set_to_write_vbr_tag(false)
            .map_err(|e| setup("tag", format!("{e:?}")))?;
        let lame = builder
            .build()
            .map_err(|e| setup("LAME", format!("{e:?}")))?;
        Ok(Self {
            lame,
            held: Vec::with_capacity(16 * 1024),
            bitrate_kbps,
        })
    }

    /// The bitrate this encoder was built for.
    pub fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps
    }

    /// Encodes interleaved stereo f32 (any frame count); appends only WHOLE MP3 frames to `out`
    /// (bytes of an unfinished frame are held for the next call).
    ///
    /// Samples are expected in −1.0..=1.0; LAME clips anything outside.
    ///
    /// # Errors
    /// [`EncodeError::OddSampleCount`] for input that is not whole stereo frames (nothing is
    /// encoded then), [`EncodeError::Lame`] if LAME fails.
    pub fn encode(&mut self, interleaved: &[f32], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !interleaved.len().is_multiple_of(2) {
            return Err(EncodeError::OddSampleCount(interleaved.len()));
        }
        // LAME's documented worst case per call: 1.25 × samples per channel + 7200 bytes.
        let frames = interleaved.len() / 2;
        self.held.reserve(frames + frames / 4 + 7200);
        self.lame
            .encode_to_vec(InterleavedPcm(interleaved), &mut self.held)
            .map_err(|e| EncodeError::Lame(e.to_string()))?;
        self.drain_whole_frames(out);
        Ok(())
    }

    /// Moves every complete frame at the front of `held` into `out`; bytes before the first
    /// frame sync (LAME never writes any without tags) are dropped.
    fn drain_whole_frames(&mut self, out: &mut Vec<u8>) {
        let mut pos = 0;
        while pos + 4 <= self.held.len() {
            match frame_len(&self.held[pos..]) {
                Some(len) if pos + len <= self.held.len() => {
                    out.extend_from_slice(&self.held[pos..pos + len]);
                    pos += len;
                }
                Some(_) => break,
                None => {
                    // Not a frame header: resynchronise on the next sync word.
                    let skip = self.held[pos + 1..]
                        .windows(2)
                        .position(|w| w[0] == 0xFF && w[1] & 0xE0 == 0xE0)
                        .map_or(self.held.len() - pos, |i| i + 1);
                    log::debug!("MP3 encoder: skipped {skip} bytes that are not frames");
                    pos += skip;
                }
            }
        }
        self.held.drain(..pos);
    }
}

/// The LAME bitrate for a kbps value valid in MPEG-1 Layer III.
fn lame_bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

/// Whether `kbps` is a bitrate [`Mp3Encoder::new`] accepts.
pub fn is_valid_bitrate(kbps: u32) -> bool {
    lame_bitrate(kbps).is_some()
}

/// What an MPEG audio Layer III frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame's length in bytes.
    pub len: usize,
    /// Its bitrate.
    pub kbps: u32,
    /// Its sample rate.
    pub rate_hz: u32,
    /// PCM samples per channel it decodes to (1152 for MPEG-1, 576 for MPEG-2 and 2.5).
    pub samples: u32,
    /// Whether it is mono.
    pub mono: bool,
}

impl FrameHeader {
    /// The header that starts `bytes`, or `None` when `bytes` does not start with a valid
    /// Layer III header (free format and reserved values are refused).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let h = bytes.get(..4)?;
        if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = (h[1] >> 3) & 0x3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
        let layer = (h[1] >> 1) & 0x3; // 1 = Layer III
        if version == 1 || layer != 1 {
            return None;
        }
        let bitrate_index = usize::from(h[2] >> 4);
        let rate_index = usize::from((h[2] >> 2) & 0x3);
        let padding = usize::from((h[2] >> 1) & 0x1);
        const MPEG1_KBPS: [u32; 15] = [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ];
        const MPEG2_KBPS: [u32; 15] =
            [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        const RATES_HZ: [[u32; 3]; 4] = [
            [11_025, 12_000, 8_000],  // MPEG-2.5
            [0, 0, 0],                // reserved
            [22_050, 24_000, 16_000], // MPEG-2
            [44_100, 48_000, 32_000], // MPEG-1
        ];
        let (kbps, coefficient, samples) = if version == 3 {
            (*MPEG1_KBPS.get(bitrate_index)?, 144, 1152)
        } else {
            (*MPEG2_KBPS.get(bitrate_index)?, 72, 576)
        };
        let rate_hz = *RATES_HZ.get(usize::from(version))?.get(rate_index)?;
        if kbps == 0 || rate_hz == 0 {
            return None; // free format (never produced by LAME CBR) or reserved
        }
        let len = coefficient * kbps as usize * 1000 / rate_hz as usize + padding;
        Some(Self {
            len,
            kbps,
            rate_hz,
            samples,
            mono: h[3] >> 6 == 3,
        })
    }

    /// How long the frame plays, in microseconds.
    pub fn duration_us(&self) -> u64 {
        u64::from(self.samples) * 1_000_000 / u64::from(self.rate_hz.max(1))
    }
}

/// The length in bytes of the MPEG audio Layer III frame whose header starts `bytes`, or
/// `None` when `bytes` does not start with a valid Layer III header.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    FrameHeader::parse(bytes).map(|h| h.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(frames: usize, start: usize) -> Vec<f32> {
        (start..start + frames)
            .flat_map(|i| {
                let v = (i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin() * 0.5;
                [v, v]
            })
            .collect()
    }

    #[test]
    fn every_call_appends_only_whole_frames_back_to_back() {
        let mut enc = Mp3Encoder::new(128).unwrap();
        let mut total_frames = 0;
        let mut start = 0;
        for frames in [441usize, 100, 4410, 1, 3000, 44_100] {
            let mut out = Vec::new();
            enc.encode(&sine(frames, start), &mut out).unwrap();
            start += frames;
            let mut pos = 0;
            while pos < out.len() {
                let len = frame_len(&out[pos..]).expect("a frame header at every frame start");
                assert!(len == 417 || len == 418, "128 kbps at 44.1 kHz: {len}");
                pos += len;
                total_frames += 1;
            }
            assert_eq!(pos, out.len(), "no partial frame at the end");
        }
        assert!(total_frames > 30, "{total_frames} frames for 1.2 s");
    }

    #[test]
    fn invalid_bitrates_and_odd_input_are_refused() {
        assert!(matches!(
            Mp3Encoder::new(100),
            Err(EncodeError::InvalidBitrate(100))
        ));
        assert!(Mp3Encoder::new(16).is_err());
        let mut enc = Mp3Encoder::new(64).unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            enc.encode(&[0.0; 3], &mut out),
            Err(EncodeError::OddSampleCount(3))
        ));
    }

    #[test]
    fn frame_lengths_follow_the_header() {
        // MPEG-1 Layer III, 128 kbps, 44.1 kHz, no padding / padding.
        assert_eq!(frame_len(&[0xFF, 0xFB, 0x90, 0x00]), Some(417));
        assert_eq!(frame_len(&[0xFF, 0xFB, 0x92, 0x00]), Some(418));
        assert_eq!(frame_len(&[0xFF, 0xFB, 0xE0, 0x00]), Some(1044));
        assert_eq!(frame_len(&[0x49, 0x44, 0x33, 0x04]), None);
        assert_eq!(frame_len(&[0xFF, 0xFB]), None);
    }
}
