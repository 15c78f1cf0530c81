//! Fan-out benchmark: N HTTP listeners (default 500) on one 128 kbps MP3 stream, server CPU
//! side by side with Debian's `icecast2` serving N listeners of a 128 kbps mount.
//!
//! Run: `cargo bench --bench fanout` (options after `--`: `--clients N` (500), `--seconds N`
//! (20, the measuring window), `--only roundwared|channel|icecast`). Needs `ffmpeg` and, for the
//! Icecast half, `icecast2` (`apt-get install -y icecast2`; when run as root the generated
//! config drops privileges to the package's `icecast2` user with `<changeowner>`).
//!
//! * **roundwared**: the release binary with `serve --demo`; the bench registers a device
//!   (`POST /api/2/users/`), opens a session on project 1 and asks `POST /api/2/streams/`
//!   for a stream, then connects every client to its `stream_url`. Until that route exists
//!   (it answers 404/405), the bench falls back to a **tone server**: this same bench binary
//!   re-executed as a separate process that runs the library daemon (`Daemon::run`) with one
//!   feed at `/stream1.mp3` fed by `ToneSource` (a real-time sine, LAME-encoded in that
//!   process). Either way the server process encodes one stream and fans it out.
//! * **roundwared (broadcast channel)**: the release binary with a broadcast channel made
//!   through `/livepeer/api/stream`, pushed by the same `ffmpeg -re` source as Icecast's, its
//!   clients on `/live/<playbackId>.mp3`: the relay side by side with Icecast's (issue 13).
//! * **icecast2**: a temp config on a free port and an `ffmpeg -re` libmp3lame source; the
//!   encoder runs in ffmpeg, so Icecast's CPU is fan-out only (roundwared's includes its one
//!   encoder, about 1 % of a core).
//!
//! Clients: one tokio runtime with one worker in this process reading all sockets (raw TCP,
//! `GET … HTTP/1.1`, 100 new connections per second). After all are connected and 3 s of
//! burst have passed, the server's utime+stime (`/proc/<pid>/stat`) and every client's byte
//! count are read at the start and end of the window. Printed per server: clients connected, server CPU in % of one core,
//! bytes/s per client (min / median / max) and how many clients were within ±10 % of real
//! time (bitrate / 8).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;

const KBPS: u64 = 128;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--tone-server") {
        let dir = args.get(i + 1).expect("--tone-server DATA_DIR");
        tone_server(Path::new(dir));
        return;
    }
    let clients = common::arg("--clients", 500) as usize;
    let seconds = common::arg("--seconds", 20);
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "fan-out: {clients} clients on one {KBPS} kbps MP3 stream, {seconds} s window \
         ({} bytes/s is real time)",
        KBPS * 125
    );
    let mut rows = Vec::new();
    if only.is_empty() || only == "roundwared" {
        rows.push(runtime.block_on(roundwared(clients, seconds)));
    }
    if only.is_empty() || only == "channel" {
        match runtime.block_on(channel(clients, seconds)) {
            Ok(row) => rows.push(row),
            Err(e) => println!("roundwared channel: skipped ({e})"),
        }
    }
    if only.is_empty() || only == "icecast" {
        match runtime.block_on(icecast(clients, seconds)) {
            Ok(row) => rows.push(row),
            Err(e) => println!("icecast2: skipped ({e})"),
        }
    }
    println!();
    println!(
        "| server | clients | server CPU (% of one core) | bytes/s per client min / median / max | at real time ±10 % | server RSS |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.0} / {:.0} / {:.0} | {} | {} MB |",
            r.label,
            r.connected,
            r.cpu_pct,
            r.min_bps,
            r.median_bps,
            r.max_bps,
            r.at_real_time,
            r.rss_kb / 1024
        );
    }
}

/// One measured server.
struct Row {
    label: String,
    connected: usize,
    cpu_pct: f64,
    min_bps: f64,
    median_bps: f64,
    max_bps: f64,
    at_real_time: usize,
    rss_kb: u64,
}

// ------------------------------------------------------------------------------------------
// roundwared

async fn roundwared(clients: usize, seconds: u64) -> Row {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::ReleaseServer::start_many_phones(dir.path(), &["--demo"]);
    common::wait_ready(&server.base).await;
    match stream_url(&server.base).await {
        Ok(url) => {
            let (addr, path) = split_url(&url);
            measure("roundwared", server.pid(), &addr, &path, clients, seconds).await
        }
        Err(why) => {
            println!("roundwared: {why}; measuring the tone server instead");
            drop(server);
            let tone = ToneServer::start(dir.path());
            let addr = tone.addr.clone();
            measure(
                "roundwared (tone server)",
                tone.child.id(),
                &addr,
                "/stream1.mp3",
                clients,
                seconds,
            )
            .await
        }
    }
}

/// Registers a device, opens a session on project 1 and asks for a stream.
async fn stream_url(base: &str) -> Result<String, String> {
    let http = reqwest::Client::new();
    let user: serde_json::Value = http
        .post(format!("{base}/api/2/users/"))
        .json(&serde_json::json!({"device_id": "fanout-bench", "client_type": "bench"}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = user["token"].as_str().ok_or("no token")?.to_string();
    let session: serde_json::Value = http
        .post(format!("{base}/api/2/sessions/"))
        .header("Authorization", format!("token {token}"))
        .json(&serde_json::json!({"project_id": 1, "client_type": "bench"}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let session_id = session["session_id"]
        .as_i64()
        .or(session["id"].as_i64())
        .ok_or_else(|| format!("no session id in {session}"))?;
    let resp = http
        .post(format!("{base}/api/2/streams/"))
        .header("Authorization", format!("token {token}"))
        .json(&serde_json::json!({"session_id": session_id}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("POST /api/2/streams/ answered {status}"));
    }
    body["stream_url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no stream_url in {body}"))
}

/// `http://host:port/path` → (`host:port`, `/path`).
fn split_url(url: &str) -> (String, String) {
    let rest = url.trim_start_matches("http://");
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// This binary re-executed as a stand-in server: the library daemon plus one tone feed.
struct ToneServer {
    child: Child,
    addr: String,
}

impl ToneServer {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .arg("--tone-server")
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tone server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("tone server address");
        let addr = line.trim().trim_start_matches("LISTEN ").to_string();
        // Let the feed fill its burst.
        std::thread::sleep(Duration::from_millis(1600));
        Self { child, addr }
    }
}

impl Drop for ToneServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Child mode: serve `/stream1.mp3` (a 440 Hz tone at 128 kbps) until killed.
fn tone_server(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let text = format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n",
            dir.display()
        );
        let config = roundwared::config::Config::from_toml_str(&text, Path::new("bench.toml"))
            .expect("config");
        let daemon = roundwared::Daemon::start(config).await.expect("daemon");
        let feed = roundwared::testing::output::feed::Feed::new(KBPS as u32);
        daemon.feeds().insert(1, feed.clone());
        let _tone = roundwared::testing::output::tone::ToneSource::start(feed, 440.0, "bench")
            .expect("tone");
        println!("LISTEN {}", daemon.local_addr().expect("address"));
        daemon
            .run(std::future::pending())
            .await
            .expect("daemon runs");
    });
}

// ------------------------------------------------------------------------------------------
// icecast2

async fn icecast(clients: usize, seconds: u64) -> Result<Row, String> {
    if Command::new("icecast2").arg("-v").output().is_err() {
        return Err("icecast2 not installed: apt-get install -y icecast2".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())?;
    let logs = dir.path().join("log");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let root = is_root();
    if root {
        // Icecast refuses to run as root; it switches to the package's user, which must
        // reach the log directory.
        use std::os::unix::fs::PermissionsExt;
        let open =
            |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        open(dir.path(), 0o755).map_err(|e| e.to_string())?;
        open(&logs, 0o777).map_err(|e| e.to_string())?;
    }
    let changeowner = if root {
        "<changeowner><user>icecast2</user><group>icecast</group></changeowner>"
    } else {
        ""
    };
    let config = dir.path().join("icecast.xml");
    std::fs::write(
        &config,
        format!(
            r#"<icecast>
  <location>bench</location><admin>bench@localhost</admin>
  <limits><clients>{max}</clients><sources>2</sources></limits>
  <authentication>
    <source-password>benchpass</source-password><relay-password>benchpass</relay-password>
    <admin-user>admin</admin-user><admin-password>benchpass</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir><logdir>{logs}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot>{changeowner}</security>
</icecast>
"#,
            max = clients + 50,
            logs = logs.display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let server = Killed(
        Command::new("icecast2")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("icecast2: {e}"))?,
    );
    std::thread::sleep(Duration::from_millis(500));
    let _source = ffmpeg_source(&format!(
        "icecast://source:benchpass@127.0.0.1:{port}/bench.mp3"
    ))?;
    let addr = format!("127.0.0.1:{port}");
    // Wait for the mount, then for Icecast's 64 KiB burst to fill.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok((status, _)) = open_stream(&addr, "/bench.mp3").await
            && status.contains(" 200")
        {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the mount did not come up; see {}",
                logs.join("error.log").display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    Ok(measure(
        "icecast2",
        server.0.id(),
        &addr,
        "/bench.mp3",
        clients,
        seconds,
    )
    .await)
}

/// ffmpeg pushing a real-time 440 Hz sine at [`KBPS`] to `url` as an Icecast source.
fn ffmpeg_source(url: &str) -> Result<Killed, String> {
    Ok(Killed(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg("sine=frequency=440:sample_rate=44100")
            .args([
                "-ac",
                "2",
                "-c:a",
                "libmp3lame",
                "-b:a",
                &format!("{KBPS}k"),
            ])
            .args(["-content_type", "audio/mpeg", "-f", "mp3", url])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("ffmpeg: {e}"))?,
    ))
}

// ------------------------------------------------------------------------------------------
// roundwared relaying a broadcast channel

/// A broadcast channel on the release binary, pushed by the same ffmpeg source as Icecast's,
/// its listeners at `/live/<playbackId>.mp3`: relay only, no encoder in the server.
async fn channel(clients: usize, seconds: u64) -> Result<Row, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = common::ReleaseServer::start_many_phones(dir.path(), &[]);
    common::wait_ready(&server.base).await;
    let token = common::staff_token(&server.base, dir.path(), "bench").await?;
    let (key, playback) = common::push_channel(&server.base, &token, "bench").await?;
    let (addr, _) = split_url(&server.base);
    let _source = ffmpeg_source(&format!("icecast://source:{key}@{addr}/live/{key}"))?;
    let path = format!("/live/{playback}.mp3");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok((status, _)) = open_stream(&addr, &path).await
            && status.contains(" 200")
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("the channel did not go live".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    Ok(measure(
        "roundwared (broadcast channel)",
        server.pid(),
        &addr,
        &path,
        clients,
        seconds,
    )
    .await)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------------------------------------
// The clients and the measurement

/// Connects, sends the request and reads the response head; returns the status line and
/// the socket positioned in the body (with any body bytes that came with the head).
async fn open_stream(addr: &str, path: &str) -> Result<(String, (TcpStream, usize)), String> {
    let mut sock = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: fanout-bench\r\n\r\n");
    sock.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), sock.read(&mut buf))
            .await
            .map_err(|_| "no response head".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the head".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let status = String::from_utf8_lossy(
                &head[..head[..i].iter().position(|&b| b == b'\r').unwrap_or(i)],
            )
            .to_string();
            return Ok((status, (sock, head.len() - i - 4)));
        }
    }
}

async fn measure(
    label: &str,
    pid: u32,
    addr: &str,
    path: &str,
    clients: usize,
    seconds: u64,
) -> Row {
    let counters: Arc<Vec<AtomicU64>> = Arc::new((0..clients).map(|_| AtomicU64::new(0)).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let (counters, connected, failed) = (counters.clone(), connected.clone(), failed.clone());
        let (addr, path) = (addr.to_string(), path.to_string());
        tasks.spawn(async move {
            let (mut sock, early) = match open_stream(&addr, &path).await {
                Ok((status, sock)) if status.contains(" 200") => sock,
                Ok((status, _)) => {
                    eprintln!("client {i}: {status}");
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    eprintln!("client {i}: {e}");
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            counters[i].fetch_add(early as u64, Ordering::Relaxed);
            connected.fetch_add(1, Ordering::Relaxed);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        counters[i].fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        // Ramp up at 100 connections/s: Icecast's short listen backlog drops SYNs otherwise.
        if i % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < clients
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n_connected = connected.load(Ordering::Relaxed);
    println!("{label}: {n_connected}/{clients} clients connected, settling 3 s");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let snapshot = || -> Vec<u64> { counters.iter().map(|c| c.load(Ordering::Relaxed)).collect() };
    let (cpu0, bytes0, t0) = (cpu_ticks(pid), snapshot(), Instant::now());
    let own0 = cpu_ticks(std::process::id());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, bytes1, window) = (cpu_ticks(pid), snapshot(), t0.elapsed().as_secs_f64());
    let own1 = cpu_ticks(std::process::id());
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    let tck = clock_ticks() as f64;
    let cpu_pct = (cpu1 - cpu0) as f64 / tck / window * 100.0;
    let own_pct = (own1 - own0) as f64 / tck / window * 100.0;
    let mut rates: Vec<f64> = bytes1
        .iter()
        .zip(&bytes0)
        .map(|(b1, b0)| (b1 - b0) as f64 / window)
        .filter(|&r| r > 0.0)
        .collect();
    rates.sort_by(f64::total_cmp);
    let real_time = (KBPS * 125) as f64;
    let at_real_time = rates
        .iter()
        .filter(|&&r| (r - real_time).abs() <= real_time * 0.1)
        .count();
    let pick = |q: f64| {
        rates
            .get(((rates.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{label}: server CPU {cpu_pct:.2} % of one core over {window:.1} s (bench client process: {own_pct:.1} %)"
    );
    Row {
        label: label.to_string(),
        connected: n_connected,
        cpu_pct,
        min_bps: pick(0.0),
        median_bps: pick(0.5),
        max_bps: pick(1.0),
        at_real_time,
        rss_kb: common::rss_kb(pid),
    }
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12) // fields 14 and 15 of /proc/<pid>/stat
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}
