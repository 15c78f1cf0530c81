//! The command line: check-config, user add, and serve with a config file.

use std::process::Command;

use serde_json::json;

use crate::support::TestServer;

fn roundwared() -> Command {
    Command::new(env!("CARGO_BIN_EXE_roundwared"))
}

#[test]
fn check_config_accepts_the_shipped_file_and_names_a_bad_key() {
    let ok = roundwared()
        .args(["check-config", "--config", "config/roundwared.toml"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("storage.data_dir = ./var"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[stream]\nheartbeat_timeout = 5\n").unwrap();
    let out = roundwared()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("heartbeat_timeout"), "{err}");

    let missing = roundwared()
        .args(["check-config", "--config", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.toml"));
}

#[tokio::test]
async fn a_user_added_on_the_command_line_can_log_in_as_staff() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let out = roundwared()
        .args([
            "user",
            "add",
            "--username",
            "curator",
            "--password",
            "s3cret-pass",
            "--staff",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created staff user `curator`"));

    let s = TestServer::start_in(dir.path(), "").await;
    let r = s
        .post(
            "/api/2/login/",
            None,
            json!({"username": "curator", "password": "s3cret-pass"}),
        )
        .await;
    let token = r.ok()["token"].as_str().unwrap().to_string();
    let p = s
        .post(
            "/api/2/projects/",
            Some(&token),
            json!({"name": "Made by staff", "latitude": 1, "longitude": 2}),
        )
        .await;
    assert_eq!(p.ok()["name"], "Made by staff");

    let short = roundwared()
        .args([
            "user",
            "add",
            "--username",
            "x",
            "--password",
            "short",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
}

#[tokio::test]
async fn a_name_taken_by_a_device_cannot_be_turned_into_a_staff_login() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let s = TestServer::start_in(dir.path(), "").await;
    let (me, token) = s.device_token("squatter").await;
    // A visitor cannot take a login name by renaming itself...
    let r = s
        .patch(
            &format!("/api/2/users/{me}/"),
            Some(&token),
            json!({"username": "operator"}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body["username"][0].as_str().unwrap().contains("staff"));
    // ...but a name a device user holds (here given by staff) is still not turned into a login.
    let staff = s.staff_token().await;
    let r = s
        .patch(
            &format!("/api/2/users/{me}/"),
            Some(&staff),
            json!({"username": "operator"}),
        )
        .await;
    assert_eq!(r.ok()["username"], "operator");
    let out = roundwared()
        .args([
            "user",
            "add",
            "--username",
            "operator",
            "--password",
            "s3cret-pass",
            "--staff",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("registered device"));
    let p = s
        .post(
            "/api/2/projects/",
            Some(&token),
            json!({"name": "x", "latitude": 1, "longitude": 2}),
        )
        .await;
    assert_eq!(p.status, reqwest::StatusCode::FORBIDDEN);
}
