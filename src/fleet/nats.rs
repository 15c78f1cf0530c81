//! The connection to this box's own nats-server, refused when the server is older than
//! `[fleet] min_nats_server`.
//!
//! Owns: connect options, the version check. May not touch: streams and buckets (their
//! modules'), SQL.

use std::time::Duration;

use super::FleetError;
use crate::config::{FleetConfig, ServerVersion};

/// How long the first connection may take before fleet mode gives up at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `config.nats_url` and checks the server's version.
///
/// # Errors
/// [`FleetError::Unreachable`] or [`FleetError::TooOld`].
pub(crate) async fn connect(config: &FleetConfig) -> Result<async_nats::Client, FleetError> {
    let unreachable = |reason: String| FleetError::Unreachable {
        url: config.nats_url.clone(),
        reason,
    };
    let client = async_nats::ConnectOptions::new()
        .name(format!("roundwared box {}", config.box_number))
        .connection_timeout(CONNECT_TIMEOUT)
        .connect(config.nats_url.as_str())
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    check_version(&client.server_info().version, config)?;
    Ok(client)
}

/// `Ok` when `announced` is at least `config.min_nats_server`.
///
/// # Errors
/// [`FleetError::TooOld`], also for a version that does not parse.
pub(crate) fn check_version(announced: &str, config: &FleetConfig) -> Result<(), FleetError> {
    match announced.parse::<ServerVersion>() {
        Ok(found) if found >= config.min_nats_server => Ok(()),
        _ => Err(FleetError::TooOld {
            url: config.nats_url.clone(),
            found: announced.to_owned(),
            min: config.min_nats_server,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_older_than_the_minimum_is_refused_naming_the_key() {
        let config = FleetConfig::default();
        assert!(check_version("2.15.1", &config).is_ok());
        assert!(check_version("2.14.0", &config).is_ok());
        let refused = check_version("2.9.10", &config).unwrap_err().to_string();
        assert!(
            refused.contains("min_nats_server = \"2.14.0\""),
            "{refused}"
        );
        assert!(refused.contains("2.9.10"), "{refused}");
        assert!(check_version("garbage", &config).is_err());
    }
}
