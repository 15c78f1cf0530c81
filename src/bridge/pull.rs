//! Pulling one project from another Roundware server into this box: its configuration
//! (languages, strings, the project, tag categories, tags and their relationships, UI groups
//! and items, UI elements, speakers, audiotracks, timed assets) and its assets with their
//! media, downloaded and converted here like an upload, so they play as the box's own.
//!
//! The configuration is written in one transaction. Each asset is written in its own, once
//! its media are on disk, so an asset enters lists and playlists only when it plays; a media
//! file already converted from the same source URL is not fetched again, and an object the
//! source shows unchanged is not written again. Every pull reads the source's whole lists
//! (api/2 shows no deletions and bumps no timestamp for most edits, fleet.md §2.1), so what
//! the source no longer lists is removed here. An object that cannot be written is reported,
//! not fatal.
//!
//! Owns: the order of a pull and its report. May not touch: HTTP (through [`Api2`]), SQL
//! (through the store's `fleet::import`).

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::Value;

use super::BridgeError;
use super::client::Api2;
use super::map::{self, Strings};
use crate::media::{self, Purpose};
use crate::store::Store;
use crate::store::fleet::import::{self as rows, RemoteState, Wrote};
use crate::store::fleet::kind_named;
use crate::store::fleet::push;

/// The project's configuration kinds, removed here when the source no longer lists them.
const CONFIG_KINDS: &[&str] = &[
    "project",
    "tag",
    "tagrelationship",
    "uigroup",
    "uiitem",
    "uielement",
    "speaker",
    "audiotrack",
];

/// Assets asked for per page.
const PAGE_SIZE: usize = 500;

/// The most pages read (100,000 assets): a source that always says there is more is refused.
const MAX_PAGES: usize = 200;

/// Where a pull writes.
#[derive(Clone)]
pub(crate) struct Target {
    /// The box's database.
    pub store: Store,
    /// Its media folder.
    pub media_dir: PathBuf,
    /// The bounds a conversion works within (as an upload's).
    pub limits: media::Limits,
    /// The largest media file downloaded.
    pub max_media_bytes: u64,
}

/// What a pull did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pulled {
    /// Objects new here.
    pub new: usize,
    /// Objects changed at the source and written again.
    pub updated: usize,
    /// Objects the source shows unchanged.
    pub unchanged: usize,
    /// Objects the source no longer lists, removed here.
    pub removed: usize,
    /// Media files downloaded and converted.
    pub media: usize,
    /// Objects not written, and why.
    pub skipped: Vec<String>,
}

impl Pulled {
    fn count(&mut self, wrote: Result<Wrote, String>, what: &str) {
        match wrote {
            Ok(Wrote::New(_)) => self.new += 1,
            Ok(Wrote::Updated(_)) => self.updated += 1,
            Ok(Wrote::Unchanged(_)) => self.unchanged += 1,
            Err(why) => self.skipped.push(format!("{what}: {why}")),
        }
    }
}

/// Pulls project `project` of the source into `target`.
///
/// # Errors
/// [`BridgeError`] when the source cannot be read (nothing of the failed step is written), or
/// the store fails.
pub(crate) async fn pull(api: &Api2, project: i64, target: &Target) -> Result<Pulled, BridgeError> {
    let session = api.session(project).await.map_err(|e| match e {
        BridgeError::Status { status: 400, .. } | BridgeError::NotFound(_) => {
            BridgeError::Refused(format!("the source has no project {project}"))
        }
        other => other,
    })?;
    let admin = ("admin", String::new());
    let in_project = [("project_id", project.to_string())];
    let languages = api.list("languages/", &[]).await?;
    let strings = map::strings(&api.list("localizedstrings/", &[]).await?);
    let project_json = api
        .get(
            &format!("projects/{project}/"),
            &[("session_id", session.to_string()), admin.clone()],
        )
        .await?;
    let categories = api.list("tagcategories/", &[]).await?;
    let tags = api
        .list(
            &format!("projects/{project}/tags/"),
            std::slice::from_ref(&admin),
        )
        .await?;
    let relationships = api.list("tagrelationships/", &[]).await?;
    let groups = api
        .list(
            &format!("projects/{project}/uigroups/"),
            &[("session_id", session.to_string()), admin.clone()],
        )
        .await?;
    let element_names = optional(api.list("uielementnames/", &[]).await)?;
    let elements = optional(api.list("uielements/", &in_project).await)?;
    let speakers = api.list("speakers/", &in_project).await?;
    let audiotracks = api.list("audiotracks/", &in_project).await?;
    let timed = api.list("timedassets/", &in_project).await?;

    let tag_ids: HashSet<i64> = tags.iter().filter_map(id).collect();
    let mut shared: Vec<RemoteState> = Vec::new();
    shared.extend(languages.iter().filter_map(map::language));
    shared.extend(categories.iter().filter_map(map::tag_category));
    shared.extend(element_names.iter().filter_map(map::ui_element_name));
    let mut owned: Vec<RemoteState> = Vec::new();
    owned.extend(map::project(&project_json, &strings));
    owned.extend(tags.iter().filter_map(|t| map::tag(t, &strings)));
    // Relationships have no project: the ones of this project's tags.
    let relationships: Vec<RemoteState> = relationships
        .iter()
        .filter(|r| {
            r.get("tag_id")
                .and_then(Value::as_i64)
                .is_some_and(|t| tag_ids.contains(&t))
        })
        .filter_map(map::tag_relationship)
        .collect();
    owned.extend(groups.iter().flat_map(|g| map::ui_group(g, &strings)));
    owned.extend(elements.iter().filter_map(|e| map::ui_element(e, &strings)));
    owned.extend(speakers.iter().filter_map(map::speaker));
    owned.extend(audiotracks.iter().filter_map(map::audiotrack));

    let source = api.root().to_owned();
    let mut report = Pulled::default();
    report = write_config(
        target,
        &source,
        project,
        Batch {
            shared,
            relationships,
            owned,
            retired: CONFIG_KINDS,
        },
        report,
    )
    .await?;
    let assets = list_assets(api, project).await?;
    for asset in &assets {
        pull_asset(api, target, &source, project, asset, &strings, &mut report).await?;
    }
    let timed: Vec<RemoteState> = timed.iter().filter_map(map::timed_asset).collect();
    report = write_config(
        target,
        &source,
        project,
        Batch {
            shared: Vec::new(),
            relationships: Vec::new(),
            owned: timed,
            retired: &["timedasset"],
        },
        report,
    )
    .await?;
    let listed: HashSet<i64> = assets.iter().filter_map(id).collect();
    let removed = target
        .store
        .write(move |tx| {
            let Some(kind) = kind_named("asset") else {
                return Ok(Err(0));
            };
            // A source that suddenly lists nothing (a failing filter, a permission change) must
            // not empty the venue: recordings are removed only while it lists some.
            let held = rows::imported(tx, &source, project, kind)?;
            if listed.is_empty() && held > 0 {
                return Ok(Err(held));
            }
            Ok(Ok(rows::retire(tx, &source, project, kind, &listed)?))
        })
        .await?;
    let removed = match removed {
        Ok(files) => files,
        Err(held) => {
            if held > 0 {
                report.skipped.push(format!(
                    "the source lists no recordings of project {project}: the {held} imported \
                     here are kept (delete them here if that is meant)"
                ));
            }
            Vec::new()
        }
    };
    report.removed += removed.len();
    let stems: Vec<String> = removed
        .iter()
        .filter_map(|f| media::files::media_stem(f))
        .collect();
    media::files::remove_media_files(&target.media_dir, &stems);
    Ok(report)
}

/// Configuration objects written in one transaction.
struct Batch {
    /// Rows every project shares (languages, tag categories, UI element names).
    shared: Vec<RemoteState>,
    /// Tag relationships (no project, but kept in step with the project's tags).
    relationships: Vec<RemoteState>,
    /// The project's own objects.
    owned: Vec<RemoteState>,
    /// The kinds whose rows the source no longer lists are removed.
    retired: &'static [&'static str],
}

/// Writes `batch` in one transaction, removing what the source no longer lists.
async fn write_config(
    target: &Target,
    source: &str,
    project: i64,
    batch: Batch,
    mut report: Pulled,
) -> Result<Pulled, BridgeError> {
    let Batch {
        shared,
        relationships,
        owned,
        retired,
    } = batch;
    let source = source.to_owned();
    Ok(target
        .store
        .write(move |tx| {
            for object in &shared {
                let wrote = rows::write(tx, &source, None, object, None)?;
                report.count(wrote, &describe(object));
            }
            for object in relationships.iter().chain(&owned) {
                let wrote = rows::write(tx, &source, Some(project), object, None)?;
                report.count(wrote, &describe(object));
            }
            // What the source no longer lists, kind by kind (assets are the caller's).
            for kind in retired {
                let Some(kind) = kind_named(kind) else {
                    continue;
                };
                let seen: HashSet<i64> = owned
                    .iter()
                    .chain(&relationships)
                    .filter(|o| o.kind.name == kind.name)
                    .map(|o| o.remote_id)
                    .collect();
                report.removed += rows::retire(tx, &source, project, kind, &seen)?.len();
            }
            Ok(report)
        })
        .await?)
}

/// Every asset of the project, page by page.
async fn list_assets(api: &Api2, project: i64) -> Result<Vec<Value>, BridgeError> {
    let mut all = Vec::new();
    for page in 1.. {
        let answer = api
            .get(
                "assets/",
                &[
                    ("project_id", project.to_string()),
                    ("paginate", "true".into()),
                    ("page_size", PAGE_SIZE.to_string()),
                    ("page", page.to_string()),
                    ("ordering", "id".into()),
                    ("admin", String::new()),
                ],
            )
            .await?;
        let (items, more) = match answer {
            // A server that does not paginate answers the whole list.
            Value::Array(items) => (items, false),
            Value::Object(mut o) => {
                let more = o.get("next").is_some_and(|n| !n.is_null());
                match o.remove("results") {
                    Some(Value::Array(items)) => (items, more),
                    _ => (Vec::new(), false),
                }
            }
            _ => (Vec::new(), false),
        };
        let short = items.len() < PAGE_SIZE;
        all.extend(items);
        if !more || short {
            return Ok(all);
        }
        if page >= MAX_PAGES {
            return Err(BridgeError::Source(format!(
                "project {project} lists more than {} assets",
                MAX_PAGES * PAGE_SIZE
            )));
        }
    }
    Ok(all)
}

/// Writes one asset, its media downloaded and converted first unless this box already made
/// them from the same source URL.
async fn pull_asset(
    api: &Api2,
    target: &Target,
    source: &str,
    project: i64,
    src: &Value,
    strings: &Strings,
    report: &mut Pulled,
) -> Result<(), BridgeError> {
    let Some(mut object) = map::asset(src, strings) else {
        report.skipped.push("an asset without an id".into());
        return Ok(());
    };
    let remote = object.remote_id;
    let Some(media_url) = map::asset_media(src).map(str::to_owned) else {
        report
            .skipped
            .push(format!("asset {remote}: it has no media"));
        return Ok(());
    };
    let (src_root, known_source) = (source.to_owned(), source.to_owned());
    let envelopes = map::ids_of(src, "envelope_ids");
    let known = target
        .store
        .read(move |c| {
            let known = rows::known_asset(c, &known_source, remote)?;
            // Central lists an upload of the venue's whose answer the push never had.
            let ours = match known {
                None => push::pushed_in_envelope(c, &known_source, &envelopes)?,
                Some(_) => None,
            };
            Ok((known, ours))
        })
        .await?;
    let known = match known {
        (Some(k), _) if k.pushed => {
            report.unchanged += 1;
            return Ok(());
        }
        (None, Some(local)) => {
            let source = source.to_owned();
            target
                .store
                .write_quiet(move |tx| {
                    push::record_pushed(tx, &source, "assets", local, remote, project)
                })
                .await?;
            report.unchanged += 1;
            return Ok(());
        }
        (known, _) => known,
    };
    let mut fresh = None;
    let (file, filename, length_ns) = match &known {
        Some(k) if k.media.as_deref() == Some(media_url.as_str()) => {
            (k.file.clone(), k.filename.clone(), k.audiolength_ns)
        }
        _ => {
            let media_type = src
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("audio")
                .to_owned();
            let spool = match api
                .download(&media_url, &target.media_dir, target.max_media_bytes)
                .await
            {
                Ok(f) => f,
                Err(e @ (BridgeError::NotFound(_) | BridgeError::Status { .. })) => {
                    report.skipped.push(format!("asset {remote}: {e}"));
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let (limits, dir) = (target.limits.clone(), target.media_dir.clone());
            let base = format!("import-{remote}");
            let ingested = tokio::task::spawn_blocking(move || {
                media::ingest(spool, &media_type, Purpose::Asset, &limits, &dir, &base)
            })
            .await
            .map_err(|e| BridgeError::Source(format!("asset {remote}: conversion task: {e}")))?;
            let ingested = match ingested {
                Ok(i) => i,
                Err(e) if e.is_client_error() => {
                    report
                        .skipped
                        .push(format!("asset {remote}: its media: {e}"));
                    return Ok(());
                }
                Err(e) => return Err(BridgeError::Source(format!("asset {remote}: {e}"))),
            };
            report.media += 1;
            let names = (
                Some(ingested.stored.file.clone()),
                Some(ingested.stored.filename.clone()),
                ingested.audiolength_ns,
            );
            fresh = Some(ingested);
            names
        }
    };
    if let Some(row) = object
        .state
        .pointer_mut("/rows/assets/0")
        .and_then(Value::as_object_mut)
    {
        row.insert("file".into(), file.into());
        row.insert("filename".into(), filename.into());
        row.insert("audiolength".into(), length_ns.into());
    }
    let wrote = target
        .store
        .write(move |tx| rows::write(tx, &src_root, Some(project), &object, Some(&media_url)))
        .await?;
    let written = wrote.is_ok();
    report.count(wrote, &format!("asset {remote}"));
    if let Some(ingested) = fresh
        && written
    {
        ingested.written.keep();
        // The files made from an earlier URL are replaced.
        if let Some(old) = known
            .and_then(|k| k.file)
            .and_then(|f| media::files::media_stem(&f))
        {
            media::files::remove_media_files(&target.media_dir, &[old]);
        }
    }
    Ok(())
}

/// A list the source may not have (an older server): empty then.
fn optional(listed: Result<Vec<Value>, BridgeError>) -> Result<Vec<Value>, BridgeError> {
    match listed {
        Err(BridgeError::NotFound(_)) => Ok(Vec::new()),
        other => other,
    }
}

fn describe(object: &RemoteState) -> String {
    format!("{} {}", object.kind.name, object.remote_id)
}

fn id(v: &Value) -> Option<i64> {
    v.get("id").and_then(Value::as_i64)
}
