//! `GET /qr.svg?url=…`: a QR code of a web address, as SVG, made on the box (no internet
//! needed), for the signs a venue prints so phones find the visitor page. The console asks
//! for the visitor page's address of the chosen project.
//!
//! Only `http(s)://` addresses of at most [`MAX_URL_CHARS`] printable characters are encoded,
//! so a request's cost is bounded and the code cannot carry anything else.
//!
//! Owns: this route. May not touch: anything stateful.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Longest address encoded.
pub(crate) const MAX_URL_CHARS: usize = 300;

/// `?url=`.
#[derive(serde::Deserialize)]
pub(crate) struct Wanted {
    url: Option<String>,
}

/// The QR code of `?url=`, or a 400 saying what is wrong.
pub(crate) async fn qr(query: Result<Query<Wanted>, QueryRejection>) -> Response {
    let url = query.ok().and_then(|Query(w)| w.url);
    match url_of(url).and_then(|url| svg(&url)) {
        Ok(svg) => {
            let mut r = svg.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(why) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "detail": why })),
        )
            .into_response(),
    }
}

/// The `url` parameter, checked.
fn url_of(url: Option<String>) -> Result<String, String> {
    let url = url.ok_or_else(|| "give the address to encode as ?url=http://…".to_string())?;
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("url: at most {MAX_URL_CHARS} characters"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("url: an http:// or https:// address without spaces".into());
    }
    Ok(url)
}

/// The SVG of a QR code for `text` (medium error correction, a quiet zone, 320 px at least).
fn svg(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| format!("url: cannot be encoded: {e}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_becomes_an_svg_qr_code() {
        let url = url_of(Some("http://roundware.local:8888/?project=1".into())).unwrap();
        let svg = svg(&url).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.contains("<path"));
    }

    #[test]
    fn anything_but_a_short_http_address_is_refused_saying_why() {
        for (url, why) in [
            (None, "?url="),
            (Some("javascript:alert(1)"), "http://"),
            (Some("http://a b"), "without spaces"),
        ] {
            let err = url_of(url.map(String::from)).unwrap_err();
            assert!(err.contains(why), "{url:?}: {err}");
        }
        let long = format!("http://x/{}", "a".repeat(MAX_URL_CHARS));
        assert!(url_of(Some(long)).unwrap_err().contains("at most"));
    }
}
