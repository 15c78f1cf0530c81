//! The fetch client against real HTTP servers on loopback: timeouts, redirects, headers, and
//! what counts as audio.

use std::io::Read;
use std::time::{Duration, Instant};

use super::fetch::{
    Container, FetchError, chain, client, container_of, open_audio, open_audio_with,
};
use super::loopback::{Loopback, Reply};

fn no_headers() -> Vec<(String, String)> {
    Vec::new()
}

fn refusal(url: &str, headers: &[(String, String)]) -> FetchError {
    match open_audio(url, headers) {
        Ok(body) => panic!("{url} was opened as {:?}", body.container),
        Err(e) => e,
    }
}

#[test]
fn a_stream_that_keeps_sending_is_read_for_longer_than_the_idle_timeout() {
    // 16 pieces 250 ms apart: 4 s of body against a 1 s idle timeout.
    let server = Loopback::start(|_| {
        Reply::ok("audio/mpeg", vec![7u8; 1600]).trickled(100, Duration::from_millis(250))
    });
    let client = client(Duration::from_secs(1)).expect("client");
    let started = Instant::now();
    let mut body = open_audio_with(&client, &server.url("/live.mp3"), &no_headers())
        .expect("opened")
        .reader;
    let mut read = Vec::new();
    body.read_to_end(&mut read)
        .expect("no read waits as long as the idle timeout");
    assert_eq!(read.len(), 1600, "the whole body arrives");
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the stream lasted {:?}, longer than the timeout",
        started.elapsed()
    );
}

#[test]
fn a_stream_that_goes_quiet_fails_its_read_within_about_the_idle_timeout() {
    let server = Loopback::start(|_| {
        Reply::ok("audio/mpeg", vec![7u8; 1000]).then_silent_for(Duration::from_secs(8))
    });
    let client = client(Duration::from_secs(1)).expect("client");
    let mut body = open_audio_with(&client, &server.url("/live.mp3"), &no_headers())
        .expect("opened")
        .reader;
    let mut first = vec![0u8; 1000];
    body.read_exact(&mut first).expect("the data sent is read");
    let quiet_from = Instant::now();
    let err = body
        .read(&mut first)
        .expect_err("a silent server fails the read");
    let waited = quiet_from.elapsed();
    assert!(chain(&err).contains("timed out"), "{}", chain(&err));
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "the read failed after {waited:?} ({err})"
    );
}

#[test]
fn a_redirect_is_followed_and_the_given_headers_are_sent_each_time() {
    let server = Loopback::start(|path| match path {
        "/mount" => Reply::status("302 Found", "Location: /relay/bed.ogg\r\n"),
        _ => Reply::ok("application/ogg", vec![0u8; 64]),
    });
    let headers = vec![
        ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
        ("X-Relay".to_owned(), "box-7".to_owned()),
        ("Icy-MetaData".to_owned(), "1".to_owned()),
    ];
    let body = open_audio(&server.url("/mount"), &headers).expect("followed");
    assert_eq!(body.container, Container::Ogg);
    assert_eq!(body.content_type, "application/ogg");
    let heads = server.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(heads[1].starts_with("get /relay/bed.ogg "), "{heads:?}");
    let version = env!("CARGO_PKG_VERSION");
    for head in &heads {
        for line in [
            "authorization: bearer s3cret\r\n",
            "x-relay: box-7\r\n",
            "icy-metadata: 0\r\n",
            &format!("user-agent: roundwared/{version}\r\n"),
        ] {
            assert!(head.contains(line), "{line:?} missing from {head:?}");
        }
        assert!(!head.contains("icy-metadata: 1"), "{head:?}");
    }
}

#[test]
fn more_than_five_redirects_are_refused() {
    let server = Loopback::start(|path| {
        let n: u32 = path.trim_start_matches("/hop").parse().unwrap_or(0);
        Reply::status("302 Found", &format!("Location: /hop{}\r\n", n + 1))
    });
    let err = refusal(&server.url("/hop0"), &no_headers());
    assert!(matches!(err, FetchError::Transport(_)), "{err}");
    assert!(err.to_string().contains("redirect"), "{err}");
    assert_eq!(
        server.heads().len(),
        6,
        "the first request and five redirects"
    );
}

#[test]
fn the_container_is_judged_by_the_content_type_then_by_the_extension() {
    let cases: &[(&str, &[&str], Option<Container>)] = &[
        ("audio/mpeg", &["/x"], Some(Container::Mp3)),
        ("Audio/MP3; charset=x", &["/x.ogg"], Some(Container::Mp3)),
        ("audio/ogg", &["/x"], Some(Container::Ogg)),
        ("application/ogg", &["/x"], Some(Container::Ogg)),
        ("audio/vorbis", &["/x"], Some(Container::Ogg)),
        ("audio/aac", &["/x"], Some(Container::Aac)),
        ("audio/aacp", &["/x"], Some(Container::Aac)),
        ("audio/x-aac", &["/x"], Some(Container::Aac)),
        (
            "application/octet-stream",
            &["/a/bed.MP3"],
            Some(Container::Mp3),
        ),
        ("", &["/bed.oga"], Some(Container::Ogg)),
        ("", &["/stream", "/bed.aac"], Some(Container::Aac)),
        ("application/octet-stream", &["/bed.bin"], None),
        ("", &["/stream"], None),
        ("text/html", &["/bed.mp3"], None),
        ("audio/wav", &["/bed.mp3"], None),
    ];
    for (content_type, paths, want) in cases {
        assert_eq!(
            container_of(content_type, paths),
            *want,
            "{content_type:?} {paths:?}"
        );
    }
}

#[test]
fn a_page_or_an_unknown_type_is_refused_naming_its_type() {
    let server = Loopback::start(|path| match path {
        "/page" => Reply::ok("text/html; charset=utf-8", b"<html>".to_vec()),
        "/blob.bin" => Reply::ok("application/octet-stream", vec![0u8; 8]),
        _ => Reply::ok("", vec![0u8; 8]),
    });
    let err = refusal(&server.url("/page"), &no_headers());
    assert!(matches!(err, FetchError::NotAudio(_)), "{err}");
    assert!(err.to_string().contains("text/html"), "{err}");
    let err = refusal(&server.url("/blob.bin"), &no_headers());
    assert!(
        err.to_string().contains("application/octet-stream"),
        "{err}"
    );
    let err = refusal(&server.url("/stream"), &no_headers());
    assert!(err.to_string().contains("without a Content-Type"), "{err}");
}

#[test]
fn a_status_other_than_2xx_is_refused_naming_its_code() {
    let server = Loopback::start(|path| match path {
        "/gone" => Reply::status("404 Not Found", ""),
        _ => Reply::status("503 Service Unavailable", ""),
    });
    let err = refusal(&server.url("/gone"), &no_headers());
    assert!(matches!(err, FetchError::Status { code: 404, .. }), "{err}");
    assert!(err.to_string().contains("HTTP 404 Not Found"), "{err}");
    let err = refusal(&server.url("/busy"), &no_headers());
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

#[test]
fn invalid_request_headers_are_refused_by_name_before_anything_is_sent() {
    let server = Loopback::start(|_| Reply::ok("audio/mpeg", vec![0u8; 8]));
    for (name, value) in [
        ("Bad Name", "secret-1"),
        ("", "secret-2"),
        ("X-Token", "line\r\nInjected: yes"),
        ("X-Token", "caf\u{e9}\u{0}"),
    ] {
        let headers = vec![(name.to_owned(), value.to_owned())];
        let err = refusal(&server.url("/bed.mp3"), &headers);
        assert!(matches!(err, FetchError::BadHeader(_)), "{err}");
        assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
        assert!(
            !err.to_string().contains(value),
            "the value stays out: {err}"
        );
    }
    assert!(server.heads().is_empty(), "nothing was sent");
}

#[test]
fn only_http_and_https_urls_are_accepted() {
    for url in [
        "ftp://example/x.mp3",
        "file:///etc/passwd",
        "bed.mp3",
        "http//x",
    ] {
        let err = refusal(url, &no_headers());
        assert!(matches!(err, FetchError::BadUrl(_)), "{url}: {err}");
        assert!(err.to_string().contains(url), "{err}");
    }
    // https:// is a URL the client tries (here a closed port: a transport error, not a bad URL).
    let err = refusal("https://127.0.0.1:1/bed.mp3", &no_headers());
    assert!(matches!(err, FetchError::Transport(_)), "{err}");
}
