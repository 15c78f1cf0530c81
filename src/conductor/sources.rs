//! Sources shared by every listener of the box: decoded assets (an LRU within a memory
//! budget), decoded speaker beds, and one live puller per speaker URL.
//!
//! Loading happens on blocking threads; callers get `Arc`s they move into mixer commands.
//! Owns: what is resident and for whom. May not touch: mixers, playlists, the store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::audio::live::{LiveRing, spawn_puller};
use crate::audio::pcm::{Pcm16, load_file};
use crate::audio::rt::SpeakerSource;

/// What a load gives: the source, or why it is silent (already logged once).
pub type Loaded = Result<Arc<Pcm16>, String>;

#[derive(Default)]
struct Inner {
    assets: HashMap<PathBuf, (Arc<Pcm16>, u64)>,
    failed: HashMap<PathBuf, String>,
    beds: HashMap<String, SpeakerSource>,
    /// Beds resolved so far (streams waiting for one retry when it changes).
    beds_resolved: u64,
    tick: u64,
    bytes: usize,
}

/// The box-wide source cache.
#[derive(Clone)]
pub struct Sources {
    inner: Arc<Mutex<Inner>>,
    /// Serialises speaker resolution, so two callers never decode one bed or start two
    /// pullers for one URL (held only on blocking threads).
    resolving: Arc<Mutex<()>>,
    media_dir: PathBuf,
    budget_bytes: usize,
    /// This box's own streams, read in-process by the speakers that name them.
    local: Option<Arc<dyn crate::audio::LocalStreams>>,
}

impl Sources {
    /// A cache for files under `media_dir`, holding at most `budget_bytes` of decoded assets
    /// that no stream is playing.
    pub fn new(media_dir: &Path, budget_bytes: usize) -> Self {
        Self {
            inner: Arc::default(),
            resolving: Arc::default(),
            media_dir: media_dir.to_path_buf(),
            budget_bytes,
            local: None,
        }
    }

    /// Speakers naming one of `local`'s streams read it in-process.
    pub(crate) fn with_local(mut self, local: Option<Arc<dyn crate::audio::LocalStreams>>) -> Self {
        self.local = local;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decoded bytes resident now.
    pub fn resident_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The decoded asset at `path`, if resident (no I/O).
    pub fn cached_asset(&self, path: &Path) -> Option<Arc<Pcm16>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        inner.assets.get_mut(path).map(|(pcm, used)| {
            *used = tick;
            pcm.clone()
        })
    }

    /// Loads an asset (blocking: call from a blocking thread). A missing or broken file is
    /// logged once, with its path, and remembered until [`Sources::forget_failures`].
    pub fn load_asset(&self, path: &Path) -> Loaded {
        if let Some(pcm) = self.cached_asset(path) {
            return Ok(pcm);
        }
        if let Some(reason) = self.lock().failed.get(path) {
            return Err(reason.clone());
        }
        match load_file(path) {
            Ok(pcm) => {
                let pcm = Arc::new(pcm);
                let mut inner = self.lock();
                inner.tick += 1;
                let tick = inner.tick;
                inner.bytes += pcm.bytes();
                if let Some((old, _)) = inner.assets.insert(path.to_path_buf(), (pcm.clone(), tick))
                {
                    inner.bytes -= old.bytes();
                }
                self.evict(&mut inner);
                Ok(pcm)
            }
            Err(e) => {
                let reason = e.to_string();
                log::warn!("asset audio unavailable, the asset is skipped: {reason}");
                self.lock()
                    .failed
                    .insert(path.to_path_buf(), reason.clone());
                Err(reason)
            }
        }
    }

    /// Forgets remembered failures (after the catalog changes, a fixed file is tried again).
    pub fn forget_failures(&self) {
        self.lock().failed.clear();
    }

    /// Forgets the decoded assets `keep` rejects (recordings deleted or re-filed since): their
    /// memory goes back at once instead of waiting for the budget to push them out. A voice
    /// still playing one holds its own reference until it ends.
    pub fn retain_assets(&self, keep: impl Fn(&Path) -> bool) {
        let mut inner = self.lock();
        let mut freed = 0;
        inner.assets.retain(|path, (pcm, _)| {
            let kept = keep(path);
            if !kept {
                freed += pcm.bytes();
            }
            kept
        });
        inner.bytes -= freed;
    }

    /// Drops least recently used assets that no voice holds until within the budget.
    fn evict(&self, inner: &mut Inner) {
        while inner.bytes > self.budget_bytes {
            let victim = inner
                .assets
                .iter()
                .filter(|(_, (pcm, _))| Arc::strong_count(pcm) == 1)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { break };
            if let Some((pcm, _)) = inner.assets.remove(&victim) {
                inner.bytes -= pcm.bytes();
            }
        }
    }

    /// The source for a speaker `uri` (then `backupuri`): the box's own media (`/rwmedia/…`
    /// or a bare file name) decoded and looped once per box, or an `http://` stream pulled
    /// once per box. Blocking on first use of a file; `Err` says why the speaker is silent.
    pub fn speaker(&self, uri: &str, backupuri: &str) -> Result<SpeakerSource, String> {
        let _one_at_a_time = self
            .resolving
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = format!("{uri}\n{backupuri}");
        if let Some(s) = self.lock().beds.get(&key) {
            return Ok(s.clone());
        }
        let candidates: Vec<&str> = [uri, backupuri]
            .into_iter()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        let mut reasons = Vec::new();
        let mut urls = Vec::new();
        for c in &candidates {
            match self.local_file(c) {
                Some(Ok(path)) => match load_file(&path) {
                    Ok(pcm) => {
                        let source = SpeakerSource::Loop(Arc::new(pcm.into_loop()));
                        let mut inner = self.lock();
                        inner.beds.insert(key, source.clone());
                        inner.beds_resolved += 1;
                        return Ok(source);
                    }
                    Err(e) => reasons.push(e.to_string()),
                },
                Some(Err(why)) => reasons.push(why),
                None => urls.push((*c).to_owned()),
            }
        }
        if urls.is_empty() {
            let why = if reasons.is_empty() {
                "the speaker has no uri".to_owned()
            } else {
                reasons.join("; ")
            };
            return Err(why);
        }
        let ring = Arc::new(LiveRing::new());
        spawn_puller(urls, ring.clone(), self.local.clone())
            .map_err(|e| format!("cannot start a puller: {e}"))?;
        let source = SpeakerSource::Live(ring);
        let mut inner = self.lock();
        inner.beds.insert(key, source.clone());
        inner.beds_resolved += 1;
        Ok(source)
    }

    /// Counts the beds resolved since start: a change means a stream waiting for a speaker
    /// source may now add it.
    pub fn beds_resolved(&self) -> u64 {
        self.lock().beds_resolved
    }

    /// The speaker's source if it is already resolved (no I/O; the render side never waits).
    pub fn cached_speaker(&self, uri: &str, backupuri: &str) -> Option<SpeakerSource> {
        self.lock()
            .beds
            .get(&format!("{uri}\n{backupuri}"))
            .cloned()
    }

    /// Resolves every active speaker of a catalog (blocking: decodes beds, starts pullers);
    /// failures are logged once each with the speaker id and the reason.
    pub fn resolve_speakers(&self, catalog: &crate::store::catalog::Catalog) {
        for sp in catalog.speakers.iter().filter(|s| s.active) {
            if self.cached_speaker(&sp.uri, &sp.backupuri).is_some() {
                continue;
            }
            if let Err(why) = self.speaker(&sp.uri, &sp.backupuri) {
                let mut inner = self.lock();
                let key = format!("speaker {}: {why}", sp.id);
                if !inner.failed.contains_key(Path::new(&key)) {
                    log::warn!("speaker {} is silent: {why}", sp.id);
                    inner.failed.insert(PathBuf::from(key), why);
                }
            }
        }
    }

    /// Stops the pullers of live beds no speaker uses any more (`in_use`: uri/backupuri pairs).
    pub fn retain_beds(&self, in_use: &[(String, String)]) {
        let keep: Vec<String> = in_use.iter().map(|(u, b)| format!("{u}\n{b}")).collect();
        self.lock().beds.retain(|k, s| {
            let keep = keep.contains(k);
            if !keep && let SpeakerSource::Live(ring) = s {
                ring.stop();
            }
            keep
        });
    }

    /// Stops every live puller (daemon shutdown).
    pub fn stop_all(&self) {
        self.retain_beds(&[]);
    }

    /// `Some(Ok(path))` for the box's own media (`/rwmedia/<file>`, or any host's
    /// `…/rwmedia/<file>` URL when that file is here), `Some(Err)` for a URI that cannot be
    /// played, `None` for an `http://` or `https://` stream to pull.
    fn local_file(&self, uri: &str) -> Option<Result<PathBuf, String>> {
        let remote = uri.contains("://");
        let path_part = match uri.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => uri,
        };
        if let Some(name) = path_part.strip_prefix("/rwmedia/") {
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Some(Err(format!("{uri}: not a media file of this box")));
            }
            let path = self.media_dir.join(name);
            if !remote || path.exists() {
                return Some(Ok(path));
            }
        }
        let scheme = uri.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if matches!(scheme.as_deref(), Some("http" | "https")) {
            return None;
        }
        Some(Err(format!(
            "{uri}: only http:// and https:// streams and the box's own media (/rwmedia/…) can be played"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::decode::Pcm;
    use crate::media::encode::wav16;

    fn write_wav(dir: &Path, name: &str, frames: usize) -> PathBuf {
        let pcm = Pcm {
            rate: 44_100,
            channels: 1,
            samples: vec![0.25; frames],
        };
        let path = dir.join(name);
        std::fs::write(&path, wav16(&pcm)).expect("write");
        path
    }

    #[test]
    fn assets_are_decoded_once_and_shared() {
        let dir = tempfile::tempdir().expect("dir");
        let path = write_wav(dir.path(), "a.wav", 44_100);
        let sources = Sources::new(dir.path(), 1 << 30);
        let a = sources.load_asset(&path).expect("loads");
        let b = sources.load_asset(&path).expect("loads");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(sources.resident_bytes(), 44_100 * 2);
    }

    #[test]
    fn unused_assets_are_evicted_beyond_the_budget_but_playing_ones_stay() {
        let dir = tempfile::tempdir().expect("dir");
        let a = write_wav(dir.path(), "a.wav", 44_100);
        let b = write_wav(dir.path(), "b.wav", 44_100);
        let sources = Sources::new(dir.path(), 100_000);
        let held = sources.load_asset(&a).expect("a");
        sources.load_asset(&b).expect("b");
        assert!(sources.cached_asset(&a).is_some(), "a is playing");
        drop(held);
        let c = write_wav(dir.path(), "c.wav", 44_100);
        sources.load_asset(&c).expect("c");
        assert!(sources.resident_bytes() <= 100_000);
    }

    #[test]
    fn assets_no_longer_named_are_forgotten_and_their_bytes_given_back() {
        let dir = tempfile::tempdir().expect("dir");
        let a = write_wav(dir.path(), "a.wav", 44_100);
        let b = write_wav(dir.path(), "b.wav", 44_100);
        let sources = Sources::new(dir.path(), 1 << 30);
        let playing = sources.load_asset(&a).expect("a");
        sources.load_asset(&b).expect("b");
        sources.retain_assets(|p| p == b.as_path());
        assert!(sources.cached_asset(&a).is_none(), "a was forgotten");
        assert!(sources.cached_asset(&b).is_some(), "b is still named");
        assert_eq!(sources.resident_bytes(), 44_100 * 2);
        assert_eq!(playing.frames(), 44_100, "a voice keeps its own reference");
    }

    #[test]
    fn a_missing_asset_file_is_reported_by_path() {
        let dir = tempfile::tempdir().expect("dir");
        let sources = Sources::new(dir.path(), 1 << 20);
        let err = sources
            .load_asset(&dir.path().join("gone.wav"))
            .expect_err("missing");
        assert!(err.contains("gone.wav"), "{err}");
    }

    #[test]
    fn a_speaker_on_the_box_media_is_a_loop_and_traversal_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        write_wav(dir.path(), "bed.wav", 44_100);
        let sources = Sources::new(dir.path(), 1 << 20);
        assert!(matches!(
            sources.speaker("/rwmedia/bed.wav", ""),
            Ok(SpeakerSource::Loop(_))
        ));
        assert!(matches!(
            sources.speaker("http://box.local:8888/rwmedia/bed.wav", ""),
            Ok(SpeakerSource::Loop(_))
        ));
        let err = sources
            .speaker("/rwmedia/../etc/passwd", "")
            .err()
            .expect("refused");
        assert!(err.contains("not a media file"), "{err}");
        let err = sources.speaker("ftp://x/y.mp3", "").err().expect("refused");
        assert!(err.contains("only http://"), "{err}");
        let err = sources.speaker("bed.wav", "").err().expect("refused");
        assert!(err.contains("only http://"), "{err}");
        assert!(matches!(
            sources.speaker("HTTPS://127.0.0.1:1/bed.mp3", ""),
            Ok(SpeakerSource::Live(_))
        ));
        sources.stop_all();
    }
}
