//! Sound-card tests through the real cpal → ALSA path, no hardware: ALSA's `default` is a
//! `plug` (S16_LE, 48 kHz) into a `file` plugin whose file is a FIFO the test reads at real-time
//! pace (the `null` slave alone is unpaced). ALSA reads `~/.asoundrc`, and `HOME` is
//! process-wide, so the playing half runs in a child process: the test re-executes its own
//! binary with `--exact` and [`CHILD_ENV`] set.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Set in the child: it plays instead of setting up and analysing.
const CHILD_ENV: &str = "ROUNDWARED_CARD_TEST_CHILD";
/// Captured format (the plug's slave).
const CAP_RATE_HZ: usize = 48_000;
/// Seconds of loud tone, then seconds of quiet tone.
const LOUD_S: f64 = 1.0;
const QUIET_S: f64 = 1.0;
const LOUD_AMP: f64 = 0.5;
const QUIET_AMP: f64 = 0.125;
const TONE_HZ: f64 = 440.0;
/// Seconds of silence pushed first, as an idle mixer would: the FIFO's 64 KB (≈ 340 ms) fill
/// unpaced when the stream starts, like a huge card buffer; the tone starts once they are full.
const PREROLL_S: f64 = 0.6;
/// `O_NONBLOCK` on Linux (x86_64 and aarch64).
const O_NONBLOCK: i32 = 0o4000;

fn test_name(f: &str) -> String {
    let module = module_path!();
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    format!("{module}::{f}")
}

/// The child's half: push a paced 440 Hz tone, loud then quiet, like a render thread would.
fn play_tone_step() {
    let (sink, mut feed) = CardSink::start(CardConfig {
        device: "default".into(),
        buffer_ms: 40,
    });
    let block = 441;
    let preroll = (PREROLL_S * 44_100.0) as usize;
    let total = preroll + ((LOUD_S + QUIET_S) * 44_100.0) as usize;
    let mut buf = vec![0.0f32; block * 2];
    let start = Instant::now();
    let mut frame = 0usize;
    while frame < total {
        // Pace by the monotonic clock, 20 ms ahead (the renderer's habit).
        let due = start + Duration::from_secs_f64(frame as f64 / 44_100.0);
        if let Some(wait) = due.checked_duration_since(Instant::now() + Duration::from_millis(20)) {
            std::thread::sleep(wait);
        }
        for (i, s) in buf.chunks_exact_mut(2).enumerate() {
            let n = (frame + i).saturating_sub(preroll);
            let t = n as f64 / 44_100.0;
            let amp = if frame + i < preroll {
                0.0
            } else if t < LOUD_S {
                LOUD_AMP
            } else {
                QUIET_AMP
            };
            let x = (amp * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as f32;
            s[0] = x;
            s[1] = x;
        }
        let n = block.min(total - frame);
        let accepted = feed.push(&buf[..n * 2]);
        assert_eq!(accepted, n, "the ring refused audio: {:?}", sink.status());
        frame += n;
    }
    // Let the ring and the card drain.
    std::thread::sleep(Duration::from_millis(300));
    let status = sink.status();
    println!("card status: {status:?}");
    assert_eq!(status.state, CardState::Playing, "{status:?}");
    assert!(
        matches!(status.device_rate_hz, 44_100 | 48_000),
        "{status:?}"
    );
    assert_eq!(status.dropped_frames, 0);
    assert!((status.resample_ratio - 1.0).abs() <= 0.005 + 1e-9);
    drop(sink);
}

/// Runs `test` in a child with `HOME` at `home`, reading the FIFO `fifo` at real-time pace
/// while it runs. Returns the captured S16 stereo samples.
fn run_child_capturing(test: &str, home: &Path, fifo: &Path) -> Vec<i16> {
    let status = Command::new("mkfifo").arg(fifo).status();
    assert!(status.is_ok_and(|s| s.success()), "mkfifo failed");
    // Non-blocking read end, open before the child so its writer never waits for a reader.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(fifo)
        .expect("open fifo");
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test");
    let bytes_per_s = CAP_RATE_HZ * 4;
    let start = Instant::now();
    let mut captured = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let exit = loop {
        let allowed = (start.elapsed().as_secs_f64() * bytes_per_s as f64) as usize + 8192;
        let room = allowed.saturating_sub(captured.len()).min(chunk.len());
        if room > 0 {
            match reader.read(&mut chunk[..room]) {
                Ok(n) => captured.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading the fifo: {e}"),
            }
        }
        if let Some(exit) = child.try_wait().expect("wait child") {
            // Whatever is left in the pipe.
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                captured.extend_from_slice(&chunk[..n]);
            }
            break exit;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the child test did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    assert!(exit.success(), "child failed: {exit}\n{out}\n{err}");
    captured
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn write_asoundrc(home: &Path, fifo: &Path) {
    let conf = format!(
        "pcm.!default {{\n  type plug\n  slave {{ pcm \"capfile\"; format S16_LE; rate {CAP_RATE_HZ}; channels 2 }}\n}}\n\
         pcm.capfile {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
        fifo.display()
    );
    std::fs::write(home.join(".asoundrc"), conf).expect("write .asoundrc");
}

/// (start, length) of runs of more than two exact zeros.
fn zero_runs(x: &[f64]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, v) in x.iter().chain(std::iter::once(&1.0)).enumerate() {
        match (start, *v == 0.0) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                if i - s > 2 {
                    runs.push((s, i - s));
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn a_tone_pushed_through_the_real_alsa_path_arrives_at_48_khz_with_its_level_step_and_no_dropouts()
{
    if std::env::var_os(CHILD_ENV).is_some() {
        play_tone_step();
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("cap.fifo");
    write_asoundrc(dir.path(), &fifo);
    let samples = run_child_capturing(
        &test_name(
            "a_tone_pushed_through_the_real_alsa_path_arrives_at_48_khz_with_its_level_step_and_no_dropouts",
        ),
        dir.path(),
        &fifo,
    );
    let left: Vec<f64> = samples
        .chunks_exact(2)
        .map(|f| f64::from(f[0]) / 32768.0)
        .collect();
    let right: Vec<f64> = samples
        .chunks_exact(2)
        .map(|f| f64::from(f[1]) / 32768.0)
        .collect();
    let first = left
        .iter()
        .position(|x| *x != 0.0)
        .expect("no audio captured");
    let last = left.iter().rposition(|x| *x != 0.0).unwrap_or(first);
    let played = &left[first..=last];
    let expected = ((LOUD_S + QUIET_S) * CAP_RATE_HZ as f64) as usize;
    assert!(
        played.len().abs_diff(expected) < CAP_RATE_HZ / 20,
        "played {} frames, expected about {expected}; zero runs (start, len): {:?}",
        played.len(),
        zero_runs(played)
    );
    // No dropouts: a 440 Hz sine never holds exact zero for more than two samples.
    let mut run = 0;
    for (i, x) in played.iter().enumerate() {
        run = if *x == 0.0 && right[first + i] == 0.0 {
            run + 1
        } else {
            0
        };
        assert!(run <= 2, "dropout at frame {i} of {}", played.len());
    }
    // Level: loud then quiet, one step.
    let w = CAP_RATE_HZ / 100;
    let levels: Vec<f64> = played.chunks_exact(w).map(rms).collect();
    let loud_rms = LOUD_AMP / 2f64.sqrt();
    let quiet_rms = QUIET_AMP / 2f64.sqrt();
    let near = |x: f64, y: f64| (x - y).abs() < 0.05 * y;
    let step = levels
        .iter()
        .position(|l| !near(*l, loud_rms))
        .expect("no level step");
    assert!(
        (90..=110).contains(&step),
        "step at window {step}: {levels:?}"
    );
    assert!(levels[..step].iter().all(|l| near(*l, loud_rms)));
    assert!(
        levels[step + 2..].iter().all(|l| near(*l, quiet_rms)),
        "{levels:?}"
    );
    // Frequency: zero crossings over the loud second.
    let loud = &played[w..step * w - w];
    let crossings = loud
        .windows(2)
        .filter(|p| (p[0] < 0.0) != (p[1] < 0.0))
        .count();
    let hz = crossings as f64 / 2.0 / (loud.len() as f64 / CAP_RATE_HZ as f64);
    assert!((hz - TONE_HZ).abs() < TONE_HZ * 0.01, "measured {hz} Hz");
    assert!(
        samples.chunks_exact(2).all(|f| f[0] == f[1]),
        "left and right differ"
    );
}

#[test]
fn a_device_that_does_not_exist_is_reported_by_name_and_the_feed_keeps_accepting_and_counting() {
    let name = "hw:CARD=RoundwaredNoSuchCard,DEV=0";
    let (sink, mut feed) = CardSink::start(CardConfig {
        device: name.into(),
        buffer_ms: 20,
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let s = sink.status();
        if matches!(s.state, CardState::WaitingForDevice | CardState::Error) {
            break s;
        }
        assert!(Instant::now() < deadline, "still {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.summary.contains(name), "{status:?}");
    assert_eq!(status.device, name);
    let block = vec![0.25f32; 441 * 2];
    let mut accepted = 0;
    for _ in 0..200 {
        accepted += feed.push(&block);
    }
    assert_eq!(accepted, frames_in_ms(RING_MS));
    assert_eq!(feed.wanted_frames(), 0);
    let status = sink.status();
    assert_eq!(status.dropped_frames, (200 * 441 - accepted) as u64);
    let t = Instant::now();
    drop(sink);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "drop waited out the back-off"
    );
}

#[test]
fn device_none_starts_nothing_and_accepts_nothing() {
    let (sink, mut feed) = CardSink::start(CardConfig {
        device: "none".into(),
        buffer_ms: 20,
    });
    assert_eq!(feed.push(&[0.1; 882]), 0);
    assert_eq!(feed.wanted_frames(), 0);
    let s = sink.status();
    assert_eq!(s.state, CardState::Disabled);
    assert!(sink.thread.is_none());
}

/// The child's half of the late-device test: `HOME` starts without the device.
fn wait_for_late_device() {
    let name = "rwlatecard";
    let (sink, mut feed) = CardSink::start(CardConfig {
        device: name.into(),
        buffer_ms: 20,
    });
    let wait_for = |want: CardState, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = sink.status();
            if s.state == want {
                return s;
            }
            assert!(Instant::now() < deadline, "never {want:?}: {s:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let s = wait_for(CardState::WaitingForDevice, 20);
    assert!(s.summary.contains(name), "{s:?}");
    let home = std::env::var_os("HOME").expect("HOME");
    let conf = format!(
        "pcm.{name} {{\n  type null\n  hint {{ show on; description \"late test card\" }}\n}}\n"
    );
    std::fs::write(Path::new(&home).join(".asoundrc"), conf).expect("write .asoundrc");
    let s = wait_for(CardState::Playing, 20);
    assert_eq!(s.last_error, None);
    assert!(feed.push(&[0.1; 882]) > 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.status().device_frames == 0 {
        assert!(Instant::now() < deadline, "the stream never called back");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_device_missing_at_start_is_waited_for_and_plays_once_it_appears() {
    if std::env::var_os(CHILD_ENV).is_some() {
        wait_for_late_device();
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let test = test_name("a_device_missing_at_start_is_waited_for_and_plays_once_it_appears");
    let out = Command::new(exe)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("HOME", dir.path())
        .output()
        .expect("run child test");
    assert!(
        out.status.success(),
        "child failed\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The child really ran the test (and did not filter it away).
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
