//! users/, login/ and sessions/.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn registering_a_device_returns_a_user_and_token_and_the_same_ones_again() {
    let s = TestServer::start().await;
    let body =
        json!({"device_id": "12891038109281", "client_type": "phone", "client_system": "iOS"});
    let first = s.post("/api/2/users/", None, body.clone()).await;
    let a = first.ok().clone();
    for key in [
        "id",
        "username",
        "token",
        "first_name",
        "last_name",
        "email",
        "device_id",
        "client_type",
    ] {
        assert!(a.get(key).is_some(), "missing {key} in {a}");
    }
    assert!(a["username"].as_str().unwrap().ends_with("9281"));
    assert_eq!(a["token"].as_str().unwrap().len(), 40);
    let b = s.post("/api/2/users/", None, body).await.ok().clone();
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["token"], b["token"]);
}

#[tokio::test]
async fn a_token_still_works_after_the_daemon_restarts_on_the_same_data() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token(crate::support::FIXTURE_DEVICE).await;
    assert_eq!(
        s.get("/api/2/sessions/1/", Some(&token)).await.status,
        StatusCode::OK
    );
    let dir = s.stop().await.unwrap();
    let s2 = TestServer::start_in(dir.path(), "").await;
    assert_eq!(
        s2.get("/api/2/sessions/1/", Some(&token)).await.status,
        StatusCode::OK
    );
    let again = s2
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": crate::support::FIXTURE_DEVICE, "client_type": "phone"}),
        )
        .await;
    assert_eq!(again.ok()["token"], token.as_str());
}

#[tokio::test]
async fn registering_without_device_id_or_client_type_is_a_400_naming_the_field() {
    let s = TestServer::start().await;
    let r = s
        .post("/api/2/users/", None, json!({"client_type": "phone"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.get("device_id").is_some(), "{}", r.body);
    let r = s
        .post("/api/2/users/", None, json!({"device_id": "x"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.get("client_type").is_some(), "{}", r.body);
    assert_eq!(s.scalar("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn listing_users_is_for_staff_and_a_user_sees_only_themselves() {
    let s = TestServer::start().await;
    let (me, token) = s.device_token("dev-me").await;
    let (other, _) = s.device_token("dev-other").await;
    assert_eq!(
        s.get("/api/2/users/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get("/api/2/users/", Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get(&format!("/api/2/users/{me}/"), Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.get(&format!("/api/2/users/{other}/"), Some(&token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let staff = s.staff_token().await;
    let all = s.get("/api/2/users/", Some(&staff)).await;
    assert_eq!(all.ok().as_array().unwrap().len(), 3);
    let filtered = s.get("/api/2/users/?search_str=staff", Some(&staff)).await;
    assert_eq!(filtered.ok().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_patches_their_contact_fields_without_the_trailing_slash() {
    let s = TestServer::start().await;
    let (me, token) = s.device_token("dev-patch").await;
    let r = s
        .patch(
            &format!("/api/2/users/{me}"),
            Some(&token),
            json!({"first_name": "Zoë 🎧", "email": "z@example.org"}),
        )
        .await;
    assert_eq!(r.ok()["first_name"], "Zoë 🎧");
    let r = s
        .patch(
            &format!("/api/2/users/{me}/"),
            Some(&token),
            json!({"device_id": "hijack"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.get("device_id").is_some());
}

#[tokio::test]
async fn login_returns_a_token_only_for_the_right_password() {
    let s = TestServer::start().await;
    let token = s.login_token("curator", true).await;
    assert_eq!(token.len(), 40);
    let bad = s
        .post(
            "/api/2/login/",
            None,
            json!({"username": "curator", "password": "nope"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.body["non_field_errors"][0],
        "Unable to log in with provided credentials."
    );
    let form = s
        .form(
            reqwest::Method::POST,
            "/api/2/login/",
            None,
            &[("username", "curator"), ("password", "password123")],
        )
        .await;
    assert_eq!(form.ok()["token"], token.as_str());
}

#[tokio::test]
async fn a_session_takes_language_one_and_the_projects_geo_flag_by_default() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("12891038109281").await;
    let r = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            json!({"timezone": "-0500", "project_id": 1, "client_system": "iOS"}),
        )
        .await;
    let b = r.ok();
    assert_eq!(b["language_id"], 1);
    assert_eq!(b["geo_listen_enabled"], true);
    assert_eq!(b["timezone"], "-0500");
    assert_eq!(b["client_system"], "iOS");
    assert_eq!(b["project_id"], 1);
    assert_eq!(b["device_id"], "12891038109281");
    assert!(!b["starttime"].as_str().unwrap().ends_with('Z'));
    let r = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            json!({"project_id": 1, "geo_listen_enabled": false}),
        )
        .await;
    assert_eq!(r.ok()["geo_listen_enabled"], false);
}

#[tokio::test]
async fn session_language_codes_are_shortened_and_unknown_ones_fall_back_to_one() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("lang-device").await;
    let r = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            json!({"project_id": 1, "language": "es-MX"}),
        )
        .await;
    assert_eq!(r.ok()["language_id"], 2);
    let r = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            json!({"project_id": 1, "language": "xx"}),
        )
        .await;
    assert_eq!(r.ok()["language_id"], 1);
}

#[tokio::test]
async fn bad_session_input_is_a_400_and_writes_nothing() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("bad-session").await;
    let before = s.scalar("SELECT count(*) FROM sessions").await;
    let cases = [
        (json!({"project_id": 1, "timezone": "EST"}), "timezone"),
        (json!({"timezone": "0000"}), "project_id"),
        (json!({"project_id": 999}), "project_id"),
        (json!({"project_id": "one"}), "project_id"),
        (json!({"project_id": 1, "language_id": 77}), "language_id"),
        (
            json!({"project_id": 1, "geo_listen_enabled": "sometimes"}),
            "geo_listen_enabled",
        ),
    ];
    for (body, field) in cases {
        let r = s.post("/api/2/sessions/", Some(&token), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.body.get(field).is_some(), "{body} -> {}", r.body);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM sessions").await, before);
}

#[tokio::test]
async fn sessions_list_filters_and_counts() {
    let s = TestServer::with_reference_fixture().await;
    let token = s.staff_token().await;
    let r = s.get("/api/2/sessions/?language=es&", Some(&token)).await;
    assert_eq!(r.ok().as_array().unwrap().len(), 1);
    // A visitor lists only their own sessions; the count stays public.
    let (_, visitor) = s.device_token("list-sessions").await;
    let r = s.get("/api/2/sessions/", Some(&visitor)).await;
    assert_eq!(r.ok(), &json!([]));
    let r = s
        .get("/api/2/sessions/count/?project_id=1", Some(&visitor))
        .await;
    assert_eq!(r.ok()["count"], 2);
    let r = s
        .get("/api/2/sessions/count/?project_id=1", Some(&token))
        .await;
    assert_eq!(r.ok()["count"], 2);
    assert_eq!(
        s.get("/api/2/sessions/12345/", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/2/sessions/?project_id=abc", Some(&token))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_device_id_is_never_shown_to_other_token_holders() {
    let s = TestServer::with_reference_fixture().await;
    let (_, victim) = s.device_token("victim-secret-device").await;
    let (_, attacker) = s.device_token("attacker-device").await;
    let mine = s
        .post("/api/2/sessions/", Some(&victim), json!({"project_id": 1}))
        .await;
    let sid = mine.ok()["id"].as_i64().unwrap();
    assert_eq!(
        mine.body["device_id"], "victim-secret-device",
        "the device sees its own id"
    );

    // Other visitors do not even see the session (nor its client system).
    let listed = s
        .get("/api/2/sessions/?project_id=1", Some(&attacker))
        .await;
    assert_eq!(listed.ok(), &json!([]));
    let one = s
        .get(&format!("/api/2/sessions/{sid}/"), Some(&attacker))
        .await;
    assert_eq!(one.status, StatusCode::FORBIDDEN);
    assert!(one.body.get("device_id").is_none());
    let blocked = s
        .get(
            &format!("/api/2/assets/blocked/?session_id={sid}"),
            Some(&attacker),
        )
        .await;
    assert!(blocked.ok()["device_id"].is_null());

    let own = s
        .get(&format!("/api/2/sessions/{sid}/"), Some(&victim))
        .await;
    assert_eq!(own.ok()["device_id"], "victim-secret-device");
    let staff = s.staff_token().await;
    let seen = s
        .get(&format!("/api/2/sessions/{sid}/"), Some(&staff))
        .await;
    assert_eq!(seen.ok()["device_id"], "victim-secret-device");

    s.sql("UPDATE assets SET user_id = (SELECT id FROM users WHERE device_id = 'victim-secret-device')").await;
    let assets = s.get("/api/2/assets/?project_id=1", Some(&attacker)).await;
    for a in assets.ok().as_array().unwrap() {
        assert!(a["user"]["device_id"].is_null(), "{a}");
        assert_eq!(a["user"]["email"], "");
    }
}
