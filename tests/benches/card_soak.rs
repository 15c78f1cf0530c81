//! The box as a listener, measured: the release daemon's local listener mixes the demo
//! project (two audiotracks, two looping speakers) into ALSA's `file` plugin writing to a FIFO
//! that this bench drains at exactly real-time pace (a paced null device), for `--seconds`
//! (default 600), while an NMEA receiver on a real pseudo-terminal walks it back and forth
//! across the rain speaker's border (one GGA+RMC epoch a second, 1.3 m/s) and `--streams N`
//! (default 0) personal HTTP streams load the box.
//!
//! Reports: xruns, underruns, resyncs and reopens from the card's status, the resampling ratio,
//! dropouts in the captured audio; the callback thread's scheduling and its work as a share of
//! the device period (mean and worst call); the time from each fix's arrival to the last mixer
//! command that followed from it (median, p99, worst).
//!
//! `cargo bench --bench card_soak -- --seconds 600 --streams 20`

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use serde_json::{Value, json};

const CAP_RATE_HZ: usize = 48_000;
const O_NONBLOCK: i32 = 0o4000;
/// The demo project's centre (src/demo/mod.rs).
const CENTRE: (f64, f64) = (42.3551, -71.0656);
const M_PER_DEG: f64 = 111_195.0;

/// Kills the daemon when the bench ends, even on panic.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the FIFO reader saw.
#[derive(Default)]
struct Capture {
    bytes: usize,
    dropouts: usize,
    longest_zero_run: usize,
    /// The reader's own longest gap between two reads, ms (a stall of the "device").
    longest_gap_ms: f64,
    /// The reader's scheduling (it asks for SCHED_FIFO 30: hardware does not wait).
    scheduling: String,
}

/// Drains the FIFO at real-time pace until `stop`; counts silent stretches after the first
/// sound.
fn drain(mut reader: std::fs::File, stop: &AtomicBool) -> Capture {
    let promotion = roundwared::testing::output::sched::Promotion::default();
    promotion.promote_current_thread(30);
    let bytes_per_s = CAP_RATE_HZ * 4;
    let start = Instant::now();
    let mut c = Capture {
        scheduling: promotion.describe(),
        ..Capture::default()
    };
    let mut last_read = Instant::now();
    let (mut zero_run, mut started) = (0usize, false);
    let mut chunk = vec![0u8; 16 * 1024];
    while !stop.load(Relaxed) {
        let gap_ms = last_read.elapsed().as_secs_f64() * 1000.0;
        if c.bytes > 0 {
            c.longest_gap_ms = c.longest_gap_ms.max(gap_ms);
        }
        last_read = Instant::now();
        let allowed = (start.elapsed().as_secs_f64() * bytes_per_s as f64) as usize + 8192;
        let room = allowed.saturating_sub(c.bytes).min(chunk.len()) & !3;
        if room > 0 {
            match reader.read(&mut chunk[..room]) {
                Ok(n) => {
                    for f in chunk[..n].chunks_exact(4) {
                        if f != [0, 0, 0, 0] {
                            started = true;
                            if zero_run > 480 {
                                c.dropouts += 1;
                            }
                            zero_run = 0;
                        } else if started {
                            zero_run += 1;
                            c.longest_zero_run = c.longest_zero_run.max(zero_run);
                        }
                    }
                    c.bytes += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading the fifo: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    c
}

/// `$body*hh\r\n`.
fn sentence(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}\r\n")
}

fn ddmm(value: f64, degree_digits: usize) -> String {
    let deg = value.abs().trunc();
    let min = (value.abs() - deg) * 60.0;
    format!("{:0w$}{min:07.4}", deg as u32, w = degree_digits)
}

/// GGA + RMC for second `t` of the walk, `east_m` east of the demo's centre.
fn epoch(t: u64, east_m: f64) -> String {
    let (lat, lon) = (
        CENTRE.0,
        CENTRE.1 + east_m / (M_PER_DEG * CENTRE.0.to_radians().cos()),
    );
    let time = format!("{:02}{:02}{:02}.00", 10 + t / 3600, (t / 60) % 60, t % 60);
    let (la, lo) = (ddmm(lat, 2), ddmm(lon, 3));
    sentence(&format!(
        "GPGGA,{time},{la},N,{lo},W,1,08,1.10,34.0,M,39.6,M,,"
    )) + &sentence(&format!(
        "GPRMC,{time},A,{la},N,{lo},W,1.30,90.0,010625,,,A"
    ))
}

/// Back and forth between 25 m and 80 m east at 1.3 m/s: across the rain speaker's border
/// (40 m) and its 25 m attenuation band.
fn east_m_at(t: u64) -> f64 {
    let span_m = 55.0;
    let d = (t as f64 * 1.3) % (2.0 * span_m);
    25.0 + if d < span_m { d } else { 2.0 * span_m - d }
}

/// POSTs `body` as JSON to `base` + `path` (with a token when given) and returns the answer.
async fn post(base: &str, path: &str, auth: Option<&str>, body: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// A new device's `Authorization` header value.
async fn register(base: &str, device_id: &str) -> String {
    let body = json!({"device_id": device_id, "client_type": "bench"});
    let user = post(base, "/api/2/users/", None, body).await;
    format!("token {}", user["token"].as_str().unwrap())
}

/// Starts `n` personal HTTP streams at the demo's centre and reads them until the bench ends.
async fn load_streams(base: &str, n: u64) {
    for i in 0..n {
        let auth = register(base, &format!("load-{i}")).await;
        let body = json!({"project_id": 1, "client_type": "bench", "timezone": "0000"});
        let session = post(base, "/api/2/sessions/", Some(&auth), body).await;
        let body =
            json!({"session_id": session["id"], "latitude": CENTRE.0, "longitude": CENTRE.1});
        let stream = post(base, "/api/2/streams/", Some(&auth), body).await;
        let url = stream["stream_url"].as_str().unwrap().to_string();
        tokio::spawn(async move {
            let Ok(mut resp) = reqwest::get(&url).await else {
                return;
            };
            while let Ok(Some(_)) = resp.chunk().await {}
        });
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let seconds = common::arg("--seconds", 600);
    let streams = common::arg("--streams", 0);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("card.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(
        dir.path().join(".asoundrc"),
        format!(
            "pcm.!default {{\n  type plug\n  slave {{ pcm \"capfile\"; format S16_LE; rate {CAP_RATE_HZ}; channels 2 }}\n}}\n\
             pcm.capfile {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
            fifo.display()
        ),
    )
    .unwrap();
    let mut gps =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).expect("pseudo-terminal");
    grantpt(&gps).unwrap();
    unlockpt(&gps).unwrap();
    let gps_device = ptsname_r(&gps).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("roundwared.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n{}[storage]\ndata_dir = \"{}\"\n\
             [local]\nenabled = true\nproject_id = 1\noutput = \"default\"\n\
             [position]\nsource = \"nmea\"\nnmea_device = \"{gps_device}\"\n[log]\nlevel = \"warn\"\n{}",
            common::MANY_PHONES_HTTP,
            dir.path().join("data").display(),
            common::MANY_PHONES_LIMITS
        ),
    )
    .unwrap();
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_roundwared"))
            .args(["serve", "--demo", "--config"])
            .arg(&cfg)
            .env("HOME", dir.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let drain_stop = stop.clone();
    let drainer = std::thread::spawn(move || drain(reader, &drain_stop));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (status, fix_ms) = rt.block_on(async {
        let base = format!("http://127.0.0.1:{port}");
        common::wait_ready(&base).await;
        let auth = register(&base, "soak").await;
        load_streams(&base, streams).await;
        let local = || async {
            reqwest::Client::new()
                .get(format!("{base}/api/2/streams/local/"))
                .header("Authorization", &auth)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        let start = Instant::now();
        let mut fix_ms = Vec::new();
        let mut counted = 0;
        let mut t = 0;
        let mut status = Value::Null;
        while start.elapsed() < Duration::from_secs(seconds) {
            gps.write_all(epoch(t, east_m_at(t)).as_bytes()).unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
            status = local().await;
            let n = status["stream"]["fix_commands"].as_u64().unwrap_or(0);
            if n > counted {
                counted = n;
                fix_ms.push(
                    status["stream"]["fix_to_mixer_ms"]
                        .as_f64()
                        .unwrap_or(f64::NAN),
                );
            }
            t += 1;
            let next = start + Duration::from_secs(t);
            tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
        }
        (status, fix_ms)
    });
    // The daemon goes first: a FIFO without its reader would fail the ALSA writes.
    drop(daemon);
    stop.store(true, Relaxed);
    let capture = drainer.join().unwrap();

    let card = &status["soundcard"];
    let bytes_per_s = CAP_RATE_HZ * 4;
    println!(
        "sound-card soak: {seconds} s into a FIFO drained at real time ({CAP_RATE_HZ} Hz S16 stereo), \
         NMEA walk across a speaker border, {streams} HTTP streams besides"
    );
    println!(
        "  captured {:.1} s of audio; xruns {}, underruns {}, resyncs {}, reopens {}, dropped frames {}",
        capture.bytes as f64 / bytes_per_s as f64,
        card["xruns"],
        card["underruns"],
        card["resyncs"],
        card["reopens"],
        card["dropped_frames"]
    );
    println!(
        "  device {} Hz {}, buffer {} ms, ring fill {} ms (target {}), resample ratio {}",
        card["device_rate_hz"],
        card["sample_format"],
        card["card_buffer_ms"],
        card["buffer_fill_ms"],
        card["target_fill_ms"],
        card["resample_ratio"]
    );
    println!(
        "  callback thread: {}; work per call {:.3} % of the period on average, {:.2} % at worst",
        card["callback_scheduling"].as_str().unwrap_or("?"),
        card["callback_load_mean_pct"].as_f64().unwrap_or(f64::NAN),
        card["callback_load_max_pct"].as_f64().unwrap_or(f64::NAN)
    );
    let mut sorted = fix_ms;
    sorted.sort_by(f64::total_cmp);
    println!(
        "  fix arrival → mixer commands applied: {} fixes with commands, median {:.2} ms, p99 {:.2} ms, worst {:.2} ms (worst of all {:.2} ms)",
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN),
        status["stream"]["fix_to_mixer_max_ms"]
            .as_f64()
            .unwrap_or(f64::NAN)
    );
    println!(
        "  silent stretches over 10 ms after the first sound: {} (longest {:.1} ms; dead air between recordings is silence by design when no speaker plays)",
        capture.dropouts,
        capture.longest_zero_run as f64 * 1000.0 / CAP_RATE_HZ as f64
    );
    println!(
        "  the bench's FIFO reader: {}, longest gap between its reads {:.1} ms (a stall of the stand-in device)",
        capture.scheduling, capture.longest_gap_ms
    );
    println!(
        "  local stream: underruns {}, late blocks {}",
        status["stream"]["underruns"], status["stream"]["late_blocks"]
    );
}
