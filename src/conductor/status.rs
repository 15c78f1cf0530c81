//! The engine's counters as a JSON-ready snapshot (the staff status route), as periodic
//! log lines, and as the engine's health probe ([`EngineProbe`]: `/healthz`, `/metrics`, the
//! watchdog).

use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use super::Engine;
use crate::health::{ComponentState, Probe};

/// One stream's view.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StreamStatus {
    /// Stream (= session) id.
    pub stream_id: i64,
    /// Project.
    pub project_id: i64,
    /// MP3 bitrate.
    pub bitrate_kbps: u32,
    /// HTTP clients connected.
    pub listeners: usize,
    /// Seconds of audio rendered.
    pub elapsed_s: f64,
    /// Latitude and longitude of the listener, when known.
    pub position: Option<[f64; 2]>,
    /// Asset playing on each audiotrack.
    pub playing: Vec<Option<i64>>,
    /// Tags the listener asked for (`None`: the project's default listen tags).
    pub tag_ids: Option<Vec<i64>>,
    /// Assets waiting in the stream's playlist, next first.
    pub queue: Vec<i64>,
    /// Paused by the listener.
    pub paused: bool,
    /// Times the stream fell behind real time.
    pub underruns: u64,
    /// Blocks rendered late.
    pub late_blocks: u64,
    /// How far ahead of real time the encoder is (negative: behind).
    pub encoder_lead_ms: i64,
    /// Render + encode time of the last 10 ms block, µs.
    pub block_work_us: u64,
    /// Blocks in which a live speaker source had no data.
    pub source_underruns: u64,
    /// Commands dropped because the mixer was full.
    pub dropped_commands: u64,
    /// Control-to-mixer latency of the last command, ms.
    pub command_latency_ms: f64,
    /// Largest control-to-mixer latency seen, ms.
    pub command_latency_max_ms: f64,
    /// Mixer commands that followed a position fix (the local listener's GPS).
    pub fix_commands: u64,
    /// Fix arrival to the last such command applied in the mixer, ms.
    pub fix_to_mixer_ms: f64,
    /// Largest fix-to-mixer time seen, ms.
    pub fix_to_mixer_max_ms: f64,
    /// Peak level of the last block (0..1).
    pub peak: f32,
    /// Clients skipped ahead because they fell behind.
    pub lagged_clients: u64,
}

/// The engine's view.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EngineStatus {
    /// Streams running.
    pub streams: Vec<StreamStatus>,
    /// Decoded source bytes resident.
    pub resident_source_bytes: usize,
}

impl Engine {
    /// A snapshot of every stream's counters.
    pub(crate) fn status(&self) -> EngineStatus {
        let entries: Vec<_> = self
            .streams()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut streams: Vec<StreamStatus> = entries
            .into_iter()
            .map(|(id, e)| {
                let s = e.state();
                let c = s.counters().clone();
                let r = e
                    .renderer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .stats()
                    .clone();
                let feed = e.feed.stats();
                StreamStatus {
                    stream_id: id,
                    project_id: s.info.project_id,
                    bitrate_kbps: e.bitrate_kbps,
                    listeners: e.feed.listeners(),
                    elapsed_s: s.elapsed_s(),
                    position: s.position().map(|p| [p.latitude, p.longitude]),
                    playing: s.playing(),
                    tag_ids: s.playlist.tags().map(<[i64]>::to_vec),
                    queue: s.playlist.upcoming(),
                    paused: s.paused(),
                    underruns: r.underruns.load(Relaxed),
                    late_blocks: r.late_blocks.load(Relaxed),
                    encoder_lead_ms: r.lead_ms.load(Relaxed),
                    block_work_us: r.block_work_us.load(Relaxed),
                    source_underruns: c.source_underruns.load(Relaxed),
                    dropped_commands: c.dropped_commands.load(Relaxed),
                    command_latency_ms: c.command_latency_last_us.load(Relaxed) as f64 / 1000.0,
                    command_latency_max_ms: c.command_latency_max_us.load(Relaxed) as f64 / 1000.0,
                    fix_commands: c.fix_commands.load(Relaxed),
                    fix_to_mixer_ms: c.fix_latency_last_us.load(Relaxed) as f64 / 1000.0,
                    fix_to_mixer_max_ms: c.fix_latency_max_us.load(Relaxed) as f64 / 1000.0,
                    peak: c.peak(),
                    lagged_clients: feed.lag_skips,
                }
            })
            .collect();
        streams.sort_by_key(|s| s.stream_id);
        EngineStatus {
            streams,
            resident_source_bytes: self.inner.sources.resident_bytes(),
        }
    }

    /// Logs one line per stream with its counters (called periodically).
    pub(crate) fn log_counters(&self) {
        for s in self.status().streams {
            log::info!(
                stream = s.stream_id;
                "stream {}: {} listeners, {} underruns, {} late blocks, encoder lead {} ms, {} source underruns",
                s.stream_id, s.listeners, s.underruns, s.late_blocks, s.encoder_lead_ms, s.source_underruns
            );
        }
    }
}

/// The engine for health: alive while its control loop ticks.
pub(crate) struct EngineProbe(pub Engine);

impl Probe for EngineProbe {
    fn name(&self) -> &'static str {
        "engine"
    }

    fn state(&self) -> ComponentState {
        if self.0.ticking() {
            ComponentState::Ok
        } else {
            ComponentState::Down("the stream engine's control loop has stopped".into())
        }
    }

    fn alive(&self) -> bool {
        self.0.ticking()
    }

    fn write_metrics(&self, out: &mut String) {
        let st = self.0.status();
        let sum = |f: fn(&StreamStatus) -> u64| -> u64 { st.streams.iter().map(f).sum() };
        let lines = [
            (
                "roundwared_streams",
                "gauge",
                "Personal streams running.",
                st.streams.len() as u64,
            ),
            (
                "roundwared_stream_listeners",
                "gauge",
                "HTTP clients connected to streams.",
                sum(|s| s.listeners as u64),
            ),
            (
                "roundwared_stream_underruns_total",
                "counter",
                "Times a stream fell behind real time.",
                sum(|s| s.underruns),
            ),
            (
                "roundwared_stream_late_blocks_total",
                "counter",
                "Blocks rendered after their time.",
                sum(|s| s.late_blocks),
            ),
            (
                "roundwared_stream_source_underruns_total",
                "counter",
                "Blocks a live speaker source had no data.",
                sum(|s| s.source_underruns),
            ),
            (
                "roundwared_stream_lagged_clients_total",
                "counter",
                "Stream clients skipped ahead for falling behind.",
                sum(|s| s.lagged_clients),
            ),
            (
                "roundwared_decoded_source_bytes",
                "gauge",
                "Decoded audio held in memory.",
                st.resident_source_bytes as u64,
            ),
        ];
        for (name, kind, help, v) in lines {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
    }
}
