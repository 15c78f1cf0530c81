//! The stream operations of the Livepeer SDK: create (201), list and get (200), update,
//! delete, terminate and start-pull (204), and the playback info of a channel.
//!
//! Owns: these handlers. May not touch: SQL beyond `store::channels`, the feeds.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};

use super::shape::{self, StreamInput};
use super::{LpError, LpResult, Staff};
use crate::api::{AppState, BaseUrl};
use crate::store::channels::{self, Channel};
use crate::store::time::now_ms;

/// `GET /stream`: every channel (there are no per-session children to leave out, so
/// `streamsonly` changes nothing).
pub(super) async fn list(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    Query(_): Query<Vec<(String, String)>>,
) -> LpResult<Response> {
    let all = state.store.read(channels::list).await?;
    let items: Vec<Value> = all.iter().map(|ch| render(&state, ch, &base)).collect();
    Ok(axum::Json(items).into_response())
}

/// `POST /stream`: 201 and the new channel; a pull channel starts pulling at once.
pub(super) async fn create(
    who: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    body: Bytes,
) -> LpResult<Response> {
    let input = shape::read_stream(&body, true)?;
    let (id, key, playback_id) = {
        let mut rng = rand::rng();
        (
            uuid(&mut rng),
            stream_key(&mut rng),
            random_text(&mut rng, 16),
        )
    };
    let targets = input.targets.clone().unwrap_or_default();
    let channel = Channel {
        id,
        name: input.name.clone().unwrap_or_default(),
        stream_key: input.pull.is_none().then_some(key),
        playback_id,
        record: input.record.unwrap_or(false),
        suspended: input.suspended.unwrap_or(false),
        pull: input.pull.clone(),
        user_tags: input.user_tags.clone().flatten(),
        creator_id: input.creator_id.clone().flatten(),
        created_by: Some(who.0.id),
        created_at_ms: now_ms(),
        last_seen_ms: 0,
        last_terminated_at_ms: None,
        source_bytes: 0,
        source_duration_ms: 0,
        targets: Vec::new(),
        pulling: input.pull.is_some() && !input.suspended.unwrap_or(false),
    };
    let stored = channel.clone();
    state
        .store
        .write(move |tx| channels::insert(tx, &stored))
        .await?;
    if let Err(e) = super::targets::attach_all(&state, &channel.id, targets, false, who.0.id).await
    {
        // The channel is not half made: it goes with its refused targets.
        let cid = channel.id.clone();
        state
            .store
            .write(move |tx| channels::delete(tx, &cid))
            .await?;
        return Err(e);
    }
    let channel = find(&state, channel.id.clone()).await?;
    log::info!(
        "channel {} ({:?}) created by user {}: {}",
        channel.id,
        channel.name,
        who.0.id,
        if channel.pull.is_some() {
            "pull"
        } else {
            "push"
        }
    );
    if channel.pulling {
        state.broadcast.start_pull(&channel);
    }
    let mut response = (
        StatusCode::CREATED,
        axum::Json(render(&state, &channel, &base)),
    )
        .into_response();
    ignored_header(&mut response, &input);
    Ok(response)
}

/// `GET /stream/{id}`.
pub(super) async fn get_one(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let channel = find(&state, id).await?;
    Ok(axum::Json(render(&state, &channel, &base)).into_response())
}

/// `PATCH /stream/{id}`: 204. Suspending ends a live source and refuses new ones.
pub(super) async fn update(
    who: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> LpResult<Response> {
    let input = shape::read_stream(&body, false)?;
    let mut channel = find(&state, id).await?;
    if input.record.is_some_and(|r| r != channel.record)
        && state.broadcast.stats(&channel.id).is_some()
    {
        return Err(LpError::new(
            StatusCode::BAD_REQUEST,
            "record cannot be changed while the stream is active: terminate it first",
        ));
    }
    apply(&mut channel, &input);
    let stored = channel.clone();
    state
        .store
        .write(move |tx| channels::save(tx, &stored))
        .await?;
    if let Some(targets) = input.targets.clone() {
        super::targets::attach_all(&state, &channel.id, targets, true, who.0.id).await?;
        state.broadcast.reconcile_targets(&channel.id).await;
    }
    if input.suspended == Some(true) && state.broadcast.end(&channel.id) {
        log::info!(
            "channel {}: suspended while live; its source was ended",
            channel.id
        );
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    ignored_header(&mut response, &input);
    Ok(response)
}

/// `DELETE /stream/{id}`: 204; a live source is ended.
pub(super) async fn delete(
    _: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let channel = find(&state, id).await?;
    state.broadcast.end(&channel.id);
    let cid = channel.id.clone();
    let sessions = state
        .store
        .write(move |tx| {
            let sessions = channels::sessions(tx, Some(&cid))?;
            channels::delete(tx, &cid)?;
            Ok(sessions)
        })
        .await?;
    // Its recordings go with it (after the commit: a failed delete keeps them).
    crate::broadcast::record::remove(state.broadcast.media_dir(), &sessions).await;
    log::info!("channel {} ({:?}) deleted", channel.id, channel.name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /stream/{id}/terminate`: 204; the current session ends (a pull stops until the
/// next start-pull; a push source may connect again).
pub(super) async fn terminate(
    _: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let channel = find(&state, id).await?;
    let was_live = state.broadcast.end(&channel.id);
    let cid = channel.id.clone();
    state
        .store
        .write(move |tx| channels::set_terminated(tx, &cid, now_ms()))
        .await?;
    log::info!(
        "channel {} terminated{}",
        channel.id,
        if was_live { " while live" } else { "" }
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /stream/{id}/start-pull`: 204; 400 for a channel without a pull source.
pub(super) async fn start_pull(
    _: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let mut channel = find(&state, id).await?;
    if channel.pull.is_none() {
        return Err(LpError::new(
            StatusCode::BAD_REQUEST,
            "stream does not have a pull source",
        ));
    }
    if channel.suspended {
        return Err(LpError::new(
            StatusCode::FORBIDDEN,
            "the stream is suspended: unsuspend it (PATCH suspended: false) first",
        ));
    }
    channel.pulling = true;
    let cid = channel.id.clone();
    state
        .store
        .write(move |tx| channels::set_pulling(tx, &cid, true))
        .await?;
    state.broadcast.start_pull(&channel);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /playback/{id}`: where a channel is heard. The SDK's playback model knows only video
/// and HLS types, so its `playback.get` cannot read an MP3 source; any HTTP client can.
pub(super) async fn playback_info(
    _: Staff,
    State(state): State<AppState>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let pid = id.clone();
    let channel = state
        .store
        .read(move |c| channels::by_playback_id(c, &pid))
        .await?
        .ok_or_else(LpError::not_found)?;
    let live = state.broadcast.stats(&channel.id).is_some();
    Ok(axum::Json(json!({
        "type": "live",
        "meta": {
            "live": u8::from(live),
            "source": [{
                "hrn": "MP3",
                "type": "audio/mpeg",
                "url": format!("{}/live/{}.mp3", base.0, channel.playback_id),
            }],
        },
    }))
    .into_response())
}

/// The channel with id `id`, or 404.
pub(super) async fn find(state: &AppState, id: String) -> LpResult<Channel> {
    state
        .store
        .read(move |c| channels::get(c, &id))
        .await?
        .ok_or_else(LpError::not_found)
}

fn render(state: &AppState, ch: &Channel, base: &BaseUrl) -> Value {
    let live = state.broadcast.stats(&ch.id);
    let issue = state.broadcast.pull_issue(&ch.id);
    let mut s = shape::stream(ch, live.as_ref(), &base.0);
    // Each target's push state, the box's addition (the SDK's target model ignores it).
    if let Some(targets) = s["multistream"]["targets"].as_array_mut() {
        for t in targets {
            let status = t["id"]
                .as_str()
                .and_then(|tid| state.broadcast.target_status(&ch.id, tid));
            t["state"] = match status {
                Some(st) => {
                    json!({"connected": st.connected, "bytes": st.bytes, "lastError": st.last_error})
                }
                None => json!({"connected": false, "bytes": 0, "lastError": null}),
            };
        }
    }
    if let Some(issue) = issue {
        s["issues"] = json!([issue]);
        s["isHealthy"] = json!(false);
    }
    s
}

fn apply(ch: &mut Channel, input: &StreamInput) {
    if let Some(n) = &input.name {
        ch.name.clone_from(n);
    }
    if let Some(r) = input.record {
        ch.record = r;
    }
    if let Some(s) = input.suspended {
        ch.suspended = s;
        if s {
            ch.pulling = false;
        }
    }
    if let Some(t) = &input.user_tags {
        ch.user_tags.clone_from(t);
    }
    if let Some(c) = &input.creator_id {
        ch.creator_id.clone_from(c);
    }
}

fn ignored_header(response: &mut Response, input: &StreamInput) {
    if input.ignored.is_empty() {
        return;
    }
    log::debug!(
        "Livepeer request: ignored fields {}",
        input.ignored.join(",")
    );
    if let Ok(v) = HeaderValue::from_str(&input.ignored.join(",")) {
        response.headers_mut().insert("x-ignored-fields", v);
    }
}

/// A new random id.
pub(super) fn new_id() -> String {
    uuid(&mut rand::rng())
}

/// A random UUID (version 4 layout), as Livepeer's ids look.
fn uuid(rng: &mut impl Rng) -> String {
    let b: [u8; 16] = rng.random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        ["8", "9", "a", "b"][usize::from(b[8] & 3)],
        &hex[17..20],
        &hex[20..32]
    )
}

/// `len` random lowercase letters and digits.
fn random_text(rng: &mut impl Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A push key like Studio's: four groups of four (a password: 82 bits).
fn stream_key(rng: &mut impl Rng) -> String {
    (0..4)
        .map(|_| random_text(rng, 4))
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_uuids_and_keys_like_studios() {
        let mut rng = rand::rng();
        let id = uuid(&mut rng);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        let key = stream_key(&mut rng);
        assert_eq!(key.len(), 19);
        assert!(
            key.split('-')
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
        assert_ne!(stream_key(&mut rng), key);
    }
}
