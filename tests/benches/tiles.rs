//! Offline map tile serving: the release `roundwared` binary serving an MBTiles file of 5,456
//! tiles (zooms 12–16 over a town centre, 8–24 KB each, 87 MB) at `/tiles/{z}/{x}/{y}` on loopback,
//! driven by keep-alive connections from this process asking for random tiles, as a map being
//! panned by many phones would. Every body is checked against the tile's bytes. A second run
//! sends each tile's ETag, as a browser revalidating its cache does (304s).
//!
//! Run: `cargo bench --bench tiles` (options after `--`: `--seconds N` (10), `--connections N`
//! (32)). Goal (issue 16): ≥ 2,000 tiles/s. The client runs on the same machine and takes a
//! share of the CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

/// Zoom levels and the tile ranges at each: a 4 × 4 block at zoom 12 and its descendants.
const ZOOMS: std::ops::RangeInclusive<u8> = 12..=16;
const BASE: (u32, u32) = (1238, 1515);

struct Tile {
    path: String,
    data: Vec<u8>,
}

fn main() {
    let seconds = common::arg("--seconds", 10);
    let connections = common::arg("--connections", 32) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let tiles = Arc::new(write_mbtiles(&dir.path().join("town.mbtiles")));
    let bytes: usize = tiles.iter().map(|t| t.data.len()).sum();
    // Many phones panning maps: the per-address caps are lifted, as for the other benchmarks
    // that play many clients from this one loopback address.
    let server = common::ReleaseServer::start_many_phones_with(
        dir.path(),
        "[map]\ntiles = \"town.mbtiles\"\n",
        &[],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(common::wait_ready(&server.base));
    println!(
        "roundwared tiles: {} tiles ({:.1} MB) in the MBTiles file, {connections} connections, {seconds} s per run",
        tiles.len(),
        bytes as f64 / 1e6
    );
    println!(
        "{:<14} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "run", "tiles/s", "MB/s", "p50 ms", "p99 ms", "max ms"
    );
    let mut fresh_rate = 0.0;
    for revalidate in [false, true] {
        let r = runtime.block_on(load(
            &server.base,
            tiles.clone(),
            connections,
            Duration::from_secs(seconds),
            revalidate,
        ));
        println!(
            "{:<14} {:>10.0} {:>9.1} {:>9.2} {:>9.2} {:>9.2}",
            if revalidate { "revalidate" } else { "fresh" },
            r.rps,
            r.mb_per_s,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        );
        if !revalidate {
            fresh_rate = r.rps;
        }
    }
    println!(
        "server CPU: {:.1} s over both runs",
        common::cpu_s(server.pid())
    );
    println!(
        "goal ≥ 2,000 tiles/s (fresh): {}",
        if fresh_rate >= 2000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Writes the MBTiles file; returns every tile with its XYZ path.
fn write_mbtiles(path: &std::path::Path) -> Vec<Tile> {
    let conn = rusqlite::Connection::open(path).expect("mbtiles");
    conn.execute_batch(
        "CREATE TABLE metadata (name TEXT, value TEXT);
         CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
         CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
         INSERT INTO metadata VALUES ('format', 'png'), ('name', 'bench town');
         BEGIN;",
    )
    .expect("schema");
    let mut out = Vec::new();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for z in ZOOMS {
        let scale = 1u32 << (z - ZOOMS.start());
        for x in BASE.0 * scale..(BASE.0 + 4) * scale {
            for y in BASE.1 * scale..(BASE.1 + 4) * scale {
                let len = 8_000 + (next() % 16_000) as usize;
                let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
                data.extend((0..len).map(|_| next() as u8));
                let row = (1u32 << z) - 1 - y;
                conn.execute(
                    "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![z, x, row, data],
                )
                .expect("tile");
                out.push(Tile {
                    path: format!("/tiles/{z}/{x}/{y}"),
                    data,
                });
            }
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
    out
}

struct LoadResult {
    rps: f64,
    mb_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Drives random tiles from `connections` keep-alive clients for `duration`; with
/// `revalidate`, each request carries the tile's ETag (fetched once first) and must get 304.
async fn load(
    base: &str,
    tiles: Arc<Vec<Tile>>,
    connections: usize,
    duration: Duration,
    revalidate: bool,
) -> LoadResult {
    let mut etags = Vec::new();
    if revalidate {
        let client = reqwest::Client::new();
        for t in tiles.iter() {
            let r = client
                .get(format!("{base}{}", t.path))
                .send()
                .await
                .expect("tile");
            etags.push(r.headers()["etag"].to_str().expect("etag").to_string());
        }
    }
    let etags = Arc::new(etags);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..connections {
        let base = base.to_string();
        let tiles = tiles.clone();
        let etags = etags.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut rng: u64 = 0x2545_F491_4F6C_DD1D ^ ((task as u64 + 1) * 0x9E37_79B9);
            let mut latencies = Vec::new();
            let mut bytes = 0usize;
            while start.elapsed() < duration {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let i = (rng % tiles.len() as u64) as usize;
                let tile = &tiles[i];
                let t0 = Instant::now();
                let mut req = client.get(format!("{base}{}", tile.path));
                if revalidate {
                    req = req.header("If-None-Match", &etags[i]);
                }
                let resp = req.send().await.expect("request");
                let status = resp.status().as_u16();
                let body = resp.bytes().await.expect("body");
                latencies.push(t0.elapsed());
                if revalidate {
                    assert_eq!(status, 304, "{}", tile.path);
                } else {
                    assert_eq!(status, 200, "{}", tile.path);
                    assert!(body[..] == tile.data[..], "wrong bytes for {}", tile.path);
                    bytes += body.len();
                }
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
        rps: latencies.len() as f64 / elapsed,
        mb_per_s: bytes as f64 / 1e6 / elapsed,
        p50_ms: common::percentile_ms(&latencies, 0.50),
        p99_ms: common::percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    }
}
