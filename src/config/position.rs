//! `[position]` of the configuration: the raw section and its validation into
//! [`PositionConfig`]. Owns only that section; the rest of [`super`] calls `validate`.

use std::path::PathBuf;

use serde::Deserialize;

/// `[position]`: where the box itself is (kiosks, walking-tour headsets).
#[derive(Debug, Clone, PartialEq)]
pub struct PositionConfig {
    /// Which source gives the box's position.
    pub source: PositionSourceKind,
    /// gpsd's JSON port, `host:port`.
    pub gpsd: String,
    /// Serial device of an NMEA 0183 receiver.
    pub nmea_device: PathBuf,
    /// Baud rate of that device.
    pub nmea_baud: u32,
    /// A fixed point `(latitude, longitude)` in degrees, validated to be on Earth.
    pub fixed: Option<(f64, f64)>,
    /// Seconds the last fix is kept after the fix is lost.
    pub hold_s: u64,
    /// What happens after `hold_s` without a fix.
    pub on_fix_loss: FixLossPolicy,
}

/// `[position] source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSourceKind {
    /// No position source (the box is not a listener).
    None,
    /// gpsd over TCP (JSON protocol).
    Gpsd,
    /// NMEA 0183 straight from a serial port.
    Nmea,
    /// The configured `fixed` point (a kiosk).
    Fixed,
}

impl PositionSourceKind {
    /// The name used in the config file and on the status route.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gpsd => "gpsd",
            Self::Nmea => "nmea",
            Self::Fixed => "fixed",
        }
    }
}

/// `[position] on_fix_loss`: what the listener does once a lost fix is no longer held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixLossPolicy {
    /// Stay at the last known position.
    Hold,
    /// Move to the configured `fixed` point.
    Fixed,
    /// Report no position at all (the local listener pauses).
    Pause,
}

impl FixLossPolicy {
    /// The name used in the config file and on the status route.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hold => "hold",
            Self::Fixed => "fixed",
            Self::Pause => "pause",
        }
    }
}

/// Baud rates accepted for `position.nmea_baud`.
pub const ALLOWED_NMEA_BAUDS: [u32; 8] = [
    4800, 9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800,
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPosition {
    source: String,
    gpsd: String,
    nmea_device: PathBuf,
    nmea_baud: u32,
    fixed: Option<Vec<f64>>,
    hold_s: u64,
    on_fix_loss: String,
}

impl Default for RawPosition {
    fn default() -> Self {
        Self {
            source: "none".into(),
            gpsd: "127.0.0.1:2947".into(),
            nmea_device: PathBuf::from("/dev/ttyUSB0"),
            nmea_baud: 9600,
            fixed: None,
            hold_s: 10,
            on_fix_loss: "hold".into(),
        }
    }
}

impl RawPosition {
    /// Validates `[position]`; the error is the key and what is wrong with it.
    pub(super) fn validate(self) -> Result<PositionConfig, (&'static str, String)> {
        let source = match self.source.as_str() {
            "none" => PositionSourceKind::None,
            "gpsd" => PositionSourceKind::Gpsd,
            "nmea" => PositionSourceKind::Nmea,
            "fixed" => PositionSourceKind::Fixed,
            other => {
                return Err((
                    "position.source",
                    format!("`{other}` is not one of none, gpsd, nmea, fixed"),
                ));
            }
        };
        let on_fix_loss = match self.on_fix_loss.as_str() {
            "hold" => FixLossPolicy::Hold,
            "fixed" => FixLossPolicy::Fixed,
            "pause" => FixLossPolicy::Pause,
            other => {
                return Err((
                    "position.on_fix_loss",
                    format!("`{other}` is not one of hold, fixed, pause"),
                ));
            }
        };
        let fixed = match self.fixed.as_deref() {
            None => None,
            Some(&[lat, lon]) => {
                if !(-90.0..=90.0).contains(&lat) {
                    return Err((
                        "position.fixed",
                        format!("latitude {lat} is not between -90 and 90"),
                    ));
                }
                if !(-180.0..=180.0).contains(&lon) {
                    return Err((
                        "position.fixed",
                        format!("longitude {lon} is not between -180 and 180"),
                    ));
                }
                Some((lat, lon))
            }
            Some(other) => {
                return Err((
                    "position.fixed",
                    format!("must be [latitude, longitude], got {} numbers", other.len()),
                ));
            }
        };
        if fixed.is_none() && source == PositionSourceKind::Fixed {
            return Err((
                "position.fixed",
                "is required when position.source = \"fixed\"".into(),
            ));
        }
        if fixed.is_none() && on_fix_loss == FixLossPolicy::Fixed {
            return Err((
                "position.fixed",
                "is required when position.on_fix_loss = \"fixed\"".into(),
            ));
        }
        let port_ok = self.gpsd.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err((
                "position.gpsd",
                format!(
                    "`{}` is not a host:port such as \"127.0.0.1:2947\"",
                    self.gpsd
                ),
            ));
        }
        if self.nmea_device.as_os_str().is_empty() {
            return Err(("position.nmea_device", "must not be empty".into()));
        }
        if !ALLOWED_NMEA_BAUDS.contains(&self.nmea_baud) {
            return Err((
                "position.nmea_baud",
                format!("{} is not one of {ALLOWED_NMEA_BAUDS:?}", self.nmea_baud),
            ));
        }
        if self.hold_s > 3600 {
            return Err((
                "position.hold_s",
                format!("{} is more than 3600 (one hour)", self.hold_s),
            ));
        }
        Ok(PositionConfig {
            source,
            gpsd: self.gpsd,
            nmea_device: self.nmea_device,
            nmea_baud: self.nmea_baud,
            fixed,
            hold_s: self.hold_s,
            on_fix_loss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"))
    }

    #[test]
    fn position_defaults_to_no_source_and_holding_ten_seconds() {
        let p = parse("").unwrap().position;
        assert_eq!(p.source, PositionSourceKind::None);
        assert_eq!(p.gpsd, "127.0.0.1:2947");
        assert_eq!(p.nmea_device, PathBuf::from("/dev/ttyUSB0"));
        assert_eq!(p.nmea_baud, 9600);
        assert_eq!(p.fixed, None);
        assert_eq!(p.hold_s, 10);
        assert_eq!(p.on_fix_loss, FixLossPolicy::Hold);
    }

    #[test]
    fn a_fixed_position_is_parsed_and_checked_against_the_globe() {
        let p = parse("[position]\nsource = \"fixed\"\nfixed = [52.52, 13.405]\n")
            .unwrap()
            .position;
        assert_eq!(p.source, PositionSourceKind::Fixed);
        assert_eq!(p.fixed, Some((52.52, 13.405)));
        for bad in [
            "fixed = [91.0, 0.0]",
            "fixed = [0.0, -180.5]",
            "fixed = [1.0]",
            "source = \"fixed\"",
            "on_fix_loss = \"fixed\"",
        ] {
            let err = parse(&format!("[position]\n{bad}\n")).unwrap_err();
            assert!(err.to_string().contains("position.fixed"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_position_values_are_refused_naming_the_key() {
        for (text, key) in [
            ("source = \"glonass\"", "position.source"),
            ("on_fix_loss = \"stop\"", "position.on_fix_loss"),
            ("gpsd = \"localhost\"", "position.gpsd"),
            ("gpsd = \"localhost:0\"", "position.gpsd"),
            ("nmea_baud = 1234", "position.nmea_baud"),
            ("nmea_device = \"\"", "position.nmea_device"),
            ("hold_s = 99999", "position.hold_s"),
            ("hold = 3", "hold"),
        ] {
            let err = parse(&format!("[position]\n{text}\n")).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }
}
