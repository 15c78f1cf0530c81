//! Recording: a channel with `record: true` archives each live session as an MP3, the same
//! frames its listeners got, under the media folder's `recordings/` (served at
//! `/rwmedia/recordings/<session>.mp3`, carried by backup and restore).
//!
//! The file is written as a hidden `.<session>.mp3.part` by a task of its own (the source
//! never waits on the disk: frames go through a bounded queue) and renamed into place when the
//! session ends, after an fsync — atomic like every media write. A daemon that dies mid-way
//! leaves the part; at the next start [`recover`] finishes it (MP3 frames need no trailer, so
//! what was written plays) and marks the session ready. A write failure (a full disk) stops
//! the recording, logged once, and keeps what was written.
//!
//! Owns: recording files. May not touch: sockets, feeds.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::store::Store;
use crate::store::channels::{self, ChannelSession};

/// Frames queued for the disk before a recording drops them.
const QUEUE_CHUNKS: usize = 4096;
/// The folder of recordings inside the media folder.
pub(crate) const DIR: &str = "recordings";

/// The media name of session `id`'s recording.
pub(crate) fn media_name(session_id: &str) -> String {
    format!("{DIR}/{session_id}.mp3")
}

fn part_path(media_dir: &Path, session_id: &str) -> PathBuf {
    media_dir.join(DIR).join(format!(".{session_id}.mp3.part"))
}

/// The writing end of one recording.
pub(crate) struct Recorder {
    tx: mpsc::Sender<Bytes>,
    writer: tokio::task::JoinHandle<Result<u64, String>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl Recorder {
    /// Starts recording session `session_id` into the media folder.
    pub(crate) fn start(media_dir: &Path, session_id: &str) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE_CHUNKS);
        let part = part_path(media_dir, session_id);
        let writer = tokio::spawn(async move {
            if let Some(dir) = part.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
            }
            let mut file = tokio::fs::File::create(&part)
                .await
                .map_err(|e| format!("cannot create {}: {e}", part.display()))?;
            let mut written = 0u64;
            let mut failed = None;
            while let Some(frames) = rx.recv().await {
                if failed.is_some() {
                    continue;
                }
                match file.write_all(&frames).await {
                    Ok(()) => written += frames.len() as u64,
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                log::warn!(
                    "recording {}: writing failed ({e}); kept the {written} bytes written before",
                    part.display()
                );
            }
            file.flush().await.map_err(|e| e.to_string())?;
            file.sync_all().await.map_err(|e| e.to_string())?;
            Ok(written)
        });
        Self {
            tx,
            writer,
            dropped: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Queues whole frames (never waits: a stalled disk drops them, counted).
    pub(crate) fn write(&self, frames: &Bytes) {
        if self.tx.try_send(frames.clone()).is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Ends the recording: the part is renamed into place. Returns the media name, or why
    /// there is none.
    pub(crate) async fn finish(self, media_dir: &Path, session_id: &str) -> Result<String, String> {
        let dropped = self.dropped.load(std::sync::atomic::Ordering::Relaxed);
        drop(self.tx);
        let written = self
            .writer
            .await
            .map_err(|e| format!("the recording task failed: {e}"))??;
        if dropped > 0 {
            log::warn!(
                "recording of session {session_id}: the disk was too slow, {dropped} chunks of frames were left out"
            );
        }
        if written == 0 {
            let _ = tokio::fs::remove_file(part_path(media_dir, session_id)).await;
            return Err("no audio arrived".into());
        }
        publish(media_dir, session_id).await
    }
}

/// Renames session `session_id`'s part into place and syncs the folder.
async fn publish(media_dir: &Path, session_id: &str) -> Result<String, String> {
    let name = media_name(session_id);
    let to = media_dir.join(&name);
    tokio::fs::rename(part_path(media_dir, session_id), &to)
        .await
        .map_err(|e| format!("cannot move the recording into place: {e}"))?;
    if let Some(dir) = to.parent()
        && let Ok(d) = tokio::fs::File::open(dir).await
    {
        let _ = d.sync_all().await;
    }
    Ok(name)
}

/// Finishes the recordings a crash cut off: each part becomes a ready recording, a missing
/// one a failed session.
pub(crate) async fn recover(store: &Store, media_dir: &Path) {
    let unfinished = match store.read(channels::unfinished_recordings).await {
        Ok(u) => u,
        Err(e) => {
            log::warn!("cannot read the unfinished recordings: {e}");
            return;
        }
    };
    for mut s in unfinished {
        let part = part_path(media_dir, &s.id);
        let size = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        let (status, file) = if size > 0 {
            match publish(media_dir, &s.id).await {
                Ok(name) => ("ready", Some(name)),
                Err(e) => {
                    log::warn!("session {}: {e}", s.id);
                    ("failed", None)
                }
            }
        } else {
            let _ = tokio::fs::remove_file(&part).await;
            ("failed", None)
        };
        log::info!(
            "channel {}: the recording of session {} cut off by a stop was finished ({status}, {size} bytes)",
            s.channel_id,
            s.id
        );
        s.recording_status = status.into();
        s.file = file;
        s.ended_ms = Some(s.ended_ms.unwrap_or(s.started_ms));
        if s.bytes == 0 {
            s.bytes = i64::try_from(size).unwrap_or(i64::MAX);
        }
        let row: ChannelSession = s;
        if let Err(e) = store
            .write_quiet(move |tx| channels::put_session(tx, &row))
            .await
        {
            log::warn!("cannot store a recovered recording: {e}");
        }
    }
}

/// Removes the recording files of `sessions` (their channel was deleted).
pub(crate) async fn remove(media_dir: &Path, sessions: &[ChannelSession]) {
    for s in sessions {
        if let Some(file) = &s.file {
            let _ = tokio::fs::remove_file(media_dir.join(file)).await;
        }
        let _ = tokio::fs::remove_file(part_path(media_dir, &s.id)).await;
    }
}
