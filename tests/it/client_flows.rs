//! The Roundware clients' call sequences (client-contract.md §1.A web SDK 0.12.8 as observed
//! on the wire, §1.C iOS framework), replayed whole against the demo project with the
//! ownership rules in force: every call the unmodified clients make still succeeds, with the
//! token they send.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::media_support::{Fmt, P, ffmpeg, send, wav};
use crate::support::TestServer;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

#[tokio::test]
async fn the_web_frameworks_whole_call_sequence_succeeds_with_its_token() {
    let s = TestServer::start_with_demo().await;
    // 1: register without auth; every later call carries the token.
    let user = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": "V1StGXR8_Z5jdHi6B-myT", "client_type": "web"}),
        )
        .await
        .ok()
        .clone();
    let token = user["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());
    // 2–3
    let session = id(s
        .post(
            "/api/2/sessions/",
            t,
            json!({"project_id": 1, "geo_listen_enabled": false, "client_system": "Mozilla/5.0"}),
        )
        .await
        .ok());
    s.post(
        "/api/2/events/",
        t,
        json!({"session_id": session, "event_type": "start_session", "client_time": "2026-11-22T02:34:10.005Z"}),
    )
    .await
    .ok();
    // 4–9
    for path in [
        format!("/api/2/projects/1/?session_id={session}"),
        format!("/api/2/projects/1/uiconfig/?session_id={session}"),
        "/api/2/speakers/?activeyn=true&project_id=1".into(),
        "/api/2/audiotracks/?project_id=1&active=true".into(),
        "/api/2/timedassets/?project_id=1".into(),
        "/api/2/assets/?submitted=true&project_id=1".into(),
    ] {
        s.get(&path, t).await.ok();
    }
    // 10
    s.post(
        "/api/2/events/",
        t,
        json!({"session_id": session, "event_type": "location_update",
               "client_time": "2026-11-22T02:34:11.005Z", "latitude": 42.3551, "longitude": -71.0656}),
    )
    .await
    .ok();
    // 11–12: the envelope and the upload, multipart in the SDK's order, file named `blob`.
    let envelope = id(s
        .post("/api/2/envelopes/", t, json!({"session_id": session}))
        .await
        .ok());
    let sid = session.to_string();
    let asset = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{envelope}/"),
        t,
        vec![
            P::T("session_id", &sid),
            P::F(
                "file",
                Some("blob"),
                "audio/wav",
                wav(48_000, 1, Fmt::Pcm16, 1.0),
            ),
            P::T("latitude", "42.3551"),
            P::T("longitude", "-71.0656"),
            P::T("tag_ids", "1,2"),
        ],
    )
    .await
    .ok()
    .clone();
    assert!(asset.get("detail").is_none(), "{asset}");
    assert_eq!(asset["envelope_ids"], json!([envelope]));
    // 13–14
    s.get(
        "/api/2/assets/?submitted=true&created__gte=2026-11-22T02%3A34%3A10.005Z&project_id=1",
        t,
    )
    .await
    .ok();
    s.post(
        "/api/2/events/",
        t,
        json!({"session_id": session, "event_type": "upload_asset", "data": format!("asset_id:{}", id(&asset))}),
    )
    .await
    .ok();
    // 15–17: a text contribution into the same envelope.
    let text = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{envelope}/"),
        t,
        vec![
            P::T("session_id", &sid),
            P::F(
                "file",
                Some("blob"),
                "text/plain",
                b"a bench by the gate".to_vec(),
            ),
            P::T("media_type", "text"),
        ],
    )
    .await;
    assert_eq!(text.ok()["media_type"], "text");
    // 18–20
    s.post(
        "/api/2/assets/1/votes/",
        t,
        json!({"session_id": session, "vote_type": "like"}),
    )
    .await
    .ok();
    s.patch(
        &format!("/api/2/users/{}", id(&user)),
        t,
        json!({"first_name": "Ada", "email": "ada@example.org"}),
    )
    .await
    .ok();
    let e = s
        .get(
            &format!("/api/2/envelopes/{envelope}?session_id={session}"),
            t,
        )
        .await;
    assert_eq!(e.ok()["asset_ids"].as_array().unwrap().len(), 2);
    // During playback: a listen event, then its duration (no slash).
    let heard = id(s
        .post(
            "/api/2/listenevents/",
            t,
            json!({"starttime": "2026-11-22T02:35:00.000Z", "session": session, "asset": 1}),
        )
        .await
        .ok());
    s.patch(
        &format!("/api/2/listenevents/{heard}"),
        t,
        json!({"duration_in_seconds": 4.2}),
    )
    .await
    .ok();
    s.get(
        &format!("/api/2/assets/{}/?session_id={session}", id(&asset)),
        t,
    )
    .await
    .ok();
}

#[tokio::test]
async fn the_ios_frameworks_whole_call_sequence_succeeds_with_its_token() {
    let s = TestServer::start_with_demo().await;
    let user = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": "6B29FC40-CA47-1067-B31D-00DD010662DA", "client_type": "iPhone",
                   "client_system": "iOS 14.4"}),
        )
        .await
        .ok()
        .clone();
    let token = user["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());
    let session = s
        .post(
            "/api/2/sessions/",
            t,
            json!({"project_id": 1, "timezone": "-0800", "client_system": "iOS 14.4", "language": "en"}),
        )
        .await
        .ok()
        .clone();
    assert_eq!(session["timezone"], "-0800");
    let sid = id(&session);
    for path in [
        format!("/api/2/projects/1/tags/?session_id={sid}"),
        format!("/api/2/projects/1/uiconfig/?session_id={sid}"),
        format!("/api/2/projects/1/uigroups/?session_id={sid}"),
        "/api/2/tagcategories/".into(),
        format!("/api/2/projects/1/?session_id={sid}"),
        "/api/2/speakers/?project_id=1&activeyn=true&".into(),
        "/api/2/audiotracks/?project_id=1&".into(),
        "/api/2/assets/?project_id=1&media_type=audio&language=en&submitted=true&".into(),
        format!("/api/2/assets/blocked/?project_id=1&session_id={sid}"),
        "/api/2/timedassets/?project_id=1&".into(),
        "/api/2/votes/summary/?type=like&project_id=1&".into(),
        "/api/2/assets/?project_id=1&media_type=audio&language=en&updated__gte=2021-07-30T10:00:00&".into(),
    ] {
        s.get(&path, t).await.ok();
    }
    // Contribute: the file part first, then the text parts, `user_id` 0.
    let envelope = id(s
        .post("/api/2/envelopes/", t, json!({"session_id": sid}))
        .await
        .ok());
    let m4a = ffmpeg(1.5, 22_050, 1, &["-c:a", "aac", "-b:a", "64k"], "m4a");
    let sid_text = sid.to_string();
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{envelope}/"),
        t,
        vec![
            P::F("file", Some("recording-1-1.m4a"), "audio/x-m4a", m4a),
            P::T("session_id", &sid_text),
            P::T("media_type", "audio"),
            P::T("latitude", "42.3551"),
            P::T("longitude", "-71.0656"),
            P::T("tag_ids", "1,2"),
            P::T("user_id", "0"),
            P::T("description", "by the gate"),
        ],
    )
    .await;
    let asset = r.ok().clone();
    assert_eq!(asset["media_type"], "audio");
    assert_eq!(asset["user"]["id"], user["id"]);
    // Votes (value as a string) and a client error event.
    for vote_type in ["flag", "block_asset", "block_user"] {
        let r = s
            .post(
                "/api/2/assets/2/votes/",
                t,
                json!({"session_id": sid, "vote_type": vote_type, "value": "0"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{vote_type}: {}", r.body);
    }
    s.post(
        "/api/2/events/",
        t,
        json!({"session_id": sid, "event_type": "client_error",
               "data": "getAssets: NSError = -1009", "latitude": "", "longitude": "",
               "client_time": "2021-07-30T10:00:00", "tag_ids": "1,2,"}),
    )
    .await
    .ok();
    let blocked = s
        .get(
            &format!("/api/2/assets/blocked/?project_id=1&session_id={sid}"),
            t,
        )
        .await;
    assert!(
        blocked.ok()["blocked_asset_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(2))
    );
}
