//! Ingest memory benchmark: the peak resident memory (`VmHWM` of `/proc/<pid>/status`) of the
//! release `roundwared` while it ingests decompression bombs and large WAVs, one fresh daemon
//! per scenario, every upload anonymous over HTTP on loopback (`PATCH envelopes/:id/`):
//!
//! * a 112 KB Ogg Vorbis of 899 s stereo 48 kHz silence (`ffmpeg -f lavfi -i
//!   anullsrc=r=48000:cl=stereo -t 899 -c:a libvorbis -q:a 0`), alone and 4 in parallel;
//! * the same silence as FLAC;
//! * 16 × a 60 MB WAV (680 s mono 44.1 kHz 16-bit) in parallel, with
//!   `[limits] max_uploads_waiting = 16` so that all of them are admitted.
//!
//! Run: `cargo bench --bench ingest` (needs ffmpeg with libvorbis). Prints, per scenario, the
//! answers, the slowest answer, the idle RSS after start and the peak RSS, and the growth over
//! idle. Goal (issue 15): peak ≤ 150 MB over idle on x86.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;

mod common;

const GOAL_OVER_IDLE_MB: f64 = 150.0;

fn main() {
    let inputs = tempfile::tempdir().expect("temp dir");
    let ogg = Bytes::from(ffmpeg_silence(
        inputs.path(),
        "ogg",
        &["-c:a", "libvorbis", "-q:a", "0"],
    ));
    let flac = Bytes::from(ffmpeg_silence(inputs.path(), "flac", &["-c:a", "flac"]));
    let wav = Bytes::from(wav_680s());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    println!("roundwared ingest memory: fresh release daemon per scenario, peak = VmHWM");
    println!(
        "{:<40} {:>9} {:>10} {:>9} {:>9} {:>10}",
        "scenario", "answers", "slowest s", "idle MB", "peak MB", "over idle"
    );
    let scenarios: [(&str, &Bytes, &str, usize); 4] = [
        ("Ogg bomb (112 KB → 899 s stereo)", &ogg, "bomb.ogg", 1),
        ("FLAC bomb (899 s stereo)", &flac, "bomb.flac", 1),
        ("4 × Ogg bomb in parallel", &ogg, "bomb.ogg", 4),
        ("16 × 60 MB WAV (680 s) in parallel", &wav, "long.wav", 16),
    ];
    let mut worst = 0.0f64;
    for (what, body, name, parallel) in scenarios {
        let data = tempfile::tempdir().expect("data dir");
        seed(data.path());
        let server = common::ReleaseServer::start_with_config(
            data.path(),
            &[],
            "[limits]\nmax_uploads_waiting = 16\n",
        );
        runtime.block_on(common::wait_ready(&server.base));
        let idle_kb = server.peak_rss_kb();
        let (answers, slowest_s) =
            runtime.block_on(upload_parallel(&server.base, body, name, parallel));
        let peak_kb = server.peak_rss_kb();
        let over_mb = (peak_kb.saturating_sub(idle_kb)) as f64 / 1024.0;
        worst = worst.max(over_mb);
        println!(
            "{what:<40} {answers:>9} {slowest_s:>10.1} {:>9.1} {:>9.1} {over_mb:>9.1}",
            idle_kb as f64 / 1024.0,
            peak_kb as f64 / 1024.0
        );
    }
    println!(
        "goal ≤ {GOAL_OVER_IDLE_MB} MB over idle: {} (worst {worst:.1} MB)",
        if worst <= GOAL_OVER_IDLE_MB {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// A project and a session, written through the daemon's own store before it starts.
fn seed(dir: &Path) {
    let store = roundwared::testing::store::Store::open(&dir.join("roundwared.sqlite3"))
        .expect("open store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(store.write(|tx| {
        tx.execute_batch(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date)
               VALUES (1, 'bench', 0, 0, '2020-01-01T00:00:00');
             INSERT INTO sessions (id, starttime, project_id, language_id)
               VALUES (1, '2020-01-01T00:00:00', 1, 1);",
        )?;
        Ok(())
    }))
    .expect("seed");
}

/// Uploads `body` into `n` fresh envelopes at once; returns the status codes seen (as
/// `200×4`) and the slowest answer in seconds. Panics on anything but 200.
async fn upload_parallel(base: &str, body: &Bytes, name: &str, n: usize) -> (String, f64) {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (client, base, body, name) = (
            client.clone(),
            base.to_owned(),
            body.clone(),
            name.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let e: serde_json::Value = client
                .post(format!("{base}/api/2/envelopes/"))
                .json(&serde_json::json!({"session_id": 1}))
                .send()
                .await
                .expect("envelope")
                .json()
                .await
                .expect("json");
            let part = reqwest::multipart::Part::stream(reqwest::Body::from(body)).file_name(name);
            let form = reqwest::multipart::Form::new()
                .text("session_id", "1")
                .part("file", part);
            let start = Instant::now();
            let r = client
                .patch(format!("{base}/api/2/envelopes/{}/", e["id"]))
                .multipart(form)
                .send()
                .await
                .expect("upload");
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            assert!(status.is_success(), "{status}: {text}");
            (status.as_u16(), start.elapsed().as_secs_f64())
        }));
    }
    let mut slowest = 0.0f64;
    let mut codes = Vec::new();
    for t in tasks {
        let (code, s) = t.await.expect("task");
        slowest = slowest.max(s);
        codes.push(code);
    }
    codes.dedup();
    (
        format!("{}×{n}", codes.first().copied().unwrap_or(0)),
        slowest,
    )
}

/// 899 s of stereo 48 kHz digital silence encoded by ffmpeg with `args`.
fn ffmpeg_silence(dir: &Path, ext: &str, args: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("bomb.{ext}"));
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000:cl=stereo",
        ])
        .args(["-t", "899"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg installed (tests/install-deps.sh)");
    assert!(status.success(), "ffmpeg {args:?}");
    std::fs::read(out).expect("bomb")
}

/// 680 s of a quiet tone with noise, mono 16-bit 44.1 kHz: 59,976,044 bytes.
fn wav_680s() -> Vec<u8> {
    let mut noise = common::noise(7);
    common::mono_wav(680.0, |t| {
        0.3 * (t * 330.0 * std::f64::consts::TAU).sin() + 0.05 * noise()
    })
}
