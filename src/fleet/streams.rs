//! The venue's streams, buckets and subjects (fleet.md §3.4), and making sure they exist.
//!
//! On a box `b<n>`: `CAT_b<n>` (its rows), the object store `media_b<n>` (its media) and
//! `CATALOGUE`, a mirror of the hub's; `TEL_b<n>`, its listen events for central. On the hub:
//! `CATALOGUE` itself (its own rows and configuration on `rw.hub.cat.>`, every registered
//! box's `CAT_b<n>` sourced in), `TELEMETRY` (a work queue sourcing every `TEL_b<n>`), a
//! mirror `OBJ_media_b<n>` of every box's media bucket, its own bucket `media_hub`, and the
//! box registry, the KV bucket `fleet_boxes`.
//!
//! Owns: names and stream configurations. May not touch: SQL, media files.

use std::time::Duration;

use async_nats::jetstream::{self, object_store, stream};

use super::FleetError;

/// The venue catalogue's stream, at the hub and mirrored at every box.
pub(crate) const CATALOGUE: &str = "CATALOGUE";
/// The hub's work queue of every box's telemetry.
pub(crate) const TELEMETRY: &str = "TELEMETRY";
/// How long a box keeps its telemetry (the hub takes it within seconds while the link is up).
const TELEMETRY_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most a box keeps of it (the oldest goes first): about a million listen events, so a
/// busy box cut off from its hub for weeks does not fill its SD card.
const TELEMETRY_MAX_BYTES: i64 = 512 * 1024 * 1024;
/// The hub's box registry (KV).
pub(crate) const BOXES: &str = "fleet_boxes";
/// The hub's own media bucket.
pub(crate) const HUB_MEDIA: &str = "media_hub";
/// How long a republished row is recognised as the same message.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Where a box's rows and media are published: `b<n>`, or `hub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `b<n>` or `hub` (also the JetStream domain of a box).
    pub token: String,
}

impl Origin {
    /// Box `n`'s.
    pub(crate) fn of_box(number: u32) -> Self {
        Self {
            token: format!("b{number}"),
        }
    }

    /// The hub's.
    pub(crate) fn hub() -> Self {
        Self {
            token: "hub".into(),
        }
    }

    /// The subject of one object's state.
    pub(crate) fn subject(&self, kind: &str, id: i64) -> String {
        format!("rw.{}.cat.{kind}.{id}", self.token)
    }

    /// The subject of one telemetry row (for central only).
    pub(crate) fn telemetry_subject(&self, kind: &str, id: i64) -> String {
        format!("rw.{}.tel.{kind}.{id}", self.token)
    }

    /// Its media bucket.
    pub(crate) fn bucket(&self) -> String {
        format!("media_{}", self.token)
    }
}

/// A subject's object, `(kind, id)`: `rw.<origin>.cat.<kind>.<id>`.
pub(crate) fn parse_subject(subject: &str) -> Option<(&str, i64)> {
    parse(subject, "cat")
}

/// A telemetry subject's object, `(kind, id)`: `rw.<origin>.tel.<kind>.<id>`.
pub(crate) fn parse_telemetry_subject(subject: &str) -> Option<(&str, i64)> {
    parse(subject, "tel")
}

fn parse<'a>(subject: &'a str, class: &str) -> Option<(&'a str, i64)> {
    let mut parts = subject.split('.');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("rw"), Some(_), Some(c), Some(kind), Some(id), None) if c == class => {
            Some((kind, id.parse().ok()?))
        }
        _ => None,
    }
}

/// Whether `name` is a media bucket of the venue (`media_hub`, `media_b<n>`).
pub(crate) fn is_media_bucket(name: &str) -> bool {
    name == HUB_MEDIA
        || name
            .strip_prefix("media_b")
            .is_some_and(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

fn failed(what: &str, e: impl std::fmt::Display) -> FleetError {
    FleetError::Stream(format!("{what}: {e}"))
}

/// A box's own stream and bucket, and its mirror of the hub's catalogue.
///
/// # Errors
/// [`FleetError::Stream`] naming what the server refused.
pub(crate) async fn ensure_box(
    js: &jetstream::Context,
    origin: &Origin,
    hub_domain: &str,
) -> Result<object_store::ObjectStore, FleetError> {
    let own = format!("CAT_{}", origin.token);
    js.create_or_update_stream(stream::Config {
        name: own.clone(),
        subjects: vec![format!("rw.{}.cat.>", origin.token)],
        max_messages_per_subject: 1,
        duplicate_window: DUPLICATE_WINDOW,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| failed(&own, e))?;
    let telemetry = format!("TEL_{}", origin.token);
    js.create_or_update_stream(stream::Config {
        name: telemetry.clone(),
        subjects: vec![format!("rw.{}.tel.>", origin.token)],
        duplicate_window: DUPLICATE_WINDOW,
        max_age: TELEMETRY_MAX_AGE,
        max_bytes: TELEMETRY_MAX_BYTES,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| failed(&telemetry, e))?;
    let bucket = media_bucket(js, &origin.bucket()).await?;
    js.create_or_update_stream(stream::Config {
        name: CATALOGUE.into(),
        // Deletes are not mirrored: the mirror keeps its own latest-per-row limit.
        max_messages_per_subject: 1,
        mirror: Some(stream::Source {
            name: CATALOGUE.into(),
            external: Some(stream::External {
                api_prefix: format!("$JS.{hub_domain}.API"),
                delivery_prefix: None,
            }),
            ..Default::default()
        }),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| failed("the CATALOGUE mirror", e))?;
    Ok(bucket)
}

/// The object store `name`, created when missing.
async fn media_bucket(
    js: &jetstream::Context,
    name: &str,
) -> Result<object_store::ObjectStore, FleetError> {
    if let Ok(bucket) = js.get_object_store(name).await {
        return Ok(bucket);
    }
    js.create_object_store(object_store::Config {
        bucket: name.into(),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| failed(name, e))
}

/// The hub's registry and own bucket, and its catalogue sourcing every box in `boxes`.
///
/// # Errors
/// [`FleetError::Stream`] naming what the server refused.
pub(crate) async fn ensure_hub(
    js: &jetstream::Context,
    boxes: &[u32],
) -> Result<object_store::ObjectStore, FleetError> {
    if js.get_key_value(BOXES).await.is_err() {
        js.create_key_value(jetstream::kv::Config {
            bucket: BOXES.into(),
            history: 1,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(BOXES, e))?;
    }
    let bucket = media_bucket(js, HUB_MEDIA).await?;
    reconcile_hub(js, boxes).await?;
    Ok(bucket)
}

/// The hub's catalogue sources and media mirrors made to match the registered `boxes` (the
/// hub's roundwared is their only writer, so updates never race).
///
/// # Errors
/// [`FleetError::Stream`] naming what the server refused.
pub(crate) async fn reconcile_hub(
    js: &jetstream::Context,
    boxes: &[u32],
) -> Result<(), FleetError> {
    let external = |domain: &str| {
        Some(stream::External {
            api_prefix: format!("$JS.{domain}.API"),
            delivery_prefix: None,
        })
    };
    let sources: Vec<stream::Source> = boxes
        .iter()
        .map(|n| stream::Source {
            name: format!("CAT_b{n}"),
            external: external(&format!("b{n}")),
            ..Default::default()
        })
        .collect();
    js.create_or_update_stream(stream::Config {
        name: CATALOGUE.into(),
        subjects: vec!["rw.hub.cat.>".into()],
        sources: (!sources.is_empty()).then_some(sources),
        max_messages_per_subject: 1,
        duplicate_window: DUPLICATE_WINDOW,
        allow_direct: true,
        deny_delete: true,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| failed("the hub's CATALOGUE", e))?;
    let telemetry: Vec<stream::Source> = boxes
        .iter()
        .map(|n| stream::Source {
            name: format!("TEL_b{n}"),
            external: external(&format!("b{n}")),
            ..Default::default()
        })
        .collect();
    js.create_or_update_stream(stream::Config {
        name: TELEMETRY.into(),
        sources: (!telemetry.is_empty()).then_some(telemetry),
        // Taken by the hub's one consumer: a row acknowledged is gone.
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| failed("the hub's TELEMETRY", e))?;
    for n in boxes {
        let name = format!("OBJ_media_b{n}");
        js.create_or_update_stream(stream::Config {
            name: name.clone(),
            mirror: Some(stream::Source {
                name: name.clone(),
                external: external(&format!("b{n}")),
                ..Default::default()
            }),
            // An object store's meta messages are roll-ups: without this a mirror drops them
            // and no object is readable (fleet.md §4.1).
            allow_rollup: true,
            allow_direct: true,
            mirror_direct: true,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(&name, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_origin_kind_and_id_and_nothing_else_parses() {
        let b2 = Origin::of_box(2);
        assert_eq!(
            b2.subject("asset", 2_000_000_000_001),
            "rw.b2.cat.asset.2000000000001"
        );
        assert_eq!(
            parse_subject("rw.b2.cat.asset.2000000000001"),
            Some(("asset", 2_000_000_000_001))
        );
        assert_eq!(parse_subject("rw.hub.cat.tag.7"), Some(("tag", 7)));
        assert_eq!(parse_subject("rw.hub.cat.tag.x"), None);
        assert_eq!(parse_subject("rw.hub.cat.tag.7.8"), None);
        assert_eq!(parse_subject("$O.media_b2.M.x"), None);
    }

    #[test]
    fn only_venue_media_buckets_are_read() {
        assert!(is_media_bucket("media_b2"));
        assert!(is_media_bucket("media_b9007"));
        assert!(is_media_bucket("media_hub"));
        assert!(!is_media_bucket("media_b"));
        assert!(!is_media_bucket("KV_fleet_boxes"));
        assert!(!is_media_bucket("media_b2.x"));
    }
}
