//! Backups and restores of the data directory, and the lock that keeps two processes from
//! owning one data directory.
//!
//! `backup`: an online, consistent copy of the database through SQLite's backup API (the
//! daemon keeps serving; readers and the writer are never blocked for long), checked with
//! `quick_check`, plus a copy of `media/`, written under a temporary name, fsynced and renamed,
//! with a `backup.json` manifest. `restore`: refuses while a daemon holds the data directory,
//! refuses to replace existing data without `--force`, checks the backup's integrity and schema
//! version, moves the current data aside (never deletes it), then copies the backup in.
//!
//! Owns: the backup layout, the data-directory lock. May not touch: the running daemon's
//! connections (it opens its own), HTTP.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::config::Config;

/// Name of the database file inside a data directory and inside a backup.
pub const DATABASE_FILE: &str = "roundwared.sqlite3";
/// Name of the media folder inside a data directory and inside a backup.
pub const MEDIA_DIR: &str = "media";
/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "roundwared.lock";
/// Name of the manifest inside a backup.
pub const MANIFEST_FILE: &str = "backup.json";

/// The data directory is held by another process.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "{dir} is in use by another roundwared (pid {holder}); stop it first (`systemctl stop roundwared`)"
    )]
    Held {
        /// The data directory.
        dir: PathBuf,
        /// The pid written in the lock file, or `?`.
        holder: String,
    },
    /// The lock file could not be opened.
    #[error(
        "cannot create {path}: {source} (give the roundwared user write access to the data directory)"
    )]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// An exclusive lock on a data directory (`roundwared.lock`, holding the owner's pid), released
/// when dropped or when the process dies.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

impl DataLock {
    /// Takes the lock without waiting.
    ///
    /// # Errors
    /// [`LockError::Held`] when another process has it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            let holder = fs::read_to_string(&path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "?".into());
            return Err(LockError::Held {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// Why a backup or restore failed; every message names the path and the remedy.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The destination of a backup already exists.
    #[error("{0} already exists; choose a new folder for the backup")]
    DestinationExists(PathBuf),
    /// There is no database to back up.
    #[error("no database at {0}; check [storage] data_dir in the config")]
    NoDatabase(PathBuf),
    /// The folder given to restore is not a roundwared backup.
    #[error("{0} is not a roundwared backup (no {DATABASE_FILE} in it)")]
    NotABackup(PathBuf),
    /// The backup's database is damaged.
    #[error("the database in {path} is damaged ({detail}); use another backup")]
    Damaged {
        /// The backup's database file.
        path: PathBuf,
        /// SQLite's integrity report (first line).
        detail: String,
    },
    /// The backup comes from a newer roundwared.
    #[error(
        "the backup in {path} has schema version {found}, newer than this roundwared ({known}); restore it with that version"
    )]
    Newer {
        /// The backup's database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// This build's version.
        known: i64,
    },
    /// Restoring would replace existing data and `--force` was not given.
    #[error(
        "{0} already holds data; add --force to move it aside (it is kept, renamed *.before-restore-*) and restore"
    )]
    WouldOverwrite(PathBuf),
    /// A daemon is running on the data directory.
    #[error("refusing to restore: {0}")]
    Running(#[from] LockError),
}

/// What a backup or restore copied.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The backup folder.
    pub path: PathBuf,
    /// Schema version of the copied database.
    pub schema_version: i64,
    /// Rows in `assets`.
    pub assets: i64,
    /// Media files copied.
    pub media_files: u64,
    /// Media bytes copied.
    pub media_bytes: u64,
    /// Where a restore moved the previous data (empty for a backup or an empty data dir).
    pub moved_aside: Vec<PathBuf>,
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sql_at(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies the database (online, consistent) and `media/` of `config`'s data directory into
/// the new folder `dest`. Safe while the daemon runs; a file deleted from `media/` during the
/// copy may be missing from the backup.
///
/// # Errors
/// [`BackupError`] naming the file; a failed backup leaves only `DEST.partial` behind.
pub fn backup(config: &Config, dest: &Path) -> Result<Summary, BackupError> {
    let db_path = config.storage.database_path();
    if !db_path.exists() {
        return Err(BackupError::NoDatabase(db_path));
    }
    if dest.exists() {
        return Err(BackupError::DestinationExists(dest.to_path_buf()));
    }
    let tmp = partial_name(dest);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_at(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;

    let src = Connection::open_with_flags(
        &db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_at(&db_path))?;
    src.busy_timeout(Duration::from_secs(10))
        .map_err(sql_at(&db_path))?;
    let tmp_db = tmp.join(DATABASE_FILE);
    {
        let mut dst = Connection::open(&tmp_db).map_err(sql_at(&tmp_db))?;
        rusqlite::backup::Backup::new(&src, &mut dst)
            .and_then(|b| b.run_to_completion(512, Duration::from_millis(2), None))
            .map_err(sql_at(&db_path))?;
        // One self-contained file: no -wal beside it.
        dst.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))
            .map_err(sql_at(&tmp_db))?;
    }
    drop(src);
    let (schema_version, assets) = check_database(&tmp_db)?;
    sync_file(&tmp_db)?;

    let (media_files, media_bytes) =
        copy_tree(&config.storage.media_dir(), &tmp.join(MEDIA_DIR), None)?;
    let manifest = serde_json::json!({
        "roundwared": env!("CARGO_PKG_VERSION"),
        "created_utc": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "source": config.storage.data_dir.display().to_string(),
        "schema_version": schema_version,
        "assets": assets,
        "media_files": media_files,
        "media_bytes": media_bytes,
    });
    let manifest_path = tmp.join(MANIFEST_FILE);
    fs::write(&manifest_path, format!("{manifest:#}\n")).map_err(io_at(&manifest_path))?;
    sync_file(&manifest_path)?;
    sync_dir(&tmp)?;
    fs::rename(&tmp, dest).map_err(io_at(dest))?;
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(Summary {
        path: dest.to_path_buf(),
        schema_version,
        assets,
        media_files,
        media_bytes,
        moved_aside: Vec::new(),
    })
}

/// Replaces `config`'s data with the backup in `src`. Refuses while a daemon runs on the data
/// directory, and refuses to replace existing data unless `force`; the replaced database and
/// media are renamed `*.before-restore-<time>`, never deleted. Files get the data
/// directory's owner (so a restore run as root leaves them usable by the `roundwared` user).
///
/// # Errors
/// [`BackupError`] naming the file and the remedy.
pub fn restore(config: &Config, src: &Path, force: bool) -> Result<Summary, BackupError> {
    let data_dir = &config.storage.data_dir;
    let src_db = src.join(DATABASE_FILE);
    if !src_db.is_file() {
        return Err(BackupError::NotABackup(src.to_path_buf()));
    }
    let (schema_version, assets) = check_database(&src_db)?;
    let _lock = DataLock::acquire(data_dir)?;

    let db_path = config.storage.database_path();
    let media = config.storage.media_dir();
    let media_used = fs::read_dir(&media)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if (db_path.exists() || media_used) && !force {
        return Err(BackupError::WouldOverwrite(data_dir.clone()));
    }
    let dir_meta = fs::metadata(data_dir).map_err(io_at(data_dir))?;
    let owner = (dir_meta.uid(), dir_meta.gid());
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let mut moved_aside = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db_path.display()));
        if from.exists() {
            let to = PathBuf::from(format!(
                "{}.before-restore-{stamp}{suffix}",
                db_path.display()
            ));
            fs::rename(&from, &to).map_err(io_at(&from))?;
            moved_aside.push(to);
        }
    }
    if media.exists() {
        let to = data_dir.join(format!("{MEDIA_DIR}.before-restore-{stamp}"));
        fs::rename(&media, &to).map_err(io_at(&media))?;
        moved_aside.push(to);
    }

    let tmp_db = data_dir.join(format!("{DATABASE_FILE}.restoring"));
    fs::copy(&src_db, &tmp_db).map_err(io_at(&tmp_db))?;
    chown_like(&tmp_db, owner)?;
    sync_file(&tmp_db)?;
    let tmp_media = data_dir.join(format!("{MEDIA_DIR}.restoring"));
    if tmp_media.exists() {
        fs::remove_dir_all(&tmp_media).map_err(io_at(&tmp_media))?;
    }
    let (media_files, media_bytes) = copy_tree(&src.join(MEDIA_DIR), &tmp_media, Some(owner))?;
    fs::rename(&tmp_media, &media).map_err(io_at(&media))?;
    fs::rename(&tmp_db, &db_path).map_err(io_at(&db_path))?;
    sync_dir(data_dir)?;
    Ok(Summary {
        path: src.to_path_buf(),
        schema_version,
        assets,
        media_files,
        media_bytes,
        moved_aside,
    })
}

/// Integrity and schema version of a database file; returns (schema version, asset rows).
fn check_database(path: &Path) -> Result<(i64, i64), BackupError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql_at(path))?;
    let damaged = |detail: String| BackupError::Damaged {
        path: path.to_path_buf(),
        detail,
    };
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| damaged(e.to_string()))?;
    if check != "ok" {
        return Err(damaged(check));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql_at(path))?;
    let known = crate::store::schema_version();
    if version > known {
        return Err(BackupError::Newer {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    let assets = conn
        .query_row("SELECT count(*) FROM assets", [], |r| r.get(0))
        .unwrap_or(0);
    Ok((version, assets))
}

/// Copies every regular file under `from` (skipping the uploader's `.upload-*.tmp` files) to
/// `to`, fsyncing each; returns (files, bytes). A missing `from` copies nothing.
fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) -> Result<(u64, u64), BackupError> {
    fs::create_dir_all(to).map_err(io_at(to))?;
    if let Some(o) = owner {
        chown_like(to, o)?;
    }
    let (mut files, mut bytes) = (0, 0);
    let entries = match fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(io_at(from)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_at(from))?;
        let name = entry.file_name();
        let src = entry.path();
        let dst = to.join(&name);
        let kind = entry.file_type().map_err(io_at(&src))?;
        if kind.is_dir() {
            let (f, b) = copy_tree(&src, &dst, owner)?;
            files += f;
            bytes += b;
        } else if kind.is_file() {
            let n = name.to_string_lossy();
            if n.starts_with(".upload-") && n.ends_with(".tmp") {
                continue;
            }
            bytes += fs::copy(&src, &dst).map_err(io_at(&src))?;
            if let Some(o) = owner {
                chown_like(&dst, o)?;
            }
            sync_file(&dst)?;
            files += 1;
        }
    }
    sync_dir(to)?;
    Ok((files, bytes))
}

fn chown_like(path: &Path, (uid, gid): (u32, u32)) -> Result<(), BackupError> {
    let meta = fs::metadata(path).map_err(io_at(path))?;
    if meta.uid() == uid && meta.gid() == gid {
        return Ok(());
    }
    // Only root may give files away; anyone else restores as the owner already.
    match std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
        r => r.map_err(io_at(path)),
    }
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_at(path))
}

fn sync_dir(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_at(path))
}

fn partial_name(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
