//! `/rwmedia/<name>`: the media folder served to clients, anonymously (media URLs go to
//! `<audio>` elements and iOS downloads without auth headers), for GET and HEAD — except the
//! files of recordings that are not submitted (held for moderation or withdrawn): those are
//! served only with the `Authorization` token of their owner or of staff (the console fetches
//! them with its token), and are a 404 to anyone else, as if they did not exist.
//!
//! What it answers:
//! * `Content-Type` by extension, exact `Content-Length`, `Accept-Ranges: bytes`, a strong
//!   `ETag` (size and modification time in nanoseconds), `Last-Modified`, and
//!   `Cache-Control: public, max-age=31536000, immutable` (stored names are unique: an upload
//!   never replaces a file under the same name);
//! * one byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`) → 206 with `Content-Range`; a
//!   range starting past the end → 416 with `Content-Range: bytes */<len>`. A **multi-range**
//!   request (and a malformed `Range`) is answered with the whole file (200), which RFC 9110
//!   allows; no client of Roundware sends one;
//! * `If-None-Match` (weak comparison), else `If-Modified-Since` → 304; `If-Range` (strong
//!   ETag or exact date) decides between the range and the whole file;
//! * CORS comes from the global layer of [`super::router`].
//!
//! The body is streamed from the file in bounded chunks, never read whole into memory.
//!
//! Safety: the name is taken from the raw request path and percent-decoded once here; a name
//! with an empty, `.` or `..` segment, a segment starting with `.` (hidden files, and the
//! uploader's temporary files), a backslash, NUL or control character, or a leading `/` is a
//! 404. The file is then resolved with every symlink followed and must still lie inside the
//! (canonical) media folder and be a regular file; anything else is a 404 as well, so
//! nothing outside the media folder is ever served.
//!
//! The `delete_binary` option of asset and speaker DELETE lives in [`super::media_files`].

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::media::files::safe_name;

/// The URL prefix of media files.
pub(super) const PREFIX: &str = "/rwmedia/";

/// Bytes read from the file per body chunk.
const CHUNK: usize = 256 * 1024;

/// `Some(owner)` when `name` is a file of a recording that is not published (see
/// [`crate::store::owners::of_unpublished_media`]).
async fn unpublished_owner(state: &AppState, name: &str) -> Result<Option<Option<i64>>, ApiError> {
    let stem = name.split('.').next().unwrap_or(name).to_string();
    Ok(state
        .store
        .read(move |c| crate::store::owners::of_unpublished_media(c, &stem))
        .await?)
}

/// `GET`/`HEAD /rwmedia/{*path}`.
pub(super) async fn serve(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let not_found = || ApiError::NotFound("media file".into()).into_response();
    let Some(name) = uri.path().strip_prefix(PREFIX).and_then(decode_name) else {
        return not_found();
    };
    match unpublished_owner(&state, &name).await {
        Ok(None) => {}
        Ok(Some(owner)) => {
            if !caller.is_ok_and(|c| c.owns(owner)) {
                return not_found();
            }
        }
        Err(err) => return err.into_response(),
    }
    let media_dir = state.config.storage.media_dir();
    let opened = tokio::task::spawn_blocking(move || open_inside(&media_dir, &name)).await;
    let (file, meta, path) = match opened {
        Ok(Ok(found)) => found,
        Ok(Err(err)) => {
            if err.kind() != io::ErrorKind::NotFound {
                log::debug!("media request refused: {err}");
            }
            return not_found();
        }
        Err(err) => return ApiError::Internal(format!("media open task: {err}")).into_response(),
    };
    let len = meta.len();
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let etag = etag(len, modified);
    let last_modified = httpdate::fmt_http_date(modified);

    let mut common = HeaderMap::new();
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    common.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    insert(&mut common, header::ETAG, &etag);
    insert(&mut common, header::LAST_MODIFIED, &last_modified);

    if not_modified(&headers, &etag, modified) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }

    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_holds(&headers, &etag, &last_modified) => parse_range(r, len),
        _ => Span::Whole,
    };
    let (status, start, count) = match range {
        Span::Whole => (StatusCode::OK, 0, len),
        Span::Part(start, end) => {
            let value = format!("bytes {start}-{end}/{len}");
            insert(&mut common, header::CONTENT_RANGE, &value);
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Span::Unsatisfiable => {
            let mut response = ApiError::Detail(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Requested range not satisfiable.".into(),
            )
            .into_response();
            insert(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{len}"),
            );
            return response;
        }
    };
    common.insert(header::CONTENT_TYPE, content_type(&path));
    common.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    insert(&mut common, header::CONTENT_LENGTH, &count.to_string());

    let body = if method == Method::HEAD || count == 0 {
        Body::empty()
    } else {
        // lseek only moves the file offset: no I/O, fine on the async thread.
        let mut file = file;
        if let Err(err) = io::Seek::seek(&mut file, io::SeekFrom::Start(start)) {
            return ApiError::Internal(format!("media seek: {err}")).into_response();
        }
        Body::new(FileBody::new(tokio::fs::File::from_std(file), count))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = common;
    response
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

// ---------------------------------------------------------------------------------------
// Names and the media folder

/// Percent-decodes the raw path after the prefix and checks it with
/// [`crate::media::files::safe_name`].
pub(super) fn decode_name(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    safe_name(&name).then_some(name)
}

/// Opens `media_dir/name` if, with every symlink resolved, it is a regular file inside the
/// canonical media folder. Returns the file, its metadata and its resolved path.
fn open_inside(media_dir: &Path, name: &str) -> io::Result<(std::fs::File, Metadata, PathBuf)> {
    let root = media_dir.canonicalize()?;
    let path = root.join(name).canonicalize()?;
    if !path.starts_with(&root) || path == root {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{name} resolves outside the media folder"),
        ));
    }
    let file = std::fs::File::open(&path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name} is not a regular file"),
        ));
    }
    Ok((file, meta, path))
}

/// `Content-Type` by extension (case-insensitive).
fn content_type(path: &Path) -> HeaderValue {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    HeaderValue::from_static(match ext.as_str() {
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" | "mp4" => "audio/mp4",
        "aac" => "audio/aac",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    })
}

// ---------------------------------------------------------------------------------------
// Validators and conditional requests

fn etag(len: u64, modified: SystemTime) -> String {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{len:x}-{nanos:x}\"")
}

/// Whole seconds since the epoch (HTTP dates have no finer precision).
fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `If-None-Match` (weak comparison; `*` matches), else `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else {
            return false;
        };
        let ours = etag.trim_start_matches("W/");
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == ours);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| secs(modified) <= secs(since))
}

/// Whether a `Range` may be honoured: no `If-Range`, or one that names the current
/// representation (the same strong ETag, or exactly its `Last-Modified`).
fn if_range_holds(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return value == etag;
    }
    match (
        httpdate::parse_http_date(value),
        httpdate::parse_http_date(last_modified),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    /// The whole file (no usable single range).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Nothing of the file: 416.
    Unsatisfiable,
}

/// Parses one `bytes=` range; several ranges or a malformed header give [`Span::Whole`].
fn parse_range(value: &str, len: u64) -> Span {
    let value = value.trim();
    let Some(spec) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| value[6..].trim())
    else {
        return Span::Whole;
    };
    if spec.contains(',') {
        return Span::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Span::Whole;
    };
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    if first.trim().is_empty() {
        return match number(last) {
            None => Span::Whole,
            Some(0) => Span::Unsatisfiable,
            Some(_) if len == 0 => Span::Unsatisfiable,
            Some(n) => Span::Part(len.saturating_sub(n), len - 1),
        };
    }
    let Some(start) = number(first) else {
        return Span::Whole;
    };
    let end = if last.trim().is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return Span::Whole,
        }
    };
    if start >= len {
        return Span::Unsatisfiable;
    }
    Span::Part(start, end.min(len - 1))
}

// ---------------------------------------------------------------------------------------
// The streamed body

/// Streams `remaining` bytes of a file from its current position in [`CHUNK`]-sized frames.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl FileBody {
    fn new(file: tokio::fs::File, remaining: u64) -> Self {
        Self {
            file,
            remaining,
            buf: Vec::new(),
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        if this.buf.len() != want {
            this.buf.resize(want, 0);
        }
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(err)) => Poll::Ready(Some(Err(err))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    // The file shrank under us: end the body early (the client sees a short
                    // read rather than a hang).
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "media file truncated while being served",
                    ))));
                }
                this.remaining -= n as u64;
                let mut chunk = std::mem::take(&mut this.buf);
                chunk.truncate(n);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::{Span, parse_range};
    use crate::media::files::safe_name;

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9", 100), Span::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Span::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Span::Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Span::Part(0, 99));
        assert_eq!(parse_range("bytes=50-5000", 100), Span::Part(50, 99));
        assert_eq!(parse_range("BYTES = 1-2", 100), Span::Whole);
        assert_eq!(parse_range("bytes=100-", 100), Span::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Span::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Span::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Span::Whole);
        assert_eq!(parse_range("bytes=5-1", 100), Span::Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), Span::Whole);
        assert_eq!(parse_range("items=0-1", 100), Span::Whole);
        assert_eq!(parse_range("bytes=x-", 100), Span::Whole);
    }

    #[test]
    fn only_plain_visible_relative_names_are_safe() {
        for ok in [
            "a.mp3",
            "demo/a b.wav",
            "speaker-project1-bed-20240101-120000.mp3",
        ] {
            assert!(safe_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            ".hidden",
            "a/.tmp",
            "a\\..\\x",
            "a\0b",
            "a//b",
            "a/",
            ".",
            "..",
        ] {
            assert!(!safe_name(bad), "{bad:?}");
        }
    }
}
