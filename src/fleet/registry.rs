//! The venue's box registry (fleet.md §3.3): the hub's KV bucket `fleet_boxes`, key
//! `box.<n>`, value the box's identity (made once, when its database joined the fleet).
//!
//! A box claims its number with an atomic `create`: a second box with the same number is
//! refused and told so in its log and status, once. The hub registers its own number too, and
//! names it under the key `hub` (for the console's list of boxes). The hub watches the registry
//! and makes its catalogue source, and its media mirrors copy, every registered box.
//!
//! Owns: registration, the hub's reconcile loop. May not touch: SQL, rows, media files.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use super::Shared;
use super::streams::{BOXES, CATALOGUE, reconcile_hub};

fn key(number: u32) -> String {
    format!("box.{number}")
}

/// Registers this box with the hub, retrying while the hub is out of reach; gives up (and
/// says so) only when the number belongs to another box.
pub(crate) async fn register(shared: Shared, hub: jetstream::Context, number: u32, uid: String) {
    let mut told: Option<String> = None;
    loop {
        let outcome = claim(&hub, number, &uid).await;
        match outcome {
            Ok(()) => {
                log::info!("fleet: box {number} is registered with the hub");
                if shared.is_hub {
                    name_the_hub(&hub, number).await;
                }
                shared.status.set_registration(Ok(()));
                return;
            }
            Err(Claim::Taken) => {
                let why = format!(
                    "box number {number} belongs to another box of the venue: give this box \
                     its own [fleet] box"
                );
                log::error!("fleet: {why}");
                shared.status.set_registration(Err(why));
                return;
            }
            Err(Claim::Unreachable(why)) => {
                if told.as_deref() != Some(why.as_str()) {
                    log::warn!("fleet: cannot register box {number} with the hub yet: {why}");
                    shared
                        .status
                        .set_registration(Err(format!("not registered yet: {why}")));
                    told = Some(why);
                }
            }
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Writes the hub's number under the key `hub` (only the hub writes it; its reconcile and
/// [`registered`] read `box.<n>` keys only). A failure costs the console its "hub" label.
async fn name_the_hub(hub: &jetstream::Context, number: u32) {
    let put = async {
        let boxes = hub.get_key_value(BOXES).await.map_err(|e| e.to_string())?;
        boxes
            .put(super::view::HUB_KEY, number.to_string().into())
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(why) = put.await {
        log::warn!("fleet: cannot name the hub in the registry: {why}");
    }
}

enum Claim {
    Taken,
    Unreachable(String),
}

async fn claim(hub: &jetstream::Context, number: u32, uid: &str) -> Result<(), Claim> {
    let unreachable = |e: &dyn std::fmt::Display| Claim::Unreachable(e.to_string());
    let boxes = hub
        .get_key_value(BOXES)
        .await
        .map_err(|e| unreachable(&e))?;
    match boxes.create(key(number), uid.to_owned().into()).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
            match boxes.get(key(number)).await.map_err(|e| unreachable(&e))? {
                Some(v) if v.as_ref() == uid.as_bytes() => Ok(()),
                Some(_) => Err(Claim::Taken),
                None => Err(Claim::Unreachable(
                    "the registry changed; trying again".into(),
                )),
            }
        }
        Err(e) => Err(unreachable(&e)),
    }
}

/// How often the hub looks for a box's stream its catalogue has stopped taking in.
const CHECK_SOURCES: Duration = Duration::from_secs(2);
/// A source without contact this long, while its box answers, is taken up again (and the
/// console shows it out of touch).
pub(crate) const STALLED: Duration = Duration::from_secs(10);
/// Not more often than this per box.
const NUDGE_EVERY: Duration = Duration::from_secs(30);

/// Takes up again every box stream the catalogue has had no contact with for [`STALLED`]
/// while the box answers through the link: after a long cut, nats-server retries a source
/// only on its own back-off (measured: about 50 s after a 60 s cut, reporting lag 0
/// meanwhile). Dropping the source and adding it back starts it at once, from where the
/// catalogue's messages say it was.
async fn take_up_stalled(
    js: &jetstream::Context,
    known: &BTreeSet<u32>,
    nudged: &mut HashMap<u32, Instant>,
) -> Result<(), String> {
    let Ok(mut catalogue) = js.get_stream(CATALOGUE).await else {
        return Ok(());
    };
    let Ok(info) = catalogue.info().await else {
        return Ok(());
    };
    let mut stalled = Vec::new();
    for source in &info.sources {
        let Some(number) = source
            .name
            .strip_prefix("CAT_b")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let quiet = source.active.is_none_or(|d| d > STALLED);
        let recently = nudged
            .get(&number)
            .is_some_and(|t| t.elapsed() < NUDGE_EVERY);
        if !quiet || recently || !known.contains(&number) {
            continue;
        }
        let domain = jetstream::with_domain(js.client(), format!("b{number}"));
        let answers = tokio::time::timeout(Duration::from_secs(2), domain.get_stream(&source.name))
            .await
            .is_ok_and(|r| r.is_ok());
        if answers {
            stalled.push(number);
        }
    }
    if stalled.is_empty() {
        return Ok(());
    }
    let rest: Vec<u32> = known
        .iter()
        .copied()
        .filter(|n| !stalled.contains(n))
        .collect();
    let all: Vec<u32> = known.iter().copied().collect();
    reconcile_hub(js, &rest).await.map_err(|e| e.to_string())?;
    reconcile_hub(js, &all).await.map_err(|e| e.to_string())?;
    for n in stalled {
        log::info!("fleet: took up box {n}'s stream again (no contact since its link came back)");
        nudged.insert(n, Instant::now());
    }
    Ok(())
}

/// The boxes in the hub's registry (but the hub, `own`); none before the registry exists.
pub(crate) async fn registered(js: &jetstream::Context, own: u32) -> Vec<u32> {
    let Ok(boxes) = js.get_key_value(BOXES).await else {
        return Vec::new();
    };
    let Ok(keys) = boxes.keys().await else {
        return Vec::new();
    };
    let mut numbers: Vec<u32> = keys
        .filter_map(|k| async move { k.ok()?.strip_prefix("box.")?.parse::<u32>().ok() })
        .filter(|n: &u32| std::future::ready(*n != own))
        .collect()
        .await;
    numbers.sort_unstable();
    numbers
}

/// The hub's loop: every registered box (but the hub itself, which publishes straight into
/// the catalogue) sourced into the catalogue, its bucket mirrored. `start` is what the
/// catalogue was created with.
pub(crate) async fn reconcile(shared: Shared, js: jetstream::Context, own: u32, start: Vec<u32>) {
    let mut known: BTreeSet<u32> = start.into_iter().collect();
    let mut told: Option<String> = None;
    loop {
        let why = watch(&shared, &js, own, &mut known).await;
        if shared.shutdown.is_cancelled() {
            return;
        }
        if told.as_deref() != Some(why.as_str()) {
            log::warn!("fleet: the hub's registry: {why}; retrying");
            told = Some(why);
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn watch(
    shared: &Shared,
    js: &jetstream::Context,
    own: u32,
    known: &mut BTreeSet<u32>,
) -> String {
    let boxes = match js.get_key_value(BOXES).await {
        Ok(b) => b,
        Err(e) => return e.to_string(),
    };
    let mut entries = match boxes.watch_with_history(">").await {
        Ok(w) => w,
        Err(e) => return e.to_string(),
    };
    let mut check = tokio::time::interval(CHECK_SOURCES);
    let mut nudged: HashMap<u32, Instant> = HashMap::new();
    loop {
        let entry = tokio::select! {
            () = shared.shutdown.cancelled() => return String::new(),
            e = entries.next() => e,
            _ = check.tick() => {
                if let Err(e) = take_up_stalled(js, known, &mut nudged).await {
                    return e;
                }
                continue;
            }
        };
        let entry = match entry {
            Some(Ok(e)) => e,
            Some(Err(e)) => return e.to_string(),
            None => return "the registry's watch ended".into(),
        };
        let Some(number) = entry
            .key
            .strip_prefix("box.")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let added = match entry.operation {
            kv::Operation::Put => number != own && known.insert(number),
            kv::Operation::Delete | kv::Operation::Purge => known.remove(&number),
        };
        if !added && entry.operation == kv::Operation::Put {
            continue;
        }
        let list: Vec<u32> = known.iter().copied().collect();
        if let Err(e) = reconcile_hub(js, &list).await {
            return e.to_string();
        }
        log::info!("fleet: the venue catalogue gathers boxes {list:?} and the hub");
    }
}
