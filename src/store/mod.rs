//! The SQLite store: owns every database connection, applies the embedded migrations, and
//! exposes an async [`Store`] handle whose closures run on dedicated threads, never on the
//! async runtime.
//!
//! One writer thread serialises every write (SQLite allows one writer); a few reader threads
//! serve reads concurrently (WAL lets readers run beside the writer). After each successful
//! write the catalog revision is bumped, so caches and the stream engine can notice changes.
//!
//! Owns: connections, schema, SQL. May not touch: HTTP types, audio, the conductor.

pub(crate) mod loc;
pub(crate) mod params;
pub(crate) mod sql;
pub(crate) mod table;
pub(crate) mod time;

pub(crate) mod assets;
pub(crate) mod audiotracks;
pub mod catalog;
pub(crate) mod channels;
pub(crate) mod envelopes;
pub(crate) mod events;
pub(crate) mod eventstreams;
pub(crate) mod fleet;
pub(crate) mod floorplans;
pub(crate) mod languages;
pub(crate) mod listenevents;
pub(crate) mod outbox;
pub(crate) mod owners;
pub(crate) mod projectgroups;
pub(crate) mod projects;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod speakers;
pub(crate) mod tags;
pub(crate) mod timedassets;
pub(crate) mod uielements;
pub(crate) mod uigroups;
pub(crate) mod uploads;
pub mod users;
pub(crate) mod votes;

pub(crate) use params::{Given, Kind, Param, Queried, Test};
pub(crate) use table::{Editable, Filter, Filtered, Table};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot, watch};

pub(crate) use outbox::Change;

/// How many committed changes wait for slow event consumers before they fall back to reading
/// the outbox table.
const CHANGE_QUEUE: usize = 1024;

/// How the store is opened.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Write every change of an object to the outbox in its transaction (`[events] enabled`).
    pub events: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { events: true }
    }
}

/// Embedded migrations, applied in order and tracked with `PRAGMA user_version`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_owners.sql"),
    include_str!("migrations/0003_events.sql"),
    include_str!("migrations/0004_settings.sql"),
    include_str!("migrations/0005_floorplans.sql"),
    include_str!("migrations/0006_channels.sql"),
    include_str!("migrations/0007_fleet.sql"),
    include_str!("migrations/0008_imports.sql"),
    include_str!("migrations/0009_central_push.sql"),
];

/// The schema version this build creates and understands (`PRAGMA user_version`).
pub(crate) fn schema_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// How many reader threads (and connections) serve reads.
const READERS: usize = 3;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// The kind of row, e.g. `session`.
        what: &'static str,
        /// The id that was asked for.
        id: i64,
    },
    /// A write would break a rule the database enforces (a reference to a missing row, a
    /// duplicate unique value); the message names the field.
    #[error("{field}: {message}")]
    Conflict {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A row may not be deleted while something still depends on it; the message says what.
    #[error("{0}")]
    InUse(String),
    /// SQLite itself failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database could not be opened or migrated.
    #[error("cannot open database {path}: {message}")]
    Open {
        /// Database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The store threads have stopped (the daemon is shutting down).
    #[error("the store is shut down")]
    Closed,
}

impl StoreError {
    /// The message of a constraint SQLite enforced (a reference or uniqueness the input
    /// checks did not catch), if that is what failed.
    pub fn constraint_violation(&self) -> Option<String> {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, msg))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Some(msg.clone().unwrap_or_else(|| "constraint failed".into()))
            }
            _ => None,
        }
    }

    /// Shorthand for [`StoreError::NotFound`].
    pub fn not_found(what: &'static str, id: i64) -> Self {
        Self::NotFound { what, id }
    }

    /// Shorthand for [`StoreError::Conflict`].
    pub fn conflict(field: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            field,
            message: message.into(),
        }
    }
}

/// Result of a store operation.
pub(crate) type StoreResult<T> = Result<T, StoreError>;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Cheap-to-clone handle to the store threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: crossbeam_channel::Sender<Job>,
    readers: crossbeam_channel::Sender<Job>,
    revision: watch::Sender<u64>,
    path: PathBuf,
    /// Unix seconds of the last write refused with `SQLITE_FULL`, 0 after a write succeeds.
    disk_full_since_s: std::sync::atomic::AtomicU64,
    /// Changes are captured into the outbox.
    events: bool,
    /// Every committed change, as it is committed.
    changes: broadcast::Sender<Arc<Change>>,
}

impl StoreError {
    /// True when SQLite refused the write because the disk (or the database's page limit)
    /// is full: `SQLITE_FULL`.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, applies migrations and starts the
    /// store threads.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened, is not a roundwared database, or a
    /// migration fails.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, StoreOptions::default())
    }

    /// [`Store::open`] with options.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(path: &Path, options: StoreOptions) -> StoreResult<Self> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_path_buf(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let mut writer = open_connection(path).map_err(|e| open_err(e.to_string()))?;
        migrate(&mut writer).map_err(open_err)?;
        if options.events {
            outbox::install_capture(&writer)?;
        }

        let (wtx, wrx) = crossbeam_channel::unbounded::<Job>();
        spawn_worker("store-writer", writer, wrx)?;
        let (rtx, rrx) = crossbeam_channel::unbounded::<Job>();
        for n in 0..READERS {
            let conn = open_connection(path).map_err(|e| open_err(e.to_string()))?;
            conn.pragma_update(None, "query_only", true)?;
            spawn_worker(&format!("store-reader-{n}"), conn, rrx.clone())?;
        }
        let (revision, _) = watch::channel(0);
        let (changes, _) = broadcast::channel(CHANGE_QUEUE);
        Ok(Self {
            inner: Arc::new(Inner {
                writer: wtx,
                readers: rtx,
                revision,
                path: path.to_path_buf(),
                disk_full_since_s: std::sync::atomic::AtomicU64::new(0),
                events: options.events,
                changes,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs a read-only closure on a reader connection.
    ///
    /// # Errors
    /// Whatever the closure returns, or [`StoreError::Closed`].
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        run(&self.inner.readers, move |conn| f(conn)).await
    }

    /// Runs a closure inside one transaction on the writer connection; commits if it returns
    /// `Ok`, rolls back otherwise, and bumps the revision after a commit. The changes it made
    /// to objects go to the outbox in the same transaction and to
    /// [`Store::subscribe_changes`] after the commit.
    ///
    /// # Errors
    /// Whatever the closure returns, or a commit failure, or [`StoreError::Closed`].
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write_as(true, f).await
    }

    /// [`Store::write`] for the store's own bookkeeping (event stream cursors, retention):
    /// the revision stays, so caches and the engine do not reload for it.
    ///
    /// # Errors
    /// As [`Store::write`].
    pub(crate) async fn write_quiet<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write_as(false, f).await
    }

    async fn write_as<T, F>(&self, bump: bool, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        run(&self.inner.writer, move |conn| {
            let result = (|| -> StoreResult<(T, Vec<Arc<Change>>)> {
                // Whatever an earlier job left noted (it panicked) is not this one's.
                outbox::discard();
                // IMMEDIATE: the write lock is taken at the start, waiting (busy_timeout) for
                // another process's write (a `roundwared user add` beside the daemon). A
                // deferred transaction that read first would fail at once with "database is
                // locked" if the other wrote meanwhile.
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let value = f(&tx)?;
                let changes = if inner.events {
                    outbox::flush(&tx, time::now_ms())?
                } else {
                    Vec::new()
                };
                tx.commit()?;
                Ok((value, changes))
            })();
            let full = &inner.disk_full_since_s;
            match result {
                Ok((value, changes)) => {
                    full.store(0, std::sync::atomic::Ordering::Relaxed);
                    // Bumped on the writer thread right after the commit, so the revision
                    // moves even when the request that asked for the write was cancelled while
                    // waiting (a client that disconnects must not leave caches serving
                    // pre-write data).
                    if bump {
                        inner.revision.send_modify(|r| *r += 1);
                    }
                    for change in changes {
                        // No receiver (no consumer connected) is fine: the outbox has it.
                        let _ = inner.changes.send(change);
                    }
                    Ok(value)
                }
                Err(e) => {
                    outbox::discard();
                    if e.is_disk_full() {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(1, |d| d.as_secs().max(1));
                        if full.swap(now, std::sync::atomic::Ordering::Relaxed) == 0 {
                            log::warn!(
                                "the database refused a write: the disk is full (SQLITE_FULL)"
                            );
                        }
                    }
                    Err(e)
                }
            }
        })
        .await
    }

    /// True when changes are written to the outbox (`[events] enabled`).
    pub(crate) fn events_enabled(&self) -> bool {
        self.inner.events
    }

    /// Every change committed from now on, in commit order. A receiver that falls more than
    /// the queue behind is told it lagged and reads the rest from the outbox.
    pub(crate) fn subscribe_changes(&self) -> broadcast::Receiver<Arc<Change>> {
        self.inner.changes.subscribe()
    }

    /// A round trip through the writer thread (taking and releasing the write lock, no
    /// revision bump) and one reader thread (reading the schema): proves the store threads and
    /// the database file answer.
    ///
    /// # Errors
    /// [`StoreError::Closed`] or the reader's SQLite error.
    pub async fn ping(&self) -> StoreResult<()> {
        // Takes (and gives back) the write lock: proves the file is writable by us right now.
        run(&self.inner.writer, |c| {
            c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            Ok(())
        })
        .await?;
        run(&self.inner.readers, |c| {
            c.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Copies the WAL back into the database file and truncates it (at shutdown, so the file
    /// alone is complete). Every commit is already durable before this.
    ///
    /// # Errors
    /// [`StoreError::Closed`] or SQLite's error.
    pub async fn checkpoint(&self) -> StoreResult<()> {
        run(&self.inner.writer, |c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// When the last write was refused because the disk is full (`SQLITE_FULL`); `None` once a
    /// write has succeeded since.
    pub fn disk_full_since(&self) -> Option<std::time::SystemTime> {
        match self
            .inner
            .disk_full_since_s
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            s => Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)),
        }
    }

    /// The catalog revision: it changes after every committed write.
    pub fn revision(&self) -> u64 {
        *self.inner.revision.borrow()
    }

    /// A receiver that wakes whenever the revision changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.revision.subscribe()
    }
}

async fn run<T, F>(queue: &crossbeam_channel::Sender<Job>, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        // The receiver may have gone (request cancelled); nothing to do then.
        let _ = tx.send(f(conn));
    });
    queue.send(job).map_err(|_| StoreError::Closed)?;
    rx.await.map_err(|_| StoreError::Closed)?
}

fn spawn_worker(
    name: &str,
    mut conn: Connection,
    jobs: crossbeam_channel::Receiver<Job>,
) -> StoreResult<()> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            // Ends when every Store handle (and so every sender) is dropped.
            while let Ok(job) = jobs.recv() {
                // A panicking job (a bug) must not take the store down with it: the caller
                // sees its reply channel close, and the thread serves the next job.
                let run = std::panic::AssertUnwindSafe(|| job(&mut conn));
                if std::panic::catch_unwind(run).is_err() {
                    log::error!("a database job panicked; the store carries on");
                }
            }
        })
        .map(|_| ())
        .map_err(|e| StoreError::Open {
            path: PathBuf::from(name),
            message: e.to_string(),
        })
}

/// Opens one connection with the daemon's pragmas.
fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL: readers never block the writer. synchronous=FULL: an acknowledged write survives a
    // power cut (an SD card in a gallery loses power often).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), String> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| e.to_string())?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > known {
        return Err(format!(
            "database schema version {version} is newer than this roundwared ({known}); \
             refusing to touch it"
        ));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .map_err(|e| format!("migration {}: {e}", index + 1))?;
        tx.pragma_update(None, "user_version", index + 1)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        log::info!("database migrated to schema version {}", index + 1);
    }
    Ok(())
}

/// A fresh in-memory database with the schema applied, for unit tests of modules that read
/// the store directly.
#[cfg(test)]
pub(crate) fn migrated_in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory database");
    conn.pragma_update(None, "foreign_keys", true)
        .expect("foreign keys on");
    migrate(&mut conn).expect("migrations apply");
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_database_has_english_as_language_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        let code: String = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT language_code FROM languages WHERE id = 1",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(code, "en");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_process_writing_beside_the_daemon_waits_for_it_instead_of_failing() {
        // Two stores on one file, as the daemon and `roundwared user add`. The second reads,
        // then the first writes while the second is still in its transaction: the second's
        // write must wait for the first, not fail with "database is locked".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let (daemon, cli) = (Store::open(&path).unwrap(), Store::open(&path).unwrap());
        let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let second = tokio::spawn(async move {
            cli.write(move |tx| {
                let _: i64 = tx.query_row("SELECT count(*) FROM languages", [], |r| r.get(0))?;
                let _ = read_tx.send(());
                // The first writes now, or waits for this one to finish.
                let _ = go_rx.recv_timeout(std::time::Duration::from_secs(1));
                tx.execute(
                    "INSERT INTO languages (name, language_code) VALUES ('Deutsch', 'de')",
                    [],
                )?;
                Ok(())
            })
            .await
        });
        read_rx.recv().unwrap();
        let first = daemon
            .write(|tx| {
                tx.execute(
                    "INSERT INTO languages (name, language_code) VALUES ('Español', 'es')",
                    [],
                )?;
                Ok(())
            })
            .await;
        let _ = go_tx.send(());
        let second = second.await.unwrap();
        assert!(first.is_ok(), "{first:?}");
        assert!(second.is_ok(), "{second:?}");
        let n: i64 = daemon
            .read(|c| Ok(c.query_row("SELECT count(*) FROM languages", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn reopening_does_not_apply_migrations_twice_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            let store = Store::open(&path).unwrap();
            store
                .write(|tx| {
                    tx.execute(
                        "INSERT INTO languages (name, language_code) VALUES ('Español','es')",
                        [],
                    )?;
                    Ok(())
                })
                .await
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let n: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM languages", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn a_failed_write_rolls_back_and_does_not_bump_the_revision() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        let before = store.revision();
        let result: StoreResult<()> = store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO languages (name, language_code) VALUES ('x','xx')",
                    [],
                )?;
                Err(StoreError::conflict("language_code", "test"))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(store.revision(), before);
        let n: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM languages", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn a_write_whose_caller_gave_up_still_bumps_the_revision() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        let before = store.revision();
        let mut changes = store.subscribe();
        let slow = store.write(|tx| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            tx.execute(
                "INSERT INTO languages (name, language_code) VALUES ('x','xx')",
                [],
            )?;
            Ok(())
        });
        // The caller (e.g. a request whose client disconnected) stops waiting.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), slow)
                .await
                .is_err()
        );
        tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed())
            .await
            .expect("the revision moves once the write commits")
            .unwrap();
        assert_eq!(store.revision(), before + 1);
    }

    #[tokio::test]
    async fn a_write_refused_for_a_full_disk_is_remembered_until_a_write_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        assert!(store.disk_full_since().is_none());
        // A page limit at the current size makes SQLite answer SQLITE_FULL, as a full disk does.
        store
            .write(|tx| {
                let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                tx.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
                Ok(())
            })
            .await
            .unwrap();
        let big = "x".repeat(200_000);
        let err = store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO languages (name, language_code) VALUES (?1, 'zz')",
                    [&big],
                )?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(err.is_disk_full(), "{err}");
        assert!(store.disk_full_since().is_some());
        store
            .write(|tx| {
                tx.query_row("PRAGMA max_page_count = 1000000", [], |_| Ok(()))?;
                tx.execute(
                    "INSERT INTO languages (name, language_code) VALUES ('ok', 'ok')",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(store.disk_full_since().is_none(), "a write succeeded since");
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        let result = store
            .read(|c| Ok(c.execute("DELETE FROM languages", [])?))
            .await;
        assert!(result.is_err());
    }
}
