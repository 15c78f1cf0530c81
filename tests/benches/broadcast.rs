//! Broadcast channel benchmark (issue 13), on the release binary over loopback:
//!
//! * **source in → same bytes out**: a source client sends distinct 128 kbps MP3 frames
//!   (white noise) in real time; a listener of `/live/<playbackId>.mp3` finds each frame it
//!   receives among those sent and notes how long after its send it arrived (p50 / p99 / max,
//!   the burst on connect left out): alone, then with `--audience N` (100) other listeners,
//!   enough for the relay to gather pieces (`[broadcast] relay_hold_ms`);
//! * **first audio byte on connect** while live (20 connections: p50 / max);
//! * **a 60 s clip**: `POST /livepeer/api/clip` for the last 60 s, answer time (5 runs);
//! * **ingest CPU**: `--channels N` (10) channels pushed at once with no listener, the
//!   server's CPU over `--seconds N` (20), per channel.
//!
//! Run: `cargo bench --bench broadcast` (about 3 minutes). Needs `ffmpeg`. The relay's CPU
//! beside Icecast's is in `cargo bench --bench fanout` (`--only channel`, `--only icecast`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roundwared::testing::output::mp3::FrameHeader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;

fn main() {
    let channels = common::arg("--channels", 10) as usize;
    let seconds = common::arg("--seconds", 20);
    let audience = common::arg("--audience", 100) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(channels, seconds, audience));
}

/// `seconds` of white noise as 128 kbps MP3 frames (every frame different).
fn noise_frames(seconds: u32) -> Vec<Vec<u8>> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!(
            "anoisesrc=duration={seconds}:sample_rate=44100:amplitude=0.3"
        ))
        .args([
            "-ac",
            "2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-write_xing",
            "0",
        ])
        .args(["-id3v2_version", "0", "-f", "mp3", "-"])
        .output()
        .expect("ffmpeg runs");
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(h) = out.stdout.get(pos..).and_then(FrameHeader::parse) {
        frames.push(out.stdout[pos..(pos + h.len).min(out.stdout.len())].to_vec());
        pos += h.len;
    }
    frames
}

fn hash(b: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

const FRAME: Duration = Duration::from_micros(26_122);

/// Pushes `frames` to `/live/<key>` in real time, noting when each was sent.
async fn push(
    addr: String,
    key: String,
    frames: Arc<Vec<Vec<u8>>>,
    sent: Arc<Mutex<Vec<Option<Instant>>>>,
) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("source:{key}"));
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    tcp.set_nodelay(true).ok();
    let head = format!(
        "PUT /live/{key} HTTP/1.1\r\nHost: box\r\nAuthorization: Basic {auth}\r\nContent-Type: audio/mpeg\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.expect("head");
    let mut answer = [0u8; 256];
    let _ = tcp.read(&mut answer).await;
    let start = tokio::time::Instant::now();
    for (i, f) in frames.iter().enumerate() {
        tokio::time::sleep_until(start + FRAME * i as u32).await;
        if tcp.write_all(f).await.is_err() {
            return;
        }
        sent.lock().unwrap()[i] = Some(Instant::now());
    }
}

/// Connects a listener: (time to the first body byte, the socket, the bytes after the head).
async fn listen(addr: &str, path: &str) -> (Duration, TcpStream, Vec<u8>) {
    let t0 = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: box\r\n\r\n").as_bytes())
        .await
        .expect("get");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = tcp.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed before audio");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n")
            && buf.len() > i + 4
        {
            return (t0.elapsed(), tcp, buf.split_off(i + 4));
        }
    }
}

/// For `seconds`, how long after its send each frame the listener `tcp` receives arrived
/// (frames sent before it joined left out).
async fn latencies(
    mut tcp: TcpStream,
    mut body: Vec<u8>,
    index: &HashMap<u64, usize>,
    sent: &Mutex<Vec<Option<Instant>>>,
    seconds: u64,
) -> Vec<Duration> {
    let joined = Instant::now();
    let mut delays = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while joined.elapsed() < Duration::from_secs(seconds) {
        // Whole frames at the front of `body`: find each among those sent.
        let mut pos = 0;
        while let Some(h) = body.get(pos..).and_then(FrameHeader::parse) {
            if pos + h.len > body.len() {
                break;
            }
            if let Some(&i) = index.get(&hash(&body[pos..pos + h.len]))
                && let Some(at) = sent.lock().unwrap()[i]
                && at > joined
            {
                delays.push(at.elapsed());
            }
            pos += h.len;
        }
        body.drain(..pos);
        let n = tcp.read(&mut chunk).await.expect("read");
        body.extend_from_slice(&chunk[..n]);
    }
    delays.sort();
    delays
}

fn print_latency(label: &str, delays: &[Duration]) {
    println!(
        "source in -> same bytes out, {label} ({} frames): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        common::percentile_ms(delays, 0.50),
        common::percentile_ms(delays, 0.99),
        delays.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
}

async fn run(channels: usize, seconds: u64, audience: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::ReleaseServer::start_many_phones(dir.path(), &[]);
    common::wait_ready(&server.base).await;
    let token = common::staff_token(&server.base, dir.path(), "bench")
        .await
        .expect("staff token");
    let addr = server.base.trim_start_matches("http://").to_owned();
    let frames = Arc::new(noise_frames(100));
    let index: HashMap<u64, usize> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (hash(f), i))
        .collect();
    println!(
        "broadcast: {} distinct 128 kbps frames ({:.0} s)",
        frames.len(),
        frames.len() as f64 * 0.026122
    );

    // Latency, first byte, clip: one channel pushed for its whole length.
    let (key, playback) = common::push_channel(&server.base, &token, "latency")
        .await
        .expect("a channel");
    let sent = Arc::new(Mutex::new(vec![None; frames.len()]));
    tokio::spawn(push(addr.clone(), key, frames.clone(), sent.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let path = format!("/live/{playback}.mp3");
    let joined = Instant::now();
    let (_, tcp, body) = listen(&addr, &path).await;
    let delays = latencies(tcp, body, &index, &sent, seconds).await;
    print_latency("alone", &delays);

    // The same with an audience large enough for the relay hold ([broadcast] relay_hold_ms).
    let mut crowd = tokio::task::JoinSet::new();
    for _ in 0..audience {
        let (addr, path) = (addr.clone(), path.clone());
        crowd.spawn(async move {
            let (_, mut tcp, _) = listen(&addr, &path).await;
            let mut sink = vec![0u8; 16 * 1024];
            while tcp.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, tcp, body) = listen(&addr, &path).await;
    let delays = latencies(tcp, body, &index, &sent, seconds).await;
    print_latency(&format!("with {audience} other listeners"), &delays);
    crowd.abort_all();
    let mut firsts = Vec::new();
    for _ in 0..20 {
        let (first, _, _) = listen(&addr, &path).await;
        firsts.push(first);
    }
    firsts.sort();
    println!(
        "first audio byte on connect (20 connections): p50 {:.1} ms, max {:.1} ms",
        common::percentile_ms(&firsts, 0.50),
        firsts.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    // A 60 s clip once 62 s are buffered.
    let wait = Duration::from_secs(63).saturating_sub(joined.elapsed() + Duration::from_secs(3));
    tokio::time::sleep(wait).await;
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for n in 0..5 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let t = Instant::now();
        let r = http
            .post(format!("{}/livepeer/api/clip", server.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"playbackId": playback, "startTime": now - 61_000, "endTime": now - 1_000, "name": format!("bench {n}")}))
            .send()
            .await
            .expect("clip");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        answers.push(t.elapsed());
        assert!(status.is_success(), "clip: {status} {text}");
    }
    answers.sort();
    println!(
        "60 s clip answered (5 runs): p50 {:.1} ms, max {:.1} ms",
        common::percentile_ms(&answers, 0.50),
        answers.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );

    // Ingest: N more channels pushed at once, no listeners.
    let mut keys = Vec::new();
    for c in 0..channels {
        keys.push(
            common::push_channel(&server.base, &token, &format!("ingest {c}"))
                .await
                .expect("a channel")
                .0,
        );
    }
    for key in keys {
        let sent = Arc::new(Mutex::new(vec![None; frames.len()]));
        tokio::spawn(push(addr.clone(), key, frames.clone(), sent));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu0, t0) = (common::cpu_s(server.pid()), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = (common::cpu_s(server.pid()) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    println!(
        "ingest: {} channels pushed at 128 kbps (+1 with its listener gone): server CPU {:.2} % of a core, {:.3} % per channel",
        channels,
        cpu,
        cpu / (channels + 1) as f64
    );
}
