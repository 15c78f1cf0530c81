//! Cuts a pushed or pulled MP3 byte stream into whole frames, so a channel's listeners can
//! join or be skipped forward at any chunk and always start on a frame sync.
//!
//! What a source sends besides frames is dropped: an ID3v2 tag (ffmpeg's mp3 muxer writes one
//! first), a Xing/Info/VBRI header frame (it announces a length a live stream does not have,
//! and a player that joins on it would stop early) and bytes that are not frames at all. A
//! frame is trusted only when the one after it also starts with a valid header (or when it
//! follows a trusted frame directly), so a stray `0xFFE` in the middle of garbage does not
//! lock on. [`FrameSplitter::junk_run`] says how long the source has sent nothing usable.
//!
//! Owns: the byte-level framing. May not touch: sockets, feeds, the store.

use bytes::Bytes;

use crate::output::mp3::FrameHeader;

/// Largest ID3v2 tag skipped as a tag; a larger "tag" is taken for junk.
const MAX_TAG_BYTES: usize = 4 * 1024 * 1024;

/// Whole frames out of one [`FrameSplitter::push`].
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// The frames, back to back (empty when none completed).
    pub audio: Bytes,
    /// How many.
    pub count: u32,
    /// How long they play, in microseconds.
    pub duration_us: u64,
    /// The first frame's header (bitrate, rate), if any.
    pub first: Option<FrameHeader>,
}

/// The framing state of one source.
#[derive(Debug, Default)]
pub(crate) struct FrameSplitter {
    held: Vec<u8>,
    /// Bytes of an ID3v2 tag still to drop.
    skip_tag: usize,
    /// The last frame was trusted and the next one is expected right after it.
    locked: bool,
    /// Bytes dropped as not frames since the last trusted frame.
    junk: usize,
}

impl FrameSplitter {
    /// Takes `data` and returns the whole frames it completes.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> Frames {
        if self.skip_tag > 0 {
            let n = self.skip_tag.min(data.len());
            self.skip_tag -= n;
            data = &data[n..];
        }
        self.held.extend_from_slice(data);
        let mut out = Vec::new();
        let mut frames = Frames::default();
        let mut pos = 0;
        while pos + 4 <= self.held.len() && self.skip_tag == 0 {
            let rest = &self.held[pos..];
            if !self.locked && rest.starts_with(b"ID3") {
                if rest.len() < 10 {
                    break;
                }
                match id3_len(rest) {
                    Some(len) if len <= MAX_TAG_BYTES => {
                        let here = len.min(rest.len());
                        pos += here;
                        self.skip_tag = len - here;
                        continue;
                    }
                    _ => {
                        pos += 3;
                        self.junk += 3;
                        continue;
                    }
                }
            }
            let Some(header) = FrameHeader::parse(rest) else {
                self.locked = false;
                let skip = next_sync(&rest[1..]).map_or(rest.len(), |i| i + 1);
                self.junk += skip;
                pos += skip;
                continue;
            };
            if rest.len() < header.len {
                break;
            }
            if !self.locked {
                // Trust a frame only when the next one follows it.
                match rest.get(header.len..header.len + 4) {
                    None => break,
                    Some(next) if FrameHeader::parse(next).is_some() => {}
                    Some(_) => {
                        self.junk += 1;
                        pos += 1;
                        continue;
                    }
                }
            }
            self.locked = true;
            self.junk = 0;
            let frame = &rest[..header.len];
            pos += header.len;
            if is_info_frame(frame) {
                continue;
            }
            out.extend_from_slice(frame);
            frames.count += 1;
            frames.duration_us += header.duration_us();
            frames.first.get_or_insert(header);
        }
        self.held.drain(..pos.min(self.held.len()));
        frames.audio = Bytes::from(out);
        frames
    }

    /// Bytes dropped as not audio since the last good frame (or since the start).
    pub(crate) fn junk_run(&self) -> usize {
        self.junk + if self.locked { 0 } else { self.held.len() }
    }
}

/// The whole length of the ID3v2 tag that starts `b` (header, body and footer).
fn id3_len(b: &[u8]) -> Option<usize> {
    let size = b.get(6..10)?;
    if size.iter().any(|&x| x & 0x80 != 0) {
        return None;
    }
    let body = size
        .iter()
        .fold(0usize, |acc, &x| (acc << 7) | usize::from(x));
    let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + body + footer)
}

/// The offset of the next `0xFF 0xE?` sync word in `b`.
fn next_sync(b: &[u8]) -> Option<usize> {
    b.windows(2)
        .position(|w| w[0] == 0xFF && w[1] & 0xE0 == 0xE0)
}

/// Whether `frame` carries a Xing, Info or VBRI header instead of audio.
fn is_info_frame(frame: &[u8]) -> bool {
    let probe = &frame[4..frame.len().min(48)];
    probe
        .windows(4)
        .any(|w| w == b"Xing" || w == b"Info" || w == b"VBRI")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::mp3::Mp3Encoder;

    /// `seconds` of a 440 Hz tone as LAME's 128 kbps frames.
    fn mp3(seconds: f32) -> Vec<u8> {
        let mut enc = Mp3Encoder::new(128).unwrap();
        let n = (seconds * 44_100.0) as usize;
        let pcm: Vec<f32> = (0..n)
            .flat_map(|i| {
                let v = (i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin() * 0.3;
                [v, v]
            })
            .collect();
        let mut out = Vec::new();
        enc.encode(&pcm, &mut out).unwrap();
        out
    }

    #[test]
    fn a_stream_cut_anywhere_comes_out_as_the_same_whole_frames() {
        let stream = mp3(1.0);
        let mut whole = FrameSplitter::default();
        let all = whole.push(&stream);
        let mut split = FrameSplitter::default();
        let mut joined = Vec::new();
        let mut frames = 0;
        for piece in stream.chunks(333) {
            let f = split.push(piece);
            if !f.audio.is_empty() {
                assert!(
                    FrameHeader::parse(&f.audio).is_some(),
                    "a chunk starts on a sync"
                );
            }
            frames += f.count;
            joined.extend_from_slice(&f.audio);
        }
        assert_eq!(joined, all.audio.to_vec());
        // Every frame but the last (its successor is needed to trust it when unlocked, and
        // locked frames go at once) has come out.
        assert!(
            frames + 1 >= all.count && all.count > 30,
            "{frames} of {}",
            all.count
        );
        assert_eq!(split.junk_run(), 0);
    }

    #[test]
    fn an_id3_tag_and_a_xing_frame_in_front_are_dropped() {
        let audio = mp3(0.5);
        let first = FrameHeader::parse(&audio).unwrap();
        // An Info frame: a valid header, "Info" where the side info would be.
        let mut info = audio[..first.len].to_vec();
        info[36..40].copy_from_slice(b"Info");
        let tag_body = vec![0u8; 300];
        let mut stream = b"ID3\x04\x00\x00\x00\x00\x02\x2c".to_vec();
        stream.extend_from_slice(&tag_body);
        stream.extend_from_slice(&info);
        stream.extend_from_slice(&audio);
        let mut s = FrameSplitter::default();
        let mut out = Vec::new();
        for piece in stream.chunks(100) {
            out.extend_from_slice(&s.push(piece).audio);
        }
        assert!(out.len() > 1000);
        assert_eq!(
            &out[..],
            &audio[..out.len()],
            "only the audio frames, in order"
        );
    }

    #[test]
    fn garbage_is_counted_as_junk_and_never_comes_out() {
        let mut s = FrameSplitter::default();
        // Text with stray sync-like bytes that do not chain into frames.
        let mut junk = b"<html>not audio</html>".repeat(200);
        junk.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x00, 1, 2, 3]);
        junk.extend_from_slice(&b"more text".repeat(100));
        let f = s.push(&junk);
        assert!(f.audio.is_empty());
        assert!(s.junk_run() >= junk.len() - 8, "{}", s.junk_run());
        // Audio after the junk is found, and the run resets.
        let audio = mp3(0.5);
        let f = s.push(&audio);
        assert!(f.count > 5);
        assert_eq!(s.junk_run(), 0);
    }

    #[test]
    fn durations_follow_the_frames_sample_rate() {
        let f = FrameSplitter::default().push(&mp3(1.0));
        let expected = u64::from(f.count) * (1152 * 1_000_000 / 44_100);
        assert_eq!(f.duration_us, expected);
        assert_eq!(f.first.map(|h| h.kbps), Some(128));
    }
}
