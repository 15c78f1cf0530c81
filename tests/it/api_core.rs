//! Conventions shared by every route: CORS, slash forms, JSON errors, auth header forms,
//! request size bound, OpenAPI.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{FIXTURE_DEVICE, TestServer};

#[tokio::test]
async fn preflight_answers_cors_for_any_api_path() {
    let s = TestServer::start().await;
    let r = s
        .client
        .request(Method::OPTIONS, s.url("/api/2/projects/1/"))
        .header("Origin", "http://kiosk.local")
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    for m in ["GET", "POST", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
}

#[tokio::test]
async fn simple_responses_carry_the_cors_origin_header() {
    let s = TestServer::start().await;
    let r = s
        .client
        .get(s.url("/api/2/"))
        .header("Origin", "http://x.local")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn both_slash_forms_answer_without_redirects() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token(FIXTURE_DEVICE).await;
    for path in ["/api/2/sessions/1/", "/api/2/sessions/1"] {
        let r = s.get(path, Some(&token)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let s = TestServer::start().await;
    let r = s.get("/api/2/nothing-here/", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["detail"].is_string());
    let r = s
        .send(Method::PUT, "/api/2/users/", None, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body["detail"].as_str().unwrap().contains("PUT"));
}

#[tokio::test]
async fn a_bad_token_is_refused_even_where_anyone_may_call() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/api/2/users/",
            Some("0000000000000000000000000000000000000000"),
            json!({"device_id": "d", "client_type": "c"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["detail"], "Invalid token.");
    assert_eq!(r.headers["www-authenticate"], "Token");
}

#[tokio::test]
async fn the_token_scheme_word_may_be_any_case() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token(FIXTURE_DEVICE).await;
    for scheme in ["token", "Token", "TOKEN"] {
        let r = s
            .client
            .get(s.url("/api/2/sessions/1/"))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn malformed_json_and_non_object_bodies_are_400_with_detail() {
    let s = TestServer::start().await;
    let r = s
        .raw(
            Method::POST,
            "/api/2/users/",
            None,
            "application/json",
            b"{\"device_id\": ".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["detail"].as_str().unwrap().contains("JSON"),
        "{}",
        r.body
    );
    let r = s
        .raw(
            Method::POST,
            "/api/2/users/",
            None,
            "application/json",
            b"[1,2]".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s
        .raw(
            Method::POST,
            "/api/2/users/",
            None,
            "text/csv",
            b"a,b".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_body_over_the_upload_limit_is_refused_with_413_and_the_daemon_keeps_serving() {
    let s = TestServer::start_with("[limits]\nmax_upload_mb = 1\n").await;
    let big = vec![b' '; 2 * 1024 * 1024];
    let mut body = b"{\"device_id\": \"x\", \"client_type\": \"y\", \"pad\": \"".to_vec();
    body.extend_from_slice(&big);
    body.extend_from_slice(b"\"}");
    let r = s
        .raw(
            Method::POST,
            "/api/2/users/",
            None,
            "application/json",
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body["detail"].as_str().unwrap().contains("larger than"));
    assert_eq!(s.scalar("SELECT count(*) FROM users").await, 0);
    let ok = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": "x", "client_type": "y"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn the_root_lists_endpoints_as_absolute_urls() {
    let s = TestServer::start().await;
    let r = s.get("/api/2/", None).await;
    let map = r.ok().as_object().unwrap().clone();
    assert!(
        map["users"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(map.contains_key("sessions"));
    assert_eq!(s.get("/api/2", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_lists_every_registered_operation() {
    let s = TestServer::start().await;
    let doc = s.get("/api/2/openapi.json", None).await.ok().clone();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths["/api/2/users/"]["post"].is_object());
    assert!(paths["/api/2/users/"]["get"]["security"].is_array());
    assert!(paths["/api/2/login/"]["post"]["security"].is_null());
    // Every documented path answers something other than 404/405 for its documented methods
    // (anonymous callers get 401/403 on protected ones).
    for (path, item) in paths {
        let concrete = path.replace("{id}", "1");
        for method in item.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let r = s
                .send(
                    m.clone(),
                    &concrete,
                    None,
                    if m == Method::GET || m == Method::DELETE {
                        None
                    } else {
                        Some(json!({}))
                    },
                )
                .await;
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(r.status.as_u16() < 500, "{method} {path} -> {}", r.status);
        }
    }
}

#[tokio::test]
async fn a_multipart_body_under_the_limit_is_read_whole_even_when_large() {
    // Large parts are files (spooled to disk); text fields are capped at 64 KiB each
    // (tests/it/ingest_hardening.rs).
    let s = TestServer::start().await;
    let pad = vec![b'x'; 3 * 1024 * 1024];
    let form = reqwest::multipart::Form::new()
        .text("device_id", "big-form")
        .part(
            "pad",
            reqwest::multipart::Part::bytes(pad).file_name("pad.bin"),
        )
        .text("client_type", "web");
    let resp = s
        .client
        .post(s.url("/api/2/users/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["device_id"], "big-form");
    assert_eq!(
        body["client_type"], "web",
        "the field after the large part was read"
    );
}

#[tokio::test]
async fn a_multipart_body_over_the_limit_is_413() {
    let s = TestServer::start_with("[limits]\nmax_upload_mb = 1\n").await;
    let pad = "x".repeat(2 * 1024 * 1024);
    let r = s
        .multipart(
            Method::POST,
            "/api/2/users/",
            None,
            &[
                ("device_id", "big-form"),
                ("client_type", "web"),
                ("pad", &pad),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(s.scalar("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_json_body_over_one_megabyte_is_413_even_with_a_large_upload_limit() {
    let s = TestServer::start().await;
    let mut body = b"{\"device_id\": \"x\", \"client_type\": \"y\", \"pad\": \"".to_vec();
    body.extend_from_slice(&vec![b'a'; 1024 * 1024 + 10]);
    body.extend_from_slice(b"\"}");
    let r = s
        .raw(
            Method::POST,
            "/api/2/users/",
            None,
            "application/json",
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.body["detail"].as_str().unwrap().contains("multipart"),
        "{}",
        r.body
    );
    assert_eq!(s.scalar("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn empty_arrays_and_blank_ids_are_400_not_500() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("blank-ids").await;
    let t = Some(token.as_str());
    for body in [
        json!({"session_id": [], "type": "like", "asset_id": 1}),
        json!({"session_id": 1, "type": [], "asset_id": 1}),
        json!({"session_id": 1, "type": "like", "asset_id": []}),
    ] {
        let r = s.post("/api/2/votes/", t, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body} -> {}", r.body);
    }
    for extra in [json!(null), json!(""), json!([])] {
        let body = json!({"session": 1, "asset": 1, "starttime": "2026-01-01T00:00:00", "session_id": extra});
        let r = s.post("/api/2/listenevents/", t, body.clone()).await;
        assert!(r.status.as_u16() < 500, "{body} -> {}", r.status);
    }
}

#[tokio::test]
async fn id_lists_are_bounded() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("many-ids").await;
    let ids: Vec<String> = (1..=600).map(|i| i.to_string()).collect();
    let r = s
        .get(
            &format!("/api/2/assets/?tag_ids={}", ids.join(",")),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.get("tag_ids").is_some());
    let within: Vec<String> = (1..=400).map(|i| i.to_string()).collect();
    let r = s
        .get(
            &format!("/api/2/assets/?tag_ids_or={}", within.join(",")),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .get(
            &format!("/api/2/assets/?tag_ids={}", within.join(",")),
            Some(&token),
        )
        .await;
    assert!(r.status.as_u16() < 500, "{}", r.status);
}
