//! Clips: `POST /clip {playbackId, startTime, endTime?, name?}` (Unix ms) cuts that window,
//! to the frame, out of the rolling buffer of a live channel or of a personal stream, keeps
//! it as an MP3 under `/rwmedia/clips/`, and answers 200 `{asset, task}` as the SDK expects;
//! `GET /stream/{id}/clips` lists a channel's (by id or playbackId) or a stream's clips.
//!
//! Who: staff clip anything; a visitor's token may clip its own personal stream (the visitor
//! page's "Keep the last minute"), at most [`VISITOR_CLIPS_PER_HOUR`] an hour.
//!
//! Owns: these handlers and the Asset shape. May not touch: the buffers (`output::clips`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Key, LpError, LpResult, Staff};
use crate::api::{AppState, BaseUrl};
use crate::output::feed::{ClipError, Feed};
use crate::store::channels::{self, ClipRow};
use crate::store::time::now_ms;

/// Clips a visitor's token may cut in an hour.
const VISITOR_CLIPS_PER_HOUR: i64 = 20;
/// The folder of clips inside the media folder.
const DIR: &str = "clips";

/// What a clip is cut from.
struct Source {
    feed: Feed,
    channel_id: Option<String>,
    stream_id: Option<i64>,
    session_id: Option<String>,
}

/// `POST /clip`: 200 `{asset, task}`.
pub(super) async fn create(
    who: Key,
    State(state): State<AppState>,
    base: BaseUrl,
    body: Bytes,
) -> LpResult<Response> {
    let req = read(&body)?;
    let source = find_source(&state, &who, &req.playback_id).await?;
    let user = who.0;
    if !user.is_staff {
        let since = now_ms() - 3_600_000;
        let recent = state
            .store
            .read(move |c| channels::clips_by_since(c, user.id, since))
            .await?;
        if recent >= VISITOR_CLIPS_PER_HOUR {
            return Err(LpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("at most {VISITOR_CLIPS_PER_HOUR} clips an hour; try again later"),
            ));
        }
    }
    let end_ms = req.end_ms.unwrap_or_else(now_ms);
    let clip = source
        .feed
        .clip(req.start_ms, end_ms)
        .map_err(|e| match e {
            ClipError::Unavailable {
                from_ms: 0,
                to_ms: 0,
            } => LpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "nothing of this stream is kept for clips yet",
            ),
            e => LpError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        })?;
    if clip.mp3.is_empty() {
        return Err(LpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the window holds no audio",
        ));
    }
    let id = super::streams::new_id();
    let file = format!("{DIR}/{id}.mp3");
    let media_dir = state.config.storage.media_dir();
    let (to, bytes) = (media_dir.join(&file), clip.mp3.clone());
    tokio::task::spawn_blocking(move || write_atomically(&to, &bytes))
        .await
        .map_err(|e| LpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            log::warn!("cannot write a clip: {e}");
            if e.raw_os_error() == Some(28) {
                LpError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the box's storage is full",
                )
            } else {
                LpError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot write the clip")
            }
        })?;
    let row = ClipRow {
        id: id.clone(),
        playback_id: req.playback_id.clone(),
        channel_id: source.channel_id,
        stream_id: source.stream_id,
        session_id: source.session_id,
        name: req.name.unwrap_or_else(|| format!("clip {id}")),
        start_ms: clip.start_ms,
        end_ms: clip.end_ms,
        file,
        size: i64::try_from(clip.mp3.len()).unwrap_or(i64::MAX),
        created_by: Some(user.id),
        created_at_ms: now_ms(),
    };
    let stored = row.clone();
    if let Err(e) = state
        .store
        .write(move |tx| channels::insert_clip(tx, &stored))
        .await
    {
        let _ = tokio::fs::remove_file(media_dir.join(&row.file)).await;
        return Err(e.into());
    }
    log::info!(
        "clip {} of {} cut by user {}: {} ms, {} bytes",
        row.id,
        row.playback_id,
        user.id,
        row.end_ms - row.start_ms,
        row.size
    );
    Ok(axum::Json(json!({"asset": asset(&row, &base), "task": {"id": id}})).into_response())
}

/// `GET /stream/{id}/clips`: by channel id or playback id, newest first.
pub(super) async fn of_stream(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let key = id.clone();
    let (clips, known) = state
        .store
        .read(move |c| {
            let clips = channels::clips_of(c, &key)?;
            let known =
                channels::get(c, &key)?.is_some() || channels::by_playback_id(c, &key)?.is_some();
            Ok((clips, known))
        })
        .await?;
    if clips.is_empty() && !known && state.feeds.by_playback_id(&id).is_none() {
        return Err(LpError::not_found());
    }
    let items: Vec<Value> = clips.iter().map(|c| asset(c, &base)).collect();
    Ok(axum::Json(items).into_response())
}

/// The SDK's Asset for a clip (`type: audio`, `source.type: clip`, `status.phase: ready`).
pub(super) fn asset(c: &ClipRow, base: &BaseUrl) -> Value {
    let mut source = json!({"type": "clip", "playbackId": c.playback_id});
    if let Some(s) = &c.session_id {
        source["sessionId"] = json!(s);
    }
    json!({
        "id": c.id,
        "name": c.name,
        "type": "audio",
        "source": source,
        "status": {"phase": "ready", "updatedAt": c.created_at_ms},
        "downloadUrl": format!("{}/rwmedia/{}", base.0, c.file),
        "size": c.size,
        "createdAt": c.created_at_ms,
        "startTime": c.start_ms,
        "endTime": c.end_ms,
    })
}

/// A clip request, checked.
struct ClipRequest {
    playback_id: String,
    start_ms: i64,
    end_ms: Option<i64>,
    name: Option<String>,
}

fn read(body: &[u8]) -> LpResult<ClipRequest> {
    let value = Value::Object(super::shape::json_object(body)?);
    let playback_id = match value.get("playbackId") {
        Some(Value::String(p)) if !p.is_empty() && p.len() <= 64 => p.clone(),
        None | Some(Value::Null) => {
            return Err(LpError::unprocessable("playbackId", "is required"));
        }
        Some(_) => {
            return Err(LpError::unprocessable(
                "playbackId",
                "must be a playback id (a text of at most 64 characters)",
            ));
        }
    };
    let time = |key: &str| -> LpResult<Option<i64>> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite() && (0.0..=1e15).contains(t))
                .map(|t| Some(t.round() as i64))
                .ok_or_else(|| LpError::unprocessable(key, "must be a time in Unix milliseconds")),
        }
    };
    let start_ms =
        time("startTime")?.ok_or_else(|| LpError::unprocessable("startTime", "is required"))?;
    let end_ms = time("endTime")?;
    let name = super::shape::opt_name(&value)?;
    if value.get("sessionId").is_some_and(|s| !s.is_null()) {
        return Err(LpError::unprocessable(
            "sessionId",
            "clipping a past session is not supported: clip a live channel or stream",
        ));
    }
    Ok(ClipRequest {
        playback_id,
        start_ms,
        end_ms,
        name,
    })
}

/// The live buffer `playback_id` names, if the caller may clip it.
async fn find_source(state: &AppState, who: &Key, playback_id: &str) -> LpResult<Source> {
    if let Some((channel_id, session_id, feed)) = state.broadcast.live_feed(playback_id) {
        if !who.0.is_staff {
            return Err(LpError::new(
                StatusCode::FORBIDDEN,
                "clips of a broadcast channel need a staff key",
            ));
        }
        return Ok(Source {
            feed,
            channel_id: Some(channel_id),
            stream_id: None,
            session_id: Some(session_id),
        });
    }
    if let Some((stream_id, feed)) = state.feeds.by_playback_id(playback_id) {
        let owner = state
            .store
            .read(move |c| crate::store::owners::of_session_if_any(c, stream_id))
            .await?;
        if !who.0.is_staff && owner.flatten() != Some(who.0.id) {
            return Err(LpError::new(
                StatusCode::FORBIDDEN,
                "this stream is not yours: clip your own stream",
            ));
        }
        return Ok(Source {
            feed,
            channel_id: None,
            stream_id: Some(stream_id),
            session_id: None,
        });
    }
    let pid = playback_id.to_owned();
    let channel = state
        .store
        .read(move |c| channels::by_playback_id(c, &pid))
        .await?;
    match channel {
        Some(ch) if who.0.is_staff => Err(LpError::unprocessable(
            "playbackId",
            format!(
                "channel {} is not live: clips are cut from what a live channel plays",
                ch.id
            ),
        )),
        _ => Err(LpError::new(StatusCode::NOT_FOUND, "Content not found")),
    }
}

/// Writes `bytes` to `to` through a hidden temporary file, synced, then renamed.
fn write_atomically(to: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = to
        .parent()
        .ok_or_else(|| std::io::Error::other("no folder"))?;
    std::fs::create_dir_all(dir)?;
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("clip");
    let tmp = dir.join(format!(".{name}.part"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, to)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
