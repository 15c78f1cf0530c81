//! The stream operations behind `/api/2/streams/`: open, update, and the control calls, with
//! the events the reference server logged (reference-server §6, §7.7, §7.11).

use std::sync::atomic::Ordering::Relaxed;

use super::{AssetId, Engine, EngineError, OpenRequest, Opened, StreamId, Update};
use crate::playlist::{Listener, Playlist};
use crate::store::StoreError;
use crate::store::loc::{self, Owner};

use super::stream::ListenerInfo;
use crate::store::Table;
use crate::store::sessions::Session;

/// The reference's default out-of-range message (reference-server §7.11).
pub(super) const OUT_OF_RANGE_MESSAGE: &str = "This application is designed to be used in specific geographic locations. Apparently your phone thinks you are not at one of those locations, so you will hear a sample audio stream instead of the real deal. If you think your phone is incorrect, please restart Roundware and it will probably work. Thanks for checking it out!";

use crate::config::ALLOWED_BITRATES_KBPS;

pub(super) struct SessionFacts {
    pub(super) project_id: i64,
    pub(super) language_id: Option<i64>,
    pub(super) geo: bool,
    pub(super) demo: bool,
    pub(super) user_id: Option<i64>,
    pub(super) blocked: std::collections::HashSet<i64>,
}

pub(super) async fn session_facts(engine: &Engine, id: i64) -> Result<SessionFacts, EngineError> {
    engine
        .inner
        .store
        .read(move |c| {
            let s = Session::get(c, id)?;
            let user_id = match &s.device_id {
                Some(d) => crate::store::users::by_device(c, d)?,
                None => None,
            };
            let blocked = match user_id {
                Some(u) => crate::store::catalog::blocked_assets(c, u)?,
                None => Default::default(),
            };
            Ok(SessionFacts {
                project_id: s.project_id,
                language_id: s.language_id,
                geo: s.geo_listen_enabled,
                demo: s.demo_stream_enabled,
                user_id,
                blocked,
            })
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => EngineError::NoSession(id),
            e => e.into(),
        })
}

async fn project_message(
    engine: &Engine,
    project_id: i64,
    field: &'static str,
    language_id: Option<i64>,
) -> Result<Option<String>, EngineError> {
    Ok(engine
        .inner
        .store
        .read(move |c| {
            let lang = match language_id {
                Some(l) => l,
                None => loc::english_id(c)?,
            };
            loc::resolve(c, Owner::Project, project_id, field, lang)
        })
        .await?)
}

pub(super) async fn open(engine: &Engine, req: OpenRequest) -> Result<Opened, EngineError> {
    let id = req.session_id;
    let facts = session_facts(engine, id).await?;
    if let Some(p) = req.project_id
        && p != facts.project_id
    {
        return Err(EngineError::Invalid(format!(
            "project_id {p} is not the project of session {id} ({})",
            facts.project_id
        )));
    }
    let bitrate = req.bitrate_kbps.unwrap_or(engine.inner.config.bitrate_kbps);
    if !ALLOWED_BITRATES_KBPS.contains(&bitrate) {
        return Err(EngineError::Invalid(format!(
            "audio_stream_bitrate {bitrate} is not one of {ALLOWED_BITRATES_KBPS:?}"
        )));
    }
    let catalog = engine
        .catalog(facts.project_id)
        .await?
        .ok_or(EngineError::NoSession(id))?;
    engine
        .log_event(id, "request_stream", req.data.clone(), req.position)
        .await;
    if !catalog.project.listen_enabled {
        return Err(EngineError::Invalid(format!(
            "listening is not enabled for project {} (listen_enabled is false)",
            facts.project_id
        )));
    }
    if facts.demo {
        let message = project_message(
            engine,
            facts.project_id,
            "demo_stream_message",
            facts.language_id,
        )
        .await?
        .unwrap_or_else(|| "demo_stream_message".into());
        return Ok(Opened::Demo {
            url: catalog.project.demo_stream_url.clone(),
            message,
        });
    }
    if let Some(p) = req.position
        && facts.geo
        && !crate::spatial::in_range(&catalog, p.latitude, p.longitude)
    {
        let message = project_message(
            engine,
            facts.project_id,
            "out_of_range_message",
            facts.language_id,
        )
        .await?
        .unwrap_or_else(|| OUT_OF_RANGE_MESSAGE.into());
        return Ok(Opened::OutOfRange {
            url: catalog.project.out_of_range_url.clone(),
            message,
        });
    }
    if let Some(entry) = engine.entry(id) {
        entry.touch();
        if let Some(p) = req.position {
            entry
                .state()
                .move_to(p, engine.now_s(), &engine.inner.sources);
            engine.log_event(id, "move_listener", None, Some(p)).await;
            engine.announce_zones(id).await;
        }
        return Ok(Opened::Stream);
    }
    let mut playlist = Playlist::new(
        Listener {
            language_id: facts.language_id,
            geo: facts.geo,
        },
        engine.inner.config.ban_timeout_s,
        rand::random(),
    );
    playlist.set_blocked(facts.blocked);
    playlist.set_tags(None);
    let info = ListenerInfo {
        session_id: id,
        project_id: facts.project_id,
        geo: facts.geo,
        user_id: facts.user_id,
    };
    let launch = super::Launch {
        position: req.position,
        bitrate_kbps: bitrate,
        persistent: false,
        render: crate::output::render::RenderOptions::default(),
    };
    engine.spawn_stream(info, catalog, playlist, launch)?;
    if let Some(p) = req.position {
        engine.log_event(id, "move_listener", None, Some(p)).await;
    }
    engine.announce_zones(id).await;
    Ok(Opened::Stream)
}

impl Engine {
    /// `PATCH streams/:id/`: modify_stream (tags, optional language and position) or
    /// move_listener (position only).
    ///
    /// # Errors
    /// No stream, nothing to update, an unknown language.
    pub(crate) async fn update(
        &self,
        StreamId(id): StreamId,
        u: Update,
    ) -> Result<(), EngineError> {
        let entry = self.entry(id).ok_or(EngineError::NoStream(id))?;
        let now_s = self.now_s();
        if let Some(tags) = u.tags {
            let language_id = match u.language.clone() {
                Some(code) => {
                    let code2 = code.clone();
                    let lang = self
                        .inner
                        .store
                        .write(move |tx| crate::store::sessions::set_language(tx, id, &code2))
                        .await?;
                    Some(lang.ok_or_else(|| {
                        EngineError::Invalid(format!(
                            "could not update stream: language not supported ({code})"
                        ))
                    })?)
                }
                None => None,
            };
            {
                let mut s = entry.state();
                if let Some(l) = language_id {
                    s.playlist.set_language(Some(l));
                }
                if !tags.is_empty() {
                    s.set_tags(Some(tags.clone()), now_s);
                }
                if let Some(p) = u.position {
                    s.move_to(p, now_s, &self.inner.sources);
                }
            }
            entry.touch();
            let data = Some(format!("tag_ids={}", join(&tags)));
            self.log_event_tags(id, "modify_stream", data, u.position, Some(tags))
                .await;
            self.announce_zones(id).await;
            return Ok(());
        }
        let Some(p) = u.position else {
            return Err(EngineError::Invalid(
                "could not update stream: must supply something to update (tag_ids, or latitude and longitude)".into(),
            ));
        };
        entry.state().move_to(p, now_s, &self.inner.sources);
        entry.touch();
        self.log_event(id, "move_listener", None, Some(p)).await;
        self.announce_zones(id).await;
        Ok(())
    }

    /// heartbeat: keeps an unlistened stream alive.
    ///
    /// # Errors
    /// No stream.
    pub(crate) async fn heartbeat(&self, StreamId(id): StreamId) -> Result<(), EngineError> {
        let entry = self.entry(id).ok_or(EngineError::NoStream(id))?;
        entry.touch();
        entry.idle_checks.store(0, Relaxed);
        self.log_event(id, "heartbeat", None, None).await;
        Ok(())
    }

    /// playasset: false when no stream runs.
    ///
    /// # Errors
    /// No such session, or an asset that is not an audio asset of the stream's project.
    pub(crate) async fn play_asset(
        &self,
        StreamId(id): StreamId,
        AssetId(asset_id): AssetId,
    ) -> Result<bool, EngineError> {
        let Some(entry) = self.entry(id) else {
            session_facts(self, id).await?;
            return Ok(false);
        };
        {
            let mut s = entry.state();
            if s.catalog().asset(asset_id).is_none() {
                return Err(EngineError::Invalid(
                    "no asset found with this asset_id".into(),
                ));
            }
            s.play_asset(asset_id);
        }
        self.log_event(
            id,
            "play_asset_in_stream",
            Some(format!("asset_id={asset_id}")),
            None,
        )
        .await;
        Ok(true)
    }

    /// replayasset: the session's most recent listen event again (one-audiotrack projects).
    ///
    /// # Errors
    /// Several audiotracks, or nothing heard yet.
    pub(crate) async fn replay(&self, StreamId(id): StreamId) -> Result<bool, EngineError> {
        let Some(entry) = self.entry(id) else {
            session_facts(self, id).await?;
            return Ok(false);
        };
        if entry.state().track_count() != 1 {
            return Err(EngineError::Invalid(
                "this operation is only valid for projects with 1 audiotrack".into(),
            ));
        }
        let last: Option<i64> = self
            .inner
            .store
            .read(move |c| crate::store::listenevents::last_heard(c, id))
            .await?;
        let asset_id = last.ok_or_else(|| EngineError::Invalid("no asset found".into()))?;
        self.play_asset(StreamId(id), AssetId(asset_id)).await
    }

    /// skipasset: false when no stream runs.
    ///
    /// # Errors
    /// No such session.
    pub(crate) async fn skip(&self, StreamId(id): StreamId) -> Result<bool, EngineError> {
        let Some(entry) = self.entry(id) else {
            session_facts(self, id).await?;
            return Ok(false);
        };
        entry.state().skip();
        self.log_event(id, "skip_ahead", None, None).await;
        Ok(true)
    }

    /// pause / resume.
    ///
    /// # Errors
    /// No such session.
    pub(crate) async fn pause(
        &self,
        StreamId(id): StreamId,
        pause: bool,
    ) -> Result<(), EngineError> {
        if let Some(entry) = self.entry(id) {
            let mut s = entry.state();
            if pause {
                s.pause();
            } else {
                s.resume();
            }
        } else {
            session_facts(self, id).await?;
        }
        self.log_event(id, if pause { "pause" } else { "resume" }, None, None)
            .await;
        Ok(())
    }

    /// After an upload: the new asset plays next in the uploader's own stream (§5 step 12).
    pub(crate) async fn uploaded(
        &self,
        StreamId(session_id): StreamId,
        AssetId(asset_id): AssetId,
    ) {
        let Some(entry) = self.entry(session_id) else {
            return;
        };
        // The catalog must know the asset first: reload now rather than wait for the watcher.
        let project_id = entry.state().info.project_id;
        self.reload(project_id).await;
        let known = {
            let mut s = entry.state();
            let known = s.catalog().asset(asset_id).is_some();
            if known {
                s.play_asset(asset_id);
            }
            known
        };
        if known {
            self.log_event(
                session_id,
                "play_asset_in_stream",
                Some(format!("asset_id={asset_id}")),
                None,
            )
            .await;
        }
    }

    /// After a block vote from `session_id`: every stream of the voting user (found through
    /// the session's device) recomputes its blocked set and skips (§7.7, §7.10).
    pub(crate) async fn blocks_changed(&self, StreamId(session_id): StreamId) {
        let Ok(facts) = session_facts(self, session_id).await else {
            return;
        };
        let now_s = self.now_s();
        let entries: Vec<std::sync::Arc<super::Entry>> = self
            .streams()
            .iter()
            .filter(|(id, e)| {
                **id == session_id
                    || (facts.user_id.is_some() && e.state().info.user_id == facts.user_id)
            })
            .map(|(_, e)| e.clone())
            .collect();
        for e in entries {
            e.state().set_blocked(facts.blocked.clone(), now_s);
        }
    }
}

fn join(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}
