//! The Livepeer wire shapes: reading `NewStreamPayload` and `StreamPatchPayload` (camelCase
//! keys, numbers possibly as floats, `null` for nullable keys) and drawing the Stream object
//! the SDK's models accept (only `name` required; `profiles` omitted, since the SDK demands
//! video fields of every profile).
//!
//! The rule for fields with no audio meaning: video-only inputs (`profiles`,
//! `recordingSpec`) and unknown keys are accepted, ignored and named in `X-Ignored-Fields`;
//! a request whose intent the box cannot honour is refused with 422 naming the field
//! (`playbackPolicy` `jwt`/`webhook`: a restriction that cannot be enforced must not silently
//! become public).
//!
//! Owns: payload checks and the response shape. May not touch: the store, live state.

use serde_json::{Map, Value, json};

use super::LpError;
use crate::broadcast::LiveStats;
use crate::store::channels::{Channel, Target};

/// Longest `name`.
const MAX_NAME_CHARS: usize = 200;
/// Most `userTags` and `pull.headers` entries.
const MAX_ENTRIES: usize = 32;
/// Longest text in `userTags`, `creatorId.value` and a pull header.
const MAX_TEXT_CHARS: usize = 1024;
/// Longest pull URL.
const MAX_URL_CHARS: usize = 2048;

/// Keys of a stream payload that only tune video: accepted, not stored, reported.
const VIDEO_ONLY: [&str; 2] = ["profiles", "recordingSpec"];

/// What a create or patch asks for, checked.
#[derive(Debug, Default)]
pub(super) struct StreamInput {
    pub name: Option<String>,
    pub record: Option<bool>,
    pub suspended: Option<bool>,
    pub pull: Option<Value>,
    pub user_tags: Option<Option<Value>>,
    pub creator_id: Option<Option<Value>>,
    /// `multistream.targets`: the push targets to attach (create) or the new list (patch).
    pub targets: Option<Vec<TargetAdd>>,
    /// Keys accepted and ignored, for `X-Ignored-Fields`.
    pub ignored: Vec<String>,
}

/// One `TargetAddPayload`: an existing target by id, or a new one from `spec`.
#[derive(Debug, Clone)]
pub(super) struct TargetAdd {
    /// The rendition asked for (always the source audio here).
    pub profile: String,
    /// An existing target's id.
    pub id: Option<String>,
    /// A new target: its URL and name.
    pub spec: Option<(String, String)>,
}

/// A request body as a JSON object.
///
/// # Errors
/// 400 for a body that is not JSON, or not an object.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, LpError> {
    let bad = |m: String| LpError::new(axum::http::StatusCode::BAD_REQUEST, m);
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("the body must be a JSON object".into())),
        Err(e) => Err(bad(format!("the body must be JSON: {e}"))),
    }
}

/// Reads a create (`creating`: `name` required, `pull` allowed) or a patch body.
///
/// # Errors
/// 400 for a body that is not a JSON object, 422 naming the first field at fault.
pub(super) fn read_stream(body: &[u8], creating: bool) -> Result<StreamInput, LpError> {
    let map = json_object(body)?;
    let mut input = StreamInput::default();
    for (key, v) in &map {
        match key.as_str() {
            "name" => input.name = Some(name(v)?),
            "record" => input.record = opt_bool(key, v)?,
            "suspended" => input.suspended = opt_bool(key, v)?,
            "pull" if creating => input.pull = pull(v)?,
            "userTags" => input.user_tags = Some(user_tags(v)?),
            "creatorId" => input.creator_id = Some(creator_id(v)?),
            "playbackPolicy" => playback_policy(v)?,
            "multistream" => input.targets = multistream(v)?,
            k if VIDEO_ONLY.contains(&k) => input.ignored.push(k.to_owned()),
            k => input.ignored.push(k.to_owned()),
        }
    }
    if creating && input.name.is_none() {
        return Err(LpError::unprocessable("name", "is required"));
    }
    Ok(input)
}

fn name(v: &Value) -> Result<String, LpError> {
    let s = v
        .as_str()
        .ok_or_else(|| LpError::unprocessable("name", "must be a string"))?
        .trim();
    if s.is_empty() {
        return Err(LpError::unprocessable("name", "must not be empty"));
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(LpError::unprocessable(
            "name",
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(s.to_owned())
}

/// An optional `name` of `object` (clips, multistream targets): a string of at most
/// [`MAX_NAME_CHARS`], or absent/null.
pub(super) fn opt_name(object: &Value) -> Result<Option<String>, LpError> {
    match object.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(n) => text("name", n, MAX_NAME_CHARS).map(Some),
    }
}

pub(super) fn opt_bool(key: &str, v: &Value) -> Result<Option<bool>, LpError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(LpError::unprocessable(key, "must be true or false")),
    }
}

fn text(field: &str, v: &Value, max: usize) -> Result<String, LpError> {
    let s = v
        .as_str()
        .ok_or_else(|| LpError::unprocessable(field, "must be a string"))?;
    if s.chars().count() > max {
        return Err(LpError::unprocessable(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    Ok(s.to_owned())
}

/// `pull`: `{source (http/https URL), headers {str: str}, isMobile, location {lat, lon}}`.
fn pull(v: &Value) -> Result<Option<Value>, LpError> {
    let Value::Object(p) = v else {
        return match v {
            Value::Null => Ok(None),
            _ => Err(LpError::unprocessable("pull", "must be an object")),
        };
    };
    let source = text(
        "pull.source",
        p.get("source")
            .ok_or_else(|| LpError::unprocessable("pull.source", "is required"))?,
        MAX_URL_CHARS,
    )?;
    let lower = source.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(LpError::unprocessable(
            "pull.source",
            "must be an http:// or https:// URL of an MP3, Ogg or AAC stream or file",
        ));
    }
    let mut out = Map::new();
    out.insert("source".into(), Value::String(source));
    if let Some(h) = p.get("headers").filter(|h| !h.is_null()) {
        let Value::Object(h) = h else {
            return Err(LpError::unprocessable(
                "pull.headers",
                "must be an object of header names to texts",
            ));
        };
        if h.len() > MAX_ENTRIES {
            return Err(LpError::unprocessable(
                "pull.headers",
                format!("has more than {MAX_ENTRIES} entries"),
            ));
        }
        for (name, value) in h {
            let field = format!("pull.headers.{name}");
            let value = text(&field, value, MAX_TEXT_CHARS)?;
            if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || axum::http::HeaderValue::from_str(&value).is_err()
            {
                return Err(LpError::unprocessable(&field, "is not a valid HTTP header"));
            }
        }
        out.insert("headers".into(), Value::Object(h.clone()));
    }
    match p.get("isMobile") {
        None | Some(Value::Null) => {}
        Some(m @ Value::Bool(_)) => {
            out.insert("isMobile".into(), m.clone());
        }
        Some(m) if m.as_f64().is_some_and(|n| [0.0, 1.0, 2.0].contains(&n)) => {
            out.insert("isMobile".into(), m.clone());
        }
        Some(_) => {
            return Err(LpError::unprocessable(
                "pull.isMobile",
                "must be 0, 1, 2, true or false",
            ));
        }
    }
    if let Some(loc) = p.get("location").filter(|l| !l.is_null()) {
        let lat = loc.get("lat").and_then(Value::as_f64);
        let lon = loc.get("lon").and_then(Value::as_f64);
        match (lat, lon) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                out.insert("location".into(), json!({"lat": lat, "lon": lon}));
            }
            _ => {
                return Err(LpError::unprocessable(
                    "pull.location",
                    "must be {lat, lon} with a latitude and a longitude",
                ));
            }
        }
    }
    Ok(Some(Value::Object(out)))
}

/// `userTags`: `{str: str | number | [str | number]}`, or null to clear.
fn user_tags(v: &Value) -> Result<Option<Value>, LpError> {
    let Value::Object(tags) = v else {
        return match v {
            Value::Null => Ok(None),
            _ => Err(LpError::unprocessable("userTags", "must be an object")),
        };
    };
    if tags.len() > MAX_ENTRIES {
        return Err(LpError::unprocessable(
            "userTags",
            format!("has more than {MAX_ENTRIES} entries"),
        ));
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => s.chars().count() <= MAX_TEXT_CHARS,
        Value::Number(_) => true,
        _ => false,
    };
    for (key, value) in tags {
        let ok = match value {
            Value::Array(items) => items.len() <= MAX_ENTRIES && items.iter().all(scalar),
            other => scalar(other),
        };
        if !ok {
            return Err(LpError::unprocessable(
                &format!("userTags.{key}"),
                "must be a text, a number or a list of them",
            ));
        }
    }
    Ok(Some(v.clone()))
}

/// `creatorId`: `{type: "unverified", value: str}`, or null to clear.
fn creator_id(v: &Value) -> Result<Option<Value>, LpError> {
    if v.is_null() {
        return Ok(None);
    }
    if v.get("type").and_then(Value::as_str) != Some("unverified") {
        return Err(LpError::unprocessable(
            "creatorId.type",
            "must be \"unverified\"",
        ));
    }
    let value = text(
        "creatorId.value",
        v.get("value")
            .ok_or_else(|| LpError::unprocessable("creatorId.value", "is required"))?,
        MAX_TEXT_CHARS,
    )?;
    Ok(Some(json!({"type": "unverified", "value": value})))
}

/// `playbackPolicy`: only `public` (or null) can be honoured.
fn playback_policy(v: &Value) -> Result<(), LpError> {
    match v.get("type").and_then(Value::as_str) {
        _ if v.is_null() => Ok(()),
        Some("public") => Ok(()),
        Some("jwt" | "webhook") => Err(LpError::unprocessable(
            "playbackPolicy",
            "playback access control is not supported on this box: its channels are public on the venue network",
        )),
        _ => Err(LpError::unprocessable(
            "playbackPolicy.type",
            "must be \"public\"",
        )),
    }
}

/// `multistream`: `{targets: [TargetAddPayload]}`, or null.
fn multistream(v: &Value) -> Result<Option<Vec<TargetAdd>>, LpError> {
    if v.is_null() {
        return Ok(None);
    }
    let Some(targets) = v.get("targets").filter(|t| !t.is_null()) else {
        return if v.is_object() {
            Ok(None)
        } else {
            Err(LpError::unprocessable("multistream", "must be an object"))
        };
    };
    let Value::Array(items) = targets else {
        return Err(LpError::unprocessable(
            "multistream.targets",
            "must be a list",
        ));
    };
    if items.len() > MAX_ENTRIES {
        return Err(LpError::unprocessable(
            "multistream.targets",
            format!("has more than {MAX_ENTRIES} entries"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, t)| target_add(t, &format!("multistream.targets[{i}]")))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// A `TargetAddPayload` at `field`.
///
/// # Errors
/// 422 naming the part at fault.
pub(super) fn target_add(v: &Value, field: &str) -> Result<TargetAdd, LpError> {
    if !v.is_object() {
        return Err(LpError::unprocessable(field, "must be an object"));
    }
    let profile = text(
        &format!("{field}.profile"),
        v.get("profile")
            .ok_or_else(|| LpError::unprocessable(&format!("{field}.profile"), "is required"))?,
        MAX_NAME_CHARS,
    )?;
    match v.get("videoOnly") {
        None | Some(Value::Null | Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return Err(LpError::unprocessable(
                &format!("{field}.videoOnly"),
                "a video-only target would get no audio: this box pushes audio only",
            ));
        }
        Some(_) => {
            return Err(LpError::unprocessable(
                &format!("{field}.videoOnly"),
                "must be true or false",
            ));
        }
    }
    let id = match v.get("id") {
        None | Some(Value::Null) => None,
        Some(id) => Some(text(&format!("{field}.id"), id, 64)?),
    };
    let spec = match v.get("spec") {
        None | Some(Value::Null) => None,
        Some(spec) => {
            let url = text(
                &format!("{field}.spec.url"),
                spec.get("url").ok_or_else(|| {
                    LpError::unprocessable(&format!("{field}.spec.url"), "is required")
                })?,
                MAX_URL_CHARS,
            )?;
            target_url(&format!("{field}.spec.url"), &url)?;
            let name = match spec.get("name") {
                None | Some(Value::Null) => String::new(),
                Some(n) => text(&format!("{field}.spec.name"), n, MAX_NAME_CHARS)?,
            };
            Some((url, name))
        }
    };
    if id.is_none() == spec.is_none() {
        return Err(LpError::unprocessable(
            field,
            "give either the id of a multistream target or a spec {url, name}",
        ));
    }
    Ok(TargetAdd { profile, id, spec })
}

/// Checks a push target URL.
///
/// # Errors
/// 422 saying what is wrong with it (never repeating it: it holds a password).
pub(super) fn target_url(field: &str, url: &str) -> Result<(), LpError> {
    crate::net::push::Endpoint::parse(url)
        .map(|_| ())
        .map_err(|e| LpError::unprocessable(field, e))
}

/// A multistream target as answered: never its URL (it holds the password).
pub(super) fn target(t: &Target) -> Value {
    json!({"id": t.id, "name": t.name, "disabled": t.disabled, "createdAt": t.created_at_ms})
}

/// The Stream object for `ch`, with its live figures when it is live.
pub(super) fn stream(ch: &Channel, live: Option<&LiveStats>, base_url: &str) -> Value {
    let mut s = Map::new();
    s.insert("id".into(), json!(ch.id));
    s.insert("name".into(), json!(ch.name));
    if let Some(c) = &ch.creator_id {
        s.insert("creatorId".into(), c.clone());
    }
    if let Some(t) = &ch.user_tags {
        s.insert("userTags".into(), t.clone());
    }
    let live_bytes = live.map_or(0, |l| l.bytes);
    let live_ms = live.map_or(0, |l| l.duration_ms);
    let bytes = u64::try_from(ch.source_bytes).unwrap_or(0) + live_bytes;
    let duration_ms = u64::try_from(ch.source_duration_ms).unwrap_or(0) + live_ms;
    let last_seen = live.map_or(ch.last_seen_ms, |l| l.last_seen_ms.max(ch.last_seen_ms));
    s.insert("lastSeen".into(), json!(last_seen));
    s.insert("sourceBytes".into(), json!(bytes));
    s.insert(
        "sourceSegmentsDuration".into(),
        json!(duration_ms as f64 / 1000.0),
    );
    s.insert("isActive".into(), json!(live.is_some()));
    s.insert("createdAt".into(), json!(ch.created_at_ms));
    if let Some(key) = &ch.stream_key {
        s.insert("streamKey".into(), json!(key));
    }
    if let Some(p) = &ch.pull {
        s.insert("pull".into(), p.clone());
    }
    s.insert("playbackId".into(), json!(ch.playback_id));
    s.insert("playbackPolicy".into(), json!({"type": "public"}));
    s.insert("record".into(), json!(ch.record));
    s.insert("suspended".into(), json!(ch.suspended));
    s.insert("lastTerminatedAt".into(), json!(ch.last_terminated_at_ms));
    let targets: Vec<Value> = ch
        .targets
        .iter()
        .map(|t| json!({"id": t.target_id, "profile": t.profile, "videoOnly": false}))
        .collect();
    s.insert("multistream".into(), json!({ "targets": targets }));
    // The box's own additions (unknown keys are ignored by Livepeer clients).
    s.insert(
        "playbackUrl".into(),
        json!(format!("{base_url}/live/{}.mp3", ch.playback_id)),
    );
    if let Some(key) = &ch.stream_key {
        s.insert("ingestUrl".into(), json!(format!("{base_url}/live/{key}")));
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str, creating: bool) -> String {
        read_stream(body.as_bytes(), creating).unwrap_err().message
    }

    #[test]
    fn a_create_needs_a_name_and_names_a_wrong_type() {
        assert_eq!(err("{}", true), "name: is required");
        assert_eq!(err(r#"{"name": 5}"#, true), "name: must be a string");
        assert!(
            read_stream(br#"{"record": false}"#, false).is_ok(),
            "a patch needs no name"
        );
    }

    #[test]
    fn video_only_and_unknown_fields_are_ignored_and_listed() {
        let input = read_stream(
            br#"{"name":"a","profiles":[{"width":1}],"recordingSpec":null,"whatever":1}"#,
            true,
        )
        .unwrap();
        assert_eq!(input.ignored, ["profiles", "recordingSpec", "whatever"]);
    }

    #[test]
    fn restricted_playback_is_refused_rather_than_made_public() {
        for policy in ["jwt", "webhook"] {
            let body = format!(r#"{{"name":"a","playbackPolicy":{{"type":"{policy}"}}}}"#);
            assert!(err(&body, true).starts_with("playbackPolicy: playback access control"));
        }
        assert!(read_stream(br#"{"name":"a","playbackPolicy":{"type":"public"}}"#, true).is_ok());
        assert!(read_stream(br#"{"name":"a","playbackPolicy":null}"#, true).is_ok());
    }

    #[test]
    fn a_pull_source_must_be_http_and_its_headers_valid() {
        assert!(
            err(r#"{"name":"a","pull":{"source":"rtmp://x/y"}}"#, true).starts_with("pull.source:")
        );
        assert!(err(r#"{"name":"a","multistream":{"targets":[{"profile":"source","spec":{"url":"rtmp://x/live"}}]}}"#, true)
            .starts_with("multistream.targets[0].spec.url: the scheme rtmp:// is not supported"));
        assert!(
            err(
                r#"{"name":"a","multistream":{"targets":[{"profile":"source"}]}}"#,
                true
            )
            .starts_with("multistream.targets[0]: give either")
        );
        assert!(err(r#"{"name":"a","pull":{}}"#, true).starts_with("pull.source: is required"));
        assert!(
            err(
                r#"{"name":"a","pull":{"source":"http://x/","headers":{"bad name":"v"}}}"#,
                true
            )
            .starts_with("pull.headers.bad name:")
        );
        let ok = read_stream(
            br#"{"name":"a","pull":{"source":"https://x/a.mp3","headers":{"Authorization":"Basic eA=="},"isMobile":0.0,"location":{"lat":1.0,"lon":2}}}"#,
            true,
        )
        .unwrap();
        assert_eq!(ok.pull.unwrap()["headers"]["Authorization"], "Basic eA==");
    }

    #[test]
    fn user_tags_take_texts_numbers_and_lists_of_them() {
        assert!(
            read_stream(
                br#"{"name":"a","userTags":{"room":"A","n":2.0,"l":["x",1]}}"#,
                true
            )
            .is_ok()
        );
        assert_eq!(
            err(r#"{"name":"a","userTags":{"room":{"x":1}}}"#, true),
            "userTags.room: must be a text, a number or a list of them"
        );
    }
}
