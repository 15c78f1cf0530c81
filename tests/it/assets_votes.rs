//! assets/ (list, filters, pagination, ordering, get, PATCH, DELETE, votes, random, blocked,
//! count), projects/:id/assets/, votes/, envelopes/, events/ and listenevents/, through real
//! HTTP against the reference fixture plus the extra rows below.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{FIXTURE_DEVICE, TestServer};

/// Assets 3 and 4 beside the fixture's 1 and 2, a named user who uploaded asset 3, a third
/// envelope, and more tag links:
///
/// | asset | tags | envelopes | session | lang | media | submitted | length | weight | volume |
/// |---|---|---|---|---|---|---|---|---|---|
/// | 1 | 1 | 1 | 1 | en | audio | yes | 5 s | 50 | 0.9 |
/// | 2 | 1,2 | 2 | 1 | en | audio | yes | 10 s | 50 | 1.0 |
/// | 3 | 1,2 | 1,3 | 2 | es | photo | no | 20 s | 10 | 0.5 |
/// | 4 | – | – | – | – | text | yes | – | 99 | – |
const EXTRA: &str = r#"
INSERT INTO users (id, username, first_name, last_name, email, date_joined, device_id, client_type)
    VALUES (50, 'alice', 'Alice', 'O''Hara', 'alice@example.org', '2020-01-01T00:00:00.000000', 'dev-alice', 'web');
INSERT INTO assets (id, session_id, user_id, latitude, longitude, filename, file, volume, submitted, project_id,
    created, updated, audiolength, language_id, mediatype, description, weight) VALUES
    (3, 2, 50, 42.37, -71.05, 'three.mp3', 'three photo.jpg', 0.5, 0, 1, '2021-06-01T12:00:00.000000',
     '2021-06-02T12:00:00.000000', 20000000000, 2, 'photo', 'A "quoted" caption''; DROP TABLE assets; -- 🎧', 10),
    (4, NULL, NULL, NULL, NULL, NULL, '', NULL, 1, NULL, '2022-01-01T00:00:00.000000',
     '2022-01-01T00:00:00.000000', 0, NULL, 'text', '100% pure_text', 99);
INSERT INTO asset_tags VALUES (2, 2), (3, 1), (3, 2);
INSERT INTO envelopes (id, session_id, created) VALUES (3, 2, '2021-06-01T12:00:00.000000');
INSERT INTO envelope_assets VALUES (1, 3), (3, 3);
"#;

async fn server() -> (TestServer, String) {
    let s = TestServer::with_reference_fixture().await;
    s.sql(EXTRA).await;
    let (_, token) = s.device_token(FIXTURE_DEVICE).await;
    (s, token)
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

/// The ids a GET answers, asserting 200.
async fn list_ids(s: &TestServer, path: &str, token: &str) -> Vec<i64> {
    let r = s.get(path, Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    ids(&r.body)
}

/// Asserts a 400 whose body names `param` (as a field key or inside `detail`).
async fn assert_400_naming(s: &TestServer, path: &str, token: &str, param: &str) {
    let r = s.get(path, Some(token)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
    assert!(
        r.body.get(param).is_some() || r.body.to_string().contains(param),
        "{path}: 400 does not name {param}: {}",
        r.body
    );
}

// ---------------------------------------------------------------------------------------
// Reference checks (§8.2, 6–10)

#[tokio::test]
async fn reference_checks_six_to_nine_pass() {
    let s = TestServer::with_reference_fixture().await;
    let user = s
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": "12891038109281", "client_type": "phone", "client_system": "iOS"}),
        )
        .await;
    let user_id = user.ok()["id"].as_i64().unwrap();
    let token = user.body["token"].as_str().unwrap().to_string();
    let session = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            json!({"timezone": "-0500", "project_id": 1, "client_system": "iOS"}),
        )
        .await;
    let sid = session.ok()["id"].as_i64().unwrap();

    // 6
    let r = s.get("/api/2/projects/1/assets/", Some(&token)).await;
    assert_eq!(r.ok().as_array().unwrap().len(), 2);
    assert_eq!(r.body[0]["project_id"], 1);

    // 7
    let r = s
        .post(
            "/api/2/assets/1/votes/",
            Some(&token),
            json!({"device_id": "12891038109281", "session_id": sid, "vote_type": "rate", "value": 2}),
        )
        .await;
    let v = r.ok();
    assert_eq!(v["voter_id"], user_id);
    assert_eq!(v["session_id"], sid);
    assert_eq!(v["type"], "rate");
    assert_eq!(v["value"], 2);
    assert!(v["id"].is_i64());

    // 8
    let r = s.get("/api/2/assets/1/votes/", Some(&token)).await;
    assert_eq!(r.ok()[0]["type"], "rate");
    assert_eq!(r.body[0]["avg"].as_f64(), Some(2.0));

    // 9
    let r = s
        .get(
            "/api/2/assets/random/?mediatype=audio&project_id=1&audiolength__lte=8&limit=2",
            Some(&token),
        )
        .await;
    assert_eq!(r.ok().as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["id"], 1);
    let r = s
        .get(
            "/api/2/assets/random/?mediatype=audio&project_id=1&audiolength__lte=12&limit=2",
            Some(&token),
        )
        .await;
    assert_eq!(r.ok().as_array().unwrap().len(), 2);

    // 10 (the asset steps): without credentials nothing answers 200.
    assert_eq!(
        s.get("/api/2/projects/1/assets/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = s
        .post(
            "/api/2/assets/1/votes/",
            None,
            json!({"session_id": sid, "vote_type": "rate", "value": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_asset_route_needs_a_token() {
    let s = TestServer::with_reference_fixture().await;
    for path in [
        "/api/2/assets/",
        "/api/2/assets/1/",
        "/api/2/assets/1/votes/",
        "/api/2/assets/random/",
        "/api/2/assets/blocked/?session_id=1",
        "/api/2/assets/count/",
        "/api/2/votes/",
        "/api/2/votes/summary/",
        "/api/2/events/",
        "/api/2/listenevents/",
        "/api/2/listenevents/count/",
    ] {
        let r = s.get(path, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    for (method, path) in [
        (Method::PATCH, "/api/2/assets/1/"),
        (Method::DELETE, "/api/2/assets/1/"),
        (Method::POST, "/api/2/votes/"),
        (Method::POST, "/api/2/events/"),
        (Method::POST, "/api/2/listenevents/"),
    ] {
        let r = s.send(method.clone(), path, None, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
}

// ---------------------------------------------------------------------------------------
// The asset object

#[tokio::test]
async fn the_asset_object_has_every_field_with_an_absolute_file_url() {
    let (s, token) = server().await;
    let a = s.get("/api/2/assets/1/", Some(&token)).await.ok().clone();
    for key in [
        "id",
        "description",
        "latitude",
        "longitude",
        "shape",
        "filename",
        "file",
        "volume",
        "submitted",
        "created",
        "updated",
        "weight",
        "language_id",
        "description_loc_ids",
        "alt_text_loc_ids",
        "media_type",
        "audio_length_in_seconds",
        "start_time",
        "end_time",
        "tag_ids",
        "session_id",
        "project_id",
        "envelope_ids",
        "user",
    ] {
        assert!(a.get(key).is_some(), "missing {key} in {a}");
    }
    for absent in [
        "mediatype",
        "loc_caption",
        "detail",
        "loc_description_admin",
    ] {
        assert!(a.get(absent).is_none(), "unexpected {absent} in {a}");
    }
    assert_eq!(a["description"], "");
    assert_eq!(a["file"], format!("{}/rwmedia/one.wav", s.base));
    assert_eq!(a["filename"], "one.mp3");
    assert_eq!(a["audio_length_in_seconds"].as_f64(), Some(5.0));
    assert_eq!(a["media_type"], "audio");
    assert_eq!(a["tag_ids"], json!([1]));
    assert_eq!(a["envelope_ids"], json!([1]));
    assert_eq!(a["description_loc_ids"], json!([]));
    assert_eq!(a["user"], Value::Null);
    assert_eq!(a["shape"], Value::Null);
    assert_eq!(a["created"], "2020-01-01T00:00:00.000000");
    assert_eq!(a["weight"], 50);
    assert_eq!(a["submitted"], true);

    let three = s.get("/api/2/assets/3/", Some(&token)).await.ok().clone();
    assert_eq!(
        three["file"],
        format!("{}/rwmedia/three%20photo.jpg", s.base)
    );
    assert_eq!(
        three["description"],
        "A \"quoted\" caption'; DROP TABLE assets; -- 🎧"
    );
    assert_eq!(three["envelope_ids"], json!([1, 3]));
    assert_eq!(three["tag_ids"], json!([1, 2]));
    // Contributors are shown without their username to anyone but staff.
    assert_eq!(
        three["user"],
        json!({"id": 50, "username": "", "first_name": "Alice", "last_name": "O'Hara",
               "email": "", "device_id": null, "client_type": "web"})
    );
    let staff = s.staff_token().await;
    let seen_by_staff = s.get("/api/2/assets/3/", Some(&staff)).await.ok().clone();
    assert_eq!(seen_by_staff["user"]["username"], "alice");
    let listed = s.get("/api/2/assets/?media_type=photo", Some(&token)).await;
    assert_eq!(listed.ok()[0]["user"]["username"], "");
    let listed = s.get("/api/2/assets/?media_type=photo", Some(&staff)).await;
    assert_eq!(
        listed.ok()[0]["user"]["username"],
        "alice",
        "staff lists are cached apart"
    );
    let four = s.get("/api/2/assets/4/", Some(&token)).await.ok().clone();
    assert_eq!(four["file"], Value::Null, "an empty file is null");
    assert_eq!(
        four["audio_length_in_seconds"],
        Value::Null,
        "zero length is null"
    );
    assert_eq!(four["session_id"], Value::Null);
}

#[tokio::test]
async fn admin_adds_the_localized_string_lists_even_with_admin_0() {
    let (s, token) = server().await;
    let r = s
        .patch(
            "/api/2/assets/1/",
            Some(&token),
            json!({"description_loc_ids": [2, 1], "alt_text_loc_ids": [1]}),
        )
        .await;
    assert_eq!(r.ok()["description_loc_ids"], json!([2, 1]));
    let a = s.get("/api/2/assets/1/?admin=0", Some(&token)).await;
    let admin = &a.ok()["loc_description_admin"];
    assert_eq!(admin[0]["text"], "Uno");
    assert_eq!(admin[0]["language"], "es");
    assert_eq!(admin[1]["language_id"], 1);
    assert_eq!(a.body["loc_alt_text_admin"][0]["id"], 1);
    let list = s.get("/api/2/assets/?admin", Some(&token)).await;
    assert_eq!(list.ok()[0]["loc_description_admin"][1]["text"], "One");
    let plain = s.get("/api/2/assets/", Some(&token)).await;
    assert!(plain.ok()[0].get("loc_description_admin").is_none());
}

#[tokio::test]
async fn unknown_assets_are_404() {
    let (s, token) = server().await;
    for path in [
        "/api/2/assets/999/",
        "/api/2/assets/abc/",
        "/api/2/assets/999/votes/",
    ] {
        assert_eq!(
            s.get(path, Some(&token)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let r = s
        .patch("/api/2/assets/999/", Some(&token), json!({"weight": 1}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.delete("/api/2/assets/999/", Some(&token)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s
        .post(
            "/api/2/assets/999/votes/",
            Some(&token),
            json!({"session_id": 1, "vote_type": "like"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// List filters

#[tokio::test]
async fn tag_filters_and_across_tags_or_within_tags_or() {
    let (s, t) = server().await;
    assert_eq!(list_ids(&s, "/api/2/assets/", &t).await, vec![1, 2, 3, 4]);
    assert_eq!(
        list_ids(&s, "/api/2/assets/?tag_ids=1,2", &t).await,
        vec![2, 3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/assets/?tag_ids=1", &t).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/assets/?tag_ids_or=2", &t).await,
        vec![2, 3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/assets/?tag_ids_or=1,2", &t).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/assets/?tag_ids=3", &t).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        list_ids(&s, "/api/2/assets/?tags=2&tags=1", &t).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/assets/?tag_ids=%221,2%22", &t).await,
        vec![2, 3],
        "quoted lists are lenient"
    );
    assert_400_naming(&s, "/api/2/assets/?tag_ids=1,x", &t, "tag_ids").await;
    assert_400_naming(&s, "/api/2/assets/?tags=999", &t, "tags").await;
}

#[tokio::test]
async fn media_language_envelope_and_session_filters() {
    let (s, t) = server().await;
    let cases: &[(&str, &[i64])] = &[
        ("media_type=photo", &[3]),
        ("mediatype=text", &[4]),
        ("media_type=banana", &[]),
        ("media_type=audio&mediatype=photo", &[]),
        ("language=es", &[3]),
        ("language=en", &[1, 2]),
        ("language=xx", &[]),
        ("envelope_id=1", &[1, 3]),
        ("envelope_id=1,3", &[3]),
        ("envelope_ids=3", &[3]),
        ("envelope_id=1&envelope_ids=3", &[3]),
        ("envelope=2&envelope=3", &[2, 3]),
        ("session_id=2", &[3]),
        ("session=1", &[1, 2]),
        ("project_id=1", &[1, 2, 3]),
        ("project=1", &[1, 2, 3]),
        ("project_id=2", &[]),
        ("submitted=false", &[3]),
        ("submitted=true", &[1, 2, 4]),
        ("submitted=1", &[1, 2, 4]),
        ("latitude=42.3", &[3]),
        ("longitude=-71", &[3]),
        ("latitude=0.1", &[1, 2]),
        ("unknown_param=whatever", &[1, 2, 3, 4]),
        ("language=&media_type=&", &[1, 2, 3, 4]),
    ];
    for (query, want) in cases {
        assert_eq!(
            list_ids(&s, &format!("/api/2/assets/?{query}"), &t).await,
            want.to_vec(),
            "{query}"
        );
    }
    for (query, param) in [
        ("mediatype=banana", "mediatype"),
        ("session=999", "session"),
        ("project=999", "project"),
        ("envelope=999", "envelope"),
        ("session_id=one", "session_id"),
        ("project_id=1.5", "project_id"),
        ("submitted=maybe", "submitted"),
        ("latitude=north", "latitude"),
        ("envelope_id=a", "envelope_id"),
    ] {
        assert_400_naming(&s, &format!("/api/2/assets/?{query}"), &t, param).await;
    }
}

#[tokio::test]
async fn length_and_time_filters_take_seconds_and_any_timestamp_form() {
    let (s, t) = server().await;
    let cases: &[(&str, &[i64])] = &[
        ("audiolength__gte=6", &[2, 3]),
        ("audiolength__lte=5", &[1, 4]),
        ("audiolength__lte=5&audiolength__gte=0.5", &[1]),
        ("audiolength__gte=10.0", &[2, 3]),
        ("audiolength=5000000000", &[1]),
        ("created__gte=2021-01-01", &[3, 4]),
        ("created__lte=2020-01-01T00:00:00Z", &[1]),
        ("created__gte=2021-06-01T14:00:00%2B02:00", &[3, 4]),
        ("created__gte=2021-06-01T14:00:01%2B02:00", &[4]),
        ("created=2020-01-02T00:00:00", &[2]),
        ("updated__gte=2021-06-02T00:00:00", &[3, 4]),
        ("updated__lte=2020-12-31", &[1, 2]),
        // iOS: not percent-encoded, a raw colon and a trailing &.
        ("updated__gte=2021-07-30T10:00:00&", &[4]),
    ];
    for (query, want) in cases {
        assert_eq!(
            list_ids(&s, &format!("/api/2/assets/?{query}"), &t).await,
            want.to_vec(),
            "{query}"
        );
    }
    for (query, param) in [
        ("audiolength__lte=long", "audiolength__lte"),
        ("audiolength__gte=NaN", "audiolength__gte"),
        ("created__gte=yesterday", "created__gte"),
        ("updated__lte=2021-13-45", "updated__lte"),
        ("created=soon", "created"),
        ("audiolength=5s", "audiolength"),
    ] {
        assert_400_naming(&s, &format!("/api/2/assets/?{query}"), &t, param).await;
    }
}

#[tokio::test]
async fn text_filters_match_case_insensitively_and_treat_like_metacharacters_literally() {
    let (s, t) = server().await;
    let cases: &[(&str, &[i64])] = &[
        ("description=QUOTED", &[3]),
        ("description=%22quoted%22", &[3]),
        ("description=100%25", &[4]),
        ("description=_", &[4]),
        ("description=%25", &[4]),
        ("description=DROP%20TABLE", &[3]),
        ("description=%F0%9F%8E%A7", &[3]),
        ("filename=THREE", &[3]),
        ("filename=.mp3", &[1, 2, 3]),
        ("text_filter=two", &[2]),
        ("text_filter=caption", &[3]),
        ("text_filter=pure", &[4]),
        ("user_str=hara", &[3]),
        ("user_str=EXAMPLE.org", &[3]),
        ("user_str=alice", &[3]),
        ("user_str=nobody", &[]),
    ];
    for (query, want) in cases {
        assert_eq!(
            list_ids(&s, &format!("/api/2/assets/?{query}"), &t).await,
            want.to_vec(),
            "{query}"
        );
    }
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 4);
}

#[tokio::test]
async fn ordering_takes_the_reference_keys_with_a_minus_and_ignores_others() {
    let (s, t) = server().await;
    let cases: &[(&str, &[i64])] = &[
        ("ordering=-id", &[4, 3, 2, 1]),
        ("ordering=weight", &[3, 1, 2, 4]),
        ("ordering=-weight", &[4, 1, 2, 3]),
        ("ordering=-weight,-id", &[4, 2, 1, 3]),
        ("ordering=volume", &[3, 1, 2, 4]),
        ("ordering=-volume", &[4, 2, 1, 3]),
        ("ordering=-audiolength", &[3, 2, 1, 4]),
        ("ordering=session_id", &[1, 2, 3, 4]),
        ("ordering=-session_id", &[4, 3, 1, 2]),
        ("ordering=created", &[1, 2, 3, 4]),
        ("ordering=bogus,-id", &[4, 3, 2, 1]),
    ];
    for (query, want) in cases {
        assert_eq!(
            list_ids(&s, &format!("/api/2/assets/?{query}"), &t).await,
            want.to_vec(),
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_web_and_ios_clients_exact_asset_queries_work() {
    let (s, t) = server().await;
    // Web SDK #9 and #13 (created__gte percent-encoded with Z).
    assert_eq!(
        list_ids(&s, "/api/2/assets/?submitted=true&project_id=1", &t).await,
        vec![1, 2]
    );
    let path =
        "/api/2/assets/?submitted=true&created__gte=2026-11-22T02%3A34%3A10.005Z&project_id=1";
    assert_eq!(list_ids(&s, path, &t).await, Vec::<i64>::new());
    s.sql(
        "INSERT INTO assets (id, submitted, project_id, created, updated, mediatype)
         VALUES (5, 1, 1, '2026-11-22T02:34:10.005000', '2026-11-22T02:34:10.005000', 'audio')",
    )
    .await;
    assert_eq!(list_ids(&s, path, &t).await, vec![5]);
    // Web template info cards.
    assert_eq!(
        list_ids(
            &s,
            "/api/2/assets/?project_id=1&submitted=true&media_type=photo&envelope_id=3",
            &t
        )
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        list_ids(
            &s,
            "/api/2/assets/?project_id=1&media_type=photo&envelope_ids=3",
            &t
        )
        .await,
        vec![3]
    );
    // iOS #7, trailing & included.
    assert_eq!(
        list_ids(
            &s,
            "/api/2/assets/?project_id=1&media_type=audio&language=en&submitted=true&",
            &t
        )
        .await,
        vec![1, 2]
    );
    // iOS #9: no submitted, naive updated__gte.
    assert_eq!(
        list_ids(
            &s,
            "/api/2/assets/?project_id=1&media_type=audio&language=en&updated__gte=2020-01-01T12:00:00&",
            &t
        )
        .await,
        vec![2]
    );
}

// ---------------------------------------------------------------------------------------
// Pagination

#[tokio::test]
async fn paginate_gives_drf_pages_with_absolute_next_and_previous() {
    let (s, t) = server().await;
    let r = s
        .get("/api/2/assets/?paginate=true&page_size=3", Some(&t))
        .await;
    let p = r.ok();
    assert_eq!(p["count"], 4);
    assert_eq!(ids(&p["results"]), vec![1, 2, 3]);
    assert_eq!(p["previous"], Value::Null);
    assert_eq!(
        p["next"],
        format!("{}/api/2/assets/?page=2&page_size=3&paginate=true", s.base)
    );
    let r = s
        .get("/api/2/assets/?paginate=True&page_size=3&page=2", Some(&t))
        .await;
    assert_eq!(ids(&r.ok()["results"]), vec![4]);
    assert_eq!(r.body["next"], Value::Null);
    assert_eq!(
        r.body["previous"],
        format!("{}/api/2/assets/?page_size=3&paginate=True", s.base)
    );
    let r = s
        .get("/api/2/assets/?paginate=1&page_size=1&page=3", Some(&t))
        .await;
    assert!(r.ok()["previous"].as_str().unwrap().contains("page=2"));
    let r = s
        .get(
            "/api/2/assets/?paginate=yes&page_size=3&page=last",
            Some(&t),
        )
        .await;
    assert_eq!(ids(&r.ok()["results"]), vec![4]);
    // Defaults: 20 a page; page_size 0 or junk falls back to 20.
    let r = s
        .get("/api/2/assets/?paginate=true&page_size=0", Some(&t))
        .await;
    assert_eq!(r.ok()["results"].as_array().unwrap().len(), 4);
    // Filters and ordering apply inside pages.
    let r = s
        .get(
            "/api/2/assets/?paginate=true&page_size=2&ordering=-id&project_id=1",
            Some(&t),
        )
        .await;
    assert_eq!(r.ok()["count"], 3);
    assert_eq!(ids(&r.body["results"]), vec![3, 2]);
    // An empty first page exists.
    let r = s
        .get("/api/2/assets/?paginate=true&project_id=77", Some(&t))
        .await;
    assert_eq!(r.ok()["count"], 0);
    assert_eq!(r.body["results"], json!([]));
}

#[tokio::test]
async fn a_bad_page_is_404_only_when_paginating_and_a_bad_paginate_is_400() {
    let (s, t) = server().await;
    for query in ["page=3&page_size=3", "page=abc", "page=0", "page=-1"] {
        let r = s
            .get(&format!("/api/2/assets/?paginate=true&{query}"), Some(&t))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{query}: {}", r.body);
        assert_eq!(r.body["detail"], "Invalid page.");
    }
    let r = s.get("/api/2/assets/?page=abc", Some(&t)).await;
    assert_eq!(ids(r.ok()), vec![1, 2, 3, 4]);
    let r = s
        .get("/api/2/assets/?paginate=false&page=9", Some(&t))
        .await;
    assert_eq!(ids(r.ok()), vec![1, 2, 3, 4]);
    assert_400_naming(&s, "/api/2/assets/?paginate=maybe", &t, "paginate").await;
}

// ---------------------------------------------------------------------------------------
// projects/:id/assets/, count, random

#[tokio::test]
async fn project_assets_are_a_bare_filtered_array_for_that_project_only() {
    let (s, t) = server().await;
    assert_eq!(
        list_ids(&s, "/api/2/projects/1/assets/", &t).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/projects/1/assets", &t).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/projects/1/assets/?project_id=2", &t).await,
        vec![1, 2, 3],
        "the path's project wins"
    );
    assert_eq!(
        list_ids(&s, "/api/2/projects/1/assets/?media_type=photo", &t).await,
        vec![3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/projects/1/assets/?paginate=true", &t).await,
        vec![1, 2, 3],
        "no pagination here"
    );
    let r = s.get("/api/2/projects/999/assets/", Some(&t)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.get("/api/2/projects/x/assets/", Some(&t)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_400_naming(
        &s,
        "/api/2/projects/1/assets/?submitted=perhaps",
        &t,
        "submitted",
    )
    .await;
}

#[tokio::test]
async fn count_uses_the_list_filters() {
    let (s, t) = server().await;
    let r = s.get("/api/2/assets/count/", Some(&t)).await;
    assert_eq!(r.ok(), &json!({"count": 4}));
    let r = s
        .get("/api/2/assets/count?project_id=1&tag_ids=1,2", Some(&t))
        .await;
    assert_eq!(r.ok(), &json!({"count": 2}));
    assert_400_naming(
        &s,
        "/api/2/assets/count/?created__gte=nope",
        &t,
        "created__gte",
    )
    .await;
}

#[tokio::test]
async fn random_returns_distinct_matching_assets_up_to_the_limit() {
    let (s, t) = server().await;
    let r = s.get("/api/2/assets/random/", Some(&t)).await;
    assert_eq!(r.ok().as_array().unwrap().len(), 1, "limit defaults to 1");
    let mut all = list_ids(&s, "/api/2/assets/random/?limit=10", &t).await;
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3, 4]);
    assert_eq!(
        list_ids(&s, "/api/2/assets/random/?limit=5&media_type=photo", &t).await,
        vec![3]
    );
    assert_eq!(
        list_ids(&s, "/api/2/assets/random/?limit=5&project_id=42", &t).await,
        Vec::<i64>::new()
    );
    let r = s.get("/api/2/assets/random/?limit=2", Some(&t)).await;
    assert!(r.ok()[0]["file"].as_str().unwrap().starts_with("http://"));
    assert_400_naming(&s, "/api/2/assets/random/?limit=many", &t, "limit").await;
    assert_400_naming(&s, "/api/2/assets/random/?limit=-1", &t, "limit").await;
    assert_400_naming(&s, "/api/2/assets/random/?mediatype=x", &t, "mediatype").await;
}

// ---------------------------------------------------------------------------------------
// PATCH and DELETE

#[tokio::test]
async fn patch_changes_every_accepted_field_and_answers_the_asset() {
    // Staff: `user_id` (who made a recording) is staff's to change.
    let (s, _) = server().await;
    let t = s.staff_token().await;
    let before = s.get("/api/2/assets/1/", Some(&t)).await.ok().clone();
    let square = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [0.001, 0.0], [0.001, 0.001], [0.0, 0.001], [0.0, 0.0]]]});
    let r = s
        .patch(
            "/api/2/assets/1/",
            Some(&t),
            json!({
                "tag_ids": "2", "language_id": 2, "project_id": null, "description_loc_ids": [1, 2],
                "alt_text_loc_ids": [2], "user_id": 50, "media_type": "text", "envelope_ids": [2, 3],
                "weight": 0, "description": "Zoë's \"best\" take 🎧", "latitude": 42.36, "longitude": -71.06,
                "volume": 0.25, "submitted": false, "start_time": 1.5, "end_time": 4, "shape": square,
            }),
        )
        .await;
    let a = r.ok();
    assert!(a.get("detail").is_none());
    assert_eq!(a["tag_ids"], json!([2]));
    assert_eq!(a["language_id"], 2);
    assert_eq!(a["project_id"], Value::Null);
    assert_eq!(a["description_loc_ids"], json!([1, 2]));
    assert_eq!(a["alt_text_loc_ids"], json!([2]));
    assert_eq!(a["user"]["username"], "alice");
    assert_eq!(a["media_type"], "text");
    assert_eq!(a["envelope_ids"], json!([2, 3]), "envelope_ids honoured");
    assert_eq!(a["weight"], 0);
    assert_eq!(a["description"], "Zoë's \"best\" take 🎧");
    assert_eq!(a["latitude"].as_f64(), Some(42.36));
    assert_eq!(a["longitude"].as_f64(), Some(-71.06));
    assert_eq!(a["volume"].as_f64(), Some(0.25));
    assert_eq!(a["submitted"], false);
    assert_eq!(a["start_time"].as_f64(), Some(1.5));
    assert_eq!(a["end_time"].as_f64(), Some(4.0));
    assert_eq!(a["shape"]["type"], "MultiPolygon");
    assert_eq!(a["file"], before["file"]);
    assert!(a["updated"].as_str().unwrap() > before["updated"].as_str().unwrap());
    assert_eq!(a["created"], before["created"]);
    // Envelope 1 no longer holds asset 1.
    let e = s.get("/api/2/envelopes/1/", Some(&t)).await;
    assert_eq!(e.ok()["asset_ids"], json!([3]));
    // Model names are accepted too; null clears the shape.
    let r = s
        .patch(
            "/api/2/assets/1",
            Some(&t),
            json!({"tags": [1, 2], "mediatype": "audio", "shape": null, "user_id": null}),
        )
        .await;
    assert_eq!(r.ok()["tag_ids"], json!([1, 2]));
    assert_eq!(r.body["media_type"], "audio");
    assert_eq!(r.body["shape"], Value::Null);
    assert_eq!(r.body["user"], Value::Null);
}

#[tokio::test]
async fn patch_accepts_multipart_and_urlencoded_bodies() {
    let (s, t) = server().await;
    let r = s
        .multipart(
            Method::PATCH,
            "/api/2/assets/2/",
            Some(&t),
            &[
                ("tag_ids", "\"1,2\""),
                ("weight", "12"),
                ("submitted", "False"),
                ("latitude", "1.5"),
            ],
        )
        .await;
    let a = r.ok();
    assert_eq!(a["tag_ids"], json!([1, 2]));
    assert_eq!(a["weight"], 12);
    assert_eq!(a["submitted"], false);
    assert_eq!(a["latitude"].as_f64(), Some(1.5));
    let r = s
        .form(
            Method::PATCH,
            "/api/2/assets/2/",
            Some(&t),
            &[("tag_ids", "2,"), ("media_type", "photo")],
        )
        .await;
    assert_eq!(r.ok()["tag_ids"], json!([2]));
    assert_eq!(r.body["media_type"], "photo");
}

#[tokio::test]
async fn bad_patches_are_400_naming_the_field_and_change_nothing() {
    let (s, t) = server().await;
    let long = "x".repeat(2049);
    let cases = [
        (json!({"weight": 100}), "weight"),
        (json!({"weight": -1}), "weight"),
        (json!({"weight": "heavy"}), "weight"),
        (json!({"description": long}), "description"),
        (json!({"description": null}), "description"),
        (json!({"tag_ids": [1, 999]}), "tag_ids"),
        (json!({"tag_ids": "1,x"}), "tag_ids"),
        (json!({"envelope_ids": [999]}), "envelope_ids"),
        (json!({"language_id": 999}), "language_id"),
        (json!({"project_id": 999}), "project_id"),
        (json!({"session_id": 999}), "session_id"),
        (json!({"user_id": 999}), "user_id"),
        (json!({"description_loc_ids": [999]}), "description_loc_ids"),
        (json!({"alt_text_loc_ids": [999]}), "alt_text_loc_ids"),
        (json!({"media_type": "hologram"}), "media_type"),
        (json!({"latitude": "north"}), "latitude"),
        (json!({"submitted": "perhaps"}), "submitted"),
        (json!({"shape": "not a shape"}), "shape"),
        (json!({"weight": 5, "tag_ids": [999]}), "tag_ids"),
    ];
    let before = s.get("/api/2/assets/1/", Some(&t)).await.ok().clone();
    for (body, field) in cases {
        let r = s.patch("/api/2/assets/1/", Some(&t), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(r.body.get(field).is_some(), "{body}: {}", r.body);
    }
    let after = s.get("/api/2/assets/1/", Some(&t)).await.ok().clone();
    assert_eq!(before, after);
    let r = s
        .raw(
            Method::PATCH,
            "/api/2/assets/1/",
            Some(&t),
            "application/json",
            b"{\"weight\":".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn delete_removes_the_row_and_its_links_and_answers_204_empty() {
    // Staff: asset 3 is another visitor's, and `delete_binary` is staff's.
    let (s, _) = server().await;
    let t = s.staff_token().await;
    s.sql("INSERT INTO votes (session_id, asset_id, type) VALUES (1, 3, 'like')")
        .await;
    let r = s
        .client
        .delete(s.url("/api/2/assets/3/?delete_binary=true"))
        .header("Authorization", format!("token {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(
        s.get("/api/2/assets/3/", Some(&t)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.scalar("SELECT count(*) FROM votes WHERE asset_id = 3")
            .await,
        0
    );
    assert_eq!(
        s.scalar("SELECT count(*) FROM envelope_assets WHERE asset_id = 3")
            .await,
        0
    );
    assert_eq!(
        s.delete("/api/2/assets/3", Some(&t)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(list_ids(&s, "/api/2/assets/", &t).await, vec![1, 2, 4]);
}

// ---------------------------------------------------------------------------------------
// The rendered-list cache

#[tokio::test]
async fn cached_lists_never_outlive_a_write() {
    let (s, t) = server().await;
    for _ in 0..2 {
        let r = s.get("/api/2/assets/?project_id=1", Some(&t)).await;
        assert_eq!(r.ok()[0]["weight"], 50);
        assert_eq!(r.headers["content-type"], "application/json");
        let r = s.get("/api/2/projects/1/assets/", Some(&t)).await;
        assert_eq!(r.ok()[0]["weight"], 50);
    }
    let r = s
        .patch("/api/2/assets/1/", Some(&t), json!({"weight": 7}))
        .await;
    assert_eq!(r.ok()["weight"], 7);
    let r = s.get("/api/2/assets/?project_id=1", Some(&t)).await;
    assert_eq!(r.ok()[0]["weight"], 7, "list after PATCH");
    let r = s.get("/api/2/projects/1/assets/", Some(&t)).await;
    assert_eq!(r.ok()[0]["weight"], 7, "project list after PATCH");

    // Any committed write counts, even one that is not through this API.
    s.sql("UPDATE assets SET description = 'changed behind the API' WHERE id = 2")
        .await;
    let r = s.get("/api/2/assets/?project_id=1", Some(&t)).await;
    assert_eq!(r.ok()[1]["description"], "changed behind the API");

    // Same query, other parameter order: same content.
    let a = s
        .get("/api/2/assets/?submitted=true&project_id=1", Some(&t))
        .await;
    let b = s
        .get("/api/2/assets/?project_id=1&submitted=true&", Some(&t))
        .await;
    assert_eq!(a.ok(), b.ok());

    // A delete empties the cached page too.
    s.delete("/api/2/assets/1/", Some(&t)).await;
    assert_eq!(
        list_ids(&s, "/api/2/assets/?project_id=1", &t).await,
        vec![2, 3]
    );
}

#[tokio::test]
async fn cached_lists_follow_the_host_the_client_used() {
    let (s, t) = server().await;
    for host in ["box.local:8888", "10.0.0.7:8888"] {
        let r = s
            .client
            .get(s.url("/api/2/assets/?project_id=1"))
            .header("Authorization", format!("token {t}"))
            .header("Host", host)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body[0]["file"],
            format!("http://{host}/rwmedia/one.wav"),
            "{host}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Votes on an asset

#[tokio::test]
async fn asset_vote_counts_are_ordered_by_count_with_avg_only_on_rate() {
    let (s, t) = server().await;
    s.sql(
        "INSERT INTO votes (session_id, asset_id, type, value) VALUES
         (1, 1, 'like', NULL), (2, 1, 'like', NULL), (1, 1, 'flag', NULL),
         (1, 1, 'rate', 4), (2, 1, 'rate', 5), (2, 1, 'rate', NULL)",
    )
    .await;
    let r = s.get("/api/2/assets/1/votes/", Some(&t)).await;
    assert_eq!(
        r.ok(),
        &json!([
            {"type": "flag", "total": 1},
            {"type": "like", "total": 2},
            {"type": "rate", "total": 3, "avg": 4.5},
        ])
    );
    let r = s.get("/api/2/assets/2/votes", Some(&t)).await;
    assert_eq!(r.ok(), &json!([]));
}

#[tokio::test]
async fn a_repeated_vote_without_value_is_withdrawn_and_with_value_is_updated() {
    let (s, t) = server().await;
    let like = json!({"session_id": 1, "vote_type": "like"});
    let r = s
        .post("/api/2/assets/2/votes/", Some(&t), like.clone())
        .await;
    let first = r.ok().clone();
    assert_eq!(first["type"], "like");
    assert_eq!(first["value"], Value::Null);
    assert_eq!(
        first["voter_id"], 90,
        "the user registered with the session's device"
    );
    assert_eq!(first["asset_votes"], json!([{"type": "like", "total": 1}]));
    let r = s
        .post("/api/2/assets/2/votes/", Some(&t), like.clone())
        .await;
    assert_eq!(
        r.ok(),
        &json!({"value": null, "type": "", "voter": null, "session": null, "asset": null})
    );
    assert_eq!(s.scalar("SELECT count(*) FROM votes").await, 0);
    // iOS sends the value as a string.
    let rate = |v: &str| json!({"session_id": 1, "vote_type": "rate", "value": v});
    let a = s
        .post("/api/2/assets/2/votes/", Some(&t), rate("3"))
        .await
        .ok()
        .clone();
    assert_eq!(a["value"], 3);
    let b = s
        .post("/api/2/assets/2/votes/", Some(&t), rate("0"))
        .await
        .ok()
        .clone();
    assert_eq!(b["id"], a["id"], "updated, not added");
    assert_eq!(b["value"], 0);
    assert_eq!(s.scalar("SELECT count(*) FROM votes").await, 1);
    // Other sessions (here another visitor's) vote independently; multipart works.
    let (_, es) = s.device_token("fixture-device-es").await;
    let r = s
        .multipart(
            Method::POST,
            "/api/2/assets/2/votes/",
            Some(&es),
            &[("session_id", "2"), ("vote_type", "rate"), ("value", "5")],
        )
        .await;
    assert_eq!(r.ok()["asset_votes"][0]["avg"].as_f64(), Some(2.5));
}

#[tokio::test]
async fn a_vote_by_a_registered_device_names_the_voter_and_logs_vote_asset() {
    let s = TestServer::with_reference_fixture().await;
    let (uid, t) = s.device_token("voting-phone").await;
    let sid = s
        .post("/api/2/sessions/", Some(&t), json!({"project_id": 1}))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let body = json!({"session_id": sid, "vote_type": "like", "client_time": "2026-11-22T02:34:10.005Z",
                      "latitude": 0.1, "longitude": 0.2, "tag_ids": [1, 2]});
    let r = s.post("/api/2/assets/1/votes/", Some(&t), body).await;
    assert_eq!(r.ok()["voter_id"], uid);
    let events = s
        .get(
            &format!("/api/2/events/?session_id={sid}&event_type=vote_asset"),
            Some(&t),
        )
        .await;
    let e = &events.ok()[0];
    assert_eq!(e["event_type"], "vote_asset");
    assert_eq!(e["client_time"], "2026-11-22T02:34:10.005Z");
    assert_eq!(e["latitude"].as_f64(), Some(0.1));
    assert_eq!(e["tag_ids"], json!([1, 2]));
    let data: Value = serde_json::from_str(e["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["vote_type"], "like", "data records the request body");
    // A session whose device has no user (only staff act in it): no voter, no event.
    s.sql("INSERT INTO sessions (id, device_id, starttime, project_id) VALUES (7, 'gone', '2020-01-01T00:00:00', 1)")
        .await;
    let staff = s.staff_token().await;
    let r = s
        .post(
            "/api/2/assets/1/votes/",
            Some(&staff),
            json!({"session_id": 7, "vote_type": "flag", "data": "why"}),
        )
        .await;
    assert_eq!(r.ok()["voter_id"], Value::Null);
    assert_eq!(
        s.scalar("SELECT count(*) FROM events WHERE session_id = 7")
            .await,
        0
    );
}

#[tokio::test]
async fn bad_asset_votes_are_400_with_a_detail_and_write_nothing() {
    let (s, t) = server().await;
    let cases = [
        (json!({"vote_type": "like"}), "session_id"),
        (json!({"session_id": 1}), "vote_type"),
        (
            json!({"session_id": 1, "vote_type": "love"}),
            "like, flag, rate",
        ),
        (
            json!({"session_id": 999, "vote_type": "like"}),
            "Session not found",
        ),
        (
            json!({"session_id": "one", "vote_type": "like"}),
            "session_id",
        ),
        (
            json!({"session_id": 1, "vote_type": "rate", "value": "high"}),
            "value",
        ),
    ];
    for (body, mention) in cases {
        let r = s
            .post("/api/2/assets/1/votes/", Some(&t), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(r.body.to_string().contains(mention), "{body}: {}", r.body);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM votes").await, 0);
    assert_eq!(s.scalar("SELECT count(*) FROM events").await, 0);
}

// ---------------------------------------------------------------------------------------
// Blocked assets

#[tokio::test]
async fn blocked_lists_block_asset_votes_and_every_asset_of_a_blocked_user() {
    let s = TestServer::with_reference_fixture().await;
    s.sql(EXTRA).await;
    // The author: alice's device recorded asset 3 (session 3) and asset 5 (session 4).
    s.sql(
        "INSERT INTO sessions (id, device_id, starttime, project_id) VALUES
            (3, 'dev-alice', '2021-01-01T00:00:00.000000', 1),
            (4, 'dev-alice', '2021-01-02T00:00:00.000000', 1);
         UPDATE assets SET session_id = 3 WHERE id = 3;
         INSERT INTO assets (id, session_id, submitted, project_id, created, updated)
            VALUES (5, 4, 1, 1, '2021-01-02T00:00:00.000000', '2021-01-02T00:00:00.000000'),
                   (6, NULL, 1, 1, '2021-01-03T00:00:00.000000', '2021-01-03T00:00:00.000000');
         UPDATE assets SET user_id = 50 WHERE id = 6;",
    )
    .await;
    let (_, t) = s.device_token("blocking-phone").await;
    let sid = s
        .post("/api/2/sessions/", Some(&t), json!({"project_id": 1}))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/2/assets/blocked/?project_id=1&session_id={sid}&");
    let r = s.get(&path, Some(&t)).await;
    assert_eq!(
        r.ok(),
        &json!({"device_id": "blocking-phone", "blocked_asset_ids": []}),
        "200 even when nothing is blocked"
    );
    // block_user alone already counts (the reference needed a block_asset first).
    s.post(
        "/api/2/assets/3/votes/",
        Some(&t),
        json!({"session_id": sid, "vote_type": "block_user"}),
    )
    .await
    .ok();
    let r = s.get(&path, Some(&t)).await;
    assert_eq!(r.ok()["blocked_asset_ids"], json!([3, 5, 6]));
    s.post(
        "/api/2/assets/1/votes/",
        Some(&t),
        json!({"session_id": sid, "vote_type": "block_asset"}),
    )
    .await
    .ok();
    let r = s.get(&path, Some(&t)).await;
    assert_eq!(r.ok()["blocked_asset_ids"], json!([1, 3, 5, 6]));
    // Another listener's blocks are theirs alone, and their device id is not shown.
    let r = s.get("/api/2/assets/blocked/?session_id=1", Some(&t)).await;
    assert_eq!(r.ok(), &json!({"device_id": null, "blocked_asset_ids": []}));
    // Withdrawing the block_asset vote unblocks the asset.
    s.post(
        "/api/2/assets/1/votes/",
        Some(&t),
        json!({"session_id": sid, "vote_type": "block_asset"}),
    )
    .await
    .ok();
    let r = s.get(&path, Some(&t)).await;
    assert_eq!(r.ok()["blocked_asset_ids"], json!([3, 5, 6]));
}

#[tokio::test]
async fn blocked_without_a_known_session_is_400() {
    let (s, t) = server().await;
    assert_400_naming(&s, "/api/2/assets/blocked/", &t, "session_id").await;
    assert_400_naming(&s, "/api/2/assets/blocked/?session_id=x", &t, "session_id").await;
    let r = s
        .get("/api/2/assets/blocked/?session_id=999", Some(&t))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("Session"));
}

// ---------------------------------------------------------------------------------------
// votes/

#[tokio::test]
async fn votes_crud_for_their_owner_and_staff() {
    let (s, t) = server().await;
    let r = s
        .post(
            "/api/2/votes/",
            Some(&t),
            json!({"type": "like", "asset_id": 1, "session_id": 1}),
        )
        .await;
    let v = r.ok().clone();
    for key in [
        "id",
        "value",
        "type",
        "voter_id",
        "asset_id",
        "session_id",
        "asset_votes",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["asset_votes"], json!([{"type": "like", "total": 1}]));
    assert_eq!(v["voter_id"], 90, "a visitor's vote counts as theirs");
    // Plain create: the same vote again is a second vote, not a toggle (staff may name the
    // voter).
    let staff = s.staff_token().await;
    let r = s
        .post(
            "/api/2/votes/",
            Some(&staff),
            json!({"type": "like", "asset_id": 1, "session_id": 1, "voter_id": 50, "value": 1}),
        )
        .await;
    assert_eq!(r.ok()["voter_id"], 50);
    assert_eq!(r.body["asset_votes"][0]["total"], 2);
    let id = v["id"].as_i64().unwrap();
    let r = s.get(&format!("/api/2/votes/{id}/"), Some(&t)).await;
    assert_eq!(r.ok()["asset_votes"][0]["total"], 2);
    let r = s
        .patch(
            &format!("/api/2/votes/{id}"),
            Some(&t),
            json!({"type": "rate", "value": 5}),
        )
        .await;
    assert_eq!(r.ok()["type"], "rate");
    assert_eq!(r.body["value"], 5);
    assert_eq!(
        r.body["asset_votes"],
        json!([{"type": "like", "total": 1}, {"type": "rate", "total": 1, "avg": 5.0}])
    );
    let r = s
        .client
        .delete(s.url(&format!("/api/2/votes/{id}/")))
        .header("Authorization", format!("token {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(
        s.get(&format!("/api/2/votes/{id}/"), Some(&t)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.delete(&format!("/api/2/votes/{id}/"), Some(&t))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.patch("/api/2/votes/999/", Some(&t), json!({"value": 1}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_votes_are_400_naming_the_fields_and_write_nothing() {
    let (s, t) = server().await;
    let r = s.post("/api/2/votes/", Some(&t), json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for field in ["type", "asset_id", "session_id"] {
        assert_eq!(r.body[field][0], "This field is required.", "{}", r.body);
    }
    let r = s
        .post(
            "/api/2/votes/",
            Some(&t),
            json!({"type": "superlike", "asset_id": 1, "session_id": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let detail = r.body["detail"].as_str().unwrap();
    for t in ["like", "flag", "rate", "block_asset", "block_user"] {
        assert!(detail.contains(t), "{detail}");
    }
    for (body, field) in [
        (
            json!({"type": "like", "asset_id": 999, "session_id": 1}),
            "asset_id",
        ),
        (
            json!({"type": "like", "asset_id": 1, "session_id": 999}),
            "session_id",
        ),
        (
            json!({"type": "like", "asset_id": 1, "session_id": 1, "voter_id": 999}),
            "voter_id",
        ),
        (
            json!({"type": "like", "asset_id": 1, "session_id": 1, "value": "x"}),
            "value",
        ),
    ] {
        let r = s.post("/api/2/votes/", Some(&t), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.body.get(field).is_some(), "{body}: {}", r.body);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM votes").await, 0);
    assert_400_naming(&s, "/api/2/votes/?type=meh", &t, "type").await;
    assert_400_naming(&s, "/api/2/votes/?asset_id=x", &t, "asset_id").await;
}

#[tokio::test]
async fn votes_list_filters() {
    let (s, t) = server().await;
    s.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (2, 'Dos', 0, 0, '2020-01-01T00:00:00.000000');
         INSERT INTO sessions (id, device_id, starttime, project_id) VALUES (9, 'p2', '2020-01-01T00:00:00.000000', 2);
         INSERT INTO votes (id, voter_id, value, session_id, asset_id, type) VALUES
            (1, 50, NULL, 1, 1, 'like'), (2, NULL, 3, 2, 1, 'rate'), (3, NULL, 5, 2, 3, 'rate'),
            (4, 50, NULL, 9, 4, 'flag')",
    )
    .await;
    let cases: &[(&str, &[i64])] = &[
        ("", &[1, 2, 3, 4]),
        ("voter_id=50", &[1, 4]),
        ("voter=50", &[1, 4]),
        ("session_id=2", &[2, 3]),
        ("session=1", &[1]),
        ("project_id=2", &[4]),
        ("project_id=1", &[1, 2, 3]),
        ("asset_id=1", &[1, 2]),
        ("asset=3", &[3]),
        ("type=rate", &[2, 3]),
        ("value=5", &[3]),
        ("media_type=photo", &[3]),
        ("media_type=text", &[4]),
        ("type=rate&asset_id=1", &[2]),
    ];
    for (query, want) in cases {
        assert_eq!(
            list_ids(&s, &format!("/api/2/votes/?{query}"), &t).await,
            want.to_vec(),
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_vote_summary_has_one_entry_per_asset_shaped_by_type() {
    let (s, t) = server().await;
    s.sql(
        "INSERT INTO votes (id, session_id, asset_id, type, value) VALUES
            (1, 1, 2, 'like', NULL), (2, 2, 2, 'like', NULL), (3, 1, 1, 'like', NULL),
            (4, 1, 1, 'rate', 2), (5, 2, 1, 'rate', 3), (6, 1, 3, 'flag', NULL)",
    )
    .await;
    let r = s
        .get("/api/2/votes/summary/?type=like&project_id=1&", Some(&t))
        .await;
    assert_eq!(
        r.ok(),
        &json!([{"asset_id": 2, "asset_votes": 2}, {"asset_id": 1, "asset_votes": 1}])
    );
    let r = s.get("/api/2/votes/summary/?type=rate", Some(&t)).await;
    assert_eq!(
        r.ok(),
        &json!([{"asset_id": 1, "asset_votes": {"average": 2.5, "count": 2}}])
    );
    let r = s.get("/api/2/votes/summary/?asset_id=1", Some(&t)).await;
    assert_eq!(
        r.ok(),
        &json!([{"asset_id": 1, "asset_votes": [
            {"type": "like", "total": 1}, {"type": "rate", "total": 2, "avg": 2.5}]}])
    );
    let r = s.get("/api/2/votes/summary", Some(&t)).await;
    assert_eq!(
        r.ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["asset_id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 1, 3]
    );
    assert_400_naming(&s, "/api/2/votes/summary/?type=nope", &t, "type").await;
}

// ---------------------------------------------------------------------------------------
// envelopes/

#[tokio::test]
async fn envelopes_are_created_and_read_by_the_owner_of_their_session() {
    let s = TestServer::with_reference_fixture().await;
    let (_, t) = s.device_token(FIXTURE_DEVICE).await;
    let (_, es) = s.device_token("fixture-device-es").await;
    let r = s
        .post("/api/2/envelopes/", Some(&t), json!({"session_id": 1}))
        .await;
    let e = r.ok().clone();
    assert_eq!(e["session_id"], 1);
    assert_eq!(e["asset_ids"], json!([]));
    assert!(e["created"].as_str().unwrap().len() >= 19);
    assert!(!e["created"].as_str().unwrap().ends_with('Z'));
    let id = e["id"].as_i64().unwrap();
    let r = s.get(&format!("/api/2/envelopes/{id}/"), Some(&t)).await;
    assert_eq!(r.ok(), &e);
    // The web client: no slash, and a session_id that is ignored.
    let r = s.get("/api/2/envelopes/1?session_id=1", Some(&t)).await;
    assert_eq!(
        r.ok(),
        &json!({"id": 1, "session_id": 1, "created": "2020-01-01T00:00:00.000000", "asset_ids": [1]})
    );
    let r = s
        .multipart(
            Method::POST,
            "/api/2/envelopes/",
            Some(&es),
            &[("session_id", "2")],
        )
        .await;
    assert_eq!(r.ok()["session_id"], 2);
    assert_eq!(
        s.get("/api/2/envelopes/999/", Some(&t)).await.status,
        StatusCode::NOT_FOUND
    );
    // Without a token, nothing; with someone else's, 403.
    assert_eq!(
        s.post("/api/2/envelopes/", None, json!({"session_id": 1}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get(&format!("/api/2/envelopes/{id}/"), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get(&format!("/api/2/envelopes/{id}/"), Some(&es))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn envelope_creation_errors_match_the_reference() {
    let s = TestServer::with_reference_fixture().await;
    let (_, t) = s.device_token(FIXTURE_DEVICE).await;
    let t = Some(t.as_str());
    let r = s.post("/api/2/envelopes/", t, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"session_id": ["This field is required."]}));
    let r = s
        .post("/api/2/envelopes/", t, json!({"session_id": 999999}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"session_id": ["Session not found"]}));
    let r = s
        .post("/api/2/envelopes/", t, json!({"session_id": "abc"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.scalar("SELECT count(*) FROM envelopes").await, 2);
    // The upload PATCH (tests in uploads.rs) refuses a request with nothing to upload.
    let r = s.patch("/api/2/envelopes/1/", t, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "asset_id or file required");
}

#[tokio::test]
async fn envelope_list_filters() {
    let (s, own) = server().await;
    let staff = s.staff_token().await;
    let cases: &[(&str, &[i64])] = &[
        ("", &[1, 2, 3]),
        ("session_id=1", &[1, 2]),
        ("session=2", &[3]),
        ("project_id=1", &[1, 2, 3]),
        ("project_id=5", &[]),
        ("asset_id=3", &[1, 3]),
        ("assets=2&assets=3", &[1, 2, 3]),
        ("assets=2", &[2]),
        ("created=2020-01-02T00:00:00", &[2]),
    ];
    for (query, want) in cases {
        let r = s
            .get(&format!("/api/2/envelopes/?{query}"), Some(&staff))
            .await;
        assert_eq!(ids(r.ok()), want.to_vec(), "{query}");
    }
    // A visitor lists only the envelopes of their own sessions.
    assert_eq!(list_ids(&s, "/api/2/envelopes/", &own).await, vec![1, 2]);
    assert_eq!(
        list_ids(&s, "/api/2/envelopes/?session=2", &own).await,
        Vec::<i64>::new()
    );
    let r = s.get("/api/2/envelopes/?session_id=x", Some(&own)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.get("session_id").is_some());
}

// ---------------------------------------------------------------------------------------
// events/

#[tokio::test]
async fn events_from_the_web_and_ios_clients_are_recorded_in_admin_shape() {
    let (s, t) = server().await;
    let r = s
        .post(
            "/api/2/events/",
            Some(&t),
            json!({"session_id": 1, "event_type": "start_session", "client_time": "2026-11-22T02:34:10.005Z"}),
        )
        .await;
    let e = r.ok().clone();
    for key in [
        "id",
        "server_time",
        "client_time",
        "event_type",
        "data",
        "latitude",
        "longitude",
        "session_id",
        "tag_ids",
    ] {
        assert!(e.get(key).is_some(), "missing {key} in {e}");
    }
    assert_eq!(e["tag_ids"], json!([]));
    assert_eq!(e["latitude"], Value::Null);
    assert_eq!(e["data"], Value::Null);
    assert!(!e["server_time"].as_str().unwrap().ends_with('Z'));
    // Web location update: numbers.
    let r = s
        .post(
            "/api/2/events/",
            Some(&t),
            json!({"session_id": 1, "event_type": "location_update", "client_time": "x",
                   "latitude": 42.36, "longitude": -71.06}),
        )
        .await;
    assert_eq!(r.ok()["latitude"].as_f64(), Some(42.36));
    assert_eq!(r.body["longitude"].as_f64(), Some(-71.06));
    // Web filter_stream: a tag array; data as an object is kept as JSON text.
    let r = s
        .post(
            "/api/2/events/",
            Some(&t),
            json!({"session_id": 1, "event_type": "filter_stream", "tag_ids": [91, 92],
                   "data": {"afterDate": "2026-01-01"}}),
        )
        .await;
    assert_eq!(r.ok()["tag_ids"], json!([91, 92]));
    let data: Value = serde_json::from_str(r.body["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["afterDate"], "2026-01-01");
    // iOS client_error: strings, an empty latitude, trailing comma in tag_ids.
    let r = s
        .post(
            "/api/2/events/",
            Some(&t),
            json!({"session_id": "1", "event_type": "client_error", "data": "load: NSError = -1009 ‘offline’ 🎧",
                   "latitude": "", "longitude": "", "client_time": "2021-07-30T10:00:00", "tag_ids": "91,92,"}),
        )
        .await;
    let e = r.ok();
    assert_eq!(e["tag_ids"], json!([91, 92]));
    assert_eq!(e["latitude"], Value::Null);
    assert_eq!(e["data"], "load: NSError = -1009 ‘offline’ 🎧");
    assert_eq!(
        s.scalar("SELECT count(*) FROM events WHERE tags = '91,92'")
            .await,
        2,
        "stored as a comma string"
    );
    // tags instead of tag_ids, and a form body (session 2's own visitor).
    let (_, es) = s.device_token("fixture-device-es").await;
    let r = s
        .form(
            Method::POST,
            "/api/2/events/",
            Some(&es),
            &[
                ("session_id", "2"),
                ("event_type", "tagged"),
                ("tags", ",93"),
            ],
        )
        .await;
    assert_eq!(r.ok()["tag_ids"], json!([93]));
    let id = r.body["id"].as_i64().unwrap();
    let r = s.get(&format!("/api/2/events/{id}"), Some(&es)).await;
    assert_eq!(r.ok()["event_type"], "tagged");
    // Events are private: another visitor's is a 403, and lists hold only one's own.
    assert_eq!(
        s.get(&format!("/api/2/events/{id}"), Some(&t)).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        list_ids(&s, "/api/2/events/", &t)
            .await
            .iter()
            .all(|e| *e != id)
    );
    assert_eq!(list_ids(&s, "/api/2/events/", &es).await, vec![id]);
    assert_eq!(
        s.get("/api/2/events/999/", Some(&t)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_events_are_400_and_events_cannot_be_changed() {
    let (s, t) = server().await;
    let cases = [
        (json!({"event_type": "x"}), "session_id"),
        (json!({"session_id": 1}), "event_type"),
        (
            json!({"session_id": 999, "event_type": "x"}),
            "Session matching query does not exist.",
        ),
        (
            json!({"session_id": "one", "event_type": "x"}),
            "session_id",
        ),
        (
            json!({"session_id": 1, "event_type": "x", "client_time": "1".repeat(51)}),
            "client_time",
        ),
        (
            json!({"session_id": 1, "event_type": "y".repeat(51)}),
            "event_type",
        ),
        (
            json!({"session_id": 1, "event_type": "x", "latitude": "north"}),
            "latitude",
        ),
        (
            json!({"session_id": 1, "event_type": "x", "tag_ids": "1,b"}),
            "tag_ids",
        ),
    ];
    for (body, mention) in cases {
        let r = s.post("/api/2/events/", Some(&t), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(r.body.to_string().contains(mention), "{body}: {}", r.body);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM events").await, 0);
    s.sql("INSERT INTO events (id, server_time, session_id, event_type) VALUES (1, '2020-01-01T00:00:00.000000', 1, 'x')")
        .await;
    let r = s
        .patch("/api/2/events/1/", Some(&t), json!({"event_type": "y"}))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = s.delete("/api/2/events/1/", Some(&t)).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn event_filters_match_ids_as_list_elements_not_substrings() {
    // Staff see every session's events (a visitor only their own: checked at the end).
    let (s, own) = server().await;
    let t = s.staff_token().await;
    s.sql(
        "INSERT INTO events (id, server_time, session_id, event_type, latitude, longitude, tags) VALUES
            (1, '2026-11-21T17:29:44.610672', 1, 'heartbeat', '42.36', '-71.06', '12,3'),
            (2, '2026-11-21T18:00:00.000000', 1, 'xheartbeatx', NULL, NULL, '1,2'),
            (3, '2026-11-22T09:00:00.000000', 2, 'start_listen', '0.1', '0.1', '2, 1'),
            (4, '2026-11-23T09:00:00.000000', 2, 'stop_listen', 'n/a', NULL, NULL)",
    )
    .await;
    let cases: &[(&str, &[i64])] = &[
        ("event_type=HEARTBEAT", &[1, 2]),
        ("event_type=listen", &[3, 4]),
        ("session_id=2", &[3, 4]),
        ("server_time=2026-11-21", &[1, 2]),
        ("server_time=2026-11-21T18", &[2]),
        ("server_time=2026-11-21%2017", &[1]),
        ("server_time__lt=2026-11-21T18:00:00", &[1]),
        ("server_time__gt=2026-11-21T18:00:00Z", &[3, 4]),
        ("server_time__gt=2026-11-22T10:00:00%2B02:00", &[3, 4]),
        ("latitude=42.3", &[1]),
        ("longitude=-71", &[1]),
        ("tag_ids=2", &[2, 3]),
        ("tag_ids=1,2", &[2, 3]),
        ("tag_ids=12", &[1]),
        ("tag_ids=3", &[1]),
        ("tag_ids=4", &[]),
        ("tags=1,2", &[2]),
    ];
    for (query, want) in cases {
        assert_eq!(
            list_ids(&s, &format!("/api/2/events/?{query}"), &t).await,
            want.to_vec(),
            "{query}"
        );
    }
    assert_eq!(list_ids(&s, "/api/2/events/", &own).await, vec![1, 2]);
    assert_eq!(
        list_ids(&s, "/api/2/events/?session_id=2", &own).await,
        Vec::<i64>::new()
    );
    let r = s.get("/api/2/events/4/", Some(&t)).await;
    assert_eq!(r.ok()["latitude"], Value::Null, "non-numeric text is null");
    let r = s.get("/api/2/events/3/", Some(&t)).await;
    assert_eq!(r.ok()["tag_ids"], json!([2, 1]));
    for (query, param) in [
        ("server_time__lt=later", "server_time__lt"),
        ("server_time=today", "server_time"),
        ("session_id=x", "session_id"),
        ("tag_ids=a", "tag_ids"),
    ] {
        assert_400_naming(&s, &format!("/api/2/events/?{query}"), &t, param).await;
    }
}

// ---------------------------------------------------------------------------------------
// listenevents/

#[tokio::test]
async fn the_web_clients_listen_event_calls_work() {
    let (s, t) = server().await;
    let r = s
        .post(
            "/api/2/listenevents/",
            Some(&t),
            json!({"starttime": "2026-11-22T02:34:10.005Z", "session": 1, "asset": 2}),
        )
        .await;
    let e = r.ok().clone();
    assert_eq!(
        e,
        json!({"id": e["id"], "duration_in_seconds": null, "start_time": "2026-11-22T02:34:10.005000",
               "session_id": 1, "asset_id": 2, "project_id": 1})
    );
    let id = e["id"].as_i64().unwrap();
    let r = s
        .patch(
            &format!("/api/2/listenevents/{id}"),
            Some(&t),
            json!({"duration_in_seconds": 2.5}),
        )
        .await;
    assert_eq!(r.ok()["duration_in_seconds"].as_f64(), Some(2.5));
    assert_eq!(r.body["start_time"], "2026-11-22T02:34:10.005000");
    assert_eq!(
        s.scalar(&format!(
            "SELECT duration FROM listen_events WHERE id = {id}"
        ))
        .await,
        2_500_000_000
    );
    // The admin names, a naive time and a duration on create (by session 2's own visitor).
    let (_, t) = s.device_token("fixture-device-es").await;
    let r = s
        .post(
            "/api/2/listenevents/",
            Some(&t),
            json!({"start_time": "2026-11-22T03:00:00", "session_id": 2, "asset_id": 3, "duration_in_seconds": "1.234"}),
        )
        .await;
    assert_eq!(r.ok()["duration_in_seconds"].as_f64(), Some(1.23));
    assert_eq!(r.body["session_id"], 2);
    let id2 = r.body["id"].as_i64().unwrap();
    let r = s
        .patch(
            &format!("/api/2/listenevents/{id2}/"),
            Some(&t),
            json!({"duration_in_seconds": null, "asset": 1}),
        )
        .await;
    assert_eq!(r.ok()["duration_in_seconds"], Value::Null);
    assert_eq!(r.body["asset_id"], 1);
    let r = s
        .get(&format!("/api/2/listenevents/{id2}/"), Some(&t))
        .await;
    assert_eq!(r.ok()["asset_id"], 1);
    let r = s
        .client
        .delete(s.url(&format!("/api/2/listenevents/{id2}")))
        .header("Authorization", format!("token {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(
        s.get(&format!("/api/2/listenevents/{id2}/"), Some(&t))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_listen_events_are_400_naming_the_field_and_write_nothing() {
    let (s, t) = server().await;
    let r = s.post("/api/2/listenevents/", Some(&t), json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for field in ["session", "asset", "starttime"] {
        assert!(r.body.get(field).is_some(), "{}", r.body);
    }
    for (body, field) in [
        (
            json!({"starttime": "soon", "session": 1, "asset": 1}),
            "starttime",
        ),
        (
            json!({"starttime": "2026-01-01", "session": 999, "asset": 1}),
            "session",
        ),
        (
            json!({"starttime": "2026-01-01", "session": 1, "asset": 999}),
            "asset",
        ),
        (
            json!({"starttime": "2026-01-01", "session": "x", "asset": 1}),
            "session",
        ),
        (
            json!({"starttime": "2026-01-01", "session": 1, "asset": 1, "duration_in_seconds": "long"}),
            "duration_in_seconds",
        ),
    ] {
        let r = s.post("/api/2/listenevents/", Some(&t), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(r.body.get(field).is_some(), "{body}: {}", r.body);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM listen_events").await, 2);
    let r = s
        .patch("/api/2/listenevents/1/", Some(&t), json!({"asset": 999}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s
        .patch(
            "/api/2/listenevents/999/",
            Some(&t),
            json!({"duration_in_seconds": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.scalar("SELECT asset_id FROM listen_events WHERE id = 1")
            .await,
        1
    );
}

#[tokio::test]
async fn listen_event_filters_pages_and_count() {
    // Staff see every session's listen events; a visitor only their own (checked at the end).
    let (s, own) = server().await;
    let t = s.staff_token().await;
    s.sql(
        "INSERT INTO projects (id, name, latitude, longitude, pub_date) VALUES (2, 'Dos', 0, 0, '2020-01-01T00:00:00.000000');
         INSERT INTO sessions (id, device_id, starttime, project_id) VALUES (9, 'p2', '2020-01-01T00:00:00.000000', 2);",
    )
    .await;
    let now = s
        .post(
            "/api/2/listenevents/",
            Some(&t),
            json!({"starttime": chrono_now(), "session": 9, "asset": 3, "duration_in_seconds": 6}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(now, 3);
    // Fixture: 1 = (s1, a1, 2020-01-01T00:00, 2 s), 2 = (s1, a2, 2020-01-01T00:01, 4 s).
    let cases: &[(&str, &[i64])] = &[
        ("", &[1, 2, 3]),
        ("duration__gte=3000000000", &[2, 3]),
        ("duration__lte=2000000000", &[1]),
        ("duration=4000000000", &[2]),
        ("start_time__gte=2020-01-01T00:00:30Z", &[2, 3]),
        ("start_time__lte=2020-01-01T00:00:30", &[1]),
        ("starttime=2020-01-01T00:01:00", &[2]),
        ("start_time__range=today", &[3]),
        ("start_time__range=week", &[3]),
        ("start_time__range=month", &[3]),
        ("start_time__range=year", &[3]),
        ("start_time__range=yesterday", &[]),
        ("start_time__range=", &[1, 2, 3]),
        ("project_id=2", &[3]),
        ("project_id=1", &[1, 2]),
        ("session_id=1", &[1, 2]),
        ("session=9", &[3]),
        ("asset_id=2", &[2]),
        ("asset=1", &[1]),
    ];
    for (query, want) in cases {
        assert_eq!(
            list_ids(&s, &format!("/api/2/listenevents/?{query}"), &t).await,
            want.to_vec(),
            "{query}"
        );
    }
    let r = s.get("/api/2/listenevents/1/", Some(&t)).await;
    assert_eq!(r.ok()["duration_in_seconds"].as_f64(), Some(2.0));
    let r = s
        .get("/api/2/listenevents/?paginate=true&page_size=2", Some(&t))
        .await;
    assert_eq!(r.ok()["count"], 3);
    assert_eq!(ids(&r.body["results"]), vec![1, 2]);
    assert!(
        r.body["next"]
            .as_str()
            .unwrap()
            .ends_with("page=2&page_size=2&paginate=true")
    );
    let r = s
        .get(
            "/api/2/listenevents/?paginate=true&page=2&page_size=2",
            Some(&t),
        )
        .await;
    assert_eq!(ids(&r.ok()["results"]), vec![3]);
    let r = s
        .get(
            "/api/2/listenevents/?paginate=true&page=3&page_size=2",
            Some(&t),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s
        .get("/api/2/listenevents/count/?project_id=1", Some(&t))
        .await;
    assert_eq!(r.ok(), &json!({"count": 2}));
    for (query, param) in [
        ("start_time__range=fortnight", "start_time__range"),
        ("duration__gte=long", "duration__gte"),
        ("start_time__gte=later", "start_time__gte"),
        ("project_id=x", "project_id"),
        ("paginate=maybe", "paginate"),
    ] {
        assert_400_naming(&s, &format!("/api/2/listenevents/?{query}"), &t, param).await;
    }
    assert_eq!(list_ids(&s, "/api/2/listenevents/", &own).await, vec![1, 2]);
    assert_eq!(
        s.get("/api/2/listenevents/3/", Some(&own)).await.status,
        StatusCode::FORBIDDEN
    );
    // The count stays public (clients show how often something was heard).
    let r = s.get("/api/2/listenevents/count/", Some(&own)).await;
    assert_eq!(r.ok(), &json!({"count": 3}));
}

/// The current UTC time in the web client's form (`…Z` with milliseconds).
fn chrono_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[tokio::test]
async fn asset_lists_are_served_gzipped_to_clients_that_accept_it() {
    use std::io::Read;
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("gzip-phone").await;
    for path in [
        "/api/2/assets/?project_id=1&submitted=true",
        "/api/2/projects/1/assets/",
    ] {
        let plain = s.get(path, Some(&token)).await;
        let plain_json = plain.ok().clone();
        let resp = s
            .client
            .get(s.url(path))
            .header("Authorization", format!("token {token}"))
            .header("Accept-Encoding", "gzip, deflate")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        assert_eq!(resp.headers()["vary"], "accept-encoding");
        let bytes = resp.bytes().await.unwrap();
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut inflated)
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&inflated).unwrap();
        assert_eq!(json, plain_json, "{path}");
        assert!(plain.headers.get("content-encoding").is_none());
    }
}
