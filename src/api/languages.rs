//! `languages/` and `localizedstrings/`; token holders read, staff write.
//!
//! Language codes are two characters, stored lower-case (sessions look languages up by the
//! lower-cased prefix of the client's locale). Deleting a language something still uses is
//! refused with a 400 saying what uses it (see `store::languages`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::auth::Access;
use super::fields::{check_len, int, key, text};
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, Id};
use crate::store::languages::{
    self, Language, LanguageFilter, LanguageInput, StringFilter, StringInput,
};
use crate::store::loc::LocString;

pub(super) fn routes(r: &mut Routes) {
    let a = r
        .at("/languages/", "languages")
        .get(Access::Token, "List languages", list)
        .query(obj().string("language_code").string("name"))
        .post(Access::Staff, "Create a language", create)
        .body(language_fields(true));
    r.add(a);
    let a = r
        .at("/languages/{id}/", "languages")
        .get(Access::Token, "Get a language", get_one)
        .patch(Access::Staff, "Update a language", patch)
        .body(language_fields(false))
        .delete(
            Access::Staff,
            "Delete a language nothing uses any more",
            delete,
        );
    r.add(a);
    let a = r
        .at("/localizedstrings/", "localizedstrings")
        .get(Access::Token, "List localized strings", list_strings)
        .query(
            obj()
                .int("language_id")
                .string("language")
                .string("localized_string"),
        )
        .post(Access::Staff, "Create a localized string", create_string)
        .body(string_fields(true));
    r.add(a);
    let a = r
        .at("/localizedstrings/{id}/", "localizedstrings")
        .get(Access::Token, "Get a localized string", get_string)
        .patch(Access::Staff, "Update a localized string", patch_string)
        .body(string_fields(false))
        .delete(Access::Staff, "Delete a localized string", delete_string);
    r.add(a);
}

/// The body [`language_input`] reads (`create`: the code is required; codes are unique).
fn language_fields(create: bool) -> Obj {
    obj()
        .text("name", 20)
        .text("language_code", 2)
        .pattern("^[A-Za-z]{2}$")
        .req_if(create)
}

/// The body [`string_input`] reads (`create`: text and language required; `language` may
/// also carry a code such as `es`).
fn string_fields(create: bool) -> Obj {
    obj()
        .string("text")
        .nonblank()
        .req_if(create)
        .id("language_id")
        .req_if(create)
}

fn language_input(body: &Fields, create: bool) -> ApiResult<LanguageInput> {
    let mut errs = FieldErrors::default();
    let name = body.string("name", &mut errs);
    check_len("name", name.as_deref(), 20, &mut errs);
    let code =
        text(body, "language_code", create, usize::MAX, &mut errs).map(|c| c.trim().to_lowercase());
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

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<Language>>> {
    let mut errs = FieldErrors::default();
    let f = LanguageFilter {
        language_code: q.string("language_code", &mut errs),
        name: q.string("name", &mut errs),
    };
    errs.finish()?;
    Ok(Json(
        state.store.read(move |c| languages::list(c, &f)).await?,
    ))
}

async fn get_one(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Language>> {
    Ok(Json(
        state.store.read(move |c| languages::get(c, id)).await?,
    ))
}

async fn create(State(state): State<AppState>, Body(body): Body) -> ApiResult<Json<Language>> {
    let input = language_input(&body, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| languages::create(tx, &input))
            .await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<Language>> {
    let input = language_input(&body, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| languages::patch(tx, id, &input))
            .await?,
    ))
}

async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| languages::delete(tx, id))
        .await?
        .map_err(|in_use| ApiError::bad_request(in_use.0))?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// localizedstrings/

fn string_input(body: &Fields, create: bool) -> ApiResult<StringInput> {
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

async fn list_strings(
    State(state): State<AppState>,
    Query(q): Query,
) -> ApiResult<Json<Vec<LocString>>> {
    let mut errs = FieldErrors::default();
    let f = StringFilter {
        language_id: q.int("language_id", &mut errs),
        language: q.string("language", &mut errs),
        localized_string: q.string("localized_string", &mut errs),
    };
    errs.finish()?;
    Ok(Json(
        state
            .store
            .read(move |c| languages::list_strings(c, &f))
            .await?,
    ))
}

async fn get_string(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<LocString>> {
    Ok(Json(
        state
            .store
            .read(move |c| languages::get_string(c, id))
            .await?,
    ))
}

async fn create_string(
    State(state): State<AppState>,
    Body(body): Body,
) -> ApiResult<Json<LocString>> {
    let input = string_input(&body, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| languages::create_string(tx, &input))
            .await?,
    ))
}

async fn patch_string(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<LocString>> {
    let input = string_input(&body, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| languages::patch_string(tx, id, &input))
            .await?,
    ))
}

async fn delete_string(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| languages::delete_string(tx, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
