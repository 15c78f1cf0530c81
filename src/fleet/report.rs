//! `roundwared fleet status`: where this box stands in its venue, for a technician at a
//! shell, read from the box's database (read-only) and its nats-server (and, through it, the
//! hub's). Works while the daemon runs. The streams and the registry are gathered by
//! [`super::view::gather`], as for the console; this module only words them.
//!
//! Owns: the report. May not touch: anything it reports on (it only reads).

use std::fmt::Write as _;

use async_nats::jetstream;

use super::FleetError;
use super::view::{BoxRow, Holds, StreamView, Upstream, Venue, gather};
use crate::config::{Config, FleetRole};
use crate::store::fleet::{Position, read_only_position};

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
    let links = gather(&local, &hub, number, fleet.role == FleetRole::Hub).await;
    for s in &links.streams {
        let what = match s.holds {
            Holds::OwnChanges => format!("{} (this box's rows)", s.name),
            Holds::OwnMedia => format!("{} (this box's media)", s.name),
            Holds::Catalogue => format!("{} here", s.name),
            Holds::HubCatalogue => format!("{} at the hub", s.name),
            Holds::HubCopyOfMedia => "the hub's copy of this box's media".to_owned(),
        };
        let _ = writeln!(out, "{what}: {}", describe(s));
    }
    let _ = writeln!(
        out,
        "registered with the hub: {}",
        registration(&links.venue, number)
    );
    for b in &links.venue.boxes {
        let _ = writeln!(out, "{}", box_line(b));
    }
    Ok(out)
}

/// When a mirror or source last heard from what it copies.
fn seen(u: &Upstream) -> String {
    u.last_contact_s.map_or_else(
        || "never heard from".to_owned(),
        |d| format!("heard from {d:.1} s ago"),
    )
}

/// One registered box as the hub takes in its changes and media.
fn box_line(b: &BoxRow) -> String {
    let name = match (b.hub, b.this_box) {
        (true, true) => format!("box {} (the hub, this box)", b.number),
        (true, false) => format!("box {} (the hub)", b.number),
        (false, true) => format!("box {} (this box)", b.number),
        (false, false) => format!("box {}", b.number),
    };
    if b.hub {
        return format!("{name}: its changes go straight into the catalogue");
    }
    let part = |u: Option<&Upstream>| match u {
        Some(u) => format!("{} behind, {}", u.behind, seen(u)),
        None => "not taken in by the hub yet".to_owned(),
    };
    format!(
        "{name}: changes {}; media {}",
        part(b.changes.as_ref()),
        part(b.media.as_ref())
    )
}

/// The box number and position from the database, opened read-only.
fn read_database(config: &Config) -> Result<(Option<u32>, Position), FleetError> {
    let path = config.storage.database_path();
    read_only_position(&path)
        .map_err(|e| FleetError::Stream(format!("the database {}: {e}", path.display())))
}

/// A stream's messages, bytes and last position, and how its mirror or sources are doing.
fn describe(s: &StreamView) -> String {
    let (Some(messages), Some(bytes), Some(last)) = (s.messages, s.bytes, s.last_seq) else {
        let why = s.error.as_deref().unwrap_or("no state");
        return if s.answered {
            format!("cannot be read: {why}")
        } else {
            format!("no answer (is the link to the hub up?): {why}")
        };
    };
    let mut text = format!(
        "{messages} messages, {:.1} MB, last position {last}",
        bytes as f64 / 1e6
    );
    for u in &s.upstreams {
        let label = if u.kind == "mirror" {
            "mirror of"
        } else {
            "source"
        };
        let _ = write!(
            text,
            "; {label} {}: {} behind, {}",
            u.name,
            u.behind,
            seen(u)
        );
    }
    text
}

/// Whether the hub's registry names this box.
fn registration(venue: &Venue, number: u32) -> String {
    if venue.boxes.iter().any(|b| b.number == number) {
        return "yes".into();
    }
    match (&venue.error, venue.answered) {
        (None, _) => "not yet".into(),
        (Some(why), true) => format!("unknown: {why}"),
        (Some(why), false) => format!("unknown: the hub does not answer ({why})"),
    }
}
