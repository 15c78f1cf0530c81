//! The OpenAPI description of `/livepeer/api/`, merged into `/api/2/openapi.json` beside the
//! api/2 route table (these routes keep Livepeer Studio's conventions: camelCase JSON, bare
//! objects and arrays, `{"errors": [...]}`, Bearer keys).

use serde_json::{Map, Value, json};

use super::MAX_BODY_BYTES;

/// `{"errors": ["…"]}`.
fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema":
        {"type": "object", "required": ["errors"], "properties": {
            "errors": {"type": "array", "minItems": 1, "items": {"type": "string"}}}}}}})
}

/// The Stream object as answered (only `name` is required by the SDK's model).
fn stream_schema() -> Value {
    json!({"type": "object", "required": ["id", "name", "playbackId", "isActive"], "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "streamKey": {"type": "string", "description": "push channels only"},
        "playbackId": {"type": "string"},
        "playbackUrl": {"type": "string", "description": "where the channel is heard (MP3)"},
        "ingestUrl": {"type": "string", "description": "where a source pushes (push channels)"},
        "isActive": {"type": "boolean"},
        "isHealthy": {"type": "boolean"},
        "issues": {"type": "array", "items": {"type": "string"}},
        "lastSeen": {"type": "integer", "description": "Unix ms of the last source data, 0 if never"},
        "createdAt": {"type": "integer", "description": "Unix ms"},
        "lastTerminatedAt": {"type": "integer", "nullable": true},
        "sourceBytes": {"type": "integer"},
        "sourceSegmentsDuration": {"type": "number", "description": "seconds of source audio"},
        "record": {"type": "boolean"},
        "suspended": {"type": "boolean"},
        "pull": {"type": "object"},
        "userTags": {"type": "object"},
        "creatorId": {"type": "object"},
        "playbackPolicy": {"type": "object"},
        "multistream": {"type": "object"},
    }})
}

/// A push target URL (its full grammar is checked by the server: a host and a mount).
fn target_url() -> Value {
    json!({"type": "string", "maxLength": 2048,
        "pattern": "^[\\x00-\\x20]*([Ii][Cc][Ee][Cc][Aa][Ss][Tt]|[Hh][Tt][Tt][Pp][Ss]?)://",
        "description": "icecast://user:pass@host:port/mount or http(s)://…; written, never answered"})
}

/// A `TargetAddPayload`: an existing target by `id`, or a new one by `spec`.
fn add_body() -> Value {
    json!({"type": "object", "required": ["profile"], "properties": {
        "profile": {"type": "string", "maxLength": 200},
        "videoOnly": {"type": "boolean", "enum": [false], "nullable": true},
        "id": {"type": "string", "maxLength": 64},
        "spec": {"type": "object", "required": ["url"], "properties": {
            "url": target_url(), "name": {"type": "string", "maxLength": 200, "nullable": true}}}},
        "oneOf": [
            {"required": ["id"], "not": {"required": ["spec"]}},
            {"required": ["spec"], "not": {"required": ["id"]}}],
        "description": "either `id` (an existing target) or `spec` (a new one)"})
}

fn payload(creating: bool) -> Value {
    let mut properties = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
        "record": {"type": "boolean", "nullable": true, "description": "archive each live session as an MP3 (not changeable while live)"},
        "suspended": {"type": "boolean", "nullable": true},
        "multistream": {"type": "object", "nullable": true, "properties": {
            "targets": {"type": "array", "nullable": true, "maxItems": 32, "items": add_body()}}},
        "userTags": {"type": "object", "nullable": true, "maxProperties": 32, "additionalProperties": {"anyOf": [
            {"type": "string", "maxLength": 1024}, {"type": "number"},
            {"type": "array", "maxItems": 32, "items": {"anyOf": [{"type": "string", "maxLength": 1024}, {"type": "number"}]}}]}},
        "creatorId": {"type": "object", "nullable": true, "required": ["type", "value"], "properties": {
            "type": {"type": "string", "enum": ["unverified"]}, "value": {"type": "string", "maxLength": 1024}}},
        "playbackPolicy": {"type": "object", "nullable": true, "required": ["type"], "properties": {
            "type": {"type": "string", "enum": ["public"]}}},
        "profiles": {"description": "video only: accepted and ignored (X-Ignored-Fields)"},
        "recordingSpec": {"description": "video only: accepted and ignored (X-Ignored-Fields)"},
    });
    if creating {
        properties["pull"] = json!({"type": "object", "nullable": true, "required": ["source"], "properties": {
            "source": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "maxLength": 2048},
            "headers": {"type": "object", "nullable": true, "maxProperties": 32,
                "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
                "additionalProperties": {"type": "string", "maxLength": 1024, "pattern": "^[\\x20-\\x7e\\t]*$"}},
            "isMobile": {"nullable": true, "anyOf": [{"type": "boolean"}, {"type": "number", "enum": [0, 1, 2]}]},
            "location": {"type": "object", "nullable": true, "required": ["lat", "lon"], "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
        }});
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if creating {
        schema["required"] = json!(["name"]);
    }
    schema
}

/// One operation answering `ok` (status, description, schema or `None` for no body).
fn op(
    summary: &str,
    id: &str,
    ok: (&str, &str, Option<Value>),
    body: Option<Value>,
    extra: &[(&str, Value)],
) -> Value {
    let mut responses = Map::new();
    let (status, description, schema) = ok;
    responses.insert(
        status.into(),
        match schema {
            Some(s) => {
                json!({"description": description, "content": {"application/json": {"schema": s}}})
            }
            None => json!({"description": description}),
        },
    );
    responses.insert(
        "401".into(),
        error("No key, or not a valid one: `Authorization: Bearer <staff token>`."),
    );
    responses.insert("403".into(), error("The key is not a staff user's."));
    responses.insert(
        "414".into(),
        json!({"description": "The URI is over 64 KiB (answered by the HTTP layer, without a body)."}),
    );
    responses.insert("503".into(), error("The box is shutting down."));
    if body.is_some() {
        responses.insert("400".into(), error("The body is not a JSON object."));
        responses.insert(
            "422".into(),
            error("A field is wrong or cannot be honoured; the message names it."),
        );
        responses.insert(
            "413".into(),
            json!({"description": format!("The body is over {} KiB.", MAX_BODY_BYTES / 1024)}),
        );
        responses.insert(
            "408".into(),
            json!({"description": "The body arrived too slowly; the connection is closed."}),
        );
    }
    if !matches!(
        id,
        "lp_list_streams"
            | "lp_create_stream"
            | "lp_list_targets"
            | "lp_create_target"
            | "lp_list_sessions"
    ) {
        responses.insert(
            "404".into(),
            error("No such channel or target (`not found`)."),
        );
    }
    if !id.starts_with("lp_get") && !id.starts_with("lp_list") && id != "lp_playback" {
        responses.insert(
            "507".into(),
            error("The box's storage is full; nothing was changed."),
        );
    }
    for (status, value) in extra {
        responses.insert((*status).into(), value.clone());
    }
    let mut o = json!({
        "summary": summary,
        "operationId": id,
        "tags": ["broadcast channels"],
        "x-access": "staff",
        "security": [{"bearer": []}],
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
        "schema": {"type": "string", "minLength": 1, "maxLength": 64}}]);
    o
}

/// The `/livepeer/api/` paths of the OpenAPI document.
pub(crate) fn openapi_paths() -> Map<String, Value> {
    let no_content: (&str, &str, Option<Value>) =
        ("204", "Done (no body, as the Livepeer SDK expects).", None);
    let mut paths = Map::new();
    let mut list = op(
        "Every broadcast channel (a bare array)",
        "lp_list_streams",
        (
            "200",
            "The channels.",
            Some(json!({"type": "array", "items": stream_schema()})),
        ),
        None,
        &[],
    );
    list["parameters"] = json!([{"name": "streamsonly", "in": "query", "required": false,
        "schema": {"type": "string"}, "description": "accepted; there are no session children"}]);
    paths.insert(
        "/livepeer/api/stream".into(),
        json!({
            "get": list,
            "post": op("Create a push channel (a stream key) or a pull channel (`pull.source`, pulled at once)",
                "lp_create_stream", ("201", "The new channel; `X-Ignored-Fields` names what was ignored.", Some(stream_schema())),
                Some(payload(true)), &[]),
        }),
    );
    paths.insert(
        "/livepeer/api/stream/{id}".into(),
        json!({
            "get": with_id(op("One channel", "lp_get_stream", ("200", "The channel.", Some(stream_schema())), None, &[])),
            "patch": with_id(op("Change a channel (suspending ends a live source)", "lp_update_stream", no_content.clone(), Some(payload(false)), &[])),
            "delete": with_id(op("Delete a channel (a live source ends)", "lp_delete_stream", no_content.clone(), None, &[])),
        }),
    );
    paths.insert(
        "/livepeer/api/stream/{id}/terminate".into(),
        json!({"delete": with_id(op("End the current session (a pull stops until start-pull)", "lp_terminate_stream", no_content.clone(), None, &[]))}),
    );
    paths.insert(
        "/livepeer/api/stream/{id}/start-pull".into(),
        json!({"post": with_id(op("Start pulling `pull.source`", "lp_start_pull", no_content.clone(), None, &[
            ("400", error("The channel has no pull source.")),
        ]))}),
    );
    let target = json!({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "disabled": {"type": "boolean"},
        "createdAt": {"type": "integer"}}});
    let target_body = |creating: bool| {
        let mut url = target_url();
        if !creating {
            url["nullable"] = json!(true);
        }
        let mut b = json!({"type": "object", "properties": {
            "url": url, "name": {"type": "string", "maxLength": 200, "nullable": true},
            "disabled": {"type": "boolean", "nullable": true}}});
        if creating {
            b["required"] = json!(["url"]);
        }
        b
    };
    paths.insert(
        "/livepeer/api/stream/{id}/create-multistream-target".into(),
        json!({"post": with_id(op("Push the channel on to a target while it is live", "lp_add_target",
            no_content.clone(), Some(add_body()), &[]))}),
    );
    let mut remove = with_id(op(
        "Stop pushing the channel to a target (204 also when it was not)",
        "lp_remove_target",
        no_content.clone(),
        None,
        &[],
    ));
    if let Some(p) = remove["parameters"].as_array_mut() {
        p.push(json!({"name": "target_id", "in": "path",
        "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}));
    }
    paths.insert(
        "/livepeer/api/stream/{id}/multistream/{target_id}".into(),
        json!({"delete": remove}),
    );
    paths.insert(
        "/livepeer/api/multistream/target".into(),
        json!({
            "get": op("Every multistream target (never their URLs)", "lp_list_targets",
                ("200", "The targets.", Some(json!({"type": "array", "items": target}))), None, &[]),
            "post": op("Create a multistream target", "lp_create_target",
                ("201", "The target (without its URL).", Some(target.clone())), Some(target_body(true)), &[]),
        }),
    );
    paths.insert(
        "/livepeer/api/multistream/target/{id}".into(),
        json!({
            "get": with_id(op("One multistream target", "lp_get_target", ("200", "The target.", Some(target)), None, &[])),
            "patch": with_id(op("Change a target (its pushes reconnect)", "lp_update_target", no_content.clone(), Some(target_body(false)), &[])),
            "delete": with_id(op("Delete a target (its pushes stop)", "lp_delete_target", no_content.clone(), None, &[])),
        }),
    );
    let session = json!({"type": "object", "required": ["id", "name"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "parentId": {"type": "string"},
        "playbackId": {"type": "string"}, "createdAt": {"type": "integer"}, "lastSeen": {"type": "integer"},
        "sourceBytes": {"type": "integer"}, "sourceSegmentsDuration": {"type": "number"},
        "record": {"type": "boolean"}, "isActive": {"type": "boolean"},
        "recordingStatus": {"type": "string", "enum": ["waiting", "ready", "failed", "deleted", "none"]},
        "recordingUrl": {"type": "string", "description": "the MP3 under /rwmedia/recordings/, once ready"}}});
    let sessions = json!({"type": "array", "items": session});
    let mut of_stream = with_id(op(
        "A channel's live sessions, newest first",
        "lp_get_stream_sessions",
        ("200", "The sessions.", Some(sessions.clone())),
        None,
        &[],
    ));
    if let Some(p) = of_stream["parameters"].as_array_mut() {
        p.push(json!({"name": "record", "in": "query", "required": false,
            "schema": {"type": "string"}, "description": "`1` or `true`: only recorded sessions"}));
    }
    paths.insert(
        "/livepeer/api/stream/{id}/sessions".into(),
        json!({"get": of_stream}),
    );
    paths.insert(
        "/livepeer/api/session".into(),
        json!({"get": op("Every channel's live sessions, newest first", "lp_list_sessions",
            ("200", "The sessions.", Some(sessions)), None, &[])}),
    );
    paths.insert(
        "/livepeer/api/session/{id}".into(),
        json!({"get": with_id(op("One live session, with its recording", "lp_get_session",
            ("200", "The session.", Some(session)), None, &[]))}),
    );
    paths.insert(
        "/livepeer/api/session/{id}/clips".into(),
        json!({"get": with_id(op("Clips cut from a session's recording", "lp_get_session_clips",
            ("200", "The clips.", Some(json!({"type": "array"}))), None, &[]))}),
    );
    let asset = json!({"type": "object", "required": ["id", "name", "source"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string", "enum": ["audio"]},
        "source": {"type": "object"}, "status": {"type": "object"},
        "downloadUrl": {"type": "string", "description": "the MP3 under /rwmedia/clips/"},
        "size": {"type": "integer"}, "createdAt": {"type": "integer"},
        "startTime": {"type": "integer"}, "endTime": {"type": "integer"}}});
    let mut clip = op(
        "Keep a window of a live channel or of your personal stream as an MP3 (± one frame)",
        "lp_create_clip",
        (
            "200",
            "`{asset, task}`",
            Some(json!({"type": "object", "required": ["asset", "task"],
            "properties": {"asset": asset, "task": {"type": "object"}}})),
        ),
        Some(
            json!({"type": "object", "required": ["playbackId", "startTime"], "properties": {
            "playbackId": {"type": "string", "minLength": 1, "maxLength": 64},
            "startTime": {"type": "number", "minimum": 0, "maximum": 1e15, "description": "Unix ms"},
            "endTime": {"type": "number", "minimum": 0, "maximum": 1e15, "nullable": true, "description": "Unix ms (absent: now)"},
            "name": {"type": "string", "maxLength": 200, "nullable": true},
            "sessionId": {"description": "not supported (422): clips are cut from live buffers", "nullable": true, "enum": [null]}}}),
        ),
        &[(
            "429",
            error("A visitor's token cut its hourly share of clips."),
        )],
    );
    clip["x-access"] = json!("token");
    clip["description"] = json!(
        "Staff clip any live channel or personal stream; a visitor's token only its own personal stream (its `playback_id` is in the `POST /api/2/streams/` answer)."
    );
    paths.insert("/livepeer/api/clip".into(), json!({"post": clip}));
    paths.insert(
        "/livepeer/api/stream/{id}/clips".into(),
        json!({"get": with_id(op("The clips of a channel (by id or playbackId) or of a personal stream (by playback_id)",
            "lp_get_clips", ("200", "The clips, newest first.", Some(json!({"type": "array", "items": asset}))), None, &[]))}),
    );
    paths.insert(
        "/livepeer/api/playback/{id}".into(),
        json!({"get": with_id(op("Where a channel is heard, by playback id", "lp_playback",
            ("200", "`{type: live, meta: {live, source: [{hrn: MP3, type: audio/mpeg, url}]}}`", Some(json!({"type": "object"}))),
            None, &[]))}),
    );
    paths
}
