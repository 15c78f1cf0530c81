//! Multistream push: while a channel is live, its audio is sent on to each of its enabled
//! targets (the organisation's public Icecast, a partner station) as an Icecast source, the
//! same frames its listeners get. A target that refuses or drops the connection is tried
//! again after 1 s, doubling to 30 s, for as long as the channel is live; its state
//! (connected, bytes sent, last error) is kept for the API, the console and `/metrics`, and a
//! change of error is logged once. Target URLs carry passwords: only [`Endpoint`]'s
//! password-free form is ever shown or logged.
//!
//! Owns: the push loops and their states. May not touch: HTTP details (`crate::net::push`),
//! SQL.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::Pushes;
use crate::net::push::{self, Endpoint};
use crate::output::feed::Feed;
use crate::output::listener::ListenerBody;

/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One target's push state, shared with the API and metrics.
#[derive(Debug, Default)]
pub(crate) struct TargetState {
    connected: AtomicBool,
    bytes: AtomicU64,
    error: Mutex<Option<String>>,
}

/// A snapshot of a [`TargetState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetStatus {
    /// The target accepted the source and it is flowing.
    pub connected: bool,
    /// Bytes sent to it this session.
    pub bytes: u64,
    /// What went wrong last, if it is not connected.
    pub last_error: Option<String>,
}

impl TargetState {
    pub(crate) fn status(&self) -> TargetStatus {
        TargetStatus {
            connected: self.connected.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            last_error: self
                .error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    fn set_error(&self, what: &str, error: Option<String>) {
        let mut held = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        if *held != error {
            match &error {
                Some(e) => log::warn!("{what}: {e}; retrying with back-off"),
                None => log::info!("{what}: pushing"),
            }
            *held = error;
        }
    }
}

/// What a push loop needs.
pub(crate) struct PushJob {
    pub channel_id: String,
    pub channel_name: String,
    pub target_id: String,
    pub endpoint: Endpoint,
    pub feed: Feed,
    pub stop: CancellationToken,
    pub state: Arc<TargetState>,
}

impl crate::broadcast::Broadcast {
    pub(super) fn pushes(&self) -> MutexGuard<'_, Pushes> {
        self.inner
            .pushes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes channel `channel_id`'s pushes match its enabled targets while it is live (and
    /// stops them all when it is not). Called when it goes live and when its targets change.
    pub(crate) async fn reconcile_targets(&self, channel_id: &str) {
        let live = self
            .lock()
            .get(channel_id)
            .filter(|l| !l.stop.is_cancelled())
            .cloned();
        let feed = live.as_ref().and_then(|l| l.feed.get().cloned());
        let wanted = match (&live, &feed) {
            (Some(_), Some(_)) => {
                let id = channel_id.to_owned();
                let read = self
                    .inner
                    .store
                    .read(move |c| {
                        let Some(ch) = crate::store::channels::get(c, &id)? else {
                            return Ok(None);
                        };
                        let mut targets = Vec::new();
                        for t in &ch.targets {
                            if let Some(target) = crate::store::channels::target(c, &t.target_id)?
                                && !target.disabled
                            {
                                targets.push(target);
                            }
                        }
                        Ok(Some((ch.name, targets)))
                    })
                    .await;
                match read {
                    Ok(found) => found,
                    Err(e) => {
                        log::warn!("channel {channel_id}: cannot read its targets: {e}");
                        return;
                    }
                }
            }
            _ => None,
        };
        let mut pushes = self.pushes();
        let keep: Vec<String> = wanted
            .as_ref()
            .map(|(_, t)| t.iter().map(|t| t.id.clone()).collect())
            .unwrap_or_default();
        pushes.retain(|(ch, target), (stop, _)| {
            let stays = ch != channel_id || (keep.contains(target) && !stop.is_cancelled());
            if !stays {
                stop.cancel();
            }
            stays
        });
        let (Some((name, targets)), Some(live), Some(feed)) = (wanted, live, feed) else {
            return;
        };
        for target in targets {
            let key = (channel_id.to_owned(), target.id.clone());
            if pushes.contains_key(&key) {
                continue;
            }
            let endpoint = match Endpoint::parse(&target.url) {
                Ok(e) => e,
                Err(e) => {
                    log::warn!(
                        "channel {channel_id}: target {} is unusable: its URL {e}",
                        target.id
                    );
                    continue;
                }
            };
            let stop = live.stop.child_token();
            let state = Arc::new(TargetState::default());
            pushes.insert(key, (stop.clone(), state.clone()));
            tokio::spawn(run(PushJob {
                channel_id: channel_id.to_owned(),
                channel_name: name.clone(),
                target_id: target.id,
                endpoint,
                feed: feed.clone(),
                stop,
                state,
            }));
        }
    }

    /// Stops the push of channel `channel_id` to target `target_id` and starts it again if it
    /// is still wanted (its URL or switch changed).
    pub(crate) async fn restart_target(&self, channel_id: &str, target_id: &str) {
        if let Some((stop, _)) = self
            .pushes()
            .remove(&(channel_id.to_owned(), target_id.to_owned()))
        {
            stop.cancel();
        }
        self.reconcile_targets(channel_id).await;
    }

    /// The push state of channel `channel_id`'s target `target_id`, while it is pushed.
    pub(crate) fn target_status(&self, channel_id: &str, target_id: &str) -> Option<TargetStatus> {
        self.pushes()
            .get(&(channel_id.to_owned(), target_id.to_owned()))
            .filter(|(stop, _)| !stop.is_cancelled())
            .map(|(_, state)| state.status())
    }
}

/// Pushes until `job.stop` is cancelled (the channel went idle, the target was removed).
pub(crate) async fn run(job: PushJob) {
    let what = format!(
        "channel {} → target {} ({})",
        job.channel_id, job.target_id, job.endpoint
    );
    let mut backoff = Duration::from_secs(1);
    while !job.stop.is_cancelled() && !job.feed.is_closed() {
        let Some(sub) = job.feed.subscribe() else {
            break;
        };
        let counter = job.state.clone();
        let body = ListenerBody::new(sub, false)
            .into_stream()
            .map(move |piece| {
                let piece = piece.unwrap_or_default();
                counter
                    .bytes
                    .fetch_add(piece.len() as u64, Ordering::Relaxed);
                Ok::<_, std::io::Error>(piece)
            });
        let started = tokio::select! {
            () = job.stop.cancelled() => break,
            r = push::start(&job.endpoint, &job.channel_name, body) => r,
        };
        let ended = match started {
            Ok(accepted) => {
                job.state.connected.store(true, Ordering::Relaxed);
                job.state.set_error(&what, None);
                backoff = Duration::from_secs(1);
                let ended = tokio::select! {
                    () = job.stop.cancelled() => None,
                    e = accepted.closed() => Some(e),
                };
                job.state.connected.store(false, Ordering::Relaxed);
                ended
            }
            Err(e) => Some(e),
        };
        let Some(error) = ended else { break };
        if job.stop.is_cancelled() || job.feed.is_closed() {
            break;
        }
        job.state.set_error(&what, Some(error.to_string()));
        tokio::select! {
            () = job.stop.cancelled() => break,
            () = tokio::time::sleep(backoff) => {},
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    job.state.connected.store(false, Ordering::Relaxed);
    log::debug!("{what}: push ended");
}
