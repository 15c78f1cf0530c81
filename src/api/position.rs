//! `/api/2/position/`: the box's own position for staff: the fix in use, the receiver's last
//! fix and its age, satellites/HDOP, source health and counters. Reads the
//! [`crate::position::PositionSource`] state; changes nothing.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Access;
use super::routes::Routes;
use crate::position::{Fix, Status};

pub(super) fn routes(r: &mut Routes) {
    r.at("/position/", "position")
        .get(
            Access::Staff,
            "The box's own position: fix, age, satellites/HDOP, source health, counters",
            status,
        )
        .add();
}

fn fix_json(fix: Option<&Fix>, now: Instant) -> Value {
    fix.map_or(Value::Null, |f| {
        json!({
            "latitude": f.lat,
            "longitude": f.lon,
            "age_s": (now.saturating_duration_since(f.at).as_secs_f64() * 10.0).round() / 10.0,
            "satellites": f.satellites,
            "hdop": f.hdop,
        })
    })
}

async fn status(State(state): State<AppState>) -> Json<Value> {
    let s = state.position.state();
    let now = Instant::now();
    let error = match &s.status {
        Status::SourceDown(why) => Some(why.clone()),
        _ => None,
    };
    let c = &s.counters;
    Json(json!({
        "source": s.source,
        "status": s.status.name(),
        "error": error,
        "on_fix_loss": s.on_fix_loss.name(),
        "hold_s": s.hold_s,
        "fix": fix_json(s.fix.as_ref(), now),
        "last_fix": fix_json(s.last_fix.as_ref(), now),
        "counters": {
            "sentences": c.sentences,
            "bad_sentences": c.bad_sentences,
            "rejected_jumps": c.rejected_jumps,
            "rejected_hdop": c.rejected_hdop,
            "reconnects": c.reconnects,
            "moves": c.moves,
        },
    }))
}
