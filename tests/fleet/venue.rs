//! A venue on loopback for the fleet tests and benchmark (fleet.md §5): a hub nats-server,
//! leaf nats-servers for the boxes, each leaf link through a TCP forwarder that can be cut,
//! and the client side of a box's API (a visitor, a recording, an asset and its media). The
//! servers are the real nats-server prepared by `tests/fleet/servers.sh` (`RW_NATS_NEW`).
//! Shared by `tests/it` and `tests/benches` (`#[path]`), so it names nothing of either.

#![allow(dead_code, unreachable_pub)] // each user takes its own subset

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A nats-server on a free loopback port, killed when dropped.
pub struct Nats {
    child: Child,
    pub port: u16,
    /// Its configuration file, when it has one (then it can be restarted).
    conf: Option<(PathBuf, PathBuf)>,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then the same server again on the same port and store.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (binary, conf) = self
            .conf
            .clone()
            .expect("a server with a configuration file");
        self.child = spawn_conf(&binary, &conf);
        wait_listening(self.port);
    }
}

fn spawn_conf(binary: &Path, conf: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(conf.with_extension("log"))
        .unwrap();
    Command::new(binary)
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("nats-server starts")
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server at `$var`, or `None` after printing why the test skips.
pub fn server(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(path) if path.exists() => Some(path),
        _ => {
            eprintln!("skipped: {var} names no nats-server (run tests/fleet/servers.sh)");
            None
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain JetStream server with no configuration file.
pub fn start_nats(binary: &Path) -> Nats {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    wait_listening(port);
    Nats {
        child,
        port,
        conf: None,
        _dir: dir,
    }
}

/// A server with `conf` (`{dir}` and `{port}` filled in).
fn start_conf(binary: &Path, conf: &str) -> Nats {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let text = conf
        .replace("{dir}", &dir.path().join("js").display().to_string())
        .replace("{port}", &port.to_string());
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, text).unwrap();
    let child = spawn_conf(binary, &path);
    wait_listening(port);
    Nats {
        child,
        port,
        conf: Some((binary.to_path_buf(), path)),
        _dir: dir,
    }
}

/// What a [`Link`] does with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Relays them.
    Up,
    /// Drops every connection and refuses new ones (a cut cable).
    Cut,
    /// Keeps every connection open and moves nothing (a forwarder stopped with SIGSTOP, an
    /// access point that hangs): only the peers' own timeouts notice.
    Hung,
}

/// A box's Wi-Fi link: a TCP forwarder to the hub's leaf port that the test can cut or hang.
pub struct Link {
    pub port: u16,
    flow: watch::Sender<Flow>,
}

impl Link {
    async fn start(to: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (flow, _) = watch::channel(Flow::Up);
        let state = flow.subscribe();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut state = state.clone();
                let now = *state.borrow();
                match now {
                    Flow::Cut => continue, // dropped: the link is down
                    Flow::Hung => {
                        // Taken and held, never answered, until the link changes.
                        tokio::spawn(async move {
                            let _ = state.wait_for(|f| *f != Flow::Hung).await;
                            drop(inbound);
                        });
                        continue;
                    }
                    Flow::Up => {}
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                    else {
                        return;
                    };
                    // As nats-server's own sockets: without, Nagle's algorithm holds a small
                    // answer behind an unacknowledged one (40 ms of delayed ACK on loopback).
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let stopped = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                        f = state.wait_for(|f| *f != Flow::Up) => f.map(|f| *f),
                    };
                    if matches!(stopped, Ok(Flow::Hung)) {
                        // Both ends stay open and nothing moves; what was in flight is lost,
                        // as in a hung forwarder whose peers give up on it.
                        let _ = state.wait_for(|f| *f != Flow::Hung).await;
                    }
                });
            }
        });
        Self { port, flow }
    }

    /// Cuts the link: open connections are dropped, new ones refused.
    pub fn cut(&self) {
        self.flow.send_replace(Flow::Cut);
    }

    /// Hangs the link: connections stay open (new ones too) and no byte moves.
    pub fn hang(&self) {
        self.flow.send_replace(Flow::Hung);
    }

    /// Heals it (connections held while it hung are dropped: their peers gave up on them).
    pub fn heal(&self) {
        self.flow.send_replace(Flow::Up);
    }
}

/// The hub's nats-server.
pub struct Hub {
    pub nats: Nats,
    leaf_port: u16,
}

impl Hub {
    pub fn start(binary: &Path) -> Self {
        let leaf_port = free_port();
        // The hub advertises a dead address for its leaf port, so that a leaf never learns
        // the real one and reconnects around the forwarder (fleet.md §4.1).
        let conf = format!(
            "server_name: hub\nhost: 127.0.0.1\nport: {{port}}\nping_interval: \"1s\"\nping_max: 2\n\
             jetstream {{ store_dir: \"{{dir}}\", domain: hub, max_memory_store: 64MB, max_file_store: 4GB }}\n\
             leafnodes {{ host: 127.0.0.1, port: {leaf_port}, advertise: \"127.0.0.1:9\" }}\n"
        );
        let nats = start_conf(binary, &conf);
        wait_listening(leaf_port);
        Self { nats, leaf_port }
    }

    /// The daemon's `[fleet]` for the hub box.
    pub fn toml(&self) -> String {
        format!(
            "[fleet]\nenabled = true\nrole = \"hub\"\nbox = 1\nnats_url = \"nats://127.0.0.1:{}\"\n",
            self.nats.port
        )
    }
}

/// A box's own nats-server, a leaf of the hub through its link.
pub struct Leaf {
    pub nats: Nats,
    pub link: Link,
    pub number: u32,
}

impl Leaf {
    pub async fn start(binary: &Path, hub: &Hub, number: u32) -> Self {
        let link = Link::start(hub.leaf_port).await;
        let conf = format!(
            "server_name: b{number}\nhost: 127.0.0.1\nport: {{port}}\nping_interval: \"1s\"\nping_max: 2\n\
             jetstream {{ store_dir: \"{{dir}}\", domain: b{number}, max_memory_store: 64MB, max_file_store: 4GB }}\n\
             leafnodes {{ reconnect: \"1s\", remotes [ {{ url: \"nats-leaf://127.0.0.1:{}\" }} ] }}\n",
            link.port
        );
        let nats = start_conf(binary, &conf);
        Self { nats, link, number }
    }

    /// The daemon's `[fleet]` for this box.
    pub fn toml(&self) -> String {
        format!(
            "[fleet]\nenabled = true\nbox = {}\nnats_url = \"nats://127.0.0.1:{}\"\n",
            self.number, self.nats.port
        )
    }
}

/// Polls `check` every 50 ms until it answers `Some`, or fails after `limit` naming `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A box's API as a client sees it: in-process ([`TestServer`]) or a process of its own.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Http {
    /// The API at `base` (`http://127.0.0.1:PORT`).
    pub fn at(base: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    /// `GET path` with `token`, as JSON; `None` when it cannot be read (yet).
    pub async fn get_json(&self, path: &str, token: &str) -> Option<Value> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("token {token}"))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("token {t}"));
        }
        let r = req.send().await.expect("request sent");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }
}

/// A visitor of one box: a device token and a session there.
pub struct Visitor {
    pub token: String,
    pub session: i64,
}

/// The token of `device` at box `s` (registered as a phone).
pub async fn device_token(s: &Http, device: &str) -> String {
    let user = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": device, "client_type": "phone"}),
        )
        .await;
    user["token"].as_str().expect("a token").to_owned()
}

pub async fn visitor(s: &Http, device: &str) -> Visitor {
    let token = device_token(s, device).await;
    let session = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": 1}))
        .await["id"]
        .as_i64()
        .expect("a session");
    Visitor { token, session }
}

/// The asset as box `s` answers it, once it does.
pub async fn asset_at(s: &Http, token: &str, id: i64) -> Option<Value> {
    let r = s
        .client
        .get(format!("{}/api/2/assets/{id}/", s.base))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

/// The bytes of a media URL (`file`) or name (`filename`) as box `s` serves them.
pub async fn media_bytes(s: &Http, url: &str) -> Vec<u8> {
    let path = match url.find("/rwmedia/") {
        Some(i) => url[i..].to_owned(),
        None => format!("/rwmedia/{url}"),
    };
    let r = s
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{url} at {}", s.base);
    r.bytes().await.unwrap().to_vec()
}

/// Waits until `id` is an asset at `to`; then its media must be there at once, byte for byte
/// the origin's.
pub async fn arrives(from: (&Http, &Visitor), to: (&Http, &Visitor), id: i64, limit: Duration) {
    let there = eventually(limit, &format!("asset {id} at {}", to.0.base), || async {
        asset_at(to.0, &to.1.token, id).await
    })
    .await;
    let here = asset_at(from.0, &from.1.token, id)
        .await
        .expect("at its origin");
    for field in ["file", "filename"] {
        let (a, b) = (
            here[field].as_str().unwrap(),
            there[field].as_str().unwrap(),
        );
        assert_eq!(
            media_bytes(from.0, a).await,
            media_bytes(to.0, b).await,
            "{field} of asset {id}"
        );
    }
    assert_eq!(
        here["audio_length_in_seconds"],
        there["audio_length_in_seconds"]
    );
}

/// Uploads `audio` (a WAV) as a new recording of `v` at box `s`; the new asset's id once the
/// box answered 200.
pub async fn record_bytes(s: &Http, v: &Visitor, audio: Vec<u8>) -> i64 {
    let envelope = s
        .post(
            "/api/2/envelopes/",
            Some(&v.token),
            json!({"session_id": v.session}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let form = Form::new()
        .text("session_id", v.session.to_string())
        .text("submitted", "true")
        .part(
            "file",
            Part::bytes(audio)
                .file_name("take.wav")
                .mime_str("audio/wav")
                .unwrap(),
        );
    let r = s
        .client
        .patch(format!("{}/api/2/envelopes/{envelope}/", s.base))
        .header("Authorization", format!("token {}", v.token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .expect("an asset id")
}
