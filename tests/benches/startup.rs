//! Start-up and idle benchmark of the release binary: the time from `exec` to systemd's
//! `READY=1` (received on a notify socket, exactly as systemd would) with a 1,000-asset
//! database, the CPU the idle daemon uses, and the binary's size.
//!
//! Run: `cargo bench --bench startup` (options after `--`: `--runs N` start-ups, default 20;
//! `--idle-seconds N`, default 20). Goals: READY ≤ 1 s on x86, idle CPU ≤ 1 % of one core.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ASSETS: usize = 1000;

fn main() {
    let runs = usize::try_from(common::arg("--runs", 20)).unwrap_or(20);
    let idle_s = common::arg("--idle-seconds", 20);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    seed(&data.join("roundwared.sqlite3"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n[log]\nlevel = \"warn\"\n",
            data.display()
        ),
    )
    .expect("config");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");

    let mut times_ms = Vec::new();
    let mut idle = None;
    for run in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_roundwared"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &sock_path)
            .stdout(Stdio::null())
            .spawn()
            .expect("start roundwared");
        let mut buf = [0u8; 1024];
        loop {
            let n = sock.recv(&mut buf).expect("READY=1 within 10 s");
            if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
                break;
            }
        }
        times_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if run == runs - 1 && idle_s > 0 {
            // Let start-up work settle, then measure a quiet period.
            std::thread::sleep(Duration::from_secs(2));
            let before = cpu_ticks(child.id());
            std::thread::sleep(Duration::from_secs(idle_s));
            let after = cpu_ticks(child.id());
            let rss = common::rss_kb(child.id());
            // USER_HZ = 100 ticks per second.
            idle = Some(((after - before) as f64 / 100.0 / idle_s as f64 * 100.0, rss));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        while sock.set_nonblocking(true).is_ok() && sock.recv(&mut buf).is_ok() {}
        sock.set_nonblocking(false).expect("blocking");
    }
    times_ms.sort_by(f64::total_cmp);
    let median = times_ms[times_ms.len() / 2];
    let max = times_ms[times_ms.len() - 1];
    println!(
        "start to READY=1 with {ASSETS} assets over {runs} runs: median {median:.1} ms, min {:.1} ms, max {max:.1} ms (goal <= 1000 ms)",
        times_ms[0]
    );
    if let Some((cpu_pct, rss)) = idle {
        println!(
            "idle over {idle_s} s: {cpu_pct:.3} % of one core (goal <= 1 %), resident memory {rss} KiB"
        );
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_roundwared"));
    let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    let stripped = dir.path().join("roundwared.stripped");
    let stripped_size = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(bin)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&stripped).ok())
        .map(|m| m.len());
    println!(
        "binary {}: {:.1} MiB{}",
        bin.display(),
        size as f64 / 1048576.0,
        stripped_size.map_or(String::new(), |s| format!(
            ", {:.1} MiB stripped",
            s as f64 / 1048576.0
        ))
    );
}

fn seed(db: &std::path::Path) {
    std::fs::create_dir_all(db.parent().expect("parent")).expect("data dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = roundwared::testing::store::Store::open(db).expect("store");
        store
            .write(|tx| {
                tx.execute_batch(
                    "INSERT INTO projects (id, name, latitude, longitude, pub_date, audio_format) \
                     VALUES (1, 'Bench', 42.35, -71.06, '2026-01-01T00:00:00.000000', 'mp3');\
                     INSERT INTO sessions (id, device_id, starttime, project_id, language_id, timezone) \
                     VALUES (1, 'bench', '2026-01-01T00:00:00.000000', 1, 1, '0000');",
                )?;
                let mut insert = tx.prepare(
                    "INSERT INTO assets (session_id, latitude, longitude, filename, file, project_id, \
                     created, updated, audiolength, language_id, description) \
                     VALUES (1, ?1, ?2, ?3, ?4, 1, '2026-01-01T00:00:00.000000', \
                     '2026-01-01T00:00:00.000000', 30000000000, 1, 'bench asset')",
                )?;
                for i in 0..ASSETS {
                    let f = i as f64;
                    insert.execute(rusqlite::params![
                        42.35 + f * 1e-5,
                        -71.06 + f * 1e-5,
                        format!("a{i}.wav"),
                        format!("a{i}.mp3")
                    ])?;
                }
                Ok(())
            })
            .await
            .expect("seed 1,000 assets");
    });
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15; rest starts at field 3.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}
