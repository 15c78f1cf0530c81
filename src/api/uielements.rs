//! `uielements/`, `uielementnames/` and `projects/:id/uielements/` (the per-variant skin
//! document of a project); token holders read, staff write.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::auth::Access;
use super::crud::{self, FromBody, FromQuery, Names};
use super::fields::{check_len, choice, int, key, text};
use super::input::{FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, BaseUrl, Id};
use crate::store::Given;
use crate::store::uielements::{
    self, ElementInput, FILE_EXTENSIONS, LABEL_POSITIONS, NameInput, UiElement, UiElementName,
    VARIANTS, VIEWS,
};
use crate::store::{languages, loc};

const UIELEMENTS: Names = Names::new("uielements", "a UI element", "UI elements");

const UIELEMENTNAMES: Names = Names::new("uielementnames", "a UI element name", "UI element names");

pub(super) fn routes(r: &mut Routes) {
    crud::routes::<UiElement>(r, UIELEMENTS, element_fields);

    crud::routes::<UiElementName>(r, UIELEMENTNAMES, name_fields);

    r
        .at("/projects/{id}/uielements/", "projects")
        .get(
            Access::Token,
            "A project's UI elements of one variant by view (variant required, language_code optional)",
            project_uielements,
        )
        .query(
            obj()
                .text("language_code", 2)
                .doc("a language of this box (unknown: 400)")
                .and(Given::<UiElement>::fields())
                .req_named("variant"),
        )
        .add();
}

/// The body [`ElementInput::from_body`] reads (`create`: name, project, variant and extension required).
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

/// The body [`NameInput::from_body`] reads (`create`: name and view required).
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

impl FromBody for ElementInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
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
    let mut f = Given::<UiElement>::from_query(&q, &mut errs);
    errs.finish()?;
    let Some(variant) = f.take_text("variant") else {
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

impl FromBody for NameInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
        let mut errs = FieldErrors::default();
        let input = NameInput {
            name: text(body, "name", create, 30, &mut errs),
            description: body.nullable_string("description", &mut errs),
            view: choice(body, "view", VIEWS, create, &mut errs),
        };
        errs.finish()?;
        Ok(input)
    }
}
