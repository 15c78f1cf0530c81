//! audiotracks/, speakers/, timedassets/ and projectgroups/ (with the project chooser).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Reply, TestServer};

/// A server with the reference fixture, a device token and a staff token.
async fn setup() -> (TestServer, String, String) {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("speakers-tracks-device").await;
    let staff = s.staff_token().await;
    (s, token, staff)
}

fn assert_status(r: &Reply, status: StatusCode) {
    assert_eq!(r.status, status, "body: {}", r.body);
}

/// Every row of a table as one JSON text, to show that a refused request changed nothing.
async fn snapshot(s: &TestServer, table: &str) -> String {
    let sql = format!("SELECT * FROM {table} ORDER BY 1");
    s.store
        .read(move |c| {
            let mut stmt = c.prepare(&sql)?;
            let n = stmt.column_count();
            let rows = stmt.query_map([], |r| {
                let mut out = Vec::new();
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    out.push(format!("{v:?}"));
                }
                Ok(out.join("|"))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
        })
        .await
        .unwrap()
}

fn coords(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a position list: {v}"))
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

/// The ids of `GET /api/2/<resource>/?<query>`.
async fn ids_at(s: &TestServer, resource: &str, query: &str, token: &str) -> Vec<i64> {
    let r = s
        .get(&format!("/api/2/{resource}/?{query}"), Some(token))
        .await;
    r.ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

/// The `start` values of `GET /api/2/timedassets/?<query>`.
async fn starts_at(s: &TestServer, query: &str, token: &str) -> Vec<f64> {
    let r = s
        .get(&format!("/api/2/timedassets/?{query}"), Some(token))
        .await;
    r.ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["start"].as_f64().unwrap())
        .collect()
}

fn closed(ring: &[(f64, f64)]) -> bool {
    ring.len() >= 4 && ring.first() == ring.last()
}

// ----------------------------------------------------------------------------------------
// audiotracks/

const TRACK_KEYS: [&str; 23] = [
    "id",
    "minvolume",
    "maxvolume",
    "minduration",
    "maxduration",
    "mindeadair",
    "maxdeadair",
    "minfadeintime",
    "maxfadeintime",
    "minfadeouttime",
    "maxfadeouttime",
    "minpanpos",
    "maxpanpos",
    "minpanduration",
    "maxpanduration",
    "repeatrecordings",
    "active",
    "start_with_silence",
    "banned_duration",
    "fadeout_when_filtered",
    "timed_asset_priority",
    "tag_filters",
    "project_id",
];

fn track_body() -> Value {
    json!({"project_id": 1, "minvolume": 0.1, "maxvolume": 1.0, "minduration": 2.5, "maxduration": 5,
        "mindeadair": 1, "maxdeadair": 2, "minfadeintime": 0.5, "maxfadeintime": 2, "minfadeouttime": 1,
        "maxfadeouttime": 2, "minpanpos": -0.5, "maxpanpos": 0.75, "minpanduration": 5, "maxpanduration": 17})
}

#[tokio::test]
async fn the_ios_audiotrack_call_gets_every_key_it_decodes_with_durations_in_seconds() {
    let (s, token, _) = setup().await;
    let r = s
        .get("/api/2/audiotracks/?project_id=1&", Some(&token))
        .await;
    let list = r.ok().as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    let t = &list[0];
    for key in TRACK_KEYS {
        assert!(t.get(key).is_some(), "missing {key} in {t}");
    }
    assert_eq!(t.as_object().unwrap().len(), TRACK_KEYS.len(), "{t}");
    assert_eq!(t["id"], 1);
    assert_eq!(t["project_id"], 1);
    for (key, secs) in [
        ("minduration", 5.0),
        ("maxduration", 10.0),
        ("mindeadair", 1.0),
        ("maxdeadair", 2.0),
        ("minfadeintime", 1.0),
        ("maxfadeintime", 2.0),
        ("minfadeouttime", 1.0),
        ("maxfadeouttime", 2.0),
        ("minpanduration", 5.0),
        ("maxpanduration", 10.0),
    ] {
        assert_eq!(t[key].as_f64(), Some(secs), "{key}");
    }
    assert_eq!(t["minvolume"].as_f64(), Some(0.5));
    assert_eq!(t["minpanpos"].as_f64(), Some(-1.0));
    for key in [
        "repeatrecordings",
        "active",
        "start_with_silence",
        "fadeout_when_filtered",
    ] {
        assert!(t[key].is_boolean(), "{key}: {t}");
    }
    assert!(t["banned_duration"].is_i64());
    assert_eq!(t["timed_asset_priority"], "normal");
    assert_eq!(t["tag_filters"], json!([]));

    let one = s.get("/api/2/audiotracks/1/", Some(&token)).await;
    assert_eq!(one.ok(), t);
    let no_slash = s.get("/api/2/audiotracks/1", Some(&token)).await;
    assert_eq!(no_slash.ok(), t);
}

#[tokio::test]
async fn creating_an_audiotrack_takes_seconds_and_stores_nanoseconds() {
    let (s, token, staff) = setup().await;
    let mut body = track_body();
    body["tag_filters"] = json!([2, 1]);
    body["timed_asset_priority"] = json!("neutral");
    let r = s.post("/api/2/audiotracks/", Some(&staff), body).await;
    let t = r.ok().clone();
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["minduration"].as_f64(), Some(2.5));
    assert_eq!(t["maxpanduration"].as_f64(), Some(17.0));
    assert_eq!(t["minpanpos"].as_f64(), Some(-0.5));
    assert_eq!(t["tag_filters"], json!([1, 2]));
    assert_eq!(t["timed_asset_priority"], "neutral");
    // model defaults
    assert_eq!(t["active"], true);
    assert_eq!(t["repeatrecordings"], false);
    assert_eq!(t["banned_duration"], 0);
    assert_eq!(
        s.scalar(&format!(
            "SELECT CAST(minduration AS INTEGER) FROM audiotracks WHERE id = {id}"
        ))
        .await,
        2_500_000_000
    );
    assert_eq!(
        s.scalar(&format!(
            "SELECT CAST(maxpanduration AS INTEGER) FROM audiotracks WHERE id = {id}"
        ))
        .await,
        17_000_000_000
    );
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) FROM audiotrack_tags WHERE audiotrack_id = {id}"
        ))
        .await,
        2
    );
    let again = s
        .get(&format!("/api/2/audiotracks/{id}/"), Some(&token))
        .await;
    assert_eq!(again.ok(), &t);
}

#[tokio::test]
async fn an_audiotrack_can_be_created_from_a_multipart_form_of_strings() {
    let (s, _, staff) = setup().await;
    let fields: Vec<(String, String)> = track_body()
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .chain([
            ("tag_filters".to_string(), "1,2,".to_string()),
            ("active".to_string(), "False".to_string()),
            ("banned_duration".to_string(), "60".to_string()),
        ])
        .collect();
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = s
        .multipart(Method::POST, "/api/2/audiotracks/", Some(&staff), &pairs)
        .await;
    let t = r.ok();
    assert_eq!(t["minduration"].as_f64(), Some(2.5));
    assert_eq!(t["active"], false);
    assert_eq!(t["banned_duration"], 60);
    assert_eq!(t["tag_filters"], json!([1, 2]));
    let form = s
        .form(Method::POST, "/api/2/audiotracks/", Some(&staff), &pairs)
        .await;
    assert_eq!(form.ok()["maxduration"].as_f64(), Some(5.0));
}

#[tokio::test]
async fn patching_an_audiotrack_converts_seconds_and_checks_pairs_against_stored_values() {
    let (s, _, staff) = setup().await;
    let before = snapshot(&s, "audiotracks").await;
    // stored minduration is 5 s: a maxduration of 3 s would put min above max
    let r = s
        .patch(
            "/api/2/audiotracks/1/",
            Some(&staff),
            json!({"maxduration": 3}),
        )
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert!(r.body.get("minduration").is_some(), "{}", r.body);
    assert_eq!(snapshot(&s, "audiotracks").await, before);

    let r = s
        .patch(
            "/api/2/audiotracks/1/",
            Some(&staff),
            json!({"minduration": 7.5, "tag_filters": "1", "timed_asset_priority": "discard"}),
        )
        .await;
    let t = r.ok().clone();
    assert_eq!(t["minduration"].as_f64(), Some(7.5));
    assert_eq!(t["maxduration"].as_f64(), Some(10.0));
    assert_eq!(t["tag_filters"], json!([1]));
    assert_eq!(t["timed_asset_priority"], "discard");
    assert_eq!(
        s.scalar("SELECT CAST(minduration AS INTEGER) FROM audiotracks WHERE id = 1")
            .await,
        7_500_000_000
    );
    // a PATCH without tag_filters keeps them; an empty list clears them
    let r = s
        .patch(
            "/api/2/audiotracks/1/",
            Some(&staff),
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.ok()["tag_filters"], json!([1]));
    assert_eq!(r.ok()["active"], false);
    let r = s
        .patch(
            "/api/2/audiotracks/1/",
            Some(&staff),
            json!({"tag_filters": []}),
        )
        .await;
    assert_eq!(r.ok()["tag_filters"], json!([]));
    let r = s
        .patch(
            "/api/2/audiotracks/999/",
            Some(&staff),
            json!({"active": true}),
        )
        .await;
    assert_status(&r, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn audiotrack_range_filters_take_seconds_and_plain_filters_nanoseconds() {
    let (s, token, staff) = setup().await;
    let mut body = track_body();
    body["active"] = json!(false);
    body["repeatrecordings"] = json!(true);
    let id2 = s.post("/api/2/audiotracks/", Some(&staff), body).await.ok()["id"]
        .as_i64()
        .unwrap();
    let q = |query: &'static str| ids_at(&s, "audiotracks", query, &token);
    assert_eq!(q("minduration__lte=3").await, vec![id2]);
    assert_eq!(q("minduration__gte=5").await, vec![1]);
    assert_eq!(q("maxduration__gte=6&maxduration__lte=10").await, vec![1]);
    assert_eq!(q("mindeadair__gte=1&mindeadair__lte=1").await, vec![1, id2]);
    assert_eq!(q("maxdeadair__lte=1.5").await, Vec::<i64>::new());
    assert_eq!(q("minduration=5000000000").await, vec![1]);
    assert_eq!(q("minduration=5").await, Vec::<i64>::new());
    assert_eq!(q("active=false").await, vec![id2]);
    assert_eq!(q("active=true&project_id=1").await, vec![1]);
    assert_eq!(q("repeatrecordings=1").await, vec![id2]);
    assert_eq!(q("start_with_silence=false&").await, vec![1, id2]);
    assert_eq!(q("fadeout_when_filtered=true").await, Vec::<i64>::new());
    assert_eq!(q("project_id=2").await, Vec::<i64>::new());
    assert_eq!(q("no_such_filter=1").await, vec![1, id2]);

    for (query, key) in [
        ("minduration__lte=short", "minduration__lte"),
        ("active=maybe", "active"),
        (
            "project_id=1%27%3B%20DROP%20TABLE%20audiotracks",
            "project_id",
        ),
    ] {
        let r = s
            .get(&format!("/api/2/audiotracks/?{query}"), Some(&token))
            .await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(r.body.get(key).is_some(), "{query}: {}", r.body);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM audiotracks").await, 2);
}

#[tokio::test]
async fn bad_audiotracks_are_refused_naming_the_field_and_nothing_is_written() {
    let (s, _, staff) = setup().await;
    let tracks = snapshot(&s, "audiotracks").await;
    let links = snapshot(&s, "audiotrack_tags").await;
    let with = |key: &str, v: Value| {
        let mut b = track_body();
        b[key] = v;
        b
    };
    let without = |key: &str| {
        let mut b = track_body();
        b.as_object_mut().unwrap().remove(key);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("minduration"), "minduration"),
        (without("project_id"), "project_id"),
        (with("minvolume", json!(1.5)), "minvolume"),
        (with("minvolume", json!(-0.1)), "minvolume"),
        (with("mindeadair", json!(3)), "mindeadair"),
        (with("minfadeouttime", json!(-1)), "minfadeouttime"),
        (with("maxpanpos", json!(1.5)), "maxpanpos"),
        (with("minpanpos", json!(-2)), "minpanpos"),
        (with("maxpanduration", json!(4)), "minpanduration"),
        (
            with("timed_asset_priority", json!("urgent")),
            "timed_asset_priority",
        ),
        (
            with("timed_asset_priority", json!("normal'; --")),
            "timed_asset_priority",
        ),
        (with("project_id", json!(999)), "project_id"),
        (with("project_id", json!("one")), "project_id"),
        (with("tag_filters", json!([1, 999])), "tag_filters"),
        (with("tag_filters", json!("1,x")), "tag_filters"),
        (with("minduration", json!("long")), "minduration"),
        (with("minduration", json!(null)), "minduration"),
        (with("maxduration", json!([5])), "maxduration"),
        (with("active", json!("maybe")), "active"),
        (with("banned_duration", json!(-5)), "banned_duration"),
        (with("banned_duration", json!(1.5)), "banned_duration"),
        (with("repeatrecordings", json!("😀")), "repeatrecordings"),
    ];
    for (body, key) in cases {
        let r = s
            .post("/api/2/audiotracks/", Some(&staff), body.clone())
            .await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(
            r.body.get(key).is_some(),
            "{key} not named for {body}: {}",
            r.body
        );
    }
    for (body, key) in [
        (json!({"minpanpos": 0.9, "maxpanpos": 0.8}), "minpanpos"),
        (json!({"maxvolume": 0.1}), "minvolume"),
        (json!({"tag_filters": [3, 998]}), "tag_filters"),
        (json!({"project_id": 77}), "project_id"),
        (
            json!({"fadeout_when_filtered": null}),
            "fadeout_when_filtered",
        ),
    ] {
        let r = s
            .patch("/api/2/audiotracks/1/", Some(&staff), body.clone())
            .await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(
            r.body.get(key).is_some(),
            "{key} not named for {body}: {}",
            r.body
        );
    }
    let r = s
        .raw(
            Method::POST,
            "/api/2/audiotracks/",
            Some(&staff),
            "application/json",
            b"[1, 2]".to_vec(),
        )
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert_eq!(snapshot(&s, "audiotracks").await, tracks);
    assert_eq!(snapshot(&s, "audiotrack_tags").await, links);
}

#[tokio::test]
async fn audiotracks_are_read_with_a_token_and_written_by_staff_only() {
    let (s, token, staff) = setup().await;
    assert_status(
        &s.get("/api/2/audiotracks/", None).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_status(
        &s.get("/api/2/audiotracks/1/", None).await,
        StatusCode::UNAUTHORIZED,
    );
    let before = snapshot(&s, "audiotracks").await;
    for (who, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(token.as_str()), StatusCode::FORBIDDEN),
    ] {
        assert_status(
            &s.post("/api/2/audiotracks/", who, track_body()).await,
            status,
        );
        assert_status(
            &s.patch("/api/2/audiotracks/1/", who, json!({"active": false}))
                .await,
            status,
        );
        assert_status(&s.delete("/api/2/audiotracks/1/", who).await, status);
    }
    assert_eq!(snapshot(&s, "audiotracks").await, before);

    s.patch(
        "/api/2/audiotracks/1/",
        Some(&staff),
        json!({"tag_filters": [1, 2]}),
    )
    .await
    .ok();
    let r = s.delete("/api/2/audiotracks/1/", Some(&staff)).await;
    assert_status(&r, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    assert_status(
        &s.get("/api/2/audiotracks/1/", Some(&token)).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &s.delete("/api/2/audiotracks/1", Some(&staff)).await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(s.scalar("SELECT count(*) FROM audiotrack_tags").await, 0);
    assert_eq!(s.scalar("SELECT count(*) FROM tags").await, 3);
}

// ----------------------------------------------------------------------------------------
// speakers/

/// A rectangle around (lon, lat) with half-sides `d` degrees, as an open GeoJSON Polygon.
fn square(lon: f64, lat: f64, d: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]]})
}

fn speaker_body() -> Value {
    json!({"project_id": 1, "activeyn": true, "code": "bed", "maxvolume": 0.8, "minvolume": 0.1,
        "uri": "http://example.invalid/bed.mp3", "shape": square(10.0, 20.0, 0.002),
        "attenuation_distance": 50})
}

/// Checks a speaker object the way the iOS framework decodes it.
fn assert_ios_speaker(sp: &Value) {
    for key in [
        "id",
        "activeyn",
        "code",
        "maxvolume",
        "minvolume",
        "uri",
        "backupuri",
        "shape",
        "boundary",
        "attenuation_distance",
        "attenuation_border",
        "project_id",
    ] {
        assert!(sp.get(key).is_some(), "missing {key} in {sp}");
    }
    assert!(sp["id"].is_i64());
    assert!(sp["uri"].is_string());
    assert!(
        sp["backupuri"].is_string(),
        "backupuri must be a string: {sp}"
    );
    assert!(sp["attenuation_distance"].is_i64());
    assert!(sp["minvolume"].is_number() && sp["maxvolume"].is_number());
    assert!(sp["activeyn"].is_boolean());
    assert_eq!(sp["shape"]["type"], "MultiPolygon");
    for polygon in sp["shape"]["coordinates"].as_array().unwrap() {
        for ring in polygon.as_array().unwrap() {
            assert!(closed(&coords(ring)), "shape ring not closed: {ring}");
        }
    }
    assert_eq!(sp["boundary"]["type"], "MultiLineString");
    let rings = sp["boundary"]["coordinates"].as_array().unwrap();
    assert!(!rings.is_empty());
    for ring in rings {
        assert!(closed(&coords(ring)), "boundary ring not closed: {ring}");
    }
    assert_eq!(sp["attenuation_border"]["type"], "LineString");
    assert!(
        closed(&coords(&sp["attenuation_border"]["coordinates"])),
        "attenuation_border not closed: {sp}"
    );
}

/// Metres from (lon, lat) to the nearest edge of the axis-aligned rectangle around (clon, clat)
/// with half-side `d` degrees (the point being inside).
fn metres_to_edge(lon: f64, lat: f64, clon: f64, clat: f64, d: f64) -> f64 {
    let m_lat = 111_195.08;
    let m_lon = m_lat * clat.to_radians().cos();
    let dx = (d - (lon - clon).abs()) * m_lon;
    let dy = (d - (lat - clat).abs()) * m_lat;
    dx.min(dy)
}

#[tokio::test]
async fn the_ios_speaker_call_gets_every_key_with_closed_borders_inside_the_shape() {
    let (s, token, _) = setup().await;
    let r = s
        .get("/api/2/speakers/?project_id=1&activeyn=true&", Some(&token))
        .await;
    let list = r.ok().as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    let sp = &list[0];
    assert_ios_speaker(sp);
    assert_eq!(sp["backupuri"], "");
    assert_eq!(sp["attenuation_distance"], 100);
    assert_eq!(sp["project_id"], 1);
    assert_eq!(sp["code"], "sp1");
    // the fixture square is 0.099..0.101 in both axes, about 222 m wide; 100 m in from each
    // edge leaves a small square around the centre
    for (lon, lat) in coords(&sp["attenuation_border"]["coordinates"]) {
        assert!((0.099..=0.101).contains(&lon) && (0.099..=0.101).contains(&lat));
        let d = metres_to_edge(lon, lat, 0.1, 0.1, 0.001);
        assert!((d - 100.0).abs() < 5.0, "border point {d} m from the edge");
    }
    assert_eq!(
        sp["boundary"]["coordinates"][0],
        sp["shape"]["coordinates"][0][0]
    );
    let one = s.get("/api/2/speakers/1/", Some(&token)).await;
    assert_eq!(one.ok(), sp);
}

#[tokio::test]
async fn a_speaker_shape_round_trips_and_its_borders_are_derived_on_save() {
    let (s, token, staff) = setup().await;
    let r = s
        .post("/api/2/speakers/", Some(&staff), speaker_body())
        .await;
    let sp = r.ok().clone();
    assert_ios_speaker(&sp);
    let id = sp["id"].as_i64().unwrap();
    assert_eq!(sp["backupuri"], "");
    let ring = coords(&sp["shape"]["coordinates"][0][0]);
    let d = 0.002;
    assert_eq!(
        ring,
        vec![
            (10.0 - d, 20.0 - d),
            (10.0 + d, 20.0 - d),
            (10.0 + d, 20.0 + d),
            (10.0 - d, 20.0 + d),
            (10.0 - d, 20.0 - d)
        ]
    );
    assert_eq!(coords(&sp["boundary"]["coordinates"][0]), ring);
    for (lon, lat) in coords(&sp["attenuation_border"]["coordinates"]) {
        let m = metres_to_edge(lon, lat, 10.0, 20.0, d);
        assert!(m > 0.0, "border point outside the shape");
        assert!((m - 50.0).abs() < 3.0, "border point {m} m from the edge");
    }
    // derived on save, not only on read
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) FROM speakers WHERE id = {id} AND boundary IS NOT NULL AND attenuation_border IS NOT NULL"
        ))
        .await,
        1
    );
    let again = s.get(&format!("/api/2/speakers/{id}/"), Some(&token)).await;
    assert_eq!(again.ok(), &sp);

    // WKT and GeoJSON-in-a-string are accepted too
    let mut body = speaker_body();
    body["shape"] = json!("MULTIPOLYGON(((0 0, 0.01 0, 0.01 0.01, 0 0.01, 0 0)))");
    let wkt = s.post("/api/2/speakers/", Some(&staff), body).await;
    assert_eq!(
        wkt.ok()["shape"]["coordinates"][0][0][2],
        json!([0.01, 0.01])
    );
    let mut body = speaker_body();
    body["shape"] = json!(square(1.0, 1.0, 0.01).to_string());
    let text = s.post("/api/2/speakers/", Some(&staff), body).await;
    assert_eq!(text.ok()["shape"]["type"], "MultiPolygon");
}

#[tokio::test]
async fn changing_the_shape_or_the_distance_derives_the_borders_again() {
    let (s, _, staff) = setup().await;
    let sp = s
        .post("/api/2/speakers/", Some(&staff), speaker_body())
        .await
        .ok()
        .clone();
    let path = format!("/api/2/speakers/{}/", sp["id"]);
    let d = 0.002;

    let r = s
        .patch(&path, Some(&staff), json!({"attenuation_distance": 10}))
        .await;
    let near = r.ok().clone();
    for (lon, lat) in coords(&near["attenuation_border"]["coordinates"]) {
        let m = metres_to_edge(lon, lat, 10.0, 20.0, d);
        assert!((m - 10.0).abs() < 3.0, "border point {m} m from the edge");
    }
    assert_eq!(near["boundary"], sp["boundary"]);

    let r = s
        .patch(&path, Some(&staff), json!({"code": "renamed"}))
        .await;
    assert_eq!(r.ok()["attenuation_border"], near["attenuation_border"]);

    let r = s
        .patch(
            &path,
            Some(&staff),
            json!({"shape": "POLYGON((30 40, 30.004 40, 30.004 40.004, 30 40.004, 30 40))"}),
        )
        .await;
    let moved = r.ok().clone();
    assert_eq!(
        coords(&moved["boundary"]["coordinates"][0])[0],
        (30.0, 40.0)
    );
    for (lon, lat) in coords(&moved["attenuation_border"]["coordinates"]) {
        let m = metres_to_edge(lon, lat, 30.002, 40.002, 0.002);
        assert!((m - 10.0).abs() < 3.0, "border point {m} m from the edge");
    }
}

/// Sends a multipart body with text fields and, optionally, a `file` part.
async fn multipart_with_file(
    s: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
    file: bool,
) -> Reply {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if file {
        let part = reqwest::multipart::Part::bytes(b"ID3fake".to_vec())
            .file_name("bed.mp3")
            .mime_str("audio/mpeg")
            .unwrap();
        form = form.part("file", part);
    }
    let resp = s
        .client
        .request(method, s.url(path))
        .header("Authorization", format!("token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

#[tokio::test]
async fn a_speaker_needs_exactly_one_of_uri_and_file_and_a_valid_uri() {
    let (s, _, staff) = setup().await;
    let before = snapshot(&s, "speakers").await;
    let mut no_uri = speaker_body();
    no_uri.as_object_mut().unwrap().remove("uri");
    let r = s.post("/api/2/speakers/", Some(&staff), no_uri).await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["detail"],
        "Request must include either 'file' or 'uri', but not both."
    );

    let shape = square(10.0, 20.0, 0.002).to_string();
    let base = [
        ("project_id", "1"),
        ("maxvolume", "1"),
        ("minvolume", "0"),
        ("attenuation_distance", "20"),
        ("shape", shape.as_str()),
    ];
    let mut with_uri = base.to_vec();
    with_uri.push(("uri", "http://example.invalid/a.mp3"));
    let r = multipart_with_file(
        &s,
        Method::POST,
        "/api/2/speakers/",
        &staff,
        &with_uri,
        true,
    )
    .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["detail"],
        "Request must include either 'file' or 'uri', but not both."
    );
    let r = multipart_with_file(&s, Method::POST, "/api/2/speakers/", &staff, &base, true).await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    // The fake file part is refused by content (the real upload is tested in uploads.rs).
    assert!(
        r.body["detail"].as_str().unwrap().contains("not audio"),
        "{}",
        r.body
    );
    let r = multipart_with_file(
        &s,
        Method::PATCH,
        "/api/2/speakers/1/",
        &staff,
        &[("uri", "http://x.invalid/b.mp3")],
        true,
    )
    .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["detail"],
        "Request cannot include both 'file' and 'uri'."
    );

    for (uri, key) in [
        ("ftp://example.invalid/a.mp3", "uri"),
        ("bed.mp3", "uri"),
        ("/etc/passwd", "uri"),
        ("http://exa mple.invalid/a.mp3", "uri"),
        ("", "uri"),
    ] {
        let mut b = speaker_body();
        b["uri"] = json!(uri);
        let r = s.post("/api/2/speakers/", Some(&staff), b).await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(r.body.get(key).is_some(), "{uri}: {}", r.body);
    }
    let mut b = speaker_body();
    b["backupuri"] = json!("not a url");
    let r = s.post("/api/2/speakers/", Some(&staff), b).await;
    assert!(r.body.get("backupuri").is_some(), "{}", r.body);
    assert_eq!(snapshot(&s, "speakers").await, before);

    // a form with a uri (multipart without a file) works, as does a /rwmedia/ path
    let mut form = base.to_vec();
    form.push(("uri", "/rwmedia/speaker-project1-bed.mp3"));
    form.push(("backupuri", "https://example.invalid/backup.mp3"));
    let r = multipart_with_file(&s, Method::POST, "/api/2/speakers/", &staff, &form, false).await;
    let sp = r.ok();
    // stored as a path on this box, answered as an absolute URL (iOS and browsers need one)
    assert_eq!(
        sp["uri"],
        format!("{}/rwmedia/speaker-project1-bed.mp3", s.base)
    );
    assert_eq!(sp["backupuri"], "https://example.invalid/backup.mp3");
    assert_eq!(sp["attenuation_distance"], 20);
    assert_eq!(sp["activeyn"], false);
}

#[tokio::test]
async fn bad_speakers_are_refused_naming_the_field_and_nothing_is_written() {
    let (s, _, staff) = setup().await;
    let before = snapshot(&s, "speakers").await;
    let with = |key: &str, v: Value| {
        let mut b = speaker_body();
        b[key] = v;
        b
    };
    let without = |key: &str| {
        let mut b = speaker_body();
        b.as_object_mut().unwrap().remove(key);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("shape"), "shape"),
        (without("maxvolume"), "maxvolume"),
        (without("attenuation_distance"), "attenuation_distance"),
        (without("project_id"), "project_id"),
        (
            with("shape", json!({"type": "Point", "coordinates": [1, 2]})),
            "shape",
        ),
        (with("shape", json!("a square, roughly")), "shape"),
        (with("shape", json!("POLYGON((0 0, 1 0")), "shape"),
        (
            with(
                "shape",
                json!({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [0, 1]]]}),
            ),
            "shape",
        ),
        (
            with(
                "shape",
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}),
            ),
            "shape",
        ),
        (with("shape", json!(null)), "shape"),
        (with("shape", json!(7)), "shape"),
        (with("minvolume", json!(0.9)), "minvolume"),
        (with("maxvolume", json!(-1)), "maxvolume"),
        (
            with("attenuation_distance", json!("far")),
            "attenuation_distance",
        ),
        (
            with("attenuation_distance", json!(-10)),
            "attenuation_distance",
        ),
        (with("project_id", json!(999)), "project_id"),
        (with("activeyn", json!("sometimes")), "activeyn"),
        (with("code", json!("much too long a code")), "code"),
        (with("code", json!({"a": 1})), "code"),
        (with("uri", json!(null)), "uri"),
    ];
    for (body, key) in cases {
        let r = s.post("/api/2/speakers/", Some(&staff), body.clone()).await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(
            r.body.get(key).is_some(),
            "{key} not named for {body}: {}",
            r.body
        );
    }
    for (body, key) in [
        (json!({"shape": null}), "shape"),
        (json!({"shape": ""}), "shape"),
        (json!({"minvolume": 2}), "minvolume"),
        (json!({"attenuation_distance": 1.5}), "attenuation_distance"),
        (json!({"uri": ""}), "uri"),
        (json!({"project_id": 42}), "project_id"),
    ] {
        let r = s
            .patch("/api/2/speakers/1/", Some(&staff), body.clone())
            .await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(
            r.body.get(key).is_some(),
            "{key} not named for {body}: {}",
            r.body
        );
    }
    assert_eq!(snapshot(&s, "speakers").await, before);
}

#[tokio::test]
async fn speaker_strings_keep_quotes_and_emoji_and_filters_select_rows() {
    let (s, token, staff) = setup().await;
    s.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date)
           VALUES (2, 'Dos', 20, 10, '2020-01-01T00:00:00.000000')",
    )
    .await;
    let mut b = speaker_body();
    b["code"] = json!("it's \"😀\"");
    b["uri"] = json!("http://example.invalid/it's%20a%20😀.mp3?x=1;DROP");
    b["activeyn"] = json!(false);
    b["project_id"] = json!(2);
    let sp = s
        .post("/api/2/speakers/", Some(&staff), b)
        .await
        .ok()
        .clone();
    assert_eq!(sp["code"], "it's \"😀\"");
    assert_eq!(
        sp["uri"],
        "http://example.invalid/it's%20a%20😀.mp3?x=1;DROP"
    );
    let id = sp["id"].as_i64().unwrap();

    let q = |query: &'static str| ids_at(&s, "speakers", query, &token);
    assert_eq!(q("").await, vec![1, id]);
    assert_eq!(q("activeyn=false").await, vec![id]);
    assert_eq!(q("activeyn=1&project_id=1").await, vec![1]);
    assert_eq!(q("project_id=2").await, vec![id]);
    assert_eq!(q("project_id=3").await, Vec::<i64>::new());
    let r = s
        .get("/api/2/speakers/?activeyn=sometimes", Some(&token))
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert!(r.body.get("activeyn").is_some());
    let r = s
        .get("/api/2/speakers/?project_id=2%20OR%201=1", Some(&token))
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert!(r.body.get("project_id").is_some());

    let r = s
        .patch(
            &format!("/api/2/speakers/{id}/"),
            Some(&staff),
            json!({"backupuri": null, "activeyn": "True"}),
        )
        .await;
    assert_eq!(r.ok()["backupuri"], "");
    assert_eq!(r.ok()["activeyn"], true);
}

#[tokio::test]
async fn speakers_are_read_with_a_token_written_by_staff_and_deleted_with_204() {
    let (s, token, staff) = setup().await;
    assert_status(
        &s.get("/api/2/speakers/", None).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_status(
        &s.get("/api/2/speakers/1/", None).await,
        StatusCode::UNAUTHORIZED,
    );
    let before = snapshot(&s, "speakers").await;
    for (who, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(token.as_str()), StatusCode::FORBIDDEN),
    ] {
        assert_status(
            &s.post("/api/2/speakers/", who, speaker_body()).await,
            status,
        );
        assert_status(
            &s.patch("/api/2/speakers/1/", who, json!({"activeyn": false}))
                .await,
            status,
        );
        assert_status(&s.delete("/api/2/speakers/1/", who).await, status);
    }
    assert_eq!(snapshot(&s, "speakers").await, before);
    assert_status(
        &s.get("/api/2/speakers/77/", Some(&token)).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &s.get("/api/2/speakers/abc/", Some(&token)).await,
        StatusCode::NOT_FOUND,
    );

    let r = s
        .delete("/api/2/speakers/1/?delete_binary=maybe", Some(&staff))
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert!(r.body.get("delete_binary").is_some());
    let r = s
        .delete("/api/2/speakers/1/?delete_binary=true", Some(&staff))
        .await;
    assert_status(&r, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    assert_eq!(s.scalar("SELECT count(*) FROM speakers").await, 0);
    assert_status(
        &s.delete("/api/2/speakers/1", Some(&staff)).await,
        StatusCode::NOT_FOUND,
    );
}

// ----------------------------------------------------------------------------------------
// timedassets/

#[tokio::test]
async fn timed_assets_are_created_listed_patched_and_deleted() {
    let (s, token, staff) = setup().await;
    let r = s
        .post(
            "/api/2/timedassets/",
            Some(&staff),
            json!({"start": 50, "end": 100, "asset_id": 2, "project_id": 1}),
        )
        .await;
    let t = r.ok().clone();
    assert_eq!(
        t,
        json!({"id": t["id"], "start": 50.0, "end": 100.0, "asset_id": 2, "project_id": 1})
    );
    let id = t["id"].as_i64().unwrap();
    s.post(
        "/api/2/timedassets/",
        Some(&staff),
        json!({"start": "5.5", "end": "20", "asset": 1, "project": 1}),
    )
    .await
    .ok();

    // the iOS call: [{id, asset_id, start, end}] all present
    let list = s
        .get("/api/2/timedassets/?project_id=1&", Some(&token))
        .await;
    let list = list.ok().as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    for item in &list {
        assert!(item["id"].is_i64() && item["asset_id"].is_i64());
        assert!(item["start"].is_number() && item["end"].is_number());
    }
    assert_eq!(
        s.get(&format!("/api/2/timedassets/{id}"), Some(&token))
            .await
            .ok(),
        &t
    );

    let before = snapshot(&s, "timed_assets").await;
    // only one of start/end: checked against the stored other one, not a 500
    let r = s
        .patch(
            &format!("/api/2/timedassets/{id}/"),
            Some(&staff),
            json!({"end": 40}),
        )
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["End time must be greater than start time."]})
    );
    let r = s
        .patch(
            &format!("/api/2/timedassets/{id}/"),
            Some(&staff),
            json!({"start": 101}),
        )
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert_eq!(snapshot(&s, "timed_assets").await, before);
    let r = s
        .patch(
            &format!("/api/2/timedassets/{id}/"),
            Some(&staff),
            json!({"start": 60}),
        )
        .await;
    assert_eq!(r.ok()["start"].as_f64(), Some(60.0));
    assert_eq!(r.ok()["end"].as_f64(), Some(100.0));
    let r = s
        .patch(
            &format!("/api/2/timedassets/{id}/"),
            Some(&staff),
            json!({"end": 60, "asset_id": 1}),
        )
        .await;
    assert_eq!(r.ok()["end"].as_f64(), Some(60.0));
    assert_eq!(r.ok()["asset_id"], 1);

    let r = s
        .delete(&format!("/api/2/timedassets/{id}/"), Some(&staff))
        .await;
    assert_status(&r, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    assert_status(
        &s.get(&format!("/api/2/timedassets/{id}/"), Some(&token))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &s.patch("/api/2/timedassets/999/", Some(&staff), json!({"start": 1}))
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn timed_asset_filters_select_by_project_asset_and_time() {
    let (s, token, staff) = setup().await;
    for (start, end, asset) in [(0, 10, 1), (10, 30, 2), (25, 60, 1)] {
        s.post(
            "/api/2/timedassets/",
            Some(&staff),
            json!({"start": start, "end": end, "asset_id": asset, "project_id": 1}),
        )
        .await
        .ok();
    }
    let q = |query: &'static str| starts_at(&s, query, &token);
    assert_eq!(q("asset_id=1").await, vec![0.0, 25.0]);
    assert_eq!(q("start__gte=10").await, vec![10.0, 25.0]);
    assert_eq!(q("start__lte=10").await, vec![0.0, 10.0]);
    assert_eq!(q("end__gte=30&end__lte=59").await, vec![10.0]);
    assert_eq!(q("end__lte=60&project_id=1").await, vec![0.0, 10.0, 25.0]);
    assert_eq!(q("start=25").await, vec![25.0]);
    assert_eq!(q("end=10").await, vec![0.0]);
    assert_eq!(q("project_id=2").await, Vec::<f64>::new());
    for key in ["start__gte", "end", "asset_id", "project_id"] {
        let r = s
            .get(&format!("/api/2/timedassets/?{key}=later"), Some(&token))
            .await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(r.body.get(key).is_some(), "{key}: {}", r.body);
    }
}

#[tokio::test]
async fn bad_timed_assets_are_refused_and_access_is_enforced() {
    let (s, token, staff) = setup().await;
    let body = json!({"start": 50, "end": 100, "asset_id": 2, "project_id": 1});
    let with = |key: &str, v: Value| {
        let mut b = body.clone();
        b[key] = v;
        b
    };
    let without = |key: &str| {
        let mut b = body.clone();
        b.as_object_mut().unwrap().remove(key);
        b
    };
    for (b, key) in [
        (with("end", json!(10)), "non_field_errors"),
        (with("asset_id", json!(999)), "asset_id"),
        (with("project_id", json!(999)), "project_id"),
        (without("start"), "start"),
        (without("asset_id"), "asset_id"),
        (with("start", json!("soon")), "start"),
        (with("start", json!(-1)), "start"),
        (with("end", json!(null)), "end"),
        (
            with("asset_id", json!("2'; DROP TABLE timed_assets; --")),
            "asset_id",
        ),
        (with("project_id", json!("😀")), "project_id"),
    ] {
        let r = s.post("/api/2/timedassets/", Some(&staff), b.clone()).await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(
            r.body.get(key).is_some(),
            "{key} not named for {b}: {}",
            r.body
        );
    }
    assert_eq!(s.scalar("SELECT count(*) FROM timed_assets").await, 0);

    assert_status(
        &s.get("/api/2/timedassets/", None).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_status(
        &s.post("/api/2/timedassets/", None, body.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_status(
        &s.post("/api/2/timedassets/", Some(&token), body.clone())
            .await,
        StatusCode::FORBIDDEN,
    );
    let id = s.post("/api/2/timedassets/", Some(&staff), body).await.ok()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/2/timedassets/{id}/");
    assert_status(&s.get(&path, None).await, StatusCode::UNAUTHORIZED);
    assert_status(
        &s.patch(&path, Some(&token), json!({"start": 1})).await,
        StatusCode::FORBIDDEN,
    );
    assert_status(&s.delete(&path, Some(&token)).await, StatusCode::FORBIDDEN);
    assert_status(&s.delete(&path, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(s.scalar("SELECT count(*) FROM timed_assets").await, 1);
}

// ----------------------------------------------------------------------------------------
// projectgroups/

/// Projects for the chooser, beside fixture project 1 (geo, speaker square 0.099..0.101):
/// 2 geo with an active speaker around lon 10 / lat 20 (so swapped coordinates miss it),
/// 3 not geo, 4 geo whose only speaker there is inactive, 5 outside the group.
const CHOOSER_FIXTURE: &str = r#"
INSERT INTO projects (id, name, owner, latitude, longitude, pub_date, geo_listen_enabled) VALUES
    (2, 'Dos', 'ann', 20.001, 10.001, '2020-01-01T00:00:00.000000', 1),
    (3, 'Tres', 'bob', 0, 0, '2020-01-01T00:00:00.000000', 0),
    (4, 'Cuatro', '', 20.001, 10.001, '2020-01-01T00:00:00.000000', 1),
    (5, 'Cinco', '', 0, 0, '2020-01-01T00:00:00.000000', 0);
INSERT INTO speakers (project_id, activeyn, code, maxvolume, minvolume, uri, shape, attenuation_distance) VALUES
    (2, 1, 'dos', 1, 0, 'http://example.invalid/2.mp3',
     '{"type":"MultiPolygon","coordinates":[[[[10.0,20.0],[10.002,20.0],[10.002,20.002],[10.0,20.002],[10.0,20.0]]]]}', 10),
    (4, 0, 'cuatro', 1, 0, 'http://example.invalid/4.mp3',
     '{"type":"MultiPolygon","coordinates":[[[[10.0,20.0],[10.002,20.0],[10.002,20.002],[10.0,20.002],[10.0,20.0]]]]}', 10);
INSERT INTO localized_strings (id, localized_string, language_id) VALUES
    (10, 'Two', 1), (11, 'Dos', 2), (12, 'Solo español', 2);
INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES
    ('project', 2, 'description', 0, 10), ('project', 2, 'description', 1, 11),
    ('project', 3, 'description', 0, 12);
"#;

async fn chooser_setup() -> (TestServer, String, String, i64) {
    let (s, token, staff) = setup().await;
    s.sql(CHOOSER_FIXTURE).await;
    let r = s
        .post(
            "/api/2/projectgroups/",
            Some(&staff),
            json!({"name": "Walk", "project_ids": [1, 2, 3, 4]}),
        )
        .await;
    let id = r.ok()["id"].as_i64().unwrap();
    (s, token, staff, id)
}

/// `GET projectgroups/<g>/projects/?<query>`.
async fn chooser(s: &TestServer, g: i64, query: String, token: &str) -> Reply {
    s.get(
        &format!("/api/2/projectgroups/{g}/projects/?{query}"),
        Some(token),
    )
    .await
}

fn project_ids(r: &Reply) -> Vec<i64> {
    r.ok()
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.body))
        .iter()
        .map(|p| p["project_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_chooser_matches_latitude_and_longitude_in_the_right_order() {
    let (s, token, _, g) = chooser_setup().await;
    let at = |lat: &'static str, lon: &'static str| {
        chooser(&s, g, format!("latitude={lat}&longitude={lon}"), &token)
    };
    // inside project 2's speaker (lat 20.001, lon 10.001): project 2 and the non-geo project 3
    assert_eq!(project_ids(&at("20.001", "10.001").await), vec![2, 3]);
    // the same numbers swapped lie nowhere: only the non-geo project
    assert_eq!(project_ids(&at("10.001", "20.001").await), vec![3]);
    // inside the fixture speaker of project 1
    assert_eq!(project_ids(&at("0.1", "0.1").await), vec![1, 3]);
    // far from every speaker
    assert_eq!(project_ids(&at("-45", "170").await), vec![3]);
}

#[tokio::test]
async fn chooser_items_carry_localized_descriptions_and_absolute_thumbnails() {
    let (s, token, _, g) = chooser_setup().await;
    let get = |extra: &'static str| {
        chooser(
            &s,
            g,
            format!("latitude=20.001&longitude=10.001{extra}"),
            &token,
        )
    };
    let r = get("").await;
    let items = r.ok().as_array().unwrap().clone();
    assert_eq!(
        items[0],
        json!({"project_id": 2, "name": "Dos", "owner": "ann", "description_loc": "Two",
               "thumbnail_url": format!("{}/rwmedia/project2-thumb.png", s.base)})
    );
    // project 3 has only a Spanish description: English falls back to it
    assert_eq!(items[1]["description_loc"], "Solo español");
    let es = get("&language_code=es").await;
    assert_eq!(es.ok()[0]["description_loc"], "Dos");
    let es_mx = get("&language_code=es-MX").await;
    assert_eq!(es_mx.ok()[0]["description_loc"], "Dos");
    let unknown = get("&language_code=xx").await;
    assert_eq!(unknown.ok()[0]["description_loc"], "Two");
    // a project without description strings gets ""
    let r = s
        .get(
            &format!("/api/2/projectgroups/{g}/projects/?latitude=0.1&longitude=0.1"),
            Some(&token),
        )
        .await;
    assert_eq!(r.ok()[0]["project_id"], 1);
    assert_eq!(r.ok()[0]["description_loc"], "");
}

#[tokio::test]
async fn the_chooser_answers_inactive_groups_missing_points_and_unknown_groups_clearly() {
    let (s, token, staff, g) = chooser_setup().await;
    let base = format!("/api/2/projectgroups/{g}/projects/");
    for query in [
        "",
        "?latitude=20",
        "?longitude=10",
        "?latitude=&longitude=10",
    ] {
        let r = s.get(&format!("{base}{query}"), Some(&token)).await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert_eq!(
            r.body,
            json!({"detail": "Both latitude and longitude parameters are required."}),
            "{query}"
        );
    }
    for (query, key) in [
        ("?latitude=north&longitude=10", "latitude"),
        ("?latitude=20&longitude=10;DROP", "longitude"),
        ("?latitude=91&longitude=10", "latitude"),
        ("?latitude=20&longitude=-181", "longitude"),
    ] {
        let r = s.get(&format!("{base}{query}"), Some(&token)).await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(r.body.get(key).is_some(), "{query}: {}", r.body);
    }
    assert_status(
        &s.get(&format!("{base}?latitude=1&longitude=1"), None).await,
        StatusCode::UNAUTHORIZED,
    );

    // groups 1 and 2 exist; group 12 does not (the reference matched it to both)
    let other = s
        .post(
            "/api/2/projectgroups/",
            Some(&staff),
            json!({"name": "Other", "project_ids": [5]}),
        )
        .await;
    assert_eq!(other.ok()["id"], g + 1);
    let r = s
        .get(
            &format!(
                "/api/2/projectgroups/{g}{}/projects/?latitude=1&longitude=1",
                g + 1
            ),
            Some(&token),
        )
        .await;
    assert_status(&r, StatusCode::NOT_FOUND);
    let r = s
        .get(
            &format!(
                "/api/2/projectgroups/{}/projects/?latitude=1&longitude=1",
                g + 1
            ),
            Some(&token),
        )
        .await;
    assert_eq!(project_ids(&r), vec![5]);

    // inactive: the reference's 200 with detail, even without a point
    s.patch(
        &format!("/api/2/projectgroups/{g}/"),
        Some(&staff),
        json!({"active": false}),
    )
    .await
    .ok();
    for query in ["", "?latitude=20.001&longitude=10.001"] {
        let r = s.get(&format!("{base}{query}"), Some(&token)).await;
        assert_eq!(
            r.ok(),
            &json!({"detail": "Project Group inactive; please try another one."})
        );
    }
    // and the behaviour is stated in the OpenAPI document
    let doc = s.get("/api/2/openapi.json", None).await.ok().clone();
    let summary = doc["paths"]["/api/2/projectgroups/{id}/projects/"]["get"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.contains("inactive") && summary.contains("200"),
        "{summary}"
    );
}

#[tokio::test]
async fn project_groups_are_created_filtered_patched_and_deleted() {
    let (s, token, staff, g) = chooser_setup().await;
    let name = "Group \"A\"; it's 😀";
    let r = s
        .post(
            "/api/2/projectgroups/",
            Some(&staff),
            json!({"name": name, "description": "Robert'); DROP TABLE projects;--", "projects": "3,1,"}),
        )
        .await;
    let created = r.ok().clone();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created,
        json!({"id": id, "name": name, "active": true,
               "description": "Robert'); DROP TABLE projects;--", "project_ids": [1, 3]})
    );
    assert_eq!(
        s.get(&format!("/api/2/projectgroups/{id}"), Some(&token))
            .await
            .ok(),
        &created
    );

    let names = |r: Reply| -> Vec<String> {
        r.ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(s.get("/api/2/projectgroups/", Some(&token)).await),
        vec!["Walk", name]
    );
    assert_eq!(
        names(
            s.get("/api/2/projectgroups/?name=group%20%22a", Some(&token))
                .await
        ),
        vec![name]
    );
    assert_eq!(
        names(s.get("/api/2/projectgroups/?name=WAL", Some(&token)).await),
        vec!["Walk"]
    );
    assert_eq!(
        names(s.get("/api/2/projectgroups/?name=%25", Some(&token)).await),
        Vec::<String>::new()
    );

    let r = s
        .patch(
            &format!("/api/2/projectgroups/{id}/"),
            Some(&staff),
            json!({"active": "false", "project_ids": [2]}),
        )
        .await;
    assert_eq!(r.ok()["active"], false);
    assert_eq!(r.ok()["project_ids"], json!([2]));
    assert_eq!(r.ok()["name"], name);
    assert_eq!(
        names(
            s.get("/api/2/projectgroups/?active=false", Some(&token))
                .await
        ),
        vec![name]
    );
    assert_eq!(
        names(
            s.get("/api/2/projectgroups/?active=true", Some(&token))
                .await
        ),
        vec!["Walk"]
    );
    let r = s
        .get("/api/2/projectgroups/?active=perhaps", Some(&token))
        .await;
    assert_status(&r, StatusCode::BAD_REQUEST);
    assert!(r.body.get("active").is_some());

    let r = s
        .delete(&format!("/api/2/projectgroups/{id}/"), Some(&staff))
        .await;
    assert_status(&r, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    assert_eq!(s.scalar("SELECT count(*) FROM projects").await, 5);
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) FROM project_group_projects WHERE group_id = {id}"
        ))
        .await,
        0
    );
    assert_status(
        &s.get(&format!("/api/2/projectgroups/{id}/"), Some(&token))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &s.delete(&format!("/api/2/projectgroups/{id}/"), Some(&staff))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(
        s.get(&format!("/api/2/projectgroups/{g}/"), Some(&token))
            .await
            .ok()["project_ids"],
        json!([1, 2, 3, 4])
    );
}

#[tokio::test]
async fn bad_project_groups_are_refused_and_access_is_enforced() {
    let (s, token, staff, g) = chooser_setup().await;
    let groups = snapshot(&s, "project_groups").await;
    let links = snapshot(&s, "project_group_projects").await;
    for (body, key) in [
        (json!({"name": "X", "project_ids": [1, 999]}), "project_ids"),
        (json!({"name": "X", "project_ids": "1,two"}), "project_ids"),
        (json!({"project_ids": [1]}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": "x".repeat(51)}), "name"),
        (json!({"name": "X", "active": "maybe"}), "active"),
        (
            json!({"name": "X", "description": {"text": "a"}}),
            "description",
        ),
    ] {
        let r = s
            .post("/api/2/projectgroups/", Some(&staff), body.clone())
            .await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(
            r.body.get(key).is_some(),
            "{key} not named for {body}: {}",
            r.body
        );
    }
    let path = format!("/api/2/projectgroups/{g}/");
    for (body, key) in [
        (json!({"project_ids": [4, 998]}), "project_ids"),
        (json!({"name": ""}), "name"),
        (json!({"active": null}), "active"),
    ] {
        let r = s.patch(&path, Some(&staff), body.clone()).await;
        assert_status(&r, StatusCode::BAD_REQUEST);
        assert!(
            r.body.get(key).is_some(),
            "{key} not named for {body}: {}",
            r.body
        );
    }
    assert_status(
        &s.patch(
            "/api/2/projectgroups/999/",
            Some(&staff),
            json!({"name": "Y"}),
        )
        .await,
        StatusCode::NOT_FOUND,
    );

    for (who, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(token.as_str()), StatusCode::FORBIDDEN),
    ] {
        assert_status(
            &s.post("/api/2/projectgroups/", who, json!({"name": "Z"}))
                .await,
            status,
        );
        assert_status(&s.patch(&path, who, json!({"name": "Z"})).await, status);
        assert_status(&s.delete(&path, who).await, status);
    }
    assert_status(
        &s.get("/api/2/projectgroups/", None).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_status(&s.get(&path, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(snapshot(&s, "project_groups").await, groups);
    assert_eq!(snapshot(&s, "project_group_projects").await, links);
}
