//! The appliance: `/healthz`, `/metrics`, the systemd notify protocol (READY, STATUS,
//! WATCHDOG only while the database answers, RELOADING on SIGHUP, STOPPING and exit within
//! 2 s on SIGTERM), the data-directory lock, and backup/restore through the command line.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

fn roundwared() -> Command {
    Command::new(env!("CARGO_BIN_EXE_roundwared"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, port: u16, level: &str) -> PathBuf {
    let path = dir.join("roundwared.toml");
    std::fs::write(
        &path,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n[log]\nlevel = \"{level}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The daemon as systemd starts it: a notify socket and a watchdog of `watchdog_ms`.
struct Notified {
    child: Child,
    socket: UnixDatagram,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
    config: PathBuf,
    base: String,
}

impl Notified {
    fn start(watchdog_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&sock_path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let port = free_port();
        let config = write_config(dir.path(), port, "info");
        let stderr = dir.path().join("stderr.log");
        let child = roundwared()
            .args(["serve", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", (watchdog_ms * 1000).to_string())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            socket,
            stderr,
            _dir: dir,
            config,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Messages received within `within`, each a datagram's text.
    fn collect(&self, within: Duration) -> Vec<String> {
        let end = Instant::now() + within;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).to_string());
            }
        }
        got
    }

    /// Waits (10 s at most) for a datagram containing `what`; returns those seen before it too.
    fn wait_for(&self, what: &str) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                let done = msg.contains(what);
                got.push(msg);
                if done {
                    return got;
                }
            }
        }
        panic!(
            "no {what} from roundwared; got {got:?}; stderr: {}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(msgs: &[String], what: &str) -> usize {
    msgs.iter().filter(|m| m.contains(what)).count()
}

#[tokio::test]
async fn healthz_reports_the_database_and_metrics_count_requests_and_uploads() {
    let s = TestServer::start().await;
    let r = s.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["components"]["database"]["state"], "ok");

    assert_eq!(
        s.get("/api/2/tags/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // An upload without a token is refused, and counted as refused.
    let refused = s
        .multipart(reqwest::Method::POST, "/api/2/assets/", None, &[("x", "1")])
        .await;
    assert!(refused.status.is_client_error());

    let resp = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    for line in [
        "roundwared_up 1",
        "roundwared_database_up 1",
        "roundwared_component_state{component=\"database\",state=\"ok\"} 1",
        "roundwared_http_requests_total{method=\"GET\",route=\"/healthz\",code=\"2xx\"} 1",
        "roundwared_http_requests_total{method=\"GET\",route=\"/api/2/tags\",code=\"4xx\"} 1",
        "roundwared_uploads_total{result=\"refused\"} 1",
        "roundwared_uploads_total{result=\"stored\"} 0",
        "# TYPE roundwared_http_request_duration_seconds histogram",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    // Every sample line belongs to a declared metric family.
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = l.split(['{', ' ']).next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            text.contains(&format!("# TYPE {name} "))
                || text.contains(&format!("# TYPE {family} ")),
            "{l} has no # TYPE"
        );
    }
}

/// A component as the engine will plug in: its state and metrics are set by the test.
struct FakeEngine(std::sync::Mutex<roundwared::testing::health::ComponentState>);

impl roundwared::testing::health::Probe for FakeEngine {
    fn name(&self) -> &'static str {
        "engine"
    }
    fn state(&self) -> roundwared::testing::health::ComponentState {
        self.0.lock().unwrap().clone()
    }
    fn write_metrics(&self, out: &mut String) {
        out.push_str("# HELP roundwared_streams Open streams.\n# TYPE roundwared_streams gauge\nroundwared_streams 3\n");
    }
}

#[tokio::test]
async fn a_registered_component_shows_in_healthz_and_metrics_and_only_the_database_makes_it_503() {
    use roundwared::testing::health::ComponentState;
    let s = TestServer::start().await;
    let engine = std::sync::Arc::new(FakeEngine(std::sync::Mutex::new(ComponentState::Ok)));
    s.health.register(engine.clone());
    let r = s.get("/healthz", None).await;
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["components"]["engine"]["state"], "ok");

    *engine.0.lock().unwrap() = ComponentState::Down("no sound card".into());
    let r = s.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK, "only a database failure is a 503");
    assert_eq!(r.body["status"], "degraded");
    assert_eq!(r.body["components"]["engine"]["state"], "down");
    assert_eq!(r.body["components"]["engine"]["reason"], "no sound card");
    let text = s.metrics().await;
    assert!(text.contains("roundwared_streams 3\n"), "{text}");
    assert!(text.contains("roundwared_up 0.5\n"), "{text}");
    assert!(text.contains("roundwared_component_state{component=\"engine\",state=\"down\"} 1"));
}

#[test]
fn under_systemd_it_is_ready_pings_the_watchdog_reloads_on_hup_and_stops_within_2_s() {
    let mut d = Notified::start(300);
    let first = d.wait_for("READY=1");
    assert!(
        first.iter().any(|m| m.contains("STATUS=serving")),
        "{first:?}"
    );
    // The API answers once READY was sent.
    let health = raw_http::blocking_get(&format!("{}/healthz", d.base));
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let pings = d.collect(Duration::from_millis(1200));
    assert!(count(&pings, "WATCHDOG=1") >= 3, "{pings:?}");

    // SIGHUP with a changed log level and a changed listen address.
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        text.replace("level = \"info\"", "level = \"debug\"")
            .replace("127.0.0.1:", "127.0.0.2:"),
    )
    .unwrap();
    signal(&d.child, "HUP");
    let reload = d.wait_for("READY=1");
    assert!(
        reload.iter().any(|m| m.contains("RELOADING=1")),
        "{reload:?}"
    );
    let log = d.log();
    assert!(log.contains("SIGHUP: reloaded"), "{log}");
    assert!(log.contains("log level now DEBUG"), "{log}");
    assert!(
        log.contains("applied only after a restart: [http]"),
        "{log}"
    );

    // A bad file is refused by name and the daemon keeps running.
    std::fs::write(&d.config, "[log]\nlevel = \"loud\"\n").unwrap();
    signal(&d.child, "HUP");
    d.wait_for("READY=1");
    assert!(d.log().contains("log.level"), "{}", d.log());
    assert!(d.child.try_wait().unwrap().is_none());

    // A client stuck half-way through a request body does not hold up the stop.
    let port = d.base.rsplit(':').next().unwrap().to_string();
    let mut stuck = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    stuck
        .write_all(b"POST /api/2/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"device")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let asked = Instant::now();
    signal(&d.child, "TERM");
    d.wait_for("STOPPING=1");
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "still running 2 s after SIGTERM; stderr: {}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}; {}", d.log());
    let mut rest = Vec::new();
    let _ = stuck.read_to_end(&mut rest);
    assert!(d.log().contains("database checkpointed"), "{}", d.log());
}

#[test]
fn the_watchdog_is_not_pinged_while_the_database_is_locked_and_healthz_says_down() {
    let d = Notified::start(200);
    d.wait_for("READY=1");
    d.wait_for("WATCHDOG=1");
    // Another process holds the write lock (as a stuck tool would): the daemon's writes hang.
    let db = d.config.parent().unwrap().join("data/roundwared.sqlite3");
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.busy_timeout(Duration::from_secs(5)).unwrap();
    blocker
        .execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO languages (name, language_code) VALUES ('x', 'xx');",
        )
        .unwrap();
    // Pings already under way may still arrive; after that, silence.
    d.collect(Duration::from_millis(400));
    let during = d.collect(Duration::from_millis(2500));
    assert_eq!(count(&during, "WATCHDOG=1"), 0, "{during:?}");
    let health = raw_http::blocking_get_status(&format!("{}/healthz", d.base));
    assert_eq!(health.0, 503, "{}", health.1);
    assert!(health.1.contains("\"status\":\"down\""), "{}", health.1);
    blocker.execute_batch("ROLLBACK;").unwrap();
    drop(blocker);
    let after = d.wait_for("WATCHDOG=1");
    assert!(!after.is_empty());
    assert!(
        d.log()
            .contains("not pinging the systemd watchdog: database"),
        "{}",
        d.log()
    );
}

#[tokio::test]
async fn a_second_daemon_on_the_same_data_is_refused_naming_the_first() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n",
            s.data_dir().display()
        ),
    )
    .unwrap();
    let out = roundwared()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another roundwared"), "{err}");
    assert!(err.contains(&std::process::id().to_string()), "{err}");
}

fn cli(args: &[&str], config: &Path) -> (bool, String) {
    let out = roundwared()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn config_for(dir: &Path, data: &Path) -> PathBuf {
    let path = dir.join(format!(
        "{}.toml",
        data.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &path,
        format!("[storage]\ndata_dir = \"{}\"\n", data.display()),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_the_same_data_and_media() {
    let s = TestServer::start_with_demo().await;
    let media = s.data_dir().join("media");
    let (_, token) = s.device_token("backup-device").await;
    let assets = s.scalar("SELECT count(*) FROM assets").await;
    assert!(assets > 0);
    let work = tempfile::tempdir().unwrap();
    let live_config = config_for(work.path(), s.data_dir());
    let dest = work.path().join("backup-1");

    // Online: the daemon keeps serving during and after the backup.
    let (ok, out) = cli(&["backup", dest.to_str().unwrap()], &live_config);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{assets} assets")), "{out}");
    assert_eq!(
        s.get("/api/2/sessions/", Some(&token)).await.status,
        StatusCode::OK
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dest.join("backup.json")).unwrap()).unwrap();
    assert_eq!(manifest["assets"], json!(assets));
    assert!(!dest.join("roundwared.sqlite3-wal").exists());
    // The same destination is never overwritten.
    let (ok, out) = cli(&["backup", dest.to_str().unwrap()], &live_config);
    assert!(!ok && out.contains("already exists"), "{out}");

    // Restoring over the running daemon is refused.
    let (ok, out) = cli(
        &["restore", dest.to_str().unwrap(), "--force"],
        &live_config,
    );
    assert!(!ok && out.contains("in use by another roundwared"), "{out}");

    // Into an empty data directory: no --force needed; same rows, same media bytes.
    let fresh = work.path().join("fresh");
    let fresh_config = config_for(work.path(), &fresh);
    let (ok, out) = cli(&["restore", dest.to_str().unwrap()], &fresh_config);
    assert!(ok, "{out}");
    let names: Vec<_> = std::fs::read_dir(&media)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!names.is_empty());
    for n in &names {
        assert_eq!(
            std::fs::read(media.join(n)).unwrap(),
            std::fs::read(fresh.join("media").join(n)).unwrap()
        );
    }
    let restored = TestServer::start_in(&fresh, "").await;
    assert_eq!(restored.scalar("SELECT count(*) FROM assets").await, assets);
    let r = restored.get("/api/2/sessions/", Some(&token)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the device's token survives the round trip"
    );
    restored.stop().await;

    // Over existing data only with --force, and the old data is kept aside.
    let (ok, out) = cli(&["restore", dest.to_str().unwrap()], &fresh_config);
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) = cli(
        &["restore", dest.to_str().unwrap(), "--force"],
        &fresh_config,
    );
    assert!(ok, "{out}");
    assert!(out.contains("previous data kept as"), "{out}");
    let kept = std::fs::read_dir(&fresh)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("before-restore")
        })
        .count();
    assert!(kept >= 2, "database and media kept aside");

    // Something that is not a backup, or a damaged one, is refused by name.
    let (ok, out) = cli(
        &["restore", work.path().to_str().unwrap(), "--force"],
        &fresh_config,
    );
    assert!(!ok && out.contains("is not a roundwared backup"), "{out}");
    let damaged = work.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    let mut bytes = std::fs::read(dest.join("roundwared.sqlite3")).unwrap();
    let len = bytes.len();
    bytes[len / 2..len / 2 + 4096].fill(0xA5);
    std::fs::write(damaged.join("roundwared.sqlite3"), bytes).unwrap();
    let (ok, out) = cli(
        &["restore", damaged.to_str().unwrap(), "--force"],
        &fresh_config,
    );
    assert!(!ok && out.contains("damaged"), "{out}");
}

/// Tiny blocking HTTP helpers (the daemon under test is a child process).
mod raw_http {
    pub fn blocking_get(url: &str) -> String {
        blocking_get_status(url).1
    }

    pub fn blocking_get_status(url: &str) -> (u16, String) {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let code = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }
}

#[test]
fn a_damaged_database_or_an_unusable_data_dir_stops_the_daemon_naming_the_file_and_the_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("roundwared.sqlite3"), vec![0x5Au8; 64 * 1024]).unwrap();
    let config = write_config(dir.path(), free_port(), "info");
    let out = roundwared()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("roundwared.sqlite3"), "{err}");
    assert!(err.contains("roundwared restore"), "{err}");

    let blocked = dir.path().join("blocked.toml");
    std::fs::write(&blocked, "[storage]\ndata_dir = \"/dev/null/roundwared\"\n").unwrap();
    let out = roundwared()
        .args(["serve", "--config"])
        .arg(&blocked)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/null/roundwared"), "{err}");
    assert!(err.contains("data_dir"), "{err}");
}
