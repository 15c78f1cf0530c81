//! The box's own position through real sources: NMEA over a real pseudo-terminal pair, and
//! Debian's gpsd fed by `gpsfake` with a walk generated here; read back through the staff-only
//! `/api/2/position/` route.

use std::io::Write;

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestServer;

pub(crate) const LAT0: f64 = 52.52;
pub(crate) const LON0: f64 = 13.405;
pub(crate) const M_PER_DEG: f64 = 111_320.0;

/// `$body*hh` with the correct checksum.
fn sentence(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}\r\n")
}

fn ddmm(value: f64, degree_digits: usize) -> String {
    let deg = value.abs().trunc();
    let min = (value.abs() - deg) * 60.0;
    format!("{:0w$}{min:07.4}", deg as u32, w = degree_digits)
}

/// GGA and RMC for epoch `t_s` (seconds after 10:00:00) at `north_m`/`east_m` from the origin.
pub(crate) fn epoch(t_s: u32, north_m: f64, east_m: f64) -> String {
    let lat = LAT0 + north_m / M_PER_DEG;
    let lon = LON0 + east_m / (M_PER_DEG * LAT0.to_radians().cos());
    let time = format!("10{:02}{:02}.00", t_s / 60, t_s % 60);
    let (la, lo) = (ddmm(lat, 2), ddmm(lon, 3));
    sentence(&format!(
        "GPGGA,{time},{la},N,{lo},E,1,08,1.10,34.0,M,39.6,M,,"
    )) + &sentence(&format!("GPRMC,{time},A,{la},N,{lo},E,2.53,0.0,010625,,,A"))
}

fn north_m(fix: &Value) -> f64 {
    (fix["latitude"].as_f64().unwrap() - LAT0) * M_PER_DEG
}

fn east_m(fix: &Value) -> f64 {
    (fix["longitude"].as_f64().unwrap() - LON0) * M_PER_DEG * LAT0.to_radians().cos()
}

async fn position(server: &TestServer, token: &str) -> Value {
    server
        .get("/api/2/position/", Some(token))
        .await
        .ok()
        .clone()
}

/// Polls the route until `done` holds or `within` passes; returns the last answer.
async fn wait_for(
    server: &TestServer,
    token: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + within;
    loop {
        let v = position(server, token).await;
        if done(&v) || Instant::now() > until {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn nmea_over_a_pseudo_terminal_gives_the_filtered_fix_and_counts_bad_sentences() {
    // A pseudo-terminal pair: the daemon opens the slave exactly as it would open
    // /dev/ttyUSB0, the test writes into the master. Opened with O_CLOEXEC rather than through
    // `serialport::TTYPort::pair()`, whose master fd leaks into processes that parallel tests
    // spawn (gpsfake, ffmpeg), so closing it would not hang the line up.
    let mut master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).expect("pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let device = ptsname_r(&master).expect("slave has a path");
    let server = TestServer::start_with(&format!(
        "[position]\nsource = \"nmea\"\nnmea_device = \"{device}\"\nnmea_baud = 9600\nhold_s = 1\n"
    ))
    .await;
    let token = server.staff_token().await;
    let anonymous = server.get("/api/2/position/", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let first = position(&server, &token).await;
    assert_eq!(first["source"], "nmea");
    assert_eq!(first["fix"], Value::Null);

    // A 20 s walk north at 1.3 m/s, with garbage, a wrong checksum, a void RMC and a
    // single 120 m spike among the good sentences.
    let mut bad = 0;
    for t in 0..20u32 {
        let mut chunk = epoch(t, 1.3 * f64::from(t), 0.0);
        match t {
            3 => {
                chunk.push_str("\u{1}\u{7f}garbage@@@\r\n");
                bad += 1;
            }
            5 => {
                let wrong = sentence("GPGGA,100005.50,5231.5000,N,01324.3000,E,1,08,1.1,,M,,M,,")
                    .replace('*', "*0");
                chunk.push_str(&wrong);
                bad += 1;
            }
            8 => chunk.push_str(&sentence("GPRMC,100008.50,V,,,,,,,010625,,,N")),
            12 => chunk = epoch(t, 1.3 * f64::from(t), 120.0),
            _ => {}
        }
        master
            .write_all(chunk.as_bytes())
            .expect("write to the pty");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    let v = wait_for(&server, &token, Duration::from_secs(5), |v| {
        v["counters"]["sentences"].as_u64() >= Some(43) && !v["fix"].is_null()
    })
    .await;
    let c = &v["counters"];
    assert_eq!(c["bad_sentences"].as_u64(), Some(bad), "{v}");
    assert!(c["rejected_jumps"].as_u64() >= Some(1), "{v}");
    assert_eq!(v["status"], "ok", "{v}");
    let fix = &v["fix"];
    assert_eq!(fix["satellites"], 8, "{v}");
    assert_eq!(fix["hdop"], 1.1, "{v}");
    // Smoothing lags a walker by a few metres; the spike never shows.
    let walked = 1.3 * 19.0;
    assert!((walked - 5.0..=walked).contains(&north_m(fix)), "{v}");
    assert!(east_m(fix).abs() < 1.0, "{v}");

    // The receiver goes away: held for hold_s, then reported down, still at the last fix.
    drop(master);
    let v = wait_for(&server, &token, Duration::from_secs(5), |v| {
        v["status"] == "source_down"
    })
    .await;
    assert_eq!(v["status"], "source_down", "{v}");
    assert!(
        v["error"].as_str().unwrap_or_default().contains(&device),
        "{v}"
    );
    assert!(v["counters"]["reconnects"].as_u64() >= Some(1), "{v}");
    assert_eq!(v["on_fix_loss"], "hold");
    assert!((walked - 5.0..=walked).contains(&north_m(&v["fix"])), "{v}");
    server.stop().await;
}

/// gpsfake in its own process group, killed with the group (it can ignore SIGTERM alone).
pub(crate) struct GpsFake(pub(crate) std::process::Child);

impl Drop for GpsFake {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = self.0.wait();
    }
}

/// Starts `gpsfake` replaying `log` once, fast, on a free port; returns it (killed on drop)
/// once its gpsd listens (gpsfake feeds from the moment it starts, so connect right away).
pub(crate) fn gpsfake(log: &std::path::Path) -> (GpsFake, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = format!(
        "{}:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    let child = std::process::Command::new("gpsfake")
        .args(["-1", "-q", "-c", "0.05", "-P", &port.to_string()])
        .arg(log)
        .env("PATH", path)
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run gpsfake ({e}): install gpsd and gpsd-clients (tests/install-deps.sh test)")
        });
    let fake = GpsFake(child);
    let until = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "gpsfake's gpsd never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (fake, port)
}

#[tokio::test]
async fn a_walk_replayed_through_gpsd_is_followed_and_its_spike_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("walk.nmea");
    let mut text = String::from("# synthetic walk north at 1.3 m/s, one 150 m spike at 30 s\r\n");
    for t in 0..60u32 {
        let east = if t == 30 { 150.0 } else { 0.0 };
        text.push_str(&epoch(t, 1.3 * f64::from(t), east));
    }
    std::fs::write(&log, text).unwrap();
    let (_gpsfake, port) = gpsfake(&log);
    let server = TestServer::start_with(&format!(
        "[position]\nsource = \"gpsd\"\ngpsd = \"127.0.0.1:{port}\"\n"
    ))
    .await;
    let token = server.staff_token().await;

    // Follow the replay (about 6 s): record every position the route shows.
    let mut seen_north = Vec::new();
    let mut max_east: f64 = 0.0;
    let until = Instant::now() + Duration::from_secs(12);
    let mut last = Value::Null;
    while Instant::now() < until {
        last = position(&server, &token).await;
        if let Some(fix) = last.get("fix").filter(|f| !f.is_null()) {
            seen_north.push(north_m(fix));
            max_east = max_east.max(east_m(fix).abs());
            if north_m(fix) > 1.3 * 59.0 - 5.0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["source"], "gpsd");
    let end = seen_north.last().copied().unwrap_or_default();
    assert!(end > 1.3 * 59.0 - 5.0, "did not follow to the end: {last}");
    seen_north.dedup_by(|a, b| (*a - *b).abs() < 0.5);
    assert!(
        seen_north.len() >= 5,
        "position did not move along the walk: {seen_north:?}"
    );
    assert!(
        seen_north.windows(2).all(|w| w[1] >= w[0] - 0.5),
        "position went backwards: {seen_north:?}"
    );
    assert!(max_east < 2.0, "the spike was followed: {max_east} m east");
    assert!(
        last["counters"]["rejected_jumps"].as_u64() >= Some(1),
        "{last}"
    );
    server.stop().await;
}
