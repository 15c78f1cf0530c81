//! `languages/` and `localizedstrings/`; token holders read, staff write.
//!
//! Language codes are two characters, stored lower-case (sessions look languages up by the
//! lower-cased prefix of the client's locale). Deleting a language something still uses is
//! refused with a 400 saying what uses it (see `store::languages`).

use serde_json::Value;

use super::ApiResult;
use super::crud::{self, FromBody, Names};
use super::fields::{check_len, int, key, text};
use super::input::{FieldErrors, Fields};
use super::routes::Routes;
use super::schema::{Obj, obj};
use crate::store::languages::{Language, LanguageInput, StringInput};
use crate::store::loc::LocString;

const LANGUAGES: Names = Names::new("languages", "a language", "languages");

const LOCALIZEDSTRINGS: Names = Names::new(
    "localizedstrings",
    "a localized string",
    "localized strings",
);

pub(super) fn routes(r: &mut Routes) {
    crud::routes::<Language>(r, LANGUAGES, language_fields);

    crud::routes::<LocString>(r, LOCALIZEDSTRINGS, string_fields);
}

/// The body [`LanguageInput::from_body`] reads (`create`: the code is required; codes are unique).
fn language_fields(create: bool) -> Obj {
    obj()
        .text("name", 20)
        .text("language_code", 2)
        .pattern("^[A-Za-z]{2}$")
        .req_if(create)
}

/// The body [`StringInput::from_body`] reads (`create`: text and language required; `language` may
/// also carry a code such as `es`).
fn string_fields(create: bool) -> Obj {
    obj()
        .string("text")
        .nonblank()
        .req_if(create)
        .id("language_id")
        .req_if(create)
}

impl FromBody for LanguageInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
        let mut errs = FieldErrors::default();
        let name = body.string("name", &mut errs);
        check_len("name", name.as_deref(), 20, &mut errs);
        let code = text(body, "language_code", create, usize::MAX, &mut errs)
            .map(|c| c.trim().to_lowercase());
        if code.as_deref().is_some_and(|c| c.chars().count() != 2) {
            errs.add(
                "language_code",
                "language_code must be exactly 2 characters (e.g. \"es\").",
            );
        }
        errs.finish()?;
        Ok(LanguageInput {
            name,
            language_code: code,
        })
    }
}

// ---------------------------------------------------------------------------------------
// localizedstrings/

impl FromBody for StringInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
        let mut errs = FieldErrors::default();
        let text = text(
            body,
            key(body, &["text", "localized_string"]),
            create,
            usize::MAX,
            &mut errs,
        );
        // `language` may carry an id (the model name) or a code such as "es".
        let language_key = key(body, &["language_id", "language"]);
        let code = match body.raw(language_key) {
            Some(Value::String(s))
                if language_key == "language"
                    && !s.trim().is_empty()
                    && s.trim().parse::<i64>().is_err() =>
            {
                Some(s.trim().to_lowercase())
            }
            _ => None,
        };
        let language_id = if code.is_some() {
            None
        } else {
            int(body, language_key, create, &mut errs)
        };
        errs.finish()?;
        Ok(StringInput {
            text,
            language_id,
            language_code: code,
        })
    }
}
