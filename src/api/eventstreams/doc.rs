//! The OpenAPI description of `/stream/0/`, merged into `/api/2/openapi.json` beside the
//! api/2 route table (these routes keep App.net's conventions: JSON bodies, `PUT`, `{data,
//! meta}` envelopes, Bearer tokens).

use serde_json::{Map, Value, json};

use super::MAX_KEY_CHARS;
use crate::store::outbox::EVENT_TYPES;

/// `{data, meta: {code}}`.
fn envelope() -> Value {
    json!({"type": "object", "required": ["data", "meta"], "properties": {
        "data": {},
        "meta": {"type": "object", "required": ["code"], "properties": {"code": {"type": "integer"}}},
    }})
}

/// `{meta: {code, error_message, error_slug}}`.
fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema":
        {"type": "object", "required": ["meta"], "properties": {"meta": {"type": "object",
            "required": ["code", "error_message"], "properties": {
                "code": {"type": "integer"},
                "error_message": {"type": "string"},
                "error_slug": {"type": "string"}}}}}}}})
}

fn stream_body() -> Value {
    json!({"type": "object", "required": ["object_types"], "properties": {
        "object_types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": EVENT_TYPES}},
        "type": {"type": "string", "enum": ["long_poll"]},
        "filter_id": {"type": "string", "pattern": "^[0-9]{1,18}$", "nullable": true, "description": "one of your filters (null or absent: none)"},
        "key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS},
    }})
}

fn filter_body() -> Value {
    json!({"type": "object", "required": ["match_policy", "clauses"], "properties": {
        "name": {"type": "string", "maxLength": 200},
        "match_policy": {"type": "string", "enum": ["include_any", "include_all", "exclude_any", "exclude_all"]},
        "clauses": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "object",
            "required": ["object_type", "field", "operator", "value"], "properties": {
                "object_type": {"type": "string", "enum": EVENT_TYPES},
                "field": {"type": "string", "pattern": "^/", "maxLength": 512,
                          "description": "a JSON pointer into {meta, data}; `*` matches every element"},
                "operator": {"type": "string", "enum": ["equals", "matches", "contains", "lt", "le", "gt", "ge", "one_of"]},
                "value": {"description": "a string for matches, an integer for lt/le/gt/ge, a list for one_of"},
            }}},
    }})
}

/// One operation.
fn op(summary: &str, id: &str, body: Option<Value>, extra: &[(&str, Value)]) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "`{data, meta: {code: 200}}`", "content": {"application/json": {"schema": envelope()}}}),
    );
    responses.insert(
        "400".into(),
        error("Invalid input; `error_message` names it."),
    );
    responses.insert(
        "401".into(),
        error("No token, or not a valid one (`invalid-token`)."),
    );
    responses.insert(
        "403".into(),
        error("Neither staff nor a kiosk, or a type a kiosk may not follow (`not-authorized`)."),
    );
    responses.insert("404".into(), error("No such stream or filter of yours."));
    responses.insert(
        "414".into(),
        json!({"description": "The URI is over 64 KiB (answered by the HTTP layer, without a body)."}),
    );
    responses.insert(
        "503".into(),
        error("Shutting down, or too many event connections."),
    );
    if body.is_some() {
        responses.insert("413".into(), error("The body is over 256 KiB."));
        responses.insert(
            "408".into(),
            json!({"description": "The body arrived too slowly; the connection is closed."}),
        );
    }
    if !id.starts_with("adn_get") && !id.starts_with("adn_list") && id != "adn_stream_events" {
        responses.insert(
            "507".into(),
            error("The box's storage is full (`insufficient-storage`)."),
        );
    }
    for (status, value) in extra {
        responses.insert((*status).into(), value.clone());
    }
    let mut o = json!({
        "summary": summary,
        "operationId": id,
        "tags": ["event streams"],
        "x-access": "staff or kiosk",
        "security": [{"bearer": []}, {"access_token": []}],
        "parameters": [],
        "responses": responses,
    });
    if let Some(schema) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    o
}

fn with_id(mut o: Value) -> Value {
    o["parameters"] = json!([{"name": "id", "in": "path", "required": true,
        "schema": {"type": "integer", "minimum": 1, "maximum": i64::MAX}}]);
    o
}

fn query(mut o: Value, params: Value) -> Value {
    if let (Some(p), Some(more)) = (o["parameters"].as_array_mut(), params.as_array()) {
        p.extend(more.iter().cloned());
    }
    o
}

/// The `/stream/0/` paths of the OpenAPI document.
pub(crate) fn openapi_paths() -> Map<String, Value> {
    let flag = |name: &str, what: &str| {
        json!({"name": name, "in": "query", "required": false, "description": what,
               "schema": {"type": "string", "enum": ["0", "1"]}})
    };
    let in_use = error("The filter is used by a stream (`conflict`).");
    let mut paths = Map::new();
    paths.insert(
        "/stream/0/streams".into(),
        json!({
            "get": query(op("Your event streams (App.net app streams)", "adn_list_streams", None, &[]),
                json!([{"name": "key", "in": "query", "required": false, "schema": {"type": "string"}}])),
            "post": op("Create an event stream", "adn_create_stream", Some(stream_body()), &[]),
            "delete": op("Delete all your event streams; answers them", "adn_delete_streams", None, &[]),
        }),
    );
    paths.insert(
        "/stream/0/streams/{id}".into(),
        json!({
            "get": with_id(op("One of your event streams", "adn_get_stream", None, &[])),
            "put": with_id(op("Replace a stream's object types, filter and key (a connected consumer switches at once)", "adn_update_stream", Some(stream_body()), &[])),
            "delete": with_id(op("Delete an event stream (its connection ends); answers it", "adn_delete_stream", None, &[])),
        }),
    );
    let mut endpoint = with_id(op(
        "The stream's endpoint: one long-lived response of `JSON\\r\\n` frames (`{meta, data}` \
         messages, `{control}` messages, `\\r\\n` keep-alives every 20 s), or Server-Sent Events \
         for `Accept: text/event-stream` (resumable with `Last-Event-ID`). The last connection \
         to a stream wins.",
        "adn_stream_events",
        None,
        &[],
    ));
    endpoint["responses"]["200"] = json!({"description": "The frames, until the client leaves, \
        a newer connection takes over, the stream is deleted or its queue overflows.",
        "content": {"application/json": {}, "text/event-stream": {}}});
    endpoint = query(
        endpoint,
        json!([
            flag("purge", "skip everything that waited for this stream"),
            flag(
                "auto_delete",
                "delete the stream when this connection closes"
            ),
            {"name": "last_event_id", "in": "query", "required": false,
             "description": "resume after this message id (as the `Last-Event-ID` header)",
             "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
        ]),
    );
    paths.insert(
        "/stream/0/streams/{id}/events".into(),
        json!({ "get": endpoint }),
    );
    paths.insert(
        "/stream/0/filters".into(),
        json!({
            "get": op("Your filters", "adn_list_filters", None, &[]),
            "post": op("Create a filter", "adn_create_filter", Some(filter_body()), &[]),
            "delete": op("Delete all your filters (none may be in use); answers them", "adn_delete_filters", None, &[("409", in_use.clone())]),
        }),
    );
    paths.insert(
        "/stream/0/filters/{id}".into(),
        json!({
            "get": with_id(op("One of your filters", "adn_get_filter", None, &[])),
            "put": with_id(op("Replace a filter (streams using it switch at once)", "adn_update_filter", Some(filter_body()), &[])),
            "delete": with_id(op("Delete a filter no stream uses; answers it", "adn_delete_filter", None, &[("409", in_use)])),
        }),
    );
    paths
}

/// The security schemes of these routes.
pub(crate) fn security_schemes() -> Value {
    json!({
        "bearer": {"type": "http", "scheme": "bearer",
            "description": "a staff or kiosk token (`token <key>` works as well)"},
        "access_token": {"type": "apiKey", "in": "query", "name": "access_token",
            "description": "the token as a query parameter, for browsers' EventSource"},
    })
}
