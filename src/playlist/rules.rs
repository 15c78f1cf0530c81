//! The filters of reference-server §7.2 and §7.3: which assets a request may hear at all
//! (submitted, long enough, in the listener's language, through the tag filter) and which of
//! those are "nearby" a listener position.
//!
//! Owns: the tag filter, haversine distance, initial bearing and the nearby rules. May not
//! touch: per-listener state (bans, the stack; that is [`super::Playlist`]).

use std::collections::HashMap;

use super::Position;
use crate::geometry;
use crate::store::catalog::{Asset, Catalog};

/// Assets shorter than this (nanoseconds) never play (`audiolength > 1000`).
const MIN_AUDIOLENGTH_NS: i64 = 1000;
/// Directional listening's default width in degrees (the code's 30, not the docs' 10).
const DEFAULT_WIDTH_DEG: f64 = 30.0;
/// Mean Earth radius the reference server uses for haversine distances.
const EARTH_RADIUS_M: f64 = 6_371_000.0;
/// Directional listening's default maximum range: half the Earth's circumference.
const DEFAULT_RANGE_MAX_M: f64 = std::f64::consts::PI * EARTH_RADIUS_M;

/// The candidate list `all` (ids ascending) for a language and a requested tag list
/// (`None`: the project's active listen tags; a project without listen UI groups filters by
/// no tag).
pub(super) fn candidates(
    catalog: &Catalog,
    language_id: Option<i64>,
    tags: Option<&[i64]>,
) -> Vec<i64> {
    let Some(language_id) = language_id else {
        return Vec::new();
    };
    let requested = tags.unwrap_or(&catalog.filter.active_tags);
    // An empty tag list hears nothing (the reference's rule) only where the project has a tag
    // vocabulary: without active listen UI groups, every submitted asset of the language is a
    // candidate, so a new curator's first project is not silent (decisions.md).
    if requested.is_empty() && !catalog.filter.categories.is_empty() {
        return Vec::new();
    }
    // For each listen category, the requested tags in it; categories without any impose nothing.
    let mut by_category: HashMap<i64, Vec<i64>> = HashMap::new();
    for tag in requested {
        if let Some(cat) = catalog.filter.category_of.get(tag)
            && catalog.filter.categories.contains(cat)
        {
            by_category.entry(*cat).or_default().push(*tag);
        }
    }
    catalog
        .assets
        .iter()
        .filter(|a| {
            a.submitted
                && a.audiolength_ns > MIN_AUDIOLENGTH_NS
                && a.language_id == Some(language_id)
                && by_category
                    .values()
                    .all(|wanted| wanted.iter().any(|t| a.tags.binary_search(t).is_ok()))
        })
        .map(|a| a.id)
        .collect()
}

/// Haversine distance in metres (R = 6371 km) between two (latitude, longitude) points.
pub(super) fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Initial great-circle bearing in degrees [0, 360) from the first point to the second.
pub(super) fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// True when `bearing` lies within `width/2` of `heading`, wrapping at north (decisions.md:
/// heading 0, width 30 hears 345°–15°).
pub(super) fn within_heading(bearing_deg: f64, heading_deg: f64, width_deg: f64) -> bool {
    if width_deg >= 360.0 {
        return true;
    }
    let diff = (bearing_deg - heading_deg + 180.0).rem_euclid(360.0) - 180.0;
    diff.abs() <= width_deg / 2.0
}

/// §7.3 "nearby", first matching rule wins: directional, range, asset shape, recording radius.
/// An asset without a point location is nearby only through its shape.
pub(super) fn nearby(asset: &Asset, position: &Position, recording_radius_m: f64) -> bool {
    let (lat, lon) = (position.latitude, position.longitude);
    let point = asset.latitude.zip(asset.longitude);
    let distance = || point.map(|(alat, alon)| haversine_m(lat, lon, alat, alon));
    if let Some(heading) = position.heading_deg {
        let width = position.width_deg.unwrap_or(DEFAULT_WIDTH_DEG);
        let min = position.range_min_m.unwrap_or(0.0);
        let max = position.range_max_m.unwrap_or(DEFAULT_RANGE_MAX_M);
        return match (point, distance()) {
            (Some((alat, alon)), Some(d)) => {
                min <= d
                    && d <= max
                    && within_heading(bearing_deg(lat, lon, alat, alon), heading, width)
            }
            _ => false,
        };
    }
    if let Some(max) = position.range_max_m {
        let min = position.range_min_m.unwrap_or(0.0);
        return distance().is_some_and(|d| min <= d && d <= max);
    }
    if let Some(shape) = &asset.shape {
        return geometry::contains(shape, lon, lat);
    }
    distance().is_some_and(|d| d <= recording_radius_m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearings_wrap_at_north() {
        assert!(within_heading(350.0, 0.0, 30.0));
        assert!(within_heading(10.0, 0.0, 30.0));
        assert!(!within_heading(20.0, 0.0, 30.0));
        assert!(within_heading(5.0, 355.0, 30.0));
        assert!(!within_heading(180.0, 0.0, 30.0));
    }

    #[test]
    fn bearing_and_distance_point_the_right_way() {
        assert!((bearing_deg(0.0, 0.0, 1.0, 0.0) - 0.0).abs() < 1e-6);
        assert!((bearing_deg(0.0, 0.0, 0.0, 1.0) - 90.0).abs() < 1e-6);
        assert!((bearing_deg(0.0, 0.0, -1.0, 0.0) - 180.0).abs() < 1e-6);
        assert!((bearing_deg(0.0, 0.0, 0.0, -1.0) - 270.0).abs() < 1e-6);
        let d = haversine_m(0.0, 0.0, 1.0, 0.0);
        assert!((d - 111_194.9).abs() < 1.0, "{d}");
    }
}
