//! `roundwared fleet init` (fleet.md §3.7, README "Fleet"): makes this box a fleet box. It
//! checks the nats-server the unit runs against `[fleet] min_nats_server`, writes `[fleet]`
//! into the roundwared config ([`edit`], checked by the config loader before it replaces the
//! file), this box's `nats.conf` ([`template`]; it holds the leaf password: mode 0640, group
//! `roundwared` for the unit) and the systemd drop-in ordering roundwared after
//! `roundwared-nats.service`. Each file is written whole (temporary file, fsync, rename) and
//! only when it changes, so running it twice gives the same files. It refuses, saying why,
//! rather than guess: a box number that changes needs `--force`.
//!
//! Owns: the command's checks, its files and report. May not touch: SQL, NATS connections, the
//! running daemon (the user restarts it, as the report says).

mod edit;
mod template;

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{Config, ConfigError, FleetRole, ServerVersion};
use crate::media::TempFile;
use edit::{EditError, FleetKeys};
use template::{LeafPassword, NatsConf, Part};

/// Where the files go unless told otherwise.
const CONFIG: &str = "/etc/roundwared/roundwared.toml";
const NATS_CONF: &str = "/etc/roundwared/nats.conf";
const DROPIN_DIR: &str = "/etc/systemd/system/roundwared.service.d";
const DROPIN_FILE: &str = "fleet.conf";
const STORE_DIR: &str = "/var/lib/roundwared-nats";
/// The binary `systemd/roundwared-nats.service` runs (the package's).
const NATS_SERVER: &str = "/usr/lib/roundwared/nats-server";
/// The client port of this box's nats-server.
const CLIENT_PORT: u16 = 4222;
/// The group the nats-server unit runs as: it reads `nats.conf`.
const SERVICE_GROUP: &str = "roundwared";
/// `nats.conf` holds the leaf password.
const NATS_CONF_MODE: u32 = 0o640;

/// What `fleet init` was asked for (`None`: the default).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// `hub` or `box`.
    pub role: String,
    /// This box's number in the venue (`[fleet] box`).
    pub box_number: u32,
    /// The hub's leaf address, `nats-leaf://HOST[:PORT]` (a box only).
    pub hub: Option<String>,
    /// A file holding the venue's leaf password (the same on every box).
    pub leaf_password_file: PathBuf,
    /// The roundwared config (default `/etc/roundwared/roundwared.toml`).
    pub config: Option<PathBuf>,
    /// This box's nats.conf (default `/etc/roundwared/nats.conf`).
    pub nats_conf: Option<PathBuf>,
    /// Where the drop-in `fleet.conf` goes (default
    /// `/etc/systemd/system/roundwared.service.d`).
    pub dropin_dir: Option<PathBuf>,
    /// JetStream's folder (default `/var/lib/roundwared-nats`, the unit's StateDirectory).
    pub store_dir: Option<PathBuf>,
    /// The nats-server to check (default `/usr/lib/roundwared/nats-server`, the unit's).
    pub nats_server: Option<PathBuf>,
    /// The nats-server's client port on 127.0.0.1 (default 4222).
    pub port: Option<u16>,
    /// The hub's leaf port (default 7422; the hub only).
    pub leaf_port: Option<u16>,
    /// Allow changing a box number already in the config.
    pub force: bool,
}

/// Why `fleet init` wrote nothing (or, for [`InitError::Write`], stopped).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A command-line option is wrong or missing.
    #[error("fleet init: {option}: {message}")]
    Option {
        /// The option, such as `--hub`.
        option: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The leaf password file cannot be used.
    #[error("fleet init: --leaf-password-file {}: {message}", path.display())]
    Password {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The roundwared config cannot be read, edited, or would not load once edited.
    #[error("fleet init: {0} (nothing was written)")]
    Config(ConfigError),
    /// The config already names another box number.
    #[error(
        "fleet init: {} has [fleet] box = {old}, not {new}: changing a box's number after it \
         joined the fleet breaks its id range (what it created is numbered {old} × 10^12 + n, and \
         its database is box {old}'s); give --force only if this box never ran as box {old}",
        path.display()
    )]
    BoxChanged {
        /// The config file.
        path: PathBuf,
        /// The number in it.
        old: i64,
        /// The number asked for.
        new: u32,
    },
    /// The nats-server cannot be run.
    #[error(
        "fleet init: cannot run {} --version: {reason} (install the roundwared package's \
         nats-server, or name one with --nats-server)",
        binary.display()
    )]
    NatsServer {
        /// The binary.
        binary: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The nats-server is older than `[fleet] min_nats_server`.
    #[error(
        "fleet init: the nats-server at {} is version {found}, older than [fleet] \
         min_nats_server = \"{min}\" (older servers lose media on a flapping link); install the \
         nats-server the roundwared package ships, or a newer one",
        binary.display()
    )]
    TooOld {
        /// The binary.
        binary: PathBuf,
        /// What it said its version is.
        found: String,
        /// `[fleet] min_nats_server`.
        min: ServerVersion,
    },
    /// A file could not be written.
    #[error("fleet init: cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

// Not `#[from]`: that would make the config error a source, and the CLI prints sources again.
impl From<ConfigError> for InitError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// Makes this box a fleet box as `options` say; the report to print (what was written, what
/// to run next).
///
/// # Errors
/// [`InitError`]; nothing is written unless every check passed.
pub fn init(options: &InitOptions) -> Result<String, InitError> {
    // Absolute: a file is renamed into its folder and the folder fsynced, which needs a name.
    let path_or = |p: &Option<PathBuf>, default: &str| {
        let p = p.clone().unwrap_or_else(|| PathBuf::from(default));
        std::path::absolute(&p).unwrap_or(p)
    };
    let config_path = path_or(&options.config, CONFIG);
    let nats_conf_path = path_or(&options.nats_conf, NATS_CONF);
    let dropin_path = path_or(&options.dropin_dir, DROPIN_DIR).join(DROPIN_FILE);
    let store = path_or(&options.store_dir, STORE_DIR);
    let binary = options
        .nats_server
        .clone()
        .unwrap_or_else(|| PathBuf::from(NATS_SERVER));
    let port = options.port.unwrap_or(CLIENT_PORT);

    let (role, part) = part(options)?;
    if port == 0 || options.leaf_port == Some(0) {
        return Err(InitError::Option {
            option: "--port",
            message: "ports are 1 to 65535".into(),
        });
    }
    let store_dir = template::store_dir(&store).map_err(|message| InitError::Option {
        option: "--store-dir",
        message,
    })?;
    let password = password(&options.leaf_password_file)?;
    let keys = FleetKeys {
        role,
        number: options.box_number,
        nats_url: format!("nats://127.0.0.1:{port}"),
    };
    let (new_text, config) = edited_config(&config_path, &keys, options.force)?;
    let version = check_version(&binary, config.fleet.min_nats_server)?;

    // nats.conf and the drop-in first: a config in fleet mode without them would not start.
    let conf = template::nats_conf(&NatsConf {
        part: &part,
        hub_domain: &config.fleet.hub_domain,
        port,
        store_dir,
        password: &password,
    });
    let group = group_id(SERVICE_GROUP);
    let conf_outcome = write_file(
        &nats_conf_path,
        conf.as_bytes(),
        NATS_CONF_MODE,
        (None, group),
    )?;
    if let Some(dir) = dropin_path.parent() {
        fs::create_dir_all(dir).map_err(|error| InitError::Write {
            path: dir.to_path_buf(),
            error,
        })?;
    }
    let dropin_outcome = write_file(
        &dropin_path,
        template::DROPIN.as_bytes(),
        0o644,
        (None, None),
    )?;
    // The config keeps its mode and owner.
    let meta = fs::metadata(&config_path).map_err(|error| InitError::Write {
        path: config_path.clone(),
        error,
    })?;
    let config_outcome = write_file(
        &config_path,
        new_text.as_bytes(),
        meta.permissions().mode() & 0o7777,
        (Some(meta.uid()), Some(meta.gid())),
    )?;

    let mut report = match &part {
        Part::Hub { leaf_port } => format!(
            "fleet init: this box is the hub (box {}), JetStream domain {}, taking the boxes' \
             leaf connections on port {leaf_port}\n",
            options.box_number, config.fleet.hub_domain
        ),
        Part::Box { number, hub } => format!(
            "fleet init: this box is box {number}, JetStream domain b{number}, a leaf of the hub \
             at {hub}\n"
        ),
    };
    let group = match group {
        Some(_) => format!("group {SERVICE_GROUP} (the unit's)"),
        None => format!(
            "no group {SERVICE_GROUP} on this system: readable by its owner only, while \
             roundwared-nats.service runs as {SERVICE_GROUP}"
        ),
    };
    let _ = write!(
        report,
        "  nats-server {version} at {} (at least [fleet] min_nats_server = \"{}\")\n\
         \x20 {} {}: [fleet] enabled = true, role = \"{}\", box = {}, nats_url = \"{}\"\n\
         \x20 {} {}: mode 0640 (it holds the leaf password), {group}; JetStream in {store_dir}\n\
         \x20 {} {}: roundwared wants and starts after roundwared-nats.service\n",
        binary.display(),
        config.fleet.min_nats_server,
        config_outcome.verb(),
        config_path.display(),
        options.role,
        options.box_number,
        config.fleet.nats_url,
        conf_outcome.verb(),
        nats_conf_path.display(),
        dropin_outcome.verb(),
        dropin_path.display(),
    );
    report.push_str(
        "next:\n  systemctl daemon-reload\n  systemctl enable --now roundwared-nats roundwared\n  \
         systemctl restart roundwared   # it reads [fleet] at start\n\
         A box that already served on its own: stop roundwared and run `roundwared fleet join` \
         before starting it in fleet mode.\n",
    );
    Ok(report)
}

/// The role and `nats.conf` part the options ask for.
///
/// # Errors
/// [`InitError::Option`] naming `--role`, `--hub` or `--leaf-port`.
fn part(options: &InitOptions) -> Result<(FleetRole, Part), InitError> {
    let option = |option: &'static str, message: String| InitError::Option { option, message };
    match (options.role.as_str(), &options.hub) {
        ("hub", None) => Ok((
            FleetRole::Hub,
            Part::Hub {
                leaf_port: options.leaf_port.unwrap_or(template::LEAF_PORT),
            },
        )),
        ("hub", Some(_)) => Err(option(
            "--hub",
            "is for a box (the hub is the one the boxes connect to)".into(),
        )),
        ("box", None) => Err(option(
            "--hub",
            "a box needs the hub's leaf address, such as nats-leaf://hub.local:7422".into(),
        )),
        ("box", Some(_)) if options.leaf_port.is_some() => Err(option(
            "--leaf-port",
            "is the hub's (a box names the hub's port in --hub)".into(),
        )),
        ("box", Some(hub)) => Ok((
            FleetRole::Box,
            Part::Box {
                number: options.box_number,
                hub: hub.parse().map_err(|m| option("--hub", m))?,
            },
        )),
        (other, _) => Err(option("--role", format!("{other:?} is not hub or box"))),
    }
}

/// The leaf password in `path`.
///
/// # Errors
/// [`InitError::Password`]: unreadable, empty, or holding what would break the files.
fn password(path: &Path) -> Result<LeafPassword, InitError> {
    let refused = |message: String| InitError::Password {
        path: path.to_path_buf(),
        message,
    };
    let text = fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
    LeafPassword::from_file_text(&text).map_err(refused)
}

/// The config at `path` with `keys` set, and what the config loader makes of it.
///
/// # Errors
/// [`InitError::Config`] (unreadable, not TOML, or not loading once edited) or
/// [`InitError::BoxChanged`].
fn edited_config(
    path: &Path,
    keys: &FleetKeys,
    force: bool,
) -> Result<(String, Config), InitError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse = |message: String| {
        InitError::Config(ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    };
    let edited = edit::set_fleet(&text, keys, force).map_err(|e| match e {
        EditError::Parse(message) => parse(message),
        EditError::NotATable => parse("`fleet` is a value; it must be the table [fleet]".into()),
        EditError::BoxChanged { old } => InitError::BoxChanged {
            path: path.to_path_buf(),
            old,
            new: keys.number,
        },
    })?;
    let config = Config::from_toml_str(&edited, path)?;
    Ok((edited, config))
}

/// The version `binary --version` reports, when at least `min`.
///
/// # Errors
/// [`InitError::NatsServer`] or [`InitError::TooOld`] (also for a version that does not parse).
fn check_version(binary: &Path, min: ServerVersion) -> Result<ServerVersion, InitError> {
    let failed = |reason: String| InitError::NatsServer {
        binary: binary.to_path_buf(),
        reason,
    };
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // "nats-server: v2.15.1"
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let too_old = |found: String| InitError::TooOld {
        binary: binary.to_path_buf(),
        found,
        min,
    };
    match said
        .split_whitespace()
        .last()
        .map(str::parse::<ServerVersion>)
    {
        Some(Ok(found)) if found >= min => Ok(found),
        Some(Ok(found)) => Err(too_old(found.to_string())),
        _ => Err(too_old(format!("{said:?}"))),
    }
}

/// A group's id from `/etc/group`, if it exists.
fn group_id(name: &str) -> Option<u32> {
    fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != name {
                return None;
            }
            fields.nth(1)?.parse().ok()
        })
}

/// Whether a file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Written,
    Unchanged,
}

impl Outcome {
    fn verb(self) -> &'static str {
        match self {
            Self::Written => "wrote",
            Self::Unchanged => "unchanged",
        }
    }
}

/// Puts `bytes` at `path` with `mode` and `(uid, gid)` (`None`: as created) unless it holds
/// them already: a temporary file in the same folder, given its mode and owner before the
/// bytes go in, fsynced and renamed over `path`.
///
/// # Errors
/// [`InitError::Write`].
fn write_file(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    (uid, gid): (Option<u32>, Option<u32>),
) -> Result<Outcome, InitError> {
    let failed = |error: std::io::Error| InitError::Write {
        path: path.to_path_buf(),
        error,
    };
    if let (Ok(old), Ok(meta)) = (fs::read(path), fs::metadata(path)) {
        let same_owner = uid.is_none_or(|u| u == meta.uid()) && gid.is_none_or(|g| g == meta.gid());
        if old == bytes && meta.permissions().mode() & 0o7777 == mode && same_owner {
            return Ok(Outcome::Unchanged);
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = TempFile::create(dir).map_err(failed)?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).map_err(failed)?;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(tmp.path(), uid, gid).map_err(failed)?;
    }
    let mut file = tmp.file();
    file.write_all(bytes).map_err(failed)?;
    tmp.persist_as(path).map_err(failed)?;
    Ok(Outcome::Written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_with_its_mode_and_left_alone_when_it_already_holds_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nats.conf");
        assert_eq!(
            write_file(&path, b"secret\n", 0o640, (None, None)).unwrap(),
            Outcome::Written
        );
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(
            write_file(&path, b"secret\n", 0o640, (None, None)).unwrap(),
            Outcome::Unchanged
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            write_file(&path, b"secret\n", 0o640, (None, None)).unwrap(),
            Outcome::Written,
            "a file readable by all is put back to 0640"
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // Nothing but the file is left in the folder.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_group_is_found_by_name_in_etc_group() {
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-here"), None);
    }
}
