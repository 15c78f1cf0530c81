//! A venue on loopback for the fleet tests (fleet.md §5): a hub nats-server, leaf
//! nats-servers for the boxes, each leaf link through a TCP forwarder the test can cut, and
//! roundwared daemons on them. The servers are the real nats-server 2.15.1 prepared by
//! `tests/fleet/servers.sh` (`RW_NATS_NEW`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::support::TestServer;

/// A nats-server on a free loopback port, killed when dropped.
pub struct Nats {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
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
    let log = std::fs::File::create(dir.path().join("nats.log")).unwrap();
    let child = Command::new(binary)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("nats-server starts");
    wait_listening(port);
    Nats {
        child,
        port,
        _dir: dir,
    }
}

/// A box's Wi-Fi link: a TCP forwarder to the hub's leaf port that the test can cut.
pub struct Link {
    pub port: u16,
    up: watch::Sender<bool>,
}

impl Link {
    async fn start(to: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, _) = watch::channel(true);
        let state = up.subscribe();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*state.borrow() {
                    continue; // dropped: the link is down
                }
                let mut state = state.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    /// Cuts the link: open connections are dropped, new ones refused.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Heals it.
    pub fn heal(&self) {
        self.up.send_replace(true);
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

/// The project every box of a test venue plays, created on the hub (configuration is the
/// hub's in fleet mode).
pub async fn seed_project(hub: &TestServer) {
    hub.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date, listen_enabled, auto_submit)
              VALUES (1, 'Venue', 0, 0, '2026-01-01T00:00:00', 1, 1)",
    )
    .await;
}

/// Waits until `s` has the venue's project.
pub async fn has_project(s: &TestServer) {
    eventually(
        Duration::from_secs(20),
        "the project reached the box",
        || async {
            (s.scalar("SELECT count(*) FROM projects WHERE id = 1").await == 1).then_some(())
        },
    )
    .await;
}
