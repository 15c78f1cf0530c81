//! Live speaker sources: an HTTP MP3 stream pulled once per box by a worker thread, decoded,
//! and written into a lock-free ring that every listener's mixer reads about a second behind.
//!
//! The ring side ([`LiveRing::mix_into`]) is real-time code: atomics only, no allocation, no
//! panics. The puller side is a plain blocking thread (socket, decoder, logging allowed) that
//! reconnects with back-off when the stream goes away. Owns: the HTTP/1.0 fetch of a speaker
//! URL and its decoding. May not touch: the store, listeners' gains.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use super::pcm::RATE_HZ;

/// Ring capacity: 8 s of stereo audio.
const CAPACITY_FRAMES: u64 = RATE_HZ as u64 * 8;
/// How far behind the newest audio a reader plays (network jitter absorbed).
const DELAY_FRAMES: u64 = RATE_HZ as u64;
/// A reader further behind than this is moved back to [`DELAY_FRAMES`].
const MAX_LAG_FRAMES: u64 = DELAY_FRAMES * 3;
/// Connect and read timeout (the reference's 10 s).
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A puller stays at most this far ahead of real time.
const PACE_AHEAD_S: f64 = 4.0;
/// Response header size accepted.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The newest few seconds of a live source, written by its puller, read by every mixer.
pub struct LiveRing {
    slots: Box<[AtomicU32]>,
    written: AtomicU64,
    stop: AtomicBool,
}

/// One reader's position in a [`LiveRing`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveCursor {
    pos: Option<u64>,
    fade_in: bool,
    /// Ran dry: silent until half the delay has built up again, so the reader does not
    /// chatter on every late packet.
    rebuffering: bool,
}

impl Default for LiveRing {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self {
            slots: (0..CAPACITY_FRAMES).map(|_| AtomicU32::new(0)).collect(),
            written: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// Frames written since the start.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Asks the puller to stop (when no speaker uses this URL any more).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Appends interleaved stereo samples (the puller's side).
    pub fn write(&self, stereo: &[f32]) {
        let mut w = self.written.load(Ordering::Relaxed);
        for f in stereo.chunks_exact(2) {
            let l = (f[0].clamp(-1.0, 1.0) * 32767.0) as i16 as u16;
            let r = (f[1].clamp(-1.0, 1.0) * 32767.0) as i16 as u16;
            let slot = (w % CAPACITY_FRAMES) as usize;
            if let Some(s) = self.slots.get(slot) {
                s.store(u32::from(l) | (u32::from(r) << 16), Ordering::Relaxed);
            }
            w += 1;
        }
        self.written.store(w, Ordering::Release);
    }

    fn frame(&self, at: u64) -> (f32, f32) {
        let v = self
            .slots
            .get((at % CAPACITY_FRAMES) as usize)
            .map_or(0, |s| s.load(Ordering::Relaxed));
        (
            f32::from(v as u16 as i16) / 32768.0,
            f32::from((v >> 16) as u16 as i16) / 32768.0,
        )
    }

    /// Adds `bus.len() / 2` frames at a gain ramping from `g0` to `g1`, from this reader's
    /// position; returns false when the source had no data (an underrun for this reader).
    /// Every discontinuity (start, resync, underrun) is faded, so it never clicks.
    pub fn mix_into(&self, cursor: &mut LiveCursor, bus: &mut [f32], g0: f32, g1: f32) -> bool {
        let frames = (bus.len() / 2) as u64;
        let w = self.written();
        let Some(pos) = cursor.pos else {
            if w < DELAY_FRAMES {
                return false;
            }
            *cursor = LiveCursor {
                pos: Some(w - DELAY_FRAMES),
                fade_in: true,
                rebuffering: false,
            };
            return true;
        };
        let avail = w.saturating_sub(pos);
        if cursor.rebuffering {
            if avail < DELAY_FRAMES / 2 {
                return false;
            }
            cursor.rebuffering = false;
            cursor.fade_in = true;
        }
        if avail == 0 {
            cursor.rebuffering = true;
            cursor.fade_in = true;
            return false;
        }
        // Fade out at the old position when the reader must jump, or when this is the last
        // audio before the source runs dry (then rebuffer).
        let jump = avail > MAX_LAG_FRAMES.min(CAPACITY_FRAMES - frames);
        let running_dry = avail < 2 * frames;
        let fade_out = jump || running_dry;
        let n = frames.min(avail);
        let inv = 1.0 / n.max(1) as f32;
        for i in 0..n {
            let t = i as f32 * inv;
            let mut g = g0 + (g1 - g0) * t;
            if cursor.fade_in {
                g *= t;
            }
            if fade_out {
                g *= 1.0 - t;
            }
            let (l, r) = self.frame(pos + i);
            if let Some(o) = bus.get_mut(i as usize * 2..i as usize * 2 + 2) {
                o[0] += l * g;
                o[1] += r * g;
            }
        }
        *cursor = LiveCursor {
            pos: Some(if jump { w - DELAY_FRAMES } else { pos + n }),
            fade_in: fade_out,
            rebuffering: running_dry && !jump,
        };
        n == frames
    }
}

/// Why a live source could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LiveError {
    /// Not an `http://host[:port]/path` URL.
    #[error("not an http:// URL: {0}")]
    BadUrl(String),
    /// Network failure or timeout.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered, but not with MP3 audio.
    #[error("answered {0}, not MP3 audio (audio/mpeg)")]
    NotAudio(String),
    /// The MP3 data cannot be decoded.
    #[error("cannot decode the stream: {0}")]
    Decode(String),
}

/// Pulls `urls` (the speaker's `uri`, then its `backupuri`) into `ring` until it is stopped,
/// trying the next URL and waiting longer after each failure. Runs on its own thread.
pub(crate) fn spawn_puller(urls: Vec<String>, ring: Arc<LiveRing>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("rw-live-source".into())
        .spawn(move || {
            let mut backoff = Duration::from_secs(1);
            let mut attempt = 0usize;
            while !ring.stop.load(Ordering::Relaxed) {
                let Some(url) = urls.get(attempt % urls.len().max(1)) else {
                    return;
                };
                let started = std::time::Instant::now();
                match pull(url, &ring) {
                    Ok(()) if started.elapsed() > Duration::from_secs(2) => {
                        // A file ends, a stream may end: start again at once (a file loops).
                        backoff = Duration::from_secs(1);
                        continue;
                    }
                    Ok(()) => {
                        log::info!(url = url.as_str(); "live speaker source {url} ended at once; retrying");
                    }
                    Err(e) => {
                        log::warn!(url = url.as_str(); "live speaker source {url}: {e}; the speaker is silent until it answers");
                        attempt += 1;
                    }
                }
                let mut waited = Duration::ZERO;
                while waited < backoff && !ring.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    waited += Duration::from_millis(100);
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        })
        .map(|_| ())
}

/// Connects, checks the answer is MP3, and decodes into the ring until the stream ends.
fn pull(url: &str, ring: &LiveRing) -> Result<(), LiveError> {
    let reader = open(url, 3)?;
    let mss = MediaSourceStream::new(Box::new(ReadOnlySource::new(reader)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| LiveError::Decode(e.to_string()))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| LiveError::Decode("no audio track".into()))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| LiveError::Decode("no audio parameters".into()))?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| LiveError::Decode(e.to_string()))?;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut stereo: Vec<f32> = Vec::new();
    let mut resampler = Linear::default();
    // Paced: a plain file URL arrives much faster than real time; stay at most a few seconds
    // ahead of the clock (an Icecast burst fits) instead of overrunning the readers.
    let connected = std::time::Instant::now();
    let first_frame = ring.written();
    while !ring.stop.load(Ordering::Relaxed) {
        let ahead_s = (ring.written() - first_frame) as f64 / f64::from(RATE_HZ)
            - connected.elapsed().as_secs_f64();
        if ahead_s > PACE_AHEAD_S {
            std::thread::sleep(Duration::from_secs_f64(ahead_s - PACE_AHEAD_S + 0.5));
        }
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()),
            Err(e) => return Err(LiveError::Decode(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        let Ok(buf) = decoder.decode(&packet) else {
            continue;
        };
        let spec = buf.spec();
        let channels = spec.channels().count().max(1);
        let rate = spec.rate();
        buf.copy_to_vec_interleaved(&mut interleaved);
        to_stereo(&mut interleaved, channels, &mut stereo);
        if rate == RATE_HZ {
            ring.write(&stereo);
        } else {
            ring.write(&resampler.process(&stereo, rate));
        }
    }
    Ok(())
}

/// Sanitises decoded samples (a stream may decode to values past full scale; NaN or ±Inf
/// become silence) and spreads them to interleaved stereo, mono doubled. Puller side: it may
/// allocate, but never runs on the render path.
fn to_stereo(interleaved: &mut [f32], channels: usize, stereo: &mut Vec<f32>) {
    crate::media::decode::sanitize(interleaved);
    stereo.clear();
    for f in interleaved.chunks_exact(channels.max(1)) {
        let l = f[0];
        let r = if channels > 1 { f[1] } else { l };
        stereo.extend_from_slice(&[l, r]);
    }
}

/// A linear-interpolation resampler for the rare live source not at 44.1 kHz (speaker beds
/// are ambience; assets and file beds are resampled properly at ingest).
#[derive(Default)]
struct Linear {
    phase: f64,
    last: [f32; 2],
    out: Vec<f32>,
}

impl Linear {
    fn process(&mut self, stereo: &[f32], rate: u32) -> Vec<f32> {
        let step = f64::from(rate) / f64::from(RATE_HZ);
        self.out.clear();
        let frames = stereo.len() / 2;
        let at = |i: isize, c: usize, last: &[f32; 2]| -> f32 {
            if i < 0 {
                last[c]
            } else {
                stereo.get(i as usize * 2 + c).copied().unwrap_or(0.0)
            }
        };
        while self.phase < frames as f64 - 1.0 {
            let i = self.phase.floor();
            let t = (self.phase - i) as f32;
            let i = i as isize;
            for c in 0..2 {
                let a = at(i, c, &self.last);
                let b = at(i + 1, c, &self.last);
                self.out.push(a + (b - a) * t);
            }
            self.phase += step;
        }
        self.phase -= frames as f64;
        if frames > 0 {
            self.last = [stereo[(frames - 1) * 2], stereo[(frames - 1) * 2 + 1]];
        }
        std::mem::take(&mut self.out)
    }
}

/// Opens `url` with HTTP/1.0 (a close-delimited body, as Icecast serves it), following up to
/// `redirects` redirects, and returns the body once the answer is known to be MP3.
fn open(url: &str, redirects: u32) -> Result<Box<dyn Read + Send + Sync>, LiveError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| LiveError::BadUrl(url.to_owned()))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let host_port = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = host_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| LiveError::BadUrl(url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: roundwared/{}\r\nAccept: audio/mpeg, */*\r\nIcy-MetaData: 0\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            LiveError::NotAudio(format!("a malformed status line {:?}", status.trim()))
        })?;
    let (mut content_type, mut location, mut seen) = (String::new(), None, 0usize);
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        seen += n;
        if n == 0 || seen > MAX_HEADER_BYTES {
            return Err(LiveError::NotAudio("a cut-off or oversized header".into()));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = v.trim().to_ascii_lowercase(),
                "location" => location = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    if (300..400).contains(&code) {
        return match location {
            Some(next) if redirects > 0 && next.starts_with('/') => {
                open(&format!("http://{authority}{next}"), redirects - 1)
            }
            Some(next) if redirects > 0 => open(&next, redirects - 1),
            _ => Err(LiveError::NotAudio(format!(
                "HTTP {code} without a usable redirect"
            ))),
        };
    }
    if code != 200 {
        return Err(LiveError::NotAudio(format!("HTTP {code}")));
    }
    if content_type.split(';').next().map(str::trim) != Some("audio/mpeg") {
        return Err(LiveError::NotAudio(format!(
            "Content-Type {content_type:?}"
        )));
    }
    Ok(Box::new(reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_starts_a_second_behind_and_follows_the_writer() {
        let ring = LiveRing::new();
        let block = vec![0.5f32; 441 * 2];
        let mut cursor = LiveCursor::default();
        let mut bus = vec![0.0f32; 441 * 2];
        assert!(
            !ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0),
            "nothing yet"
        );
        for _ in 0..120 {
            ring.write(&block);
        }
        ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0);
        for _ in 0..3 {
            bus.fill(0.0);
            ring.write(&block);
            assert!(ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0));
        }
        assert!((bus[440 * 2] - 0.5).abs() < 0.01, "{}", bus[880]);
    }

    #[test]
    fn a_reader_that_runs_dry_fades_out_instead_of_clicking() {
        let ring = LiveRing::new();
        ring.write(&vec![0.5f32; (DELAY_FRAMES as usize + 441) * 2]);
        let mut cursor = LiveCursor::default();
        let mut bus = vec![0.0f32; 441 * 2];
        ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0);
        let mut last = (0.0f32, true);
        for _ in 0..(DELAY_FRAMES / 441) {
            bus.fill(0.0);
            last = (bus[0], ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0));
            let _ = last;
        }
        assert!(
            bus[880].abs() < 0.01,
            "the last block before running dry ends silent"
        );
        bus.fill(0.0);
        assert!(!ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0), "dry");
        assert!(bus.iter().all(|s| *s == 0.0));
        ring.write(&vec![0.5f32; 441 * 4]);
        bus.fill(0.0);
        assert!(
            !ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0),
            "rebuffering first"
        );
        ring.write(&vec![0.5f32; DELAY_FRAMES as usize]);
        bus.fill(0.0);
        assert!(ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0));
        assert!(bus[0].abs() < 0.01, "comes back with a fade-in");
        let _ = last;
    }

    #[test]
    fn after_a_stall_a_source_in_mp3_packets_plays_steadily_again() {
        let ring = LiveRing::new();
        let mut cursor = LiveCursor::default();
        let mut bus = vec![0.0f32; 441 * 2];
        let packet = vec![0.5f32; 1152 * 2];
        let (mut written, mut read) = (0u64, 0u64);
        let mut quiet_blocks = 0;
        for block in 0..6000u64 {
            // The source stalls for 1.5 s after 5 s, then goes on at real time in packets
            // without making up for the stall (its cushion is gone).
            let stalled = (500..650).contains(&block);
            let lost = if block >= 650 { 150 * 441 } else { 0 };
            while !stalled && written < (block + 1) * 441 + DELAY_FRAMES - lost {
                ring.write(&packet);
                written += 1152;
            }
            bus.fill(0.0);
            ring.mix_into(&mut cursor, &mut bus, 1.0, 1.0);
            read += 1;
            if block > 1000 && bus[440] < 0.4 {
                quiet_blocks += 1;
            }
        }
        assert!(read > 0);
        assert!(
            quiet_blocks < 5,
            "{quiet_blocks} choppy blocks after recovering"
        );
    }

    #[test]
    fn a_live_stream_decoding_to_nan_inf_or_overloud_samples_reaches_the_ring_sanitised() {
        let mut decoded = [f32::NAN, 0.5, f32::INFINITY, -3.0, 1e38, f32::NEG_INFINITY];
        let mut stereo = Vec::new();
        let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
        to_stereo(&mut decoded, 2, &mut stereo);
        assert_eq!(
            bits(&stereo),
            bits(&[0.0, 0.5, 0.0, -1.0, 1.0, 0.0]),
            "{stereo:?}"
        );
        let mut mono = [f32::NAN, 2.0];
        to_stereo(&mut mono, 1, &mut stereo);
        assert_eq!(bits(&stereo), bits(&[0.0, 0.0, 1.0, 1.0]), "{stereo:?}");
        let ring = LiveRing::new();
        ring.write(&stereo);
        let (l, r) = ring.frame(1);
        assert!(l > 0.999 && r > 0.999, "full scale in the ring: {l} {r}");
    }

    /// A one-shot HTTP server on loopback answering `response`.
    fn answer_once(response: &'static [u8]) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(response);
            }
        });
        format!("http://{addr}/bed.mp3")
    }

    #[test]
    fn a_page_instead_of_audio_is_refused_naming_its_type() {
        let url = answer_once(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>");
        let err = open(&url, 0).err().expect("refused");
        assert!(err.to_string().contains("text/html"), "{err}");
        let url = answer_once(b"HTTP/1.1 404 Not Found\r\n\r\n");
        let err = open(&url, 0).err().expect("refused");
        assert!(err.to_string().contains("404"), "{err}");
    }

    #[test]
    fn urls_that_are_not_http_are_refused_by_name() {
        let err = open("ftp://example/x.mp3", 0).err().expect("refused");
        assert!(err.to_string().contains("ftp://example/x.mp3"));
    }
}
