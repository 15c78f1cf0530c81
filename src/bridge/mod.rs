//! Bringing a project from another Roundware server's api/2 into this box (fleet.md §3.5 and
//! §2.1): `roundwared import --from URL --project N` seeds a standalone box from another box
//! or from a central Roundware server, and a fleet hub with `[fleet.central]` pulls its
//! projects from central on a poll ([`run`]) and so hands them to every box of the venue.
//! Both go through the same [`client::Api2`] and [`pull::pull`].
//!
//! Imported rows take this database's own ids (the store's `fleet::import` keeps the map), so
//! an import never overwrites the box's own rows and the next one updates the same rows.
//! With `push = true` the hub also pushes the venue's contributions (assets, votes, listen
//! events, events) to central after each pull ([`push`]).
//!
//! Owns: the import command, the hub's pull and push loop, the api/2 client. May not touch:
//! SQL (the store's), NATS, the mixer.

pub(crate) mod client;
pub(crate) mod map;
pub(crate) mod pull;
pub(crate) mod push;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backup::DataLock;
use crate::config::{CentralConfig, Config, FleetRole};
use crate::media::space::Reserve;
use crate::store::{Store, StoreError, StoreOptions};
use client::{Api2, SignIn};

/// Why an import or a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The source could not be read (an answer that is not what was asked for).
    #[error("the source: {0}")]
    Source(String),
    /// The source could not be reached, or its answer was cut off: a request that changes
    /// something may or may not have been done.
    #[error("the source: {0}")]
    Unreachable(String),
    /// The source answered 404.
    #[error("the source has no {0} (404)")]
    NotFound(String),
    /// The source answered another error status.
    #[error("the source answered {status} to {url}{detail}")]
    Status {
        /// What was asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of its answer (`: …`), or nothing.
        detail: String,
    },
    /// The import cannot run as asked.
    #[error("{0}")]
    Refused(String),
    /// This box's media folder.
    #[error("the media folder: {0}")]
    Disk(std::io::Error),
    /// This box's database.
    #[error("the database: {0}")]
    Store(#[from] StoreError),
}

/// `roundwared import --from URL --project N`: pulls the project into the data of `config`,
/// with the daemon stopped (the data folder's lock is taken). Signs in as `username` with the
/// password in `password_file`, else as an anonymous device. Returns the report to print.
///
/// # Errors
/// [`BridgeError`] naming the problem; nothing of a failed step is written.
pub async fn import(
    config: &Config,
    from: &str,
    project: i64,
    username: Option<&str>,
    password_file: Option<&Path>,
) -> Result<String, BridgeError> {
    if config.fleet.enabled && config.fleet.role == FleetRole::Box {
        return Err(BridgeError::Refused(format!(
            "this is box {} of a fleet: its configuration comes from the hub; import on the hub",
            config.fleet.box_number
        )));
    }
    let _lock = DataLock::acquire(&config.storage.data_dir)
        .map_err(|e| BridgeError::Refused(e.to_string()))?;
    let sign_in = sign_in(username, password_file, "roundwared-import")?;
    let api = Api2::connect(from, &sign_in).await?;
    let store = Store::open_with(
        &config.storage.database_path(),
        StoreOptions {
            events: config.events.enabled || config.fleet.enabled,
        },
    )?;
    let target = target(store.clone(), config);
    std::fs::create_dir_all(&target.media_dir).map_err(BridgeError::Disk)?;
    let pulled = pull::pull(&api, project, &target).await?;
    store.checkpoint().await?;
    Ok(report(&pulled, project, api.root()))
}

/// The hub's bridge loop: every `poll_s`, each of `[fleet.central] projects` is pulled from
/// the central server, then (with `push`) what the venue made is pushed to it; a failure is
/// logged once until the next success.
pub(crate) async fn run(
    store: Store,
    config: Arc<Config>,
    central: CentralConfig,
    status: Arc<crate::fleet::Status>,
    shutdown: CancellationToken,
) {
    let target = target(store.clone(), &config);
    let mut pusher = central
        .push
        .then(|| push::Pusher::new(store, config.storage.media_dir()));
    let sign_in = match sign_in(
        Some(central.username.as_str()).filter(|u| !u.is_empty()),
        Some(Path::new(&central.password_file)).filter(|p| !p.as_os_str().is_empty()),
        "roundwared-bridge",
    ) {
        Ok(s) => s,
        Err(e) => {
            log::error!("fleet bridge: cannot sign in at central ([fleet.central]): {e}");
            status.set_central(Some(e.to_string()));
            return;
        }
    };
    // Signed in once, and again only after a failure (each sign-in may start new sessions
    // at central).
    let mut signed_in: Option<Api2> = None;
    let (mut pull_failing, mut push_failing) = (false, false);
    loop {
        let pulled = async {
            let api = match &signed_in {
                Some(api) => api.clone(),
                None => Api2::connect(&central.url, &sign_in).await?,
            };
            signed_in = Some(api.clone());
            let mut done = Vec::new();
            for &project in &central.projects {
                done.push((project, pull::pull(&api, project, &target).await?));
            }
            Ok::<_, BridgeError>((api, done))
        }
        .await;
        let api = match pulled {
            Ok((api, done)) => {
                for (project, pulled) in &done {
                    if pulled.new + pulled.updated + pulled.removed > 0
                        || !pulled.skipped.is_empty()
                    {
                        log::info!(
                            "fleet bridge: {}",
                            report(pulled, *project, &central.url).trim_end()
                        );
                    }
                }
                if pull_failing {
                    log::info!("fleet bridge: central answers again");
                }
                pull_failing = false;
                status.set_central(None);
                Some(api)
            }
            Err(e) => {
                signed_in = None;
                if !pull_failing {
                    log::warn!("fleet bridge: pulling from central {}: {e}", central.url);
                }
                pull_failing = true;
                status.set_central(Some(e.to_string()));
                None
            }
        };
        if let Some(pusher) = pusher.as_mut() {
            let outcome = match &api {
                Some(api) => push_all(pusher, api).await.map(Some),
                None => Ok(None),
            };
            let error = match outcome {
                Ok(Some(done)) => {
                    if done.any() {
                        log::info!(
                            "fleet bridge: pushed to central: {} assets, {} votes, {} listen events, \
                             {} events; {} refused (dead letters)",
                            done.assets,
                            done.votes,
                            done.listens,
                            done.events,
                            done.dead
                        );
                    }
                    push_failing = false;
                    None
                }
                Ok(None) => None,
                Err(e) => {
                    if !push_failing {
                        log::warn!("fleet bridge: pushing to central {}: {e}", central.url);
                    }
                    push_failing = true;
                    Some(e.to_string())
                }
            };
            let root = client::recorded_root(&central.url).unwrap_or_default();
            match pusher.backlog(&root).await {
                Ok(backlog) => status.set_central_push(error, backlog),
                Err(e) => log::warn!("fleet bridge: reading the push backlog: {e}"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(u64::from(central.poll_s))) => {}
        }
    }
}

/// Push rounds one after another while more is waiting ([`push::MAX_ROUNDS`] at most before
/// the next poll): a busy venue's listen events and events do not pile up behind the poll.
async fn push_all(pusher: &mut push::Pusher, api: &Api2) -> Result<push::Pushed, BridgeError> {
    let mut done = push::Pushed::default();
    for _ in 0..push::MAX_ROUNDS {
        let round = pusher.round(api).await?;
        done.add(&round);
        if !round.more {
            break;
        }
    }
    Ok(done)
}

fn target(store: Store, config: &Config) -> pull::Target {
    let media_dir = config.storage.media_dir();
    pull::Target {
        store,
        limits: crate::media::Limits {
            max_recording_s: config.limits.max_recording_s as f64,
            reserve: Reserve::new(&media_dir, config.storage.min_free_bytes()),
        },
        max_media_bytes: u64::try_from(config.limits.max_upload_bytes()).unwrap_or(u64::MAX),
        media_dir,
    }
}

fn sign_in(
    username: Option<&str>,
    password_file: Option<&Path>,
    device: &str,
) -> Result<SignIn, BridgeError> {
    match (username, password_file) {
        (Some(username), Some(file)) => {
            let password = std::fs::read_to_string(file).map_err(|e| {
                BridgeError::Refused(format!("the password file {}: {e}", file.display()))
            })?;
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            if password.is_empty() {
                return Err(BridgeError::Refused(format!(
                    "the password file {} is empty",
                    file.display()
                )));
            }
            Ok(SignIn::User {
                username: username.to_owned(),
                password,
            })
        }
        (Some(_), None) => Err(BridgeError::Refused(
            "a username needs its password file (--password-file)".into(),
        )),
        (None, _) => Ok(SignIn::Device(device.to_owned())),
    }
}

fn report(pulled: &pull::Pulled, project: i64, source: &str) -> String {
    let mut out = format!(
        "project {project} of {source}: {} new, {} updated, {} unchanged, {} removed; {} media \
         files converted\n",
        pulled.new, pulled.updated, pulled.unchanged, pulled.removed, pulled.media
    );
    for why in &pulled.skipped {
        out.push_str(&format!("  not imported: {why}\n"));
    }
    out
}
