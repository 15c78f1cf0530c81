//! Power-cut safety at the process level: the daemon is killed with SIGKILL in the middle of
//! a stream of uploads and API writes, many times over one data directory. After every kill:
//! `PRAGMA integrity_check` is ok, every write the daemon acknowledged (200) is there, and no
//! half-write is visible (every asset row has all its media files; no envelope link without
//! its asset).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng as _;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::media_support::{Fmt, wav};
use crate::support::REFERENCE_FIXTURE;

/// How many times the daemon is killed.
const ROUNDS: usize = 12;

#[derive(Default)]
struct Acked {
    devices: Vec<String>,
    envelopes: Vec<i64>,
    /// (asset id, original file name)
    assets: Vec<(i64, String)>,
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

async fn wait_up(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("roundwared did not come back up");
}

/// Registers devices as fast as it can, recording each acknowledged one.
async fn register_devices(
    client: reqwest::Client,
    base: String,
    round: usize,
    acked: Arc<Mutex<Acked>>,
) {
    for n in 0.. {
        let device = format!("crash-{round}-{n}");
        let Ok(r) = client
            .post(format!("{base}/api/2/users/"))
            .json(&json!({"device_id": device, "client_type": "phone"}))
            .send()
            .await
        else {
            return;
        };
        if r.status().is_success() && r.json::<Value>().await.is_ok() {
            acked.lock().unwrap().devices.push(device);
        }
    }
}

/// Creates envelopes and uploads a short recording into each, as the owner of session 1,
/// recording what was acknowledged.
async fn upload_recordings(client: reqwest::Client, base: String, acked: Arc<Mutex<Acked>>) {
    let bytes = wav(44_100, 1, Fmt::Pcm16, 0.3);
    let Ok(r) = client
        .post(format!("{base}/api/2/users/"))
        .json(&json!({"device_id": crate::support::FIXTURE_DEVICE, "client_type": "phone"}))
        .send()
        .await
    else {
        return;
    };
    let Ok(owner) = r.json::<Value>().await else {
        return;
    };
    let auth = format!("token {}", owner["token"].as_str().unwrap_or_default());
    loop {
        let Ok(r) = client
            .post(format!("{base}/api/2/envelopes/"))
            .header("Authorization", &auth)
            .json(&json!({"session_id": 1}))
            .send()
            .await
        else {
            return;
        };
        let Ok(body) = r.json::<Value>().await else {
            return;
        };
        let Some(envelope) = body["id"].as_i64() else {
            return;
        };
        acked.lock().unwrap().envelopes.push(envelope);
        let form = Form::new().text("session_id", "1").part(
            "file",
            Part::bytes(bytes.clone())
                .file_name("blob")
                .mime_str("audio/wav")
                .unwrap(),
        );
        let Ok(r) = client
            .patch(format!("{base}/api/2/envelopes/{envelope}/"))
            .header("Authorization", &auth)
            .multipart(form)
            .send()
            .await
        else {
            return;
        };
        if !r.status().is_success() {
            continue;
        }
        let Ok(asset) = r.json::<Value>().await else {
            return;
        };
        let file = asset["file"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let id = asset["id"].as_i64().unwrap();
        acked.lock().unwrap().assets.push((id, file));
    }
}

fn check(db: &Path, media: &Path, acked: &Acked, round: usize) {
    let c = rusqlite::Connection::open(db).unwrap();
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "round {round}");
    for d in &acked.devices {
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM users WHERE device_id = ?1",
                [d],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "round {round}: acknowledged device {d} lost");
    }
    for e in &acked.envelopes {
        let n: i64 = c
            .query_row("SELECT count(*) FROM envelopes WHERE id = ?1", [e], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1, "round {round}: acknowledged envelope {e} lost");
    }
    for (id, file) in &acked.assets {
        let stored: Option<String> = c
            .query_row("SELECT file FROM assets WHERE id = ?1", [id], |r| r.get(0))
            .ok();
        assert_eq!(
            stored.as_deref(),
            Some(file.as_str()),
            "round {round}: acknowledged asset {id} lost"
        );
    }
    // No half-write: every uploaded asset row has its original and its WAV on disk, and every
    // envelope link points at an asset.
    let mut rows = c
        .prepare("SELECT id, file, filename FROM assets WHERE id > 2")
        .unwrap();
    let rows: Vec<(i64, String, String)> = rows
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, file, filename) in &rows {
        for name in [file, filename] {
            let path = media.join(name);
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            assert!(
                len > 0,
                "round {round}: asset {id} is visible but {} is missing or empty",
                path.display()
            );
        }
    }
    let dangling: i64 = c
        .query_row(
            "SELECT count(*) FROM envelope_assets ea LEFT JOIN assets a ON a.id = ea.asset_id WHERE a.id IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dangling, 0, "round {round}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_during_uploads_and_the_database_stays_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let db = data.join("roundwared.sqlite3");
    let media = data.join("media");
    {
        let store = roundwared::testing::store::Store::open(&db).unwrap();
        store
            .write(|tx| {
                tx.execute_batch(REFERENCE_FIXTURE)?;
                Ok(())
            })
            .await
            .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[http]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n[log]\nlevel = \"error\"\n", data.display()),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = rand::rng();
    for round in 0..ROUNDS {
        let mut child = spawn(&config);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        wait_up(&client, &base).await;
        let tasks = [
            tokio::spawn(register_devices(
                client.clone(),
                base.clone(),
                round,
                acked.clone(),
            )),
            tokio::spawn(upload_recordings(
                client.clone(),
                base.clone(),
                acked.clone(),
            )),
            tokio::spawn(upload_recordings(
                client.clone(),
                base.clone(),
                acked.clone(),
            )),
        ];
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..900))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        check(&db, &media, &acked.lock().unwrap(), round);
    }
    let a = acked.lock().unwrap();
    assert!(
        a.assets.len() >= ROUNDS,
        "too few uploads got through to test anything: {}",
        a.assets.len()
    );
    assert!(a.devices.len() >= ROUNDS * 10);
    eprintln!(
        "crash safety: {ROUNDS} kills; {} devices, {} envelopes, {} uploads acknowledged and all present",
        a.devices.len(),
        a.envelopes.len(),
        a.assets.len()
    );
}
