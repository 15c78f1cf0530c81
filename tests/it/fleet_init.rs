//! `roundwared fleet init` (README "Fleet", fleet.md §3.7), the real binary on files in a temp
//! folder: the config it edits loads in fleet mode with its comments kept, the `nats.conf` it
//! writes runs the real nats-server 2.15.1 (`RW_NATS_NEW`) with JetStream in the right domain
//! and a box's leaf link signing in at the hub with the password, a second run changes nothing,
//! and Debian's 2.9.10 (`RW_NATS_OLD`) is refused before anything is written. A test whose
//! server is missing says so and skips.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use roundwared::config::{Config, FleetRole};
use serde_json::Value;

use crate::fleet_support::{eventually, free_port, server};

const PACKAGED: &str = include_str!("../../config/roundwared.packaged.toml");
const DROPIN: &str = include_str!("../../systemd/roundwared.service.d-fleet.conf");

/// Runs `roundwared fleet init ARGS`: whether it succeeded, its stdout and stderr.
fn init(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roundwared"))
        .args(["fleet", "init"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One box's files in the temp folder, and its `fleet init` options for them.
struct Site {
    config: PathBuf,
    nats_conf: PathBuf,
    dropin: PathBuf,
    store: PathBuf,
}

impl Site {
    /// The packaged config (its data folder in `dir`), and where the rest goes.
    fn new(dir: &Path, name: &str) -> Self {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            PACKAGED.replace(
                "data_dir = \"/var/lib/roundwared\"",
                &format!("data_dir = \"{}\"", dir.join(name).display()),
            ),
        )
        .unwrap();
        Self {
            config,
            nats_conf: dir.join(format!("{name}-nats.conf")),
            dropin: dir.join(format!("{name}-dropin")),
            store: dir.join(format!("{name}-js")),
        }
    }

    fn args<'a>(&'a self, more: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--config",
            self.config.to_str().unwrap(),
            "--nats-conf",
            self.nats_conf.to_str().unwrap(),
            "--dropin-dir",
            self.dropin.to_str().unwrap(),
            "--store-dir",
            self.store.to_str().unwrap(),
        ];
        args.extend_from_slice(more);
        args
    }

    /// The three files' bytes (empty for a missing one).
    fn files(&self) -> [Vec<u8>; 3] {
        [
            &self.config,
            &self.nats_conf,
            &self.dropin.join("fleet.conf"),
        ]
        .map(|p| std::fs::read(p).unwrap_or_default())
    }
}

/// A nats-server started on a `fleet init` nats.conf, killed when dropped.
struct Running(Child);

impl Running {
    fn start(binary: &Path, conf: &Path) -> Self {
        let log = std::fs::File::create(conf.with_extension("log")).unwrap();
        Self(
            Command::new(binary)
                .arg("-c")
                .arg(conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("nats-server starts"),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The JetStream account info `subject` answers through the server on `port`, once it does.
async fn js_info(port: u16, subject: &'static str) -> Value {
    eventually(
        Duration::from_secs(20),
        &format!("{subject} answers at port {port}"),
        || async move {
            let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
                .await
                .ok()?;
            let reply =
                tokio::time::timeout(Duration::from_secs(2), client.request(subject, "".into()))
                    .await
                    .ok()?
                    .ok()?;
            let info: Value = serde_json::from_slice(&reply.payload).ok()?;
            info.get("domain").is_some().then_some(info)
        },
    )
    .await
}

#[tokio::test]
async fn fleet_init_writes_a_hub_and_a_box_whose_nats_servers_run_in_their_domains_and_link() {
    let Some(new) = server("RW_NATS_NEW") else {
        return;
    };
    let new = new.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("leaf.pw");
    // URL and quoting characters: percent-encoded in the box's URL, quoted at the hub.
    std::fs::write(&pw, "  s3cret:p@ss/w%rd#$&!{}  \n").unwrap();
    let pw = pw.to_str().unwrap();
    let (hub_port, leaf_port, box_port) = (free_port(), free_port(), free_port());
    let (hub_port_s, leaf_port_s, box_port_s) = (
        hub_port.to_string(),
        leaf_port.to_string(),
        box_port.to_string(),
    );
    let hub_url = format!("nats-leaf://127.0.0.1:{leaf_port}");
    let hub = Site::new(dir.path(), "hub");
    let boxed = Site::new(dir.path(), "box");
    let hub_args = hub.args(&[
        "--role",
        "hub",
        "--box",
        "1",
        "--leaf-password-file",
        pw,
        "--nats-server",
        new,
        "--port",
        &hub_port_s,
        "--leaf-port",
        &leaf_port_s,
    ]);
    let box_args = boxed.args(&[
        "--role",
        "box",
        "--box",
        "2",
        "--hub",
        &hub_url,
        "--leaf-password-file",
        pw,
        "--nats-server",
        new,
        "--port",
        &box_port_s,
    ]);

    let (ok, out, err) = init(&hub_args);
    assert!(ok, "{out}{err}");
    assert!(out.contains("nats-server 2.15.1"), "{out}");
    assert!(
        out.contains("systemctl daemon-reload\n")
            && out.contains("systemctl enable --now roundwared-nats roundwared\n"),
        "{out}"
    );
    assert_eq!(out.matches("  wrote ").count(), 3, "{out}");
    let (ok, out, err) = init(&box_args);
    assert!(ok, "{out}{err}");
    assert!(out.contains("box 2") && out.contains(&hub_url), "{out}");

    // Twice: the same files, and it says so.
    let (hub_files, box_files) = (hub.files(), boxed.files());
    for (site, args, files) in [
        (&hub, &hub_args, &hub_files),
        (&boxed, &box_args, &box_files),
    ] {
        let (ok, out, err) = init(args);
        assert!(ok, "{out}{err}");
        assert_eq!(out.matches("  unchanged ").count(), 3, "{out}");
        assert_eq!(&site.files(), files);
    }

    // The files: the config loads in fleet mode with every line of the original kept, nats.conf
    // is not readable by others, the drop-in is the one in systemd/.
    for (site, role, number, port) in [
        (&hub, FleetRole::Hub, 1, hub_port),
        (&boxed, FleetRole::Box, 2, box_port),
    ] {
        let config = Config::load(&site.config).unwrap();
        assert!(config.fleet.enabled);
        assert_eq!((config.fleet.role, config.fleet.box_number), (role, number));
        assert_eq!(config.fleet.nats_url, format!("nats://127.0.0.1:{port}"));
        let text = std::fs::read_to_string(&site.config).unwrap();
        for line in PACKAGED.lines().filter(|l| l.starts_with('#')) {
            assert!(text.contains(line), "lost: {line}");
        }
        let mode = std::fs::metadata(&site.nats_conf)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        let dropin = std::fs::read_to_string(site.dropin.join("fleet.conf")).unwrap();
        assert_eq!(dropin, DROPIN);
    }
    let box_conf = std::fs::read_to_string(&boxed.nats_conf).unwrap();
    assert!(
        box_conf.contains(&format!(
            "nats-leaf://leaf:s3cret%3Ap%40ss%2Fw%25rd%23%24%26%21%7B%7D@127.0.0.1:{leaf_port}"
        )),
        "{box_conf}"
    );

    // The real nats-server on each: JetStream in its domain, and the box reaches the hub's
    // JetStream through the leaf link (so the password signed in).
    let _hub_nats = Running::start(Path::new(new), &hub.nats_conf);
    let _box_nats = Running::start(Path::new(new), &boxed.nats_conf);
    assert_eq!(js_info(hub_port, "$JS.API.INFO").await["domain"], "hub");
    assert_eq!(js_info(box_port, "$JS.API.INFO").await["domain"], "b2");
    assert_eq!(js_info(box_port, "$JS.hub.API.INFO").await["domain"], "hub");
    assert!(hub.store.join("jetstream").is_dir() && boxed.store.join("jetstream").is_dir());

    // Another number for the box needs --force, and then every file follows it.
    let mut renumber = box_args.clone();
    let i = renumber.iter().position(|a| *a == "2").unwrap();
    renumber[i] = "5";
    let (ok, _, err) = init(&renumber);
    assert!(
        !ok && err.contains("box = 2, not 5") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(boxed.files(), box_files);
    renumber.push("--force");
    let (ok, out, err) = init(&renumber);
    assert!(ok, "{out}{err}");
    assert_eq!(Config::load(&boxed.config).unwrap().fleet.box_number, 5);
    let conf = std::fs::read_to_string(&boxed.nats_conf).unwrap();
    assert!(
        conf.contains("server_name: b5\n") && conf.contains("domain: b5,"),
        "{conf}"
    );
}

#[test]
fn fleet_init_refuses_a_nats_server_older_than_min_nats_server_and_writes_nothing() {
    let Some(old) = server("RW_NATS_OLD") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("leaf.pw");
    std::fs::write(&pw, "secret\n").unwrap();
    let site = Site::new(dir.path(), "hub");
    let before = site.files();
    let (ok, _, err) = init(&site.args(&[
        "--role",
        "hub",
        "--box",
        "1",
        "--leaf-password-file",
        pw.to_str().unwrap(),
        "--nats-server",
        old.to_str().unwrap(),
    ]));
    assert!(!ok);
    assert!(err.contains("min_nats_server = \"2.14.0\""), "{err}");
    assert!(err.contains("version 2.9.10"), "{err}");
    assert_eq!(site.files(), before, "nothing is written");
}

#[test]
fn fleet_init_refuses_bad_options_a_bad_password_and_a_new_box_number_by_name_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), "box");
    let config = std::fs::read_to_string(&site.config).unwrap();
    std::fs::write(&site.config, format!("{config}enabled = true\nbox = 3\n")).unwrap();
    let good = dir.path().join("good.pw");
    std::fs::write(&good, "secret\n").unwrap();
    let quoted = dir.path().join("quoted.pw");
    std::fs::write(&quoted, "sec\"ret\n").unwrap();
    let empty = dir.path().join("empty.pw");
    std::fs::write(&empty, "\n").unwrap();
    let (good, quoted, empty) = (
        good.to_str().unwrap(),
        quoted.to_str().unwrap(),
        empty.to_str().unwrap(),
    );
    let hub = "nats-leaf://hub.local:7422";
    let before = site.files();
    // Every refusal comes before the nats-server is run: none is installed here.
    let none = "/nonexistent/nats-server";
    for (args, says) in [
        (
            vec![
                "--role",
                "box",
                "--box",
                "4",
                "--hub",
                hub,
                "--leaf-password-file",
                good,
            ],
            vec!["has [fleet] box = 3, not 4", "--force", "id range"],
        ),
        (
            vec!["--role", "box", "--box", "3", "--leaf-password-file", good],
            vec!["--hub", "nats-leaf://hub.local:7422"],
        ),
        (
            vec![
                "--role",
                "hub",
                "--box",
                "3",
                "--hub",
                hub,
                "--leaf-password-file",
                good,
            ],
            vec!["--hub", "is for a box"],
        ),
        (
            vec![
                "--role",
                "box",
                "--box",
                "3",
                "--hub",
                "hub.local",
                "--leaf-password-file",
                good,
            ],
            vec!["--hub", "is not a nats-leaf:// URL"],
        ),
        (
            vec![
                "--role",
                "box",
                "--box",
                "3",
                "--hub",
                hub,
                "--leaf-password-file",
                quoted,
            ],
            vec!["--leaf-password-file", "quoted.pw", "'\"'"],
        ),
        (
            vec![
                "--role",
                "box",
                "--box",
                "3",
                "--hub",
                hub,
                "--leaf-password-file",
                empty,
            ],
            vec!["empty.pw", "is empty"],
        ),
        (
            vec![
                "--role",
                "box",
                "--box",
                "3",
                "--hub",
                hub,
                "--leaf-password-file",
                good,
                "--port",
                "0",
            ],
            vec!["--port"],
        ),
        (
            vec![
                "--role",
                "box",
                "--box",
                "3",
                "--hub",
                hub,
                "--leaf-password-file",
                good,
            ],
            vec![
                "cannot run /nonexistent/nats-server --version",
                "--nats-server",
            ],
        ),
    ] {
        let mut args = site.args(&args);
        args.extend(["--nats-server", none]);
        let (ok, out, err) = init(&args);
        assert!(!ok, "{args:?} succeeded: {out}");
        for s in says {
            assert!(err.contains(s), "{args:?}: {err:?} does not say {s:?}");
        }
        assert_eq!(site.files(), before, "{args:?} wrote something");
    }
    // A config that would not load is refused with the loader's message, naming the key.
    std::fs::write(&site.config, "[fleet]\naudit_s = 1\n").unwrap();
    let (ok, _, err) = init(&site.args(&[
        "--role",
        "box",
        "--box",
        "3",
        "--hub",
        hub,
        "--leaf-password-file",
        good,
        "--nats-server",
        none,
    ]));
    assert!(
        !ok && err.contains("fleet.audit_s") && err.contains("nothing was written"),
        "{err}"
    );
}
