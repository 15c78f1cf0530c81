//! Sound-card soak: the release daemon's local listener plays the demo project into ALSA's
//! `file` plugin writing to a FIFO that this process drains at exactly real-time pace (a
//! paced null device), for `--seconds` (default 600). Reports xruns, underruns, resyncs and
//! reopens from the card's status, the resampling ratio it settled on, and whether the
//! captured audio has dropouts (runs of exact zeros while the mix plays).
//!
//! `cargo bench --bench card_soak -- --seconds 600`

#[path = "common/mod.rs"]
mod common;

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CAP_RATE_HZ: usize = 48_000;
const O_NONBLOCK: i32 = 0o4000;

fn main() {
    let seconds = common::arg("--seconds", 600);
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("roundwared.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n\
             [local]\nenabled = true\nproject_id = 1\noutput = \"default\"\n\
             [position]\nsource = \"fixed\"\nfixed = [42.3551, -71.0656]\n[log]\nlevel = \"warn\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roundwared"))
        .args(["serve", "--demo", "--config"])
        .arg(&cfg)
        .env("HOME", dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let bytes_per_s = CAP_RATE_HZ * 4;
    let start = Instant::now();
    let (mut total, mut zero_run, mut longest_zero_run, mut dropouts) =
        (0usize, 0usize, 0usize, 0usize);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut started = false;
    while start.elapsed() < Duration::from_secs(seconds) {
        let allowed = (start.elapsed().as_secs_f64() * bytes_per_s as f64) as usize + 8192;
        let room = allowed.saturating_sub(total).min(chunk.len()) & !3;
        if room > 0 {
            match reader.read(&mut chunk[..room]) {
                Ok(n) => {
                    for f in chunk[..n].chunks_exact(4) {
                        let silent = f == [0, 0, 0, 0];
                        if !silent {
                            started = true;
                            if zero_run > 480 {
                                dropouts += 1;
                            }
                            zero_run = 0;
                        } else if started {
                            zero_run += 1;
                            longest_zero_run = longest_zero_run.max(zero_run);
                        }
                    }
                    total += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading the fifo: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status: serde_json::Value = rt.block_on(async {
        let base = format!("http://127.0.0.1:{port}");
        let user: serde_json::Value = reqwest::Client::new()
            .post(format!("{base}/api/2/users/"))
            .json(&serde_json::json!({"device_id": "soak", "client_type": "bench"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = user["token"].as_str().unwrap().to_string();
        reqwest::Client::new()
            .get(format!("{base}/api/2/streams/local/"))
            .header("Authorization", format!("token {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let _ = child.kill();
    let _ = child.wait();
    let card = &status["soundcard"];
    println!(
        "sound-card soak: {seconds} s into a FIFO drained at real time ({CAP_RATE_HZ} Hz S16 stereo)"
    );
    println!(
        "  captured {:.1} s of audio; xruns {}, underruns {}, resyncs {}, reopens {}, dropped frames {}",
        total as f64 / bytes_per_s as f64,
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
        "  silent stretches over 10 ms after the first sound: {dropouts} (longest {:.1} ms; dead air between recordings is silence by design when no speaker plays)",
        longest_zero_run as f64 * 1000.0 / CAP_RATE_HZ as f64
    );
    println!(
        "  local stream: underruns {}, late blocks {}",
        status["stream"]["underruns"], status["stream"]["late_blocks"]
    );
}
