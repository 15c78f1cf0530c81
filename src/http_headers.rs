//! Request-header reading that both HTTP layers need (`api`'s cached lists and `web`'s
//! embedded pages choose gzip the same way), kept below them so neither names the other.
//!
//! Owns: header parsing only. May not touch: anything stateful.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT_ENCODING;

/// Whether the request's `Accept-Encoding` takes gzip (named, and not refused with `q=0`).
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|coding| {
                let mut it = coding.split(';');
                let name = it.next().unwrap_or("").trim();
                let refused =
                    it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                name.eq_ignore_ascii_case("gzip") && !refused
            })
        })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn gzip_is_chosen_only_when_accepted() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("deflate, gzip;q=0.8, br"),
        );
        assert!(accepts_gzip(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0"));
        assert!(!accepts_gzip(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        assert!(!accepts_gzip(&h));
    }
}
