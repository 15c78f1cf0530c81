//! Configuration: read the TOML file into a raw serde structure that refuses unknown keys,
//! then validate it into the typed [`Config`] the rest of the daemon uses.
//!
//! Owns: file discovery, parsing, validation and error messages that name the offending key.
//! May not touch: the database, the network, or anything that changes at run time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod broadcast;
mod events;
mod fleet;
mod guards;
mod map;
mod position;
pub use broadcast::BroadcastConfig;
use broadcast::RawBroadcast;
pub use events::EventsConfig;
use events::RawEvents;
use fleet::RawFleet;
pub use fleet::{CentralConfig, FleetConfig, FleetRole, MAX_BOX, MediaFetch, ServerVersion};
pub use guards::{AbuseLimits, ConnectionConfig};
pub use map::MapConfig;
use map::RawMap;
use position::RawPosition;
pub use position::{ALLOWED_NMEA_BAUDS, FixLossPolicy, PositionConfig, PositionSourceKind};

/// Where the daemon looks for its configuration when `--config` is not given, in order.
pub const SEARCH_PATHS: [&str; 2] = [
    "/etc/roundwared/roundwared.toml",
    "./config/roundwared.toml",
];

/// Why a configuration could not be used. Every message names the file and, where it can, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file that was tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file that was parsed.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// A key has a value of the right type that is not allowed.
    #[error("config file {path}: key `{key}`: {message}")]
    Invalid {
        /// The file that was parsed.
        path: PathBuf,
        /// Dotted key name, such as `http.listen`.
        key: &'static str,
        /// What is wrong with the value.
        message: String,
    },
    /// `--config` was not given and none of the default paths exists.
    #[error("no config file found (looked for {})", SEARCH_PATHS.join(", "))]
    NotFound,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file was read from (for messages); `None` for built-in defaults.
    pub source: Option<PathBuf>,
    /// `[http]`
    pub http: HttpConfig,
    /// `[storage]`
    pub storage: StorageConfig,
    /// `[stream]`
    pub stream: StreamConfig,
    /// `[limits]`
    pub limits: LimitsConfig,
    /// `[local]`
    pub local: LocalConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[position]`
    pub position: PositionConfig,
    /// `[events]`.
    pub events: EventsConfig,
    /// `[map]`.
    pub map: MapConfig,
    /// `[broadcast]`.
    pub broadcast: BroadcastConfig,
    /// `[fleet]` and `[fleet.central]`.
    pub fleet: FleetConfig,
}

/// `[http]`: the API and media listener.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Base for absolute media and stream URLs, without a trailing slash; `None` derives it
    /// from the request's `Host` header.
    pub public_url: Option<String>,
    /// The project the visitor page at `/` opens; `None`: the only project, or a list.
    pub home_project_id: Option<i64>,
    /// Timeouts and caps of client connections.
    pub connections: ConnectionConfig,
}

/// `[storage]`: where state lives.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Holds `roundwared.sqlite3` and `media/`.
    pub data_dir: PathBuf,
    /// Free space on the data partition that uploads may not use, in MiB (0: no reserve).
    pub min_free_mb: u64,
}

impl StorageConfig {
    /// Path of the SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("roundwared.sqlite3")
    }

    /// Folder holding uploaded and generated media.
    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }

    /// The upload reserve in bytes.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_mb.saturating_mul(1024 * 1024)
    }
}

/// `[local]`: the box itself as a listener (kiosks, walking-tour headsets).
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Whether the daemon starts a local listener.
    pub enabled: bool,
    /// The project it listens to.
    pub project_id: i64,
    /// Sound card: a cpal/ALSA device name, `"default"`, or `"none"` (HTTP only).
    pub output: String,
    /// `SCHED_FIFO` priority of the sound-card callback thread (the local render thread gets
    /// one less), 1–99; 0 keeps normal scheduling.
    pub realtime_priority: u8,
    /// The box's volume, 0–100 (equal dB steps over 60 dB; 0 is silence), until the console
    /// changes it (the console's choice is kept in the database; see `store::settings`).
    pub volume: u8,
    /// The card's mixer element the volume moves (`"Master"`, `"Speaker"`…); `None` picks one
    /// (Master, PCM, Speaker, Headphone, else the first with a playback volume).
    pub mixer_control: Option<String>,
}

/// `[stream]`: server-side personal streams.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Idle time without heartbeat, location update or listener before a stream is torn down.
    pub heartbeat_timeout_s: u64,
    /// How long a played asset stays banned from replaying in a stream.
    pub ban_timeout_s: u64,
    /// Default MP3 bitrate.
    pub bitrate_kbps: u32,
    /// Time over which a speaker's gain follows the listener's movement, in ms.
    pub speaker_ramp_ms: u32,
    /// Memory for decoded assets that no stream is playing, in MiB.
    pub cache_mb: u32,
    /// Most personal streams mixed at once (the local listener not counted).
    pub max_streams: u32,
    /// Seconds of each personal stream kept for clips (0: no clips of personal streams).
    pub clip_buffer_s: u32,
}

/// `[limits]`: request size bounds.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Largest accepted request body (uploads included), in mebibytes.
    pub max_upload_mb: u64,
    /// Longest accepted audio upload, in seconds.
    pub max_recording_s: u64,
    /// Uploads admitted beyond those converting (receiving or waiting); more get 503.
    pub max_uploads_waiting: u32,
    /// Per-address request limits, stream caps and the login back-off.
    pub abuse: AbuseLimits,
}

impl LimitsConfig {
    /// The body limit in bytes.
    pub fn max_upload_bytes(&self) -> usize {
        usize::try_from(self.max_upload_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Level for roundwared's own messages; `RUST_LOG` overrides it.
    pub level: log::LevelFilter,
}

/// The MP3 bitrates an encoder and the reference server's project choices allow.
pub const ALLOWED_BITRATES_KBPS: [u32; 8] = [64, 96, 112, 128, 160, 192, 256, 320];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    stream: RawStream,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    local: RawLocal,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    position: RawPosition,
    #[serde(default)]
    events: RawEvents,
    #[serde(default)]
    map: RawMap,
    #[serde(default)]
    broadcast: RawBroadcast,
    #[serde(default)]
    fleet: RawFleet,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLocal {
    enabled: bool,
    project_id: i64,
    output: String,
    realtime_priority: i64,
    volume: i64,
    mixer_control: String,
}

impl Default for RawLocal {
    fn default() -> Self {
        Self {
            enabled: false,
            project_id: 1,
            output: "default".into(),
            realtime_priority: 20,
            volume: 100,
            mixer_control: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    listen: String,
    public_url: String,
    home_project_id: i64,
    header_read_timeout_s: u64,
    body_timeout_s: u64,
    body_min_bytes_per_s: u64,
    max_connections: u32,
    max_connections_per_ip: u32,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8888".into(),
            public_url: String::new(),
            home_project_id: 0,
            header_read_timeout_s: 10,
            body_timeout_s: 20,
            body_min_bytes_per_s: 500,
            max_connections: 4096,
            max_connections_per_ip: 64,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    data_dir: PathBuf,
    min_free_mb: u64,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/roundwared"),
            min_free_mb: 200,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStream {
    heartbeat_timeout_s: u64,
    ban_timeout_s: u64,
    bitrate_kbps: u32,
    speaker_ramp_ms: u32,
    cache_mb: u32,
    max_streams: u32,
    clip_buffer_s: u32,
}

impl Default for RawStream {
    fn default() -> Self {
        Self {
            heartbeat_timeout_s: 200,
            ban_timeout_s: 1800,
            bitrate_kbps: 128,
            speaker_ramp_ms: 1000,
            cache_mb: 256,
            max_streams: 200,
            clip_buffer_s: 60,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_upload_mb: u64,
    max_recording_s: u64,
    max_uploads_waiting: u32,
    registrations_per_ip_per_min: u32,
    logins_per_ip_per_min: u32,
    uploads_per_ip_per_min: u32,
    stream_starts_per_ip_per_min: u32,
    streams_per_user: u32,
    streams_per_ip: u32,
    login_failures_before_lock: u32,
    login_lock_s: u64,
    login_lock_max_s: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_upload_mb: 64,
            max_recording_s: 900,
            max_uploads_waiting: 8,
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
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

impl Config {
    /// The built-in defaults, as if an empty file had been read.
    pub fn defaults() -> Self {
        // An empty document always parses and the defaults always validate.
        Self::from_toml_str("", Path::new("<defaults>")).expect("built-in defaults are valid")
    }

    /// Finds the config file: `explicit` if given, else the first of [`SEARCH_PATHS`] that exists.
    ///
    /// # Errors
    /// [`ConfigError::NotFound`] when nothing is given and no default path exists.
    pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
        if let Some(path) = explicit {
            return Ok(path.to_path_buf());
        }
        SEARCH_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or(ConfigError::NotFound)
    }

    /// Reads and validates a config file.
    ///
    /// # Errors
    /// Any [`ConfigError`]: unreadable file, bad TOML, unknown key, invalid value.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::from_toml_str(&text, path)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates TOML text; `path` is used only in messages.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`], naming the key.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
        };

        let listen: SocketAddr = raw.http.listen.parse().map_err(|_| {
            invalid(
                "http.listen",
                format!(
                    "`{}` is not an address:port such as \"0.0.0.0:8888\"",
                    raw.http.listen
                ),
            )
        })?;
        let public_url = match raw.http.public_url.trim() {
            "" => None,
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            url => {
                return Err(invalid(
                    "http.public_url",
                    format!("`{url}` must start with http:// or https://, or be empty"),
                ));
            }
        };
        if raw.storage.data_dir.as_os_str().is_empty() {
            return Err(invalid("storage.data_dir", "must not be empty".into()));
        }
        if raw.stream.heartbeat_timeout_s == 0 {
            return Err(invalid(
                "stream.heartbeat_timeout_s",
                "must be at least 1".into(),
            ));
        }
        if !ALLOWED_BITRATES_KBPS.contains(&raw.stream.bitrate_kbps) {
            return Err(invalid(
                "stream.bitrate_kbps",
                format!(
                    "{} is not one of {ALLOWED_BITRATES_KBPS:?}",
                    raw.stream.bitrate_kbps
                ),
            ));
        }
        if raw.stream.speaker_ramp_ms > 60_000 {
            return Err(invalid(
                "stream.speaker_ramp_ms",
                format!(
                    "{} is more than 60000 (one minute)",
                    raw.stream.speaker_ramp_ms
                ),
            ));
        }
        let within = |r: Result<u64, (&'static str, String)>| r.map_err(|(k, m)| invalid(k, m));
        within(guards::within(
            "stream.max_streams",
            raw.stream.max_streams.into(),
            1..=10_000,
        ))?;
        within(guards::within(
            "stream.cache_mb",
            raw.stream.cache_mb.into(),
            16..=65_536,
        ))?;
        within(guards::within(
            "limits.max_upload_mb",
            raw.limits.max_upload_mb,
            1..=4096,
        ))?;
        within(guards::within(
            "limits.max_recording_s",
            raw.limits.max_recording_s,
            1..=86_400,
        ))?;
        if raw.storage.min_free_mb > 1_048_576 {
            return Err(invalid(
                "storage.min_free_mb",
                format!(
                    "{} is more than 1048576 (1 TiB); 0 turns the reserve off",
                    raw.storage.min_free_mb
                ),
            ));
        }
        within(guards::within(
            "limits.max_uploads_waiting",
            raw.limits.max_uploads_waiting.into(),
            0..=1000,
        ))?;
        if raw.http.home_project_id < 0 {
            return Err(invalid(
                "http.home_project_id",
                format!(
                    "{} is not a project id (0: the only project, or a list)",
                    raw.http.home_project_id
                ),
            ));
        }
        if raw.local.project_id < 1 {
            return Err(invalid(
                "local.project_id",
                format!("{} is not a project id", raw.local.project_id),
            ));
        }
        if raw.local.output.trim().is_empty() {
            return Err(invalid(
                "local.output",
                "must name a sound card, \"default\" or \"none\"".into(),
            ));
        }
        let realtime_priority = u8::try_from(raw.local.realtime_priority)
            .ok()
            .filter(|p| *p <= 99)
            .ok_or_else(|| {
                invalid(
                    "local.realtime_priority",
                    format!(
                        "{} is not between 0 (off) and 99",
                        raw.local.realtime_priority
                    ),
                )
            })?;
        let volume = u8::try_from(raw.local.volume)
            .ok()
            .filter(|v| *v <= 100)
            .ok_or_else(|| {
                invalid(
                    "local.volume",
                    format!("{} is not between 0 and 100", raw.local.volume),
                )
            })?;
        let level: log::LevelFilter = raw.log.level.parse().map_err(|_| {
            invalid(
                "log.level",
                format!(
                    "`{}` is not one of off, error, warn, info, debug, trace",
                    raw.log.level
                ),
            )
        })?;

        let position = raw
            .position
            .validate()
            .map_err(|(key, message)| invalid(key, message))?;
        let connections = raw.http.connections().map_err(|(k, m)| invalid(k, m))?;
        let abuse = raw.limits.abuse().map_err(|(k, m)| invalid(k, m))?;
        let events = raw.events.validate().map_err(|(k, m)| invalid(k, m))?;
        broadcast::clip_buffer("stream.clip_buffer_s", raw.stream.clip_buffer_s)
            .map_err(|(k, m)| invalid(k, m))?;
        let broadcast = raw.broadcast.validate().map_err(|(k, m)| invalid(k, m))?;
        let fleet = raw.fleet.validate().map_err(|(k, m)| invalid(k, m))?;
        let map = raw
            .map
            .validate(&raw.storage.data_dir)
            .map_err(|(k, m)| invalid(k, m))?;

        Ok(Self {
            source: None,
            http: HttpConfig {
                listen,
                public_url,
                home_project_id: (raw.http.home_project_id > 0).then_some(raw.http.home_project_id),
                connections,
            },
            storage: StorageConfig {
                data_dir: raw.storage.data_dir,
                min_free_mb: raw.storage.min_free_mb,
            },
            stream: StreamConfig {
                heartbeat_timeout_s: raw.stream.heartbeat_timeout_s,
                ban_timeout_s: raw.stream.ban_timeout_s,
                bitrate_kbps: raw.stream.bitrate_kbps,
                speaker_ramp_ms: raw.stream.speaker_ramp_ms,
                cache_mb: raw.stream.cache_mb,
                max_streams: raw.stream.max_streams,
                clip_buffer_s: raw.stream.clip_buffer_s,
            },
            limits: LimitsConfig {
                max_upload_mb: raw.limits.max_upload_mb,
                max_recording_s: raw.limits.max_recording_s,
                max_uploads_waiting: raw.limits.max_uploads_waiting,
                abuse,
            },
            local: LocalConfig {
                enabled: raw.local.enabled,
                project_id: raw.local.project_id,
                output: raw.local.output.trim().to_owned(),
                realtime_priority,
                volume,
                mixer_control: Some(raw.local.mixer_control.trim().to_owned())
                    .filter(|m| !m.is_empty()),
            },
            log: LogConfig { level },
            position,
            events,
            map,
            broadcast,
            fleet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"))
    }

    #[test]
    fn the_local_volume_defaults_to_100_and_must_lie_between_0_and_100() {
        let c = parse("").unwrap();
        assert_eq!(c.local.volume, 100);
        assert_eq!(c.local.mixer_control, None);
        assert_eq!(parse("[local]\nvolume = 0\n").unwrap().local.volume, 0);
        for bad in ["-1", "101", "1000"] {
            let err = parse(&format!("[local]\nvolume = {bad}\n")).unwrap_err();
            assert!(err.to_string().contains("local.volume"), "{err}");
        }
        let c = parse("[local]\nmixer_control = \" Speaker \"\n").unwrap();
        assert_eq!(c.local.mixer_control.as_deref(), Some("Speaker"));
    }

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.http.listen.to_string(), "0.0.0.0:8888");
        assert!(c.http.public_url.is_none());
        assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/roundwared"));
        assert_eq!(c.stream.heartbeat_timeout_s, 200);
        assert_eq!(c.stream.ban_timeout_s, 1800);
        assert_eq!(c.stream.bitrate_kbps, 128);
        assert_eq!(c.limits.max_upload_mb, 64);
        assert_eq!(c.limits.max_recording_s, 900);
        assert_eq!(c.limits.max_uploads_waiting, 8);
        assert_eq!(c.storage.min_free_mb, 200);
        assert_eq!(c.storage.min_free_bytes(), 200 * 1024 * 1024);
    }

    #[test]
    fn the_shipped_config_file_parses_and_points_at_var() {
        let text = include_str!("../config/roundwared.toml");
        let c = parse(text).unwrap();
        assert_eq!(c.storage.data_dir, PathBuf::from("./var"));
        assert_eq!(c.http.listen.port(), 8888);
    }

    #[test]
    fn the_packaged_config_differs_from_the_development_one_only_in_data_dir_header_and_local_listener()
     {
        let dev = include_str!("../config/roundwared.toml");
        let packaged = include_str!("../config/roundwared.packaged.toml");
        let c = parse(packaged).unwrap();
        assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/roundwared"));
        let settings = |t: &str| -> Vec<String> {
            t.lines()
                .skip_while(|l| l.starts_with('#') || l.is_empty())
                .filter(|l| !l.starts_with("data_dir"))
                // The development copy turns the local listener on at the demo's fixed point.
                .filter(|l| {
                    !["enabled = true", "# enabled = false", "source = \"fixed\""].contains(l)
                })
                .filter(|l| !l.starts_with("fixed = "))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(settings(dev), settings(packaged));
        assert!(!c.local.enabled, "the box ships without a local listener");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err = parse("[http]\nlisten = \"0.0.0.0:1\"\nlisten_port = 3\n").unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
        let err = parse("[nonsense]\n").unwrap_err();
        assert!(err.to_string().contains("nonsense"), "{err}");
    }

    #[test]
    fn a_bad_value_is_refused_naming_the_key() {
        let err = parse("[http]\nlisten = \"eight\"\n").unwrap_err();
        assert!(err.to_string().contains("http.listen"), "{err}");
        let err = parse("[stream]\nbitrate_kbps = 100\n").unwrap_err();
        assert!(err.to_string().contains("stream.bitrate_kbps"), "{err}");
        let err = parse("[stream]\nheartbeat_timeout_s = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("heartbeat_timeout_s"), "{err}");
        let err = parse("[http]\npublic_url = \"box.local\"\n").unwrap_err();
        assert!(err.to_string().contains("http.public_url"), "{err}");
        let err = parse("[limits]\nmax_upload_mb = 0\n").unwrap_err();
        assert!(err.to_string().contains("limits.max_upload_mb"), "{err}");
        let err = parse("[storage]\nmin_free_mb = 2000000\n").unwrap_err();
        assert!(err.to_string().contains("storage.min_free_mb"), "{err}");
        let err = parse("[storage]\nmin_free_mb = -1\n").unwrap_err();
        assert!(err.to_string().contains("min_free_mb"), "{err}");
        let err = parse("[limits]\nmax_uploads_waiting = 5000\n").unwrap_err();
        assert!(
            err.to_string().contains("limits.max_uploads_waiting"),
            "{err}"
        );
        let err = parse("[log]\nlevel = \"loud\"\n").unwrap_err();
        assert!(err.to_string().contains("log.level"), "{err}");
        let err = parse("[http]\nhome_project_id = -3\n").unwrap_err();
        assert!(err.to_string().contains("http.home_project_id"), "{err}");
        assert_eq!(
            parse("[http]\nhome_project_id = 4\n")
                .unwrap()
                .http
                .home_project_id,
            Some(4)
        );
        for bad in ["100", "-1"] {
            let err = parse(&format!("[local]\nrealtime_priority = {bad}\n")).unwrap_err();
            assert!(err.to_string().contains("local.realtime_priority"), "{err}");
        }
        assert_eq!(
            parse("[local]\nrealtime_priority = 0\n")
                .unwrap()
                .local
                .realtime_priority,
            0
        );
    }

    #[test]
    fn public_url_loses_its_trailing_slash() {
        let c = parse("[http]\npublic_url = \"http://box.local:8888/\"\n").unwrap();
        assert_eq!(c.http.public_url.as_deref(), Some("http://box.local:8888"));
    }
}
