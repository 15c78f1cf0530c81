//! App.net-style stream filters (the `filter` resource of `/stream/0/filters`): parsing and
//! validation of a filter body, the filter's JSON as the API shows it, and evaluation against
//! the box's event messages (`{"meta": …, "data": …}` envelopes).
//!
//! Semantics are stream-apis.md §3.3 with the box's resolutions: a clause on another object type
//! does not match, nor does a missing field; `*` in a field pointer matches if any element does;
//! `matches` (alias `contains`) is a case-sensitive substring test; `equals` is deep JSON
//! equality in which 12 equals 12.0; `lt`/`le`/`gt`/`ge` on anything but a JSON integer give
//! false; no `$variables` are known, so any is refused.
//!
//! This module owns only that logic. It may not touch HTTP, the store or any I/O: callers keep
//! filters, ids and owners, and turn a [`FilterError`] into a 400.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value, json};

/// Longest accepted `name`, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Most clauses in one filter.
const MAX_CLAUSES: usize = 50;
/// Longest accepted `field` pointer, in characters.
const MAX_POINTER_CHARS: usize = 512;
/// Most segments in one `field` pointer.
const MAX_POINTER_SEGMENTS: usize = 32;
/// Largest accepted `value`, in bytes of compact JSON.
const MAX_VALUE_BYTES: usize = 4096;
/// Most elements in a `one_of` list.
const MAX_ONE_OF: usize = 1000;
/// The operator names a client may send (`contains` is stored as `matches`).
const OPERATOR_NAMES: &str = "equals, matches, contains, lt, le, gt, ge, one_of";
/// The match policies, in the order error messages list them.
const POLICY_NAMES: &str = "include_any, include_all, exclude_any, exclude_all";

/// Why a filter body was refused. The message names the place first (`clauses[2].operator: …`)
/// and is meant for the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub(crate) struct FilterError(pub(crate) String);

/// A [`FilterError`] for `place` with a `format!`-style message.
macro_rules! bad {
    ($place:expr, $($msg:tt)+) => {
        FilterError(format!("{}: {}", $place, format_args!($($msg)+)))
    };
}

/// A validated filter: which messages of a stream are delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    /// The client's label, at most 200 characters.
    pub(crate) name: Option<String>,
    /// How the clauses' results combine into deliver or drop.
    pub(crate) match_policy: MatchPolicy,
    /// Between 1 and 50 clauses.
    pub(crate) clauses: Vec<Clause>,
}

/// How a filter combines its clauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MatchPolicy {
    /// Deliver if any clause matches.
    IncludeAny,
    /// Deliver only if every clause matches.
    IncludeAll,
    /// Drop if any clause matches.
    ExcludeAny,
    /// Drop only if every clause matches.
    ExcludeAll,
}

impl MatchPolicy {
    const ALL: [MatchPolicy; 4] = [
        MatchPolicy::IncludeAny,
        MatchPolicy::IncludeAll,
        MatchPolicy::ExcludeAny,
        MatchPolicy::ExcludeAll,
    ];

    /// The wire name (`include_any`, …).
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            MatchPolicy::IncludeAny => "include_any",
            MatchPolicy::IncludeAll => "include_all",
            MatchPolicy::ExcludeAny => "exclude_any",
            MatchPolicy::ExcludeAll => "exclude_all",
        }
    }
}

/// One test on one field of messages of one object type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Clause {
    /// The message type the clause applies to; other types never match it.
    pub(crate) object_type: String,
    /// Where in the envelope the tested value is.
    pub(crate) field: Pointer,
    /// The comparison.
    pub(crate) operator: Operator,
    /// The right-hand side, already checked to suit the operator.
    pub(crate) value: Value,
}

/// A clause's comparison, written as `field <operator> value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operator {
    /// Deep JSON equality; numbers compare by value (12 equals 12.0).
    Equals,
    /// The string value is a case-sensitive substring of the string field (also sent as `contains`).
    Matches,
    /// Integer field < integer value.
    Lt,
    /// Integer field ≤ integer value.
    Le,
    /// Integer field > integer value.
    Gt,
    /// Integer field ≥ integer value.
    Ge,
    /// The field equals (as [`Operator::Equals`]) an element of the list value.
    OneOf,
}

impl Operator {
    /// The wire name (`equals`, …); `contains` comes back as `matches`.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::Matches => "matches",
            Operator::Lt => "lt",
            Operator::Le => "le",
            Operator::Gt => "gt",
            Operator::Ge => "ge",
            Operator::OneOf => "one_of",
        }
    }

    fn from_name(name: &str) -> Option<Operator> {
        Some(match name {
            "equals" => Operator::Equals,
            "matches" | "contains" => Operator::Matches,
            "lt" => Operator::Lt,
            "le" => Operator::Le,
            "gt" => Operator::Gt,
            "ge" => Operator::Ge,
            "one_of" => Operator::OneOf,
            _ => return None,
        })
    }

    /// Whether `field.cmp(value)` satisfies an integer operator.
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Operator::Lt => ordering == Ordering::Less,
            Operator::Le => ordering != Ordering::Greater,
            Operator::Gt => ordering == Ordering::Greater,
            Operator::Ge => ordering != Ordering::Less,
            Operator::Equals | Operator::Matches | Operator::OneOf => false,
        }
    }
}

/// A parsed JSON Pointer (RFC 6901) with App.net's extension: a segment that is exactly `*`
/// matches every element of a list (or value of an object), and `~2` encodes a literal `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pointer {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// `*`: every element or value.
    Any,
    /// An object key, unescaped; `index` when it is also a valid array index.
    Key { name: String, index: Option<usize> },
}

impl Pointer {
    /// The pointer as the client wrote it.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    fn parse(text: &str) -> Result<Pointer, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "{text:?} must start with \"/\" (a JSON Pointer such as /data/project_id)"
            ));
        };
        if text.chars().count() > MAX_POINTER_CHARS {
            return Err(format!("longer than {MAX_POINTER_CHARS} characters"));
        }
        let raw: Vec<&str> = rest.split('/').collect();
        if raw.len() > MAX_POINTER_SEGMENTS {
            return Err(format!("more than {MAX_POINTER_SEGMENTS} segments"));
        }
        let segments = raw.into_iter().map(segment).collect::<Result<_, _>>()?;
        Ok(Pointer {
            text: text.to_owned(),
            segments,
        })
    }

    /// True when the test holds for the value at the pointer, or for any value a `*` reaches.
    fn any(&self, root: &Value, test: &dyn Fn(&Value) -> bool) -> bool {
        walk(root, &self.segments, test)
    }
}

fn segment(raw: &str) -> Result<Segment, String> {
    if raw == "*" {
        return Ok(Segment::Any);
    }
    let mut name = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            name.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => name.push('~'),
            Some('1') => name.push('/'),
            Some('2') => name.push('*'),
            other => {
                let escape: String = other.into_iter().collect();
                return Err(format!(
                    "bad escape \"~{escape}\" in segment {raw:?}; use ~0 for ~, ~1 for /, ~2 for *"
                ));
            }
        }
    }
    let index = array_index(&name);
    Ok(Segment::Key { name, index })
}

/// RFC 6901 array index: decimal digits without a leading zero (`0` itself is fine).
fn array_index(s: &str) -> Option<usize> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn walk(value: &Value, segments: &[Segment], test: &dyn Fn(&Value) -> bool) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return test(value);
    };
    match (first, value) {
        (Segment::Any, Value::Array(items)) => items.iter().any(|v| walk(v, rest, test)),
        (Segment::Any, Value::Object(map)) => map.values().any(|v| walk(v, rest, test)),
        (Segment::Key { name, .. }, Value::Object(map)) => {
            map.get(name).is_some_and(|v| walk(v, rest, test))
        }
        (Segment::Key { index: Some(i), .. }, Value::Array(items)) => {
            items.get(*i).is_some_and(|v| walk(v, rest, test))
        }
        _ => false,
    }
}

/// A JSON integer (not a float, even an integral one) as `i128`, so `u64` and `i64` both fit.
fn integer(value: &Value) -> Option<i128> {
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}

/// Deep JSON equality in which numbers compare by value (12 equals 12.0).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_eq(v, w))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => false,
    }
}

fn number_eq(a: &Number, b: &Number) -> bool {
    // Integral values compare exactly as integers (no rounding of large u64/i64 through f64).
    let whole = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e38)
                    .map(|f| f as i128)
            })
    };
    match (whole(a), whole(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y) == Some(Ordering::Equal),
            _ => false,
        },
    }
}

impl Clause {
    fn matches(&self, object_type: &str, envelope: &Value) -> bool {
        if self.object_type != object_type {
            return false;
        }
        let value = &self.value;
        match self.operator {
            Operator::Equals => self.field.any(envelope, &|f| json_eq(f, value)),
            Operator::Matches => value.as_str().is_some_and(|needle| {
                self.field.any(envelope, &|f| {
                    f.as_str().is_some_and(|s| s.contains(needle))
                })
            }),
            op @ (Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge) => integer(value)
                .is_some_and(|bound| {
                    self.field.any(envelope, &|f| {
                        integer(f).is_some_and(|n| op.holds(n.cmp(&bound)))
                    })
                }),
            Operator::OneOf => value.as_array().is_some_and(|list| {
                self.field
                    .any(envelope, &|f| list.iter().any(|v| json_eq(f, v)))
            }),
        }
    }

    fn parse(i: usize, clause: &Value, accepted_types: &[&str]) -> Result<Clause, FilterError> {
        let at = |key: &str| format!("clauses[{i}].{key}");
        let Value::Object(map) = clause else {
            let msg = "must be an object with object_type, field, operator and value";
            return Err(bad!(format!("clauses[{i}]"), "{msg}"));
        };
        let object_type = text(map, "object_type", &at("object_type"))?;
        if !accepted_types.contains(&object_type) {
            let types = accepted_types.join(", ");
            let msg = format!("unknown object type {object_type:?}; use one of {types}");
            return Err(bad!(at("object_type"), "{msg}"));
        }
        let field = text(map, "field", &at("field"))?;
        let field = Pointer::parse(field).map_err(|m| bad!(at("field"), "{m}"))?;
        let name = text(map, "operator", &at("operator"))?;
        let Some(operator) = Operator::from_name(name) else {
            let msg = format!("unknown operator {name:?}; use one of {OPERATOR_NAMES}");
            return Err(bad!(at("operator"), "{msg}"));
        };
        let Some(value) = map.get("value") else {
            return Err(bad!(at("value"), "missing"));
        };
        check_value(operator, value).map_err(|m| bad!(at("value"), "{m}"))?;
        let object_type = object_type.to_owned();
        Ok(Clause {
            object_type,
            field,
            operator,
            value: value.clone(),
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "object_type": self.object_type,
            "field": self.field.as_str(),
            "operator": self.operator.as_str(),
            "value": self.value,
        })
    }
}

/// A required string member of a clause.
fn text<'a>(map: &'a Map<String, Value>, key: &str, place: &str) -> Result<&'a str, FilterError> {
    match map.get(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(bad!(place, "missing")),
        Some(_) => Err(bad!(place, "must be a string")),
    }
}

fn check_value(operator: Operator, value: &Value) -> Result<(), String> {
    if let Some(var) = value.as_str().filter(|s| s.starts_with('$')) {
        return Err(format!(
            "unknown variable {var}; no filter variables are supported on this box"
        ));
    }
    match operator {
        Operator::Matches if !value.is_string() => {
            return Err("matches (contains) needs a string value".to_owned());
        }
        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge if integer(value).is_none() => {
            return Err(format!("{} needs an integer value", operator.as_str()));
        }
        Operator::OneOf => match value.as_array() {
            None => return Err("one_of needs a list".to_owned()),
            Some(list) if list.len() > MAX_ONE_OF => {
                return Err(format!(
                    "one_of takes at most {MAX_ONE_OF} values, not {}",
                    list.len()
                ));
            }
            Some(_) => {}
        },
        _ => {}
    }
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > MAX_VALUE_BYTES {
        return Err(format!("larger than {MAX_VALUE_BYTES} bytes of JSON"));
    }
    Ok(())
}

impl Filter {
    /// Parses and validates a filter body (`name`, `match_policy`, `clauses`; other keys such
    /// as `id` and `owner` are ignored). `accepted_types` are the stream object types a clause
    /// may name.
    ///
    /// # Errors
    /// A [`FilterError`] naming the place of the first problem found.
    pub(crate) fn parse(body: &Value, accepted_types: &[&str]) -> Result<Filter, FilterError> {
        let Value::Object(map) = body else {
            return Err(bad!("filter", "must be a JSON object"));
        };
        let name = match map.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= MAX_NAME_CHARS => Some(s.clone()),
            Some(Value::String(_)) => {
                return Err(bad!("name", "longer than {MAX_NAME_CHARS} characters"));
            }
            Some(_) => return Err(bad!("name", "must be a string")),
        };
        let match_policy = match map.get("match_policy") {
            Some(Value::String(s)) => {
                let found = MatchPolicy::ALL.into_iter().find(|p| p.as_str() == s);
                let unknown = || {
                    bad!(
                        "match_policy",
                        "unknown policy {s:?}; use one of {POLICY_NAMES}"
                    )
                };
                found.ok_or_else(unknown)?
            }
            None | Some(Value::Null) => {
                return Err(bad!("match_policy", "missing; use one of {POLICY_NAMES}"));
            }
            Some(_) => return Err(bad!("match_policy", "must be one of {POLICY_NAMES}")),
        };
        let list = match map.get("clauses") {
            Some(Value::Array(list)) if !list.is_empty() => list,
            _ => return Err(bad!("clauses", "must be a non-empty list")),
        };
        if list.len() > MAX_CLAUSES {
            return Err(bad!(
                "clauses",
                "at most {MAX_CLAUSES} clauses, not {}",
                list.len()
            ));
        }
        let clauses = list
            .iter()
            .enumerate()
            .map(|(i, c)| Clause::parse(i, c, accepted_types))
            .collect::<Result<_, _>>()?;
        Ok(Filter {
            name,
            match_policy,
            clauses,
        })
    }

    /// The filter's JSON as App.net shows it: `{"name"?, "match_policy", "clauses": [{"object_type",
    /// "field", "operator", "value"}]}`, without `id` and `owner` (the caller adds those).
    /// [`Filter::parse`] of it gives this filter back.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(name) = &self.name {
            out.insert("name".to_owned(), json!(name));
        }
        out.insert("match_policy".to_owned(), json!(self.match_policy.as_str()));
        out.insert(
            "clauses".to_owned(),
            self.clauses.iter().map(Clause::to_json).collect(),
        );
        Value::Object(out)
    }

    /// True when a message of `object_type` with `envelope` (`{"meta": …, "data": …}`) passes
    /// the filter, i.e. is to be delivered.
    pub(crate) fn passes(&self, object_type: &str, envelope: &Value) -> bool {
        let mut hits = self
            .clauses
            .iter()
            .map(|c| c.matches(object_type, envelope));
        match self.match_policy {
            MatchPolicy::IncludeAny => hits.any(|m| m),
            MatchPolicy::IncludeAll => hits.all(|m| m),
            MatchPolicy::ExcludeAny => !hits.any(|m| m),
            MatchPolicy::ExcludeAll => !hits.all(|m| m),
        }
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
