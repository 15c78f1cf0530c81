//! The real-time rule of [`Mixer::render`], enforced: with full voice and speaker tables, a
//! burst of every kind of command, refused commands, retirements and a full retire queue, the
//! render path makes no allocation and no free. The unit-test binary's allocator
//! (`assert_no_alloc::AllocDisabler`, installed in `lib.rs`) counts every (de)allocation a
//! thread makes inside `assert_no_alloc`.

use std::sync::Arc;

use assert_no_alloc::{assert_no_alloc, reset_violation_count, violation_count};

use super::live::LiveRing;
use super::mix::{Command, Mixer, mixer};
use super::pcm::Pcm16;
use super::rt::{BLOCK_FRAMES, MAX_SPEAKERS, MAX_VOICES, SpeakerSource};
use super::voice::{AssetVoice, PanWalk, SpeakerVoice};

fn tone(frames: usize) -> Arc<Pcm16> {
    let samples = (0..frames * 2)
        .map(|i| ((i as f32 * 0.031).sin() * 12_000.0) as i16)
        .collect();
    Arc::new(Pcm16 {
        channels: 2,
        samples,
    })
}

fn voice(track: u8, asset_id: i64, pcm: &Arc<Pcm16>, len_frames: usize, at: u64) -> Command {
    let pan = PanWalk::new(-0.5, 0.5, 441, 4410, asset_id as u64);
    Command::Play(Box::new(AssetVoice::new(
        track,
        asset_id,
        pcm.clone(),
        0,
        len_frames,
        at,
        (441, 441),
        0.8,
        pan,
    )))
}

/// Renders `blocks` blocks inside a no-allocation zone; the (de)allocations made there.
fn render_counting(m: &mut Mixer, out: &mut [f32], blocks: usize) -> u32 {
    reset_violation_count();
    assert_no_alloc(|| {
        for _ in 0..blocks {
            m.render(out);
        }
    });
    violation_count()
}

#[test]
fn the_counting_allocator_sees_an_allocation_in_the_zone() {
    reset_violation_count();
    let v = assert_no_alloc(|| std::hint::black_box(vec![1u8; 64]));
    assert!(violation_count() >= 1, "the allocator is not counting");
    drop(v);
}

#[test]
fn the_mixer_renders_full_tables_through_command_bursts_and_retirements_without_allocating() {
    let (mut m, mut c) = mixer();
    let long = tone(44_100 * 3);
    let short = tone(BLOCK_FRAMES * 4);
    let live = Arc::new(LiveRing::new());
    live.write(&vec![0.25f32; 44_100]);
    let mut out = vec![0.0f32; BLOCK_FRAMES * 2];

    // Full tables: every asset voice and every speaker voice (loops and a live bed).
    for i in 0..MAX_VOICES {
        assert!(c.send(voice((i % 4) as u8, i as i64, &long, 44_100 * 2, 0)));
    }
    for key in 0..MAX_SPEAKERS as u64 {
        let source = if key % 8 == 0 {
            SpeakerSource::Live(live.clone())
        } else {
            SpeakerSource::Loop(long.clone())
        };
        let v = SpeakerVoice::new(key, source, key as usize * 97);
        assert!(c.send(Command::AddSpeaker(Box::new(v))));
    }
    assert_eq!(
        render_counting(&mut m, &mut out, 4),
        0,
        "filling the tables"
    );

    // A burst of every command: gain ramps for every speaker, refused plays and speakers (the
    // tables are full), a track stopped, speakers removed.
    for key in 0..MAX_SPEAKERS as u64 {
        c.send(Command::SpeakerGain {
            key,
            gain: 0.5,
            ramp_frames: 2_205,
        });
    }
    for i in 0..8 {
        c.send(voice(1, 1_000 + i, &short, BLOCK_FRAMES * 3, 0));
    }
    let spare = SpeakerVoice::new(999, SpeakerSource::Loop(long), 0);
    c.send(Command::AddSpeaker(Box::new(spare)));
    c.send(Command::StopTrack {
        track: 2,
        fade_frames: 441,
    });
    for key in (0..MAX_SPEAKERS as u64).step_by(3) {
        c.send(Command::RemoveSpeaker {
            key,
            ramp_frames: 441,
        });
    }
    // Enough blocks for the burst to be applied and the stopped voices and removed speakers
    // to fade out and be handed back.
    assert_eq!(render_counting(&mut m, &mut out, 60), 0, "the burst");
    assert!(m.frame() > 0);

    // Nobody collects while the full table refuses a flood of plays: the retire queue fills,
    // the mixer parks what does not fit and stops taking commands until it is emptied.
    for i in 0..200 {
        c.send(voice(0, 5_000 + i, &short, BLOCK_FRAMES, 0));
    }
    assert_eq!(
        render_counting(&mut m, &mut out, 8),
        0,
        "the retire queue full"
    );

    // The control side takes back (and frees) what was retired; the parked voice and the
    // waiting commands go through; short voices come and go.
    let ended = c.collect();
    assert!(
        ended.iter().any(|(track, _)| *track == 2),
        "the stopped track's voices were handed back"
    );
    assert_eq!(
        render_counting(&mut m, &mut out, 8),
        0,
        "after the queue drained"
    );
    drop(c.collect());
    for round in 0..5 {
        for i in 0..MAX_VOICES as i64 {
            c.send(voice(
                3,
                2_000 + round * 100 + i,
                &short,
                BLOCK_FRAMES * 2,
                0,
            ));
        }
        assert_eq!(render_counting(&mut m, &mut out, 8), 0, "round {round}");
        drop(c.collect());
    }
    assert!(
        c.counters()
            .dropped_commands
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}
