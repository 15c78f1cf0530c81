//! Broadcast channels (issue 13): the Livepeer stream API at `/livepeer/api` with its exact
//! status codes and error shape, push ingest from ffmpeg as an Icecast source client, pull
//! from another HTTP server, and playback at `/live/<playbackId>.mp3` checked with ffmpeg
//! (the tone pushed in is the tone that comes out).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::TestServer;

/// A Livepeer API call with `Authorization: Bearer <key>`.
async fn lp(
    s: &TestServer,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut req = s
        .client
        .request(method, s.url(&format!("/livepeer/api{path}")));
    if let Some(k) = key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    } else {
        // The SDK sends this content type on every bodyless request.
        req = req.header("Content-Type", "application/octet-stream");
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

async fn create(s: &TestServer, key: &str, body: Value) -> Value {
    let (status, stream, _) = lp(s, Method::POST, "/stream", Some(key), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{stream}");
    stream
}

async fn get_stream(s: &TestServer, key: &str, id: &str) -> Value {
    let (status, stream, _) = lp(s, Method::GET, &format!("/stream/{id}"), Some(key), None).await;
    assert_eq!(status, StatusCode::OK, "{stream}");
    stream
}

/// Waits until the channel's `isActive` is `active`.
async fn wait_active(s: &TestServer, key: &str, id: &str, active: bool, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let stream = get_stream(s, key, id).await;
        if stream["isActive"] == json!(active) {
            // Once idle, the row holds the session's counters: read it again (the answer
            // that saw the end may have read the row a moment before they were added).
            return if active {
                stream
            } else {
                get_stream(s, key, id).await
            };
        }
        assert!(
            Instant::now() < deadline,
            "channel never became {}: {stream}",
            if active { "live" } else { "idle" }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The channel's first `issues` entry once it shows one (within 5 s), and the Stream.
async fn wait_issue(s: &TestServer, key: &str, id: &str) -> (String, Value) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let st = get_stream(s, key, id).await;
        if let Some(issue) = st["issues"][0].as_str() {
            return (issue.to_owned(), st);
        }
        assert!(Instant::now() < deadline, "no issue shown: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn port_of(s: &TestServer) -> u16 {
    s.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// ffmpeg pushing a `freq_hz` tone for `seconds` to `/live/<key>` as an Icecast source, in
/// MP3 at 128 kbps.
fn push_tone(s: &TestServer, stream_key: &str, freq_hz: u32, seconds: u32) -> std::process::Child {
    push_tone_as(
        s,
        stream_key,
        freq_hz,
        seconds,
        &["-c:a", "libmp3lame", "-b:a", "128k"],
        "audio/mpeg",
        "mp3",
    )
}

/// [`push_tone`] with another encoder (`codec` arguments), `content_type` and muxer.
fn push_tone_as(
    s: &TestServer,
    stream_key: &str,
    freq_hz: u32,
    seconds: u32,
    codec: &[&str],
    content_type: &str,
    format: &str,
) -> std::process::Child {
    std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "sine=frequency={freq_hz}:duration={seconds}:sample_rate=44100"
        ))
        .args(codec)
        .args(["-content_type", content_type, "-f", format])
        .arg(format!(
            "icecast://source:{stream_key}@127.0.0.1:{}/live/{stream_key}",
            port_of(s)
        ))
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg runs (install ffmpeg)")
}

/// Whether ffmpeg exits cleanly (waited for off the runtime, which serves the daemon).
async fn finished(mut ffmpeg: std::process::Child) -> bool {
    tokio::task::spawn_blocking(move || ffmpeg.wait().unwrap().success())
        .await
        .unwrap()
}

/// `seconds` of `url` decoded to mono 44.1 kHz samples by ffmpeg.
fn decode_url(url: &str, seconds: u32) -> Vec<i16> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i", url, "-t"])
        .arg(seconds.to_string())
        .args(["-f", "s16le", "-ac", "1", "-ar", "44100", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// (frequency, RMS level in dBFS) of `seconds` of `url`, decoded off the runtime.
async fn tone_at(url: &str, seconds: u32) -> (f64, f64) {
    let url = url.to_owned();
    let samples = tokio::task::spawn_blocking(move || decode_url(&url, seconds))
        .await
        .unwrap();
    tone_of(&samples)
}

/// `seconds` of a `freq_hz` sine as MP3 at `kbps`, made by ffmpeg.
async fn sine_mp3(freq_hz: u32, seconds: u32, kbps: u32) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!(
                "sine=frequency={freq_hz}:duration={seconds}:sample_rate=44100"
            ))
            .args([
                "-c:a",
                "libmp3lame",
                "-b:a",
                &format!("{kbps}k"),
                "-f",
                "mp3",
                "-",
            ])
            .output()
            .expect("ffmpeg runs")
            .stdout
    })
    .await
    .unwrap()
}

/// (frequency from zero crossings, RMS level in dBFS) of the samples after the first 0.5 s.
fn tone_of(samples: &[i16]) -> (f64, f64) {
    let s = &samples[samples.len().min(22_050)..];
    assert!(s.len() > 22_050, "only {} samples", samples.len());
    let crossings = s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    let freq = crossings as f64 / 2.0 / (s.len() as f64 / 44_100.0);
    let rms = (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
    (freq, 20.0 * (rms / 32_768.0).log10())
}

#[tokio::test]
async fn a_staff_key_creates_lists_gets_updates_and_deletes_a_channel_with_the_sdks_codes() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let (status, stream, headers) = lp(
        &s,
        Method::POST,
        "/stream",
        Some(&key),
        Some(json!({"name": "gallery-1", "profiles": [], "userTags": {"room": "A", "n": 2.0}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stream}");
    assert_eq!(headers["x-ignored-fields"], "profiles");
    let id = stream["id"].as_str().unwrap().to_owned();
    assert_eq!(stream["name"], "gallery-1");
    assert_eq!(stream["isActive"], false);
    assert_eq!(stream["userTags"]["room"], "A");
    assert!(stream.get("profiles").is_none(), "profiles are omitted");
    assert_eq!(stream["streamKey"].as_str().unwrap().len(), 19);
    let playback = stream["playbackId"].as_str().unwrap();
    assert!(
        stream["playbackUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/live/{playback}.mp3"))
    );

    let (status, list, _) = lp(&s, Method::GET, "/stream?streamsonly=1", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str()),
        "a bare array: {list}"
    );

    let (status, body, _) = lp(
        &s,
        Method::PATCH,
        &format!("/stream/{id}"),
        Some(&key),
        Some(json!({"userTags": {"room": "B"}, "name": "gallery-2"})),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let stream = get_stream(&s, &key, &id).await;
    assert_eq!(
        (&stream["userTags"]["room"], &stream["name"]),
        (&json!("B"), &json!("gallery-2"))
    );

    let (status, _, _) = lp(
        &s,
        Method::DELETE,
        &format!("/stream/{id}/terminate"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        get_stream(&s, &key, &id).await["lastTerminatedAt"]
            .as_i64()
            .is_some()
    );
    let (status, _, _) = lp(
        &s,
        Method::DELETE,
        &format!("/stream/{id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = lp(&s, Method::GET, &format!("/stream/{id}"), Some(&key), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"errors": ["not found"]}))
    );
    let (status, body, _) = lp(
        &s,
        Method::PATCH,
        &format!("/stream/{id}"),
        Some(&key),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"errors": ["not found"]}))
    );
}

#[tokio::test]
async fn only_a_staff_bearer_key_may_manage_channels() {
    let s = TestServer::start().await;
    let (status, body, headers) = lp(&s, Method::GET, "/stream", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["errors"][0].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, _, _) = lp(&s, Method::GET, "/stream", Some("not-a-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, device) = s.device_token("visitor-phone").await;
    let (status, body, _) = lp(
        &s,
        Method::POST,
        "/stream",
        Some(&device),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(s.scalar("SELECT count(*) FROM channels").await, 0);
}

#[tokio::test]
async fn what_the_box_cannot_honour_is_a_422_naming_the_field_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    for (body, field) in [
        (
            json!({"name": "a", "playbackPolicy": {"type": "jwt"}}),
            "playbackPolicy",
        ),
        (json!({"name": 5}), "name"),
        (json!({}), "name"),
        (
            json!({"name": "a", "pull": {"source": "rtmp://x/y"}}),
            "pull.source",
        ),
        (
            json!({"name": "a", "userTags": {"x": {"deep": 1}}}),
            "userTags.x",
        ),
        (
            json!({"name": "a", "multistream": {"targets": [{"profile": "source", "videoOnly": true, "spec": {"url": "icecast://u:p@h:1/m"}}]}}),
            "multistream.targets[0].videoOnly",
        ),
        (json!({"name": "a", "suspended": "yes"}), "suspended"),
    ] {
        let (status, reply, _) =
            lp(&s, Method::POST, "/stream", Some(&key), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {reply}");
        let message = reply["errors"][0].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body} → {message}"
        );
    }
    let (status, reply, _) = lp(&s, Method::POST, "/stream", Some(&key), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(s.scalar("SELECT count(*) FROM channels").await, 0);
}

#[tokio::test]
async fn other_livepeer_areas_answer_501_and_unknown_paths_404() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    for path in [
        "/asset",
        "/webhook",
        "/room",
        "/generate/text-to-image",
        "/access-control/signing-key",
    ] {
        let (status, body, _) = lp(&s, Method::GET, path, Some(&key), None).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{path}");
        assert_eq!(body, json!({"errors": ["not supported on this appliance"]}));
    }
    let (status, body, _) = lp(&s, Method::GET, "/no-such-thing", Some(&key), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"errors": ["not found"]}))
    );
}

#[tokio::test]
async fn ffmpeg_pushes_a_tone_that_plays_back_at_the_playback_url_and_the_channel_counts_it() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "guide"})).await;
    let (id, stream_key) = (
        stream["id"].as_str().unwrap(),
        stream["streamKey"].as_str().unwrap(),
    );
    let playback = stream["playbackUrl"].as_str().unwrap().to_owned();
    // Idle: nothing to play yet.
    assert_eq!(
        s.client.get(&playback).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let ffmpeg = push_tone(&s, stream_key, 1000, 8);
    let live = wait_active(&s, &key, id, true, Duration::from_secs(5)).await;
    assert!(live["lastSeen"].as_i64().unwrap() > 0);

    let started = Instant::now();
    let head = s.client.get(&playback).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "audio/mpeg");
    assert_eq!(head.headers()["icy-br"], "128");
    drop(head);
    let (freq, level_db) = tone_at(&playback, 3).await;
    assert!(
        (freq - 1000.0).abs() < 15.0,
        "the tone pushed in comes out: {freq} Hz"
    );
    // lavfi's sine is at 1/8 of full scale: -18 dBFS peak, -21 dBFS RMS.
    assert!(
        (level_db + 21.0).abs() < 1.5,
        "at its level: {level_db} dBFS"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "played in real time"
    );

    assert!(finished(ffmpeg).await, "the source finished cleanly");
    let idle = wait_active(&s, &key, id, false, Duration::from_secs(5)).await;
    let seconds = idle["sourceSegmentsDuration"].as_f64().unwrap();
    assert!(
        (seconds - 8.0).abs() < 0.2,
        "8 s of audio counted: {seconds}"
    );
    let bytes = idle["sourceBytes"].as_u64().unwrap();
    assert!(
        (120_000..140_000).contains(&bytes),
        "8 s at 128 kbps: {bytes} bytes"
    );
}

/// A raw source request on a fresh connection; returns the first answer line.
async fn source_request(
    s: &TestServer,
    head: &str,
    body: &[u8],
) -> (String, tokio::net::TcpStream) {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port_of(s)))
        .await
        .unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    (text, tcp)
}

fn put_head(key: &str, password: &str) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("source:{password}"));
    format!(
        "PUT /live/{key} HTTP/1.1\r\nHost: box\r\nAuthorization: Basic {auth}\r\nContent-Type: audio/mpeg\r\n\r\n"
    )
}

#[tokio::test]
async fn wrong_keys_a_second_source_and_a_suspended_channel_are_refused_by_status() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "desk"})).await;
    let (id, stream_key) = (
        stream["id"].as_str().unwrap(),
        stream["streamKey"].as_str().unwrap(),
    );

    let (answer, _) = source_request(&s, &put_head(stream_key, "wrong"), b"").await;
    assert!(answer.starts_with("HTTP/1.0 401"), "{answer}");
    assert!(answer.contains("WWW-Authenticate: Basic"), "{answer}");
    let (answer, _) = source_request(&s, &put_head("nosuchkey", "nosuchkey"), b"").await;
    assert!(answer.starts_with("HTTP/1.0 401"), "{answer}");
    let (answer, _) = source_request(
        &s,
        &put_head(stream_key, stream_key).replace("audio/mpeg", "video/mp4"),
        b"",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.0 415") && answer.contains("push MP3"),
        "{answer}"
    );

    // The legacy SOURCE method goes live too; a second source is 409 while it is.
    let legacy = put_head(stream_key, stream_key)
        .replacen("PUT", "SOURCE", 1)
        .replace("HTTP/1.1", "HTTP/1.0");
    let (answer, first) = source_request(&s, &legacy, b"").await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    wait_active(&s, &key, id, true, Duration::from_secs(2)).await;
    let (answer, _) = source_request(&s, &put_head(stream_key, stream_key), b"").await;
    assert!(
        answer.starts_with("HTTP/1.0 409") && answer.contains("already live"),
        "{answer}"
    );

    // Suspending ends the live source and refuses the next.
    let (status, _, _) = lp(
        &s,
        Method::PATCH,
        &format!("/stream/{id}"),
        Some(&key),
        Some(json!({"suspended": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_active(&s, &key, id, false, Duration::from_secs(2)).await;
    drop(first);
    let (answer, _) = source_request(&s, &put_head(stream_key, stream_key), b"").await;
    assert!(
        answer.starts_with("HTTP/1.0 403") && answer.contains("suspended"),
        "{answer}"
    );
    // Ordinary HTTP on the same port is untouched.
    assert_eq!(s.get("/api/2/", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_source_that_sends_garbage_is_dropped_and_the_channel_goes_idle() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "noise"})).await;
    let (id, stream_key) = (
        stream["id"].as_str().unwrap(),
        stream["streamKey"].as_str().unwrap(),
    );
    let (answer, mut tcp) = source_request(&s, &put_head(stream_key, stream_key), b"").await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    let junk = b"<html>this is a web page, not audio</html>\n".repeat(2_000);
    let _ = tcp.write_all(&junk).await;
    // The box hangs up on it.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the junk source was not dropped");
    let idle = wait_active(&s, &key, id, false, Duration::from_secs(2)).await;
    assert_eq!(idle["sourceSegmentsDuration"], 0.0);
}

/// Serves `body` as `audio/mpeg` to every GET on a loopback port; returns the URL and the
/// request heads it received.
async fn serve_mp3(body: Vec<u8>) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    serve_audio(body, "audio/mpeg").await
}

/// Serves `body` as `content_type` to every GET on a loopback port; returns the URL and the
/// request heads it received.
async fn serve_audio(
    body: Vec<u8>,
    content_type: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/radio.mp3", listener.local_addr().unwrap());
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let n = tcp.read(&mut head).await.unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head[..n]).to_string());
                let head = format!("HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\n\r\n");
                let _ = tcp.write_all(head.as_bytes()).await;
                let _ = tcp.write_all(&body).await;
            });
        }
    });
    (url, heads)
}

#[tokio::test]
async fn a_pull_channel_relays_another_servers_mp3_with_its_headers_until_terminated() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let mp3 = sine_mp3(660, 20, 96).await;
    let (url, heads) = serve_mp3(mp3).await;
    let stream = create(
        &s,
        &key,
        json!({"name": "radio", "pull": {"source": url, "headers": {"X-Station-Key": "k1"}}}),
    )
    .await;
    assert!(
        stream.get("streamKey").is_none(),
        "a pull channel has no key"
    );
    let id = stream["id"].as_str().unwrap();
    wait_active(&s, &key, id, true, Duration::from_secs(5)).await;
    let first_head = heads.lock().unwrap().first().cloned().unwrap_or_default();
    assert!(
        first_head
            .to_ascii_lowercase()
            .contains("x-station-key: k1"),
        "{first_head}"
    );
    let playback = stream["playbackUrl"].as_str().unwrap().to_owned();
    let (freq, _) = tone_at(&playback, 3).await;
    assert!(
        (freq - 660.0).abs() < 15.0,
        "the pulled tone plays: {freq} Hz"
    );

    let (status, _, _) = lp(
        &s,
        Method::DELETE,
        &format!("/stream/{id}/terminate"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_active(&s, &key, id, false, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get_stream(&s, &key, id).await["isActive"],
        false,
        "a terminated pull stays off"
    );
    let (status, _, _) = lp(
        &s,
        Method::POST,
        &format!("/stream/{id}/start-pull"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_active(&s, &key, id, true, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_unreachable_pull_source_is_an_issue_of_the_channel_and_start_pull_needs_one() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x.mp3", closed.local_addr().unwrap());
    drop(closed);
    let stream = create(&s, &key, json!({"name": "gone", "pull": {"source": url}})).await;
    let id = stream["id"].as_str().unwrap();
    let (issue, st) = wait_issue(&s, &key, id).await;
    assert!(issue.contains("cannot be played"), "{issue}");
    assert_eq!(st["isHealthy"], false);
    let push = create(&s, &key, json!({"name": "push"})).await;
    let (status, body, _) = lp(
        &s,
        Method::POST,
        &format!("/stream/{}/start-pull", push["id"].as_str().unwrap()),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"errors": ["stream does not have a pull source"]})
    );
}

#[tokio::test]
async fn channels_and_their_counters_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), "").await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "kept", "userTags": {"a": 1}})).await;
    let id = stream["id"].as_str().unwrap().to_owned();
    let ffmpeg = push_tone(&s, stream["streamKey"].as_str().unwrap(), 440, 2);
    assert!(finished(ffmpeg).await);
    let before = wait_active(&s, &key, &id, false, Duration::from_secs(5)).await;
    s.stop().await;

    let s = TestServer::start_in(dir.path(), "").await;
    let key = s.staff_token().await;
    let after = get_stream(&s, &key, &id).await;
    for field in [
        "name",
        "streamKey",
        "playbackId",
        "userTags",
        "createdAt",
        "sourceBytes",
        "sourceSegmentsDuration",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert!(after["sourceBytes"].as_u64().unwrap() > 20_000);
}

/// A real Icecast (Debian's icecast2) on a free loopback port with source password
/// `hackme`; stopped when dropped.
struct Icecast {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Icecast {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_icecast() -> Icecast {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Icecast drops root for `nobody` (it refuses to run as root), which must write its logs.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        == b"0\n";
    let port = free_port();
    let owner = if root {
        "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
    } else {
        ""
    };
    let config = format!(
        "<icecast><limits><sources>4</sources><clients>100</clients></limits>\
         <authentication><source-password>hackme</source-password><admin-user>admin</admin-user>\
         <admin-password>adminpw</admin-password></authentication><hostname>127.0.0.1</hostname>\
         <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>\
         <paths><basedir>/usr/share/icecast2</basedir><logdir>{log}</logdir>\
         <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>\
         <logging><errorlog>error.log</errorlog><accesslog>access.log</accesslog><loglevel>2</loglevel></logging>\
         <security><chroot>0</chroot>{owner}</security></icecast>",
        log = dir.path().display()
    );
    let path = dir.path().join("icecast.xml");
    std::fs::write(&path, config).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let child = std::process::Command::new("icecast2")
        .arg("-c")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("icecast2 runs (bash tests/install-deps.sh test installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "icecast2 did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Icecast {
        child,
        port,
        _dir: dir,
    }
}

/// The state the Stream shows for its first target, once `pred` holds.
async fn wait_target(s: &TestServer, key: &str, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let stream = get_stream(s, key, id).await;
        let state = stream["multistream"]["targets"][0]["state"].clone();
        if pred(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "target state never matched: {stream}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_live_channel_is_pushed_on_to_icecast_and_the_tone_pushed_in_comes_out_there() {
    let ice = start_icecast().await;
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let target_url = format!("icecast://source:hackme@127.0.0.1:{}/box.mp3", ice.port);
    let stream = create(
        &s,
        &key,
        json!({"name": "concert", "multistream": {"targets": [
            {"profile": "source", "videoOnly": false, "spec": {"name": "public radio", "url": target_url}}]}}),
    )
    .await;
    let id = stream["id"].as_str().unwrap().to_owned();
    let target_id = stream["multistream"]["targets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !stream.to_string().contains("hackme"),
        "the secret is never answered"
    );
    let (status, targets, _) = lp(&s, Method::GET, "/multistream/target", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(targets[0]["name"], "public radio");
    assert!(!targets.to_string().contains("hackme"));

    let ffmpeg = push_tone(&s, stream["streamKey"].as_str().unwrap(), 1000, 8);
    wait_target(&s, &key, &id, |st| st["connected"] == true).await;
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(&format!(
            "roundwared_channel_target_connected{{channel=\"{id}\",target=\"{target_id}\"}} 1"
        )),
        "{metrics}"
    );
    let relay = format!("http://127.0.0.1:{}/box.mp3", ice.port);
    let (freq, level_db) = tone_at(&relay, 3).await;
    assert!(
        (freq - 1000.0).abs() < 15.0,
        "Icecast plays the tone pushed in: {freq} Hz"
    );
    assert!(
        (level_db + 21.0).abs() < 1.5,
        "at its level: {level_db} dBFS"
    );
    assert!(finished(ffmpeg).await);
    wait_active(&s, &key, &id, false, Duration::from_secs(5)).await;

    // A wrong password: the target's state says so, the channel plays on for its listeners.
    let (status, _, _) = lp(
        &s,
        Method::PATCH,
        &format!("/multistream/target/{target_id}"),
        Some(&key),
        Some(json!({"url": format!("icecast://source:wrong@127.0.0.1:{}/box.mp3", ice.port)})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ffmpeg = push_tone(&s, stream["streamKey"].as_str().unwrap(), 500, 4);
    let state = wait_target(&s, &key, &id, |st| st["lastError"].is_string()).await;
    let error = state["lastError"].as_str().unwrap();
    assert!(
        error.contains("401") && !error.contains("wrong@"),
        "{error}"
    );
    assert!(get_stream(&s, &key, &id).await["isActive"] == true);
    assert!(finished(ffmpeg).await);

    // Removing it from the stream: 204, and gone from the Stream.
    let (status, _, _) = lp(
        &s,
        Method::DELETE,
        &format!("/stream/{id}/multistream/{target_id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get_stream(&s, &key, &id).await["multistream"]["targets"],
        json!([])
    );
}

#[tokio::test]
async fn a_recorded_session_is_an_mp3_of_what_was_pushed_listed_in_its_sessions_and_goes_with_its_channel()
 {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "concert", "record": true})).await;
    assert_eq!(stream["record"], true);
    let id = stream["id"].as_str().unwrap().to_owned();
    let ffmpeg = push_tone(&s, stream["streamKey"].as_str().unwrap(), 1000, 4);
    wait_active(&s, &key, &id, true, Duration::from_secs(5)).await;
    // Not changeable while live (Studio's rule).
    let (status, body, _) = lp(
        &s,
        Method::PATCH,
        &format!("/stream/{id}"),
        Some(&key),
        Some(json!({"record": false})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(finished(ffmpeg).await);
    wait_active(&s, &key, &id, false, Duration::from_secs(5)).await;

    let (status, sessions, _) = lp(
        &s,
        Method::GET,
        &format!("/stream/{id}/sessions?record=1"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let session = &sessions[0];
    assert_eq!(session["parentId"], id.as_str());
    assert_eq!(session["recordingStatus"], "ready", "{session}");
    let url = session["recordingUrl"].as_str().unwrap().to_owned();
    assert!(url.contains("/rwmedia/recordings/"), "{url}");
    let (status, one, _) = lp(
        &s,
        Method::GET,
        &format!("/session/{}", session["id"].as_str().unwrap()),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        (status, &one["recordingUrl"]),
        (StatusCode::OK, &json!(url))
    );

    // The file is the session: 4 s of the 1 kHz tone (± a frame), and nothing half-written.
    let seconds = probe_seconds(&url).await;
    assert!((seconds - 4.0).abs() < 0.1, "recorded {seconds} s");
    assert!((tone_at(&url, 3).await.0 - 1000.0).abs() < 15.0);
    let dir = s.data_dir().join("media/recordings");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "no part left beside it: {names:?}");

    let (status, _, _) = lp(
        &s,
        Method::DELETE,
        &format!("/stream/{id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "the recording went with its channel"
    );
    assert_eq!(
        s.client.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_recording_cut_off_by_a_crash_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), "").await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "cut", "record": true})).await;
    let id = stream["id"].as_str().unwrap().to_owned();
    s.stop().await;
    // What a power cut mid-session leaves: the session row still waiting, and its part file.
    let mp3 = sine_mp3(440, 2, 128).await;
    let recordings = dir.path().join("media/recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    std::fs::write(recordings.join(".s1.mp3.part"), &mp3).unwrap();
    let s = TestServer::start_in(dir.path(), "").await;
    s.sql(&format!(
        "INSERT INTO channel_sessions (id, channel_id, started_ms, record, recording_status) \
         VALUES ('s1', '{id}', 1700000000000, 1, 'waiting')"
    ))
    .await;
    s.stop().await;
    let s = TestServer::start_in(dir.path(), "").await;
    let key = s.staff_token().await;
    let (_, session, _) = lp(&s, Method::GET, "/session/s1", Some(&key), None).await;
    assert_eq!(session["recordingStatus"], "ready", "{session}");
    let got = s
        .client
        .get(session["recordingUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.bytes().await.unwrap().len(),
        mp3.len(),
        "what was written plays"
    );
}

/// `POST /clip` with `key` (Bearer).
async fn clip(s: &TestServer, key: &str, body: Value) -> (StatusCode, Value) {
    let (status, v, _) = lp(s, Method::POST, "/clip", Some(key), Some(body)).await;
    (status, v)
}

/// The duration ffprobe reads of `url`.
async fn probe_seconds(url: &str) -> f64 {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                &url,
            ])
            .output()
            .expect("ffprobe runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(-1.0)
    })
    .await
    .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn a_clip_of_a_live_channel_is_the_exact_window_asked_for_and_a_bad_window_says_what_is_there()
 {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "guide"})).await;
    let (id, playback) = (
        stream["id"].as_str().unwrap(),
        stream["playbackId"].as_str().unwrap(),
    );
    let ffmpeg = push_tone(&s, stream["streamKey"].as_str().unwrap(), 1000, 8);
    wait_active(&s, &key, id, true, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let now = now_ms();
    let (status, body) = clip(
        &s,
        &key,
        json!({"playbackId": playback, "startTime": (now - 3500) as f64, "endTime": (now - 1000) as f64, "name": "my visit"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let asset = &body["asset"];
    assert!(body["task"]["id"].is_string());
    assert_eq!(
        (&asset["type"], &asset["name"]),
        (&json!("audio"), &json!("my visit"))
    );
    assert_eq!(asset["source"]["type"], "clip");
    let url = asset["downloadUrl"].as_str().unwrap().to_owned();
    let seconds = probe_seconds(&url).await;
    assert!(
        (seconds - 2.5).abs() <= 0.03,
        "the 2.5 s window ± one frame: {seconds} s"
    );
    assert!(
        (tone_at(&url, 2).await.0 - 1000.0).abs() < 15.0,
        "it holds the channel's tone"
    );

    // Windows the buffer cannot give: Studio's words for an inverted one, the length for a
    // too long one, the available window for one outside it.
    let (status, body) = clip(
        &s,
        &key,
        json!({"playbackId": playback, "startTime": now, "endTime": now - 1000}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": ["endTime must occur after startTime"]})
        )
    );
    let (status, body) = clip(
        &s,
        &key,
        json!({"playbackId": playback, "startTime": now - 200_000, "endTime": now}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("at most 120000 ms"),
        "{body}"
    );
    let (status, body) = clip(
        &s,
        &key,
        json!({"playbackId": playback, "startTime": now - 60_000, "endTime": now - 50_000}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("the available window is"),
        "{body}"
    );
    let (status, body) = clip(
        &s,
        &key,
        json!({"playbackId": "nosuchplayback", "startTime": now - 2000}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"errors": ["Content not found"]})
        )
    );

    // Listed by the channel's id and by its playback id.
    for by in [id, playback] {
        let (status, list, _) = lp(
            &s,
            Method::GET,
            &format!("/stream/{by}/clips"),
            Some(&key),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    }
    assert!(finished(ffmpeg).await);
}

#[tokio::test]
async fn a_visitor_keeps_the_last_seconds_of_their_own_personal_stream_and_no_one_elses() {
    let s = TestServer::start_with_demo().await;
    let (_, token) = s.device_token("clip-phone").await;
    let session = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            json!({"project_id": 1, "geo_listen_enabled": false}),
        )
        .await;
    let sid = session.ok()["id"].as_i64().unwrap();
    let opened = s
        .post("/api/2/streams/", Some(&token), json!({"session_id": sid}))
        .await;
    let playback = opened.ok()["playback_id"].as_str().unwrap().to_owned();
    assert!(
        playback.starts_with("rw-") && playback.len() > 12,
        "{playback}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let now = now_ms();
    let body = json!({"playbackId": playback, "startTime": (now - 3000) as f64, "endTime": (now - 500) as f64});
    let (_, other) = s.device_token("someone-else").await;
    let (status, reply) = clip(&s, &other, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    let (status, reply) = clip(&s, &token, body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let seconds = probe_seconds(reply["asset"]["downloadUrl"].as_str().unwrap()).await;
    assert!((seconds - 2.5).abs() <= 0.03, "{seconds} s");
}

#[tokio::test]
async fn a_speaker_naming_a_channel_of_this_box_plays_it_in_process_without_an_http_request() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stream = create(&s, &key, json!({"name": "guide"})).await;
    let ffmpeg = push_tone(&s, stream["streamKey"].as_str().unwrap(), 1000, 12);
    wait_active(
        &s,
        &key,
        stream["id"].as_str().unwrap(),
        true,
        Duration::from_secs(5),
    )
    .await;
    // A project whose one speaker, everywhere, is the guide's channel on this box.
    s.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date, listen_enabled, geo_listen_enabled)
           VALUES (2, 'Guide', 0, 0, '2020-01-01T00:00:00.000000', 1, 0);
         INSERT INTO project_languages VALUES (2, 1);",
    )
    .await;
    let sp = s
        .post(
            "/api/2/speakers/",
            Some(&key),
            json!({"project_id": 2, "activeyn": true, "maxvolume": 1.0, "minvolume": 0.0,
                   "uri": stream["playbackUrl"], "attenuation_distance": 10,
                   "shape": {"type": "MultiPolygon", "coordinates": [[[[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]]]]}}),
        )
        .await;
    assert_eq!(sp.status, StatusCode::OK, "{}", sp.body);
    let (_, token) = s.device_token("guide-listener").await;
    let session = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": 2}))
        .await;
    let sid = session.ok()["id"].as_i64().unwrap();
    let r = s
        .post("/api/2/streams/", Some(&token), json!({"session_id": sid}))
        .await;
    let url = r.ok()["stream_url"].as_str().unwrap().to_owned();
    // The speaker's reader starts a second behind the channel, after the stream resolved it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (freq, _) = tone_at(&url, 4).await;
    assert!(
        (freq - 1000.0).abs() < 20.0,
        "the listener hears the guide: {freq} Hz"
    );
    let metrics = s.metrics().await;
    assert!(
        !metrics.contains("route=\"/live/{file}\""),
        "the box never asked itself for the channel over HTTP"
    );
    assert!(finished(ffmpeg).await);
}

#[tokio::test]
async fn ogg_vorbis_and_aac_sources_are_relayed_as_mp3_with_their_tone() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    for (codec, content_type, format, freq) in [
        (
            &["-c:a", "libvorbis", "-b:a", "96k"][..],
            "audio/ogg",
            "ogg",
            700,
        ),
        (
            &["-c:a", "aac", "-b:a", "96k"][..],
            "audio/aac",
            "adts",
            1200,
        ),
    ] {
        let stream = create(&s, &key, json!({"name": content_type})).await;
        let id = stream["id"].as_str().unwrap();
        let ffmpeg = push_tone_as(
            &s,
            stream["streamKey"].as_str().unwrap(),
            freq,
            8,
            codec,
            content_type,
            format,
        );
        wait_active(&s, &key, id, true, Duration::from_secs(5)).await;
        let playback = stream["playbackUrl"].as_str().unwrap().to_owned();
        let head = s.client.get(&playback).send().await.unwrap();
        assert_eq!(
            head.headers()["content-type"],
            "audio/mpeg",
            "{content_type} is heard as MP3"
        );
        assert_eq!(head.headers()["icy-br"], "128");
        drop(head);
        let (heard, level_db) = tone_at(&playback, 3).await;
        assert!(
            (heard - f64::from(freq)).abs() < 15.0,
            "{content_type}: {heard} Hz"
        );
        assert!(
            (level_db + 21.0).abs() < 1.5,
            "{content_type}: {level_db} dBFS"
        );
        assert!(finished(ffmpeg).await, "{content_type}");
        let idle = wait_active(&s, &key, id, false, Duration::from_secs(5)).await;
        let seconds = idle["sourceSegmentsDuration"].as_f64().unwrap();
        assert!(
            (seconds - 8.0).abs() < 0.5,
            "{content_type}: {seconds} s counted"
        );
    }
}

#[tokio::test]
async fn a_pull_source_in_ogg_vorbis_is_relayed_as_mp3() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let ogg = tokio::task::spawn_blocking(|| {
        std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("sine=frequency=880:duration=20:sample_rate=48000")
            .args(["-c:a", "libvorbis", "-f", "ogg", "-"])
            .output()
            .expect("ffmpeg runs")
            .stdout
    })
    .await
    .unwrap();
    let (url, _) = serve_audio(ogg, "audio/ogg").await;
    let stream = create(
        &s,
        &key,
        json!({"name": "ogg radio", "pull": {"source": url}}),
    )
    .await;
    wait_active(
        &s,
        &key,
        stream["id"].as_str().unwrap(),
        true,
        Duration::from_secs(5),
    )
    .await;
    let (heard, _) = tone_at(stream["playbackUrl"].as_str().unwrap(), 3).await;
    assert!((heard - 880.0).abs() < 15.0, "{heard} Hz");
}

#[tokio::test]
async fn a_source_that_stalls_is_dropped_after_ten_seconds_and_the_channel_beside_it_plays_on() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stalled = create(&s, &key, json!({"name": "stalls"})).await;
    let other = create(&s, &key, json!({"name": "plays on"})).await;
    let stalled_key = stalled["streamKey"].as_str().unwrap();
    // A source that sends half a second of audio and then nothing, holding its connection.
    let mp3 = sine_mp3(500, 1, 128).await;
    let (answer, mut tcp) =
        source_request(&s, &put_head(stalled_key, stalled_key), &mp3[..8_000]).await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    let ffmpeg = push_tone(&s, other["streamKey"].as_str().unwrap(), 1000, 16);
    let id = stalled["id"].as_str().unwrap();
    wait_active(&s, &key, id, true, Duration::from_secs(3)).await;
    let went_live = Instant::now();
    wait_active(&s, &key, id, false, Duration::from_secs(14)).await;
    let after = went_live.elapsed();
    assert!(
        after >= Duration::from_secs(9),
        "dropped after {after:?}, not before the timeout"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the box hung up on the stalled source");
    // The other channel was never disturbed.
    let playing = get_stream(&s, &key, other["id"].as_str().unwrap()).await;
    assert_eq!(playing["isActive"], true);
    let (freq, _) = tone_at(playing["playbackUrl"].as_str().unwrap(), 2).await;
    assert!((freq - 1000.0).abs() < 15.0, "{freq} Hz");
    assert!(finished(ffmpeg).await);
}

#[tokio::test]
async fn a_pull_source_that_is_a_web_page_is_an_issue_naming_its_type() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let (url, _) = serve_audio(b"<html>not a radio</html>".to_vec(), "text/html").await;
    let stream = create(&s, &key, json!({"name": "page", "pull": {"source": url}})).await;
    let id = stream["id"].as_str().unwrap();
    let (issue, st) = wait_issue(&s, &key, id).await;
    assert!(issue.contains("text/html"), "{issue}");
    assert_eq!(st["isActive"], false);
}

#[tokio::test]
async fn channels_targets_sessions_clips_and_their_media_survive_backup_and_restore() {
    let s = TestServer::start().await;
    let key = s.staff_token().await;
    let stream = create(
        &s,
        &key,
        json!({"name": "archive", "record": true, "multistream": {"targets": [
            {"profile": "source", "spec": {"url": "icecast://source:pw@127.0.0.1:9/m.mp3", "name": "radio"}}]}}),
    )
    .await;
    let id = stream["id"].as_str().unwrap().to_owned();
    let ffmpeg = push_tone(&s, stream["streamKey"].as_str().unwrap(), 1000, 4);
    wait_active(&s, &key, &id, true, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = now_ms();
    let (status, clipped) = clip(
        &s,
        &key,
        json!({"playbackId": stream["playbackId"], "startTime": now - 2000, "endTime": now - 500}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{clipped}");
    assert!(finished(ffmpeg).await);
    wait_active(&s, &key, &id, false, Duration::from_secs(5)).await;
    let backup_dir = tempfile::tempdir().unwrap();
    let dest = backup_dir.path().join("box.backup");
    let config = crate::support::test_config(s.data_dir(), "");
    roundwared::backup::backup(&config, &dest).expect("backup");

    let restored_dir = tempfile::tempdir().unwrap();
    let restored_config = crate::support::test_config(restored_dir.path(), "");
    roundwared::backup::restore(&restored_config, &dest, false).expect("restore");
    let r = TestServer::start_in(restored_dir.path(), "").await;
    let key = r.staff_token().await;
    let back = get_stream(&r, &key, &id).await;
    assert_eq!(back["streamKey"], stream["streamKey"]);
    assert_eq!(
        back["multistream"]["targets"][0]["id"],
        stream["multistream"]["targets"][0]["id"]
    );
    let (_, sessions, _) = lp(
        &r,
        Method::GET,
        &format!("/stream/{id}/sessions"),
        Some(&key),
        None,
    )
    .await;
    let recording = sessions[0]["recordingUrl"]
        .as_str()
        .unwrap()
        .replace(&s.base, &r.base);
    assert!(
        (probe_seconds(&recording).await - 4.0).abs() < 0.1,
        "the recording came along"
    );
    let (_, clips, _) = lp(
        &r,
        Method::GET,
        &format!("/stream/{id}/clips"),
        Some(&key),
        None,
    )
    .await;
    let clip_url = clips[0]["downloadUrl"].as_str().unwrap().to_owned();
    let original = s
        .client
        .get(clipped["asset"]["downloadUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let restored = r
        .client
        .get(&clip_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(restored, original, "the clip came along, byte for byte");
}
