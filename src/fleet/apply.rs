//! The apply loop (fleet.md §3.6): this box's copy of the venue catalogue, read in order from
//! the position after the one applied, each message applied to SQLite in one transaction
//! together with its position: exactly once, with no acknowledgement traffic. A mirror keeps
//! the hub's sequence numbers, so the position survives a rebuilt mirror.
//!
//! An asset's media (and a floor plan's image) are fetched from the hub's copy of its bucket
//! before its row is applied (`[fleet] media_workers` fetches ahead at once, applied in
//! order): an asset enters lists and playlists only when its files are on disk. Files are
//! read by direct gets, with no consumer per object ([`fetch`]), checked against the
//! catalogue's size and the object store's SHA-256 digest, and written atomically.
//!
//! Owns: the catalogue consumer, media fetches. May not touch: SQL (the store's `fleet`
//! module), the publisher.

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, message::Message};
use futures_util::{FutureExt as _, StreamExt};
use serde_json::Value;

use super::Shared;
use super::publish::MediaRef;
use super::streams::{CATALOGUE, is_media_bucket, parse_subject};
use crate::media::files::{media_stem, safe_name, stem_covers};
use crate::store::fleet::{Applied, Kind, kind_named, position, rows};
use crate::store::outbox;

mod fetch;

/// The largest media file fetched (a 15 min recording's renditions are about 175 MB).
const MAX_MEDIA_BYTES: u64 = 2 << 30;
/// How long the hub may take to answer before the box reads its own mirror.
const ASK_HUB: Duration = Duration::from_secs(2);
/// How often a box reading its mirror asks whether the hub answers again.
const LOOK_FOR_HUB: Duration = Duration::from_secs(2);
/// The longest pull the apply loop's consumer waits on.
const PULL_EXPIRES: Duration = Duration::from_secs(4);
/// Catalogue messages applied in one transaction at most.
const BATCH: usize = 256;
/// A media fetch failing this long is logged (shorter: the hub's copy is still arriving).
const FETCH_PATIENCE: Duration = Duration::from_secs(10);

/// One catalogue message, ready to apply.
struct Ready {
    seq: u64,
    subject: String,
    what: Result<(&'static Kind, i64, Option<Value>), String>,
}

/// Applies the catalogue until shutdown, reconnecting after failures.
pub(crate) async fn run(shared: Shared, local: jetstream::Context, hub: jetstream::Context) {
    let mut failing: Option<String> = None;
    loop {
        let why = consume(&shared, &local, &hub).await;
        if shared.shutdown.is_cancelled() {
            return;
        }
        if why.is_empty() {
            // The hub answers again: read its catalogue from the position reached.
            failing = None;
            continue;
        }
        if failing.as_deref() != Some(why.as_str()) {
            log::warn!("fleet: reading the venue catalogue: {why}; retrying");
            shared.status.set_apply_error(Some(why.clone()));
            failing = Some(why);
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Reads and applies from the position on; returns why it stopped.
///
/// A box reads the hub's catalogue itself whenever the hub answers, and its own mirror only
/// when it does not: the two share their positions, and after a long cut nats-server takes up
/// a mirror again only on its own retry (measured: about 50 s after a 60 s cut, reporting
/// lag 0 meanwhile), while a request through the healed link answers at once.
async fn consume(shared: &Shared, local: &jetstream::Context, hub: &jetstream::Context) -> String {
    let start = match shared.store.read(position).await {
        Ok(p) => p.applied_seq + 1,
        Err(e) => return e.to_string(),
    };
    let from_hub = if shared.is_hub {
        None
    } else {
        match tokio::time::timeout(ASK_HUB, hub.get_stream(CATALOGUE)).await {
            Ok(Ok(s)) => Some(s),
            _ => None,
        }
    };
    let on_mirror = from_hub.is_none();
    let stream = match from_hub {
        Some(s) => s,
        None => match local.get_stream(CATALOGUE).await {
            Ok(s) => s,
            Err(e) => return format!("{CATALOGUE}: {e}"),
        },
    };
    let consumer = match stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            // Short pulls, so that a link that died under a pull is noticed (missed
            // heartbeats) and the consumer made again within seconds of the link's return.
            max_expires: PULL_EXPIRES,
            ..Default::default()
        })
        .await
    {
        Ok(c) => c,
        Err(e) => return format!("a consumer of {CATALOGUE}: {e}"),
    };
    let messages = match consumer.messages().await {
        Ok(m) => m,
        Err(e) => return format!("{CATALOGUE}'s messages: {e}"),
    };
    shared.status.set_apply_error(None);
    let workers = shared.media_workers.max(1);
    let mut ready = messages.map(|m| prepare(shared, hub, m)).buffered(workers);
    let mut look_for_hub = tokio::time::interval(LOOK_FOR_HUB);
    look_for_hub.tick().await;
    loop {
        let next = tokio::select! {
            () = shared.shutdown.cancelled() => return String::new(),
            next = ready.next() => next,
            _ = look_for_hub.tick(), if on_mirror => {
                if matches!(tokio::time::timeout(ASK_HUB, hub.get_stream(CATALOGUE)).await, Ok(Ok(_))) {
                    // Not a problem: the loop starts again on the hub's catalogue.
                    return String::new();
                }
                continue;
            }
        };
        let mut batch = match next {
            Some(Ok(r)) => vec![r],
            Some(Err(why)) => return why,
            None => return format!("{CATALOGUE}'s consumer ended"),
        };
        // What is ready already goes in the same transaction (a new box replays thousands).
        let mut stopped = None;
        while batch.len() < BATCH {
            match ready.next().now_or_never() {
                Some(Some(Ok(r))) => batch.push(r),
                Some(Some(Err(why))) => {
                    stopped = Some(why);
                    break;
                }
                Some(None) => {
                    stopped = Some(format!("{CATALOGUE}'s consumer ended"));
                    break;
                }
                None => break,
            }
        }
        if let Err(why) = apply(shared, batch).await {
            return why;
        }
        if let Some(why) = stopped {
            return why;
        }
        shared.status.set_apply_error(None);
    }
}

/// Parses a message and fetches its media (retrying until they arrive or shutdown).
async fn prepare(
    shared: &Shared,
    hub: &jetstream::Context,
    message: Result<Message, consumer::pull::OrderedError>,
) -> Result<Ready, String> {
    let message = message.map_err(|e| e.to_string())?;
    let seq = message
        .info()
        .map_err(|e| format!("a catalogue message without its position: {e}"))?
        .stream_sequence;
    let subject = message.subject.to_string();
    let what = parse(&subject, &message.payload);
    if let Ok((kind, id, Some(state))) = &what
        && kind.media
    {
        let media: Vec<MediaRef> = serde_json::from_slice::<Value>(&message.payload)
            .ok()
            .and_then(|v| serde_json::from_value(v["media"].clone()).ok())
            .unwrap_or_default();
        let file = state["rows"][kind.table][0]["file"].as_str().unwrap_or("");
        if let Err(why) = check_media(file, &media) {
            return Ok(Ready {
                seq,
                subject,
                what: Err(why),
            });
        }
        fetch_all(shared, hub, &format!("{} {id}", kind.name), &media).await;
    }
    Ok(Ready { seq, subject, what })
}

/// The message's object and state (`None` for a tombstone).
fn parse(subject: &str, payload: &[u8]) -> Result<(&'static Kind, i64, Option<Value>), String> {
    let (name, id) = parse_subject(subject).ok_or("not a catalogue subject")?;
    let kind = kind_named(name).ok_or_else(|| format!("{name:?} is not a kind carried"))?;
    let body: Value =
        serde_json::from_slice(payload).map_err(|e| format!("its body is not JSON: {e}"))?;
    let state = match body.get("state") {
        None | Some(Value::Null) => None,
        Some(s) if s.get("rows").is_some_and(Value::is_object) => Some(s.clone()),
        Some(_) => return Err("its state has no rows".into()),
    };
    Ok((kind, id, state))
}

/// Refuses media names that are not the object's own files (an asset's renditions, a floor
/// plan's image), in a venue bucket, of a plausible size: nothing a message says is written
/// outside them.
fn check_media(file: &str, media: &[MediaRef]) -> Result<(), String> {
    let stem = media_stem(file);
    for m in media {
        let own = stem.as_deref().is_some_and(|s| stem_covers(s, &m.name));
        if !safe_name(&m.name) || !own {
            return Err(format!("media {:?} is not a file of {file:?}", m.name));
        }
        if !is_media_bucket(&m.bucket) {
            return Err(format!("media {:?} names bucket {:?}", m.name, m.bucket));
        }
        if m.size > MAX_MEDIA_BYTES {
            return Err(format!("media {:?} is {} bytes", m.name, m.size));
        }
    }
    Ok(())
}

/// Fetches every file not already here, at once, each retried until it arrives (the hub's
/// copy can lag the row) or shutdown.
async fn fetch_all(shared: &Shared, hub: &jetstream::Context, of: &str, media: &[MediaRef]) {
    futures_util::future::join_all(media.iter().map(|m| fetch_one(shared, hub, of, m))).await;
}

/// One file of `of` (`asset 7`, `floorplan 1`).
async fn fetch_one(shared: &Shared, hub: &jetstream::Context, of: &str, m: &MediaRef) {
    let path = shared.media_dir.join(&m.name);
    if tokio::fs::metadata(&path)
        .await
        .is_ok_and(|meta| meta.len() == m.size)
    {
        return;
    }
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut told = false;
    loop {
        match fetch_file(hub, m, &path).await {
            Ok(()) => {
                shared.status.fetched(m.size);
                if told {
                    log::info!("fleet: media {} of {of} arrived", m.name);
                }
                return;
            }
            Err(why) => {
                if !told && started.elapsed() >= FETCH_PATIENCE {
                    log::warn!(
                        "fleet: waiting for media {} of {of} from {}: {why}",
                        m.name,
                        m.bucket
                    );
                    shared.status.set_apply_error(Some(format!(
                        "waiting for media {} of {of}: {why}",
                        m.name
                    )));
                    told = true;
                }
            }
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One file into `path`, whole or not at all: from the hub's copy of its bucket, else (the
/// copy lagging, as a mirror does for a while after a long cut) from its box's own bucket
/// through the hub.
async fn fetch_file(hub: &jetstream::Context, m: &MediaRef, path: &Path) -> Result<(), String> {
    let first = match fetch::fetch(hub, m, path).await {
        Ok(()) => return Ok(()),
        Err(e @ fetch::FetchError::Io(_)) => return Err(e.to_string()),
        Err(e) => e,
    };
    // Box n's own `media_b<n>`, in its domain `b<n>` (none for the hub's bucket).
    match m.bucket.strip_prefix("media_").filter(|d| *d != "hub") {
        Some(domain) => {
            let origin = jetstream::with_domain(hub.client(), domain);
            fetch::fetch(&origin, m, path)
                .await
                .map_err(|e| format!("{first}; from its box: {e}"))
        }
        None => Err(first.to_string()),
    }
}

/// Applies messages in order, each with its position, in one transaction.
async fn apply(shared: &Shared, batch: Vec<Ready>) -> Result<(), String> {
    let first = batch.first().map(|r| r.subject.clone()).unwrap_or_default();
    let outcomes = shared
        .store
        .write(move |tx| {
            outbox::mark_from_fleet(tx);
            let mut outcomes = Vec::with_capacity(batch.len());
            for Ready { seq, subject, what } in batch {
                let (applied, refused) = match what {
                    Ok((kind, id, state)) => {
                        (rows::apply(tx, seq, kind, id, state.as_ref())?, None)
                    }
                    Err(why) => (rows::advance(tx, seq)?, Some(why)),
                };
                outcomes.push((seq, subject, applied, refused));
            }
            Ok(outcomes)
        })
        .await
        .map_err(|e| format!("applying from {first}: {e}"))?;
    for (seq, subject, applied, refused) in outcomes {
        match (applied, refused) {
            (_, Some(why)) | (Applied::Skipped(why), _) => {
                log::warn!("fleet: catalogue message {seq} ({subject}) not applied: {why}");
                shared.status.skipped();
            }
            (Applied::Already, None) => {}
            (Applied::Deleted(file), None) => {
                shared.status.applied(seq);
                // The files of a deleted recording go with it, as when it is deleted here.
                if let Some(stem) = file.as_deref().and_then(media_stem) {
                    crate::media::files::remove_stems(&shared.media_dir, vec![stem]).await;
                }
            }
            (Applied::Upserted, None) => shared.status.applied(seq),
            (Applied::Replaced { old, new }, None) => {
                shared.status.applied(seq);
                // Files the object named before and no longer does (a new floor plan image,
                // a recording rendered again), unless the new name shares their stem.
                let gone = media_stem(&old)
                    .filter(|o| new.as_deref().and_then(media_stem).as_ref() != Some(o));
                if let Some(stem) = gone {
                    crate::media::files::remove_stems(&shared.media_dir, vec![stem]).await;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(name: &str, bucket: &str, size: u64) -> MediaRef {
        MediaRef {
            name: name.into(),
            bucket: bucket.into(),
            size,
            digest: "SHA-256=x".into(),
        }
    }

    #[test]
    fn media_outside_the_assets_own_files_are_refused() {
        let file = "20261207-101010-2000000000001.wav";
        let own = "20261207-101010-2000000000001.mp3";
        assert!(check_media(file, &[media(own, "media_b2", 10)]).is_ok());
        for (name, bucket, size) in [
            ("../etc/passwd", "media_b2", 10),
            ("other.mp3", "media_b2", 10),
            ("20261207-101010-20000000000011.mp3", "media_b2", 10),
            (own, "KV_fleet_boxes", 10),
            (own, "media_b2", MAX_MEDIA_BYTES + 1),
        ] {
            assert!(
                check_media(file, &[media(name, bucket, size)]).is_err(),
                "{name} {bucket} {size}"
            );
        }
    }

    #[test]
    fn a_message_is_parsed_into_its_kind_id_and_state_or_refused() {
        let (kind, id, state) = parse(
            "rw.b2.cat.vote.2000000000001",
            br#"{"state": {"rows": {}}}"#,
        )
        .unwrap();
        assert_eq!((kind.name, id), ("vote", 2_000_000_000_001));
        assert!(state.is_some());
        let (_, _, gone) = parse("rw.hub.cat.tag.4", br#"{"state": null}"#).unwrap();
        assert!(gone.is_none());
        assert!(parse("rw.hub.cat.user.4", b"{}").is_err());
        assert!(parse("rw.hub.cat.tag.4", b"not json").is_err());
        assert!(parse("rw.hub.cat.tag.4", br#"{"state": 5}"#).is_err());
    }
}
