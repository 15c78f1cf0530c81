//! A small builder for the JSON Schemas of the OpenAPI document: each operation describes its
//! body and query parameters right where it is registered (`.body(obj().id("session_id").req())`
//! in the route table), so the document reaches the real logic of every operation when a
//! fuzzer reads it, and cannot drift far from the handler next to it.
//!
//! The schemas describe the *canonical JSON form* of each field (an integer is a JSON integer,
//! a list of ids a JSON array). The server stays lenient beyond that on purpose (numbers as
//! strings, `tag_ids` as `"1,2"`, forms and multipart; decisions.md), so the schema is a subset
//! of what is accepted: everything it calls valid must be accepted, and what it calls invalid is
//! refused where the type matters (a boolean or null where text is expected, an object for a
//! number, a value outside a stated range or choice).
//!
//! Ranges and lengths stated here are the ones the handlers enforce; where a handler has no
//! limit the schema states none either (a fuzzer may then send anything of the type).

use serde_json::{Map, Value, json};

use super::input::{MAX_IDS, MAX_TEXT_CHARS};

/// Largest id the server can hold (SQLite's signed 64-bit rowid).
const ID_MAX: i64 = i64::MAX;

/// Positions of a shape: the server takes up to this many in all (a 400 beyond).
const POSITIONS_MAX: usize = crate::geometry::MAX_POSITIONS;

/// The kind of a described field, which decides how it is written as a query parameter and
/// as a form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    IdList,
    Geometry,
    File,
}

#[derive(Debug, Clone)]
struct Field {
    name: &'static str,
    schema: Map<String, Value>,
    kind: Kind,
    required: bool,
}

/// The fields of a request body or query string, being described.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obj {
    fields: Vec<Field>,
}

/// Starts a description with no fields.
pub(crate) fn obj() -> Obj {
    Obj::default()
}

impl Obj {
    /// These fields, then `other`'s.
    pub(crate) fn and(mut self, other: Obj) -> Self {
        self.fields.extend(other.fields);
        self
    }
}

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Obj {
    fn push(mut self, name: &'static str, schema: Value, kind: Kind) -> Self {
        self.fields.push(Field {
            name,
            schema: map(schema),
            kind,
            required: false,
        });
        self
    }

    fn last(&mut self) -> &mut Field {
        // Every modifier follows a field; a modifier first is a bug in a route registration,
        // caught by the OpenAPI tests that build the whole table.
        self.fields
            .last_mut()
            .expect("a schema modifier must follow a field")
    }

    /// An integer (any 64-bit value).
    pub(crate) fn int(self, name: &'static str) -> Self {
        self.push(
            name,
            json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": ID_MAX}),
            Kind::Scalar,
        )
    }

    /// The id of another object (a positive integer).
    pub(crate) fn id(self, name: &'static str) -> Self {
        self.push(
            name,
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": ID_MAX}),
            Kind::Scalar,
        )
    }

    /// A finite number.
    pub(crate) fn num(self, name: &'static str) -> Self {
        self.push(name, json!({"type": "number"}), Kind::Scalar)
    }

    /// A latitude in degrees.
    pub(crate) fn lat(self, name: &'static str) -> Self {
        self.num(name).range(-90.0, 90.0)
    }

    /// A longitude in degrees.
    pub(crate) fn lon(self, name: &'static str) -> Self {
        self.num(name).range(-180.0, 180.0)
    }

    /// Text of at most `max_chars` characters.
    pub(crate) fn text(self, name: &'static str, max_chars: usize) -> Self {
        self.push(
            name,
            json!({"type": "string", "maxLength": max_chars.min(MAX_TEXT_CHARS)}),
            Kind::Scalar,
        )
    }

    /// Text up to the server-wide cap ([`MAX_TEXT_CHARS`]).
    pub(crate) fn string(self, name: &'static str) -> Self {
        self.text(name, MAX_TEXT_CHARS)
    }

    /// A boolean.
    pub(crate) fn bool(self, name: &'static str) -> Self {
        self.push(name, json!({"type": "boolean"}), Kind::Scalar)
    }

    /// One of a fixed set of integers.
    pub(crate) fn int_choice(self, name: &'static str, choices: &[u32]) -> Self {
        self.push(
            name,
            json!({"type": "integer", "enum": choices}),
            Kind::Scalar,
        )
    }

    /// One of a fixed set of strings.
    pub(crate) fn choice(self, name: &'static str, choices: &[&str]) -> Self {
        self.push(
            name,
            json!({"type": "string", "enum": choices}),
            Kind::Scalar,
        )
    }

    /// A list of ids (`[1,2]`; also accepted as `"1,2"` and the other lenient forms).
    pub(crate) fn ids(self, name: &'static str) -> Self {
        self.push(
            name,
            json!({"type": "array", "maxItems": MAX_IDS,
                   "items": {"type": "integer", "format": "int64", "minimum": 1, "maximum": ID_MAX}}),
            Kind::IdList,
        )
    }

    /// A date and time (naive UTC, `Z` or an offset).
    pub(crate) fn datetime(self, name: &'static str) -> Self {
        self.push(
            name,
            json!({"type": "string", "format": "date-time",
                   "description": "ISO-8601; naive times are UTC, `Z` and offsets are converted"}),
            Kind::Scalar,
        )
    }

    /// A polygon shape: GeoJSON `Polygon` (also accepted: `MultiPolygon`, GeoJSON text, WKT).
    pub(crate) fn geometry(self, name: &'static str) -> Self {
        // OpenAPI 3.0 has no tuples, so the members are plain numbers: a longitude past 180 or
        // a latitude past 90 is a 400 naming the position. An altitude (GeoJSON's optional
        // third member) is accepted and dropped.
        let position = json!({"type": "array", "minItems": 2, "maxItems": 3,
                              "items": {"type": "number"}});
        let ring =
            json!({"type": "array", "minItems": 4, "maxItems": POSITIONS_MAX, "items": position});
        self.push(
            name,
            json!({
                "type": "object",
                "description": "GeoJSON Polygon (or MultiPolygon) in [longitude, latitude] order; WKT POLYGON/MULTIPOLYGON text is accepted too; open rings are closed",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"type": "string", "enum": ["Polygon"]},
                    "coordinates": {"type": "array", "minItems": 1, "maxItems": POSITIONS_MAX / 4, "items": ring},
                },
            }),
            Kind::Geometry,
        )
    }

    /// An uploaded file (multipart only).
    pub(crate) fn file(self, name: &'static str) -> Self {
        self.push(
            name,
            json!({"type": "string", "format": "binary"}),
            Kind::File,
        )
    }

    /// The last field is required.
    pub(crate) fn req(mut self) -> Self {
        self.last().required = true;
        self
    }

    /// The field called `name`, described earlier, is required (for a shared list of fields
    /// that one operation needs more strictly).
    pub(crate) fn req_named(mut self, name: &str) -> Self {
        if let Some(f) = self.fields.iter_mut().find(|f| f.name == name) {
            f.required = true;
        }
        self
    }

    /// The last field is required when `required` is true (creates require what PATCH does not).
    pub(crate) fn req_if(self, required: bool) -> Self {
        if required { self.req() } else { self }
    }

    /// The last field (text) matches `regex` (unanchored, as JSON Schema reads it).
    pub(crate) fn pattern(mut self, regex: &str) -> Self {
        self.last().schema.insert("pattern".into(), json!(regex));
        self
    }

    /// The last field may be JSON null (clears it).
    pub(crate) fn nullable(mut self) -> Self {
        self.last().schema.insert("nullable".into(), json!(true));
        self
    }

    /// The last field may not be blank (at least one non-space character).
    pub(crate) fn nonblank(mut self) -> Self {
        let f = self.last();
        f.schema.insert("minLength".into(), json!(1));
        // Some character that is not blank: JSON Schema's `\s` (ECMAScript's) lacks U+0085,
        // which the server, like Unicode, counts as blank.
        f.schema.insert("pattern".into(), json!(r"[^\s\u0085]"));
        self
    }

    /// The last field (a list) holds `min..=max` items.
    pub(crate) fn items(mut self, min: usize, max: usize) -> Self {
        let f = self.last();
        f.schema.insert("minItems".into(), json!(min));
        f.schema.insert("maxItems".into(), json!(max));
        self
    }

    /// The last field (a number) lies in `min..=max`.
    pub(crate) fn range(mut self, min: f64, max: f64) -> Self {
        let f = self.last();
        f.schema.insert("minimum".into(), json!(min));
        f.schema.insert("maximum".into(), json!(max));
        self
    }

    /// The last field (an integer) lies in `min..=max`.
    pub(crate) fn int_range(mut self, min: i64, max: i64) -> Self {
        let f = self.last();
        f.schema.insert("minimum".into(), json!(min));
        f.schema.insert("maximum".into(), json!(max));
        self
    }

    /// Describes the last field in words.
    pub(crate) fn doc(mut self, text: &str) -> Self {
        self.last().schema.insert("description".into(), json!(text));
        self
    }

    fn object(&self, form: bool) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for f in &self.fields {
            if f.kind == Kind::File && !form {
                continue;
            }
            let schema = if form {
                form_field(f)
            } else {
                f.schema.clone()
            };
            properties.insert(f.name.into(), Value::Object(schema));
            if f.required {
                required.push(f.name);
            }
        }
        let mut o = json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            o["required"] = json!(required);
        }
        o
    }

    /// The multipart schema: the described fields only (a part's name travels in a header,
    /// where control characters make the body malformed; the JSON and urlencoded forms may
    /// carry any other field, which the server ignores).
    fn multipart(&self) -> Value {
        let mut o = self.object(true);
        o["additionalProperties"] = json!(false);
        o
    }

    /// The JSON body schema (file fields left out: they need multipart).
    pub(crate) fn json_schema(&self) -> Value {
        self.object(false)
    }

    /// The `requestBody` of an operation: JSON, urlencoded and multipart with the same fields
    /// (shapes travel as WKT text in forms); a required file makes it multipart only.
    pub(crate) fn request_body(&self) -> Value {
        let needs_file = self
            .fields
            .iter()
            .any(|f| f.kind == Kind::File && f.required);
        let mut content = Map::new();
        content.insert(
            "multipart/form-data".into(),
            json!({"schema": self.multipart()}),
        );
        if !needs_file {
            content.insert(
                "application/json".into(),
                json!({"schema": self.json_schema()}),
            );
            content.insert(
                "application/x-www-form-urlencoded".into(),
                json!({"schema": self.object(true)}),
            );
        }
        let required = self.fields.iter().any(|f| f.required);
        json!({"required": required, "content": content})
    }

    /// The fields as OpenAPI query parameters (id lists as `tag_ids=1,2`).
    pub(crate) fn query_parameters(&self) -> Vec<Value> {
        self.fields
            .iter()
            .map(|f| {
                let mut schema = f.schema.clone();
                schema.remove("nullable");
                // A query's length is bounded by the URI (64 KiB, else 414), not per parameter.
                schema.remove("maxLength");
                let mut p = json!({"name": f.name, "in": "query", "required": f.required,
                                   "schema": schema});
                if f.kind == Kind::IdList {
                    // A filter may name any id (one that names nothing matches nothing).
                    p["schema"]["items"] = json!({"type": "integer", "format": "int64",
                                                  "minimum": i64::MIN, "maximum": ID_MAX});
                    p["style"] = json!("form");
                    p["explode"] = json!(false);
                }
                p
            })
            .collect()
    }
}

/// A field as a form (urlencoded or multipart) carries it: no nulls, shapes as WKT text.
fn form_field(f: &Field) -> Map<String, Value> {
    match f.kind {
        Kind::Geometry => map(json!({
            "type": "string",
            "format": "wkt",
            "description": "WKT POLYGON text, e.g. POLYGON((1 1, 2 1, 2 2, 1 1)), or GeoJSON text; blank clears it",
            "pattern": r"^POLYGON ?\(\(([0-8]?[0-9](\.[0-9]{1,3})? [0-8]?[0-9](\.[0-9]{1,3})?, ?){3,6}[0-8]?[0-9] [0-8]?[0-9]\)\)$",
        })),
        _ => {
            let mut s = f.schema.clone();
            s.remove("nullable");
            s
        }
    }
}

/// The schema of a path id: any 64-bit integer (one that names nothing is a 404).
pub(crate) fn path_id() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": ID_MAX})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_are_listed_and_nullable_ones_marked() {
        let o = obj()
            .id("session_id")
            .req()
            .text("name", 50)
            .nullable()
            .json_schema();
        assert_eq!(o["required"], json!(["session_id"]));
        assert_eq!(o["properties"]["name"]["maxLength"], json!(50));
        assert_eq!(o["properties"]["name"]["nullable"], json!(true));
        assert_eq!(o["properties"]["session_id"]["minimum"], json!(1));
    }

    #[test]
    fn forms_carry_shapes_as_text_and_never_null() {
        let o = obj().geometry("shape").text("code", 10).nullable();
        let form = o.object(true);
        assert_eq!(form["properties"]["shape"]["type"], json!("string"));
        assert!(form["properties"]["code"].get("nullable").is_none());
        assert_eq!(
            o.json_schema()["properties"]["shape"]["type"],
            json!("object")
        );
    }

    #[test]
    fn id_lists_in_a_query_are_comma_separated() {
        let p = obj().ids("tag_ids").query_parameters();
        assert_eq!(p[0]["style"], json!("form"));
        assert_eq!(p[0]["explode"], json!(false));
        assert_eq!(p[0]["in"], json!("query"));
    }

    #[test]
    fn a_required_file_makes_the_body_multipart_only() {
        let body = obj().file("file").req().ids("envelope_ids").request_body();
        let content = body["content"].as_object().unwrap();
        assert_eq!(content.len(), 1, "{content:?}");
        assert!(content.contains_key("multipart/form-data"));
    }

    #[test]
    fn an_optional_file_stays_out_of_the_json_body() {
        let body = obj().file("file").id("asset_id").request_body();
        let json_props = &body["content"]["application/json"]["schema"]["properties"];
        assert!(json_props.get("file").is_none());
        assert!(json_props.get("asset_id").is_some());
    }
}
