//! Format detection by content (magic bytes), never by the client's file name: the web client
//! sends WAV named `blob`, iOS sends AAC in an `.m4a`, and a name may lie. Owns only the
//! recognition of a format and its canonical stored extension; decoding is [`super::decode`].
//! Works on files without reading them whole: only headers are read, except for text (every
//! byte must be UTF-8) and MP4 (a video handler may sit anywhere), which are scanned in steps.

use std::io::{Read, Seek, SeekFrom};

/// A recognised file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// RIFF/WAVE (PCM, float or WAVE_FORMAT_EXTENSIBLE).
    Wav,
    /// MPEG audio (ID3 tag or frame sync).
    Mp3,
    /// AAC in an ADTS stream.
    Aac,
    /// MP4/M4A container without a video track.
    M4a,
    /// Ogg container (Vorbis).
    Ogg,
    /// Native FLAC.
    Flac,
    /// PNG image.
    Png,
    /// JPEG image.
    Jpeg,
    /// GIF image.
    Gif,
    /// WebP image.
    Webp,
    /// MP4 with a video track.
    Mp4Video,
    /// WebM/Matroska.
    Webm,
    /// UTF-8 text without NUL bytes.
    Text,
}

impl Kind {
    /// The extension the stored original gets, with its dot.
    pub(crate) fn ext(self) -> &'static str {
        match self {
            Self::Wav => ".wav",
            Self::Mp3 => ".mp3",
            Self::Aac => ".aac",
            Self::M4a => ".m4a",
            Self::Ogg => ".ogg",
            Self::Flac => ".flac",
            Self::Png => ".png",
            Self::Jpeg => ".jpg",
            Self::Gif => ".gif",
            Self::Webp => ".webp",
            Self::Mp4Video => ".mp4",
            Self::Webm => ".webm",
            Self::Text => ".txt",
        }
    }

    /// True for the formats the audio pipeline decodes.
    pub(crate) fn is_audio(self) -> bool {
        matches!(
            self,
            Self::Wav | Self::Mp3 | Self::Aac | Self::M4a | Self::Ogg | Self::Flac
        )
    }

    /// True for still images.
    pub(crate) fn is_image(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg | Self::Gif | Self::Webp)
    }

    /// True for video containers.
    pub(crate) fn is_video(self) -> bool {
        matches!(self, Self::Mp4Video | Self::Webm)
    }

    /// A short human name for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Wav => "WAV audio",
            Self::Mp3 => "MP3 audio",
            Self::Aac => "AAC audio",
            Self::M4a => "M4A audio",
            Self::Ogg => "Ogg audio",
            Self::Flac => "FLAC audio",
            Self::Png => "a PNG image",
            Self::Jpeg => "a JPEG image",
            Self::Gif => "a GIF image",
            Self::Webp => "a WebP image",
            Self::Mp4Video => "MP4 video",
            Self::Webm => "WebM video",
            Self::Text => "text",
        }
    }
}

/// Nested ID3 tags skipped before the rest is taken to be MP3 (a file of nothing but empty
/// ID3 headers must not cost millions of reads).
const MAX_ID3_TAGS: usize = 16;

/// Bytes read per step when a whole file must be scanned (text, MP4 handlers).
const SCAN_BYTES: usize = 64 * 1024;

/// Random access to the bytes being recognised, through a window so that walking small
/// headers costs one read per [`SCAN_BYTES`], not one per header.
struct At<R> {
    r: R,
    len: u64,
    window: Vec<u8>,
    window_start: u64,
}

impl<R: Read + Seek> At<R> {
    fn new(mut r: R) -> std::io::Result<Self> {
        let len = r.seek(SeekFrom::End(0))?;
        Ok(Self {
            r,
            len,
            window: Vec::new(),
            window_start: 0,
        })
    }

    /// Up to `n` bytes (at most [`SCAN_BYTES`]) from `pos`; fewer at the end of the file.
    fn read(&mut self, pos: u64, n: usize) -> std::io::Result<&[u8]> {
        let n = n.min(SCAN_BYTES);
        let end = pos.saturating_add(n as u64).min(self.len);
        let cached =
            pos >= self.window_start && end <= self.window_start + self.window.len() as u64;
        if !cached {
            self.r.seek(SeekFrom::Start(pos))?;
            let want = usize::try_from((self.len - pos.min(self.len)).min(SCAN_BYTES as u64))
                .unwrap_or(SCAN_BYTES);
            self.window.resize(want, 0);
            let mut got = 0;
            while got < want {
                match self.r.read(&mut self.window[got..])? {
                    0 => break,
                    k => got += k,
                }
            }
            self.window.truncate(got);
            self.window_start = pos;
        }
        let from = usize::try_from(pos - self.window_start).unwrap_or(usize::MAX);
        let to = usize::try_from(end.saturating_sub(self.window_start)).unwrap_or(0);
        Ok(self.window.get(from..to.max(from)).unwrap_or(&[]))
    }
}

/// Recognises `bytes`; `None` when the content is none of the known formats.
#[cfg(test)]
pub(crate) fn detect(bytes: &[u8]) -> Option<Kind> {
    detect_in(std::io::Cursor::new(bytes)).unwrap_or(None)
}

/// Recognises the content of a file (or any seekable reader) without reading it whole.
///
/// # Errors
/// I/O failures.
pub(crate) fn detect_in<R: Read + Seek>(r: R) -> std::io::Result<Option<Kind>> {
    let mut src = At::new(r)?;
    let mut start = 0u64;
    for depth in 0..=MAX_ID3_TAGS {
        match detect_at(&mut src, start)? {
            Step::Found(kind) if depth == 0 => return Ok(kind),
            // What follows an ID3 tag is MP3 unless it is another audio format.
            Step::Found(Some(k)) if k.is_audio() => return Ok(Some(k)),
            Step::Found(_) => return Ok(Some(Kind::Mp3)),
            Step::Id3 { next } => start = next,
        }
    }
    Ok(Some(Kind::Mp3))
}

enum Step {
    Found(Option<Kind>),
    /// An ID3v2 tag; the content goes on at `next`.
    Id3 {
        next: u64,
    },
}

fn detect_at<R: Read + Seek>(src: &mut At<R>, start: u64) -> std::io::Result<Step> {
    let b = src.read(start, 16)?.to_vec();
    let found = |k| Ok(Step::Found(Some(k)));
    if b.is_empty() {
        return Ok(Step::Found(None));
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        return found(Kind::Wav);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return found(Kind::Webp);
    }
    if b.starts_with(b"fLaC") {
        return found(Kind::Flac);
    }
    if b.starts_with(b"OggS") {
        return found(Kind::Ogg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return found(Kind::Png);
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return found(Kind::Jpeg);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return found(Kind::Gif);
    }
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return found(Kind::Webm);
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return found(if has_video_track(src, start)? {
            Kind::Mp4Video
        } else {
            Kind::M4a
        });
    }
    if b.len() >= 10 && b.starts_with(b"ID3") {
        // Skip the ID3v2 tag (syncsafe size) and look at what follows.
        let size = b[6..10]
            .iter()
            .fold(0u64, |acc, x| (acc << 7) | u64::from(x & 0x7F));
        let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
        return Ok(Step::Id3 {
            next: start + 10 + size + footer,
        });
    }
    if b.len() >= 4 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0 {
        let layer = (b[1] >> 1) & 0x03;
        if layer == 0 && b[1] & 0xF6 == 0xF0 {
            return found(Kind::Aac);
        }
        let bitrate = b[2] >> 4;
        let rate = (b[2] >> 2) & 0x03;
        if layer != 0 && bitrate != 0x0F && rate != 0x03 {
            return found(Kind::Mp3);
        }
    }
    if is_text(src, start)? {
        return found(Kind::Text);
    }
    Ok(Step::Found(None))
}

/// True if the rest of the content is UTF-8 without NUL bytes (read in steps).
fn is_text<R: Read + Seek>(src: &mut At<R>, start: u64) -> std::io::Result<bool> {
    let mut pos = start;
    let mut carry: Vec<u8> = Vec::new();
    while pos < src.len {
        let chunk = src.read(pos, SCAN_BYTES)?;
        if chunk.is_empty() {
            break;
        }
        pos += chunk.len() as u64;
        if chunk.contains(&0) {
            return Ok(false);
        }
        carry.extend_from_slice(chunk);
        match std::str::from_utf8(&carry) {
            Ok(_) => carry.clear(),
            // A character cut at the step's end: keep its first bytes for the next step.
            Err(e) if e.error_len().is_none() => {
                carry.drain(..e.valid_up_to());
            }
            Err(_) => return Ok(false),
        }
    }
    Ok(carry.is_empty())
}

/// True if an MP4's `hdlr` boxes name a video handler (read in overlapping steps).
fn has_video_track<R: Read + Seek>(src: &mut At<R>, start: u64) -> std::io::Result<bool> {
    const SPAN: usize = 16;
    let mut pos = start;
    let mut buf: Vec<u8> = Vec::new();
    while pos < src.len {
        let chunk = src.read(pos, SCAN_BYTES)?;
        if chunk.is_empty() {
            break;
        }
        pos += chunk.len() as u64;
        buf.extend_from_slice(chunk);
        if buf
            .windows(SPAN)
            .any(|w| &w[0..4] == b"hdlr" && &w[12..16] == b"vide")
        {
            return Ok(true);
        }
        // Keep the tail that may start a match completed by the next step.
        let keep = buf.len().min(SPAN - 1);
        buf.drain(..buf.len() - keep);
    }
    Ok(false)
}

/// [`check_wav_chunks_in`] on bytes in memory (the tests' form).
///
/// # Errors
/// A message for the client.
#[cfg(test)]
pub(crate) fn check_wav_chunks(b: &[u8]) -> Result<(), String> {
    check_wav_chunks_in(std::io::Cursor::new(b)).map_err(|e| e.to_string())
}

/// Why [`check_wav_chunks_in`] refused a WAV.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WavChunkError {
    /// The chunks do not fit the file: a message for the client.
    #[error("{0}")]
    Bad(String),
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Checks a WAV's chunk sizes against the bytes present, reading only chunk headers of a file
/// (or any seekable reader): a header that claims more data than the file holds (a truncated
/// or lying file) is refused with a message saying how much.
///
/// # Errors
/// [`WavChunkError`].
pub(crate) fn check_wav_chunks_in<R: Read + Seek>(r: R) -> Result<(), WavChunkError> {
    let mut src = At::new(r)?;
    let len = src.len;
    let mut pos = 12u64;
    let mut saw_data = false;
    while pos + 8 <= len {
        let h = src.read(pos, 8)?;
        if h.len() < 8 {
            break;
        }
        let id = [h[0], h[1], h[2], h[3]];
        let size = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        let start = pos + 8;
        let left = len - start;
        if &id == b"data" {
            saw_data = true;
            // 0xFFFFFFFF (and 0) are what streaming writers put when the length is unknown.
            if size != u64::from(u32::MAX) && size != 0 && size > left {
                return Err(WavChunkError::Bad(format!(
                    "The WAV header says the audio data is {size} bytes long but only {left} \
                     bytes follow: the file is truncated or its header is wrong."
                )));
            }
            break;
        }
        if size > left {
            return Err(WavChunkError::Bad(format!(
                "The WAV file is truncated: its `{}` chunk needs {size} bytes, {left} follow.",
                String::from_utf8_lossy(&id)
            )));
        }
        pos = start + size + (size & 1);
    }
    if saw_data {
        Ok(())
    } else {
        Err(WavChunkError::Bad(
            "The WAV file has no audio data chunk (truncated or not a recording).".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide_the_format() {
        assert_eq!(detect(b"RIFF\0\0\0\0WAVEfmt "), Some(Kind::Wav));
        assert_eq!(detect(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::Webp));
        assert_eq!(
            detect(b"ID3\x04\0\0\0\0\0\0\xff\xfb\x90\x00"),
            Some(Kind::Mp3)
        );
        assert_eq!(detect(&[0xFF, 0xFB, 0x90, 0x64]), Some(Kind::Mp3));
        assert_eq!(detect(&[0xFF, 0xF1, 0x50, 0x80]), Some(Kind::Aac));
        assert_eq!(detect(b"\0\0\0\x20ftypM4A \0\0\0\0"), Some(Kind::M4a));
        assert_eq!(
            detect(b"\0\0\0\x20ftypisom\0\0\0\0hdlr\0\0\0\0\0\0\0\0vide"),
            Some(Kind::Mp4Video)
        );
        assert_eq!(detect(b"OggS\0\x02"), Some(Kind::Ogg));
        assert_eq!(detect(b"fLaC\0\0\0\x22"), Some(Kind::Flac));
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0"), Some(Kind::Png));
        assert_eq!(detect(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Kind::Jpeg));
        assert_eq!(detect(b"GIF89a.."), Some(Kind::Gif));
        assert_eq!(
            detect("a story, with ümlauts 😀".as_bytes()),
            Some(Kind::Text)
        );
        assert_eq!(detect(&[0, 1, 2, 3, 0xFE]), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn a_wav_header_claiming_more_data_than_present_is_refused() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        wav.extend_from_slice(&[1, 0, 1, 0, 0x44, 0xAC, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0]);
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&1000u32.to_le_bytes());
        wav.extend_from_slice(&[0; 100]);
        let err = check_wav_chunks(&wav).unwrap_err();
        assert!(err.contains("1000 bytes"), "{err}");
        wav.truncate(wav.len() - 100);
        wav.extend_from_slice(&[0; 1000]);
        assert!(check_wav_chunks(&wav).is_ok());
    }

    #[test]
    fn text_is_recognised_across_scan_steps_even_when_a_character_straddles_one() {
        // 'é' is two bytes; put one across the 64 KiB step boundary.
        let mut text = "a".repeat(SCAN_BYTES - 1).into_bytes();
        text.extend_from_slice("é and more".as_bytes());
        assert_eq!(detect(&text), Some(Kind::Text));
        let mut cut = text.clone();
        cut.truncate(SCAN_BYTES); // ends inside 'é'
        assert_eq!(detect(&cut), None);
        let mut nul = text;
        nul.push(0);
        assert_eq!(detect(&nul), None);
    }

    #[test]
    fn a_video_handler_far_into_an_mp4_and_across_a_scan_step_is_found() {
        let mut mp4 = b"\0\0\0\x20ftypisom".to_vec();
        mp4.resize(SCAN_BYTES - 6, 0);
        mp4.extend_from_slice(b"hdlr\0\0\0\0\0\0\0\0vide");
        assert_eq!(detect(&mp4), Some(Kind::Mp4Video));
        mp4.truncate(mp4.len() - 4);
        mp4.extend_from_slice(b"soun");
        assert_eq!(detect(&mp4), Some(Kind::M4a));
    }

    #[test]
    fn endless_empty_id3_tags_end_quickly_as_mp3_and_a_flac_behind_a_tag_stays_flac() {
        let many = b"ID3\x04\0\0\0\0\0\0".repeat(1_000_000);
        assert_eq!(detect(&many), Some(Kind::Mp3));
        let mut tagged = b"ID3\x04\0\0\0\0\0\x02ab".to_vec();
        tagged.extend_from_slice(b"fLaC\0\0\0\x22");
        assert_eq!(detect(&tagged), Some(Kind::Flac));
    }

    #[test]
    fn a_file_is_recognised_and_its_wav_chunks_checked_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let mut wav = b"RIFF\0\0\0\0WAVE".to_vec();
        // Many small chunks before the data chunk.
        for _ in 0..20_000 {
            wav.extend_from_slice(b"junk\x02\0\0\0ab");
        }
        wav.extend_from_slice(b"data\x04\0\0\0abcd");
        std::fs::write(&path, &wav).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        assert_eq!(detect_in(&f).unwrap(), Some(Kind::Wav));
        assert!(check_wav_chunks_in(&f).is_ok());
        wav.truncate(wav.len() - 2);
        std::fs::write(&path, &wav).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let err = check_wav_chunks_in(&f).unwrap_err().to_string();
        assert!(err.contains("4 bytes long but only 2"), "{err}");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Headers the detector looks into, followed by anything.
        fn with_a_known_start() -> impl Strategy<Value = Vec<u8>> {
            let starts: Vec<&'static [u8]> = vec![
                b"RIFF\0\0\0\0WAVE",
                b"RIFF\0\0\0\0WAVEfmt ",
                b"ID3\x04\0",
                b"\xff\xfb",
                b"\0\0\0\x20ftyp",
                b"OggS",
                b"fLaC",
                b"\x1aE\xdf\xa3",
            ];
            (
                prop::sample::select(starts),
                prop::collection::vec(any::<u8>(), 0..300),
            )
                .prop_map(|(start, tail)| [start, &tail].concat())
        }

        proptest! {
            #![proptest_config(crate::proptest_config())]

            #[test]
            fn any_bytes_are_a_kind_or_none_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                let _ = detect(&bytes);
                let _ = check_wav_chunks(&bytes);
            }

            #[test]
            fn any_bytes_after_a_known_header_never_panic(bytes in with_a_known_start()) {
                let _ = detect(&bytes);
                let _ = check_wav_chunks(&bytes);
            }
        }
    }
}
