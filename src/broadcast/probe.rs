//! Broadcast channels in `/metrics`: live channels, their listeners and their push targets.
//!
//! Owns: the metric lines. May not touch: channels' state (it only reads it).

use std::sync::atomic::Ordering;

use super::{Broadcast, LiveStats, push};

/// Broadcast channels as a health component: live channels, their listeners and their push
/// targets in `/metrics`.
pub(crate) struct BroadcastProbe(pub(crate) Broadcast);

impl crate::health::Probe for BroadcastProbe {
    fn name(&self) -> &'static str {
        "broadcast"
    }

    fn state(&self) -> crate::health::ComponentState {
        crate::health::ComponentState::Ok
    }

    fn write_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let live: Vec<(String, LiveStats)> = self
            .0
            .lock()
            .iter()
            .filter(|(_, l)| !l.flushed.load(Ordering::Acquire))
            .map(|(id, l)| (id.clone(), l.stats()))
            .collect();
        out.push_str(
            "# HELP roundwared_channels_live Broadcast channels with a source now.\n\
             # TYPE roundwared_channels_live gauge\n",
        );
        let _ = writeln!(out, "roundwared_channels_live {}", live.len());
        out.push_str(
            "# HELP roundwared_channel_listeners Listeners of a live broadcast channel.\n\
             # TYPE roundwared_channel_listeners gauge\n",
        );
        for (id, s) in &live {
            let _ = writeln!(
                out,
                "roundwared_channel_listeners{{channel=\"{id}\"}} {}",
                s.feed.listeners
            );
        }
        out.push_str(
            "# HELP roundwared_channel_source_bytes Source bytes of a live channel's session.\n\
             # TYPE roundwared_channel_source_bytes gauge\n",
        );
        for (id, s) in &live {
            let _ = writeln!(
                out,
                "roundwared_channel_source_bytes{{channel=\"{id}\"}} {}",
                s.bytes
            );
        }
        let pushes: Vec<((String, String), push::TargetStatus)> = self
            .0
            .pushes()
            .iter()
            .filter(|(_, (stop, _))| !stop.is_cancelled())
            .map(|(k, (_, state))| (k.clone(), state.status()))
            .collect();
        out.push_str(
            "# HELP roundwared_channel_target_connected Whether a push target takes the channel now.\n\
             # TYPE roundwared_channel_target_connected gauge\n",
        );
        for ((ch, t), st) in &pushes {
            let _ = writeln!(
                out,
                "roundwared_channel_target_connected{{channel=\"{ch}\",target=\"{t}\"}} {}",
                u8::from(st.connected)
            );
        }
        out.push_str(
            "# HELP roundwared_channel_target_bytes Bytes pushed to a target this session.\n\
             # TYPE roundwared_channel_target_bytes gauge\n",
        );
        for ((ch, t), st) in &pushes {
            let _ = writeln!(
                out,
                "roundwared_channel_target_bytes{{channel=\"{ch}\",target=\"{t}\"}} {}",
                st.bytes
            );
        }
    }
}
