//! Geometry as the API carries it (GeoJSON, lon/lat order; WKT accepted on input) and the
//! computations the server needs: containment, distance in metres to a shape, and the speaker
//! `boundary` and `attenuation_border` derived on save.
//!
//! Distances use a local equirectangular projection around the shape: exact enough at the
//! scale of a venue or a walking tour (metres to a few kilometres), and cheap on a Pi.

use geo::{
    Buffer, Centroid, Contains, Coord, Distance, Euclidean, LineString, MapCoords, MultiLineString,
    MultiPolygon, Point, Polygon,
};
use serde_json::{Value, json};

/// Metres per degree of latitude (mean Earth radius 6 371 008.8 m).
const M_PER_DEG: f64 = 111_195.08;

/// Why a geometry value was refused; the message is shown to the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub(crate) struct GeometryError(pub String);

fn bad(msg: impl Into<String>) -> GeometryError {
    GeometryError(msg.into())
}

/// Reads a MultiPolygon from GeoJSON (a `Polygon` or `MultiPolygon` object, or a JSON string
/// holding one) or WKT (`POLYGON`/`MULTIPOLYGON`). Rings are closed if the client left them open.
///
/// # Errors
/// A [`GeometryError`] saying what is wrong with the value.
pub(crate) fn parse_multipolygon(value: &Value) -> Result<MultiPolygon<f64>, GeometryError> {
    let object = match value {
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with('{') {
                serde_json::from_str::<Value>(t)
                    .map_err(|e| bad(format!("invalid GeoJSON: {e}")))?
            } else {
                return parse_wkt_multipolygon(t);
            }
        }
        Value::Object(_) => value.clone(),
        _ => return Err(bad("expected a GeoJSON Polygon or MultiPolygon")),
    };
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = object
        .get("coordinates")
        .ok_or_else(|| bad("GeoJSON without coordinates"))?;
    let polygons = match kind {
        "Polygon" => vec![polygon_from_json(coords)?],
        "MultiPolygon" => coords
            .as_array()
            .ok_or_else(|| bad("MultiPolygon coordinates must be an array"))?
            .iter()
            .map(polygon_from_json)
            .collect::<Result<_, _>>()?,
        other => {
            return Err(bad(format!(
                "expected Polygon or MultiPolygon, got `{other}`"
            )));
        }
    };
    if polygons.is_empty() {
        return Err(bad("MultiPolygon has no polygons"));
    }
    check_size(MultiPolygon(polygons))
}

/// Most positions accepted in one shape: zones drawn by hand have tens; deriving the
/// attenuation border of a shape grows quickly with its size, and runs inside a write.
pub(crate) const MAX_POSITIONS: usize = 1_000;

fn check_size(mp: MultiPolygon<f64>) -> Result<MultiPolygon<f64>, GeometryError> {
    let n: usize =
        mp.0.iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum();
    if n > MAX_POSITIONS {
        return Err(bad(format!(
            "shape has {n} positions; at most {MAX_POSITIONS} are accepted"
        )));
    }
    Ok(mp)
}

fn polygon_from_json(value: &Value) -> Result<Polygon<f64>, GeometryError> {
    let rings = value
        .as_array()
        .ok_or_else(|| bad("polygon must be an array of rings"))?;
    let mut rings = rings.iter().map(ring_from_json);
    let exterior = rings.next().ok_or_else(|| bad("polygon has no rings"))??;
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn ring_from_json(value: &Value) -> Result<LineString<f64>, GeometryError> {
    let points = value
        .as_array()
        .ok_or_else(|| bad("ring must be an array of positions"))?;
    let coords = points
        .iter()
        .map(|p| {
            // [longitude, latitude] and an optional altitude, all numbers (RFC 7946 §3.1.1)
            let pair = p
                .as_array()
                .filter(|a| (2..=3).contains(&a.len()) && a.iter().all(Value::is_number));
            let x = pair.and_then(|a| a[0].as_f64());
            let y = pair.and_then(|a| a[1].as_f64());
            match (x, y) {
                (Some(x), Some(y)) => position(x, y),
                _ => Err(bad(
                    "position must be [longitude, latitude] or [longitude, latitude, altitude]",
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    ring(coords)
}

fn position(lon: f64, lat: f64) -> Result<Coord<f64>, GeometryError> {
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(bad(format!(
            "position [{lon}, {lat}] is outside longitude/latitude range"
        )));
    }
    Ok(Coord { x: lon, y: lat })
}

fn ring(mut coords: Vec<Coord<f64>>) -> Result<LineString<f64>, GeometryError> {
    if coords.first() != coords.last()
        && let Some(first) = coords.first().copied()
    {
        coords.push(first);
    }
    if coords.len() < 4 {
        return Err(bad("a ring needs at least 3 distinct positions"));
    }
    Ok(LineString(coords))
}

fn parse_wkt_multipolygon(text: &str) -> Result<MultiPolygon<f64>, GeometryError> {
    // Accept an optional "SRID=4326;" prefix as PostGIS EWKT does.
    let text = text
        .split_once(';')
        .filter(|(p, _)| p.starts_with("SRID"))
        .map_or(text, |(_, r)| r);
    let upper = text.trim().to_ascii_uppercase();
    let (is_multi, body) = if let Some(rest) = upper.strip_prefix("MULTIPOLYGON") {
        (true, rest)
    } else if let Some(rest) = upper.strip_prefix("POLYGON") {
        (false, rest)
    } else {
        return Err(bad("expected GeoJSON, or WKT POLYGON/MULTIPOLYGON"));
    };
    let mut chars = body.trim().chars().peekable();
    let tree = wkt_group(&mut chars, 0)?;
    if chars.any(|c| !c.is_whitespace()) {
        return Err(bad("unexpected text after WKT geometry"));
    }
    let polygon = |node: WktNode| -> Result<Polygon<f64>, GeometryError> {
        let WktNode::Groups(rings) = node else {
            return Err(bad("WKT polygon must hold rings"));
        };
        let mut rings = rings.into_iter().map(|r| match r {
            WktNode::Coords(c) => ring(c),
            WktNode::Groups(_) => Err(bad("WKT ring nested too deeply")),
        });
        let exterior = rings
            .next()
            .ok_or_else(|| bad("WKT polygon has no rings"))??;
        Ok(Polygon::new(
            exterior,
            rings.collect::<Result<Vec<_>, _>>()?,
        ))
    };
    let polygons = if is_multi {
        let WktNode::Groups(polys) = tree else {
            return Err(bad("WKT multipolygon must hold polygons"));
        };
        polys
            .into_iter()
            .map(polygon)
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![polygon(tree)?]
    };
    if polygons.is_empty() {
        return Err(bad("WKT has no polygons"));
    }
    check_size(MultiPolygon(polygons))
}

/// A parenthesised WKT group: either nested groups or a list of coordinates.
enum WktNode {
    Groups(Vec<WktNode>),
    Coords(Vec<Coord<f64>>),
}

/// Deepest parenthesis nesting in WKT: a MULTIPOLYGON needs three (polygons, rings,
/// positions). Deeper text is refused before it can exhaust the stack (a megabyte of `(` once
/// overflowed it and aborted the daemon).
const WKT_MAX_DEPTH: usize = 3;

fn wkt_group(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    depth: usize,
) -> Result<WktNode, GeometryError> {
    if depth >= WKT_MAX_DEPTH {
        return Err(bad("WKT nested too deeply"));
    }
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    };
    skip_ws(chars);
    if chars.next() != Some('(') {
        return Err(bad("expected `(` in WKT"));
    }
    skip_ws(chars);
    if chars.peek() == Some(&'(') {
        let mut groups = Vec::new();
        loop {
            groups.push(wkt_group(chars, depth + 1)?);
            skip_ws(chars);
            match chars.next() {
                Some(',') => continue,
                Some(')') => return Ok(WktNode::Groups(groups)),
                _ => return Err(bad("unbalanced WKT parentheses")),
            }
        }
    }
    let mut text = String::new();
    for c in chars.by_ref() {
        if c == ')' {
            let coords = text
                .split(',')
                .map(|pair| {
                    let mut nums = pair.split_whitespace().map(str::parse::<f64>);
                    match (nums.next(), nums.next()) {
                        (Some(Ok(x)), Some(Ok(y))) => position(x, y),
                        _ => Err(bad(format!("bad WKT position `{}`", pair.trim()))),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(WktNode::Coords(coords));
        }
        if c == '(' {
            return Err(bad("unexpected `(` in WKT coordinates"));
        }
        text.push(c);
    }
    Err(bad("unbalanced WKT parentheses"))
}

/// GeoJSON of a MultiPolygon.
pub(crate) fn multipolygon_json(mp: &MultiPolygon<f64>) -> Value {
    let polys: Vec<Value> =
        mp.0.iter()
            .map(|p| {
                let mut rings = vec![ring_json(p.exterior())];
                rings.extend(p.interiors().iter().map(ring_json));
                Value::Array(rings)
            })
            .collect();
    json!({"type": "MultiPolygon", "coordinates": polys})
}

fn ring_json(ls: &LineString<f64>) -> Value {
    Value::Array(ls.0.iter().map(|c| json!([c.x, c.y])).collect())
}

/// The outline of a shape: every ring as a closed line (GeoJSON MultiLineString).
pub fn boundary(mp: &MultiPolygon<f64>) -> MultiLineString<f64> {
    let mut lines = Vec::new();
    for p in &mp.0 {
        lines.push(p.exterior().clone());
        lines.extend(p.interiors().iter().cloned());
    }
    MultiLineString(lines)
}

/// GeoJSON of a MultiLineString.
pub(crate) fn multilinestring_json(ml: &MultiLineString<f64>) -> Value {
    json!({"type": "MultiLineString", "coordinates": ml.0.iter().map(ring_json).collect::<Vec<_>>()})
}

/// GeoJSON of a LineString.
pub(crate) fn linestring_json(ls: &LineString<f64>) -> Value {
    json!({"type": "LineString", "coordinates": ring_json(ls)})
}

/// A local metric frame: x/y metres east/north of an origin.
#[derive(Debug, Clone, Copy)]
struct Frame {
    lon0: f64,
    lat0: f64,
    m_per_deg_lon: f64,
}

impl Frame {
    fn around(c: Coord<f64>) -> Self {
        Self {
            lon0: c.x,
            lat0: c.y,
            m_per_deg_lon: M_PER_DEG * c.y.to_radians().cos().max(1e-6),
        }
    }
    fn to_m(self, c: Coord<f64>) -> Coord<f64> {
        Coord {
            x: (c.x - self.lon0) * self.m_per_deg_lon,
            y: (c.y - self.lat0) * M_PER_DEG,
        }
    }
    fn to_deg(self, c: Coord<f64>) -> Coord<f64> {
        Coord {
            x: c.x / self.m_per_deg_lon + self.lon0,
            y: c.y / M_PER_DEG + self.lat0,
        }
    }
}

fn frame_for(mp: &MultiPolygon<f64>) -> Option<Frame> {
    mp.centroid().map(|p| Frame::around(p.0))
}

/// The outline of the shape shrunk inward by `distance_m`, as one closed line: the edge at
/// which a speaker reaches full volume. When the shape is too small to shrink that far, the
/// line collapses to the shape's centroid (a speaker that never reaches full volume).
pub(crate) fn attenuation_border(mp: &MultiPolygon<f64>, distance_m: f64) -> LineString<f64> {
    let Some(frame) = frame_for(mp) else {
        return LineString(Vec::new());
    };
    let metric = mp.map_coords(|c| frame.to_m(c));
    let shrunk = if distance_m > 0.0 {
        metric.buffer(-distance_m)
    } else {
        metric
    };
    let largest = shrunk
        .0
        .iter()
        .max_by(|a, b| geo::Area::unsigned_area(*a).total_cmp(&geo::Area::unsigned_area(*b)));
    match largest {
        Some(p) if p.exterior().0.len() >= 4 => p.exterior().map_coords(|c| frame.to_deg(c)),
        _ => {
            let c = frame.to_deg(Coord { x: 0.0, y: 0.0 });
            LineString(vec![c; 4])
        }
    }
}

/// Distance in metres from a point (longitude, latitude) to the shape: 0 inside.
pub(crate) fn distance_to_shape_m(mp: &MultiPolygon<f64>, lon: f64, lat: f64) -> f64 {
    let frame = Frame::around(Coord { x: lon, y: lat });
    let metric = mp.map_coords(|c| frame.to_m(c));
    let p = Point::new(0.0, 0.0);
    if metric.contains(&p) {
        return 0.0;
    }
    metric
        .0
        .iter()
        .map(|poly| Euclidean.distance(&p, poly))
        .fold(f64::INFINITY, f64::min)
}

/// Distance in metres from a point (longitude, latitude) to the nearest line of an outline,
/// measured the same way from inside or outside the shape (`INFINITY` for an empty outline).
pub(crate) fn distance_to_outline_m(outline: &MultiLineString<f64>, lon: f64, lat: f64) -> f64 {
    let frame = Frame::around(Coord { x: lon, y: lat });
    let p = Point::new(0.0, 0.0);
    outline
        .0
        .iter()
        .map(|line| Euclidean.distance(&p, &line.map_coords(|c| frame.to_m(c))))
        .fold(f64::INFINITY, f64::min)
}

/// True when the point lies inside the shape.
pub(crate) fn contains(mp: &MultiPolygon<f64>, lon: f64, lat: f64) -> bool {
    mp.contains(&Point::new(lon, lat))
}

/// Distance in metres between two points given as (latitude, longitude), on a sphere.
#[cfg(test)]
pub(crate) fn distance_between_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    use geo::Haversine;
    Haversine.distance(Point::new(lon1, lat1), Point::new(lon2, lat2))
}

/// Reads a stored GeoJSON text back into a MultiPolygon (`None` if it is not one).
pub(crate) fn stored_multipolygon(text: &str) -> Option<MultiPolygon<f64>> {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| parse_multipolygon(&v).ok())
}

/// Reads any GeoJSON geometry object for output (stored text → JSON value).
pub(crate) fn stored_json(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
#[path = "geometry_proptests.rs"]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    /// A square about 200 m on a side around (lon 0.1, lat 0.1).
    fn square() -> Value {
        let d = 0.0009;
        json!({"type": "Polygon", "coordinates": [[[0.1-d,0.1-d],[0.1+d,0.1-d],[0.1+d,0.1+d],[0.1-d,0.1+d]]]})
    }

    #[test]
    fn a_polygon_becomes_a_closed_multipolygon() {
        let mp = parse_multipolygon(&square()).unwrap();
        assert_eq!(mp.0.len(), 1);
        assert_eq!(mp.0[0].exterior().0.first(), mp.0[0].exterior().0.last());
        let out = multipolygon_json(&mp);
        assert_eq!(out["type"], "MultiPolygon");
        assert_eq!(out["coordinates"][0][0].as_array().unwrap().len(), 5);
    }

    #[test]
    fn geojson_inside_a_string_and_wkt_are_accepted() {
        let as_text = Value::String(square().to_string());
        assert!(parse_multipolygon(&as_text).is_ok());
        let wkt = Value::String(
            "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 1, 0 0)),((2 2, 3 2, 3 3, 2 2)))".into(),
        );
        assert_eq!(parse_multipolygon(&wkt).unwrap().0.len(), 2);
        let wkt = Value::String("SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0))".into());
        assert_eq!(parse_multipolygon(&wkt).unwrap().0.len(), 1);
    }

    #[test]
    fn a_shape_with_too_many_positions_is_refused() {
        let ring: Vec<Value> = (0..=MAX_POSITIONS)
            .map(|i| {
                let a = i as f64 / MAX_POSITIONS as f64 * std::f64::consts::TAU;
                json!([0.1 + 0.001 * a.cos(), 0.1 + 0.001 * a.sin()])
            })
            .collect();
        let err =
            parse_multipolygon(&json!({"type": "Polygon", "coordinates": [ring]})).unwrap_err();
        assert!(err.0.contains("at most"), "{}", err.0);
    }

    #[test]
    fn nonsense_geometry_is_refused_with_a_reason() {
        for v in [
            json!(3),
            json!({"type": "Point", "coordinates": [1, 2]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 100], [2, 2]]]}),
            json!("POLYGON((0 0, 1 0"),
        ] {
            assert!(parse_multipolygon(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn the_attenuation_border_lies_inside_the_shape_by_about_the_distance() {
        let mp = parse_multipolygon(&square()).unwrap();
        let border = attenuation_border(&mp, 50.0);
        assert!(border.0.len() >= 4);
        assert_eq!(border.0.first(), border.0.last());
        for c in &border.0 {
            assert!(contains(&mp, c.x, c.y));
            let edge = boundary(&mp);
            let frame = Frame::around(*c);
            let metric = edge.map_coords(|k| frame.to_m(k));
            let d = metric
                .0
                .iter()
                .map(|l| Euclidean.distance(&Point::new(0.0, 0.0), l))
                .fold(f64::INFINITY, f64::min);
            assert!((d - 50.0).abs() < 3.0, "border point {d} m from edge");
        }
    }

    #[test]
    fn a_shape_smaller_than_the_distance_collapses_to_its_centre() {
        let mp = parse_multipolygon(&square()).unwrap();
        let border = attenuation_border(&mp, 500.0);
        assert_eq!(border.0.len(), 4);
        assert!((border.0[0].x - 0.1).abs() < 1e-6);
    }

    #[test]
    fn distance_to_shape_is_zero_inside_and_metres_outside() {
        let mp = parse_multipolygon(&square()).unwrap();
        assert!(distance_to_shape_m(&mp, 0.1, 0.1).abs() < 1e-9);
        // 0.0018 degrees of latitude north of the top edge ≈ 200 m
        let d = distance_to_shape_m(&mp, 0.1, 0.1009 + 0.0018);
        assert!((d - 200.0).abs() < 2.0, "{d}");
    }
}
