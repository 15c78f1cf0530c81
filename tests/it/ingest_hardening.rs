//! Media ingest under attack and under stress, over real HTTP (issue 15, security review C1,
//! C4, H2, M6, M7): hostile float samples, streaming limits, the upload gate, multipart caps,
//! the disk reserve, a full database, the start-up sweep, and the malformed files of the
//! review. Renditions are checked with ffprobe and decoded with ffmpeg.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::media_support::{
    Fmt, P, envelope, ffmpeg, local, media_dir, media_files, mp3, mp3_of, probe, send, upload, wav,
};
use crate::support::{REFERENCE_FIXTURE, TestServer};

// ---------------------------------------------------------------------------------------
// Helpers

/// A float WAV (format 3) of `samples`, mono at `rate` Hz, 32 or 64 bits per sample.
fn float_wav(samples: &[f64], bits: u16, rate: u32) -> Vec<u8> {
    let width = u32::from(bits / 8);
    let mut data = Vec::new();
    for &s in samples {
        if bits == 64 {
            data.extend_from_slice(&s.to_le_bytes());
        } else {
            data.extend_from_slice(&(s as f32).to_le_bytes());
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((4 + 8 + 16 + 8 + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&3u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * width).to_le_bytes());
    out.extend_from_slice(&(bits / 8).to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// 0.5 s of a tone at half scale, 0.1 s of `bad`, 0.4 s of the tone again.
fn tone_with(bad: f64, rate: u32) -> Vec<f64> {
    let r = f64::from(rate);
    let tone = |i: usize| 0.5 * (i as f64 * 440.0 * std::f64::consts::TAU / r).sin();
    let mut v: Vec<f64> = (0..rate as usize / 2).map(tone).collect();
    v.extend(std::iter::repeat_n(bad, rate as usize / 10));
    let start = v.len();
    v.extend((start..rate as usize).map(tone));
    v
}

/// The security review's reproduction: 0.1 s of NaN, mono 32-bit float at 44.1 kHz.
fn review_nan_wav() -> Vec<u8> {
    float_wav(&[f64::NAN; 4410], 32, 44_100)
}

/// Every sample of an audio file as ffmpeg decodes it (32-bit float, native channels).
fn decoded_samples(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-acodec", "pcm_f32le", "-"])
        .output()
        .expect("ffmpeg is installed (tests/install-deps.sh)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg decodes {} cleanly: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The peak of a file in dBFS as ffmpeg decodes it; panics on a non-finite sample.
fn peak_dbfs(path: &Path) -> f64 {
    let samples = decoded_samples(path);
    assert!(!samples.is_empty(), "{} has audio", path.display());
    assert!(
        samples.iter().all(|s| s.is_finite()),
        "{}: every sample finite",
        path.display()
    );
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    20.0 * f64::from(peak.max(1e-9)).log10()
}

async fn healthz(s: &TestServer) -> Value {
    let r = s.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK, "the daemon serves: {}", r.body);
    r.body
}

/// Seeds the reference data set into a server started on `dir`.
async fn fixture_server(extra_toml: &str) -> TestServer {
    let s = TestServer::start_with(extra_toml).await;
    s.sql(REFERENCE_FIXTURE).await;
    s
}

/// Checks that `path` was decoded by ffmpeg to finite samples at or below 0 dBFS.
fn assert_clean(path: &Path) {
    let peak = peak_dbfs(path);
    assert!(peak <= 0.0, "{}: peak {peak:.2} dBFS", path.display());
}

// ---------------------------------------------------------------------------------------
// C1: hostile samples

#[tokio::test]
async fn float_wavs_holding_nan_inf_or_huge_samples_are_stored_with_clean_renditions_and_the_daemon_keeps_serving()
 {
    let s = fixture_server("").await;
    // The review's file first: it aborted the whole daemon.
    let r = upload(&s, review_nan_wav(), "nan.wav").await;
    let a = r.ok().clone();
    let mp3 = local(&s, &mp3_of(a["file"].as_str().unwrap()));
    let samples = decoded_samples(&mp3);
    assert!(
        samples.iter().all(|x| *x == 0.0),
        "NaN is stored as silence"
    );
    healthz(&s).await;
    for bits in [32u16, 64] {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e10, 1e38] {
            let what = format!("{bits}-bit float WAV with {bad:e}");
            let r = upload(
                &s,
                float_wav(&tone_with(bad, 44_100), bits, 44_100),
                "x.wav",
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
            let a = &r.body;
            assert!(
                (a["audio_length_in_seconds"].as_f64().unwrap() - 1.0).abs() < 1e-6,
                "{what}: exact length {a}"
            );
            let mp3 = local(&s, &mp3_of(a["file"].as_str().unwrap()));
            let (codec, rate, channels, seconds) = probe(&mp3);
            assert_eq!(
                (codec.as_str(), rate, channels),
                ("mp3", 44_100, 1),
                "{what}"
            );
            assert!((seconds - 1.0).abs() <= 0.05, "{what}: {seconds} s");
            assert_clean(&mp3);
            assert_clean(&media_dir(&s).join(a["filename"].as_str().unwrap()));
            healthz(&s).await;
        }
    }
    // A hostile file at another rate goes through the resampler too.
    let r = upload(
        &s,
        float_wav(&tone_with(f64::NAN, 48_000), 32, 48_000),
        "x.wav",
    )
    .await;
    let a = r.ok();
    assert_clean(&local(&s, &mp3_of(a["file"].as_str().unwrap())));
    assert_clean(&media_dir(&s).join(a["filename"].as_str().unwrap()));
}

#[tokio::test]
async fn a_staff_speaker_upload_of_a_hostile_float_wav_gets_a_clean_mp3() {
    let s = fixture_server("").await;
    let staff = s.staff_token().await;
    let shape = r#"{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0.01],[0,0]]]}"#;
    for bad in [f64::NAN, f64::INFINITY, 1e38] {
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
                P::F(
                    "file",
                    Some("bed.wav"),
                    "audio/wav",
                    float_wav(&tone_with(bad, 44_100), 64, 44_100),
                ),
            ],
        )
        .await;
        let uri = r.ok()["uri"].as_str().unwrap().to_string();
        let (codec, _, _, seconds) = probe(&local(&s, &uri));
        assert_eq!(codec, "mp3");
        assert!((seconds - 1.0).abs() <= 0.05, "{seconds}");
        assert_clean(&local(&s, &uri));
        healthz(&s).await;
    }
}

#[tokio::test]
async fn a_speaker_bed_that_is_a_hostile_float_wav_is_loaded_by_the_engine_as_clean_audio() {
    use roundwared::testing::audio::rt::SpeakerSource;
    use roundwared::testing::conductor::sources::Sources;
    let dir = tempfile::tempdir().unwrap();
    for (n, bad) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e38]
        .iter()
        .enumerate()
    {
        // At 48 kHz the bed is resampled by the engine: a NaN left in would smear silence
        // over the tone around it.
        let name = format!("bed{n}.wav");
        std::fs::write(
            dir.path().join(&name),
            float_wav(&tone_with(*bad, 48_000), 32, 48_000),
        )
        .unwrap();
        let sources = Sources::new(dir.path(), 64 << 20);
        let source = sources
            .speaker(&format!("/rwmedia/{name}"), "")
            .expect("the engine loads the bed");
        let SpeakerSource::Loop(pcm) = source else {
            panic!("a file bed loops")
        };
        let tone = &pcm.samples[1000..20_000];
        assert!(
            tone.iter().any(|s| s.abs() > 15_000),
            "{bad:e}: the tone is intact"
        );
        let bad_part = &pcm.samples[23_000..25_000];
        let want: i16 = if bad.is_finite() { 32_000 } else { 50 };
        assert!(
            bad_part.iter().all(|s| if bad.is_finite() {
                s.abs() > want
            } else {
                s.abs() < want
            }),
            "{bad:e}: silence for non-finite samples, full scale for huge ones"
        );
    }
}

// ---------------------------------------------------------------------------------------
// C4: streaming limits

#[tokio::test]
async fn a_recording_whose_header_hides_its_length_is_stopped_at_max_recording_s_while_decoding() {
    let s = fixture_server("[limits]\nmax_recording_s = 10\n").await;
    // A streaming writer's WAV: RIFF and data sizes unknown (0xFFFFFFFF), 25 s of audio.
    let mut streamed = wav(44_100, 1, Fmt::Pcm16, 25.0);
    streamed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    streamed[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    let r = upload(&s, streamed, "long.wav").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("longer than 0:00:10") && detail.contains("while decoding"),
        "{detail}"
    );
    assert_eq!(media_files(&s), Vec::<String>::new(), "nothing left behind");
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
}

#[tokio::test]
async fn a_long_stereo_recording_streams_through_to_renditions_of_its_exact_length() {
    let s = fixture_server("").await;
    let ogg = ffmpeg(40.0, 48_000, 2, &["-c:a", "libvorbis", "-q:a", "2"], "ogg");
    let r = upload(&s, ogg, "walk.ogg").await;
    crate::media_support::check_audio(&s, r.ok(), 40.0, 2);
}

/// Starts a multipart upload on a raw socket and sends only the head of its file part; the
/// rest is sent by [`SlowUpload::finish`].
struct SlowUpload {
    sock: tokio::net::TcpStream,
    rest: Vec<u8>,
}

const BOUNDARY: &str = "roundwared-test-boundary";

impl SlowUpload {
    async fn start(s: &TestServer, envelope: i64, file: &[u8]) -> Self {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n1\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
             Content-Type: audio/wav\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n");
        let (first, rest) = file.split_at(1000);
        let length = head.len() + file.len() + tail.len();
        let addr = s.base.trim_start_matches("http://").to_string();
        let token = s.session_owner_token(1).await;
        let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "PATCH /api/2/envelopes/{envelope}/ HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: token {token}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {length}\r\n\r\n{head}"
        );
        sock.write_all(request.as_bytes()).await.unwrap();
        sock.write_all(first).await.unwrap();
        let mut rest = rest.to_vec();
        rest.extend_from_slice(tail.as_bytes());
        Self { sock, rest }
    }

    /// Sends the rest of the body; returns the status line.
    async fn finish(mut self) -> String {
        self.sock.write_all(&self.rest).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = self.sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the daemon answers");
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// Waits until `n` spool files are in the media folder (the uploads were admitted).
async fn wait_for_spools(s: &TestServer, n: usize) {
    for _ in 0..500 {
        let spools = media_files(s)
            .iter()
            .filter(|f| f.starts_with(".upload-"))
            .count();
        if spools >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the uploads were not admitted: {:?}", media_files(s));
}

#[tokio::test]
async fn uploads_beyond_those_converting_and_waiting_are_refused_at_once_with_503_and_retry_after()
{
    let s = fixture_server("[limits]\nmax_uploads_waiting = 0\n").await;
    let file = wav(44_100, 1, Fmt::Pcm16, 1.0);
    // Two slow phones take the two places (2 converting + 0 waiting).
    let mut slow = Vec::new();
    for _ in 0..2 {
        let e = envelope(&s, 1).await;
        slow.push(SlowUpload::start(&s, e, &file).await);
    }
    wait_for_spools(&s, 2).await;
    let r = upload(&s, file.clone(), "third.wav").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "10");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("max_uploads_waiting"), "{detail}");
    // The slow ones finish normally, and then there is room again.
    for u in slow {
        let status = u.finish().await;
        assert!(status.contains(" 200 "), "{status}");
    }
    upload(&s, file, "fourth.wav").await.ok();
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2 + 3);
    assert_eq!(
        media_files(&s).len(),
        3 * 3,
        "no spool left: {:?}",
        media_files(&s)
    );
}

// ---------------------------------------------------------------------------------------
// H2: multipart caps

#[tokio::test]
async fn multipart_text_fields_over_64_kib_forms_over_256_kib_of_text_and_forms_of_too_many_parts_are_refused_by_name()
 {
    let s = fixture_server("").await;
    let big = "A".repeat(64 * 1024 + 1);
    let r = s
        .multipart(
            Method::POST,
            "/api/2/users/",
            None,
            &[
                ("device_id", "bigname"),
                ("client_type", "web"),
                ("first_name", &big),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("first_name") && detail.contains("64 KiB"),
        "{detail}"
    );
    assert_eq!(
        s.scalar("SELECT count(*) FROM users WHERE device_id = 'bigname'")
            .await,
        0
    );
    // An upload's description as large: refused the same way, nothing stored.
    let e = envelope(&s, 1).await;
    let r = send(
        &s,
        Method::PATCH,
        &format!("/api/2/envelopes/{e}/"),
        Some(&s.session_owner_token(1).await),
        vec![
            P::T("description", &big),
            P::F(
                "file",
                Some("a.wav"),
                "audio/wav",
                wav(44_100, 1, Fmt::Pcm16, 0.5),
            ),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("description"));
    assert_eq!(media_files(&s), Vec::<String>::new());
    // 65 parts.
    let names: Vec<String> = (0..65).map(|i| format!("f{i}")).collect();
    let fields: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    let r = s
        .multipart(Method::POST, "/api/2/users/", None, &fields)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("64 parts"));
    // Five fields of 60 KiB: each is fine, together they pass the 256 KiB of text per form.
    let chunk = "C".repeat(60 * 1024);
    let fields: Vec<(&str, &str)> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|k| (*k, chunk.as_str()))
        .collect();
    let r = s
        .multipart(Method::POST, "/api/2/users/", None, &fields)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("256 KiB in all")
    );
    // A field of exactly 64 KiB is still accepted by the form reader (the route decides).
    let ok = "B".repeat(64 * 1024);
    let r = s
        .multipart(
            Method::POST,
            "/api/2/users/",
            None,
            &[
                ("device_id", "longish"),
                ("client_type", "web"),
                ("first_name", &ok),
            ],
        )
        .await;
    assert_ne!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
}

// ---------------------------------------------------------------------------------------
// M7: disk reserve and a full disk

#[tokio::test]
async fn below_the_disk_reserve_uploads_get_507_before_anything_is_written_and_healthz_says_so() {
    // A reserve of 1 TiB: no test machine has that much free.
    let s = fixture_server("[storage]\nmin_free_mb = 1048576\n").await;
    let r = upload(&s, wav(44_100, 1, Fmt::Pcm16, 1.0), "a.wav").await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("min_free_mb")
            && detail.contains("1048576 MiB")
            && detail.contains("MiB free"),
        "{detail}"
    );
    assert_eq!(media_files(&s), Vec::<String>::new());
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
    // A speaker file too.
    let staff = s.staff_token().await;
    let r = send(
        &s,
        Method::POST,
        "/api/2/speakers/",
        Some(&staff),
        vec![
            P::T("project_id", "1"),
            P::T(
                "shape",
                r#"{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0]]]}"#,
            ),
            P::F(
                "file",
                Some("bed.wav"),
                "audio/wav",
                wav(44_100, 1, Fmt::Pcm16, 1.0),
            ),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.body);
    // Other writes go on.
    s.device_token("still-works").await;
    let h = healthz(&s).await;
    assert_eq!(h["refused_writes"], "uploads", "{h}");
    assert_eq!(h["status"], "degraded");
    let reason = h["components"]["database"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("uploads are refused") && reason.contains("min_free_mb"),
        "{reason}"
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("roundwared_writes_refused{writes=\"uploads\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("roundwared_writes_refused{writes=\"all\"} 0"));
}

#[tokio::test]
async fn a_database_that_reports_the_disk_full_answers_507_and_healthz_says_all_writes_are_refused()
{
    let s = fixture_server("").await;
    let (_, token) = s.device_token("filler").await;
    let session = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": 1}))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(healthz(&s).await["refused_writes"], "none");
    // SQLite answers SQLITE_FULL when the file may not grow, exactly as on a full disk.
    s.store
        .write(|tx| {
            let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            tx.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .unwrap();
    let mut refused = None;
    for _ in 0..5000 {
        let r = s
            .post(
                "/api/2/envelopes/",
                Some(&token),
                json!({"session_id": session}),
            )
            .await;
        if r.status != StatusCode::OK {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the database fills up");
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("disk is full"),
        "{}",
        r.body
    );
    let h = healthz(&s).await;
    assert_eq!(h["refused_writes"], "all", "{h}");
    let reason = h["components"]["database"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("SQLITE_FULL") && reason.contains("every write"),
        "{reason}"
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("roundwared_writes_refused{writes=\"all\"} 1"),
        "{metrics}"
    );
    // Reads go on.
    assert_eq!(
        s.get("/api/2/projects/1/", Some(&token)).await.status,
        StatusCode::OK
    );
    // Room again: the next write succeeds and the health follows.
    s.store
        .write(|tx| {
            tx.query_row("PRAGMA max_page_count = 1073741823", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .unwrap();
    s.post(
        "/api/2/envelopes/",
        Some(&token),
        json!({"session_id": session}),
    )
    .await
    .ok();
    assert_eq!(healthz(&s).await["refused_writes"], "none");
}

// ---------------------------------------------------------------------------------------
// M6: crash leftovers

fn age(path: &Path, seconds: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}

#[tokio::test]
async fn crash_leftovers_are_swept_at_start_and_named_young_or_foreign_files_stay() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), "").await;
    s.sql(REFERENCE_FIXTURE).await;
    let asset = upload(&s, wav(44_100, 1, Fmt::Pcm16, 0.5), "blob")
        .await
        .ok()
        .clone();
    s.sql(
        "UPDATE speakers SET uri = '/rwmedia/speaker-project1-bed-20260101-000000.mp3' WHERE id = 1",
    )
    .await;
    s.stop().await;
    let media = dir.path().join("media");
    let legit: Vec<String> = std::fs::read_dir(&media)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(legit.len(), 3, "{legit:?}");
    let plant =
        |name: &str, bytes: usize| std::fs::write(media.join(name), vec![9u8; bytes]).unwrap();
    // What a SIGKILL leaves: a spool, placeholders, renditions renamed before the commit.
    plant(".upload-4242-17.tmp", 5000);
    plant("20260101-000000-77.wav", 0);
    plant("20260101-000000-77.mp3", 0);
    plant("20260101-000000-78.mp3", 3000);
    plant("20260101-000000-78.pcm.wav", 4000);
    // A speaker's files, named by its row.
    plant("speaker-project1-bed-20260101-000000.flac", 100);
    plant("speaker-project1-bed-20260101-000000.mp3", 100);
    // Not ours to judge: hidden files that are not spools, and folders.
    plant(".operator-notes", 10);
    std::fs::create_dir(media.join("archive")).unwrap();
    for entry in std::fs::read_dir(&media).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            age(&path, 120);
        }
    }
    // Written within the last minute: maybe a live upload's, never swept.
    plant(".upload-4242-18.tmp", 10);
    plant("20260101-000000-79.mp3", 10);

    let s = TestServer::start_in(dir.path(), "").await;
    let mut left = media_files(&s);
    left.retain(|f| !legit.contains(f));
    assert_eq!(
        left,
        [
            ".operator-notes",
            ".upload-4242-18.tmp",
            "20260101-000000-79.mp3",
            "archive",
            "speaker-project1-bed-20260101-000000.flac",
            "speaker-project1-bed-20260101-000000.mp3",
        ]
    );
    for f in &legit {
        assert!(media_dir(&s).join(f).exists(), "{f} kept");
    }
    // The asset still plays (for its owner: it is not submitted).
    let name = asset["file"].as_str().unwrap().rsplit('/').next().unwrap();
    let owner = s.session_owner_token(1).await;
    let r = s
        .client
        .get(s.url(&format!("/rwmedia/{name}")))
        .header("Authorization", format!("token {owner}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// The malformed files of the security review: clean 400s, nothing left behind

fn patch(mut b: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    b[at..at + bytes.len()].copy_from_slice(bytes);
    b
}

/// The position just after the first `needle` in `b`.
fn after(b: &[u8], needle: &[u8]) -> usize {
    b.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(needle)))
        + needle.len()
}

fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn the_malformed_files_of_the_security_review_get_clean_400s_and_leave_nothing_behind() {
    // 40 uploads from one address in a few seconds: more than a visitor's per-minute allowance.
    let s = fixture_server("[limits]\nuploads_per_ip_per_min = 1000\n").await;
    let good = wav(44_100, 1, Fmt::Pcm16, 1.0);
    let good_mp3 = mp3(44_100, 1, 3.0);
    let m4a = ffmpeg(2.0, 44_100, 1, &["-c:a", "aac"], "m4a");
    let flac = ffmpeg(2.0, 44_100, 1, &["-c:a", "flac"], "flac");
    let ogg = ffmpeg(2.0, 44_100, 1, &["-c:a", "libvorbis"], "ogg");
    let mut list_chunk = good[..36].to_vec();
    list_chunk.extend_from_slice(b"LIST");
    list_chunk.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    list_chunk.extend_from_slice(&good[36..]);
    let mut frames = Vec::new();
    for i in 0..500 {
        frames.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        frames.extend_from_slice(&noise(413, i));
    }
    let mut mp3_garbage = good_mp3.clone();
    mp3_garbage.extend_from_slice(&noise(500_000, 3));
    let flac_info = 8; // STREAMINFO starts after "fLaC" and the block header
    let m4a_at = |box_name: &[u8], offset: usize, value: u32| {
        let at = after(&m4a, box_name) + offset;
        patch(m4a.clone(), at, &value.to_be_bytes())
    };
    let moov = after(&m4a, b"moov") - 8;
    let mut flipped = ogg.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x5A;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("half a WAV", good[..good.len() / 2].to_vec(), "audio"),
        ("30 bytes of a WAV", good[..30].to_vec(), "audio"),
        ("a WAV header alone", good[..44].to_vec(), "audio"),
        (
            "a WAV declaring 4,294,967,280 data bytes",
            patch(good.clone(), 40, &0xFFFF_FFF0u32.to_le_bytes()),
            "audio",
        ),
        ("a LIST chunk of 0xFFFFFFF0", list_chunk, "audio"),
        (
            "a sample rate of 0",
            patch(good.clone(), 24, &0u32.to_le_bytes()),
            "audio",
        ),
        (
            "a sample rate of 1",
            patch(good.clone(), 24, &1u32.to_le_bytes()),
            "audio",
        ),
        (
            "a sample rate of 4,294,967,295",
            patch(good.clone(), 24, &u32::MAX.to_le_bytes()),
            "audio",
        ),
        (
            "0 channels",
            patch(good.clone(), 22, &0u16.to_le_bytes()),
            "audio",
        ),
        (
            "65,535 channels",
            patch(good.clone(), 22, &u16::MAX.to_le_bytes()),
            "audio",
        ),
        (
            "8 channels at 384 kHz",
            patch(
                patch(
                    patch(good.clone(), 22, &8u16.to_le_bytes()),
                    24,
                    &384_000u32.to_le_bytes(),
                ),
                32,
                &16u16.to_le_bytes(),
            ),
            "audio",
        ),
        (
            "0 bits per sample",
            patch(good.clone(), 34, &0u16.to_le_bytes()),
            "audio",
        ),
        (
            "7 bits per sample",
            patch(good.clone(), 34, &7u16.to_le_bytes()),
            "audio",
        ),
        (
            "an unknown format tag",
            patch(good.clone(), 20, &0x1234u16.to_le_bytes()),
            "audio",
        ),
        (
            "RIFF and garbage",
            [b"RIFF\x10\0\0\0WAVE".as_slice(), &noise(5000, 1)].concat(),
            "audio",
        ),
        ("an empty file", Vec::new(), "audio"),
        (
            "ID3 and garbage",
            [b"ID3\x04\0\0\0\0\0\0".as_slice(), &noise(5000, 2)].concat(),
            "audio",
        ),
        (
            "an ID3 tag claiming 256 MB",
            [b"ID3\x04\0\0\x7f\x7f\x7f\x7f".as_slice(), &noise(5000, 4)].concat(),
            "audio",
        ),
        ("500 frame syncs and garbage", frames, "audio"),
        ("a valid MP3 and 500 KB of garbage", mp3_garbage, "audio"),
        (
            "a truncated MP3",
            good_mp3[..good_mp3.len() / 3].to_vec(),
            "audio",
        ),
        (
            "an M4A with 0x3FFFFFFF stsz entries",
            m4a_at(b"stsz", 8, 0x3FFF_FFFF),
            "audio",
        ),
        (
            "an M4A with 0x3FFFFFFF stco entries",
            m4a_at(b"stco", 4, 0x3FFF_FFFF),
            "audio",
        ),
        (
            "an M4A with 0x3FFFFFFF stts entries",
            m4a_at(b"stts", 4, 0x3FFF_FFFF),
            "audio",
        ),
        (
            "an M4A with 0x3FFFFFFF stsc entries",
            m4a_at(b"stsc", 4, 0x3FFF_FFFF),
            "audio",
        ),
        (
            "an M4A whose mdhd timescale is 0",
            m4a_at(b"mdhd", 12, 0),
            "audio",
        ),
        (
            "an M4A whose moov claims 0x7FFFFFFF bytes",
            patch(m4a.clone(), moov, &0x7FFF_FFFFu32.to_be_bytes()),
            "audio",
        ),
        (
            "a truncated M4A",
            m4a[..m4a.len() * 2 / 3].to_vec(),
            "audio",
        ),
        ("a truncated FLAC", flac[..flac.len() / 2].to_vec(), "audio"),
        (
            "a FLAC whose STREAMINFO claims 2^36 samples",
            patch(
                patch(flac.clone(), flac_info + 13, &[flac[flac_info + 13] | 0x0F]),
                flac_info + 14,
                &[0xFF; 4],
            ),
            "audio",
        ),
        (
            "a FLAC with a sample rate of 0",
            patch(
                flac.clone(),
                flac_info + 10,
                &[0, 0, flac[flac_info + 12] & 0x0F],
            ),
            "audio",
        ),
        (
            "fLaC and garbage",
            [b"fLaC".as_slice(), &noise(5000, 5)].concat(),
            "audio",
        ),
        ("a truncated Ogg", ogg[..ogg.len() / 2].to_vec(), "audio"),
        ("a bit-flipped Ogg", flipped, "audio"),
        (
            "OggS and garbage",
            [b"OggS".as_slice(), &noise(5000, 6)].concat(),
            "audio",
        ),
        (
            "a PNG as audio",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec(),
            "audio",
        ),
        ("binary as text", noise(3000, 7), "text"),
        (
            "a WebM header as audio",
            [[0x1A, 0x45, 0xDF, 0xA3].as_slice(), &noise(100, 8)].concat(),
            "audio",
        ),
    ];
    assert_eq!(cases.len(), 38);
    for (what, bytes, media_type) in cases {
        let e = envelope(&s, 1).await;
        let r = send(
            &s,
            Method::PATCH,
            &format!("/api/2/envelopes/{e}/"),
            Some(&s.session_owner_token(1).await),
            vec![
                P::T("media_type", media_type),
                P::F("file", Some("upload"), "application/octet-stream", bytes),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.len() > 20,
            "{what}: a detail naming the problem: {}",
            r.body
        );
        assert_eq!(
            media_files(&s),
            Vec::<String>::new(),
            "{what}: nothing left"
        );
    }
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
    // The valid controls pass and the daemon serves on.
    for (what, bytes) in [
        ("an M4A", m4a),
        ("an in-range float WAV", wav(44_100, 1, Fmt::Float, 1.0)),
    ] {
        let r = upload(&s, bytes, "ok").await;
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
    }
    healthz(&s).await;
}
