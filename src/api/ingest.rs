//! The upload service's refusals as HTTP answers ([`crate::ingest`] does the work): the
//! status of each [`IngestError`], and the pieces of the service the body reader uses before
//! a handler runs (admission and spooling, see [`crate::ingest::gate`]).
//!
//! * 400 `{"detail": ...}` for a missing envelope, asset or session, unreadable fields, no
//!   file, or a file refused by its content;
//! * 403 for someone else's envelope, recording or session;
//! * 503 with `Retry-After` when too many uploads are in flight;
//! * 507 when the disk reserve would be crossed or the disk is full;
//! * 500 for a disk or task failure (logged, not shown).
//!
//! Owns: those statuses. May not touch: what an upload does.

use axum::http::StatusCode;

use super::ApiError;
pub(crate) use crate::ingest::gate::{Ticket, check_reserve, spool};
use crate::ingest::{IngestError, RETRY_AFTER_S};
use crate::media::MediaError;

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::NoEnvelope(_)
            | IngestError::NoAsset(_)
            | IngestError::NoSession
            | IngestError::Invalid(_)
            | IngestError::NoFile => ApiError::bad_request(err.to_string()),
            IngestError::NotOwner(_) | IngestError::NotYourSession(_) => {
                ApiError::Detail(StatusCode::FORBIDDEN, err.to_string())
            }
            IngestError::Busy { .. } => ApiError::busy(err.to_string(), RETRY_AFTER_S),
            IngestError::NoSpace(detail) => ApiError::disk_full(detail),
            IngestError::Media(err) => media_error(err),
            IngestError::Store(err) => err.into(),
            // The commit's other refusals (an unknown project) in the upload's one-line form.
            IngestError::Commit(err) => as_detail(err.into()),
            IngestError::Task(_) => ApiError::Internal(err.to_string()),
        }
    }
}

/// A field-error map as one `detail` line (uploads answer `{"detail": ...}` only).
pub(super) fn as_detail(err: ApiError) -> ApiError {
    match err {
        ApiError::Fields(map) => ApiError::bad_request(
            map.iter()
                .map(|(k, v)| format!("{k}: {}", v.join(" ")))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => other,
    }
}

/// A media failure as an API error: the client's fault → 400 with the message; a full disk or
/// the reserve → 507 naming the disk; anything else → 500.
fn media_error(err: MediaError) -> ApiError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::{AuthUser, Caller};
    use crate::store::StoreError;

    fn status(err: IngestError) -> StatusCode {
        match ApiError::from(err) {
            ApiError::Detail(status, _) => status,
            ApiError::Retry { status, .. } => status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_full_disk_and_the_reserve_answer_507_and_bad_media_400() {
        let enospc = std::io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error());
        for err in [
            MediaError::Io(enospc),
            MediaError::NoSpace("reserve".into()),
        ] {
            assert_eq!(
                status(IngestError::Media(err)),
                StatusCode::INSUFFICIENT_STORAGE
            );
        }
        assert_eq!(
            status(IngestError::NoSpace("reserve".into())),
            StatusCode::INSUFFICIENT_STORAGE
        );
        assert_eq!(
            status(IngestError::Media(MediaError::Empty)),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(IngestError::Media(MediaError::Io(std::io::Error::from(
                std::io::ErrorKind::PermissionDenied
            )))),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_busy_box_answers_503_with_retry_after() {
        let ApiError::Retry {
            status,
            detail,
            retry_after_s,
        } = ApiError::from(IngestError::Busy { waiting: 3 })
        else {
            panic!("a retry")
        };
        assert_eq!(
            (status, retry_after_s),
            (StatusCode::SERVICE_UNAVAILABLE, RETRY_AFTER_S)
        );
        assert!(detail.contains("3 more are waiting"), "{detail}");
    }

    #[test]
    fn someone_elses_envelope_answers_as_every_other_owner_check() {
        let user = Caller {
            user: Some(AuthUser {
                id: 7,
                is_staff: false,
                is_kiosk: false,
            }),
        };
        let ApiError::Detail(expected_status, expected) =
            user.may_change(Some(8), "envelope").unwrap_err()
        else {
            panic!("a 403")
        };
        let ApiError::Detail(status, detail) = ApiError::from(IngestError::NotOwner("envelope"))
        else {
            panic!("a 403")
        };
        assert_eq!((status, detail), (expected_status, expected));
    }

    #[test]
    fn refusals_of_the_commit_are_one_detail_line() {
        let err = IngestError::Commit(StoreError::conflict(
            "project_id",
            "Project 9 does not exist.",
        ));
        let ApiError::Detail(status, detail) = ApiError::from(err) else {
            panic!("a detail")
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(detail, "project_id: Project 9 does not exist.");
    }
}
