//! Admission and spooling of uploaded files, before [`crate::media`] converts them.
//!
//! * **Admission.** A file part takes a [`Ticket`] before a byte of it is stored: at most
//!   [`MEDIA_JOBS`] uploads convert at once and `[limits] max_uploads_waiting` more may be
//!   receiving their body or waiting for a conversion slot; any other is refused at once
//!   ([`IngestError::Busy`], a 503 with `Retry-After` over HTTP). The ticket is taken before
//!   the body is read, but the conversion slot only once the body is on disk, so a phone
//!   uploading slowly over venue Wi-Fi never holds a conversion slot, and what waits is
//!   bounded in number and lies on disk, not in memory.
//! * **Spooling.** The part is written to a hidden temporary file in the media folder as it
//!   arrives (never whole in memory) and becomes the original by rename. Free space is checked
//!   against `[storage] min_free_mb` first ([`IngestError::NoSpace`], nothing written) and
//!   again every MiB; a spool that would cross the reserve stops and is removed.
//!
//! Owns: tickets, conversion slots, spool files. May not touch: decoding, the store, HTTP
//! (its refusals are [`IngestError`]s; the API words their status).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::IngestError;
use crate::media::space::Reserve;
use crate::media::{MediaError, TempFile};

/// Media conversions allowed at the same time (each keeps a core busy).
pub(crate) const MEDIA_JOBS: usize = 2;

/// `Retry-After` of a refused upload, in seconds (a typical conversion takes a few seconds).
pub(crate) const RETRY_AFTER_S: u64 = 10;

/// Buffer of a spool file's writer.
const SPOOL_BUFFER_BYTES: usize = 256 * 1024;

/// The per-daemon limits on uploads in flight.
#[derive(Debug)]
pub(crate) struct IngestGate {
    admitted: Arc<Semaphore>,
    converting: Arc<Semaphore>,
    waiting: usize,
}

/// An admitted upload: held from its first file byte until its conversion has ended.
#[derive(Debug)]
pub(crate) struct Ticket {
    _permit: OwnedSemaphorePermit,
}

impl IngestGate {
    /// [`MEDIA_JOBS`] conversions and `waiting` more uploads in flight.
    pub(crate) fn new(waiting: u32) -> Self {
        let waiting = usize::try_from(waiting).unwrap_or(usize::MAX / 2);
        Self {
            admitted: Arc::new(Semaphore::new(MEDIA_JOBS + waiting)),
            converting: Arc::new(Semaphore::new(MEDIA_JOBS)),
            waiting,
        }
    }

    /// Admits one more upload, or refuses it at once.
    ///
    /// # Errors
    /// [`IngestError::Busy`] when every place is taken.
    pub(crate) fn admit(&self) -> Result<Ticket, IngestError> {
        match self.admitted.clone().try_acquire_owned() {
            Ok(permit) => Ok(Ticket { _permit: permit }),
            Err(_) => {
                log::debug!(
                    "upload refused: {MEDIA_JOBS} converting and {} more in flight",
                    self.waiting
                );
                Err(IngestError::Busy {
                    waiting: self.waiting,
                })
            }
        }
    }

    /// Runs `work` on a blocking thread once a conversion slot is free (the ticket proves the
    /// upload was admitted, so the wait is bounded). The slot and the ticket go with the work:
    /// a client that disconnects mid-conversion frees neither until the work has ended, so
    /// conversions never exceed [`MEDIA_JOBS`].
    ///
    /// # Errors
    /// [`IngestError::Task`] if the task panicked.
    pub(crate) async fn convert<T, F>(&self, ticket: Ticket, work: F) -> Result<T, IngestError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = self
            .converting
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| IngestError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop((slot, ticket));
            result
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))
    }
}

fn io_error(e: std::io::Error) -> IngestError {
    IngestError::Media(MediaError::Io(e))
}

/// Checks the reserve before anything is written: `coming` is what the request says it will
/// send (its Content-Length), if known.
///
/// # Errors
/// [`IngestError::NoSpace`] naming the reserve and the free space.
pub(crate) fn check_reserve(reserve: &Reserve, coming: Option<u64>) -> Result<(), IngestError> {
    reserve
        .check(coming.unwrap_or(0))
        .map_err(|b| IngestError::NoSpace(b.message()))
}

/// Writes the chunks of a multipart file part to a temporary file in the media folder as
/// they arrive. On any error the file is removed before this returns.
///
/// # Errors
/// `chunk_error` for a failing body; [`IngestError::NoSpace`] when the reserve would be
/// crossed and [`IngestError::Media`] when the disk fails or is full (as `X`).
pub(crate) async fn spool<S, E, X>(
    mut chunks: S,
    mut reserve: Reserve,
    media_dir: &Path,
    chunk_error: impl Fn(E) -> X,
) -> Result<TempFile, X>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    X: From<IngestError>,
{
    let tmp = TempFile::create(media_dir).map_err(io_error)?;
    let file = tmp.file().try_clone().map_err(io_error)?;
    let mut out =
        tokio::io::BufWriter::with_capacity(SPOOL_BUFFER_BYTES, tokio::fs::File::from_std(file));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(&chunk_error)?;
        out.write_all(&chunk).await.map_err(io_error)?;
        reserve
            .wrote(chunk.len() as u64)
            .map_err(|b| IngestError::NoSpace(b.message()))?;
    }
    out.flush().await.map_err(io_error)?;
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_admits_jobs_plus_waiting_and_refuses_the_next_naming_the_limit() {
        let gate = IngestGate::new(1);
        let tickets: Vec<_> = (0..MEDIA_JOBS + 1).map(|_| gate.admit().unwrap()).collect();
        let Err(refused @ IngestError::Busy { waiting: 1 }) = gate.admit() else {
            panic!("refused")
        };
        let detail = refused.to_string();
        assert!(detail.contains("max_uploads_waiting"), "{detail}");
        assert!(detail.contains(&format!("{RETRY_AFTER_S} s")), "{detail}");
        drop(tickets);
        assert!(gate.admit().is_ok(), "a finished upload frees its place");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conversion_keeps_its_slot_and_ticket_until_the_work_ends_even_if_the_client_leaves()
    {
        let gate = Arc::new(IngestGate::new(0));
        let ticket = gate.admit().unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let task = tokio::spawn(async move {
            g.convert(ticket, move || {
                started_tx.send(()).unwrap();
                go_rx.recv().ok();
            })
            .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        task.abort(); // the client disconnects mid-conversion
        let _ = task.await;
        assert_eq!(gate.converting.available_permits(), MEDIA_JOBS - 1);
        assert_eq!(gate.admitted.available_permits(), MEDIA_JOBS - 1);
        go_tx.send(()).unwrap();
        for _ in 0..1000 {
            if gate.converting.available_permits() == MEDIA_JOBS
                && gate.admitted.available_permits() == MEDIA_JOBS
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the slot and the ticket come back when the work ends");
    }

    fn chunks(n: usize, size: usize) -> impl Stream<Item = Result<Bytes, IngestError>> + Unpin {
        futures_util::stream::iter((0..n).map(move |_| Ok(Bytes::from(vec![7u8; size]))))
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[tokio::test]
    async fn a_spool_is_written_whole_to_a_hidden_file_in_the_media_folder() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = Reserve::with_free_space(dir.path(), 1, |_| Some(u64::MAX));
        let tmp = spool(chunks(40, 100_000), reserve, dir.path(), |e| e)
            .await
            .unwrap();
        assert_eq!(tmp.len_bytes().unwrap(), 4_000_000);
        assert!(
            tmp.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".upload-"),
            "{}",
            tmp.path().display()
        );
        drop(tmp);
        assert_eq!(files_in(dir.path()), 0, "dropped spools are removed");
    }

    #[tokio::test]
    async fn a_spool_that_would_cross_the_reserve_stops_naming_it_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The disk "fills" as soon as it is measured again, after the first MiB.
        let reserve = Reserve::with_free_space(dir.path(), 200 << 20, |_| Some(100 << 20));
        let Err(IngestError::NoSpace(detail)) =
            spool(chunks(40, 100_000), reserve, dir.path(), |e| e).await
        else {
            panic!("refused")
        };
        assert!(
            detail.contains("min_free_mb") && detail.contains("100 MiB free"),
            "{detail}"
        );
        assert_eq!(files_in(dir.path()), 0, "the partial spool is gone");
    }

    #[tokio::test]
    async fn a_body_that_fails_midway_leaves_no_spool() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = Reserve::with_free_space(dir.path(), 0, |_| None);
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"RIFF")),
            Err(IngestError::Invalid(
                "Malformed multipart body: cut off".into(),
            )),
        ]);
        let result = spool(broken, reserve, dir.path(), |e| e).await;
        assert!(matches!(result, Err(IngestError::Invalid(_))));
        assert_eq!(files_in(dir.path()), 0);
    }
}
