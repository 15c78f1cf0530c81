//! DRF-style page-number pagination (`paginate`, `page`, `page_size` ≤ 10,000, default 20)
//! and its `{"count", "next", "previous", "results"}` envelope, shared by the paginated lists.

use axum::http::{StatusCode, Uri};
use serde::Serialize;

use super::input::{FieldErrors, Fields};
use super::{ApiError, ApiResult};

const PAGE_SIZE: i64 = 20;
const PAGE_SIZE_MAX: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageRequest {
    Number(i64),
    Last,
    Invalid,
}

/// The paging query parameters, for the OpenAPI description of a paged list.
pub(super) fn page_fields(o: super::schema::Obj) -> super::schema::Obj {
    o.bool("paginate")
        .string("page")
        .doc("with paginate: a page number or `last` (another page is a 404)")
        .string("page_size")
        .doc("1 to 10000 (more: 10000); anything else means the default, 20, as DRF reads it")
}

/// A page request (`paginate` true, `page`, `page_size`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Paging {
    page: PageRequest,
    size: i64,
}

impl Paging {
    /// `Some` when `paginate` is a true value; `paginate` that is not a boolean is a 400.
    pub(super) fn from_query(q: &Fields) -> ApiResult<Option<Self>> {
        let mut errs = FieldErrors::default();
        let paginate = q.bool("paginate", &mut errs);
        errs.finish()?;
        if paginate != Some(true) {
            return Ok(None);
        }
        let mut ignored = FieldErrors::default();
        let page = match q.string("page", &mut ignored) {
            None => PageRequest::Number(1),
            Some(p) if p.trim() == "last" => PageRequest::Last,
            Some(p) => p
                .trim()
                .parse::<i64>()
                .map_or(PageRequest::Invalid, PageRequest::Number),
        };
        let size = q
            .string("page_size", &mut ignored)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map_or(PAGE_SIZE, |n| n.min(PAGE_SIZE_MAX));
        Ok(Some(Self { page, size }))
    }

    fn pages(&self, count: i64) -> i64 {
        if count <= 0 {
            1
        } else {
            (count + self.size - 1) / self.size
        }
    }

    /// The page number to show for `count` results, or `None` for a page that does not exist.
    pub(super) fn resolve(&self, count: i64) -> Option<i64> {
        let pages = self.pages(count);
        match self.page {
            PageRequest::Number(n) if (1..=pages).contains(&n) => Some(n),
            PageRequest::Last => Some(pages),
            _ => None,
        }
    }

    /// `(limit, offset)` of a page.
    pub(super) fn window(&self, page: i64) -> (i64, i64) {
        (self.size, (page - 1) * self.size)
    }

    /// DRF's answer for a page that does not exist.
    pub(super) fn invalid() -> ApiError {
        ApiError::Detail(StatusCode::NOT_FOUND, "Invalid page.".into())
    }
}

/// A page of results as DRF shows it.
#[derive(Debug, Serialize)]
pub(super) struct Page<T> {
    count: i64,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

/// The absolute URL of this request with `page` set (or removed for `None`); parameters
/// sorted by key as DRF writes them.
fn page_url(base: &str, uri: &Uri, page: Option<i64>) -> String {
    let mut pairs: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| !k.is_empty() && k != "page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if let Some(p) = page {
        pairs.push(("page".into(), p.to_string()));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    if query.is_empty() {
        format!("{base}{}", uri.path())
    } else {
        format!("{base}{}?{query}", uri.path())
    }
}

/// Wraps one page of results with `count`, `next` and `previous`.
pub(super) fn paged<T>(
    base: &str,
    uri: &Uri,
    count: i64,
    page: i64,
    paging: &Paging,
    results: Vec<T>,
) -> Page<T> {
    let pages = paging.pages(count);
    Page {
        count,
        next: (page < pages).then(|| page_url(base, uri, Some(page + 1))),
        previous: (page > 1).then(|| page_url(base, uri, (page > 2).then_some(page - 1))),
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_resolve_like_drf() {
        let p = Paging {
            page: PageRequest::Number(3),
            size: 20,
        };
        assert_eq!(p.resolve(41), Some(3));
        assert_eq!(p.resolve(40), None);
        let first = Paging {
            page: PageRequest::Number(1),
            size: 20,
        };
        assert_eq!(first.resolve(0), Some(1), "an empty first page exists");
        let last = Paging {
            page: PageRequest::Last,
            size: 20,
        };
        assert_eq!(last.resolve(45), Some(3));
        assert_eq!(last.window(3), (20, 40));
    }
}
