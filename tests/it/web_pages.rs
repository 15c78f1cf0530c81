//! The web pages the box serves: `/`, `/console/`, the embedded files under `/web/` with their
//! content types, ETags and 304s, 404 for unknown files and any path traversal, and the total
//! weight of everything each page loads.

use std::collections::{BTreeSet, VecDeque};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};

use crate::support::TestServer;

/// Most a page may load in total (HTML + JS + CSS, uncompressed).
const PAGE_BUDGET_BYTES: usize = 300 * 1024;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends a request line exactly as written (reqwest would normalise `..` away); returns the
/// status code.
async fn raw_status(base: &str, target: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_visitor_page_the_console_and_the_wall_are_html_pages() {
    let s = TestServer::start().await;
    for path in ["/", "/console/", "/wall/"] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        let body = r.text().await.unwrap();
        assert!(body.starts_with("<!doctype html>"), "{path}");
        assert!(body.contains("<title>"), "{path}");
    }
    let r = no_redirects().get(s.url("/console")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()[LOCATION], "/console/");
    let r = no_redirects()
        .get(s.url("/wall?project=1&access_token=k"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()[LOCATION], "/wall/?project=1&access_token=k");
    s.stop().await;
}

#[tokio::test]
async fn a_configured_home_project_sends_a_bare_visit_to_that_project() {
    let s = TestServer::start_with("[http]\nhome_project_id = 7\n").await;
    let r = no_redirects().get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/?project=7");
    // The page itself once a project is named (never a redirect loop).
    let r = no_redirects()
        .get(s.url("/?project=7"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().starts_with("<!doctype html>"));
    s.stop().await;
}

#[tokio::test]
async fn web_files_have_their_content_type_no_cache_and_a_strong_etag() {
    let s = TestServer::start().await;
    for (path, ct) in [
        ("/web/shared/api.js", "text/javascript"),
        ("/web/shared/map.js", "text/javascript"),
        ("/web/shared/style.css", "text/css"),
        ("/web/visitor/index.html", "text/html"),
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let got = r.headers()[CONTENT_TYPE].to_str().unwrap();
        assert!(got.starts_with(ct), "{path}: {got}");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        let etag = r.headers()[ETAG].to_str().unwrap();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong: {etag}"
        );
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    // HEAD answers the headers without a body.
    let r = s
        .client
        .head(s.url("/web/shared/api.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_and_a_stale_one_gets_the_file() {
    let s = TestServer::start().await;
    let first = s.client.get(s.url("/")).send().await.unwrap();
    let etag = first.headers()[ETAG].clone();
    let again = s
        .client
        .get(s.url("/"))
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = s
        .client
        .get(s.url("/"))
        .header(IF_NONE_MATCH, "\"0000000000000000-1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    // Another file's ETag does not match this one.
    let css = s
        .client
        .get(s.url("/web/shared/style.css"))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn unknown_web_files_and_traversal_attempts_are_404() {
    let s = TestServer::start().await;
    for path in [
        "/web/nope.js",
        "/web/shared/",
        "/web/shared",
        "/web/visitor/index.htm",
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    for target in [
        "/web/../Cargo.toml",
        "/web/../../Cargo.toml",
        "/web/shared/../visitor/index.html",
        "/web/%2e%2e/Cargo.toml",
        "/web/%2e%2e%2fCargo.toml",
        "/web/shared/..%2f..%2fCargo.toml",
        "/web/./shared/api.js",
        "/web/shared//api.js",
        "/web/shared%5capi.js",
        "/web//etc/passwd",
    ] {
        assert_eq!(raw_status(&s.base, target).await, 404, "{target}");
    }
    let r = s
        .client
        .post(s.url("/web/shared/api.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    s.stop().await;
}

/// The local references of an HTML page (`src=`/`href=`, except a link's `<a href>`: a
/// navigation, not something the page loads) or a JS module (`import … from`, `import(…)`,
/// bare `import '…'`), resolved against `from`.
fn references(from: &str, text: &str, html: bool) -> Vec<String> {
    let mut out = Vec::new();
    let markers: &[&str] = if html {
        &["src=\"", "href=\""]
    } else {
        &["from '", "from \"", "import('", "import(\"", "import '"]
    };
    for m in markers {
        for (i, _) in text.match_indices(m) {
            if html && is_link_href(text, i) {
                continue;
            }
            let rest = &text[i + m.len()..];
            let Some(end) = rest.find(['"', '\'']) else {
                continue;
            };
            let r = &rest[..end];
            if r.starts_with('#') || r.starts_with("data:") || r.is_empty() {
                continue;
            }
            assert!(
                !r.contains("://") && !r.starts_with("//"),
                "{from} loads {r} from outside the box"
            );
            out.push(resolve(from, r));
        }
    }
    out
}

/// Whether the attribute at byte `at` of an HTML text belongs to an `<a …>` tag.
fn is_link_href(text: &str, at: usize) -> bool {
    text[..at].rfind('<').is_some_and(|start| {
        let tag = text[start + 1..at].split_whitespace().next().unwrap_or("");
        tag.eq_ignore_ascii_case("a")
    })
}

#[test]
fn a_link_is_not_a_load_but_a_stylesheet_and_a_script_are() {
    let html = r#"<link rel="stylesheet" href="/a.css"><a id="x" href="/">home</a>
        <script type="module" src="/m.js"></script><A HREF="/b">b</A>"#;
    assert_eq!(references("/", html, true), ["/m.js", "/a.css"]);
}

fn resolve(from: &str, r: &str) -> String {
    if r.starts_with('/') {
        return r.to_string();
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in r.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Fetches a page and everything it references, transitively; returns (bytes, files).
async fn page_weight(s: &TestServer, page: &str) -> (usize, Vec<String>) {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([page.to_string()]);
    let mut total = 0;
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let r = s.client.get(s.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{page} references {path}");
        let text = r.text().await.unwrap();
        total += text.len();
        let html = path.ends_with('/') || path.ends_with(".html");
        if html || path.ends_with(".js") {
            queue.extend(references(&path, &text, html));
        }
    }
    (total, seen.into_iter().collect())
}

#[tokio::test]
async fn everything_each_page_loads_stays_under_300_kb_and_comes_from_the_box() {
    let s = TestServer::start().await;
    for page in ["/", "/console/", "/wall/"] {
        let (bytes, files) = page_weight(&s, page).await;
        println!("page {page}: {bytes} bytes in {} files", files.len());
        assert!(
            bytes <= PAGE_BUDGET_BYTES,
            "{page} loads {bytes} bytes: {files:?}"
        );
        assert!(
            files.iter().any(|f| f.ends_with(".css")),
            "{page} has its style: {files:?}"
        );
    }
    let (_, visitor) = page_weight(&s, "/").await;
    for module in [
        "/web/visitor/app.js",
        "/web/visitor/i18n.js",
        "/web/visitor/strings.js",
        "/web/shared/api.js",
        "/web/shared/map.js",
    ] {
        assert!(
            visitor.iter().any(|f| f == module),
            "{module} in {visitor:?}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn the_box_makes_the_qr_code_of_an_address_and_refuses_anything_else() {
    let s = TestServer::start().await;
    let r = s
        .client
        .get(s.url("/qr.svg?url=http%3A%2F%2Froundware.local%3A8888%2F%3Fproject%3D1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "image/svg+xml");
    let svg = r.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    for bad in [
        "/qr.svg",
        "/qr.svg?url=javascript%3Aalert(1)",
        "/qr.svg?url=%FF",
    ] {
        let r = s.client.get(s.url(bad)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    s.stop().await;
}
