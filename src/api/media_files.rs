//! Media files as the API sees them: the absolute URL of a stored name ([`media_url`],
//! [`absolutize`]), and for `delete_binary` of asset and speaker DELETE and for a re-filed
//! upload, which media files a stored reference (asset `file`/`filename`, speaker `uri`)
//! names and their removal from the media folder.
//!
//! An asset's files are the original upload and its renditions, `<stem>.<ext>` for the stem
//! of each stored name; only files inside the media folder, by names that pass
//! [`safe_name`], are ever removed, and files another asset still names are kept.

use std::path::{Path, PathBuf};

use super::media::{PREFIX, decode_name, safe_name};

/// The media name a stored reference points at, if it is one of this box's media files: a
/// bare stored name (`x.wav`), a `/rwmedia/x.wav` path, or an absolute URL whose origin is
/// `base` (`http://host[:port]`, from `[http] public_url` or the Host header). The name is
/// percent-decoded and must pass [`safe_name`]; anything else is `None`.
pub(super) fn media_name(reference: &str, base: &str) -> Option<String> {
    let reference = reference.trim();
    if reference.is_empty() {
        return None;
    }
    let lower = reference.to_ascii_lowercase();
    let path = if lower.starts_with("http://") || lower.starts_with("https://") {
        let origin = base.trim_end_matches('/');
        let after_origin = reference
            .get(..origin.len())
            .filter(|o| o.eq_ignore_ascii_case(origin))
            .map(|_| &reference[origin.len()..])?;
        after_origin.strip_prefix(PREFIX)?
    } else if let Some(rest) = reference.strip_prefix(PREFIX) {
        rest
    } else if reference.starts_with('/') {
        return None;
    } else {
        return safe_name(reference).then(|| reference.to_string());
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    decode_name(path)
}

/// The stem of a media name with its folder (`demo/x` for `demo/x.orig.wav`): the files of
/// an asset are the file named exactly that or starting with `<stem>.`. `None` for an unsafe
/// name or one without a stem.
pub(super) fn media_stem(name: &str) -> Option<String> {
    if !safe_name(name) {
        return None;
    }
    let rel = Path::new(name);
    let stem = rel.file_stem()?.to_str()?;
    Some(match rel.parent().and_then(Path::to_str) {
        Some(dir) if !dir.is_empty() => format!("{dir}/{stem}"),
        _ => stem.to_string(),
    })
}

/// Whether removing the files of `stem` would remove the file `name`.
pub(super) fn stem_covers(stem: &str, name: &str) -> bool {
    name == stem
        || name
            .strip_prefix(stem)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Removes, for each stem (see [`media_stem`]), every regular file or symlink (never its
/// target) in the stem's folder whose name is the stem or starts with `<stem>.`: the original
/// upload and its `.mp3`/`.wav` renditions; `x` never takes `xy.mp3` or `x1.wav` with it.
/// Hidden files and unsafe stems are skipped; failures are logged and skipped. Returns the
/// removed paths.
pub(super) fn remove_media_files(media_dir: &Path, stems: &[String]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for stem in stems.iter().filter(|s| safe_name(s)) {
        let rel = Path::new(stem);
        let (Some(base), dir) = (
            rel.file_name().and_then(|s| s.to_str()),
            media_dir.join(rel.parent().unwrap_or(Path::new(""))),
        ) else {
            continue;
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) => {
                log::warn!("media files: cannot list {}: {err}", dir.display());
                continue;
            }
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if file_name.starts_with('.') || !stem_covers(base, file_name) {
                continue;
            }
            let is_file = entry
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink());
            if !is_file {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(err) => log::warn!("media files: cannot remove {}: {err}", path.display()),
            }
        }
    }
    removed
}

/// The stems whose files a `delete_binary` removes for the stored references `refs` (asset
/// `file`/`filename`, speaker `uri`): each reference naming one of this box's media files
/// (see [`media_name`]), minus stems covering a name that `still_named(stem)` reports as
/// still stored elsewhere (another asset sharing the file keeps it).
///
/// # Errors
/// Whatever `still_named` fails with.
pub(super) fn stems_to_remove<E>(
    refs: &[Option<&str>],
    base: &str,
    still_named: impl Fn(&str) -> Result<Vec<String>, E>,
) -> Result<Vec<String>, E> {
    let mut stems: Vec<String> = Vec::new();
    for stem in refs
        .iter()
        .flatten()
        .filter_map(|r| media_name(r, base))
        .filter_map(|n| media_stem(&n))
    {
        if stems.contains(&stem) {
            continue;
        }
        if still_named(&stem)?.iter().any(|o| stem_covers(&stem, o)) {
            log::info!("delete_binary: keeping the files of {stem}: another asset names them");
            continue;
        }
        stems.push(stem);
    }
    Ok(stems)
}

/// Removes the files of `stems` on a blocking thread, logging what went.
pub(super) async fn remove_stems(state: &super::AppState, stems: Vec<String>) {
    if stems.is_empty() {
        return;
    }
    let media_dir = state.config.storage.media_dir();
    match tokio::task::spawn_blocking(move || remove_media_files(&media_dir, &stems)).await {
        Ok(removed) => {
            for path in removed {
                log::info!("removed media file {}", path.display());
            }
        }
        Err(err) => log::error!("media file removal task failed: {err}"),
    }
}

/// Percent-encodes a stored media name for a URL path (as Django's `filepath_to_uri`).
fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!*()'".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The absolute URL of a stored media file: `<base>/rwmedia/<name>` (a stored absolute URL is
/// kept as it is).
pub(super) fn media_url(base: &str, name: &str) -> String {
    if name.starts_with("http://") || name.starts_with("https://") {
        name.to_string()
    } else {
        format!(
            "{base}/rwmedia/{}",
            encode_path(name.trim_start_matches('/'))
        )
    }
}

/// Replaces the asset's stored file name with its absolute URL.
pub(super) fn absolutize(asset: &mut crate::store::assets::Asset, base: &str) {
    if let Some(name) = asset.file.take() {
        asset.file = Some(media_url(base, &name));
    }
}

#[cfg(test)]
mod tests {
    use super::{media_name, media_stem, stem_covers};

    #[test]
    fn stored_references_map_to_media_names_of_this_box_only() {
        let base = "http://10.0.0.1:8000";
        assert_eq!(media_name("x.wav", base).as_deref(), Some("x.wav"));
        assert_eq!(
            media_name("/rwmedia/a%20b.mp3", base).as_deref(),
            Some("a b.mp3")
        );
        assert_eq!(
            media_name("http://10.0.0.1:8000/rwmedia/s.mp3?x=1", base).as_deref(),
            Some("s.mp3")
        );
        assert_eq!(media_name("http://example.com/rwmedia/s.mp3", base), None);
        assert_eq!(media_name("http://10.0.0.1:8000/other/s.mp3", base), None);
        assert_eq!(media_name("/rwmedia/%2e%2e/secret", base), None);
        assert_eq!(media_name("../secret", base), None);
        assert_eq!(media_name("/etc/passwd", base), None);
        assert_eq!(media_name("", base), None);
    }

    #[test]
    fn a_stem_covers_its_renditions_and_nothing_longer() {
        assert_eq!(media_stem("x.orig.wav").as_deref(), Some("x.orig"));
        assert_eq!(media_stem("demo/x.wav").as_deref(), Some("demo/x"));
        assert_eq!(media_stem("../x.wav"), None);
        for yes in ["x", "x.mp3", "x.wav", "x.orig.wav"] {
            assert!(stem_covers("x", yes), "{yes}");
        }
        for no in ["xy.mp3", "x1.wav", "x-2.mp3", "y.mp3", ".x.mp3"] {
            assert!(!stem_covers("x", no), "{no}");
        }
    }
}
