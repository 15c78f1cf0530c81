//! The renditions of an audio upload, made from decoded PCM: resampling to 44.1 kHz with
//! rubato (once, at ingest), the MP3 clients download (LAME, 128 kbps CBR, with a LAME/Info
//! tag so players and ffprobe know the exact length), and the 16-bit PCM WAV the stream
//! engine mixes from without decoding MP3 per listener.

use mp3lame_encoder::{Bitrate, Builder, FlushNoGap, InterleavedPcm, MonoPcm, Quality};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::MediaError;
use super::decode::Pcm;

/// The rate of every rendition (and of the stream engine's mix).
pub const OUTPUT_RATE: u32 = 44_100;

/// Frames per resampler chunk.
const RESAMPLE_CHUNK: usize = 1024;

/// Converts `pcm` to [`OUTPUT_RATE`] (returned unchanged when it already is).
///
/// # Errors
/// [`MediaError::Unsupported`] for a rate the resampler cannot handle.
pub fn to_output_rate(pcm: Pcm) -> Result<Pcm, MediaError> {
    if pcm.rate == OUTPUT_RATE {
        return Ok(pcm);
    }
    let channels = usize::from(pcm.channels);
    let frames = pcm.frames();
    let unsupported =
        |e: String| MediaError::Unsupported(format!("cannot resample {} Hz audio ({e})", pcm.rate));
    let mut resampler = Fft::<f32>::new(
        pcm.rate as usize,
        OUTPUT_RATE as usize,
        RESAMPLE_CHUNK,
        channels,
        FixedSync::Input,
    )
    .map_err(|e| unsupported(e.to_string()))?;
    let input = InterleavedSlice::new(&pcm.samples, channels, frames)
        .map_err(|e| unsupported(e.to_string()))?;
    let out = resampler
        .process_all(&input, frames, None)
        .map_err(|e| unsupported(e.to_string()))?;
    Ok(Pcm {
        rate: OUTPUT_RATE,
        channels: pcm.channels,
        samples: out.take_data(),
    })
}

/// Encodes PCM (mono or stereo, any rate LAME accepts) as CBR MP3 at `kbps`.
///
/// # Errors
/// [`MediaError::Encode`] if LAME refuses the settings or the data.
pub fn mp3(pcm: &Pcm, kbps: Bitrate) -> Result<Vec<u8>, MediaError> {
    let err = |what: &str, e: String| MediaError::Encode(format!("{what}: {e}"));
    let mut builder = Builder::new().ok_or_else(|| err("LAME", "cannot initialise".into()))?;
    builder
        .set_num_channels(pcm.channels as u8)
        .map_err(|e| err("channels", format!("{e:?}")))?;
    builder
        .set_sample_rate(pcm.rate)
        .map_err(|e| err("sample rate", format!("{e:?}")))?;
    builder
        .set_brate(kbps)
        .map_err(|e| err("bitrate", format!("{e:?}")))?;
    builder
        .set_quality(Quality::Good)
        .map_err(|e| err("quality", format!("{e:?}")))?;
    builder
        .set_to_write_vbr_tag(true)
        .map_err(|e| err("tag", format!("{e:?}")))?;
    let mut encoder = builder.build().map_err(|e| err("LAME", format!("{e:?}")))?;

    let channels = usize::from(pcm.channels);
    // LAME's worst case: 1.25 × samples per channel + 7200 bytes, per call.
    let chunk_frames = 44_100usize;
    let mut out: Vec<u8> = Vec::with_capacity(pcm.frames() / 5 + 8192);
    for chunk in pcm.samples.chunks(chunk_frames * channels) {
        let frames = chunk.len() / channels;
        out.reserve(frames * 5 / 4 + 7200);
        if channels == 1 {
            encoder.encode_to_vec(MonoPcm(chunk), &mut out)
        } else {
            encoder.encode_to_vec(InterleavedPcm(chunk), &mut out)
        }
        .map_err(|e| err("encode", format!("{e:?}")))?;
    }
    out.reserve(7200);
    encoder
        .flush_to_vec::<FlushNoGap>(&mut out)
        .map_err(|e| err("flush", format!("{e:?}")))?;
    // The first frame is a placeholder for the LAME/Info tag (delay, padding, frame count).
    let size = encoder.lame_tag_size();
    if size > 0 && size <= out.len() {
        let mut tag = Vec::with_capacity(size);
        if let Some(n) = encoder.lame_tag_encode_to_vec(&mut tag) {
            if n.get() <= out.len() {
                out[..n.get()].copy_from_slice(&tag[..n.get()]);
            }
        }
    }
    Ok(out)
}

/// A 16-bit PCM WAV (canonical 44-byte header) of `pcm`, dithered by rounding.
pub fn wav16(pcm: &Pcm) -> Vec<u8> {
    let channels = pcm.channels.max(1);
    let data_len = pcm.samples.len() * 2;
    let mut out = Vec::with_capacity(44 + data_len);
    let byte_rate = pcm.rate * u32::from(channels) * 2;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((36 + data_len) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&pcm.rate.to_le_bytes());
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for s in &pcm.samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
