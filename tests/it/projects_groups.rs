//! projects/ (the project sub-routes are tested with their resources).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn a_project_is_localized_for_the_session_and_hides_its_loc_fields() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("proj").await;
    let en = s.get("/api/2/projects/1/?session_id=1", Some(&token)).await;
    let b = en.ok();
    assert_eq!(b["id"], 1);
    assert!(b.get("out_of_range_message").is_some());
    assert!(b.get("out_of_range_message_loc").is_none());
    assert_eq!(b["demo_stream_message"], "One");
    assert_eq!(b["language_ids"], json!([1, 2]));
    let es = s.get("/api/2/projects/1/?session_id=2", Some(&token)).await;
    assert_eq!(es.ok()["demo_stream_message"], "Uno");
}

#[tokio::test]
async fn a_project_without_session_id_is_english_and_an_unknown_session_is_404() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("proj2").await;
    let r = s.get("/api/2/projects/1/", Some(&token)).await;
    assert_eq!(r.ok()["demo_stream_message"], "One");
    assert_eq!(
        s.get("/api/2/projects/1/?session_id=999", Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/2/projects/77/", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn localized_text_falls_back_to_english_then_any_language() {
    let s = TestServer::with_reference_fixture().await;
    s.sql(
        "INSERT INTO languages (id, name, language_code) VALUES (3, 'Deutsch', 'de');
         INSERT INTO localized_strings (id, localized_string, language_id) VALUES (10, 'Nur Spanisch', 2);
         INSERT INTO loc_links VALUES ('project', 1, 'legal_agreement', 0, 10);
         INSERT INTO sessions (id, starttime, project_id, language_id) VALUES (3, '2020-01-01T00:00:00', 1, 3);",
    )
    .await;
    let (_, token) = s.device_token("proj3").await;
    let de = s.get("/api/2/projects/1/?session_id=3", Some(&token)).await;
    let b = de.ok();
    assert_eq!(
        b["demo_stream_message"], "One",
        "German falls back to English"
    );
    assert_eq!(b["legal_agreement"], "Nur Spanisch", "then to any language");
    assert!(b["sharing_message"].is_null(), "null only without strings");
}

#[tokio::test]
async fn the_fields_clients_decode_strictly_are_present_and_typed() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("ios").await;
    let r = s.get("/api/2/projects/1/?session_id=1", Some(&token)).await;
    let b = r.ok();
    assert!(b["id"].is_i64() && b["name"].is_string() && b["recording_radius"].is_number());
    assert!(b["out_of_range_url"].is_string() && b["out_of_range_distance"].is_number());
    for k in ["geo_listen_enabled", "listen_enabled", "speak_enabled"] {
        assert!(b[k].is_boolean(), "{k}");
    }
    for k in ["repeat_mode", "ordering"] {
        assert!(b[k].is_string(), "{k}");
    }
    assert!(
        b["latitude"].is_number()
            && b["longitude"].is_number()
            && b["max_recording_length"].is_i64()
    );
}

#[tokio::test]
async fn admin_adds_the_string_lists() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("admin").await;
    let r = s.get("/api/2/projects/1/?admin=0", Some(&token)).await;
    let list = r.ok()["demo_stream_message_loc_admin"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[1],
        json!({"id": 2, "language": "es", "text": "Uno", "language_id": 2})
    );
}

#[tokio::test]
async fn staff_create_patch_and_delete_projects_and_others_cannot() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("nonstaff").await;
    let staff = s.staff_token().await;
    let body = json!({"name": "Gallery \"B\" 🎨'; DROP TABLE projects;--", "latitude": 52.5, "longitude": 13.4,
                      "language_ids": [1, 2], "out_of_range_message_loc": [1], "ordering": "by_weight"});
    assert_eq!(
        s.post("/api/2/projects/", None, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.post("/api/2/projects/", Some(&token), body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let created = s.post("/api/2/projects/", Some(&staff), body).await;
    let p = created.ok().clone();
    assert_eq!(p["name"], "Gallery \"B\" 🎨'; DROP TABLE projects;--");
    assert_eq!(p["out_of_range_message"], "One");
    assert_eq!(p["ordering"], "by_weight");
    assert_eq!(p["repeat_mode"], "stop");
    let id = p["id"].as_i64().unwrap();
    let patched = s
        .patch(
            &format!("/api/2/projects/{id}"),
            Some(&staff),
            json!({"recording_radius": null, "auto_submit": "true"}),
        )
        .await;
    assert!(patched.ok()["recording_radius"].is_null());
    assert_eq!(patched.body["auto_submit"], true);
    assert_eq!(
        s.patch(
            &format!("/api/2/projects/{id}/"),
            Some(&token),
            json!({"name": "x"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.delete(&format!("/api/2/projects/{id}/"), Some(&token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let del = s
        .delete(&format!("/api/2/projects/{id}/"), Some(&staff))
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&format!("/api/2/projects/{id}/"), Some(&staff))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deleting_a_project_keeps_its_assets_and_tags_without_a_project() {
    let s = TestServer::with_reference_fixture().await;
    let staff = s.staff_token().await;
    assert_eq!(
        s.delete("/api/2/projects/1/", Some(&staff)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.scalar("SELECT count(*) FROM assets WHERE project_id IS NULL")
            .await,
        2
    );
    assert_eq!(
        s.scalar("SELECT count(*) FROM tags WHERE project_id IS NULL")
            .await,
        3
    );
    assert_eq!(s.scalar("SELECT count(*) FROM sessions").await, 0);
    assert_eq!(s.scalar("SELECT count(*) FROM speakers").await, 0);
    assert_eq!(
        s.scalar("SELECT count(*) FROM loc_links WHERE owner = 'project'")
            .await,
        0
    );
}

#[tokio::test]
async fn bad_project_input_is_refused_field_by_field_and_nothing_is_written() {
    let s = TestServer::with_reference_fixture().await;
    let staff = s.staff_token().await;
    let cases = [
        (json!({"latitude": 1, "longitude": 2}), "name"),
        (
            json!({"name": "x", "latitude": 100, "longitude": 2}),
            "latitude",
        ),
        (
            json!({"name": "x", "latitude": "north", "longitude": 2}),
            "latitude",
        ),
        (
            json!({"name": "x", "latitude": 1, "longitude": 2, "ordering": "alphabetical"}),
            "ordering",
        ),
        (
            json!({"name": "x", "latitude": 1, "longitude": 2, "language_ids": []}),
            "language_ids",
        ),
        (
            json!({"name": "x", "latitude": 1, "longitude": 2, "language_ids": [99]}),
            "language_ids",
        ),
        (
            json!({"name": "x", "latitude": 1, "longitude": 2, "sharing_message_loc": [999]}),
            "sharing_message_loc",
        ),
        (
            json!({"name": "x", "latitude": 1, "longitude": 2, "pub_date": "soon"}),
            "pub_date",
        ),
        (
            json!({"name": "x".repeat(51), "latitude": 1, "longitude": 2}),
            "name",
        ),
        (
            json!({"name": "x", "latitude": 1, "longitude": 2, "audio_stream_bitrate": "100"}),
            "audio_stream_bitrate",
        ),
    ];
    for (body, field) in cases {
        let r = s.post("/api/2/projects/", Some(&staff), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.body.get(field).is_some(), "{body} -> {}", r.body);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM projects").await, 1);
    let r = s
        .patch("/api/2/projects/1/", Some(&staff), json!({"name": ""}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        s.scalar("SELECT count(*) FROM projects WHERE name = 'Uno'")
            .await,
        1
    );
}

#[tokio::test]
async fn projects_list_filters_by_flags_and_name() {
    let s = TestServer::with_reference_fixture().await;
    let (_, token) = s.device_token("plist").await;
    assert_eq!(
        s.get("/api/2/projects/?name=un", Some(&token))
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.get("/api/2/projects/?geo_listen_enabled=false", Some(&token))
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.get("/api/2/projects/?languages=2", Some(&token))
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.get("/api/2/projects/?listen_enabled=perhaps", Some(&token))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_new_project_gets_a_recording_radius_because_ios_requires_one() {
    let s = TestServer::start().await;
    let staff = s.staff_token().await;
    let p = s
        .post(
            "/api/2/projects/",
            Some(&staff),
            json!({"name": "Plain", "latitude": 1, "longitude": 2}),
        )
        .await;
    assert_eq!(p.ok()["recording_radius"], 10);
}

#[tokio::test]
async fn audiotrack_timings_and_volumes_are_bounded_so_clients_never_get_null() {
    let s = TestServer::with_reference_fixture().await;
    let staff = s.staff_token().await;
    for (body, field) in [
        (json!({"maxduration": 1e300}), "maxduration"),
        (json!({"maxvolume": 9.2e18}), "maxvolume"),
        (json!({"banned_duration": 99999999}), "banned_duration"),
    ] {
        let r = s
            .patch("/api/2/audiotracks/1/", Some(&staff), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.body.get(field).is_some(), "{}", r.body);
    }
    let r = s.get("/api/2/audiotracks/1/", Some(&staff)).await;
    assert!(r.ok()["maxduration"].is_number());
}

#[tokio::test]
async fn ids_of_deleted_rows_are_never_handed_out_again() {
    let s = TestServer::with_reference_fixture().await;
    let staff = s.staff_token().await;
    let p = s
        .post(
            "/api/2/projects/",
            Some(&staff),
            json!({"name": "Temp", "latitude": 1, "longitude": 2}),
        )
        .await;
    let pid = p.ok()["id"].as_i64().unwrap();
    let (_, token) = s.device_token("reuse").await;
    let first = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": pid}))
        .await;
    let old = first.ok()["id"].as_i64().unwrap();
    assert_eq!(
        s.delete(&format!("/api/2/projects/{pid}/"), Some(&staff))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let next = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": 1}))
        .await;
    assert!(
        next.ok()["id"].as_i64().unwrap() > old,
        "a deleted session id was reused"
    );
    let again = s
        .post(
            "/api/2/projects/",
            Some(&staff),
            json!({"name": "Temp2", "latitude": 1, "longitude": 2}),
        )
        .await;
    assert!(again.ok()["id"].as_i64().unwrap() > pid);
}
