//! The OpenAPI document at /api/2/openapi.json is complete enough to fuzz: every path id is an
//! integer, every write describes its body field by field, query parameters are listed, and
//! every status the server answers is documented. (tests/fuzz/schemathesis.sh drives the real
//! fuzzing from it; this keeps the document from sliding back to bare objects.)

use serde_json::{Value, json};

use crate::support::TestServer;

/// Writes that read no body: the stream actions (they still refuse a body that is not an
/// object, see fuzz_findings.rs).
const BODYLESS: &[&str] = &[
    "heartbeat",
    "replayasset",
    "skipasset",
    "skip",
    "pause",
    "resume",
    "kill",
];

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

/// Every property of a body schema states its type (or is a described shape).
fn fields_are_typed(schema: &Value) -> Result<(), String> {
    let props = schema["properties"].as_object().ok_or("no properties")?;
    if props.is_empty() {
        return Err("no fields".into());
    }
    for (name, p) in props {
        if p["type"].as_str().is_none() {
            return Err(format!("`{name}` has no type: {p}"));
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_path_id_is_an_integer_and_every_write_describes_its_body() {
    let s = TestServer::start().await;
    let doc = s.get("/api/2/openapi.json", None).await.ok().clone();
    // api/2's conventions (App.net's /stream/0/ has its own: see the test below).
    let ops: Vec<_> = operations(&doc)
        .into_iter()
        .filter(|(path, _, _)| path.starts_with("/api/2/"))
        .collect();
    assert!(ops.len() > 100, "{} operations", ops.len());
    let (mut ids, mut bodies, mut queries) = (0, 0, 0);
    for (path, method, op) in &ops {
        let label = format!("{} {path}", method.to_uppercase());
        for p in op["parameters"].as_array().unwrap() {
            match p["in"].as_str().unwrap() {
                "path" => {
                    assert_eq!(p["schema"]["type"], "integer", "{label}: {p}");
                    ids += 1;
                }
                "query" => {
                    assert!(p["schema"]["type"].is_string(), "{label}: {p}");
                    queries += 1;
                }
                other => panic!("{label}: parameter in {other}"),
            }
        }
        for status in ["400", "404", "414", "503"] {
            assert!(
                op["responses"][status].is_object(),
                "{label} lacks {status}"
            );
        }
        if !matches!(method.as_str(), "post" | "patch" | "put") {
            assert!(op.get("requestBody").is_none(), "{label} has a body");
            continue;
        }
        let action = path.trim_end_matches('/').rsplit('/').next().unwrap();
        if BODYLESS.contains(&action) {
            assert!(op.get("requestBody").is_none(), "{label} documents a body");
            continue;
        }
        let content = op["requestBody"]["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{label} has no described body"));
        assert!(content.contains_key("multipart/form-data"), "{label}");
        for (media, c) in content {
            if let Err(e) = fields_are_typed(&c["schema"]) {
                panic!("{label} {media}: {e}");
            }
        }
        assert!(
            op["responses"]["413"].is_object() && op["responses"]["415"].is_object(),
            "{label}"
        );
        bodies += 1;
    }
    // 52 bodies and 75 path ids when this was written; queries went from 0 to hundreds.
    assert!(bodies >= 45, "{bodies} bodies");
    assert!(ids >= 75, "{ids} path ids");
    assert!(queries >= 200, "{queries} query parameters");
}

#[tokio::test]
async fn the_described_fields_are_the_ones_the_handlers_read() {
    // Spot checks that a description sits on the right operation and states the server's rules.
    let s = TestServer::start().await;
    let doc = s.get("/api/2/openapi.json", None).await.ok().clone();
    let body = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    let session = body("/api/2/sessions/", "post");
    assert_eq!(session["required"], serde_json::json!(["project_id"]));
    assert_eq!(session["properties"]["project_id"]["type"], "integer");
    let project = body("/api/2/projects/", "post");
    assert_eq!(project["properties"]["name"]["maxLength"], 50);
    assert_eq!(project["properties"]["latitude"]["maximum"], 90.0);
    for f in ["name", "latitude", "longitude"] {
        assert!(
            project["required"].as_array().unwrap().contains(&f.into()),
            "{f}"
        );
    }
    assert!(
        body("/api/2/projects/{id}/", "patch")
            .get("required")
            .is_none()
    );
    let vote = body("/api/2/assets/{id}/votes/", "post");
    assert_eq!(vote["properties"]["vote_type"]["enum"][0], "like");
    let upload = &doc["paths"]["/api/2/assets/"]["post"]["requestBody"]["content"];
    assert_eq!(
        upload.as_object().unwrap().len(),
        1,
        "an upload is multipart only"
    );
    assert_eq!(
        upload["multipart/form-data"]["schema"]["properties"]["file"]["format"],
        "binary"
    );
    let tags = &doc["paths"]["/api/2/assets/"]["get"]["parameters"];
    let tag_ids = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tag_ids")
        .unwrap();
    assert_eq!(tag_ids["schema"]["type"], "array");
    assert_eq!(tag_ids["explode"], false);
}

#[tokio::test]
async fn the_rate_limited_operations_document_429_and_writes_their_507_and_slow_body_408() {
    let s = TestServer::start().await;
    let doc = s.get("/api/2/openapi.json", None).await.ok().clone();
    let limited = [
        ("post", "/api/2/users/"),
        ("post", "/api/2/login/"),
        ("post", "/api/2/streams/"),
        ("patch", "/api/2/envelopes/{id}/"),
        ("post", "/api/2/assets/"),
        // a per-user limit: a visitor's clips an hour
        ("post", "/livepeer/api/clip"),
    ];
    for (path, method, op) in operations(&doc) {
        let label = format!("{} {path}", method.to_uppercase());
        let responses = &op["responses"];
        let is_limited = limited.contains(&(method.as_str(), path.as_str()));
        assert_eq!(
            responses.get("429").is_some(),
            is_limited,
            "{label}: 429 documented exactly where a per-address limit applies"
        );
        assert_eq!(
            responses.get("507").is_some(),
            method != "get",
            "{label}: every write may meet a full disk"
        );
        assert_eq!(
            responses.get("408").is_some(),
            op.get("requestBody").is_some(),
            "{label}: a body may arrive too slowly"
        );
    }
    // And the limit is real: a registration flood from one address meets it.
    let s = TestServer::start_with("[limits]\nregistrations_per_ip_per_min = 1\n").await;
    let body = serde_json::json!({"device_id": "a", "client_type": "web"});
    s.post("/api/2/users/", None, body.clone()).await.ok();
    let r = s
        .post(
            "/api/2/users/",
            None,
            serde_json::json!({"device_id": "b", "client_type": "web"}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_event_stream_routes_are_documented_with_appdotnet_envelopes_and_json_bodies() {
    let s = TestServer::start().await;
    let doc = s.get("/api/2/openapi.json", None).await.ok().clone();
    let ops: Vec<_> = operations(&doc)
        .into_iter()
        .filter(|(path, _, _)| path.starts_with("/stream/0/"))
        .collect();
    assert_eq!(ops.len(), 13, "streams, filters and the endpoint");
    for (path, method, op) in &ops {
        let label = format!("{} {path}", method.to_uppercase());
        assert!(op["security"].is_array(), "{label}");
        for status in ["200", "400", "401", "403", "404", "503"] {
            assert!(
                op["responses"][status].is_object(),
                "{label} lacks {status}"
            );
        }
        let writes = matches!(method.as_str(), "post" | "put");
        assert_eq!(op.get("requestBody").is_some(), writes, "{label}");
        if writes {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            fields_are_typed(schema).unwrap_or_else(|e| panic!("{label}: {e}"));
        }
    }
    let types = &doc["paths"]["/stream/0/streams"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["object_types"]["items"]["enum"];
    assert!(types.as_array().unwrap().contains(&json!("listenevent")));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    s.stop().await;
}
