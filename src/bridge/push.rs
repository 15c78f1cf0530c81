//! Pushing the venue's contributions to the central Roundware server (fleet.md §2.1 and
//! §3.5.3): every asset, vote, listen event and event made at any box of the venue in a
//! project carried from central, each exactly once, each in its visitor's name.
//!
//! The hub's database holds them all (the catalogue brings every box's assets and votes,
//! telemetry their listen events and events), so a push round reads what is waiting from it
//! ([`crate::store::fleet::push`]) and records each outcome there:
//! * a visitor's contributions are sent with their own device's token (`POST users/` with the
//!   session's device id answers the same user each time) in a session made at central for
//!   their session here, so central attributes and moderates them as it would a phone's;
//! * an asset goes in an envelope of its own, recorded before the upload: a retry asks
//!   central for the envelope first and takes the asset already in it;
//! * a vote, listen event or event whose create went unanswered is looked up by its fields
//!   before it is sent again;
//! * a refusal (4xx, but not an authentication or rate limit problem) makes it a dead letter,
//!   shown in the console and not retried; anything else is retried next round.
//!
//! Owns: the order of a push round and how each answer is taken. May not touch: SQL (the
//! store's `fleet::push`), HTTP (through [`Api2`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::BridgeError;
use super::client::Api2;
use crate::store::Store;
use crate::store::fleet::push::{self, AssetToPush, EventToPush, ListenToPush, Visit, VoteToPush};

/// Rows read per kind per round (the rest wait for the next round).
const BATCH: i64 = 100;
/// Rounds run one after another while a kind fills its batch, before the next poll.
pub(crate) const MAX_ROUNDS: usize = 20;

/// A round stops after this many failures to reach central in a row.
const MAX_UNREACHABLE: usize = 3;

/// Visitors' signed-in clients kept between rounds.
const MAX_VISITORS: usize = 256;

/// What a push round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Assets central now has.
    pub assets: usize,
    /// Votes central now has.
    pub votes: usize,
    /// Listen events central now has.
    pub listens: usize,
    /// Events central now has.
    pub events: usize,
    /// Contributions central refused (dead letters).
    pub dead: usize,
    /// A kind filled its batch: more may be waiting.
    pub more: bool,
}

impl Pushed {
    /// Whether the round changed anything worth a log line.
    pub(crate) fn any(&self) -> bool {
        self.assets + self.votes + self.listens + self.events + self.dead > 0
    }

    /// Adds `other`'s counts.
    pub(crate) fn add(&mut self, other: &Self) {
        self.assets += other.assets;
        self.votes += other.votes;
        self.listens += other.listens;
        self.events += other.events;
        self.dead += other.dead;
        self.more = other.more;
    }
}

/// The pusher's state between rounds: the visitors signed in at central.
pub(crate) struct Pusher {
    store: Store,
    media_dir: PathBuf,
    visitors: HashMap<String, Api2>,
}

/// One round's own state.
struct Round<'a> {
    api: &'a Api2,
    source: String,
    /// Central sessions made this round, by local session (the rows read before still say
    /// none).
    sessions: HashMap<i64, i64>,
    unreachable: usize,
    done: Pushed,
}

impl Pusher {
    /// A pusher writing its records to `store`, uploading from `media_dir`.
    pub(crate) fn new(store: Store, media_dir: PathBuf) -> Self {
        Self {
            store,
            media_dir,
            visitors: HashMap::new(),
        }
    }

    /// Pushes what is waiting: assets first (votes and listen events name them), then votes,
    /// listen events and events.
    ///
    /// # Errors
    /// [`BridgeError`] when central could not be reached [`MAX_UNREACHABLE`] times in a row,
    /// or the store failed; what was done before stays done.
    pub(crate) async fn round(&mut self, api: &Api2) -> Result<Pushed, BridgeError> {
        let mut round = Round {
            api,
            source: api.root().to_owned(),
            sessions: HashMap::new(),
            unreachable: 0,
            done: Pushed::default(),
        };
        let source = round.source.clone();
        let assets = self
            .store
            .read(move |c| push::pending_assets(c, &source, BATCH))
            .await?;
        round.done.more |= assets.len() as i64 == BATCH;
        for asset in assets {
            let outcome = self.asset(&mut round, &asset).await;
            self.settle(&mut round, "assets", asset.local_id, outcome)
                .await?;
        }
        let source = round.source.clone();
        let votes = self
            .store
            .read(move |c| push::pending_votes(c, &source, BATCH))
            .await?;
        round.done.more |= votes.len() as i64 == BATCH;
        for vote in votes {
            let outcome = self.vote(&mut round, &vote).await;
            self.settle(&mut round, "votes", vote.local_id, outcome)
                .await?;
        }
        let source = round.source.clone();
        let listens = self
            .store
            .read(move |c| push::pending_listens(c, &source, BATCH))
            .await?;
        round.done.more |= listens.len() as i64 == BATCH;
        for listen in listens {
            let outcome = self.listen(&mut round, &listen).await;
            self.settle(&mut round, "listen_events", listen.local_id, outcome)
                .await?;
        }
        let source = round.source.clone();
        let events = self
            .store
            .read(move |c| push::pending_events(c, &source, BATCH))
            .await?;
        round.done.more |= events.len() as i64 == BATCH;
        for event in events {
            let outcome = self.event(&mut round, &event).await;
            self.settle(&mut round, "events", event.local_id, outcome)
                .await?;
        }
        Ok(round.done)
    }

    /// The backlog now, for the console.
    ///
    /// # Errors
    /// Only store failures.
    pub(crate) async fn backlog(&self, source: &str) -> Result<push::Backlog, BridgeError> {
        let source = source.to_owned();
        Ok(self.store.read(move |c| push::backlog(c, &source)).await?)
    }

    /// Takes one contribution's outcome: counted, made a dead letter, or left for the next
    /// round (the round ends when central keeps failing to answer).
    async fn settle(
        &mut self,
        round: &mut Round<'_>,
        tbl: &'static str,
        local_id: i64,
        outcome: Result<(), BridgeError>,
    ) -> Result<(), BridgeError> {
        let error = match outcome {
            Ok(()) => {
                round.unreachable = 0;
                match tbl {
                    "assets" => round.done.assets += 1,
                    "votes" => round.done.votes += 1,
                    "listen_events" => round.done.listens += 1,
                    _ => round.done.events += 1,
                }
                return Ok(());
            }
            Err(e) => e,
        };
        match &error {
            e if is_refusal(e) => {
                round.unreachable = 0;
                let (source, why) = (round.source.clone(), error.to_string());
                log::warn!("fleet bridge: central refused {tbl} row {local_id}: {why}");
                self.store
                    .write_quiet(move |tx| push::record_dead(tx, &source, tbl, local_id, &why))
                    .await?;
                round.done.dead += 1;
                Ok(())
            }
            BridgeError::Store(_) => Err(error),
            BridgeError::Disk(_) => {
                // Its file is missing here (the audit restores it): tried again next round.
                log::debug!("fleet bridge: {tbl} row {local_id} waits for its media: {error}");
                Ok(())
            }
            BridgeError::Status {
                status: 401 | 403, ..
            } => {
                // A visitor's token no longer works: signed in again next round.
                self.visitors.clear();
                Err(error)
            }
            _ => {
                round.unreachable += 1;
                if round.unreachable >= MAX_UNREACHABLE {
                    return Err(error);
                }
                log::debug!("fleet bridge: {tbl} row {local_id} waits for the next round: {error}");
                Ok(())
            }
        }
    }

    /// The visitor's client at central and their session there, made when missing.
    async fn visit(
        &mut self,
        round: &mut Round<'_>,
        visit: &Visit,
    ) -> Result<(Api2, i64), BridgeError> {
        let client = match visit.device_id.as_deref().filter(|d| !d.is_empty()) {
            Some(device) => match self.visitors.get(device) {
                Some(client) => client.clone(),
                None => {
                    let client = round.api.as_device(device).await?;
                    if self.visitors.len() >= MAX_VISITORS {
                        self.visitors.clear();
                    }
                    self.visitors.insert(device.to_owned(), client.clone());
                    client
                }
            },
            None => round.api.clone(),
        };
        let known = visit.central_session.or_else(|| {
            visit
                .session_id
                .and_then(|s| round.sessions.get(&s).copied())
        });
        if let Some(session) = known {
            return Ok((client, session));
        }
        let answer = client
            .post(
                "sessions/",
                &json!({
                    "project_id": visit.central_project,
                    "language": visit.language.as_deref().unwrap_or("en"),
                    "client_system": "roundwared-bridge",
                }),
            )
            .await?;
        let session = id_of(&answer, "sessions/")?;
        if let Some(local) = visit.session_id {
            round.sessions.insert(local, session);
            let (source, project) = (round.source.clone(), visit.central_project);
            self.store
                .write_quiet(move |tx| push::record_session(tx, &source, local, session, project))
                .await?;
        }
        Ok((client, session))
    }

    async fn asset(&mut self, round: &mut Round<'_>, a: &AssetToPush) -> Result<(), BridgeError> {
        let path = media_path(&self.media_dir, &a.filename)?;
        let (client, session) = self.visit(round, &a.visit).await?;
        let mut envelope = None;
        if let Some(e) = a.envelope {
            match client.get(&format!("envelopes/{e}/"), &[]).await {
                Ok(found) => {
                    if let Some(&id) = crate::bridge::map::ids_of(&found, "asset_ids").first() {
                        // The upload went through; its answer did not.
                        return self.pushed(round, "assets", a.local_id, id, &a.visit).await;
                    }
                    envelope = Some(e);
                }
                // Central lost it: a new one.
                Err(BridgeError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let envelope = match envelope {
            Some(e) => e,
            None => {
                let made = client
                    .post("envelopes/", &json!({ "session_id": session }))
                    .await?;
                let e = id_of(&made, "envelopes/")?;
                let (source, local) = (round.source.clone(), a.local_id);
                self.store
                    .write_quiet(move |tx| push::record_envelope(tx, &source, local, e))
                    .await?;
                e
            }
        };
        let mut fields = vec![
            ("session_id", session.to_string()),
            ("media_type", a.media_type.clone()),
            ("description", a.description.clone()),
            ("submitted", a.submitted.to_string()),
            ("weight", a.weight.to_string()),
        ];
        if let (Some(lat), Some(lon)) = (a.latitude, a.longitude) {
            fields.push(("latitude", lat.to_string()));
            fields.push(("longitude", lon.to_string()));
        }
        if let Some(volume) = a.volume {
            fields.push(("volume", volume.to_string()));
        }
        if !a.central_tags.is_empty() {
            let tags: Vec<String> = a.central_tags.iter().map(i64::to_string).collect();
            fields.push(("tag_ids", tags.join(",")));
        }
        let answer = client
            .patch_with_file(&format!("envelopes/{envelope}/"), &fields, &path)
            .await?;
        let id = id_of(&answer, "the upload")?;
        self.pushed(round, "assets", a.local_id, id, &a.visit).await
    }

    async fn vote(&mut self, round: &mut Round<'_>, v: &VoteToPush) -> Result<(), BridgeError> {
        let (client, session) = self.visit(round, &v.visit).await?;
        if v.sent {
            let found = client
                .list(
                    "votes/",
                    &[
                        ("session_id", session.to_string()),
                        ("asset_id", v.central_asset.to_string()),
                        ("type", v.vote_type.clone()),
                    ],
                )
                .await?;
            if let Some(id) = self.first_unknown(round, "votes", &found).await? {
                return self.pushed(round, "votes", v.local_id, id, &v.visit).await;
            }
        }
        self.sent(round, "votes", v.local_id).await?;
        let mut body = json!({
            "type": v.vote_type,
            "asset_id": v.central_asset,
            "session_id": session,
        });
        if let Some(value) = v.value {
            body["value"] = value.into();
        }
        let answer = client.post("votes/", &body).await?;
        let id = id_of(&answer, "votes/")?;
        self.pushed(round, "votes", v.local_id, id, &v.visit).await
    }

    async fn listen(&mut self, round: &mut Round<'_>, l: &ListenToPush) -> Result<(), BridgeError> {
        let (client, session) = self.visit(round, &l.visit).await?;
        if l.sent {
            let found = client
                .list(
                    "listenevents/",
                    &[
                        ("session", session.to_string()),
                        ("asset", l.central_asset.to_string()),
                        ("starttime", l.starttime.clone()),
                    ],
                )
                .await?;
            if let Some(id) = self.first_unknown(round, "listen_events", &found).await? {
                return self
                    .pushed(round, "listen_events", l.local_id, id, &l.visit)
                    .await;
            }
        }
        self.sent(round, "listen_events", l.local_id).await?;
        let mut body = json!({
            "session": session,
            "asset": l.central_asset,
            "starttime": l.starttime,
        });
        if let Some(ns) = l.duration_ns {
            body["duration_in_seconds"] = crate::store::time::ns_to_seconds(ns).into();
        }
        let answer = client.post("listenevents/", &body).await?;
        let id = id_of(&answer, "listenevents/")?;
        self.pushed(round, "listen_events", l.local_id, id, &l.visit)
            .await
    }

    async fn event(&mut self, round: &mut Round<'_>, e: &EventToPush) -> Result<(), BridgeError> {
        let (client, session) = self.visit(round, &e.visit).await?;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        if e.sent {
            let found = client
                .list(
                    "events/",
                    &[
                        ("session_id", session.to_string()),
                        ("event_type", e.event_type.clone()),
                    ],
                )
                .await?;
            let same: Vec<Value> = found
                .into_iter()
                .filter(|f| text(f, "client_time") == e.client_time && text(f, "data") == e.data)
                .collect();
            if let Some(id) = self.first_unknown(round, "events", &same).await? {
                return self.pushed(round, "events", e.local_id, id, &e.visit).await;
            }
        }
        self.sent(round, "events", e.local_id).await?;
        let mut body = json!({
            "session_id": session,
            "event_type": e.event_type,
        });
        let optional = [
            ("client_time", e.client_time.as_deref()),
            ("data", e.data.as_deref()),
            ("latitude", e.latitude.as_deref()),
            ("longitude", e.longitude.as_deref()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                body[key] = value.into();
            }
        }
        if !e.central_tags.is_empty() {
            let tags: Vec<String> = e.central_tags.iter().map(i64::to_string).collect();
            body["tag_ids"] = tags.join(",").into();
        }
        let answer = client.post("events/", &body).await?;
        let id = id_of(&answer, "events/")?;
        self.pushed(round, "events", e.local_id, id, &e.visit).await
    }

    /// The first of central's rows `found` not already another row's here.
    async fn first_unknown(
        &self,
        round: &Round<'_>,
        tbl: &'static str,
        found: &[Value],
    ) -> Result<Option<i64>, BridgeError> {
        let ids: Vec<i64> = found
            .iter()
            .filter_map(|v| v.get("id").and_then(Value::as_i64))
            .collect();
        let source = round.source.clone();
        Ok(self
            .store
            .read(move |c| {
                for id in ids {
                    if !push::is_known(c, &source, tbl, id)? {
                        return Ok(Some(id));
                    }
                }
                Ok(None)
            })
            .await?)
    }

    async fn sent(
        &self,
        round: &Round<'_>,
        tbl: &'static str,
        local_id: i64,
    ) -> Result<(), BridgeError> {
        let source = round.source.clone();
        self.store
            .write_quiet(move |tx| push::record_sent(tx, &source, tbl, local_id))
            .await?;
        Ok(())
    }

    async fn pushed(
        &self,
        round: &Round<'_>,
        tbl: &'static str,
        local_id: i64,
        remote_id: i64,
        visit: &Visit,
    ) -> Result<(), BridgeError> {
        let (source, project) = (round.source.clone(), visit.central_project);
        let recorded = self
            .store
            .write_quiet(move |tx| {
                push::record_pushed(tx, &source, tbl, local_id, remote_id, project)
            })
            .await?;
        if recorded {
            Ok(())
        } else {
            Err(BridgeError::Refused(format!(
                "central answered its row {remote_id}, which is already another row's here"
            )))
        }
    }
}

/// Whether central's answer refuses the contribution itself (so sending it again would not
/// help): a 4xx other than authentication, a timeout or a rate limit.
fn is_refusal(e: &BridgeError) -> bool {
    match e {
        BridgeError::Status { status, .. } => {
            (400..500).contains(status) && !matches!(status, 401 | 403 | 408 | 429)
        }
        BridgeError::NotFound(_) | BridgeError::Refused(_) => true,
        _ => false,
    }
}

/// The playback file `name` in the media folder; a name from the database that is not a
/// plain relative name is refused.
fn media_path(media_dir: &Path, name: &str) -> Result<PathBuf, BridgeError> {
    if !crate::media::files::safe_name(name) {
        return Err(BridgeError::Refused(format!(
            "its media name {name:?} is not a file of the media folder"
        )));
    }
    Ok(media_dir.join(name))
}

fn id_of(answer: &Value, what: &str) -> Result<i64, BridgeError> {
    answer
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| BridgeError::Source(format!("{what}: the answer has no id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> BridgeError {
        BridgeError::Status {
            url: "http://central/api/2/votes/".into(),
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn only_an_answer_that_refuses_the_contribution_itself_makes_a_dead_letter() {
        for refused in [400, 404, 409, 413, 422] {
            assert!(is_refusal(&status(refused)), "{refused}");
        }
        assert!(is_refusal(&BridgeError::NotFound("x".into())));
        // Who is asking, a slow or busy central, or no answer at all: tried again.
        for retried in [401, 403, 408, 429, 500, 502, 503] {
            assert!(!is_refusal(&status(retried)), "{retried}");
        }
        assert!(!is_refusal(&BridgeError::Unreachable("cut off".into())));
        assert!(!is_refusal(&BridgeError::Source("not JSON".into())));
    }

    #[test]
    fn a_media_name_from_the_database_must_stay_in_the_media_folder() {
        let dir = Path::new("/var/lib/roundwared/media");
        assert_eq!(media_path(dir, "rw-1.mp3").unwrap(), dir.join("rw-1.mp3"));
        for bad in ["../etc/passwd", "/etc/passwd", "", "a/../../b"] {
            assert!(media_path(dir, bad).is_err(), "{bad:?}");
        }
    }
}
