//! Opening a URL as an audio stream with the shared blocking client, for threads that read a
//! stream at their own pace (the live speaker pullers).
//!
//! Timeouts: in `reqwest::blocking`, `ClientBuilder::timeout` is not a deadline on the whole
//! exchange. It bounds the wait for the answer's head, and then each `Read::read` of the
//! body on its own (the blocking response applies it per read call); the blocking builder has
//! no separate `read_timeout` (only the async one does). So `timeout(10 s)` with
//! `connect_timeout(10 s)` gives exactly what a live stream needs: a server that goes quiet
//! for 10 s fails the read, and a stream that keeps sending is read for as long as it lasts.

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Url, redirect};

/// Longest wait for a connection to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence: before the answer's head arrives, and then between two reads of the body.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed before the request fails.
const MAX_REDIRECTS: usize = 5;
/// What the box can decode, most wanted first (a server offering several may choose).
const ACCEPTED: &str = "audio/mpeg, audio/ogg, audio/aac, */*;q=0.1";

/// The blocking client every puller shares, made on first use (its own runtime thread).
static CLIENT: OnceLock<Client> = OnceLock::new();

/// How the audio in a body is packed, which tells the decoder where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// MPEG audio (MP3), as Icecast and most stream servers send it.
    Mp3,
    /// Ogg (Vorbis inside).
    Ogg,
    /// AAC in ADTS frames (raw AAC streams, `audio/aac`, `audio/aacp`).
    Aac,
}

impl Container {
    /// The file extension that names this container (the decoder's probe hint).
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Ogg => "ogg",
            Self::Aac => "aac",
        }
    }
}

/// An answer known to be audio: its body, read as it arrives, and how it is packed.
pub(crate) struct AudioBody {
    /// The body (blocking reads; each waits at most the idle timeout).
    pub(crate) reader: Box<dyn Read + Send + Sync>,
    /// The container, judged from the Content-Type or else the URL's extension.
    pub(crate) container: Container,
    /// The answer's Content-Type as sent (empty when there was none).
    pub(crate) content_type: String,
}

/// Why a URL could not be opened as audio.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// Not a URL, or a scheme other than http:// and https://.
    #[error("not an http:// or https:// URL: {0}")]
    BadUrl(String),
    /// A request header that HTTP cannot carry (its name only: the value may be a secret).
    #[error("the request header {0:?} is not a valid HTTP header name and value")]
    BadHeader(String),
    /// The client could not be built (the TLS set-up failed).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// No answer: the connection failed, timed out or broke, or too many redirects.
    #[error("{0}")]
    Transport(String),
    /// The server answered with a status other than 2xx (after redirects).
    #[error("answered HTTP {code} {reason}")]
    Status {
        /// The status code.
        code: u16,
        /// Its canonical reason phrase, if it has one.
        reason: &'static str,
    },
    /// The server answered, but not with audio the box decodes.
    #[error("answered {}, not audio the box decodes (MP3, Ogg, or AAC in ADTS)", describe(.0))]
    NotAudio(String),
}

/// A Content-Type as an error names it.
fn describe(content_type: &str) -> String {
    if content_type.is_empty() {
        "without a Content-Type".to_owned()
    } else {
        format!("Content-Type {content_type:?}")
    }
}

/// Opens `url` (http:// or https://) with the shared client, sending `headers` besides the
/// box's own, and returns the body once the answer is known to be audio the box decodes.
/// Blocking: call it from a plain thread, never from inside the async runtime.
pub(crate) fn open_audio(url: &str, headers: &[(String, String)]) -> Result<AudioBody, FetchError> {
    let client = match CLIENT.get() {
        Some(c) => c,
        None => {
            let made = client(IDLE_TIMEOUT)?;
            // Two threads may race here: one client is kept, the other dropped (on its own
            // plain thread, which the blocking client allows).
            CLIENT.get_or_init(|| made)
        }
    };
    open_audio_with(client, url, headers)
}

/// A blocking client waiting at most `idle` for an answer's head and for each read of a
/// body (see the module documentation), with no deadline on the whole exchange.
pub(super) fn client(idle: Duration) -> Result<Client, FetchError> {
    Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(idle)
        .redirect(redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!("roundwared/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Client(chain(&e)))
}

/// [`open_audio`] with a given client.
pub(super) fn open_audio_with(
    client: &Client,
    url: &str,
    headers: &[(String, String)],
) -> Result<AudioBody, FetchError> {
    let asked = Url::parse(url.trim()).map_err(|_| FetchError::BadUrl(url.to_owned()))?;
    if !matches!(asked.scheme(), "http" | "https") {
        return Err(FetchError::BadUrl(url.to_owned()));
    }
    let mut map = HeaderMap::new();
    map.insert(ACCEPT, HeaderValue::from_static(ACCEPTED));
    for (name, value) in headers {
        let bad = || FetchError::BadHeader(name.clone());
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let mut value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    // Last, so a caller's header cannot ask for ICY titles inside the audio (the decoder
    // would read them as samples).
    map.insert("icy-metadata", HeaderValue::from_static("0"));
    let response = client
        .get(asked.clone())
        .headers(map)
        .send()
        .map_err(|e| FetchError::Transport(chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            code: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
        });
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .unwrap_or_default();
    let container = container_of(&content_type, &[response.url().path(), asked.path()])
        .ok_or_else(|| FetchError::NotAudio(content_type.clone()))?;
    Ok(AudioBody {
        reader: Box::new(response),
        container,
        content_type,
    })
}

/// The container an answer's Content-Type names; for `application/octet-stream` or none,
/// the one the first of `paths` with an extension names (the URL answered, then the one
/// asked). `None` for anything else (a page, an image, an unknown type).
pub(super) fn container_of(content_type: &str, paths: &[&str]) -> Option<Container> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "audio/mpeg" | "audio/mp3" => Some(Container::Mp3),
        "audio/ogg" | "application/ogg" | "audio/vorbis" => Some(Container::Ogg),
        "audio/aac" | "audio/aacp" | "audio/x-aac" => Some(Container::Aac),
        "" | "application/octet-stream" => {
            let ext = paths.iter().find_map(|p| {
                let name = p.rsplit('/').next().unwrap_or("");
                name.rsplit_once('.')
                    .map(|(_, ext)| ext.to_ascii_lowercase())
            })?;
            match ext.as_str() {
                "mp3" => Some(Container::Mp3),
                "ogg" | "oga" => Some(Container::Ogg),
                "aac" => Some(Container::Aac),
                _ => None,
            }
        }
        _ => None,
    }
}

/// An error and its causes on one line (reqwest's own message names only the first layer:
/// "error decoding response body", not the "operation timed out" beneath it).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
