//! Ownership and privacy on an open Wi-Fi (security-review.md C2, C3, H4, M3, M4, M5, L1, L2):
//! every finding of the attack campaign, replayed against a real daemon as a second visitor
//! ("bob") with a free token, must now fail, while the owner ("alice") and staff still can.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::media_support::{Fmt, P, local, send, wav};
use crate::support::{Reply, TestServer};

/// A visitor: their token and one session on the demo project.
struct Visitor {
    token: String,
    session: i64,
}

async fn visitor(s: &TestServer, device: &str) -> Visitor {
    let (_, token) = s.device_token(device).await;
    let session = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": 1}))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    Visitor { token, session }
}

/// Uploads a short recording as `who` through the envelope flow; answers the asset.
async fn record(s: &TestServer, who: &Visitor, extra: &[(&str, &str)]) -> Value {
    let e = s
        .post(
            "/api/2/envelopes/",
            Some(&who.token),
            json!({"session_id": who.session}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let mut parts = vec![P::F(
        "file",
        Some("blob"),
        "audio/wav",
        wav(44_100, 1, Fmt::Pcm16, 0.5),
    )];
    parts.extend(extra.iter().map(|(k, v)| P::T(k, v)));
    send(
        s,
        Method::PATCH,
        &format!("/api/2/envelopes/{e}/"),
        Some(&who.token),
        parts,
    )
    .await
    .ok()
    .clone()
}

fn forbidden(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
    assert!(r.body["detail"].is_string(), "{what}: {}", r.body);
}

async fn setup() -> (TestServer, Visitor, Visitor, String) {
    let s = TestServer::start_with_demo().await;
    let alice = visitor(&s, "alice-phone").await;
    let bob = visitor(&s, "bob-phone").await;
    let staff = s.staff_token().await;
    (s, alice, bob, staff)
}

#[tokio::test]
async fn another_visitor_can_neither_change_nor_delete_a_recording_and_only_staff_deletes_files() {
    let (s, alice, bob, staff) = setup().await;
    let a = record(&s, &alice, &[("submitted", "true")]).await;
    let id = a["id"].as_i64().unwrap();
    let path = format!("/api/2/assets/{id}/");
    let b = Some(bob.token.as_str());
    forbidden(
        &s.patch(
            &path,
            b,
            json!({"description": "defaced", "submitted": false}),
        )
        .await,
        "PATCH someone else's asset",
    );
    forbidden(
        &s.delete(&format!("{path}?delete_binary=true"), b).await,
        "DELETE someone else's asset",
    );
    // The demo's recordings (no session: the box's own) are staff's.
    forbidden(
        &s.patch(
            "/api/2/assets/1/",
            b,
            json!({"latitude": 0, "longitude": 0, "tag_ids": []}),
        )
        .await,
        "PATCH a demo asset",
    );
    forbidden(
        &s.delete("/api/2/assets/1/?delete_binary=true", b).await,
        "DELETE a demo asset",
    );
    assert!(local(&s, a["file"].as_str().unwrap()).exists());
    let after = s.get(&path, Some(&alice.token)).await.ok().clone();
    assert_eq!(after["submitted"], true);
    assert_eq!(after["description"], "");

    // The owner may change their recording, but not who made it nor delete its files.
    let t = Some(alice.token.as_str());
    let r = s.patch(&path, t, json!({"description": "my bench"})).await;
    assert_eq!(r.ok()["description"], "my bench");
    let r = s.patch(&path, t, json!({"user_id": 1})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["user_id"].is_array(), "{}", r.body);
    let r = s.patch(&path, t, json!({"session_id": bob.session})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    forbidden(
        &s.delete(&format!("{path}?delete_binary=true"), t).await,
        "delete_binary by a visitor",
    );
    assert!(local(&s, a["file"].as_str().unwrap()).exists());
    assert_eq!(s.delete(&path, t).await.status, StatusCode::NO_CONTENT);
    assert!(
        local(&s, a["file"].as_str().unwrap()).exists(),
        "the row went, the files stay for staff to remove"
    );
    // Staff may delete any recording with its files.
    let two = s.get("/api/2/assets/2/", Some(&staff)).await.ok().clone();
    let r = s
        .delete("/api/2/assets/2/?delete_binary=true", Some(&staff))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!local(&s, two["file"].as_str().unwrap()).exists());
}

#[tokio::test]
async fn nobody_can_replace_the_audio_of_someone_elses_recording() {
    let (s, alice, bob, _) = setup().await;
    let a = record(&s, &alice, &[]).await;
    let id = a["id"].to_string();
    // No token: no envelope at all.
    let r = s
        .post(
            "/api/2/envelopes/",
            None,
            json!({"session_id": alice.session}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An envelope in the victim's session: refused.
    forbidden(
        &s.post(
            "/api/2/envelopes/",
            Some(&bob.token),
            json!({"session_id": alice.session}),
        )
        .await,
        "an envelope in someone else's session",
    );
    // Bob's own envelope cannot re-file Alice's recording, nor a demo recording.
    let e = s
        .post(
            "/api/2/envelopes/",
            Some(&bob.token),
            json!({"session_id": bob.session}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let attack = wav(44_100, 1, Fmt::Pcm16, 2.0);
    for target in [id.as_str(), "1"] {
        let r = send(
            &s,
            Method::PATCH,
            &format!("/api/2/envelopes/{e}/"),
            Some(&bob.token),
            vec![
                P::T("asset_id", target),
                P::F("file", Some("blob"), "audio/wav", attack.clone()),
            ],
        )
        .await;
        forbidden(&r, &format!("re-file asset {target}"));
    }
    // Nor upload into Alice's envelope.
    let theirs = a["envelope_ids"][0].as_i64().unwrap();
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{theirs}/"),
        Some(&bob.token),
        vec![P::F("file", Some("blob"), "audio/wav", attack)],
    )
    .await;
    forbidden(&r, "upload into someone else's envelope");
    let same = s
        .get(&format!("/api/2/assets/{id}/"), Some(&alice.token))
        .await
        .ok()
        .clone();
    assert_eq!(same["file"], a["file"]);
    assert_eq!(
        same["audio_length_in_seconds"],
        a["audio_length_in_seconds"]
    );
    assert!(local(&s, a["file"].as_str().unwrap()).exists());
}

#[tokio::test]
async fn an_upload_is_credited_to_its_uploader_whatever_user_id_it_names() {
    let (s, alice, _, staff) = setup().await;
    let me = s
        .get("/api/2/users/", Some(&staff))
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["device_id"] == "alice-phone")
        .unwrap()["id"]
        .clone();
    let a = record(&s, &alice, &[("user_id", "1")]).await;
    assert_eq!(a["user"]["id"], me, "not staff user 1: {a}");
    assert_eq!(a["user"]["username"], "", "usernames are for staff eyes");
}

#[tokio::test]
async fn only_the_streams_own_visitor_or_staff_steer_it() {
    let (s, alice, bob, staff) = setup().await;
    let r = s
        .post(
            "/api/2/streams/",
            Some(&alice.token),
            json!({"session_id": alice.session, "latitude": 42.3551, "longitude": -71.0656}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = alice.session;
    let b = Some(bob.token.as_str());
    forbidden(
        &s.post("/api/2/streams/", b, json!({"session_id": alice.session}))
            .await,
        "open a stream for someone else's session",
    );
    forbidden(
        &s.patch(
            &format!("/api/2/streams/{id}/"),
            b,
            json!({"latitude": 0.0, "longitude": 0.0}),
        )
        .await,
        "move someone else's listener",
    );
    for op in [
        "heartbeat",
        "playasset",
        "skipasset",
        "pause",
        "resume",
        "kill",
    ] {
        let r = s
            .post(
                &format!("/api/2/streams/{id}/{op}/"),
                b,
                json!({"asset_id": 1}),
            )
            .await;
        forbidden(&r, op);
    }
    assert_eq!(
        s.get(&format!("/api/2/streams/{id}/isactive/"), b)
            .await
            .ok()["active"],
        true
    );
    let r = s
        .post(
            &format!("/api/2/streams/{id}/pause/"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(r.ok()["success"], true);
    let r = s
        .post(
            &format!("/api/2/streams/{id}/kill/"),
            Some(&staff),
            json!({}),
        )
        .await;
    assert_eq!(r.ok()["success"], true);
}

#[tokio::test]
async fn votes_and_listen_events_belong_to_their_visitor() {
    let (s, alice, bob, staff) = setup().await;
    let (a, b) = (Some(alice.token.as_str()), Some(bob.token.as_str()));
    // Voting (and blocking) as someone else's session is refused.
    for vote_type in ["block_asset", "block_user", "like"] {
        forbidden(
            &s.post(
                "/api/2/assets/1/votes/",
                b,
                json!({"session_id": alice.session, "vote_type": vote_type}),
            )
            .await,
            vote_type,
        );
    }
    forbidden(
        &s.post(
            "/api/2/votes/",
            b,
            json!({"type": "block_asset", "asset_id": 1, "session_id": alice.session}),
        )
        .await,
        "POST votes/ in someone else's session",
    );
    let vote = s
        .post(
            "/api/2/votes/",
            a,
            json!({"type": "like", "asset_id": 1, "session_id": alice.session}),
        )
        .await
        .ok()["id"]
        .clone();
    let path = format!("/api/2/votes/{vote}/");
    forbidden(
        &s.patch(&path, b, json!({"type": "block_asset"})).await,
        "PATCH someone else's vote",
    );
    forbidden(&s.delete(&path, b).await, "DELETE someone else's vote");
    let r = s.patch(&path, a, json!({"session_id": bob.session})).await;
    forbidden(&r, "move a vote into someone else's session");
    assert_eq!(s.get(&path, a).await.ok()["type"], "like");

    let heard = s
        .post(
            "/api/2/listenevents/",
            a,
            json!({"starttime": "2026-12-06T10:00:00Z", "session": alice.session, "asset": 1}),
        )
        .await
        .ok()["id"]
        .clone();
    forbidden(
        &s.post(
            "/api/2/listenevents/",
            b,
            json!({"starttime": "2026-12-06T10:00:00Z", "session": alice.session, "asset": 1}),
        )
        .await,
        "a listen event in someone else's session",
    );
    let path = format!("/api/2/listenevents/{heard}/");
    forbidden(
        &s.patch(&path, b, json!({"duration_in_seconds": 9999}))
            .await,
        "PATCH someone else's listen event",
    );
    forbidden(
        &s.delete(&path, b).await,
        "DELETE someone else's listen event",
    );
    forbidden(&s.get(&path, b).await, "read someone else's listen event");
    let r = s.patch(&path, a, json!({"duration_in_seconds": 3})).await;
    assert_eq!(r.ok()["duration_in_seconds"].as_f64(), Some(3.0));
    assert_eq!(s.get(&path, Some(&staff)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_visitors_location_trail_and_sessions_are_theirs_alone() {
    let (s, alice, bob, staff) = setup().await;
    let (a, b) = (Some(alice.token.as_str()), Some(bob.token.as_str()));
    s.post(
        "/api/2/events/",
        a,
        json!({"session_id": alice.session, "event_type": "location_update",
               "latitude": 42.3551, "longitude": -71.0656}),
    )
    .await
    .ok();
    forbidden(
        &s.post(
            "/api/2/events/",
            b,
            json!({"session_id": alice.session, "event_type": "location_update"}),
        )
        .await,
        "an event in someone else's session",
    );
    let events = s.get("/api/2/events/", b).await;
    assert!(
        events
            .ok()
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["session_id"] == bob.session),
        "bob sees only his own events: {}",
        events.body
    );
    let mine = s.get("/api/2/events/?event_type=location", a).await;
    assert_eq!(mine.ok().as_array().unwrap().len(), 1);
    let all = s
        .get("/api/2/events/?event_type=location", Some(&staff))
        .await;
    assert_eq!(all.ok().as_array().unwrap().len(), 1);
    let sessions = s.get("/api/2/sessions/", b).await;
    assert_eq!(
        sessions.ok().as_array().unwrap().len(),
        1,
        "only bob's own: {}",
        sessions.body
    );
    // The "your own only" scope is a server-set list parameter: a query cannot name it, to
    // widen a visitor's view or to narrow staff's.
    let staff_all = s.get("/api/2/sessions/", Some(&staff)).await;
    let staff_all = staff_all.ok().as_array().unwrap().len();
    assert!(staff_all >= 2, "staff see every session");
    for user in 1..=8 {
        let scoped = s.get(&format!("/api/2/sessions/?_owner={user}"), b).await;
        assert_eq!(scoped.ok().as_array().unwrap().len(), 1, "{}", scoped.body);
        let scoped = s
            .get(&format!("/api/2/sessions/?_owner={user}"), Some(&staff))
            .await;
        assert_eq!(scoped.ok().as_array().unwrap().len(), staff_all);
    }
    forbidden(
        &s.get(&format!("/api/2/sessions/{}/", alice.session), b)
            .await,
        "read someone else's session",
    );
    let envelopes = s.get("/api/2/envelopes/", None).await;
    assert_eq!(envelopes.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unsubmitted_recording_is_heard_only_by_its_owner_and_staff() {
    let (s, alice, bob, staff) = setup().await;
    let a = record(&s, &alice, &[("submitted", "false")]).await;
    let file = a["file"].as_str().unwrap().to_string();
    let mp3 = crate::media_support::mp3_of(&file);
    let fetch = |url: String, token: Option<String>| {
        let client = s.client.clone();
        async move {
            let mut req = client.get(url);
            if let Some(t) = token {
                req = req.header("Authorization", format!("token {t}"));
            }
            req.send().await.unwrap().status()
        }
    };
    for url in [&file, &mp3] {
        assert_eq!(
            fetch(url.clone(), None).await,
            StatusCode::NOT_FOUND,
            "{url}"
        );
        assert_eq!(
            fetch(url.clone(), Some(bob.token.clone())).await,
            StatusCode::NOT_FOUND,
            "{url}"
        );
        assert_eq!(
            fetch(url.clone(), Some(alice.token.clone())).await,
            StatusCode::OK
        );
        assert_eq!(
            fetch(url.clone(), Some(staff.clone())).await,
            StatusCode::OK
        );
    }
    // Submitted by staff, it is public like every published recording.
    let id = a["id"].as_i64().unwrap();
    s.patch(
        &format!("/api/2/assets/{id}/"),
        Some(&staff),
        json!({"submitted": true}),
    )
    .await
    .ok();
    assert_eq!(fetch(mp3.clone(), None).await, StatusCode::OK);
    // Speaker beds and other media without an unsubmitted asset stay public.
    let bed = s.get("/api/2/speakers/1/", Some(&staff)).await.ok()["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fetch(bed, None).await, StatusCode::OK);
}

#[tokio::test]
async fn staff_usernames_never_reach_visitors_asset_lists() {
    let (s, alice, bob, staff) = setup().await;
    // A staff member records (their username is a login name).
    let staff_session = s
        .post("/api/2/sessions/", Some(&staff), json!({"project_id": 1}))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let boss = Visitor {
        token: staff.clone(),
        session: staff_session,
    };
    record(&s, &boss, &[("submitted", "true")]).await;
    record(&s, &alice, &[("submitted", "true")]).await;
    let list = s.get("/api/2/assets/?project_id=1", Some(&bob.token)).await;
    let text = list.ok().to_string();
    assert!(!text.contains("\"staff\""), "a login name leaked: {text}");
    for a in list.body.as_array().unwrap() {
        if !a["user"].is_null() {
            assert_eq!(a["user"]["username"], "", "{a}");
        }
    }
    let by_staff = s.get("/api/2/assets/?project_id=1", Some(&staff)).await;
    assert!(by_staff.ok().to_string().contains("\"staff\""));
}

#[tokio::test]
async fn the_boxs_own_listener_cannot_be_silenced_or_taken_over_by_a_visitor() {
    const LOCAL: &str = "[local]\nenabled = true\nproject_id = 1\noutput = \"none\"\n[position]\nsource = \"fixed\"\nfixed = [42.3551, -71.0656]\n";
    // Seed the demo first, then start the box listening to it.
    let s = TestServer::start_with_demo().await;
    let dir = s.stop().await.unwrap();
    let s = TestServer::start_in(dir.path(), LOCAL).await;
    let bob = visitor(&s, "bob-phone").await;
    let local = s.get("/api/2/streams/local/", Some(&bob.token)).await;
    let id = local.ok()["stream_id"].as_i64().unwrap();
    for vote_type in ["block_asset", "block_user"] {
        forbidden(
            &s.post(
                "/api/2/assets/1/votes/",
                Some(&bob.token),
                json!({"session_id": id, "vote_type": vote_type}),
            )
            .await,
            vote_type,
        );
    }
    assert_eq!(s.scalar("SELECT count(*) FROM votes").await, 0);
    // The reserved device id cannot be registered.
    let r = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": "roundwared-local", "client_type": "web"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["device_id"][0]
            .as_str()
            .unwrap()
            .contains("reserved")
    );
    // After a restart the box takes its own session again, not a visitor's.
    s.stop().await;
    let s = TestServer::start_in(dir.path(), LOCAL).await;
    let (_, t) = s.device_token("carol-phone").await;
    let local = s.get("/api/2/streams/local/", Some(&t)).await;
    assert_eq!(local.ok()["stream_id"], id);
}

#[tokio::test]
async fn names_and_texts_are_bounded_and_booleans_are_not_text() {
    let s = TestServer::start_with_demo().await;
    let long = "A".repeat(151);
    let r = s
        .form(
            Method::POST,
            "/api/2/users/",
            None,
            &[
                ("device_id", "bigname"),
                ("client_type", "web"),
                ("first_name", long.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["first_name"][0].as_str().unwrap().contains("150"));
    assert_eq!(
        s.scalar("SELECT count(*) FROM users WHERE device_id = 'bigname'")
            .await,
        0
    );
    let staff = s.staff_token().await;
    let r = s
        .post(
            "/api/2/tagcategories/",
            Some(&staff),
            json!({"name": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body["name"].is_array(), "{}", r.body);
    let r = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": false, "client_type": "web"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn an_upload_into_someone_elses_envelope_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (s, alice, bob, _) = setup().await;
    let e = s
        .post(
            "/api/2/envelopes/",
            Some(&alice.token),
            json!({"session_id": alice.session}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A 10 MB multipart body is announced; only its first bytes are ever sent.
    let head = format!(
        "PATCH /api/2/envelopes/{e}/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: token {}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 10000000\r\n\r\n\
         --x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\n\r\nRIFF",
        bob.token
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(
        std::fs::read_dir(s.data_dir().join("media"))
            .unwrap()
            .flatten()
            .all(|f| !f.file_name().to_string_lossy().starts_with(".upload-")),
        "nothing spooled"
    );
}
