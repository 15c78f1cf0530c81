//! `/api/2/streams/` over real HTTP against a real daemon: creation, reuse and teardown, the
//! reference's answers (out of range, demo, control calls), bad input, logged events, and the
//! MP3 stream itself read from the socket and checked with ffprobe/ffmpeg.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{REFERENCE_FIXTURE, TestServer};

/// A 220 Hz sine WAV (PCM16, 44.1 kHz, mono) in the server's media folder.
fn bed(s: &TestServer, name: &str, seconds: f64, amp: f32) {
    let frames = (seconds * 44_100.0) as usize;
    let samples = (0..frames)
        .map(|i| (i as f32 * 220.0 * std::f32::consts::TAU / 44_100.0).sin() * amp)
        .collect();
    let pcm = roundwared::testing::media::decode::Pcm {
        rate: 44_100,
        channels: 1,
        samples,
    };
    let dir = s.data_dir().join("media");
    std::fs::write(
        dir.join(name),
        roundwared::testing::media::encode::wav16(&pcm),
    )
    .expect("bed");
}

/// A project with listening on, geo listening on, no audiotracks, and one speaker zone (a
/// square of about 220 m around (0, 0), attenuation 10 m) playing `bed.wav`.
async fn walk_project(s: &TestServer) -> (String, i64) {
    bed(s, "bed.wav", 3.0, 0.5);
    s.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date, listen_enabled, geo_listen_enabled, recording_radius)
         VALUES (1, 'Walk', 0, 0, '2020-01-01T00:00:00.000000', 1, 1, 10);
         INSERT INTO project_languages VALUES (1, 1);",
    )
    .await;
    let staff = s.staff_token().await;
    let r = s
        .post(
            "/api/2/speakers/",
            Some(&staff),
            json!({"project_id": 1, "activeyn": true, "maxvolume": 1.0, "minvolume": 0.0,
                   "uri": "/rwmedia/bed.wav", "attenuation_distance": 10,
                   "shape": {"type": "MultiPolygon", "coordinates": [[[[-0.001, -0.001], [0.001, -0.001], [0.001, 0.001], [-0.001, 0.001], [-0.001, -0.001]]]]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, token) = s.device_token("walker").await;
    let session = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": 1}))
        .await;
    let sid = session.ok()["id"].as_i64().expect("session id");
    (token, sid)
}

/// Reads a live stream for `seconds` of wall time, running `during` after `at` seconds.
async fn capture<F, Fut>(
    url: &str,
    icy: bool,
    seconds: f64,
    at: f64,
    during: F,
) -> (reqwest::header::HeaderMap, Vec<u8>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if icy {
        req = req.header("Icy-MetaData", "1");
    }
    let mut resp = req.send().await.expect("stream answers");
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers().clone();
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut during = Some(during);
    while start.elapsed().as_secs_f64() < seconds {
        if start.elapsed().as_secs_f64() >= at
            && let Some(f) = during.take()
        {
            f().await;
        }
        match tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await {
            Ok(Ok(Some(c))) => bytes.extend_from_slice(&c),
            Ok(_) => break,
            Err(_) => {}
        }
    }
    (headers, bytes)
}

/// Decodes MP3 bytes with ffmpeg to interleaved stereo f32 at 44.1 kHz.
fn decode(mp3: &[u8], dir: &Path) -> Vec<f32> {
    let input = dir.join("cap.mp3");
    std::fs::write(&input, mp3).expect("write capture");
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&input)
        .args(["-f", "f32le", "-ac", "2", "-ar", "44100", "-"])
        .output()
        .expect("ffmpeg runs (installed by the test command)");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "every frame decodes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn rms_windows(stereo: &[f32], window_s: f64) -> Vec<f32> {
    let n = (window_s * 44_100.0) as usize * 2;
    stereo
        .chunks_exact(n)
        .map(|w| (w.iter().map(|s| s * s).sum::<f32>() / n as f32).sqrt())
        .collect()
}

async fn reference() -> (TestServer, String) {
    let s = TestServer::with_reference_fixture().await;
    s.sql("UPDATE projects SET listen_enabled = 1; UPDATE assets SET filename = NULL;")
        .await;
    // The visitor whose session 1 is: only they (or staff) steer its stream.
    let (_, token) = s.device_token(crate::support::FIXTURE_DEVICE).await;
    (s, token)
}

async fn event_types(s: &TestServer, session: i64) -> Vec<String> {
    let sql = format!("SELECT event_type FROM events WHERE session_id = {session} ORDER BY id");
    s.store
        .read(move |c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("events")
}

#[tokio::test]
async fn a_stream_is_created_reused_controlled_and_killed() {
    let (s, token) = reference().await;
    let t = Some(token.as_str());
    let r = s.post("/api/2/streams/", t, json!({"session_id": 1})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["stream_id"], 1);
    let url = r.body["stream_url"].as_str().expect("url").to_string();
    assert_eq!(url, s.url("/stream1.mp3"));
    let again = s
        .post("/api/2/streams/", t, json!({"session_id": "1"}))
        .await;
    assert_eq!(
        again.body["stream_url"],
        url.as_str(),
        "a second POST reuses the stream"
    );
    assert_eq!(
        s.get("/api/2/streams/1/isactive/", t).await.body,
        json!({"stream_id": 1, "active": true})
    );

    let first = reqwest::get(&url).await.expect("stream");
    assert_eq!(first.headers()["content-type"], "audio/mpeg");
    let mut first = first;
    let chunk = first.chunk().await.expect("body").expect("bytes");
    assert_eq!(chunk[0], 0xFF, "the first byte is an MP3 frame sync");
    assert_eq!(chunk[1] & 0xE0, 0xE0);

    for op in ["skipasset", "skip", "pause", "resume"] {
        let r = s
            .post(&format!("/api/2/streams/1/{op}/"), t, json!({}))
            .await;
        assert_eq!(r.body, json!({"success": true}), "{op}");
    }
    let hb = s.post("/api/2/streams/1/heartbeat/", t, json!({})).await;
    assert_eq!(hb.status, StatusCode::OK);
    let moved = s
        .form(
            reqwest::Method::PATCH,
            "/api/2/streams/1/",
            t,
            &[
                ("latitude", "0.1"),
                ("longitude", "0.1"),
                ("tag_ids", "undefined"),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let tagged = s
        .patch(
            "/api/2/streams/1/",
            t,
            json!({"tag_ids": "1,2", "latitude": "0.1", "longitude": "0.1"}),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.body);

    let killed = s.post("/api/2/streams/1/kill/", t, json!({})).await;
    assert_eq!(killed.body, json!({"stream_id": 1, "success": true}));
    assert_eq!(
        s.get("/api/2/streams/1/isactive/", t).await.body["active"],
        false
    );
    assert_eq!(
        s.post("/api/2/streams/1/kill/", t, json!({})).await.body["success"],
        false
    );
    let gone = reqwest::get(&url).await.expect("answers");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let skipped = s.post("/api/2/streams/1/skipasset/", t, json!({})).await;
    assert_eq!(skipped.body["success"], false);
    assert!(
        skipped.body["message"]
            .as_str()
            .unwrap()
            .contains("not active")
    );

    let events = event_types(&s, 1).await;
    for e in [
        "request_stream",
        "skip_ahead",
        "pause",
        "resume",
        "heartbeat",
        "move_listener",
        "modify_stream",
        "cleanup_session",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} logged: {events:?}");
    }
    let tags = s
        .scalar(
            "SELECT count(*) FROM events WHERE event_type = 'modify_stream' AND tags LIKE '%1%2%'",
        )
        .await;
    assert_eq!(tags, 1, "modify_stream records the tags");
}

#[tokio::test]
async fn bad_stream_requests_get_a_400_naming_the_problem() {
    let (s, token) = reference().await;
    let t = Some(token.as_str());
    let detail = |r: &crate::support::Reply| r.body.to_string();
    let r = s.post("/api/2/streams/", t, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("session_id"), "{}", r.body);
    let r = s
        .post("/api/2/streams/", t, json!({"session_id": 999}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("session 999"), "{}", r.body);
    let r = s
        .post(
            "/api/2/streams/",
            t,
            json!({"session_id": 1, "project_id": 5}),
        )
        .await;
    assert!(detail(&r).contains("project_id 5"), "{}", r.body);
    let r = s
        .post(
            "/api/2/streams/",
            t,
            json!({"session_id": 1, "audio_stream_bitrate": 100}),
        )
        .await;
    assert!(detail(&r).contains("audio_stream_bitrate"), "{}", r.body);
    let r = s
        .post(
            "/api/2/streams/",
            t,
            json!({"session_id": 1, "latitude": 91, "longitude": 0}),
        )
        .await;
    assert!(r.body["latitude"].is_array(), "{}", r.body);
    s.sql("UPDATE projects SET listen_enabled = 0").await;
    let r = s.post("/api/2/streams/", t, json!({"session_id": 1})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("listen_enabled"), "{}", r.body);
    assert_eq!(
        s.get("/api/2/streams/1/isactive/", t).await.body["active"],
        false
    );
    s.sql("UPDATE projects SET listen_enabled = 1").await;

    let r = s
        .patch(
            "/api/2/streams/1/",
            t,
            json!({"latitude": 0.1, "longitude": 0.1}),
        )
        .await;
    assert!(
        detail(&r).contains("no stream available for session: 1"),
        "{}",
        r.body
    );
    assert_eq!(
        s.post("/api/2/streams/", t, json!({"session_id": 1}))
            .await
            .status,
        StatusCode::OK
    );
    let r = s.patch("/api/2/streams/1/", t, json!({"foo": 1})).await;
    assert!(
        detail(&r).contains("must supply something to update"),
        "{}",
        r.body
    );
    let r = s
        .patch(
            "/api/2/streams/1/",
            t,
            json!({"latitude": "north", "longitude": 0.1}),
        )
        .await;
    assert!(r.body["latitude"].is_array(), "{}", r.body);
    let r = s
        .patch(
            "/api/2/streams/1/",
            t,
            json!({"latitude": 0.1, "longitude": 0.1, "listener_heading": "NaN"}),
        )
        .await;
    assert!(r.body["listener_heading"].is_array(), "{}", r.body);
    let r = s
        .patch(
            "/api/2/streams/1/",
            t,
            json!({"tag_ids": "1", "language": "xx"}),
        )
        .await;
    assert!(detail(&r).contains("language not supported"), "{}", r.body);
    let r = s.post("/api/2/streams/1/playasset/", t, json!({})).await;
    assert!(r.body["asset_id"].is_array(), "{}", r.body);
    s.sql("INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (2, 'Other', 0, 0, '2020-01-01T00:00:00.000000');
           INSERT INTO assets (id, project_id, created, updated, audiolength, filename, language_id) VALUES (30, 2, '2020-01-01T00:00:00.000000', '2020-01-01T00:00:00.000000', 5000000000, 'x.wav', 1);").await;
    let r = s
        .post("/api/2/streams/1/playasset/", t, json!({"asset_id": 30}))
        .await;
    assert!(detail(&r).contains("no asset found"), "{}", r.body);
    let r = s.post("/api/2/streams/1/replayasset/", t, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = s.post("/api/2/streams/77/pause/", t, json!({})).await;
    assert!(detail(&r).contains("session 77"), "{}", r.body);
    // The daemon still serves the stream after all of that.
    assert_eq!(
        s.get("/api/2/streams/1/isactive/", t).await.body["active"],
        true
    );
}

#[tokio::test]
async fn out_of_range_and_demo_answers_follow_the_reference_table() {
    let (s, token) = reference().await;
    let t = Some(token.as_str());
    let post = |lat: &str, lon: &str| json!({"session_id": 1, "latitude": lat, "longitude": lon});
    let inside = s.post("/api/2/streams/", t, post("0.1", "0.1")).await;
    assert_eq!(
        inside.body["stream_url"],
        s.url("/stream1.mp3").as_str(),
        "{}",
        inside.body
    );
    s.post("/api/2/streams/1/kill/", t, json!({})).await;
    // About 940 m east of the speaker's edge: still within the 1000 m out_of_range_distance.
    let near = s.post("/api/2/streams/", t, post("0.1", "0.1095")).await;
    assert_eq!(
        near.body["stream_url"],
        s.url("/stream1.mp3").as_str(),
        "{}",
        near.body
    );
    s.post("/api/2/streams/1/kill/", t, json!({})).await;
    let far = s.post("/api/2/streams/", t, post("-0.1", "0.1")).await;
    assert_eq!(far.body["stream_url"], "http://rw.com:8000/outofrange.mp3");
    assert!(
        far.body["user_message"]
            .as_str()
            .unwrap()
            .starts_with("This application is designed")
    );
    assert_eq!(far.body["stream_id"], 1);
    assert_eq!(
        s.get("/api/2/streams/1/isactive/", t).await.body["active"],
        false
    );
    let no_location = s.post("/api/2/streams/", t, json!({"session_id": 1})).await;
    assert!(
        no_location.body["stream_url"]
            .as_str()
            .unwrap()
            .ends_with("/stream1.mp3")
    );
    s.post("/api/2/streams/1/kill/", t, json!({})).await;
    s.sql("UPDATE sessions SET geo_listen_enabled = 0 WHERE id = 1")
        .await;
    let global = s.post("/api/2/streams/", t, post("-0.1", "0.1")).await;
    assert!(
        global.body["stream_url"]
            .as_str()
            .unwrap()
            .ends_with("/stream1.mp3"),
        "geo off: in range"
    );
    s.post("/api/2/streams/1/kill/", t, json!({})).await;
    s.sql(
        "UPDATE sessions SET geo_listen_enabled = 1 WHERE id = 1; UPDATE speakers SET activeyn = 0",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await; // the catalog follows the store
    let inactive = s.post("/api/2/streams/", t, post("0.1", "0.1")).await;
    assert_eq!(
        inactive.body["stream_url"], "http://rw.com:8000/outofrange.mp3",
        "{}",
        inactive.body
    );
    // Demo: the project's demo message in the session's language.
    s.sql("UPDATE sessions SET demo_stream_enabled = 1").await;
    let (_, es) = s.device_token("fixture-device-es").await;
    let demo = s
        .post("/api/2/streams/", Some(&es), json!({"session_id": 2}))
        .await;
    assert_eq!(demo.body["demo_stream_message"], "Uno");
    assert_eq!(demo.body["stream_url"], s.url("/demo_stream.mp3").as_str());
    let demo_en = s.post("/api/2/streams/", t, json!({"session_id": 1})).await;
    assert_eq!(demo_en.body["demo_stream_message"], "One");
}

#[tokio::test]
async fn a_stream_is_mp3_at_the_requested_bitrate_with_icy_titles_only_on_request() {
    let (s, token) = reference().await;
    let r = s
        .post(
            "/api/2/streams/",
            Some(&token),
            json!({"session_id": 1, "audio_stream_bitrate": "96"}),
        )
        .await;
    let url = r.body["stream_url"].as_str().unwrap().to_string();
    let (headers, plain) = capture(&url, false, 2.5, 99.0, || async {}).await;
    assert!(headers.get("icy-metaint").is_none());
    assert_eq!(headers["icy-br"], "96");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.mp3");
    std::fs::write(&path, &plain).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,sample_rate,channels,bit_rate",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    let info: Value = serde_json::from_slice(&probe.stdout).expect("ffprobe json");
    let stream = &info["streams"][0];
    assert_eq!(stream["codec_name"], "mp3");
    assert_eq!(stream["sample_rate"], "44100");
    assert_eq!(stream["channels"], 2);
    assert_eq!(stream["bit_rate"], "96000");
    let pcm = decode(&plain, dir.path());
    assert!(
        pcm.len() >= 2 * 44_100,
        "at least a second of audio in 2.5 s: {}",
        pcm.len() / 2
    );

    let (headers, icy) = capture(&url, true, 1.5, 99.0, || async {}).await;
    assert_eq!(headers["icy-metaint"], "16000");
    assert!(icy.len() > 16_001, "{}", icy.len());
    let len = usize::from(icy[16_000]) * 16;
    let meta = String::from_utf8_lossy(&icy[16_001..16_001 + len]).to_string();
    assert!(meta.starts_with("StreamTitle='Roundware - "), "{meta}");
}

#[tokio::test]
async fn a_listener_walking_into_a_speaker_zone_hears_the_speaker_rise_smoothly() {
    let s = TestServer::start().await;
    let (token, sid) = walk_project(&s).await;
    let t = Some(token.as_str());
    let r = s
        .post(
            "/api/2/streams/",
            t,
            json!({"session_id": sid, "latitude": 0.004, "longitude": 0.0}),
        )
        .await;
    let url = r.body["stream_url"].as_str().expect("in range").to_string();
    let patch_url = format!("/api/2/streams/{sid}/");
    let (_, mp3) = capture(&url, false, 5.0, 2.0, || async {
        let r = s
            .patch(&patch_url, t, json!({"latitude": 0.0, "longitude": 0.0}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let rms = rms_windows(&decode(&mp3, dir.path()), 0.25);
    assert!(rms.len() >= 16, "{} windows", rms.len());
    assert!(
        rms[..4].iter().all(|r| *r < 0.005),
        "silent outside the zone: {rms:?}"
    );
    let full = 0.25; // a 0.5 sine at the centre of the stereo field
    let last = rms[rms.len() - 2];
    assert!((last - full).abs() < 0.03, "at full volume inside: {rms:?}");
    for w in rms.windows(2) {
        assert!(w[1] - w[0] < full * 0.4, "a 1 s ramp, not a step: {rms:?}");
    }
    let status = s
        .get("/api/2/streams/status/", Some(&s.staff_token().await))
        .await;
    let st = &status.body["streams"][0];
    assert_eq!(st["stream_id"], sid);
    assert_eq!(st["underruns"], 0, "{st}");
    assert!(
        st["command_latency_max_ms"].as_f64().unwrap() < 1000.0,
        "{st}"
    );
}

#[tokio::test]
async fn an_idle_stream_is_torn_down_but_a_listened_one_stays() {
    let s = TestServer::start_with("[stream]\nheartbeat_timeout_s = 1\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    s.sql("UPDATE projects SET listen_enabled = 1").await;
    // Staff may open streams for any session (here two visitors').
    let token = s.staff_token().await;
    let t = Some(token.as_str());
    s.post("/api/2/streams/", t, json!({"session_id": 1})).await;
    let r = s.post("/api/2/streams/", t, json!({"session_id": 2})).await;
    let url = r.body["stream_url"].as_str().unwrap().to_string();
    let (_, bytes) = capture(&url, false, 3.5, 99.0, || async {}).await;
    assert!(
        bytes.len() > 30_000,
        "the listened stream kept flowing: {}",
        bytes.len()
    );
    assert_eq!(
        s.get("/api/2/streams/1/isactive/", t).await.body["active"],
        false,
        "idle: torn down"
    );
    assert!(
        event_types(&s, 1)
            .await
            .contains(&"cleanup_session".to_string())
    );
}

#[tokio::test]
async fn shutdown_ends_open_stream_bodies() {
    let (s, token) = reference().await;
    let r = s
        .post("/api/2/streams/", Some(&token), json!({"session_id": 1}))
        .await;
    let url = r.body["stream_url"].as_str().unwrap().to_string();
    let mut resp = reqwest::get(&url).await.unwrap();
    resp.chunk().await.unwrap();
    let stopping = tokio::spawn(s.stop());
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = resp.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the body ended when the daemon stopped");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the daemon stopped within seconds")
        .unwrap();
}

#[tokio::test]
async fn the_uploaders_new_recording_plays_next_in_their_own_stream() {
    use crate::media_support::{Fmt, P, envelope, send, wav};
    let (s, token) = reference().await;
    // Short dead air and fades so the next pick comes quickly.
    s.sql("UPDATE audiotracks SET mindeadair = 1e8, maxdeadair = 2e8, minfadeintime = 1e8, maxfadeintime = 1e8,
           minfadeouttime = 1e8, maxfadeouttime = 1e8, minduration = 1e9, maxduration = 1e9").await;
    let r = s
        .post("/api/2/streams/", Some(&token), json!({"session_id": 1}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = envelope(&s, 1).await;
    let up = send(
        &s,
        reqwest::Method::PATCH,
        &format!("/api/2/envelopes/{e}/"),
        Some(&token),
        vec![
            P::T("session_id", "1"),
            P::F(
                "file",
                Some("new.wav"),
                "audio/wav",
                wav(44_100, 1, Fmt::Pcm16, 2.0),
            ),
            P::T("submitted", "false"),
        ],
    )
    .await;
    let id = up.ok()["id"].as_i64().expect("asset id");
    let sql =
        format!("SELECT count(*) FROM listen_events WHERE session_id = 1 AND asset_id = {id}");
    let deadline = Instant::now() + Duration::from_secs(8);
    while s.scalar(&sql).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the new recording was not played"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let played = s.scalar(&format!(
        "SELECT count(*) FROM events WHERE session_id = 1 AND event_type = 'play_asset_in_stream' AND data LIKE '%{id}%'"
    )).await;
    assert_eq!(played, 1, "play_asset_in_stream logged for the uploader");
}

#[tokio::test]
async fn a_speaker_can_be_a_live_http_mp3_stream_pulled_by_the_box() {
    let s = TestServer::start().await;
    // Stream 1 (a listener of the walk project, inside its zone) is itself an HTTP MP3 stream:
    // a second project's speaker plays it.
    let (token, sid) = walk_project(&s).await;
    let t = Some(token.as_str());
    let r = s
        .post(
            "/api/2/streams/",
            t,
            json!({"session_id": sid, "latitude": 0.0, "longitude": 0.0}),
        )
        .await;
    let source_url = r.body["stream_url"]
        .as_str()
        .expect("source stream")
        .to_string();
    s.sql("INSERT INTO projects (id, name, latitude, longitude, pub_date, listen_enabled, geo_listen_enabled)
           VALUES (2, 'Relay', 0, 0, '2020-01-01T00:00:00.000000', 1, 0);
           INSERT INTO project_languages VALUES (2, 1);").await;
    let staff = s.staff_token().await;
    let sp = s
        .post("/api/2/speakers/", Some(&staff), json!({"project_id": 2, "activeyn": true, "maxvolume": 1.0, "minvolume": 0.0,
              "uri": source_url, "attenuation_distance": 10,
              "shape": {"type": "MultiPolygon", "coordinates": [[[[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]]]]}}))
        .await;
    assert_eq!(sp.status, StatusCode::OK, "{}", sp.body);
    let session = s
        .post("/api/2/sessions/", t, json!({"project_id": 2}))
        .await;
    let relay_sid = session.ok()["id"].as_i64().unwrap();
    let r = s
        .post("/api/2/streams/", t, json!({"session_id": relay_sid}))
        .await;
    let url = r.body["stream_url"].as_str().unwrap().to_string();
    let (_, mp3) = capture(&url, false, 5.0, 99.0, || async {}).await;
    let dir = tempfile::tempdir().unwrap();
    let rms = rms_windows(&decode(&mp3, dir.path()), 0.5);
    let heard = rms.iter().copied().fold(0.0f32, f32::max);
    assert!(heard > 0.1, "the relayed stream is heard: {rms:?}");
}

#[tokio::test]
async fn the_local_listener_is_discoverable_persistent_and_steered_only_by_staff() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = roundwared::testing::store::Store::open(&dir.path().join("roundwared.sqlite3"))
            .unwrap();
        let sql = format!("{REFERENCE_FIXTURE}\nUPDATE projects SET listen_enabled = 1;");
        store
            .write(move |tx| Ok(tx.execute_batch(&sql)?))
            .await
            .unwrap();
    }
    std::fs::create_dir_all(dir.path().join("media")).unwrap();
    let local = "[local]\nenabled = true\nproject_id = 1\noutput = \"none\"\n[stream]\nheartbeat_timeout_s = 1\n";
    let s = TestServer::start_in(dir.path(), local).await;
    let (_, token) = s.device_token("visitor").await;
    let staff = s.staff_token().await;
    let r = s.get("/api/2/streams/local/", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = r.body["stream_id"].as_i64().unwrap();
    let url = r.body["stream_url"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/stream{id}.mp3")));
    let denied = s
        .post(
            &format!("/api/2/streams/{id}/skipasset/"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
    assert!(
        denied.body["detail"]
            .as_str()
            .unwrap()
            .contains("local listener")
    );
    let denied = s
        .post(
            &format!("/api/2/streams/{id}/kill/"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let ok = s
        .post(
            &format!("/api/2/streams/{id}/pause/"),
            Some(&staff),
            json!({}),
        )
        .await;
    assert_eq!(ok.body, json!({"success": true}));
    // No heartbeat and no listener for longer than the timeout: the local listener stays.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        s.get(&format!("/api/2/streams/{id}/isactive/"), Some(&token))
            .await
            .body["active"],
        true
    );
    let (_, bytes) = capture(&url, false, 1.0, 99.0, || async {}).await;
    assert!(bytes.len() > 4000, "served over HTTP like any stream");
    let kept = s.stop().await;
    drop(kept);
    let again = TestServer::start_in(dir.path(), local).await;
    let (_, token) = again.device_token("visitor").await;
    let r = again.get("/api/2/streams/local/", Some(&token)).await;
    assert_eq!(
        r.body["stream_id"], id,
        "the same stream id after a restart"
    );
}

#[tokio::test]
async fn beyond_max_streams_a_new_stream_gets_503_and_the_running_one_is_untouched() {
    let s = TestServer::start_with("[stream]\nmax_streams = 1\n").await;
    s.sql(REFERENCE_FIXTURE).await;
    s.sql("UPDATE projects SET listen_enabled = 1").await;
    let token = s.staff_token().await;
    let t = Some(token.as_str());
    assert_eq!(
        s.post("/api/2/streams/", t, json!({"session_id": 1}))
            .await
            .status,
        StatusCode::OK
    );
    let r = s.post("/api/2/streams/", t, json!({"session_id": 2})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("max_streams"));
    assert_eq!(
        s.post("/api/2/streams/", t, json!({"session_id": 1}))
            .await
            .status,
        StatusCode::OK,
        "reuse still works"
    );
    assert_eq!(
        s.get("/api/2/streams/1/isactive/", t).await.body["active"],
        true
    );
}
