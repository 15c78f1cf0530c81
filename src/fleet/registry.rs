//! The venue's box registry (fleet.md §3.3): the hub's KV bucket `fleet_boxes`, key
//! `box.<n>`, value the box's identity (made once, when its database joined the fleet).
//!
//! A box claims its number with an atomic `create`: a second box with the same number is
//! refused and told so in its log and status, once. The hub watches the registry and makes
//! its catalogue source, and its media mirrors copy, every registered box.
//!
//! Owns: registration, the hub's reconcile loop. May not touch: SQL, rows, media files.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use super::Shared;
use super::streams::{BOXES, reconcile_hub};

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
    loop {
        let entry = tokio::select! {
            () = shared.shutdown.cancelled() => return String::new(),
            e = entries.next() => e,
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
