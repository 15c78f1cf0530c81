//! `uielements/`, `uielementnames/` and `projects/:id/uielements/` (the per-variant skin
//! document of a project); token holders read, staff write.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::auth::Access;
use super::fields::{check_len, choice, filter_choice, int, key, text};
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, BaseUrl, Id};
use crate::store::uielements::{
    self, ElementFilter, ElementInput, FILE_EXTENSIONS, LABEL_POSITIONS, NameFilter, NameInput,
    UiElement, UiElementName, VARIANTS, VIEWS,
};
use crate::store::{languages, loc};

pub(super) fn routes(r: &mut Routes) {
    r.at("/uielements/", "uielements")
        .get(Access::Token, "List UI elements", list)
        .query(element_filter_fields(obj()))
        .post(Access::Staff, "Create a UI element", create)
        .body(element_fields(true))
        .add();
    r.at("/uielements/{id}/", "uielements")
        .get(Access::Token, "Get a UI element", get_one)
        .patch(Access::Staff, "Update a UI element", patch)
        .body(element_fields(false))
        .delete(Access::Staff, "Delete a UI element", delete)
        .add();
    r.at("/uielementnames/", "uielementnames")
        .get(Access::Token, "List UI element names", list_names)
        .query(obj().string("name").choice("view", VIEWS))
        .post(Access::Staff, "Create a UI element name", create_name)
        .body(name_fields(true))
        .add();
    r.at("/uielementnames/{id}/", "uielementnames")
        .get(Access::Token, "Get a UI element name", get_name)
        .patch(Access::Staff, "Update a UI element name", patch_name)
        .body(name_fields(false))
        .delete(
            Access::Staff,
            "Delete a UI element name and its elements",
            delete_name,
        )
        .add();
    r
        .at("/projects/{id}/uielements/", "projects")
        .get(
            Access::Token,
            "A project's UI elements of one variant by view (variant required, language_code optional)",
            project_uielements,
        )
        .query(
            element_filter_fields(
                obj()
                    .text("language_code", 2)
                    .doc("a language of this box (unknown: 400)"),
            )
            .req_named("variant"),
        )
        .add();
}

/// The filters [`element_filter`] reads, added to `o`.
fn element_filter_fields(o: Obj) -> Obj {
    o.string("uielementname")
        .int("project_id")
        .choice("variant", VARIANTS)
        .choice("file_extension", FILE_EXTENSIONS)
}

/// The body [`element_input`] reads (`create`: name, project, variant and extension required).
fn element_fields(create: bool) -> Obj {
    obj()
        .id("uielementname_id")
        .req_if(create)
        .id("project_id")
        .req_if(create)
        .choice("variant", VARIANTS)
        .req_if(create)
        .choice("file_extension", FILE_EXTENSIONS)
        .req_if(create)
        .text("label_text_color", 10)
        .choice("label_position", LABEL_POSITIONS)
        .ids("label_text_loc_ids")
}

/// The body [`name_input`] reads (`create`: name and view required).
fn name_fields(create: bool) -> Obj {
    obj()
        .text("name", 30)
        .nonblank()
        .req_if(create)
        .string("description")
        .nullable()
        .choice("view", VIEWS)
        .req_if(create)
}

fn element_filter(q: &Fields, errs: &mut FieldErrors) -> ElementFilter {
    ElementFilter {
        uielementname: q.string("uielementname", errs),
        project_id: q.int("project_id", errs),
        variant: filter_choice(q, "variant", VARIANTS, errs),
        file_extension: filter_choice(q, "file_extension", FILE_EXTENSIONS, errs),
    }
}

fn element_input(body: &Fields, create: bool) -> ApiResult<ElementInput> {
    let mut errs = FieldErrors::default();
    let label_text_color = body.string("label_text_color", &mut errs);
    check_len(
        "label_text_color",
        label_text_color.as_deref(),
        10,
        &mut errs,
    );
    let input = ElementInput {
        uielementname_id: int(
            body,
            key(body, &["uielementname_id", "uielementname"]),
            create,
            &mut errs,
        ),
        project_id: int(
            body,
            key(body, &["project_id", "project"]),
            create,
            &mut errs,
        ),
        variant: choice(body, "variant", VARIANTS, create, &mut errs),
        file_extension: choice(body, "file_extension", FILE_EXTENSIONS, create, &mut errs),
        label_text_color,
        label_position: choice(body, "label_position", LABEL_POSITIONS, false, &mut errs),
        label_text_loc_ids: body.ids(
            key(body, &["label_text_loc_ids", "label_text_loc"]),
            &mut errs,
        ),
    };
    errs.finish()?;
    Ok(input)
}

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<UiElement>>> {
    let mut errs = FieldErrors::default();
    let f = element_filter(&q, &mut errs);
    errs.finish()?;
    Ok(Json(
        state.store.read(move |c| uielements::list(c, &f)).await?,
    ))
}

async fn get_one(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<UiElement>> {
    Ok(Json(
        state.store.read(move |c| uielements::get(c, id)).await?,
    ))
}

async fn create(State(state): State<AppState>, Body(body): Body) -> ApiResult<Json<UiElement>> {
    let input = element_input(&body, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| uielements::create(tx, &input))
            .await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<UiElement>> {
    let input = element_input(&body, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| uielements::patch(tx, id, &input))
            .await?,
    ))
}

async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| uielements::delete(tx, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `projects/:id/uielements/?variant=@2x&language_code=en`.
async fn project_uielements(
    State(state): State<AppState>,
    base: BaseUrl,
    Id(id): Id,
    Query(q): Query,
) -> ApiResult<Json<Value>> {
    let mut errs = FieldErrors::default();
    let code = q
        .string("language_code", &mut errs)
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty());
    let mut f = element_filter(&q, &mut errs);
    errs.finish()?;
    let Some(variant) = f.variant.take() else {
        return Err(ApiError::bad_request("Variant param is required."));
    };
    let zip_variant = variant.clone();
    let views = state
        .store
        .read(move |c| {
            let language_id = match &code {
                Some(code) => languages::id_for_code(c, code)?,
                None => Some(loc::english_id(c)?),
            };
            match language_id {
                Some(l) => uielements::for_project(c, id, &variant, &f, l).map(Some),
                None => Ok(None),
            }
        })
        .await?
        .ok_or_else(|| ApiError::bad_request("Language Code not found"))?;
    Ok(Json(json!({
        "config": {
            "project_id": id,
            "files_url": format!("{}/rwmedia/project{id}-uielements{zip_variant}.zip", base.0),
        },
        "uielements": views,
    })))
}

// ---------------------------------------------------------------------------------------
// uielementnames/

fn name_input(body: &Fields, create: bool) -> ApiResult<NameInput> {
    let mut errs = FieldErrors::default();
    let input = NameInput {
        name: text(body, "name", create, 30, &mut errs),
        description: body.nullable_string("description", &mut errs),
        view: choice(body, "view", VIEWS, create, &mut errs),
    };
    errs.finish()?;
    Ok(input)
}

async fn list_names(
    State(state): State<AppState>,
    Query(q): Query,
) -> ApiResult<Json<Vec<UiElementName>>> {
    let mut errs = FieldErrors::default();
    let f = NameFilter {
        name: q.string("name", &mut errs),
        view: filter_choice(&q, "view", VIEWS, &mut errs),
    };
    errs.finish()?;
    Ok(Json(
        state
            .store
            .read(move |c| uielements::list_names(c, &f))
            .await?,
    ))
}

async fn get_name(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<UiElementName>> {
    Ok(Json(
        state
            .store
            .read(move |c| uielements::get_name(c, id))
            .await?,
    ))
}

async fn create_name(
    State(state): State<AppState>,
    Body(body): Body,
) -> ApiResult<Json<UiElementName>> {
    let input = name_input(&body, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| uielements::create_name(tx, &input))
            .await?,
    ))
}

async fn patch_name(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<UiElementName>> {
    let input = name_input(&body, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| uielements::patch_name(tx, id, &input))
            .await?,
    ))
}

async fn delete_name(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| uielements::delete_name(tx, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
