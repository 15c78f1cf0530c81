//! Media-serving benchmark: the release `roundwared` binary serving a 5 MB MP3-named file
//! from its media folder on loopback, driven by 100 concurrent keep-alive connections from
//! this process, each asking for random 256 KB–1 MB byte ranges, for about 10 s.
//!
//! Run: `cargo bench --bench media` (options after `--`: `--seconds N`, `--connections N`).
//! It prints the aggregate throughput (MB/s of response bodies), requests/s and latency
//! percentiles. Every body is checked against the file's bytes. Goal (issue 3): ≥ 200 MB/s.
//! The client runs on the same machine and takes a share of the CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

const FILE_BYTES: usize = 5 * 1024 * 1024;
const MIN_RANGE: usize = 256 * 1024;
const MAX_RANGE: usize = 1024 * 1024;

fn main() {
    let seconds = common::arg("--seconds", 10);
    let connections = common::arg("--connections", 100) as usize;

    let dir = tempfile::tempdir().expect("temp dir");
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).expect("media dir");
    let content = Arc::new(noise(FILE_BYTES));
    std::fs::write(media.join("bench.mp3"), content.as_slice()).expect("write media file");
    let server = common::ReleaseServer::start(dir.path());
    let url = format!("{}/rwmedia/bench.mp3", server.base);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(common::wait_ready(&server.base));

    println!(
        "roundwared media: {} MB file, {connections} connections, random {}–{} KB ranges, {seconds} s",
        FILE_BYTES / (1024 * 1024),
        MIN_RANGE / 1024,
        MAX_RANGE / 1024
    );
    let r = runtime.block_on(load(
        &url,
        content,
        connections,
        Duration::from_secs(seconds),
    ));
    println!(
        "{:>10} {:>10} {:>9} {:>9} {:>9}",
        "MB/s", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    println!(
        "{:>10.1} {:>10.0} {:>9.2} {:>9.2} {:>9.2}",
        r.mb_per_s, r.rps, r.p50_ms, r.p99_ms, r.max_ms
    );
    println!(
        "goal ≥ 200 MB/s aggregate: {}",
        if r.mb_per_s >= 200.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

struct LoadResult {
    mb_per_s: f64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Drives `url` from `connections` keep-alive clients for `duration` with random ranges.
async fn load(
    url: &str,
    content: Arc<Vec<u8>>,
    connections: usize,
    duration: Duration,
) -> LoadResult {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..connections {
        let url = url.to_string();
        let content = content.clone();
        tasks.push(tokio::spawn(async move {
            // One client per task: one keep-alive connection each, like separate listeners.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut rng: u64 = 0x2545_F491_4F6C_DD1D ^ ((task as u64 + 1) * 0x9E37_79B9);
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut latencies = Vec::new();
            let mut bytes = 0usize;
            while start.elapsed() < duration {
                let len = MIN_RANGE + (next() as usize) % (MAX_RANGE - MIN_RANGE + 1);
                let first = (next() as usize) % (content.len() - len + 1);
                let last = first + len - 1;
                let t0 = Instant::now();
                let resp = client
                    .get(&url)
                    .header("Range", format!("bytes={first}-{last}"))
                    .send()
                    .await
                    .expect("request");
                assert_eq!(resp.status().as_u16(), 206);
                let body = resp.bytes().await.expect("body");
                latencies.push(t0.elapsed());
                assert!(body[..] == content[first..=last], "wrong bytes");
                bytes += body.len();
            }
            (latencies, bytes)
        }));
    }
    let mut latencies = Vec::new();
    let mut bytes = 0usize;
    for t in tasks {
        let (l, b) = t.await.expect("task");
        latencies.extend(l);
        bytes += b;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    LoadResult {
        mb_per_s: bytes as f64 / (1024.0 * 1024.0) / elapsed,
        rps: latencies.len() as f64 / elapsed,
        p50_ms: common::percentile_ms(&latencies, 0.50),
        p99_ms: common::percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    }
}
