//! `uigroups/`, `uiitems/`, `projects/:id/uigroups/` and `projects/:id/uiconfig/`; token
//! holders read, staff write.
//!
//! decisions.md: `session_id` is optional on the project sub-routes (English without it; the
//! reference answered 500); an unknown session is 400 `{"detail":"Session not found"}`.
//! `admin` on `uiconfig` is ignored (the reference answered 500).

use axum::Json;
use axum::extract::State;

use super::auth::Access;
use super::crud::{self, FromBody, FromQuery, Names};
use super::fields::{check_len, choice, int, key, loc_fields, loc_params, session_400, text};
use super::input::{FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiResult, AppState, Id};
use crate::store::Given;
use crate::store::tags::Localize;
use crate::store::uigroups::{
    self, GroupInput, ItemInput, SELECT_METHODS, UI_MODES, UiConfig, UiGroup, UiItem,
};

const UIITEMS: Names = Names::new("uiitems", "a UI item", "UI items");

pub(super) fn routes(r: &mut Routes) {
    r.at("/uigroups/", "uigroups")
        .get(
            Access::Token,
            "List UI groups by index (session_id localizes, admin adds all strings)",
            list,
        )
        .query(group_filter_fields())
        .post(Access::Staff, "Create a UI group", crud::create::<UiGroup>)
        .body(group_fields(true))
        .add();
    r.at("/uigroups/{id}/", "uigroups")
        .get(Access::Token, "Get a UI group with all its items", get_one)
        .query(loc_fields())
        .patch(Access::Staff, "Update a UI group", crud::patch::<UiGroup>)
        .body(group_fields(false))
        .delete(
            Access::Staff,
            "Delete a UI group and its items",
            crud::delete::<UiGroup>,
        )
        .add();
    crud::routes::<UiItem>(r, UIITEMS, item_fields);

    r.at("/projects/{id}/uigroups/", "projects")
        .get(
            Access::Token,
            "A project's UI groups as a bare array (session_id optional)",
            project_uigroups,
        )
        .query(group_filter_fields())
        .add();
    r
        .at("/projects/{id}/uiconfig/", "projects")
        .get(
            Access::Token,
            "A project's active listen and speak groups, ready for a client UI (session_id optional)",
            project_uiconfig,
        )
        .query(obj().id("session_id"))
        .add();
}

/// The filters of UI group lists, with the localization parameters.
fn group_filter_fields() -> Obj {
    loc_fields().and(Given::<UiGroup>::fields())
}

/// The body [`GroupInput::from_body`] reads (`create`: name, index, category and project required).
fn group_fields(create: bool) -> Obj {
    obj()
        .text("name", 50)
        .nonblank()
        .req_if(create)
        .choice("ui_mode", UI_MODES)
        .choice("select", SELECT_METHODS)
        .bool("active")
        .int("index")
        .req_if(create)
        .id("tag_category_id")
        .req_if(create)
        .id("project_id")
        .req_if(create)
        .text("uiitem_filter", 50)
        .ids("header_text_loc_ids")
}

/// The body [`ItemInput::from_body`] reads (`create`: group, tag and index required).
fn item_fields(create: bool) -> Obj {
    obj()
        .id("ui_group_id")
        .req_if(create)
        .id("tag_id")
        .req_if(create)
        .id("parent_id")
        .nullable()
        .int("index")
        .req_if(create)
        .bool("default")
        .bool("active")
}

impl FromBody for GroupInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
        let mut errs = FieldErrors::default();
        let uiitem_filter = body.string("uiitem_filter", &mut errs);
        check_len("uiitem_filter", uiitem_filter.as_deref(), 50, &mut errs);
        let input = GroupInput {
            name: text(body, "name", create, 50, &mut errs),
            ui_mode: choice(body, "ui_mode", UI_MODES, false, &mut errs),
            select: choice(body, "select", SELECT_METHODS, false, &mut errs),
            active: body.bool("active", &mut errs),
            index: int(body, "index", create, &mut errs),
            tag_category_id: int(
                body,
                key(body, &["tag_category_id", "tag_category"]),
                create,
                &mut errs,
            ),
            project_id: int(
                body,
                key(body, &["project_id", "project"]),
                create,
                &mut errs,
            ),
            uiitem_filter,
            header_text_loc_ids: body.ids(
                key(body, &["header_text_loc_ids", "header_text_loc"]),
                &mut errs,
            ),
        };
        errs.finish()?;
        Ok(input)
    }
}

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<UiGroup>>> {
    let mut errs = FieldErrors::default();
    let f = Given::<UiGroup>::from_query(&q, &mut errs);
    let lp = loc_params(&q, &mut errs);
    errs.finish()?;
    let groups = state
        .store
        .read(move |c| {
            let how = Localize::for_session(c, lp.session_id, lp.admin)?;
            uigroups::list(c, &f, how)
        })
        .await
        .map_err(session_400)?;
    Ok(Json(groups))
}

async fn get_one(
    State(state): State<AppState>,
    Id(id): Id,
    Query(q): Query,
) -> ApiResult<Json<UiGroup>> {
    let mut errs = FieldErrors::default();
    let lp = loc_params(&q, &mut errs);
    errs.finish()?;
    let group = state
        .store
        .read(move |c| {
            let how = Localize::for_session(c, lp.session_id, lp.admin)?;
            uigroups::get(c, id, how)
        })
        .await
        .map_err(session_400)?;
    Ok(Json(group))
}

async fn project_uigroups(
    State(state): State<AppState>,
    Id(id): Id,
    Query(q): Query,
) -> ApiResult<Json<Vec<UiGroup>>> {
    let mut errs = FieldErrors::default();
    let f = Given::<UiGroup>::from_query(&q, &mut errs);
    let lp = loc_params(&q, &mut errs);
    errs.finish()?;
    let groups = state
        .store
        .read(move |c| uigroups::for_project(c, id, &f, lp.session_id, lp.admin))
        .await
        .map_err(session_400)?;
    Ok(Json(groups))
}

async fn project_uiconfig(
    State(state): State<AppState>,
    Id(id): Id,
    Query(q): Query,
) -> ApiResult<Json<UiConfig>> {
    let mut errs = FieldErrors::default();
    let session_id = q.int("session_id", &mut errs);
    errs.finish()?;
    let config = state
        .store
        .read(move |c| uigroups::uiconfig(c, id, &Given::default(), session_id))
        .await
        .map_err(session_400)?;
    Ok(Json(config))
}

// ---------------------------------------------------------------------------------------
// uiitems/

impl FromBody for ItemInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
        let mut errs = FieldErrors::default();
        let input = ItemInput {
            ui_group_id: int(
                body,
                key(body, &["ui_group_id", "ui_group"]),
                create,
                &mut errs,
            ),
            tag_id: int(body, key(body, &["tag_id", "tag"]), create, &mut errs),
            parent_id: body.nullable_int(key(body, &["parent_id", "parent"]), &mut errs),
            index: int(body, "index", create, &mut errs),
            default: body.bool("default", &mut errs),
            active: body.bool("active", &mut errs),
        };
        errs.finish()?;
        Ok(input)
    }
}
