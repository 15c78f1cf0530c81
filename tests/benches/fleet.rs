//! Fleet benchmark (issue 17): a loopback venue of release `roundwared` processes, each box on
//! its own nats-server (2.15.1 from `RW_NATS_NEW`, else prepared by `tests/fleet/servers.sh`),
//! the box's leaf link through a forwarder that can be cut.
//!
//! Run: `cargo bench --bench fleet` (options after `--`: `--uploads N` recordings each way for
//! the latency, default 20; `--cut-s S`, default 60; `--replica N` assets for the new box,
//! default 1000; `--idle-s S`, default 30; `--workers N[,N…]`, the new box's
//! `[fleet] media_workers` (a list: one new box after another), default 2 as in the
//! configuration; `--only idle|latency|cut|replica`, that part alone; `RW_FLEET_BIN`, another
//! build of `roundwared` for the boxes). Measures:
//! 1. a recording's way from one box's 200 to playing at the other (p50 / p95 / max), both
//!    ways between the hub and a box; goal p95 ≤ 2 s, max ≤ 5 s;
//! 2. a box cut off for `--cut-s` while both sides record (30 each): the time from healing
//!    until both have everything, and how many were lost; goal ≤ 10 s, 0 lost;
//! 3. a new box joining a venue of `--replica` recordings (about 0.5 MB of media each): the
//!    time until it plays every one, and the CPU seconds it took; goal ≤ 60 s;
//! 4. (measured first, before the boxes hold anything) what fleet mode adds to an idle box:
//!    resident memory and CPU against a standalone box,
//!    and the nats-server's own; goal ≤ 10 MB and ≤ 2 % of a core.

mod common;

#[path = "../fleet/venue.rs"]
mod venue;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ReleaseServer, arg, cpu_s, percentile_ms, rss_kb, wait_ready};
use venue::{Http, Hub, Leaf, Visitor, asset_at, eventually, record_bytes, visitor};

/// Limits a benchmark playing many visitors from one address needs lifted.
const LIMITS: &str = "[limits]\nuploads_per_ip_per_min = 1000000\n\
    registrations_per_ip_per_min = 1000000\n";

fn main() {
    let Some(nats) = nats_server() else {
        eprintln!(
            "skipped: no nats-server 2.14 or newer (tests/fleet/servers.sh could not prepare one)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&nats));
}

/// `RW_NATS_NEW`, or what `tests/fleet/servers.sh` prepares.
fn nats_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RW_NATS_NEW").map(PathBuf::from) {
        return Some(p);
    }
    let out = std::process::Command::new("bash")
        .arg("tests/fleet/servers.sh")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("RW_NATS_NEW="))
        .map(PathBuf::from)
}

/// A WAV of `seconds` of quiet noise (44.1 kHz mono), different for every `seed`.
fn take(seconds: f64, seed: u32) -> Vec<u8> {
    let mut noise = common::noise(seed);
    common::mono_wav(seconds, |_| 0.3 * noise())
}

struct Box_ {
    server: ReleaseServer,
    http: Http,
    _dir: tempfile::TempDir,
}

async fn start_box(fleet_toml: &str) -> Box_ {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!("{LIMITS}{fleet_toml}");
    // `RW_FLEET_BIN`: another build of roundwared for the boxes (before and after a change).
    let server = match std::env::var_os("RW_FLEET_BIN") {
        Some(bin) => ReleaseServer::start_binary(Path::new(&bin), dir.path(), "", &config, &[]),
        None => ReleaseServer::start_with_config(dir.path(), &[], &config),
    };
    wait_ready(&server.base).await;
    let http = Http::at(&server.base);
    Box_ {
        server,
        http,
        _dir: dir,
    }
}

/// The venue's project, made on the hub (configuration is the hub's) by a staff user.
async fn seed_project(hub: &Http, data_dir: &Path) {
    let token = common::staff_token(&hub.base, data_dir, "curator")
        .await
        .expect("a staff token");
    hub.post(
        "/api/2/projects/",
        Some(&token),
        serde_json::json!({"name": "Venue", "latitude": 0.0, "longitude": 0.0,
                           "auto_submit": true, "listen_enabled": true}),
    )
    .await;
}

async fn run(nats: &Path) {
    let uploads = arg("--uploads", 20) as usize;
    let cut_s = arg("--cut-s", 60);
    let replica = arg("--replica", 1000) as usize;
    let idle_s = arg("--idle-s", 30);
    let workers = list_arg("--workers", 2);
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    println!(
        "roundwared fleet benchmark: hub (box 1) and box 2 on loopback, nats-server {}",
        nats.display()
    );

    let hub = Hub::start(nats);
    let leaf = Leaf::start(nats, &hub, 2).await;
    let a = start_box(&hub.toml()).await;
    seed_project(&a.http, a._dir.path()).await;
    let b = start_box(&leaf.toml()).await;
    let va = visitor_when_ready(&a.http, "bench-a").await;
    let vb = visitor_when_ready(&b.http, "bench-b").await;

    // 4 (first, before the box holds anything): what fleet mode costs an idle box.
    if runs("idle") {
        let alone_dir = tempfile::tempdir().expect("temp dir");
        let alone = ReleaseServer::start_with_config(alone_dir.path(), &[], LIMITS);
        wait_ready(&alone.base).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = (
            cpu_s(b.server.pid()),
            cpu_s(alone.pid()),
            cpu_s(leaf.nats.pid()),
        );
        tokio::time::sleep(Duration::from_secs(idle_s)).await;
        let after = (
            cpu_s(b.server.pid()),
            cpu_s(alone.pid()),
            cpu_s(leaf.nats.pid()),
        );
        let pct = |a: f64, b: f64| (b - a) / idle_s as f64 * 100.0;
        println!(
            "  idle {idle_s} s: fleet box {:.0} MB RSS, {:.2} % of a core; standalone box {:.0} MB, \
             {:.2} %; the box's nats-server {:.0} MB, {:.2} %",
            b.server.rss_kb() as f64 / 1024.0,
            pct(before.0, after.0),
            alone.rss_kb() as f64 / 1024.0,
            pct(before.1, after.1),
            rss_kb(leaf.nats.pid()) as f64 / 1024.0,
            pct(before.2, after.2),
        );
    }

    // 1. Latency, both ways.
    if runs("latency") {
        for (from, vf, to, vt, name) in [
            (&a.http, &va, &b.http, &vb, "hub → box"),
            (&b.http, &vb, &a.http, &va, "box → hub"),
        ] {
            let mut took = Vec::with_capacity(uploads);
            for n in 0..uploads {
                let id = record_bytes(from, vf, take(10.0, n as u32)).await;
                let answered = Instant::now();
                eventually(Duration::from_secs(60), "a recording", || async {
                    asset_at(to, &vt.token, id).await
                })
                .await;
                took.push(answered.elapsed());
            }
            took.sort();
            println!(
                "  {name}, {uploads} recordings of 10 s: from the upload's 200 to playing there, \
                 p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
                percentile_ms(&took, 0.50),
                percentile_ms(&took, 0.95),
                percentile_ms(&took, 1.0)
            );
        }
    }

    // 2. A cut of cut_s with 30 recordings on each side.
    if runs("cut") {
        leaf.link.cut();
        let started = Instant::now();
        let mut at_a = Vec::new();
        let mut at_b = Vec::new();
        let gap = Duration::from_secs(cut_s) / 30;
        for n in 0..30u32 {
            at_a.push(record_bytes(&a.http, &va, take(2.0, 1000 + n)).await);
            at_b.push(record_bytes(&b.http, &vb, take(2.0, 2000 + n)).await);
            let next = started + gap * (n + 1);
            tokio::time::sleep_until(next.into()).await;
        }
        leaf.link.heal();
        let healed = Instant::now();
        let mut lost = 0;
        for (ids, there, v) in [(&at_a, &b.http, &vb), (&at_b, &a.http, &va)] {
            for &id in ids.iter() {
                let deadline = healed + Duration::from_secs(120);
                while asset_at(there, &v.token, id).await.is_none() {
                    if Instant::now() > deadline {
                        lost += 1;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        println!(
            "  a {cut_s} s cut with 30 recordings on each side: converged {:.1} s after healing, {lost} lost",
            healed.elapsed().as_secs_f64()
        );
    }

    // 3. A new box joins a venue of `replica` recordings.
    if runs("replica") {
        println!("  recording {replica} pieces at the hub for the replica...");
        for n in 0..replica {
            record_bytes(&a.http, &va, take(2.0, 5000 + n as u32)).await;
        }
        let total = count(&a.http, &va).await;
        // Everything in the venue catalogue first (box 2 has it all), so the new box's figure is
        // its own.
        let preloaded = Instant::now();
        eventually(Duration::from_secs(900), "box 2 caught up", || async {
            (count(&b.http, &vb).await >= total).then_some(())
        })
        .await;
        println!(
            "  box 2 had all {total} {:.1} s after the last was recorded",
            preloaded.elapsed().as_secs_f64()
        );
        for (n, &workers) in workers.iter().enumerate() {
            new_box(nats, &hub, 3 + n as u32, workers, total).await;
        }
    }
}

/// A new box `number` with `workers` media workers joins the venue of `total` recordings: the
/// time until it plays every one, and the CPU seconds of it, its nats-server and the hub's.
async fn new_box(nats: &Path, hub: &Hub, number: u32, workers: u64, total: u64) {
    let leaf = Leaf::start(nats, hub, number).await;
    let hub_cpu_s = cpu_s(hub.nats.pid());
    let joined = Instant::now();
    let c = start_box(&format!("{}media_workers = {workers}\n", leaf.toml())).await;
    let vc = visitor_when_ready(&c.http, &format!("bench-{number}")).await;
    let first = joined.elapsed();
    eventually(Duration::from_secs(600), "the replica", || async {
        (count(&c.http, &vc).await >= total).then_some(())
    })
    .await;
    let took = joined.elapsed().as_secs_f64();
    let media_mb = dir_mb(&c._dir.path().join("media"));
    println!(
        "  a new box ({workers} media workers), {total} recordings ({media_mb:.0} MB of media): \
         all playing {took:.1} s after it started (the first, its project, after {:.1} s), \
         {:.1} MB/s; CPU s: roundwared {:.1}, its nats-server {:.1}, the hub's nats-server {:.1}",
        first.as_secs_f64(),
        media_mb / took,
        cpu_s(c.server.pid()),
        cpu_s(leaf.nats.pid()),
        cpu_s(hub.nats.pid()) - hub_cpu_s,
    );
}

/// `name`'s comma-separated numbers (`--workers 2,8`: one new box each), else `default`.
fn list_arg(name: &str, default: u64) -> Vec<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.split(',').map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![default])
}

/// A visitor of the box once the venue's project has reached it.
async fn visitor_when_ready(s: &Http, device: &str) -> Visitor {
    eventually(Duration::from_secs(60), "the project at the box", || async {
        let r = s
            .client
            .post(format!("{}/api/2/users/", s.base))
            .json(&serde_json::json!({"device_id": format!("{device}-probe"), "client_type": "phone"}))
            .send()
            .await
            .ok()?;
        let token = r.json::<serde_json::Value>().await.ok()?["token"].as_str()?.to_owned();
        let projects: serde_json::Value = s
            .client
            .get(format!("{}/api/2/projects/", s.base))
            .header("Authorization", format!("token {token}"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (!projects.as_array()?.is_empty()).then_some(())
    })
    .await;
    visitor(s, device).await
}

/// How many recordings the box plays.
async fn count(s: &Http, v: &Visitor) -> u64 {
    let r = s
        .client
        .get(format!("{}/api/2/assets/count/", s.base))
        .header("Authorization", format!("token {}", v.token))
        .send()
        .await;
    match r {
        Ok(r) => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["count"].as_u64())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

fn dir_mb(dir: &Path) -> f64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        })
        .unwrap_or(0) as f64
        / 1e6
}
