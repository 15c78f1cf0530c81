//! The conductor's background tasks: the 50 ms control tick (tracks, listen events, periodic
//! counters), catalog reloads when the store changes, the idle-stream teardown, and the
//! release of speaker sources no stream needs any more.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::stream::Effect;
use super::{Engine, Entry, IDLE_CHECK, IDLE_WAKE, LOG_EVERY_TICKS, RELOAD_DEBOUNCE, TICK};
use crate::store::Editable;
use crate::store::catalog::Catalog;
use crate::store::listenevents::ListenEvent;

impl Engine {
    pub(super) async fn tick_loop(self) {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        let mut beds_seen = 0u64;
        while !self.inner.closed.load(Relaxed) {
            interval.tick().await;
            n += 1;
            // Streams waiting for a speaker source retry on the tick after a bed resolves
            // (a new listener hears the bed at once), and every second anyway.
            let beds_resolved = self.inner.sources.beds_resolved();
            let retry_speakers = n.is_multiple_of(20) || beds_resolved != beds_seen;
            beds_seen = beds_resolved;
            let now_s = self.now_s();
            self.inner
                .last_tick_ms
                .store((now_s * 1000.0) as u64, Relaxed);
            let entries: Vec<(i64, Arc<Entry>)> = self
                .streams()
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            if entries.is_empty() {
                // Nothing to conduct: idle (an idle box should cost no CPU), waking for the
                // first stream, or every 2 s so the watchdog sees the loop alive.
                let _ = tokio::time::timeout(IDLE_WAKE, self.inner.wake.notified()).await;
                interval.reset();
                continue;
            }
            let mut writes = Vec::new();
            for (id, e) in entries {
                let mut s = e.state();
                for effect in s.tick(now_s, &self.inner.sources) {
                    writes.push((id, effect));
                }
                if retry_speakers && s.speakers_pending() {
                    s.update_speakers(&self.inner.sources);
                }
            }
            if !writes.is_empty() {
                self.write_listen_events(writes);
            }
            if n.is_multiple_of(LOG_EVERY_TICKS) {
                self.log_counters();
            }
        }
    }

    pub(super) fn write_listen_events(&self, writes: Vec<(i64, Effect)>) {
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            let result = store
                .write(move |tx| {
                    for (
                        session_id,
                        Effect::Listened {
                            asset_id,
                            duration_ns,
                        },
                    ) in &writes
                    {
                        let input = crate::store::listenevents::ListenEventInput {
                            session_id: Some(*session_id),
                            asset_id: Some(*asset_id),
                            starttime: None,
                            duration: Some(Some(*duration_ns)),
                        };
                        // An asset deleted in between has nothing to record.
                        let _ = ListenEvent::create(tx, &input);
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = result {
                log::warn!("cannot record listen events: {e}");
            }
        });
    }

    pub(super) async fn reload_loop(self) {
        let mut rx = self.inner.store.subscribe();
        while rx.changed().await.is_ok() && !self.inner.closed.load(Relaxed) {
            tokio::time::sleep(RELOAD_DEBOUNCE).await;
            rx.borrow_and_update();
            let projects: HashSet<i64> = self
                .streams()
                .values()
                .map(|e| e.state().info.project_id)
                .collect();
            self.inner
                .catalogs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|p, _| projects.contains(p));
            for project_id in projects {
                self.reload(project_id).await;
            }
        }
    }

    pub(super) async fn reload(&self, project_id: i64) {
        let revision = self.inner.store.revision();
        let media = self.inner.config.media_dir.clone();
        let loaded = self
            .inner
            .store
            .read(move |c| Ok(Catalog::load(c, project_id, &media)?))
            .await;
        let catalog = match loaded {
            Ok(Some(c)) => Arc::new(c),
            Ok(None) => return,
            Err(e) => {
                log::warn!("cannot reload project {project_id} for its streams: {e}");
                return;
            }
        };
        let old = self
            .inner
            .catalogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(project_id, (revision, catalog.clone()));
        let changed = old.as_ref().map(|(_, c)| &**c) != Some(&*catalog);
        if changed {
            self.inner.sources.forget_failures();
            let sources = self.inner.sources.clone();
            let c = catalog.clone();
            let _ = tokio::task::spawn_blocking(move || sources.resolve_speakers(&c)).await;
        }
        // Each stream compares with its own snapshot (another request may have refreshed the
        // shared one already).
        let now_s = self.now_s();
        let entries: Vec<Arc<Entry>> = self.streams().values().cloned().collect();
        for e in entries {
            let mut s = e.state();
            if s.info.project_id == project_id && **s.catalog() != *catalog {
                s.set_catalog(catalog.clone(), now_s, &self.inner.sources);
            }
        }
        self.release_unused_beds();
        if changed {
            self.release_unused_assets();
        }
    }

    /// Forgets the decoded assets no cached catalog names any more (deleted or re-filed
    /// recordings), so a busy day of uploads and pruning does not hold memory up to the budget.
    fn release_unused_assets(&self) {
        let named: HashSet<std::path::PathBuf> = self
            .inner
            .catalogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .flat_map(|(_, c)| c.assets.iter().map(|a| a.path.clone()))
            .collect();
        self.inner.sources.retain_assets(|p| named.contains(p));
    }

    /// Stops the pullers and frees the decoded beds no running stream's catalog names.
    pub(super) fn release_unused_beds(&self) {
        let entries: Vec<Arc<Entry>> = self.streams().values().cloned().collect();
        let mut in_use = Vec::new();
        for e in entries {
            let s = e.state();
            for sp in s.catalog().speakers.iter().filter(|sp| sp.active) {
                in_use.push((sp.uri.clone(), sp.backupuri.clone()));
            }
        }
        self.inner.sources.retain_beds(&in_use);
    }

    pub(super) async fn idle_loop(self) {
        let every = IDLE_CHECK
            .min(self.inner.config.heartbeat_timeout / 2)
            .max(Duration::from_millis(200));
        let mut interval = tokio::time::interval(every);
        interval.tick().await;
        while !self.inner.closed.load(Relaxed) {
            interval.tick().await;
            let timeout = self.inner.config.heartbeat_timeout;
            let idle: Vec<i64> = self
                .streams()
                .iter()
                .filter(|(_, e)| {
                    if e.persistent || e.feed.listeners() > 0 {
                        e.idle_checks.store(0, Relaxed);
                        return false;
                    }
                    let quiet = e
                        .activity
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .elapsed()
                        >= timeout;
                    // Two consecutive checks without a listener, as the reference required.
                    let checks = e.idle_checks.fetch_add(1, Relaxed) + 1;
                    quiet && checks >= 2
                })
                .map(|(id, _)| *id)
                .collect();
            for id in idle {
                log::info!(stream = id; "stream {id} idle (no heartbeat, update or listener): tearing down");
                self.kill(super::StreamId(id)).await;
            }
        }
    }
}
