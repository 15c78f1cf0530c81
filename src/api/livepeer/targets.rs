//! Multistream targets: the SDK's `multistream` resource (`/multistream/target`: list 200,
//! create 201, get 200, update 204, delete 204) and a stream's own targets
//! (`POST /stream/{id}/create-multistream-target` 204, `DELETE /stream/{id}/multistream/{t}`
//! 204, as the SDK expects rather than Studio's 200). A target's URL holds its password: it is
//! written and never answered.
//!
//! Owns: these handlers. May not touch: pushing (`crate::broadcast` reconciles after each
//! change), SQL beyond `store::channels`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::shape::{self, TargetAdd};
use super::{LpError, LpResult, Staff};
use crate::api::AppState;
use crate::store::StoreResult;
use crate::store::channels::{self, Target};
use crate::store::time::now_ms;

/// `GET /multistream/target`.
pub(super) async fn list(_: Staff, State(state): State<AppState>) -> LpResult<Response> {
    let all = state.store.read(channels::targets).await?;
    let items: Vec<Value> = all.iter().map(shape::target).collect();
    Ok(axum::Json(items).into_response())
}

/// `POST /multistream/target`: 201 and the target (without its URL).
pub(super) async fn create(
    who: Staff,
    State(state): State<AppState>,
    body: Bytes,
) -> LpResult<Response> {
    let input = read_target(&body, true)?;
    let target = Target {
        id: super::streams::new_id(),
        name: input.name.unwrap_or_default(),
        url: input.url.unwrap_or_default(),
        disabled: input.disabled.unwrap_or(false),
        created_by: Some(who.0.id),
        created_at_ms: now_ms(),
    };
    let stored = target.clone();
    state
        .store
        .write(move |tx| channels::insert_target(tx, &stored))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(shape::target(&target))).into_response())
}

/// `GET /multistream/target/{id}`.
pub(super) async fn get_one(
    _: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let target = find(&state, id).await?;
    Ok(axum::Json(shape::target(&target)).into_response())
}

/// `PATCH /multistream/target/{id}`: 204; channels pushing to it reconnect with the change.
pub(super) async fn update(
    _: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> LpResult<Response> {
    let input = read_target(&body, false)?;
    let mut target = find(&state, id).await?;
    if let Some(url) = input.url {
        target.url = url;
    }
    if let Some(name) = input.name {
        target.name = name;
    }
    if let Some(d) = input.disabled {
        target.disabled = d;
    }
    let stored = target.clone();
    let users = state
        .store
        .write(move |tx| {
            channels::save_target(tx, &stored)?;
            channels::channels_of_target(tx, &stored.id)
        })
        .await?;
    // A changed URL or switch: stop the old pushes, then start what is wanted.
    for channel in users {
        state.broadcast.restart_target(&channel, &target.id).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /multistream/target/{id}`: 204; its pushes stop.
pub(super) async fn delete(
    _: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> LpResult<Response> {
    let target = find(&state, id).await?;
    let tid = target.id.clone();
    let users = state
        .store
        .write(move |tx| {
            let users = channels::channels_of_target(tx, &tid)?;
            channels::delete_target(tx, &tid)?;
            Ok(users)
        })
        .await?;
    for channel in users {
        state.broadcast.reconcile_targets(&channel).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /stream/{id}/create-multistream-target`: 204.
pub(super) async fn add_to_stream(
    who: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> LpResult<Response> {
    let value = Value::Object(shape::json_object(&body)?);
    let add = shape::target_add(&value, "target")?;
    let channel = super::streams::find(&state, id).await?;
    let cid = channel.id.clone();
    attach_all(&state, &cid, vec![add], false, who.0.id).await?;
    state.broadcast.reconcile_targets(&cid).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /stream/{id}/multistream/{targetId}`: 204 (also when it was not attached).
pub(super) async fn remove_from_stream(
    _: Staff,
    State(state): State<AppState>,
    Path((id, target_id)): Path<(String, String)>,
) -> LpResult<Response> {
    let channel = super::streams::find(&state, id).await?;
    let cid = channel.id.clone();
    state
        .store
        .write(move |tx| channels::detach(tx, &cid, &target_id))
        .await?;
    state.broadcast.reconcile_targets(&channel.id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Attaches `adds` to channel `channel_id` (creating the targets given by `spec`); with
/// `replace`, the channel's other targets are detached. New targets are `user`'s.
///
/// # Errors
/// 422 naming an unknown target id; store failures.
pub(super) async fn attach_all(
    state: &AppState,
    channel_id: &str,
    adds: Vec<TargetAdd>,
    replace: bool,
    user: i64,
) -> LpResult<()> {
    let cid = channel_id.to_owned();
    let missing = state
        .store
        .write(move |tx| -> StoreResult<Option<String>> {
            if replace {
                channels::detach_all(tx, &cid)?;
            }
            for add in adds {
                let target_id = match (add.id, add.spec) {
                    (Some(id), _) => {
                        if channels::target(tx, &id)?.is_none() {
                            return Ok(Some(id));
                        }
                        id
                    }
                    (None, Some((url, name))) => {
                        let t = Target {
                            id: super::streams::new_id(),
                            name,
                            url,
                            disabled: false,
                            created_by: Some(user),
                            created_at_ms: now_ms(),
                        };
                        channels::insert_target(tx, &t)?;
                        t.id
                    }
                    (None, None) => continue,
                };
                channels::attach(tx, &cid, &target_id, &add.profile)?;
            }
            Ok(None)
        })
        .await?;
    match missing {
        // The stream exists; what the body names does not: 422, not 404.
        Some(id) => Err(LpError::unprocessable(
            "id",
            format!("multistream target {id:?} not found"),
        )),
        None => Ok(()),
    }
}

async fn find(state: &AppState, id: String) -> LpResult<Target> {
    state
        .store
        .read(move |c| channels::target(c, &id))
        .await?
        .ok_or_else(LpError::not_found)
}

/// A target body: `{url, name, disabled}` (`url` required when creating).
struct TargetInput {
    url: Option<String>,
    name: Option<String>,
    disabled: Option<bool>,
}

fn read_target(body: &[u8], creating: bool) -> LpResult<TargetInput> {
    let value = Value::Object(shape::json_object(body)?);
    let url = match value.get("url") {
        None | Some(Value::Null) if creating => {
            return Err(LpError::unprocessable("url", "is required"));
        }
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => {
            shape::target_url("url", u)?;
            Some(u.trim().to_owned())
        }
        Some(_) => return Err(LpError::unprocessable("url", "must be a string")),
    };
    let name = shape::opt_name(&value)?;
    let disabled = match value.get("disabled") {
        Some(v) => shape::opt_bool("disabled", v)?,
        None => None,
    };
    Ok(TargetInput {
        url,
        name,
        disabled,
    })
}
