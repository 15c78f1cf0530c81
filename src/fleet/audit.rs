//! The media audit (fleet.md §3.6), the safety net for what a stream's "lag 0" does not
//! prove: every `[fleet] audit_s`, a box lists the hub's copy of its bucket and puts again,
//! under the same name, every file of its own assets the copy lacks (the mirror then carries
//! it like any new object). It also compares the two streams' positions and reports a copy
//! that is behind.
//!
//! Owns: the audit loop. May not touch: SQL (reads through the store's `fleet` module),
//! rows.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, object_store::ObjectStore};
use futures_util::StreamExt;

use super::Shared;
use crate::media::files::{files_of_stem, media_stem};

/// What one audit found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Report {
    /// Files of this box's assets.
    pub checked: u64,
    /// Of those, missing from the hub's copy.
    pub missing: u64,
    /// Of those, put again.
    pub repaired: u64,
    /// Messages of this box's bucket the hub's copy had not reached when listed.
    pub behind: u64,
}

/// Audits every `every` until shutdown.
pub(crate) async fn run(
    shared: Shared,
    bucket: ObjectStore,
    local: jetstream::Context,
    hub: jetstream::Context,
    number: u32,
    every: Duration,
) {
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match audit(&shared, &bucket, (&local, &hub), number).await {
            Ok(report) => {
                if report.missing > 0 {
                    log::warn!(
                        "fleet audit: {} of {} media files of this box were missing from the \
                         hub's copy; {} put again",
                        report.missing,
                        report.checked,
                        report.repaired
                    );
                }
                shared.status.set_audit(Ok(report));
            }
            // The hub out of reach is the link's business, reported there.
            Err(why) => shared.status.set_audit(Err(why)),
        }
    }
}

async fn audit(
    shared: &Shared,
    bucket: &ObjectStore,
    (local, hub): (&jetstream::Context, &jetstream::Context),
    number: u32,
) -> Result<Report, String> {
    let name = shared.origin.bucket();
    let stream = format!("OBJ_{name}");
    let last = |js: &jetstream::Context| {
        let stream = stream.clone();
        let js = js.clone();
        async move {
            let mut s = js
                .get_stream(&stream)
                .await
                .map_err(|e| format!("{stream}: {e}"))?;
            let info = s.info().await.map_err(|e| format!("{stream}: {e}"))?;
            Ok::<u64, String>(info.state.last_sequence)
        }
    };
    let behind = last(local).await?.saturating_sub(last(hub).await?);
    let copy = hub
        .get_object_store(&name)
        .await
        .map_err(|e| format!("the hub's copy of {name}: {e}"))?;
    let mut listed = copy
        .list()
        .await
        .map_err(|e| format!("listing the hub's copy of {name}: {e}"))?;
    let mut there = HashSet::new();
    while let Some(info) = listed.next().await {
        let info = info.map_err(|e| format!("listing the hub's copy of {name}: {e}"))?;
        if !info.deleted {
            there.insert(info.name);
        }
    }
    let files = own_files(shared, number).await?;
    let mut report = Report {
        checked: files.len() as u64,
        behind,
        ..Report::default()
    };
    for (name, path) in files {
        if there.contains(&name) {
            continue;
        }
        report.missing += 1;
        let Ok(mut file) = tokio::fs::File::open(&path).await else {
            continue;
        };
        match bucket.put(name.as_str(), &mut file).await {
            Ok(_) => report.repaired += 1,
            Err(e) => log::warn!("fleet audit: cannot put {name} again: {e}"),
        }
    }
    Ok(report)
}

/// The media files (name, path) of the assets this box made.
async fn own_files(shared: &Shared, number: u32) -> Result<Vec<(String, PathBuf)>, String> {
    let names = shared
        .store
        .read(move |c| crate::store::fleet::own_asset_files(c, number))
        .await
        .map_err(|e| e.to_string())?;
    let dir = shared.media_dir.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for file in names {
            let Some(stem) = media_stem(&file) else {
                continue;
            };
            for path in files_of_stem(&dir, &stem) {
                if let Some(name) = super::publish::relative_name(&dir, &path) {
                    out.push((name, path));
                }
            }
        }
        out
    })
    .await
    .map_err(|e| e.to_string())
}
