//! api/2 objects, as the reference server and roundwared show them, turned into row states
//! (the tables' own column names, the source's ids) for the store's import. Every column is
//! named here; nothing a source sends chooses a column. The differences handled: renamed keys
//! (`select`→`select_mode`, `index`→`idx`, `media_type`→`mediatype`, …), audiotrack times in
//! seconds on the wire and nanoseconds stored, GeoJSON objects stored as text, localized
//! fields given as id lists (`*_loc_ids`) or as the `admin` lists of strings, and the derived
//! speaker borders, which are left to be computed here.
//!
//! Owns: the mapping. May not touch: HTTP, the store.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::store::audiotracks::{NS_PER_SECOND, TIMING_PAIRS};
use crate::store::fleet::import::RemoteState;
use crate::store::fleet::kind_named;

/// The localized strings of the source, by id (`GET localizedstrings/`).
pub(crate) type Strings = HashMap<i64, Value>;

/// Columns copied as they are: `(api/2 key, column)`.
type Columns = &'static [(&'static str, &'static str)];

const PROJECT: Columns = &[
    ("name", "name"),
    ("owner", "owner"),
    ("latitude", "latitude"),
    ("longitude", "longitude"),
    ("pub_date", "pub_date"),
    ("audio_format", "audio_format"),
    ("auto_submit", "auto_submit"),
    ("max_recording_length", "max_recording_length"),
    ("listen_questions_dynamic", "listen_questions_dynamic"),
    ("speak_questions_dynamic", "speak_questions_dynamic"),
    ("sharing_url", "sharing_url"),
    ("out_of_range_url", "out_of_range_url"),
    ("recording_radius", "recording_radius"),
    ("listen_enabled", "listen_enabled"),
    ("geo_listen_enabled", "geo_listen_enabled"),
    ("speak_enabled", "speak_enabled"),
    ("geo_speak_enabled", "geo_speak_enabled"),
    (
        "reset_tag_defaults_on_startup",
        "reset_tag_defaults_on_startup",
    ),
    ("timed_asset_priority", "timed_asset_priority"),
    ("repeat_mode", "repeat_mode"),
    ("files_url", "files_url"),
    ("files_version", "files_version"),
    ("audio_stream_bitrate", "audio_stream_bitrate"),
    ("ordering", "ordering"),
    ("demo_stream_enabled", "demo_stream_enabled"),
    ("demo_stream_url", "demo_stream_url"),
    ("out_of_range_distance", "out_of_range_distance"),
];
const TAG: Columns = &[
    ("value", "value"),
    ("description", "description"),
    ("data", "data"),
    ("filter", "filter"),
    ("location", "location"),
    ("project_id", "project_id"),
    ("tag_category_id", "tag_category_id"),
];
const TAG_CATEGORY: Columns = &[("name", "name"), ("data", "data")];
const TAG_RELATIONSHIP: Columns = &[("tag_id", "tag_id"), ("parent_id", "parent_id")];
const UI_GROUP: Columns = &[
    ("name", "name"),
    ("ui_mode", "ui_mode"),
    ("tag_category_id", "tag_category_id"),
    ("select", "select_mode"),
    ("active", "active"),
    ("index", "idx"),
    ("project_id", "project_id"),
    ("uiitem_filter", "uiitem_filter"),
];
const UI_ITEM: Columns = &[
    ("ui_group_id", "ui_group_id"),
    ("index", "idx"),
    ("tag_id", "tag_id"),
    ("default", "is_default"),
    ("active", "active"),
    ("parent_id", "parent_id"),
];
const UI_ELEMENT_NAME: Columns = &[
    ("name", "name"),
    ("description", "description"),
    ("view", "view"),
];
const UI_ELEMENT: Columns = &[
    ("uielementname_id", "uielementname_id"),
    ("variant", "variant"),
    ("file_extension", "file_extension"),
    ("project_id", "project_id"),
    ("label_text_color", "label_text_color"),
    ("label_position", "label_position"),
];
const SPEAKER: Columns = &[
    ("project_id", "project_id"),
    ("activeyn", "activeyn"),
    ("code", "code"),
    ("maxvolume", "maxvolume"),
    ("minvolume", "minvolume"),
    ("uri", "uri"),
    ("backupuri", "backupuri"),
    ("shape", "shape"),
    ("attenuation_distance", "attenuation_distance"),
];
const AUDIOTRACK: Columns = &[
    ("project_id", "project_id"),
    ("minvolume", "minvolume"),
    ("maxvolume", "maxvolume"),
    ("minpanpos", "minpanpos"),
    ("maxpanpos", "maxpanpos"),
    ("repeatrecordings", "repeatrecordings"),
    ("active", "active"),
    ("start_with_silence", "start_with_silence"),
    ("banned_duration", "banned_duration"),
    ("fadeout_when_filtered", "fadeout_when_filtered"),
    ("timed_asset_priority", "timed_asset_priority"),
];
const TIMED_ASSET: Columns = &[
    ("project_id", "project_id"),
    ("asset_id", "asset_id"),
    ("start", "start"),
    ("end", "end"),
];
const ASSET: Columns = &[
    ("latitude", "latitude"),
    ("longitude", "longitude"),
    ("shape", "shape"),
    ("volume", "volume"),
    ("submitted", "submitted"),
    ("project_id", "project_id"),
    ("created", "created"),
    ("updated", "updated"),
    ("start_time", "start_time"),
    ("end_time", "end_time"),
    ("language_id", "language_id"),
    ("weight", "weight"),
    ("media_type", "mediatype"),
    ("description", "description"),
];

/// A localized field: `(field stored, keys the source may show it under)`.
type LocFields = &'static [(&'static str, &'static [&'static str])];

const PROJECT_LOC: LocFields = &[
    (
        "description",
        &["description_loc_ids", "description_loc_admin"],
    ),
    (
        "sharing_message",
        &["sharing_message_loc_ids", "sharing_message_loc_admin"],
    ),
    (
        "out_of_range_message",
        &[
            "out_of_range_message_loc_ids",
            "out_of_range_message_loc_admin",
        ],
    ),
    (
        "legal_agreement",
        &["legal_agreement_loc_ids", "legal_agreement_loc_admin"],
    ),
    (
        "demo_stream_message",
        &[
            "demo_stream_message_loc_ids",
            "demo_stream_message_loc_admin",
        ],
    ),
];
const TAG_LOC: LocFields = &[
    (
        "description",
        &["description_loc_ids", "loc_description_admin"],
    ),
    ("msg", &["msg_loc_ids", "loc_msg_admin"]),
];
const UI_GROUP_LOC: LocFields = &[(
    "header_text",
    &["header_text_loc_ids", "header_text_loc_admin"],
)];
const UI_ELEMENT_LOC: LocFields = &[(
    "label_text",
    &["label_text_loc_ids", "label_text_loc_admin"],
)];
const ASSET_LOC: LocFields = &[
    (
        "description",
        &["description_loc_ids", "loc_description_admin"],
    ),
    ("alt_text", &["alt_text_loc_ids", "loc_alt_text_admin"]),
];

/// The source's strings (`GET localizedstrings/`) by id, as `localized_strings` rows.
pub(crate) fn strings(list: &[Value]) -> Strings {
    list.iter()
        .filter_map(|s| Some((id(s)?, string_row(s)?)))
        .collect()
}

/// A language.
pub(crate) fn language(src: &Value) -> Option<RemoteState> {
    state(
        "language",
        src,
        &[("name", "name"), ("language_code", "language_code")],
        Map::new(),
    )
}

/// A project, with its languages and localized fields.
pub(crate) fn project(src: &Value, strings: &Strings) -> Option<RemoteState> {
    let remote = id(src)?;
    let mut extra = localized("project", remote, src, PROJECT_LOC, strings);
    let languages: Vec<Value> = ids(src.get("language_ids"))
        .into_iter()
        .map(|l| json!({ "project_id": remote, "language_id": l }))
        .collect();
    extra.insert("project_languages".into(), languages.into());
    state("project", src, PROJECT, extra)
}

/// A tag category.
pub(crate) fn tag_category(src: &Value) -> Option<RemoteState> {
    state("tagcategory", src, TAG_CATEGORY, Map::new())
}

/// A tag, with its localized fields.
pub(crate) fn tag(src: &Value, strings: &Strings) -> Option<RemoteState> {
    let extra = localized("tag", id(src)?, src, TAG_LOC, strings);
    state("tag", src, TAG, extra)
}

/// A tag relationship.
pub(crate) fn tag_relationship(src: &Value) -> Option<RemoteState> {
    state("tagrelationship", src, TAG_RELATIONSHIP, Map::new())
}

/// A UI group and the UI items it shows.
pub(crate) fn ui_group(src: &Value, strings: &Strings) -> Vec<RemoteState> {
    let Some(remote) = id(src) else {
        return Vec::new();
    };
    let extra = localized("uigroup", remote, src, UI_GROUP_LOC, strings);
    let mut out: Vec<RemoteState> = state("uigroup", src, UI_GROUP, extra).into_iter().collect();
    for item in src
        .get("ui_items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut item = item.clone();
        if let Some(o) = item.as_object_mut() {
            o.entry("ui_group_id").or_insert(remote.into());
        }
        out.extend(state("uiitem", &item, UI_ITEM, Map::new()));
    }
    out
}

/// A UI element name.
pub(crate) fn ui_element_name(src: &Value) -> Option<RemoteState> {
    state("uielementname", src, UI_ELEMENT_NAME, Map::new())
}

/// A UI element, with its label strings.
pub(crate) fn ui_element(src: &Value, strings: &Strings) -> Option<RemoteState> {
    let extra = localized("uielement", id(src)?, src, UI_ELEMENT_LOC, strings);
    state("uielement", src, UI_ELEMENT, extra)
}

/// A speaker; its borders are computed here from its shape.
pub(crate) fn speaker(src: &Value) -> Option<RemoteState> {
    let mut out = state("speaker", src, SPEAKER, Map::new())?;
    if let Some(row) = out
        .state
        .pointer_mut("/rows/speakers/0")
        .and_then(Value::as_object_mut)
    {
        row.insert("boundary".into(), Value::Null);
        row.insert("attenuation_border".into(), Value::Null);
    }
    Some(out)
}

/// An audiotrack: its times are seconds on the wire, nanoseconds stored.
pub(crate) fn audiotrack(src: &Value) -> Option<RemoteState> {
    let remote = id(src)?;
    let tags: Vec<Value> = ids(src.get("tag_filters"))
        .into_iter()
        .map(|t| json!({ "audiotrack_id": remote, "tag_id": t }))
        .collect();
    let mut extra = Map::new();
    extra.insert("audiotrack_tags".into(), tags.into());
    let mut out = state("audiotrack", src, AUDIOTRACK, extra)?;
    let row = out
        .state
        .pointer_mut("/rows/audiotracks/0")
        .and_then(Value::as_object_mut)?;
    for (min, max) in TIMING_PAIRS {
        for column in [min, max] {
            let seconds = src.get(column).and_then(Value::as_f64).unwrap_or(0.0);
            row.insert(column.into(), json!(seconds * NS_PER_SECOND));
        }
    }
    Some(out)
}

/// A timed asset.
pub(crate) fn timed_asset(src: &Value) -> Option<RemoteState> {
    state("timedasset", src, TIMED_ASSET, Map::new())
}

/// An asset's row, tags and localized fields; its media columns are the caller's (they name
/// the files made here), its session and user stay at the source.
pub(crate) fn asset(src: &Value, strings: &Strings) -> Option<RemoteState> {
    let remote = id(src)?;
    let mut extra = localized("asset", remote, src, ASSET_LOC, strings);
    let tags: Vec<Value> = ids(src.get("tag_ids"))
        .into_iter()
        .map(|t| json!({ "asset_id": remote, "tag_id": t }))
        .collect();
    extra.insert("asset_tags".into(), tags.into());
    state("asset", src, ASSET, extra)
}

/// The URL an asset's media are fetched from: its original (`file`), else its playback file.
pub(crate) fn asset_media(src: &Value) -> Option<&str> {
    ["file", "filename"]
        .into_iter()
        .filter_map(|k| src.get(k).and_then(Value::as_str))
        .find(|s| !s.is_empty())
}

/// `kind`'s state: its main row from `columns` of `src`, plus `extra` tables.
fn state(
    kind: &str,
    src: &Value,
    columns: Columns,
    mut extra: Map<String, Value>,
) -> Option<RemoteState> {
    let kind = kind_named(kind)?;
    let remote = id(src)?;
    let mut row = Map::new();
    row.insert("id".into(), remote.into());
    for (key, column) in columns {
        if let Some(value) = src.get(*key) {
            row.insert((*column).into(), value.clone());
        }
    }
    extra.insert(kind.table.into(), json!([row]));
    Some(RemoteState {
        kind,
        remote_id: remote,
        state: json!({ "rows": extra }),
    })
}

/// The `loc_links` and `localized_strings` rows of an object's localized fields.
fn localized(
    owner: &str,
    owner_id: i64,
    src: &Value,
    fields: LocFields,
    strings: &Strings,
) -> Map<String, Value> {
    let mut links = Vec::new();
    let mut rows = Vec::new();
    for (field, keys) in fields {
        let Some(list) = keys
            .iter()
            .find_map(|k| src.get(*k).and_then(Value::as_array))
        else {
            continue;
        };
        for (position, item) in list.iter().enumerate() {
            let Some(string_id) = item.as_i64().or_else(|| id(item)) else {
                continue;
            };
            let Some(row) = strings
                .get(&string_id)
                .cloned()
                .or_else(|| string_row(item))
            else {
                continue;
            };
            rows.push(row);
            links.push(json!({
                "owner": owner, "owner_id": owner_id, "field": field,
                "position": position, "string_id": string_id,
            }));
        }
    }
    let mut out = Map::new();
    out.insert("localized_strings".into(), rows.into());
    out.insert("loc_links".into(), links.into());
    out
}

/// A string as a `localized_strings` row: the source's id, text and language id.
fn string_row(src: &Value) -> Option<Value> {
    let text = ["text", "localized_string"]
        .into_iter()
        .find_map(|k| src.get(k).and_then(Value::as_str))?;
    Some(json!({
        "id": id(src)?,
        "localized_string": text,
        "language_id": src.get("language_id").and_then(Value::as_i64)?,
    }))
}

fn id(src: &Value) -> Option<i64> {
    src.get("id").and_then(Value::as_i64)
}

/// The ids listed under `key` of an api/2 object (empty when it has none).
pub(crate) fn ids_of(src: &Value, key: &str) -> Vec<i64> {
    ids(src.get(key))
}

fn ids(list: Option<&Value>) -> Vec<i64> {
    list.and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
