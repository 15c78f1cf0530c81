//! `/rwmedia/`: real files in `<data_dir>/media/` served with types, lengths, ranges,
//! validators and CORS; every kind of path traversal refused without leaking a byte from
//! outside the media folder (`delete_binary` is in `media_delete.rs`).

use std::io::{Read, Write};
use std::path::PathBuf;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::support::TestServer;

pub(crate) const SECRET: &str = "TOP-SECRET-9f2c1e outside the media folder";

/// A 16-bit mono 44.1 kHz WAV of `samples` samples of a square-ish wave.
fn wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&44_100u32.to_le_bytes());
    out.extend_from_slice(&88_200u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let v: i16 = if (i / 50) % 2 == 0 { 8000 } else { -8000 };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// `len` pseudo-random bytes (every offset has a distinctive value).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub(crate) struct Media {
    pub(crate) s: TestServer,
    pub(crate) dir: PathBuf,
    tone: Vec<u8>,
    big: Vec<u8>,
}

/// A server whose media folder holds `tone.wav` and a 3 MB `big.mp3`, with a secret file
/// next to the media folder.
pub(crate) async fn setup() -> Media {
    let s = TestServer::with_reference_fixture().await;
    let dir = s.data_dir().join("media");
    let tone = wav(44_100);
    let big = noise(3 * 1024 * 1024 + 123);
    std::fs::write(dir.join("tone.wav"), &tone).unwrap();
    std::fs::write(dir.join("big.mp3"), &big).unwrap();
    std::fs::write(s.data_dir().join("secret.txt"), SECRET).unwrap();
    Media { s, dir, tone, big }
}

/// A GET (or other method) with extra headers; returns status, headers and the raw body.
async fn fetch(
    s: &TestServer,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = s.client.request(method, s.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let h = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, h, body)
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Sends a request line exactly as written (no client-side path normalisation) and returns
/// the status code and the whole raw response.
async fn raw_get(s: &TestServer, target: &str) -> (u16, String) {
    let addr = s.base.trim_start_matches("http://").to_string();
    let target = target.to_string();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).to_string();
        let code = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, text)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_full_get_has_the_right_type_length_validators_and_bytes() {
    let m = setup().await;
    let (status, h, body) = fetch(&m.s, Method::GET, "/rwmedia/tone.wav", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "audio/wav");
    assert_eq!(header(&h, "content-length"), m.tone.len().to_string());
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert!(header(&h, "etag").starts_with('"'), "{h:?}");
    assert!(header(&h, "last-modified").ends_with(" GMT"), "{h:?}");
    assert!(header(&h, "cache-control").contains("max-age"), "{h:?}");
    assert_eq!(body, m.tone);

    let (status, h, body) = fetch(&m.s, Method::GET, "/rwmedia/big.mp3", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "audio/mpeg");
    assert_eq!(header(&h, "content-length"), m.big.len().to_string());
    assert!(body == m.big, "3 MB body differs");
}

#[tokio::test]
async fn content_types_follow_the_extension() {
    let m = setup().await;
    for (name, ty) in [
        ("a.M4A", "audio/mp4"),
        ("a.mp4", "audio/mp4"),
        ("a.aac", "audio/aac"),
        ("a.ogg", "audio/ogg"),
        ("a.flac", "audio/flac"),
        ("a.png", "image/png"),
        ("a.JPG", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("a.gif", "image/gif"),
        ("a.webp", "image/webp"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.json", "application/json"),
        ("a.zip", "application/zip"),
        ("a.html", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ] {
        std::fs::write(m.dir.join(name), b"x").unwrap();
        let (status, h, _) = fetch(&m.s, Method::GET, &format!("/rwmedia/{name}"), &[]).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(header(&h, "content-type"), ty, "{name}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{name}");
    }
    // A name with a space and an emoji, percent-encoded in the URL.
    std::fs::write(m.dir.join("a b😀.mp3"), b"spaced").unwrap();
    let (status, _, body) = fetch(&m.s, Method::GET, "/rwmedia/a%20b%F0%9F%98%80.mp3", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"spaced");
}

#[tokio::test]
async fn range_requests_return_exactly_the_requested_bytes() {
    let m = setup().await;
    let len = m.big.len();
    for (range, start, end) in [
        ("bytes=0-0".to_string(), 0, 0),
        ("bytes=0-99".to_string(), 0, 99),
        ("bytes=100-700000".to_string(), 100, 700_000),
        (format!("bytes={}-", len - 1000), len - 1000, len - 1),
        ("bytes=-4096".to_string(), len - 4096, len - 1),
        ("bytes=-99999999".to_string(), 0, len - 1),
        (format!("bytes=2000000-{}", len + 5000), 2_000_000, len - 1),
    ] {
        let (status, h, body) =
            fetch(&m.s, Method::GET, "/rwmedia/big.mp3", &[("Range", &range)]).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&h, "content-range"),
            format!("bytes {start}-{end}/{len}"),
            "{range}"
        );
        assert_eq!(
            header(&h, "content-length"),
            (end - start + 1).to_string(),
            "{range}"
        );
        assert_eq!(header(&h, "content-type"), "audio/mpeg");
        assert!(body == m.big[start..=end], "{range}: wrong bytes");
    }
    // The WAV header alone, as a player probing the file would ask for it.
    let (status, _, body) = fetch(
        &m.s,
        Method::GET,
        "/rwmedia/tone.wav",
        &[("Range", "bytes=0-43")],
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, m.tone[..44]);
}

#[tokio::test]
async fn unsatisfiable_multi_and_malformed_ranges() {
    let m = setup().await;
    let len = m.tone.len();
    for range in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 10, len + 20),
        "bytes=-0".into(),
    ] {
        let (status, h, body) =
            fetch(&m.s, Method::GET, "/rwmedia/tone.wav", &[("Range", &range)]).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&h, "content-range"), format!("bytes */{len}"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["detail"].is_string());
    }
    // Several ranges, or a header we cannot read: the whole file.
    for range in ["bytes=0-1,5-9", "bytes=9-1", "bytes=abc", "lines=1-2"] {
        let (status, h, body) =
            fetch(&m.s, Method::GET, "/rwmedia/tone.wav", &[("Range", range)]).await;
        assert_eq!(status, StatusCode::OK, "{range}");
        assert!(h.get("content-range").is_none());
        assert_eq!(body, m.tone, "{range}");
    }
    // An empty file: 200 with length 0, and every range is unsatisfiable.
    std::fs::write(m.dir.join("empty.txt"), b"").unwrap();
    let (status, h, body) = fetch(&m.s, Method::GET, "/rwmedia/empty.txt", &[]).await;
    assert_eq!(
        (status, header(&h, "content-length"), body.len()),
        (StatusCode::OK, "0", 0)
    );
    let (status, _, _) = fetch(
        &m.s,
        Method::GET,
        "/rwmedia/empty.txt",
        &[("Range", "bytes=0-")],
    )
    .await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn head_answers_the_headers_of_get_without_a_body() {
    let m = setup().await;
    let (status, h, body) = fetch(&m.s, Method::HEAD, "/rwmedia/big.mp3", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-length"), m.big.len().to_string());
    assert_eq!(header(&h, "content-type"), "audio/mpeg");
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert!(body.is_empty());
    let (status, h, body) = fetch(
        &m.s,
        Method::HEAD,
        "/rwmedia/big.mp3",
        &[("Range", "bytes=10-19")],
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&h, "content-length"), "10");
    assert!(body.is_empty());
    let (status, _, _) = fetch(&m.s, Method::HEAD, "/rwmedia/missing.mp3", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = fetch(&m.s, Method::POST, "/rwmedia/big.mp3", &[]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn validators_give_304_and_if_range_decides_between_part_and_whole() {
    let m = setup().await;
    let (_, h, _) = fetch(&m.s, Method::GET, "/rwmedia/tone.wav", &[]).await;
    let etag = header(&h, "etag").to_string();
    let lm = header(&h, "last-modified").to_string();
    let get = |hs: Vec<(&'static str, String)>| {
        let s = &m.s;
        async move {
            let pairs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            fetch(s, Method::GET, "/rwmedia/tone.wav", &pairs).await
        }
    };
    let (status, h, body) = get(vec![("If-None-Match", etag.clone())]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&h, "etag"), etag);
    let (status, ..) = get(vec![("If-None-Match", format!("\"other\", W/{etag}"))]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED, "weak comparison");
    let (status, _, body) = get(vec![("If-None-Match", "\"other\"".into())]).await;
    assert_eq!((status, body.len()), (StatusCode::OK, m.tone.len()));
    let (status, ..) = get(vec![("If-Modified-Since", lm.clone())]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, ..) = get(vec![(
        "If-Modified-Since",
        "Sat, 01 Jan 2000 00:00:00 GMT".into(),
    )])
    .await;
    assert_eq!(status, StatusCode::OK);
    // If-None-Match wins over If-Modified-Since.
    let (status, ..) = get(vec![
        ("If-None-Match", "\"other\"".into()),
        ("If-Modified-Since", lm.clone()),
    ])
    .await;
    assert_eq!(status, StatusCode::OK);

    let range = ("Range", "bytes=4-7".to_string());
    let (status, _, body) = get(vec![range.clone(), ("If-Range", etag.clone())]).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &m.tone[4..8])
    );
    let (status, _, body) = get(vec![range.clone(), ("If-Range", "\"stale\"".into())]).await;
    assert_eq!((status, body.len()), (StatusCode::OK, m.tone.len()));
    let (status, _, body) = get(vec![range.clone(), ("If-Range", format!("W/{etag}"))]).await;
    assert_eq!(
        (status, body.len()),
        (StatusCode::OK, m.tone.len()),
        "weak tags never match If-Range"
    );
    let (status, ..) = get(vec![range.clone(), ("If-Range", lm.clone())]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let (status, ..) = get(vec![
        range,
        ("If-Range", "Sat, 01 Jan 2000 00:00:00 GMT".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::OK);

    // A rewritten file gets a new ETag.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(m.dir.join("tone.wav"), wav(100)).unwrap();
    let (_, h, _) = fetch(&m.s, Method::GET, "/rwmedia/tone.wav", &[]).await;
    assert_ne!(header(&h, "etag"), etag);
}

#[tokio::test]
async fn media_carry_cors_headers_and_range_preflights_pass() {
    let m = setup().await;
    let origin = ("Origin", "http://venue.example");
    for (range, want) in [
        (None, StatusCode::OK),
        (Some("bytes=0-9"), StatusCode::PARTIAL_CONTENT),
    ] {
        let mut hs = vec![origin];
        if let Some(r) = range {
            hs.push(("Range", r));
        }
        let (status, h, _) = fetch(&m.s, Method::GET, "/rwmedia/big.mp3", &hs).await;
        assert_eq!(status, want);
        assert_eq!(header(&h, "access-control-allow-origin"), "*");
        let exposed = header(&h, "access-control-expose-headers").to_ascii_lowercase();
        for name in ["content-range", "accept-ranges", "content-length"] {
            assert!(exposed.contains(name), "{exposed}");
        }
    }
    let (status, h, _) = fetch(&m.s, Method::GET, "/rwmedia/missing.mp3", &[origin]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header(&h, "access-control-allow-origin"), "*");

    let (status, h, _) = fetch(
        &m.s,
        Method::OPTIONS,
        "/rwmedia/big.mp3",
        &[
            origin,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    )
    .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(header(&h, "access-control-allow-origin"), "*");
    assert!(header(&h, "access-control-allow-methods").contains("GET"));
    assert!(
        header(&h, "access-control-allow-headers")
            .to_ascii_lowercase()
            .contains("range")
    );
}

#[tokio::test]
async fn no_traversal_ever_reaches_a_file_outside_the_media_folder() {
    let m = setup().await;
    std::fs::create_dir(m.dir.join("sub")).unwrap();
    for target in [
        "/rwmedia/../secret.txt",
        "/rwmedia/sub/../../secret.txt",
        "/rwmedia/%2e%2e/secret.txt",
        "/rwmedia/%2E%2E/secret.txt",
        "/rwmedia/%2e%2e%2fsecret.txt",
        "/rwmedia/..%2fsecret.txt",
        "/rwmedia/sub%2f..%2f..%2fsecret.txt",
        "/rwmedia/..%5csecret.txt",
        "/rwmedia/%252e%252e/secret.txt",
        "/rwmedia/..;/secret.txt",
        "/rwmedia//etc/passwd",
        "/rwmedia/%2fetc%2fpasswd",
        "/rwmedia/%2Fetc/passwd",
        &format!("/rwmedia/{}", m.s.data_dir().join("secret.txt").display()),
        &format!(
            "/rwmedia/%2F{}",
            m.s.data_dir().join("secret.txt").display()
        ),
        "/rwmedia/secret.txt%00.mp3",
        "/rwmedia/tone.wav%00",
        "/rwmedia/%c0%ae%c0%ae/secret.txt",
        "/rwmedia/../roundwared.sqlite3",
        "/rwmedia/%2e%2e/roundwared.sqlite3",
        "/rwmedia/.",
        "/rwmedia/..",
        "/rwmedia/%2e",
        "/rwmedia/sub",
        "/rwmedia/",
        "/rwmedia/%zz",
    ] {
        let (code, text) = raw_get(&m.s, target).await;
        assert!(code == 404 || code == 400, "{target}: {code} {text}");
        assert!(!text.contains("TOP-SECRET"), "{target} leaked the secret");
        assert!(
            !text.contains("SQLite format"),
            "{target} leaked the database"
        );
        assert!(!text.contains("root:"), "{target} leaked /etc/passwd");
    }
    // A backslash in the request line itself (hyper may refuse it before we see it).
    let (code, text) = raw_get(&m.s, "/rwmedia/..\\secret.txt").await;
    assert!(code == 404 || code == 400, "{code} {text}");
    assert!(!text.contains("TOP-SECRET"));
    // The same files are fine when asked for properly.
    let (code, _) = raw_get(&m.s, "/rwmedia/tone.wav").await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn symlinks_out_of_the_media_folder_and_hidden_files_are_not_served() {
    let m = setup().await;
    let outside = m.s.data_dir().join("secret.txt");
    std::os::unix::fs::symlink(&outside, m.dir.join("link.mp3")).unwrap();
    std::os::unix::fs::symlink(m.s.data_dir(), m.dir.join("up")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", m.dir.join("passwd.txt")).unwrap();
    std::os::unix::fs::symlink(m.dir.join("tone.wav"), m.dir.join("inner.wav")).unwrap();
    std::fs::write(m.dir.join(".upload-1234.tmp"), SECRET).unwrap();
    std::fs::write(m.dir.join(".hidden.mp3"), SECRET).unwrap();
    std::fs::create_dir(m.dir.join(".staging")).unwrap();
    std::fs::write(m.dir.join(".staging/x.mp3"), SECRET).unwrap();
    for path in [
        "/rwmedia/link.mp3",
        "/rwmedia/up/secret.txt",
        "/rwmedia/passwd.txt",
        "/rwmedia/.upload-1234.tmp",
        "/rwmedia/.hidden.mp3",
        "/rwmedia/%2ehidden.mp3",
        "/rwmedia/.staging/x.mp3",
    ] {
        let (code, text) = raw_get(&m.s, path).await;
        assert_eq!(code, 404, "{path}: {text}");
        assert!(
            !text.contains("TOP-SECRET") && !text.contains("root:"),
            "{path} leaked"
        );
        assert!(
            text.contains("\"detail\""),
            "{path}: JSON 404 expected: {text}"
        );
    }
    // A symlink that stays inside the media folder is an ordinary file.
    let (status, h, body) = fetch(&m.s, Method::GET, "/rwmedia/inner.wav", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "audio/wav");
    assert_eq!(body, m.tone);
    // A missing file: JSON 404.
    let r = m.s.get("/rwmedia/nothing-here.mp3", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["detail"].is_string());
}
