//! Media ingest: from the bytes a client uploaded to durable files on disk.
//!
//! ```text
//!  bytes ─► detect (by content) ─► decode (symphonia) ─► resample to 44.1 kHz (rubato)
//!                                                     ├─► <S>.mp3  LAME 128 kbps CBR (clients)
//!                                                     └─► <S>.wav  PCM 16-bit 44.1 kHz (engine)
//! ```
//!
//! **Naming.** Every file of one asset shares a stem `S` = `<YYYYmmdd-HHMMSS>-<session_id>`
//! (plus `_0`, `_1`, … when taken), which holds no dot, so the asset's files are exactly
//! `S.*`. The original is stored untouched as `S<ext>`, the extension chosen by the detected
//! format (never by the client's name): `.wav .mp3 .aac .m4a .ogg .flac`, `.png .jpg .gif
//! .webp`, `.mp4 .webm`, `.txt`. Asset `file` = the original. For audio:
//! * `S.mp3` is the client rendition, so `file` with its extension replaced by `.mp3` is
//!   always an MP3. When the original is itself an MP3 (it decoded cleanly), it *is* `S.mp3`
//!   and is not re-encoded.
//! * `S.wav` is the engine's playback rendition (PCM 16-bit, 44.1 kHz, the source's channel
//!   count) and the asset's `filename`, as on the reference server. When the original is
//!   itself a WAV it keeps `S.wav` and the playback rendition is `S.pcm.wav` instead.
//!
//! Speakers use `speaker-project<P>-<safe stem>-<YYYYmmdd-HHMMSS>` as `S`, with the original
//! and `S.mp3` (the engine decodes a speaker bed once per box, so no WAV is kept).
//!
//! Photos, video and text are stored as they come (`filename` = `file`). All of this is CPU
//! and disk work: callers run [`prepare`] and [`Prepared::write`] on a blocking thread.

pub mod decode;
pub mod detect;
pub mod encode;
pub mod files;

use std::path::Path;

use bytes::Bytes;

use detect::Kind;
pub use files::Written;

/// Why an upload was refused (client errors) or failed (I/O, encoder).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Zero bytes.
    #[error("The uploaded file is empty (0 bytes).")]
    Empty,
    /// The content is not of the declared media type.
    #[error("The uploaded file is {found}, not {wanted}.")]
    WrongType {
        /// What the bytes are.
        found: String,
        /// What `media_type` asked for.
        wanted: &'static str,
    },
    /// Not a format this server knows.
    #[error(
        "The uploaded file's format is not recognised; send WAV, MP3, AAC/M4A, Ogg Vorbis or FLAC audio, a PNG/JPEG/GIF/WebP photo, MP4/WebM video or UTF-8 text."
    )]
    UnknownFormat,
    /// Cut off.
    #[error("The uploaded audio is truncated: {0}.")]
    Truncated(String),
    /// Cannot be decoded.
    #[error("The uploaded audio cannot be decoded: {0}.")]
    Undecodable(String),
    /// Decodable in principle but not accepted.
    #[error("The uploaded audio is not supported: {0}.")]
    Unsupported(String),
    /// Longer than the configured maximum.
    #[error("The recording is {} long; the longest accepted is {}.", decode::hms(*.seconds), decode::hms(*.max))]
    TooLong {
        /// Its length.
        seconds: f64,
        /// The limit.
        max: f64,
    },
    /// The encoder failed (a server fault).
    #[error("MP3 encoding failed: {0}")]
    Encode(String),
    /// The disk failed (a server fault).
    #[error("cannot store media: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaError {
    /// True when the client sent something unacceptable (a 4xx), false for server faults.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Encode(_) | Self::Io(_))
    }
}

/// Default longest recording accepted: 15 minutes (ingest decodes in memory; a Pi with 1 GB
/// must survive the longest upload it accepts).
pub const DEFAULT_MAX_SECONDS: f64 = 900.0;

/// The renditions to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An asset: original, MP3 and the engine's WAV.
    Asset,
    /// A speaker bed: original and MP3.
    Speaker,
}

/// An upload checked and converted in memory, ready to be written.
#[derive(Debug)]
pub struct Prepared {
    /// What the bytes are.
    pub kind: Kind,
    /// Exact audio length in nanoseconds (audio only).
    pub audiolength_ns: Option<i64>,
    original: Bytes,
    mp3: Option<Vec<u8>>,
    wav: Option<Vec<u8>>,
}

/// Where a prepared upload landed.
#[derive(Debug)]
pub struct Stored {
    /// The stem shared by every file.
    pub stem: String,
    /// The original's name (asset `file`).
    pub file: String,
    /// The playback file's name (asset `filename`).
    pub filename: String,
    /// The MP3's name (audio only).
    pub mp3: Option<String>,
}

/// Checks `bytes` against `media_type` (`audio`, `photo`, `text`, `video`) and, for audio,
/// decodes and makes the renditions in memory. CPU-heavy: call on a blocking thread.
///
/// # Errors
/// [`MediaError`] naming the problem.
pub fn prepare(
    bytes: Bytes,
    media_type: &str,
    purpose: Purpose,
    max_seconds: f64,
) -> Result<Prepared, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let kind = detect::detect(&bytes);
    let wanted = match media_type {
        "audio" => "audio",
        "photo" => "a photo",
        "video" => "video",
        _ => "text",
    };
    let ok = kind.is_some_and(|k| match media_type {
        "audio" => k.is_audio(),
        "photo" => k.is_image(),
        "video" => k.is_video() || k == Kind::M4a,
        _ => k == Kind::Text,
    });
    let kind = match (kind, ok) {
        (Some(k), true) => k,
        (Some(k), false) => {
            return Err(MediaError::WrongType {
                found: k.name().into(),
                wanted,
            });
        }
        (None, _) if media_type == "audio" => return Err(MediaError::UnknownFormat),
        (None, _) => {
            return Err(MediaError::WrongType {
                found: "of an unrecognised format".into(),
                wanted,
            });
        }
    };
    if media_type != "audio" {
        return Ok(Prepared {
            kind,
            audiolength_ns: None,
            original: bytes,
            mp3: None,
            wav: None,
        });
    }
    if kind == Kind::Wav {
        detect::check_wav_chunks(&bytes)
            .map_err(|m| MediaError::Truncated(m.trim_end_matches('.').to_string()))?;
    }
    let pcm = decode::decode(bytes.clone(), max_seconds)?;
    let audiolength_ns = Some(pcm.nanoseconds());
    let pcm = encode::to_output_rate(pcm)?;
    let mp3 = if kind == Kind::Mp3 {
        None
    } else {
        Some(encode::mp3(&pcm, mp3lame_encoder::Bitrate::Kbps128)?)
    };
    let wav = (purpose == Purpose::Asset).then(|| encode::wav16(&pcm));
    Ok(Prepared {
        kind,
        audiolength_ns,
        original: bytes,
        mp3,
        wav,
    })
}

impl Prepared {
    /// Writes the original and its renditions durably under a free stem made from `base`.
    /// The returned guard removes them again unless kept after the database commit.
    ///
    /// # Errors
    /// I/O failures (nothing is left behind).
    pub fn write(&self, dir: &Path, base: &str) -> std::io::Result<(Stored, Written)> {
        let ext = self.kind.ext();
        let wav_suffix = if self.kind == Kind::Wav {
            ".pcm.wav"
        } else {
            ".wav"
        };
        let mut outputs: Vec<(&str, &[u8])> = vec![(ext, &self.original)];
        if let Some(m) = &self.mp3 {
            outputs.push((".mp3", m));
        }
        if let Some(w) = &self.wav {
            outputs.push((wav_suffix, w));
        }
        let (stem, written) = files::write_set(dir, base, &outputs)?;
        let file = format!("{stem}{ext}");
        let is_audio = self.kind.is_audio() && self.audiolength_ns.is_some();
        let filename = if self.wav.is_some() {
            format!("{stem}{wav_suffix}")
        } else {
            file.clone()
        };
        Ok((
            Stored {
                mp3: is_audio.then(|| format!("{stem}.mp3")),
                stem,
                file,
                filename,
            },
            written,
        ))
    }
}
