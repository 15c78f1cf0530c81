//! `/api/2/local/audio/` and `/api/2/local/outputs/` (staff): the box's volume and sound-card
//! output, as the console's local-listener section shows and changes them. A change is applied
//! at once (the output live when the card permits, else from the next start: the answer says
//! which) and kept across restarts. Handlers validate, make one call into
//! [`crate::output::volume::LocalAudio`], and shape the answer.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::auth::Access;
use super::error::ApiError;
use super::input::{Body, FieldErrors, Fields};
use super::routes::Routes;
use super::schema::obj;
use super::{ApiResult, AppState};
use crate::output::volume::{AudioStatus, LocalAudio};

/// Longest output name accepted.
const MAX_OUTPUT_CHARS: usize = 200;

pub(super) fn routes(r: &mut Routes) {
    r.at("/local/audio/", "local")
        .get(
            Access::Staff,
            "The box's volume (0-100; hardware mixer or software gain) and sound-card output",
            audio,
        )
        .patch(
            Access::Staff,
            "Set the box's volume and/or output (an ALSA name from local/outputs/); kept across \
             restarts",
            patch,
        )
        .body(
            obj()
                .int("volume")
                .int_range(0, 100)
                .text("output", MAX_OUTPUT_CHARS)
                .doc("an ALSA PCM name, or \"none\""),
        )
        .add();
    r.at("/local/outputs/", "local")
        .get(
            Access::Staff,
            "The ALSA outputs of this box (as `roundwared devices` lists them), with their \
             hardware mixers",
            outputs,
        )
        .add();
}

/// The local listener's volume control, or 404.
fn local_audio(state: &AppState) -> Result<LocalAudio, ApiError> {
    state
        .card
        .get()
        .and_then(|c| c.audio().cloned())
        .ok_or_else(|| {
            ApiError::NotFound("local listener (enable it with [local] enabled = true)".into())
        })
}

fn answer(state: &AppState, status: AudioStatus) -> Json<Value> {
    let mut v = serde_json::to_value(status).unwrap_or_default();
    v["config"] = json!({
        "volume": state.config.local.volume,
        "output": state.config.local.output,
    });
    Json(v)
}

async fn audio(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let audio = local_audio(&state)?;
    Ok(answer(&state, audio.status()))
}

/// `volume`: a number from 0 to 100 (rounded); anything else is named in the field map.
fn volume(body: &Fields, errs: &mut FieldErrors) -> Option<u8> {
    let msg = "Must be a number from 0 to 100.";
    let v = body.raw("volume")?;
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite() && (0.0..=100.0).contains(f));
    if n.is_none() {
        errs.add("volume", msg);
    }
    n.map(|f| f.round() as u8)
}

async fn patch(State(state): State<AppState>, Body(body): Body) -> ApiResult<Json<Value>> {
    let audio = local_audio(&state)?;
    let mut errs = FieldErrors::default();
    let volume = volume(&body, &mut errs);
    let output = body
        .string_max("output", MAX_OUTPUT_CHARS, &mut errs)
        .map(|o| o.trim().to_owned());
    errs.finish()?;
    if volume.is_none() && output.is_none() {
        return Err(ApiError::bad_request(
            "Send volume (a number from 0 to 100) and/or output (an ALSA output name).",
        ));
    }
    if let Some(o) = &output
        && !audio.knows_output(o).await
    {
        let mut errs = FieldErrors::default();
        errs.add(
            "output",
            format!(
                "ALSA does not know the output {o:?}; `roundwared devices` (or GET \
                 /api/2/local/outputs/) lists the outputs of this box."
            ),
        );
        errs.finish()?;
    }
    let (store, local) = (&state.store, &state.config.local);
    let mut status = audio.status();
    if let Some(o) = &output {
        status = audio.choose_output(store, local, o).await?;
    }
    if let Some(v) = volume {
        status = audio.choose_volume(store, local, v).await?;
    }
    Ok(answer(&state, status))
}

async fn outputs(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let audio = local_audio(&state)?;
    let outputs = audio.outputs().await;
    Ok(Json(json!({
        "output": audio.status().output,
        "outputs": outputs,
    })))
}
