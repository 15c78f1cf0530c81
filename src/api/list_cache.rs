//! Rendered JSON of hot list endpoints, kept for one store revision.
//!
//! Clients refresh their asset pool every 30 s to 3 min, and a project's list of 1,000
//! assets is about 600 KB of JSON; rendering it takes milliseconds and sending it over venue
//! Wi-Fi takes far longer. So each rendering is kept, with a gzip copy made once, until the
//! next committed write moves the store revision; a cached answer is never older than the
//! last write.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

use super::{ApiError, ApiResult};
use crate::http_headers::accepts_gzip;

/// One rendering, plain and gzip-compressed.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The JSON body.
    pub json: Bytes,
    /// The same body, gzip-compressed.
    pub gzip: Bytes,
}

impl Rendered {
    /// Compresses a rendering on a blocking thread (it takes a few milliseconds for a large
    /// list, too long to hold an async worker).
    async fn compress(json: Bytes) -> ApiResult<Self> {
        let input = json.clone();
        let gzip = tokio::task::spawn_blocking(move || {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(input.len() / 8),
                flate2::Compression::fast(),
            );
            enc.write_all(&input)?;
            enc.finish()
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Self {
            json,
            gzip: Bytes::from(gzip),
        })
    }
}

/// At most this many cached renderings. Slots still being rendered do not count towards
/// [`CACHE_MAX_BYTES`] yet, so this also bounds a burst of distinct queries: 64 lists of 1,000
/// assets with their gzip copies are about 45 MB.
const CACHE_MAX_ENTRIES: usize = 64;
/// At most this many bytes of cached renderings.
const CACHE_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Rendered JSON of the asset list endpoints, valid for one store revision.
///
/// Single-flight: concurrent misses on one key at one revision share one rendering, so a
/// write (which invalidates everything) costs one render per hot key, not one per waiting
/// request.
#[derive(Default)]
pub(crate) struct ListCache {
    inner: Mutex<CacheInner>,
}

type Slot = Arc<OnceCell<Rendered>>;

#[derive(Default)]
struct CacheInner {
    revision: u64,
    entries: HashMap<String, Slot>,
}

impl CacheInner {
    /// Forgets everything if the store moved on since the entries were rendered.
    fn sync(&mut self, revision: u64) {
        if self.revision < revision {
            self.entries.clear();
            self.revision = revision;
        }
    }

    fn bytes(&self) -> usize {
        self.entries
            .values()
            .filter_map(|slot| slot.get())
            .map(|r| r.json.len() + r.gzip.len())
            .sum()
    }
}

impl ListCache {
    /// The slot of `key` for data read at `revision`, or `None` when the cache has already
    /// moved past that revision (the caller then renders without caching).
    fn slot(&self, key: &str, revision: u64) -> Option<Slot> {
        let mut inner = self.inner.lock().ok()?;
        inner.sync(revision);
        if revision < inner.revision {
            return None;
        }
        if let Some(slot) = inner.entries.get(key) {
            return Some(slot.clone());
        }
        if inner.entries.len() >= CACHE_MAX_ENTRIES || inner.bytes() > CACHE_MAX_BYTES {
            inner.entries.clear();
        }
        let slot = Slot::default();
        inner.entries.insert(key.to_string(), slot.clone());
        Some(slot)
    }

    /// The rendering of `key` at `revision` (the store revision read before any data):
    /// cached, being rendered by another request (then awaited), or rendered now with
    /// `render` (and compressed once). Errors are returned, never cached.
    pub(crate) async fn get_or_render<F, Fut>(
        &self,
        key: &str,
        revision: u64,
        render: F,
    ) -> ApiResult<Rendered>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Bytes>>,
    {
        let full = || async { Rendered::compress(render().await?).await };
        match self.slot(key, revision) {
            Some(slot) => slot.get_or_try_init(full).await.cloned(),
            None => full().await,
        }
    }

    /// Number of cached keys (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }
}

/// `base \n path ? query`, with the query's pairs sorted by key (values of a repeated key
/// keep their order, since the last one wins for scalar filters) and empty keys dropped.
pub(super) fn cache_key(base: &str, path: &str, query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}\n{path}?{canonical}")
}

/// The response for a rendering: gzip when the client accepts it, plain JSON otherwise.
pub(super) fn json_response(rendered: &Rendered, headers: &HeaderMap) -> Response {
    let vary = (VARY, HeaderValue::from_static("accept-encoding"));
    let json = (CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if accepts_gzip(headers) {
        let gzip = (CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        ([json, vary, gzip], rendered.gzip.clone()).into_response()
    } else {
        ([json, vary], rendered.json.clone()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_ignore_parameter_order_and_trailing_ampersands() {
        let a = cache_key(
            "http://h",
            "/api/2/assets/",
            Some("project_id=1&submitted=true&"),
        );
        let b = cache_key(
            "http://h",
            "/api/2/assets/",
            Some("submitted=true&project_id=1"),
        );
        assert_eq!(a, b);
        let c = cache_key(
            "http://other",
            "/api/2/assets/",
            Some("submitted=true&project_id=1"),
        );
        assert_ne!(a, c);
        let d = cache_key("http://h", "/api/2/assets/", Some("p=3&p=4"));
        let e = cache_key("http://h", "/api/2/assets/", Some("p=4&p=3"));
        assert_ne!(d, e, "the last of a repeated key wins, so order matters");
    }

    async fn render(body: &'static [u8]) -> ApiResult<Bytes> {
        Ok(Bytes::from_static(body))
    }

    #[tokio::test]
    async fn the_cache_drops_everything_when_the_revision_moves() {
        let cache = ListCache::default();
        let a = cache.get_or_render("k", 3, || render(b"[]")).await.unwrap();
        assert_eq!(&a.json[..], b"[]");
        let cached = cache
            .get_or_render("k", 3, || render(b"[1]"))
            .await
            .unwrap();
        assert_eq!(
            &cached.json[..],
            b"[]",
            "same revision: served from the cache"
        );
        let fresh = cache
            .get_or_render("k", 4, || render(b"[2]"))
            .await
            .unwrap();
        assert_eq!(&fresh.json[..], b"[2]", "new revision: rendered again");
        // A rendering from data read at an older revision is served but not stored.
        let old = cache
            .get_or_render("j", 3, || render(b"[0]"))
            .await
            .unwrap();
        assert_eq!(&old.json[..], b"[0]");
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = ListCache::default();
        let err = cache
            .get_or_render("k", 1, || async { Err(ApiError::bad_request("no")) })
            .await;
        assert!(err.is_err());
        let ok = cache.get_or_render("k", 1, || render(b"[]")).await.unwrap();
        assert_eq!(&ok.json[..], b"[]");
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_rendering() {
        let cache = Arc::new(ListCache::default());
        let renders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, renders) = (cache.clone(), renders.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_render("k", 1, || async {
                        renders.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok(Bytes::from_static(b"[]"))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(&t.await.unwrap().json[..], b"[]");
        }
        assert_eq!(renders.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let cache = ListCache::default();
        for i in 0..(CACHE_MAX_ENTRIES + 10) {
            cache
                .get_or_render(&format!("k{i}"), 1, || render(b"[]"))
                .await
                .unwrap();
        }
        assert!(cache.len() <= CACHE_MAX_ENTRIES);
    }

    #[tokio::test]
    async fn a_rendering_carries_a_gzip_copy_that_inflates_to_the_json() {
        use std::io::Read;
        let cache = ListCache::default();
        let body: &'static [u8] =
            b"[{\"id\":1,\"description\":\"\"},{\"id\":2,\"description\":\"\"}]";
        let r = cache.get_or_render("k", 1, || render(body)).await.unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&r.gzip[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
