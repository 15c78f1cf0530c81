//! The `roundwared` binary: parse the command line, load the config, hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use roundwared::config::Config;

/// Roundware server for a Raspberry-Pi-class box.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        /// Config file (default: /etc/roundwared/roundwared.toml, then ./config/roundwared.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed a demo project (synthesized sounds, speakers, tags) when the database has none.
        #[arg(long)]
        demo: bool,
    },
    /// Check a config file and print the settings it results in.
    CheckConfig {
        /// Config file (default: as for `serve`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy the database (online, consistent) and the media into a new folder PATH. Safe
    /// while the daemon runs.
    Backup {
        /// New folder to write the backup into.
        path: PathBuf,
        /// Config file (for the data directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replace the data with a backup made by `backup`. The daemon must be stopped; existing
    /// data is moved aside (kept), and only with --force.
    Restore {
        /// Backup folder.
        path: PathBuf,
        /// Replace existing data (it is renamed *.before-restore-*, not deleted).
        #[arg(long)]
        force: bool,
        /// Config file (for the data directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List the ALSA outputs usable as `[local] output` (name, description, and the hardware
    /// mixer element the volume would move, or "software gain").
    Devices {
        /// Config file (for `[local] mixer_control`; default: as for `serve`, if present).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage login users (staff for the console and configuration writes).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Copy a project, with its recordings, from another Roundware server or roundwared box
    /// (its api/2) into this box; again later to bring its changes. The daemon must be
    /// stopped.
    Import {
        /// The source's api/2 root, e.g. http://gallery2.local:8888/api/2/.
        #[arg(long)]
        from: String,
        /// The source's project id.
        #[arg(long)]
        project: i64,
        /// Sign in at the source as this user (default: as an anonymous device).
        #[arg(long)]
        username: Option<String>,
        /// A file holding that user's password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Config file (default: as for `serve`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Fleet mode: many boxes of a venue sharing one catalogue (README "Fleet").
    Fleet {
        #[command(subcommand)]
        action: FleetAction,
    },
}

#[derive(Subcommand)]
enum FleetAction {
    /// Where this box stands: its number, the catalogue applied, changes not yet published,
    /// its streams and the hub's, registration. Safe while the daemon runs.
    Status {
        /// Config file (default: as for `serve`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Make a standalone box's data this fleet box's (`[fleet] box`), renumbering its own
    /// users, sessions, envelopes, recordings and votes once. The daemon must be stopped.
    Join {
        /// Config file (default: as for `serve`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Make this box a fleet box: check its nats-server, write `[fleet]` into the config,
    /// this box's nats.conf and the systemd drop-in that starts roundwared after
    /// roundwared-nats. Run as root; running it again gives the same files.
    Init {
        /// This box's part: the hub (gathers the venue) or a box.
        #[arg(long, value_parser = ["hub", "box"])]
        role: String,
        /// This box's number in the venue, 1 to 9007, each box its own.
        #[arg(long = "box")]
        box_number: u32,
        /// The hub's leaf address (a box only), such as nats-leaf://hub.local:7422.
        #[arg(long)]
        hub: Option<String>,
        /// A file holding the venue's leaf password (the same on the hub and every box).
        #[arg(long)]
        leaf_password_file: PathBuf,
        /// Config file (default: /etc/roundwared/roundwared.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// This box's nats.conf (default: /etc/roundwared/nats.conf).
        #[arg(long)]
        nats_conf: Option<PathBuf>,
        /// Folder of roundwared.service's drop-ins (default:
        /// /etc/systemd/system/roundwared.service.d).
        #[arg(long)]
        dropin_dir: Option<PathBuf>,
        /// JetStream's folder (default: /var/lib/roundwared-nats).
        #[arg(long)]
        store_dir: Option<PathBuf>,
        /// The nats-server whose version is checked (default: /usr/lib/roundwared/nats-server,
        /// the unit's).
        #[arg(long)]
        nats_server: Option<PathBuf>,
        /// The nats-server's client port on 127.0.0.1 (default: 4222).
        #[arg(long)]
        port: Option<u16>,
        /// The hub's port for the boxes' leaf connections (default: 7422).
        #[arg(long)]
        leaf_port: Option<u16>,
        /// Change the box number the config already has (only for a box that never joined).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user, or set the password (and staff flag) of an existing one.
    Add {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Password.
        #[arg(long)]
        password: String,
        /// Allow configuration writes.
        #[arg(long)]
        staff: bool,
        /// Config file (for the data directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = Config::locate(path.as_deref())?;
    Ok(Config::load(&path)?)
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            eprintln!("roundwared: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => {
            let c = load(config)?;
            println!(
                "config OK: {}\n  http.listen = {}\n  http.public_url = {}\n  storage.data_dir = {}\n  \
                 stream.heartbeat_timeout_s = {}\n  stream.ban_timeout_s = {}\n  stream.bitrate_kbps = {}\n  \
                 limits.max_upload_mb = {}\n  log.level = {}\n  position.source = {}\n  \
                 position.on_fix_loss = {} after {} s\n  local.enabled = {}\n  local.output = {}\n  \
                 local.volume = {} (the console's choice, when saved, wins until this changes)\n  \
                 local.mixer_control = {}",
                c.source
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                c.http.listen,
                c.http.public_url.as_deref().unwrap_or("(from Host header)"),
                c.storage.data_dir.display(),
                c.stream.heartbeat_timeout_s,
                c.stream.ban_timeout_s,
                c.stream.bitrate_kbps,
                c.limits.max_upload_mb,
                c.log.level,
                c.position.source.name(),
                c.position.on_fix_loss.name(),
                c.position.hold_s,
                c.local.enabled,
                c.local.output,
                c.local.volume,
                c.local.mixer_control.as_deref().unwrap_or("(automatic)"),
            );
            Ok(())
        }
        Command::Backup { path, config } => {
            let c = load(config)?;
            let s = roundwared::backup::backup(&c, &path).context("backup failed")?;
            println!(
                "backup written to {}: schema version {}, {} assets, {} media files ({} bytes)",
                s.path.display(),
                s.schema_version,
                s.assets,
                s.media_files,
                s.media_bytes
            );
            Ok(())
        }
        Command::Restore {
            path,
            force,
            config,
        } => {
            let c = load(config)?;
            let s = roundwared::backup::restore(&c, &path, force).context("restore failed")?;
            println!(
                "restored {} into {}: schema version {}, {} assets, {} media files ({} bytes)",
                s.path.display(),
                c.storage.data_dir.display(),
                s.schema_version,
                s.assets,
                s.media_files,
                s.media_bytes
            );
            for p in &s.moved_aside {
                println!("  previous data kept as {}", p.display());
            }
            Ok(())
        }
        Command::User {
            action:
                UserAction::Add {
                    username,
                    password,
                    staff,
                    config,
                },
        } => {
            let c = load(config)?;
            roundwared::telemetry::init(c.log.level);
            let outcome = roundwared::add_user_blocking(&c, &username, &password, staff)
                .context("cannot add user")?;
            println!("{outcome}");
            Ok(())
        }
        Command::Devices { config } => {
            // The config is optional here: listing must work before one is written.
            let mixer_control = match config {
                Some(path) => Config::load(&path)?.local.mixer_control,
                None => Config::locate(None)
                    .ok()
                    .and_then(|p| Config::load(&p).ok())
                    .and_then(|c| c.local.mixer_control),
            };
            devices(mixer_control.as_deref())
        }
        Command::Import {
            from,
            project,
            username,
            password_file,
            config,
        } => {
            let c = load(config)?;
            let report = one_shot_runtime()?.block_on(roundwared::import_project(
                &c,
                &from,
                project,
                username.as_deref(),
                password_file.as_deref(),
            ))?;
            print!("{report}");
            Ok(())
        }
        Command::Fleet {
            action:
                FleetAction::Init {
                    role,
                    box_number,
                    hub,
                    leaf_password_file,
                    config,
                    nats_conf,
                    dropin_dir,
                    store_dir,
                    nats_server,
                    port,
                    leaf_port,
                    force,
                },
        } => {
            print!(
                "{}",
                roundwared::fleet_init(&roundwared::FleetInitOptions {
                    role,
                    box_number,
                    hub,
                    leaf_password_file,
                    config,
                    nats_conf,
                    dropin_dir,
                    store_dir,
                    nats_server,
                    port,
                    leaf_port,
                    force,
                })?
            );
            Ok(())
        }
        Command::Fleet {
            action: FleetAction::Status { config },
        } => {
            let c = load(config)?;
            let report = one_shot_runtime()?.block_on(roundwared::fleet_status_report(&c))?;
            print!("{report}");
            Ok(())
        }
        Command::Fleet {
            action: FleetAction::Join { config },
        } => {
            let c = load(config)?;
            let report = one_shot_runtime()?.block_on(roundwared::fleet_join(&c))?;
            print!("{report}");
            Ok(())
        }
        Command::Serve { config, demo } => {
            let c = load(config)?;
            let media_dir = c.storage.media_dir();
            roundwared::telemetry::init(c.log.level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("roundwared")
                .build()
                .context("cannot start the async runtime")?;
            let result = runtime.block_on(async {
                let daemon = roundwared::Daemon::start(c).await?;
                if demo {
                    roundwared::seed_if_empty(daemon.store(), &media_dir)
                        .await
                        .context("cannot seed the demo project")?;
                }
                daemon.start_local_listener().await;
                daemon.run(roundwared::shutdown_signal()).await?;
                anyhow::Ok(())
            });
            // A media conversion still running on a blocking thread is not waited for: its
            // upload was never acknowledged and its temporary files are ignored.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            result
        }
    }
}

/// Prints the ALSA outputs, one per line: name, then description and mixer indented.
#[cfg(feature = "soundcard")]
fn devices(mixer_control: Option<&str>) -> anyhow::Result<()> {
    let outputs = roundwared::list_outputs(mixer_control);
    println!("ALSA outputs (use a name as [local] output; \"none\" plays no sound card):");
    for d in outputs {
        let mixer = d.hardware_mixer.map_or_else(
            || "no hardware mixer: software gain".to_owned(),
            |m| format!("hardware mixer: {m}"),
        );
        println!("{}\n    {}\n    volume: {mixer}", d.name, d.description);
    }
    Ok(())
}

/// This build has no sound card support.
#[cfg(not(feature = "soundcard"))]
fn devices(_mixer_control: Option<&str>) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build has no sound card support (feature `soundcard`); the local mix is served over HTTP only"
    )
}

/// The runtime a one-shot command (`import`, `fleet status`, `fleet join`) runs on.
fn one_shot_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
