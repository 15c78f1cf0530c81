//! Stream listeners handed to their feed's fan-out writer instead of being served by hyper.
//!
//! Players open a connection per stream and ask for it first thing. A connection that opens
//! with `GET /live/…` or `GET /stream…` has its request head read here *without consuming
//! it* and answered by the app like any request (same routing, handlers, CORS and request
//! counting). When the answer is a listener ([`super::stream`] puts the subscription in the
//! request's [`Handoff`] slot instead of a body), the head is consumed and the connection,
//! with Icecast's HTTP/1.0 response head as its first bytes, joins the feed's
//! [`crate::output::fanout`] writer: one task writes each publish to every listener, as
//! Icecast's source loop does, instead of one task wake-up per listener per chunk.
//!
//! Any other answer (404 for an idle channel, a head that does not parse, does not fit in
//! [`MAX_HEAD_BYTES`] or announces a body) leaves the connection untouched for hyper, which
//! reads the same request and answers it as before; so does a stream asked for later on a
//! keep-alive connection (hyper then serves that listener with a task of its own).
//!
//! Owns: reading the head off the socket, the response head's bytes. May not touch: what
//! the answer is (the router's), the queue, the writes after the head.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, Version, header};
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tower::ServiceExt;

use super::conn::{ConnTuning, TunedStream};
use crate::output::fanout::Direct;
use crate::output::feed::Feed;
use crate::output::listener::ListenerBody;

/// The longest request head taken here (players send well under 1 KB); a longer one goes to
/// hyper.
pub(super) const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Where [`super::stream`] leaves a listener for this module instead of answering a body.
#[derive(Clone, Default)]
pub(crate) struct Handoff(Arc<Mutex<Option<(Feed, ListenerBody)>>>);

impl Handoff {
    /// Leaves `body`, a listener of `feed`, to be written by the feed's writer.
    pub(crate) fn put(&self, feed: Feed, body: ListenerBody) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((feed, body));
    }

    fn take(&self) -> Option<(Feed, ListenerBody)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Whether a connection's first bytes are a stream request taken here; `None` while they
/// are too few to tell.
pub(super) fn is_listener_request(first: &[u8]) -> Option<bool> {
    const PATTERNS: [&[u8]; 2] = [b"GET /live/", b"GET /stream"];
    let mut undecided = false;
    for p in PATTERNS {
        if first.starts_with(p) {
            return Some(true);
        }
        undecided |= p.starts_with(first);
    }
    if undecided { None } else { Some(false) }
}

/// Serves a connection that opens with a stream request: hands it to the feed's writer and
/// returns `None`, or returns it untouched for hyper. A head not whole by `deadline` (the
/// connection's `[http] header_read_timeout_s`) closes the connection, as hyper would.
pub(super) async fn serve(
    io: TunedStream,
    tuning: ConnTuning,
    app: Router,
    deadline: tokio::time::Instant,
) -> Option<TunedStream> {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let (req, head_len) = loop {
        // Checked first: a peek of bytes already there is ready even past the deadline.
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        let peeked = tokio::time::timeout_at(deadline, io.peek(&mut buf)).await;
        let Ok(Ok(n @ 1..)) = peeked else {
            // Too slow, gone, or failed: nothing to answer.
            return None;
        };
        match parse_head(&buf[..n]) {
            Head::Complete(req, len) => break (req, len),
            Head::Partial if n < buf.len() => {
                // A client trickling its head: look again shortly.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Head::Partial | Head::NotOurs => return Some(io),
        }
    };
    let mut req = *req;
    let handoff = Handoff::default();
    req.extensions_mut().insert(ConnectInfo(tuning));
    req.extensions_mut().insert(handoff.clone());
    let Ok(response) = app.oneshot(req).await;
    let Some((feed, body)) = handoff.take() else {
        return Some(io);
    };
    let mut io = io;
    let mut consumed = vec![0u8; head_len];
    // The head is in the socket's receive queue already (it was peeked).
    match tokio::time::timeout(Duration::from_secs(1), io.read_exact(&mut consumed)).await {
        Ok(Ok(_)) if consumed == buf[..head_len] => {}
        _ => return None,
    }
    feed.fan_out(Direct::new(Box::new(io), body, response_head(&response)));
    None
}

/// What the peeked bytes hold.
enum Head {
    /// A whole head without a body, and its length in bytes.
    Complete(Box<Request<Body>>, usize),
    /// More bytes are needed.
    Partial,
    /// Not a request this module takes: hyper answers it.
    NotOurs,
}

fn parse_head(bytes: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::NotOurs,
    };
    let (Some(method), Some(path)) = (parsed.method, parsed.path) else {
        return Head::NotOurs;
    };
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut builder = Request::builder().method(method).uri(path).version(version);
    for h in parsed.headers.iter() {
        let has_body = h
            .name
            .eq_ignore_ascii_case(header::TRANSFER_ENCODING.as_str())
            || (h.name.eq_ignore_ascii_case(header::CONTENT_LENGTH.as_str()) && h.value != b"0");
        if has_body {
            return Head::NotOurs;
        }
        builder = builder.header(h.name, h.value);
    }
    match builder.body(Body::empty()) {
        Ok(req) => Head::Complete(Box::new(req), len),
        Err(_) => Head::NotOurs,
    }
}

/// `response`'s status and headers as an HTTP/1.0 head (the body is close-delimited, as
/// Icecast answers), with a `Date`.
fn response_head<B>(response: &Response<B>) -> Bytes {
    let status = response.status();
    let mut head = format!(
        "HTTP/1.0 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in response.headers() {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !response.headers().contains_key(header::DATE) {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Bytes::from(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_requests_are_told_apart_from_the_first_bytes() {
        assert_eq!(
            is_listener_request(b"GET /live/abc.mp3 HTTP/1.1"),
            Some(true)
        );
        assert_eq!(is_listener_request(b"GET /stream12.mp3"), Some(true));
        assert_eq!(is_listener_request(b"GET /str"), None);
        assert_eq!(is_listener_request(b"GET /api/2/"), Some(false));
        assert_eq!(is_listener_request(b"HEAD /live/x.mp3"), Some(false));
        assert_eq!(is_listener_request(b"PUT /live/key"), Some(false));
    }

    #[test]
    fn a_head_is_taken_only_when_whole_and_without_a_body() {
        let whole = b"GET /live/x.mp3 HTTP/1.1\r\nHost: b\r\nIcy-MetaData: 1\r\n\r\nextra";
        let Head::Complete(req, len) = parse_head(whole) else {
            panic!("a whole head")
        };
        assert_eq!(len, whole.len() - "extra".len());
        assert_eq!(req.uri().path(), "/live/x.mp3");
        assert_eq!(req.headers()["icy-metadata"], "1");
        assert!(matches!(
            parse_head(b"GET /live/x.mp3 HTTP/1.1\r\nHost"),
            Head::Partial
        ));
        assert!(matches!(
            parse_head(b"GET /live/x.mp3 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
            Head::NotOurs
        ));
        assert!(matches!(
            parse_head(b"GET \x01 HTTP/1.1\r\n\r\n"),
            Head::NotOurs
        ));
    }

    #[test]
    fn the_response_head_is_http_1_0_without_length_and_with_a_date() {
        let response = Response::builder()
            .header("content-type", "audio/mpeg")
            .header("content-length", "0")
            .body(())
            .unwrap();
        let head = String::from_utf8(response_head(&response).to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(head.contains("content-type: audio/mpeg\r\n"));
        assert!(!head.contains("content-length"));
        assert!(head.contains("date: "));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
