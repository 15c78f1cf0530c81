//! Fleet mode (issue 17) against real nats-servers on loopback: upstream 2.15.1 and Debian
//! 12's 2.9.10, prepared by `tests/fleet/servers.sh` (paths in `RW_NATS_NEW` and
//! `RW_NATS_OLD`). A test whose server is missing says so and skips.

use crate::fleet_support::{server, start_nats};
use crate::support::{TestServer, test_config};

fn fleet_toml(port: u16) -> String {
    format!("[fleet]\nenabled = true\nbox = 2\nnats_url = \"nats://127.0.0.1:{port}\"\n")
}

#[tokio::test]
async fn fleet_mode_refuses_a_nats_server_older_than_min_nats_server_naming_the_key() {
    let Some(old) = server("RW_NATS_OLD") else {
        return;
    };
    let nats = start_nats(&old);
    let dir = tempfile::tempdir().unwrap();
    let refused = roundwared::Daemon::start(test_config(dir.path(), &fleet_toml(nats.port)))
        .await
        .err()
        .expect("the daemon refuses to start")
        .to_string();
    assert!(
        refused.contains("min_nats_server = \"2.14.0\""),
        "{refused}"
    );
    assert!(refused.contains("2.9.10"), "{refused}");
}

#[tokio::test]
async fn fleet_mode_starts_on_a_current_nats_server_and_names_an_unreachable_one() {
    let Some(new) = server("RW_NATS_NEW") else {
        return;
    };
    let nats = start_nats(&new);
    let s = TestServer::start_with(&fleet_toml(nats.port)).await;
    assert_eq!(s.get("/healthz", None).await.status, 200);
    s.stop().await;

    let port = nats.port;
    drop(nats);
    let dir = tempfile::tempdir().unwrap();
    let refused = roundwared::Daemon::start(test_config(dir.path(), &fleet_toml(port)))
        .await
        .err()
        .expect("no server: the daemon refuses to start")
        .to_string();
    assert!(refused.contains("[fleet] nats_url"), "{refused}");
}

const BOX_SPAN: i64 = 1_000_000_000_000;

#[tokio::test]
async fn a_fleet_box_numbers_the_users_and_sessions_it_creates_in_its_own_range() {
    let Some(new) = server("RW_NATS_NEW") else {
        return;
    };
    let nats = start_nats(&new);
    let s = TestServer::start_with(&fleet_toml(nats.port)).await;
    s.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd')",
    )
    .await;
    let (user_id, token) = s.device_token("fleet-phone").await;
    let session = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            serde_json::json!({"project_id": 1}),
        )
        .await
        .ok()
        .clone();
    let session_id = session["id"].as_i64().expect("a session id");
    for id in [user_id, session_id] {
        assert_eq!(id / BOX_SPAN, 2, "{id} is in box 2's range");
        assert!(id % BOX_SPAN >= 1);
        assert!(id < 1 << 53, "exact in JavaScript");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_standalone_box_with_rows_of_its_own_is_told_to_join_before_fleet_mode() {
    let Some(new) = server("RW_NATS_NEW") else {
        return;
    };
    let nats = start_nats(&new);
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), "").await;
    s.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (1, 'P', 0, 0, 'd')",
    )
    .await;
    let (_, token) = s.device_token("standalone-phone").await;
    s.post(
        "/api/2/sessions/",
        Some(&token),
        serde_json::json!({"project_id": 1}),
    )
    .await
    .ok();
    s.stop().await;

    let refused = roundwared::Daemon::start(test_config(dir.path(), &fleet_toml(nats.port)))
        .await
        .err()
        .expect("the daemon refuses to start")
        .to_string();
    assert!(refused.contains("roundwared fleet join"), "{refused}");
    assert!(refused.contains("[fleet] box = 2"), "{refused}");
}
