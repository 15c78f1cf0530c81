//! The box's volume and outputs, end to end: the release-shaped daemon (a child process, so
//! ALSA's `HOME/.asoundrc` is its own) plays its local mix through cpal, and the test measures
//! the level that arrives while it changes the volume through the staff API, restarts the
//! daemon, and switches the card away and back.
//!
//! Two real sinks: an ALSA `file` plugin writing to a FIFO read at real-time pace (no mixer
//! element: the software-gain path), and ALSA's `pulse` PCM and control plugins on a
//! PulseAudio null sink recorded with `parec` (its `Master` is a real simple-mixer element:
//! the hardware-mixer path). A `softvol` PCM would be the other classic element, but alsa-lib
//! keeps softvol's control on a kernel card (`hw:N`), and the CI machines have no sound card
//! at all. `roundwared devices` is run against the same configurations.

mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use harness::{BoxUnderTest, FULL_RMS, asoundrc, db};

#[tokio::test]
async fn the_console_volume_scales_what_the_card_plays_through_a_software_gain_and_survives_a_restart()
 {
    let mut b = BoxUnderTest::start("output = \"default\"\nvolume = 100", false).await;
    let token = b.staff_token().await;
    let full = b
        .wait_level(15, "full level at volume 100", |l| {
            (l - FULL_RMS).abs() < 0.04
        })
        .await;
    let (status, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(status, 200, "{audio}");
    assert_eq!(audio["volume"], 100);
    assert_eq!(
        audio["volume_via"], "software",
        "no mixer in a file plugin: {audio}"
    );
    assert_eq!(audio["config"]["volume"], 100);

    let (status, audio) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"volume": 50})),
        )
        .await;
    assert_eq!(status, 200, "{audio}");
    assert_eq!(audio["volume"], 50);
    // 50 is 30 dB below 100 (equal dB steps over 60 dB).
    let half = b
        .wait_level(10, "volume 50", |l| (db(l / full) + 30.0).abs() < 1.5)
        .await;

    let (status, _) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"volume": "0"})),
        )
        .await;
    assert_eq!(status, 200);
    b.wait_level(10, "volume 0", |l| l < 0.0005).await;

    b.call(
        "PATCH",
        "/api/2/local/audio/",
        &token,
        Some(json!({"volume": 50})),
    )
    .await;
    b.wait_level(10, "volume 50 again", |l| (db(l / full) + 30.0).abs() < 1.5)
        .await;

    // The choice outlives the daemon: after a restart the card starts at volume 50.
    b.restart();
    let token = b.staff_token().await;
    let (_, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(audio["volume"], 50, "{audio}");
    let after = b
        .wait_level(15, "volume 50 after the restart", |l| {
            (db(l / full) + 30.0).abs() < 1.5
        })
        .await;
    assert!((db(after / half)).abs() < 1.5, "{half} then {after}");
    let log = b.log();
    assert!(log.contains("as chosen in the console"), "{log}");
    assert!(
        !log.contains("ALSA lib"),
        "alsa-lib chatter in stderr:\n{log}"
    );
}

#[tokio::test]
async fn choosing_another_output_in_the_console_moves_the_mix_there_at_once() {
    let b = BoxUnderTest::start("output = \"default\"", false).await;
    let token = b.staff_token().await;
    b.wait_level(15, "playing on default", |l| (l - FULL_RMS).abs() < 0.04)
        .await;
    let (status, list) = b.call("GET", "/api/2/local/outputs/", &token, None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(
        names.contains(&"boxout") && names.contains(&"capfile"),
        "{list}"
    );
    let (status, audio) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"output": "boxout"})),
        )
        .await;
    assert_eq!(status, 200, "{audio}");
    assert_eq!(audio["output"], "boxout");
    assert_eq!(audio["output_applies_live"], true, "{audio}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, local) = b.call("GET", "/api/2/streams/local/", &token, None).await;
        if local["soundcard"]["device"] == "boxout" && local["soundcard"]["state"] == "playing" {
            break;
        }
        assert!(Instant::now() < deadline, "{local}\n{}", b.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_level(10, "playing on boxout", |l| (l - FULL_RMS).abs() < 0.04)
        .await;
    assert!(
        b.log().contains("switching from default to boxout"),
        "{}",
        b.log()
    );
}

#[tokio::test]
async fn a_missing_card_is_logged_once_and_its_return_once_without_alsa_chatter() {
    let b = BoxUnderTest::start("output = \"boxcard\"", false).await;
    // Several retries (1 s, 2 s back-off) pass while the card is missing.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let fifo = b.dir.path().join("card.fifo");
    std::fs::write(b.dir.path().join(".asoundrc"), asoundrc(&fifo, true)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.log().contains("boxcard: back: playing") {
        assert!(Instant::now() < deadline, "never back\n{}", b.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_level(10, "playing once back", |l| (l - FULL_RMS).abs() < 0.04)
        .await;
    let log = b.log();
    let missing: Vec<&str> = log.lines().filter(|l| l.contains("not found")).collect();
    assert_eq!(missing.len(), 1, "one line while missing:\n{log}");
    assert!(
        missing[0].contains("boxcard") && missing[0].contains("roundwared devices"),
        "the line names the output and what to check: {}",
        missing[0]
    );
    assert_eq!(log.matches("back: playing").count(), 1, "{log}");
    assert!(
        !log.contains("ALSA lib"),
        "alsa-lib chatter in stderr:\n{log}"
    );
}

#[test]
fn roundwared_devices_lists_the_outputs_of_the_alsa_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("card.fifo");
    std::fs::write(dir.path().join(".asoundrc"), asoundrc(&fifo, true)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roundwared"))
        .arg("devices")
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for name in ["default", "capfile", "boxout", "boxcard"] {
        assert!(
            stdout.lines().any(|l| l == name),
            "{name} listed:\n{stdout}"
        );
    }
    assert!(stdout.contains("Roundwared test sink"), "{stdout}");
    assert!(stdout.contains("software gain"), "{stdout}");
    assert!(!stderr.contains("ALSA lib"), "{stderr}");
}

#[tokio::test]
async fn a_bad_volume_or_an_unknown_output_gets_a_400_naming_it_and_changes_nothing() {
    let s = crate::support::TestServer::start_with(
        "[local]\nenabled = true\nproject_id = 1\noutput = \"none\"\nvolume = 70\n",
    )
    .await;
    let staff = s.staff_token().await;
    for bad in [
        json!(101),
        json!(-1),
        json!("loud"),
        json!(null),
        json!([50]),
    ] {
        let r = s
            .patch("/api/2/local/audio/", Some(&staff), json!({"volume": bad}))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        let msg = r.body["volume"][0].as_str().unwrap_or_default();
        assert!(msg.contains("0 to 100"), "{bad}: {}", r.body);
    }
    let r = s
        .patch(
            "/api/2/local/audio/",
            Some(&staff),
            json!({"output": "no-such-card-here", "volume": 20}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.body["output"][0].as_str().unwrap_or_default();
    assert!(
        msg.contains("no-such-card-here") && msg.contains("roundwared devices"),
        "{}",
        r.body
    );
    let audio = s.get("/api/2/local/audio/", Some(&staff)).await;
    assert_eq!(audio.ok()["volume"], 70, "nothing changed: {}", audio.body);
    assert_eq!(audio.body["output"], "none");
    // Visitors may not touch the box's volume.
    let (_, visitor) = s.device_token("visitor-phone").await;
    let r = s
        .patch("/api/2/local/audio/", Some(&visitor), json!({"volume": 10}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s
        .patch("/api/2/local/audio/", Some(&staff), json!({"volume": 20.4}))
        .await;
    assert_eq!(r.ok()["volume"], 20);
    assert_eq!(r.body["volume_via"], "none", "no card: {}", r.body);
}

#[tokio::test]
async fn a_card_with_a_mixer_element_gets_the_volume_on_that_element_and_keeps_it_across_a_restart()
{
    let mut b = BoxUnderTest::start_pulse("output = \"boxpulse\"\nvolume = 100").await;
    let token = b.staff_token().await;
    let full = b
        .wait_level(15, "playing at volume 100", |l| l > 0.005)
        .await;
    let (_, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(audio["volume_via"], "mixer", "{audio}\n{}", b.log());
    assert_eq!(audio["mixer"], "Master on boxpulse", "{audio}");
    assert_eq!(amixer_master(&b), "65536", "the element at its top");

    let (status, audio) = b
        .call(
            "PATCH",
            "/api/2/local/audio/",
            &token,
            Some(json!({"volume": 50})),
        )
        .await;
    assert_eq!(status, 200, "{audio}");
    // The element states no dB range: its raw range is mapped linearly (PulseAudio's own
    // curve makes 50 % of it about -18 dB).
    assert_eq!(amixer_master(&b), "32768");
    b.wait_level(10, "volume 50 on the mixer", |l| {
        db(l / full) < -12.0 && db(l / full) > -24.0
    })
    .await;
    b.call(
        "PATCH",
        "/api/2/local/audio/",
        &token,
        Some(json!({"volume": 0})),
    )
    .await;
    b.wait_level(10, "volume 0 on the mixer", |l| l < 0.0002)
        .await;
    b.call(
        "PATCH",
        "/api/2/local/audio/",
        &token,
        Some(json!({"volume": 50})),
    )
    .await;

    // Something else moves the element; a restart puts the saved volume back on it.
    b.stop_daemon();
    let set = Command::new("amixer")
        .args(["-q", "-D", "boxpulse", "sset", "Master", "100%"])
        .env("HOME", b.dir.path())
        .envs(b.env.iter().map(|(k, v)| (k, v)))
        .status()
        .unwrap();
    assert!(set.success());
    b.spawn_daemon();
    let token = b.staff_token().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while amixer_master(&b) != "32768" {
        assert!(
            Instant::now() < deadline,
            "volume 50 not restored\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, audio) = b.call("GET", "/api/2/local/audio/", &token, None).await;
    assert_eq!(audio["volume"], 50, "{audio}");
    assert!(
        !b.log().contains("ALSA lib"),
        "alsa-lib chatter:\n{}",
        b.log()
    );
}

/// The raw value of `Master` on `boxpulse`'s control, as `amixer` reads it.
fn amixer_master(b: &BoxUnderTest) -> String {
    let out = Command::new("amixer")
        .args(["-D", "boxpulse", "sget", "Master"])
        .env("HOME", b.dir.path())
        .envs(b.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Front Left: Playback "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}
