//! `tags/`, `tagcategories/`, `tagrelationships/` and `projects/:id/tags/`; token holders
//! read, staff write. Also the input helpers the other configuration handlers of this area
//! share (localization parameters, renamed keys, text length checks).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::auth::Access;
use super::fields::{int, key, loc_fields, loc_params, session_400, text};
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiResult, AppState, Id};
use crate::geometry;
use crate::store::tags::{
    self, CategoryInput, Localize, Relationship, RelationshipFilter, RelationshipInput, Tag,
    TagCategory, TagFilter, TagInput,
};

pub(super) fn routes(r: &mut Routes) {
    r.at("/tags/", "tags")
        .get(
            Access::Token,
            "List tags (session_id localizes, admin adds all strings)",
            list,
        )
        .query(
            loc_fields()
                .string("description")
                .string("data")
                .int("project_id"),
        )
        .post(Access::Staff, "Create a tag", create)
        .body(tag_fields(true))
        .add();
    r.at("/tags/{id}/", "tags")
        .get(Access::Token, "Get a tag", get_one)
        .query(loc_fields())
        .patch(Access::Staff, "Update a tag", patch)
        .body(tag_fields(false))
        .delete(Access::Staff, "Delete a tag", delete)
        .add();
    r.at("/projects/{id}/tags/", "projects")
        .get(
            Access::Token,
            "Every tag of a project, as a bare array",
            project_tags,
        )
        .query(loc_fields())
        .add();

    r.at("/tagcategories/", "tagcategories")
        .get(Access::Token, "List tag categories", list_categories)
        .query(obj().string("name"))
        .post(Access::Staff, "Create a tag category", create_category)
        .body(category_fields(true))
        .add();
    r.at("/tagcategories/{id}/", "tagcategories")
        .get(Access::Token, "Get a tag category", get_category)
        .patch(Access::Staff, "Update a tag category", patch_category)
        .body(category_fields(false))
        .delete(Access::Staff, "Delete a tag category", delete_category)
        .add();

    r.at("/tagrelationships/", "tagrelationships")
        .get(Access::Token, "List tag relationships", list_relationships)
        .query(obj().int("tag_id").int("parent_id"))
        .post(
            Access::Staff,
            "Create a tag relationship",
            create_relationship,
        )
        .body(relationship_fields(true))
        .add();
    r.at("/tagrelationships/{id}/", "tagrelationships")
        .get(Access::Token, "Get a tag relationship", get_relationship)
        .patch(
            Access::Staff,
            "Update a tag relationship",
            patch_relationship,
        )
        .body(relationship_fields(false))
        .delete(
            Access::Staff,
            "Delete a tag relationship",
            delete_relationship,
        )
        .add();
}

/// The body [`tag_input`] reads (`create`: `value` is required).
fn tag_fields(create: bool) -> Obj {
    obj()
        .string("value")
        .nonblank()
        .req_if(create)
        .string("description")
        .nullable()
        .string("data")
        .nullable()
        .choice("filter", tags::FILTERS)
        .nullable()
        .geometry("location")
        .nullable()
        .id("project_id")
        .nullable()
        .id("tag_category_id")
        .nullable()
        .ids("description_loc_ids")
        .ids("msg_loc_ids")
}

/// The body [`category_input`] reads.
fn category_fields(create: bool) -> Obj {
    obj()
        .text("name", 50)
        .nonblank()
        .req_if(create)
        .string("data")
        .nullable()
}

/// The body [`relationship_input`] reads.
fn relationship_fields(create: bool) -> Obj {
    obj().id("tag_id").req_if(create).id("parent_id").nullable()
}

// ---------------------------------------------------------------------------------------
// tags/

fn tag_input(body: &Fields, create: bool) -> ApiResult<TagInput> {
    let mut errs = FieldErrors::default();
    let filter = match body.raw("filter") {
        Some(serde_json::Value::Null) => Some(String::new()),
        Some(_) => body.choice("filter", tags::FILTERS, &mut errs),
        None => None,
    };
    let location = body
        .geometry("location", &mut errs)
        .map(|mp| mp.map(|mp| geometry::multipolygon_json(&mp).to_string()));
    let input = TagInput {
        value: text(body, "value", create, usize::MAX, &mut errs),
        description: body.nullable_string("description", &mut errs),
        data: body.nullable_string("data", &mut errs),
        filter,
        location,
        project_id: body.nullable_int(key(body, &["project_id", "project"]), &mut errs),
        tag_category_id: body
            .nullable_int(key(body, &["tag_category_id", "tag_category"]), &mut errs),
        description_loc_ids: body.ids(
            key(body, &["description_loc_ids", "loc_description"]),
            &mut errs,
        ),
        msg_loc_ids: body.ids(key(body, &["msg_loc_ids", "loc_msg"]), &mut errs),
    };
    errs.finish()?;
    Ok(input)
}

async fn list(State(state): State<AppState>, Query(q): Query) -> ApiResult<Json<Vec<Tag>>> {
    let mut errs = FieldErrors::default();
    let f = TagFilter {
        description: q.string("description", &mut errs),
        data: q.string("data", &mut errs),
        project_id: q.int("project_id", &mut errs),
    };
    let lp = loc_params(&q, &mut errs);
    errs.finish()?;
    let tags = state
        .store
        .read(move |c| {
            let how = Localize::for_session(c, lp.session_id, lp.admin)?;
            tags::list(c, &f, how)
        })
        .await
        .map_err(session_400)?;
    Ok(Json(tags))
}

async fn get_one(
    State(state): State<AppState>,
    Id(id): Id,
    Query(q): Query,
) -> ApiResult<Json<Tag>> {
    let mut errs = FieldErrors::default();
    let lp = loc_params(&q, &mut errs);
    errs.finish()?;
    let tag = state
        .store
        .read(move |c| {
            let how = Localize::for_session(c, lp.session_id, lp.admin)?;
            tags::get(c, id, how)
        })
        .await
        .map_err(session_400)?;
    Ok(Json(tag))
}

/// `projects/:id/tags/`: an unknown session is a 404 here, as in the reference.
async fn project_tags(
    State(state): State<AppState>,
    Id(id): Id,
    Query(q): Query,
) -> ApiResult<Json<Vec<Tag>>> {
    let mut errs = FieldErrors::default();
    let lp = loc_params(&q, &mut errs);
    errs.finish()?;
    Ok(Json(
        state
            .store
            .read(move |c| tags::for_project(c, id, lp.session_id, lp.admin))
            .await?,
    ))
}

async fn create(State(state): State<AppState>, Body(body): Body) -> ApiResult<Json<Tag>> {
    let input = tag_input(&body, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| tags::create(tx, &input))
            .await?,
    ))
}

async fn patch(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<Tag>> {
    let input = tag_input(&body, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| tags::patch(tx, id, &input))
            .await?,
    ))
}

async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state.store.write(move |tx| tags::delete(tx, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// tagcategories/

fn category_input(body: &Fields, create: bool) -> ApiResult<CategoryInput> {
    let mut errs = FieldErrors::default();
    let input = CategoryInput {
        name: text(body, "name", create, 50, &mut errs),
        data: body.nullable_string("data", &mut errs),
    };
    errs.finish()?;
    Ok(input)
}

async fn list_categories(
    State(state): State<AppState>,
    Query(q): Query,
) -> ApiResult<Json<Vec<TagCategory>>> {
    let mut errs = FieldErrors::default();
    let name = q.string("name", &mut errs);
    errs.finish()?;
    Ok(Json(
        state
            .store
            .read(move |c| tags::list_categories(c, name.as_deref()))
            .await?,
    ))
}

async fn get_category(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<TagCategory>> {
    Ok(Json(
        state.store.read(move |c| tags::get_category(c, id)).await?,
    ))
}

async fn create_category(
    State(state): State<AppState>,
    Body(body): Body,
) -> ApiResult<Json<TagCategory>> {
    let input = category_input(&body, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| tags::create_category(tx, &input))
            .await?,
    ))
}

async fn patch_category(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<TagCategory>> {
    let input = category_input(&body, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| tags::patch_category(tx, id, &input))
            .await?,
    ))
}

async fn delete_category(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| tags::delete_category(tx, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// tagrelationships/

fn relationship_input(body: &Fields, create: bool) -> ApiResult<RelationshipInput> {
    let mut errs = FieldErrors::default();
    let input = RelationshipInput {
        tag_id: int(body, key(body, &["tag_id", "tag"]), create, &mut errs),
        parent_id: body.nullable_int(key(body, &["parent_id", "parent"]), &mut errs),
    };
    errs.finish()?;
    Ok(input)
}

async fn list_relationships(
    State(state): State<AppState>,
    Query(q): Query,
) -> ApiResult<Json<Vec<Relationship>>> {
    let mut errs = FieldErrors::default();
    let f = RelationshipFilter {
        tag_id: q.int("tag_id", &mut errs),
        parent_id: q.int("parent_id", &mut errs),
    };
    errs.finish()?;
    Ok(Json(
        state
            .store
            .read(move |c| tags::list_relationships(c, &f))
            .await?,
    ))
}

async fn get_relationship(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Relationship>> {
    Ok(Json(
        state
            .store
            .read(move |c| tags::get_relationship(c, id))
            .await?,
    ))
}

async fn create_relationship(
    State(state): State<AppState>,
    Body(body): Body,
) -> ApiResult<Json<Relationship>> {
    let input = relationship_input(&body, true)?;
    Ok(Json(
        state
            .store
            .write(move |tx| tags::create_relationship(tx, &input))
            .await?,
    ))
}

async fn patch_relationship(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body,
) -> ApiResult<Json<Relationship>> {
    let input = relationship_input(&body, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| tags::patch_relationship(tx, id, &input))
            .await?,
    ))
}

async fn delete_relationship(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| tags::delete_relationship(tx, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
