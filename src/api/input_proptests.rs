//! Property tests of the lenient accessors: no value a client can send makes one panic, and a
//! list of ids reads the same through every encoding decisions.md keeps.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,16}".prop_map(Value::String),
        "[0-9, \\[\\]\"'-]{0,16}".prop_map(Value::String),
        Just(json!("undefined")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field(v: Value) -> Fields {
    let mut m = Map::new();
    m.insert("k".into(), v);
    Fields::from_map(m)
}

/// Calls every accessor on `key`; none may panic, whatever the value.
fn read_all(f: &Fields, key: &str) {
    let mut e = FieldErrors::default();
    let _ = f.string(key, &mut e);
    let _ = f.nullable_string(key, &mut e);
    let _ = f.string_max(key, 3, &mut e);
    let _ = f.req_string(key, &mut e);
    let _ = f.int(key, &mut e);
    let _ = f.req_int(key, &mut e);
    let _ = f.nullable_int(key, &mut e);
    let _ = f.float(key, &mut e);
    let _ = f.req_float(key, &mut e);
    let _ = f.nullable_float(key, &mut e);
    let _ = f.float_in(key, -90.0..=90.0, &mut e);
    let _ = f.bool(key, &mut e);
    let _ = f.ids(key, &mut e);
    let _ = f.datetime(key, &mut e);
    let _ = f.choice(key, &["a", "b"], &mut e);
    let _ = f.geometry(key, &mut e);
    let _ = f.first_key(&[key, "other"]);
}

fn read_ids(f: &Fields) -> (Option<Vec<i64>>, bool) {
    let mut e = FieldErrors::default();
    let ids = f.ids("k", &mut e);
    (ids, e.is_empty())
}

/// The ids in first-seen order without repeats, as the server keeps them.
fn distinct(ids: &[i64]) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|i| seen.insert(*i)).collect()
}

proptest! {
    #![proptest_config(crate::proptest_config())]

    #[test]
    fn no_accessor_panics_on_any_json_value(v in any_json()) {
        read_all(&field(v), "k");
    }

    #[test]
    fn no_accessor_panics_on_any_form_or_query_bytes(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let f = Fields::from_urlencoded(&bytes);
        let keys: Vec<String> = f.as_map().keys().cloned().collect();
        for key in keys {
            read_all(&f, &key);
        }
    }

    #[test]
    fn a_list_of_ids_reads_the_same_in_every_accepted_encoding(ids in prop::collection::vec(any::<i64>(), 1..20)) {
        let want = Some(distinct(&ids));
        let text = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let strings: Vec<String> = ids.iter().map(i64::to_string).collect();
        let encodings = [
            json!(ids),
            json!(strings),
            json!(text),
            json!(format!("\"{text}\"")),
            json!(format!("[{text}]")),
            json!(format!("{text},")),
            json!(format!(",{text}")),
            json!(format!("{text},undefined")),
        ];
        for v in encodings {
            let (got, clean) = read_ids(&field(v.clone()));
            prop_assert_eq!(&got, &want, "{}", v);
            prop_assert!(clean, "{}", v);
        }
        let repeated = ids.iter().map(|i| format!("k={i}")).collect::<Vec<_>>().join("&");
        for form in [format!("k={text}"), format!("k={text}&"), repeated] {
            let (got, clean) = read_ids(&Fields::from_urlencoded(form.as_bytes()));
            prop_assert_eq!(&got, &want, "{}", form);
            prop_assert!(clean, "{}", form);
        }
    }

    #[test]
    fn an_integer_reads_back_from_a_number_or_its_text(n in any::<i64>()) {
        for v in [json!(n), json!(n.to_string()), json!(format!(" {n} "))] {
            let mut e = FieldErrors::default();
            prop_assert_eq!(field(v).int("k", &mut e), Some(n));
            prop_assert!(e.is_empty());
        }
        let mut e = FieldErrors::default();
        let form = Fields::from_urlencoded(format!("k={n}&").as_bytes());
        prop_assert_eq!(form.int("k", &mut e), Some(n));
    }

    #[test]
    fn a_whole_number_past_64_bits_is_refused_not_clamped(extra in 1u64..1_000_000) {
        // serde_json holds these as floats; they must not saturate to i64::MAX or MIN.
        for text in [format!("{}", u64::MAX - extra), format!("-{}", u64::MAX - extra)] {
            let v: Value = serde_json::from_str(&text).unwrap();
            let mut e = FieldErrors::default();
            prop_assert_eq!(field(v).int("k", &mut e), None, "{}", text);
            prop_assert!(!e.is_empty());
        }
    }

    #[test]
    fn booleans_are_never_read_as_text(b in any::<bool>()) {
        let mut e = FieldErrors::default();
        prop_assert_eq!(field(json!(b)).string("k", &mut e), None);
        prop_assert!(!e.is_empty());
    }
}
