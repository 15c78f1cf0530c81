//! `[events]`: event streams (App.net app streams over the box's objects) and the outbox
//! they read. Parsed into [`EventsConfig`].
//!
//! Owns: the keys, their defaults, ranges and messages. May not touch: anything at run time.

use serde::Deserialize;

use super::guards::within;

/// `[events]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Every change is written to the outbox and event streams are served.
    pub enabled: bool,
    /// Changes are kept this many days for consumers that were away.
    pub retention_days: u32,
    /// At most this many changes are kept (the oldest go first).
    pub max_rows: u32,
    /// Event streams one token may have.
    pub max_streams_per_token: u32,
    /// Event connections open at once; more are refused with 503.
    pub max_connections: u32,
    /// Messages waiting for a connected consumer before it is disconnected (App.net's rule).
    pub queue_messages: u32,
}

/// The raw `[events]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEvents {
    enabled: bool,
    retention_days: u32,
    max_rows: u32,
    max_streams_per_token: u32,
    max_connections: u32,
    queue_messages: u32,
}

impl Default for RawEvents {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 7,
            max_rows: 50_000,
            max_streams_per_token: 5,
            max_connections: 256,
            queue_messages: 500,
        }
    }
}

impl RawEvents {
    /// The keys, validated.
    pub(super) fn validate(&self) -> Result<EventsConfig, (&'static str, String)> {
        let u = u64::from;
        within("events.retention_days", u(self.retention_days), 1..=366)?;
        within("events.max_rows", u(self.max_rows), 100..=10_000_000)?;
        within(
            "events.max_streams_per_token",
            u(self.max_streams_per_token),
            1..=10_000,
        )?;
        within(
            "events.max_connections",
            u(self.max_connections),
            1..=10_000,
        )?;
        within(
            "events.queue_messages",
            u(self.queue_messages),
            10..=100_000,
        )?;
        Ok(self.typed())
    }

    fn typed(&self) -> EventsConfig {
        EventsConfig {
            enabled: self.enabled,
            retention_days: self.retention_days,
            max_rows: self.max_rows,
            max_streams_per_token: self.max_streams_per_token,
            max_connections: self.max_connections,
            queue_messages: self.queue_messages,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        RawEvents::default().typed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_out_of_range_is_named_with_its_range() {
        let raw = RawEvents {
            max_connections: 0,
            ..RawEvents::default()
        };
        let (key, message) = raw.validate().unwrap_err();
        assert_eq!(key, "events.max_connections");
        assert!(message.contains("between 1 and 10000"), "{message}");
        assert_eq!(EventsConfig::default().max_streams_per_token, 5);
    }
}
