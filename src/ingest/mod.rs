//! The upload service (reference-server §5): from an already-read request to a committed
//! [`Asset`]. [`Ingest::accept`] checks the envelope, a re-filed asset and a named session
//! against the [`Uploader`], logs `start_upload`, converts the file through the [`gate`]
//! ([`crate::media`] on a blocking thread), commits the row (created, or re-filed with the
//! replaced files removed afterwards), and on any failure leaves no file behind: the spool
//! and the renditions are removed by their guards ([`crate::media::Written`]) unless the
//! commit went through. The HTTP side only reads fields into an [`UploadRequest`], calls
//! `accept` and shapes the answer (as in mini-redis, the logic lives in the command and the
//! connection only frames it).
//!
//! **Ownership** (decisions.md): the envelope must belong to the uploader (its session is
//! theirs), a re-filed asset too, and a named session may only be one of the uploader's;
//! `user_id` is honoured from staff only (iOS sends `0`; others are credited to themselves).
//! The order of the checks is the reference's and part of the contract: ownership first,
//! then `start_upload` is logged, then the fields' problems are reported (which is why
//! [`UploadRequest::fields`] carries them rather than the HTTP side refusing early).
//!
//! **The engine.** The uploader hears the new recording next in their own stream (§5 step
//! 12). The service tells the hook it was built with ([`Accepted`]) after every commit; the
//! composition root wires that hook to the stream engine, which lives on a floor above this
//! one, so the service never names the conductor and every caller of `accept` notifies alike.
//!
//! Owns: the order of an upload's steps, its refusals ([`IngestError`], worded for the client;
//! the HTTP layer picks the status), admission and spool files ([`gate`]). May not touch:
//! HTTP, SQL (it calls [`crate::store`]), decoding (that is [`crate::media`]), the engine
//! (only through the hook).

pub(crate) mod gate;

use std::path::PathBuf;

pub(crate) use gate::{IngestGate, MEDIA_JOBS, RETRY_AFTER_S, Ticket};

use crate::config::Config;
use crate::media::space::Reserve;
use crate::media::{self, Ingested, MediaError, Purpose, TempFile};
use crate::store::assets::Asset;
use crate::store::events::{self, NewEvent};
use crate::store::owners::{self, Owned};
use crate::store::uploads::{self, NewUpload};
use crate::store::{Store, StoreError};

/// Why an upload was refused or failed. The messages are the client's `detail`; the HTTP
/// layer maps each kind to its status (400, 403, 503, 507, 500).
#[derive(Debug, thiserror::Error)]
pub(crate) enum IngestError {
    /// The envelope does not exist (a 400, as the reference answers).
    #[error("Invalid Envelope ID Provided. No Envelope exists with ID {0}")]
    NoEnvelope(i64),
    /// The asset to re-file does not exist (400).
    #[error("Invalid Asset ID Provided. No Asset exists with ID {0}")]
    NoAsset(i64),
    /// The named session does not exist (400).
    #[error("Session matching query does not exist.")]
    NoSession,
    /// The envelope or the re-filed asset is someone else's (403); names what is protected.
    #[error("Only the visitor who made this {0}, or staff, may do that.")]
    NotOwner(&'static str),
    /// The named session is someone else's (403).
    #[error("Session {0} is not yours; act only in your own sessions.")]
    NotYourSession(i64),
    /// The asset's fields could not be read: every problem, as one line (400).
    #[error("{0}")]
    Invalid(String),
    /// Neither an uploaded file nor a stored original to re-file (400).
    #[error("No file in request")]
    NoFile,
    /// Every place for uploads in flight is taken (503 with `Retry-After`).
    #[error(
        "The box is busy with uploads: {MEDIA_JOBS} are being converted and {waiting} more are \
         waiting, the most it accepts at once ([limits] max_uploads_waiting). Nothing was \
         stored; try again in {RETRY_AFTER_S} s."
    )]
    Busy {
        /// `[limits] max_uploads_waiting`.
        waiting: usize,
    },
    /// Storing it would cross the disk reserve (507); names the reserve and the free space.
    #[error("{0}")]
    NoSpace(String),
    /// The file was refused by its content, or the disk failed while storing it.
    #[error(transparent)]
    Media(MediaError),
    /// Reading what the upload names, or logging `start_upload`, failed in the store.
    #[error(transparent)]
    Store(StoreError),
    /// The commit failed for another reason than a vanished envelope, session or asset (an
    /// unknown `project_id`, a full disk, …).
    #[error("{0}")]
    Commit(StoreError),
    /// The conversion task died (a server fault).
    #[error("media task failed: {0}")]
    Task(String),
}

impl From<StoreError> for IngestError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Who uploads: a signed-in user, staff or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uploader {
    /// The user's id.
    pub user_id: i64,
    /// Staff may upload into anyone's envelope and credit another user.
    pub staff: bool,
}

impl Uploader {
    /// True for staff and for the user `owner` names.
    fn owns(self, owner: Option<i64>) -> bool {
        self.staff || owner == Some(self.user_id)
    }

    /// `Ok` for staff and for `owner`; an object without an owner is staff's alone.
    ///
    /// # Errors
    /// [`IngestError::NotOwner`] naming `what`.
    fn may_change(self, owner: Option<i64>, what: &'static str) -> Result<(), IngestError> {
        if self.owns(owner) {
            Ok(())
        } else {
            Err(IngestError::NotOwner(what))
        }
    }
}

/// A file part spooled to the media folder, with the admission ticket it arrived under.
#[derive(Debug)]
pub(crate) struct Spooled {
    /// The bytes, on disk (removed when dropped unless they became a stored original).
    pub spool: TempFile,
    /// The upload's place among those in flight, held until its conversion ends.
    pub ticket: Ticket,
}

/// The asset fields of an upload, as the client sent them.
#[derive(Debug, Clone, Default)]
pub(crate) struct AssetFields {
    /// The new asset's fields; the envelope, the session, the files and the length are the
    /// service's to set (and `user_id` too, for anyone but staff).
    pub upload: NewUpload,
    /// The recording session named by the request; `None` takes the envelope's.
    pub session_id: Option<i64>,
}

/// One upload, read from the request.
#[derive(Debug)]
pub(crate) struct UploadRequest {
    /// The envelope receiving the recording.
    pub envelope_id: i64,
    /// The uploaded file; `None` re-files [`UploadRequest::refile`] from its own stored
    /// original.
    pub file: Option<Spooled>,
    /// An asset to re-file into the envelope with fresh media, instead of creating one.
    pub refile: Option<i64>,
    /// The asset's fields, or every problem found reading them (one `detail` line), reported
    /// after the ownership checks and `start_upload`.
    pub fields: Result<AssetFields, String>,
    /// The optional fields of the `start_upload` event (`client_time`, position, tags,
    /// `data`); its session and type are the service's to set.
    pub start_upload: NewEvent,
}

/// Told of every asset an upload created or re-filed, after its commit.
pub(crate) type Accepted = Box<dyn Fn(&Asset) + Send + Sync>;

/// The upload service: one per daemon, shared by every request.
pub(crate) struct Ingest {
    store: Store,
    gate: IngestGate,
    media_dir: PathBuf,
    min_free_bytes: u64,
    max_recording_s: f64,
    accepted: Accepted,
}

/// What an upload touches, read at once: the envelope's session and owner, and for a re-file
/// the asset's stored file and owner.
struct Targets {
    env_session: Option<i64>,
    env_owner: Option<i64>,
    /// `None`: no re-file; `Some(None)`: no such asset; `Some(Some(file))`.
    asset_file: Option<Option<Option<String>>>,
    asset_owner: Option<i64>,
}

impl Ingest {
    /// The service over `store`, with the media folder, the disk reserve and the limits of
    /// `config`; `accepted` is told of every committed upload.
    pub(crate) fn new(store: Store, config: &Config, accepted: Accepted) -> Self {
        Self {
            store,
            gate: IngestGate::new(config.limits.max_uploads_waiting),
            media_dir: config.storage.media_dir(),
            min_free_bytes: config.storage.min_free_bytes(),
            max_recording_s: config.limits.max_recording_s as f64,
            accepted,
        }
    }

    /// Admits one more upload before its file is read (see [`gate`]).
    ///
    /// # Errors
    /// [`IngestError::Busy`] when every place is taken.
    pub(crate) fn admit(&self) -> Result<Ticket, IngestError> {
        self.gate.admit()
    }

    /// Checks that `envelope_id` exists and is the uploader's (or the uploader is staff), so
    /// a file is never spooled into someone else's envelope only to be refused afterwards.
    ///
    /// # Errors
    /// [`IngestError::NoEnvelope`], [`IngestError::NotOwner`], [`IngestError::Store`].
    pub(crate) async fn check_envelope(
        &self,
        who: Uploader,
        envelope_id: i64,
    ) -> Result<(), IngestError> {
        let owner = self
            .store
            .read(move |c| match owners::of(c, Owned::Envelope, envelope_id) {
                Ok(owner) => Ok(Some(owner)),
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            })
            .await?
            .ok_or(IngestError::NoEnvelope(envelope_id))?;
        who.may_change(owner, "envelope")
    }

    /// Accepts one upload: the envelope, a re-filed asset and a named session checked against
    /// `who`, `start_upload` logged, the file converted, the asset created (or re-filed, its
    /// replaced files removed after the commit) and the [`Accepted`] hook told. On any error
    /// no file of this upload is left in the media folder.
    ///
    /// # Errors
    /// [`IngestError`] naming the first problem, in the order above.
    pub(crate) async fn accept(
        &self,
        who: Uploader,
        request: UploadRequest,
    ) -> Result<Asset, IngestError> {
        let UploadRequest {
            envelope_id,
            file,
            refile,
            fields,
            start_upload,
        } = request;
        let found = self.targets(envelope_id, refile).await?;
        let env_session = found
            .env_session
            .ok_or(IngestError::NoEnvelope(envelope_id))?;
        who.may_change(found.env_owner, "envelope")?;
        if let Some(id) = refile {
            if matches!(found.asset_file, Some(None)) {
                return Err(IngestError::NoAsset(id));
            }
            // Re-filing replaces the asset's files: only its owner (or staff) may do that.
            who.may_change(found.asset_owner, "recording")?;
        }
        self.log_start(env_session, start_upload).await?;

        let AssetFields {
            upload: mut u,
            session_id,
        } = fields.map_err(IngestError::Invalid)?;
        u.envelope_id = envelope_id;
        u.session_id = session_id.unwrap_or(env_session);
        if !who.staff || u.user_id.is_none() {
            // iOS sends `user_id=0`; anyone but staff is credited as themselves.
            u.user_id = Some(who.user_id);
        }
        if u.session_id != env_session {
            self.check_session(who, u.session_id).await?;
        }

        let file = match (file, found.asset_file.flatten().flatten()) {
            (Some(file), _) => file,
            (None, Some(old)) => self.respool(&old).await?,
            (None, None) => return Err(IngestError::NoFile),
        };
        let base_name = format!("{}-{}", media::files::timestamp(), u.session_id);
        let Ingested {
            stored,
            audiolength_ns,
            written,
            ..
        } = self
            .convert(file, &u.media_type, Purpose::Asset, base_name)
            .await?;
        u.file = stored.file;
        u.filename = stored.filename;
        u.audiolength_ns = audiolength_ns;

        let commit_error = move |err: StoreError| match err {
            StoreError::NotFound {
                what: "envelope", ..
            } => IngestError::NoEnvelope(envelope_id),
            StoreError::NotFound {
                what: "session", ..
            } => IngestError::NoSession,
            StoreError::NotFound { what: "asset", id } => IngestError::NoAsset(id),
            other => IngestError::Commit(other),
        };
        let asset = match refile {
            None => self
                .store
                .write(move |tx| uploads::create(tx, &u))
                .await
                .map_err(commit_error)?,
            Some(id) => {
                let (asset, old) = self
                    .store
                    .write(move |tx| {
                        uploads::refile(tx, id, envelope_id, &u.file, &u.filename, audiolength_ns)
                    })
                    .await
                    .map_err(commit_error)?;
                // The replaced original and its renditions (`<stem>.*`), when it is an
                // upload's own file (a plain name: the demo's shared sounds live in a folder).
                let stems = (old.as_deref())
                    .filter(|name| plain_name(name))
                    .and_then(media::files::media_stem);
                media::files::remove_stems(&self.media_dir, stems.into_iter().collect()).await;
                asset
            }
        };
        written.keep();
        (self.accepted)(&asset);
        Ok(asset)
    }

    /// Checks, converts and durably writes a spooled file on a blocking thread, in one of the
    /// conversion slots (the ticket is given back when the conversion ends). The files are
    /// the caller's to keep ([`crate::media::Written::keep`]) once its row has committed.
    ///
    /// # Errors
    /// [`IngestError::Media`] for a refused file or a failing disk, [`IngestError::Task`].
    pub(crate) async fn convert(
        &self,
        file: Spooled,
        media_type: &str,
        purpose: Purpose,
        base_name: String,
    ) -> Result<Ingested, IngestError> {
        let Spooled { spool, ticket } = file;
        let dir = self.media_dir.clone();
        let limits = media::Limits {
            max_recording_s: self.max_recording_s,
            reserve: Reserve::new(&dir, self.min_free_bytes),
        };
        let media_type = media_type.to_string();
        self.gate
            .convert(ticket, move || {
                media::ingest(spool, &media_type, purpose, &limits, &dir, &base_name)
            })
            .await?
            .map_err(IngestError::Media)
    }

    /// Reads the envelope and, for a re-file, the asset.
    async fn targets(&self, envelope_id: i64, refile: Option<i64>) -> Result<Targets, IngestError> {
        Ok(self
            .store
            .read(move |c| {
                let env_session = uploads::envelope_session(c, envelope_id)?;
                let env_owner = match env_session {
                    Some(_) => owners::of(c, Owned::Envelope, envelope_id)?,
                    None => None,
                };
                let (asset_file, asset_owner) = match refile {
                    Some(id) => match uploads::asset_file(c, id)? {
                        Some(file) => (Some(Some(file)), owners::of(c, Owned::Asset, id)?),
                        None => (Some(None), None),
                    },
                    None => (None, None),
                };
                Ok(Targets {
                    env_session,
                    env_owner,
                    asset_file,
                    asset_owner,
                })
            })
            .await?)
    }

    /// Logs `start_upload` for the envelope's session.
    async fn log_start(&self, session_id: i64, mut event: NewEvent) -> Result<(), IngestError> {
        event.session_id = session_id;
        event.event_type = "start_upload".into();
        self.store
            .write(move |tx| events::create(tx, &event).map(|_| ()))
            .await?;
        Ok(())
    }

    /// A session named by the request (not the envelope's): it must be the uploader's and
    /// exist.
    async fn check_session(&self, who: Uploader, session_id: i64) -> Result<(), IngestError> {
        let owner = self
            .store
            .read(move |c| owners::of_session_if_any(c, session_id))
            .await?;
        match owner {
            None => Err(IngestError::NoSession),
            Some(owner) if who.owns(owner) => Ok(()),
            Some(_) => Err(IngestError::NotYourSession(session_id)),
        }
    }

    /// Copies a stored original to a spool file (re-filing an asset from its own file), under
    /// a ticket and the disk reserve.
    async fn respool(&self, old: &str) -> Result<Spooled, IngestError> {
        if !plain_name(old) {
            return Err(IngestError::NoFile);
        }
        let path = self.media_dir.join(old);
        let len = tokio::fs::metadata(&path)
            .await
            .map_err(|_| IngestError::NoFile)?
            .len();
        let dir = self.media_dir.clone();
        gate::check_reserve(&Reserve::new(&dir, self.min_free_bytes), Some(len))?;
        let ticket = self.gate.admit()?;
        let spool = tokio::task::spawn_blocking(move || {
            let mut from = std::fs::File::open(&path)?;
            let tmp = TempFile::create(&dir)?;
            std::io::copy(&mut from, &mut tmp.file())?;
            Ok::<_, std::io::Error>(tmp)
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => IngestError::NoFile,
            _ => IngestError::Media(e.into()),
        })?;
        Ok(Spooled { spool, ticket })
    }
}

/// Whether a stored media name is a plain name inside the media folder (an upload's own
/// file; not a URL, a folder path or a hidden name).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.starts_with("http")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_an_uploads_own_files() {
        for yes in ["20240101-000000-1.wav", "x"] {
            assert!(plain_name(yes), "{yes}");
        }
        for no in [
            "",
            ".upload-1.tmp",
            "demo/x.wav",
            "a\\b",
            "http://x/y.mp3",
            "https",
        ] {
            assert!(!plain_name(no), "{no}");
        }
    }

    #[test]
    fn staff_may_change_anything_and_users_only_their_own() {
        let user = Uploader {
            user_id: 7,
            staff: false,
        };
        let staff = Uploader {
            user_id: 1,
            staff: true,
        };
        assert!(user.may_change(Some(7), "envelope").is_ok());
        assert!(matches!(
            user.may_change(Some(8), "envelope"),
            Err(IngestError::NotOwner("envelope"))
        ));
        assert!(
            user.may_change(None, "recording").is_err(),
            "no owner: staff's"
        );
        assert!(staff.may_change(None, "recording").is_ok());
        assert!(staff.may_change(Some(8), "envelope").is_ok());
    }
}
