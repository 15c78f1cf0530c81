//! tags/, tagcategories/, tagrelationships/, languages/, localizedstrings/, uigroups/,
//! uiitems/, uielements/, uielementnames/ and the project sub-routes tags/, uigroups/,
//! uiconfig/ and uielements/.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestServer;

/// The reference fixture, a staff token and a plain device token.
async fn setup() -> (TestServer, String, String) {
    let s = TestServer::with_reference_fixture().await;
    let staff = s.staff_token().await;
    let (_, token) = s.device_token("tags-ui-device").await;
    (s, staff, token)
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

fn assert_400_naming(r: &crate::support::Reply, field: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "body: {}", r.body);
    assert!(
        r.body.get(field).is_some(),
        "{field} not named in {}",
        r.body
    );
}

const QUIRKY: &str = "It's \"quoted\"; DROP TABLE tags; -- 🎧 ünï";

// ---------------------------------------------------------------------------------------
// projects/:id/tags/ and tag localization

#[tokio::test]
async fn project_tags_is_a_bare_array_of_that_projects_tags_only() {
    let (s, _, token) = setup().await;
    // reference-server §8.2 check 5
    let r = s.get("/api/2/projects/1/tags/", Some(&token)).await;
    let body = r.ok();
    let tags = body.as_array().expect("bare array");
    assert_eq!(tags.len(), 2, "tag3 has no project: {body}");
    assert_eq!(tags[0]["project_id"], 1);
    assert_eq!(ids(body), vec![1, 2]);
    for t in tags {
        // iOS decodes {id: Int, filter: String} with try!
        assert!(t["filter"].is_string(), "filter must be a string: {t}");
        for k in [
            "id",
            "value",
            "description",
            "data",
            "filter",
            "location",
            "project_id",
            "tag_category_id",
            "description_loc",
            "msg_loc",
            "relationships",
        ] {
            assert!(t.get(k).is_some(), "missing {k} in {t}");
        }
        assert!(t.get("loc_msg_admin").is_none());
    }
    assert_eq!(tags[0]["msg_loc"], "One");
    // §8.2 check 10: not without credentials
    assert_eq!(
        s.get("/api/2/projects/1/tags/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // no trailing slash, Spanish session, admin lists
    let es = s
        .get("/api/2/projects/1/tags?session_id=2&admin", Some(&token))
        .await;
    let es = es.ok();
    assert_eq!(es[0]["msg_loc"], "Uno");
    assert_eq!(es[0]["description_loc"], "Uno");
    let admin = es[0]["loc_msg_admin"].as_array().unwrap();
    assert_eq!(admin.len(), 2);
    assert_eq!(
        admin[1],
        json!({"id": 2, "language": "es", "text": "Uno", "language_id": 2})
    );
    assert_eq!(es[0]["loc_description_admin"].as_array().unwrap().len(), 2);
    // other filters are not applied here
    let r = s
        .get("/api/2/projects/1/tags/?description=nothing", Some(&token))
        .await;
    assert_eq!(r.ok().as_array().unwrap().len(), 2);
    // unknown session and unknown project are 404 here
    assert_eq!(
        s.get("/api/2/projects/1/tags/?session_id=999", Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/2/projects/77/tags/", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tags_resolve_msg_and_description_in_the_sessions_language() {
    let (s, _, token) = setup().await;
    let en = s.get("/api/2/tags/1/?session_id=1", Some(&token)).await;
    assert_eq!(en.ok()["msg_loc"], "One");
    assert_eq!(en.ok()["description_loc"], "One");
    let es = s.get("/api/2/tags/1/?session_id=2", Some(&token)).await;
    assert_eq!(es.ok()["msg_loc"], "Uno");
    let none = s.get("/api/2/tags/1/", Some(&token)).await;
    assert_eq!(none.ok()["msg_loc"], "One");
    assert_eq!(none.ok()["value"], "male");
    let list = s.get("/api/2/tags/?session_id=2", Some(&token)).await;
    let list = list.ok();
    assert_eq!(ids(list), vec![1, 2, 3]);
    assert_eq!(list[0]["msg_loc"], "Uno");
    assert_eq!(list[1]["msg_loc"], Value::Null);
    assert_eq!(list[2]["project_id"], Value::Null);
    // unknown session → 400 Session not found; a non-number names the parameter
    let r = s.get("/api/2/tags/?session_id=999", Some(&token)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"detail": "Session not found"}));
    let r = s.get("/api/2/tags/1/?session_id=999", Some(&token)).await;
    assert_eq!(r.body, json!({"detail": "Session not found"}));
    assert_400_naming(
        &s.get("/api/2/tags/?session_id=abc", Some(&token)).await,
        "session_id",
    );
}

#[tokio::test]
async fn localized_text_falls_back_to_english_then_to_any_language() {
    let (s, staff, token) = setup().await;
    // a French session: no French strings anywhere → English
    s.sql(
        "INSERT INTO languages (id, name, language_code) VALUES (3, 'Français', 'fr');
         INSERT INTO sessions (id, starttime, project_id, language_id) VALUES (3, '2020-01-01T00:00:00', 1, 3);",
    )
    .await;
    let fr = s.get("/api/2/tags/1/?session_id=3", Some(&token)).await;
    assert_eq!(fr.ok()["msg_loc"], "One");
    // a tag with only a Spanish string reads Spanish in an English session and without one
    let t = s
        .post(
            "/api/2/tags/",
            Some(&staff),
            json!({"value": "only-es", "msg_loc_ids": [2]}),
        )
        .await;
    let id = t.ok()["id"].as_i64().unwrap();
    assert_eq!(t.ok()["msg_loc"], "Uno");
    let en = s
        .get(&format!("/api/2/tags/{id}/?session_id=1"), Some(&token))
        .await;
    assert_eq!(en.ok()["msg_loc"], "Uno");
    // no strings at all → null
    assert_eq!(en.ok()["description_loc"], Value::Null);
    // the same rule in uiconfig and uigroups
    s.sql(&format!(
        "INSERT INTO ui_items (id, ui_group_id, idx, tag_id, is_default, active) VALUES (20, 3, 9, {id}, 0, 1);
         INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES ('uigroup', 1, 'header_text', 0, 1);"
    ))
    .await;
    let cfg = s
        .get("/api/2/projects/1/uiconfig/?session_id=3", Some(&token))
        .await;
    let cfg = cfg.ok();
    assert_eq!(cfg["listen"][0]["header_display_text"], "One");
    assert_eq!(
        cfg["listen"][0]["display_items"][0]["tag_display_text"],
        "One"
    );
    let speak_items = cfg["speak"][0]["display_items"].as_array().unwrap();
    assert_eq!(speak_items.last().unwrap()["tag_display_text"], "Uno");
}

// ---------------------------------------------------------------------------------------
// tags/

#[tokio::test]
async fn tag_list_filters_by_description_data_and_project() {
    let (s, _, token) = setup().await;
    let get = |q: &'static str| {
        let s = &s;
        let token = token.clone();
        async move { s.get(&format!("/api/2/tags/{q}"), Some(&token)).await }
    };
    assert_eq!(ids(get("?description=ONE").await.ok()), vec![1]);
    assert_eq!(ids(get("?data=d2").await.ok()), vec![2]);
    assert_eq!(ids(get("?project_id=1").await.ok()), vec![1, 2]);
    assert_eq!(ids(get("?project_id=1&data=d1&").await.ok()), vec![1]);
    assert_eq!(ids(get("?description=%25").await.ok()), Vec::<i64>::new());
    assert_eq!(ids(get("?unknown=1").await.ok()), vec![1, 2, 3]);
    assert_400_naming(&get("?project_id=abc").await, "project_id");
}

#[tokio::test]
async fn staff_create_patch_and_delete_a_tag_with_every_field() {
    let (s, staff, token) = setup().await;
    let square = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [0.01, 0.0], [0.01, 0.01], [0.0, 0.01]]]});
    let r = s
        .post(
            "/api/2/tags/",
            Some(&staff),
            json!({
                "value": QUIRKY,
                "description": "d",
                "data": "{\"k\": 1}",
                "filter": "_within_10km",
                "location": square,
                "project_id": 1,
                "tag_category_id": "2",
                "description_loc_ids": "1,2",
                "msg_loc_ids": [2, 1],
            }),
        )
        .await;
    let t = r.ok().clone();
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["value"], QUIRKY);
    assert_eq!(t["filter"], "_within_10km");
    assert_eq!(t["location"]["type"], "MultiPolygon");
    assert_eq!(t["project_id"], 1);
    assert_eq!(t["tag_category_id"], 2);
    // answers in English; the first English string of the field
    assert_eq!(t["msg_loc"], "One");
    assert_eq!(t["relationships"], json!([]));
    let got = s
        .get(&format!("/api/2/tags/{id}/?admin=0"), Some(&token))
        .await;
    let got = got.ok();
    assert_eq!(got["value"], QUIRKY);
    assert_eq!(
        got["loc_msg_admin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 1],
        "attachment order kept"
    );
    // PATCH: clear nullable fields, detach from the project, clear the strings
    let r = s
        .patch(
            &format!("/api/2/tags/{id}"),
            Some(&staff),
            json!({"description": null, "filter": "", "project_id": null, "location": null, "msg_loc_ids": []}),
        )
        .await;
    let p = r.ok();
    assert_eq!(p["description"], Value::Null);
    assert_eq!(p["filter"], "");
    assert_eq!(p["project_id"], Value::Null);
    assert_eq!(p["location"], Value::Null);
    assert_eq!(p["msg_loc"], Value::Null);
    assert_eq!(p["value"], QUIRKY, "untouched fields stay");
    assert_eq!(p["tag_category_id"], 2);
    // multipart and urlencoded bodies work too
    let r = s
        .multipart(
            Method::PATCH,
            &format!("/api/2/tags/{id}/"),
            Some(&staff),
            &[("value", "multi"), ("project_id", "1")],
        )
        .await;
    assert_eq!(r.ok()["value"], "multi");
    assert_eq!(r.ok()["project_id"], 1);
    let r = s
        .form(
            Method::POST,
            "/api/2/tags/",
            Some(&staff),
            &[("value", "formed"), ("tag_category", "3")],
        )
        .await;
    assert_eq!(r.ok()["tag_category_id"], 3);
    assert_eq!(r.ok()["filter"], "");
    // DELETE: 204, empty body; then 404
    s.sql(&format!(
        "INSERT INTO asset_tags VALUES (1, {id}); INSERT INTO ui_items (ui_group_id, idx, tag_id) VALUES (1, 5, {id});"
    ))
    .await;
    let d = s.delete(&format!("/api/2/tags/{id}/"), Some(&staff)).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(d.body, Value::Null);
    assert_eq!(
        s.get(&format!("/api/2/tags/{id}/"), Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.delete(&format!("/api/2/tags/{id}/"), Some(&staff))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.scalar(&format!(
            "SELECT (SELECT count(*) FROM asset_tags WHERE tag_id = {id}) + (SELECT count(*) FROM ui_items WHERE tag_id = {id}) + (SELECT count(*) FROM loc_links WHERE owner = 'tag' AND owner_id = {id})"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn bad_tag_inputs_are_400s_naming_the_field_and_write_nothing() {
    let (s, staff, _) = setup().await;
    let before = s.scalar("SELECT count(*) FROM tags").await;
    let links = s.scalar("SELECT count(*) FROM loc_links").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "value"),
        (json!({"value": "  "}), "value"),
        (json!({"value": {"a": 1}}), "value"),
        (json!({"value": "x", "filter": "_bogus"}), "filter"),
        (json!({"value": "x", "project_id": 999}), "project_id"),
        (json!({"value": "x", "project_id": "abc"}), "project_id"),
        (
            json!({"value": "x", "tag_category_id": 999}),
            "tag_category_id",
        ),
        (
            json!({"value": "x", "msg_loc_ids": [1, 999]}),
            "msg_loc_ids",
        ),
        (
            json!({"value": "x", "description_loc_ids": "1,x"}),
            "description_loc_ids",
        ),
        (json!({"value": "x", "location": "not a shape"}), "location"),
        (json!({"value": "x", "description": [1]}), "description"),
    ];
    for (body, field) in cases {
        let r = s.post("/api/2/tags/", Some(&staff), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body} → {}", r.body);
        assert!(
            r.body.get(field).is_some(),
            "{body}: {field} not in {}",
            r.body
        );
    }
    for (body, field) in [
        (json!({"value": ""}), "value"),
        (json!({"value": null}), "value"),
        (json!({"project_id": 999}), "project_id"),
        (json!({"msg_loc_ids": [999]}), "msg_loc_ids"),
        (json!({"filter": 5}), "filter"),
    ] {
        let r = s.patch("/api/2/tags/1/", Some(&staff), body.clone()).await;
        assert_400_naming(&r, field);
    }
    let r = s
        .raw(
            Method::POST,
            "/api/2/tags/",
            Some(&staff),
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        s.patch("/api/2/tags/999/", Some(&staff), json!({"value": "x"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/2/tags/abc/", Some(&staff)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.scalar("SELECT count(*) FROM tags").await, before);
    assert_eq!(s.scalar("SELECT count(*) FROM loc_links").await, links);
    let t1 = s.get("/api/2/tags/1/", Some(&staff)).await;
    assert_eq!(t1.ok()["value"], "male");
    assert_eq!(t1.ok()["project_id"], 1);
    assert_eq!(t1.ok()["msg_loc"], "One");
}

// ---------------------------------------------------------------------------------------
// tagcategories/ and tagrelationships/

#[tokio::test]
async fn tag_categories_list_filter_create_patch_and_delete() {
    let (s, staff, token) = setup().await;
    let all = s.get("/api/2/tagcategories/", Some(&token)).await;
    assert_eq!(
        all.ok()[0],
        json!({"id": 1, "name": "gender", "data": null})
    );
    assert_eq!(ids(all.ok()), vec![1, 2, 3]);
    let f = s.get("/api/2/tagcategories/?name=GEN", Some(&token)).await;
    assert_eq!(ids(f.ok()), vec![1]);
    let c = s
        .post(
            "/api/2/tagcategories/",
            Some(&staff),
            json!({"name": QUIRKY, "data": "x"}),
        )
        .await;
    let id = c.ok()["id"].as_i64().unwrap();
    assert_eq!(c.ok()["name"], QUIRKY);
    let g = s
        .get(&format!("/api/2/tagcategories/{id}"), Some(&token))
        .await;
    assert_eq!(g.ok()["data"], "x");
    let p = s
        .patch(
            &format!("/api/2/tagcategories/{id}/"),
            Some(&staff),
            json!({"data": null}),
        )
        .await;
    assert_eq!(p.ok()["data"], Value::Null);
    assert_eq!(p.ok()["name"], QUIRKY);
    assert_400_naming(
        &s.post("/api/2/tagcategories/", Some(&staff), json!({"data": "x"}))
            .await,
        "name",
    );
    assert_400_naming(
        &s.post(
            "/api/2/tagcategories/",
            Some(&staff),
            json!({"name": "x".repeat(51)}),
        )
        .await,
        "name",
    );
    assert_eq!(s.scalar("SELECT count(*) FROM tag_categories").await, 4);
    // deleting a category: its UI groups go, its tags stay without a category
    let d = s.delete("/api/2/tagcategories/3/", Some(&staff)).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.scalar("SELECT count(*) FROM ui_groups WHERE id = 5")
            .await,
        0
    );
    let t3 = s.get("/api/2/tags/3/", Some(&token)).await;
    assert_eq!(t3.ok()["tag_category_id"], Value::Null);
    assert_eq!(
        s.get("/api/2/tagcategories/3/", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tag_relationships_crud_filters_and_no_cycles() {
    let (s, staff, token) = setup().await;
    let a = s
        .post(
            "/api/2/tagrelationships/",
            Some(&staff),
            json!({"tag_id": 1}),
        )
        .await;
    let a_id = a.ok()["id"].as_i64().unwrap();
    assert_eq!(a.ok()["parent_id"], Value::Null);
    let b = s
        .post(
            "/api/2/tagrelationships/",
            Some(&staff),
            json!({"tag_id": "2", "parent_id": a_id}),
        )
        .await;
    let b_id = b.ok()["id"].as_i64().unwrap();
    assert_eq!(
        b.ok().clone(),
        json!({"id": b_id, "tag_id": 2, "parent_id": a_id})
    );
    let f = s
        .get(
            &format!("/api/2/tagrelationships/?parent_id={a_id}"),
            Some(&token),
        )
        .await;
    assert_eq!(ids(f.ok()), vec![b_id]);
    let f = s
        .get("/api/2/tagrelationships/?tag_id=1", Some(&token))
        .await;
    assert_eq!(ids(f.ok()), vec![a_id]);
    assert_400_naming(
        &s.get("/api/2/tagrelationships/?tag_id=x", Some(&token))
            .await,
        "tag_id",
    );
    // a tag shows its relationships
    let t2 = s.get("/api/2/tags/2/", Some(&token)).await;
    assert_eq!(
        t2.ok()["relationships"],
        json!([{"id": b_id, "tag_id": 2, "parent_id": a_id}])
    );
    // unknown ids and cycles are refused
    assert_400_naming(
        &s.post(
            "/api/2/tagrelationships/",
            Some(&staff),
            json!({"tag_id": 999}),
        )
        .await,
        "tag_id",
    );
    assert_400_naming(
        &s.post("/api/2/tagrelationships/", Some(&staff), json!({}))
            .await,
        "tag_id",
    );
    assert_400_naming(
        &s.post(
            "/api/2/tagrelationships/",
            Some(&staff),
            json!({"tag_id": 1, "parent_id": 999}),
        )
        .await,
        "parent_id",
    );
    assert_400_naming(
        &s.patch(
            &format!("/api/2/tagrelationships/{a_id}/"),
            Some(&staff),
            json!({"parent_id": b_id}),
        )
        .await,
        "parent_id",
    );
    assert_400_naming(
        &s.patch(
            &format!("/api/2/tagrelationships/{a_id}/"),
            Some(&staff),
            json!({"parent_id": a_id}),
        )
        .await,
        "parent_id",
    );
    let p = s
        .patch(
            &format!("/api/2/tagrelationships/{b_id}/"),
            Some(&staff),
            json!({"parent_id": null, "tag_id": 3}),
        )
        .await;
    assert_eq!(p.ok()["parent_id"], Value::Null);
    assert_eq!(p.ok()["tag_id"], 3);
    let g = s
        .get(&format!("/api/2/tagrelationships/{b_id}"), Some(&token))
        .await;
    assert_eq!(g.ok()["tag_id"], 3);
    let d = s
        .delete(&format!("/api/2/tagrelationships/{a_id}/"), Some(&staff))
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(s.scalar("SELECT count(*) FROM tag_relationships").await, 1);
}

// ---------------------------------------------------------------------------------------
// languages/ and localizedstrings/

#[tokio::test]
async fn languages_list_filter_and_create_with_two_letter_unused_codes() {
    let (s, staff, token) = setup().await;
    let all = s.get("/api/2/languages/", Some(&token)).await;
    assert_eq!(
        all.ok().clone(),
        json!([{"id": 1, "name": "English", "language_code": "en"},
               {"id": 2, "name": "Español", "language_code": "es"}])
    );
    assert_eq!(
        ids(s
            .get("/api/2/languages/?language_code=es", Some(&token))
            .await
            .ok()),
        vec![2]
    );
    assert_eq!(
        ids(s.get("/api/2/languages/?name=SPA", Some(&token)).await.ok()),
        vec![2]
    );
    let fr = s
        .post(
            "/api/2/languages/",
            Some(&staff),
            json!({"name": "Français", "language_code": "FR"}),
        )
        .await;
    let fr_id = fr.ok()["id"].as_i64().unwrap();
    assert_eq!(fr.ok()["language_code"], "fr");
    let before = s.scalar("SELECT count(*) FROM languages").await;
    for body in [
        json!({"language_code": "fr"}),
        json!({"language_code": "fra"}),
        json!({"language_code": "f"}),
        json!({"name": "no code"}),
        json!({"language_code": {"code": "de"}}),
        json!({"language_code": "de", "name": "x".repeat(21)}),
    ] {
        let r = s
            .post("/api/2/languages/", Some(&staff), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.body.get("language_code").is_some() || r.body.get("name").is_some(),
            "{}",
            r.body
        );
    }
    assert_eq!(s.scalar("SELECT count(*) FROM languages").await, before);
    // PATCH: keeping the own code is fine, taking another's is not
    let p = s
        .patch(
            &format!("/api/2/languages/{fr_id}/"),
            Some(&staff),
            json!({"language_code": "fr", "name": "French"}),
        )
        .await;
    assert_eq!(p.ok()["name"], "French");
    assert_400_naming(
        &s.patch(
            &format!("/api/2/languages/{fr_id}/"),
            Some(&staff),
            json!({"language_code": "es"}),
        )
        .await,
        "language_code",
    );
    let g = s
        .get(&format!("/api/2/languages/{fr_id}"), Some(&token))
        .await;
    assert_eq!(g.ok()["language_code"], "fr");
}

#[tokio::test]
async fn deleting_a_language_still_in_use_is_refused_and_an_unused_one_goes() {
    let (s, staff, _) = setup().await;
    // Spanish has strings and is offered by project 1
    let r = s.delete("/api/2/languages/2/", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("localized string"), "{detail}");
    assert!(detail.contains("project(s) 1"), "{detail}");
    assert_eq!(s.scalar("SELECT count(*) FROM localized_strings").await, 2);
    // the default language is never deleted (sessions fall back to pk 1)
    let r = s.delete("/api/2/languages/1/", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("default"));
    // an unused language goes; sessions in it lose the language
    s.sql(
        "INSERT INTO languages (id, name, language_code) VALUES (3, 'Deutsch', 'de');
         INSERT INTO sessions (id, starttime, project_id, language_id) VALUES (3, '2020-01-01T00:00:00', 1, 3);",
    )
    .await;
    let r = s.delete("/api/2/languages/3", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.scalar("SELECT count(*) FROM sessions WHERE id = 3 AND language_id IS NULL")
            .await,
        1
    );
    assert_eq!(
        s.delete("/api/2/languages/3/", Some(&staff)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn localized_strings_crud_and_filters() {
    let (s, staff, token) = setup().await;
    let all = s.get("/api/2/localizedstrings/", Some(&token)).await;
    assert_eq!(
        all.ok()[1],
        json!({"id": 2, "language": "es", "text": "Uno", "language_id": 2})
    );
    let q = |q: &str| format!("/api/2/localizedstrings/{q}");
    assert_eq!(
        ids(s.get(&q("?language=es"), Some(&token)).await.ok()),
        vec![2]
    );
    assert_eq!(
        ids(s.get(&q("?language_id=1"), Some(&token)).await.ok()),
        vec![1]
    );
    assert_eq!(
        ids(s.get(&q("?localized_string=ON"), Some(&token)).await.ok()),
        vec![1]
    );
    assert_400_naming(
        &s.get(&q("?language_id=x"), Some(&token)).await,
        "language_id",
    );
    let c = s
        .post(
            &q(""),
            Some(&staff),
            json!({"text": QUIRKY, "language_id": 2}),
        )
        .await;
    let id = c.ok()["id"].as_i64().unwrap();
    assert_eq!(
        c.ok().clone(),
        json!({"id": id, "language": "es", "text": QUIRKY, "language_id": 2})
    );
    // the language may be given by code
    let c2 = s
        .post(
            &q(""),
            Some(&staff),
            json!({"text": "Hello", "language": "en"}),
        )
        .await;
    assert_eq!(c2.ok()["language_id"], 1);
    let before = s.scalar("SELECT count(*) FROM localized_strings").await;
    for (body, field) in [
        (json!({"text": "x", "language_id": 999}), "language_id"),
        (json!({"text": "x"}), "language_id"),
        (json!({"language_id": 1}), "text"),
        (json!({"text": "x", "language": "zz"}), "language"),
        (json!({"text": "x", "language_id": "one"}), "language_id"),
    ] {
        assert_400_naming(&s.post(&q(""), Some(&staff), body).await, field);
    }
    assert_eq!(
        s.scalar("SELECT count(*) FROM localized_strings").await,
        before
    );
    let p = s
        .patch(
            &q(&format!("{id}/")),
            Some(&staff),
            json!({"text": "Dos", "language_id": 2}),
        )
        .await;
    assert_eq!(p.ok()["text"], "Dos");
    assert_400_naming(
        &s.patch(
            &q(&format!("{id}/")),
            Some(&staff),
            json!({"language_id": 999}),
        )
        .await,
        "language_id",
    );
    let g = s.get(&q(&format!("{id}")), Some(&token)).await;
    assert_eq!(g.ok()["text"], "Dos");
    // deleting a string detaches it from every field
    let d = s.delete(&q("2/"), Some(&staff)).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let t1 = s.get("/api/2/tags/1/?session_id=2", Some(&token)).await;
    assert_eq!(t1.ok()["msg_loc"], "One");
    assert_eq!(
        s.scalar("SELECT count(*) FROM loc_links WHERE string_id = 2")
            .await,
        0
    );
}

// ---------------------------------------------------------------------------------------
// uigroups/ and uiitems/

#[tokio::test]
async fn uigroups_are_ordered_by_index_carry_all_items_and_filter() {
    let (s, _, token) = setup().await;
    // an inactive item still shows in ui_items
    s.sql("INSERT INTO ui_items (id, ui_group_id, idx, tag_id, is_default, active) VALUES (3, 1, 0, 2, 0, 0);")
        .await;
    let all = s.get("/api/2/uigroups/", Some(&token)).await;
    let all = all.ok();
    assert_eq!(ids(all), vec![1, 3, 2, 4, 5]);
    let g1 = &all[0];
    for k in [
        "id",
        "name",
        "ui_mode",
        "select",
        "active",
        "index",
        "header_text_loc",
        "tag_category_id",
        "project_id",
        "uiitem_filter",
        "ui_items",
    ] {
        assert!(g1.get(k).is_some(), "missing {k} in {g1}");
    }
    assert_eq!(g1["select"], "multi");
    assert_eq!(g1["uiitem_filter"], "none");
    assert_eq!(
        ids(&g1["ui_items"]),
        vec![3, 1, 2],
        "by index, inactive included"
    );
    assert_eq!(
        g1["ui_items"][1],
        json!({"id": 1, "index": 1, "default": true, "active": true, "ui_group_id": 1, "tag_id": 1, "parent_id": null})
    );
    let f = |q: &str| format!("/api/2/uigroups/{q}");
    assert_eq!(
        ids(s.get(&f("?ui_mode=speak"), Some(&token)).await.ok()),
        vec![3, 4, 5]
    );
    assert_eq!(
        ids(s.get(&f("?name=Gen"), Some(&token)).await.ok()),
        vec![1, 3]
    );
    assert_eq!(
        ids(s.get(&f("?name=gen"), Some(&token)).await.ok()),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(s.get(&f("?select=multi"), Some(&token)).await.ok()),
        vec![1]
    );
    assert_eq!(
        ids(s.get(&f("?index=2"), Some(&token)).await.ok()),
        vec![2, 4]
    );
    assert_eq!(
        ids(s.get(&f("?tag_category_id=3"), Some(&token)).await.ok()),
        vec![5]
    );
    assert_eq!(
        ids(s.get(&f("?active=false"), Some(&token)).await.ok()),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(s.get(&f("?project_id=2"), Some(&token)).await.ok()),
        Vec::<i64>::new()
    );
    for (q, field) in [
        ("?ui_mode=bogus", "ui_mode"),
        ("?select=all", "select"),
        ("?active=maybe", "active"),
        ("?index=first", "index"),
    ] {
        assert_400_naming(&s.get(&f(q), Some(&token)).await, field);
    }
    assert_eq!(
        s.get(&f("?session_id=999"), Some(&token)).await.body,
        json!({"detail": "Session not found"})
    );
}

#[tokio::test]
async fn staff_create_patch_and_delete_a_uigroup() {
    let (s, staff, token) = setup().await;
    let r = s
        .post(
            "/api/2/uigroups/",
            Some(&staff),
            json!({"name": QUIRKY.chars().take(50).collect::<String>(), "ui_mode": "browse", "select": "min_one",
                   "index": "7", "tag_category_id": 1, "project_id": 1, "header_text_loc_ids": [1, 2],
                   "uiitem_filter": "custom"}),
        )
        .await;
    let g = r.ok().clone();
    let id = g["id"].as_i64().unwrap();
    assert_eq!(g["ui_mode"], "browse");
    assert_eq!(g["select"], "min_one");
    assert_eq!(g["index"], 7);
    assert_eq!(g["active"], true, "active defaults to true");
    assert_eq!(g["header_text_loc"], "One");
    assert_eq!(g["uiitem_filter"], "custom");
    assert_eq!(g["ui_items"], json!([]));
    let es = s
        .get(
            &format!("/api/2/uigroups/{id}/?session_id=2&admin"),
            Some(&token),
        )
        .await;
    assert_eq!(es.ok()["header_text_loc"], "Uno");
    assert_eq!(
        es.ok()["header_text_loc_admin"].as_array().unwrap().len(),
        2
    );
    // defaults
    let d = s
        .post(
            "/api/2/uigroups/",
            Some(&staff),
            json!({"name": "Plain", "index": 1, "tag_category": 2, "project": 1}),
        )
        .await;
    assert_eq!(d.ok()["ui_mode"], "listen");
    assert_eq!(d.ok()["select"], "single");
    assert_eq!(d.ok()["uiitem_filter"], "none");
    let before = s.scalar("SELECT count(*) FROM ui_groups").await;
    let base = json!({"name": "G", "index": 1, "tag_category_id": 1, "project_id": 1});
    for (patch, field) in [
        (json!({"ui_mode": "shout"}), "ui_mode"),
        (json!({"select": "some"}), "select"),
        (json!({"index": null}), "index"),
        (json!({"index": "x"}), "index"),
        (json!({"tag_category_id": 999}), "tag_category_id"),
        (json!({"project_id": 999}), "project_id"),
        (json!({"name": ""}), "name"),
        (json!({"active": "sometimes"}), "active"),
        (json!({"header_text_loc_ids": [999]}), "header_text_loc_ids"),
    ] {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = s.post("/api/2/uigroups/", Some(&staff), body).await;
        assert_400_naming(&r, field);
    }
    assert_400_naming(
        &s.post(
            "/api/2/uigroups/",
            Some(&staff),
            json!({"name": "G", "tag_category_id": 1, "project_id": 1}),
        )
        .await,
        "index",
    );
    assert_eq!(s.scalar("SELECT count(*) FROM ui_groups").await, before);
    let p = s
        .patch(
            &format!("/api/2/uigroups/{id}"),
            Some(&staff),
            json!({"select": "single", "active": false, "header_text_loc_ids": ","}),
        )
        .await;
    assert_eq!(p.ok()["select"], "single");
    assert_eq!(p.ok()["active"], false);
    assert_eq!(p.ok()["header_text_loc"], Value::Null);
    assert_eq!(p.ok()["ui_mode"], "browse");
    assert_400_naming(
        &s.patch(
            &format!("/api/2/uigroups/{id}/"),
            Some(&staff),
            json!({"ui_mode": null}),
        )
        .await,
        "ui_mode",
    );
    // deleting a group takes its items
    let d = s.delete("/api/2/uigroups/1/", Some(&staff)).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.scalar("SELECT count(*) FROM ui_items WHERE ui_group_id = 1")
            .await,
        0
    );
    assert_eq!(
        s.get("/api/2/uigroups/1/", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn uiitems_crud_filters_and_no_cycles() {
    let (s, staff, token) = setup().await;
    let f = |q: &str| format!("/api/2/uiitems/{q}");
    assert_eq!(ids(s.get(&f(""), Some(&token)).await.ok()), vec![1, 2]);
    assert_eq!(
        ids(s.get(&f("?default=true"), Some(&token)).await.ok()),
        vec![1]
    );
    assert_eq!(
        ids(s.get(&f("?tag_id=2"), Some(&token)).await.ok()),
        vec![2]
    );
    assert_eq!(
        ids(s.get(&f("?ui_group_id=1&index=2"), Some(&token)).await.ok()),
        vec![2]
    );
    assert_eq!(
        ids(s.get(&f("?project_id=1"), Some(&token)).await.ok()),
        vec![1, 2]
    );
    assert_eq!(
        ids(s.get(&f("?project_id=2"), Some(&token)).await.ok()),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(s.get(&f("?active=0"), Some(&token)).await.ok()),
        Vec::<i64>::new()
    );
    assert_400_naming(
        &s.get(&f("?default=perhaps"), Some(&token)).await,
        "default",
    );
    let c = s
        .post(
            &f(""),
            Some(&staff),
            json!({"ui_group_id": 3, "tag_id": 2, "index": 0, "parent_id": 1}),
        )
        .await;
    let id = c.ok()["id"].as_i64().unwrap();
    assert_eq!(
        c.ok().clone(),
        json!({"id": id, "index": 0, "default": false, "active": false, "ui_group_id": 3, "tag_id": 2, "parent_id": 1})
    );
    assert_eq!(
        ids(s.get(&f("?parent_id=1"), Some(&token)).await.ok()),
        vec![id]
    );
    assert_eq!(
        ids(s.get(&f("?ui_group_id=3"), Some(&token)).await.ok()),
        vec![id]
    );
    let before = s.scalar("SELECT count(*) FROM ui_items").await;
    let base = json!({"ui_group_id": 1, "tag_id": 1, "index": 4});
    for (patch, field) in [
        (json!({"ui_group_id": 999}), "ui_group_id"),
        (json!({"tag_id": 999}), "tag_id"),
        (json!({"tag_id": [1, 2]}), "tag_id"),
        (json!({"parent_id": 999}), "parent_id"),
        (json!({"index": "x"}), "index"),
        (json!({"default": "perhaps"}), "default"),
    ] {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_400_naming(&s.post(&f(""), Some(&staff), body).await, field);
    }
    assert_400_naming(
        &s.post(&f(""), Some(&staff), json!({"ui_group_id": 1, "tag_id": 1}))
            .await,
        "index",
    );
    assert_eq!(s.scalar("SELECT count(*) FROM ui_items").await, before);
    // an item cannot become its own ancestor
    assert_400_naming(
        &s.patch(&f("1/"), Some(&staff), json!({"parent_id": id}))
            .await,
        "parent_id",
    );
    let p = s
        .patch(
            &f(&format!("{id}")),
            Some(&staff),
            json!({"active": true, "default": "true", "parent_id": null}),
        )
        .await;
    assert_eq!(p.ok()["active"], true);
    assert_eq!(p.ok()["default"], true);
    assert_eq!(p.ok()["parent_id"], Value::Null);
    let g = s.get(&f(&format!("{id}/")), Some(&token)).await;
    assert_eq!(g.ok()["active"], true);
    let d = s.delete(&f(&format!("{id}/")), Some(&staff)).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&f(&format!("{id}/")), Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn project_uigroups_is_a_bare_array_and_session_id_is_optional() {
    let (s, _, token) = setup().await;
    s.sql("INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES ('uigroup', 2, 'header_text', 0, 1), ('uigroup', 2, 'header_text', 1, 2);")
        .await;
    let r = s.get("/api/2/projects/1/uigroups/", Some(&token)).await;
    assert_eq!(ids(r.ok()), vec![1, 3, 2, 4, 5]);
    assert_eq!(r.ok()[2]["header_text_loc"], "One");
    let r = s
        .get(
            "/api/2/projects/1/uigroups?session_id=2&ui_mode=listen&project_id=7",
            Some(&token),
        )
        .await;
    assert_eq!(ids(r.ok()), vec![1, 2], "project_id forced from the path");
    assert_eq!(r.ok()[1]["header_text_loc"], "Uno");
    let r = s
        .get("/api/2/projects/1/uigroups/?session_id=999", Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"detail": "Session not found"}));
    assert_eq!(
        s.get("/api/2/projects/9/uigroups/", Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/2/projects/1/uigroups/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------------------------------
// projects/:id/uiconfig/

#[tokio::test]
async fn uiconfig_has_the_shape_clients_decode() {
    let (s, _, token) = setup().await;
    let r = s
        .get("/api/2/projects/1/uiconfig/?session_id=1", Some(&token))
        .await;
    let cfg = r.ok();
    let listen = cfg["listen"].as_array().expect("listen array");
    let speak = cfg["speak"].as_array().expect("speak array");
    assert_eq!(listen.len(), 2);
    assert_eq!(speak.len(), 3);
    assert_eq!(
        listen[0],
        json!({
            "select": "multi",
            "header_display_text": null,
            "group_short_name": "Gender",
            "display_items": [
                {"id": 1, "tag_id": 1, "parent_id": null, "default_state": true, "tag_display_text": "One"},
                // tag 2 has no localized msg: its value (decisions.md; the reference gave null)
                {"id": 2, "tag_id": 2, "parent_id": null, "default_state": false, "tag_display_text": "young"},
            ],
        })
    );
    assert_eq!(listen[1]["group_short_name"], "Age");
    assert_eq!(listen[1]["display_items"], json!([]));
    let names: Vec<&str> = speak
        .iter()
        .map(|g| g["group_short_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Gender", "Age", "Color"]);
    // without a session: English; Spanish session: Spanish; admin ignored, never a 500
    let r = s.get("/api/2/projects/1/uiconfig", Some(&token)).await;
    assert_eq!(
        r.ok()["listen"][0]["display_items"][0]["tag_display_text"],
        "One"
    );
    let r = s
        .get(
            "/api/2/projects/1/uiconfig/?session_id=2&admin=1",
            Some(&token),
        )
        .await;
    assert_eq!(
        r.ok()["listen"][0]["display_items"][0]["tag_display_text"],
        "Uno"
    );
    assert!(r.ok()["listen"][0].get("header_text_loc_admin").is_none());
    let r = s
        .get("/api/2/projects/1/uiconfig/?session_id=999", Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"detail": "Session not found"}));
    assert_400_naming(
        &s.get("/api/2/projects/1/uiconfig/?session_id=x", Some(&token))
            .await,
        "session_id",
    );
    assert_eq!(
        s.get("/api/2/projects/5/uiconfig/", Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/2/projects/1/uiconfig/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn uiconfig_dedups_listen_tags_flattens_parents_and_keeps_speak_items() {
    let (s, _, token) = setup().await;
    s.sql(
        "INSERT INTO ui_items (id, ui_group_id, idx, tag_id, is_default, active, parent_id) VALUES
            (10, 1, 3, 1, 0, 1, 2),   -- listen group 1: tag 1 again → dropped
            (11, 1, 4, 3, 0, 0, NULL),-- inactive → not shown
            (12, 1, 0, 3, 0, 1, 2),   -- lowest index → first, parent flattened
            (13, 3, 2, 1, 0, 1, 1),   -- speak group 3 keeps parent and duplicates
            (14, 3, 1, 1, 1, 1, NULL),
            (15, 5, 1, 3, 0, 1, NULL);
         UPDATE ui_groups SET active = 0 WHERE id = 2;
         INSERT INTO ui_groups (id, name, ui_mode, tag_category_id, select_mode, active, idx, project_id)
             VALUES (6, 'Browse', 'browse', 1, 'single', 1, 0, 1);",
    )
    .await;
    let r = s.get("/api/2/projects/1/uiconfig/", Some(&token)).await;
    let cfg = r.ok();
    let listen = cfg["listen"].as_array().unwrap();
    assert_eq!(
        listen.len(),
        1,
        "inactive group 2 and the browse group left out"
    );
    let items = &listen[0]["display_items"];
    assert_eq!(ids(items), vec![12, 1, 2]);
    assert!(
        items
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["parent_id"].is_null())
    );
    let speak = cfg["speak"].as_array().unwrap();
    assert_eq!(ids(&speak[0]["display_items"]), vec![14, 13]);
    assert_eq!(speak[0]["display_items"][1]["parent_id"], 1);
    assert_eq!(speak[0]["display_items"][0]["default_state"], true);
    assert_eq!(speak[2]["display_items"][0]["tag_id"], 3);
}

#[tokio::test]
async fn uiconfig_labels_an_item_whose_tag_has_no_localized_text_with_the_tags_value() {
    let (s, staff, token) = setup().await;
    let item_text = |cfg: &Value| cfg["listen"][0]["display_items"][1]["tag_display_text"].clone();
    // tag 2 ("young") has no msg strings: its value in every language, never null
    for q in ["", "?session_id=1", "?session_id=2"] {
        let r = s
            .get(&format!("/api/2/projects/1/uiconfig/{q}"), Some(&token))
            .await;
        assert_eq!(item_text(r.ok()), "young", "uiconfig{q}");
    }
    // the tag itself stays faithful to the reference: no strings → msg_loc null
    let t = s.get("/api/2/tags/2/", Some(&token)).await;
    assert_eq!(t.ok()["msg_loc"], Value::Null);
    // once the curator gives it a text, the text wins over the value
    let joven = s
        .post(
            "/api/2/localizedstrings/",
            Some(&staff),
            json!({"text": "Joven", "language": "es"}),
        )
        .await;
    let joven = joven.ok()["id"].as_i64().unwrap();
    s.patch(
        "/api/2/tags/2/",
        Some(&staff),
        json!({"msg_loc_ids": [joven]}),
    )
    .await
    .ok();
    let r = s
        .get("/api/2/projects/1/uiconfig/?session_id=2", Some(&token))
        .await;
    assert_eq!(item_text(r.ok()), "Joven");
}

// ---------------------------------------------------------------------------------------
// uielements/ and uielementnames/

#[tokio::test]
async fn uielement_names_and_elements_crud_and_filters() {
    let (s, staff, token) = setup().await;
    let n = s
        .post(
            "/api/2/uielementnames/",
            Some(&staff),
            json!({"name": "btnListen", "description": QUIRKY, "view": "listen"}),
        )
        .await;
    let name_id = n.ok()["id"].as_i64().unwrap();
    assert_eq!(
        n.ok().clone(),
        json!({"id": name_id, "name": "btnListen", "description": QUIRKY, "view": "listen"})
    );
    let n2 = s
        .post(
            "/api/2/uielementnames/",
            Some(&staff),
            json!({"name": "logo", "view": "home"}),
        )
        .await;
    let logo_id = n2.ok()["id"].as_i64().unwrap();
    assert_eq!(n2.ok()["description"], Value::Null);
    let f = |q: &str| format!("/api/2/uielementnames/{q}");
    assert_eq!(
        ids(s.get(&f("?name=btn"), Some(&token)).await.ok()),
        vec![name_id]
    );
    assert_eq!(
        ids(s.get(&f("?name=BTN"), Some(&token)).await.ok()),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(s.get(&f("?view=home"), Some(&token)).await.ok()),
        vec![logo_id]
    );
    assert_400_naming(&s.get(&f("?view=lobby"), Some(&token)).await, "view");
    for (body, field) in [
        (json!({"name": "x", "view": "lobby"}), "view"),
        (json!({"name": "x"}), "view"),
        (json!({"view": "home"}), "name"),
        (json!({"name": "x".repeat(31), "view": "home"}), "name"),
    ] {
        assert_400_naming(&s.post(&f(""), Some(&staff), body).await, field);
    }
    let p = s
        .patch(
            &f(&format!("{logo_id}/")),
            Some(&staff),
            json!({"view": "thankyou", "description": "d"}),
        )
        .await;
    assert_eq!(p.ok()["view"], "thankyou");
    assert_eq!(
        s.get(&f(&format!("{logo_id}")), Some(&token)).await.ok()["description"],
        "d"
    );

    let e = s
        .post(
            "/api/2/uielements/",
            Some(&staff),
            json!({"uielementname_id": name_id, "project_id": 1, "variant": "@2x", "file_extension": "png",
                   "label_text_color": "#ffffff", "label_position": "text_below", "label_text_loc_ids": [1, 2]}),
        )
        .await;
    let el = e.ok().clone();
    let el_id = el["id"].as_i64().unwrap();
    assert_eq!(
        el,
        json!({"id": el_id, "variant": "@2x", "file_extension": "png", "label_text_color": "#ffffff",
               "label_position": "text_below", "label_text_loc_ids": [1, 2], "uielementname_id": name_id, "project_id": 1})
    );
    let e2 = s
        .post(
            "/api/2/uielements/",
            Some(&staff),
            json!({"uielementname": logo_id, "project": 1, "variant": "-hdpi", "file_extension": "jpg"}),
        )
        .await;
    let e2_id = e2.ok()["id"].as_i64().unwrap();
    assert_eq!(e2.ok()["label_position"], "");
    assert_eq!(e2.ok()["label_text_loc_ids"], json!([]));
    let g = |q: &str| format!("/api/2/uielements/{q}");
    assert_eq!(
        ids(s.get(&g("?uielementname=Listen"), Some(&token)).await.ok()),
        vec![el_id]
    );
    assert_eq!(
        ids(s.get(&g("?variant=%402x"), Some(&token)).await.ok()),
        vec![el_id]
    );
    assert_eq!(
        ids(s.get(&g("?file_extension=jpg"), Some(&token)).await.ok()),
        vec![e2_id]
    );
    assert_eq!(
        ids(s.get(&g("?project_id=1"), Some(&token)).await.ok()),
        vec![el_id, e2_id]
    );
    assert_400_naming(&s.get(&g("?variant=@5x"), Some(&token)).await, "variant");
    let before = s.scalar("SELECT count(*) FROM ui_elements").await;
    let base = json!({"uielementname_id": name_id, "project_id": 1, "variant": "@3x", "file_extension": "png"});
    for (patch, field) in [
        (json!({"variant": "@5x"}), "variant"),
        (json!({"variant": null}), "variant"),
        (json!({"file_extension": "gif"}), "file_extension"),
        (json!({"label_position": "text_above"}), "label_position"),
        (
            json!({"label_text_color": "#ffffffffff0"}),
            "label_text_color",
        ),
        (json!({"uielementname_id": 999}), "uielementname_id"),
        (json!({"project_id": 999}), "project_id"),
        (json!({"label_text_loc_ids": [999]}), "label_text_loc_ids"),
    ] {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_400_naming(&s.post(&g(""), Some(&staff), body).await, field);
    }
    assert_eq!(s.scalar("SELECT count(*) FROM ui_elements").await, before);
    let p = s
        .patch(
            &g(&format!("{e2_id}")),
            Some(&staff),
            json!({"label_position": "text_overlay", "label_text_loc_ids": [2]}),
        )
        .await;
    assert_eq!(p.ok()["label_position"], "text_overlay");
    assert_eq!(p.ok()["label_text_loc_ids"], json!([2]));
    assert_eq!(
        s.get(&g(&format!("{e2_id}/")), Some(&token)).await.ok()["variant"],
        "-hdpi"
    );
    let d = s.delete(&g(&format!("{e2_id}/")), Some(&staff)).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    // deleting a name takes its elements
    let d = s.delete(&f(&format!("{name_id}/")), Some(&staff)).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(s.scalar("SELECT count(*) FROM ui_elements").await, 0);
}

#[tokio::test]
async fn project_uielements_groups_one_variant_by_view_with_localized_labels() {
    let (s, _, token) = setup().await;
    s.sql(
        "INSERT INTO ui_element_names (id, name, description, view) VALUES (1, 'btnListen', NULL, 'listen'), (2, 'logo', NULL, 'home');
         INSERT INTO ui_elements (id, uielementname_id, variant, file_extension, project_id, label_text_color, label_position) VALUES
            (1, 1, '@2x', 'png', 1, '#fff', 'text_below'),
            (2, 2, '@2x', 'jpg', 1, '', ''),
            (3, 1, '@3x', 'png', 1, '', '');
         INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES ('uielement', 1, 'label_text', 0, 1), ('uielement', 1, 'label_text', 1, 2);",
    )
    .await;
    let r = s
        .get(
            "/api/2/projects/1/uielements/?variant=%402x&language_code=en",
            Some(&token),
        )
        .await;
    let doc = r.ok();
    assert_eq!(doc["config"]["project_id"], 1);
    let files_url = doc["config"]["files_url"].as_str().unwrap();
    assert!(files_url.starts_with("http://"), "{files_url}");
    assert!(
        files_url.ends_with("/rwmedia/project1-uielements@2x.zip"),
        "{files_url}"
    );
    let views = doc["uielements"].as_object().unwrap();
    for v in [
        "home",
        "listen",
        "speak",
        "listentags",
        "speaktags",
        "thankyou",
    ] {
        assert!(
            views.get(v).is_some_and(Value::is_object),
            "view {v} missing"
        );
    }
    assert_eq!(
        doc["uielements"]["listen"]["btnListen"],
        json!({"label_text_color": "#fff", "label_position": "text_below", "file_name": "btnListen@2x.png", "label_text": "One"})
    );
    assert_eq!(
        doc["uielements"]["home"]["logo"]["file_name"],
        "logo@2x.jpg"
    );
    assert_eq!(doc["uielements"]["home"]["logo"]["label_text"], Value::Null);
    assert_eq!(doc["uielements"]["speak"], json!({}));
    let es = s
        .get(
            "/api/2/projects/1/uielements?variant=@2x&language_code=ES",
            Some(&token),
        )
        .await;
    assert_eq!(
        es.ok()["uielements"]["listen"]["btnListen"]["label_text"],
        "Uno"
    );
    let x3 = s
        .get("/api/2/projects/1/uielements/?variant=@3x", Some(&token))
        .await;
    assert_eq!(
        x3.ok()["uielements"]["listen"]["btnListen"]["file_name"],
        "btnListen@3x.png"
    );
    assert_eq!(
        x3.ok()["uielements"]["listen"]["btnListen"]["label_text"],
        Value::Null
    );
    assert_eq!(x3.ok()["uielements"]["home"], json!({}));
    // errors
    let r = s.get("/api/2/projects/1/uielements/", Some(&token)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"detail": "Variant param is required."}));
    let r = s
        .get(
            "/api/2/projects/1/uielements/?variant=@2x&language_code=xx",
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({"detail": "Language Code not found"}));
    assert_400_naming(
        &s.get("/api/2/projects/1/uielements/?variant=@9x", Some(&token))
            .await,
        "variant",
    );
    assert_eq!(
        s.get("/api/2/projects/3/uielements/?variant=@2x", Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------------------------------
// permissions across every route

#[tokio::test]
async fn reads_need_a_token_and_every_write_needs_staff() {
    let (s, staff, token) = setup().await;
    s.sql(
        "INSERT INTO tag_relationships (id, tag_id) VALUES (1, 1);
         INSERT INTO ui_element_names (id, name, view) VALUES (1, 'logo', 'home');
         INSERT INTO ui_elements (id, uielementname_id, variant, file_extension, project_id) VALUES (1, 1, '@2x', 'png', 1);",
    )
    .await;
    let reads = [
        "/api/2/tags/",
        "/api/2/tags/1/",
        "/api/2/projects/1/tags/",
        "/api/2/tagcategories/",
        "/api/2/tagcategories/1/",
        "/api/2/tagrelationships/",
        "/api/2/tagrelationships/1/",
        "/api/2/languages/",
        "/api/2/languages/1/",
        "/api/2/localizedstrings/",
        "/api/2/localizedstrings/1/",
        "/api/2/uigroups/",
        "/api/2/uigroups/1/",
        "/api/2/uiitems/",
        "/api/2/uiitems/1/",
        "/api/2/projects/1/uigroups/",
        "/api/2/projects/1/uiconfig/",
        "/api/2/uielements/",
        "/api/2/uielements/1/",
        "/api/2/uielementnames/",
        "/api/2/uielementnames/1/",
        "/api/2/projects/1/uielements/?variant=@2x",
    ];
    for path in reads {
        assert_eq!(
            s.get(path, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            s.get(path, Some(&token)).await.status,
            StatusCode::OK,
            "{path}"
        );
        let bare = path.replacen("/?", "?", 1);
        let bare = bare.strip_suffix('/').unwrap_or(&bare);
        assert_eq!(
            s.get(bare, Some(&token)).await.status,
            StatusCode::OK,
            "{bare}"
        );
    }
    let collections = [
        "tags",
        "tagcategories",
        "tagrelationships",
        "languages",
        "localizedstrings",
        "uigroups",
        "uiitems",
        "uielements",
        "uielementnames",
    ];
    let snapshot = "SELECT (SELECT count(*) FROM tags) * 1000000 + (SELECT count(*) FROM tag_categories) * 100000
        + (SELECT count(*) FROM languages) * 10000 + (SELECT count(*) FROM localized_strings) * 1000
        + (SELECT count(*) FROM ui_groups) * 100 + (SELECT count(*) FROM ui_items) * 10 + (SELECT count(*) FROM ui_elements)
        + (SELECT count(*) FROM ui_element_names) + (SELECT count(*) FROM tag_relationships)";
    let before = s.scalar(snapshot).await;
    for c in collections {
        let list = format!("/api/2/{c}/");
        let one = format!("/api/2/{c}/1/");
        for (who, want) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some(token.as_str()), StatusCode::FORBIDDEN),
        ] {
            assert_eq!(
                s.post(&list, who, json!({"name": "x"})).await.status,
                want,
                "POST {list}"
            );
            assert_eq!(
                s.patch(&one, who, json!({"name": "x"})).await.status,
                want,
                "PATCH {one}"
            );
            assert_eq!(s.delete(&one, who).await.status, want, "DELETE {one}");
        }
        // no PUT; a DELETE on the list URL is a 405, not a 500
        assert_eq!(
            s.send(Method::PUT, &one, Some(&staff), Some(json!({})))
                .await
                .status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            s.delete(&list, Some(&staff)).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
    assert_eq!(s.scalar(snapshot).await, before, "nothing was written");
    // the reference's own check: a non-staff POST to tags/ is 403
    let r = s
        .post("/api/2/tags/", Some(&token), json!({"value": "x"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // an invalid token is 401
    assert_eq!(
        s.get(
            "/api/2/tags/",
            Some("0000000000000000000000000000000000000000")
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_root_map_and_openapi_document_list_these_resources() {
    let (s, _, token) = setup().await;
    let root = s.get("/api/2/", Some(&token)).await;
    for name in [
        "tags",
        "tagcategories",
        "tagrelationships",
        "languages",
        "localizedstrings",
        "uigroups",
        "uiitems",
        "uielements",
        "uielementnames",
    ] {
        assert!(
            root.ok().get(name).is_some(),
            "{name} missing from the root map"
        );
    }
    let doc = s.get("/api/2/openapi.json", None).await;
    let paths = doc.ok()["paths"].as_object().unwrap();
    for p in [
        "/api/2/projects/{id}/tags/",
        "/api/2/projects/{id}/uigroups/",
        "/api/2/projects/{id}/uiconfig/",
        "/api/2/projects/{id}/uielements/",
    ] {
        assert_eq!(paths[p]["get"]["x-access"], "token", "{p}");
    }
    assert_eq!(paths["/api/2/tags/{id}/"]["delete"]["x-access"], "staff");
}
