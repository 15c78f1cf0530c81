//! `timedassets/`: read by any token holder, written by staff. `start` and `end` are seconds
//! from stream start; `end` must not come before `start` (400 under `non_field_errors`, the
//! reference's message), also when a PATCH changes only one of them.

use serde_json::Value;

use super::ApiResult;
use super::crud::{self, FromBody, Names};
use super::input::{FieldErrors, Fields};
use super::routes::Routes;
use super::schema::{Obj, obj};
use crate::store::timedassets::{TimedAsset, TimedAssetInput};

const TIMEDASSETS: Names = Names::new("timedassets", "a timed asset", "timed assets");

pub(super) fn routes(r: &mut Routes) {
    crud::routes::<TimedAsset>(r, TIMEDASSETS, body_fields);
}

/// The body [`TimedAssetInput::from_body`] reads (`creating`: all four required; `end` not before `start`).
fn body_fields(creating: bool) -> Obj {
    obj()
        .id("project_id")
        .req_if(creating)
        .id("asset_id")
        .req_if(creating)
        .num("start")
        .range(0.0, f64::MAX)
        .req_if(creating)
        .doc("seconds from stream start")
        .num("end")
        .range(0.0, f64::MAX)
        .req_if(creating)
        .doc("seconds from stream start")
}

impl FromBody for TimedAssetInput {
    fn from_body(b: &Fields, creating: bool) -> ApiResult<Self> {
        let mut e = FieldErrors::default();
        let project_key = b
            .first_key(&["project_id", "project"])
            .unwrap_or("project_id");
        let asset_key = b.first_key(&["asset_id", "asset"]).unwrap_or("asset_id");
        for key in [project_key, asset_key, "start", "end"] {
            if b.raw(key).is_some_and(Value::is_null) {
                e.add(key, "This field may not be null.");
            }
        }
        let mut seconds = |key: &str| {
            let v = if creating {
                b.req_float(key, &mut e)
            } else {
                b.float(key, &mut e)
            };
            v.filter(|v| {
                let ok = *v >= 0.0;
                if !ok {
                    e.add(key, "Must not be negative.");
                }
                ok
            })
        };
        let start = seconds("start");
        let end = seconds("end");
        let input = if creating {
            TimedAssetInput {
                start,
                end,
                asset_id: b.req_int(asset_key, &mut e),
                project_id: b.req_int(project_key, &mut e),
            }
        } else {
            TimedAssetInput {
                start,
                end,
                asset_id: b.int(asset_key, &mut e),
                project_id: b.int(project_key, &mut e),
            }
        };
        e.finish()?;
        Ok(input)
    }
}
