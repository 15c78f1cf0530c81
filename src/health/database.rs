//! The database's health probe: a round trip through the store's writer and reader threads
//! with a deadline, the time it took, the free space left on the data partition against the
//! upload reserve (`[storage] min_free_mb`), and whether the database has reported the disk
//! full (`SQLITE_FULL`). From these it says which writes are refused: none, uploads (below the
//! reserve), or all (the database is full). A full disk is "degraded", not "down": restarting
//! the daemon would not free space, and reads and streams go on.
//!
//! Owns: judging the database. May not touch: SQL beyond `SELECT 1` (see `Store::ping`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{ComponentState, Probe};
use crate::store::Store;

/// The probe's name in `/healthz` and `/metrics`.
pub(crate) const NAME: &str = "database";

/// A ping that takes longer than this counts as a hung database.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Below this much free space on the data partition the database is degraded (uploads will
/// start failing) even when the upload reserve is smaller.
pub(crate) const LOW_SPACE_BYTES: u64 = 100 * 1024 * 1024;

/// Which writes the box refuses now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedWrites {
    /// Every write is accepted.
    None,
    /// Uploads are refused (free space is below the reserve); other writes work.
    Uploads,
    /// Every write is refused: the database reported the disk full.
    All,
}

impl RefusedWrites {
    /// `none`, `uploads` or `all`.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Uploads => "uploads",
            Self::All => "all",
        }
    }
}

/// Checks the store on demand and remembers the outcome for [`Probe::state`].
pub struct DatabaseProbe {
    store: Store,
    data_dir: PathBuf,
    reserve_bytes: u64,
    last: Mutex<Last>,
}

#[derive(Clone)]
struct Last {
    state: ComponentState,
    refused: RefusedWrites,
    /// The store reported `SQLITE_FULL` at this check.
    disk_full: bool,
    ping_s: f64,
    free_bytes: Option<u64>,
    checked: Option<Instant>,
}

impl DatabaseProbe {
    /// A probe for `store`, whose data partition holds `data_dir`.
    pub fn new(store: Store, data_dir: PathBuf) -> Self {
        Self {
            store,
            data_dir,
            reserve_bytes: 0,
            last: Mutex::new(Last {
                state: ComponentState::Ok,
                refused: RefusedWrites::None,
                disk_full: false,
                ping_s: 0.0,
                free_bytes: None,
                checked: None,
            }),
        }
    }

    /// The same probe judging free space against an upload reserve of `bytes`.
    #[must_use]
    pub fn with_reserve(mut self, bytes: u64) -> Self {
        self.reserve_bytes = bytes;
        self
    }

    /// Which writes are refused, as of the last check.
    pub fn refused_writes(&self) -> RefusedWrites {
        self.last().refused
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Last> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`Self::check`] unless the last check is younger than `max_age` (so a client polling
    /// `/healthz` in a loop cannot keep the writer busy); returns the state.
    pub async fn refresh(&self, max_age: Duration) -> ComponentState {
        {
            let last = self.last();
            // A write refused (or accepted again) since the last check is news at once.
            let full_now = self.store.disk_full_since().is_some();
            let full_then = last.disk_full;
            if last.checked.is_some_and(|t| t.elapsed() < max_age) && full_now == full_then {
                return last.state.clone();
            }
        }
        self.check().await
    }

    /// Pings the store (at most [`PING_TIMEOUT`]) and measures free space; stores and returns
    /// the state. `false` from [`Probe::alive`] afterwards means the store did not answer.
    pub async fn check(&self) -> ComponentState {
        let started = Instant::now();
        let ping = tokio::time::timeout(PING_TIMEOUT, self.store.ping()).await;
        let ping_s = started.elapsed().as_secs_f64();
        let dir = self.data_dir.clone();
        let free_bytes = tokio::task::spawn_blocking(move || free_space(&dir))
            .await
            .ok()
            .flatten();
        let mib = |b: u64| b / (1024 * 1024);
        let disk_full = self.store.disk_full_since().is_some();
        let (state, refused) = match ping {
            Err(_) => (
                ComponentState::Down(format!(
                    "the database did not answer within {} s",
                    PING_TIMEOUT.as_secs()
                )),
                RefusedWrites::All,
            ),
            Ok(Err(e)) => (ComponentState::Down(format!("{e}")), RefusedWrites::All),
            Ok(Ok(())) => match (self.store.disk_full_since(), free_bytes) {
                (Some(since), free) => (
                    ComponentState::Degraded(format!(
                        "the disk is full: the database refused a write (SQLITE_FULL) {} s ago \
                         and every write is refused until space is freed ({} MiB free on the \
                         partition of {}); reads and streams go on: delete old media or make room",
                        since.elapsed().map_or(0, |d| d.as_secs()),
                        free.map_or(0, mib),
                        self.data_dir.display()
                    )),
                    RefusedWrites::All,
                ),
                (None, Some(free)) if free < self.reserve_bytes => (
                    ComponentState::Degraded(format!(
                        "only {} MiB free on the partition of {}, below the upload reserve of {} \
                         MiB ([storage] min_free_mb): uploads are refused (507), other writes go \
                         on: delete old media or make room",
                        mib(free),
                        self.data_dir.display(),
                        mib(self.reserve_bytes)
                    )),
                    RefusedWrites::Uploads,
                ),
                (None, Some(free)) if free < LOW_SPACE_BYTES => (
                    ComponentState::Degraded(format!(
                        "only {} MiB free on the partition of {}; uploads will fail: delete old media or make room",
                        mib(free),
                        self.data_dir.display()
                    )),
                    RefusedWrites::None,
                ),
                _ => (ComponentState::Ok, RefusedWrites::None),
            },
        };
        let mut last = self.last();
        if last.state != state {
            match &state {
                ComponentState::Ok => log::info!("database health: ok"),
                s => log::warn!(
                    "database health: {}: {}",
                    s.label(),
                    s.reason().unwrap_or("")
                ),
            }
        }
        *last = Last {
            state: state.clone(),
            refused,
            disk_full,
            ping_s,
            free_bytes,
            checked: Some(Instant::now()),
        };
        state
    }
}

/// Bytes available to unprivileged users on the filesystem holding `dir`.
fn free_space(dir: &std::path::Path) -> Option<u64> {
    crate::media::space::free_bytes(dir)
}

impl Probe for DatabaseProbe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn state(&self) -> ComponentState {
        self.last().state.clone()
    }

    fn alive(&self) -> bool {
        !matches!(self.last().state, ComponentState::Down(_))
    }

    fn write_metrics(&self, out: &mut String) {
        let last = self.last().clone();
        let up = u8::from(!matches!(last.state, ComponentState::Down(_)));
        let _ = write!(
            out,
            "# HELP roundwared_database_up 1 when the last database check answered.\n\
             # TYPE roundwared_database_up gauge\nroundwared_database_up {up}\n\
             # HELP roundwared_database_ping_seconds Duration of the last database check.\n\
             # TYPE roundwared_database_ping_seconds gauge\nroundwared_database_ping_seconds {:.6}\n",
            last.ping_s
        );
        out.push_str(
            "# HELP roundwared_writes_refused 1 while uploads (below the disk reserve) or all writes (the database reports the disk full) are refused.\n\
             # TYPE roundwared_writes_refused gauge\n",
        );
        for kind in [RefusedWrites::Uploads, RefusedWrites::All] {
            let on = u8::from(last.refused == kind || last.refused == RefusedWrites::All);
            let _ = writeln!(
                out,
                "roundwared_writes_refused{{writes=\"{}\"}} {on}",
                kind.label()
            );
        }
        if let Some(checked) = last.checked {
            let _ = write!(
                out,
                "# HELP roundwared_database_check_age_seconds Seconds since the last database check.\n\
                 # TYPE roundwared_database_check_age_seconds gauge\nroundwared_database_check_age_seconds {:.3}\n",
                checked.elapsed().as_secs_f64()
            );
        }
        if let Some(free) = last.free_bytes {
            let _ = write!(
                out,
                "# HELP roundwared_data_free_bytes Free bytes on the data partition.\n\
                 # TYPE roundwared_data_free_bytes gauge\nroundwared_data_free_bytes {free}\n"
            );
        }
    }
}
