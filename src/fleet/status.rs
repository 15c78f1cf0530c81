//! What the fleet's tasks report: counters and the latest problem of each, for `/healthz`,
//! `/metrics` and (as part of [`super::view::View`]) `GET /api/2/fleet/` and the console.
//!
//! Owns: the status. May not touch: NATS, SQL.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The fleet's state on this box, updated by its tasks.
#[derive(Debug, Default)]
pub(crate) struct Status {
    number: u32,
    is_hub: bool,
    published: AtomicU64,
    applied: AtomicU64,
    last_applied_seq: AtomicU64,
    skipped: AtomicU64,
    fetched_files: AtomicU64,
    fetched_bytes: AtomicU64,
    problems: Mutex<Problems>,
    audit: Mutex<Option<Audited>>,
}

/// The last audit's outcome and when it ended.
#[derive(Debug, Clone)]
struct Audited {
    outcome: Result<super::audit::Report, String>,
    at: std::time::SystemTime,
    since: std::time::Instant,
}

/// The last media audit as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct AuditView {
    /// When it ended (UTC, `2026-12-06T23:23:12Z`).
    pub at: String,
    /// Seconds since.
    pub age_s: u64,
    /// What it found, when it could run.
    #[serde(flatten)]
    pub report: Option<super::audit::Report>,
    /// Why it could not run, when it could not.
    pub error: Option<String>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct Problems {
    registration: Option<String>,
    registered: bool,
    publish: Option<String>,
    apply: Option<String>,
    /// `None` until the hub's bridge first pulled; then its last outcome.
    central: Option<Result<(), String>>,
    /// `None` until the hub's bridge first pushed (or with `push = false`).
    push: Option<super::view::Push>,
}

/// A snapshot, as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Snapshot {
    /// This box's number.
    #[serde(rename = "box")]
    pub number: u32,
    /// `hub` or `box`.
    pub role: &'static str,
    /// The hub has this box in its registry.
    pub registered: bool,
    /// Why not, when it is not.
    pub registration_error: Option<String>,
    /// Changes published since start.
    pub published: u64,
    /// Catalogue messages applied since start.
    pub applied: u64,
    /// The last catalogue position applied since start (0: none yet; the API shows the
    /// database's, which survives restarts).
    #[serde(skip)]
    pub applied_seq: u64,
    /// Catalogue messages that could not be applied (each logged).
    pub skipped: u64,
    /// Media files fetched since start, and their bytes.
    pub fetched_files: u64,
    /// Bytes of those.
    pub fetched_bytes: u64,
    /// The publisher's current problem.
    pub publish_error: Option<String>,
    /// The apply loop's current problem.
    pub apply_error: Option<String>,
    /// The apply loop waits for a recording's media from the venue (`apply_error` says which).
    pub waiting_for_media: bool,
    /// The last media audit (boxes, every `[fleet] audit_s`), or why it could not run.
    pub audit: Option<AuditView>,
    /// The hub's pulls from a central server, once the bridge has pulled (shown as the
    /// view's `central`).
    #[serde(skip)]
    pub central: Option<super::view::Central>,
}

impl Status {
    /// A fresh status of box `number`.
    pub(crate) fn new(number: u32, is_hub: bool) -> Self {
        Self {
            number,
            is_hub,
            ..Self::default()
        }
    }

    fn problems(&self) -> std::sync::MutexGuard<'_, Problems> {
        self.problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn applied(&self, seq: u64) {
        self.applied.fetch_add(1, Ordering::Relaxed);
        self.last_applied_seq.store(seq, Ordering::Relaxed);
    }

    pub(crate) fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fetched(&self, bytes: u64) {
        self.fetched_files.fetch_add(1, Ordering::Relaxed);
        self.fetched_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn set_publish_error(&self, why: Option<String>) {
        self.problems().publish = why;
    }

    pub(crate) fn set_apply_error(&self, why: Option<String>) {
        let mut p = self.problems();
        if p.apply != why {
            p.apply = why;
        }
    }

    /// The hub's last pull from central: `None` when it went through.
    pub(crate) fn set_central(&self, why: Option<String>) {
        self.problems().central = Some(why.map_or(Ok(()), Err));
    }

    /// The hub's last push to central (`error`: why it stopped) and the backlog after it.
    pub(crate) fn set_central_push(
        &self,
        error: Option<String>,
        backlog: crate::store::fleet::push::Backlog,
    ) {
        self.problems().push = Some(super::view::Push { error, backlog });
    }

    pub(crate) fn set_registration(&self, outcome: Result<(), String>) {
        let mut p = self.problems();
        p.registered = outcome.is_ok();
        p.registration = outcome.err();
    }

    pub(crate) fn set_audit(&self, outcome: Result<super::audit::Report, String>) {
        *self
            .audit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Audited {
            outcome,
            at: std::time::SystemTime::now(),
            since: std::time::Instant::now(),
        });
    }

    /// The status now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let p = self.problems().clone();
        // The apply loop's words for it (fleet/apply.rs, `fetch_one`).
        let waiting_for_media = p
            .apply
            .as_deref()
            .is_some_and(|why| why.starts_with(WAITING_FOR_MEDIA));
        Snapshot {
            number: self.number,
            role: if self.is_hub { "hub" } else { "box" },
            registered: p.registered,
            registration_error: p.registration,
            published: self.published.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            applied_seq: self.last_applied_seq.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            fetched_files: self.fetched_files.load(Ordering::Relaxed),
            fetched_bytes: self.fetched_bytes.load(Ordering::Relaxed),
            publish_error: p.publish,
            apply_error: p.apply,
            waiting_for_media,
            central: p.central.map(|outcome| super::view::Central {
                pull_error: outcome.err(),
                push: p.push,
            }),
            audit: self
                .audit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .map(|a| AuditView {
                    at: chrono::DateTime::<chrono::Utc>::from(a.at)
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                    age_s: a.since.elapsed().as_secs(),
                    report: a.outcome.clone().ok(),
                    error: a.outcome.clone().err(),
                }),
        }
    }
}

/// How the apply loop's problem begins while it waits for a recording's media.
const WAITING_FOR_MEDIA: &str = "waiting for media";

/// The fleet as a health component (`/healthz`) with its counters (`/metrics`).
pub(crate) struct FleetProbe(pub(crate) std::sync::Arc<Status>);

impl crate::health::Probe for FleetProbe {
    fn name(&self) -> &'static str {
        "fleet"
    }

    fn state(&self) -> crate::health::ComponentState {
        let s = self.0.snapshot();
        let problem = s
            .registration_error
            .or(s.publish_error)
            .or(s.apply_error)
            .or(s
                .central
                .and_then(|c| c.pull_error)
                .map(|e| format!("pulling from central: {e}")));
        match problem {
            Some(why) => crate::health::ComponentState::Degraded(why),
            None => crate::health::ComponentState::Ok,
        }
    }

    fn write_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let s = self.0.snapshot();
        let audit = s.audit.and_then(|a| a.report).unwrap_or_default();
        for (name, kind, help, value) in [
            (
                "fleet_registered",
                "gauge",
                "1 when the hub has this box in its registry.",
                u64::from(s.registered),
            ),
            (
                "fleet_published_total",
                "counter",
                "Changes of this box published to its stream.",
                s.published,
            ),
            (
                "fleet_applied_total",
                "counter",
                "Venue catalogue messages applied here.",
                s.applied,
            ),
            (
                "fleet_applied_seq",
                "gauge",
                "The last venue catalogue position applied here.",
                s.applied_seq,
            ),
            (
                "fleet_skipped_total",
                "counter",
                "Catalogue messages that could not be applied (each logged).",
                s.skipped,
            ),
            (
                "fleet_fetched_files_total",
                "counter",
                "Media files fetched from the venue.",
                s.fetched_files,
            ),
            (
                "fleet_fetched_bytes_total",
                "counter",
                "Bytes of media fetched from the venue.",
                s.fetched_bytes,
            ),
            (
                "fleet_audit_missing",
                "gauge",
                "Media files of this box the hub's copy lacked at the last audit.",
                audit.missing,
            ),
            (
                "fleet_audit_repaired",
                "gauge",
                "Of those, put again by the last audit.",
                audit.repaired,
            ),
            (
                "fleet_audit_behind",
                "gauge",
                "Messages of this box's bucket the hub's copy had not reached at the last audit.",
                audit.behind,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP roundwared_{name} {help}\n# TYPE roundwared_{name} {kind}\nroundwared_{name} {value}"
            );
        }
        // The hub's push to central, once it has run.
        let Some(push) = s.central.and_then(|c| c.push) else {
            return;
        };
        for (name, help, value) in [
            (
                "fleet_central_waiting",
                "Contributions of the venue waiting to be pushed to central.",
                push.backlog.waiting,
            ),
            (
                "fleet_central_pushed",
                "Contributions of the venue central has.",
                push.backlog.pushed,
            ),
            (
                "fleet_central_dead",
                "Contributions central refused (dead letters, shown in the console).",
                push.backlog.dead,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP roundwared_{name} {help}\n# TYPE roundwared_{name} gauge\nroundwared_{name} {value}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_says_when_the_apply_loop_waits_for_media_and_when_the_audit_ran() {
        let status = Status::new(2, false);
        assert!(!status.snapshot().waiting_for_media);
        status.set_apply_error(Some(
            "waiting for media a.mp3 of asset 2000000000001: no such object".into(),
        ));
        assert!(status.snapshot().waiting_for_media);
        status.set_apply_error(Some("CATALOGUE: no responders".into()));
        assert!(!status.snapshot().waiting_for_media);
        assert_eq!(status.snapshot().audit, None);
        let found = super::super::audit::Report {
            checked: 3,
            missing: 1,
            repaired: 1,
            behind: 0,
        };
        status.set_audit(Ok(found.clone()));
        let audit = status.snapshot().audit.unwrap();
        assert_eq!((audit.report, audit.error), (Some(found), None));
        assert!(
            audit.at.ends_with('Z') && audit.at.len() == 20,
            "{}",
            audit.at
        );
        let json = serde_json::to_value(status.snapshot()).unwrap();
        assert_eq!(json["audit"]["missing"], 1, "{json}");
        assert!(json.get("applied_seq").is_none(), "the database's is shown");
        status.set_audit(Err("the hub's copy of media_b2: no responders".into()));
        let audit = status.snapshot().audit.unwrap();
        assert_eq!(audit.report, None);
        assert!(audit.error.unwrap().contains("no responders"));
    }
}
