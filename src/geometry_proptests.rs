//! Property tests of shape parsing: any polygon survives GeoJSON and WKT, and no input, however
//! broken or deeply nested, makes the parser panic or exhaust the stack.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// A ring of 3 to 12 positions, usually open (the parser closes it); closed, it still has four.
fn open_ring() -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec((-180.0..=180.0f64, -90.0..=90.0f64), 3..12)
        .prop_filter("a ring needs four positions once closed", |r| {
            closed(r).len() >= 4
        })
}

/// Equal to within a few units in the last place: serde_json's default float parsing may be
/// one ULP off (1e-14 degrees, nanometres on the ground).
fn same(a: &[(f64, f64)], b: &[(f64, f64)]) -> bool {
    let near = |x: f64, y: f64| (x - y).abs() <= 1e-12 * x.abs().max(1.0);
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| near(p.0, q.0) && near(p.1, q.1))
}

fn exterior(mp: &MultiPolygon<f64>) -> Vec<(f64, f64)> {
    mp.0[0].exterior().0.iter().map(|c| (c.x, c.y)).collect()
}

fn closed(ring: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = ring.to_vec();
    if ring.first() != ring.last() {
        out.push(ring[0]);
    }
    out
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("Polygon")),
        Just(json!("MultiPolygon")),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            (inner.clone(), inner).prop_map(|(t, c)| json!({"type": t, "coordinates": c})),
        ]
    })
}

proptest! {
    #![proptest_config(crate::proptest_config())]

    #[test]
    fn a_geojson_polygon_round_trips(ring in open_ring()) {
        let coords: Vec<Value> = ring.iter().map(|(x, y)| json!([x, y])).collect();
        let shape = json!({"type": "Polygon", "coordinates": [coords]});
        let mp = parse_multipolygon(&shape).unwrap();
        prop_assert_eq!(exterior(&mp), closed(&ring));
        // and again from the stored form, as text
        let again = parse_multipolygon(&Value::String(multipolygon_json(&mp).to_string())).unwrap();
        prop_assert!(same(&exterior(&again), &closed(&ring)), "{:?}", exterior(&again));
    }

    #[test]
    fn a_wkt_polygon_round_trips(ring in open_ring(), lower in any::<bool>()) {
        let text: Vec<String> = ring.iter().map(|(x, y)| format!("{x} {y}")).collect();
        let word = if lower { "polygon" } else { "POLYGON" };
        let wkt = format!("{word} (( {} ))", text.join(", "));
        let mp = parse_multipolygon(&Value::String(wkt)).unwrap();
        prop_assert_eq!(exterior(&mp), closed(&ring));
    }

    #[test]
    fn any_text_is_a_shape_or_an_error_never_a_panic(text in ".{0,80}") {
        let _ = parse_multipolygon(&Value::String(text.clone()));
        let _ = parse_multipolygon(&Value::String(format!("POLYGON{text}")));
        let _ = parse_multipolygon(&Value::String(format!("MULTIPOLYGON((({text})))")));
    }

    #[test]
    fn any_json_is_a_shape_or_an_error_never_a_panic(v in any_json()) {
        let _ = parse_multipolygon(&v);
    }

    #[test]
    fn wkt_nested_past_a_multipolygon_is_an_error(depth in 4usize..64) {
        let wkt = format!("MULTIPOLYGON{}0 0, 1 0, 1 1{}", "(".repeat(depth), ")".repeat(depth));
        prop_assert!(parse_multipolygon(&Value::String(wkt)).is_err());
    }
}

#[test]
fn a_megabyte_of_parentheses_is_refused_without_exhausting_the_stack() {
    let wkt = format!("POLYGON{}", "(".repeat(1 << 20));
    let err = parse_multipolygon(&Value::String(wkt)).unwrap_err();
    assert!(err.0.contains("nested too deeply"), "{}", err.0);
}

#[test]
fn an_altitude_is_dropped_but_a_fourth_member_or_text_is_refused() {
    let shape = |p: Value| json!({"type": "Polygon", "coordinates": [[p, [1, 0], [1, 1], [0, 1]]]});
    let mp = parse_multipolygon(&shape(json!([0, 0, 120.5]))).unwrap();
    assert_eq!(exterior(&mp)[0], (0.0, 0.0));
    for bad in [
        json!([0, 0, 1, 2]),
        json!([0, 0, "high"]),
        json!([0]),
        json!(["0", 0]),
    ] {
        let err = parse_multipolygon(&shape(bad.clone())).unwrap_err();
        assert!(err.0.contains("position must be"), "{bad}: {}", err.0);
    }
}
