//! Health and metrics: the seam every component plugs into for `/healthz`, `/metrics` and the
//! systemd watchdog.
//!
//! A component (the database, the stream engine, the position source, the sound card)
//! implements [`Probe`] beside its own code and is registered once in [`Health`] by the
//! daemon's start, which hands the registry to the API. `/healthz` asks every probe for its [`ComponentState`], `/metrics` asks every
//! probe to append its Prometheus lines, and the watchdog task pings systemd only while every
//! probe says it is [`Probe::alive`].
//!
//! Owns: the probe registry, the health report, the HTTP request counters and latency
//! histograms ([`http`]), the database probe ([`database`]) and process metrics ([`process`]).
//! May not touch: HTTP routing (the handlers are in `api::health`), audio, GPS.

pub(crate) mod database;
pub(crate) mod http;
pub(crate) mod process;

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::Instant;

pub(crate) use database::DatabaseProbe;
pub(crate) use http::HttpMetrics;

/// What a component reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentState {
    /// Working as intended.
    Ok,
    /// Working with a problem the box can live with (no GPS fix, low disk space); the reason
    /// is shown to people.
    Degraded(String),
    /// Not working; the reason is shown to people.
    Down(String),
    /// Turned off in the configuration or not present on this box.
    Disabled,
}

impl ComponentState {
    /// `ok`, `degraded`, `down` or `disabled`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded(_) => "degraded",
            Self::Down(_) => "down",
            Self::Disabled => "disabled",
        }
    }

    /// The reason, for the degraded and down states.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Degraded(r) | Self::Down(r) => Some(r),
            Self::Ok | Self::Disabled => None,
        }
    }
}

/// One component's view for `/healthz`, `/metrics` and the watchdog.
pub trait Probe: Send + Sync {
    /// Short stable name: `database`, `engine`, `position`, `soundcard`, ...
    fn name(&self) -> &'static str;
    /// The component's state now. Must be cheap and must not block (read atomics or a
    /// recently stored value).
    fn state(&self) -> ComponentState;
    /// For the watchdog: `false` means the component is hung and systemd should restart the
    /// daemon (the watchdog ping is withheld). Degraded is still alive.
    fn alive(&self) -> bool {
        true
    }
    /// Appends Prometheus text-format lines (with `# HELP` and `# TYPE`) for this component.
    /// Metric names should start with `roundwared_`.
    fn write_metrics(&self, out: &mut String) {
        let _ = out;
    }
}

/// The overall verdict of a [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    /// Every component is ok or disabled.
    Ok,
    /// Some component is degraded or down, but the database works.
    Degraded,
    /// The database is down: the box cannot serve its API.
    Down,
}

impl Overall {
    /// `ok`, `degraded` or `down`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// Every component's state at one moment, in registration order.
#[derive(Debug, Clone)]
pub struct Report {
    /// The verdict.
    pub overall: Overall,
    /// `(name, state)` per registered probe.
    pub components: Vec<(&'static str, ComponentState)>,
}

impl Report {
    /// One line for systemd's `STATUS=` (shown by `systemctl status`).
    pub fn status_line(&self) -> String {
        let mut line = format!("serving, {}", self.overall.label());
        for (name, state) in &self.components {
            match state.reason() {
                Some(reason) => {
                    let _ = write!(line, "; {name} {}: {reason}", state.label());
                }
                None => {
                    let _ = write!(line, "; {name} {}", state.label());
                }
            }
        }
        line
    }
}

/// The probe registry and the daemon-wide counters; cheap to clone, shared by every handler.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    probes: RwLock<Vec<Arc<dyn Probe>>>,
    database: RwLock<Option<Arc<DatabaseProbe>>>,
    http: HttpMetrics,
    started: Instant,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            probes: RwLock::new(Vec::new()),
            database: RwLock::new(None),
            http: HttpMetrics::default(),
            started: Instant::now(),
        }
    }
}

impl Health {
    /// Adds a component. A probe registered twice under one name replaces the first.
    pub fn register(&self, probe: Arc<dyn Probe>) {
        let mut probes = self
            .inner
            .probes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        probes.retain(|p| p.name() != probe.name());
        probes.push(probe);
    }

    /// Registers the database probe (also kept apart so `/healthz` can check it afresh).
    pub fn register_database(&self, probe: Arc<DatabaseProbe>) {
        *self
            .inner
            .database
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(probe.clone());
        self.register(probe);
    }

    /// The database probe, once registered.
    pub fn database(&self) -> Option<Arc<DatabaseProbe>> {
        self.inner
            .database
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn probes(&self) -> Vec<Arc<dyn Probe>> {
        self.inner
            .probes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The HTTP request counters (fed by the API's middleware).
    pub fn http(&self) -> &HttpMetrics {
        &self.inner.http
    }

    /// Seconds since the daemon started.
    pub fn uptime_s(&self) -> f64 {
        self.inner.started.elapsed().as_secs_f64()
    }

    /// Every component's state and the verdict: down when the database is down, degraded when
    /// any component is degraded or down, ok otherwise.
    pub fn report(&self) -> Report {
        let components: Vec<_> = self
            .probes()
            .iter()
            .map(|p| (p.name(), p.state()))
            .collect();
        let db_down = components
            .iter()
            .any(|(n, s)| *n == database::NAME && matches!(s, ComponentState::Down(_)));
        let any_bad = components
            .iter()
            .any(|(_, s)| matches!(s, ComponentState::Degraded(_) | ComponentState::Down(_)));
        let overall = if db_down {
            Overall::Down
        } else if any_bad {
            Overall::Degraded
        } else {
            Overall::Ok
        };
        Report {
            overall,
            components,
        }
    }

    /// The names of the components that say they are hung (empty: ping the watchdog).
    pub fn hung(&self) -> Vec<&'static str> {
        self.probes()
            .iter()
            .filter(|p| !p.alive())
            .map(|p| p.name())
            .collect()
    }

    /// The whole `/metrics` page in Prometheus text format 0.0.4.
    pub fn render_metrics(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let report = self.report();
        out.push_str(
            "# HELP roundwared_build_info Version of the running roundwared.\n\
             # TYPE roundwared_build_info gauge\n",
        );
        let _ = writeln!(
            out,
            "roundwared_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str(
            "# HELP roundwared_up 1 while the daemon serves: 1 ok, 0.5 degraded, 0 database down.\n\
             # TYPE roundwared_up gauge\n",
        );
        let up = match report.overall {
            Overall::Ok => "1",
            Overall::Degraded => "0.5",
            Overall::Down => "0",
        };
        let _ = writeln!(out, "roundwared_up {up}");
        out.push_str(
            "# HELP roundwared_component_state 1 for the state each component is in.\n\
             # TYPE roundwared_component_state gauge\n",
        );
        for (name, state) in &report.components {
            for label in ["ok", "degraded", "down", "disabled"] {
                let v = u8::from(state.label() == label);
                let _ = writeln!(
                    out,
                    "roundwared_component_state{{component=\"{name}\",state=\"{label}\"}} {v}"
                );
            }
        }
        out.push_str(
            "# HELP roundwared_uptime_seconds Seconds since the daemon started.\n\
             # TYPE roundwared_uptime_seconds gauge\n",
        );
        let _ = writeln!(out, "roundwared_uptime_seconds {:.3}", self.uptime_s());
        for probe in self.probes() {
            probe.write_metrics(&mut out);
        }
        self.inner.http.write_metrics(&mut out);
        process::write_metrics(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, ComponentState, bool);

    impl Probe for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn state(&self) -> ComponentState {
            self.1.clone()
        }
        fn alive(&self) -> bool {
            self.2
        }
        fn write_metrics(&self, out: &mut String) {
            out.push_str("# HELP roundwared_fixed_thing A test line.\n# TYPE roundwared_fixed_thing gauge\nroundwared_fixed_thing 7\n");
        }
    }

    #[test]
    fn a_degraded_engine_makes_the_box_degraded_but_a_down_database_makes_it_down() {
        let h = Health::default();
        h.register(Arc::new(Fixed("database", ComponentState::Ok, true)));
        assert_eq!(h.report().overall, Overall::Ok);
        h.register(Arc::new(Fixed(
            "engine",
            ComponentState::Degraded("no sound card".into()),
            true,
        )));
        assert_eq!(h.report().overall, Overall::Degraded);
        assert!(
            h.report()
                .status_line()
                .contains("engine degraded: no sound card")
        );
        h.register(Arc::new(Fixed(
            "database",
            ComponentState::Down("x".into()),
            true,
        )));
        let r = h.report();
        assert_eq!(r.overall, Overall::Down);
        assert_eq!(r.components.len(), 2, "re-registering replaces");
    }

    #[test]
    fn a_hung_component_is_named_and_its_metrics_are_rendered() {
        let h = Health::default();
        h.register(Arc::new(Fixed("engine", ComponentState::Ok, false)));
        assert_eq!(h.hung(), vec!["engine"]);
        let m = h.render_metrics();
        assert!(m.contains("roundwared_fixed_thing 7\n"), "{m}");
        assert!(m.contains("roundwared_component_state{component=\"engine\",state=\"ok\"} 1"));
    }
}
