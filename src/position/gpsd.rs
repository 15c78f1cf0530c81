//! gpsd's JSON protocol: a pure report parser (TPV and SKY; other classes ignored) and the TCP
//! reader that sends `?WATCH`, reads reports line by line and reconnects with back-off.
//!
//! Owns: the gpsd wire format and the connection's lifetime. May not touch: filtering (see
//! [`super::filter`]), the published state.
//!
//! Reports are read as `gpsd_proto`'s `Tpv` and `Sky`, dispatched on `class` first: a class
//! the crate does not model (gpsd adds some with every release) is skipped, never fatal, and
//! only a TPV or SKY that does not fit its type is a bad line. `uSat` (gpsd ≥ 3.21, not in
//! `gpsd_proto`'s `Sky`) is read beside it.

use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::{Event, Outcome, Reading, backoff};

/// The command that starts the JSON report stream.
pub(crate) const WATCH: &[u8] = b"?WATCH={\"enable\":true,\"json\":true};\n";

/// Longest report line accepted (SKY with many satellites is a few KiB).
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// Why a gpsd line could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum GpsdError {
    /// Not a JSON object with a `class`.
    #[error("not a gpsd report: {0}")]
    NotJson(String),
    /// A TPV or SKY report with a field of the wrong type.
    #[error("malformed {class}: {message}")]
    Malformed {
        /// `TPV` or `SKY`.
        class: &'static str,
        /// serde's message.
        message: String,
    },
}

/// One report of a class roundwared uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Report {
    /// TPV with mode ≥ 2 and a position (`Some`), or mode 0/1 (`None`: no fix).
    Tpv(Option<Reading>),
    /// SKY: satellites used and HDOP, when gpsd knows them.
    Sky {
        /// Satellites used in the solution.
        satellites: Option<u32>,
        /// Horizontal dilution of precision.
        hdop: Option<f64>,
    },
}

#[derive(Deserialize)]
struct Class {
    class: String,
}

/// The satellites-used count newer gpsd sends in SKY (`gpsd_proto` does not model it).
#[derive(Deserialize)]
struct UsedSatellites {
    #[serde(rename = "uSat")]
    used: Option<u32>,
}

/// An `f32` as the decimal gpsd sent (`1.2`, not `1.2000000476837158`).
fn decimal(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// Parses one line of gpsd output. `Ok(None)` for classes other than TPV and SKY (VERSION,
/// DEVICES, WATCH, GST, TOFF, ERROR, …) and for a TPV that has a mode but no position yet
/// (gpsd can report the mode from GSA before GGA arrives in the same cycle).
///
/// # Errors
/// [`GpsdError`] for a line that is not a JSON object with a class, or a malformed TPV/SKY.
pub(crate) fn parse_report(line: &str) -> Result<Option<Report>, GpsdError> {
    let line = line.trim();
    let class: Class = serde_json::from_str(line)
        .map_err(|e| GpsdError::NotJson(format!("{e} in `{}`", preview(line))))?;
    match class.class.as_str() {
        "TPV" => {
            let tpv: gpsd_proto::Tpv =
                serde_json::from_str(line).map_err(|e| GpsdError::Malformed {
                    class: "TPV",
                    message: e.to_string(),
                })?;
            if matches!(tpv.mode, gpsd_proto::Mode::NoFix) {
                return Ok(Some(Report::Tpv(None)));
            }
            let (Some(lat), Some(lon)) = (tpv.lat, tpv.lon) else {
                return Ok(None);
            };
            let on_earth = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
            if !on_earth || (lat == 0.0 && lon == 0.0) {
                return Ok(Some(Report::Tpv(None)));
            }
            Ok(Some(Report::Tpv(Some(Reading {
                lat,
                lon,
                time_of_day_s: tpv.time.as_deref().and_then(time_of_day),
                satellites: None,
                hdop: None,
            }))))
        }
        "SKY" => {
            let malformed = |e: serde_json::Error| GpsdError::Malformed {
                class: "SKY",
                message: e.to_string(),
            };
            let sky: gpsd_proto::Sky = serde_json::from_str(line).map_err(malformed)?;
            let used: UsedSatellites = serde_json::from_str(line).map_err(malformed)?;
            let counted = sky
                .satellites
                .as_ref()
                .map(|s| u32::try_from(s.iter().filter(|s| s.used).count()).unwrap_or(u32::MAX));
            Ok(Some(Report::Sky {
                satellites: used.used.or(counted),
                hdop: sky.hdop.map(decimal).filter(|h| h.is_finite() && *h > 0.0),
            }))
        }
        _ => Ok(None),
    }
}

fn preview(line: &str) -> String {
    line.chars().take(40).collect()
}

/// `…THH:MM:SS(.sss)Z` → seconds since midnight UTC.
fn time_of_day(iso: &str) -> Option<f64> {
    let t = iso.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = t.splitn(3, ':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Turns gpsd lines into [`Outcome`]s, attaching the latest SKY figures to each TPV.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    satellites: Option<u32>,
    hdop: Option<f64>,
}

impl Decoder {
    /// Decodes one line; `None` for an empty line.
    pub(crate) fn line(&mut self, line: &str) -> Option<Outcome> {
        if line.trim().is_empty() {
            return None;
        }
        Some(match parse_report(line) {
            Err(e) => Outcome::Bad(e.to_string()),
            Ok(None) => Outcome::Ignored,
            Ok(Some(Report::Sky { satellites, hdop })) => {
                self.satellites = satellites;
                self.hdop = hdop;
                Outcome::Ignored
            }
            Ok(Some(Report::Tpv(None))) => Outcome::NoFix,
            Ok(Some(Report::Tpv(Some(mut r)))) => {
                r.satellites = self.satellites;
                r.hdop = self.hdop;
                Outcome::Reading(r)
            }
        })
    }
}

/// Reads gpsd reports until the stream ends, sending an [`Event::Line`] for each; lines over
/// [`MAX_LINE`] are skipped as bad.
///
/// # Errors
/// The I/O error that ended the stream, or `BrokenPipe` when `tx`'s receiver is gone.
pub(crate) async fn read_reports<R: AsyncBufRead + Unpin>(
    mut reader: R,
    tx: &mpsc::Sender<Event>,
) -> std::io::Result<()> {
    let mut decoder = Decoder::default();
    let mut line = Vec::new();
    let mut overlong = false;
    loop {
        line.clear();
        let budget = (MAX_LINE + 1) as u64;
        let n = (&mut reader)
            .take(budget)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let outcome = if line.last() != Some(&b'\n') && line.len() > MAX_LINE {
            overlong = true;
            continue;
        } else if std::mem::take(&mut overlong) {
            Some(Outcome::Bad("report line too long".into()))
        } else {
            decoder.line(&String::from_utf8_lossy(&line))
        };
        if let Some(o) = outcome {
            tx.send(Event::Line(o))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        }
    }
}

/// The gpsd reader task: connect, `?WATCH`, read, and on any failure report it, wait with
/// back-off and reconnect. Ends when `tx`'s receiver is gone.
pub(crate) async fn run(addr: String, tx: mpsc::Sender<Event>) {
    let mut attempt = 0u32;
    loop {
        if attempt > 0 && tx.send(Event::Reconnecting).await.is_err() {
            return;
        }
        let reason = match connect(&addr).await {
            Ok(stream) => {
                log::info!("GPS: reading gpsd at {addr}");
                if tx.send(Event::Up).await.is_err() {
                    return;
                }
                attempt = 0;
                match read_reports(BufReader::new(stream), &tx).await {
                    Ok(()) => format!("gpsd at {addr} closed the connection"),
                    Err(_) if tx.is_closed() => return,
                    Err(e) => format!("gpsd at {addr}: {e}"),
                }
            }
            Err(e) => format!("cannot reach gpsd at {addr}: {e}"),
        };
        if tx.send(Event::Down(reason)).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}

async fn connect(addr: &str) -> std::io::Result<tokio::net::TcpStream> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
    stream.write_all(WATCH).await?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_3d_tpv_gives_a_reading_with_time_of_day() {
        let line = r#"{"class":"TPV","device":"/dev/pts/1","mode":3,"time":"2025-06-01T10:01:16.000Z","ept":0.005,"lat":52.519653333,"lon":13.404910000,"speed":1.302,"eph":20.900}"#;
        let Some(Report::Tpv(Some(r))) = parse_report(line).unwrap() else {
            panic!("no reading");
        };
        assert!((r.lat - 52.519_653_333).abs() < 1e-9);
        assert!((r.lon - 13.404_91).abs() < 1e-9);
        assert_eq!(r.time_of_day_s, Some(36_076.0));
    }

    #[test]
    fn a_tpv_without_a_fix_is_no_fix_and_one_without_a_position_is_skipped() {
        let no_fix = r#"{"class":"TPV","device":"/dev/pts/1","mode":1}"#;
        assert_eq!(parse_report(no_fix).unwrap(), Some(Report::Tpv(None)));
        let no_pos = r#"{"class":"TPV","mode":3,"time":"2025-06-01T10:01:16.000Z"}"#;
        assert_eq!(parse_report(no_pos).unwrap(), None);
        let off_earth = r#"{"class":"TPV","mode":2,"lat":95.0,"lon":13.0}"#;
        assert_eq!(parse_report(off_earth).unwrap(), Some(Report::Tpv(None)));
    }

    #[test]
    fn sky_gives_used_satellites_and_hdop() {
        let line = r#"{"class":"SKY","hdop":1.10,"satellites":[{"PRN":2,"used":true},{"PRN":5,"used":false},{"PRN":12,"used":true}]}"#;
        assert_eq!(
            parse_report(line).unwrap(),
            Some(Report::Sky {
                satellites: Some(2),
                hdop: Some(1.1)
            })
        );
    }

    #[test]
    fn other_classes_are_ignored_and_garbage_is_an_error() {
        for line in [
            r#"{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}"#,
            r#"{"class":"TOFF","device":"/dev/pts/1"}"#,
            r#"{"class":"ERROR","message":"unrecognized request"}"#,
            // classes gpsd_proto does not model, with shapes of their own
            r#"{"class":"IMU","device":"/dev/imu","acc_x":[1,2],"gyro_z":null}"#,
            r#"{"class":"RAW","device":"/dev/pts/1","rawdata":[{"gnssid":0}]}"#,
        ] {
            assert_eq!(parse_report(line).unwrap(), None, "{line}");
        }
        assert!(parse_report("garbage").is_err());
        assert!(parse_report(r#"{"no":"class"}"#).is_err());
        assert!(parse_report(r#"{"class":"TPV","mode":3,"lat":"north"}"#).is_err());
    }

    #[test]
    fn fields_newer_gpsd_adds_do_not_break_a_tpv_or_sky() {
        let tpv = r#"{"class":"TPV","device":"/dev/ttyACM0","mode":3,"time":"2025-06-01T10:01:16.000Z","leapseconds":18,"lat":52.5,"lon":13.4,"altHAE":80.1,"ecefx":3783000.12,"dgpsAge":2,"wanted":"x"}"#;
        assert!(matches!(
            parse_report(tpv).unwrap(),
            Some(Report::Tpv(Some(_)))
        ));
        let sky = r#"{"class":"SKY","nSat":12,"uSat":9,"hdop":0.9,"pr":12.5}"#;
        assert_eq!(
            parse_report(sky).unwrap(),
            Some(Report::Sky {
                satellites: Some(9),
                hdop: Some(0.9)
            }),
            "uSat without a satellite list"
        );
    }

    #[test]
    fn the_decoder_attaches_sky_figures_to_the_next_tpv() {
        let mut d = Decoder::default();
        assert_eq!(
            d.line(r#"{"class":"SKY","hdop":2.5,"uSat":7}"#),
            Some(Outcome::Ignored)
        );
        let Some(Outcome::Reading(r)) = d.line(r#"{"class":"TPV","mode":2,"lat":1.5,"lon":2.5}"#)
        else {
            panic!("no reading");
        };
        assert_eq!((r.satellites, r.hdop), (Some(7), Some(2.5)));
        assert_eq!(d.line("   "), None);
    }

    #[tokio::test]
    async fn reports_are_read_from_any_async_buffered_source() {
        let input = concat!(
            "{\"class\":\"VERSION\",\"release\":\"3.22\"}\n",
            "not json\n",
            "{\"class\":\"TPV\",\"mode\":3,\"lat\":52.5,\"lon\":13.4}\n",
            "{\"class\":\"TPV\",\"mode\":1}",
        );
        let (tx, mut rx) = mpsc::channel(16);
        read_reports(input.as_bytes(), &tx).await.unwrap();
        drop(tx);
        let mut got = Vec::new();
        while let Some(Event::Line(o)) = rx.recv().await {
            got.push(o);
        }
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], Outcome::Ignored);
        assert!(matches!(got[1], Outcome::Bad(_)));
        assert!(matches!(got[2], Outcome::Reading(_)));
        assert_eq!(got[3], Outcome::NoFix);
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::json;

        use super::*;

        proptest! {
            #![proptest_config(crate::proptest_config())]

            #[test]
            fn any_line_is_a_report_or_an_error_never_a_panic(line in ".{0,120}") {
                let _ = parse_report(&line);
                let _ = Decoder::default().line(&line);
                let _ = parse_report(&format!("{{\"class\":\"TPV\",{line}"));
            }

            #[test]
            fn tpv_and_sky_with_any_field_values_never_panic(
                mode in any::<i64>(), lat in any::<f64>(), time in ".{0,30}", hdop in any::<f64>(),
                used in prop::collection::vec(any::<bool>(), 0..8),
            ) {
                let sats: Vec<_> = used.iter().map(|u| json!({"used": u})).collect();
                let mut d = Decoder::default();
                let _ = d.line(&json!({"class": "SKY", "hdop": hdop, "satellites": sats}).to_string());
                let _ = d.line(&json!({"class": "TPV", "mode": mode, "lat": lat, "lon": lat, "time": time}).to_string());
            }

            #[test]
            fn a_tpv_with_a_fix_gives_its_position(
                mode in 2u8..=3, lat in -90.0..=90.0f64, lon in -180.0..=180.0f64,
                (h, m, s) in (0u32..24, 0u32..60, 0u32..60),
            ) {
                prop_assume!(lat != 0.0 || lon != 0.0);
                let time = format!("2026-12-06T{h:02}:{m:02}:{s:02}.000Z");
                let line = json!({"class": "TPV", "mode": mode, "lat": lat, "lon": lon, "time": time}).to_string();
                let Some(Report::Tpv(Some(r))) = parse_report(&line).unwrap() else {
                    panic!("no reading from {line}");
                };
                // serde_json's default float parsing may be one ULP off (nanometres).
                prop_assert!((r.lat - lat).abs() < 1e-12 && (r.lon - lon).abs() < 1e-12, "{:?}", r);
                prop_assert_eq!(r.time_of_day_s, Some(f64::from(h * 3600 + m * 60 + s)));
            }
        }
    }
}
