//! The SDK's `session` reads: the live sessions of channels, with their recordings
//! (`GET /session`, `GET /session/{id}`, `GET /stream/{parentId}/sessions`, and
//! `GET /session/{id}/clips`), all 200 with bare objects and arrays.
//!
//! Owns: these handlers and the Session shape. May not touch: recording files.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{LpError, LpResult, Staff};
use crate::api::{AppState, BaseUrl};
use crate::store::channels::{self, Channel, ChannelSession};

/// `GET /session`: every channel's sessions, newest first.
pub(super) async fn list(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
) -> LpResult<Response> {
    let (all, chans) = state
        .store
        .read(|c| Ok((channels::sessions(c, None)?, channels::list(c)?)))
        .await?;
    let items: Vec<Value> = all
        .iter()
        .filter_map(|s| {
            let ch = chans.iter().find(|c| c.id == s.channel_id)?;
            Some(render(s, ch, &base))
        })
        .collect();
    Ok(axum::Json(items).into_response())
}

/// `GET /session/{id}`.
pub(super) async fn get_one(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let (session, channel) = find(&state, id).await?;
    Ok(axum::Json(render(&session, &channel, &base)).into_response())
}

/// `GET /stream/{parentId}/sessions` (`?record=1` or `true`: only recorded ones).
pub(super) async fn of_stream(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    Path(parent): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> LpResult<Response> {
    let channel = super::streams::find(&state, parent).await?;
    let cid = channel.id.clone();
    let all = state
        .store
        .read(move |c| channels::sessions(c, Some(&cid)))
        .await?;
    let only_recorded = query
        .iter()
        .any(|(k, v)| k == "record" && matches!(v.as_str(), "1" | "true"));
    let items: Vec<Value> = all
        .iter()
        .filter(|s| !only_recorded || s.record)
        .map(|s| render(s, &channel, &base))
        .collect();
    Ok(axum::Json(items).into_response())
}

/// `GET /session/{id}/clips`: clips cut while that session was live.
pub(super) async fn clips(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let (session, _) = find(&state, id).await?;
    let sid = session.id.clone();
    let all = state
        .store
        .read(move |c| channels::clips_of_session(c, &sid))
        .await?;
    let items: Vec<Value> = all.iter().map(|c| super::clips::asset(c, &base)).collect();
    Ok(axum::Json(items).into_response())
}

async fn find(state: &AppState, id: String) -> LpResult<(ChannelSession, Channel)> {
    state
        .store
        .read(move |c| {
            let Some(s) = channels::session(c, &id)? else {
                return Ok(None);
            };
            Ok(channels::get(c, &s.channel_id)?.map(|ch| (s, ch)))
        })
        .await?
        .ok_or_else(LpError::not_found)
}

/// The SDK's Session: the channel's name (required), the session's counters, its recording.
fn render(s: &ChannelSession, ch: &Channel, base: &BaseUrl) -> Value {
    let mut v = json!({
        "id": s.id,
        "name": ch.name,
        "parentId": ch.id,
        "playbackId": ch.playback_id,
        "createdAt": s.started_ms,
        "lastSeen": s.ended_ms.unwrap_or(s.started_ms),
        "sourceBytes": s.bytes,
        "sourceSegmentsDuration": s.duration_ms as f64 / 1000.0,
        "record": s.record,
        "recordingStatus": s.recording_status,
        "isActive": s.ended_ms.is_none(),
    });
    if let Some(file) = &s.file {
        v["recordingUrl"] = json!(format!("{}/rwmedia/{file}", base.0));
    }
    v
}
