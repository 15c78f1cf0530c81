//! `GET`/`HEAD /stream<id>.mp3`: a live stream for phones' `<audio>` elements and Icecast
//! players, anonymous (they cannot send tokens), answered the way Icecast 2.4 does.
//! `OPTIONS` (preflight or not) is answered by the global CORS layer.
//!
//! * `Content-Type: audio/mpeg`, no `Content-Length`, `Cache-Control: no-cache, no-store`,
//!   `Pragma: no-cache`, an `Expires` in the past, `Server: roundwared`, `icy-name`,
//!   `icy-description`, `icy-genre`, `icy-pub: 0`, `icy-br: <kbps>`; CORS (any origin,
//!   `Icy-MetaData` allowed, the `icy-*` names exposed) comes from the global layer.
//! * ICY metadata only for a request with `Icy-MetaData: 1` (any positive integer, as
//!   Icecast reads it): `icy-metaint: 16000` and the blocks of [`crate::output::icy`].
//! * The body starts with a 1.5 s burst on an MP3 frame boundary and then runs in real time
//!   until the client leaves, the feed closes (kill, idle teardown) or the daemon stops.
//!
//! **Framing.** hyper 1.x gives an HTTP/1.1 response of unknown length
//! `Transfer-Encoding: chunked`, and `Connection: close` does not change that (checked in
//! hyper's `proto/h1/role.rs`: only an HTTP/1.0 *request or response head* selects a
//! close-delimited body). Icecast sends no chunked framing, and some embedded players and
//! ICY parsers that count body bytes break on chunk headers. So the response head is set to
//! HTTP/1.0 with `Connection: close`: the status line is `HTTP/1.0 200 OK`, the body is raw
//! MP3 (plus ICY blocks) until the socket closes — byte for byte Icecast's answer, which every
//! player accepts. Only this route does this; the API keeps HTTP/1.1 keep-alive.
//!
//! **Writers.** A stream asked for first thing on a connection of its own (what players do)
//! is written by its feed's fan-out writer ([`super::listen`], [`crate::output::fanout`]):
//! the same head and body, one task for all of a feed's listeners. Otherwise (a keep-alive
//! connection that asked for something else first) hyper writes it, a task per listener.
//!
//! **Slow clients.** The connection's kernel send buffer is capped at about half a second of
//! audio ([`super::conn`]); the application queue skips a listener forward when it falls
//! behind (see [`crate::output::feed`]). A client that leaves is noticed on the next write
//! (within about 100–200 ms) and stops counting as a listener.
//!
//! Owns: this route's parsing and headers. May not touch: the queue, the encoder, the engine.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Version, header};
use axum::response::{IntoResponse, Response};

use super::conn::ConnTuning;
use super::listen::Handoff;
use super::{ApiError, AppState};
use crate::output::feed::Feed;
use crate::output::icy;
use crate::output::listener::ListenerBody;

/// Kernel send buffer granted to a stream connection, in milliseconds of audio.
const SEND_BUFFER_MS: u64 = 500;

/// The `icy-*` response headers, also exposed to browsers by the CORS layer.
pub(super) const ICY_HEADERS: [&str; 7] = [
    "icy-br",
    "icy-description",
    "icy-genre",
    "icy-metaint",
    "icy-name",
    "icy-pub",
    "icy-url",
];

/// `GET` and `HEAD /stream<id>.mp3` (axum answers HEAD with this handler, without the body).
pub(super) async fn serve(State(state): State<AppState>, req: Request) -> Response {
    let Some(id) = stream_id(req.uri().path()) else {
        return ApiError::NotFound("path".into()).into_response();
    };
    let Some(feed) = state.feeds.get(id).filter(|f| !f.is_closed()) else {
        return ApiError::not_found("stream", id).into_response();
    };
    mp3_response(
        &req,
        &feed,
        "Roundware",
        &format!("Roundware stream {id}"),
        &id.to_string(),
    )
}

/// `GET` and `HEAD /live/<playbackId>.mp3`: a broadcast channel while it is live (404 while
/// it is idle, as Icecast answers for a mount without a source).
pub(super) async fn serve_live(State(state): State<AppState>, req: Request) -> Response {
    let Some(playback_id) = req
        .uri()
        .path()
        .strip_prefix("/live/")
        .and_then(|f| f.strip_suffix(".mp3"))
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
    else {
        return ApiError::NotFound("path".into()).into_response();
    };
    let Some(feed) = state.broadcast.playback(&playback_id).await else {
        return ApiError::NotFound(format!(
            "live channel {playback_id} (unknown, or not live now)"
        ))
        .into_response();
    };
    mp3_response(
        &req,
        &feed,
        "roundwared channel",
        &format!("broadcast channel {playback_id}"),
        &playback_id,
    )
}

/// An Icecast-grade answer for `feed`: the headers, and (for GET) a body from
/// [`BURST_MS`](crate::output::feed::BURST_MS) behind live.
fn mp3_response(
    req: &Request,
    feed: &Feed,
    name: &'static str,
    description: &str,
    id: &str,
) -> Response {
    let with_icy = wants_icy(req.headers());
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/mpeg"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::EXPIRES,
        HeaderValue::from_static("Mon, 26 Jul 1997 05:00:00 GMT"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::SERVER, HeaderValue::from_static("roundwared"));
    let icy_header = |name: &'static str| HeaderName::from_static(name);
    headers.insert(icy_header("icy-name"), HeaderValue::from_static(name));
    if let Ok(v) = HeaderValue::from_str(description) {
        headers.insert(icy_header("icy-description"), v);
    }
    headers.insert(
        icy_header("icy-genre"),
        HeaderValue::from_static("Roundware"),
    );
    headers.insert(icy_header("icy-pub"), HeaderValue::from(0u32));
    headers.insert(icy_header("icy-br"), HeaderValue::from(feed.bitrate_kbps()));
    if with_icy {
        headers.insert(icy_header("icy-metaint"), HeaderValue::from(icy::METAINT));
    }

    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        let Some(sub) = feed.subscribe() else {
            return ApiError::NotFound(format!("stream {id}")).into_response();
        };
        if let Some(ConnectInfo(conn)) = req.extensions().get::<ConnectInfo<ConnTuning>>() {
            let bytes = u64::from(feed.bitrate_kbps()) * 1000 / 8 * SEND_BUFFER_MS / 1000;
            conn.cap_send_buffer(usize::try_from(bytes).unwrap_or(usize::MAX).max(4096));
            log::debug!(
                "stream {id}: listener {} connected (ICY {with_icy}), {} now",
                conn.remote,
                feed.listeners()
            );
        }
        let body = ListenerBody::new(sub, with_icy);
        match req.extensions().get::<Handoff>() {
            // A connection of its own: the feed's fan-out writer sends the head and body.
            Some(handoff) => {
                handoff.put(feed.clone(), body);
                Body::empty()
            }
            None => Body::from_stream(body.into_stream()),
        }
    };
    let mut response = Response::new(body);
    *response.version_mut() = Version::HTTP_10;
    *response.headers_mut() = headers;
    response
}

/// The id of `/stream<digits>.mp3`.
fn stream_id(path: &str) -> Option<i64> {
    let digits = path.strip_prefix("/stream")?.strip_suffix(".mp3")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `Icy-MetaData: 1` (Icecast accepts any positive integer).
fn wants_icy(headers: &HeaderMap) -> bool {
    headers
        .get("icy-metadata")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .is_some_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_between_stream_and_mp3_name_a_stream() {
        assert_eq!(stream_id("/stream12.mp3"), Some(12));
        assert_eq!(stream_id("/stream.mp3"), None);
        assert_eq!(stream_id("/stream-1.mp3"), None);
        assert_eq!(stream_id("/stream+1.mp3"), None);
        assert_eq!(stream_id("/stream1.ogg"), None);
        assert_eq!(stream_id("/stream99999999999999999999.mp3"), None);
    }
}
