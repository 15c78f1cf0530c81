//! Format detection by content (magic bytes), never by the client's file name: the web client
//! sends WAV named `blob`, iOS sends AAC in an `.m4a`, and a name may lie. Owns only the
//! recognition of a format and its canonical stored extension; decoding is [`super::decode`].

/// A recognised file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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
    pub fn ext(self) -> &'static str {
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
    pub fn is_audio(self) -> bool {
        matches!(
            self,
            Self::Wav | Self::Mp3 | Self::Aac | Self::M4a | Self::Ogg | Self::Flac
        )
    }

    /// True for still images.
    pub fn is_image(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg | Self::Gif | Self::Webp)
    }

    /// True for video containers.
    pub fn is_video(self) -> bool {
        matches!(self, Self::Mp4Video | Self::Webm)
    }

    /// A short human name for messages.
    pub fn name(self) -> &'static str {
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

/// Recognises `bytes`; `None` when the content is none of the known formats.
pub fn detect(bytes: &[u8]) -> Option<Kind> {
    let b = bytes;
    if b.is_empty() {
        return None;
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        return Some(Kind::Wav);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Some(Kind::Webp);
    }
    if b.starts_with(b"fLaC") {
        return Some(Kind::Flac);
    }
    if b.starts_with(b"OggS") {
        return Some(Kind::Ogg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Kind::Png);
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Kind::Jpeg);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some(Kind::Gif);
    }
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(Kind::Webm);
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return Some(if has_video_track(b) {
            Kind::Mp4Video
        } else {
            Kind::M4a
        });
    }
    if b.len() >= 10 && b.starts_with(b"ID3") {
        // Skip the ID3v2 tag (syncsafe size) and look at what follows.
        let size = b[6..10]
            .iter()
            .fold(0usize, |acc, x| (acc << 7) | usize::from(x & 0x7F));
        let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
        let rest = b.get(10 + size + footer..).unwrap_or(&[]);
        return match detect(rest) {
            Some(k) if k.is_audio() => Some(k),
            _ => Some(Kind::Mp3),
        };
    }
    if b.len() >= 4 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0 {
        let layer = (b[1] >> 1) & 0x03;
        if layer == 0 && b[1] & 0xF6 == 0xF0 {
            return Some(Kind::Aac);
        }
        let bitrate = b[2] >> 4;
        let rate = (b[2] >> 2) & 0x03;
        if layer != 0 && bitrate != 0x0F && rate != 0x03 {
            return Some(Kind::Mp3);
        }
    }
    if !b.contains(&0) && std::str::from_utf8(b).is_ok() {
        return Some(Kind::Text);
    }
    None
}

/// True if an MP4's `hdlr` boxes name a video handler.
fn has_video_track(b: &[u8]) -> bool {
    b.windows(4)
        .enumerate()
        .any(|(i, w)| w == b"hdlr" && b.get(i + 12..i + 16).is_some_and(|h| h == b"vide"))
}

/// Checks a WAV's chunk sizes against the bytes present: a header that claims more data than
/// the file holds (a truncated or lying file) is refused with a message saying how much.
///
/// # Errors
/// A message for the client.
pub fn check_wav_chunks(b: &[u8]) -> Result<(), String> {
    let mut pos = 12usize;
    let mut saw_data = false;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]);
        let start = pos + 8;
        let left = b.len() - start;
        if id == b"data" {
            saw_data = true;
            // 0xFFFFFFFF (and 0) are what streaming writers put when the length is unknown.
            if size != u32::MAX && size != 0 && size as usize > left {
                return Err(format!(
                    "The WAV header says the audio data is {size} bytes long but only {left} \
                     bytes follow: the file is truncated or its header is wrong."
                ));
            }
            break;
        }
        if size as usize > left {
            return Err(format!(
                "The WAV file is truncated: its `{}` chunk needs {size} bytes, {left} follow.",
                String::from_utf8_lossy(id)
            ));
        }
        pos = start + size as usize + (size as usize & 1);
    }
    if saw_data {
        Ok(())
    } else {
        Err("The WAV file has no audio data chunk (truncated or not a recording).".into())
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
            #![proptest_config(ProptestConfig::with_cases(256))]

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
