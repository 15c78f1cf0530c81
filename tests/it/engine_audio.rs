//! The engine offline: a real catalog of real WAV files, the real conductor state and mixer,
//! rendered faster than real time and measured (RMS per window, steps between samples, left
//! and right energy, titles, listen events). No HTTP and no clock: the mixer's sample count
//! is the time.

use std::path::Path;
use std::sync::Arc;

use geo::{LineString, MultiPolygon, Polygon};
use roundwared::testing::audio::mix::{Mixer, mixer};
use roundwared::testing::audio::rt::BLOCK_FRAMES;
use roundwared::testing::conductor::sources::Sources;
use roundwared::testing::conductor::stream::{Effect, ListenerInfo, StreamState};
use roundwared::testing::media::decode::Pcm;
use roundwared::testing::media::encode::wav16;
use roundwared::testing::output::titles::{TitleReceiver, title_queue};
use roundwared::testing::playlist::{Listener, Playlist, Position};
use roundwared::testing::store::catalog::{
    Asset, Catalog, ListenFilter, Ordering, ProjectRules, Range, RepeatMode, Speaker, Track,
};

const RATE: usize = 44_100;

fn sine_wav(dir: &Path, name: &str, seconds: f64, hz: f32, amp: f32) {
    let frames = (seconds * RATE as f64) as usize;
    let samples = (0..frames)
        .map(|i| (i as f32 * hz * std::f32::consts::TAU / RATE as f32).sin() * amp)
        .collect();
    let pcm = Pcm {
        rate: RATE as u32,
        channels: 1,
        samples,
    };
    std::fs::write(dir.join(name), wav16(&pcm)).expect("write wav");
}

fn square(lon: f64, lat: f64, half_deg: f64) -> MultiPolygon<f64> {
    let ring = LineString::from(vec![
        (lon - half_deg, lat - half_deg),
        (lon + half_deg, lat - half_deg),
        (lon + half_deg, lat + half_deg),
        (lon - half_deg, lat + half_deg),
        (lon - half_deg, lat - half_deg),
    ]);
    MultiPolygon(vec![Polygon::new(ring, vec![])])
}

fn range(min: f64, max: f64) -> Range {
    Range { min, max }
}

fn track(pan: f64) -> Track {
    Track {
        id: 1,
        volume: range(1.0, 1.0),
        duration_s: range(3.0, 3.0),
        deadair_s: range(0.5, 0.5),
        fadein_s: range(0.5, 0.5),
        fadeout_s: range(0.5, 0.5),
        pan: range(pan, pan),
        pan_duration_s: range(1.0, 1.0),
    }
}

fn catalog(dir: &Path, tracks: Vec<Track>, speakers: Vec<Speaker>) -> Catalog {
    let asset = Asset {
        id: 7,
        language_id: Some(1),
        submitted: true,
        audiolength_ns: 10_000_000_000,
        latitude: Some(0.0),
        longitude: Some(0.0),
        shape: None,
        tags: vec![1],
        weight: 50,
        likes: 0,
        volume: 1.0,
        start_s: 0.0,
        end_s: 10.0,
        path: dir.join("asset.wav"),
        creator_user_id: None,
    };
    Catalog {
        project: ProjectRules {
            id: 1,
            listen_enabled: true,
            recording_radius_m: 1_000_000.0,
            repeat_mode: RepeatMode::Continuous,
            ordering: Ordering::Random,
            timed_asset_priority: true,
            out_of_range_distance_m: 1000.0,
            out_of_range_url: String::new(),
            demo_stream_url: String::new(),
        },
        assets: vec![asset],
        timed: vec![],
        tracks,
        speakers,
        filter: ListenFilter {
            category_of: [(1, 1)].into_iter().collect(),
            categories: vec![1],
            active_tags: vec![1],
        },
    }
}

fn speaker(min: f32) -> Speaker {
    let shape = square(0.0, 0.0, 0.001);
    Speaker {
        id: 3,
        active: true,
        minvolume: min,
        maxvolume: 1.0,
        uri: "/rwmedia/bed.wav".into(),
        backupuri: String::new(),
        boundary: roundwared::testing::geometry::boundary(&shape),
        shape,
        attenuation_distance_m: 20.0,
    }
}

struct Offline {
    state: StreamState,
    mixer: Mixer,
    sources: Sources,
    titles: TitleReceiver,
    now_s: f64,
    effects: Vec<Effect>,
    _dir: tempfile::TempDir,
}

impl Offline {
    fn new(geo: bool, tracks: Vec<Track>, speakers: Vec<Speaker>) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        sine_wav(dir.path(), "asset.wav", 10.0, 440.0, 0.5);
        sine_wav(dir.path(), "bed.wav", 4.0, 220.0, 0.5);
        let catalog = Arc::new(catalog(dir.path(), tracks, speakers));
        let sources = Sources::new(dir.path(), 64 << 20);
        sources.resolve_speakers(&catalog);
        let mut playlist = Playlist::new(
            Listener {
                language_id: Some(1),
                geo,
            },
            1800.0,
            1,
        );
        playlist.set_tags(None);
        playlist.rebuild(&catalog, None, 0.0);
        let (mixer, control) = mixer();
        let (title_tx, titles) = title_queue();
        let info = ListenerInfo {
            session_id: 1,
            project_id: 1,
            geo,
            user_id: None,
        };
        let mut state = StreamState::new(info, catalog, playlist, control, title_tx, 1000, 5);
        state.update_speakers(&sources);
        Self {
            state,
            mixer,
            sources,
            titles,
            now_s: 0.0,
            effects: Vec::new(),
            _dir: dir,
        }
    }

    /// Renders `seconds` of stereo audio, ticking the conductor every 50 ms of audio.
    fn render(&mut self, seconds: f64) -> Vec<f32> {
        let blocks = (seconds * RATE as f64 / BLOCK_FRAMES as f64).round() as usize;
        let mut out = vec![0.0f32; blocks * BLOCK_FRAMES * 2];
        for (i, block) in out.chunks_mut(BLOCK_FRAMES * 2).enumerate() {
            if i % 5 == 0 {
                self.effects
                    .extend(self.state.tick(self.now_s, &self.sources));
                self.now_s += 0.05;
            }
            self.mixer.render(block);
        }
        out
    }

    fn walk_to(&mut self, lat: f64, lon: f64) {
        let p = Position {
            latitude: lat,
            longitude: lon,
            heading_deg: None,
            width_deg: None,
            range_min_m: None,
            range_max_m: None,
        };
        self.state.move_to(p, self.now_s, &self.sources);
    }
}

fn window_rms(stereo: &[f32], window_s: f64) -> Vec<f32> {
    let n = (window_s * RATE as f64) as usize * 2;
    stereo
        .chunks(n)
        .map(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt())
        .collect()
}

fn largest_step(stereo: &[f32]) -> f32 {
    let left: Vec<f32> = stereo.iter().step_by(2).copied().collect();
    left.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_level_rises_smoothly_as_the_listener_walks_into_a_speaker_zone() {
    let mut e = Offline::new(true, vec![], vec![speaker(0.0)]);
    e.walk_to(0.01, 0.01); // about 1.1 km away
    let outside = e.render(1.0);
    assert!(
        window_rms(&outside, 1.0)[0] < 1e-4,
        "silent outside the zone"
    );
    e.walk_to(0.0, 0.0); // the centre: 110 m from the edge, beyond the attenuation
    let walk_in = e.render(2.0);
    let rms = window_rms(&walk_in, 0.1);
    let full = 0.5 * std::f32::consts::FRAC_1_SQRT_2 * std::f32::consts::FRAC_1_SQRT_2;
    assert!(
        (rms[rms.len() - 1] - full).abs() < 0.02,
        "reaches max volume: {rms:?}"
    );
    for w in rms.windows(2) {
        assert!(w[1] >= w[0] - 0.01, "rises monotonically: {rms:?}");
        assert!(
            w[1] - w[0] < full * 0.15,
            "no jump beyond the 1 s ramp: {rms:?}"
        );
    }
    // A sine of 220 Hz at amplitude 0.35 moves at most 0.35·2π·220/44100 per sample.
    assert!(
        largest_step(&walk_in) < 0.012,
        "no click: {}",
        largest_step(&walk_in)
    );
}

#[test]
fn an_always_on_speaker_stays_at_its_minimum_outside_its_zone() {
    let mut e = Offline::new(true, vec![], vec![speaker(0.2)]);
    e.walk_to(0.5, 0.5);
    e.render(2.0);
    let far = window_rms(&e.render(1.0), 1.0)[0];
    let full = 0.5 * 0.5;
    assert!(
        (far - 0.2 * full).abs() < 0.01,
        "minvolume far outside: {far}"
    );
}

#[test]
fn an_asset_plays_after_dead_air_with_its_title_and_one_listen_event() {
    let mut e = Offline::new(false, vec![track(0.0)], vec![]);
    let mut audio = e.render(2.0);
    let title = e.titles.due(e.mixer.frame()).expect("a title");
    assert!(
        title.starts_with("Roundware - audiotrack=1&remaining=")
            && title.contains("&asset=7&tags=1"),
        "{title}"
    );
    audio.extend(e.render(1.8));
    let rms = window_rms(&audio, 0.25);
    assert!(
        rms[0] < 1e-4,
        "the first pick waits for a dead air: {rms:?}"
    );
    assert!(rms[8] > 0.1, "then the asset plays: {rms:?}");
    assert_eq!(
        e.effects,
        vec![Effect::Listened {
            asset_id: 7,
            duration_ns: 3_000_000_000
        }]
    );
    let done = e.titles.due(e.mixer.frame()).expect("a title");
    assert!(done.ends_with("&asset=7&complete=True"), "{done}");
    // The 3 s excerpt ends (0.5 s fade-out) exactly 3 s after it began, then dead air.
    let tail = e.render(1.0);
    assert!(window_rms(&tail, 0.2).iter().any(|r| *r < 1e-4), "it ended");
    assert!(largest_step(&audio) < 0.05, "fades never click");
}

#[test]
fn a_skip_fades_the_asset_to_silence_without_a_click() {
    let mut e = Offline::new(false, vec![track(0.0)], vec![]);
    e.render(1.5);
    assert!(window_rms(&e.render(0.2), 0.2)[0] > 0.1, "playing");
    e.state.skip();
    let after = e.render(0.7);
    let rms = window_rms(&after, 0.1);
    assert!(
        rms[rms.len() - 1] < 1e-4,
        "silent once the fade-out is over: {rms:?}"
    );
    assert!(largest_step(&after) < 0.05, "the fade is a ramp");
}

#[test]
fn pan_puts_the_energy_on_the_chosen_side() {
    for (pan, left_louder) in [(-1.0, true), (1.0, false)] {
        let mut e = Offline::new(false, vec![track(pan)], vec![]);
        let audio = e.render(2.0);
        let l: f32 = audio.iter().step_by(2).map(|s| s * s).sum();
        let r: f32 = audio.iter().skip(1).step_by(2).map(|s| s * s).sum();
        assert!(l + r > 1.0, "something played");
        assert_eq!(l > 100.0 * r, left_louder, "pan {pan}: L {l} R {r}");
        assert_eq!(r > 100.0 * l, !left_louder, "pan {pan}: L {l} R {r}");
    }
}

#[test]
fn a_paused_stream_starts_nothing_but_keeps_its_speakers() {
    let mut e = Offline::new(false, vec![track(0.0)], vec![speaker(0.0)]);
    e.state.pause();
    let audio = e.render(3.0);
    assert!(e.effects.is_empty(), "no asset while paused");
    let rms = window_rms(&audio, 1.0);
    assert!(
        rms[2] > 0.1,
        "the speaker (geo off: max volume) still plays: {rms:?}"
    );
    e.state.resume();
    e.render(1.5);
    assert_eq!(e.effects.len(), 1, "assets come back after resume");
}

#[test]
fn a_missing_asset_file_leaves_its_track_silent_and_the_speakers_playing() {
    let mut e = Offline::new(false, vec![track(0.0)], vec![speaker(0.0)]);
    std::fs::remove_file(e._dir.path().join("asset.wav")).expect("remove the asset file");
    let audio = e.render(4.0);
    assert!(e.effects.is_empty(), "nothing recorded as heard");
    let rms = window_rms(&audio, 1.0);
    let bed = 0.25; // the speaker alone, at max volume (geo off)
    assert!((rms[3] - bed).abs() < 0.02, "the speaker plays on: {rms:?}");
}
