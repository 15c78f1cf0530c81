//! `/api/2/streams/`: the legacy server-side stream API (reference-server §2.19), restored.
//! A stream is opened for one of the caller's own sessions and steered only by that session's
//! user or by staff (the box's own listener: staff only).
//! Handlers parse leniently (form, multipart, JSON; numbers as strings; `tag_ids=undefined`
//! as absent), make one call into the [`crate::conductor::Engine`], and shape the answer.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::auth::{Access, Caller};
use super::error::ApiError;
use super::input::{Body, FieldErrors, Fields, Query};
use super::limits::{Allow, ClientIp, kind};
use super::routes::Routes;
use super::schema::{Obj, obj};
use super::{ApiResult, AppState, BaseUrl, Id};
use crate::conductor::{AssetId, EngineError, EngineStatus, OpenRequest, Opened, StreamId, Update};
use crate::playlist::Position;

pub(super) fn routes(r: &mut Routes) {
    r.at("/streams/", "streams")
        .post(
            Access::Owner,
            "Start (or reuse) the session's personal stream",
            create,
        )
        .body(
            position_fields(obj().id("session_id").req().id("project_id"))
                .int_choice(
                    "audio_stream_bitrate",
                    &crate::config::ALLOWED_BITRATES_KBPS,
                )
                .doc("kbps")
                .choice("audio_format", &["mp3"]),
        )
        .limited()
        .add();
    r.at("/projects/{id}/listeners/", "streams")
        .get(
            Access::Token,
            "The visitors listening to a project now: each stream with the speakers whose zones \
             it is in (no positions); the live wall's starting point for the `stream` events",
            listeners,
        )
        .add();
    r.at("/streams/status/", "streams").get(
        Access::Staff,
        "Every running stream: position, requested tags, what plays and what is queued, counters",
        status,
    )
        .add();
    r.at("/streams/local/", "streams")
        .get(
            Access::Token,
            "The local listener's stream (the box's own mix): id, URL, whether it runs",
            local,
        )
        .add();
    r.at("/streams/{id}/", "streams")
        .patch(Access::Owner, "Change tags and/or move the listener", patch)
        .body(position_fields(obj().ids("tag_ids").text("language", 2)))
        .add();
    r.at("/streams/{id}/heartbeat/", "streams")
        .post(Access::Owner, "Keep an unlistened stream alive", heartbeat)
        .add();
    r.at("/streams/{id}/playasset/", "streams")
        .post(Access::Owner, "Play an asset next", play_asset)
        .query(obj().id("asset_id").doc("when the body has none"))
        .body(obj().id("asset_id").req())
        .add();
    r.at("/streams/{id}/replayasset/", "streams")
        .post(Access::Owner, "Replay the last asset heard", replay)
        .add();
    for path in ["/streams/{id}/skipasset/", "/streams/{id}/skip/"] {
        r.at(path, "streams")
            .post(
                Access::Owner,
                "Fade out what is playing; the next asset follows",
                skip,
            )
            .add();
    }
    r.at("/streams/{id}/pause/", "streams")
        .post(Access::Owner, "Pause assets (speakers keep playing)", pause)
        .add();
    r.at("/streams/{id}/resume/", "streams")
        .post(Access::Owner, "Resume assets", resume)
        .add();
    r.at("/streams/{id}/isactive/", "streams")
        .get(Access::Token, "Whether the stream is running", is_active)
        .add();
    r.at("/streams/{id}/kill/", "streams")
        .post(Access::Owner, "End the stream", kill)
        .add();
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(s) => s.into(),
            EngineError::Start(m) => ApiError::Internal(m),
            e @ EngineError::Busy(_) => {
                ApiError::Detail(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            e => ApiError::bad_request(e.to_string()),
        }
    }
}

/// Adds the listener fields [`position`] reads to a body description.
fn position_fields(o: Obj) -> Obj {
    o.lat("latitude")
        .lon("longitude")
        .num("listener_heading")
        .doc("degrees")
        .num("listener_width")
        .range(0.0, 360.0)
        .num("listener_range_min")
        .range(0.0, f64::MAX)
        .num("listener_range_max")
        .range(0.0, f64::MAX)
}

/// The listener position of a request, when both coordinates are given (0 is a value).
fn position(f: &Fields, errs: &mut FieldErrors) -> Option<Position> {
    let lat = f.float_in("latitude", -90.0..=90.0, errs);
    let lon = f.float_in("longitude", -180.0..=180.0, errs);
    let heading = f.float("listener_heading", errs);
    let width = f.float_in("listener_width", 0.0..=360.0, errs);
    let range_min = f.float_in("listener_range_min", 0.0..=f64::MAX, errs);
    let range_max = f.float_in("listener_range_max", 0.0..=f64::MAX, errs);
    Some(Position {
        latitude: lat?,
        longitude: lon?,
        heading_deg: heading,
        width_deg: width,
        range_min_m: range_min,
        range_max_m: range_max,
    })
}

/// The stream of the path, checked before anything else is read: a stream is steered only by
/// the user whose session it is (stream id = session id) or by staff; the box's own listener
/// belongs to nobody, so only staff steer it. A session that does not exist passes here and
/// gets the engine's own answer.
struct OwnStream(StreamId);

impl FromRequestParts<AppState> for OwnStream {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Id(id) = Id::from_request_parts(parts, state).await?;
        let caller = Caller::from_request_parts(parts, state).await?;
        guard(state, &caller, id).await?;
        Ok(Self(StreamId(id)))
    }
}

async fn guard(state: &AppState, caller: &Caller, id: i64) -> ApiResult<()> {
    if state.engine.local_id() == Some(id) && !caller.is_staff() {
        return Err(ApiError::Detail(
            StatusCode::FORBIDDEN,
            format!("stream {id} is the box's local listener; only staff may control it"),
        ));
    }
    let owner = state
        .store
        .read(move |c| crate::store::owners::of_session_if_any(c, id))
        .await?;
    match owner {
        Some(owner) if !caller.owns(owner) => Err(ApiError::Detail(
            StatusCode::FORBIDDEN,
            format!("stream {id} belongs to another visitor; control only your own stream"),
        )),
        _ => Ok(()),
    }
}

/// The body of an action that reads no fields (skip, pause, kill, ...): nothing, or a JSON
/// object or form whose fields are ignored. Anything else (a JSON array, a number, bad JSON) is
/// a 400 like on every other write (security review L2: `kill/` took `[null,null]`).
struct NoFields;

impl axum::extract::FromRequest<AppState> for NoFields {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        <Body as axum::extract::FromRequest<AppState>>::from_request(req, state)
            .await
            .map(|_| Self)
    }
}

fn stream_url(base: &str, id: i64) -> String {
    format!("{base}/stream{id}.mp3")
}

async fn create(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    ClientIp(ip): ClientIp,
    _limit: Allow<kind::StreamStarts>,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let mut errs = FieldErrors::default();
    let session_id = body.req_int("session_id", &mut errs);
    let project_id = body.int("project_id", &mut errs);
    let bitrate = body.int("audio_stream_bitrate", &mut errs);
    let position = position(&body, &mut errs);
    if let Some(fmt) = body.string("audio_format", &mut errs)
        && !fmt.eq_ignore_ascii_case("mp3")
    {
        errs.add(
            "audio_format",
            "Only MP3 streams are served (audio_format=mp3).",
        );
    }
    errs.finish()?;
    let Some(session_id) = session_id else {
        return Err(ApiError::field("session_id", "This field is required."));
    };
    guard(&state, &caller, session_id).await?;
    // Streams per token and per address ([limits] streams_per_user, streams_per_ip); staff
    // are not counted.
    let slot = match caller.user {
        Some(u) if !u.is_staff => {
            Some(state.limits.streams.reserve(session_id, u.id, ip, |id| {
                state.engine.is_active(StreamId(id))
            })?)
        }
        _ => None,
    };
    let req = OpenRequest {
        session_id,
        project_id,
        position,
        bitrate_kbps: bitrate.map(|b| b.clamp(0, i64::from(u32::MAX)) as u32),
        data: Some(Value::Object(body.as_map().clone()).to_string()),
    };
    let opened = state.engine.open(req).await?;
    if let (Opened::Stream, Some(slot)) = (&opened, slot) {
        slot.keep();
    }
    Ok(Json(match opened {
        Opened::Stream => {
            let mut answer =
                json!({"stream_url": stream_url(&base, session_id), "stream_id": session_id});
            // What POST /livepeer/api/clip takes to keep the last minute of this stream.
            if let Some(pid) = state
                .feeds
                .get(session_id)
                .and_then(|f| f.playback_id().map(str::to_owned))
            {
                answer["playback_id"] = json!(pid);
            }
            answer
        }
        Opened::Demo { url, message } => {
            let url = if url.trim().is_empty() {
                format!("{base}/demo_stream.mp3")
            } else {
                url
            };
            json!({"stream_url": url, "demo_stream_message": message, "stream_id": session_id})
        }
        Opened::OutOfRange { url, message } => {
            json!({"stream_url": url, "user_message": message, "stream_id": session_id})
        }
    }))
}

async fn patch(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let mut errs = FieldErrors::default();
    let tags = body.ids("tag_ids", &mut errs);
    let language = body
        .string("language", &mut errs)
        .filter(|l| !l.trim().is_empty());
    let position = position(&body, &mut errs);
    errs.finish()?;
    state
        .engine
        .update(
            id,
            Update {
                tags,
                language,
                position,
            },
        )
        .await?;
    Ok(Json(json!({"stream_id": id.0})))
}

async fn listeners(State(state): State<AppState>, Id(project_id): Id) -> Json<Value> {
    let streams: Vec<Value> = state
        .engine
        .listeners(project_id)
        .into_iter()
        .map(|(id, zones)| json!({"stream_id": id, "speaker_ids": zones}))
        .collect();
    Json(Value::Array(streams))
}

async fn heartbeat(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    _: NoFields,
) -> ApiResult<Json<Value>> {
    state.engine.heartbeat(id).await?;
    Ok(Json(json!({"stream_id": id.0})))
}

fn outcome(ok: bool, what: &str) -> Json<Value> {
    if ok {
        Json(json!({"success": true}))
    } else {
        Json(
            json!({"success": false, "message": format!("Specified stream not active; can't {what} non-existent stream!")}),
        )
    }
}

async fn play_asset(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    Query(query): Query,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let mut errs = FieldErrors::default();
    let asset_id = if body.has_value("asset_id") {
        body.req_int("asset_id", &mut errs)
    } else {
        query.req_int("asset_id", &mut errs)
    };
    errs.finish()?;
    let Some(asset_id) = asset_id else {
        return Err(ApiError::field("asset_id", "This field is required."));
    };
    let ok = state.engine.play_asset(id, AssetId(asset_id)).await?;
    Ok(outcome(ok, "add new asset to"))
}

async fn replay(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    _: NoFields,
) -> ApiResult<Json<Value>> {
    Ok(outcome(state.engine.replay(id).await?, "replay asset on"))
}

async fn skip(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    _: NoFields,
) -> ApiResult<Json<Value>> {
    Ok(outcome(state.engine.skip(id).await?, "skip asset on"))
}

async fn pause(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    _: NoFields,
) -> ApiResult<Json<Value>> {
    state.engine.pause(id, true).await?;
    Ok(Json(json!({"success": true})))
}

async fn resume(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    _: NoFields,
) -> ApiResult<Json<Value>> {
    state.engine.pause(id, false).await?;
    Ok(Json(json!({"success": true})))
}

async fn is_active(State(state): State<AppState>, Id(id): Id) -> Json<Value> {
    Json(json!({"stream_id": id, "active": state.engine.is_active(StreamId(id))}))
}

async fn kill(
    State(state): State<AppState>,
    OwnStream(id): OwnStream,
    _: NoFields,
) -> ApiResult<Json<Value>> {
    let ok = state.engine.kill(id).await;
    Ok(Json(json!({"stream_id": id.0, "success": ok})))
}

async fn status(State(state): State<AppState>) -> Json<EngineStatus> {
    Json(state.engine.status())
}

async fn local(State(state): State<AppState>, BaseUrl(base): BaseUrl) -> ApiResult<Json<Value>> {
    let id = state.engine.local_id().ok_or_else(|| {
        ApiError::NotFound("local listener (enable it with [local] enabled = true)".into())
    })?;
    let soundcard = state
        .card
        .get()
        .map_or(Value::Null, crate::output::card::Card::status_json);
    let p = state.position.state();
    let position = json!({
        "source": p.source,
        "status": p.status.name(),
        "latitude": p.fix.as_ref().map(|f| f.lat),
        "longitude": p.fix.as_ref().map(|f| f.lon),
        "age_s": p.last_fix.as_ref().map(|f| f.at.elapsed().as_secs_f64()),
    });
    let stream = state
        .engine
        .status()
        .streams
        .into_iter()
        .find(|s| s.stream_id == id);
    Ok(Json(json!({
        "stream_id": id,
        "stream_url": stream_url(&base, id),
        "active": true,
        "soundcard": soundcard,
        "position": position,
        "stream": stream,
    })))
}
