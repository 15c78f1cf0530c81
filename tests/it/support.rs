//! Test harness: a real roundwared on 127.0.0.1:0 with its own SQLite file in a temp dir,
//! driven over real HTTP with reqwest.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use roundwared::config::Config;
use roundwared::testing::store::Store;
use serde_json::{Value, json};

/// A running daemon.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The daemon's store (for seeding fixtures with SQL and checking rows).
    pub store: Store,
    /// The daemon's health registry (for registering test probes).
    pub health: roundwared::testing::health::Health,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The daemon's live stream feeds (tests register feeds here without the engine).
    pub feeds: roundwared::testing::output::feed::Feeds,
    dir: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A response: status and JSON body (Null when the body is empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        &self.body
    }
}

/// A loopback config on `data_dir` plus `extra_toml`; an `[http]` table and then a
/// `[storage]` table at the start of `extra_toml` are merged into the test's own (TOML allows
/// each table once).
pub fn test_config(data_dir: &Path, extra_toml: &str) -> Config {
    let leading = |text: &'static str, toml: &str| -> (String, String) {
        match toml.strip_prefix(text) {
            Some(after) => {
                let (table, rest) =
                    after.split_at(after.find("\n[").map_or(after.len(), |i| i + 1));
                (table.to_string(), rest.to_string())
            }
            None => (String::new(), toml.to_string()),
        }
    };
    let (extra_http, rest) = leading("[http]\n", extra_toml);
    let (extra_storage, rest) = leading("[storage]\n", &rest);
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n{extra_http}[storage]\ndata_dir = \"{}\"\n{extra_storage}{rest}",
        data_dir.display()
    );
    Config::from_toml_str(&text, Path::new("test.toml")).expect("test config")
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// A server whose database holds the demo project (seeded as `serve --demo` does).
    pub async fn start_with_demo() -> Self {
        let s = Self::start().await;
        let media = s.data_dir().join("media");
        assert!(
            roundwared::seed_if_empty(&s.store, &media).await.unwrap(),
            "the demo was not seeded"
        );
        s
    }

    pub async fn start_with(extra_toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let mut s = Self::start_in(&path, extra_toml).await;
        s.dir = Some(dir);
        s
    }

    /// Starts on an existing data directory (the caller keeps it alive).
    pub async fn start_in(data_dir: &Path, extra_toml: &str) -> Self {
        let daemon = roundwared::Daemon::start(test_config(data_dir, extra_toml))
            .await
            .expect("daemon starts");
        daemon.start_local_listener().await;
        let addr = daemon.local_addr().unwrap();
        let store = daemon.store().clone();
        let feeds = daemon.feeds().clone();
        let health = daemon.health().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            daemon
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("daemon runs");
        });
        Self {
            base: format!("http://{addr}"),
            store,
            health,
            client: reqwest::Client::new(),
            feeds,
            dir: None,
            data_dir: data_dir.to_path_buf(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the daemon and waits for it; returns the temp dir so data can be reused.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        self.dir.take()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs SQL on the daemon's database (fixtures).
    pub async fn sql(&self, sql: &str) {
        let sql = sql.to_string();
        self.store
            .write(move |tx| {
                tx.execute_batch(&sql)?;
                Ok(())
            })
            .await
            .expect("fixture SQL");
    }

    /// One integer from a query on the daemon's database.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let sql = sql.to_string();
        self.store
            .read(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .await
            .expect("scalar")
    }

    /// A token of the user who opened session `session`: the caller the ownership rules let
    /// act in that session. Their stored token when they have one, else (a fixture user never
    /// registered) registering their device once, as the client would.
    pub async fn session_owner_token(&self, session: i64) -> String {
        let (device, token): (String, Option<String>) = self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT u.device_id, t.key FROM sessions s JOIN users u ON u.id = s.user_id
                       LEFT JOIN tokens t ON t.user_id = u.id
                      WHERE s.id = ?1",
                    [session],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .await
            .unwrap_or_else(|e| panic!("session {session} has no owner with a device: {e}"));
        match token {
            Some(t) => t,
            None => self.device_token(&device).await.1,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("token {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// The text of `/metrics` (Prometheus exposition).
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::DELETE, path, token, None).await
    }

    /// Sends a multipart form of text fields.
    pub async fn multipart(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Reply {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let mut req = self.client.request(method, self.url(path)).multipart(form);
        if let Some(t) = token {
            req = req.header("Authorization", format!("token {t}"));
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body =
            serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Sends an urlencoded form.
    pub async fn form(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("token {t}"));
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body =
            serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("token {t}"));
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body =
            serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Registers a device and returns (user id, token).
    pub async fn device_token(&self, device_id: &str) -> (i64, String) {
        let r = self
            .post(
                "/api/2/users/",
                None,
                json!({"device_id": device_id, "client_type": "phone"}),
            )
            .await;
        let b = r.ok();
        (
            b["id"].as_i64().unwrap(),
            b["token"].as_str().unwrap().to_string(),
        )
    }

    /// Creates a login user (staff or not) and returns its token from `login/`.
    pub async fn login_token(&self, username: &str, staff: bool) -> String {
        let hash = roundwared::testing::users::hash_password("password123").unwrap();
        let name = username.to_string();
        self.store
            .write(move |tx| {
                roundwared::testing::store::users::upsert_login(tx, &name, &hash, staff)
            })
            .await
            .unwrap();
        let r = self
            .post(
                "/api/2/login/",
                None,
                json!({"username": username, "password": "password123"}),
            )
            .await;
        r.ok()["token"].as_str().unwrap().to_string()
    }

    pub async fn staff_token(&self) -> String {
        self.login_token("staff", true).await
    }
}

/// The device that opened the fixture's session 1 (user 90); `device_token(FIXTURE_DEVICE)`
/// is a token of the owner of session 1, its assets, envelopes and listen events.
pub const FIXTURE_DEVICE: &str = "fixture-device";

/// The data set of the reference server's api2 test (reference-server.md §8.2): languages en
/// and es, project 1 "Uno", session 1 (en, opened by user 90 of [`FIXTURE_DEVICE`]) and 2 (es,
/// user 91), tag categories, three tags (tag 3 has no project), UI groups and items, assets 1
/// and 2 in their own envelopes, two listen events, audiotrack 1 and one active speaker.
pub const REFERENCE_FIXTURE: &str = r#"
INSERT INTO languages (id, name, language_code) VALUES (2, 'Español', 'es');
INSERT INTO localized_strings (id, localized_string, language_id) VALUES (1, 'One', 1), (2, 'Uno', 2);
INSERT INTO projects (id, name, latitude, longitude, pub_date, audio_format, max_recording_length,
    recording_radius, geo_listen_enabled, out_of_range_url, out_of_range_distance)
    VALUES (1, 'Uno', 0.1, 0.1, '2020-01-01T00:00:00.000000', 'ogg', 30, 10, 1,
            'http://rw.com:8000/outofrange.mp3', 1000);
INSERT INTO project_languages VALUES (1, 1), (1, 2);
INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES
    ('project', 1, 'demo_stream_message', 0, 1), ('project', 1, 'demo_stream_message', 1, 2);
INSERT INTO users (id, username, date_joined, device_id, client_type)
    VALUES (90, '1577836800vice', '2020-01-01T00:00:00.000000', 'fixture-device', 'phone'),
           (91, '1577836800e-es', '2020-01-01T00:00:00.000000', 'fixture-device-es', 'phone');
INSERT INTO sessions (id, device_id, starttime, project_id, language_id, timezone, user_id)
    VALUES (1, 'fixture-device', '2020-01-01T00:00:00.000000', 1, 1, '0000', 90),
           (2, 'fixture-device-es', '2020-01-01T00:00:00.000000', 1, 2, '0000', 91);
INSERT INTO tag_categories (id, name) VALUES (1, 'gender'), (2, 'age'), (3, 'color');
INSERT INTO tags (id, project_id, tag_category_id, value, description, data) VALUES
    (1, 1, 1, 'male', 'tag one', 'd1'), (2, 1, 2, 'young', 'tag two', 'd2'), (3, NULL, 3, 'red', NULL, NULL);
INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES
    ('tag', 1, 'msg', 0, 1), ('tag', 1, 'msg', 1, 2), ('tag', 1, 'description', 0, 1), ('tag', 1, 'description', 1, 2);
INSERT INTO ui_groups (id, name, ui_mode, tag_category_id, select_mode, active, idx, project_id) VALUES
    (1, 'Gender', 'listen', 1, 'multi', 1, 1, 1), (2, 'Age', 'listen', 2, 'single', 1, 2, 1),
    (3, 'Gender', 'speak', 1, 'single', 1, 1, 1), (4, 'Age', 'speak', 2, 'single', 1, 2, 1),
    (5, 'Color', 'speak', 3, 'single', 1, 3, 1);
INSERT INTO ui_items (id, ui_group_id, idx, tag_id, is_default, active) VALUES
    (1, 1, 1, 1, 1, 1), (2, 1, 2, 2, 0, 1);
INSERT INTO assets (id, session_id, latitude, longitude, filename, file, volume, submitted, project_id,
    created, updated, audiolength, start_time, end_time, language_id, mediatype, description) VALUES
    (1, 1, 0.1, 0.1, 'one.mp3', 'one.wav', 0.9, 1, 1, '2020-01-01T00:00:00.000000', '2020-01-01T00:00:00.000000',
     5000000000, 0, 5, 1, 'audio', ''),
    (2, 1, 0.1, 0.1, 'two.mp3', 'two.wav', 1.0, 1, 1, '2020-01-02T00:00:00.000000', '2020-01-02T00:00:00.000000',
     10000000000, 0, 10, 1, 'audio', '');
INSERT INTO asset_tags VALUES (1, 1), (2, 1);
INSERT INTO envelopes (id, session_id, created) VALUES (1, 1, '2020-01-01T00:00:00.000000'), (2, 1, '2020-01-02T00:00:00.000000');
INSERT INTO envelope_assets VALUES (1, 1), (2, 2);
INSERT INTO listen_events (session_id, asset_id, starttime, duration) VALUES
    (1, 1, '2020-01-01T00:00:00.000000', 2000000000), (1, 2, '2020-01-01T00:01:00.000000', 4000000000);
INSERT INTO audiotracks (id, project_id, minvolume, maxvolume, minduration, maxduration, mindeadair, maxdeadair,
    minfadeintime, maxfadeintime, minfadeouttime, maxfadeouttime, minpanpos, maxpanpos, minpanduration, maxpanduration)
    VALUES (1, 1, 0.5, 1.0, 5e9, 10e9, 1e9, 2e9, 1e9, 2e9, 1e9, 2e9, -1, 1, 5e9, 10e9);
INSERT INTO speakers (id, project_id, activeyn, code, maxvolume, minvolume, uri, backupuri, shape, attenuation_distance)
    VALUES (1, 1, 1, 'sp1', 1.0, 0.0, 'http://example.invalid/speaker.mp3', '',
    '{"type":"MultiPolygon","coordinates":[[[[0.099,0.099],[0.101,0.099],[0.101,0.101],[0.099,0.101],[0.099,0.099]]]]}', 100);
"#;

impl TestServer {
    /// Starts a server seeded with [`REFERENCE_FIXTURE`].
    pub async fn with_reference_fixture() -> Self {
        let s = Self::start().await;
        s.sql(REFERENCE_FIXTURE).await;
        s
    }
}

/// Runs the real `roundwared` with `args` and `--config config`; (success, stdout, stderr).
pub fn cli(args: &[&str], config: &Path) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roundwared"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
