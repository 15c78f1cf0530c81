//! The handlers of plain resources: list with a filter, get, create, PATCH and delete, once for
//! every resource the store describes with [`Table`], [`Filtered`] and [`Editable`]. A
//! resource module keeps only what is its own: how its query becomes a filter
//! ([`FromQuery`]), how its body becomes an input ([`FromBody`]), and its route table, where
//! these handlers stand by name (`crud::list::<TimedAsset>`) beside any hand-written ones,
//! or [`routes`] registers all five at once.
//!
//! Owns: the five plain handler bodies. May not touch: SQL (the store's traits run it) or
//! access rules (the route table states them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::auth::Access;
use super::fields::filter_choice;
use super::input::{Body, FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::Obj;
use super::{ApiResult, AppState, Id};
use crate::store::{Editable, Filtered, Given, Kind, Queried, Table};

/// A list filter read from a query string.
pub(super) trait FromQuery: Sized {
    /// Reads the filter, adding every bad parameter to `e`.
    fn from_query(q: &Fields, e: &mut FieldErrors) -> Self;

    /// The parameters [`FromQuery::from_query`] reads, for the OpenAPI document.
    fn fields() -> Obj;
}

/// The value `read` finds under the first of `names` that carries one. Every name is read, so
/// a bad value under any of them is named in the errors, not skipped because a preferred name
/// came first (`?asset_id=3&asset=true` is a 400 naming `asset`).
fn first<T>(names: &[&str], mut read: impl FnMut(&str) -> Option<T>) -> Option<T> {
    names.iter().fold(None, |found, name| {
        let value = read(name);
        found.or(value)
    })
}

/// A resource's parameter table ([`Queried::PARAMS`]) read from a query string: the first of
/// a parameter's names that carries a value sets it.
impl<R: Queried> FromQuery for Given<R> {
    fn from_query(q: &Fields, e: &mut FieldErrors) -> Self {
        let mut given = Self::default();
        for (i, p) in R::PARAMS.iter().enumerate() {
            if p.names[0].starts_with('_') {
                continue;
            }
            let names = p.names;
            match p.kind {
                Kind::Int => first(names, |n| q.int(n, e)).map(|v| given.set(i, v)),
                Kind::Float | Kind::Seconds => {
                    first(names, |n| q.float(n, e)).map(|v| given.set(i, v))
                }
                Kind::Bool => first(names, |n| q.bool(n, e)).map(|v| given.set(i, v)),
                Kind::Text => first(names, |n| q.string(n, e)).map(|v| given.set(i, v)),
                Kind::Choice(choices) => {
                    first(names, |n| filter_choice(q, n, choices, e)).map(|v| given.set(i, v))
                }
            };
        }
        given
    }

    fn fields() -> Obj {
        let public = R::PARAMS.iter().filter(|p| !p.names[0].starts_with('_'));
        public.fold(Obj::default(), |o, p| {
            p.names.iter().fold(o, |o, name| match p.kind {
                Kind::Int => o.int(name),
                Kind::Float => o.num(name),
                Kind::Seconds => o.num(name).doc("seconds"),
                Kind::Bool => o.bool(name),
                Kind::Text => o.string(name),
                Kind::Choice(choices) => o.choice(name, choices),
            })
        })
    }
}

/// A create or PATCH input read from a request body.
pub(super) trait FromBody: Sized {
    /// Reads the input (`creating`: required fields must be there).
    ///
    /// # Errors
    /// A 400 naming every bad field.
    fn from_body(b: &Fields, creating: bool) -> ApiResult<Self>;
}

/// `GET <collection>/`: the objects the query's filter matches, by id.
pub(super) async fn list<R>(
    State(state): State<AppState>,
    Query(q): Query,
) -> ApiResult<Json<Vec<R>>>
where
    R: Filtered + Serialize,
    R::Filter: FromQuery,
{
    let mut e = FieldErrors::default();
    let f = R::Filter::from_query(&q, &mut e);
    e.finish()?;
    Ok(Json(state.store.read(move |c| R::list(c, &f)).await?))
}

/// `GET <collection>/{id}/`.
pub(super) async fn get<R: Table + Serialize>(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<R>> {
    Ok(Json(state.store.read(move |c| R::get(c, id)).await?))
}

/// `POST <collection>/`: answers the new object.
pub(super) async fn create<R>(State(state): State<AppState>, Body(b): Body) -> ApiResult<Json<R>>
where
    R: Editable + Serialize,
    R::Input: FromBody,
{
    let input = R::Input::from_body(&b, true)?;
    Ok(Json(
        state.store.write(move |tx| R::create(tx, &input)).await?,
    ))
}

/// `PATCH <collection>/{id}/`: only the fields sent change; answers the object.
pub(super) async fn patch<R>(
    State(state): State<AppState>,
    Id(id): Id,
    Body(b): Body,
) -> ApiResult<Json<R>>
where
    R: Editable + Serialize,
    R::Input: FromBody,
{
    let input = R::Input::from_body(&b, false)?;
    Ok(Json(
        state
            .store
            .write(move |tx| R::patch(tx, id, &input))
            .await?,
    ))
}

/// `DELETE <collection>/{id}/`: 204.
pub(super) async fn delete<R: Table>(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.store.write(move |tx| R::delete(tx, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How a plain resource is named in its paths and its documentation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Names {
    /// The collection's path segment and OpenAPI tag (`timedassets`).
    pub tag: &'static str,
    /// One object, with its article (`a timed asset`).
    pub one: &'static str,
    /// Several (`timed assets`).
    pub many: &'static str,
}

impl Names {
    /// The names of a resource served at `/<tag>/`.
    pub(super) const fn new(tag: &'static str, one: &'static str, many: &'static str) -> Self {
        Self { tag, one, many }
    }
}

/// Registers the five plain operations on `/<tag>/` and `/<tag>/{id}/`: token holders read,
/// staff write; `body(creating)` documents the body.
pub(super) fn routes<R>(r: &mut Routes, names: Names, body: fn(bool) -> Obj)
where
    R: Filtered + Editable + Serialize,
    R::Filter: FromQuery,
    R::Input: FromBody,
{
    let Names { tag, one, many } = names;
    r.at(format!("/{tag}/"), tag)
        .get(Access::Token, format!("List {many}"), list::<R>)
        .query(R::Filter::fields())
        .post(Access::Staff, format!("Create {one}"), create::<R>)
        .body(body(true))
        .add();
    r.at(format!("/{tag}/{{id}}/"), tag)
        .get(Access::Token, format!("Get {one}"), get::<R>)
        .patch(Access::Staff, format!("Update {one}"), patch::<R>)
        .body(body(false))
        .delete(Access::Staff, format!("Delete {one}"), delete::<R>)
        .add();
}
