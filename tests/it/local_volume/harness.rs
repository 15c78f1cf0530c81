//! The harness of the volume tests: a daemon child process with its own `HOME` (ALSA
//! configuration), config, staff user and captured level, and the two sinks it can play into.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(super) const CAP_RATE_HZ: usize = 48_000;
/// The bed in the zone, centred: RMS per channel at volume 100 (see `local_card`).
pub(super) const FULL_RMS: f64 = 0.25;

/// The test's ALSA configuration: `default` and `boxout` into the FIFO; `boxcard` too, when
/// `with_boxcard` (the card "plugged in").
pub(super) fn asoundrc(fifo: &Path, with_boxcard: bool) -> String {
    let plug = format!(
        "{{\n  type plug\n  slave {{ pcm \"capfile\"; format S16_LE; rate {CAP_RATE_HZ}; channels 2 }}\n}}\n"
    );
    let mut s = format!(
        "pcm.!default {plug}pcm.boxout {plug}\
         pcm.capfile {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n  \
         hint {{ show on; description \"Roundwared test sink\" }}\n}}\n",
        fifo.display()
    );
    if with_boxcard {
        s.push_str(&format!("pcm.boxcard {plug}"));
    }
    s
}

/// A daemon child process with its FIFO reader and its stderr collected.
pub(super) struct BoxUnderTest {
    pub(super) dir: tempfile::TempDir,
    cfg: PathBuf,
    port: u16,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    captured: Arc<Mutex<Vec<u8>>>,
    /// Set to make the reader restart its real-time pacing (after a restart of the daemon).
    repace: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Extra environment of the daemon (the PulseAudio server's runtime directory).
    pub(super) env: Vec<(String, PathBuf)>,
    /// A PulseAudio server and its `parec` recorder, for the hardware-mixer runs.
    helpers: Vec<Child>,
}

impl BoxUnderTest {
    /// Seeds the project, writes the ALSA configuration and config (`local_extra` goes into
    /// `[local]`), adds a staff user and starts the daemon.
    pub(super) async fn start(local_extra: &str, with_boxcard: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("card.fifo");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(dir.path().join(".asoundrc"), asoundrc(&fifo, with_boxcard)).unwrap();
        let captured = Arc::new(Mutex::new(Vec::new()));
        let repace = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        spawn_reader(&fifo, captured.clone(), repace.clone(), stop.clone());
        let mut b = Self::prepare(dir, local_extra, captured, repace, stop).await;
        b.spawn_daemon();
        b
    }

    /// Like [`BoxUnderTest::start`], but the card is `boxpulse`: ALSA's `pulse` PCM and
    /// control plugins on a PulseAudio null sink (paced by PulseAudio's timer), whose `Master`
    /// element is a real ALSA simple-mixer element; the level is recorded from the sink's
    /// monitor with `parec`.
    pub(super) async fn start_pulse(local_extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let server = Command::new("pulseaudio")
            .args([
                "--daemonize=no",
                "--exit-idle-time=-1",
                "-n",
                "--use-pid-file=no",
            ])
            .args([
                "-L",
                "module-null-sink",
                "-L",
                "module-native-protocol-unix",
            ])
            .args(["-L", "module-always-sink"])
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &run)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio (tests/install-deps.sh installs it)");
        let socket = run.join("pulse/native");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "pulseaudio did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::write(
            dir.path().join(".asoundrc"),
            "pcm.boxpulse {\n  type pulse\n  hint { show on; description \"PulseAudio null sink\" }\n}\n\
             ctl.boxpulse { type pulse }\n",
        )
        .unwrap();
        let mut parec = Command::new("parec")
            .args([
                "-d",
                "null.monitor",
                "--rate=48000",
                "--channels=2",
                "--format=s16le",
            ])
            .arg("--latency-msec=20")
            .env("XDG_RUNTIME_DIR", &run)
            .env("HOME", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("parec (pulseaudio-utils)");
        let captured = Arc::new(Mutex::new(Vec::new()));
        let mut out = parec.stdout.take().unwrap();
        let sink = captured.clone();
        std::thread::spawn(move || {
            let mut chunk = vec![0u8; 8192];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let (repace, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let mut b = Self::prepare(dir, local_extra, captured, repace, stop).await;
        b.env.push(("XDG_RUNTIME_DIR".into(), run));
        b.helpers.extend([server, parec]);
        b.spawn_daemon();
        b
    }

    /// Seeds the project, writes the config and adds the staff user.
    pub(super) async fn prepare(
        dir: tempfile::TempDir,
        local_extra: &str,
        captured: Arc<Mutex<Vec<u8>>>,
        repace: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        crate::local_card::seed(dir.path()).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("roundwared.toml");
        std::fs::write(
            &cfg,
            format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n\
                 [local]\nenabled = true\nproject_id = 1\n{local_extra}\n\
                 [position]\nsource = \"fixed\"\nfixed = [0.0, 0.0]\n[log]\nlevel = \"info\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let added = Command::new(env!("CARGO_BIN_EXE_roundwared"))
            .args([
                "user",
                "add",
                "--username",
                "staff",
                "--password",
                "password123",
            ])
            .args(["--staff", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        Self {
            dir,
            cfg,
            port,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
            captured,
            repace,
            stop,
            env: Vec::new(),
            helpers: Vec::new(),
        }
    }

    pub(super) fn spawn_daemon(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roundwared"))
            .args(["serve", "--config"])
            .arg(&self.cfg)
            .env("HOME", self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        self.child = Some(child);
    }

    /// Stops the daemon with SIGTERM and waits for it.
    pub(super) fn stop_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            let _ = child.wait();
        }
    }

    pub(super) fn restart(&mut self) {
        self.stop_daemon();
        self.repace.store(true, Ordering::Relaxed);
        self.spawn_daemon();
    }

    pub(super) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A staff token (waits for the daemon to answer).
    pub(super) async fn staff_token(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = reqwest::Client::new()
                .post(self.url("/api/2/login/"))
                .json(&json!({"username": "staff", "password": "password123"}))
                .send()
                .await;
            if let Ok(r) = r
                && r.status().is_success()
            {
                let v: Value = r.json().await.unwrap();
                return v["token"].as_str().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "no login\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let c = reqwest::Client::new();
        let mut req = match method {
            "PATCH" => c.patch(self.url(path)),
            _ => c.get(self.url(path)),
        }
        .header("Authorization", format!("token {token}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// RMS of the last 0.5 s captured.
    pub(super) fn recent_rms(&self) -> f64 {
        let c = self.captured.lock().unwrap();
        let want = CAP_RATE_HZ / 2 * 4;
        let from = c.len().saturating_sub(want) & !3;
        let samples: Vec<i16> = c[from..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        rms(&samples)
    }

    /// Waits up to `secs` for the recent level to satisfy `ok`; returns the last level.
    pub(super) async fn wait_level(&self, secs: u64, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let level = self.recent_rms();
            if ok(level) {
                // Stays there (not a passing moment of a ramp).
                tokio::time::sleep(Duration::from_millis(700)).await;
                let again = self.recent_rms();
                if ok(again) {
                    return again;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: level {level:.5}\n{}",
                self.log()
            );
        }
    }
}

impl Drop for BoxUnderTest {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stop.store(true, Ordering::Relaxed);
        for mut h in self.helpers.drain(..) {
            let _ = h.kill();
            let _ = h.wait();
        }
    }
}

/// Reads the FIFO at real-time pace into `captured` until `stop`.
fn spawn_reader(
    fifo: &Path,
    captured: Arc<Mutex<Vec<u8>>>,
    repace: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    // Non-blocking read end, open before the daemon so its writer never waits for a reader.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(fifo)
        .unwrap();
    std::thread::spawn(move || {
        let bytes_per_s = (CAP_RATE_HZ * 4) as f64;
        let mut origin = Instant::now();
        let mut read_since = 0usize;
        let mut chunk = vec![0u8; 16 * 1024];
        while !stop.load(Ordering::Relaxed) {
            if repace.swap(false, Ordering::Relaxed) {
                origin = Instant::now();
                read_since = 0;
            }
            let allowed = (origin.elapsed().as_secs_f64() * bytes_per_s) as usize + 8192;
            let room = allowed.saturating_sub(read_since).min(chunk.len());
            if room > 0
                && let Ok(n) = reader.read(&mut chunk[..room])
            {
                read_since += n;
                captured.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

pub(super) fn rms(x: &[i16]) -> f64 {
    (x.iter()
        .map(|s| (f64::from(*s) / 32768.0).powi(2))
        .sum::<f64>()
        / x.len().max(1) as f64)
        .sqrt()
}

pub(super) fn db(ratio: f64) -> f64 {
    20.0 * ratio.max(1e-9).log10()
}
