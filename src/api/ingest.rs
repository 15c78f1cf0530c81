//! Admission and spooling of uploaded files, before [`crate::media`] converts them.
//!
//! * **Admission.** A file part takes a [`Ticket`] before a byte of it is stored: at most
//!   [`MEDIA_JOBS`] uploads convert at once and `[limits] max_uploads_waiting` more may be
//!   receiving their body or waiting for a conversion slot; any other is refused at once with
//!   503 and `Retry-After`. The ticket is taken before the body is read, but the conversion
//!   slot only once the body is on disk, so a phone uploading slowly over venue Wi-Fi never
//!   holds a conversion slot, and what waits is bounded in number and lies on disk, not in
//!   memory.
//! * **Spooling.** The part is written to a hidden temporary file in the media folder as it
//!   arrives (never whole in memory) and becomes the original by rename. Free space is checked
//!   against `[storage] min_free_mb` first (507 Insufficient Storage, nothing written) and
//!   again every MiB; a spool that would cross the reserve stops, is removed, and answers 507.
//!
//! Owns: tickets, conversion slots, spool files and the 503/507 answers. May not touch:
//! decoding, the store.

use std::sync::Arc;

use axum::extract::multipart::Field;
use axum::http::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ApiError, ApiResult};
use crate::media::space::{self, Reserve};
use crate::media::{MediaError, TempFile};

/// Media conversions allowed at the same time (each keeps a core busy).
pub const MEDIA_JOBS: usize = 2;

/// `Retry-After` of a refused upload, in seconds (a typical conversion takes a few seconds).
pub const RETRY_AFTER_S: u32 = 10;

/// Buffer of a spool file's writer.
const SPOOL_BUFFER_BYTES: usize = 256 * 1024;

/// The per-daemon limits on uploads in flight.
#[derive(Debug)]
pub struct IngestGate {
    admitted: Arc<Semaphore>,
    converting: Semaphore,
    waiting: usize,
}

/// An admitted upload: held from its first file byte until its conversion has ended.
#[derive(Debug)]
pub struct Ticket {
    _permit: OwnedSemaphorePermit,
}

impl IngestGate {
    /// [`MEDIA_JOBS`] conversions and `waiting` more uploads in flight.
    pub fn new(waiting: u32) -> Self {
        let waiting = usize::try_from(waiting).unwrap_or(usize::MAX / 2);
        Self {
            admitted: Arc::new(Semaphore::new(MEDIA_JOBS + waiting)),
            converting: Semaphore::new(MEDIA_JOBS),
            waiting,
        }
    }

    /// Admits one more upload, or refuses it at once.
    ///
    /// # Errors
    /// 503 with `Retry-After` when every place is taken.
    pub fn admit(&self) -> ApiResult<Ticket> {
        match self.admitted.clone().try_acquire_owned() {
            Ok(permit) => Ok(Ticket { _permit: permit }),
            Err(_) => {
                log::info!(
                    "upload refused: {MEDIA_JOBS} converting and {} more in flight",
                    self.waiting
                );
                Err(ApiError::Retry(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "The box is busy with uploads: {MEDIA_JOBS} are being converted and {} \
                         more are waiting, the most it accepts at once ([limits] \
                         max_uploads_waiting). Nothing was stored; try again in {RETRY_AFTER_S} s.",
                        self.waiting
                    ),
                    RETRY_AFTER_S,
                ))
            }
        }
    }

    /// Runs `work` on a blocking thread once a conversion slot is free (the ticket proves the
    /// upload was admitted, so the wait is bounded).
    ///
    /// # Errors
    /// 500 if the task panicked.
    pub async fn convert<T, F>(&self, _ticket: &Ticket, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _slot = self
            .converting
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(format!("media task failed: {e}")))
    }
}

/// A media failure as an API error: the client's fault → 400 with the message; a full disk or
/// the reserve → 507 naming the disk; anything else → 500.
pub fn media_error(err: MediaError) -> ApiError {
    if err.is_disk_full() {
        return match err {
            MediaError::NoSpace(message) => ApiError::disk_full(message),
            other => {
                log::warn!("upload not stored, the disk is full: {other}");
                ApiError::disk_full(format!(
                    "The box's disk is full: the upload could not be stored ({other}). Nothing \
                     was saved; staff can make room by deleting old recordings."
                ))
            }
        };
    }
    if err.is_client_error() {
        ApiError::bad_request(err.to_string())
    } else {
        ApiError::Internal(err.to_string())
    }
}

fn io_error(e: std::io::Error) -> ApiError {
    media_error(MediaError::Io(e))
}

/// Checks the reserve before anything is written: `coming` is what the request says it will
/// send (its Content-Length), if known.
///
/// # Errors
/// 507 naming the reserve and the free space.
pub fn check_reserve(reserve: &Reserve, coming: Option<u64>) -> ApiResult<()> {
    reserve
        .check(coming.unwrap_or(0))
        .map_err(|b| ApiError::disk_full(b.message()))
}

/// Writes a multipart file part to a temporary file in the media folder as it arrives.
/// On any error the file is removed before this returns.
///
/// # Errors
/// 413 past the body limit, 400 for a broken body, 507 when the reserve would be crossed or
/// the disk is full.
pub async fn spool(
    field: &mut Field<'_>,
    mut reserve: Reserve,
    media_dir: &std::path::Path,
    too_large: impl Fn() -> ApiError,
) -> ApiResult<TempFile> {
    let tmp = TempFile::create(media_dir).map_err(io_error)?;
    let file = tmp.file().try_clone().map_err(io_error)?;
    let mut out =
        tokio::io::BufWriter::with_capacity(SPOOL_BUFFER_BYTES, tokio::fs::File::from_std(file));
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "Malformed multipart body: {}",
                    e.body_text()
                )));
            }
        };
        out.write_all(&chunk).await.map_err(io_error)?;
        reserve
            .wrote(chunk.len() as u64)
            .map_err(|b| ApiError::disk_full(b.message()))?;
    }
    out.flush().await.map_err(io_error)?;
    Ok(tmp)
}

/// True when an I/O error means the disk is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    space::is_disk_full(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_admits_jobs_plus_waiting_and_refuses_the_next_with_retry_after() {
        let gate = IngestGate::new(1);
        let tickets: Vec<_> = (0..MEDIA_JOBS + 1).map(|_| gate.admit().unwrap()).collect();
        let Err(ApiError::Retry(status, detail, after)) = gate.admit() else {
            panic!("refused")
        };
        assert_eq!(
            (status, after),
            (StatusCode::SERVICE_UNAVAILABLE, RETRY_AFTER_S)
        );
        assert!(detail.contains("max_uploads_waiting"), "{detail}");
        drop(tickets);
        assert!(gate.admit().is_ok(), "a finished upload frees its place");
    }

    #[test]
    fn a_full_disk_and_the_reserve_answer_507_and_bad_media_400() {
        let enospc = std::io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error());
        for err in [
            MediaError::Io(enospc),
            MediaError::NoSpace("reserve".into()),
        ] {
            let ApiError::Detail(status, _) = media_error(err) else {
                panic!()
            };
            assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
        }
        let ApiError::Detail(status, _) = media_error(MediaError::Empty) else {
            panic!()
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(matches!(
            media_error(MediaError::Io(std::io::Error::from(
                std::io::ErrorKind::PermissionDenied
            ))),
            ApiError::Internal(_)
        ));
    }
}
