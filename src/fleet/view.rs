//! Where this box stands in its venue, as one serializable snapshot: [`View`] for
//! `GET /api/2/fleet/` and the console's Fleet section, and its JetStream part, [`Links`], which
//! `roundwared fleet status` ([`super::report`]) prints as text. Both read the same things the
//! same way: this box's streams and the hub's with their mirrors' and sources' lag and last
//! contact, and the hub's registry of boxes.
//!
//! Every question to a nats-server is bounded by [`ASK`], and the questions to the hub are
//! asked together: a hub that does not answer shows as not answering (within about twice
//! [`ASK`] at worst), it never holds the caller.
//!
//! Owns: the view's shape and the gathering of the link state. May not touch: SQL (the
//! position comes from the store's `fleet` module), anything it reports on (it only reads).

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;

use super::status::Snapshot;
use super::streams::{BOXES, CATALOGUE, Origin};
use crate::store::fleet::Position;

/// How long each question to a nats-server may take.
pub(crate) const ASK: Duration = Duration::from_secs(3);

/// The registry's key naming the hub's box number (written by the hub when it registers).
pub(crate) const HUB_KEY: &str = "hub";

/// This box in its venue, for the API and the console (`{"enabled": true, …}`; a standalone box
/// answers `{"enabled": false}` instead).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct View {
    /// Always `true` here.
    pub enabled: bool,
    /// The daemon's own account: box number, role, registration, counters since start, the
    /// current problems and the last audit.
    #[serde(flatten)]
    pub status: Snapshot,
    /// The positions: in the database, in this box's stream and in the venue's catalogue.
    pub position: Positions,
    /// `hub` on the hub; on a box, `up` when the hub answered just now, else `down`.
    pub link: &'static str,
    /// This box's streams and the hub's, with their mirrors' and sources' lag.
    pub streams: Vec<StreamView>,
    /// The hub's registry: every box of the venue and how the hub takes in its changes.
    pub venue: Venue,
    /// The hub's bridge to a central Roundware server: `null` on a box, and on a hub without
    /// `[fleet.central]` or before its first pull.
    pub central: Option<Central>,
}

/// The hub's bridge to a central server (`crate::bridge`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Central {
    /// Why the last pull failed; `null` when it went through.
    pub pull_error: Option<String>,
    /// Pushing the venue's contributions to central: `null` with `push = false` and before
    /// the first round.
    pub push: Option<Push>,
}

/// The hub's pushes to central.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Push {
    /// Why the last round stopped; `null` when it went through.
    pub error: Option<String>,
    /// What waits, what went, what central refused (the dead letters).
    #[serde(flatten)]
    pub backlog: crate::store::fleet::push::Backlog,
}

/// Where this box has got to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Positions {
    /// The last venue catalogue position applied here (the database's).
    pub applied_seq: u64,
    /// Changes made here and not yet in this box's stream (the outbox).
    pub outbox_depth: u64,
    /// The last position of this box's own stream (its changes published; the hub's own
    /// changes go straight into the catalogue), when its server answered.
    pub published_seq: Option<u64>,
    /// The last position of the venue catalogue at the hub, when the hub answered.
    pub venue_seq: Option<u64>,
    /// Catalogue positions the hub has that this box has not applied yet (some may be
    /// superseded updates of the same row), when the hub answered.
    pub behind_venue: Option<u64>,
}

/// The JetStream part of the view, also printed by `roundwared fleet status`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Links {
    /// This box's streams and the hub's.
    pub streams: Vec<StreamView>,
    /// The hub's registry.
    pub venue: Venue,
}

/// What a stream holds, seen from this box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Holds {
    /// This box's own changes, on its own server (`CAT_b<n>`; boxes only).
    OwnChanges,
    /// This box's own media, on its own server (`OBJ_media_b<n>`, on the hub `OBJ_media_hub`).
    OwnMedia,
    /// The venue catalogue on this box's server (the hub's own, or a box's mirror of it).
    Catalogue,
    /// The venue catalogue at the hub (boxes).
    HubCatalogue,
    /// The hub's copy of this box's media (boxes).
    HubCopyOfMedia,
}

/// One stream as its server described it, or why it did not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct StreamView {
    /// What it holds.
    pub holds: Holds,
    /// Its name.
    pub name: String,
    /// `here` (this box's nats-server) or `hub`.
    pub at: &'static str,
    /// The server answered in time (`false`: no answer, the link is probably down).
    pub answered: bool,
    /// Why it could not be read, when it could not.
    pub error: Option<String>,
    /// Messages in it.
    pub messages: Option<u64>,
    /// Bytes of those.
    pub bytes: Option<u64>,
    /// Its last position.
    pub last_seq: Option<u64>,
    /// What it copies or gathers from, with lag and last contact.
    pub upstreams: Vec<Upstream>,
}

/// A mirror's or a source's state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Upstream {
    /// `mirror` or `source`.
    pub kind: &'static str,
    /// The stream copied.
    pub name: String,
    /// Messages not copied yet.
    pub behind: u64,
    /// Seconds since the last contact with it (`None`: never).
    pub last_contact_s: Option<f64>,
    /// In contact within the last [`super::registry::STALLED`].
    pub in_touch: bool,
}

/// The hub's registry of boxes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub(crate) struct Venue {
    /// The registry answered in time.
    pub answered: bool,
    /// Why it could not be read, when it could not.
    pub error: Option<String>,
    /// The hub's box number, once the hub has said it.
    pub hub_box: Option<u32>,
    /// Every registered box, by number.
    pub boxes: Vec<BoxRow>,
}

/// One registered box as the hub sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct BoxRow {
    /// Its number.
    #[serde(rename = "box")]
    pub number: u32,
    /// It is the box answering.
    pub this_box: bool,
    /// It is the hub.
    pub hub: bool,
    /// Its changes as the hub's catalogue takes them in (`None` for the hub, whose changes go
    /// straight in, and for a box the hub has not taken in yet).
    pub changes: Option<Upstream>,
    /// The hub's copy of its media (`None` as for `changes`).
    pub media: Option<Upstream>,
}

impl View {
    /// The view of `status` and `position` with the link state `links`.
    pub(crate) fn new(status: Snapshot, position: Position, links: Links) -> Self {
        let is_hub = status.role == "hub";
        let last = |holds: Holds| {
            links
                .streams
                .iter()
                .find(|s| s.holds == holds)
                .and_then(|s| s.last_seq)
        };
        let venue_seq = last(if is_hub {
            Holds::Catalogue
        } else {
            Holds::HubCatalogue
        });
        let link = if is_hub {
            "hub"
        } else if links
            .streams
            .iter()
            .any(|s| s.holds == Holds::HubCatalogue && s.answered)
        {
            "up"
        } else {
            "down"
        };
        let central = status.central.clone();
        Self {
            enabled: true,
            status,
            position: Positions {
                applied_seq: position.applied_seq,
                outbox_depth: position.outbox_depth,
                published_seq: last(Holds::OwnChanges),
                venue_seq,
                behind_venue: venue_seq.map(|v| v.saturating_sub(position.applied_seq)),
            },
            link,
            streams: links.streams,
            venue: links.venue,
            central,
        }
    }
}

/// The streams and registry of box `number` (the hub when `is_hub`), `local` being its own
/// server and `hub` the hub's domain.
pub(crate) async fn gather(
    local: &jetstream::Context,
    hub: &jetstream::Context,
    number: u32,
    is_hub: bool,
) -> Links {
    let origin = if is_hub {
        Origin::hub()
    } else {
        Origin::of_box(number)
    };
    let own = format!("CAT_{}", origin.token);
    let bucket = format!("OBJ_{}", origin.bucket());
    let mut wanted = Vec::new();
    if !is_hub {
        wanted.push((Holds::OwnChanges, own, local, "here"));
    }
    wanted.push((Holds::OwnMedia, bucket.clone(), local, "here"));
    wanted.push((Holds::Catalogue, CATALOGUE.to_owned(), local, "here"));
    if !is_hub {
        wanted.push((Holds::HubCatalogue, CATALOGUE.to_owned(), hub, "hub"));
        wanted.push((Holds::HubCopyOfMedia, bucket, hub, "hub"));
    }
    let (streams, registry) = tokio::join!(
        futures_util::future::join_all(
            wanted
                .into_iter()
                .map(|(holds, name, js, at)| describe(js, holds, name, at))
        ),
        registry(hub),
    );
    let venue = venue(hub, number, is_hub, &streams, registry).await;
    Links { streams, venue }
}

/// How one question went.
enum Asked<T> {
    Answer(T),
    /// The server answered, with an error.
    Failed(String),
    /// No answer in time, or no server to answer (the link is down).
    NoAnswer(String),
}

async fn stream_info(js: &jetstream::Context, name: &str) -> Asked<stream::Info> {
    let ask = async {
        let mut s = js.get_stream(name).await.map_err(|e| {
            let answered = !matches!(e.kind(), jetstream::context::GetStreamErrorKind::Request);
            (answered, e.to_string())
        })?;
        s.info().await.cloned().map_err(|e| (true, e.to_string()))
    };
    match tokio::time::timeout(ASK, ask).await {
        Ok(Ok(info)) => Asked::Answer(info),
        Ok(Err((true, why))) => Asked::Failed(why),
        Ok(Err((false, why))) => Asked::NoAnswer(why),
        Err(_) => Asked::NoAnswer(format!("no answer within {} s", ASK.as_secs())),
    }
}

fn upstream(kind: &'static str, s: &stream::SourceInfo) -> Upstream {
    Upstream {
        kind,
        name: s.name.clone(),
        behind: s.lag,
        last_contact_s: s.active.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
        in_touch: s.active.is_some_and(|d| d <= super::registry::STALLED),
    }
}

async fn describe(
    js: &jetstream::Context,
    holds: Holds,
    name: String,
    at: &'static str,
) -> StreamView {
    let mut view = StreamView {
        holds,
        name,
        at,
        answered: false,
        error: None,
        messages: None,
        bytes: None,
        last_seq: None,
        upstreams: Vec::new(),
    };
    match stream_info(js, &view.name).await {
        Asked::Answer(info) => {
            view.answered = true;
            view.messages = Some(info.state.messages);
            view.bytes = Some(info.state.bytes);
            view.last_seq = Some(info.state.last_sequence);
            view.upstreams = info
                .mirror
                .iter()
                .map(|m| upstream("mirror", m))
                .chain(info.sources.iter().map(|s| upstream("source", s)))
                .collect();
        }
        Asked::Failed(why) => {
            view.answered = true;
            view.error = Some(why);
        }
        Asked::NoAnswer(why) => view.error = Some(why),
    }
    view
}

/// The registered box numbers and the hub's, from the registry.
async fn registry(hub: &jetstream::Context) -> Asked<(Vec<u32>, Option<u32>)> {
    let ask = async {
        let boxes = hub.get_key_value(BOXES).await.map_err(|e| e.to_string())?;
        let keys: Vec<String> = boxes
            .keys()
            .await
            .map_err(|e| e.to_string())?
            .filter_map(|k| std::future::ready(k.ok()))
            .collect()
            .await;
        let hub_box = match boxes.get(HUB_KEY).await.map_err(|e| e.to_string())? {
            Some(v) => std::str::from_utf8(&v).ok().and_then(|n| n.parse().ok()),
            None => None,
        };
        let mut numbers: Vec<u32> = keys
            .iter()
            .filter_map(|k| k.strip_prefix("box.")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok::<_, String>((numbers, hub_box))
    };
    match tokio::time::timeout(ASK, ask).await {
        Ok(Ok(found)) => Asked::Answer(found),
        Ok(Err(why)) if why.contains("no responders") || why.contains("timed out") => {
            Asked::NoAnswer(why)
        }
        Ok(Err(why)) => Asked::Failed(why),
        Err(_) => Asked::NoAnswer(format!("no answer within {} s", ASK.as_secs())),
    }
}

/// The registry's boxes with how the hub's catalogue takes in their changes (its sources,
/// from `streams`) and its copies of their media (asked here, together).
async fn venue(
    hub: &jetstream::Context,
    number: u32,
    is_hub: bool,
    streams: &[StreamView],
    registry: Asked<(Vec<u32>, Option<u32>)>,
) -> Venue {
    let (numbers, hub_box) = match registry {
        Asked::Answer(found) => found,
        Asked::Failed(why) => {
            return Venue {
                answered: true,
                error: Some(why),
                ..Venue::default()
            };
        }
        Asked::NoAnswer(why) => {
            return Venue {
                error: Some(why),
                ..Venue::default()
            };
        }
    };
    let hub_box = hub_box.or(is_hub.then_some(number));
    let catalogue = if is_hub {
        Holds::Catalogue
    } else {
        Holds::HubCatalogue
    };
    let sources: Vec<&Upstream> = streams
        .iter()
        .filter(|s| s.holds == catalogue)
        .flat_map(|s| &s.upstreams)
        .collect();
    let sources = &sources;
    let boxes = futures_util::future::join_all(numbers.into_iter().map(|n| async move {
        let is_the_hub = hub_box == Some(n);
        let changes = sources
            .iter()
            .find(|s| s.name == format!("CAT_b{n}"))
            .map(|s| (*s).clone());
        let media = if is_the_hub {
            None
        } else {
            match stream_info(hub, &format!("OBJ_media_b{n}")).await {
                Asked::Answer(info) => info.mirror.as_ref().map(|m| upstream("mirror", m)),
                Asked::Failed(_) | Asked::NoAnswer(_) => None,
            }
        };
        BoxRow {
            number: n,
            this_box: n == number,
            hub: is_the_hub,
            changes,
            media,
        }
    }))
    .await;
    Venue {
        answered: true,
        error: None,
        hub_box,
        boxes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(holds: Holds, answered: bool, last_seq: Option<u64>) -> StreamView {
        StreamView {
            holds,
            name: "S".into(),
            at: "here",
            answered,
            error: None,
            messages: last_seq,
            bytes: None,
            last_seq,
            upstreams: Vec::new(),
        }
    }

    fn snapshot(role: &'static str) -> Snapshot {
        super::super::Status::new(2, role == "hub").snapshot()
    }

    #[test]
    fn a_box_whose_hub_answers_is_up_and_counts_the_positions_it_has_not_applied() {
        let links = Links {
            streams: vec![
                stream(Holds::OwnChanges, true, Some(4)),
                stream(Holds::HubCatalogue, true, Some(30)),
            ],
            venue: Venue::default(),
        };
        let position = Position {
            applied_seq: 25,
            outbox_depth: 1,
        };
        let view = View::new(snapshot("box"), position, links);
        assert_eq!(view.link, "up");
        assert_eq!(view.position.published_seq, Some(4));
        assert_eq!(view.position.venue_seq, Some(30));
        assert_eq!(view.position.behind_venue, Some(5));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["enabled"], true);
        assert_eq!(json["box"], 2);
        assert_eq!(json["role"], "box");
        assert!(json["central"].is_null(), "{json}");
        assert_eq!(json["position"]["outbox_depth"], 1);
    }

    #[test]
    fn a_box_whose_hub_does_not_answer_is_down_with_the_venue_position_unknown() {
        let links = Links {
            streams: vec![stream(Holds::HubCatalogue, false, None)],
            venue: Venue::default(),
        };
        let view = View::new(snapshot("box"), Position::default(), links);
        assert_eq!(view.link, "down");
        assert_eq!(view.position.behind_venue, None);
        let hub = View::new(
            snapshot("hub"),
            Position::default(),
            Links {
                streams: vec![stream(Holds::Catalogue, true, Some(9))],
                venue: Venue::default(),
            },
        );
        assert_eq!(hub.link, "hub");
        assert_eq!(hub.position.venue_seq, Some(9));
    }
}
