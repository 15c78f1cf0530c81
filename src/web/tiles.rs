//! `GET /tiles/tile.json` and `GET /tiles/{z}/{x}/{y}`: the offline map tiles of
//! `[map] tiles` (see [`crate::tiles`]) for the pages' maps, open to anyone like the pages.
//!
//! `tile.json` answers 404 with the reason when the box has no usable tiles, which tells the
//! pages to fall back to the floor plan or a grid. A tile answers with the file's format as
//! content type, a strong ETag (304 on a match, without reading the file) and a week of
//! caching; a tile the file does not hold is 404; coordinates out of range are 400 naming
//! the range. `{y}` may carry the format's extension (`12.png`), as some tools write it.
//!
//! Owns: these two routes. May not touch: the box's database.

use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::tiles::{MAX_ZOOM, Tiles};

/// How long browsers may keep a tile without asking again.
const TILE_CACHE: &str = "public, max-age=604800";

/// The routes, serving `tiles`.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(tiles: Arc<Tiles>) -> axum::Router<S> {
    let for_json = tiles.clone();
    axum::Router::new()
        .route(
            "/tiles/tile.json",
            axum::routing::get(move || tilejson(for_json.clone())),
        )
        .route(
            "/tiles/{z}/{x}/{y}",
            axum::routing::get(
                move |Path(at): Path<(String, String, String)>, h: HeaderMap| {
                    tile(tiles.clone(), at, h)
                },
            ),
        )
}

fn detail(status: StatusCode, text: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "detail": text.into() }))).into_response()
}

async fn tilejson(tiles: Arc<Tiles>) -> Response {
    match &*tiles {
        Tiles::Ready(set) => {
            let mut r = Json(set.tilejson().clone()).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Tiles::Off => detail(
            StatusCode::NOT_FOUND,
            "This box has no offline map tiles ([map] tiles is not set).",
        ),
        Tiles::Unusable(why) => detail(
            StatusCode::NOT_FOUND,
            format!("This box's offline map tiles are not served: {why}"),
        ),
    }
}

/// (z, x, y) from the path, or the 400 naming what is wrong.
fn coordinates(z: &str, x: &str, y: &str) -> Result<(u8, u32, u32), String> {
    let y = y.split_once('.').map_or(y, |(n, _)| n);
    let z: u8 = z
        .parse()
        .ok()
        .filter(|z| *z <= MAX_ZOOM)
        .ok_or_else(|| format!("zoom {z:?} is not a whole number from 0 to {MAX_ZOOM}"))?;
    let side = 1u64 << z;
    let within = |v: &str, name: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|v| u64::from(*v) < side)
            .ok_or_else(|| {
                format!(
                    "{name} {v:?} is not a whole number from 0 to {} at zoom {z}",
                    side - 1
                )
            })
    };
    Ok((z, within(x, "x")?, within(y, "y")?))
}

async fn tile(tiles: Arc<Tiles>, (z, x, y): (String, String, String), h: HeaderMap) -> Response {
    let set = match &*tiles {
        Tiles::Ready(set) => set,
        Tiles::Off | Tiles::Unusable(_) => return tilejson(tiles.clone()).await,
    };
    let (z, x, y) = match coordinates(&z, &x, &y) {
        Ok(at) => at,
        Err(why) => return detail(StatusCode::BAD_REQUEST, why),
    };
    let etag = set.etag(z, x, y);
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(TILE_CACHE));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if super::if_none_match(&h, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let read = {
        let set = set.clone();
        tokio::task::spawn_blocking(move || set.tile(z, x, y)).await
    };
    match read {
        Ok(Ok(Some(bytes))) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(set.format().content_type()),
            );
            (StatusCode::OK, headers, bytes).into_response()
        }
        Ok(Ok(None)) => detail(
            StatusCode::NOT_FOUND,
            format!("The offline map has no tile {z}/{x}/{y}."),
        ),
        Ok(Err(e)) => {
            log::warn!("map tiles: {e}");
            detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "The offline map could not be read just now.",
            )
        }
        Err(e) => {
            log::error!("map tiles: read task failed: {e}");
            detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "The offline map could not be read just now.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_coordinates_are_checked_against_the_zoom_and_may_carry_an_extension() {
        assert_eq!(coordinates("2", "3", "1"), Ok((2, 3, 1)));
        assert_eq!(coordinates("14", "4951", "6060.png"), Ok((14, 4951, 6060)));
        assert!(
            coordinates("2", "4", "0")
                .unwrap_err()
                .contains("from 0 to 3")
        );
        assert!(coordinates("25", "0", "0").unwrap_err().contains("zoom"));
        assert!(coordinates("-1", "0", "0").is_err());
        assert!(
            coordinates("1", "x", "0")
                .unwrap_err()
                .starts_with("x \"x\"")
        );
    }
}
