//! The hub's intake of the boxes' telemetry (fleet.md §3.4): listen events travel from each
//! box's `TEL_b<n>` into the hub's work queue `TELEMETRY`, and from there into the hub's own
//! database, where the bridge finds them to push to central (`crate::bridge::push`). They
//! never go on the catalogue: the other boxes have no use for them.
//!
//! A row is written (an upsert by its venue-wide id, so a redelivery changes nothing) and then
//! acknowledged, which removes it from the queue. A row whose session or asset has not yet
//! arrived through the catalogue is redelivered a little later; one that still cannot be
//! written after [`GIVE_UP_AFTER`] deliveries (about ten minutes; its asset was deleted
//! meanwhile) is logged and dropped. Counting deliveries, not comparing timestamps, keeps a
//! box whose clock is wrong from losing its listen events.
//!
//! Owns: the `TELEMETRY` consumer. May not touch: SQL (the store's `fleet` module), the
//! catalogue.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures_util::StreamExt;
use serde_json::Value;

use super::Shared;
use super::streams::{TELEMETRY, parse_telemetry_subject};
use crate::store::fleet::{apply_telemetry, telemetry_kind};
use crate::store::outbox;

/// The hub's durable consumer of `TELEMETRY`.
const CONSUMER: &str = "hub";
/// How long before a row that cannot be written yet is offered again.
const RETRY_IN: Duration = Duration::from_secs(5);
/// A row still not writable after this many deliveries ([`RETRY_IN`] apart) is dropped.
const GIVE_UP_AFTER: i64 = 120;
/// The wait before the consumer is made again after a failure.
const RESTART_IN: Duration = Duration::from_secs(5);

/// Takes in telemetry until shutdown.
pub(crate) async fn run(shared: Shared, js: jetstream::Context) {
    let mut failing: Option<String> = None;
    loop {
        let why = consume(&shared, &js).await;
        if shared.shutdown.is_cancelled() {
            return;
        }
        if failing.as_deref() != Some(why.as_str()) {
            log::warn!("fleet: taking in the boxes' listen events: {why}");
            failing = Some(why);
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(RESTART_IN) => {}
        }
    }
}

/// Consumes until a failure (returned) or shutdown.
async fn consume(shared: &Shared, js: &jetstream::Context) -> String {
    let stream = match js.get_stream(TELEMETRY).await {
        Ok(s) => s,
        Err(e) => return format!("{TELEMETRY}: {e}"),
    };
    let consumer = match stream
        .get_or_create_consumer(
            CONSUMER,
            consumer::pull::Config {
                durable_name: Some(CONSUMER.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return format!("a consumer of {TELEMETRY}: {e}"),
    };
    let mut messages = match consumer.messages().await {
        Ok(m) => m,
        Err(e) => return format!("{TELEMETRY}'s messages: {e}"),
    };
    loop {
        let message = tokio::select! {
            () = shared.shutdown.cancelled() => return String::new(),
            m = messages.next() => m,
        };
        let message = match message {
            Some(Ok(m)) => m,
            Some(Err(e)) => return format!("{TELEMETRY}: {e}"),
            None => return format!("{TELEMETRY}'s consumer ended"),
        };
        let ack = match take(shared, &message).await {
            Ok(ack) => ack,
            Err(why) => return why,
        };
        if let Err(e) = message.ack_with(ack).await {
            return format!("acknowledging {}: {e}", message.subject);
        }
    }
}

/// Writes one row; what to answer the queue.
async fn take(shared: &Shared, message: &jetstream::Message) -> Result<AckKind, String> {
    let subject = message.subject.to_string();
    let parsed =
        parse_telemetry_subject(&subject).and_then(|(kind, id)| Some((telemetry_kind(kind)?, id)));
    let state: Option<Value> = serde_json::from_slice::<Value>(&message.payload)
        .ok()
        .map(|mut v| v["state"].take());
    let (Some((kind, id)), Some(state)) = (parsed, state) else {
        log::warn!("fleet: dropped telemetry {subject}: not a row this hub can read");
        return Ok(AckKind::Ack);
    };
    let deleted = message
        .headers
        .as_ref()
        .and_then(|h| h.get("RW-Op"))
        .is_some_and(|v| v.as_str() == "delete");
    let state = (!deleted && !state.is_null()).then_some(state);
    let written = shared
        .store
        .write(move |tx| {
            outbox::mark_from_fleet(tx);
            apply_telemetry(tx, kind, id, state.as_ref())
        })
        .await
        .map_err(|e| format!("writing {subject}: {e}"))?;
    let Err(why) = written else {
        return Ok(AckKind::Ack);
    };
    let delivered = message.info().map_or(0, |i| i.delivered);
    if delivered >= GIVE_UP_AFTER {
        log::warn!("fleet: dropped telemetry {subject} after {delivered} tries: {why}");
        return Ok(AckKind::Ack);
    }
    log::debug!("fleet: telemetry {subject} waits: {why}");
    Ok(AckKind::Nak(Some(RETRY_IN)))
}
