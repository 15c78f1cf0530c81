//! The permission matrix: anonymous / token holder / staff × every route × every verb.
//! `Owner` operations need a token and act only on the caller's own objects (the token holder
//! here owns nothing of the fixture, so they get 403 or, for a body missing its fields, 400).
//!
//! The expected access of each operation is written out here by hand from the spec
//! (reference-server.md §1 with the decisions.md changes), then checked three ways: the
//! OpenAPI document states the same access, the server enforces it, and no route exists that
//! this table does not list.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Anyone,
    Token,
    Owner,
    Staff,
    /// The event stream routes (`/stream/0/`): staff, or a kiosk token (tested in
    /// event_streams.rs); a visitor's token is refused as on staff routes.
    StaffOrKiosk,
}

/// Config resources: any token reads, staff writes.
const CONFIG: &[&str] = &[
    "projects",
    "projectgroups",
    "tags",
    "tagcategories",
    "tagrelationships",
    "languages",
    "localizedstrings",
    "audiotracks",
    "speakers",
    "uigroups",
    "uiitems",
    "uielements",
    "uielementnames",
    "timedassets",
];

fn expected() -> BTreeMap<(String, Method), Need> {
    use Need::*;
    let mut m = BTreeMap::new();
    let mut put = |path: &str, method: Method, need: Need| {
        m.insert((format!("/api/2{path}"), method), need);
    };
    put("/users/", Method::GET, Staff);
    put("/users/", Method::POST, Anyone);
    put("/users/{id}/", Method::GET, Token);
    put("/users/{id}/", Method::PATCH, Token);
    put("/login/", Method::POST, Anyone);
    put("/sessions/", Method::GET, Token);
    put("/sessions/", Method::POST, Token);
    put("/sessions/count/", Method::GET, Token);
    put("/sessions/{id}/", Method::GET, Owner);
    for r in CONFIG {
        put(&format!("/{r}/"), Method::GET, Token);
        put(&format!("/{r}/"), Method::POST, Staff);
        put(&format!("/{r}/{{id}}/"), Method::GET, Token);
        put(&format!("/{r}/{{id}}/"), Method::PATCH, Staff);
        put(&format!("/{r}/{{id}}/"), Method::DELETE, Staff);
    }
    for sub in ["tags", "uigroups", "uiconfig", "assets", "uielements"] {
        put(&format!("/projects/{{id}}/{sub}/"), Method::GET, Token);
    }
    put("/projectgroups/{id}/projects/", Method::GET, Token);
    put("/assets/", Method::GET, Token);
    put("/assets/", Method::POST, Owner);
    put("/assets/{id}/", Method::GET, Token);
    put("/assets/{id}/", Method::PATCH, Owner);
    put("/assets/{id}/", Method::DELETE, Owner);
    put("/assets/{id}/votes/", Method::GET, Token);
    put("/assets/{id}/votes/", Method::POST, Owner);
    put("/assets/random/", Method::GET, Token);
    put("/assets/blocked/", Method::GET, Token);
    put("/assets/count/", Method::GET, Token);
    put("/envelopes/", Method::GET, Token);
    put("/envelopes/", Method::POST, Owner);
    put("/envelopes/{id}/", Method::GET, Owner);
    put("/envelopes/{id}/", Method::PATCH, Owner);
    put("/votes/", Method::GET, Token);
    put("/votes/", Method::POST, Owner);
    put("/votes/{id}/", Method::GET, Token);
    put("/votes/{id}/", Method::PATCH, Owner);
    put("/votes/{id}/", Method::DELETE, Owner);
    put("/votes/summary/", Method::GET, Token);
    put("/events/", Method::GET, Token);
    put("/events/", Method::POST, Owner);
    put("/events/{id}/", Method::GET, Owner);
    put("/listenevents/", Method::GET, Token);
    put("/listenevents/", Method::POST, Owner);
    put("/listenevents/count/", Method::GET, Token);
    put("/listenevents/{id}/", Method::GET, Owner);
    put("/listenevents/{id}/", Method::PATCH, Owner);
    put("/listenevents/{id}/", Method::DELETE, Owner);
    put("/streams/", Method::POST, Owner);
    put("/streams/status/", Method::GET, Staff);
    put("/streams/local/", Method::GET, Token);
    put("/position/", Method::GET, Staff);
    put("/local/audio/", Method::GET, Staff);
    put("/local/audio/", Method::PATCH, Staff);
    put("/local/outputs/", Method::GET, Staff);
    put("/projects/{id}/listeners/", Method::GET, Token);
    put("/projects/{id}/floorplan/", Method::GET, Token);
    put("/projects/{id}/floorplan/", Method::PUT, Staff);
    put("/projects/{id}/floorplan/", Method::PATCH, Staff);
    put("/projects/{id}/floorplan/", Method::DELETE, Staff);
    put("/kiosks/", Method::GET, Staff);
    put("/kiosks/", Method::POST, Staff);
    put("/kiosks/{id}/", Method::DELETE, Staff);
    put("/fleet/", Method::GET, Staff);
    put("/streams/{id}/", Method::PATCH, Owner);
    for op in [
        "heartbeat",
        "playasset",
        "replayasset",
        "skipasset",
        "skip",
        "pause",
        "resume",
        "kill",
    ] {
        put(&format!("/streams/{{id}}/{op}/"), Method::POST, Owner);
    }
    put("/streams/{id}/isactive/", Method::GET, Token);
    for (path, methods) in [
        (
            "/stream/0/streams",
            &[Method::GET, Method::POST, Method::DELETE][..],
        ),
        (
            "/stream/0/streams/{id}",
            &[Method::GET, Method::PUT, Method::DELETE][..],
        ),
        ("/stream/0/streams/{id}/events", &[Method::GET][..]),
        (
            "/stream/0/filters",
            &[Method::GET, Method::POST, Method::DELETE][..],
        ),
        (
            "/stream/0/filters/{id}",
            &[Method::GET, Method::PUT, Method::DELETE][..],
        ),
    ] {
        for method in methods {
            m.insert((path.to_string(), method.clone()), StaffOrKiosk);
        }
    }
    // Clips: any token (a visitor's only of its own personal stream, in broadcast.rs).
    m.insert(("/livepeer/api/clip".to_string(), Method::POST), Token);
    // Broadcast channels (the Livepeer stream API): staff keys only.
    for (path, methods) in [
        ("/livepeer/api/stream", &[Method::GET, Method::POST][..]),
        (
            "/livepeer/api/stream/{id}",
            &[Method::GET, Method::PATCH, Method::DELETE][..],
        ),
        ("/livepeer/api/stream/{id}/terminate", &[Method::DELETE][..]),
        ("/livepeer/api/stream/{id}/start-pull", &[Method::POST][..]),
        (
            "/livepeer/api/stream/{id}/create-multistream-target",
            &[Method::POST][..],
        ),
        (
            "/livepeer/api/stream/{id}/multistream/{target_id}",
            &[Method::DELETE][..],
        ),
        (
            "/livepeer/api/multistream/target",
            &[Method::GET, Method::POST][..],
        ),
        (
            "/livepeer/api/multistream/target/{id}",
            &[Method::GET, Method::PATCH, Method::DELETE][..],
        ),
        ("/livepeer/api/playback/{id}", &[Method::GET][..]),
        ("/livepeer/api/stream/{id}/sessions", &[Method::GET][..]),
        ("/livepeer/api/session", &[Method::GET][..]),
        ("/livepeer/api/session/{id}", &[Method::GET][..]),
        ("/livepeer/api/session/{id}/clips", &[Method::GET][..]),
        ("/livepeer/api/stream/{id}/clips", &[Method::GET][..]),
    ] {
        for method in methods {
            m.insert((path.to_string(), method.clone()), Staff);
        }
    }
    m
}

fn documented(doc: &Value) -> BTreeMap<(String, Method), String> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            out.insert(
                (path.clone(), m),
                op["x-access"].as_str().unwrap().to_string(),
            );
        }
    }
    out
}

#[tokio::test]
async fn the_openapi_document_states_exactly_the_expected_access_of_every_route() {
    let s = TestServer::start().await;
    let doc = s.get("/api/2/openapi.json", None).await.ok().clone();
    let docs = documented(&doc);
    let want = expected();
    for (key, need) in &want {
        let stated = docs
            .get(key)
            .unwrap_or_else(|| panic!("{} {} is not served", key.1, key.0));
        let want_word = match need {
            Need::Anyone => "anyone",
            Need::Token => "token",
            Need::Owner => "owner",
            Need::Staff => "staff",
            Need::StaffOrKiosk => "staff or kiosk",
        };
        assert_eq!(stated, want_word, "{} {}", key.1, key.0);
    }
    for key in docs.keys() {
        assert!(
            want.contains_key(key),
            "{} {} is served but missing from the permission table",
            key.1,
            key.0
        );
    }
}

#[tokio::test]
async fn every_route_enforces_its_access_for_anonymous_token_and_staff_callers() {
    let s = TestServer::with_reference_fixture().await;
    let (user_id, token) = s.device_token("matrix-user").await;
    let staff = s.staff_token().await;
    // Deletes go last, so every other operation meets the fixture's objects still in place.
    let mut table: Vec<_> = expected().into_iter().collect();
    table.sort_by_key(|((_, method), _)| *method == Method::DELETE);
    for ((path, method), need) in table {
        let id = if path.starts_with("/api/2/users/{id}") {
            user_id
        } else {
            1
        };
        let concrete = path.replace("{id}", &id.to_string());
        let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
        let anon = s
            .send(method.clone(), &concrete, None, body.clone())
            .await
            .status;
        let user = s
            .send(method.clone(), &concrete, Some(&token), body.clone())
            .await
            .status;
        let boss = s
            .send(method.clone(), &concrete, Some(&staff), body)
            .await
            .status;
        let denied = |st: StatusCode| st == StatusCode::UNAUTHORIZED || st == StatusCode::FORBIDDEN;
        match need {
            Need::Anyone => {
                assert!(!denied(anon), "anonymous {method} {concrete} -> {anon}");
            }
            Need::Token => {
                assert_eq!(
                    anon,
                    StatusCode::UNAUTHORIZED,
                    "anonymous {method} {concrete}"
                );
                assert!(!denied(user), "token {method} {concrete} -> {user}");
            }
            Need::Owner => {
                assert_eq!(
                    anon,
                    StatusCode::UNAUTHORIZED,
                    "anonymous {method} {concrete}"
                );
                // Someone else's object: 403 (or 400 when the empty body is refused first;
                // among the deletes, 404 once staff deleted object 1 or its project).
                assert!(
                    [
                        StatusCode::FORBIDDEN,
                        StatusCode::BAD_REQUEST,
                        StatusCode::NOT_FOUND
                    ]
                    .contains(&user),
                    "token {method} {concrete} -> {user}"
                );
            }
            Need::Staff | Need::StaffOrKiosk => {
                assert_eq!(
                    anon,
                    StatusCode::UNAUTHORIZED,
                    "anonymous {method} {concrete}"
                );
                assert_eq!(user, StatusCode::FORBIDDEN, "token {method} {concrete}");
            }
        }
        assert!(!denied(boss), "staff {method} {concrete} -> {boss}");
        for st in [anon, user, boss] {
            assert!(st.as_u16() < 500, "{method} {concrete} -> {st}");
        }
    }
}
