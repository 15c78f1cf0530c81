//! Upload benchmark: the time to answer `PATCH envelopes/:id/` (HTTP on loopback included,
//! all renditions written and fsynced) for a 30 s mono 44.1 kHz WAV and a 30 s M4A (AAC,
//! made with ffmpeg), against an in-process daemon built with the bench (release) profile.
//!
//! Run: `cargo bench --bench upload` (option after `--`: `--runs N`, default 10). Prints the
//! median and maximum per input. Goal: ≤ 1.0 s each on one x86 core.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize);
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[log]\nlevel = \"warn\"\n\
         [limits]\nuploads_per_ip_per_min = 1000000\n",
        dir.path().display()
    );
    let config =
        roundwared::config::Config::from_toml_str(&text, Path::new("bench.toml")).expect("config");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let wav = wav_30s();
    let m4a = m4a_30s();
    runtime.block_on(async move {
        let daemon = roundwared::Daemon::start(config).await.expect("daemon");
        let base = format!("http://{}", daemon.local_addr().expect("addr"));
        daemon
            .store()
            .write(|tx| {
                tx.execute_batch(
                    "INSERT INTO projects (id, name, latitude, longitude, pub_date)
                       VALUES (1, 'bench', 0, 0, '2020-01-01T00:00:00');
                     INSERT INTO sessions (id, starttime, project_id, language_id)
                       VALUES (1, '2020-01-01T00:00:00', 1, 1);",
                )?;
                Ok(())
            })
            .await
            .expect("seed");
        tokio::spawn(daemon.run(std::future::pending()));
        let client = reqwest::Client::new();
        println!("roundwared upload: {runs} runs per input, HTTP on loopback, all renditions");
        for (what, bytes, name) in [
            ("30 s mono 44.1 kHz WAV", &wav, "blob"),
            (
                "30 s mono 44.1 kHz M4A (AAC 64k)",
                &m4a,
                "recording-1-1.m4a",
            ),
        ] {
            let mut times = Vec::new();
            for _ in 0..runs {
                let e: serde_json::Value = client
                    .post(format!("{base}/api/2/envelopes/"))
                    .json(&serde_json::json!({"session_id": 1}))
                    .send()
                    .await
                    .expect("envelope")
                    .json()
                    .await
                    .expect("json");
                let form = reqwest::multipart::Form::new()
                    .part(
                        "file",
                        reqwest::multipart::Part::bytes(bytes.clone()).file_name(name),
                    )
                    .text("session_id", "1")
                    .text("latitude", "0")
                    .text("longitude", "0");
                let start = Instant::now();
                let r = client
                    .patch(format!("{base}/api/2/envelopes/{}/", e["id"]))
                    .multipart(form)
                    .send()
                    .await
                    .expect("upload");
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                times.push(start.elapsed());
                assert!(status.is_success(), "{status}: {body}");
            }
            times.sort();
            let median = times[times.len() / 2];
            let max = times[times.len() - 1];
            println!(
                "  {what:<34} median {:>7.1} ms   max {:>7.1} ms   ({} KB)",
                ms(median),
                ms(max),
                bytes.len() / 1024
            );
        }
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// 30 s of a gliding tone with noise, mono 16-bit 44.1 kHz.
fn wav_30s() -> Vec<u8> {
    let mut noise = common::noise(1);
    common::mono_wav(30.0, |t| {
        0.4 * (t * (300.0 + 20.0 * t) * std::f64::consts::TAU).sin() + 0.1 * noise()
    })
}

/// 30 s AAC in M4A from ffmpeg (as the iOS client records: mono).
fn m4a_30s() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("b.m4a");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=330:sample_rate=44100:duration=30")
        .args(["-ac", "1", "-c:a", "aac", "-b:a", "64k"])
        .arg(&out)
        .status()
        .expect("ffmpeg installed (tests/install-deps.sh)");
    assert!(status.success());
    std::fs::read(out).expect("m4a")
}
