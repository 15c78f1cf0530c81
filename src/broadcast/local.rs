//! A Roundware speaker whose `uri` is one of this box's own channels
//! (`http://<this box>/live/<playbackId>.mp3`) is fed in-process: the speaker's puller reads
//! the channel's feed like any listener, with no HTTP request from the box to itself. What
//! counts as this box: loopback names and the machine's host name (with `.local`) on the
//! port the daemon listens on, and the host and port of `[http] public_url`.
//!
//! Owns: recognising the box's own URLs and the blocking reader over a feed. May not touch:
//! decoding (the puller's), the store.

use std::io::Read;

use tokio::sync::mpsc;

use super::Broadcast;
use super::transcode::ChannelReader;
use crate::audio::LocalStreams;
use crate::output::feed::Feed;

/// Chunks queued between the feed and the puller's thread.
const QUEUE_CHUNKS: usize = 64;

/// This box's channels as speaker sources.
pub(crate) struct OwnChannels {
    broadcast: Broadcast,
    /// (host, port) pairs that name this box.
    names: Vec<(String, u16)>,
    runtime: tokio::runtime::Handle,
}

impl OwnChannels {
    /// The channels of `broadcast`, this box being `listen_port` under its local names and
    /// `public_url`. Must be made within the tokio runtime.
    pub(crate) fn new(broadcast: Broadcast, listen_port: u16, public_url: Option<&str>) -> Self {
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "[::1]".to_owned(),
        ];
        if let Ok(name) = std::fs::read_to_string("/etc/hostname") {
            let name = name.trim().to_ascii_lowercase();
            if !name.is_empty() {
                hosts.push(format!("{name}.local"));
                hosts.push(name);
            }
        }
        let mut names: Vec<(String, u16)> = hosts.into_iter().map(|h| (h, listen_port)).collect();
        if let Some(url) = public_url.and_then(|u| reqwest::Url::parse(u).ok())
            && let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
        {
            names.push((host.to_ascii_lowercase(), port));
        }
        Self {
            broadcast,
            names,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// The playback id `url` names, when it is one of this box's `/live/<id>.mp3`.
    fn own_playback_id(&self, url: &str) -> Option<String> {
        let parsed = reqwest::Url::parse(url.trim()).ok()?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return None;
        }
        let host = parsed.host_str()?.to_ascii_lowercase();
        let port = parsed.port_or_known_default()?;
        if !self.names.iter().any(|(h, p)| *h == host && *p == port) {
            return None;
        }
        let id = parsed.path().strip_prefix("/live/")?.strip_suffix(".mp3")?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| id.to_owned())
    }
}

impl LocalStreams for OwnChannels {
    fn open(&self, url: &str) -> Option<Result<Box<dyn Read + Send + Sync>, String>> {
        let playback_id = self.own_playback_id(url)?;
        Some(match self.broadcast.live_feed(&playback_id) {
            Some((_, _, feed)) => Ok(Box::new(feed_reader(&self.runtime, &feed))),
            None => Err(format!(
                "channel {playback_id} of this box is not live (or has no such channel)"
            )),
        })
    }
}

/// A blocking reader over `feed` (for a puller's thread): its chunks from the burst on, end
/// of file when the channel goes idle.
fn feed_reader(runtime: &tokio::runtime::Handle, feed: &Feed) -> ChannelReader {
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    let sub = feed.subscribe();
    runtime.spawn(async move {
        let Some(mut sub) = sub else { return };
        while let Some(chunk) = sub.next_chunk().await {
            if tx.send(chunk.mp3).await.is_err() {
                return;
            }
        }
    });
    ChannelReader::new(rx)
}
