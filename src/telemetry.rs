//! Logging: to the systemd journal when stderr is connected to it (structured fields), else a
//! readable stderr logger. The level comes from the config; `RUST_LOG` overrides it; SIGHUP
//! re-reads the config and calls [`set_level`].
//!
//! Structured fields: the journal logger sends every `log` key-value as a journal field, so
//! `log::info!(stream_id = id, session_id = sid; "...")` gives `STREAM_ID=`/`SESSION_ID=` in
//! `journalctl -o verbose`; every record also carries `VERSION=`.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{now} {:<5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// The effective level: `RUST_LOG` (a level name, or `roundwared=level` among comma-separated
/// directives) wins over the config.
pub fn effective_level(config_level: LevelFilter, rust_log: Option<&str>) -> LevelFilter {
    let Some(spec) = rust_log else {
        return config_level;
    };
    let mut level = None;
    for directive in spec.split(',').map(str::trim) {
        match directive.split_once('=') {
            Some(("roundwared", l)) => level = l.parse().ok().or(level),
            Some(_) => {}
            None => level = level.or_else(|| directive.parse().ok()),
        }
    }
    level.unwrap_or(config_level)
}

/// Sets the level from the config (`RUST_LOG` still wins) and returns the level in force.
/// SIGHUP reloads call this.
pub fn set_level(config_level: LevelFilter) -> LevelFilter {
    let level = effective_level(config_level, std::env::var("RUST_LOG").ok().as_deref());
    log::set_max_level(level);
    level
}

/// Installs the logger once; later calls only change the level.
pub fn init(config_level: LevelFilter) {
    let installed = if systemd_journal_logger::connected_to_journal() {
        systemd_journal_logger::JournalLog::new()
            .map(|j| {
                j.with_syslog_identifier("roundwared".into())
                    .with_extra_fields(vec![("VERSION", env!("CARGO_PKG_VERSION"))])
                    .install()
                    .is_ok()
            })
            .unwrap_or(false)
    } else {
        false
    };
    if !installed {
        let _ = log::set_logger(&StderrLogger);
    }
    set_level(config_level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_overrides_the_config_level() {
        assert_eq!(effective_level(LevelFilter::Info, None), LevelFilter::Info);
        assert_eq!(
            effective_level(LevelFilter::Info, Some("debug")),
            LevelFilter::Debug
        );
        assert_eq!(
            effective_level(LevelFilter::Info, Some("hyper=warn,roundwared=trace")),
            LevelFilter::Trace
        );
        assert_eq!(
            effective_level(LevelFilter::Warn, Some("nonsense")),
            LevelFilter::Warn
        );
    }
}
