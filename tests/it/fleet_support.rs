//! The fleet tests' side of the loopback venue (`tests/fleet/venue.rs`): daemons in process
//! and of their own, the venue's project, recordings of a tone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../fleet/venue.rs"]
mod venue;

pub use venue::*;

use crate::media_support::{Fmt, wav};
use crate::support::TestServer;

/// How long a recording may take to reach another box in these tests (the goal is 5 s).
pub const REACH: Duration = Duration::from_secs(30);

/// A hub box (box 1, in process) and box 2 (in process, `b_toml` added to its
/// configuration after `[fleet]`), each on its own nats-server, the venue's project at both,
/// and a visitor at each.
pub struct Pair {
    pub hub: Hub,
    pub leaf: Leaf,
    pub a: TestServer,
    pub b: TestServer,
    pub ha: Http,
    pub hb: Http,
    pub va: Visitor,
    pub vb: Visitor,
}

impl Pair {
    pub async fn start(binary: &Path, b_toml: &str) -> Self {
        let hub = Hub::start(binary);
        let leaf = Leaf::start(binary, &hub, 2).await;
        let a = TestServer::start_with(&hub.toml()).await;
        seed_project(&a).await;
        let b = TestServer::start_with(&format!("{}{b_toml}", leaf.toml())).await;
        has_project(&b).await;
        let (ha, hb) = (Http::of(&a), Http::of(&b));
        let (va, vb) = (visitor(&ha, "phone-a").await, visitor(&hb, "phone-b").await);
        Self {
            hub,
            leaf,
            a,
            b,
            ha,
            hb,
            va,
            vb,
        }
    }
}

/// Runs `roundwared fleet <verb>` on the data in `data_dir` with `fleet_toml` (`[fleet]`);
/// whether it succeeded, and what it printed (stdout, then stderr).
pub fn fleet_cli(verb: &str, data_dir: &Path, fleet_toml: &str) -> (bool, String, String) {
    let config = data_dir.join(format!("{verb}.toml"));
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = \"{}\"\n{fleet_toml}",
            data_dir.display()
        ),
    )
    .unwrap();
    crate::support::cli(&["fleet", verb], &config)
}

/// Records `seconds` of tone at box `s` as `v`; the new asset's id once the box answered 200.
pub async fn record(s: &Http, v: &Visitor, seconds: f64) -> i64 {
    record_bytes(s, v, wav(22_050, 1, Fmt::Pcm16, seconds)).await
}

impl Http {
    pub fn of(s: &TestServer) -> Self {
        Self {
            client: s.client.clone(),
            base: s.url(""),
        }
    }
}

/// A roundwared of its own (`roundwared serve`), for the tests that kill it with SIGKILL.
pub struct Proc {
    child: Child,
    pub http: Http,
    config: PathBuf,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    /// Starts one on a fresh data folder with `toml` added to its configuration.
    pub async fn start(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let port = free_port();
        let config = dir.path().join("roundwared.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n{toml}",
                data_dir.display()
            ),
        )
        .unwrap();
        let http = Http {
            client: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let child = Self::spawn(&config);
        let p = Self {
            child,
            http,
            config,
            data_dir,
            _dir: dir,
        };
        p.wait_up().await;
        p
    }

    fn spawn(config: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_roundwared"))
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    async fn wait_up(&self) {
        eventually(Duration::from_secs(20), "roundwared answers", || async {
            let r = self
                .http
                .client
                .get(format!("{}/healthz", self.http.base))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        })
        .await;
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same data and port.
    pub async fn restart(&mut self) {
        self.child = Self::spawn(&self.config);
        self.wait_up().await;
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
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

/// A roundwared with the demo project standing in for a central Roundware server: it, a staff
/// token there, and the demo project's id and name.
pub async fn demo_central() -> (TestServer, String, i64, String) {
    let central = TestServer::start_with_demo().await;
    let staff = central.staff_token().await;
    let demo = central.get("/api/2/projects/", Some(&staff)).await.ok()[0].clone();
    let (project, name) = (
        demo["id"].as_i64().unwrap(),
        demo["name"].as_str().unwrap().to_owned(),
    );
    (central, staff, project, name)
}
