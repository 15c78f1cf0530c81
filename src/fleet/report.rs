//! `roundwared fleet status`: where this box stands in its venue, for a technician at a
//! shell, read from the box's database (read-only) and its nats-server (and, through it, the
//! hub's). Works while the daemon runs.
//!
//! Owns: the report. May not touch: anything it reports on (it only reads).

use std::fmt::Write as _;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::FleetError;
use super::streams::{BOXES, CATALOGUE, Origin};
use crate::config::{Config, FleetRole};
use crate::store::fleet::{Position, read_only_position};

/// How long each question to a nats-server may take.
const ASK: Duration = Duration::from_secs(3);

/// The report, as lines of text.
///
/// # Errors
/// [`FleetError::Unreachable`] / [`FleetError::TooOld`] for this box's own nats-server,
/// [`FleetError::Stream`] for a database that cannot be read.
pub async fn status_report(config: &Config) -> Result<String, FleetError> {
    let fleet = &config.fleet;
    if !fleet.enabled {
        return Ok("fleet mode is off ([fleet] enabled = false): a standalone box\n".into());
    }
    let mut out = String::new();
    let (number, position) = read_database(config)?;
    let role = match fleet.role {
        FleetRole::Hub => "the hub",
        FleetRole::Box => "a box",
    };
    match number {
        Some(n) => {
            let _ = writeln!(out, "box {n}, {role} of the venue");
        }
        None => {
            let _ = writeln!(
                out,
                "box {} ({role}): the database has not joined yet (the daemon claims it at start)",
                fleet.box_number
            );
        }
    }
    let _ = writeln!(
        out,
        "catalogue applied here up to position {}; {} changes of this box not yet in its stream",
        position.applied_seq, position.outbox_depth
    );
    let client = super::nats::connect(fleet).await?;
    let _ = writeln!(
        out,
        "nats-server {} at {}",
        client.server_info().version,
        fleet.nats_url
    );
    let local = jetstream::new(client.clone());
    let hub = jetstream::with_domain(client, &fleet.hub_domain);
    let number = number.unwrap_or(fleet.box_number);
    let is_hub = fleet.role == FleetRole::Hub;
    let origin = if is_hub {
        Origin::hub()
    } else {
        Origin::of_box(number)
    };
    if !is_hub {
        let own = format!("CAT_{}", origin.token);
        let _ = writeln!(
            out,
            "{own} (this box's rows): {}",
            describe(&local, &own).await
        );
    }
    let bucket = format!("OBJ_{}", origin.bucket());
    let _ = writeln!(
        out,
        "{bucket} (this box's media): {}",
        describe(&local, &bucket).await
    );
    let _ = writeln!(
        out,
        "{CATALOGUE} here: {}",
        describe(&local, CATALOGUE).await
    );
    if !is_hub {
        let _ = writeln!(
            out,
            "{CATALOGUE} at the hub: {}",
            describe(&hub, CATALOGUE).await
        );
        let _ = writeln!(
            out,
            "the hub's copy of this box's media: {}",
            describe(&hub, &bucket).await
        );
    }
    let _ = writeln!(
        out,
        "registered with the hub: {}",
        registration(&hub, number).await
    );
    Ok(out)
}

/// The box number and position from the database, opened read-only.
fn read_database(config: &Config) -> Result<(Option<u32>, Position), FleetError> {
    let path = config.storage.database_path();
    read_only_position(&path)
        .map_err(|e| FleetError::Stream(format!("the database {}: {e}", path.display())))
}

/// A stream's messages, bytes and last position, and how its mirror or sources are doing.
async fn describe(js: &jetstream::Context, name: &str) -> String {
    let info = async {
        let mut s = js.get_stream(name).await.map_err(|e| e.to_string())?;
        s.info().await.cloned().map_err(|e| e.to_string())
    };
    let info: stream::Info = match tokio::time::timeout(ASK, info).await {
        Ok(Ok(info)) => info,
        Ok(Err(why)) => return format!("cannot be read: {why}"),
        Err(_) => return "no answer (is the link to the hub up?)".into(),
    };
    let mut text = format!(
        "{} messages, {:.1} MB, last position {}",
        info.state.messages,
        info.state.bytes as f64 / 1e6,
        info.state.last_sequence
    );
    let mut upstream = |label: &str, s: &stream::SourceInfo| {
        let seen = s.active.map_or_else(
            || "never heard from".to_owned(),
            |d| format!("heard from {:.1} s ago", d.as_secs_f64()),
        );
        let _ = write!(text, "; {label} {}: {} behind, {seen}", s.name, s.lag);
    };
    if let Some(m) = &info.mirror {
        upstream("mirror of", m);
    }
    for s in &info.sources {
        upstream("source", s);
    }
    text
}

/// Whether the hub's registry names this box.
async fn registration(hub: &jetstream::Context, number: u32) -> String {
    let ask = async {
        let boxes = hub.get_key_value(BOXES).await.map_err(|e| e.to_string())?;
        boxes
            .get(format!("box.{number}"))
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(ASK, ask).await {
        Ok(Ok(Some(_))) => "yes".into(),
        Ok(Ok(None)) => "not yet".into(),
        Ok(Err(why)) => format!("unknown: {why}"),
        Err(_) => "unknown: the hub does not answer".into(),
    }
}
