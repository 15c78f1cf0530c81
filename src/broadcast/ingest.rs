//! Push ingest: an Icecast 2.4 source client (ffmpeg, butt, Mixxx, liquidsoap, a phone app)
//! sends a channel's audio to `/live/<streamKey>` with HTTP `PUT` or the legacy `SOURCE`
//! method, basic auth `source:<streamKey>`, and then the stream itself, unframed, until it
//! hangs up.
//!
//! hyper cannot take such a request (a `PUT` without a length has an empty body to it, and
//! `SOURCE` is no HTTP at all), so the server loop hands the connection here when its first
//! bytes are a source request ([`is_source_request`]); everything else stays HTTP.
//!
//! The answer is Icecast's: `HTTP/1.1 100 Continue` first when the client expects it, then
//! `HTTP/1.0 200 OK` once the source is accepted; a refusal is a status with a
//! `{"errors": [...]}` body naming the problem (wrong key 401, suspended 403, already live
//! 409, not MP3, Ogg Vorbis or AAC 415). MP3 is relayed as it comes; Ogg Vorbis and AAC
//! (ADTS) go through the MP3 encoder ([`super::transcode`]) on a blocking thread. A source that sends nothing for [`IDLE_TIMEOUT`] or only junk for
//! [`MAX_JUNK_BYTES`] is dropped and the channel goes idle; nothing else is disturbed.
//!
//! Owns: the source protocol, its head parsing and the pump loop. May not touch: HTTP
//! routing, SQL beyond reading the channel.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frames::FrameSplitter;
use super::{BeginError, Broadcast};
use crate::store::channels::{self, Channel};

/// A source that sends nothing for this long is dropped.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A source that sends this much without one MP3 frame is dropped.
pub(crate) const MAX_JUNK_BYTES: usize = 64 * 1024;
/// Largest request head.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest stream key.
const MAX_KEY_CHARS: usize = 64;

/// Whether a connection whose first bytes are `first` is a source client: `Some(true)` for
/// `SOURCE …` and `PUT /live/…`, `Some(false)` for anything else, `None` while the bytes so far
/// could still be either.
pub(crate) fn is_source_request(first: &[u8]) -> Option<bool> {
    const PATTERNS: [&[u8]; 2] = [b"SOURCE ", b"PUT /live/"];
    let mut undecided = false;
    for p in PATTERNS {
        if first.starts_with(p) {
            return Some(true);
        }
        if p.starts_with(first) {
            undecided = true;
        }
    }
    if undecided { None } else { Some(false) }
}

/// A refusal: status line and message.
#[derive(Debug)]
struct Refusal {
    status: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The parts of a source request this module reads.
#[derive(Debug)]
struct SourceHead {
    method: String,
    key: String,
    password: Option<String>,
    content_type: Option<String>,
    expects_continue: bool,
    chunked: bool,
}

/// Serves one source connection whose request head starts `io`, until the source leaves or
/// must end. Never fails: problems are answered to the client and logged.
pub(crate) async fn serve<S>(
    mut io: S,
    peer: SocketAddr,
    broadcast: Broadcast,
    head_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(4096);
    let head = match tokio::time::timeout(head_timeout, read_head(&mut io, &mut buf)).await {
        Ok(Ok(Some(end))) => end,
        Ok(Ok(None)) => {
            refuse(
                &mut io,
                &Refusal::new(
                    "431 Request Header Fields Too Large",
                    "the request head is over 16 KB",
                ),
            )
            .await;
            return;
        }
        Ok(Err(e)) => {
            log::debug!("source connection from {peer} ended before its head: {e}");
            return;
        }
        Err(_) => {
            log::debug!("source connection from {peer}: no complete head within {head_timeout:?}");
            return;
        }
    };
    let parsed = match parse_head(&buf[..head]) {
        Ok(h) => h,
        Err(r) => {
            log::info!("source from {peer} refused: {}", r.message);
            refuse(&mut io, &r).await;
            return;
        }
    };
    let (channel, transcoded) = match admit(&broadcast, &parsed).await {
        Ok(admitted) => admitted,
        Err(r) => {
            log::info!(
                "source from {peer} for /live/{} refused: {}",
                short(&parsed.key),
                r.message
            );
            refuse(&mut io, &r).await;
            return;
        }
    };
    let session = match broadcast.begin(&channel.id, &channel.playback_id, channel.record) {
        Ok(s) => s,
        Err(e @ BeginError::AlreadyLive(_)) => {
            log::info!("source from {peer} refused: {e}");
            refuse(
                &mut io,
                &Refusal::new("409 Conflict", format!("{e}; this channel is already live")),
            )
            .await;
            return;
        }
        Err(e) => {
            refuse(
                &mut io,
                &Refusal::new("503 Service Unavailable", e.to_string()),
            )
            .await;
            return;
        }
    };
    let mut answer = String::new();
    if parsed.expects_continue {
        answer.push_str("HTTP/1.1 100 Continue\r\n\r\n");
    }
    answer.push_str("HTTP/1.0 200 OK\r\nServer: roundwared\r\nConnection: close\r\n\r\n");
    if io.write_all(answer.as_bytes()).await.is_err() {
        session.finish().await;
        return;
    }
    log::info!(
        "channel {} ({:?}) is live: source from {peer} ({} {})",
        channel.id,
        channel.name,
        parsed.method,
        parsed.content_type.as_deref().unwrap_or("no Content-Type")
    );
    let body_start = buf.split_off(head);
    let (session, why) = if transcoded {
        pump_encoded(&mut io, session, body_start).await
    } else {
        let mut splitter = FrameSplitter::default();
        let why = pump(&mut io, &session, &mut splitter, &body_start).await;
        (Some(session), why)
    };
    let stats = broadcast.stats(&channel.id);
    if let Some(session) = session {
        session.finish().await;
    }
    log::info!(
        "channel {} is idle: {why} ({} bytes, {} ms of audio this session)",
        channel.id,
        stats.map_or(0, |s| s.bytes),
        stats.map_or(0, |s| s.duration_ms)
    );
}

/// Reads the source into the channel until it ends; says why it ended.
async fn pump<S>(
    io: &mut S,
    session: &super::Session,
    splitter: &mut FrameSplitter,
    first: &[u8],
) -> String
where
    S: AsyncRead + Unpin,
{
    if !first.is_empty() {
        session.received(first.len());
        session.publish(splitter.push(first));
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            () = session.stopped() => return "the source was ended (terminate, suspend, delete or shutdown)".into(),
            r = tokio::time::timeout(IDLE_TIMEOUT, io.read(&mut buf)) => r,
        };
        let n = match read {
            Err(_) => {
                return format!(
                    "the source sent nothing for {} s and was dropped",
                    IDLE_TIMEOUT.as_secs()
                );
            }
            Ok(Err(e)) => return format!("the source connection failed: {e}"),
            Ok(Ok(0)) => return "the source hung up".into(),
            Ok(Ok(n)) => n,
        };
        session.received(n);
        let frames = splitter.push(&buf[..n]);
        session.publish(frames);
        if splitter.junk_run() > MAX_JUNK_BYTES {
            log::warn!(
                "a source sent {} KB that is not MP3 audio; dropped",
                MAX_JUNK_BYTES / 1024
            );
            return format!(
                "the source sent over {} KB that is not MP3 audio and was dropped",
                MAX_JUNK_BYTES / 1024
            );
        }
    }
}

/// Reads an Ogg Vorbis or AAC source into the channel through the MP3 encoder (on a
/// blocking thread) until it ends; gives the session back (to finish) and says why it ended.
async fn pump_encoded<S>(
    io: &mut S,
    session: super::Session,
    first: Vec<u8>,
) -> (Option<super::Session>, String)
where
    S: AsyncRead + Unpin,
{
    let session = std::sync::Arc::new(session);
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(256);
    let encoding = session.clone();
    let encoder = tokio::task::spawn_blocking(move || {
        super::transcode::transcode(
            Box::new(super::transcode::ChannelReader::new(rx)),
            |frames| encoding.publish(frames),
            || encoding.is_stopped(),
        )
    });
    let mut why = None;
    if !first.is_empty() {
        session.received(first.len());
        if tx.send(bytes::Bytes::from(first)).await.is_err() {
            why = Some("the source's audio cannot be decoded".to_owned());
        }
    }
    let mut buf = vec![0u8; 16 * 1024];
    while why.is_none() {
        let read = tokio::select! {
            () = session.stopped() => {
                why = Some("the source was ended (terminate, suspend, delete or shutdown)".into());
                break;
            }
            r = tokio::time::timeout(IDLE_TIMEOUT, io.read(&mut buf)) => r,
        };
        match read {
            Err(_) => {
                why = Some(format!(
                    "the source sent nothing for {} s and was dropped",
                    IDLE_TIMEOUT.as_secs()
                ))
            }
            Ok(Err(e)) => why = Some(format!("the source connection failed: {e}")),
            Ok(Ok(0)) => why = Some("the source hung up".into()),
            Ok(Ok(n)) => {
                session.received(n);
                // The encoder stopped taking audio: it could not decode it.
                if tx
                    .send(bytes::Bytes::copy_from_slice(&buf[..n]))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let outcome = encoder
        .await
        .unwrap_or_else(|e| Err(format!("the encoder failed: {e}")));
    let why = match (outcome, why) {
        (Err(e), _) => {
            log::warn!("a source's audio could not be used: {e}");
            format!("{e}; the source was dropped")
        }
        (Ok(()), Some(why)) => why,
        (Ok(()), None) => "the source's stream ended".into(),
    };
    (std::sync::Arc::try_unwrap(session).ok(), why)
}

/// Reads until the end of the request head; `Some(offset past it)`, or `None` when it grows
/// past [`MAX_HEAD_BYTES`].
async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<usize>> {
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(i + 4));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Ok(None);
        }
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_head(head: &[u8]) -> Result<SourceHead, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(Refusal::new(
                "400 Bad Request",
                "the request head is not HTTP",
            ));
        }
    }
    let method = req.method.unwrap_or_default().to_owned();
    if method != "PUT" && method != "SOURCE" {
        return Err(Refusal::new(
            "405 Method Not Allowed",
            "a source sends PUT or SOURCE",
        ));
    }
    let path = req.path.unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let key = path.strip_prefix("/live/").unwrap_or_default().to_owned();
    if key.is_empty()
        || key.len() > MAX_KEY_CHARS
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Refusal::new(
            "404 Not Found",
            "a source pushes to /live/<streamKey>",
        ));
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let password = header("authorization").and_then(basic_password);
    let content_type = header("content-type").map(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    Ok(SourceHead {
        key,
        password,
        content_type,
        expects_continue: header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")),
        chunked: header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked")),
        method,
    })
}

/// The password of a `Basic` authorization.
fn basic_password(value: &str) -> Option<String> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// The channel the source may push to, and whether its audio must be encoded to MP3.
async fn admit(broadcast: &Broadcast, head: &SourceHead) -> Result<(Channel, bool), Refusal> {
    let unauthorized = || {
        Refusal::new(
            "401 Unauthorized",
            "wrong or missing stream key: authenticate as source:<streamKey> and push to /live/<streamKey>",
        )
    };
    let password = head.password.as_deref().ok_or_else(unauthorized)?;
    if password != head.key {
        return Err(unauthorized());
    }
    let key = head.key.clone();
    let channel = broadcast
        .inner
        .store
        .read(move |c| channels::by_stream_key(c, &key))
        .await
        .map_err(|e| {
            Refusal::new(
                "503 Service Unavailable",
                format!("cannot read the channel: {e}"),
            )
        })?
        .ok_or_else(unauthorized)?;
    if channel.suspended {
        return Err(Refusal::new(
            "403 Forbidden",
            format!(
                "channel {} is suspended: unsuspend it (PATCH suspended: false) first",
                channel.id
            ),
        ));
    }
    if head.chunked {
        return Err(Refusal::new(
            "501 Not Implemented",
            "a chunked source body is not supported: send the stream unframed, as Icecast 2.4 source clients do",
        ));
    }
    match head.content_type.as_deref() {
        None | Some("audio/mpeg" | "audio/mp3" | "audio/mpeg3") => Ok((channel, false)),
        Some(
            "audio/ogg" | "application/ogg" | "audio/vorbis" | "audio/aac" | "audio/aacp"
            | "audio/x-aac",
        ) => Ok((channel, true)),
        Some(other) => Err(Refusal::new(
            "415 Unsupported Media Type",
            format!(
                "Content-Type {other} is not accepted: push MP3 (audio/mpeg), Ogg Vorbis (audio/ogg) or AAC (audio/aac)"
            ),
        )),
    }
}

/// Answers a refusal and closes.
async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, r: &Refusal) {
    let body = serde_json::json!({ "errors": [r.message] }).to_string();
    let auth = if r.status.starts_with("401") {
        "WWW-Authenticate: Basic realm=\"roundwared\"\r\n"
    } else {
        ""
    };
    let answer = format!(
        "HTTP/1.0 {}\r\nServer: roundwared\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        r.status,
        body.len()
    );
    let _ = io.write_all(answer.as_bytes()).await;
    let _ = io.shutdown().await;
}

/// The first characters of a key, for logs (a key is a password).
fn short(key: &str) -> String {
    let head: String = key.chars().take(4).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_source_and_put_to_live_are_taken_from_http() {
        assert_eq!(is_source_request(b"SOURCE /live/k HTTP/1.0"), Some(true));
        assert_eq!(is_source_request(b"PUT /live/k HTTP/1.1"), Some(true));
        assert_eq!(is_source_request(b"PUT /api/2/x"), Some(false));
        assert_eq!(is_source_request(b"GET /live/x.mp3"), Some(false));
        assert_eq!(is_source_request(b"PU"), None);
        assert_eq!(is_source_request(b"SOUR"), None);
        assert_eq!(is_source_request(b""), None);
    }

    #[test]
    fn a_source_head_gives_its_key_password_type_and_expectations() {
        let head = b"PUT /live/abc-123 HTTP/1.1\r\nAuthorization: Basic c291cmNlOmFiYy0xMjM=\r\nContent-Type: audio/mpeg; charset=x\r\nExpect: 100-continue\r\n\r\n";
        let h = parse_head(head).unwrap();
        assert_eq!(h.key, "abc-123");
        assert_eq!(h.password.as_deref(), Some("abc-123"));
        assert_eq!(h.content_type.as_deref(), Some("audio/mpeg"));
        assert!(h.expects_continue);
        assert!(!h.chunked);
    }

    #[test]
    fn a_source_to_a_path_without_a_key_is_refused() {
        for head in [
            &b"PUT /live/ HTTP/1.1\r\n\r\n"[..],
            b"SOURCE /elsewhere HTTP/1.0\r\n\r\n",
            b"SOURCE /live/a%2fb HTTP/1.0\r\n\r\n",
        ] {
            let r = parse_head(head).unwrap_err();
            assert!(r.status.starts_with("404"), "{}", r.status);
        }
    }
}
