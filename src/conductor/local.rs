//! The local listener: the box itself listening to a project from its own position, its mix
//! going to the sound card (through a render tap) and, like any stream, over HTTP. It is never
//! torn down for idleness, and only staff may control it through `/api/2/streams/`.

use std::sync::PoisonError;
use std::time::Instant;

use super::control::session_facts;
use super::stream::ListenerInfo;
use super::{Engine, EngineError};
use crate::output::render::{BlockSink, RenderOptions};
use crate::playlist::{Listener, Playlist, Position};

impl Engine {
    /// Starts the local listener on `project_id` (its session is reused across restarts, so
    /// its stream id stays the same); `tap` receives every rendered block, and with a tap the
    /// render thread asks for `SCHED_FIFO` just below `rt_priority` (0: normal scheduling).
    ///
    /// # Errors
    /// A missing project, or listening disabled on it.
    pub(crate) async fn start_local(
        &self,
        project_id: i64,
        tap: Option<Box<dyn BlockSink>>,
        rt_priority: u8,
    ) -> Result<i64, EngineError> {
        let sid = self
            .inner
            .store
            .write(move |tx| crate::store::sessions::local_session(tx, project_id))
            .await?
            .ok_or_else(|| {
                EngineError::Invalid(format!("[local] project_id {project_id}: no such project"))
            })?;
        let facts = session_facts(self, sid).await?;
        let catalog = self
            .catalog(project_id)
            .await?
            .ok_or(EngineError::NoSession(sid))?;
        if !catalog.project.listen_enabled {
            return Err(EngineError::Invalid(format!(
                "[local] project {project_id} has listen_enabled = false"
            )));
        }
        let mut playlist = Playlist::new(
            Listener {
                language_id: facts.language_id,
                geo: facts.geo,
            },
            self.inner.config.ban_timeout_s,
            rand::random(),
        );
        playlist.set_tags(None);
        let info = ListenerInfo {
            session_id: sid,
            project_id,
            geo: facts.geo,
            user_id: None,
        };
        // The render thread feeding the card runs one below the card's callback.
        let render = match tap {
            Some(tap) => {
                RenderOptions::card(tap, rt_priority.saturating_sub(1).max(1).min(rt_priority))
            }
            None => RenderOptions::default(),
        };
        let launch = super::Launch {
            position: None,
            bitrate_kbps: self.inner.config.bitrate_kbps,
            persistent: true,
            render,
        };
        self.spawn_stream(info, catalog, playlist, launch)?;
        *self
            .inner
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sid);
        log::info!(stream = sid; "local listener started on project {project_id} (stream {sid})");
        Ok(sid)
    }

    /// The local listener's stream id, when it runs.
    pub(crate) fn local_id(&self) -> Option<i64> {
        let id = *self
            .inner
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        id.filter(|id| self.is_active(super::StreamId(*id)))
    }

    /// A fix from the box's own position source (no event is logged: GPS gives one a
    /// second). `fix_at`, the fix's arrival, stamps the mixer commands that follow from it.
    pub(crate) fn move_local(&self, position: Position, fix_at: Option<Instant>) {
        let Some(entry) = self.local_id().and_then(|id| self.entry(id)) else {
            return;
        };
        let mut state = entry.state();
        state.set_fix_origin(fix_at);
        state.move_to(position, self.now_s(), &self.inner.sources);
        state.set_fix_origin(None);
    }

    /// Pauses or resumes the local listener's assets (the `pause` fix-loss policy).
    pub(crate) fn pause_local(&self, paused: bool) {
        if let Some(entry) = self.local_id().and_then(|id| self.entry(id)) {
            let mut s = entry.state();
            if paused {
                s.pause();
            } else {
                s.resume();
            }
        }
    }
}
