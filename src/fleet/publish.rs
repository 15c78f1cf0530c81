//! The publisher: this box's changes, from the event outbox's publication cursor on, to its
//! own stream (fleet.md §3.5.1). An asset's media files (and the hub's floor plans' images)
//! go into the box's bucket first, so a row on the catalogue never names media the venue
//! cannot fetch. Everything here is local
//! to the box's own nats-server: recording never waits on the Wi-Fi.
//!
//! A change is published with `Nats-Msg-Id: <origin>:<kind>:<id>:<outbox id>`, so a
//! publication repeated after a crash (published, cursor not yet moved) is recognised by the
//! stream and stored once.
//!
//! Owns: the publication loop, media puts. May not touch: SQL (the store's `fleet` module),
//! the catalogue's application.

use std::path::Path;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, object_store::ObjectStore};
use serde_json::{Value, json};

use super::Shared;
use super::streams::Origin;
use crate::store::fleet::{Kind, Outgoing, published, to_publish};

/// Changes read and published per round.
const BATCH: i64 = 64;
/// The longest wait between retries after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One media file of an asset, as the catalogue names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct MediaRef {
    /// The media name (relative to the media folder); also the object's name.
    pub name: String,
    /// The bucket holding it (`media_b<n>`, `media_hub`).
    pub bucket: String,
    /// Bytes.
    pub size: u64,
    /// The object store's digest, `SHA-256=<base64url>`.
    pub digest: String,
}

/// Publishes until shutdown.
pub(crate) async fn run(shared: Shared, js: jetstream::Context, bucket: ObjectStore) {
    let origin = shared.origin.clone();
    let mut changes = shared.store.subscribe_changes();
    let mut backoff = Duration::from_millis(250);
    let mut failing: Option<String> = None;
    // The cursor as last written (0: not yet this run; `published` never moves it back).
    let mut cursor = 0;
    loop {
        match round(&shared, &js, &bucket, &origin, &mut cursor).await {
            Ok(more) => {
                if let Some(was) = failing.take() {
                    log::info!("fleet: publishing again (after: {was})");
                }
                shared.status.set_publish_error(None);
                backoff = Duration::from_millis(250);
                if more {
                    continue;
                }
                tokio::select! {
                    () = shared.shutdown.cancelled() => return,
                    _ = changes.recv() => {}
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
            Err(why) => {
                if failing.as_deref() != Some(why.as_str()) {
                    log::warn!("fleet: cannot publish this box's changes: {why}");
                    shared.status.set_publish_error(Some(why.clone()));
                    failing = Some(why);
                }
                tokio::select! {
                    () = shared.shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Publishes one batch; `Ok(true)` when there may be more.
async fn round(
    shared: &Shared,
    js: &jetstream::Context,
    bucket: &ObjectStore,
    origin: &Origin,
    cursor: &mut i64,
) -> Result<bool, String> {
    let config = shared.is_hub;
    let found = shared
        .store
        .read(move |c| to_publish(c, config, BATCH))
        .await
        .map_err(|e| e.to_string())?;
    let full = found.changes.len() as i64 == BATCH;
    for change in &found.changes {
        publish(shared, js, bucket, origin, change).await?;
    }
    // Written only when it moves (a receiving box wakes for every change it applies).
    if found.through > *cursor {
        let through = found.through;
        shared
            .store
            .write_quiet(move |tx| published(tx, through))
            .await
            .map_err(|e| e.to_string())?;
        *cursor = through;
    }
    Ok(full)
}

/// One change on the stream, acknowledged.
async fn publish(
    shared: &Shared,
    js: &jetstream::Context,
    bucket: &ObjectStore,
    origin: &Origin,
    change: &Outgoing,
) -> Result<(), String> {
    let Some(kind) = change.kind else {
        return Ok(());
    };
    let media = match &change.state {
        Some(state) if kind.media => {
            put_media(&shared.media_dir, bucket, origin, kind, state).await?
        }
        _ => Vec::new(),
    };
    let mut headers = HeaderMap::new();
    let msg_id = format!(
        "{}:{}:{}:{}",
        origin.token, kind.name, change.id, change.outbox_id
    );
    headers.insert("Nats-Msg-Id", msg_id.as_str());
    if change.state.is_none() {
        headers.insert("RW-Op", "delete");
    }
    let payload = json!({ "state": change.state, "media": media });
    let subject = if change.telemetry {
        origin.telemetry_subject(kind.name, change.id)
    } else {
        origin.subject(kind.name, change.id)
    };
    js.publish_with_headers(subject.clone(), headers, payload.to_string().into())
        .await
        .map_err(|e| format!("{subject}: {e}"))?
        .await
        .map_err(|e| format!("{subject}: {e}"))?;
    shared.status.published();
    Ok(())
}

/// Puts the files of the object in `state` (an asset's renditions, a floor plan's image) into
/// the bucket (those already there with their size are left), and names them for the
/// catalogue.
async fn put_media(
    media_dir: &Path,
    bucket: &ObjectStore,
    origin: &Origin,
    kind: &Kind,
    state: &Value,
) -> Result<Vec<MediaRef>, String> {
    let Some(file) = state["rows"][kind.table][0]["file"].as_str() else {
        return Ok(Vec::new());
    };
    let Some(stem) = crate::media::files::media_stem(file) else {
        return Ok(Vec::new());
    };
    let dir = media_dir.to_path_buf();
    let paths =
        tokio::task::spawn_blocking(move || crate::media::files::files_of_stem(&dir, &stem))
            .await
            .map_err(|e| e.to_string())?;
    let mut refs = Vec::with_capacity(paths.len());
    for path in paths {
        let Some(name) = relative_name(media_dir, &path) else {
            continue;
        };
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        let info = match bucket.info(&name).await {
            Ok(info) if info.size as u64 == size && !info.deleted => info,
            _ => {
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                bucket
                    .put(name.as_str(), &mut file)
                    .await
                    .map_err(|e| format!("media {name} into {}: {e}", origin.bucket()))?
            }
        };
        refs.push(MediaRef {
            name,
            bucket: origin.bucket(),
            size,
            digest: info.digest.unwrap_or_default(),
        });
    }
    Ok(refs)
}

/// `path` relative to the media folder, with `/` separators.
pub(crate) fn relative_name(media_dir: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(media_dir).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}
