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
use crate::output::gain::SoftGain;

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
        rt_priority: 10,
        gain: SoftGain::default(),
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
    // The callback thread asked for SCHED_FIFO 10: it got it, or the refusal is reported.
    assert!(
        status.callback_scheduling == "SCHED_FIFO priority 10"
            || status
                .callback_scheduling
                .starts_with("normal (real-time priority refused"),
        "{status:?}"
    );
    // The load meter saw the callbacks' work.
    assert!(status.callback_load_mean_pct > 0.0, "{status:?}");
    assert!(
        status.callback_load_max_pct >= status.callback_load_mean_pct,
        "{status:?}"
    );
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
        rt_priority: 0,
        gain: SoftGain::default(),
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
        rt_priority: 0,
        gain: SoftGain::default(),
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
        rt_priority: 0,
        gain: SoftGain::default(),
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

/// The device name of the vanishing-device test: a `file` plugin into a FIFO whose reader the
/// parent closes (the device "is unplugged") and opens again (it "comes back").
const VANISHING: &str = "rwusbdac";

/// Waits up to `secs` for `cond` on the sink's status; returns the status that met it.
fn wait_status(sink: &CardSink, secs: u64, cond: impl Fn(&CardStatus) -> bool) -> CardStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = sink.status();
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out in state {s:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The child's half: play a paced tone through the device while it vanishes and returns.
fn play_through_a_vanishing_device() {
    use std::sync::atomic::AtomicBool;
    let (sink, mut feed) = CardSink::start(CardConfig {
        device: VANISHING.into(),
        buffer_ms: 20,
        rt_priority: 0,
        gain: SoftGain::default(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let feeder_stop = stop.clone();
    let feeder = std::thread::spawn(move || {
        let start = Instant::now();
        let mut frame = 0usize;
        let mut buf = vec![0.0f32; 441 * 2];
        while !feeder_stop.load(Relaxed) {
            let due = start + Duration::from_secs_f64(frame as f64 / 44_100.0);
            if let Some(wait) =
                due.checked_duration_since(Instant::now() + Duration::from_millis(20))
            {
                std::thread::sleep(wait);
            }
            for (i, s) in buf.chunks_exact_mut(2).enumerate() {
                let t = (frame + i) as f64 / 44_100.0;
                let x = (LOUD_AMP * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as f32;
                s[0] = x;
                s[1] = x;
            }
            feed.push(&buf);
            frame += 441;
        }
    });
    let playing = wait_status(&sink, 20, |s| s.state == CardState::Playing);
    println!(
        "PLAYING {} {}",
        playing.sample_format, playing.device_rate_hz
    );
    let gone = wait_status(&sink, 20, |s| s.state != CardState::Playing);
    println!("GONE {gone:?}");
    assert_eq!(gone.state, CardState::Error, "{gone:?}");
    assert!(gone.summary.contains(VANISHING), "{gone:?}");
    assert!(gone.last_error.is_some(), "{gone:?}");
    let back = wait_status(&sink, 30, |s| s.state == CardState::Playing);
    assert_eq!(back.reopens, 1, "{back:?}");
    assert_eq!(back.last_error, None, "{back:?}");
    println!("BACK {back:?}");
    let frames = back.device_frames;
    wait_status(&sink, 10, |s| s.device_frames > frames + 48_000);
    stop.store(true, Relaxed);
    let _ = feeder.join();
    drop(sink);
}

#[test]
fn a_device_that_vanishes_mid_run_is_reported_reopened_with_back_off_and_plays_again() {
    if std::env::var_os(CHILD_ENV).is_some() {
        play_through_a_vanishing_device();
        return;
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("usb.fifo");
    let status = Command::new("mkfifo").arg(&fifo).status();
    assert!(status.is_ok_and(|s| s.success()), "mkfifo failed");
    let conf = format!(
        "pcm.{VANISHING} {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
        fifo.display()
    );
    std::fs::write(dir.path().join(".asoundrc"), conf).expect("write .asoundrc");
    let open_reader = || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo)
            .expect("open fifo")
    };
    let mut reader = Some(open_reader());
    let exe = std::env::current_exe().expect("current exe");
    let test = test_name(
        "a_device_that_vanishes_mid_run_is_reported_reopened_with_back_off_and_plays_again",
    );
    let mut child = Command::new(exe)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("child stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = String::new();
    let mut phase = 0; // 0 playing before, 1 gone, 2 back
    // The device's sample format and rate, as the child reports them once playing.
    let mut format = (String::new(), CAP_RATE_HZ);
    let mut before: Vec<u8> = Vec::new();
    let mut after: Vec<u8> = Vec::new();
    let mut paced_from = Instant::now();
    let mut chunk = vec![0u8; 16 * 1024];
    let start = Instant::now();
    let exit = loop {
        while let Ok(line) = lines.try_recv() {
            seen.push_str(&line);
            seen.push('\n');
            // libtest's "test … ... " precedes the first line without a newline.
            if let Some((_, rest)) = line.split_once("PLAYING ") {
                let mut words = rest.split(' ');
                format.0 = words.next().unwrap_or_default().to_owned();
                format.1 = words
                    .next()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(CAP_RATE_HZ);
            } else if line.starts_with("GONE") {
                phase = 1;
                // The device returns a moment later.
                std::thread::sleep(Duration::from_millis(300));
                reader = Some(open_reader());
                paced_from = Instant::now();
            } else if line.starts_with("BACK") {
                phase = 2;
            }
        }
        let buf = if phase == 0 { &mut before } else { &mut after };
        let bytes_per_s = format.1 * if format.0 == "i16" { 4 } else { 8 };
        if let Some(r) = reader.as_mut() {
            let allowed = (paced_from.elapsed().as_secs_f64() * bytes_per_s as f64) as usize + 8192;
            let room = allowed.saturating_sub(buf.len()).min(chunk.len());
            if room > 0 {
                match r.read(&mut chunk[..room]) {
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("reading the fifo: {e}"),
                }
            }
        }
        // One second of audio heard: unplug.
        if phase == 0 && before.len() >= bytes_per_s && reader.is_some() {
            reader = None;
        }
        if let Some(exit) = child.try_wait().expect("wait child") {
            break exit;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the child did not finish in 90 s; it said:\n{seen}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    std::thread::sleep(Duration::from_millis(50));
    while let Ok(line) = lines.try_recv() {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(exit.success(), "child failed: {exit}\n{seen}\n{err}");
    assert!(seen.contains("1 passed"), "{seen}");
    // The tone was heard before the device vanished and again after it came back.
    let samples = |b: &[u8]| -> Vec<f64> {
        if format.0 == "i16" {
            b.chunks_exact(2)
                .map(|s| f64::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                .collect()
        } else {
            b.chunks_exact(4)
                .map(|s| f64::from(f32::from_le_bytes([s[0], s[1], s[2], s[3]])))
                .collect()
        }
    };
    let level = |b: &[u8]| rms(&samples(b));
    assert!(matches!(format.0.as_str(), "f32" | "i16"), "{seen}");
    let tone_rms = LOUD_AMP / 2f64.sqrt();
    // The first half second may hold the start-up silence.
    let settled = &before[before.len() / 2 / 8 * 8..];
    assert!(
        level(settled) > 0.8 * tone_rms,
        "before: {}",
        level(settled)
    );
    assert!(
        after.len() > format.1 * 4,
        "only {} bytes after the return",
        after.len()
    );
    let tail = &after[after.len() / 2 / 8 * 8..];
    assert!(level(tail) > 0.8 * tone_rms, "after: {}", level(tail));
}
