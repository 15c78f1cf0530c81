//! The demo project that `roundwared serve --demo` seeds into an empty database, so that a
//! newcomer hears something at once: six synthesized recordings (tones, textures, rhythms),
//! two speakers whose zones overlap around a fixed point, tags, listen and speak UI groups,
//! two audiotracks, English texts with Spanish translations (the project offers English: its
//! recordings are English), and a drawn site plan of the park as the project's floor plan
//! ([`site`]).
//!
//! The audio goes through the same pipeline as an upload ([`crate::media`]), so the demo's
//! files are exactly what a real upload would leave. Nothing is seeded when any project
//! exists; a failure leaves no file and no row.
//!
//! Owns: the demo content. May not touch: anything outside the store and media folder.

pub(crate) mod site;
pub(crate) mod synth;

use std::path::{Path, PathBuf};

use crate::geometry;
use crate::media::{self, Purpose, Stored, Written};
use crate::store::Editable;
use crate::store::speakers::Speaker;
use crate::store::speakers::SpeakerInput;
use crate::store::{Store, StoreError, time};

/// Where the demo walk is: a lawn in a city park (latitude, longitude).
pub(crate) const CENTRE: (f64, f64) = (42.3551, -71.0656);

/// Why the demo could not be seeded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Making or writing the audio failed.
    #[error("cannot create the demo audio in {dir}: {message}")]
    Media {
        /// The media folder.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
    /// The database refused the demo rows.
    #[error("cannot store the demo project: {0}")]
    Store(#[from] StoreError),
}

/// A recording of the demo: name, tags (by key), offset from the centre in metres (east, north).
struct Piece {
    title: &'static str,
    make: fn(f32) -> Vec<f32>,
    seconds: f32,
    tags: [&'static str; 2],
    offset_m: (f64, f64),
}

const PIECES: [Piece; 6] = [
    Piece {
        title: "Bells by the gate",
        make: synth::bells,
        seconds: 15.0,
        tags: ["calm", "tones"],
        offset_m: (-30.0, 20.0),
    },
    Piece {
        title: "Evening drone",
        make: synth::drone,
        seconds: 20.0,
        tags: ["calm", "tones"],
        offset_m: (10.0, -25.0),
    },
    Piece {
        title: "Rain on leaves",
        make: synth::rain,
        seconds: 18.0,
        tags: ["calm", "textures"],
        offset_m: (60.0, 10.0),
    },
    Piece {
        title: "Footsteps beat",
        make: synth::pulse,
        seconds: 12.0,
        tags: ["lively", "rhythms"],
        offset_m: (-10.0, -5.0),
    },
    Piece {
        title: "Birdsong scale",
        make: synth::arpeggio,
        seconds: 14.0,
        tags: ["lively", "tones"],
        offset_m: (90.0, -20.0),
    },
    Piece {
        title: "Wind over the hill",
        make: synth::wind,
        seconds: 20.0,
        tags: ["calm", "textures"],
        offset_m: (30.0, 45.0),
    },
];

/// Tags: key, category key, English label, Spanish label.
const TAGS: [(&str, &str, &str, &str); 5] = [
    ("calm", "mood", "Calm", "Tranquilo"),
    ("lively", "mood", "Lively", "Animado"),
    ("tones", "sound", "Tones", "Tonos"),
    ("textures", "sound", "Textures", "Texturas"),
    ("rhythms", "sound", "Rhythms", "Ritmos"),
];

/// Converts an offset in metres from [`CENTRE`] to (latitude, longitude).
fn at(east_m: f64, north_m: f64) -> (f64, f64) {
    let lat = CENTRE.0 + north_m / 111_195.0;
    let lon = CENTRE.1 + east_m / (111_195.0 * CENTRE.0.to_radians().cos());
    (lat, lon)
}

/// A square zone `half_m` metres each way around an offset from the centre, as GeoJSON.
fn square(east_m: f64, north_m: f64, half_m: f64) -> serde_json::Value {
    let corners = [
        (-1.0, -1.0),
        (1.0, -1.0),
        (1.0, 1.0),
        (-1.0, 1.0),
        (-1.0, -1.0),
    ];
    let ring: Vec<serde_json::Value> = corners
        .iter()
        .map(|(x, y)| {
            let (lat, lon) = at(east_m + x * half_m, north_m + y * half_m);
            serde_json::json!([lon, lat])
        })
        .collect();
    serde_json::json!({"type": "Polygon", "coordinates": [ring]})
}

/// Seeds the demo project unless a project already exists. Returns whether it seeded.
///
/// # Errors
/// [`DemoError`] when the audio cannot be made or written, or the rows cannot be stored
/// (then nothing is left behind).
pub async fn seed_if_empty(store: &Store, media_dir: &Path) -> Result<bool, DemoError> {
    let projects: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM projects", [], |r| r.get(0))?))
        .await?;
    if projects > 0 {
        log::info!("demo: the database already has projects; nothing seeded");
        return Ok(false);
    }
    let dir = media_dir.to_path_buf();
    let ((assets, beds), plan) = tokio::task::spawn_blocking(move || {
        Ok::<_, DemoError>((make_audio(&dir)?, make_site(&dir)?))
    })
    .await
    .map_err(|e| DemoError::Media {
        dir: media_dir.to_path_buf(),
        message: e.to_string(),
    })??;
    let names: Vec<(Stored, i64)> = assets
        .iter()
        .map(|(s, _, ns)| (clone_stored(s), *ns))
        .collect();
    let bed_names: Vec<String> = beds
        .iter()
        .map(|(s, _)| s.mp3.clone().unwrap_or_else(|| s.file.clone()))
        .collect();
    let plan_name = plan.0.clone();
    let project_id = store
        .write(move |tx| {
            let project = insert_rows(tx, &names, &bed_names)?;
            insert_site(tx, project, &plan_name)?;
            Ok(project)
        })
        .await?;
    plan.1.keep();
    for (_, written, _) in assets {
        written.keep();
    }
    for (_, written) in beds {
        written.keep();
    }
    log::info!(
        "demo: seeded project {project_id} around {:.4}, {:.4}",
        CENTRE.0,
        CENTRE.1
    );
    Ok(true)
}

fn clone_stored(s: &Stored) -> Stored {
    Stored {
        stem: s.stem.clone(),
        file: s.file.clone(),
        filename: s.filename.clone(),
        mp3: s.mp3.clone(),
    }
}

type Made = (Vec<(Stored, Written, i64)>, Vec<(Stored, Written)>);

/// Synthesizes every piece and the two speaker beds and writes them like uploads.
fn make_audio(dir: &Path) -> Result<Made, DemoError> {
    let fail = |e: String| DemoError::Media {
        dir: dir.to_path_buf(),
        message: e,
    };
    let encode = |samples: Vec<f32>, purpose: Purpose, base: &str| {
        let pcm = media::decode::Pcm {
            rate: synth::RATE_HZ,
            channels: 1,
            samples,
        };
        let wav = media::encode::wav16(&pcm);
        let limits = media::Limits {
            max_recording_s: media::DEFAULT_MAX_SECONDS,
            reserve: media::space::Reserve::new(dir, 0),
        };
        let done = media::ingest_bytes(&wav, "audio", purpose, &limits, dir, base)
            .map_err(|e| fail(e.to_string()))?;
        let ns = done.audiolength_ns.unwrap_or(0);
        Ok::<_, DemoError>((done.stored, done.written, ns))
    };
    let mut assets = Vec::new();
    for (n, piece) in PIECES.iter().enumerate() {
        assets.push(encode(
            (piece.make)(piece.seconds),
            Purpose::Asset,
            &format!("demo-{}-{n}", files_stamp()),
        )?);
    }
    let mut beds = Vec::new();
    for (n, make) in [synth::drone as fn(f32) -> Vec<f32>, synth::rain]
        .iter()
        .enumerate()
    {
        let (s, w, _) = encode(
            make(30.0),
            Purpose::Speaker,
            &format!("speaker-project1-demo{n}-{}", files_stamp()),
        )?;
        beds.push((s, w));
    }
    Ok((assets, beds))
}

/// Writes the site plan into the media folder like a floor plan upload; returns its media
/// name and the guard owning the file.
fn make_site(dir: &Path) -> Result<(String, Written), DemoError> {
    let fail = |e: std::io::Error| DemoError::Media {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    };
    let tmp = media::files::TempFile::create(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp.file(), &site::site_plan_png()).map_err(fail)?;
    let base = format!("floorplan-project1-demo-{}", files_stamp());
    let (stem, written) =
        media::files::commit_set(dir, &base, vec![(".png", tmp)]).map_err(fail)?;
    Ok((format!("{stem}.png"), written))
}

/// The site plan as the project's floor plan, pinned where it was drawn.
fn insert_site(tx: &rusqlite::Transaction<'_>, project: i64, name: &str) -> Result<(), StoreError> {
    let (w, s, e, n) = site::EXTENT_M;
    let (south, west) = at(w, s);
    let (north, east) = at(e, n);
    let (width_px, height_px) = site::SIZE_PX;
    crate::store::floorplans::put(
        tx,
        &crate::store::floorplans::FloorPlan {
            project_id: project,
            file: name.to_string(),
            width_px,
            height_px,
            bounds: crate::store::floorplans::Bounds {
                south,
                west,
                north,
                east,
            },
            opacity: 0.9,
            updated: String::new(),
        },
    )?;
    Ok(())
}

fn files_stamp() -> String {
    media::files::timestamp()
}

/// Every demo row, in one transaction. Returns the project id.
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    assets: &[(Stored, i64)],
    beds: &[String],
) -> Result<i64, StoreError> {
    let now = time::now();
    tx.execute(
        "INSERT OR IGNORE INTO languages (name, language_code) VALUES ('Español', 'es')",
        [],
    )?;
    let es: i64 = tx.query_row(
        "SELECT id FROM languages WHERE language_code = 'es'",
        [],
        |r| r.get(0),
    )?;
    let en = crate::store::loc::english_id(tx)?;
    let text = |s: &str, lang: i64| -> Result<i64, StoreError> {
        tx.execute(
            "INSERT INTO localized_strings (localized_string, language_id) VALUES (?1, ?2)",
            rusqlite::params![s, lang],
        )?;
        Ok(tx.last_insert_rowid())
    };
    let link = |owner: &str, id: i64, field: &str, strings: &[i64]| -> Result<(), StoreError> {
        for (pos, s) in strings.iter().enumerate() {
            tx.execute(
                "INSERT INTO loc_links (owner, owner_id, field, position, string_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![owner, id, field, pos as i64, s],
            )?;
        }
        Ok(())
    };

    tx.execute(
        "INSERT INTO projects (name, owner, latitude, longitude, pub_date, audio_format, auto_submit,
             max_recording_length, recording_radius, listen_enabled, geo_listen_enabled, speak_enabled,
             geo_speak_enabled, repeat_mode, ordering, out_of_range_distance)
         VALUES ('Roundware demo', 'roundwared', ?1, ?2, ?3, 'mp3', 1, 60, 40, 1, 1, 1, 1, 'continuous', 'random', 500)",
        rusqlite::params![CENTRE.0, CENTRE.1, now],
    )?;
    let project = tx.last_insert_rowid();
    // The demo's recordings are English, and a session plays only recordings in its language:
    // offered in Spanish, a Spanish browser would open a silent demo. So the project offers
    // English (a Spanish browser reads the page's own words in Spanish around it), and its texts
    // carry Spanish translations ready for when Spanish is added to its languages.
    tx.execute(
        "INSERT INTO project_languages VALUES (?1, ?2)",
        [project, en],
    )?;
    let description = [
        text(
            "A short walk of synthesized sounds: bells, rain, wind and a soft beat. Move around to change what you hear, and add your own recording.",
            en,
        )?,
        text(
            "Un paseo corto de sonidos sintetizados: campanas, lluvia, viento y un ritmo suave. Muévete para cambiar lo que oyes y añade tu propia grabación.",
            es,
        )?,
    ];
    link("project", project, "description", &description)?;
    let out_of_range = [
        text(
            "You are outside the demo area. Walk towards the park lawn.",
            en,
        )?,
        text(
            "Estás fuera del área de la demo. Camina hacia el césped del parque.",
            es,
        )?,
    ];
    link("project", project, "out_of_range_message", &out_of_range)?;

    let mut categories = std::collections::HashMap::new();
    for key in ["mood", "sound"] {
        tx.execute("INSERT INTO tag_categories (name) VALUES (?1)", [key])?;
        categories.insert(key, tx.last_insert_rowid());
    }
    let mut tags = std::collections::HashMap::new();
    for (key, category, en_label, es_label) in TAGS {
        tx.execute(
            "INSERT INTO tags (project_id, tag_category_id, value, description) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![project, categories[category], key, en_label],
        )?;
        let id = tx.last_insert_rowid();
        let msg = [text(en_label, en)?, text(es_label, es)?];
        link("tag", id, "msg", &msg)?;
        tags.insert(key, id);
    }

    let groups = [
        (
            "Mood",
            "listen",
            "mood",
            "multi",
            1,
            ("What mood would you like?", "¿Qué ambiente prefieres?"),
        ),
        (
            "Sounds",
            "listen",
            "sound",
            "multi",
            2,
            ("Which sounds?", "¿Qué sonidos?"),
        ),
        (
            "Mood",
            "speak",
            "mood",
            "single",
            1,
            (
                "What mood is your recording?",
                "¿Qué ambiente tiene tu grabación?",
            ),
        ),
    ];
    for (name, mode, category, select, index, (header_en, header_es)) in groups {
        tx.execute(
            "INSERT INTO ui_groups (name, ui_mode, tag_category_id, select_mode, active, idx, project_id)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
            rusqlite::params![name, mode, categories[category], select, index, project],
        )?;
        let group = tx.last_insert_rowid();
        let header = [text(header_en, en)?, text(header_es, es)?];
        link("uigroup", group, "header_text", &header)?;
        for (n, (key, _, _, _)) in TAGS.iter().filter(|t| t.1 == category).enumerate() {
            let is_default = mode == "listen" || n == 0;
            tx.execute(
                "INSERT INTO ui_items (ui_group_id, idx, tag_id, is_default, active) VALUES (?1, ?2, ?3, ?4, 1)",
                rusqlite::params![group, n as i64 + 1, tags[key], is_default],
            )?;
        }
    }

    // Two voices: a foreground one and a quieter, wider one. Times in nanoseconds.
    let s = 1e9f64;
    for (minv, maxv, mind, maxd, minpan, maxpan) in [
        (0.7, 1.0, 8.0, 14.0, -0.5, 0.5),
        (0.4, 0.6, 10.0, 20.0, -1.0, 1.0),
    ] {
        tx.execute(
            "INSERT INTO audiotracks (project_id, minvolume, maxvolume, minduration, maxduration, mindeadair,
                 maxdeadair, minfadeintime, maxfadeintime, minfadeouttime, maxfadeouttime, minpanpos, maxpanpos,
                 minpanduration, maxpanduration)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            rusqlite::params![
                project, minv, maxv, mind * s, maxd * s, 1.0 * s, 4.0 * s, 1.0 * s, 2.5 * s, 1.0 * s, 3.0 * s,
                minpan, maxpan, 5.0 * s, 12.0 * s
            ],
        )?;
    }

    for (piece, (stored, ns)) in PIECES.iter().zip(assets) {
        let (lat, lon) = at(piece.offset_m.0, piece.offset_m.1);
        tx.execute(
            "INSERT INTO assets (latitude, longitude, filename, file, volume, submitted, project_id, created,
                 updated, audiolength, start_time, end_time, language_id, weight, mediatype, description)
             VALUES (?1, ?2, ?3, ?4, 1.0, 1, ?5, ?6, ?6, ?7, 0, ?8, ?9, 50, 'audio', ?10)",
            rusqlite::params![
                lat, lon, stored.filename, stored.file, project, now, ns, *ns as f64 / 1e9, en, piece.title
            ],
        )?;
        let asset = tx.last_insert_rowid();
        for key in piece.tags {
            tx.execute("INSERT INTO asset_tags VALUES (?1, ?2)", [asset, tags[key]])?;
        }
    }

    // The drone fills the lawn; the rain sits to the east, overlapping it.
    for (n, (code, east_m, half_m)) in [("drone", 0.0, 70.0), ("rain", 90.0, 50.0)]
        .into_iter()
        .enumerate()
    {
        let shape = geometry::parse_multipolygon(&square(east_m, 0.0, half_m))
            .map_err(|e| StoreError::conflict("shape", e.0))?;
        Speaker::create(
            tx,
            &SpeakerInput {
                project_id: Some(project),
                activeyn: Some(true),
                code: Some(code.into()),
                maxvolume: Some(0.8),
                minvolume: Some(0.0),
                uri: beds.get(n).map(|name| format!("/rwmedia/{name}")),
                backupuri: Some(String::new()),
                shape: Some(shape),
                attenuation_distance: Some(25),
            },
        )?;
    }
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_in_metres_land_where_expected() {
        let (lat, lon) = at(100.0, 0.0);
        let d = geometry::distance_between_m(CENTRE.0, CENTRE.1, lat, lon);
        assert!((d - 100.0).abs() < 0.5, "{d}");
        let (lat, _) = at(0.0, -50.0);
        assert!(lat < CENTRE.0);
    }

    #[test]
    fn every_piece_lies_inside_at_least_one_speaker_zone_or_near_it() {
        let zones: Vec<_> = [(0.0, 70.0), (90.0, 50.0)]
            .iter()
            .map(|(e, h)| geometry::parse_multipolygon(&square(*e, 0.0, *h)).unwrap())
            .collect();
        for piece in &PIECES {
            let (lat, lon) = at(piece.offset_m.0, piece.offset_m.1);
            assert!(
                zones.iter().any(|z| geometry::contains(z, lon, lat)),
                "{}",
                piece.title
            );
        }
    }
}
