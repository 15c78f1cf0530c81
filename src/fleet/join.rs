//! `roundwared fleet join`: makes a standalone box's data a fleet box's, its own rows
//! renumbered once into the box's range (the store's `fleet::join`). Run with the daemon
//! stopped (it takes the data folder's lock); then start it in fleet mode and the box
//! publishes what it holds to the venue.
//!
//! Owns: the command's checks and report. May not touch: SQL (the store's), NATS.

use super::FleetError;
use crate::backup::DataLock;
use crate::config::Config;
use crate::store::{Store, StoreError, StoreOptions};

/// Joins the data of `config` to the fleet as `[fleet] box`; the report to print.
///
/// # Errors
/// [`FleetError::Claim`] for a box number out of range, a database already in a fleet, fleet
/// mode not configured, or the data folder in use; [`FleetError::Stream`] for a database that
/// cannot be opened or written.
pub async fn join(config: &Config) -> Result<String, FleetError> {
    let number = config.fleet.box_number;
    let refused = |message: String| FleetError::Claim { number, message };
    if !config.fleet.enabled {
        return Err(refused(
            "fleet mode is off: set [fleet] enabled = true and this box's number first".into(),
        ));
    }
    let _lock = DataLock::acquire(&config.storage.data_dir).map_err(|e| refused(e.to_string()))?;
    let failed = |e: StoreError| match e {
        StoreError::Conflict { message, .. } => refused(message),
        other => FleetError::Stream(format!("the database: {other}")),
    };
    // No capture: the outbox's history is renumbered as it is, not added to.
    let store = Store::open_with(
        &config.storage.database_path(),
        StoreOptions { events: false },
    )
    .map_err(failed)?;
    let moved = store
        .write_quiet(move |tx| crate::store::fleet::join::join(tx, number))
        .await
        .map_err(failed)?;
    store.checkpoint().await.map_err(failed)?;
    let mut report = format!("this box is box {number} of the fleet now; renumbered:");
    for (table, count) in moved {
        report.push_str(&format!(" {count} {},", table.replace('_', " ")));
    }
    report.pop();
    report.push_str(
        "\nids that clients stored before are void (a phone signs up again); start roundwared \
         and it publishes what it holds to the venue\n",
    );
    Ok(report)
}
