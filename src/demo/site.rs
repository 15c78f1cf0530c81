//! The demo's site plan: a drawn map of the park lawn the demo walk is on (lawn, paths, a
//! pond, trees, the gate, the hill), so the README's first command shows a place rather than
//! a grid. Drawn pixel by pixel from a few shapes in metres around the demo's centre, with
//! soft edges, and encoded as PNG. Pure: no files, no rows.
//!
//! Owns: the picture. May not touch: anything else.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

/// The plan's extent in metres from the centre: west, south, east, north edges.
pub(crate) const EXTENT_M: (f64, f64, f64, f64) = (-100.0, -80.0, 160.0, 80.0);
/// Pixels per metre.
const PX_PER_M: f64 = 4.0;
/// The picture's width and height in pixels.
pub(crate) const SIZE_PX: (u32, u32) = (1040, 640);

const LAWN: [f64; 3] = [206.0, 230.0, 184.0];
const PATH: [f64; 3] = [236.0, 224.0, 190.0];
const WATER: [f64; 3] = [158.0, 202.0, 232.0];
const TREE: [f64; 3] = [120.0, 168.0, 110.0];
const HILL: [f64; 3] = [150.0, 190.0, 130.0];
const BUILDING: [f64; 3] = [190.0, 186.0, 180.0];
const EDGE: [f64; 3] = [90.0, 96.0, 90.0];

/// Trees: (east, north, radius) in metres.
const TREES: [(f64, f64, f64); 14] = [
    (-70.0, 50.0, 6.0),
    (-55.0, 62.0, 5.0),
    (-80.0, -40.0, 7.0),
    (-45.0, -60.0, 5.0),
    (-20.0, 55.0, 4.0),
    (5.0, -55.0, 6.0),
    (40.0, -60.0, 5.0),
    (70.0, 60.0, 6.0),
    (130.0, -55.0, 7.0),
    (145.0, 60.0, 5.0),
    (60.0, -40.0, 4.0),
    (-35.0, 35.0, 3.5),
    (120.0, 5.0, 4.0),
    (20.0, 20.0, 3.0),
];

/// How much of a pixel at signed distance `d_m` (negative inside) a shape covers.
fn cover(d_m: f64) -> f64 {
    (0.5 - d_m * PX_PER_M).clamp(0.0, 1.0)
}

/// Distance from (x, y) to the segment (a, b), in metres.
fn to_segment(x: f64, y: f64, a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let t = (((x - a.0) * dx + (y - a.1) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    ((x - a.0 - t * dx).powi(2) + (y - a.1 - t * dy).powi(2)).sqrt()
}

fn blend(base: [f64; 3], over: [f64; 3], amount: f64) -> [f64; 3] {
    [0, 1, 2].map(|i| base[i] + (over[i] - base[i]) * amount)
}

/// The colour at (east, north) metres from the centre.
fn colour(x: f64, y: f64) -> [f64; 3] {
    let mut c = LAWN;
    // The hill, with contour lines.
    let hill = ((x - 30.0) / 40.0).hypot((y - 45.0) / 28.0);
    if hill < 1.0 {
        c = blend(c, HILL, 0.35 + 0.35 * (1.0 - hill));
        let ring = (hill * 4.0).fract();
        c = blend(c, EDGE, 0.25 * cover(ring.min(1.0 - ring) * 8.0 - 0.3));
    }
    // Paths: the main walk east-west, one to the gate, a loop round the drone's lawn.
    let paths = [
        to_segment(x, y, (-95.0, 0.0), (155.0, 0.0)) - 2.0,
        to_segment(x, y, (-30.0, 0.0), (-30.0, 20.0)) - 1.5,
        to_segment(x, y, (-30.0, 20.0), (-85.0, 20.0)) - 1.5,
        (x.hypot(y) - 35.0).abs() - 1.5,
        to_segment(x, y, (60.0, 0.0), (90.0, -20.0)) - 1.5,
    ];
    let path = paths.iter().copied().fold(f64::INFINITY, f64::min);
    c = blend(c, PATH, cover(path));
    // The pond, with its bank.
    let pond = ((x - 112.0) / 22.0).hypot((y - 32.0) / 14.0);
    c = blend(c, WATER, cover((pond - 1.0) * 14.0));
    c = blend(c, EDGE, 0.5 * cover(((pond - 1.0) * 14.0).abs() - 0.2));
    // The gate house by the west entrance.
    let house = (x + 88.0).abs().max((y - 20.0).abs() - 3.0) - 6.0;
    c = blend(c, BUILDING, cover(house));
    c = blend(c, EDGE, cover(house.abs() - 0.3));
    // Trees.
    for (tx, ty, r) in TREES {
        let d = (x - tx).hypot(y - ty) - r;
        c = blend(c, TREE, 0.85 * cover(d));
    }
    // The park's fence.
    let (w, s, e, n) = EXTENT_M;
    let fence = (x - w).min(e - x).min(y - s).min(n - y);
    blend(c, EDGE, cover(fence.abs() - 0.6))
}

/// The plan as PNG bytes.
pub(crate) fn site_plan_png() -> Vec<u8> {
    let (w, _, _, n) = EXTENT_M;
    let img = RgbImage::from_fn(SIZE_PX.0, SIZE_PX.1, |px, py| {
        let x = w + (f64::from(px) + 0.5) / PX_PER_M;
        let y = n - (f64::from(py) + 0.5) / PX_PER_M;
        Rgb(colour(x, y).map(|v| v.round().clamp(0.0, 255.0) as u8))
    });
    let mut out = Cursor::new(Vec::new());
    // Writing a PNG to memory cannot fail.
    let _ = img.write_to(&mut out, ImageFormat::Png);
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_plan_is_a_png_of_the_park_with_water_where_the_pond_is() {
        let png = site_plan_png();
        let img = image::load_from_memory_with_format(&png, ImageFormat::Png)
            .unwrap()
            .to_rgb8();
        assert_eq!((img.width(), img.height()), SIZE_PX);
        let (w, s, e, n) = EXTENT_M;
        assert_eq!(
            (((e - w) * PX_PER_M) as u32, ((n - s) * PX_PER_M) as u32),
            SIZE_PX,
            "the picture covers exactly the extent"
        );
        let at = |east: f64, north: f64| {
            let px = ((east - EXTENT_M.0) * PX_PER_M) as u32;
            let py = ((EXTENT_M.3 - north) * PX_PER_M) as u32;
            img.get_pixel(px, py).0
        };
        assert_eq!(at(112.0, 32.0), WATER.map(|v| v as u8));
        assert_eq!(at(-10.0, -30.0), LAWN.map(|v| v as u8));
        assert_eq!(at(100.0, 0.0), PATH.map(|v| v as u8));
        assert!(png.len() < 200_000, "{} bytes", png.len());
    }
}
