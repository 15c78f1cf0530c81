//! Event streams (`/stream/0/`): App.net's lifecycle and envelopes, frames for changes made
//! through api/2 whose `data` is the object's `GET`, resume after a disconnect and after a
//! restart with nothing lost, purge, filters switching at once, last connection wins, SSE
//! with `Last-Event-ID`, the overflow rule, the connection limit and kiosk tokens — all over
//! real HTTP against a real daemon.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{FIXTURE_DEVICE, REFERENCE_FIXTURE, TestServer};

/// A request with `Authorization: Bearer`.
async fn adn(
    s: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = s
        .client
        .request(method, s.url(path))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn fixture() -> (TestServer, String) {
    let s = TestServer::with_reference_fixture().await;
    let staff = s.staff_token().await;
    (s, staff)
}

/// Creates a stream and returns its id.
async fn stream(s: &TestServer, token: &str, body: Value) -> String {
    let (status, b) = adn(s, Method::POST, "/stream/0/streams", token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["data"]["id"].as_str().unwrap().to_string()
}

/// A connected consumer reading frames off one long-lived response.
struct Consumer {
    resp: reqwest::Response,
    buf: Vec<u8>,
    sse: bool,
}

impl Consumer {
    async fn connect(
        s: &TestServer,
        token: &str,
        id: &str,
        query: &str,
        sse: Option<&str>,
    ) -> Self {
        let mut req = s
            .client
            .get(s.url(&format!("/stream/0/streams/{id}/events{query}")))
            .header("Authorization", format!("Bearer {token}"));
        if let Some(last) = sse {
            req = req.header("Accept", "text/event-stream");
            if !last.is_empty() {
                req = req.header("Last-Event-ID", last);
            }
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        Self {
            resp,
            buf: Vec::new(),
            sse: sse.is_some(),
        }
    }

    /// The next frame (keep-alives skipped); `None` when the response ended.
    async fn next(&mut self) -> Option<Value> {
        let sep: &[u8] = if self.sse { b"\n\n" } else { b"\r\n" };
        loop {
            if let Some(at) = self.buf.windows(sep.len()).position(|w| w == sep) {
                let frame: Vec<u8> = self.buf.drain(..at + sep.len()).collect();
                let text = String::from_utf8(frame[..at].to_vec()).unwrap();
                let json = if self.sse {
                    match text.lines().find_map(|l| l.strip_prefix("data: ")) {
                        Some(d) => d.to_string(),
                        None => continue,
                    }
                } else {
                    text
                };
                if json.trim().is_empty() {
                    continue;
                }
                return Some(serde_json::from_str(&json).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("a frame within 10 s");
            match chunk {
                Ok(Some(c)) => self.buf.extend_from_slice(&c),
                _ => return None,
            }
        }
    }

    /// The next data message of `object_type` (control messages and other types skipped).
    async fn next_of(&mut self, object_type: &str) -> Value {
        loop {
            let f = self.next().await.expect("the response goes on");
            if f["meta"]["type"] == object_type {
                return f;
            }
        }
    }
}

#[tokio::test]
async fn the_lifecycle_answers_in_appdotnet_envelopes() {
    let (s, staff) = fixture().await;
    let filter = json!({"name": "approved", "match_policy": "include_all", "clauses": [
        {"object_type": "asset", "field": "/data/submitted", "operator": "equals", "value": true}]});
    let (st, f) = adn(&s, Method::POST, "/stream/0/filters", &staff, Some(filter)).await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["meta"]["code"], 200);
    let fid = f["data"]["id"].as_str().unwrap().to_string();
    let (st, created) = adn(
        &s,
        Method::POST,
        "/stream/0/streams",
        &staff,
        Some(json!({
        "object_types": ["asset", "vote"], "type": "long_poll", "filter_id": fid, "key": "wall"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let data = &created["data"];
    let id = data["id"].as_str().unwrap();
    assert_eq!(data["type"], "long_poll");
    assert_eq!(data["key"], "wall");
    assert_eq!(data["filter"]["clauses"][0]["field"], "/data/submitted");
    assert_eq!(
        data["endpoint"],
        s.url(&format!("/stream/0/streams/{id}/events"))
    );

    let (_, listed) = adn(&s, Method::GET, "/stream/0/streams?key=wall", &staff, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["meta"]["more"], false);
    let (_, none) = adn(&s, Method::GET, "/stream/0/streams?key=other", &staff, None).await;
    assert!(none["data"].as_array().unwrap().is_empty());

    let (st, put) = adn(
        &s,
        Method::PUT,
        &format!("/stream/0/streams/{id}"),
        &staff,
        Some(json!({"object_types": ["tag"], "type": "long_poll", "key": "wall"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{put}");
    assert_eq!(put["data"]["object_types"], json!(["tag"]));
    assert!(put["data"].get("filter").is_none());

    // A filter in use cannot go: 409, App.net's error meta naming the stream.
    adn(
        &s,
        Method::PUT,
        &format!("/stream/0/streams/{id}"),
        &staff,
        Some(json!({"object_types": ["tag"], "filter_id": fid})),
    )
    .await;
    let (st, e) = adn(
        &s,
        Method::DELETE,
        &format!("/stream/0/filters/{fid}"),
        &staff,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(e["meta"]["code"], 409);
    assert!(
        e["meta"]["error_message"]
            .as_str()
            .unwrap()
            .contains(&format!("stream {id}")),
        "{e}"
    );
    assert!(e.get("data").is_none());

    let (st, gone) = adn(
        &s,
        Method::DELETE,
        &format!("/stream/0/streams/{id}"),
        &staff,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(gone["data"]["id"], id, "the deleted stream comes back");
    let (st, _) = adn(
        &s,
        Method::GET,
        &format!("/stream/0/streams/{id}"),
        &staff,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, all) = adn(&s, Method::DELETE, "/stream/0/filters", &staff, None).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn bad_tokens_types_and_clauses_get_4xx_naming_the_problem() {
    let (s, staff) = fixture().await;
    let (_, visitor) = s.device_token(FIXTURE_DEVICE).await;
    let r = s
        .client
        .get(s.url("/stream/0/streams"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["meta"]["error_slug"], "invalid-token");
    let (st, e) = adn(&s, Method::GET, "/stream/0/streams", "nope", None).await;
    assert_eq!(
        (st, e["meta"]["error_slug"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid-token"))
    );
    let (st, e) = adn(&s, Method::GET, "/stream/0/streams", &visitor, None).await;
    assert_eq!(
        (st, e["meta"]["error_slug"].as_str()),
        (StatusCode::FORBIDDEN, Some("not-authorized"))
    );
    // ?access_token= works as well (browsers' EventSource).
    let r = s
        .client
        .get(s.url(&format!("/stream/0/streams?access_token={staff}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (st, e) = adn(
        &s,
        Method::POST,
        "/stream/0/streams",
        &staff,
        Some(json!({"object_types": ["post", "asset"]})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let m = e["meta"]["error_message"].as_str().unwrap();
    assert!(
        m.contains("\"post\"") && m.contains("listenevent") && m.contains("stream"),
        "{m}"
    );
    for (clauses, named) in [
        (json!([]), "clauses"),
        (
            json!([{"object_type": "asset", "field": "/data/id", "operator": "near", "value": 1}]),
            "clauses[0].operator",
        ),
        (
            json!([{"object_type": "asset", "field": "data/id", "operator": "equals", "value": 1}]),
            "clauses[0].field",
        ),
        (
            json!([{"object_type": "asset", "field": "/data/id", "operator": "one_of", "value": 1}]),
            "clauses[0].value",
        ),
        (
            json!([{"object_type": "asset", "field": "/data/id", "operator": "equals", "value": "$me"}]),
            "clauses[0].value",
        ),
    ] {
        let body = json!({"match_policy": "include_any", "clauses": clauses});
        let (st, e) = adn(&s, Method::POST, "/stream/0/filters", &staff, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            e["meta"]["error_message"]
                .as_str()
                .unwrap()
                .starts_with(named),
            "{named}: {e}"
        );
    }
    // The sixth stream of a token is refused, saying why.
    for _ in 0..5 {
        stream(&s, &staff, json!({"object_types": ["asset"]})).await;
    }
    let (st, e) = adn(
        &s,
        Method::POST,
        "/stream/0/streams",
        &staff,
        Some(json!({"object_types": ["asset"]})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["meta"]["error_message"]
            .as_str()
            .unwrap()
            .contains("max_streams_per_token"),
        "{e}"
    );
    s.stop().await;
}

#[tokio::test]
async fn frames_carry_changes_made_through_api2_with_the_data_its_get_returns() {
    let (s, staff) = fixture().await;
    let id = stream(
        &s,
        &staff,
        json!({"object_types": ["asset", "vote", "speaker", "tag", "project"]}),
    )
    .await;
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;

    let r = s
        .patch(
            "/api/2/assets/2/",
            Some(&staff),
            json!({"description": "the fountain", "tag_ids": [1, 2]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let frame = c.next_of("asset").await;
    let got = s.get("/api/2/assets/2/", Some(&staff)).await;
    assert_eq!(
        frame["data"], got.body,
        "the frame's data is the asset's GET"
    );
    assert_eq!(frame["meta"]["project_id"], 1);
    assert!(
        frame["meta"]["timestamp"].as_i64().unwrap() > 1_700_000_000_000,
        "ms"
    );

    let (_, owner) = s.device_token(FIXTURE_DEVICE).await;
    let r = s
        .post(
            "/api/2/assets/1/votes/",
            Some(&owner),
            json!({"session_id": 1, "vote_type": "like"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let vote = c.next_of("vote").await;
    let vote_id = vote["data"]["id"].as_i64().unwrap();
    assert_eq!(
        vote["data"],
        s.get(&format!("/api/2/votes/{vote_id}/"), Some(&staff))
            .await
            .body
    );

    s.patch(
        "/api/2/speakers/1/",
        Some(&staff),
        json!({"maxvolume": 0.7}),
    )
    .await
    .ok();
    let sp = c.next_of("speaker").await;
    assert_eq!(
        sp["data"],
        s.get("/api/2/speakers/1/", Some(&staff)).await.body
    );

    let r = s.delete("/api/2/assets/2/", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let gone = c.next_of("asset").await;
    assert_eq!(gone["meta"]["is_deleted"], true);
    let meta_id = |f: &Value| f["meta"]["id"].as_str().unwrap().parse::<i64>().unwrap();
    assert!(meta_id(&gone) > meta_id(&frame), "ids only grow");
    assert_eq!(gone["data"]["id"], 2, "shown as it was last seen");
    assert_eq!(gone["data"]["description"], "the fountain");
    s.stop().await;
}

/// Ids of the asset frames a consumer reads until it has `n`.
async fn asset_weights(c: &mut Consumer, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(c.next_of("asset").await["data"]["weight"].as_i64().unwrap());
    }
    out
}

#[tokio::test]
async fn a_consumer_that_was_away_or_a_box_that_restarted_resumes_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), "").await;
    s.sql(REFERENCE_FIXTURE).await;
    let staff = s.staff_token().await;
    let id = stream(&s, &staff, json!({"object_types": ["asset"]})).await;
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    s.sql("UPDATE assets SET weight = 1 WHERE id = 1").await;
    assert_eq!(asset_weights(&mut c, 1).await, [1]);
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Away: three changes.
    for w in 2..=4 {
        s.sql(&format!("UPDATE assets SET weight = {w} WHERE id = 1"))
            .await;
    }
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    assert_eq!(
        asset_weights(&mut c, 3).await,
        [2, 3, 4],
        "in order, none twice"
    );
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.sql("UPDATE assets SET weight = 5 WHERE id = 1").await;
    // The box restarts.
    s.stop().await;
    let s = TestServer::start_in(dir.path(), "").await;
    s.sql("UPDATE assets SET weight = 6 WHERE id = 1").await;
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    assert_eq!(asset_weights(&mut c, 2).await, [5, 6]);
    // purge skips what waited.
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.sql("UPDATE assets SET weight = 7 WHERE id = 1").await;
    let mut c = Consumer::connect(&s, &staff, &id, "?purge=1", None).await;
    s.sql("UPDATE assets SET weight = 8 WHERE id = 1").await;
    assert_eq!(asset_weights(&mut c, 1).await, [8]);
    s.stop().await;
}

#[tokio::test]
async fn a_filter_put_switches_a_connected_stream_at_once_and_the_last_connection_wins() {
    let (s, staff) = fixture().await;
    let clause = |id: i64| {
        json!({"match_policy": "include_any", "clauses": [
        {"object_type": "asset", "field": "/data/id", "operator": "equals", "value": id}]})
    };
    let (_, f) = adn(
        &s,
        Method::POST,
        "/stream/0/filters",
        &staff,
        Some(clause(1)),
    )
    .await;
    let fid = f["data"]["id"].as_str().unwrap().to_string();
    let id = stream(
        &s,
        &staff,
        json!({"object_types": ["asset"], "filter_id": fid}),
    )
    .await;
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    s.sql("UPDATE assets SET weight = 11 WHERE id = 2").await;
    s.sql("UPDATE assets SET weight = 12 WHERE id = 1").await;
    assert_eq!(
        c.next_of("asset").await["data"]["id"],
        1,
        "asset 2 filtered out"
    );
    let (st, _) = adn(
        &s,
        Method::PUT,
        &format!("/stream/0/filters/{fid}"),
        &staff,
        Some(clause(2)),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    s.sql("UPDATE assets SET weight = 13 WHERE id = 1").await;
    s.sql("UPDATE assets SET weight = 14 WHERE id = 2").await;
    assert_eq!(
        c.next_of("asset").await["data"]["id"],
        2,
        "the new clause applies at once"
    );

    let mut newer = Consumer::connect(&s, &staff, &id, "", None).await;
    // The older connection ends (next() would panic after 10 s of silence otherwise).
    while c.next().await.is_some() {}
    s.sql("UPDATE assets SET weight = 15 WHERE id = 2").await;
    assert_eq!(newer.next_of("asset").await["data"]["weight"], 15);
    s.stop().await;
}

#[tokio::test]
async fn server_sent_events_resume_from_last_event_id() {
    let (s, staff) = fixture().await;
    let id = stream(&s, &staff, json!({"object_types": ["asset"]})).await;
    let mut c = Consumer::connect(&s, &staff, &id, "", Some("")).await;
    assert_eq!(c.resp.headers()["content-type"], "text/event-stream");
    assert_eq!(c.resp.headers()["cache-control"], "no-cache");
    s.sql("UPDATE assets SET weight = 21 WHERE id = 1").await;
    s.sql("UPDATE assets SET weight = 22 WHERE id = 1").await;
    let first = c.next_of("asset").await;
    assert_eq!(asset_weights(&mut c, 1).await, [22]);
    drop(c);
    let last = first["meta"]["id"].as_str().unwrap().to_string();
    let mut again = Consumer::connect(&s, &staff, &id, "", Some(&last)).await;
    assert_eq!(
        asset_weights(&mut again, 1).await,
        [22],
        "after Last-Event-ID, not after the cursor"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_consumer_that_never_reads_is_disconnected_at_its_queue_limit_and_told_next_time() {
    let s = TestServer::start_with("[events]\nqueue_messages = 10\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    let staff = s.staff_token().await;
    let id = stream(&s, &staff, json!({"object_types": ["asset"]})).await;
    // A raw client that sends the request and never reads, with a tiny receive buffer.
    let addr = s.base.trim_start_matches("http://").to_string();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
    tcp.write_all(format!("GET /stream/0/streams/{id}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {staff}\r\n\r\n").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Many changes, each a large asset.
    let long = "x".repeat(4000);
    s.sql(&format!("UPDATE assets SET description = '{long}'"))
        .await;
    for n in 0..400 {
        s.sql(&format!("UPDATE assets SET weight = {n} WHERE id = 1"))
            .await;
        if n % 50 == 0 {
            // The API stays responsive meanwhile.
            assert_eq!(
                s.get("/api/2/projects/1/", Some(&staff)).await.status,
                StatusCode::OK
            );
        }
    }
    // The connection is closed: reading to the end finishes (reset or EOF) within seconds.
    let mut sink = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the non-reading consumer was disconnected");
    // (What a consumer that does not read is sent before it is closed — the 80 % warning and
    // the `queue_full` last words — may never reach it; src/events/consumer.rs tests them.)
    let mut overflowed = 0;
    for _ in 0..50 {
        overflowed = s
            .scalar(&format!(
                "SELECT overflowed FROM event_streams WHERE id = {id}"
            ))
            .await;
        if overflowed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(overflowed > 0, "the overflow is remembered");
    // The next connection is told, then gets what was unread, in order.
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    let first = c.next().await.unwrap();
    assert_eq!(first["control"]["type"], "overflowed", "{first}");
    let next = c.next_of("asset").await;
    assert!(next["meta"]["id"].as_str().is_some());
    s.stop().await;
}

#[tokio::test]
async fn event_connections_beyond_the_limit_are_refused_with_503() {
    let s = TestServer::start_with("[events]\nmax_connections = 3\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    let staff = s.staff_token().await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let id = stream(&s, &staff, json!({"object_types": ["asset"]})).await;
        open.push(Consumer::connect(&s, &staff, &id, "", None).await);
    }
    let id = stream(&s, &staff, json!({"object_types": ["asset"]})).await;
    let (st, e) = adn(
        &s,
        Method::GET,
        &format!("/stream/0/streams/{id}/events"),
        &staff,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["meta"]["error_slug"], "too-many-connections");
    assert!(
        e["meta"]["error_message"]
            .as_str()
            .unwrap()
            .contains("max_connections")
    );
    // One leaves: the next gets in.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    s.sql("UPDATE assets SET weight = 3 WHERE id = 1").await;
    assert_eq!(asset_weights(&mut c, 1).await, [3]);
    s.stop().await;
}

#[tokio::test]
async fn a_kiosk_token_reads_and_follows_public_types_only() {
    let (s, staff) = fixture().await;
    let r = s
        .post("/api/2/kiosks/", Some(&staff), json!({"name": "lobby"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let kiosk = r.body["token"].as_str().unwrap().to_string();
    assert_eq!(r.body["username"], "kiosk-lobby");
    assert_eq!(
        s.get("/api/2/assets/1/", Some(&kiosk)).await.status,
        StatusCode::OK
    );
    let r = s
        .patch("/api/2/assets/1/", Some(&kiosk), json!({"weight": 1}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.to_string().contains("kiosk"), "{}", r.body);
    let (st, e) = adn(
        &s,
        Method::POST,
        "/stream/0/streams",
        &kiosk,
        Some(json!({"object_types": ["session"]})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let id = stream(&s, &kiosk, json!({"object_types": ["asset", "vote"]})).await;
    let mut c = Consumer::connect(&s, &kiosk, &id, "", None).await;
    s.patch("/api/2/assets/1/", Some(&staff), json!({"weight": 9}))
        .await
        .ok();
    let frame = c.next_of("asset").await;
    assert_eq!(
        frame["data"],
        s.get("/api/2/assets/1/", Some(&kiosk)).await.body,
        "as the kiosk's own GET"
    );
    // Revoked: the token stops working at once, open connections included.
    let kid = r_id(&s, &staff).await;
    assert_eq!(
        s.delete(&format!("/api/2/kiosks/{kid}/"), Some(&staff))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    while c.next().await.is_some() {}
    assert_eq!(
        s.get("/api/2/assets/1/", Some(&kiosk)).await.status,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

async fn r_id(s: &TestServer, staff: &str) -> i64 {
    s.get("/api/2/kiosks/", Some(staff)).await.body[0]["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn personal_streams_are_announced_when_they_start_change_zones_and_end() {
    let (s, staff) = fixture().await;
    s.sql("UPDATE projects SET listen_enabled = 1; UPDATE assets SET filename = NULL;")
        .await;
    let (_, visitor) = s.device_token(FIXTURE_DEVICE).await;
    let id = stream(&s, &staff, json!({"object_types": ["stream"]})).await;
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    let t = Some(visitor.as_str());
    let r = s
        .post(
            "/api/2/streams/",
            t,
            json!({"session_id": 1, "latitude": 0.1, "longitude": 0.1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let started = c.next_of("stream").await;
    assert_eq!(
        started["data"],
        json!({"stream_id": 1, "active": true, "project_id": 1, "speaker_ids": [1]}),
        "inside speaker 1's zone"
    );
    assert_eq!(started["meta"]["project_id"], 1);
    // The starting point a wall reads: who listens where now (no positions).
    let now = s.get("/api/2/projects/1/listeners/", Some(&staff)).await;
    assert_eq!(now.body, json!([{"stream_id": 1, "speaker_ids": [1]}]));
    // A move within the zone changes nothing; out of it, the zones change.
    s.patch(
        "/api/2/streams/1/",
        t,
        json!({"latitude": 0.1001, "longitude": 0.1}),
    )
    .await;
    s.patch(
        "/api/2/streams/1/",
        t,
        json!({"latitude": 0.3, "longitude": 0.3}),
    )
    .await;
    let moved = c.next_of("stream").await;
    assert_eq!(moved["data"]["speaker_ids"], json!([]));
    s.post("/api/2/streams/1/kill/", t, json!({})).await;
    let ended = c.next_of("stream").await;
    assert_eq!(ended["data"]["active"], false);
    assert_eq!(ended["meta"]["is_deleted"], true);
    s.stop().await;
}

/// An object type, the write that changes one (method, path, token, body) and the path of its
/// `GET` (`{}` is its id).
type Case<'a> = (
    &'a str,
    reqwest::Method,
    &'a str,
    Option<&'a str>,
    Value,
    &'a str,
);

#[tokio::test]
async fn every_object_type_arrives_as_its_get_shows_it() {
    let (s, staff) = fixture().await;
    let (_, owner) = s.device_token(FIXTURE_DEVICE).await;
    let types = [
        "session",
        "envelope",
        "listenevent",
        "event",
        "project",
        "tag",
    ];
    let id = stream(&s, &staff, json!({"object_types": types})).await;
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    let o = Some(owner.as_str());
    let st = Some(staff.as_str());
    // (type, the write, the GET path of the object it made or changed: {} is its id)
    let cases: [Case<'_>; 6] = [
        (
            "session",
            Method::POST,
            "/api/2/sessions/",
            o,
            json!({"project_id": 1}),
            "/api/2/sessions/{}/",
        ),
        (
            "envelope",
            Method::POST,
            "/api/2/envelopes/",
            o,
            json!({"session_id": 1}),
            "/api/2/envelopes/{}/",
        ),
        (
            "listenevent",
            Method::POST,
            "/api/2/listenevents/",
            o,
            json!({"session_id": 1, "asset_id": 1, "starttime": "2026-01-01T00:00:00"}),
            "/api/2/listenevents/{}/",
        ),
        (
            "event",
            Method::POST,
            "/api/2/events/",
            o,
            json!({"session_id": 1, "event_type": "wall_test", "latitude": "0.1", "longitude": "0.1"}),
            "/api/2/events/{}/",
        ),
        (
            "project",
            Method::PATCH,
            "/api/2/projects/1/",
            st,
            json!({"name": "Uno bis"}),
            "/api/2/projects/{}/",
        ),
        (
            "tag",
            Method::PATCH,
            "/api/2/tags/1/",
            st,
            json!({"value": "male bis"}),
            "/api/2/tags/{}/",
        ),
    ];
    for (ty, method, path, token, body, get) in cases {
        let r = s.send(method, path, token, Some(body)).await;
        assert!(r.status.is_success(), "{ty}: {} {}", r.status, r.body);
        let frame = c.next_of(ty).await;
        let oid = frame["data"]["id"].as_i64().unwrap();
        let shown = s.get(&get.replace("{}", &oid.to_string()), st).await;
        assert_eq!(
            frame["data"], shown.body,
            "{ty}: the frame's data is its GET"
        );
        assert_eq!(frame["meta"]["project_id"], 1, "{ty}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_consumer_away_past_retention_is_told_how_many_changes_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), "[events]\nmax_rows = 100\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    let staff = s.staff_token().await;
    let id = stream(&s, &staff, json!({"object_types": ["asset"]})).await;
    for w in 0..150 {
        s.sql(&format!("UPDATE assets SET weight = {w} WHERE id = 1"))
            .await;
    }
    // Retention runs at start (and every ten minutes).
    s.stop().await;
    let s = TestServer::start_in(dir.path(), "[events]\nmax_rows = 100\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.scalar("SELECT COUNT(*) FROM outbox").await, 100);
    let mut c = Consumer::connect(&s, &staff, &id, "", None).await;
    let first = c.next().await.unwrap();
    assert_eq!(first["control"]["type"], "missed", "{first}");
    assert_eq!(first["control"]["count"], 50);
    // Then the oldest change still kept.
    assert_eq!(asset_weights(&mut c, 1).await, [50]);
    s.stop().await;
}
