//! The box as an Icecast source client: a channel's MP3 is sent on to another server with an
//! HTTP `PUT` of an endless body, as Icecast 2.4 takes a source (libshout's way), through the
//! shared async reqwest client.
//!
//! Targets are `icecast://user:pass@host:port/mount` (plain HTTP, port 8000 by default, user
//! `source` by default) or `http(s)://user:pass@host:port/mount`. Icecast 2.4 does not read a
//! chunked source body, so the request carries a `Content-Length` far larger than any stream
//! (hyper then sends the body as it comes, unframed). The password travels in the
//! `Authorization` header only; [`Endpoint`]'s `Display` never shows it.
//!
//! Owns: target URLs, the source request, reading the answer. May not touch: feeds,
//! channels, the store.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

/// Schemes a target may use.
pub(crate) const SCHEMES: &str = "icecast://, http:// or https://";
/// Waiting for the target's answer to the source request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The body length announced: more than any stream will send (2^62 bytes).
const ENDLESS_BYTES: u64 = 1 << 62;

/// Where a channel is pushed, parsed from a target URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    url: reqwest::Url,
    user: String,
    password: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let port = self.url.port().map(|p| format!(":{p}")).unwrap_or_default();
        write!(
            f,
            "{}://{}{port}{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or_default(),
            self.url.path()
        )
    }
}

impl Endpoint {
    /// Parses a target URL; the error says what is wrong (never repeating the password).
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(raw.trim())
            .map_err(|e| format!("is not a URL ({e}): use {SCHEMES}"))?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        let http_scheme = match scheme.as_str() {
            "icecast" | "http" => "http",
            "https" => "https",
            other => {
                return Err(format!(
                    "the scheme {other}:// is not supported: use {SCHEMES}"
                ));
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| "names no host".to_owned())?;
        if parsed.path().len() < 2 {
            return Err("names no mount point (…/mount)".into());
        }
        let port = parsed.port().or(if scheme == "icecast" {
            Some(8000)
        } else {
            None
        });
        let user = match parsed.username() {
            "" => "source".to_owned(),
            u => percent_decode(u),
        };
        let password = parsed.password().map(percent_decode).unwrap_or_default();
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = reqwest::Url::parse(&format!("{http_scheme}://{host}{port}{}", parsed.path()))
            .map_err(|e| format!("is not a usable URL: {e}"))?;
        Ok(Self {
            url,
            user,
            password,
        })
    }
}

/// Decodes `%xx` in URL user information.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a push could not start or ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    /// The target could not be reached.
    #[error("cannot reach the target: {0}")]
    Connect(String),
    /// The target answered with an error status.
    #[error("the target answered {code}{hint}")]
    Refused {
        /// HTTP status.
        code: u16,
        /// What it usually means.
        hint: &'static str,
    },
    /// No answer within the timeout.
    #[error("the target did not answer within {} s", ANSWER_TIMEOUT.as_secs())]
    Timeout,
    /// The target closed the connection while the channel was live.
    #[error("the target closed the connection")]
    Closed,
}

/// A push the target accepted: resolves when the target ends it.
pub(crate) struct Accepted {
    response: reqwest::Response,
}

impl Accepted {
    /// Waits until the target closes the connection (it sends nothing after accepting).
    pub(crate) async fn closed(mut self) -> PushError {
        loop {
            match self.response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return PushError::Closed,
                Err(e) => return PushError::Connect(crate::net::fetch::chain(&e)),
            }
        }
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(ANSWER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roundwared/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| {
                log::error!("cannot build the push client ({e}); using defaults");
                reqwest::Client::new()
            })
    })
}

/// Starts sending `body` (MP3) to `endpoint` as the source `name`; resolves once the target
/// accepted it (the body keeps flowing until it ends or the target closes).
///
/// # Errors
/// The target unreachable, refusing (401 wrong password, 403 mount taken) or silent.
pub(crate) async fn start<S>(
    endpoint: &Endpoint,
    name: &str,
    body: S,
) -> Result<Accepted, PushError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let request = client()
        .put(endpoint.url.clone())
        .basic_auth(&endpoint.user, Some(&endpoint.password))
        .header(reqwest::header::CONTENT_TYPE, "audio/mpeg")
        .header(reqwest::header::CONTENT_LENGTH, ENDLESS_BYTES)
        .header("ice-name", sanitize(name))
        .header("ice-public", "0")
        .header("ice-description", "a roundwared broadcast channel")
        .body(reqwest::Body::wrap_stream(body));
    let response = tokio::time::timeout(ANSWER_TIMEOUT, request.send())
        .await
        .map_err(|_| PushError::Timeout)?
        .map_err(|e| PushError::Connect(crate::net::fetch::chain(&e)))?;
    let code = response.status().as_u16();
    if !(200..300).contains(&code) {
        let hint = match code {
            401 => " (wrong user or password)",
            403 => " (the mount is taken or not allowed)",
            404 => " (no such mount)",
            _ => "",
        };
        return Err(PushError::Refused { code, hint });
    }
    Ok(Accepted { response })
}

/// A header-safe version of a channel name.
fn sanitize(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icecast_urls_become_http_puts_with_their_user_and_password() {
        let e = Endpoint::parse("icecast://src:p%40ss@radio.example/live.mp3").unwrap();
        assert_eq!(e.url.as_str(), "http://radio.example:8000/live.mp3");
        assert_eq!((e.user.as_str(), e.password.as_str()), ("src", "p@ss"));
        let e = Endpoint::parse("https://:secret@radio.example:8443/m").unwrap();
        assert_eq!(e.url.as_str(), "https://radio.example:8443/m");
        assert_eq!(e.user, "source");
        assert_eq!(
            e.to_string(),
            "https://radio.example:8443/m",
            "no password shown"
        );
    }

    #[test]
    fn other_schemes_and_incomplete_urls_are_refused_by_what_is_wrong() {
        assert!(
            Endpoint::parse("rtmp://x/live")
                .unwrap_err()
                .contains("rtmp:// is not supported")
        );
        assert!(
            Endpoint::parse("srt://x:9000/m")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            Endpoint::parse("icecast://u:p@host")
                .unwrap_err()
                .contains("mount")
        );
        assert!(
            Endpoint::parse("not a url")
                .unwrap_err()
                .contains("is not a URL")
        );
    }
}
