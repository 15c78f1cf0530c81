//! Table tests of the filter semantics (stream-apis.md §3.3 and the box's resolutions).
use super::*;

const TYPES: &[&str] = &["asset", "vote", "session"];

fn envelope() -> Value {
    json!({
        "meta": {"id": "7", "type": "asset", "timestamp": 1_700_000_000_000_u64, "project_id": 12},
        "data": {
            "id": 5, "project_id": 12, "submitted": true, "description": "Hello Museum",
            "tag_ids": [3, 9], "weight": 12.0, "volume": 0.5, "loc": null,
            "tags": [{"name": "birds"}, {"name": "rain"}],
            "a/b": "slash", "*": "star", "x~y": "tilde", "nested": {"k": [1, {"z": "deep"}]}
        }
    })
}

/// A clause from a table row `object_type field operator value`, the value being JSON
/// without spaces.
fn clause_of(row: &str) -> Value {
    let cols: Vec<&str> = row.split_whitespace().collect();
    let [object_type, field, operator, value] = cols[..] else {
        panic!("row {row:?} needs four columns")
    };
    let value: Value = serde_json::from_str(value).unwrap_or_else(|e| panic!("{row}: {e}"));
    json!({"object_type": object_type, "field": field, "operator": operator, "value": value})
}

fn filter(policy: &str, rows: &[&str]) -> Filter {
    let clauses: Vec<Value> = rows.iter().map(|r| clause_of(r)).collect();
    let body = json!({"match_policy": policy, "clauses": clauses});
    Filter::parse(&body, TYPES).unwrap_or_else(|e| panic!("{body} refused: {e}"))
}

/// One clause under `include_any` against [`envelope`] (an `asset` message): delivered?
const OPERATOR_CASES: &str = r#"
    asset /data/project_id     equals   12               true
    asset /data/project_id     equals   13               false
    asset /data/project_id     equals   12.0             true
    asset /data/weight         equals   12               true
    asset /data/volume         equals   0.5              true
    asset /meta/project_id     equals   12               true
    asset /meta/type           equals   "asset"          true
    asset /data/submitted      equals   true             true
    asset /data/submitted      equals   false            false
    asset /data/submitted      equals   "true"           false
    asset /data/tag_ids        equals   [3,9]            true
    asset /data/tag_ids        equals   [9,3]            false
    asset /data/tags/*         equals   {"name":"rain"}  true
    asset /data/tags/*/name    equals   "rain"           true
    asset /data/tags/*/name    equals   "snow"           false
    asset /data/tags/1/name    equals   "rain"           true
    asset /data/tags/01/name   equals   "rain"           false
    asset /data/tags/2/name    equals   "rain"           false
    asset /data/nested/k/1/z   equals   "deep"           true
    asset /data/loc            equals   null             true
    asset /data/missing        equals   null             false
    asset /data/description/0  equals   "H"              false
    asset /data/description    matches  "Museum"         true
    asset /data/description    contains "o\u0020Mu"      true
    asset /data/description    matches  "museum"         false
    asset /data/project_id     matches  "12"             false
    asset /data/tags/*/name    matches  "ai"             true
    asset /data/missing        matches  ""               false
    asset /data/project_id     lt       13               true
    asset /data/project_id     lt       12               false
    asset /data/project_id     le       12               true
    asset /data/project_id     le       11               false
    asset /data/project_id     gt       -1               true
    asset /data/project_id     gt       12               false
    asset /data/project_id     ge       12               true
    asset /data/project_id     ge       13               false
    asset /meta/timestamp      gt       1699999999999    true
    asset /data/tag_ids/*      gt       8                true
    asset /data/tag_ids/*      gt       9                false
    asset /data/weight         lt       13               false
    asset /data/description    gt       0                false
    asset /data/submitted      lt       5                false
    asset /data/missing        lt       5                false
    asset /data/tag_ids/*      one_of   [3,7]            true
    asset /data/tag_ids/*      one_of   [7,8]            false
    asset /data/project_id     one_of   [12.0]           true
    asset /data/submitted      one_of   [false,true]     true
    asset /data/missing        one_of   [null]           false
    asset /data/tag_ids        one_of   [3,9]            false
    vote  /data/project_id     equals   12               false
    vote  /data/description    matches  "Museum"         false
    vote  /data/project_id     ge       12               false
    vote  /data/tag_ids/*      one_of   [3]              false
"#;

#[test]
fn every_operator_matches_and_misses_as_the_table_says() {
    let env = envelope();
    for row in OPERATOR_CASES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let Some((clause, expected)) = row.rsplit_once(' ') else {
            panic!("{row}")
        };
        let f = filter("include_any", &[clause]);
        assert_eq!(f.passes("asset", &env).to_string(), expected, "{row}");
    }
}

#[test]
fn the_four_match_policies_combine_none_some_and_all_matching_clauses() {
    let hit = "asset /data/project_id equals 12";
    let miss = "asset /data/project_id equals 99";
    let sets = [
        ("none", [miss, miss]),
        ("some", [hit, miss]),
        ("all", [hit, hit]),
    ];
    // Delivered when none / some / all clauses match.
    let table = [
        ("include_any", [false, true, true]),
        ("include_all", [false, false, true]),
        ("exclude_any", [true, false, false]),
        ("exclude_all", [true, true, false]),
    ];
    let env = envelope();
    for (policy, expected) in table {
        for ((label, rows), want) in sets.iter().zip(expected) {
            let f = filter(policy, rows);
            assert_eq!(
                f.passes("asset", &env),
                want,
                "{policy} with {label} matching"
            );
        }
    }
}

/// Whole bodies `=>` a substring of the error.
const BAD_BODIES: &str = r#"
    []                                               => filter: must be a JSON object
    {"match_policy":"include_any","clauses":[]}      => clauses: must be a non-empty list
    {"match_policy":"include_any"}                   => clauses: must be a non-empty list
    {"match_policy":"include_any","clauses":{}}      => clauses: must be a non-empty list
    {"clauses":[1]}                                  => match_policy: missing; use one of include_any, include_all, exclude_any, exclude_all
    {"match_policy":"any","clauses":[1]}             => match_policy: unknown policy "any"; use one of include_any,
    {"match_policy":"include_any","clauses":[1]}     => clauses[0]: must be an object
    {"name":3,"match_policy":"include_any"}          => name: must be a string
    {"match_policy":"include_any","clauses":[{"field":"/data/id","operator":"equals","value":1}]} => clauses[0].object_type: missing
    {"match_policy":"include_any","clauses":[{"object_type":"asset","field":"","operator":"equals","value":1}]} => clauses[0].field: "" must start with "/"
    {"match_policy":"include_any","clauses":[{"object_type":"asset","field":"/id","operator":"equals"}]} => clauses[0].value: missing
"#;

/// Second clauses (after a good one) `=>` a substring of the error.
const BAD_CLAUSES: &str = r#"
    post  /data/id    equals   1                     => clauses[1].object_type: unknown object type "post"; use one of asset, vote, session
    asset /data/id    foo      1                     => clauses[1].operator: unknown operator "foo"; use one of equals, matches, contains, lt, le, gt, ge, one_of
    asset data/id     equals   1                     => clauses[1].field: "data/id" must start with "/"
    asset /data/a~3   equals   1                     => clauses[1].field: bad escape "~3" in segment "a~3"; use ~0 for ~, ~1 for /, ~2 for *
    asset /data/a~    equals   1                     => clauses[1].field: bad escape "~"
    asset /data/id    one_of   3                     => clauses[1].value: one_of needs a list
    asset /data/id    lt       "5"                   => clauses[1].value: lt needs an integer value
    asset /data/id    ge       5.5                   => clauses[1].value: ge needs an integer value
    asset /data/id    matches  5                     => clauses[1].value: matches (contains) needs a string value
    asset /data/id    contains ["a"]                 => clauses[1].value: matches (contains) needs a string value
    asset /data/id    one_of   "$authorized_userids" => clauses[1].value: unknown variable $authorized_userids; no filter variables are supported
    asset /data/id    equals   "$me"                 => clauses[1].value: unknown variable $me
"#;

#[test]
fn bad_bodies_are_refused_naming_the_place() {
    let good = clause_of("asset /data/id equals 1");
    let mut cases: Vec<(Value, String)> = Vec::new();
    for row in BAD_BODIES.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((body, expected)) = row.split_once(" => ") else {
            panic!("{row}")
        };
        let body = serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{row}: {e}"));
        cases.push((body, expected.to_owned()));
    }
    let generated = [
        format!(
            "asset {} equals 1 => clauses[1].field: more than 32 segments",
            "/a".repeat(33)
        ),
        format!(
            "asset /{} equals 1 => clauses[1].field: longer than 512",
            "a".repeat(512)
        ),
        format!(
            "asset /id one_of {:?} => one_of takes at most 1000",
            [0; 1001]
        )
        .replace(", ", ","),
        format!(
            "asset /id equals \"{}\" => clauses[1].value: larger than 4096",
            "x".repeat(4100)
        ),
    ];
    let rows = BAD_CLAUSES.lines().map(str::to_owned).chain(generated);
    for row in rows.filter(|l| !l.trim().is_empty()) {
        let Some((clause, expected)) = row.split_once(" => ") else {
            panic!("{row}")
        };
        let body = json!({"match_policy": "include_any", "clauses": [good, clause_of(clause)]});
        cases.push((body, expected.to_owned()));
    }
    let too_many = vec![good.clone(); 51];
    let body = json!({"match_policy": "include_any", "clauses": too_many});
    cases.push((body, "clauses: at most 50 clauses".to_owned()));
    let body = json!({"name": "n".repeat(201), "match_policy": "include_any", "clauses": [good]});
    cases.push((body, "name: longer than 200 characters".to_owned()));
    for (body, expected) in cases {
        match Filter::parse(&body, TYPES) {
            Ok(f) => panic!("accepted {body}: {f:?}"),
            Err(e) => assert!(
                e.0.contains(&expected),
                "{body}\n gave {e}\n want {expected}"
            ),
        }
    }
}

#[test]
fn to_json_gives_back_what_parse_reads_with_contains_stored_as_matches() {
    let rows = [
        "asset /data/project_id equals 12",
        "asset /data/description contains \"bird\"",
        "vote /data/tags/*/a~1b~0~2 one_of [1,\"x\",null,{\"k\":[true]}]",
        "session /meta/timestamp ge 0",
    ];
    let clauses: Vec<Value> = rows.iter().map(|r| clause_of(r)).collect();
    let body = json!({"id": "9", "owner": {"id": 1}, "name": "approved of 12",
                      "match_policy": "exclude_all", "clauses": clauses});
    let f = Filter::parse(&body, TYPES).unwrap_or_else(|e| panic!("{e}"));
    let shown = f.to_json();
    assert_eq!(shown["name"], "approved of 12");
    assert_eq!(shown["clauses"][1]["operator"], "matches");
    assert_eq!(shown["clauses"][2]["field"], "/data/tags/*/a~1b~0~2");
    assert!(shown.get("id").is_none() && shown.get("owner").is_none());
    assert_eq!(Filter::parse(&shown, TYPES), Ok(f.clone()));
    let unnamed = Filter { name: None, ..f };
    assert!(unnamed.to_json().get("name").is_none());
    assert_eq!(Filter::parse(&unnamed.to_json(), TYPES), Ok(unnamed));
}

#[test]
fn escapes_reach_keys_with_slash_tilde_and_a_literal_star() {
    let table = [
        ("/data/~2", "star", true),
        ("/data/~2", "slash", false),
        ("/data/*", "slash", true),
        ("/data/a~1b", "slash", true),
        ("/data/a/b", "slash", false),
        ("/data/x~0y", "tilde", true),
    ];
    let env = envelope();
    for (field, value, expected) in table {
        let f = filter(
            "include_any",
            &[&format!("asset {field} equals \"{value}\"")],
        );
        assert_eq!(f.passes("asset", &env), expected, "{field} equals {value}");
        assert_eq!(f.clauses[0].field.as_str(), field);
    }
}

#[test]
fn a_clause_on_another_object_type_never_matches_under_any_policy() {
    let env = envelope();
    let on_vote = ["vote /data/project_id equals 12"];
    assert!(!filter("include_any", &on_vote).passes("asset", &env));
    assert!(!filter("include_all", &on_vote).passes("asset", &env));
    assert!(filter("exclude_any", &on_vote).passes("asset", &env));
    assert!(filter("exclude_all", &on_vote).passes("asset", &env));
    assert!(filter("include_any", &on_vote).passes("vote", &env));
}

#[test]
fn include_all_across_two_types_never_matches() {
    let rows = [
        "asset /data/project_id equals 12",
        "vote /data/project_id equals 12",
    ];
    let f = filter("include_all", &rows);
    let env = envelope();
    assert!(!f.passes("asset", &env));
    assert!(!f.passes("vote", &env));
}
