//! The start-up sweep of the media folder: what a SIGKILL or a power cut left behind.
//! [`super::files`] writes through hidden `.upload-*.tmp` files, claims names with empty
//! placeholders and renames renditions into place before the database row commits; the guard
//! that removes them on failure cannot run when the process dies. At start, before serving,
//! every temporary file and every file whose stem no asset, speaker or project row names is
//! removed, if it is older than [`MIN_AGE`] (so a live upload is never raced). Leftovers that
//! are younger (systemd restarts the daemon 2 s after a crash) are swept once they are a
//! minute old, by name: files this process creates after start are never touched, and names
//! claimed since by a row are kept.
//!
//! Owns: deciding what is a leftover and removing it. May not touch: rows (it only reads names).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::files::{TEMP_PREFIX, TEMP_SUFFIX};

/// Files younger than this are never swept.
pub(crate) const MIN_AGE: Duration = Duration::from_secs(60);

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SweepReport {
    /// Temporary files removed.
    pub temp_files: usize,
    /// Files no row names, removed.
    pub orphans: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Files left in place (named by a row, too young, or not ours).
    pub kept: usize,
    /// Leftovers kept only because they are younger than the minimum age.
    pub young: Vec<String>,
}

/// The stem of a stored media name, a `/rwmedia/` path or a URL: the last path segment up to
/// its first dot (every file of one asset is `<stem>.*`).
pub(crate) fn stem_of(name: &str) -> &str {
    let name = name.split(['?', '#']).next().unwrap_or(name);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split('.').next().unwrap_or(last)
}

/// Removes leftovers from `dir`: temporary files, and files whose stem is not in `named`,
/// when they were last modified at least `min_age` before `now`; with `only`, just the files
/// of those names. Only regular files are touched; hidden files other than temporary ones
/// are kept.
///
/// # Errors
/// The folder cannot be read (single files that cannot be removed are logged and kept).
pub(crate) fn sweep(
    dir: &Path,
    named: &HashSet<String>,
    now: SystemTime,
    min_age: Duration,
    only: Option<&HashSet<String>>,
) -> std::io::Result<SweepReport> {
    let mut report = SweepReport::default();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if only.is_some_and(|o| !o.contains(&name)) {
            continue;
        }
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
            if meta.is_file() && (temp || orphan) {
                report.young.push(name);
            }
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

/// Sweeps `dir` with the names the database holds, on a blocking thread, and logs one line;
/// leftovers too young to go now are swept by name once they are [`MIN_AGE`] old, from a
/// background task. A failure is logged and the daemon starts anyway.
pub(crate) async fn at_start(store: &crate::store::Store, dir: &Path) {
    let Some(report) = sweep_now(store, dir, None).await else {
        return;
    };
    log_report("media sweep at start", &report);
    if report.young.is_empty() {
        return;
    }
    let (store, dir) = (store.clone(), dir.to_path_buf());
    let young: HashSet<String> = report.young.into_iter().collect();
    tokio::spawn(async move {
        tokio::time::sleep(MIN_AGE + Duration::from_secs(1)).await;
        if let Some(r) = sweep_now(&store, &dir, Some(young)).await {
            log_report("media sweep of the leftovers young at start", &r);
        }
    });
}

/// One sweep with the names read from the store now.
async fn sweep_now(
    store: &crate::store::Store,
    dir: &Path,
    only: Option<HashSet<String>>,
) -> Option<SweepReport> {
    let names = match store.read(crate::store::uploads::media_names).await {
        Ok(names) => names,
        Err(e) => {
            log::warn!("media sweep skipped: cannot read media names: {e}");
            return None;
        }
    };
    let named: HashSet<String> = names.iter().map(|n| stem_of(n).to_owned()).collect();
    let folder = dir.to_path_buf();
    let result = tokio::task::spawn_blocking(move || {
        sweep(&folder, &named, SystemTime::now(), MIN_AGE, only.as_ref())
    })
    .await;
    match result {
        Ok(Ok(r)) => Some(r),
        Ok(Err(e)) => {
            log::warn!("media sweep skipped: cannot read {}: {e}", dir.display());
            None
        }
        Err(e) => {
            log::warn!("media sweep failed: {e}");
            None
        }
    }
}

fn log_report(what: &str, r: &SweepReport) {
    log::info!(
        "{what}: removed {} temporary and {} orphaned files, {:.1} MB freed; {} files kept ({} leftovers younger than {} s, swept later)",
        r.temp_files,
        r.orphans,
        r.bytes as f64 / 1e6,
        r.kept,
        r.young.len(),
        MIN_AGE.as_secs()
    );
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
        // Everything is "young" right now: nothing goes, the leftovers are listed.
        let young = sweep(d, &named, SystemTime::now(), MIN_AGE, None).unwrap();
        assert_eq!((young.temp_files, young.orphans), (0, 0));
        let mut listed = young.young;
        listed.sort();
        assert_eq!(listed, [".upload-1-2.tmp", "orphan.mp3", "orphan.wav"]);
        // Two minutes later the leftovers go.
        let later = SystemTime::now() + Duration::from_secs(120);
        let r = sweep(d, &named, later, MIN_AGE, None).unwrap();
        assert_eq!((r.temp_files, r.orphans, r.bytes), (1, 2, 1100));
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".hidden", "keep.mp3", "keep.wav", "sub"]);
    }

    #[test]
    fn the_later_sweep_touches_only_the_names_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["left-at-crash.wav", "made-since.wav", ".upload-9-9.tmp"] {
            std::fs::write(d.join(name), b"x").unwrap();
        }
        let only: HashSet<String> =
            ["left-at-crash.wav".to_owned(), ".upload-9-9.tmp".to_owned()].into();
        let later = SystemTime::now() + Duration::from_secs(120);
        let r = sweep(d, &HashSet::new(), later, MIN_AGE, Some(&only)).unwrap();
        assert_eq!((r.temp_files, r.orphans), (1, 1));
        assert!(d.join("made-since.wav").exists(), "not on the list: kept");
    }
}
