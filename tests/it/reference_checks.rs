//! The upstream api2 test of the Roundware server, turned into black-box HTTP checks
//! (reference-server.md §8.2), in order, against the same fixture.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn the_ten_upstream_checks_pass_in_order() {
    let s = TestServer::with_reference_fixture().await;

    // 1. register a device
    let r = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": "12891038109281", "client_type": "phone", "client_system": "iOS"}),
        )
        .await;
    let user = r.ok().clone();
    assert!(user["username"].is_string() && user["token"].is_string());
    let token = user["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());

    // 2. a session with the project's defaults
    let r = s
        .post(
            "/api/2/sessions/",
            t,
            json!({"timezone": "-0500", "project_id": 1, "client_system": "iOS"}),
        )
        .await;
    let session = r.ok().clone();
    assert_eq!(session["language_id"], 1);
    assert_eq!(session["geo_listen_enabled"], true);
    assert_eq!(session["timezone"], "-0500");
    assert_eq!(session["client_system"], "iOS");
    assert_eq!(session["project_id"], 1);
    let sid = session["id"].as_i64().expect("session id");

    // 3. geo_listen_enabled given explicitly
    let r = s.post("/api/2/sessions/", t, json!({"timezone": "-0500", "project_id": 1, "client_system": "iOS", "geo_listen_enabled": false})).await;
    assert_eq!(r.ok()["geo_listen_enabled"], false);

    // 4. the project, localized
    let r = s
        .get(&format!("/api/2/projects/1/?session_id={sid}"), t)
        .await;
    let p = r.ok();
    assert!(p.get("out_of_range_message").is_some());
    assert!(p.get("out_of_range_message_loc").is_none());
    assert_eq!(p["id"], 1);

    // 5. the project's tags: a bare array without the project-less tag 3
    let r = s.get("/api/2/projects/1/tags/", t).await;
    let tags = r.ok().as_array().expect("bare array").clone();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0]["project_id"], 1);

    // 6. the project's assets
    let r = s.get("/api/2/projects/1/assets/", t).await;
    let assets = r.ok().as_array().expect("bare array").clone();
    assert_eq!(assets.len(), 2);
    assert_eq!(assets[0]["project_id"], 1);

    // 7. a rating vote
    let r = s.post("/api/2/assets/1/votes/", t, json!({"device_id": "12891038109281", "session_id": sid, "vote_type": "rate", "value": 2})).await;
    let vote = r.ok();
    assert_eq!(vote["voter_id"], user["id"]);
    assert_eq!(vote["session_id"], sid);
    assert_eq!(vote["type"], "rate");
    assert_eq!(vote["value"], 2);
    assert!(vote["id"].is_i64());

    // 8. the vote counts
    let r = s.get("/api/2/assets/1/votes/", t).await;
    let counts = r.ok();
    assert_eq!(counts[0]["type"], "rate");
    assert_eq!(counts[0]["avg"].as_f64(), Some(2.0));

    // 9. random assets by length (seconds)
    let r = s
        .get(
            "/api/2/assets/random/?mediatype=audio&project_id=1&audiolength__lte=8&limit=2",
            t,
        )
        .await;
    assert_eq!(r.ok().as_array().unwrap().len(), 1);
    let r = s
        .get(
            "/api/2/assets/random/?mediatype=audio&project_id=1&audiolength__lte=12&limit=2",
            t,
        )
        .await;
    assert_eq!(r.ok().as_array().unwrap().len(), 2);

    // 10. none of 2, 4, 5, 6, 7 without credentials
    let anon = [
        s.post("/api/2/sessions/", None, json!({"project_id": 1}))
            .await,
        s.get(&format!("/api/2/projects/1/?session_id={sid}"), None)
            .await,
        s.get("/api/2/projects/1/tags/", None).await,
        s.get("/api/2/projects/1/assets/", None).await,
        s.post(
            "/api/2/assets/1/votes/",
            None,
            json!({"session_id": sid, "vote_type": "like"}),
        )
        .await,
    ];
    for r in anon {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.body["detail"],
            "Authentication credentials were not provided."
        );
    }
}

#[tokio::test]
async fn the_extra_checks_of_the_reference_pass() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token(crate::support::FIXTURE_DEVICE).await;
    let t = Some(token.as_str());
    let staff = s.staff_token().await;

    // Envelopes need a token here (the reference left them open to anyone).
    let r = s.post("/api/2/envelopes/", t, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"session_id": ["This field is required."]}));
    let r = s
        .post("/api/2/envelopes/", t, json!({"session_id": 999999}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"session_id": ["Session not found"]}));

    assert_eq!(
        s.post("/api/2/tags/", t, json!({"value": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.post(
            "/api/2/votes/",
            t,
            json!({"session_id": 1, "asset_id": 1, "type": "like"})
        )
        .await
        .status,
        StatusCode::OK
    );

    s.sql(
        "INSERT INTO tags (id, project_id, tag_category_id, value) VALUES (4, 1, 3, 'blue');
           INSERT INTO asset_tags VALUES (1, 4);",
    )
    .await;
    let both = s.get("/api/2/assets/?tag_ids=1,4", t).await;
    let ids: Vec<i64> = both
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1]);
    let either = s.get("/api/2/assets/?tag_ids_or=1,4", t).await;
    assert_eq!(either.ok().as_array().unwrap().len(), 2);

    let r = s.get("/api/2/audiotracks/1/", t).await;
    assert_eq!(r.ok()["minduration"].as_f64(), Some(5.0));
    let body = json!({"project_id": 1, "minvolume": 0.1, "maxvolume": 1.0, "minduration": 2.5, "maxduration": 5,
        "mindeadair": 1, "maxdeadair": 2, "minfadeintime": 1, "maxfadeintime": 2, "minfadeouttime": 1,
        "maxfadeouttime": 2, "minpanpos": 0, "maxpanpos": 0, "minpanduration": 1, "maxpanduration": 2});
    let r = s.post("/api/2/audiotracks/", Some(&staff), body).await;
    let id = r.ok()["id"].as_i64().unwrap();
    assert_eq!(
        s.scalar(&format!(
            "SELECT CAST(minduration AS INTEGER) FROM audiotracks WHERE id = {id}"
        ))
        .await,
        2_500_000_000
    );
}
