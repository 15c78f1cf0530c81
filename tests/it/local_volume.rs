//! The box's volume and outputs, end to end: the release-shaped daemon (a child process, so
//! ALSA's `HOME/.asoundrc` is its own) plays its local mix through cpal, and the test measures
//! the level that arrives while it changes the volume through the staff API, restarts the
//! daemon, and switches the card away and back.
//!
//! Two real sinks: an ALSA `file` plugin writing to a FIFO read at real-time pace (no mixer
//! element: the software-gain path), and ALSA's `pulse` PCM and control plugins on a
//! PulseAudio null sink recorded with `parec` (its `Master` is a real simple-mixer element:
//! the hardware-mixer path). A `softvol` PCM would be the other classic element, but alsa-lib
//! keeps softvol's control on a kernel card (`hw:N`), and the CI machines have no sound card
//! at all. `roundwared devices` is run against the same configurations.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CAP_RATE_HZ: usize = 48_000;
/// The bed in the zone, centred: RMS per channel at volume 100 (see `local_card`).
const FULL_RMS: f64 = 0.25;

/// The test's ALSA configuration: `default` and `boxout` into the FIFO; `boxcard` too, when
/// `with_boxcard` (the card "plugged in").
fn asoundrc(fifo: &Path, with_boxcard: bool) -> String {
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
struct BoxUnderTest {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    port: u16,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    captured: Arc<Mutex<Vec<u8>>>,
    /// Set to make the reader restart its real-time pacing (after a restart of the daemon).
    repace: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Extra environment of the daemon (the PulseAudio server's runtime directory).
    env: Vec<(String, PathBuf)>,
    /// A PulseAudio server and its `parec` recorder, for the hardware-mixer runs.
    helpers: Vec<Child>,
}

impl BoxUnderTest {
    /// Seeds the project, writes the ALSA configuration and config (`local_extra` goes into
    /// `[local]`), adds a staff user and starts the daemon.
    async fn start(local_extra: &str, with_boxcard: bool) -> Self {
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
    async fn start_pulse(local_extra: &str) -> Self {
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
    async fn prepare(
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

    fn spawn_daemon(&mut self) {
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
    fn stop_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop_daemon();
        self.repace.store(true, Ordering::Relaxed);
        self.spawn_daemon();
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A staff token (waits for the daemon to answer).
    async fn staff_token(&self) -> String {
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

    async fn call(
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
    fn recent_rms(&self) -> f64 {
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
    async fn wait_level(&self, secs: u64, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
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

fn rms(x: &[i16]) -> f64 {
    (x.iter()
        .map(|s| (f64::from(*s) / 32768.0).powi(2))
        .sum::<f64>()
        / x.len().max(1) as f64)
        .sqrt()
}

fn db(ratio: f64) -> f64 {
    20.0 * ratio.max(1e-9).log10()
}

#[tokio::test]
async fn the_console_volume_scales_what_the_card_plays_through_a_software_gain_and_survives_a_restart()
 {
    let mut b = BoxUnderTest::start("output = \"default\"\nvolume = 100", false).await;
    let token = b.staff_token().await;
    let full = b
        .wait_level(15, "full level at volume 100", |l| {
            (l - FULL_RMS).abs() < 0.04
        })
        .await;
    let (status, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(status, 200, "{audio}");
    assert_eq!(audio["volume"], 100);
    assert_eq!(
        audio["volume_via"], "software",
        "no mixer in a file plugin: {audio}"
    );
    assert_eq!(audio["config"]["volume"], 100);

    let (status, audio) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"volume": 50})),
        )
        .await;
    assert_eq!(status, 200, "{audio}");
    assert_eq!(audio["volume"], 50);
    // 50 is 30 dB below 100 (equal dB steps over 60 dB).
    let half = b
        .wait_level(10, "volume 50", |l| (db(l / full) + 30.0).abs() < 1.5)
        .await;

    let (status, _) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"volume": "0"})),
        )
        .await;
    assert_eq!(status, 200);
    b.wait_level(10, "volume 0", |l| l < 0.0005).await;

    b.call(
        "PATCH",
        "/api/2/local/audio/",
        &token,
        Some(json!({"volume": 50})),
    )
    .await;
    b.wait_level(10, "volume 50 again", |l| (db(l / full) + 30.0).abs() < 1.5)
        .await;

    // The choice outlives the daemon: after a restart the card starts at volume 50.
    b.restart();
    let token = b.staff_token().await;
    let (_, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(audio["volume"], 50, "{audio}");
    let after = b
        .wait_level(15, "volume 50 after the restart", |l| {
            (db(l / full) + 30.0).abs() < 1.5
        })
        .await;
    assert!((db(after / half)).abs() < 1.5, "{half} then {after}");
    let log = b.log();
    assert!(log.contains("as chosen in the console"), "{log}");
    assert!(
        !log.contains("ALSA lib"),
        "alsa-lib chatter in stderr:\n{log}"
    );
}

#[tokio::test]
async fn choosing_another_output_in_the_console_moves_the_mix_there_at_once() {
    let b = BoxUnderTest::start("output = \"default\"", false).await;
    let token = b.staff_token().await;
    b.wait_level(15, "playing on default", |l| (l - FULL_RMS).abs() < 0.04)
        .await;
    let (status, list) = b.call("GET", "/api/2/local/outputs/", &token, None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(
        names.contains(&"boxout") && names.contains(&"capfile"),
        "{list}"
    );
    let (status, audio) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"output": "boxout"})),
        )
        .await;
    assert_eq!(status, 200, "{audio}");
    assert_eq!(audio["output"], "boxout");
    assert_eq!(audio["output_applies_live"], true, "{audio}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, local) = b.call("GET", "/api/2/streams/local/", &token, None).await;
        if local["soundcard"]["device"] == "boxout" && local["soundcard"]["state"] == "playing" {
            break;
        }
        assert!(Instant::now() < deadline, "{local}\n{}", b.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_level(10, "playing on boxout", |l| (l - FULL_RMS).abs() < 0.04)
        .await;
    assert!(
        b.log().contains("switching from default to boxout"),
        "{}",
        b.log()
    );
}

#[tokio::test]
async fn a_missing_card_is_logged_once_and_its_return_once_without_alsa_chatter() {
    let b = BoxUnderTest::start("output = \"boxcard\"", false).await;
    // Several retries (1 s, 2 s back-off) pass while the card is missing.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let fifo = b.dir.path().join("card.fifo");
    std::fs::write(b.dir.path().join(".asoundrc"), asoundrc(&fifo, true)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.log().contains("boxcard: back: playing") {
        assert!(Instant::now() < deadline, "never back\n{}", b.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_level(10, "playing once back", |l| (l - FULL_RMS).abs() < 0.04)
        .await;
    let log = b.log();
    let missing: Vec<&str> = log.lines().filter(|l| l.contains("not found")).collect();
    assert_eq!(missing.len(), 1, "one line while missing:\n{log}");
    assert!(
        missing[0].contains("boxcard") && missing[0].contains("roundwared devices"),
        "the line names the output and what to check: {}",
        missing[0]
    );
    assert_eq!(log.matches("back: playing").count(), 1, "{log}");
    assert!(
        !log.contains("ALSA lib"),
        "alsa-lib chatter in stderr:\n{log}"
    );
}

#[test]
fn roundwared_devices_lists_the_outputs_of_the_alsa_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("card.fifo");
    std::fs::write(dir.path().join(".asoundrc"), asoundrc(&fifo, true)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roundwared"))
        .arg("devices")
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for name in ["default", "capfile", "boxout", "boxcard"] {
        assert!(
            stdout.lines().any(|l| l == name),
            "{name} listed:\n{stdout}"
        );
    }
    assert!(stdout.contains("Roundwared test sink"), "{stdout}");
    assert!(stdout.contains("software gain"), "{stdout}");
    assert!(!stderr.contains("ALSA lib"), "{stderr}");
}

#[tokio::test]
async fn a_bad_volume_or_an_unknown_output_gets_a_400_naming_it_and_changes_nothing() {
    let s = crate::support::TestServer::start_with(
        "[local]\nenabled = true\nproject_id = 1\noutput = \"none\"\nvolume = 70\n",
    )
    .await;
    let staff = s.staff_token().await;
    for bad in [
        json!(101),
        json!(-1),
        json!("loud"),
        json!(null),
        json!([50]),
    ] {
        let r = s
            .patch("/api/2/local/audio/", Some(&staff), json!({"volume": bad}))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        let msg = r.body["volume"][0].as_str().unwrap_or_default();
        assert!(msg.contains("0 to 100"), "{bad}: {}", r.body);
    }
    let r = s
        .patch(
            "/api/2/local/audio/",
            Some(&staff),
            json!({"output": "no-such-card-here", "volume": 20}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.body["output"][0].as_str().unwrap_or_default();
    assert!(
        msg.contains("no-such-card-here") && msg.contains("roundwared devices"),
        "{}",
        r.body
    );
    let audio = s.get("/api/2/local/audio/", Some(&staff)).await;
    assert_eq!(audio.ok()["volume"], 70, "nothing changed: {}", audio.body);
    assert_eq!(audio.body["output"], "none");
    // Visitors may not touch the box's volume.
    let (_, visitor) = s.device_token("visitor-phone").await;
    let r = s
        .patch("/api/2/local/audio/", Some(&visitor), json!({"volume": 10}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s
        .patch("/api/2/local/audio/", Some(&staff), json!({"volume": 20.4}))
        .await;
    assert_eq!(r.ok()["volume"], 20);
    assert_eq!(r.body["volume_via"], "none", "no card: {}", r.body);
}

#[tokio::test]
async fn a_card_with_a_mixer_element_gets_the_volume_on_that_element_and_keeps_it_across_a_restart()
{
    let mut b = BoxUnderTest::start_pulse("output = \"boxpulse\"\nvolume = 100").await;
    let token = b.staff_token().await;
    let full = b
        .wait_level(15, "playing at volume 100", |l| l > 0.005)
        .await;
    let (_, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(audio["volume_via"], "mixer", "{audio}\n{}", b.log());
    assert_eq!(audio["mixer"], "Master on boxpulse", "{audio}");
    assert_eq!(amixer_master(&b), "65536", "the element at its top");

    let (status, audio) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"volume": 50})),
        )
        .await;
    assert_eq!(status, 200, "{audio}");
    // The element states no dB range: its raw range is mapped linearly (PulseAudio's own
    // curve makes 50 % of it about -18 dB).
    assert_eq!(amixer_master(&b), "32768");
    b.wait_level(10, "volume 50 on the mixer", |l| {
        db(l / full) < -12.0 && db(l / full) > -24.0
    })
    .await;
    b.call(
        "PATCH",
        "/api/2/local/audio/",
        &token,
        Some(json!({"volume": 0})),
    )
    .await;
    b.wait_level(10, "volume 0 on the mixer", |l| l < 0.0002)
        .await;
    b.call(
        "PATCH",
        "/api/2/local/audio/",
        &token,
        Some(json!({"volume": 50})),
    )
    .await;

    // Something else moves the element; a restart puts the saved volume back on it.
    b.stop_daemon();
    let set = Command::new("amixer")
        .args(["-q", "-D", "boxpulse", "sset", "Master", "100%"])
        .env("HOME", b.dir.path())
        .envs(b.env.iter().map(|(k, v)| (k, v)))
        .status()
        .unwrap();
    assert!(set.success());
    b.spawn_daemon();
    let token = b.staff_token().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while amixer_master(&b) != "32768" {
        assert!(
            Instant::now() < deadline,
            "volume 50 not restored\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(audio["volume"], 50, "{audio}");
    assert!(
        !b.log().contains("ALSA lib"),
        "alsa-lib chatter:\n{}",
        b.log()
    );
}

/// The raw value of `Master` on `boxpulse`'s control, as `amixer` reads it.
fn amixer_master(b: &BoxUnderTest) -> String {
    let out = Command::new("amixer")
        .args(["-D", "boxpulse", "sget", "Master"])
        .env("HOME", b.dir.path())
        .envs(b.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Front Left: Playback "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}
