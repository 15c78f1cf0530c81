//! Media files as the API sees them: the absolute URL of a stored name ([`media_url`],
//! [`absolutize`]), and for `delete_binary` of asset and speaker DELETE, which media files a
//! stored reference (asset `file`/`filename`, speaker `uri`, possibly a URL) names
//! ([`stems_to_remove`]). Files another asset still names are kept; the removal itself is
//! [`crate::media::files::remove_stems`], the one routine every deletion goes through.

use super::media::{PREFIX, decode_name};
use crate::media::files::{media_stem, safe_name, stem_covers};

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
    use super::media_name;

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
}
