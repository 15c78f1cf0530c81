//! Media ingest: from a file a client uploaded (spooled to disk as it arrived) to durable
//! files on disk, never holding the whole recording in memory.
//!
//! ```text
//!  spooled file ─► detect (by content) ─► decode (symphonia, packet by packet) ─► sanitise
//!     │                                 ─► resample to 44.1 kHz in chunks (rubato)
//!     │                                      ├─► <S>.mp3  LAME 128 kbps CBR (clients), incremental
//!     │                                      └─► <S>.wav  PCM 16-bit 44.1 kHz (engine), header patched
//!     └─ renamed to <S><ext> (the original)
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
//! Floor plans (site images) are `floorplan-project<P>-<YYYYmmdd-HHMMSS>.<png|jpg|webp>`,
//! checked and, when large, downscaled by [`picture`].
//!
//! Photos, video and text are stored as they come (`filename` = `file`). Memory per ingest is
//! a few packets and one resampler chunk whatever the length; the recording is counted against
//! the longest accepted as it decodes, and the renditions are checked against the disk reserve
//! ([`space`]) as they grow. All of this is CPU and disk work: callers run [`ingest`] on a
//! blocking thread. [`sweep`] removes what a crash left behind, at start.

pub mod decode;
pub(crate) mod detect;
pub mod encode;
pub(crate) mod files;
pub(crate) mod picture;
pub(crate) mod resample;
pub(crate) mod space;
pub(crate) mod sweep;

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use detect::Kind;
use encode::{Mp3Writer, OUTPUT_RATE, Wav16Writer};
pub(crate) use files::{TempFile, Written};
use resample::Resampler;
use space::Reserve;

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
    /// Found longer than the configured maximum while decoding (its header did not say).
    #[error("The recording is longer than {}, the longest accepted; it was refused while decoding.", decode::hms(*.max))]
    LongerThan {
        /// The limit.
        max: f64,
    },
    /// Storing it would cross the disk reserve (`[storage] min_free_mb`): a 507.
    #[error("{0}")]
    NoSpace(String),
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
        !matches!(self, Self::Encode(_) | Self::Io(_) | Self::NoSpace(_))
    }

    /// True when the disk is full or the reserve would be crossed (a 507).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::NoSpace(_) => true,
            Self::Io(e) => space::is_disk_full(e),
            _ => false,
        }
    }
}

/// Default longest recording accepted: 15 minutes (ingest streams, so memory does not grow
/// with length; the renditions of 15 min of stereo take about 175 MB of disk).
pub(crate) const DEFAULT_MAX_SECONDS: f64 = 900.0;

/// The renditions to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// An asset: original, MP3 and the engine's WAV.
    Asset,
    /// A speaker bed: original and MP3.
    Speaker,
}

/// Where an ingested upload landed.
#[derive(Debug)]
pub(crate) struct Stored {
    /// The stem shared by every file.
    pub stem: String,
    /// The original's name (asset `file`).
    pub file: String,
    /// The playback file's name (asset `filename`).
    pub filename: String,
    /// The MP3's name (audio only).
    pub mp3: Option<String>,
}

/// An upload stored on disk: where, what, how long, and the guard that removes the files
/// unless kept after the database commit.
#[derive(Debug)]
pub(crate) struct Ingested {
    /// Exact audio length in nanoseconds (audio only).
    pub audiolength_ns: Option<i64>,
    /// The names.
    pub stored: Stored,
    /// Owns the files until [`Written::keep`].
    pub written: Written,
}

/// The bounds one ingest works within.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Longest recording accepted, in seconds.
    pub max_recording_s: f64,
    /// The disk reserve the renditions may not cross.
    pub reserve: Reserve,
}

/// Checks the detected kind against `media_type` (`audio`, `photo`, `text`, `video`).
fn check_type(kind: Option<Kind>, media_type: &str) -> Result<Kind, MediaError> {
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
    match (kind, ok) {
        (Some(k), true) => Ok(k),
        (Some(k), false) => Err(MediaError::WrongType {
            found: k.name().into(),
            wanted,
        }),
        (None, _) if media_type == "audio" => Err(MediaError::UnknownFormat),
        (None, _) => Err(MediaError::WrongType {
            found: "of an unrecognised format".into(),
            wanted,
        }),
    }
}

/// Checks the spooled file `original` against `media_type` (`audio`, `photo`, `text`,
/// `video`), and for audio decodes it packet by packet into its renditions; then moves the
/// original and the renditions into `dir` under a free stem made from `base`. CPU and disk
/// work: call on a blocking thread. On any error nothing is left in `dir`.
///
/// # Errors
/// [`MediaError`] naming the problem.
pub(crate) fn ingest(
    original: TempFile,
    media_type: &str,
    purpose: Purpose,
    limits: &Limits,
    dir: &Path,
    base: &str,
) -> Result<Ingested, MediaError> {
    if original.len_bytes()? == 0 {
        return Err(MediaError::Empty);
    }
    let kind = check_type(detect::detect_in(original.file())?, media_type)?;
    let ext = kind.ext();
    if media_type != "audio" {
        let (stem, written) = files::commit_set(dir, base, vec![(ext, original)])?;
        let file = format!("{stem}{ext}");
        return Ok(Ingested {
            audiolength_ns: None,
            stored: Stored {
                mp3: None,
                filename: file.clone(),
                file,
                stem,
            },
            written,
        });
    }
    if kind == Kind::Wav {
        detect::check_wav_chunks_in(original.file()).map_err(|e| match e {
            detect::WavChunkError::Bad(m) => {
                MediaError::Truncated(m.trim_end_matches('.').to_string())
            }
            detect::WavChunkError::Io(e) => MediaError::Io(e),
        })?;
    }
    let wav_suffix = if kind == Kind::Wav {
        ".pcm.wav"
    } else {
        ".wav"
    };
    let (decoded, mp3, wav) = convert(&original, kind, purpose, limits, dir)?;
    let has_wav = wav.is_some();
    let mut outputs = vec![(ext, original)];
    if let Some(m) = mp3 {
        outputs.push((".mp3", m));
    }
    if let Some(w) = wav {
        outputs.push((wav_suffix, w));
    }
    let (stem, written) = files::commit_set(dir, base, outputs)?;
    let file = format!("{stem}{ext}");
    Ok(Ingested {
        audiolength_ns: Some(decoded.nanoseconds()),
        stored: Stored {
            mp3: Some(format!("{stem}.mp3")),
            filename: if has_wav {
                format!("{stem}{wav_suffix}")
            } else {
                file.clone()
            },
            file,
            stem,
        },
        written,
    })
}

/// [`ingest`] of bytes already in memory (the demo's synthesised pieces): they are written to
/// a temporary file in `dir` first.
///
/// # Errors
/// [`MediaError`] naming the problem.
pub(crate) fn ingest_bytes(
    bytes: &[u8],
    media_type: &str,
    purpose: Purpose,
    limits: &Limits,
    dir: &Path,
    base: &str,
) -> Result<Ingested, MediaError> {
    let tmp = TempFile::create(dir)?;
    std::io::Write::write_all(&mut tmp.file(), bytes)?;
    ingest(tmp, media_type, purpose, limits, dir, base)
}

/// The renditions being written, in temporary files of the media folder.
struct Renditions {
    mp3: Option<(TempFile, Mp3Writer<BufWriter<File>>)>,
    wav: Option<(TempFile, Wav16Writer<BufWriter<File>>)>,
    reserve: Reserve,
}

/// Buffer of each rendition writer.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

impl Renditions {
    fn new(
        dir: &Path,
        kind: Kind,
        purpose: Purpose,
        channels: u16,
        reserve: Reserve,
    ) -> Result<Self, MediaError> {
        let writer = |tmp: &TempFile| -> std::io::Result<BufWriter<File>> {
            Ok(BufWriter::with_capacity(
                WRITE_BUFFER_BYTES,
                tmp.file().try_clone()?,
            ))
        };
        let mp3 = if kind == Kind::Mp3 {
            None
        } else {
            let tmp = TempFile::create(dir)?;
            let w = Mp3Writer::new(
                writer(&tmp)?,
                channels,
                OUTPUT_RATE,
                mp3lame_encoder::Bitrate::Kbps128,
            )?;
            Some((tmp, w))
        };
        let wav = if purpose == Purpose::Asset {
            let tmp = TempFile::create(dir)?;
            let w = Wav16Writer::new(writer(&tmp)?, channels, OUTPUT_RATE)?;
            Some((tmp, w))
        } else {
            None
        };
        Ok(Self { mp3, wav, reserve })
    }

    fn is_empty(&self) -> bool {
        self.mp3.is_none() && self.wav.is_none()
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        if let Some((_, w)) = &mut self.mp3 {
            let before = w.bytes();
            w.write(samples)?;
            self.reserve.wrote(w.bytes() - before)?;
        }
        if let Some((_, w)) = &mut self.wav {
            w.write(samples)?;
            self.reserve.wrote(samples.len() as u64 * 2)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(Option<TempFile>, Option<TempFile>), MediaError> {
        let mp3 = match self.mp3 {
            Some((tmp, w)) => {
                w.finish()?;
                Some(tmp)
            }
            None => None,
        };
        let wav = match self.wav {
            Some((tmp, w)) => {
                w.finish()?;
                Some(tmp)
            }
            None => None,
        };
        Ok((mp3, wav))
    }
}

type Converted = (decode::Decoded, Option<TempFile>, Option<TempFile>);

/// Decodes `original` packet by packet into its renditions (an MP3 original gets no MP3, a
/// speaker no WAV).
fn convert(
    original: &TempFile,
    kind: Kind,
    purpose: Purpose,
    limits: &Limits,
    dir: &Path,
) -> Result<Converted, MediaError> {
    let source = File::open(original.path())?;
    let mut decoder = decode::Decoder::open(Box::new(source), limits.max_recording_s)?;
    let mut state: Option<(Resampler, Renditions)> = None;
    while let Some(block) = decoder.next_chunk()? {
        let (resampler, renditions) = match &mut state {
            Some(s) => s,
            None => state.insert((
                Resampler::new(block.rate, block.channels)?,
                Renditions::new(dir, kind, purpose, block.channels, limits.reserve.clone())?,
            )),
        };
        if !renditions.is_empty() {
            resampler.push(block.samples, &mut |s| renditions.write(s))?;
        }
    }
    let decoded = decoder.finish()?;
    let Some((resampler, mut renditions)) = state else {
        return Err(MediaError::Undecodable(
            "the file holds no audio samples".into(),
        ));
    };
    if !renditions.is_empty() {
        resampler.finish(&mut |s| renditions.write(s))?;
    }
    let (mp3, wav) = renditions.finish()?;
    Ok((decoded, mp3, wav))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::decode::tests::{float_wav, hostile_samples};

    fn limits(dir: &Path) -> Limits {
        Limits {
            max_recording_s: 60.0,
            reserve: Reserve::with_free_space(dir, 0, |_| None),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_upload_of_nan_inf_and_huge_floats_gets_clean_renditions_of_the_exact_length() {
        let dir = tempfile::tempdir().unwrap();
        let samples = hostile_samples();
        for bits in [32, 64] {
            let wav = float_wav(&samples, bits);
            let done = ingest_bytes(
                &wav,
                "audio",
                Purpose::Asset,
                &limits(dir.path()),
                dir.path(),
                "s",
            )
            .expect("stored");
            assert_eq!(
                done.audiolength_ns,
                Some(decode::nanoseconds(samples.len() as u64, 44_100))
            );
            for name in [
                done.stored.mp3.clone().unwrap(),
                done.stored.filename.clone(),
            ] {
                let bytes = std::fs::read(dir.path().join(&name)).unwrap();
                let pcm = decode::decode(bytes.into(), 60.0).expect("rendition decodes");
                assert!(
                    pcm.samples.iter().all(|s| s.is_finite() && s.abs() <= 1.0),
                    "{name}: finite and within full scale"
                );
            }
            done.written.keep();
        }
        assert_eq!(
            names(dir.path()),
            [
                "s.mp3",
                "s.pcm.wav",
                "s.wav",
                "s_0.mp3",
                "s_0.pcm.wav",
                "s_0.wav"
            ]
        );
    }

    #[test]
    fn a_conversion_that_would_cross_the_disk_reserve_stops_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // 20 s of stereo makes more than a MiB of renditions; the disk "fills" at the first
        // measurement.
        let wav = encode::wav16(&decode::Pcm {
            rate: 44_100,
            channels: 2,
            samples: vec![0.25; 44_100 * 2 * 20],
        });
        let limits = Limits {
            max_recording_s: 60.0,
            reserve: Reserve::with_free_space(dir.path(), 200 << 20, |_| Some(10 << 20)),
        };
        let err = ingest_bytes(&wav, "audio", Purpose::Asset, &limits, dir.path(), "s")
            .expect_err("refused");
        assert!(err.is_disk_full(), "{err}");
        assert!(err.to_string().contains("min_free_mb"), "{err}");
        assert_eq!(
            names(dir.path()),
            Vec::<String>::new(),
            "nothing left behind"
        );
    }

    #[test]
    fn a_recording_found_too_long_while_decoding_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut wav = float_wav(&vec![0.1; 44_100 * 3], 32);
        wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let limits = Limits {
            max_recording_s: 2.0,
            reserve: Reserve::with_free_space(dir.path(), 0, |_| None),
        };
        let err = ingest_bytes(&wav, "audio", Purpose::Asset, &limits, dir.path(), "s")
            .expect_err("too long");
        assert!(matches!(err, MediaError::LongerThan { .. }), "{err}");
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn text_and_photos_are_stored_as_they_come_and_mp3_originals_are_not_re_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let l = limits(dir.path());
        let text = ingest_bytes(
            "a story".as_bytes(),
            "text",
            Purpose::Asset,
            &l,
            dir.path(),
            "t",
        )
        .unwrap();
        assert_eq!(
            (text.stored.file.as_str(), text.stored.filename.as_str()),
            ("t.txt", "t.txt")
        );
        assert_eq!(std::fs::read(dir.path().join("t.txt")).unwrap(), b"a story");
        text.written.keep();
        let mp3 = encode::mp3(
            &decode::Pcm {
                rate: 44_100,
                channels: 1,
                samples: vec![0.1; 44_100],
            },
            mp3lame_encoder::Bitrate::Kbps128,
        )
        .unwrap();
        let done = ingest_bytes(&mp3, "audio", Purpose::Asset, &l, dir.path(), "m").unwrap();
        assert_eq!(done.stored.file, "m.mp3");
        assert_eq!(
            std::fs::read(dir.path().join("m.mp3")).unwrap(),
            mp3,
            "kept as sent"
        );
        assert_eq!(done.stored.filename, "m.wav");
        done.written.keep();
    }
}
