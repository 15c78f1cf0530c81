//! `projectgroups/`: read by any token holder, written by staff, plus the project chooser
//! `GET projectgroups/:id/projects/?latitude=..&longitude=..&language_code=xx`.
//!
//! The chooser keeps two answers of the reference server that clients rely on, and differs
//! where decisions.md says so:
//! * an **inactive group answers 200** `{"detail": "Project Group inactive; please try another
//!   one."}` — a `detail` key in a success, kept as the reference has it;
//! * a missing `latitude` or `longitude` is a **400** `{"detail": "Both latitude and longitude
//!   parameters are required."}` (the reference answers that text with a 200);
//! * the point is matched in the right (longitude, latitude) order against the group with
//!   exactly this id (the reference swaps the coordinates and matches ids digit by digit).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::auth::Access;
use super::crud::{self, FromBody, Names};
use super::input::{FieldErrors, Fields, Query};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiError, ApiResult, AppState, BaseUrl, Id};
use crate::store::Table;
use crate::store::projectgroups::{self, ProjectGroup, ProjectGroupInput};

const PROJECTGROUPS: Names = Names::new("projectgroups", "a project group", "project groups");

pub(super) fn routes(r: &mut Routes) {
    crud::routes::<ProjectGroup>(r, PROJECTGROUPS, body_fields);

    r.at("/projectgroups/{id}/projects/", "projectgroups")
        .get(
            Access::Token,
            "Projects of the group available at latitude/longitude (non-geo projects always; \
             geo projects when the point is inside an active speaker). An inactive group answers \
             200 {\"detail\": \"Project Group inactive; please try another one.\"}; missing \
             latitude or longitude is a 400.",
            projects,
        )
        .query(
            obj()
                .lat("latitude")
                .doc("required unless the group is inactive")
                .lon("longitude")
                .doc("required unless the group is inactive")
                .text("language_code", 2),
        )
        .add();
}

const INACTIVE: &str = "Project Group inactive; please try another one.";
const NEED_POINT: &str = "Both latitude and longitude parameters are required.";
const MAX_NAME: usize = 50;
const MAX_DESCRIPTION: usize = 2048;

/// The body [`ProjectGroupInput::from_body`] reads (`creating`: the name is required).
fn body_fields(creating: bool) -> Obj {
    obj()
        .text("name", MAX_NAME)
        .nonblank()
        .req_if(creating)
        .bool("active")
        .text("description", MAX_DESCRIPTION)
        .ids("project_ids")
}

impl FromBody for ProjectGroupInput {
    fn from_body(b: &Fields, creating: bool) -> ApiResult<Self> {
        let mut e = FieldErrors::default();
        let ids_key = b
            .first_key(&["project_ids", "projects"])
            .unwrap_or("project_ids");
        for key in ["name", "active", "description", ids_key] {
            if b.raw(key).is_some_and(Value::is_null) {
                e.add(key, "This field may not be null.");
            }
        }
        let name = b.string("name", &mut e);
        match &name {
            Some(n) if n.trim().is_empty() => e.add("name", "This field may not be blank."),
            Some(n) if n.chars().count() > MAX_NAME => e.add(
                "name",
                format!("Ensure this field has no more than {MAX_NAME} characters."),
            ),
            None if creating && !b.has("name") => e.add("name", "This field is required."),
            _ => {}
        }
        let description = b.string("description", &mut e);
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            e.add(
                "description",
                format!("Ensure this field has no more than {MAX_DESCRIPTION} characters."),
            );
        }
        let project_ids = b.ids(ids_key, &mut e).map(|mut ids| {
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        let input = ProjectGroupInput {
            name,
            active: b.bool("active", &mut e),
            description,
            project_ids,
        };
        e.finish()?;
        Ok(input)
    }
}

async fn projects(
    State(state): State<AppState>,
    Id(id): Id,
    base: BaseUrl,
    Query(q): Query,
) -> ApiResult<Json<Value>> {
    let mut e = FieldErrors::default();
    let latitude = q.float_in("latitude", -90.0..=90.0, &mut e);
    let longitude = q.float_in("longitude", -180.0..=180.0, &mut e);
    let language_code = q
        .string("language_code", &mut e)
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "en".into());
    e.finish()?;
    let group = state.store.read(move |c| ProjectGroup::get(c, id)).await?;
    if !group.active {
        return Ok(Json(json!({ "detail": INACTIVE })));
    }
    let (Some(latitude), Some(longitude)) = (latitude, longitude) else {
        return Err(ApiError::bad_request(NEED_POINT));
    };
    let found = state
        .store
        .read(move |c| {
            let language_id = projectgroups::language_by_code(c, &language_code)?;
            projectgroups::projects_at(c, id, latitude, longitude, language_id, &base.0)
        })
        .await?;
    Ok(Json(json!(found)))
}
