use serde_json::json;

use super::*;

fn rows<'a>(s: &'a RemoteState, table: &str) -> &'a Vec<Value> {
    s.state["rows"][table].as_array().unwrap()
}

#[test]
fn a_reference_ui_group_becomes_its_row_and_its_items_with_the_stored_column_names() {
    let group = json!({
        "id": 7, "name": "Speak", "ui_mode": "speak", "select": "single", "active": true,
        "index": 2, "tag_category_id": 3, "project_id": 12, "header_text_loc": "Pick",
        "header_text_loc_admin": [{"id": 40, "language_id": 1, "text": "Pick one"}],
        "ui_items": [{"id": 70, "index": 1, "default": true, "active": true,
                      "ui_group_id": 7, "tag_id": 5, "parent_id": null}],
    });
    let out = ui_group(&group, &Strings::new());
    assert_eq!(out.len(), 2);
    let g = &rows(&out[0], "ui_groups")[0];
    assert_eq!(g["select_mode"], "single");
    assert_eq!(g["idx"], 2);
    assert!(g.get("select").is_none() && g.get("header_text_loc").is_none());
    assert_eq!(
        rows(&out[0], "loc_links")[0],
        json!({"owner": "uigroup", "owner_id": 7, "field": "header_text", "position": 0, "string_id": 40})
    );
    assert_eq!(
        rows(&out[0], "localized_strings")[0],
        json!({"id": 40, "localized_string": "Pick one", "language_id": 1})
    );
    let item = &rows(&out[1], "ui_items")[0];
    assert_eq!(out[1].kind.name, "uiitem");
    assert_eq!(
        (item["is_default"].clone(), item["idx"].clone()),
        (json!(true), json!(1))
    );
}

#[test]
fn audiotrack_seconds_on_the_wire_are_stored_as_nanoseconds_with_its_tag_filters() {
    let track = json!({
        "id": 3, "project_id": 1, "minvolume": 0.5, "maxvolume": 1.0,
        "minduration": 5.0, "maxduration": 10.5, "mindeadair": 1, "maxdeadair": 2,
        "minfadeintime": 0.1, "maxfadeintime": 0.2, "minfadeouttime": 0.1, "maxfadeouttime": 0.2,
        "minpanpos": 0, "maxpanpos": 0, "minpanduration": 1, "maxpanduration": 2,
        "tag_filters": [4, 9],
    });
    let out = audiotrack(&track).unwrap();
    let row = &rows(&out, "audiotracks")[0];
    assert_eq!(row["maxduration"].as_f64(), Some(10.5e9));
    assert_eq!(row["mindeadair"].as_f64(), Some(1e9));
    assert_eq!(
        rows(&out, "audiotrack_tags"),
        &vec![
            json!({"audiotrack_id": 3, "tag_id": 4}),
            json!({"audiotrack_id": 3, "tag_id": 9})
        ]
    );
}

#[test]
fn an_asset_keeps_neither_its_session_nor_its_user_and_takes_strings_from_the_global_list() {
    let strings = strings(&[json!({"id": 9, "language": "en", "text": "Hello", "language_id": 1})]);
    let asset_json = json!({
        "id": 500, "session_id": 77, "user": {"id": 3}, "project_id": 12, "media_type": "audio",
        "tag_ids": [5], "description_loc_ids": [9], "file": "/rwmedia/a.mp3",
        "filename": "a.wav", "latitude": 1.5, "longitude": 2.5, "shape": null,
        "created": "2020-01-01T00:00:00", "updated": "2020-01-02T00:00:00",
        "submitted": true, "weight": 50, "volume": 1.0,
    });
    let out = asset(&asset_json, &strings).unwrap();
    let row = &rows(&out, "assets")[0];
    assert_eq!(row["mediatype"], "audio");
    for gone in [
        "session_id",
        "user",
        "user_id",
        "file",
        "filename",
        "media_type",
    ] {
        assert!(row.get(gone).is_none(), "{gone} must not be copied");
    }
    assert_eq!(
        rows(&out, "asset_tags")[0],
        json!({"asset_id": 500, "tag_id": 5})
    );
    assert_eq!(
        rows(&out, "localized_strings")[0]["localized_string"],
        "Hello"
    );
    assert_eq!(asset_media(&asset_json), Some("/rwmedia/a.mp3"));
    assert_eq!(
        asset_media(&json!({"file": "", "filename": "/rwmedia/b.wav"})),
        Some("/rwmedia/b.wav")
    );
}

#[test]
fn a_speaker_drops_the_sources_borders_so_they_are_computed_here() {
    let out = speaker(&json!({
        "id": 2, "project_id": 1, "activeyn": true, "uri": "http://x/a.mp3", "maxvolume": 1,
        "minvolume": 0, "attenuation_distance": 10,
        "shape": {"type": "MultiPolygon", "coordinates": []},
        "boundary": {"type": "MultiLineString", "coordinates": []},
    }))
    .unwrap();
    let row = &rows(&out, "speakers")[0];
    assert!(row["boundary"].is_null() && row["attenuation_border"].is_null());
    assert_eq!(row["shape"]["type"], "MultiPolygon");
}

#[test]
fn an_object_without_an_id_is_not_mapped() {
    assert!(tag(&json!({"value": "x"}), &Strings::new()).is_none());
    assert!(ui_group(&json!({"name": "x"}), &Strings::new()).is_empty());
}
