//! Load benchmark of the api/2 hot paths: the release `roundwared` binary serving a database
//! with 1,000 assets in one project on loopback, driven by 32 concurrent keep-alive
//! connections from this process, each from its own loopback address (127.0.2.x).
//!
//! Run: `cargo bench --bench api_load` (options after `--`: `--seconds N`, `--connections N`,
//! `--baseline PATH`, `--rounds N`). It prints requests/s and latency percentiles per
//! endpoint, and the server's resident memory when idle and after the load.
//!
//! With `--baseline PATH` (another `roundwared` binary, e.g. the release build of an older
//! commit) both servers run side by side on their own copies of the data, and each endpoint is
//! loaded `--rounds` times (default 3) on each, alternating which goes first, so both see the
//! same machine; the medians over the rounds are printed with the difference in req/s and in
//! server CPU time per request (user + system from `/proc/<pid>/stat`, 10 ms ticks), which the
//! other jobs on a shared machine disturb far less than throughput.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

const ASSETS: usize = 1_000;
const TOKEN: &str = "bench0000000000000000000000000000000000";

const ENDPOINTS: [(&str, bool); 5] = [
    ("/api/2/projects/1/assets/", false),
    ("/api/2/assets/?project_id=1&submitted=true", false),
    ("/api/2/projects/1/assets/", true),
    ("/api/2/assets/?project_id=1&submitted=true", true),
    ("/api/2/sessions/1/", false),
];

fn main() {
    let seconds = common::arg("--seconds", 10);
    let connections = common::arg("--connections", 32) as usize;
    let args: Vec<String> = std::env::args().collect();
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let rounds = common::arg("--rounds", if baseline.is_some() { 3 } else { 1 }).max(1) as usize;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut dirs = Vec::new();
    let mut servers = Vec::new();
    let mut labels = vec!["this build".to_string()];
    let dir = tempfile::tempdir().expect("temp dir");
    seed(dir.path());
    servers.push(common::ReleaseServer::start(dir.path()));
    dirs.push(dir);
    if let Some(bin) = &baseline {
        let dir = tempfile::tempdir().expect("temp dir");
        seed(dir.path());
        servers.push(common::ReleaseServer::start_binary(
            bin,
            dir.path(),
            "",
            "",
            &[],
        ));
        dirs.push(dir);
        labels.push(format!("baseline {}", bin.display()));
    }
    for server in &servers {
        runtime.block_on(common::wait_ready(&server.base));
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle_kb: Vec<u64> = servers.iter().map(common::ReleaseServer::rss_kb).collect();

    println!(
        "roundwared api_load: {ASSETS} assets, {connections} connections, {seconds} s per endpoint, \
         {rounds} round(s) per server"
    );
    println!(
        "{:<48} {:<12} {:>10} {:>9} {:>9} {:>9} {:>10} {:>13}",
        "endpoint", "server", "req/s", "p50 ms", "p99 ms", "max ms", "KB/resp", "server µs/req"
    );
    for (path, gzip) in ENDPOINTS {
        let mut results: Vec<Vec<LoadResult>> = servers.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for k in 0..servers.len() {
                let i = (k + round) % servers.len();
                let cpu_before = cpu_s(servers[i].pid());
                let mut r = runtime.block_on(load(
                    &servers[i].base,
                    path,
                    gzip,
                    connections,
                    Duration::from_secs(seconds),
                ));
                r.server_cpu_us = (cpu_s(servers[i].pid()) - cpu_before) * 1e6 / r.requests;
                results[i].push(r);
            }
        }
        let label = if gzip {
            format!("{path} (gzip)")
        } else {
            path.to_string()
        };
        let medians: Vec<LoadResult> = results.into_iter().map(median).collect();
        for (i, r) in medians.iter().enumerate() {
            let who = if i == 0 { "this build" } else { "baseline" };
            println!(
                "{label:<48} {who:<12} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>10.1} {:>13.1}",
                r.rps,
                r.p50_ms,
                r.p99_ms,
                r.max_ms,
                r.bytes_per_response / 1024.0,
                r.server_cpu_us
            );
        }
        if let [this, base] = medians.as_slice() {
            println!(
                "{:<48} {:<12} {:>+9.1}% {:>53}",
                "",
                "difference",
                (this.rps / base.rps - 1.0) * 100.0,
                format!(
                    "{:+.1}%",
                    (this.server_cpu_us / base.server_cpu_us - 1.0) * 100.0
                )
            );
        }
    }
    for (i, server) in servers.iter().enumerate() {
        println!(
            "{}: resident memory idle {:.1} MB, after load {:.1} MB",
            labels[i],
            idle_kb[i] as f64 / 1024.0,
            server.rss_kb() as f64 / 1024.0
        );
    }
}

/// Per field, the median over rounds.
fn median(mut rounds: Vec<LoadResult>) -> LoadResult {
    let mid = |rounds: &mut Vec<LoadResult>, f: fn(&LoadResult) -> f64| {
        rounds.sort_by(|a, b| f(a).total_cmp(&f(b)));
        f(&rounds[rounds.len() / 2])
    };
    LoadResult {
        rps: mid(&mut rounds, |r| r.rps),
        p50_ms: mid(&mut rounds, |r| r.p50_ms),
        p99_ms: mid(&mut rounds, |r| r.p99_ms),
        max_ms: mid(&mut rounds, |r| r.max_ms),
        bytes_per_response: mid(&mut rounds, |r| r.bytes_per_response),
        requests: mid(&mut rounds, |r| r.requests),
        server_cpu_us: mid(&mut rounds, |r| r.server_cpu_us),
    }
}

/// CPU seconds (user + system) the process has used, from `/proc/<pid>/stat`.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    fields.iter().sum::<f64>() / 100.0
}

/// One project with tags, a session, a token, and 1,000 tagged assets in envelopes, written
/// through the daemon's own store (so the schema is the real one).
/// The data at schema version 1 (the first migration), so an older baseline build serves the
/// same database as this one (which migrates it at start: session 1 then belongs to the bench
/// user, whose device opened it).
fn seed(dir: &Path) {
    let mut conn =
        rusqlite::Connection::open(dir.join("roundwared.sqlite3")).expect("open database");
    conn.execute_batch(include_str!("../../src/store/migrations/0001_init.sql"))
        .expect("schema 1");
    conn.pragma_update(None, "user_version", 1)
        .expect("schema version");
    let seeded: rusqlite::Result<()> = (|| {
        let tx = conn.transaction()?;
        tx.execute_batch(&format!(
            "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'Bench', 42.36, -71.06, '2026-01-01T00:00:00.000000');
             INSERT INTO project_languages VALUES (1, 1);
             INSERT INTO users (id, username, date_joined, device_id, client_type) VALUES (1, 'bench', '2026-01-01T00:00:00', 'bench-device', 'bench');
             INSERT INTO tokens (key, user_id, created) VALUES ('{TOKEN}', 1, '2026-01-01T00:00:00');
             INSERT INTO sessions (id, device_id, starttime, project_id, language_id) VALUES (1, 'bench-device', '2026-01-01T00:00:00', 1, 1);
             INSERT INTO tag_categories (id, name) VALUES (1, 'mood'), (2, 'voice');
             INSERT INTO tags (id, project_id, tag_category_id, value) VALUES (1, 1, 1, 'calm'), (2, 1, 1, 'busy'), (3, 1, 2, 'child'), (4, 1, 2, 'adult');"
        ))?;
        let mut asset = tx.prepare(
            "INSERT INTO assets (id, session_id, user_id, latitude, longitude, filename, file, volume, submitted, project_id,
                                 created, updated, audiolength, start_time, end_time, language_id, mediatype, description)
             VALUES (?1, 1, 1, ?2, ?3, ?4, ?5, 1.0, ?6, 1, ?7, ?7, ?8, 0, ?9, 1, 'audio', ?10)",
        )?;
        let mut tag = tx.prepare("INSERT INTO asset_tags VALUES (?1, ?2)")?;
        let mut env =
            tx.prepare("INSERT INTO envelopes (id, session_id, created) VALUES (?1, 1, ?2)")?;
        let mut link = tx.prepare("INSERT INTO envelope_assets VALUES (?1, ?1)")?;
        for i in 1..=ASSETS as i64 {
            let created = format!(
                "2026-01-{:02}T{:02}:{:02}:00.000000",
                1 + i % 28,
                i % 24,
                i % 60
            );
            let seconds = 5 + i % 55;
            asset.execute(rusqlite::params![
                i,
                42.36 + (i as f64) * 1e-5,
                -71.06 - (i as f64) * 1e-5,
                format!("20260101-000000-{i}.mp3"),
                format!("20260101-000000-{i}.wav"),
                i % 10 != 0,
                created,
                seconds * 1_000_000_000,
                seconds as f64,
                format!("Recording number {i} from the bench walk"),
            ])?;
            env.execute(rusqlite::params![i, created])?;
            link.execute([i])?;
            tag.execute([i, 1 + i % 2])?;
            tag.execute([i, 3 + i % 2])?;
        }
        drop((asset, tag, env, link));
        tx.commit()
    })();
    seeded.expect("seed");
}

struct LoadResult {
    /// Completed requests.
    requests: f64,
    /// Server CPU (user + system) per completed request, in microseconds.
    server_cpu_us: f64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    bytes_per_response: f64,
}

/// Drives `path` from `connections` keep-alive clients for `duration`; with `gzip` the
/// clients ask for (and count) the compressed body, as browsers and iOS do.
async fn load(
    base: &str,
    path: &str,
    gzip: bool,
    connections: usize,
    duration: Duration,
) -> LoadResult {
    let encoding = if gzip { "gzip" } else { "identity" };
    let url = format!("{base}{path}");
    // Warm up (and check the endpoint answers 200).
    let probe = reqwest::Client::new();
    let r = probe
        .get(&url)
        .header("Authorization", format!("token {TOKEN}"))
        .send()
        .await
        .expect("probe");
    assert!(r.status().is_success(), "{path} -> {}", r.status());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..connections {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            // One client per task: one keep-alive connection each, like 32 separate phones,
            // each from its own loopback address (127.0.2.x) as phones on the Wi-Fi are, so the
            // per-address connection cap is in place but not what is measured.
            let phone = Ipv4Addr::new(127, 0, 2 + (i / 250) as u8, 1 + (i % 250) as u8);
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .local_address(IpAddr::V4(phone))
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            let mut bytes = 0usize;
            while start.elapsed() < duration {
                let t0 = Instant::now();
                let resp = client
                    .get(&url)
                    .header("Authorization", format!("token {TOKEN}"))
                    .header("Accept-Encoding", encoding)
                    .send()
                    .await;
                if let Ok(mut resp) = resp {
                    // Drain the body chunk by chunk: counting, not collecting, keeps the
                    // load generator's own CPU use (it shares the 2 cores) low.
                    let mut complete = true;
                    loop {
                        match resp.chunk().await {
                            Ok(Some(chunk)) => bytes += chunk.len(),
                            Ok(None) => break,
                            Err(_) => {
                                complete = false;
                                break;
                            }
                        }
                    }
                    if complete {
                        latencies.push(t0.elapsed());
                    }
                }
            }
            (latencies, bytes)
        }));
    }
    let mut all = Vec::new();
    let mut bytes = 0usize;
    for t in tasks {
        let (l, b) = t.await.unwrap();
        all.extend(l);
        bytes += b;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    LoadResult {
        requests: all.len() as f64,
        server_cpu_us: 0.0,
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        bytes_per_response: bytes as f64 / all.len().max(1) as f64,
    }
}
