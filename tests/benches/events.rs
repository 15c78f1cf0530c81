//! Event stream benchmark (issue 14): App.net-style streams at `/stream/0/streams/{id}/events`
//! served by the release `roundwared` binary (`serve --demo`, the demo project 1) on loopback,
//! driven from this process. Three phases, each printed as a table with issue 14's target:
//!
//! 1. **Latency.** `--consumers` (50) streams following every object type, each read by its
//!    own connection; a staff client PATCHes an asset's description `--latency-rate` (20)
//!    times a second for `--seconds` (10). Per frame: arrival wall clock (ms) minus its
//!    `meta.timestamp` (the server's wall clock at commit, same machine). Frames expected are
//!    the outbox rows written in the window (read from the server's SQLite file) times the
//!    consumers. Target: p99 ≤ 50 ms.
//! 2. **Write path and the outbox.** Three servers side by side, each on its own data: events
//!    on with the consumers connected, events on with none, `[events] enabled = false`. On
//!    each, `--writers` (16) clients repeat the api/2 write mix (register a device → open a
//!    session → vote on an asset; each request one op) for `--seconds`, `--rounds` (3) times,
//!    alternating which server goes first. Printed: median ops/s and server CPU ms per op
//!    (user + system from `/proc/<pid>/stat`, 10 ms ticks, which the other jobs of a shared
//!    machine disturb far less than throughput), and the difference with events off.
//!    Target: the write path ≤ 10 % slower with the outbox on. Then a **sustained run** on the
//!    server with consumers: staff PATCHes and visitors' votes paced to `--rate` (500)
//!    changes/s for `--seconds`; printed: the achieved rate, server CPU in % of one core, and
//!    for every consumer whether it received every change written (outbox ids, none missing).
//! 3. **Idle connections and refusal.** A fresh server with `[events] max_connections` =
//!    `--idle` (1000): that many streams, then as many idle event connections from raw
//!    sockets (request written, response head read, held); server RSS before and after (2 s
//!    settle): KB per connection, target ≤ 20 KB. Then `--refuse` (10,000) more connections,
//!    all held open at once, each classified: 503 `too-many-connections`, closed at accept
//!    (the `[http] max_connections` cap), or anything else; then `GET /api/2/projects/1/`
//!    must still answer.
//!
//! Run: `cargo bench --bench events` (options after `--`: `--consumers N`, `--seconds N`,
//! `--rate N`, `--idle N`, `--rounds N`, `--refuse N`, `--writers N`, `--latency-rate N`,
//! `--only latency|throughput|idle`). The machine's cores are shared by the servers and this
//! driver (its consumers parse every frame in phases 1 and 2b, and count lines in 2a).

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

mod common;

/// Every object type a stream can follow (`crate::store::outbox::OBJECT_TYPES`).
const ALL_TYPES: [&str; 10] = [
    "asset",
    "envelope",
    "vote",
    "listenevent",
    "session",
    "event",
    "speaker",
    "project",
    "tag",
    "stream",
];
/// The latency target of issue 14 (p99, ms).
const TARGET_P99_MS: f64 = 50.0;
/// The write-path target: at most this much slower with the outbox on (%).
const TARGET_SLOWDOWN_PCT: f64 = 10.0;
/// The idle-connection memory target (KB per connection).
const TARGET_KB_PER_CONNECTION: f64 = 20.0;

/// Command-line options.
struct Opts {
    consumers: usize,
    seconds: u64,
    rate: u64,
    idle: usize,
    rounds: usize,
    refuse: usize,
    writers: usize,
    latency_rate: u64,
    only: Option<String>,
}

impl Opts {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().collect();
        Self {
            consumers: common::arg("--consumers", 50).max(1) as usize,
            seconds: common::arg("--seconds", 10).max(1),
            rate: common::arg("--rate", 500).max(1),
            idle: common::arg("--idle", 1000).max(1) as usize,
            rounds: common::arg("--rounds", 3).max(1) as usize,
            refuse: common::arg("--refuse", 10_000) as usize,
            writers: common::arg("--writers", 16).max(1) as usize,
            latency_rate: common::arg("--latency-rate", 20).max(1),
            only: args
                .iter()
                .position(|a| a == "--only")
                .and_then(|i| args.get(i + 1))
                .cloned(),
        }
    }

    fn runs(&self, phase: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == phase)
    }
}

fn main() {
    let o = Opts::parse();
    let files = common::raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "roundwared events: {} consumers, {} s windows, {} rounds, sustained {} changes/s, \
         {} idle connections, {} refused attempts (open-file limit of this process: {})",
        o.consumers,
        o.seconds,
        o.rounds,
        o.rate,
        o.idle,
        o.refuse,
        files.map_or("unknown".into(), |f| f.to_string())
    );
    if o.runs("latency")
        && let Err(e) = runtime.block_on(latency(&o))
    {
        println!("\n1. latency: FAILED: {e}");
    }
    if o.runs("throughput")
        && let Err(e) = runtime.block_on(throughput(&o))
    {
        println!("\n2. write path: FAILED: {e}");
    }
    if o.runs("idle")
        && let Err(e) = runtime.block_on(idle(&o))
    {
        println!("\n3. idle connections: FAILED: {e}");
    }
}

// ------------------------------------------------------------------------------------------
// Phase 1: latency

async fn latency(o: &Opts) -> Result<(), String> {
    let tables = format!("[events]\nmax_streams_per_token = {}\n", o.consumers + 10);
    let b = Booted::start(&tables).await?;
    let streams = b.create_streams(o.consumers).await?;
    let crowd = Crowd::connect(&b, &streams, Mode::Record, false).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let head0 = outbox_head(b.dir.path())?;
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / o.latency_rate as f64));
    let end = Instant::now() + Duration::from_secs(o.seconds);
    let (mut patches, mut errors, mut first_error) = (0u64, 0u64, None);
    let mut response_ms = Vec::new();
    let asset = b.assets[0];
    while Instant::now() < end {
        tick.tick().await;
        let t0 = Instant::now();
        let body = json!({"description": format!("latency probe {patches}")});
        match b
            .staff(
                &client,
                Method::PATCH,
                &format!("/api/2/assets/{asset}/"),
                body,
            )
            .await
        {
            Ok(_) => {
                patches += 1;
                response_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let head1 = outbox_head(b.dir.path())?;
    let tallies = crowd.finish().await;
    let expected = outbox_ids(b.dir.path(), head0, head1)?;
    let check = Completeness::of(&tallies, &expected);

    println!(
        "\n1. latency: {} consumers (every object type), {} staff PATCHes/s of an asset's \
         description for {} s",
        o.consumers, o.latency_rate, o.seconds
    );
    row("PATCHes done / failed", format!("{patches} / {errors}"), "");
    if let Some(e) = first_error {
        row("first failure", e, "");
    }
    row(
        "PATCH response ms p50 / p99",
        format!(
            "{:.1} / {:.1}",
            pct(&mut response_ms, 0.5),
            pct(&mut response_ms, 0.99)
        ),
        "",
    );
    row(
        "changes written (outbox rows)",
        expected.len().to_string(),
        "",
    );
    check.print();
    let mut lat = check.latencies_ms;
    let p99 = pct(&mut lat, 0.99);
    row(
        "latency ms p50 / p99 / max",
        format!(
            "{:.1} / {:.1} / {:.1}",
            pct(&mut lat, 0.5),
            p99,
            pct(&mut lat, 1.0)
        ),
        &verdict(
            !lat.is_empty() && p99 <= TARGET_P99_MS,
            &format!("p99 ≤ {TARGET_P99_MS} ms"),
        ),
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Phase 2: the write path with and without the outbox, and a sustained rate

async fn throughput(o: &Opts) -> Result<(), String> {
    let on = format!("[events]\nmax_streams_per_token = {}\n", o.consumers + 10);
    let variants = [
        (format!("events on, {} consumers", o.consumers), on.clone()),
        ("events on, no consumers".to_string(), on),
        (
            "events off".to_string(),
            "[events]\nenabled = false\n".to_string(),
        ),
    ];
    let mut servers = Vec::new();
    for (label, tables) in &variants {
        servers.push((label.clone(), Booted::start(tables).await?));
    }
    let streams = servers[0].1.create_streams(o.consumers).await?;
    let crowd = Crowd::connect(&servers[0].1, &streams, Mode::Count, false).await?;
    // The event routes of the server with events off must be gone.
    let off = &servers[2].1;
    let probe = reqwest::Client::new()
        .get(format!("{}/stream/0/streams", off.base()))
        .bearer_auth(&off.token)
        .send()
        .await
        .map_err(|e| format!("events off: {e}"))?
        .status();

    let duration = Duration::from_secs(o.seconds);
    for (_, b) in &servers {
        write_mix(b, o.writers, Duration::from_secs(2)).await; // warm-up
    }
    let mut results: Vec<Vec<MixResult>> = servers.iter().map(|_| Vec::new()).collect();
    let (frames0, head0) = (crowd.frames(), outbox_head(servers[0].1.dir.path())?);
    for round in 0..o.rounds {
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            let b = &servers[i].1;
            let cpu0 = common::cpu_s(b.server.pid());
            let mut r = write_mix(b, o.writers, duration).await;
            r.cpu_ms_per_op = (common::cpu_s(b.server.pid()) - cpu0) * 1000.0 / r.ops.max(1) as f64;
            results[i].push(r);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frames = crowd.frames() - frames0;
    let changes = outbox_head(servers[0].1.dir.path())? - head0;

    println!(
        "\n2a. write path: {} writers repeating register → session → vote (each request one op), \
         {} s per run, {} rounds alternating the order",
        o.writers, o.seconds, o.rounds
    );
    println!(
        "{:<28} {:>10} {:>24} {:>11} {:>24} {:>8}",
        "server", "ops/s", "(rounds)", "CPU ms/op", "(rounds)", "errors"
    );
    let mut medians = Vec::new();
    for ((label, _), rounds) in servers.iter().zip(&results) {
        let ops: Vec<f64> = rounds.iter().map(|r| r.ops as f64 / r.secs).collect();
        let cpu: Vec<f64> = rounds.iter().map(|r| r.cpu_ms_per_op).collect();
        let errors: u64 = rounds.iter().map(|r| r.errors).sum();
        let (m_ops, m_cpu) = (median(&ops), median(&cpu));
        medians.push((m_ops, m_cpu));
        println!(
            "{label:<28} {m_ops:>10.0} {:>24} {m_cpu:>11.3} {:>24} {errors:>8}",
            list(&ops, 0),
            list(&cpu, 3),
        );
        if let Some(e) = rounds.iter().find_map(|r| r.first_error.as_ref()) {
            println!("{:<28} first error: {e}", "");
        }
    }
    let (off_ops, off_cpu) = medians[2];
    for (i, (label, _)) in servers.iter().enumerate().take(2) {
        let (ops, cpu) = medians[i];
        let slower = (1.0 - ops / off_ops) * 100.0;
        let costlier = (cpu / off_cpu - 1.0) * 100.0;
        println!(
            "{:<28} ops/s {:+.1} %, CPU/op {:+.1} % vs events off   {}",
            label,
            -slower,
            costlier,
            verdict(
                slower <= TARGET_SLOWDOWN_PCT,
                &format!("≤ {TARGET_SLOWDOWN_PCT} % slower (ops/s)")
            )
        );
    }
    println!(
        "consumers during 2a: {} frames received of {} expected ({} changes × {} consumers), \
         {} reconnects, {} control messages; event routes with events off: HTTP {}",
        frames,
        changes * o.consumers as i64,
        changes,
        o.consumers,
        crowd.reconnects(),
        crowd.controls().len(),
        probe.as_u16()
    );
    for c in crowd.controls().iter().take(3) {
        println!("  control: {c}");
    }
    crowd.finish().await;

    // Only the server with consumers stays for the sustained run.
    let b = servers.swap_remove(0).1;
    drop(servers);
    sustained(o, &b, &streams).await
}

/// One run of the write mix.
struct MixResult {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    secs: f64,
    cpu_ms_per_op: f64,
}

/// `writers` clients, each on its own keep-alive connection, repeat register a device → open
/// a session → like an asset for `duration`.
async fn write_mix(b: &Booted, writers: usize, duration: Duration) -> MixResult {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for w in 0..writers {
        let (base, assets) = (b.base().to_string(), b.assets.clone());
        tasks.spawn(async move {
            let client = reqwest::Client::new();
            let (mut ops, mut errors, mut first_error) = (0u64, 0u64, None);
            let mut n = 0usize;
            while start.elapsed() < duration {
                n += 1;
                let asset = assets[(w + n) % assets.len()];
                let cycle = async {
                    let user = send(
                        &client,
                        Method::POST,
                        &format!("{base}/api/2/users/"),
                        None,
                        json!({"device_id": format!("mix-{run}-{w}-{n}"), "client_type": "bench"}),
                    )
                    .await?;
                    ops += 1;
                    let token = format!("token {}", user["token"].as_str().unwrap_or_default());
                    let session = send(
                        &client,
                        Method::POST,
                        &format!("{base}/api/2/sessions/"),
                        Some(&token),
                        json!({"project_id": 1, "client_system": "bench"}),
                    )
                    .await?;
                    ops += 1;
                    send(
                        &client,
                        Method::POST,
                        &format!("{base}/api/2/assets/{asset}/votes/"),
                        Some(&token),
                        json!({"session_id": session["id"], "vote_type": "like"}),
                    )
                    .await?;
                    ops += 1;
                    Ok::<(), String>(())
                };
                if let Err(e) = cycle.await {
                    errors += 1;
                    first_error.get_or_insert(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            (ops, errors, first_error)
        });
    }
    let mut r = MixResult {
        ops: 0,
        errors: 0,
        first_error: None,
        secs: 0.0,
        cpu_ms_per_op: 0.0,
    };
    while let Some(done) = tasks.join_next().await {
        if let Ok((ops, errors, first)) = done {
            r.ops += ops;
            r.errors += errors;
            if r.first_error.is_none() {
                r.first_error = first;
            }
        }
    }
    r.secs = start.elapsed().as_secs_f64();
    r
}

/// Phase 2b: staff PATCHes and visitors' votes paced to `--rate` changes/s, the consumers
/// reading every frame.
async fn sustained(o: &Opts, b: &Booted, streams: &[i64]) -> Result<(), String> {
    let client = reqwest::Client::new();
    // Visitors with a session each, to vote.
    let mut voters = Vec::new();
    for i in 0..o.writers {
        let user = send(
            &client,
            Method::POST,
            &format!("{}/api/2/users/", b.base()),
            None,
            json!({"device_id": format!("voter-{i}"), "client_type": "bench"}),
        )
        .await?;
        let token = format!("token {}", user["token"].as_str().unwrap_or_default());
        let session = send(
            &client,
            Method::POST,
            &format!("{}/api/2/sessions/", b.base()),
            Some(&token),
            json!({"project_id": 1, "client_system": "bench"}),
        )
        .await?;
        let id = session["id"].as_i64().ok_or("session without id")?;
        voters.push((token, id));
    }
    // How many changes (outbox rows) each request writes.
    let dir = b.dir.path();
    let h0 = outbox_head(dir)?;
    let asset = b.assets[0];
    b.staff(
        &client,
        Method::PATCH,
        &format!("/api/2/assets/{asset}/"),
        json!({"description": "probe"}),
    )
    .await?;
    let h1 = outbox_head(dir)?;
    let vote = json!({"session_id": voters[0].1, "vote_type": "like"});
    let url = format!("{}/api/2/assets/{asset}/votes/", b.base());
    send(
        &client,
        Method::POST,
        &url,
        Some(&voters[0].0),
        vote.clone(),
    )
    .await?;
    let h2 = outbox_head(dir)?;
    send(&client, Method::POST, &url, Some(&voters[0].0), vote).await?; // withdrawn again
    let h3 = outbox_head(dir)?;
    // Half the requests are PATCHes, half votes (likes and withdrawals in turn).
    let per_request = ((h1 - h0) as f64 + ((h2 - h1) + (h3 - h2)) as f64 / 2.0) / 2.0;
    if per_request <= 0.0 {
        return Err("a PATCH or a vote wrote no change to the outbox".into());
    }
    let request_rate = o.rate as f64 / per_request;

    let crowd = Crowd::connect(b, streams, Mode::Record, true).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let head0 = outbox_head(dir)?;
    let cpu0 = common::cpu_s(b.server.pid());
    let start = Instant::now();
    let paced = paced(b, &voters, request_rate, Duration::from_secs(o.seconds)).await;
    let wall = start.elapsed().as_secs_f64();
    let cpu = common::cpu_s(b.server.pid()) - cpu0;
    let head_end = outbox_head(dir)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let head1 = outbox_head(dir)?;
    let reconnects = crowd.reconnects();
    let controls = crowd.controls();
    let tallies = crowd.finish().await;
    let expected = outbox_ids(dir, head0, head1)?;
    let check = Completeness::of(&tallies, &expected);

    println!(
        "\n2b. sustained: {} changes/s asked for {} s (a PATCH writes {}, a vote {} or {} \
         changes: {:.0} requests/s from {} paced clients), {} consumers",
        o.rate,
        o.seconds,
        h1 - h0,
        h2 - h1,
        h3 - h2,
        request_rate,
        PACED_CLIENTS,
        o.consumers
    );
    row(
        "requests done / failed",
        format!("{} / {}", paced.done, paced.errors),
        "",
    );
    if let Some(e) = &paced.first_error {
        row("first failure", e.clone(), "");
    }
    row(
        "requests started > 50 ms late",
        format!("{} (latest {:.0} ms)", paced.late, paced.max_late_ms),
        "",
    );
    row(
        "achieved changes/s",
        format!("{:.0}", (head_end - head0) as f64 / wall),
        &verdict(
            (head_end - head0) as f64 / wall >= o.rate as f64 * 0.95,
            &format!("{} changes/s", o.rate),
        ),
    );
    row(
        "server CPU (% of one core)",
        format!("{:.0} %", cpu / wall * 100.0),
        "",
    );
    check.print();
    row(
        "reconnects / control messages",
        format!("{reconnects} / {}", controls.len()),
        "",
    );
    for c in controls.iter().take(3) {
        row("  control", c.clone(), "");
    }
    let mut lat = check.latencies_ms;
    row(
        "latency ms p50 / p99 / max",
        format!(
            "{:.1} / {:.1} / {:.1}",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            pct(&mut lat, 1.0)
        ),
        "",
    );
    Ok(())
}

/// Concurrent clients of the sustained run.
const PACED_CLIENTS: usize = 32;

/// What the paced clients did.
struct Paced {
    done: u64,
    errors: u64,
    first_error: Option<String>,
    late: u64,
    max_late_ms: f64,
}

/// Request `k` is due at `k / rate` s: even ones PATCH an asset as staff, odd ones vote (a
/// like, or its withdrawal) as a visitor; [`PACED_CLIENTS`] clients take the next due request.
async fn paced(b: &Booted, voters: &[(String, i64)], rate: f64, duration: Duration) -> Paced {
    let next = Arc::new(AtomicU64::new(0));
    let voters = Arc::new(voters.to_vec());
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..PACED_CLIENTS {
        let (next, voters, assets) = (next.clone(), voters.clone(), b.assets.clone());
        let (base, staff) = (b.base().to_string(), format!("token {}", b.token));
        tasks.spawn(async move {
            let client = reqwest::Client::new();
            let mut p = Paced {
                done: 0,
                errors: 0,
                first_error: None,
                late: 0,
                max_late_ms: 0.0,
            };
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let due = Duration::from_secs_f64(k as f64 / rate);
                if due >= duration {
                    break;
                }
                tokio::time::sleep_until(start + due).await;
                let late = (start.elapsed().saturating_sub(due)).as_secs_f64() * 1000.0;
                p.max_late_ms = p.max_late_ms.max(late);
                p.late += u64::from(late > 50.0);
                let i = (k / 2) as usize;
                let result = if k % 2 == 0 {
                    let asset = assets[i % assets.len()];
                    send(
                        &client,
                        Method::PATCH,
                        &format!("{base}/api/2/assets/{asset}/"),
                        Some(&staff),
                        json!({"description": format!("sustained {k}")}),
                    )
                    .await
                } else {
                    let (token, session) = &voters[i % voters.len()];
                    let asset = assets[(i / voters.len()) % assets.len()];
                    send(
                        &client,
                        Method::POST,
                        &format!("{base}/api/2/assets/{asset}/votes/"),
                        Some(token),
                        json!({"session_id": session, "vote_type": "like"}),
                    )
                    .await
                };
                match result {
                    Ok(_) => p.done += 1,
                    Err(e) => {
                        p.errors += 1;
                        p.first_error.get_or_insert(e);
                    }
                }
            }
            p
        });
    }
    let mut all = Paced {
        done: 0,
        errors: 0,
        first_error: None,
        late: 0,
        max_late_ms: 0.0,
    };
    while let Some(done) = tasks.join_next().await {
        if let Ok(p) = done {
            all.done += p.done;
            all.errors += p.errors;
            all.late += p.late;
            all.max_late_ms = all.max_late_ms.max(p.max_late_ms);
            if all.first_error.is_none() {
                all.first_error = p.first_error;
            }
        }
    }
    all
}

// ------------------------------------------------------------------------------------------
// Phase 3: idle connections and refusal

async fn idle(o: &Opts) -> Result<(), String> {
    let tables = format!(
        "[events]\nmax_connections = {n}\nmax_streams_per_token = {n}\n",
        n = o.idle
    );
    let b = Booted::start(&tables).await?;
    let streams = b.create_streams(o.idle).await?;
    let addr: SocketAddr = b
        .base()
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("server address: {e}"))?;
    let request = |id: i64| {
        format!(
            "GET /stream/0/streams/{id}/events HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {}\r\nAccept: application/json\r\n\r\n",
            b.token
        )
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss0 = b.server.rss_kb();
    let attempts: Vec<(String, Option<Ipv4Addr>)> =
        streams.iter().map(|&id| (request(id), None)).collect();
    let opened = attempt_all(addr, attempts, 50).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = b.server.rss_kb();
    let held = opened.open.len();
    let per_connection = (rss1 as f64 - rss0 as f64) / held.max(1) as f64;

    println!(
        "\n3. idle connections: [events] max_connections = {}, [http] caps lifted",
        o.idle
    );
    row(
        "event connections open / asked",
        format!("{held} / {}", o.idle),
        &verdict(held == o.idle, "all open"),
    );
    opened.print_others();
    row(
        "server RSS before / after",
        format!(
            "{:.1} MB / {:.1} MB",
            rss0 as f64 / 1024.0,
            rss1 as f64 / 1024.0
        ),
        "",
    );
    row(
        "KB per idle connection",
        format!("{per_connection:.1}"),
        &verdict(
            per_connection <= TARGET_KB_PER_CONNECTION,
            &format!("≤ {TARGET_KB_PER_CONNECTION} KB"),
        ),
    );

    // Refusal: every attempt held open until all were made.
    let attempts: Vec<(String, Option<Ipv4Addr>)> = (0..o.refuse)
        .map(|i| {
            // Spread over loopback addresses, as phones on the Wi-Fi are (ports stay plenty).
            let local = Ipv4Addr::new(127, 0, 3 + (i / 250 % 200) as u8, 1 + (i % 250) as u8);
            (request(streams[i % streams.len()]), Some(local))
        })
        .collect();
    let t0 = Instant::now();
    let mut refused = attempt_all(addr, attempts, 256).await;
    let secs = t0.elapsed().as_secs_f64();
    let client = reqwest::Client::new();
    let while_held = project_answers(&client, &b).await;
    let metrics = event_metrics(&client, &b).await;
    let rss2 = b.server.rss_kb();
    let still_open = still_open(&opened.open).await;
    let attempted = o.refuse;
    let other: usize = refused.others.iter().map(|(_, n)| n).sum();
    drop(std::mem::take(&mut refused.held));
    drop(std::mem::take(&mut refused.open));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = project_answers(&client, &b).await;

    println!(
        "\n3b. refusal: {attempted} more event connections over {secs:.1} s, all held open at \
         once on top of the {held} idle ones"
    );
    row(
        "503 too-many-connections",
        refused.refused.to_string(),
        &verdict(refused.refused == attempted, "all refused with 503"),
    );
    row(
        "closed at accept ([http] cap)",
        refused.closed_at_accept.to_string(),
        "",
    );
    row("accepted (200)", refused.opened.to_string(), "");
    row("other outcomes", other.to_string(), "");
    refused.print_others();
    row(
        "idle connections still open",
        format!("{still_open} / {held}"),
        "",
    );
    row(
        "server RSS while held",
        format!("{:.1} MB", rss2 as f64 / 1024.0),
        "",
    );
    row("/metrics (events)", metrics, "");
    row(
        "GET /api/2/projects/1/ while held / after",
        format!("{while_held} / {after}"),
        &verdict(
            while_held.starts_with("200") && after.starts_with("200"),
            "answers",
        ),
    );
    Ok(())
}

/// Outcomes of raw event connection attempts.
#[derive(Default)]
struct Attempts {
    /// Connections answered 200 (held).
    open: Vec<TcpStream>,
    /// How many were answered 200.
    opened: usize,
    /// Refused with 503 `too-many-connections` (their sockets are in `held`).
    refused: usize,
    /// Closed by the server before any answer.
    closed_at_accept: usize,
    /// Other outcomes: (what, how many).
    others: Vec<(String, usize)>,
    /// Sockets of refused attempts, held open until dropped.
    held: Vec<TcpStream>,
}

impl Attempts {
    fn other(&mut self, what: String) {
        match self.others.iter_mut().find(|(w, _)| *w == what) {
            Some((_, n)) => *n += 1,
            None => self.others.push((what, 1)),
        }
    }

    fn print_others(&self) {
        for (what, n) in &self.others {
            row(&format!("  {what}"), n.to_string(), "");
        }
    }
}

/// One attempt's outcome.
enum Outcome {
    Open(TcpStream),
    Refused(TcpStream),
    ClosedAtAccept,
    Other(String),
}

/// Makes every attempt (`request`, from `local` if given), `concurrency` at a time, holding
/// every socket that got an answer.
async fn attempt_all(
    addr: SocketAddr,
    attempts: Vec<(String, Option<Ipv4Addr>)>,
    concurrency: usize,
) -> Attempts {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut out = Attempts::default();
    for (request, local) in attempts {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        tasks.spawn(async move {
            let outcome = attempt(addr, &request, local).await;
            drop(permit);
            outcome
        });
        while let Some(done) = tasks.try_join_next() {
            tally(&mut out, done);
        }
    }
    while let Some(done) = tasks.join_next().await {
        tally(&mut out, done);
    }
    out
}

fn tally(out: &mut Attempts, done: Result<Outcome, tokio::task::JoinError>) {
    match done {
        Ok(Outcome::Open(s)) => {
            out.opened += 1;
            out.open.push(s);
        }
        Ok(Outcome::Refused(s)) => {
            out.refused += 1;
            out.held.push(s);
        }
        Ok(Outcome::ClosedAtAccept) => out.closed_at_accept += 1,
        Ok(Outcome::Other(what)) => out.other(what),
        Err(e) => out.other(format!("task failed: {e}")),
    }
}

/// Connects, writes `request`, reads the response head (and a 503's body).
async fn attempt(addr: SocketAddr, request: &str, local: Option<Ipv4Addr>) -> Outcome {
    let connected = async {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = local {
            socket.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))?;
        }
        socket.connect(addr).await
    };
    let mut stream = match tokio::time::timeout(Duration::from_secs(10), connected).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Outcome::Other(format!("connect failed: {}", e.kind())),
        Err(_) => return Outcome::Other("connect timed out (10 s)".into()),
    };
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return Outcome::Other(format!("write failed: {}", e.kind()));
    }
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let length = content_length(&head);
                if head_status(&head) == 200 || buf.len() >= end + 4 + length {
                    return Ok(head);
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) => return Err(buf.is_empty()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => return Err(buf.is_empty()),
            }
        }
    })
    .await;
    match read {
        Err(_) if buf.is_empty() => Outcome::Other("no answer within 10 s".into()),
        Err(_) => Outcome::Other("incomplete answer within 10 s".into()),
        Ok(Err(true)) => Outcome::ClosedAtAccept,
        Ok(Err(false)) => Outcome::Other("closed mid-answer".into()),
        Ok(Ok(head)) => match head_status(&head) {
            200 => Outcome::Open(stream),
            503 if find(&buf, b"too-many-connections").is_some() => Outcome::Refused(stream),
            status => Outcome::Other(format!("HTTP {status}")),
        },
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn head_status(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// How many of `held` the server has not closed (a read would block, or finds only bytes).
async fn still_open(held: &[TcpStream]) -> usize {
    let mut open = 0;
    for s in held {
        let mut byte = [0u8; 1];
        match s.try_read(&mut byte) {
            Ok(0) => {}
            Ok(_) => open += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            Err(_) => {}
        }
    }
    open
}

/// `GET /api/2/projects/1/`'s status and time.
async fn project_answers(client: &reqwest::Client, b: &Booted) -> String {
    let t0 = Instant::now();
    match client
        .get(format!("{}/api/2/projects/1/", b.base()))
        .header("Authorization", format!("token {}", b.token))
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) => format!(
            "{} in {:.0} ms",
            r.status().as_u16(),
            t0.elapsed().as_secs_f64() * 1000.0
        ),
        Err(e) => format!("failed: {e}"),
    }
}

/// The event lines of `/metrics`.
async fn event_metrics(client: &reqwest::Client, b: &Booted) -> String {
    let text = match client.get(format!("{}/metrics", b.base())).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return format!("failed: {e}"),
    };
    text.lines()
        .filter(|l| l.starts_with("roundwared_event_connections"))
        .map(|l| l.trim_start_matches("roundwared_event_"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------------------------------------
// A server, its staff token and the demo's assets

struct Booted {
    server: common::ReleaseServer,
    dir: tempfile::TempDir,
    token: String,
    assets: Arc<Vec<i64>>,
}

impl Booted {
    /// A release server with `serve --demo`, the per-address caps lifted and `tables`
    /// appended; a staff user logged in; the demo project's asset ids.
    async fn start(tables: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let server = common::ReleaseServer::start_many_phones_with(dir.path(), tables, &["--demo"]);
        common::wait_ready(&server.base).await;
        let token = common::staff_token(&server.base, dir.path(), "bench-staff").await?;
        let client = reqwest::Client::new();
        // The demo is seeded after the API starts answering.
        let deadline = Instant::now() + Duration::from_secs(120);
        let assets = loop {
            let list = send(
                &client,
                Method::GET,
                &format!("{}/api/2/assets/?project_id=1", server.base),
                Some(&format!("token {token}")),
                Value::Null,
            )
            .await;
            let ids: Vec<i64> = list
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a["id"].as_i64())
                .collect();
            if !ids.is_empty() {
                break ids;
            }
            if Instant::now() > deadline {
                return Err("the demo project has no assets after 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Ok(Self {
            server,
            dir,
            token,
            assets: Arc::new(assets),
        })
    }

    fn base(&self) -> &str {
        &self.server.base
    }

    /// A staff request to `path`.
    async fn staff(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let auth = format!("token {}", self.token);
        send(
            client,
            method,
            &format!("{}{path}", self.base()),
            Some(&auth),
            body,
        )
        .await
    }

    /// `n` streams following every object type: their ids.
    async fn create_streams(&self, n: usize) -> Result<Vec<i64>, String> {
        let client = reqwest::Client::new();
        let auth = format!("Bearer {}", self.token);
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let made = send(
                &client,
                Method::POST,
                &format!("{}/stream/0/streams", self.base()),
                Some(&auth),
                json!({"object_types": ALL_TYPES, "type": "long_poll"}),
            )
            .await?;
            let id = made["data"]["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("stream without id: {made}"))?;
            ids.push(id);
        }
        Ok(ids)
    }
}

/// Sends a JSON request (`Value::Null`: no body) with `auth` as the `Authorization` header;
/// the JSON answer of a 2xx, else what went wrong.
async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    auth: Option<&str>,
    body: Value,
) -> Result<Value, String> {
    let mut request = client.request(method.clone(), url);
    if let Some(a) = auth {
        request = request.header("Authorization", a);
    }
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    if !status.is_success() {
        let text: String = text.chars().take(200).collect();
        return Err(format!("{method} {url}: HTTP {status}: {text}"));
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| format!("{method} {url}: {e}"))
}

// ------------------------------------------------------------------------------------------
// Consumers

/// What a consumer keeps of its frames.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Counts messages (cheap: the driver shares the cores with the servers).
    Count,
    /// Parses every message: its id and latency.
    Record,
}

/// What all consumers of a crowd share.
#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    reconnects: AtomicU64,
    connected: AtomicUsize,
    controls: Mutex<Vec<String>>,
}

/// One consumer's messages (in [`Mode::Record`]): outbox id and latency in ms.
type Tally = Vec<(i64, f64)>;

/// Consumers, one per stream, each on its own connection.
struct Crowd {
    stop: CancellationToken,
    counters: Arc<Counters>,
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Crowd {
    /// Connects a consumer to each of `streams` (`purge`: skipping what waited) and waits
    /// until every one is connected.
    async fn connect(b: &Booted, streams: &[i64], mode: Mode, purge: bool) -> Result<Self, String> {
        let stop = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let tasks = streams
            .iter()
            .map(|id| {
                let url = format!("{}/stream/0/streams/{id}/events", b.base());
                let (token, stop, counters) = (b.token.clone(), stop.clone(), counters.clone());
                tokio::spawn(consume(url, token, mode, purge, stop, counters))
            })
            .collect();
        let crowd = Self {
            stop,
            counters,
            tasks,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while crowd.counters.connected.load(Ordering::Relaxed) < streams.len() {
            if Instant::now() > deadline {
                let n = crowd.counters.connected.load(Ordering::Relaxed);
                crowd.finish().await;
                return Err(format!(
                    "{n} of {} consumers connected within 30 s",
                    streams.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(crowd)
    }

    fn frames(&self) -> i64 {
        self.counters.frames.load(Ordering::Relaxed) as i64
    }

    fn reconnects(&self) -> u64 {
        self.counters.reconnects.load(Ordering::Relaxed)
    }

    fn controls(&self) -> Vec<String> {
        self.counters
            .controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Disconnects every consumer: what each recorded.
    async fn finish(self) -> Vec<Tally> {
        self.stop.cancel();
        let mut all = Vec::new();
        for t in self.tasks {
            all.push(t.await.unwrap_or_default());
        }
        all
    }
}

/// Reads a stream's events until `stop`, connecting again whenever the server ends the
/// connection (it resumes after the last frame written).
async fn consume(
    url: String,
    token: String,
    mode: Mode,
    purge: bool,
    stop: CancellationToken,
    counters: Arc<Counters>,
) -> Tally {
    let client = reqwest::Client::new();
    let mut tally = Tally::new();
    let mut first = true;
    loop {
        let target = if first && purge {
            format!("{url}?purge=1")
        } else {
            url.clone()
        };
        let sent = tokio::select! {
            () = stop.cancelled() => return tally,
            sent = client.get(&target).bearer_auth(&token).send() => sent,
        };
        let mut response = match sent {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                counters
                    .controls
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(format!("connect: HTTP {}", r.status()));
                tokio::select! {
                    () = stop.cancelled() => return tally,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
            Err(e) => {
                counters
                    .controls
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(format!("connect: {e}"));
                tokio::select! {
                    () = stop.cancelled() => return tally,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        if first {
            counters.connected.fetch_add(1, Ordering::Relaxed);
            first = false;
        } else {
            counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                () = stop.cancelled() => return tally,
                chunk = response.chunk() => chunk,
            };
            let Ok(Some(bytes)) = chunk else { break };
            let arrival = now_ms();
            pending.extend_from_slice(&bytes);
            let mut from = 0;
            while let Some(at) = find(&pending[from..], b"\r\n") {
                let line = &pending[from..from + at];
                from += at + 2;
                if line.is_empty() {
                    continue; // keep-alive
                }
                if line.starts_with(b"{\"control\"") {
                    counters
                        .controls
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(String::from_utf8_lossy(line).chars().take(200).collect());
                    continue;
                }
                counters.frames.fetch_add(1, Ordering::Relaxed);
                if mode == Mode::Record
                    && let Ok(f) = serde_json::from_slice::<Frame>(line)
                    && let Ok(id) = f.meta.id.parse()
                {
                    tally.push((id, arrival - f.meta.timestamp as f64));
                }
            }
            pending.drain(..from);
        }
    }
}

/// A message frame: only what the bench reads of it.
#[derive(serde::Deserialize)]
struct Frame {
    meta: Meta,
}

#[derive(serde::Deserialize)]
struct Meta {
    id: String,
    timestamp: i64,
}

/// Wall clock, Unix ms.
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Whether every consumer got every change expected, and the latencies of those frames.
struct Completeness {
    consumers: usize,
    expected: usize,
    received: usize,
    missing: usize,
    complete: usize,
    worst_missing: usize,
    duplicates: usize,
    latencies_ms: Vec<f64>,
}

impl Completeness {
    fn of(tallies: &[Tally], expected: &[i64]) -> Self {
        let wanted: HashSet<i64> = expected.iter().copied().collect();
        let mut c = Self {
            consumers: tallies.len(),
            expected: expected.len() * tallies.len(),
            received: 0,
            missing: 0,
            complete: 0,
            worst_missing: 0,
            duplicates: 0,
            latencies_ms: Vec::new(),
        };
        for tally in tallies {
            let mut seen = HashSet::new();
            for &(id, latency) in tally {
                if !wanted.contains(&id) {
                    continue;
                }
                if seen.insert(id) {
                    c.latencies_ms.push(latency);
                } else {
                    c.duplicates += 1;
                }
            }
            let missing = wanted.len() - seen.len();
            c.received += seen.len();
            c.missing += missing;
            c.worst_missing = c.worst_missing.max(missing);
            c.complete += usize::from(missing == 0);
        }
        c
    }

    fn print(&self) {
        row(
            "frames expected / received",
            format!(
                "{} / {} (missing {}, duplicates {})",
                self.expected, self.received, self.missing, self.duplicates
            ),
            "",
        );
        row(
            "consumers with every change",
            format!(
                "{} / {} (most missed by one: {})",
                self.complete, self.consumers, self.worst_missing
            ),
            &verdict(
                self.complete == self.consumers && self.expected > 0,
                "none missing",
            ),
        );
    }
}

// ------------------------------------------------------------------------------------------
// The outbox, read from the server's database file

fn database(dir: &Path) -> Result<rusqlite::Connection, String> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("roundwared.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| format!("open the server's database: {e}"))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| format!("busy timeout: {e}"))?;
    Ok(conn)
}

/// The last outbox id (0 if none).
fn outbox_head(dir: &Path) -> Result<i64, String> {
    database(dir)?
        .query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0))
        .map_err(|e| format!("outbox head: {e}"))
}

/// Outbox ids in `(after, upto]`.
fn outbox_ids(dir: &Path, after: i64, upto: i64) -> Result<Vec<i64>, String> {
    let conn = database(dir)?;
    let mut q = conn
        .prepare("SELECT id FROM outbox WHERE id > ?1 AND id <= ?2 ORDER BY id")
        .map_err(|e| format!("outbox ids: {e}"))?;
    q.query_map([after, upto], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(|e| format!("outbox ids: {e}"))
}

// ------------------------------------------------------------------------------------------
// Printing

/// One line of a phase's table: what, the figure, the target and whether it was met.
fn row(what: &str, figure: impl std::fmt::Display, target: &str) {
    println!("  {what:<42} {:<44} {target}", figure.to_string());
}

fn verdict(met: bool, target: &str) -> String {
    format!("target {target}: {}", if met { "met" } else { "MISSED" })
}

/// The `p` quantile (0 if empty); sorts `v`.
fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    pct(&mut v, 0.5)
}

fn list(v: &[f64], decimals: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(" / ")
}
