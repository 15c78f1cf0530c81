//! `/api/2/projects/{id}/floorplan/`: a project's floor plan or site image, drawn under the
//! zones on the visitor page and in the console. An extra route of this box: unmodified
//! Roundware clients never ask for it.
//!
//! `GET` (any token): the plan with its image's absolute URL, or 404. `PUT` (staff, multipart
//! with `file` and optionally `south`, `west`, `north`, `east`, `opacity`): sets or replaces
//! the image, checked and shrunk by [`crate::media::picture`]. Without a box the plan keeps the
//! box it had, else it is centred on the project's location, as wide as twice its hearing
//! radius (at least 120 m), keeping the image's shape. `PATCH` (staff): moves it (any of the
//! four edges) or changes its opacity. `DELETE` (staff): removes it and its file.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::auth::Access;
use super::input::{Body, FieldErrors, Fields};
use super::schema::obj;
use super::{ApiError, ApiResult, AppState, BaseUrl, Id, media_files};
use crate::media::files::{self, TempFile};
use crate::media::picture::{self, Picture};
use crate::store::floorplans::{self, Bounds, FloorPlan};
use crate::store::projects::{self, DEFAULT_RECORDING_RADIUS_M};
use crate::store::table::Table as _;
use crate::store::{StoreError, loc};

/// Opacity of a new plan unless the upload says.
const DEFAULT_OPACITY: f64 = 0.8;
/// Narrowest default width of a new plan, in metres.
const MIN_DEFAULT_WIDTH_M: f64 = 120.0;
/// Metres per degree of latitude.
const M_PER_DEG: f64 = 111_195.0;

/// Serializes decoding: one site image in memory at a time.
static DECODING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The routes.
pub(super) fn routes(r: &mut super::routes::Routes) {
    let edges = || {
        obj()
            .lat("south")
            .doc("latitude of the image's bottom edge")
            .lon("west")
            .doc("longitude of its left edge")
            .lat("north")
            .doc("latitude of its top edge")
            .lon("east")
            .doc("longitude of its right edge")
            .num("opacity")
            .range(0.0, 1.0)
            .doc("0 (invisible) to 1 (opaque)")
    };
    r.at("/projects/{id}/floorplan/", "projects")
        .get(
            Access::Token,
            "Get the project's floor plan: its image URL and where it lies on the map (404 when it has none)",
            get_one,
        )
        .put(
            Access::Staff,
            "Set or replace the project's floor plan: a PNG, JPEG or WebP image as `file`, optionally placed by its edges (staff only)",
            put,
        )
        .body(edges().file("file").req())
        .patch(
            Access::Staff,
            "Move the project's floor plan (its edges) or change its opacity (staff only)",
            patch,
        )
        .body(edges())
        .delete(
            Access::Staff,
            "Remove the project's floor plan and its image (staff only)",
            delete,
        )
        .add();
}

fn absolute(mut plan: FloorPlan, base: &BaseUrl) -> Json<FloorPlan> {
    plan.file = media_files::media_url(&base.0, &plan.file);
    Json(plan)
}

async fn get_one(
    State(state): State<AppState>,
    base: BaseUrl,
    Id(id): Id,
) -> ApiResult<Json<FloorPlan>> {
    let plan = state.store.read(move |c| FloorPlan::get(c, id)).await?;
    Ok(absolute(plan, &base))
}

/// The box and opacity a request names: all four edges or none, an opacity in 0–1.
fn placement(b: &Fields, errs: &mut FieldErrors) -> (Option<PartialBounds>, Option<f64>) {
    let edge = |key: &str, range, errs: &mut FieldErrors| {
        b.has_value(key)
            .then(|| b.float_in(key, range, errs))
            .flatten()
    };
    let bounds = PartialBounds {
        south: edge("south", -90.0..=90.0, errs),
        west: edge("west", -180.0..=180.0, errs),
        north: edge("north", -90.0..=90.0, errs),
        east: edge("east", -180.0..=180.0, errs),
    };
    let opacity = b
        .has_value("opacity")
        .then(|| b.float_in("opacity", 0.0..=1.0, errs))
        .flatten();
    (bounds.any().then_some(bounds), opacity)
}

/// Edges a request named.
#[derive(Debug, Clone, Copy)]
struct PartialBounds {
    south: Option<f64>,
    west: Option<f64>,
    north: Option<f64>,
    east: Option<f64>,
}

impl PartialBounds {
    fn any(&self) -> bool {
        self.south.is_some() || self.west.is_some() || self.north.is_some() || self.east.is_some()
    }

    /// `self` over `base`.
    fn over(self, base: Bounds) -> Bounds {
        Bounds {
            south: self.south.unwrap_or(base.south),
            west: self.west.unwrap_or(base.west),
            north: self.north.unwrap_or(base.north),
            east: self.east.unwrap_or(base.east),
        }
    }

    /// All four edges, or the field error naming the first missing one.
    fn complete(self) -> ApiResult<Bounds> {
        match self {
            Self {
                south: Some(south),
                west: Some(west),
                north: Some(north),
                east: Some(east),
            } => Ok(Bounds {
                south,
                west,
                north,
                east,
            }),
            _ => {
                let missing = [
                    ("south", self.south),
                    ("west", self.west),
                    ("north", self.north),
                    ("east", self.east),
                ]
                .into_iter()
                .find_map(|(name, v)| v.is_none().then_some(name))
                .unwrap_or("south");
                Err(ApiError::field(
                    missing,
                    "Place a new floor plan by all four edges (south, west, north, east), or by none.",
                ))
            }
        }
    }
}

/// A box centred on (lat, lon), `width_m` wide, with the image's shape.
fn default_bounds(lat: f64, lon: f64, width_m: f64, width_px: u32, height_px: u32) -> Bounds {
    let height_m = width_m * f64::from(height_px) / f64::from(width_px.max(1));
    let half_lat = height_m / 2.0 / M_PER_DEG;
    let half_lon = width_m / 2.0 / (M_PER_DEG * lat.to_radians().cos().max(0.01));
    Bounds {
        south: (lat - half_lat).max(-90.0),
        west: (lon - half_lon).max(-180.0),
        north: (lat + half_lat).min(90.0),
        east: (lon + half_lon).min(180.0),
    }
}

fn check(bounds: Bounds) -> ApiResult<Bounds> {
    match bounds.problem() {
        Some((field, message)) => Err(ApiError::field(field, message)),
        None => Ok(bounds),
    }
}

async fn put(
    State(state): State<AppState>,
    base: BaseUrl,
    Id(id): Id,
    Body(mut b): Body,
) -> ApiResult<Json<FloorPlan>> {
    let mut errs = FieldErrors::default();
    let (edges, opacity) = placement(&b, &mut errs);
    errs.finish()?;
    let explicit = edges.map(PartialBounds::complete).transpose()?;
    if let Some(bounds) = explicit {
        check(bounds)?;
    }
    let (project, existing) = state
        .store
        .read(move |c| {
            let english = loc::english_id(c)?;
            let project = projects::get(c, id, english, false)?;
            Ok((project, FloorPlan::get(c, id).ok()))
        })
        .await?;
    let file = b.take_file("file").ok_or_else(|| {
        ApiError::field(
            "file",
            "Attach the floor plan as `file`: a PNG, JPEG or WebP image (multipart).",
        )
    })?;
    let media_dir = state.config.storage.media_dir();
    let (name, written, picture) = {
        let media_dir = media_dir.clone();
        tokio::task::spawn_blocking(move || store_image(&media_dir, id, file.spool))
            .await
            .map_err(|e| ApiError::Internal(format!("floor plan task: {e}")))??
    };
    let bounds = match (explicit, &existing) {
        (Some(b), _) => b,
        (None, Some(old)) => old.bounds,
        (None, None) => {
            let radius_m = project
                .row
                .recording_radius
                .unwrap_or(DEFAULT_RECORDING_RADIUS_M) as f64;
            default_bounds(
                project.row.latitude,
                project.row.longitude,
                (2.0 * radius_m).max(MIN_DEFAULT_WIDTH_M),
                picture.width_px,
                picture.height_px,
            )
        }
    };
    let plan = FloorPlan {
        project_id: id,
        file: name,
        width_px: picture.width_px,
        height_px: picture.height_px,
        bounds,
        opacity: opacity
            .or(existing.map(|p| p.opacity))
            .unwrap_or(DEFAULT_OPACITY),
        updated: String::new(),
    };
    let (stored, replaced) = state
        .store
        .write(move |tx| floorplans::put(tx, &plan))
        .await?;
    written.keep();
    remove_image(&media_dir, replaced).await;
    Ok(absolute(stored, &base))
}

/// Checks the spooled upload and moves it (or its downscaled copy) into the media folder
/// under a new name; blocking.
fn store_image(
    media_dir: &std::path::Path,
    project_id: i64,
    spool: TempFile,
) -> ApiResult<(String, files::Written, Picture)> {
    let mut picture = {
        let _one = DECODING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        picture::prepare(spool.path()).map_err(|e| match e {
            picture::PictureError::Io(e) => ApiError::Internal(format!("floor plan: {e}")),
            e => ApiError::field("file", e.to_string()),
        })?
    };
    let io = |e: std::io::Error| {
        if crate::media::space::is_disk_full(&e) {
            ApiError::disk_full(format!(
                "The box's disk is full: the floor plan could not be stored ({e}). Nothing was saved."
            ))
        } else {
            ApiError::Internal(format!("floor plan: {e}"))
        }
    };
    let file = match picture.reencoded.take() {
        None => spool,
        Some(bytes) => {
            let tmp = TempFile::create(media_dir).map_err(io)?;
            std::io::Write::write_all(&mut tmp.file(), &bytes).map_err(io)?;
            tmp
        }
    };
    let base = format!("floorplan-project{project_id}-{}", files::timestamp());
    let suffix = match picture.ext {
        "jpg" => ".jpg",
        "webp" => ".webp",
        _ => ".png",
    };
    let (stem, written) = files::commit_set(media_dir, &base, vec![(suffix, file)]).map_err(io)?;
    Ok((format!("{stem}{suffix}"), written, picture))
}

/// Removes a replaced or deleted plan's image, if any: that one file (its replacement may
/// share its stem when both came within a second).
async fn remove_image(media_dir: &std::path::Path, name: Option<String>) {
    if let Some(name) = name.filter(|n| files::safe_name(n)) {
        files::remove_stems(media_dir, vec![name]).await;
    }
}

async fn patch(
    State(state): State<AppState>,
    base: BaseUrl,
    Id(id): Id,
    Body(b): Body,
) -> ApiResult<Json<FloorPlan>> {
    let mut errs = FieldErrors::default();
    let (edges, opacity) = placement(&b, &mut errs);
    errs.finish()?;
    let plan = state
        .store
        .write(move |tx| {
            let current = FloorPlan::get(tx, id)?;
            let bounds = edges.map(|e| e.over(current.bounds));
            if let Some((field, message)) = bounds.and_then(|b| b.problem()) {
                return Err(StoreError::conflict(field, message));
            }
            floorplans::place(tx, id, bounds, opacity)
        })
        .await?;
    Ok(absolute(plan, &base))
}

async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    let name = state
        .store
        .write(move |tx| floorplans::remove(tx, id))
        .await?;
    remove_image(&state.config.storage.media_dir(), Some(name)).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_box_is_centred_on_the_project_and_keeps_the_image_shape() {
        let b = default_bounds(42.3551, -71.0656, 200.0, 1600, 800);
        let width_m = (b.east - b.west) * M_PER_DEG * 42.3551f64.to_radians().cos();
        let height_m = (b.north - b.south) * M_PER_DEG;
        assert!((width_m - 200.0).abs() < 0.01, "{width_m}");
        assert!((height_m - 100.0).abs() < 0.01, "{height_m}");
        assert!(((b.north + b.south) / 2.0 - 42.3551).abs() < 1e-9);
        assert!(((b.east + b.west) / 2.0 + 71.0656).abs() < 1e-9);
        assert_eq!(b.problem(), None);
    }
}
