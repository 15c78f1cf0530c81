//! Stream engine benchmark: the standard scene (the demo project's 2 audiotracks and 2 looping
//! speakers, grown to 40 assets), listeners moving, against the release binary on loopback.
//!
//! Reports, in one run:
//! * LAME alone: real-time factor of the encoder on one core, and the stream count that
//!   implies on the machine's cores (the ceiling the engine is measured against);
//! * first audio byte after `POST streams/` (median and worst of 10);
//! * for a rising number of concurrent 128 kbps streams, each with an HTTP client reading
//!   and its listener moving every 2 s: daemon CPU, underruns and late blocks (from the staff
//!   status route), PATCH round trip and command latency, resident memory per stream;
//! * CPU per stream-second of the engine side by side with an ffmpeg pipeline doing the same
//!   4-source mix (amix, pan, volume, libmp3lame 128k at LAME's default quality).
//!
//! `cargo bench --bench engine -- --steps 20,60,100,140 --seconds 15`; with `--baseline PATH`
//! (an older release binary) the scene runs again on it, and the figures stand side by side;
//! `--baseline-first` runs the older binary first.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{MANY_PHONES_HTTP, MANY_PHONES_LIMITS, ReleaseServer, wait_ready};
use serde_json::{Value, json};

const TICKS_PER_S: f64 = 100.0;

/// CPU seconds from a `/proc/.../stat` file: fields 14+15 (utime, stime) of the process, or
/// 16+17 (cutime, cstime) for its waited-for children.
fn stat_cpu_s(path: &str, children: bool) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let first = if children { 13 } else { 11 };
    (t(first) + t(first + 1)) / TICKS_PER_S
}

fn cpu_s(pid: u32) -> f64 {
    stat_cpu_s(&format!("/proc/{pid}/stat"), false)
}

fn children_cpu_s() -> f64 {
    stat_cpu_s("/proc/self/stat", true)
}

/// `--baseline PATH`: another `roundwared` binary (an older build) run through the same scene
/// after this one, so both are measured in one run on the same machine.
fn baseline() -> Option<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
}

fn steps() -> Vec<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![20, 60, 100, 140, 160])
}

/// Seeds the demo project, grows it to 40 assets (copies of the demo recordings under their
/// own names, so each is decoded and held separately), and adds a staff user.
async fn prepare(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    let store = roundwared::testing::store::Store::open(&dir.join("roundwared.sqlite3")).unwrap();
    roundwared::seed_if_empty(&store, &media).await.unwrap();
    let rows: Vec<(i64, String)> = store
        .read(|c| {
            let mut st = c.prepare("SELECT id, filename FROM assets ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .unwrap();
    let mut copies = Vec::new();
    for n in rows.len()..40 {
        let (id, name) = &rows[n % rows.len()];
        let copy = format!("bench-{n}-{name}");
        std::fs::copy(media.join(name), media.join(&copy)).unwrap();
        copies.push((*id, copy));
    }
    store
        .write(move |tx| {
            for (id, copy) in &copies {
                tx.execute(
                    "INSERT INTO assets (session_id, user_id, latitude, longitude, shape, filename, file, volume,
                        submitted, project_id, created, updated, audiolength, start_time, end_time, language_id,
                        weight, mediatype, description)
                     SELECT session_id, user_id, latitude + 0.0002 * (random() % 5), longitude, shape, ?2, file, volume,
                        submitted, project_id, created, updated, audiolength, start_time, end_time, language_id,
                        weight, mediatype, description FROM assets WHERE id = ?1",
                    rusqlite::params![id, copy],
                )?;
                let new_id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO asset_tags SELECT ?2, tag_id FROM asset_tags WHERE asset_id = ?1",
                    rusqlite::params![id, new_id],
                )?;
            }
            let hash = roundwared::testing::users::hash_password("bench-password").unwrap();
            roundwared::testing::store::users::upsert_login(tx, "bench", &hash, true)?;
            Ok(())
        })
        .await
        .unwrap();
    let beds: Vec<PathBuf> = store
        .read(|c| {
            let mut st = c.prepare("SELECT uri FROM speakers ORDER BY id")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|u| media.join(u.trim_start_matches("/rwmedia/")))
        .collect();
    let assets: Vec<PathBuf> = rows.iter().take(2).map(|(_, f)| media.join(f)).collect();
    drop(store);
    (media, [beds, assets].concat())
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("token {t}"));
        }
        let resp = req.send().await.expect("request");
        resp.json().await.unwrap_or(Value::Null)
    }

    /// A new listener: user, session and stream; returns (token, session id, stream url).
    async fn listener(&self, n: usize) -> (String, i64, String) {
        let user = self
            .call(reqwest::Method::POST, "/api/2/users/", None, json!({"device_id": format!("bench-{n}-{}", rand_suffix()), "client_type": "bench"}))
            .await;
        let token = user["token"]
            .as_str()
            .unwrap_or_else(|| panic!("users/: {user}"))
            .to_string();
        let session = self
            .call(
                reqwest::Method::POST,
                "/api/2/sessions/",
                Some(&token),
                json!({"project_id": 1}),
            )
            .await;
        let sid = session["id"].as_i64().unwrap();
        let (lat, lon) = walk(n, 0);
        let stream = self
            .call(
                reqwest::Method::POST,
                "/api/2/streams/",
                Some(&token),
                json!({"session_id": sid, "latitude": lat, "longitude": lon}),
            )
            .await;
        let url = stream["stream_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{stream}"))
            .to_string();
        (token, sid, url)
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A walk through the demo project: a circle of 100 m radius through both speaker zones.
fn walk(n: usize, step: usize) -> (f64, f64) {
    let angle = (n as f64 * 0.7 + step as f64 * 0.05) % std::f64::consts::TAU;
    (
        42.3551 + 0.0009 * angle.sin(),
        -71.0656 + 0.0012 * angle.cos(),
    )
}

/// Reads a stream until `stop`, counting bytes.
async fn read_stream(url: String, stop: tokio::sync::watch::Receiver<bool>) -> u64 {
    let Ok(mut resp) = reqwest::get(&url).await else {
        return 0;
    };
    let mut bytes = 0;
    loop {
        if *stop.borrow() {
            return bytes;
        }
        match tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await {
            Ok(Ok(Some(c))) => bytes += c.len() as u64,
            Ok(_) => return bytes,
            Err(_) => {}
        }
    }
}

fn lame_alone() -> f64 {
    let mut enc = roundwared::testing::output::mp3::Mp3Encoder::new(128).unwrap();
    let seconds = 60.0;
    let frames = (44_100.0 * seconds) as usize;
    let mut x = 1u32;
    let pcm: Vec<f32> = (0..frames * 2)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ((i as f32 * 0.01).sin() * 0.3) + (x as f32 / u32::MAX as f32 - 0.5) * 0.1
        })
        .collect();
    let mut out = Vec::new();
    let t = Instant::now();
    for block in pcm.chunks(441 * 2) {
        enc.encode(block, &mut out).unwrap();
    }
    seconds / t.elapsed().as_secs_f64()
}

fn ffmpeg_cpu_per_stream_second(sources: &[PathBuf]) -> Option<f64> {
    let seconds = 60;
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin", "-y"]);
    for s in sources.iter().take(4) {
        cmd.args(["-stream_loop", "-1", "-i"]).arg(s);
    }
    let filter = "[0:a]aresample=44100,volume=0.8,pan=stereo|c0=c0|c1=c0[a0];\
                  [1:a]aresample=44100,volume=0.5,pan=stereo|c0=c0|c1=c0[a1];\
                  [2:a]aresample=44100,volume=0.9,pan=stereo|c0=0.9*c0|c1=0.4*c0[a2];\
                  [3:a]aresample=44100,volume=0.7,pan=stereo|c0=0.4*c0|c1=0.9*c0[a3];\
                  [a0][a1][a2][a3]amix=inputs=4:normalize=0[out]";
    cmd.args([
        "-filter_complex",
        filter,
        "-map",
        "[out]",
        "-t",
        &seconds.to_string(),
    ])
    .args([
        "-ac",
        "2",
        "-ar",
        "44100",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        "-f",
        "mp3",
        "/dev/null",
    ]);
    let before = children_cpu_s();
    let status = cmd.status().ok()?;
    if !status.success() {
        eprintln!("ffmpeg failed: {status}");
        return None;
    }
    Some((children_cpu_s() - before) / f64::from(seconds))
}

/// One binary under the standard scene: first-byte latency, then each step of concurrent
/// streams; returns (streams, CPU cores used, underruns) per step.
async fn scene(bin: &Path, label: &str, dir: &Path, seconds: f64) -> Vec<(usize, f64, u64)> {
    let server = ReleaseServer::start_binary(bin, dir, MANY_PHONES_HTTP, MANY_PHONES_LIMITS, &[]);
    wait_ready(&server.base).await;
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let login = client
        .call(
            reqwest::Method::POST,
            "/api/2/login/",
            None,
            json!({"username": "bench", "password": "bench-password"}),
        )
        .await;
    let staff = login["token"].as_str().unwrap().to_string();

    // First audio byte after POST streams/.
    let mut firsts = Vec::new();
    for n in 0..10 {
        let t = Instant::now();
        let (token, sid, url) = client.listener(10_000 + n).await;
        let mut resp = reqwest::get(&url).await.unwrap();
        resp.chunk().await.unwrap();
        firsts.push(t.elapsed().as_secs_f64() * 1000.0);
        client
            .call(
                reqwest::Method::POST,
                &format!("/api/2/streams/{sid}/kill/"),
                Some(&token),
                json!({}),
            )
            .await;
    }
    firsts.sort_by(f64::total_cmp);
    println!(
        "{label}: first audio byte after POST streams/ (includes creating user and session): median {:.0} ms, worst {:.0} ms",
        firsts[firsts.len() / 2],
        firsts[firsts.len() - 1]
    );

    let idle_rss = server.rss_kb();
    println!("{label}: idle RSS {:.1} MB", idle_rss as f64 / 1024.0);
    println!(
        "{:>8} {:>9} {:>11} {:>9} {:>11} {:>12} {:>12} {:>12} {:>10}",
        "streams",
        "cpu %",
        "cpu-s/str-s",
        "underruns",
        "late blocks",
        "PATCH p99 ms",
        "cmd max ms",
        "KB/s/client",
        "RSS MB"
    );
    let mut listeners: Vec<(String, i64)> = Vec::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    let mut per_step: Vec<(usize, f64, u64)> = Vec::new();
    for target in steps() {
        while listeners.len() < target {
            let (token, sid, url) = client.listener(listeners.len()).await;
            readers.push(tokio::spawn(read_stream(url, stop_rx.clone())));
            listeners.push((token, sid));
        }
        tokio::time::sleep(Duration::from_secs(3)).await; // settle
        let status0 = client
            .call(
                reqwest::Method::GET,
                "/api/2/streams/status/",
                Some(&staff),
                json!(null),
            )
            .await;
        let sum = |v: &Value, k: &str| -> u64 {
            v["streams"]
                .as_array()
                .map(|a| a.iter().map(|s| s[k].as_u64().unwrap_or(0)).sum())
                .unwrap_or(0)
        };
        let (u0, l0) = (sum(&status0, "underruns"), sum(&status0, "late_blocks"));
        let cpu0 = cpu_s(server.pid());
        let t0 = Instant::now();
        let mut patch_ms = Vec::new();
        let mut step = 0;
        while t0.elapsed().as_secs_f64() < seconds {
            step += 1;
            let tick = Instant::now();
            // Each listener moves every 2 s (half of them per second).
            for (i, (token, sid)) in listeners
                .iter()
                .enumerate()
                .filter(|(i, _)| (i + step) % 2 == 0)
            {
                let (lat, lon) = walk(i, step);
                let t = Instant::now();
                client
                    .call(
                        reqwest::Method::PATCH,
                        &format!("/api/2/streams/{sid}/"),
                        Some(token),
                        json!({"latitude": lat, "longitude": lon}),
                    )
                    .await;
                patch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            if let Some(rest) = Duration::from_secs(1).checked_sub(tick.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
        let window = t0.elapsed().as_secs_f64();
        let cpu = cpu_s(server.pid()) - cpu0;
        let status = client
            .call(
                reqwest::Method::GET,
                "/api/2/streams/status/",
                Some(&staff),
                json!(null),
            )
            .await;
        let underruns = sum(&status, "underruns") - u0;
        let late = sum(&status, "late_blocks") - l0;
        let cmd_max = status["streams"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["command_latency_max_ms"].as_f64().unwrap_or(0.0))
                    .fold(0.0, f64::max)
            })
            .unwrap_or(0.0);
        let running = status["streams"].as_array().map(Vec::len).unwrap_or(0);
        patch_ms.sort_by(f64::total_cmp);
        let p99 = patch_ms
            .get(patch_ms.len() * 99 / 100)
            .copied()
            .unwrap_or(0.0);
        let rss = server.rss_kb();
        let cps = cpu / (window * target as f64);
        per_step.push((target, cpu / window, underruns));
        println!(
            "{target:>8} {:>9.1} {cps:>11.4} {underruns:>9} {late:>11} {p99:>12.1} {cmd_max:>12.1} {:>12.1} {:>10.1}  ({running} running)",
            cpu / window * 100.0,
            16.0,
            rss as f64 / 1024.0,
        );
        println!(
            "         RSS per stream so far: {:.2} MB",
            (rss.saturating_sub(idle_rss)) as f64 / 1024.0 / target as f64
        );
    }
    let _ = stop_tx.send(true);
    let mut total = 0;
    for r in readers {
        total += r.await.unwrap_or(0);
    }
    println!(
        "{label}: clients received {:.1} MB in all",
        total as f64 / 1e6
    );
    per_step
}

fn main() {
    let seconds = common::arg("--seconds", 15) as f64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_media, sources) = prepare(dir.path()).await;
        let lame_x = lame_alone();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        println!("LAME alone (128 kbps, default quality): {lame_x:.0}x real time per core -> about {:.0} streams on {cores} cores", lame_x * cores as f64);

        let mut servers = vec![("this build".to_string(), PathBuf::from(env!("CARGO_BIN_EXE_roundwared")), dir.path().to_path_buf())];
        let old_dir = tempfile::tempdir().unwrap();
        if let Some(old) = baseline() {
            prepare(old_dir.path()).await;
            servers.push((format!("baseline {}", old.display()), old, old_dir.path().to_path_buf()));
            // The second binary runs on a warmer, busier machine: `--baseline-first` swaps
            // the order, so two runs with opposite orders show (and cancel) that effect.
            if std::env::args().any(|a| a == "--baseline-first") {
                servers.reverse();
            }
        }
        let mut runs = Vec::new();
        for (label, bin, data) in &servers {
            runs.push((label.clone(), scene(bin, label, data, seconds).await));
        }
        runs.sort_by_key(|(label, _)| label != "this build");
        let Some(ff) = ffmpeg_cpu_per_stream_second(&sources) else {
            return;
        };
        println!("ffmpeg pipeline (4-source mix, libmp3lame 128k): {ff:.4} CPU-s per stream-second");
        for (label, per_step) in &runs {
            for (n, cores, _) in per_step {
                let ours = cores / *n as f64;
                println!("  {label}, {n:>4} streams: {ours:.4} CPU-s per stream-second (whole daemon / streams) -> {:.2}x ffmpeg", ours / ff);
            }
        }
        let per_step = &runs[0].1;
        let ok: Vec<_> = per_step.iter().filter(|s| s.2 == 0).collect();
        if let (Some(a), Some(b)) = (ok.first(), ok.last())
            && b.0 > a.0
        {
            let marginal = (b.1 - a.1) / (b.0 - a.0) as f64;
            println!(
                "  marginal cost of a stream ({}..{} streams): {marginal:.4} CPU-s per stream-second -> {:.2}x ffmpeg",
                a.0, b.0, marginal / ff
            );
        }
    });
}
