//! Uploads end to end: real audio in every accepted format (WAV written here, MP3 from the
//! daemon's own encoder, M4A/Ogg/FLAC from ffmpeg), web- and iOS-style multipart bodies, the
//! `submitted` cascade, the renditions checked with ffprobe, and every bad input refused with
//! nothing left behind.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::media_support::{
    Fmt, P, check_audio, envelope, ffmpeg, local, media_dir, media_files, mp3, mp3_of, probe, send,
    upload, wav,
};
use crate::support::TestServer;

// ---------------------------------------------------------------------------------------
// Formats

#[tokio::test]
async fn every_wav_flavour_uploads_with_exact_length_and_44k_renditions() {
    let s = TestServer::with_reference_fixture().await;
    let cases = [
        (22_050, 1, Fmt::Pcm16, 1.5),
        (44_100, 2, Fmt::Pcm16, 2.0),
        (48_000, 2, Fmt::Pcm24, 1.25),
        (44_100, 1, Fmt::Pcm32, 1.0),
        (48_000, 1, Fmt::Float, 2.5),
        (44_100, 2, Fmt::Float, 1.0),
        (22_050, 2, Fmt::Extensible, 1.0),
    ];
    for (rate, ch, fmt, secs) in cases {
        let r = upload(&s, wav(rate, ch, fmt, secs), "blob").await;
        assert_eq!(r.status, StatusCode::OK, "{rate} {ch} {fmt:?}: {}", r.body);
        check_audio(&s, &r.body, secs, u64::from(ch));
        let file = r.body["file"].as_str().unwrap();
        assert!(file.ends_with(".wav"), "{file}");
        assert!(r.body["filename"].as_str().unwrap().ends_with(".pcm.wav"));
        // The original is stored untouched.
        assert_eq!(
            std::fs::read(local(&s, file)).unwrap(),
            wav(rate, ch, fmt, secs)
        );
    }
}

#[tokio::test]
async fn mp3_m4a_ogg_and_flac_uploads_are_decoded_by_content() {
    let s = TestServer::with_reference_fixture().await;
    let cases: Vec<(&str, Vec<u8>, f64, u64, &str)> = vec![
        ("mp3 48k stereo", mp3(48_000, 2, 2.0), 2.0, 2, ".mp3"),
        ("mp3 44.1k mono", mp3(44_100, 1, 1.5), 1.5, 1, ".mp3"),
        (
            "m4a 44.1k mono",
            ffmpeg(2.0, 44_100, 1, &["-c:a", "aac", "-b:a", "96k"], "m4a"),
            2.0,
            1,
            ".m4a",
        ),
        (
            "m4a 48k stereo",
            ffmpeg(1.5, 48_000, 2, &["-c:a", "aac"], "m4a"),
            1.5,
            2,
            ".m4a",
        ),
        (
            "ogg vorbis",
            ffmpeg(2.0, 44_100, 2, &["-c:a", "libvorbis"], "ogg"),
            2.0,
            2,
            ".ogg",
        ),
        (
            "flac 96k",
            ffmpeg(1.0, 96_000, 1, &["-c:a", "flac"], "flac"),
            1.0,
            1,
            ".flac",
        ),
        (
            "flac 22k stereo",
            ffmpeg(1.0, 22_050, 2, &["-c:a", "flac"], "flac"),
            1.0,
            2,
            ".flac",
        ),
    ];
    for (what, bytes, secs, ch, ext) in cases {
        // Misleading names do not matter: the content decides.
        let r = upload(&s, bytes.clone(), "recording.txt").await;
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
        check_audio(&s, &r.body, secs, ch);
        let file = r.body["file"].as_str().unwrap();
        assert!(file.ends_with(ext), "{what}: {file}");
        assert_eq!(
            std::fs::read(local(&s, file)).unwrap(),
            bytes,
            "{what}: original untouched"
        );
        assert!(r.body["filename"].as_str().unwrap().ends_with(".wav"));
    }
}

// ---------------------------------------------------------------------------------------
// Client-style bodies

#[tokio::test]
async fn a_web_client_upload_of_a_wav_named_blob_is_an_asset_with_tags() {
    let s = TestServer::with_reference_fixture().await;
    s.sql("INSERT INTO tags (id, project_id, value) VALUES (91, 1, 'a'), (92, 1, 'b');")
        .await;
    for tags in ["91,92", "\"91,92\""] {
        let e = envelope(&s, 1).await;
        let owner = s.session_owner_token(1).await;
        let r = send(
            &s,
            Method::PATCH,
            &format!("/api/2/envelopes/{e}/"),
            Some(&owner),
            vec![
                P::T("session_id", "1"),
                P::F(
                    "file",
                    Some("blob"),
                    "audio/wav",
                    wav(48_000, 1, Fmt::Pcm16, 1.0),
                ),
                P::T("latitude", "0.1"),
                P::T("longitude", "0.1"),
                P::T("tag_ids", tags),
            ],
        )
        .await;
        let a = r.ok();
        assert!(a.get("detail").is_none());
        assert_eq!(a["tag_ids"], json!([91, 92]), "{tags}");
        assert_eq!(a["envelope_ids"], json!([e]));
        assert_eq!(a["media_type"], "audio");
        assert_eq!(a["session_id"], 1);
        assert_eq!(a["project_id"], 1);
        assert_eq!(a["language_id"], 1);
        assert_eq!(a["description"], "");
        assert_eq!(a["volume"], json!(1.0));
        assert_eq!(a["weight"], 50);
        assert_eq!(
            (a["latitude"].as_f64(), a["longitude"].as_f64()),
            (Some(0.1), Some(0.1))
        );
        check_audio(&s, a, 1.0, 1);
        let env = s.get(&format!("/api/2/envelopes/{e}/"), Some(&owner)).await;
        assert_eq!(env.ok()["asset_ids"], json!([a["id"]]));
    }
}

#[tokio::test]
async fn an_ios_upload_with_the_file_first_is_attributed_to_the_device_user() {
    let s = TestServer::with_reference_fixture().await;
    s.sql("INSERT INTO tags (id, project_id, value) VALUES (91, 1, 'a'), (92, 1, 'b');")
        .await;
    let (user_id, _) = s.device_token("fixture-device-es").await;
    let e = envelope(&s, 2).await;
    let owner = s.session_owner_token(2).await;
    let m4a = ffmpeg(2.0, 22_050, 1, &["-c:a", "aac", "-b:a", "64k"], "m4a");
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{e}/"),
        Some(&owner),
        vec![
            P::F("file", Some("recording-1-1.m4a"), "audio/x-m4a", m4a),
            P::T("session_id", "2"),
            P::T("media_type", "audio"),
            P::T("latitude", "0.1"),
            P::T("longitude", "0.1"),
            P::T("tag_ids", "91,92,"),
            P::T("user_id", "0"),
            P::T("description", "Señor's \"quote\" 😀; DROP TABLE assets;--"),
        ],
    )
    .await;
    let a = r.ok();
    assert_eq!(a["tag_ids"], json!([91, 92]));
    assert_eq!(
        a["user"]["id"], user_id,
        "user_id 0 falls back to the device's user"
    );
    assert_eq!(a["language_id"], 2, "language from the session");
    assert_eq!(
        a["description"],
        "Señor's \"quote\" 😀; DROP TABLE assets;--"
    );
    assert!(a["file"].as_str().unwrap().ends_with(".m4a"));
    // AAC in MP4 is not gapless in symphonia: allow the codec's priming frames.
    let len = a["audio_length_in_seconds"].as_f64().unwrap();
    assert!((len - 2.0).abs() <= 0.1, "{len}");
    let (codec, rate, _, dur) = probe(&local(&s, &mp3_of(a["file"].as_str().unwrap())));
    assert_eq!((codec.as_str(), rate), ("mp3", 44_100));
    assert!((dur - len).abs() <= 0.05, "{dur} vs {len}");
}

#[tokio::test]
async fn every_upload_logs_start_upload_with_query_parameters_only() {
    let s = TestServer::with_reference_fixture().await;
    let e = envelope(&s, 1).await;
    let owner = s.session_owner_token(1).await;
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{e}/?latitude=1.5&longitude=2.5"),
        Some(&owner),
        vec![
            P::T("latitude", "0.1"),
            P::T("longitude", "0.1"),
            P::F(
                "file",
                Some("x.wav"),
                "audio/wav",
                wav(44_100, 1, Fmt::Pcm16, 0.5),
            ),
        ],
    )
    .await;
    r.ok();
    let (n, lat) = (
        s.scalar(
            "SELECT count(*) FROM events WHERE event_type = 'start_upload' AND session_id = 1",
        )
        .await,
        s.scalar(
            "SELECT CAST(CAST(latitude AS REAL) * 10 AS INTEGER) FROM events WHERE event_type = 'start_upload'",
        )
        .await,
    );
    assert_eq!((n, lat), (1, 15));
}

// ---------------------------------------------------------------------------------------
// The submitted cascade (reference-server §5 step 8, §8.2)

async fn cascade(s: &TestServer, session: i64, fields: &[(&str, &str)]) -> Value {
    let e = envelope(s, session).await;
    let owner = s.session_owner_token(session).await;
    let mut parts = vec![P::F(
        "file",
        Some("t.txt"),
        "text/plain",
        b"a text contribution".to_vec(),
    )];
    parts.push(P::T("media_type", "text"));
    for (k, v) in fields {
        parts.push(P::T(k, v));
    }
    let r = send(
        s,
        Method::PATCH,
        &format!("/api/2/envelopes/{e}/"),
        Some(&owner),
        parts,
    )
    .await;
    r.ok().clone()
}

#[tokio::test]
async fn the_submitted_cascade_follows_the_reference() {
    let s = TestServer::with_reference_fixture().await;
    s.sql("UPDATE projects SET latitude = 0.1005, longitude = 0.1006 WHERE id = 1;")
        .await;
    // No lat/lon, no submitted: false, and the project's position.
    let a = cascade(&s, 1, &[("session_id", "1")]).await;
    assert_eq!(a["submitted"], false);
    assert_eq!(
        (a["latitude"].as_f64(), a["longitude"].as_f64()),
        (Some(0.1005), Some(0.1006))
    );
    // Explicit submitted wins.
    let a = cascade(&s, 1, &[("session_id", "1"), ("submitted", "true")]).await;
    assert_eq!(a["submitted"], true);
    let a = cascade(
        &s,
        1,
        &[
            ("session_id", "1"),
            ("submitted", "N"),
            ("latitude", "0.1"),
            ("longitude", "0.1"),
        ],
    )
    .await;
    assert_eq!(a["submitted"], false);
    // In range of the active speaker: auto_submit decides.
    let inside = [
        ("session_id", "1"),
        ("latitude", "0.1"),
        ("longitude", "0.1"),
    ];
    assert_eq!(cascade(&s, 1, &inside).await["submitted"], false);
    s.sql("UPDATE projects SET auto_submit = 1 WHERE id = 1;")
        .await;
    assert_eq!(cascade(&s, 1, &inside).await["submitted"], true);
    // Within out_of_range_distance (1000 m) of the shape still counts; far away does not.
    let near = [
        ("session_id", "1"),
        ("latitude", "0.105"),
        ("longitude", "0.1"),
    ];
    assert_eq!(cascade(&s, 1, &near).await["submitted"], true);
    let far = [
        ("session_id", "1"),
        ("latitude", "0.2"),
        ("longitude", "0.2"),
    ];
    assert_eq!(cascade(&s, 1, &far).await["submitted"], false);
    // A session without geo listening is always in range.
    s.sql("UPDATE sessions SET geo_listen_enabled = 0 WHERE id = 1;")
        .await;
    assert_eq!(cascade(&s, 1, &far).await["submitted"], true);
    // An inactive speaker does not count.
    s.sql("UPDATE sessions SET geo_listen_enabled = 1 WHERE id = 1; UPDATE speakers SET activeyn = 0;").await;
    assert_eq!(cascade(&s, 1, &inside).await["submitted"], false);
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{}/", envelope(&s, 1).await),
        Some(&s.session_owner_token(1).await),
        vec![
            P::F("file", Some("t"), "text/plain", b"x".to_vec()),
            P::T("media_type", "text"),
            P::T("submitted", "maybe"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("submitted"));
}

// ---------------------------------------------------------------------------------------
// Bad input: a clear 4xx, no file, no row

#[tokio::test]
async fn bad_uploads_are_refused_by_name_and_leave_nothing_behind() {
    let s = TestServer::start_with("[limits]\nmax_upload_mb = 1\n").await;
    s.sql(crate::support::REFERENCE_FIXTURE).await;
    let good = wav(44_100, 1, Fmt::Pcm16, 1.0);
    let mut lying = good.clone();
    lying.truncate(good.len() / 2);
    let mut truncated_m4a = ffmpeg(2.0, 44_100, 1, &["-c:a", "aac"], "m4a");
    truncated_m4a.truncate(truncated_m4a.len() * 2 / 3);
    let mut truncated_flac = ffmpeg(2.0, 44_100, 1, &["-c:a", "flac"], "flac");
    truncated_flac.truncate(truncated_flac.len() / 2);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
    let big = wav(44_100, 2, Fmt::Pcm16, 7.0); // ~1.2 MB
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            "a WAV header that lies about its length",
            lying,
            "blob",
            StatusCode::BAD_REQUEST,
            "WAV header",
        ),
        (
            "a truncated M4A",
            truncated_m4a,
            "a.m4a",
            StatusCode::BAD_REQUEST,
            "audio",
        ),
        (
            "a truncated FLAC",
            truncated_flac,
            "a.flac",
            StatusCode::BAD_REQUEST,
            "truncated",
        ),
        (
            "a PNG as audio",
            png,
            "a.wav",
            StatusCode::BAD_REQUEST,
            "PNG image, not audio",
        ),
        (
            "an empty file",
            Vec::new(),
            "a.wav",
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            "noise",
            vec![7u8, 0, 200, 3, 0, 9],
            "a.mp3",
            StatusCode::BAD_REQUEST,
            "not recognised",
        ),
        (
            "a body over max_upload_mb",
            big,
            "a.wav",
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "a path-traversal name",
            good.clone(),
            "../../etc/passwd",
            StatusCode::OK,
            "",
        ),
    ];
    for (what, bytes, name, status, words) in cases {
        let before = s.scalar("SELECT count(*) FROM assets").await;
        let r = upload(&s, bytes, name).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        if status == StatusCode::OK {
            let file = r.body["file"].as_str().unwrap().to_string();
            assert!(!file.contains("passwd") && !file.contains(".."), "{file}");
            assert!(local(&s, &file).exists());
            s.sql(&format!("DELETE FROM assets WHERE id = {}", r.body["id"]))
                .await;
            for f in media_files(&s) {
                std::fs::remove_file(media_dir(&s).join(f)).unwrap();
            }
            continue;
        }
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(words), "{what}: {detail}");
        assert_eq!(
            s.scalar("SELECT count(*) FROM assets").await,
            before,
            "{what}: no row"
        );
        assert_eq!(media_files(&s), Vec::<String>::new(), "{what}: no file");
    }
    // Missing envelope, missing session, nothing to upload.
    let r = send(
        &s,
        Method::PATCH,
        "/api/2/envelopes/999/",
        Some(&s.session_owner_token(1).await),
        vec![P::F("file", Some("a.wav"), "audio/wav", good.clone())],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["detail"],
        "Invalid Envelope ID Provided. No Envelope exists with ID 999"
    );
    let e = envelope(&s, 1).await;
    let owner = s.session_owner_token(1).await;
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{e}/"),
        Some(&owner),
        vec![
            P::T("session_id", "4242"),
            P::F("file", Some("a.wav"), "audio/wav", good.clone()),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "Session matching query does not exist.");
    let r = s
        .patch(
            &format!("/api/2/envelopes/{e}/"),
            Some(&owner),
            json!({"session_id": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "asset_id or file required");
    let r = s
        .patch(
            &format!("/api/2/envelopes/{e}/"),
            Some(&owner),
            json!({"asset_id": 31337}),
        )
        .await;
    assert_eq!(
        r.body["detail"],
        "Invalid Asset ID Provided. No Asset exists with ID 31337"
    );
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
    assert_eq!(media_files(&s), Vec::<String>::new());
    // The daemon keeps serving.
    upload(&s, good, "blob").await.ok();
}

#[tokio::test]
async fn a_two_hour_recording_is_refused_from_its_header() {
    let s = TestServer::with_reference_fixture().await;
    let two_hours = ffmpeg(7200.0, 8000, 1, &["-c:a", "flac"], "flac");
    let r = upload(&s, two_hours, "long.flac").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("2:00:00") && detail.contains("0:15:00"),
        "{detail}"
    );
    assert_eq!(media_files(&s), Vec::<String>::new());
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
}

#[tokio::test]
async fn parallel_uploads_into_one_envelope_all_get_their_own_files() {
    let s = TestServer::with_reference_fixture().await;
    let e = envelope(&s, 1).await;
    let owner = s.session_owner_token(1).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let bytes = wav(44_100, 1, Fmt::Pcm16, 0.5 + f64::from(i) * 0.1);
        let (client, url) = (s.client.clone(), s.url(&format!("/api/2/envelopes/{e}/")));
        let auth = format!("token {owner}");
        tasks.push(tokio::spawn(async move {
            let form = Form::new()
                .text("session_id", "1")
                .part("file", Part::bytes(bytes).file_name("blob"));
            let r = client
                .patch(url)
                .header("Authorization", auth)
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }));
    }
    let mut files = Vec::new();
    for t in tasks {
        files.push(t.await.unwrap()["file"].as_str().unwrap().to_string());
    }
    let mut distinct = files.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "{files:?}");
    let env = s.get(&format!("/api/2/envelopes/{e}/"), Some(&owner)).await;
    assert_eq!(env.ok()["asset_ids"].as_array().unwrap().len(), 8);
    for f in &files {
        assert!(local(&s, &mp3_of(f)).exists());
    }
    assert_eq!(media_files(&s).len(), 8 * 3);
}

// ---------------------------------------------------------------------------------------
// POST assets/, asset_id re-filing, speakers

#[tokio::test]
async fn post_assets_needs_a_token_a_file_and_one_envelope() {
    let s = TestServer::with_reference_fixture().await;
    let token = s.session_owner_token(1).await;
    let e = envelope(&s, 1).await;
    let file = || {
        P::F(
            "file",
            Some("x"),
            "audio/wav",
            wav(44_100, 1, Fmt::Pcm16, 1.0),
        )
    };
    let r = send(&s, Method::POST, "/api/2/assets/", None, vec![file()]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &s,
        Method::POST,
        "/api/2/assets/",
        Some(&token),
        vec![P::T("envelope_ids", "1")],
    )
    .await;
    assert_eq!(r.body["detail"], "Must supply file for asset content");
    for ids in [None, Some("1,2"), Some("x")] {
        let mut parts = vec![file(), P::T("session_id", "1")];
        if let Some(v) = ids {
            parts.push(P::T("envelope_ids", v));
        }
        let r = send(&s, Method::POST, "/api/2/assets/", Some(&token), parts).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ids:?}");
        assert!(r.body["detail"].as_str().unwrap().contains("envelope_ids"));
    }
    let id = e.to_string();
    let r = send(
        &s,
        Method::POST,
        "/api/2/assets/",
        Some(&token),
        vec![
            P::T("envelope_ids", &id),
            P::T("session_id", "1"),
            file(),
            P::T("audio_length_in_seconds", "0.75"),
            P::T("end_time", "0.5"),
        ],
    )
    .await;
    let a = r.ok();
    assert_eq!(a["envelope_ids"], json!([e]));
    assert_eq!(a["audio_length_in_seconds"], json!(0.75));
    assert_eq!(a["end_time"], json!(0.5));
    assert_eq!(a["start_time"], json!(0.0));
    assert_eq!(media_files(&s).len(), 3);
}

#[tokio::test]
async fn an_upload_refused_at_the_commit_leaves_no_file_and_no_row() {
    // The file converts (its renditions are on disk) but the row cannot commit: the project
    // named does not exist. Every file written for it is removed again.
    let s = TestServer::with_reference_fixture().await;
    let token = s.session_owner_token(1).await;
    let e = envelope(&s, 1).await.to_string();
    let r = send(
        &s,
        Method::POST,
        "/api/2/assets/",
        Some(&token),
        vec![
            P::T("envelope_ids", &e),
            P::T("project_id", "4242"),
            P::F(
                "file",
                Some("x.wav"),
                "audio/wav",
                wav(44_100, 1, Fmt::Pcm16, 1.0),
            ),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["detail"], "project_id: Project 4242 does not exist.");
    assert_eq!(
        media_files(&s),
        Vec::<String>::new(),
        "no file, not even a spool"
    );
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
}

#[tokio::test]
async fn an_asset_id_upload_refiles_the_asset_with_new_files() {
    let s = TestServer::with_reference_fixture().await;
    let first = upload(&s, wav(44_100, 1, Fmt::Pcm16, 1.0), "blob")
        .await
        .ok()
        .clone();
    // Another phone's envelope may not take the recording over.
    let (other_id, other) = s.device_token("other-phone").await;
    s.sql(&format!("INSERT INTO sessions (id, device_id, starttime, project_id, language_id, user_id) VALUES (9, 'other-phone', '2020-01-01T00:00:00', 1, 1, {other_id})")).await;
    let theirs = envelope(&s, 9).await;
    let r = s
        .patch(
            &format!("/api/2/envelopes/{theirs}/"),
            Some(&other),
            json!({"asset_id": first["id"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("Only the visitor who made this recording"),
        "{}",
        r.body
    );
    assert!(
        local(&s, first["file"].as_str().unwrap()).exists(),
        "files untouched"
    );
    // The same visitor in a later session (session 2 is made theirs) may re-file it.
    s.sql("UPDATE sessions SET device_id = 'fixture-device', user_id = 90 WHERE id = 2")
        .await;
    let e = envelope(&s, 2).await;
    let owner = s.session_owner_token(2).await;
    let r = s
        .patch(
            &format!("/api/2/envelopes/{e}/"),
            Some(&owner),
            json!({"asset_id": first["id"]}),
        )
        .await;
    let a = r.ok();
    assert_eq!(a["id"], first["id"]);
    assert_eq!(a["session_id"], 2);
    assert_ne!(a["file"], first["file"]);
    assert!(
        !local(&s, first["file"].as_str().unwrap()).exists(),
        "old files removed"
    );
    check_audio(&s, a, 1.0, 1);
    assert_eq!(media_files(&s).len(), 3);
    // An asset whose file is gone: "No file in request".
    let r = s
        .patch(
            &format!("/api/2/envelopes/{e}/"),
            Some(&owner),
            json!({"asset_id": 1}),
        )
        .await;
    assert_eq!(r.body["detail"], "No file in request");
}

#[tokio::test]
async fn a_speaker_file_is_stored_with_an_mp3_and_uri_points_at_it() {
    let s = TestServer::with_reference_fixture().await;
    let staff = s.staff_token().await;
    let shape = r#"{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0.01],[0,0]]]}"#;
    let flac = ffmpeg(3.0, 48_000, 2, &["-c:a", "flac"], "flac");
    let r = send(
        &s,
        Method::POST,
        "/api/2/speakers/",
        Some(&staff),
        vec![
            P::T("project_id", "1"),
            P::T("maxvolume", "1"),
            P::T("minvolume", "0"),
            P::T("attenuation_distance", "5"),
            P::T("shape", shape),
            P::F("file", Some("../My Ocean bed.flac"), "audio/flac", flac),
        ],
    )
    .await;
    let sp = r.ok();
    let uri = sp["uri"].as_str().unwrap();
    let name = uri.rsplit('/').next().unwrap();
    assert!(uri.starts_with(&s.base), "{uri}");
    assert!(
        name.starts_with("speaker-project1-My_Ocean_bed-") && name.ends_with(".mp3"),
        "{name}"
    );
    let (codec, rate, ch, dur) = probe(&local(&s, uri));
    assert_eq!((codec.as_str(), rate, ch), ("mp3", 44_100, 2));
    assert!((dur - 3.0).abs() <= 0.05);
    assert!(
        local(&s, &uri.replace(".mp3", ".flac")).exists(),
        "original kept"
    );
    // A bad file: 400, no new files, no row.
    let n = media_files(&s).len();
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/speakers/{}/", sp["id"]),
        Some(&staff),
        vec![P::F(
            "file",
            Some("x.mp3"),
            "audio/mpeg",
            b"\x89PNG\r\n\x1a\n1234".to_vec(),
        )],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(media_files(&s).len(), n);
    // PATCH with a good file replaces uri.
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/speakers/{}/", sp["id"]),
        Some(&staff),
        vec![P::F(
            "file",
            Some("bed2.wav"),
            "audio/wav",
            wav(44_100, 1, Fmt::Pcm16, 1.0),
        )],
    )
    .await;
    assert!(
        r.ok()["uri"]
            .as_str()
            .unwrap()
            .contains("speaker-project1-bed2-")
    );
}

#[tokio::test]
async fn a_wav_header_with_an_absurd_sample_rate_is_refused_before_any_work() {
    let s = TestServer::with_reference_fixture().await;
    for rate in [0u32, 1, 2, 4_000, 400_000, u32::MAX] {
        let mut bytes = wav(44_100, 1, Fmt::Pcm16, 0.05);
        bytes[24..28].copy_from_slice(&rate.to_le_bytes());
        bytes[28..32].copy_from_slice(&rate.wrapping_mul(2).to_le_bytes());
        let r = upload(&s, bytes, "odd.wav").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{rate} Hz: {}", r.body);
        let detail = r.body["detail"].as_str().unwrap_or_default().to_string();
        assert!(
            detail.contains("sample rate") || detail.contains("cannot be decoded"),
            "{rate} Hz: {detail}"
        );
        assert_eq!(media_files(&s), Vec::<String>::new());
    }
    // The daemon keeps serving good uploads.
    let good = wav(44_100, 1, Fmt::Pcm16, 0.5);
    assert_eq!(upload(&s, good, "good.wav").await.status, StatusCode::OK);
}
