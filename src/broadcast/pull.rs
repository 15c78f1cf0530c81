//! Pull channels: the box fetches `pull.source` (another Icecast, another box, a file on a
//! web server) with `pull.headers` and relays it as the channel's live source, until the
//! channel is terminated, suspended or deleted. A source that fails or ends is tried again
//! after a back-off (1 s doubling to 30 s); the failure is shown as the channel's `issues`
//! and logged once per change.
//!
//! The fetch runs on a blocking thread (`crate::net`'s HTTP client gives a `Read`); the MP3
//! frames go to the channel's feed unchanged, paced to real time so a file does not flood
//! the queue.
//!
//! Owns: the pull loop and its back-off. May not touch: HTTP routing, SQL.

use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::frames::FrameSplitter;
use super::{BeginError, Broadcast, Session};
use crate::net::fetch::{self, AudioBody, Container};
use crate::store::channels::Channel;

/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A source that ends sooner than this after connecting is retried only after a back-off.
const MIN_RUN: Duration = Duration::from_secs(2);
/// A source that delivered for this long before failing is retried after the shortest wait.
const HEALTHY_RUN: Duration = Duration::from_secs(10);
/// How far ahead of real time a fast source (a file) may run.
const PACE_AHEAD: Duration = Duration::from_secs(2);
/// A source that sends this much without one MP3 frame is dropped.
const MAX_JUNK_BYTES: usize = super::ingest::MAX_JUNK_BYTES;

/// One channel's pull: how to stop it, and what is wrong with it now.
pub(crate) struct Pull {
    pub(super) stop: CancellationToken,
    issue: Mutex<Option<String>>,
}

impl Pull {
    pub(super) fn new(stop: CancellationToken) -> Self {
        Self {
            stop,
            issue: Mutex::new(None),
        }
    }

    /// What stops the source from playing, if anything.
    pub(super) fn issue(&self) -> Option<String> {
        self.issue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the issue; logs when it changes.
    fn set_issue(&self, channel_id: &str, issue: Option<String>) {
        let mut held = self.issue.lock().unwrap_or_else(PoisonError::into_inner);
        if *held != issue {
            match &issue {
                Some(i) => log::warn!("channel {channel_id}: {i}; retrying with back-off"),
                None => log::info!("channel {channel_id}: the pull source plays"),
            }
            *held = issue;
        }
    }
}

/// What a pull task needs to know of its channel.
pub(crate) struct PullSpec {
    pub channel_id: String,
    pub playback_id: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub record: bool,
}

impl Broadcast {
    /// Starts pulling `channel`'s `pull.source` (nothing if it is already pulling or has no
    /// source). Must be called within the tokio runtime.
    pub(crate) fn start_pull(&self, channel: &Channel) {
        let Some(url) = channel
            .pull
            .as_ref()
            .and_then(|p| p.get("source"))
            .and_then(|s| s.as_str())
        else {
            return;
        };
        let headers = channel
            .pull
            .as_ref()
            .and_then(|p| p.get("headers"))
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let pull = {
            let mut pulls = self.pulls();
            if pulls
                .get(&channel.id)
                .is_some_and(|p| !p.stop.is_cancelled())
            {
                return;
            }
            let pull = Arc::new(Pull::new(self.inner.shutdown.child_token()));
            pulls.insert(channel.id.clone(), pull.clone());
            pull
        };
        log::info!("channel {}: pulling {}", channel.id, redact(url));
        let spec = PullSpec {
            channel_id: channel.id.clone(),
            playback_id: channel.playback_id.clone(),
            url: url.to_owned(),
            headers,
            record: channel.record,
        };
        tokio::spawn(run(self.clone(), spec, pull));
    }

    /// What keeps channel `channel_id`'s pull from playing, if anything.
    pub(crate) fn pull_issue(&self, channel_id: &str) -> Option<String> {
        self.pulls().get(channel_id).and_then(|p| p.issue())
    }

    /// Starts the pulls that were running when the daemon last stopped.
    pub(super) async fn resume_pulls(&self) {
        match self.inner.store.read(crate::store::channels::list).await {
            Ok(all) => {
                for ch in all.iter().filter(|c| c.pulling && !c.suspended) {
                    self.start_pull(ch);
                }
            }
            Err(e) => log::warn!("cannot read the channels to resume their pulls: {e}"),
        }
    }
}

/// Pulls until `pull.stop` is cancelled.
pub(super) async fn run(broadcast: Broadcast, spec: PullSpec, pull: Arc<Pull>) {
    let spec = Arc::new(spec);
    let mut backoff = Duration::from_secs(1);
    while !pull.stop.is_cancelled() {
        let started = Instant::now();
        // Connect first: the channel is live once its source answers with audio.
        let open_spec = spec.clone();
        let opened = tokio::select! {
            () = pull.stop.cancelled() => break,
            o = tokio::task::spawn_blocking(move || open(&open_spec)) => o,
        };
        let body = match opened {
            Ok(Ok(body)) => body,
            Ok(Err(issue)) => {
                pull.set_issue(&spec.channel_id, Some(issue));
                sleep_or_stop(&pull.stop, backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => {
                log::error!("channel {}: the pull thread failed: {e}", spec.channel_id);
                return;
            }
        };
        let session = match broadcast.begin_under(
            &spec.channel_id,
            &spec.playback_id,
            spec.record,
            &pull.stop,
        ) {
            Ok(s) => s,
            Err(BeginError::AlreadyLive(_)) => {
                pull.set_issue(
                    &spec.channel_id,
                    Some("a pushed source is live on this channel".into()),
                );
                sleep_or_stop(&pull.stop, backoff).await;
                continue;
            }
            Err(BeginError::ShuttingDown) => return,
        };
        let session = Arc::new(session);
        let (task_session, task_spec, task_pull) = (session.clone(), spec.clone(), pull.clone());
        let outcome =
            tokio::task::spawn_blocking(move || relay(&task_spec, body, &task_session, &task_pull))
                .await
                .unwrap_or_else(|e| Err(format!("the pull thread failed: {e}")));
        if let Ok(session) = Arc::try_unwrap(session) {
            session.finish().await;
        }
        if pull.stop.is_cancelled() {
            break;
        }
        match outcome {
            // A stream that ended, or a file that played through: again at once (a file loops).
            Ok(()) if started.elapsed() > MIN_RUN => {
                log::debug!(
                    "channel {}: the pull source ended; fetching it again",
                    spec.channel_id
                );
                backoff = Duration::from_secs(1);
                continue;
            }
            Ok(()) => pull.set_issue(
                &spec.channel_id,
                Some(format!(
                    "pull source {} ends as soon as it starts",
                    redact(&spec.url)
                )),
            ),
            Err(issue) => pull.set_issue(&spec.channel_id, Some(issue)),
        }
        if started.elapsed() > HEALTHY_RUN {
            backoff = Duration::from_secs(1);
        }
        sleep_or_stop(&pull.stop, backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    log::info!("channel {}: pull stopped", spec.channel_id);
}

async fn sleep_or_stop(stop: &CancellationToken, d: Duration) {
    tokio::select! {
        () = stop.cancelled() => {},
        () = tokio::time::sleep(d) => {},
    }
}

/// Connects to the source and checks it is audio the box can relay (blocking).
fn open(spec: &PullSpec) -> Result<AudioBody, String> {
    fetch::open_audio(&spec.url, &spec.headers)
        .map_err(|e| format!("pull source {} cannot be played: {e}", redact(&spec.url)))
}

/// Publishes the source's frames until it ends, fails or must stop (blocking): MP3 as it
/// comes, Ogg Vorbis and AAC encoded to MP3 first.
fn relay(spec: &PullSpec, body: AudioBody, session: &Session, pull: &Pull) -> Result<(), String> {
    if body.container != Container::Mp3 {
        let started = Instant::now();
        let mut played = Duration::ZERO;
        let counted = super::transcode::Counted::new(body.reader, session.received_counter());
        return super::transcode::transcode(
            Box::new(counted),
            |frames| {
                if frames.count > 0 && played.is_zero() {
                    pull.set_issue(&spec.channel_id, None);
                }
                played += Duration::from_micros(frames.duration_us);
                session.publish(frames);
                let ahead = played.saturating_sub(started.elapsed());
                if ahead > PACE_AHEAD {
                    std::thread::sleep(ahead - PACE_AHEAD);
                }
            },
            || session.is_stopped(),
        )
        .map_err(|e| format!("pull source {}: {e}", redact(&spec.url)));
    }
    let mut reader = body.reader;
    let mut splitter = FrameSplitter::default();
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    let mut played = Duration::ZERO;
    let mut healthy = false;
    while !session.is_stopped() {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) => {
                return Err(format!(
                    "pull source {} failed while playing: {e}",
                    redact(&spec.url)
                ));
            }
        };
        session.received(n);
        let frames = splitter.push(&buf[..n]);
        played += Duration::from_micros(frames.duration_us);
        if frames.count > 0 && !healthy {
            healthy = true;
            pull.set_issue(&spec.channel_id, None);
        }
        session.publish(frames);
        if splitter.junk_run() > MAX_JUNK_BYTES {
            return Err(format!(
                "pull source {} sent over {} KB that is not MP3 audio",
                redact(&spec.url),
                MAX_JUNK_BYTES / 1024
            ));
        }
        let ahead = played.saturating_sub(started.elapsed());
        if ahead > PACE_AHEAD {
            std::thread::sleep(ahead - PACE_AHEAD);
        }
    }
    Ok(())
}

/// A URL without its user information (a password) and query, for logs and `issues`.
pub(crate) fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split('?').next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_queries_never_reach_the_log() {
        assert_eq!(
            redact("http://user:secret@radio.example:8000/live.mp3?token=x"),
            "http://radio.example:8000/live.mp3"
        );
        assert_eq!(redact("https://a.b/c"), "https://a.b/c");
    }
}
