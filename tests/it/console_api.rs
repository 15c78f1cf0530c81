//! What the curator console reads from the staff status route beyond the engine counters: each
//! stream's requested tags and its queue (the assets waiting in its playlist), and that an
//! asset a curator unsubmits leaves the queues of running and new streams.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TestServer;

/// The status entry of one stream.
async fn stream_status(s: &TestServer, staff: &str, id: i64) -> Value {
    let r = s.get("/api/2/streams/status/", Some(staff)).await;
    r.ok()["streams"]
        .as_array()
        .expect("streams array")
        .iter()
        .find(|st| st["stream_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("stream {id} in status: {}", r.body))
}

/// Ids in a JSON array (nulls skipped).
fn ids(v: &Value) -> BTreeSet<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// Everything the stream is playing or will play from its current playlist.
fn playing_or_queued(st: &Value) -> BTreeSet<i64> {
    let mut all = ids(&st["queue"]);
    all.extend(ids(&st["playing"]));
    all
}

/// A non-geo listener's stream on the demo project (its playlist holds every candidate).
async fn open_stream(s: &TestServer, device: &str) -> (String, i64) {
    let (_, token) = s.device_token(device).await;
    let t = Some(token.as_str());
    let session = s
        .post(
            "/api/2/sessions/",
            t,
            json!({"project_id": 1, "geo_listen_enabled": false}),
        )
        .await;
    let sid = session.ok()["id"].as_i64().expect("session id");
    let r = s
        .post("/api/2/streams/", t, json!({"session_id": sid}))
        .await;
    assert_eq!(r.ok()["stream_id"], sid);
    (token, sid)
}

#[tokio::test]
async fn stream_status_shows_requested_tags_and_an_unsubmitted_asset_leaves_every_queue() {
    let s = TestServer::start_with_demo().await;
    let staff = s.staff_token().await;
    let assets = s
        .get("/api/2/assets/?project_id=1&submitted=true", Some(&staff))
        .await;
    let all: BTreeSet<i64> = assets
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_i64())
        .collect();
    assert_eq!(all.len(), 6);

    let (token, first) = open_stream(&s, "console-first").await;
    let st = stream_status(&s, &staff, first).await;
    assert!(st["tag_ids"].is_null(), "no tags asked for yet: {st}");
    assert_eq!(playing_or_queued(&st), all, "{st}");

    let r = s
        .patch(
            &format!("/api/2/streams/{first}/"),
            Some(&token),
            json!({"tag_ids": "1,2,3,4,5"}),
        )
        .await;
    r.ok();
    let st = stream_status(&s, &staff, first).await;
    assert_eq!(st["tag_ids"], json!([1, 2, 3, 4, 5]), "{st}");

    // The curator unsubmits one that the running stream has queued.
    let gone = *ids(&st["queue"])
        .iter()
        .next()
        .unwrap_or_else(|| panic!("something queued: {st}"));
    let r = s
        .patch(
            &format!("/api/2/assets/{gone}/"),
            Some(&staff),
            json!({"submitted": false}),
        )
        .await;
    assert_eq!(r.ok()["submitted"], false);

    // The running stream's catalog follows the store; its queue drops the asset.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = stream_status(&s, &staff, first).await;
        if !ids(&st["queue"]).contains(&gone) {
            break;
        }
        assert!(Instant::now() < deadline, "asset {gone} still queued: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A stream opened afterwards never has it.
    let (_, second) = open_stream(&s, "console-second").await;
    let st = stream_status(&s, &staff, second).await;
    let mut rest = all.clone();
    rest.remove(&gone);
    assert_eq!(playing_or_queued(&st), rest, "{st}");
}
