//! Live speaker sources: an HTTP(S) audio stream (MP3, Ogg Vorbis, or AAC in ADTS) pulled
//! once per box by a worker thread, decoded, and written into a lock-free ring that every
//! listener's mixer reads about a second behind.
//!
//! The ring side ([`LiveRing::mix_into`]) is real-time code: atomics only, no allocation, no
//! panics. The puller side is a plain blocking thread (network, decoder, logging allowed) that
//! opens the URL with [`crate::net::fetch::open_audio`] and reconnects with back-off when the
//! stream goes away. Owns: decoding a speaker's stream, pacing it, and the ring. May not
//! touch: the store, listeners' gains; HTTP itself belongs to [`crate::net`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use super::pcm::RATE_HZ;
use crate::net::fetch::{FetchError, chain, open_audio};

/// Ring capacity: 8 s of stereo audio.
const CAPACITY_FRAMES: u64 = RATE_HZ as u64 * 8;
/// How far behind the newest audio a reader plays (network jitter absorbed).
const DELAY_FRAMES: u64 = RATE_HZ as u64;
/// A reader further behind than this is moved back to [`DELAY_FRAMES`].
const MAX_LAG_FRAMES: u64 = DELAY_FRAMES * 3;
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A puller stays at most this far ahead of real time.
const PACE_AHEAD_S: f64 = 4.0;

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
    /// The URL could not be opened as audio (bad URL, no answer, a status, not audio).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The stream broke off or went quiet for longer than the idle timeout (the reason with
    /// its causes).
    #[error("the stream stopped: {0}")]
    Stopped(String),
    /// The audio cannot be decoded.
    #[error("cannot decode the {container} stream: {why}")]
    Decode {
        /// The container the answer named (`mp3`, `ogg`, `aac`).
        container: &'static str,
        /// The decoder's reason.
        why: String,
    },
}

/// Pulls `urls` (the speaker's `uri`, then its `backupuri`) into `ring` until it is stopped,
/// trying the next URL and waiting longer after each failure. Runs on its own thread.
pub(crate) fn spawn_puller(
    urls: Vec<String>,
    ring: Arc<LiveRing>,
    local: Option<Arc<dyn super::LocalStreams>>,
) -> std::io::Result<()> {
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
                match pull(url, &ring, local.as_deref()) {
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

/// Connects (in-process for this box's own channels), checks the answer is audio, and
/// decodes into the ring until the stream ends.
fn pull(
    url: &str,
    ring: &LiveRing,
    local: Option<&dyn super::LocalStreams>,
) -> Result<(), LiveError> {
    let (reader, container) = match local.and_then(|l| l.open(url)) {
        Some(opened) => (opened.map_err(LiveError::Stopped)?, "mp3"),
        None => {
            let body = open_audio(url, &[])?;
            let container = body.container.extension();
            log::debug!(url; "live speaker source {url}: {:?}, decoded as {container}", body.content_type);
            (body.reader, container)
        }
    };
    let decode = |why: String| LiveError::Decode { container, why };
    let failed = |e: SymphoniaError| match e {
        SymphoniaError::IoError(e) => LiveError::Stopped(chain(&e)),
        e => decode(e.to_string()),
    };
    let mss = MediaSourceStream::new(Box::new(ReadOnlySource::new(reader)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(container);
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(failed)?;
    let (mut track_id, mut decoder) = audio_decoder(&*format).map_err(decode)?;
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
            // A chained Ogg stream starts its next part (a stream server's next track): its
            // own track and headers, so a decoder of its own.
            Err(SymphoniaError::ResetRequired) => {
                (track_id, decoder) = audio_decoder(&*format).map_err(decode)?;
                continue;
            }
            Err(e) => return Err(failed(e)),
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

/// The format's audio track and a decoder for it.
fn audio_decoder(format: &dyn FormatReader) -> Result<(u32, Box<dyn AudioDecoder>), String> {
    let track = format
        .default_track(TrackType::Audio)
        .ok_or("no audio track")?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or("no audio parameters")?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| e.to_string())?;
    Ok((track.id, decoder))
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

    use crate::net::loopback::{Loopback, Reply};

    /// A 2 s 440 Hz tone at `rate_hz`, encoded by ffmpeg with `args` into a `.{ext}` file.
    fn tone(rate_hz: u32, channels: u16, args: &[&str], ext: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join(format!("tone.{ext}"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!(
                "sine=frequency=440:sample_rate={rate_hz}:duration=2"
            ))
            .args(["-ac", &channels.to_string()])
            .args(args)
            .arg(&out)
            .status()
            .expect("ffmpeg is installed (tests/install-deps.sh)");
        assert!(status.success(), "ffmpeg {args:?}");
        std::fs::read(&out).expect("encoded tone")
    }

    /// Pulls `path` from a loopback server answering `reply` into a fresh ring, to the end.
    fn pulled(path: &str, reply: Reply) -> (Result<(), LiveError>, LiveRing) {
        let server = Loopback::start(move |_| reply.clone());
        let ring = LiveRing::new();
        let result = pull(&server.url(path), &ring, None);
        (result, ring)
    }

    /// Checks `ring` holds about `seconds` of the tone (44.1 kHz, both channels sounding).
    fn holds_the_tone(ring: &LiveRing, seconds: f64) {
        let written = ring.written();
        let want = seconds * f64::from(RATE_HZ);
        assert!(
            (written as f64 - want).abs() < want * 0.1,
            "{written} frames written, about {want} expected"
        );
        let peak = (0..written.min(CAPACITY_FRAMES))
            .map(|at| ring.frame(at))
            .fold(0.0f32, |p, (l, r)| p.max(l.abs().min(r.abs())));
        assert!(
            peak > 0.05,
            "the tone is heard in both channels: peak {peak}"
        );
    }

    #[test]
    fn an_ogg_vorbis_source_at_48_khz_decodes_into_the_ring_at_44_1() {
        let ogg = tone(48_000, 1, &["-c:a", "libvorbis"], "ogg");
        let (result, ring) = pulled("/bed", Reply::ok("audio/ogg", ogg));
        result.expect("decoded to the end");
        holds_the_tone(&ring, 2.0);
    }

    #[test]
    fn a_chained_ogg_stream_plays_on_across_its_next_part() {
        // Two Ogg files one after the other: how a stream server sends its next track.
        let mut ogg = tone(44_100, 2, &["-c:a", "libvorbis"], "ogg");
        ogg.extend(tone(44_100, 2, &["-c:a", "libvorbis"], "ogg"));
        let (result, ring) = pulled("/radio", Reply::ok("application/ogg", ogg));
        result.expect("decoded to the end");
        holds_the_tone(&ring, 4.0);
    }

    #[test]
    fn an_adts_aac_source_decodes_into_the_ring() {
        let aac = tone(
            44_100,
            2,
            &["-c:a", "aac", "-b:a", "96k", "-f", "adts"],
            "aac",
        );
        let (result, ring) = pulled("/bed", Reply::ok("audio/aacp", aac));
        result.expect("decoded to the end");
        holds_the_tone(&ring, 2.0);
    }

    #[test]
    fn an_mp3_served_as_octet_stream_is_known_by_its_extension() {
        let mp3 = tone(44_100, 1, &["-c:a", "libmp3lame", "-b:a", "64k"], "mp3");
        let (result, ring) = pulled("/beds/wind.mp3", Reply::ok("application/octet-stream", mp3));
        result.expect("decoded to the end");
        holds_the_tone(&ring, 2.0);
    }

    #[test]
    fn a_stream_cut_off_midway_is_reported_as_stopped_after_what_arrived() {
        let mp3 = tone(44_100, 1, &["-c:a", "libmp3lame", "-b:a", "64k"], "mp3");
        let half = mp3[..mp3.len() / 2].to_vec();
        let reply = Reply::ok("audio/mpeg", half).claiming_length(mp3.len());
        let (result, ring) = pulled("/bed.mp3", reply);
        let err = result.expect_err("cut off");
        assert!(matches!(err, LiveError::Stopped(_)), "{err}");
        assert!(
            ring.written() > u64::from(RATE_HZ) / 2,
            "what arrived played"
        );
    }

    #[test]
    fn a_page_instead_of_audio_is_refused_naming_its_type() {
        let ring = LiveRing::new();
        let server = Loopback::start(|path| match path {
            "/page" => Reply::ok("text/html", b"<html>".to_vec()),
            _ => Reply::status("404 Not Found", ""),
        });
        let err = pull(&server.url("/page"), &ring, None).expect_err("refused");
        assert!(err.to_string().contains("text/html"), "{err}");
        let err = pull(&server.url("/bed.mp3"), &ring, None).expect_err("refused");
        assert!(err.to_string().contains("404"), "{err}");
        assert_eq!(ring.written(), 0);
    }

    #[test]
    fn urls_that_are_not_http_or_https_are_refused_by_name() {
        let ring = LiveRing::new();
        let err = pull("ftp://example/x.mp3", &ring, None).expect_err("refused");
        assert!(err.to_string().contains("ftp://example/x.mp3"), "{err}");
        assert!(
            matches!(err, LiveError::Fetch(FetchError::BadUrl(_))),
            "{err}"
        );
        let err = pull("https://127.0.0.1:1/x.mp3", &ring, None).expect_err("nothing there");
        assert!(
            matches!(err, LiveError::Fetch(FetchError::Transport(_))),
            "https:// is tried: {err}"
        );
    }
}
