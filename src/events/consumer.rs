//! One connected consumer of an event stream: the pump that reads the outbox (the table to
//! catch up, then the store's live changes), keeps what the stream selects and its filter
//! passes, and queues frames; and the body that hands the frames to the HTTP response and
//! counts what it handed over as delivered.
//!
//! **Nothing lost.** The pump subscribes to live changes before it reads the table, and
//! falls back to the table whenever the live queue lagged, so every change after the cursor
//! is seen once, in order. A frame counts as delivered when the body gives it to the
//! connection; the next connection starts after the last one delivered.
//!
//! **Overflow** (App.net's rule). The queue holds `[events] queue_messages` frames. At 80 %
//! the consumer is warned with a `control` message; when it is full (a consumer that does not
//! read), the pump stops, the body ends with a `control` message saying why, and if the
//! connection has not gone a second later it is closed. The frames left unread are not lost:
//! they come again on the next connection, which is told how many there were.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::filter::Filter;
use crate::store::outbox::{self, Change};
use crate::store::{StoreResult, eventstreams};

/// How often an idle connection gets a keep-alive.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(20);
/// How long a catching-up consumer may leave its queue full before it is disconnected.
const STALL: Duration = Duration::from_secs(30);
/// How long an ended connection may take to go before it is closed.
const GRACE: Duration = Duration::from_secs(1);
/// Changes read from the table at a time while catching up.
const PAGE: i64 = 256;

/// Shows a change's data to a consumer as its api/2 `GET` would (absolute media URLs, what
/// this caller may see); built by the HTTP layer. Consumers whose presenters have the same
/// `key` see a change the same way, so its frame is made once for all of them.
#[derive(Clone)]
pub(crate) struct Presenter {
    key: Arc<str>,
    show: Arc<Show>,
}

/// A presenter's function: the change's data as this consumer sees it.
type Show = dyn Fn(&Change) -> Option<Value> + Send + Sync;

impl Presenter {
    /// A presenter; `key` must differ whenever `show` would show a change differently.
    pub(crate) fn new(
        key: impl Into<Arc<str>>,
        show: impl Fn(&Change) -> Option<Value> + Send + Sync + 'static,
    ) -> Self {
        Self {
            key: key.into(),
            show: Arc::new(show),
        }
    }
}

/// A change as consumers of one presentation see it: the envelope (for filters) and its JSON.
struct Shown {
    envelope: Value,
    json: String,
}

/// How many shown changes are kept for the consumers still to come to them.
const SHOWN_KEPT: usize = 1024;

/// Changes as shown, by change id and presentation, shared by every consumer (fifty lobby
/// screens on one box make each frame once, not fifty times).
#[derive(Default)]
pub(super) struct ShownCache {
    inner: Mutex<ShownMap>,
}

/// A change id and a presentation's key.
type ShownKey = (i64, Arc<str>);

/// The shown changes, and their keys oldest first (for eviction).
#[derive(Default)]
struct ShownMap {
    map: std::collections::HashMap<ShownKey, Arc<Shown>>,
    order: VecDeque<ShownKey>,
}

impl ShownCache {
    fn get_or_make(&self, id: i64, key: &Arc<str>, make: impl FnOnce() -> Shown) -> Arc<Shown> {
        if let Some(s) = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(&(id, key.clone()))
        {
            return s.clone();
        }
        // Made outside the lock; two consumers racing both make it, one is kept.
        let shown = Arc::new(make());
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let ShownMap { map, order } = &mut *inner;
        if map.insert((id, key.clone()), shown.clone()).is_none() {
            order.push_back((id, key.clone()));
            while order.len() > SHOWN_KEPT {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        shown
    }
}
/// Closes the consumer's connection (one that does not read cannot be ended politely).
pub(crate) type Kill = Arc<dyn Fn() + Send + Sync>;

/// What a stream delivers: its object types and filter.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    /// Object types delivered.
    pub types: Vec<&'static str>,
    /// The stream's filter's id and the filter, if it has one.
    pub filter: Option<(i64, Filter)>,
}

/// How frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// App.net's `long_poll`: one JSON object and `\r\n` per frame, a bare `\r\n` keep-alive.
    LongPoll,
    /// Server-Sent Events: `id:` is the message's `meta.id`, `control` messages are
    /// `event: control`.
    Sse,
}

impl Framing {
    fn message(self, id: i64, json: &str) -> Bytes {
        match self {
            Self::LongPoll => Bytes::from(format!("{json}\r\n")),
            Self::Sse => Bytes::from(format!("id: {id}\ndata: {json}\n\n")),
        }
    }

    pub(super) fn control(self, control: &Value) -> Bytes {
        let json = json!({ "control": control }).to_string();
        match self {
            Self::LongPoll => Bytes::from(format!("{json}\r\n")),
            Self::Sse => Bytes::from(format!("event: control\ndata: {json}\n\n")),
        }
    }

    fn keep_alive(self) -> Bytes {
        Bytes::from_static(match self {
            Self::LongPoll => b"\r\n",
            Self::Sse => b":\n\n",
        })
    }
}

/// A frame and, for a message, its outbox id.
pub(super) struct Frame {
    bytes: Bytes,
    id: Option<i64>,
}

impl Frame {
    pub(super) fn control(bytes: Bytes) -> Self {
        Self { bytes, id: None }
    }
}

/// What a connection shares between its pump, its body and the hub.
pub(super) struct Shared {
    /// The last outbox id handed to the connection.
    pub delivered: AtomicI64,
    /// Frames left unread when the connection overflowed (0: it did not).
    pub overflowed: AtomicI64,
    /// What the stream delivers (a PUT of the stream or its filter changes it at once).
    pub selection: RwLock<Arc<Selection>>,
    /// Ends the connection now (taken over, stream deleted, shutdown).
    pub stop: CancellationToken,
    /// The frame the body ends with (why the server ended it).
    pub last_words: Mutex<Option<Bytes>>,
    /// True once the body is gone (the connection closed).
    pub gone: watch::Sender<bool>,
    /// Closes the connection.
    pub kill: Kill,
}

impl Shared {
    pub(super) fn selection(&self) -> Arc<Selection> {
        self.selection
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Closes the connection unless its body goes within [`GRACE`].
    pub(super) fn kill_unless_gone(self: &Arc<Self>) {
        let shared = self.clone();
        tokio::spawn(async move {
            let mut gone = shared.gone.subscribe();
            if tokio::time::timeout(GRACE, gone.wait_for(|g| *g))
                .await
                .is_err()
            {
                (shared.kill)();
            }
        });
    }
}

/// Reads changes after the cursor and queues the frames of those the stream selects.
pub(super) struct Pump {
    pub store: crate::store::Store,
    pub shared: Arc<Shared>,
    pub present: Presenter,
    pub framing: Framing,
    pub tx: mpsc::Sender<Frame>,
    pub shown: Arc<ShownCache>,
}

impl Pump {
    /// Runs until the connection ends: stopped, overflowed or gone.
    pub(super) async fn run(self, mut next: i64, mut live: broadcast::Receiver<Arc<Change>>) {
        let stop = self.shared.stop.clone();
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.reset();
        let mut warned = false;
        'catch_up: loop {
            // From the table, at the consumer's pace.
            loop {
                let page = tokio::select! {
                    () = stop.cancelled() => return,
                    page = self.page(next) => page,
                };
                let Ok(page) = page else {
                    // The store is shutting down or failing; the next connection resumes.
                    return;
                };
                let full_page = page.len() as i64 == PAGE;
                for change in &page {
                    next = change.id;
                    if let Some(frame) = self.frame(change) {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            sent = tokio::time::timeout(STALL, self.tx.send(frame)) => match sent {
                                Ok(Ok(())) => {}
                                Ok(Err(_)) => return,
                                Err(_) => return self.overflow(),
                            },
                        }
                    }
                }
                if !full_page {
                    break;
                }
            }
            // Live, as changes commit.
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    received = live.recv() => match received {
                        Ok(change) if change.id <= next => {}
                        // A gap (never expected: commits are sent in order): read the table.
                        Ok(change) if change.id > next + 1 => continue 'catch_up,
                        Ok(change) => {
                            next = change.id;
                            let Some(frame) = self.frame(&change) else { continue };
                            match self.tx.try_send(frame) {
                                Ok(()) => warned = self.warn_when_filling(warned),
                                Err(mpsc::error::TrySendError::Full(_)) => return self.overflow(),
                                Err(mpsc::error::TrySendError::Closed(_)) => return,
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue 'catch_up,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = keep_alive.tick() => {
                        let _ = self.tx.try_send(Frame { bytes: self.framing.keep_alive(), id: None });
                    }
                }
            }
        }
    }

    async fn page(&self, after: i64) -> StoreResult<Vec<Change>> {
        self.store
            .read(move |c| outbox::after(c, after, PAGE))
            .await
    }

    /// The frame of a change, if the stream selects it and its filter passes it.
    fn frame(&self, change: &Change) -> Option<Frame> {
        let selection = self.shared.selection();
        if !selection.types.contains(&change.object_type) {
            return None;
        }
        let shown = self.shown.get_or_make(change.id, &self.present.key, || {
            let envelope = envelope(change, (self.present.show)(change));
            let json = envelope.to_string();
            Shown { envelope, json }
        });
        if let Some((_, filter)) = &selection.filter
            && !filter.passes(change.object_type, &shown.envelope)
        {
            return None;
        }
        Some(Frame {
            bytes: self.framing.message(change.id, &shown.json),
            id: Some(change.id),
        })
    }

    /// Queues a `buffer_warning` once the queue is 80 % full (again after it drained to half).
    fn warn_when_filling(&self, warned: bool) -> bool {
        let limit = self.tx.max_capacity();
        let queued = limit - self.tx.capacity();
        if !warned && queued * 5 >= limit * 4 {
            let control = json!({
                "type": "buffer_warning",
                "fill": queued as f64 / limit as f64,
                "message": format!("{queued} of {limit} messages wait unread; read faster or the \
                                    connection is closed when the queue is full"),
            });
            let _ = self
                .tx
                .try_send(Frame::control(self.framing.control(&control)));
            return true;
        }
        warned && queued * 2 >= limit
    }

    /// The queue is full: the body ends with a `control` message, the connection closes.
    fn overflow(self) {
        let limit = self.tx.max_capacity();
        let unread = (limit - self.tx.capacity()) as i64;
        self.shared
            .overflowed
            .store(unread.max(1), Ordering::Relaxed);
        let control = json!({
            "type": "disconnect",
            "reason": "queue_full",
            "message": format!("{unread} messages waited unread (the most is {limit}); they \
                                come again on the next connection, after the last one written"),
        });
        *self
            .shared
            .last_words
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(self.framing.control(&control));
        log::info!(
            "event stream consumer disconnected: {unread} messages waited unread (queue of {limit})"
        );
        // Dropping the sender ends the body once it has drained; a body that is not read
        // never drains, so the connection is closed.
        drop(self.tx);
        self.shared.kill_unless_gone();
    }
}

/// `{"meta": {id, type, timestamp, is_deleted?, project_id?}, "data": …}`.
pub(super) fn envelope(change: &Change, data: Option<Value>) -> Value {
    let mut meta = Map::new();
    meta.insert("id".into(), Value::String(change.id.to_string()));
    meta.insert("type".into(), Value::from(change.object_type));
    meta.insert("timestamp".into(), Value::from(change.created_ms));
    if change.is_deleted {
        meta.insert("is_deleted".into(), Value::Bool(true));
    }
    if let Some(p) = change.project_id {
        meta.insert("project_id".into(), Value::from(p));
    }
    let mut envelope = Map::new();
    envelope.insert("meta".into(), Value::Object(meta));
    if let Some(data) = data {
        envelope.insert("data".into(), data);
    }
    Value::Object(envelope)
}

/// Ends a connection when its body is dropped: the hub forgets it, its cursor is saved.
pub(super) struct Teardown {
    pub hub: super::Events,
    pub stream_id: i64,
    pub connection: u64,
    pub shared: Arc<Shared>,
    pub auto_delete: bool,
    pub _permit: OwnedSemaphorePermit,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        self.shared.gone.send_replace(true);
        self.shared.stop.cancel();
        let current = self.hub.forget(self.stream_id, self.connection);
        let store = self.hub.inner.store.clone();
        let (id, auto_delete) = (self.stream_id, self.auto_delete && current);
        let cursor = self.shared.delivered.load(Ordering::Relaxed);
        let overflowed = self.shared.overflowed.load(Ordering::Relaxed);
        let hub = self.hub.clone();
        let saved = async move {
            let result = store
                .write_quiet(move |tx| {
                    eventstreams::save_cursors(tx, &[(id, cursor, overflowed)])?;
                    if auto_delete {
                        eventstreams::delete_by_id(tx, id)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = result {
                log::warn!("cannot save the position of event stream {id}: {e}");
            }
            drop(hub);
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(saved);
        }
    }
}

/// What the body holds between frames.
struct BodyState {
    first: VecDeque<Bytes>,
    rx: mpsc::Receiver<Frame>,
    teardown: Teardown,
    done: bool,
}

/// The response body: the `first` frames (control messages of the connect), the queued
/// frames, then the last words, then the end. Dropping it (the connection went) tears the
/// connection down.
pub(super) fn body(
    rx: mpsc::Receiver<Frame>,
    first: Vec<Bytes>,
    teardown: Teardown,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let state = BodyState {
        first: first.into(),
        rx,
        teardown,
        done: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if let Some(bytes) = s.first.pop_front() {
            return Some((Ok(bytes), s));
        }
        let stop = s.teardown.shared.stop.clone();
        tokio::select! {
            biased;
            () = stop.cancelled() => None,
            frame = s.rx.recv() => match frame {
                Some(frame) => {
                    if let Some(id) = frame.id {
                        s.teardown.shared.delivered.store(id, Ordering::Relaxed);
                    }
                    Some((Ok(frame.bytes), s))
                }
                None => {
                    s.done = true;
                    let last = s
                        .teardown
                        .shared
                        .last_words
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take();
                    last.map(|bytes| (Ok(bytes), s))
                }
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::store::Store;

    /// A pump on a fresh store following `stream` changes, with a queue of `limit` frames.
    async fn pump(
        limit: usize,
    ) -> (
        Store,
        Arc<Shared>,
        mpsc::Receiver<Frame>,
        Arc<AtomicBool>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        let killed = Arc::new(AtomicBool::new(false));
        let k = killed.clone();
        let (gone, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            delivered: AtomicI64::new(0),
            overflowed: AtomicI64::new(0),
            selection: RwLock::new(Arc::new(Selection {
                types: vec!["stream"],
                filter: None,
            })),
            stop: CancellationToken::new(),
            last_words: Mutex::new(None),
            gone,
            kill: Arc::new(move || k.store(true, Ordering::Relaxed)),
        });
        let (tx, rx) = mpsc::channel(limit);
        let p = Pump {
            store: store.clone(),
            shared: shared.clone(),
            present: Presenter::new("test", |c: &Change| c.data().cloned()),
            framing: Framing::LongPoll,
            tx,
            shown: Arc::default(),
        };
        let head = store.read(outbox::head).await.unwrap();
        tokio::spawn(p.run(head, store.subscribe_changes()));
        (store, shared, rx, killed, dir)
    }

    async fn change(store: &Store, n: i64) {
        store
            .write(move |tx| {
                outbox::record(tx, "stream", n, Some(1), &json!({"stream_id": n}), false)
            })
            .await
            .unwrap();
    }

    fn text(frame: &Frame) -> String {
        String::from_utf8_lossy(&frame.bytes).into_owned()
    }

    #[tokio::test]
    async fn a_consumer_that_does_not_read_is_warned_then_ended_with_last_words_and_closed() {
        let (store, shared, mut rx, killed, _dir) = pump(10).await;
        for n in 1..=20 {
            change(&store, n).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(shared.overflowed.load(Ordering::Relaxed) > 0, "overflowed");
        let mut frames = Vec::new();
        while let Ok(f) = rx.try_recv() {
            frames.push(text(&f));
        }
        assert_eq!(frames.len(), 10, "the queue held its limit");
        assert!(
            frames.iter().any(|f| f.contains("\"buffer_warning\"")),
            "warned at 80 %: {frames:?}"
        );
        assert!(frames[0].ends_with("\r\n") && frames[0].contains("\"stream_id\":1"));
        let last = shared.last_words.lock().unwrap().take().unwrap();
        assert!(String::from_utf8_lossy(&last).contains("\"queue_full\""));
        tokio::time::sleep(GRACE + Duration::from_millis(300)).await;
        assert!(
            killed.load(Ordering::Relaxed),
            "a body that never went is closed"
        );
    }

    #[tokio::test]
    async fn a_consumer_that_reads_gets_every_change_once_in_order() {
        let (store, shared, mut rx, killed, _dir) = pump(4).await;
        let reader = tokio::spawn(async move {
            let mut ids = Vec::new();
            while ids.len() < 50 {
                let f = rx.recv().await.unwrap();
                if let Some(id) = f.id {
                    ids.push(id);
                }
            }
            ids
        });
        for n in 1..=50 {
            change(&store, n).await;
        }
        let ids = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .unwrap()
            .unwrap();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
        assert_eq!(shared.overflowed.load(Ordering::Relaxed), 0);
        assert!(!killed.load(Ordering::Relaxed));
    }
}
