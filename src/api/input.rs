//! Lenient request input: bodies in JSON, urlencoded or multipart form, and query strings,
//! all read into one [`Fields`] map, with accessors that coerce the way Roundware clients need
//! (numbers as strings, `tag_ids` as `1,2`, `"1,2"`, `[1,2]`, `1,2,`, `,` or `undefined`,
//! booleans as `true`/`1`/`True`) and collect every problem into DRF's field-error map.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::AppState;
use super::error::ApiError;

mod multipart;

/// A file part of a multipart body, spooled to a temporary file in the media folder as it
/// arrived (see [`super::ingest`]); removed when dropped unless it became a stored original.
#[derive(Debug)]
pub(crate) struct UploadedFile {
    /// The form field name (normally `file`).
    pub field: String,
    /// The client's file name, if it sent one.
    pub filename: Option<String>,
    /// The bytes, on disk.
    pub spool: crate::media::TempFile,
    /// The upload's place among those in flight, held until its conversion ends.
    pub ticket: super::ingest::Ticket,
}

/// Request fields from a body or a query string.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    files: Vec<UploadedFile>,
}

/// A clone carries the text fields only: an uploaded file is one file on disk with one
/// admission ticket, and stays with the original.
impl Clone for Fields {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            files: Vec::new(),
        }
    }
}

/// Problems found while reading fields, keyed by field name.
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// Records a problem with `field`.
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    /// True when nothing was recorded.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was recorded, else the 400 field map.
    ///
    /// # Errors
    /// [`ApiError::Fields`] with every recorded problem.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self.0))
        }
    }
}

const REQUIRED: &str = "This field is required.";

/// Longest id list accepted in a body or a filter (bounds the work one request can cause).
pub(crate) const MAX_IDS: usize = 500;

/// Longest text any field may carry, in characters (a legal agreement fits; a memory bomb
/// stored in a name and repeated in every list does not). Fields with a tighter rule (names,
/// descriptions) check their own.
pub(crate) const MAX_TEXT_CHARS: usize = 65_536;

/// 2^53: the largest whole number a JSON float holds exactly (larger ones may be rounded
/// integers that did not fit 64 bits).
const EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

/// Largest JSON or urlencoded body; only multipart uploads may reach `[limits] max_upload_mb`.
pub(crate) const MAX_FORM_BYTES: usize = 1024 * 1024;

/// True for values clients send to mean "nothing": empty strings and the literal `undefined`
/// (legacy web SDK), and JSON null.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(s) => {
            // Blank as the OpenAPI document's `nonblank` says: Unicode white space, and the
            // byte-order mark JSON Schema's `\s` counts too.
            let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            t.is_empty() || t == "undefined"
        }
        _ => false,
    }
}

impl Fields {
    /// Fields from a JSON object.
    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        Self {
            map,
            files: Vec::new(),
        }
    }

    /// Fields from `a=1&b=2` text; a repeated key becomes an array of its values.
    pub(crate) fn from_urlencoded(text: &[u8]) -> Self {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(text) {
            if k.is_empty() {
                continue;
            }
            let v = Value::String(v.into_owned());
            match map.get_mut(k.as_ref()) {
                Some(Value::Array(values)) => values.push(v),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, v]);
                }
                None => {
                    map.insert(k.into_owned(), v);
                }
            }
        }
        Self {
            map,
            files: Vec::new(),
        }
    }

    /// The raw value of a key, if present.
    pub(crate) fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// True if the key is present at all (even blank).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// True if the key is present with a non-blank value.
    pub(crate) fn has_value(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !is_blank(v))
    }

    /// The first of `keys` that has a value, else the first that is present at all (for
    /// renamed inputs such as `tags`/`tag_ids`: `{"session": 1, "session_id": null}` reads
    /// `session`).
    pub(crate) fn first_key<'k>(&self, keys: &[&'k str]) -> Option<&'k str> {
        keys.iter()
            .copied()
            .find(|k| self.has_value(k))
            .or_else(|| keys.iter().copied().find(|k| self.map.contains_key(*k)))
    }

    /// Adds a text field (a repeated name keeps the last value, as multipart always did).
    pub(super) fn insert_text(&mut self, name: String, text: String) {
        self.map.insert(name, Value::String(text));
    }

    /// Adds an uploaded file.
    pub(super) fn push_file(&mut self, file: UploadedFile) {
        self.files.push(file);
    }

    /// Uploaded files.
    pub(crate) fn files(&self) -> &[UploadedFile] {
        &self.files
    }

    /// Takes the uploaded file of a form field.
    pub(crate) fn take_file(&mut self, field: &str) -> Option<UploadedFile> {
        let index = self.files.iter().position(|f| f.field == field)?;
        Some(self.files.remove(index))
    }

    /// Every key (for copying a body into an event's data).
    pub(crate) fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The last value when a key was repeated, else the value itself.
    fn single(&self, key: &str) -> Option<&Value> {
        match self.map.get(key)? {
            Value::Array(values) if values.iter().all(Value::is_string) => values.last(),
            v => Some(v),
        }
    }

    /// A text field; numbers are accepted as their text (as DRF's CharField does; booleans are
    /// not). Blank → `None`. At most [`MAX_TEXT_CHARS`].
    pub(crate) fn string(&self, key: &str, errs: &mut FieldErrors) -> Option<String> {
        self.nullable_string(key, errs).flatten()
    }

    /// A text field for PATCH: `None` absent, `Some(None)` explicitly null, `Some(Some(s))`.
    /// An empty string is kept as a value (a client may clear a text).
    pub(crate) fn nullable_string(
        &self,
        key: &str,
        errs: &mut FieldErrors,
    ) -> Option<Option<String>> {
        match self.single(key)? {
            Value::Null => Some(None),
            Value::String(s) if s.chars().count() > MAX_TEXT_CHARS => {
                errs.add(key, too_long(MAX_TEXT_CHARS));
                None
            }
            Value::String(s) => Some(Some(s.clone())),
            Value::Number(n) => Some(Some(n.to_string())),
            _ => {
                errs.add(key, "Not a valid string.");
                None
            }
        }
    }

    /// A text field of at most `max_chars` characters (blank → `None`).
    pub(crate) fn string_max(
        &self,
        key: &str,
        max_chars: usize,
        errs: &mut FieldErrors,
    ) -> Option<String> {
        let s = self.string(key, errs)?;
        if s.chars().count() > max_chars {
            errs.add(key, too_long(max_chars));
            return None;
        }
        Some(s)
    }

    /// A required text field (blank counts as missing).
    pub(crate) fn req_string(&self, key: &str, errs: &mut FieldErrors) -> Option<String> {
        let v = self.string(key, errs).filter(|s| !s.trim().is_empty());
        if v.is_none() && !errs.0.contains_key(key) {
            errs.add(key, REQUIRED);
        }
        v
    }

    /// An integer; a numeric string is accepted. Blank → `None`.
    pub(crate) fn int(&self, key: &str, errs: &mut FieldErrors) -> Option<i64> {
        let v = self.single(key)?;
        if is_blank(v) {
            return None;
        }
        let parsed = match v {
            // 5.0 is 5; a whole number past 64 bits arrives as an inexact float and is refused
            // (it was once clamped to the limit: -2^63-1 stored as -2^63).
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT_FLOAT_INT)
                    .map(|f| f as i64)
            }),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            errs.add(key, "A valid integer is required.");
        }
        parsed
    }

    /// A required integer.
    pub(crate) fn req_int(&self, key: &str, errs: &mut FieldErrors) -> Option<i64> {
        let v = self.int(key, errs);
        if v.is_none() && !errs.0.contains_key(key) {
            errs.add(key, REQUIRED);
        }
        v
    }

    /// An integer for PATCH of a nullable column: explicit null → `Some(None)`.
    pub(crate) fn nullable_int(&self, key: &str, errs: &mut FieldErrors) -> Option<Option<i64>> {
        match self.single(key)? {
            Value::Null => Some(None),
            _ => self.int(key, errs).map(Some),
        }
    }

    /// A finite number; a numeric string is accepted. Blank → `None`.
    pub(crate) fn float(&self, key: &str, errs: &mut FieldErrors) -> Option<f64> {
        let v = self.single(key)?;
        if is_blank(v) {
            return None;
        }
        let parsed = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|f| f.is_finite());
        if parsed.is_none() {
            errs.add(key, "A valid number is required.");
        }
        parsed
    }

    /// A required number.
    pub(crate) fn req_float(&self, key: &str, errs: &mut FieldErrors) -> Option<f64> {
        let v = self.float(key, errs);
        if v.is_none() && !errs.0.contains_key(key) {
            errs.add(key, REQUIRED);
        }
        v
    }

    /// A number for PATCH of a nullable column: explicit null → `Some(None)`.
    pub(crate) fn nullable_float(&self, key: &str, errs: &mut FieldErrors) -> Option<Option<f64>> {
        match self.single(key)? {
            Value::Null => Some(None),
            _ => self.float(key, errs).map(Some),
        }
    }

    /// A number that must lie in `range`.
    pub(crate) fn float_in(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<f64>,
        errs: &mut FieldErrors,
    ) -> Option<f64> {
        let v = self.float(key, errs)?;
        if range.contains(&v) {
            Some(v)
        } else {
            errs.add(
                key,
                format!("Must be between {} and {}.", range.start(), range.end()),
            );
            None
        }
    }

    /// A boolean: JSON true/false, or `true`/`false`/`1`/`0`/`yes`/`no`/`y`/`n` in any case.
    pub(crate) fn bool(&self, key: &str, errs: &mut FieldErrors) -> Option<bool> {
        let v = self.single(key)?;
        if is_blank(v) {
            return None;
        }
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => parse_bool(s),
            _ => None,
        };
        if parsed.is_none() {
            errs.add(key, "Must be a valid boolean.");
        }
        parsed
    }

    /// A list of ids, leniently: `[1,2]`, `"1,2"`, `"\"1,2\""`, `"[1,2]"`, `"1,2,"`, `","`,
    /// repeated keys; `undefined`, blank and null give `None` (absent).
    pub(crate) fn ids(&self, key: &str, errs: &mut FieldErrors) -> Option<Vec<i64>> {
        let v = self.map.get(key)?;
        if matches!(v, Value::Array(items) if items.is_empty()) {
            return Some(Vec::new());
        }
        if is_blank(v) {
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        collect_ids(v, &mut out, &mut ok);
        if !ok {
            errs.add(key, "Expected a list of integer ids, such as 1,2 or [1,2].");
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|id| seen.insert(*id));
        if out.len() > MAX_IDS {
            errs.add(key, format!("At most {MAX_IDS} ids are accepted."));
            return None;
        }
        Some(out)
    }

    /// A date/time in naive, `Z` or offset form, returned as naive UTC.
    pub(crate) fn datetime(&self, key: &str, errs: &mut FieldErrors) -> Option<String> {
        let text = self.string(key, errs)?;
        if text.trim().is_empty() {
            return None;
        }
        let parsed = crate::store::time::parse(&text);
        if parsed.is_none() {
            errs.add(key, "Datetime has wrong format. Use YYYY-MM-DDThh:mm[:ss[.uuuuuu]], optionally with Z or an offset.");
        }
        parsed
    }

    /// A value from a fixed set of choices.
    pub(crate) fn choice(
        &self,
        key: &str,
        choices: &[&str],
        errs: &mut FieldErrors,
    ) -> Option<String> {
        let v = self.nullable_string(key, errs)??;
        if choices.contains(&v.as_str()) {
            Some(v)
        } else {
            errs.add(
                key,
                format!(
                    "\"{v}\" is not a valid choice (one of: {}).",
                    choices.join(", ")
                ),
            );
            None
        }
    }

    /// A polygon geometry (GeoJSON or WKT); explicit null → `Some(None)`.
    pub(crate) fn geometry(
        &self,
        key: &str,
        errs: &mut FieldErrors,
    ) -> Option<Option<geo::MultiPolygon<f64>>> {
        let v = self.map.get(key)?;
        if is_blank(v) {
            return Some(None);
        }
        match crate::geometry::parse_multipolygon(v) {
            Ok(mp) => Some(Some(mp)),
            Err(e) => {
                errs.add(key, e.0);
                None
            }
        }
    }
}

/// DRF's message for an over-long text.
pub(crate) fn too_long(max_chars: usize) -> String {
    format!("Ensure this field has no more than {max_chars} characters.")
}

/// Parses the boolean spellings clients use.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "0" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

fn collect_ids(v: &Value, out: &mut Vec<i64>, ok: &mut bool) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_ids(i, out, ok)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push(i),
            None => *ok = false,
        },
        Value::String(s) => {
            for part in s.split(',') {
                let part = part
                    .trim()
                    .trim_matches(|c| matches!(c, '"' | '\'' | '[' | ']' | ' '));
                if part.is_empty() || part == "undefined" || part == "null" {
                    continue;
                }
                match part.parse::<i64>() {
                    Ok(i) => out.push(i),
                    Err(_) => *ok = false,
                }
            }
        }
        Value::Null => {}
        _ => *ok = false,
    }
}

/// The query string as [`Fields`]; a trailing `&`, any order and raw `:` are tolerated.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query(pub Fields);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Fields::from_urlencoded(
            parts.uri.query().unwrap_or("").as_bytes(),
        )))
    }
}

/// The request body as [`Fields`], from JSON, urlencoded or multipart form; an empty body
/// gives no fields. Query-string values are not merged in.
#[derive(Debug, Default, Clone)]
pub(crate) struct Body(pub Fields);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.limits.max_upload_bytes();
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let length = req
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let multipart = Multipart::from_request(req, state).await.map_err(|e| {
                ApiError::bad_request(format!("Malformed multipart body: {}", e.body_text()))
            })?;
            return multipart::read(multipart, state, limit, length)
                .await
                .map(Self);
        }
        let form_limit = limit.min(MAX_FORM_BYTES);
        let bytes = axum::body::to_bytes(req.into_body(), form_limit)
            .await
            .map_err(|_| form_too_large(form_limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Fields::default()));
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            return Ok(Self(Fields::from_urlencoded(&bytes)));
        }
        if content_type.is_empty()
            || content_type.starts_with("application/json")
            || content_type.contains("+json")
        {
            return match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(Self(Fields::from_map(map))),
                Ok(_) => Err(ApiError::bad_request(
                    "JSON body must be an object of fields.",
                )),
                Err(e) => Err(ApiError::bad_request(format!("JSON parse error - {e}"))),
            };
        }
        Err(ApiError::Detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Unsupported media type \"{content_type}\" in request; send JSON, a form or multipart."
            ),
        ))
    }
}

pub(super) fn too_large(limit: usize) -> ApiError {
    let detail = format!(
        "Request body is larger than the {} MB limit ([limits] max_upload_mb).",
        limit / (1024 * 1024)
    );
    ApiError::Detail(StatusCode::PAYLOAD_TOO_LARGE, detail)
}

fn form_too_large(limit: usize) -> ApiError {
    let detail = format!(
        "Request body is larger than {} KB; only multipart uploads may be larger.",
        limit / 1024
    );
    ApiError::Detail(StatusCode::PAYLOAD_TOO_LARGE, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => Fields::from_map(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn blank_is_what_the_documents_nonblank_pattern_refuses() {
        // `[^\s\u0085]` in JSON Schema (ECMAScript) terms: NEL and the byte-order mark are
        // blank, a letter is not.
        for blank in [
            "",
            " ",
            "\u{85}",
            "\u{feff}",
            " \u{85}\u{3000} ",
            "undefined",
        ] {
            assert!(is_blank(&json!(blank)), "{blank:?}");
        }
        assert!(!is_blank(&json!("\u{85}x")));
    }

    #[test]
    fn every_lenient_tag_ids_form_parses() {
        let cases = [
            (json!({"t": "1,2"}), vec![1, 2]),
            (json!({"t": "\"1,2\""}), vec![1, 2]),
            (json!({"t": [1, 2]}), vec![1, 2]),
            (json!({"t": "[1, 2]"}), vec![1, 2]),
            (json!({"t": "1,2,"}), vec![1, 2]),
            (json!({"t": ",93"}), vec![93]),
            (json!({"t": ","}), vec![]),
            (json!({"t": 7}), vec![7]),
            (json!({"t": ["3", "4"]}), vec![3, 4]),
        ];
        for (v, want) in cases {
            let mut errs = FieldErrors::default();
            assert_eq!(
                json_fields(v.clone()).ids("t", &mut errs),
                Some(want),
                "{v}"
            );
            assert!(errs.is_empty());
        }
    }

    #[test]
    fn undefined_and_blank_tag_ids_count_as_absent() {
        for v in [
            json!({"t": "undefined"}),
            json!({"t": ""}),
            json!({"t": null}),
        ] {
            let mut errs = FieldErrors::default();
            assert_eq!(json_fields(v).ids("t", &mut errs), None);
            assert!(errs.is_empty());
        }
    }

    #[test]
    fn a_non_numeric_tag_id_is_a_field_error() {
        let mut errs = FieldErrors::default();
        assert_eq!(
            json_fields(json!({"tag_ids": "1,x"})).ids("tag_ids", &mut errs),
            None
        );
        let ApiError::Fields(map) = errs.finish().unwrap_err() else {
            panic!()
        };
        assert!(map.contains_key("tag_ids"));
    }

    #[test]
    fn numbers_arrive_as_strings_and_are_coerced() {
        let f = Fields::from_urlencoded(b"lat=42.36&id=55&flag=True&&");
        let mut errs = FieldErrors::default();
        assert_eq!(f.float("lat", &mut errs), Some(42.36));
        assert_eq!(f.int("id", &mut errs), Some(55));
        assert_eq!(f.bool("flag", &mut errs), Some(true));
        assert!(errs.is_empty());
    }

    #[test]
    fn wrong_types_are_named_in_the_error_map() {
        let f = json_fields(json!({"n": "five", "b": "maybe", "x": {"a": 1}, "f": "NaN"}));
        let mut errs = FieldErrors::default();
        assert_eq!(f.int("n", &mut errs), None);
        assert_eq!(f.bool("b", &mut errs), None);
        assert_eq!(f.string("x", &mut errs), None);
        assert_eq!(f.float("f", &mut errs), None);
        assert_eq!(f.req_int("missing", &mut errs), None);
        let ApiError::Fields(map) = errs.finish().unwrap_err() else {
            panic!()
        };
        for k in ["n", "b", "x", "f", "missing"] {
            assert!(map.contains_key(k), "{k} missing from {map:?}");
        }
    }

    #[test]
    fn texts_refuse_booleans_and_anything_longer_than_the_cap() {
        let long = "A".repeat(MAX_TEXT_CHARS + 1);
        let f = json_fields(json!({"b": false, "n": 5, "long": long, "name": "Ada Lovelace"}));
        let mut errs = FieldErrors::default();
        assert_eq!(f.string("b", &mut errs), None);
        assert_eq!(f.string("n", &mut errs), Some("5".into()));
        assert_eq!(f.string("long", &mut errs), None);
        assert_eq!(f.string_max("name", 4, &mut errs), None);
        assert_eq!(
            f.string_max("name", 150, &mut errs),
            Some("Ada Lovelace".into())
        );
        let ApiError::Fields(map) = errs.finish().unwrap_err() else {
            panic!()
        };
        assert_eq!(map.len(), 3, "{map:?}");
        assert!(map["long"][0].contains("65536"), "{map:?}");
    }

    #[test]
    fn repeated_query_keys_are_kept_and_the_last_one_wins_for_scalars() {
        let f = Fields::from_urlencoded(b"tags=1&tags=2&p=3&p=4");
        let mut errs = FieldErrors::default();
        assert_eq!(f.ids("tags", &mut errs), Some(vec![1, 2]));
        assert_eq!(f.int("p", &mut errs), Some(4));
    }
}

#[cfg(test)]
#[path = "input_proptests.rs"]
mod proptests;
