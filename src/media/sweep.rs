//! The start-up sweep of the media folder: what a SIGKILL or a power cut left behind.
//! [`super::files`] writes through hidden `.upload-*.tmp` files, claims names with empty
//! placeholders and renames renditions into place before the database row commits; the guard
//! that removes them on failure cannot run when the process dies. At start, before serving,
//! every temporary file and every file whose stem no asset, speaker or project row names is
//! removed, if it is older than [`MIN_AGE`] (so a live upload is never raced).
//!
//! Owns: deciding what is a leftover and removing it. May not touch: rows (it only reads names).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::files::{TEMP_PREFIX, TEMP_SUFFIX};

/// Files younger than this are never swept.
pub const MIN_AGE: Duration = Duration::from_secs(60);

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Temporary files removed.
    pub temp_files: usize,
    /// Files no row names, removed.
    pub orphans: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Files left in place (named by a row, too young, or not ours).
    pub kept: usize,
}

/// The stem of a stored media name, a `/rwmedia/` path or a URL: the last path segment up to
/// its first dot (every file of one asset is `<stem>.*`).
pub fn stem_of(name: &str) -> &str {
    let name = name.split(['?', '#']).next().unwrap_or(name);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split('.').next().unwrap_or(last)
}

/// Removes leftovers from `dir`: temporary files, and files whose stem is not in `named`,
/// when they were last modified at least `min_age` before `now`. Only regular files are
/// touched; hidden files other than temporary ones are kept.
///
/// # Errors
/// The folder cannot be read (single files that cannot be removed are logged and kept).
pub fn sweep(
    dir: &Path,
    named: &HashSet<String>,
    now: SystemTime,
    min_age: Duration,
) -> std::io::Result<SweepReport> {
    let mut report = SweepReport::default();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let old_enough = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= min_age);
        let temp = name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX);
        let orphan = !name.starts_with('.') && !named.contains(stem_of(&name));
        if !meta.is_file() || !old_enough || !(temp || orphan) {
            report.kept += 1;
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => {
                report.bytes += meta.len();
                if temp {
                    report.temp_files += 1;
                } else {
                    report.orphans += 1;
                }
            }
            Err(e) => {
                log::warn!("media sweep: cannot remove {}: {e}", entry.path().display());
                report.kept += 1;
            }
        }
    }
    Ok(report)
}

/// Sweeps `dir` with the names the database holds, on a blocking thread, and logs one line.
/// A failure is logged and the daemon starts anyway.
pub async fn at_start(store: &crate::store::Store, dir: &Path) {
    let names = match store.read(crate::store::uploads::media_names).await {
        Ok(names) => names,
        Err(e) => {
            log::warn!("media sweep skipped: cannot read media names: {e}");
            return;
        }
    };
    let named: HashSet<String> = names.iter().map(|n| stem_of(n).to_owned()).collect();
    let folder = dir.to_path_buf();
    let result =
        tokio::task::spawn_blocking(move || sweep(&folder, &named, SystemTime::now(), MIN_AGE))
            .await;
    match result {
        Ok(Ok(r)) => log::info!(
            "media sweep at start: removed {} temporary and {} orphaned files, {:.1} MB freed; {} files kept",
            r.temp_files,
            r.orphans,
            r.bytes as f64 / 1e6,
            r.kept
        ),
        Ok(Err(e)) => log::warn!("media sweep skipped: cannot read {}: {e}", dir.display()),
        Err(e) => log::warn!("media sweep failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_come_from_names_paths_and_urls() {
        assert_eq!(
            stem_of("20261206-141458-633.pcm.wav"),
            "20261206-141458-633"
        );
        assert_eq!(
            stem_of("/rwmedia/speaker-project1-bed-20260101-000000.mp3"),
            "speaker-project1-bed-20260101-000000"
        );
        assert_eq!(stem_of("http://box:8888/rwmedia/a_0.mp3?x=1"), "a_0");
        assert_eq!(stem_of("plain"), "plain");
    }

    #[test]
    fn old_leftovers_go_and_named_young_hidden_and_foreign_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write =
            |name: &str, bytes: usize| std::fs::write(d.join(name), vec![1u8; bytes]).unwrap();
        write("keep.wav", 10);
        write("keep.mp3", 10);
        write("orphan.wav", 0);
        write("orphan.mp3", 100);
        write(".upload-1-2.tmp", 1000);
        write(".hidden", 5);
        std::fs::create_dir(d.join("sub")).unwrap();
        let named: HashSet<String> = ["keep".to_owned()].into();
        // Everything is "young" right now: nothing goes.
        let young = sweep(d, &named, SystemTime::now(), MIN_AGE).unwrap();
        assert_eq!((young.temp_files, young.orphans), (0, 0));
        // Two minutes later the leftovers go.
        let later = SystemTime::now() + Duration::from_secs(120);
        let r = sweep(d, &named, later, MIN_AGE).unwrap();
        assert_eq!((r.temp_files, r.orphans, r.bytes), (1, 2, 1100));
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".hidden", "keep.mp3", "keep.wav", "sub"]);
    }
}
