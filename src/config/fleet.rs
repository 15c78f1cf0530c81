//! `[fleet]` and `[fleet.central]`: many boxes sharing one catalogue over NATS JetStream
//! (`../shared/spec/fleet.md` §3.7). Parsed into [`FleetConfig`].
//!
//! Owns: the keys, their defaults and messages, the server version format. May not touch:
//! the network (the version guard itself is `fleet::nats`'s).

use serde::Deserialize;

/// The highest box number: box-origin ids are `box × 10^12 + n`, and must stay below 2^53
/// (exact in JavaScript).
pub const MAX_BOX: u32 = 9007;

/// A box's part in the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FleetRole {
    /// Records, plays and publishes its own rows; applies the venue catalogue.
    Box,
    /// A box that also merges every box into the venue catalogue and bridges to central.
    Hub,
}

/// When a box fetches other boxes' media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaFetch {
    /// As soon as the asset arrives.
    Eager,
    /// When a stream first needs it (small SD cards).
    Lazy,
}

/// A `major.minor.patch` server version (a pre-release suffix is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion(pub u32, pub u32, pub u32);

impl std::str::FromStr for ServerVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let core = s.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Ok(Self(a, b, c)),
            _ => Err(format!("{s:?} is not a version like \"2.14.0\"")),
        }
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// `[fleet.central]`: the central Roundware server the hub bridges to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralConfig {
    /// Its api/2 root, such as `https://rw.example.org/api/2/`.
    pub url: String,
    /// The central user the bridge signs in as.
    pub username: String,
    /// A file holding that user's password.
    pub password_file: String,
    /// Central project ids carried by the venue.
    pub projects: Vec<i64>,
    /// Seconds between polls for changes.
    pub poll_s: u32,
    /// Seconds between full reconciles.
    pub reconcile_s: u32,
    /// Whether the venue's contributions are pushed to central.
    pub push: bool,
}

/// `[fleet]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// Off: a standalone box (everything else here is ignored).
    pub enabled: bool,
    /// This box's part.
    pub role: FleetRole,
    /// This box's number in the venue, 1 to [`MAX_BOX`] (checked when enabled).
    pub box_number: u32,
    /// This box's own nats-server.
    pub nats_url: String,
    /// The hub's JetStream domain.
    pub hub_domain: String,
    /// When other boxes' media are fetched.
    pub media_fetch: MediaFetch,
    /// Media fetches at once.
    pub media_workers: u32,
    /// Seconds between audits of the media buckets.
    pub audit_s: u32,
    /// Older nats-servers are refused (2.9 loses media on a flapping link).
    pub min_nats_server: ServerVersion,
    /// The central server (hub only), if any.
    pub central: Option<CentralConfig>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        RawFleet::default()
            .validate()
            .expect("the defaults are valid")
    }
}

/// The raw `[fleet]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFleet {
    enabled: bool,
    role: FleetRole,
    #[serde(rename = "box")]
    box_number: u32,
    nats_url: String,
    hub_domain: String,
    media_fetch: MediaFetch,
    media_workers: u32,
    audit_s: u32,
    min_nats_server: String,
    central: Option<RawCentral>,
}

impl Default for RawFleet {
    fn default() -> Self {
        Self {
            enabled: false,
            role: FleetRole::Box,
            box_number: 0,
            nats_url: "nats://127.0.0.1:4222".into(),
            hub_domain: "hub".into(),
            media_fetch: MediaFetch::Eager,
            media_workers: 2,
            audit_s: 300,
            min_nats_server: "2.14.0".into(),
            central: None,
        }
    }
}

/// The raw `[fleet.central]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCentral {
    url: String,
    username: String,
    password_file: String,
    projects: Vec<i64>,
    poll_s: u32,
    reconcile_s: u32,
    push: bool,
}

impl Default for RawCentral {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: String::new(),
            password_file: String::new(),
            projects: Vec::new(),
            poll_s: 30,
            reconcile_s: 600,
            push: true,
        }
    }
}

type Invalid = (&'static str, String);

impl RawFleet {
    /// The keys, validated.
    pub(super) fn validate(&self) -> Result<FleetConfig, Invalid> {
        let min_nats_server = self
            .min_nats_server
            .parse()
            .map_err(|why| ("fleet.min_nats_server", why))?;
        if self.enabled && !(1..=MAX_BOX).contains(&self.box_number) {
            return Err((
                "fleet.box",
                format!(
                    "{} is not a box number: give each box of the venue its own, 1 to {MAX_BOX}",
                    self.box_number
                ),
            ));
        }
        if !(self.nats_url.starts_with("nats://") || self.nats_url.starts_with("tls://")) {
            return Err((
                "fleet.nats_url",
                format!("{:?} is not a nats:// or tls:// URL", self.nats_url),
            ));
        }
        let domain_ok = !self.hub_domain.is_empty()
            && self
                .hub_domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !domain_ok {
            return Err((
                "fleet.hub_domain",
                format!(
                    "{:?} is not a JetStream domain (letters, digits, - and _)",
                    self.hub_domain
                ),
            ));
        }
        if !(1..=16).contains(&self.media_workers) {
            return Err(("fleet.media_workers", "must be 1 to 16".into()));
        }
        if !(10..=86_400).contains(&self.audit_s) {
            return Err(("fleet.audit_s", "must be 10 to 86400 seconds".into()));
        }
        let central = match &self.central {
            Some(_) if self.enabled && self.role == FleetRole::Box => {
                return Err((
                    "fleet.central",
                    "only the hub talks to a central server: remove [fleet.central] or set \
                     role = \"hub\""
                        .into(),
                ));
            }
            Some(c) => Some(c.validate()?),
            None => None,
        };
        Ok(FleetConfig {
            enabled: self.enabled,
            role: self.role,
            box_number: self.box_number,
            nats_url: self.nats_url.clone(),
            hub_domain: self.hub_domain.clone(),
            media_fetch: self.media_fetch,
            media_workers: self.media_workers,
            audit_s: self.audit_s,
            min_nats_server,
            central,
        })
    }
}

impl RawCentral {
    fn validate(&self) -> Result<CentralConfig, Invalid> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err((
                "fleet.central.url",
                format!("{:?} is not an http(s) URL of an api/2 root", self.url),
            ));
        }
        if !(5..=3600).contains(&self.poll_s) {
            return Err(("fleet.central.poll_s", "must be 5 to 3600 seconds".into()));
        }
        if self.reconcile_s < self.poll_s || self.reconcile_s > 86_400 {
            return Err((
                "fleet.central.reconcile_s",
                "must be at least poll_s and at most 86400 seconds".into(),
            ));
        }
        Ok(CentralConfig {
            url: self.url.clone(),
            username: self.username.clone(),
            password_file: self.password_file.clone(),
            projects: self.projects.clone(),
            poll_s: self.poll_s,
            reconcile_s: self.reconcile_s,
            push: self.push,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number_and_ignore_a_pre_release_suffix() {
        let v = |s: &str| s.parse::<ServerVersion>().unwrap();
        assert!(v("2.9.10") < v("2.14.0"));
        assert!(v("2.15.1") > v("2.14.0"));
        assert_eq!(v("v2.14.0-beta.1"), v("2.14.0"));
        assert!("2.14".parse::<ServerVersion>().is_err());
        assert!("two".parse::<ServerVersion>().is_err());
    }

    #[test]
    fn the_defaults_are_a_standalone_box() {
        let c = FleetConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.min_nats_server, ServerVersion(2, 14, 0));
        assert_eq!(c.nats_url, "nats://127.0.0.1:4222");
    }

    #[test]
    fn an_enabled_box_needs_a_number_in_range_and_only_a_hub_may_name_central() {
        let raw = RawFleet {
            enabled: true,
            ..RawFleet::default()
        };
        assert_eq!(raw.validate().unwrap_err().0, "fleet.box");
        let raw = RawFleet {
            enabled: true,
            box_number: MAX_BOX + 1,
            ..RawFleet::default()
        };
        assert_eq!(raw.validate().unwrap_err().0, "fleet.box");
        let raw = RawFleet {
            enabled: true,
            box_number: 2,
            central: Some(RawCentral {
                url: "https://rw.example.org/api/2/".into(),
                ..RawCentral::default()
            }),
            ..RawFleet::default()
        };
        assert_eq!(raw.validate().unwrap_err().0, "fleet.central");
        let raw = RawFleet {
            role: FleetRole::Hub,
            ..raw
        };
        assert!(raw.validate().unwrap().central.is_some());
    }
}
