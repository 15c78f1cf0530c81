//! Reading multipart bodies into [`Fields`]: text fields with caps (H2 of the security
//! review: a 20 MB `first_name` used to be stored and sent in every asset list), file parts
//! spooled to disk under an admission ticket and the disk reserve ([`crate::api::ingest`]).
//!
//! Owns: the caps on parts and text. May not touch: what the fields mean.

use axum::extract::Multipart;
use axum::http::StatusCode;

use super::{Fields, UploadedFile, too_large};
use crate::api::AppState;
use crate::api::error::ApiError;

/// Largest text field of a multipart body (file parts go to disk and may be larger).
pub(super) const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;

/// Largest sum of the text fields of one multipart body.
pub(super) const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Most parts (text and files) in one multipart body.
pub(super) const MAX_PARTS: usize = 64;

/// Most file parts in one multipart body (uploads need one).
pub(super) const MAX_FILE_PARTS: usize = 4;

fn part_too_large(what: String) -> ApiError {
    ApiError::Detail(StatusCode::PAYLOAD_TOO_LARGE, what)
}

/// Reads a multipart body: text fields into the map (each at most [`MAX_TEXT_FIELD_BYTES`],
/// [`MAX_TEXT_BYTES`] in all, at most [`MAX_PARTS`] parts), file parts spooled to disk under an
/// admission ticket and the disk reserve (at most [`MAX_FILE_PARTS`]).
pub(super) async fn read(
    mut multipart: Multipart,
    state: &AppState,
    limit: usize,
    length: Option<u64>,
) -> Result<Fields, ApiError> {
    let mut fields = Fields::default();
    let mut parts = 0usize;
    let mut text_bytes = 0usize;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(limit)),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "Malformed multipart body: {}",
                    e.body_text()
                )));
            }
        };
        parts += 1;
        if parts > MAX_PARTS {
            return Err(part_too_large(format!(
                "The form has more than {MAX_PARTS} parts."
            )));
        }
        let name = field.name().unwrap_or("").to_string();
        let filename = field.file_name().map(str::to_string);
        if filename.is_some() {
            if fields.files().len() >= MAX_FILE_PARTS {
                return Err(part_too_large(format!(
                    "The form has more than {MAX_FILE_PARTS} files."
                )));
            }
            let media_dir = state.config.storage.media_dir();
            let reserve = crate::media::space::Reserve::new(
                &media_dir,
                state.config.storage.min_free_bytes(),
            );
            // Within the reserve and admitted before a byte is stored.
            crate::api::ingest::check_reserve(&reserve, length)?;
            let ticket = state.ingest.admit()?;
            let chunk_error = |e: axum::extract::multipart::MultipartError| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(limit)
                } else {
                    ApiError::bad_request(format!("Malformed multipart body: {}", e.body_text()))
                }
            };
            let spool =
                crate::api::ingest::spool(&mut field, reserve, &media_dir, chunk_error).await?;
            fields.push_file(UploadedFile {
                field: name,
                filename,
                spool,
                ticket,
            });
            continue;
        }
        let mut text: Vec<u8> = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if text.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                        return Err(part_too_large(format!(
                            "Form field `{name}` is longer than {} KiB; send files as file parts.",
                            MAX_TEXT_FIELD_BYTES / 1024
                        )));
                    }
                    text_bytes += chunk.len();
                    if text_bytes > MAX_TEXT_BYTES {
                        return Err(part_too_large(format!(
                            "The form's text fields hold more than {} KiB in all (at `{name}`).",
                            MAX_TEXT_BYTES / 1024
                        )));
                    }
                    text.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(too_large(limit));
                }
                Err(e) => {
                    return Err(ApiError::bad_request(format!(
                        "Malformed multipart body: {}",
                        e.body_text()
                    )));
                }
            }
        }
        let text = String::from_utf8(text)
            .map_err(|_| ApiError::field(name.clone(), "Form field is not valid UTF-8 text."))?;
        fields.insert_text(name, text);
    }
    Ok(fields)
}
