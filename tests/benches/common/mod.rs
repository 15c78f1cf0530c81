//! What the benchmarks that drive the release binary share: command-line options, starting
//! `roundwared` on a free loopback port with a temporary config, waiting for it, and reading
//! its resident memory.

#![allow(dead_code, unreachable_pub)] // each benchmark uses its own subset

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mono 16-bit 44.1 kHz WAV of `seconds`, each sample `sample(t)` at `t` seconds (a
/// stateful closure may add noise), written by the daemon's own WAV writer.
pub fn mono_wav(seconds: f64, mut sample: impl FnMut(f64) -> f64) -> Vec<u8> {
    let rate = 44_100u32;
    let frames = (f64::from(rate) * seconds) as usize;
    let samples = (0..frames)
        .map(|i| sample(i as f64 / f64::from(rate)) as f32)
        .collect();
    roundwared::testing::media::encode::wav16(&roundwared::testing::media::decode::Pcm {
        rate,
        channels: 1,
        samples,
    })
}

/// A repeatable noise source in [-0.5, 0.5) (a linear congruential generator from `seed`).
pub fn noise(seed: u32) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        f64::from(state >> 8) / f64::from(1u32 << 24) - 0.5
    }
}

/// The `p` quantile (0–1) of ascending `sorted` latencies, in milliseconds (0 when empty).
pub fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The value after `name` on the command line (`cargo bench --bench X -- --seconds 5`).
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `[http]` keys that let one loopback address hold as many connections as a crowd of phones.
pub const MANY_PHONES_HTTP: &str = "max_connections = 100000\nmax_connections_per_ip = 100000\n";

/// A `[limits]` table that lets one loopback address register, start and hold as many
/// streams as a crowd of phones.
pub const MANY_PHONES_LIMITS: &str = "[limits]\nregistrations_per_ip_per_min = 1000000\n\
    logins_per_ip_per_min = 1000000\nuploads_per_ip_per_min = 1000000\n\
    stream_starts_per_ip_per_min = 1000000\nstreams_per_user = 10000\nstreams_per_ip = 10000\n";

/// The release `roundwared` serving `data_dir` on loopback; killed when dropped, even on panic.
pub struct ReleaseServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl ReleaseServer {
    /// Writes a config next to the data and starts the binary (not yet ready: see
    /// [`wait_ready`]).
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with_args(data_dir, &[])
    }

    /// Like [`ReleaseServer::start`], with extra `serve` arguments (e.g. `--demo`).
    pub fn start_with_args(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_configured(data_dir, "", "", extra)
    }

    /// Like [`ReleaseServer::start_with_args`], for a benchmark that plays many phones from
    /// this one loopback address: the per-address caps are lifted ([`MANY_PHONES_HTTP`],
    /// [`MANY_PHONES_LIMITS`]). `api_load` keeps the defaults, so their cost stays measured.
    pub fn start_many_phones(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_configured(data_dir, MANY_PHONES_HTTP, MANY_PHONES_LIMITS, extra)
    }

    /// Like [`ReleaseServer::start_many_phones`], with `tables` (other than `[http]`,
    /// `[storage]`, `[log]` and `[limits]`) appended to the config.
    pub fn start_many_phones_with(data_dir: &Path, tables: &str, extra: &[&str]) -> Self {
        let tables = format!("{MANY_PHONES_LIMITS}{tables}");
        Self::start_configured(data_dir, MANY_PHONES_HTTP, &tables, extra)
    }

    /// Like [`ReleaseServer::start_with_args`], with `extra_toml` (tables other than
    /// `[http]`, `[storage]` and `[log]`) appended to the config.
    pub fn start_with_config(data_dir: &Path, extra: &[&str], extra_toml: &str) -> Self {
        Self::start_configured(data_dir, "", extra_toml, extra)
    }

    /// Starts with `http_keys` added to `[http]` and `tables` appended to the config.
    fn start_configured(data_dir: &Path, http_keys: &str, tables: &str, extra: &[&str]) -> Self {
        let bin = Path::new(env!("CARGO_BIN_EXE_roundwared"));
        Self::start_binary(bin, data_dir, http_keys, tables, extra)
    }

    /// Like [`ReleaseServer::start`] with another `roundwared` binary (an older build to
    /// compare with); its config carries only keys every version knows unless told otherwise.
    pub fn start_binary(
        bin: &Path,
        data_dir: &Path,
        http_keys: &str,
        tables: &str,
        extra: &[&str],
    ) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let config = data_dir.join("bench.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\n{http_keys}[storage]\ndata_dir = \"{}\"\n[log]\nlevel = \"warn\"\n{tables}",
                data_dir.display()
            ),
        )
        .expect("write config");
        let child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config)
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start roundwared");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The server's process id (for CPU readings from `/proc/<pid>/stat`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory in KiB (0 if unknown).
    pub fn rss_kb(&self) -> u64 {
        self.status_kb("VmRSS:")
    }

    /// The server's peak resident memory in KiB (0 if unknown).
    pub fn peak_rss_kb(&self) -> u64 {
        self.status_kb("VmHWM:")
    }

    /// A `kB` line of `/proc/<pid>/status`.
    fn status_kb(&self, key: &str) -> u64 {
        status_kb(self.child.id(), key)
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` line (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status` (0 if unknown).
pub fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Resident memory of process `pid` in KiB (0 if unknown).
pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// Waits until the API answers (10 s at most).
pub async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/api/2/")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("roundwared did not start");
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/<pid>/stat` (10 ms ticks;
/// 0 if unknown).
pub fn cpu_s(pid: u32) -> f64 {
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

/// Raises this process's open-file soft limit to its hard limit (as `serve` does for the
/// daemon), for a benchmark that holds thousands of sockets; the soft limit now.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|soft| soft < hard) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: limit.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current
}

/// Makes a push broadcast channel through the Livepeer API with the staff `token`; returns
/// its (stream key, playback id).
pub async fn push_channel(base: &str, token: &str, name: &str) -> Result<(String, String), String> {
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/livepeer/api/stream"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": name}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {k} in {v}"))
    };
    Ok((field("streamKey")?, field("playbackId")?))
}

/// A staff user `username` added to the database of the server serving `data_dir` with the
/// CLI (`roundwared user add --staff`, as an installer does), logged in through
/// `POST /api/2/login/`: its token.
pub async fn staff_token(base: &str, data_dir: &Path, username: &str) -> Result<String, String> {
    let password = format!("{username}-bench-password-0123456789");
    let out = Command::new(env!("CARGO_BIN_EXE_roundwared"))
        .args(["user", "add", "--username", username, "--password"])
        .arg(&password)
        .arg("--staff")
        .arg("--config")
        .arg(data_dir.join("bench.toml"))
        .output()
        .map_err(|e| format!("roundwared user add: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "roundwared user add: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let response = reqwest::Client::new()
        .post(format!("{base}/api/2/login/"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("login: HTTP {status}: {e}"))?;
    body["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("login: HTTP {status}: {body}"))
}
