//! `tags/`, `tagcategories/`, `tagrelationships/` and `projects/:id/tags/`; token holders
//! read, staff write. Also the input helpers the other configuration handlers of this area
//! share (localization parameters, renamed keys, text length checks).

use axum::Json;
use axum::extract::State;

use super::auth::Access;
use super::crud::{self, FromBody, Names};
use super::fields::{int, key, loc_fields, loc_params, session_400, text};
use super::input::{FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiResult, AppState, Id};
use crate::geometry;
use crate::store::tags::{
    self, CategoryInput, Localize, Relationship, RelationshipInput, Tag, TagCategory, TagFilter,
    TagInput,
};

const TAGCATEGORIES: Names = Names::new("tagcategories", "a tag category", "tag categories");

const TAGRELATIONSHIPS: Names = Names::new(
    "tagrelationships",
    "a tag relationship",
    "tag relationships",
);

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
        .post(Access::Staff, "Create a tag", crud::create::<Tag>)
        .body(tag_fields(true))
        .add();
    r.at("/tags/{id}/", "tags")
        .get(Access::Token, "Get a tag", get_one)
        .query(loc_fields())
        .patch(Access::Staff, "Update a tag", crud::patch::<Tag>)
        .body(tag_fields(false))
        .delete(Access::Staff, "Delete a tag", crud::delete::<Tag>)
        .add();
    r.at("/projects/{id}/tags/", "projects")
        .get(
            Access::Token,
            "Every tag of a project, as a bare array",
            project_tags,
        )
        .query(loc_fields())
        .add();

    crud::routes::<TagCategory>(r, TAGCATEGORIES, category_fields);

    crud::routes::<Relationship>(r, TAGRELATIONSHIPS, relationship_fields);
}

/// The body [`TagInput::from_body`] reads (`create`: `value` is required).
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

/// The body [`CategoryInput::from_body`] reads.
fn category_fields(create: bool) -> Obj {
    obj()
        .text("name", 50)
        .nonblank()
        .req_if(create)
        .string("data")
        .nullable()
}

/// The body [`RelationshipInput::from_body`] reads.
fn relationship_fields(create: bool) -> Obj {
    obj().id("tag_id").req_if(create).id("parent_id").nullable()
}

// ---------------------------------------------------------------------------------------
// tags/

impl FromBody for TagInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
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

// ---------------------------------------------------------------------------------------
// tagcategories/

impl FromBody for CategoryInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
        let mut errs = FieldErrors::default();
        let input = CategoryInput {
            name: text(body, "name", create, 50, &mut errs),
            data: body.nullable_string("data", &mut errs),
        };
        errs.finish()?;
        Ok(input)
    }
}

// ---------------------------------------------------------------------------------------
// tagrelationships/

impl FromBody for RelationshipInput {
    fn from_body(body: &Fields, create: bool) -> ApiResult<Self> {
        let mut errs = FieldErrors::default();
        let input = RelationshipInput {
            tag_id: int(body, key(body, &["tag_id", "tag"]), create, &mut errs),
            parent_id: body.nullable_int(key(body, &["parent_id", "parent"]), &mut errs),
        };
        errs.finish()?;
        Ok(input)
    }
}
