//! Connection and abuse limits against a real daemon on loopback: raw TCP clients for the
//! header-read timeout, the idle keep-alive timeout, the slow-body guard and the connection
//! caps; real HTTP for the per-address request limits, the login back-off and the stream caps.
//! Linux loopback accepts any 127.x.y.z source, so a client bound to 127.0.0.2 is "another
//! visitor". Limits are set small through the test config; no assertion depends on timing
//! (waits only bound how long a test may hang when the feature is broken).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use roundwared::testing::output::feed::Feed;
use roundwared::testing::output::tone::ToneSource;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{REFERENCE_FIXTURE, TestServer};

/// How long a test waits for the server to close a connection before it fails.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

fn addr(s: &TestServer) -> SocketAddr {
    s.base.trim_start_matches("http://").parse().unwrap()
}

/// A raw TCP connection to the server from `source` (127.0.0.1, 127.0.0.2, …).
async fn connect_from(s: &TestServer, source: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr(s)).await.expect("connect")
}

/// An HTTP client whose connections come from `source`.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap()
}

/// Sends `GET /healthz` on `sock` and reads one whole response; `None` if the server closed
/// the connection instead of answering.
async fn healthz_on(sock: &mut TcpStream) -> Option<String> {
    let req = "GET /healthz HTTP/1.1\r\nHost: box.local\r\n\r\n";
    sock.write_all(req.as_bytes()).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(CLOSE_WAIT, sock.read(&mut buf))
            .await
            .expect("the server neither answered nor closed")
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if body.len() >= length {
                return Some(head.lines().next().unwrap_or_default().to_string());
            }
        }
    }
}

/// Whether the server closes `sock` (EOF or reset) within [`CLOSE_WAIT`], discarding any data.
async fn closed_by_server(sock: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let end = Instant::now() + CLOSE_WAIT;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
    false
}

fn retry_after(r: &crate::support::Reply) -> u64 {
    r.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

fn detail(r: &crate::support::Reply) -> &str {
    r.body["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_slowloris_connection_is_closed_after_the_header_timeout_while_normal_requests_are_served()
 {
    let s = TestServer::start_with("[http]\nheader_read_timeout_s = 1\n").await;
    // The API's path (hyper's) and the streams' (read before hyper, see `api::listen`), all
    // trickling at once, so the normal requests below come while every one is open (the
    // test client's pooled connection would itself idle out between rounds otherwise).
    let paths = ["/healthz", "/live/abc.mp3", "/stream1.mp3"];
    let mut trickles = Vec::new();
    for path in paths {
        trickles.push(trickle(&s, path).await);
    }
    for _ in 0..5 {
        let r = s.get("/healthz", None).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "a normal client is served meanwhile"
        );
    }
    for (path, trickle) in paths.into_iter().zip(trickles) {
        assert!(
            trickle.await.unwrap(),
            "the trickling connection to {path} stayed open"
        );
    }
}

/// A connection sending `GET path` and then one header byte every 300 ms, never ending its
/// head; the task ends `true` once the server closes it (within [`CLOSE_WAIT`]).
async fn trickle(s: &TestServer, path: &str) -> tokio::task::JoinHandle<bool> {
    let mut slow = connect_from(s, "127.0.0.1").await;
    slow.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Slow: ").as_bytes())
        .await
        .unwrap();
    tokio::spawn(async move {
        let end = Instant::now() + CLOSE_WAIT;
        let mut buf = [0u8; 64];
        while Instant::now() < end {
            if slow.write_all(b"a").await.is_err() {
                return true;
            }
            match tokio::time::timeout(Duration::from_millis(300), slow.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => panic!("the server answered a request head that never ended"),
                Err(_) => {}
            }
        }
        false
    })
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let s = TestServer::start_with("[http]\nheader_read_timeout_s = 1\n").await;
    let mut sock = connect_from(&s, "127.0.0.1").await;
    let status = healthz_on(&mut sock).await.expect("a first answer");
    assert!(status.ends_with("200 OK"), "{status}");
    assert!(
        closed_by_server(&mut sock).await,
        "the idle keep-alive connection stayed open"
    );
}

#[tokio::test]
async fn a_stream_response_outlives_the_header_and_body_timeouts() {
    let s = TestServer::start_with("[http]\nheader_read_timeout_s = 1\nbody_timeout_s = 1\n").await;
    let feed = Feed::new(128);
    s.feeds.insert(9, feed.clone());
    let _tone = ToneSource::start(feed, 440.0, "tone").expect("tone starts");
    let mut sock = connect_from(&s, "127.0.0.1").await;
    sock.write_all(b"GET /stream9.mp3 HTTP/1.1\r\nHost: box.local\r\n\r\n")
        .await
        .unwrap();
    // Read for four times the timeouts; the body must still be flowing in the last second.
    let start = Instant::now();
    let (mut total, mut late) = (0usize, 0usize);
    let mut buf = vec![0u8; 64 * 1024];
    while start.elapsed() < Duration::from_secs(4) {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .expect("the stream keeps sending")
            .expect("read");
        assert!(n > 0, "the stream was closed after {:?}", start.elapsed());
        total += n;
        if start.elapsed() > Duration::from_secs(3) {
            late += n;
        }
    }
    assert!(total > 40_000, "only {total} bytes in 4 s");
    assert!(late > 0, "nothing arrived after the timeouts had passed");
}

#[tokio::test]
async fn a_trickled_request_body_gets_408_and_the_connection_is_closed() {
    let s =
        TestServer::start_with("[http]\nbody_timeout_s = 1\nbody_min_bytes_per_s = 1000\n").await;
    let mut sock = connect_from(&s, "127.0.0.1").await;
    sock.write_all(
        b"POST /api/2/users/ HTTP/1.1\r\nHost: box.local\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"device_id\":",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(CLOSE_WAIT, sock.read(&mut buf))
            .await
            .expect("the server neither answered nor closed")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout_s"), "{text}");
    assert_eq!(s.scalar("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test]
async fn the_per_ip_connection_cap_refuses_the_extra_connection_while_another_address_connects() {
    let s = TestServer::start_with("[http]\nmax_connections_per_ip = 2\n").await;
    let mut first = connect_from(&s, "127.0.0.1").await;
    let mut second = connect_from(&s, "127.0.0.1").await;
    assert!(healthz_on(&mut first).await.is_some());
    assert!(healthz_on(&mut second).await.is_some());
    let mut third = connect_from(&s, "127.0.0.1").await;
    assert_eq!(
        healthz_on(&mut third).await,
        None,
        "a third connection from one address was served"
    );
    let mut other = connect_from(&s, "127.0.0.2").await;
    let status = healthz_on(&mut other)
        .await
        .expect("another visitor is served");
    assert!(status.ends_with("200 OK"), "{status}");
    // Closing one frees its place (the server notices the close on its next read).
    drop(first);
    let end = Instant::now() + CLOSE_WAIT;
    loop {
        let mut again = connect_from(&s, "127.0.0.1").await;
        if healthz_on(&mut again).await.is_some() {
            break;
        }
        assert!(
            Instant::now() < end,
            "the closed connection's place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_registration_flood_gets_429_with_retry_after_and_another_address_is_unaffected() {
    let s = TestServer::start_with("[limits]\nregistrations_per_ip_per_min = 3\n").await;
    for i in 0..3 {
        s.device_token(&format!("flood-{i}")).await;
    }
    let body = json!({"device_id": "flood-3", "client_type": "web"});
    let r = s.post("/api/2/users/", None, body.clone()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!((1..=60).contains(&retry_after(&r)));
    assert!(
        detail(&r).contains("registrations_per_ip_per_min"),
        "{}",
        r.body
    );
    let other = client_from("127.0.0.2")
        .post(s.url("/api/2/users/"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK, "another visitor registers");
    assert_eq!(s.scalar("SELECT COUNT(*) FROM users").await, 4);
}

#[tokio::test]
async fn an_upload_flood_gets_429_before_the_body_is_read() {
    let s = TestServer::start_with("[limits]\nuploads_per_ip_per_min = 1\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    let owner = s.session_owner_token(1).await;
    let first = s
        .patch("/api/2/envelopes/1/", Some(&owner), json!({}))
        .await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST, "{}", first.body);
    let r = s
        .patch("/api/2/envelopes/1/", Some(&owner), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(detail(&r).contains("uploads_per_ip_per_min"), "{}", r.body);
    retry_after(&r);
}

async fn login_from(s: &TestServer, source: &str, user: &str, pw: &str) -> (StatusCode, Value) {
    let r = client_from(source)
        .post(s.url("/api/2/login/"))
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let retry = r.headers().get("retry-after").is_some();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(retry, status == StatusCode::TOO_MANY_REQUESTS, "{body}");
    (status, body)
}

#[tokio::test]
async fn failed_logins_lock_the_address_and_the_username_with_429_even_for_the_right_password() {
    let s = TestServer::start_with(
        "[limits]\nlogin_failures_before_lock = 2\nlogin_lock_s = 600\nlogins_per_ip_per_min = 100\n",
    )
    .await;
    s.login_token("curator", true).await;
    let (status, wrong) = login_from(&s, "127.0.0.1", "curator", "nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, unknown) = login_from(&s, "127.0.0.1", "nobody", "nope").await;
    assert_eq!(
        unknown, wrong,
        "an unknown name reads like a wrong password"
    );
    let (status, _) = login_from(&s, "127.0.0.1", "curator", "nope").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the third failure is still answered"
    );
    let (status, body) = login_from(&s, "127.0.0.1", "curator", "password123").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("address"),
        "{body}"
    );
    // The username's third failure, from elsewhere, locks the name for every address.
    let (status, _) = login_from(&s, "127.0.0.3", "curator", "nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = login_from(&s, "127.0.0.2", "curator", "password123").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("username"),
        "{body}"
    );
    let (status, _) = login_from(&s, "127.0.0.2", "someone", "nope").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "other names from other addresses are not locked"
    );
}

/// The reference fixture with listening on, and a fresh session of project 1 for `token`.
async fn listening_session(s: &TestServer, token: &str) -> i64 {
    let r = s
        .post("/api/2/sessions/", Some(token), json!({"project_id": 1}))
        .await;
    r.ok()["id"].as_i64().expect("session id")
}

async fn start_stream(s: &TestServer, token: &str, session: i64) -> crate::support::Reply {
    s.post(
        "/api/2/streams/",
        Some(token),
        json!({"session_id": session}),
    )
    .await
}

#[tokio::test]
async fn one_token_cannot_open_more_than_the_per_token_stream_cap_while_another_visitor_still_can()
{
    let s = TestServer::start_with("[limits]\nstreams_per_user = 1\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    s.sql("UPDATE projects SET listen_enabled = 1").await;
    let (_, hog) = s.device_token("hog").await;
    let (a, b) = (
        listening_session(&s, &hog).await,
        listening_session(&s, &hog).await,
    );
    assert_eq!(start_stream(&s, &hog, a).await.status, StatusCode::OK);
    let r = start_stream(&s, &hog, b).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(detail(&r).contains("streams_per_user"), "{}", r.body);
    assert!(retry_after(&r) >= 1);
    assert_eq!(
        start_stream(&s, &hog, a).await.status,
        StatusCode::OK,
        "asking again for the running stream needs no new slot"
    );
    let (_, visitor) = s.device_token("visitor").await;
    let v = listening_session(&s, &visitor).await;
    assert_eq!(start_stream(&s, &visitor, v).await.status, StatusCode::OK);
    let killed = s
        .post(&format!("/api/2/streams/{a}/kill/"), Some(&hog), json!({}))
        .await;
    assert_eq!(killed.body["success"], true, "{}", killed.body);
    assert_eq!(
        start_stream(&s, &hog, b).await.status,
        StatusCode::OK,
        "a stream that ended frees its slot"
    );
}

#[tokio::test]
async fn one_address_cannot_open_more_than_the_per_address_stream_cap_while_another_still_can() {
    let s = TestServer::start_with("[limits]\nstreams_per_ip = 1\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    s.sql("UPDATE projects SET listen_enabled = 1").await;
    let (_, first) = s.device_token("phone-1").await;
    let (_, second) = s.device_token("phone-2").await;
    let (_, third) = s.device_token("phone-3").await;
    let one = listening_session(&s, &first).await;
    let two = listening_session(&s, &second).await;
    let three = listening_session(&s, &third).await;
    assert_eq!(start_stream(&s, &first, one).await.status, StatusCode::OK);
    let r = start_stream(&s, &second, two).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(detail(&r).contains("streams_per_ip"), "{}", r.body);
    let r = client_from("127.0.0.2")
        .post(s.url("/api/2/streams/"))
        .header("Authorization", format!("token {third}"))
        .json(&json!({"session_id": three}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another address opens its stream"
    );
}

#[tokio::test]
async fn the_console_and_the_visitor_page_cannot_be_framed() {
    let s = TestServer::start().await;
    for path in ["/", "/console/", "/web/console/index.html"] {
        let r = s.get(path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            r.headers["content-security-policy"], "frame-ancestors 'none'",
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_staff_users_list_is_paged_on_request_and_refused_whole_beyond_ten_thousand() {
    let s = TestServer::start().await;
    let staff = s.staff_token().await;
    s.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
         INSERT INTO users (username, date_joined, device_id, client_type)
         SELECT 'visitor' || i, '2026-01-01T00:00:00.000000', 'dev' || i, 'web' FROM n;",
    )
    .await;
    let r = s
        .get(
            "/api/2/users/?paginate=true&page_size=2&page=2",
            Some(&staff),
        )
        .await;
    let page = r.ok();
    assert_eq!(page["count"], 10_001);
    assert_eq!(page["results"].as_array().map(Vec::len), Some(2));
    assert!(page["next"].as_str().unwrap().contains("page=3"), "{page}");
    let whole = s.get("/api/2/users/", Some(&staff)).await;
    assert_eq!(whole.status, StatusCode::BAD_REQUEST, "{}", whole.body);
    assert!(detail(&whole).contains("paginate=true"), "{}", whole.body);
    let narrowed = s.get("/api/2/users/?is_staff=true", Some(&staff)).await;
    assert_eq!(
        narrowed.ok().as_array().map(|a| a
            .iter()
            .map(|u| u["username"].clone())
            .collect::<Vec<Value>>()),
        Some(vec![json!("staff")]),
        "a filtered list keeps the plain shape"
    );
}
