//! Speaker gains and the out-of-range test: pure geometry over a [`Catalog`] snapshot
//! (reference-server §7.8 and §7.11, with the decisions.md fixes).
//!
//! Owns: how loud a speaker is for a listener position, and whether a position is close
//! enough to any active speaker for a stream. May not touch: the store, audio, clocks (the
//! mixer ramps the gains; this module only says where they head).
//!
//! Deliberate difference to the reference: an always-on speaker (`minvolume > 0`) stays at
//! `minvolume` everywhere outside its shape, instead of rising back to `maxvolume` once the
//! listener is `attenuation_distance` metres outside it.

use crate::geometry;
use crate::store::catalog::{Catalog, Speaker};

/// Target gain of a speaker for a listener (§7.8 with decisions.md fixes): inactive → 0;
/// geo off → maxvolume; no position → minvolume; outside the shape → minvolume; inside at
/// distance d from the outline: min + (max−min)·min(d/attenuation,1) (attenuation 0 → max).
pub(crate) fn speaker_gain(speaker: &Speaker, geo: bool, position: Option<(f64, f64)>) -> f32 {
    if !speaker.active {
        return 0.0;
    }
    if !geo {
        return speaker.maxvolume;
    }
    let Some((lat, lon)) = position else {
        return speaker.minvolume;
    };
    if !geometry::contains(&speaker.shape, lon, lat) {
        return speaker.minvolume;
    }
    if speaker.attenuation_distance_m <= 0.0 {
        return speaker.maxvolume;
    }
    let edge_m = geometry::distance_to_outline_m(&speaker.boundary, lon, lat);
    if !edge_m.is_finite() {
        return speaker.maxvolume;
    }
    let fraction = (edge_m / speaker.attenuation_distance_m).clamp(0.0, 1.0) as f32;
    speaker.minvolume + (speaker.maxvolume - speaker.minvolume) * fraction
}

/// POST streams/ range check (§7.11): any ACTIVE speaker shape within
/// `project.out_of_range_distance_m` metres of the point.
pub(crate) fn in_range(catalog: &Catalog, latitude: f64, longitude: f64) -> bool {
    let limit_m = catalog.project.out_of_range_distance_m;
    catalog.speakers.iter().filter(|s| s.active).any(|s| {
        !s.shape.0.is_empty()
            && geometry::distance_to_shape_m(&s.shape, longitude, latitude) <= limit_m
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::catalog::{ListenFilter, Ordering, ProjectRules, RepeatMode};
    use geo::{MultiPolygon, polygon};

    /// Metres per degree of latitude, as the geometry module measures.
    const M_PER_DEG: f64 = 111_195.08;

    /// A square speaker with sides from `lo` to `hi` degrees (lon and lat).
    fn speaker(lo: f64, hi: f64, min: f32, max: f32, attenuation_m: f64) -> Speaker {
        let shape = MultiPolygon(vec![polygon![
            (x: lo, y: lo), (x: hi, y: lo), (x: hi, y: hi), (x: lo, y: hi), (x: lo, y: lo)
        ]]);
        Speaker {
            id: 1,
            active: true,
            minvolume: min,
            maxvolume: max,
            uri: "/rwmedia/ambient.mp3".into(),
            backupuri: String::new(),
            boundary: geometry::boundary(&shape),
            shape,
            attenuation_distance_m: attenuation_m,
        }
    }

    fn catalog(speakers: Vec<Speaker>) -> Catalog {
        Catalog {
            project: ProjectRules {
                id: 12,
                listen_enabled: true,
                recording_radius_m: 10.0,
                repeat_mode: RepeatMode::Stop,
                ordering: Ordering::ByWeight,
                timed_asset_priority: true,
                out_of_range_distance_m: 1000.0,
                out_of_range_url: "http://rw.com:8000/outofrange.mp3".into(),
                demo_stream_url: String::new(),
            },
            assets: Vec::new(),
            timed: Vec::new(),
            tracks: Vec::new(),
            speakers,
            filter: ListenFilter::default(),
        }
    }

    fn near(a: f32, b: f32) -> bool {
        (a - b).abs() < 0.02
    }

    #[test]
    fn the_gain_is_min_on_the_edge_and_rises_to_max_at_the_attenuation_distance_inside() {
        // A square about 2.2 km on a side from 0 to 0.02 degrees; attenuation 100 m.
        let s = speaker(0.0, 0.02, 0.1, 0.9, 100.0);
        let on_edge = speaker_gain(&s, true, Some((0.01, 0.000_001)));
        assert!(near(on_edge, 0.1), "{on_edge}");
        let half = speaker_gain(&s, true, Some((0.01, 50.0 / M_PER_DEG)));
        assert!(near(half, 0.5), "{half}");
        let full = speaker_gain(&s, true, Some((0.01, 100.0 / M_PER_DEG)));
        assert!(near(full, 0.9), "{full}");
        let deep = speaker_gain(&s, true, Some((0.01, 0.01)));
        assert!(near(deep, 0.9), "{deep}");
    }

    #[test]
    fn an_always_on_speaker_stays_at_minvolume_far_outside_its_shape() {
        let s = speaker(0.0, 0.02, 0.2, 1.0, 100.0);
        for (lat, lon) in [(0.01, -0.0005), (0.01, -0.01), (5.0, 5.0)] {
            let g = speaker_gain(&s, true, Some((lat, lon)));
            assert!(near(g, 0.2), "({lat},{lon}) gave {g}");
        }
    }

    #[test]
    fn inactive_speakers_are_silent_and_global_listeners_hear_max() {
        let mut s = speaker(0.0, 0.02, 0.2, 0.8, 100.0);
        assert!(near(speaker_gain(&s, false, None), 0.8));
        assert!(near(speaker_gain(&s, true, None), 0.2));
        s.active = false;
        assert!(near(speaker_gain(&s, false, Some((0.01, 0.01))), 0.0));
        assert!(near(speaker_gain(&s, true, Some((0.01, 0.01))), 0.0));
    }

    #[test]
    fn zero_attenuation_means_full_volume_anywhere_inside() {
        let s = speaker(0.0, 0.02, 0.0, 0.7, 0.0);
        assert!(near(speaker_gain(&s, true, Some((0.01, 0.000_01))), 0.7));
    }

    #[test]
    fn the_out_of_range_table_holds_for_a_square_speaker() {
        // The speaker covers lon/lat -1.0..-0.0 around (0,-0.8) roughly like the "crazy" shape.
        let mut s = speaker(-1.0, 0.0, 0.0, 1.0, 100.0);
        let mut cat = catalog(vec![s.clone()]);
        // Inside.
        assert!(in_range(&cat, -0.5, -0.5));
        // About 960 m west of the western edge (lon -1.0): in range.
        let lon_960 = -1.0 - 960.0 / M_PER_DEG;
        assert!(in_range(&cat, -0.5, lon_960));
        // About 1100 m outside: out of range.
        assert!(!in_range(&cat, -0.5, -1.0 - 1100.0 / M_PER_DEG));
        // Far away (0.1 degrees ≈ 11 km north-east of the corner).
        assert!(!in_range(&cat, 0.1, 0.1));
        // The only speaker inactive: out of range even inside.
        s.active = false;
        cat.speakers = vec![s];
        assert!(!in_range(&cat, -0.5, -0.5));
        // A second, active speaker near the point: in range again.
        let mut other = speaker(0.09, 0.11, 0.0, 1.0, 10.0);
        other.id = 2;
        cat.speakers.push(other);
        assert!(in_range(&cat, 0.1, 0.1));
        assert!(!in_range(&cat, -0.5, -0.5));
    }
}
