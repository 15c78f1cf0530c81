//! Event streams: App.net app streams over everything that happens on the box. A stream is a
//! stored cursor into the outbox ([`crate::store::outbox`]); this service runs its connected
//! consumer — at most one per stream, the last connection wins — and keeps cursors saved so a
//! consumer that was away, or a box that restarted, resumes where it stopped.
//!
//! Also here: [`filter`] (App.net filters), the outbox's retention, and the limit on event
//! connections (`[events] max_connections`).
//!
//! Owns: connected consumers, their queues and cursors, retention. May not touch: HTTP (the
//! API hands in how to show data to a consumer and how to close its connection), SQL (the
//! store's `outbox` and `eventstreams` modules).

mod consumer;
pub(crate) mod filter;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub(crate) use consumer::{Framing, Kill, Presenter, Selection};
pub(crate) use filter::Filter;

use crate::config::EventsConfig;
use crate::store::eventstreams::{self, StreamRow};
use crate::store::{Store, StoreError, outbox};

/// How often the cursors of connected streams are saved.
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Why a consumer could not connect.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventsError {
    /// `[events] max_connections` are open.
    #[error(
        "{0} event connections are open, the most this box allows ([events] max_connections); \
         try again later"
    )]
    TooMany(u32),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The event stream service; cheap to clone.
#[derive(Clone)]
pub(crate) struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: EventsConfig,
    permits: Arc<Semaphore>,
    live: Mutex<HashMap<i64, Live>>,
    next_connection: AtomicU64,
    closed: CancellationToken,
    /// Connections refused at `[events] max_connections`.
    refused: AtomicU64,
    /// Changes as shown, shared by the consumers.
    shown: Arc<consumer::ShownCache>,
}

/// The connected consumer of a stream.
struct Live {
    connection: u64,
    /// The user whose token made the stream.
    user_id: i64,
    shared: Arc<consumer::Shared>,
    saved: (i64, i64),
}

/// How a consumer connects (the endpoint's query and headers, and the HTTP layer's hooks).
pub(crate) struct Connect {
    /// The stream, as stored.
    pub stream: StreamRow,
    /// What it delivers.
    pub selection: Selection,
    /// How frames are written.
    pub framing: Framing,
    /// `?purge=1`: skip everything that waited.
    pub purge: bool,
    /// `?auto_delete=1`: delete the stream when this connection closes.
    pub auto_delete: bool,
    /// SSE's `Last-Event-ID`: resume after this outbox id.
    pub last_event_id: Option<i64>,
    /// Shows data to this consumer.
    pub present: Presenter,
    /// Closes this consumer's connection.
    pub kill: Kill,
}

impl Events {
    /// The service over `store`; [`Events::start`] runs its background work.
    pub(crate) fn new(store: Store, config: EventsConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_connections as usize));
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                permits,
                live: Mutex::new(HashMap::new()),
                next_connection: AtomicU64::new(1),
                closed: CancellationToken::new(),
                refused: AtomicU64::new(0),
                shown: Arc::default(),
            }),
        }
    }

    /// Starts saving cursors and pruning the outbox until [`Events::shutdown`].
    pub(crate) fn start(&self) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut save = tokio::time::interval(SAVE_EVERY);
            let mut prune = tokio::time::interval(PRUNE_EVERY);
            loop {
                tokio::select! {
                    () = hub.inner.closed.cancelled() => break,
                    _ = save.tick() => hub.save_cursors().await,
                    _ = prune.tick() => hub.prune().await,
                }
            }
        });
    }

    fn live(&self) -> MutexGuard<'_, HashMap<i64, Live>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Event connections open now.
    pub(crate) fn connected(&self) -> usize {
        self.live().len()
    }

    /// The health probe: event connections in `/metrics`.
    pub(crate) fn probe(&self) -> EventsProbe {
        EventsProbe(self.clone())
    }

    /// Connects a consumer to a stream, taking over from the stream's previous connection.
    /// Returns the response body.
    ///
    /// # Errors
    /// [`EventsError::TooMany`]; store failures.
    pub(crate) async fn connect(
        &self,
        c: Connect,
    ) -> Result<
        impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + use<>,
        EventsError,
    > {
        let permit = self
            .inner
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                self.inner.refused.fetch_add(1, Ordering::Relaxed);
                EventsError::TooMany(self.inner.config.max_connections)
            })?;
        let id = c.stream.id;
        // Subscribed before anything is read, so no change falls between the table and the
        // live queue.
        let live_changes = self.inner.store.subscribe_changes();
        let (head, oldest) = self
            .inner
            .store
            .read(|conn| Ok((outbox::head(conn)?, outbox::oldest(conn)?)))
            .await?;
        let connection = self.inner.next_connection.fetch_add(1, Ordering::Relaxed);
        let (gone, _) = watch::channel(false);
        let shared = Arc::new(consumer::Shared {
            delivered: AtomicI64::new(0),
            overflowed: AtomicI64::new(0),
            selection: RwLock::new(Arc::new(c.selection)),
            stop: self.inner.closed.child_token(),
            last_words: Mutex::new(None),
            gone,
            kill: c.kill,
        });
        // Last connection wins: the previous one ends now, and this one goes on from where
        // it got to.
        let taken_over = self.live().insert(
            id,
            Live {
                connection,
                user_id: c.stream.user_id,
                shared: shared.clone(),
                saved: (c.stream.cursor, 0),
            },
        );
        let mut cursor = c.stream.cursor;
        let mut overflowed = c.stream.overflowed;
        if let Some(old) = taken_over {
            old.shared.stop.cancel();
            old.shared.kill_unless_gone();
            cursor = cursor.max(old.shared.delivered.load(Ordering::Relaxed));
            overflowed = overflowed.max(old.shared.overflowed.load(Ordering::Relaxed));
        }
        let mut first = Vec::new();
        if c.framing == Framing::Sse {
            // A browser that loses the connection comes back after 2 s, not its default 3 s.
            first.push(Bytes::from_static(b"retry: 2000\n\n"));
        }
        let start = if c.purge {
            head
        } else if let Some(last) = c.last_event_id {
            last.clamp(0, head)
        } else {
            if overflowed > 0 {
                first.push(c.framing.control(&json!({
                    "type": "overflowed",
                    "unread": overflowed,
                    "message": format!("the last connection was closed with {overflowed} \
                                        messages unread; they follow now"),
                })));
            }
            cursor
        };
        if let Some(oldest) = oldest
            && start < oldest - 1
        {
            let missed = oldest - 1 - start;
            first.push(c.framing.control(&json!({
                "type": "missed",
                "count": missed,
                "message": format!("{missed} changes after this stream's position were removed \
                                    by retention ([events] retention_days, max_rows) before it \
                                    read them"),
            })));
        }
        shared.delivered.store(start, Ordering::Relaxed);
        if start != c.stream.cursor || c.stream.overflowed != 0 {
            let saved = self
                .inner
                .store
                .write_quiet(move |tx| eventstreams::set_cursor(tx, id, start))
                .await;
            if let Err(e) = saved {
                // No body will tear this connection down: it is forgotten here.
                self.forget(id, connection);
                return Err(e.into());
            }
            if let Some(l) = self
                .live()
                .get_mut(&id)
                .filter(|l| l.connection == connection)
            {
                l.saved = (start, 0);
            }
        }
        let (tx, rx) = mpsc::channel(self.inner.config.queue_messages as usize);
        let pump = consumer::Pump {
            store: self.inner.store.clone(),
            shared: shared.clone(),
            present: c.present,
            framing: c.framing,
            tx,
            shown: self.inner.shown.clone(),
        };
        tokio::spawn(pump.run(start, live_changes));
        let teardown = consumer::Teardown {
            hub: self.clone(),
            stream_id: id,
            connection,
            shared,
            auto_delete: c.auto_delete,
            _permit: permit,
        };
        Ok(consumer::body(rx, first, teardown))
    }

    /// Forgets a connection that ended; true if it was still its stream's current one.
    fn forget(&self, stream_id: i64, connection: u64) -> bool {
        let mut live = self.live();
        if live
            .get(&stream_id)
            .is_some_and(|l| l.connection == connection)
        {
            live.remove(&stream_id);
            true
        } else {
            false
        }
    }

    /// A stream's object types or filter changed: its consumer gets the new ones at once.
    pub(crate) fn stream_changed(&self, id: i64, selection: Selection) {
        if let Some(l) = self.live().get(&id) {
            *l.shared
                .selection
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Arc::new(selection);
        }
    }

    /// A filter changed: every connected stream using it switches at once.
    pub(crate) fn filter_changed(&self, filter_id: i64, filter: &Filter) {
        for l in self.live().values() {
            let mut selection = l
                .shared
                .selection
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if selection
                .filter
                .as_ref()
                .is_some_and(|(f, _)| *f == filter_id)
            {
                let mut changed = Selection::clone(&selection);
                changed.filter = Some((filter_id, filter.clone()));
                *selection = Arc::new(changed);
            }
        }
    }

    /// A stream was deleted: its consumer's connection ends.
    pub(crate) fn stream_deleted(&self, id: i64) {
        if let Some(l) = self.live().remove(&id) {
            l.shared.stop.cancel();
            l.shared.kill_unless_gone();
        }
    }

    /// A token was revoked (a kiosk deleted): the connections of its streams end now.
    pub(crate) fn disconnect_user(&self, user_id: i64) {
        let ended: Vec<Live> = {
            let mut live = self.live();
            let ids: Vec<i64> = live
                .iter()
                .filter(|(_, l)| l.user_id == user_id)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter().filter_map(|id| live.remove(&id)).collect()
        };
        for l in ended {
            l.shared.stop.cancel();
            l.shared.kill_unless_gone();
        }
    }

    /// Saves the cursors of connected streams that moved.
    async fn save_cursors(&self) {
        let moved: Vec<(i64, i64, i64)> = self
            .live()
            .iter_mut()
            .filter_map(|(id, l)| {
                let now = (
                    l.shared.delivered.load(Ordering::Relaxed),
                    l.shared.overflowed.load(Ordering::Relaxed),
                );
                (now != l.saved).then(|| {
                    l.saved = now;
                    (*id, now.0, now.1)
                })
            })
            .collect();
        if moved.is_empty() {
            return;
        }
        let result = self
            .inner
            .store
            .write_quiet(move |tx| eventstreams::save_cursors(tx, &moved))
            .await;
        if let Err(e) = result {
            log::warn!("cannot save event stream positions: {e}");
        }
    }

    /// Retention: changes older than `[events] retention_days` and beyond `max_rows` go.
    async fn prune(&self) {
        let days = i64::from(self.inner.config.retention_days);
        let max_rows = i64::from(self.inner.config.max_rows);
        let before_ms = crate::store::time::now_ms() - days * 86_400_000;
        let result = self
            .inner
            .store
            .write_quiet(move |tx| outbox::prune(tx, before_ms, max_rows))
            .await;
        match result {
            Ok(0) => {}
            Ok(n) => log::info!("event outbox: {n} changes past retention removed"),
            Err(e) => log::warn!("cannot prune the event outbox: {e}"),
        }
    }

    /// Ends every connection and saves where each got to (daemon shutdown).
    pub(crate) async fn shutdown(&self) {
        self.save_cursors().await;
        self.inner.closed.cancel();
    }
}

/// The event service as a health component: its connections and refusals in `/metrics`.
pub(crate) struct EventsProbe(Events);

impl crate::health::Probe for EventsProbe {
    fn name(&self) -> &'static str {
        "events"
    }

    fn state(&self) -> crate::health::ComponentState {
        if self.0.inner.config.enabled {
            crate::health::ComponentState::Ok
        } else {
            crate::health::ComponentState::Disabled
        }
    }

    fn write_metrics(&self, out: &mut String) {
        let open = self.0.connected();
        let refused = self.0.inner.refused.load(Ordering::Relaxed);
        let max = self.0.inner.config.max_connections;
        out.push_str(&format!(
            "# HELP roundwared_event_connections Event stream consumers connected.\n\
             # TYPE roundwared_event_connections gauge\nroundwared_event_connections {open}\n\
             # HELP roundwared_event_connections_max [events] max_connections.\n\
             # TYPE roundwared_event_connections_max gauge\nroundwared_event_connections_max {max}\n\
             # HELP roundwared_event_connections_refused_total Event connections refused at the limit.\n\
             # TYPE roundwared_event_connections_refused_total counter\n\
             roundwared_event_connections_refused_total {refused}\n"
        ));
    }
}
