//! The box as a listener, end to end through the real sound-card path: the release-shaped
//! daemon (a child process, so ALSA's `HOME/.asoundrc` is its own) plays its local mix through
//! cpal into an ALSA `file` plugin writing to a FIFO that this test reads at real-time pace.
//! The position comes from `[position] fixed`; a SIGHUP with a new fixed point walks the
//! listener into a speaker zone, and the captured level steps up.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CAP_RATE_HZ: usize = 48_000;

fn config(dir: &Path, port: u16, lat: f64) -> String {
    format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n\
         [local]\nenabled = true\nproject_id = 1\noutput = \"default\"\n\
         [position]\nsource = \"fixed\"\nfixed = [{lat}, 0.0]\n[log]\nlevel = \"info\"\n",
        dir.display()
    )
}

pub(crate) async fn seed(dir: &Path) {
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    let frames = 44_100 * 3;
    let samples = (0..frames)
        .map(|i| (i as f32 * 220.0 * std::f32::consts::TAU / 44_100.0).sin() * 0.5)
        .collect();
    let pcm = roundwared::testing::media::decode::Pcm {
        rate: 44_100,
        channels: 1,
        samples,
    };
    std::fs::write(
        media.join("bed.wav"),
        roundwared::testing::media::encode::wav16(&pcm),
    )
    .unwrap();
    let store = roundwared::testing::store::Store::open(&dir.join("roundwared.sqlite3")).unwrap();
    store
        .write(|tx| {
            tx.execute_batch(
                "INSERT INTO projects (id, name, latitude, longitude, pub_date, listen_enabled, geo_listen_enabled)
                 VALUES (1, 'Kiosk', 0, 0, '2020-01-01T00:00:00.000000', 1, 1);
                 INSERT INTO project_languages VALUES (1, 1);
                 INSERT INTO speakers (project_id, activeyn, maxvolume, minvolume, uri, backupuri, shape, attenuation_distance)
                 VALUES (1, 1, 1.0, 0.0, '/rwmedia/bed.wav', '',
                   '{\"type\":\"MultiPolygon\",\"coordinates\":[[[[-0.001,-0.001],[0.001,-0.001],[0.001,0.001],[-0.001,0.001],[-0.001,-0.001]]]]}', 10);",
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

fn rms(x: &[i16]) -> f64 {
    (x.iter()
        .map(|s| (f64::from(*s) / 32768.0).powi(2))
        .sum::<f64>()
        / x.len().max(1) as f64)
        .sqrt()
}

#[tokio::test]
async fn the_local_mix_reaches_the_sound_card_and_steps_up_when_the_box_moves_into_a_zone() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let fifo = dir.path().join("card.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(
        dir.path().join(".asoundrc"),
        format!(
            "pcm.!default {{\n  type plug\n  slave {{ pcm \"capfile\"; format S16_LE; rate {CAP_RATE_HZ}; channels 2 }}\n}}\n\
             pcm.capfile {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
            fifo.display()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("roundwared.toml");
    std::fs::write(&cfg, config(dir.path(), port, 0.01)).unwrap(); // 1.1 km north: outside
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&fifo)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roundwared"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("HOME", dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read at real-time pace for 6 s; after 2.5 s move the box inside the zone (SIGHUP).
    let bytes_per_s = CAP_RATE_HZ * 4;
    let start = Instant::now();
    let mut captured = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut moved_at = None;
    while start.elapsed() < Duration::from_secs(6) {
        if moved_at.is_none() && start.elapsed() > Duration::from_millis(2500) {
            std::fs::write(&cfg, config(dir.path(), port, 0.0)).unwrap();
            Command::new("kill")
                .args(["-HUP", &child.id().to_string()])
                .status()
                .unwrap();
            moved_at = Some(captured.len() / 4);
        }
        let allowed = (start.elapsed().as_secs_f64() * bytes_per_s as f64) as usize + 8192;
        let room = allowed.saturating_sub(captured.len()).min(chunk.len());
        if room > 0 {
            match reader.read(&mut chunk[..room]) {
                Ok(n) => captured.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading the fifo: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    let health: serde_json::Value = status.json().await.unwrap();
    let _ = child.kill();
    let mut log = String::new();
    let _ = child.wait();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    let samples: Vec<i16> = captured
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let frames = samples.len() / 2;
    assert!(
        frames > CAP_RATE_HZ * 4,
        "the card played {frames} frames in 6 s\n{log}"
    );
    let moved = moved_at.unwrap_or(0);
    let before = &samples[(moved.saturating_sub(CAP_RATE_HZ)) * 2..moved * 2];
    let after = &samples[(frames - CAP_RATE_HZ) * 2..];
    assert!(
        rms(before) < 0.005,
        "silent outside the zone: {}\n{log}",
        rms(before)
    );
    // A 0.5 sine in the centre of the stereo field: RMS 0.25 per channel.
    assert!(
        (rms(after) - 0.25).abs() < 0.04,
        "the speaker at full level inside: {}\n{log}",
        rms(after)
    );
    assert_eq!(health["components"]["soundcard"]["state"], "ok", "{health}");
}

#[tokio::test]
async fn a_gps_walk_through_gpsd_moves_the_local_listener_into_a_speaker_zone() {
    use crate::position::{LAT0, LON0, M_PER_DEG, epoch};
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    // Move the project's zone to the walk: from 40 m to 400 m north of the walk's start.
    let (south, north) = (LAT0 + 40.0 / M_PER_DEG, LAT0 + 400.0 / M_PER_DEG);
    let (west, east) = (LON0 - 0.002, LON0 + 0.002);
    let shape = format!(
        "{{\"type\":\"MultiPolygon\",\"coordinates\":[[[[{west},{south}],[{east},{south}],[{east},{north}],[{west},{north}],[{west},{south}]]]]}}"
    );
    {
        let store = roundwared::testing::store::Store::open(&dir.path().join("roundwared.sqlite3"))
            .unwrap();
        store
            .write(move |tx| {
                tx.execute("UPDATE speakers SET shape = ?1", [shape])?;
                Ok(())
            })
            .await
            .unwrap();
    }
    let log = dir.path().join("walk.nmea");
    let mut text = String::new();
    for t in 0..60u32 {
        text.push_str(&epoch(t, 1.3 * f64::from(t), 0.0));
    }
    std::fs::write(&log, text).unwrap();
    let (_fake, port) = crate::position::gpsfake(&log);
    let s = crate::support::TestServer::start_in(
        dir.path(),
        &format!("[local]\nenabled = true\nproject_id = 1\noutput = \"none\"\n[position]\nsource = \"gpsd\"\ngpsd = \"127.0.0.1:{port}\"\n"),
    )
    .await;
    let staff = s.staff_token().await;
    let local = s.get("/api/2/streams/local/", Some(&staff)).await;
    let url = local.body["stream_url"]
        .as_str()
        .expect("local stream")
        .to_string();
    let mut resp = reqwest::get(&url).await.unwrap();
    let mut mp3 = Vec::new();
    let start = Instant::now();
    let mut last = serde_json::Value::Null;
    while start.elapsed() < Duration::from_secs(8) {
        if let Ok(Ok(Some(c))) =
            tokio::time::timeout(Duration::from_millis(200), resp.chunk()).await
        {
            mp3.extend_from_slice(&c);
        }
        last = s.get("/api/2/streams/local/", Some(&staff)).await.body;
    }
    let lat = last["stream"]["position"][0]
        .as_f64()
        .unwrap_or_else(|| panic!("the local listener has a position: {last}"));
    let walked_m = (lat - LAT0) * M_PER_DEG;
    assert!(
        walked_m > 60.0,
        "the listener followed the walk: {walked_m:.1} m; {last}"
    );
    assert_eq!(last["position"]["source"], "gpsd");
    // The mixer commands that followed the fixes were counted from each fix's arrival.
    let fix_commands = last["stream"]["fix_commands"].as_u64().unwrap_or(0);
    assert!(fix_commands > 0, "no fix-stamped commands: {last}");
    let latest_ms = last["stream"]["fix_to_mixer_ms"].as_f64().unwrap_or(0.0);
    let max_ms = last["stream"]["fix_to_mixer_max_ms"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(latest_ms > 0.0 && max_ms >= latest_ms, "{last}");
    // The speaker gain followed: silent at the start of the walk, then the bed.
    let path = dir.path().join("local.mp3");
    std::fs::write(&path, &mp3).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "s16le", "-ac", "2", "-ar", "44100", "-"])
        .output()
        .unwrap();
    let pcm: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let second = 44_100 * 2;
    assert!(pcm.len() > 5 * second, "{} samples", pcm.len());
    assert!(
        rms(&pcm[..second / 2]) < 0.01,
        "silent before the zone: {}",
        rms(&pcm[..second / 2])
    );
    let tail = rms(&pcm[pcm.len() - second..]);
    assert!(tail > 0.15, "the speaker is heard inside the zone: {tail}");
}
