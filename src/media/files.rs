//! Durable, race-free media files. Every file is written to a hidden temporary name in the
//! media folder ([`TempFile`], `.upload-<pid>-<random>.tmp`), fsynced, renamed into place and
//! the folder fsynced, so a name never shows a half-written file. Names are made here only
//! (never from a client's path): a base such as `<YYYYmmdd-HHMMSS>-<session_id>` gets `_0`,
//! `_1`, … until every name of the set can be claimed with `create_new`, which keeps parallel
//! uploads into one envelope apart. [`Written`] deletes what it wrote unless disarmed after the
//! database commit; what a crash leaves behind is swept at the next start ([`super::sweep`]).
//!
//! Removal of a stored resource's files is here too, in one routine every caller uses
//! ([`remove_stems`]: asset and speaker `delete_binary`, a re-filed upload): the files of a
//! stem are the original and its renditions, `<stem>` and `<stem>.*` ([`media_stem`],
//! [`stem_covers`]); only files inside the media folder, by names that pass [`safe_name`], are
//! ever removed.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Prefix and suffix of temporary names (hidden, never served, skipped by backups).
pub(crate) const TEMP_PREFIX: &str = ".upload-";
/// See [`TEMP_PREFIX`].
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// How many `_N` suffixes are tried before giving up.
const MAX_SUFFIX: usize = 10_000;

/// `YYYYmmdd-HHMMSS` of now (UTC), the reference's storage-name timestamp.
pub(crate) fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string()
}

/// A client file name reduced to a safe stem for speaker names: the last path component
/// without its extension, spaces as `_`, only ASCII letters, digits, `-` and `_` kept, at most
/// 40 characters; `file` when nothing is left.
pub(crate) fn safe_stem(client_name: Option<&str>) -> String {
    let name = client_name.unwrap_or("");
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = match last.rfind('.') {
        Some(i) if i > 0 => &last[..i],
        _ => last,
    };
    let cleaned: String = stem
        .chars()
        .map(|c| if c == ' ' { '_' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(40)
        .collect();
    let cleaned = cleaned.trim_matches(['-', '_']).to_string();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// Longest accepted media name, in bytes.
const MAX_NAME_BYTES: usize = 1024;

/// Whether a media name is a plain relative path of visible names: no empty, `.`, `..` or
/// hidden segment, no leading `/`, no backslash, NUL or control character.
pub(crate) fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name.chars().any(|c| c == '\\' || c.is_control())
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.'))
}

/// The stem of a media name with its folder (`demo/x` for `demo/x.orig.wav`): the files of
/// an asset are the file named exactly that or starting with `<stem>.`. `None` for an unsafe
/// name or one without a stem.
pub(crate) fn media_stem(name: &str) -> Option<String> {
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
pub(crate) fn stem_covers(stem: &str, name: &str) -> bool {
    name == stem
        || name
            .strip_prefix(stem)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Removes, for each stem (see [`media_stem`]), every regular file or symlink (never its
/// target) in the stem's folder under `media_dir` whose name is the stem or starts with
/// `<stem>.`: the original upload and its `.mp3`/`.wav` renditions; `x` never takes `xy.mp3`
/// or `x1.wav` with it. Hidden files and unsafe stems are skipped; failures are logged and
/// skipped. Returns the removed paths. Blocking: see [`remove_stems`].
pub(crate) fn remove_media_files(media_dir: &Path, stems: &[String]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for stem in stems {
        for path in files_of_stem(media_dir, stem) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(err) => log::warn!("media files: cannot remove {}: {err}", path.display()),
            }
        }
    }
    removed
}

/// The files of `stem` under `media_dir` (the stem itself or `<stem>.…`; regular files and
/// symlinks, never hidden ones): the original upload and its renditions. Empty for an unsafe
/// stem; a folder that cannot be listed is logged. Blocking.
pub(crate) fn files_of_stem(media_dir: &Path, stem: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if !safe_name(stem) {
        return found;
    }
    let rel = Path::new(stem);
    let (Some(base), dir) = (
        rel.file_name().and_then(|s| s.to_str()),
        media_dir.join(rel.parent().unwrap_or(Path::new(""))),
    ) else {
        return found;
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) => {
            log::warn!("media files: cannot list {}: {err}", dir.display());
            return found;
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
        if is_file {
            found.push(entry.path());
        }
    }
    found.sort();
    found
}

/// Removes the files of `stems` under `media_dir` ([`remove_media_files`]) on a blocking
/// thread, logging what went: the one way a stored resource's media files are deleted.
pub(crate) async fn remove_stems(media_dir: &Path, stems: Vec<String>) {
    if stems.is_empty() {
        return;
    }
    let media_dir = media_dir.to_path_buf();
    match tokio::task::spawn_blocking(move || remove_media_files(&media_dir, &stems)).await {
        Ok(removed) => {
            for path in removed {
                log::info!("removed media file {}", path.display());
            }
        }
        Err(err) => log::error!("media file removal task failed: {err}"),
    }
}

/// Files written for one request; removed on drop unless [`Written::keep`] was called.
#[derive(Debug, Default)]
pub(crate) struct Written {
    paths: Vec<PathBuf>,
    armed: bool,
}

impl Written {
    /// Keeps the files (call after the database row that names them has committed).
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        if self.armed {
            for p in &self.paths {
                if let Err(e) = std::fs::remove_file(p)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    log::warn!("cannot remove {}: {e}", p.display());
                }
            }
        }
    }
}

/// A hidden temporary file in a media folder; removed on drop unless it was renamed into
/// place by [`commit_set`].
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    /// Creates an empty temporary file in `dir` (never an existing name).
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(format!(
            "{TEMP_PREFIX}{}-{}{TEMP_SUFFIX}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            file,
            persisted: false,
        })
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (read and write).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Its size in bytes.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn len_bytes(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Flushes it to disk and renames it to `path` (in the same folder), replacing what is
    /// there: the file appears whole or not at all.
    ///
    /// # Errors
    /// I/O failures (the temporary file is then removed).
    pub(crate) fn persist_as(mut self, path: &Path) -> std::io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.path, path)?;
        self.persisted = true;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!("cannot remove {}: {e}", self.path.display());
        }
    }
}

/// Writes `outputs` (suffix such as `.mp3` or `.pcm.wav`, bytes) into `dir` under one stem
/// made from `base`; returns the stem chosen and the guard owning the files.
///
/// # Errors
/// I/O failures (the partial set is removed), or no free name after many tries.
#[cfg(test)]
pub(crate) fn write_set(
    dir: &Path,
    base: &str,
    outputs: &[(&str, &[u8])],
) -> std::io::Result<(String, Written)> {
    let mut temps = Vec::with_capacity(outputs.len());
    for (suffix, bytes) in outputs {
        let tmp = TempFile::create(dir)?;
        std::io::Write::write_all(&mut &tmp.file, bytes)?;
        temps.push((*suffix, tmp));
    }
    commit_set(dir, base, temps)
}

/// Moves finished temporary files into place under one stem made from `base`: each is
/// fsynced, the names are claimed, each file is renamed onto its name and the folder is
/// fsynced. Returns the stem chosen and the guard owning the files.
///
/// # Errors
/// I/O failures (nothing is left behind), or no free name after many tries.
pub(crate) fn commit_set(
    dir: &Path,
    base: &str,
    outputs: Vec<(&str, TempFile)>,
) -> std::io::Result<(String, Written)> {
    for (_, tmp) in &outputs {
        tmp.file.sync_all()?;
    }
    let (stem, mut written) = reserve(dir, base, outputs.iter().map(|(s, _)| *s))?;
    written.armed = true;
    for ((_, mut tmp), path) in outputs.into_iter().zip(written.paths.clone()) {
        std::fs::rename(&tmp.path, &path)?;
        tmp.persisted = true;
    }
    sync_dir(dir)?;
    Ok((stem, written))
}

/// Claims `<stem><suffix>` for every suffix with `create_new` (empty placeholders).
fn reserve<'a>(
    dir: &Path,
    base: &str,
    suffixes: impl Iterator<Item = &'a str> + Clone,
) -> std::io::Result<(String, Written)> {
    for n in 0..=MAX_SUFFIX {
        let stem = if n == 0 {
            base.to_string()
        } else {
            format!("{base}_{}", n - 1)
        };
        // Claim in a fixed (sorted) order so that racing requests back off quickly.
        let mut names: Vec<(usize, PathBuf)> = suffixes
            .clone()
            .enumerate()
            .map(|(i, s)| (i, dir.join(format!("{stem}{s}"))))
            .collect();
        names.sort_by(|a, b| a.1.cmp(&b.1));
        let mut claimed = Written {
            paths: Vec::new(),
            armed: true,
        };
        let mut clash = false;
        for (_, path) in &names {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(_) => claimed.paths.push(path.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    clash = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if clash {
            continue; // `claimed` drops and removes its placeholders
        }
        claimed.armed = false;
        names.sort_by_key(|(i, _)| *i);
        return Ok((
            stem,
            Written {
                paths: names.into_iter().map(|(_, p)| p).collect(),
                armed: false,
            },
        ));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("no free media name for {base}"),
    ))
}

/// Fsyncs a directory so renames in it survive a power cut.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_never_leave_the_folder() {
        assert_eq!(safe_stem(Some("../../etc/passwd")), "passwd");
        assert_eq!(safe_stem(Some("C:\\x\\my bed.mp3")), "my_bed");
        assert_eq!(safe_stem(Some("..")), "file");
        assert_eq!(safe_stem(Some("ocean 🌊 waves.wav")), "ocean__waves");
        assert_eq!(safe_stem(None), "file");
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

    #[tokio::test]
    async fn removing_a_stem_takes_its_renditions_and_leaves_its_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "s.wav",
            "s.mp3",
            "s.orig.m4a",
            "s_0.mp3",
            "sx.mp3",
            ".s.tmp",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove_stems(dir.path(), vec!["s".into(), "../s".into()]).await;
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".s.tmp", "s_0.mp3", "sx.mp3"]);
    }

    #[test]
    fn a_taken_stem_moves_to_the_next_suffix_and_a_dropped_set_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, wa) = write_set(dir.path(), "s", &[(".wav", b"1"), (".mp3", b"2")]).unwrap();
        let (b, wb) = write_set(dir.path(), "s", &[(".m4a", b"3"), (".mp3", b"4")]).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("s", "s_0"));
        assert_eq!(std::fs::read(dir.path().join("s.mp3")).unwrap(), b"2");
        assert_eq!(std::fs::read(dir.path().join("s_0.mp3")).unwrap(), b"4");
        wa.keep();
        drop(wb);
        assert!(!dir.path().join("s_0.mp3").exists());
        assert!(!dir.path().join("s_0.m4a").exists());
        assert!(dir.path().join("s.wav").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary files remain");
    }
}
