//! Living under systemd: readiness, status and watchdog messages (`sd-notify`), the shutdown
//! hook every long-lived task subscribes to, and configuration reloads on SIGHUP.
//!
//! Protocol: `READY=1` once the database is migrated and the HTTP port is bound; `STATUS=`
//! whenever the health verdict changes; `WATCHDOG=1` at half of `WatchdogSec` but only after
//! the database answered a ping and no registered probe says it is hung; `RELOADING=1` …
//! `READY=1` around a SIGHUP reload; `STOPPING=1` on SIGTERM/SIGINT. Off systemd (no
//! `NOTIFY_SOCKET`) every message is a no-op.
//!
//! Owns: the notify socket, the shutdown token, the reload channel, the watchdog task. May
//! not touch: HTTP routing, SQL, audio.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::{DatabaseProbe, Health};

/// How often health is checked when systemd asked for no watchdog.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// Shutdown and reload hooks shared through `AppState`; cheap to clone.
///
/// * Shutdown: the engine (and any task owning open stream bodies) awaits
///   `shutdown.cancelled()` and ends its streams; the daemon cancels the token on
///   SIGTERM/SIGINT before it stops accepting connections and waits at most
///   [`crate::SHUTDOWN_GRACE`] for open requests.
/// * Reload: after SIGHUP the newly read, valid configuration is published on
///   [`Lifecycle::subscribe_reloads`]; a subscriber (the position source, later) applies what
///   it can and logs what it reloaded.
#[derive(Clone)]
pub(crate) struct Lifecycle {
    /// Cancelled once when the daemon starts shutting down.
    pub shutdown: CancellationToken,
    reloads: Arc<watch::Sender<Arc<Config>>>,
}

impl Lifecycle {
    /// Hooks for a daemon started with `config`.
    pub(crate) fn new(config: Arc<Config>) -> Self {
        Self {
            shutdown: CancellationToken::new(),
            reloads: Arc::new(watch::channel(config).0),
        }
    }

    /// A receiver that wakes with the new configuration after every successful reload.
    pub(crate) fn subscribe_reloads(&self) -> watch::Receiver<Arc<Config>> {
        self.reloads.subscribe()
    }

    /// The configuration as last (re)loaded.
    pub(crate) fn current_config(&self) -> Arc<Config> {
        self.reloads.borrow().clone()
    }

    /// Publishes a reloaded configuration to every subscriber.
    pub(crate) fn publish_reload(&self, config: Arc<Config>) {
        self.reloads.send_replace(config);
    }
}

/// Sends states to systemd; failures (no systemd, socket gone) are logged at debug level only.
pub(crate) fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify failed: {e}");
    }
}

/// Checks health every `interval` (half of `WatchdogSec` under a systemd watchdog, else
/// [`CHECK_INTERVAL`]), pings the watchdog only when the database answered and no component
/// is hung, and updates `STATUS=` when the verdict changes. Ends when `shutdown` is cancelled.
pub(crate) async fn watchdog_task(
    health: Health,
    db: Arc<DatabaseProbe>,
    shutdown: CancellationToken,
) {
    let watchdog = sd_notify::watchdog_enabled();
    let interval = watchdog.map_or(CHECK_INTERVAL, |d| (d / 2).max(Duration::from_millis(50)));
    if let Some(d) = watchdog {
        log::info!(
            "systemd watchdog every {} ms; pinging every {} ms after a health check",
            d.as_millis(),
            interval.as_millis()
        );
    }
    let mut last_status = String::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        db.check().await;
        let report = health.report();
        let status = report.status_line();
        if status != last_status {
            notify(&[NotifyState::Status(&status)]);
            last_status = status;
        }
        let hung = health.hung();
        if hung.is_empty() {
            if watchdog.is_some() {
                notify(&[NotifyState::Watchdog]);
            }
        } else {
            log::error!(
                "not pinging the systemd watchdog: {} not responding; systemd will restart roundwared",
                hung.join(", ")
            );
        }
    }
}

/// Re-reads `config_path` on every SIGHUP: applies the log level at once, publishes the new
/// configuration to [`Lifecycle::subscribe_reloads`], and logs what was reloaded and which
/// changed settings need a restart. A file that no longer validates is refused (the running
/// configuration stays) with the parser's message. Ends when `lifecycle.shutdown` is cancelled.
pub(crate) async fn reload_on_sighup(config_path: Option<PathBuf>, lifecycle: Lifecycle) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cannot listen for SIGHUP, reloads are off: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            () = lifecycle.shutdown.cancelled() => return,
            got = hup.recv() => if got.is_none() { return },
        }
        let Some(path) = config_path.as_deref() else {
            log::warn!("SIGHUP: running on built-in defaults, nothing to reload");
            continue;
        };
        notify(&[NotifyState::Reloading, NotifyState::Status("reloading")]);
        match Config::load(path) {
            Ok(new) => {
                let old = lifecycle.current_config();
                let level = crate::telemetry::set_level(new.log.level);
                let restart = needs_restart(&old, &new);
                let position_subscribers = lifecycle.reloads.receiver_count();
                lifecycle.publish_reload(Arc::new(new));
                log::info!(
                    "SIGHUP: reloaded {}: log level now {level}; configuration handed to {position_subscribers} reloadable component(s){}",
                    path.display(),
                    if restart.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; changed but applied only after a restart: {}",
                            restart.join(", ")
                        )
                    }
                );
            }
            Err(e) => log::error!(
                "SIGHUP: {e}; keeping the running configuration (fix the file, check it with `roundwared check-config`, then reload again)"
            ),
        }
        notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
    }
}

/// The sections whose change a reload cannot apply.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if format!("{:?}", old.http) != format!("{:?}", new.http) {
        changed.push("[http]");
    }
    if format!("{:?}", old.storage) != format!("{:?}", new.storage) {
        changed.push("[storage]");
    }
    if format!("{:?}", old.stream) != format!("{:?}", new.stream) {
        changed.push("[stream]");
    }
    if format!("{:?}", old.limits) != format!("{:?}", new.limits) {
        changed.push("[limits]");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_changed_listen_address_is_named_as_needing_a_restart_but_the_log_level_is_not() {
        let a = Config::from_toml_str("", Path::new("a")).unwrap();
        let b = Config::from_toml_str(
            "[http]\nlisten = \"127.0.0.1:1\"\n[log]\nlevel = \"debug\"\n",
            Path::new("b"),
        )
        .unwrap();
        assert_eq!(needs_restart(&a, &b), vec!["[http]"]);
        assert!(needs_restart(&a, &a).is_empty());
    }
}
