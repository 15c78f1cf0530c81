//! The keys that guard the box against slow or greedy clients on an open Wi-Fi: connection
//! timeouts and caps under `[http]`, per-address request limits, per-user stream caps and the
//! login back-off under `[limits]`. Parsed into [`ConnectionConfig`] and [`AbuseLimits`].
//!
//! Every default is far above what a busy museum day needs (a phone registers once per visit,
//! opens one stream, records a few minutes) and far below what a script does.
//!
//! The raw keys and their defaults sit in `config.rs` beside the other keys of their tables
//! (those tables refuse unknown keys, which serde cannot combine with a flattened sub-table).
//!
//! Owns: the ranges and messages of these keys. May not touch: anything at run time.

use super::{RawHttp, RawLimits};

/// `[http]` keys about connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// A request head must be complete within this many seconds of the connection opening or
    /// of the previous response on it; an idle keep-alive connection is closed after it too.
    pub header_read_timeout_s: u64,
    /// A request body may stall this long (seconds) before it is refused with 408 …
    pub body_timeout_s: u64,
    /// … and each further second is granted per this many bytes received (a minimum rate).
    pub body_min_bytes_per_s: u64,
    /// Open connections allowed in total; more are closed at accept.
    pub max_connections: u32,
    /// Open connections allowed per client address (an IPv6 /64 counts as one); more are
    /// closed at accept.
    pub max_connections_per_ip: u32,
}

/// `[limits]` keys about requests per address and streams per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// `POST users/` per client address per minute.
    pub registrations_per_ip_per_min: u32,
    /// `POST login/` per client address per minute.
    pub logins_per_ip_per_min: u32,
    /// Uploads (`PATCH envelopes/:id/`, `POST assets/`) per client address per minute.
    pub uploads_per_ip_per_min: u32,
    /// `POST streams/` per client address per minute.
    pub stream_starts_per_ip_per_min: u32,
    /// Personal streams one token may have running at once.
    pub streams_per_user: u32,
    /// Personal streams one client address may have running at once.
    pub streams_per_ip: u32,
    /// Failed logins (per address, and per username) before the first lock.
    pub login_failures_before_lock: u32,
    /// Length of the first lock in seconds; each further failure doubles it …
    pub login_lock_s: u64,
    /// … up to this many seconds.
    pub login_lock_max_s: u64,
}

/// A key that failed validation and why.
type Invalid = (&'static str, String);

/// `value` when it is in `range`, else the key and `"<value> is not between <lo> and <hi>"`.
pub(super) fn within<T: PartialOrd + std::fmt::Display + Copy>(
    key: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, Invalid> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err((
            key,
            format!(
                "{value} is not between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

impl RawHttp {
    /// The connection keys of `[http]`, validated.
    pub(super) fn connections(&self) -> Result<ConnectionConfig, Invalid> {
        let max_connections = within("http.max_connections", self.max_connections, 16..=1_000_000)?;
        let per_ip = within(
            "http.max_connections_per_ip",
            self.max_connections_per_ip,
            1..=1_000_000,
        )?;
        if per_ip > max_connections {
            return Err((
                "http.max_connections_per_ip",
                format!("{per_ip} is more than http.max_connections ({max_connections})"),
            ));
        }
        Ok(ConnectionConfig {
            header_read_timeout_s: within(
                "http.header_read_timeout_s",
                self.header_read_timeout_s,
                1..=3600,
            )?,
            body_timeout_s: within("http.body_timeout_s", self.body_timeout_s, 1..=3600)?,
            body_min_bytes_per_s: within(
                "http.body_min_bytes_per_s",
                self.body_min_bytes_per_s,
                1..=100_000_000,
            )?,
            max_connections,
            max_connections_per_ip: per_ip,
        })
    }
}

impl RawLimits {
    /// The abuse keys of `[limits]`, validated.
    pub(super) fn abuse(&self) -> Result<AbuseLimits, Invalid> {
        let rate = |key, v| within(key, v, 1..=1_000_000);
        let login_lock_s = within("limits.login_lock_s", self.login_lock_s, 1..=86_400)?;
        let login_lock_max_s =
            within("limits.login_lock_max_s", self.login_lock_max_s, 1..=86_400)?;
        if login_lock_max_s < login_lock_s {
            return Err((
                "limits.login_lock_max_s",
                format!("{login_lock_max_s} is less than limits.login_lock_s ({login_lock_s})"),
            ));
        }
        Ok(AbuseLimits {
            registrations_per_ip_per_min: rate(
                "limits.registrations_per_ip_per_min",
                self.registrations_per_ip_per_min,
            )?,
            logins_per_ip_per_min: rate(
                "limits.logins_per_ip_per_min",
                self.logins_per_ip_per_min,
            )?,
            uploads_per_ip_per_min: rate(
                "limits.uploads_per_ip_per_min",
                self.uploads_per_ip_per_min,
            )?,
            stream_starts_per_ip_per_min: rate(
                "limits.stream_starts_per_ip_per_min",
                self.stream_starts_per_ip_per_min,
            )?,
            streams_per_user: within("limits.streams_per_user", self.streams_per_user, 1..=10_000)?,
            streams_per_ip: within("limits.streams_per_ip", self.streams_per_ip, 1..=10_000)?,
            login_failures_before_lock: within(
                "limits.login_failures_before_lock",
                self.login_failures_before_lock,
                1..=1000,
            )?,
            login_lock_s,
            login_lock_max_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let c = RawHttp::default().connections().unwrap();
        assert_eq!(
            c,
            ConnectionConfig {
                header_read_timeout_s: 10,
                body_timeout_s: 20,
                body_min_bytes_per_s: 500,
                max_connections: 4096,
                max_connections_per_ip: 64,
            }
        );
        let a = RawLimits::default().abuse().unwrap();
        assert_eq!(
            a,
            AbuseLimits {
                registrations_per_ip_per_min: 20,
                logins_per_ip_per_min: 10,
                uploads_per_ip_per_min: 20,
                stream_starts_per_ip_per_min: 30,
                streams_per_user: 3,
                streams_per_ip: 4,
                login_failures_before_lock: 5,
                login_lock_s: 2,
                login_lock_max_s: 600,
            }
        );
    }

    #[test]
    fn a_zero_or_inconsistent_value_is_refused_naming_the_key() {
        let raw = RawHttp {
            header_read_timeout_s: 0,
            ..RawHttp::default()
        };
        assert_eq!(
            raw.connections().unwrap_err().0,
            "http.header_read_timeout_s"
        );
        let raw = RawHttp {
            max_connections: 100,
            max_connections_per_ip: 200,
            ..RawHttp::default()
        };
        assert_eq!(
            raw.connections().unwrap_err().0,
            "http.max_connections_per_ip"
        );
        let raw = RawLimits {
            streams_per_user: 0,
            ..RawLimits::default()
        };
        assert_eq!(raw.abuse().unwrap_err().0, "limits.streams_per_user");
        let raw = RawLimits {
            login_lock_s: 60,
            login_lock_max_s: 10,
            ..RawLimits::default()
        };
        assert_eq!(raw.abuse().unwrap_err().0, "limits.login_lock_max_s");
    }
}
