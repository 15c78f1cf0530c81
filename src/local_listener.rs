//! The box as a listener: wires the configured position source and sound card to the
//! engine's local stream (the engine's side of it is `conductor::local`), given the handles
//! the daemon's start built.
//!
//! It also settles the box's volume and output: the configuration's values unless the console
//! chose others (kept in the store's `settings`; precedence in `store::settings`; each new
//! choice is saved by [`LocalAudio::choose_volume`] and [`LocalAudio::choose_output`]).
//!
//! Owns: the glue task that turns position updates into moves of the local listener (and
//! the `on_fix_loss = "pause"` policy). May not touch: mixing, playlist rules, SQL, HTTP.

use std::sync::Arc;

use crate::conductor::Engine;
use crate::config::LocalConfig;
use crate::health::Health;
use crate::output::card::{Card, CardProbe};
use crate::output::volume::LocalAudio;
use crate::playlist::Position;
use crate::position::PositionSource;
use crate::store::Store;
use crate::store::settings::{LOCAL_OUTPUT, LOCAL_VOLUME, Setting};

/// Starts the local listener when `[local] enabled`: its sound card (unless `output =
/// "none"`), its stream, and the task that moves it with `position`; registers the card with
/// `health`. Problems are logged with the remedy; the daemon carries on without the part that
/// failed.
pub(crate) async fn start(
    engine: &Engine,
    position: &PositionSource,
    health: &Health,
    local: &LocalConfig,
    store: &Store,
) -> Card {
    if !local.enabled {
        return Card::default();
    }
    let (volume, output) = effective_choice(store, local).await;
    let audio = {
        let (output, mixer_control) = (output.clone(), local.mixer_control.clone());
        tokio::task::spawn_blocking(move || LocalAudio::new(volume, &output, mixer_control))
            .await
            .unwrap_or_else(|_| LocalAudio::new(volume, "none", None))
    };
    let (card, tap) = Card::open(&output, local.realtime_priority, audio);
    match engine
        .start_local(local.project_id, tap, local.realtime_priority)
        .await
    {
        Ok(_) => {
            tokio::spawn(follow_position(engine.clone(), position.clone()));
        }
        Err(e) => log::warn!("local listener not started: {e} (fix [local] in the configuration)"),
    }
    health.register(Arc::new(CardProbe(card.clone())));
    card
}

/// The volume and output to start with: the configuration's, or the console's saved choice
/// while the configuration still says what it said when the choice was made.
async fn effective_choice(store: &Store, local: &LocalConfig) -> (u8, String) {
    let read = |key| async move {
        store.setting(key).await.unwrap_or_else(|e| {
            log::warn!("cannot read the saved {key} ({e}); using the configuration's");
            None
        })
    };
    let (saved_volume, saved_output) = (read(LOCAL_VOLUME).await, read(LOCAL_OUTPUT).await);
    let config_volume = local.volume.to_string();
    let volume = Setting::effective(saved_volume.as_ref(), &config_volume)
        .parse::<u8>()
        .map_or(local.volume, |v| v.min(100));
    let output = Setting::effective(saved_output.as_ref(), &local.output).to_owned();
    if volume != local.volume || output != local.output {
        log::info!(
            "local listener: volume {volume} on output {output:?}, as chosen in the console \
             (the configuration says {} on {:?}; changing it there takes over again)",
            local.volume,
            local.output
        );
    }
    (volume, output)
}

/// Moves the local listener with every published fix; with no fix (after the hold, policy
/// `pause`) its assets pause until a fix returns.
async fn follow_position(engine: Engine, position: PositionSource) {
    let mut rx = position.subscribe();
    let mut paused = false;
    // The arrival of the last fix moved to (a held fix is republished with its old one).
    let mut last_at = None;
    loop {
        let state = rx.borrow_and_update().clone();
        match state.fix {
            Some(fix) => {
                if paused {
                    engine.pause_local(false);
                    paused = false;
                }
                let fresh = (last_at != Some(fix.at)).then_some(fix.at);
                last_at = Some(fix.at);
                engine.move_local(Position::at(fix.lat, fix.lon), fresh);
            }
            // Lost after having had one (never having had a fix is already silence).
            None if state.source != "none" && !paused && state.last_fix.is_some() => {
                log::info!(
                    "local listener: no position ({}); pausing its recordings",
                    state.status.name()
                );
                engine.pause_local(true);
                paused = true;
            }
            None => {}
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
