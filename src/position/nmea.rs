//! NMEA 0183 from a receiver on a serial port: a pure sentence parser (GGA and RMC, checksum
//! verified) and the blocking reader that feeds it, reopening the device when it goes away.
//!
//! Owns: sentence syntax, checksums, coordinate decoding, the serial port's lifetime. May not
//! touch: filtering (see [`super::filter`]), the published state, the network.
//!
//! Written by hand rather than with the `nmea` crate: only two sentence types are needed, every
//! invalid input must be told apart (checksum, garbage, no fix), and `nmea` 0.8 needs a newer
//! Rust than this crate's `rust-version`.

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Event, Outcome, Reading, backoff};

/// Longest line accepted; NMEA 0183 allows 82 characters, some receivers emit a little more.
pub(crate) const MAX_LINE: usize = 200;

/// Why a line is not a usable sentence. Each one is counted as a bad sentence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum NmeaError {
    /// The line does not start with `$` (noise, a partial line, binary protocol bytes).
    #[error("not a sentence (no leading `$`)")]
    NotASentence,
    /// No `*hh` checksum at the end.
    #[error("no checksum")]
    NoChecksum,
    /// The checksum does not match the sentence.
    #[error("checksum {found} does not match {computed:02X}")]
    BadChecksum {
        /// What the line says.
        found: String,
        /// What its bytes give.
        computed: u8,
    },
    /// Longer than [`MAX_LINE`] or not text.
    #[error("line too long or not text")]
    Garbage,
    /// A GGA or RMC field that cannot be read.
    #[error("{sentence} field {field}: `{value}` is malformed")]
    Malformed {
        /// `GGA` or `RMC`.
        sentence: &'static str,
        /// Field index (the address is 0).
        field: usize,
        /// The field's text.
        value: String,
    },
}

/// One decoded sentence of a type roundwared uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sentence {
    /// GGA: fix data with satellites and HDOP; `None` when it says there is no fix.
    Gga(Option<Reading>),
    /// RMC: recommended minimum; `None` when its status is `V` (void) or it has no position.
    Rmc(Option<Reading>),
}

/// Parses one line. `Ok(None)` for a well-formed sentence of another type (GSA, GSV, …).
///
/// # Errors
/// [`NmeaError`] for garbage, a missing or wrong checksum, or malformed GGA/RMC fields.
/// Coordinates out of range, GGA quality 0/6 and RMC status `V` are not errors: they decode
/// to "no fix".
pub(crate) fn parse_sentence(line: &str) -> Result<Option<Sentence>, NmeaError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.len() > MAX_LINE {
        return Err(NmeaError::Garbage);
    }
    let rest = line.strip_prefix('$').ok_or(NmeaError::NotASentence)?;
    let (body, sum) = rest.rsplit_once('*').ok_or(NmeaError::NoChecksum)?;
    let computed = body.bytes().fold(0u8, |acc, b| acc ^ b);
    let found = u8::from_str_radix(sum, 16).ok().filter(|_| sum.len() == 2);
    if found != Some(computed) {
        return Err(NmeaError::BadChecksum {
            found: sum.to_string(),
            computed,
        });
    }
    let fields: Vec<&str> = body.split(',').collect();
    let address = fields.first().copied().unwrap_or_default();
    if address.len() < 5 || !address.is_ascii() {
        return Ok(None);
    }
    match &address[address.len() - 3..] {
        "GGA" => gga(&fields).map(|r| Some(Sentence::Gga(r))),
        "RMC" => rmc(&fields).map(|r| Some(Sentence::Rmc(r))),
        _ => Ok(None),
    }
}

fn field<'a>(fields: &[&'a str], i: usize) -> &'a str {
    fields.get(i).copied().unwrap_or_default()
}

fn malformed(sentence: &'static str, field: usize, value: &str) -> NmeaError {
    NmeaError::Malformed {
        sentence,
        field,
        value: value.chars().take(20).collect(),
    }
}

/// `hhmmss(.ss)` → seconds since midnight; `None` when empty or unreadable (time is optional).
fn time_of_day(text: &str) -> Option<f64> {
    let h: f64 = text.get(0..2)?.parse().ok()?;
    let m: f64 = text.get(2..4)?.parse().ok()?;
    let s: f64 = text.get(4..)?.parse().ok()?;
    (h < 24.0 && m < 60.0 && s < 61.0).then_some(h * 3600.0 + m * 60.0 + s)
}

/// `ddmm.mmmm` + hemisphere → signed degrees. `Ok(None)` for an empty or out-of-range value.
fn coordinate(
    sentence: &'static str,
    fields: &[&str],
    i: usize,
    degree_digits: usize,
    positive: char,
    negative: char,
) -> Result<Option<f64>, NmeaError> {
    let text = field(fields, i);
    let hemisphere = field(fields, i + 1);
    if text.is_empty() {
        return Ok(None);
    }
    let ok_chars = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let (deg, min) = match (
        ok_chars,
        text.get(..degree_digits),
        text.get(degree_digits..),
    ) {
        (true, Some(d), Some(m)) if !m.is_empty() => (d, m),
        _ => return Err(malformed(sentence, i, text)),
    };
    let deg: f64 = deg.parse().map_err(|_| malformed(sentence, i, text))?;
    let min: f64 = min.parse().map_err(|_| malformed(sentence, i, text))?;
    let limit = if degree_digits == 2 { 90.0 } else { 180.0 };
    let value = deg + min / 60.0;
    if min >= 60.0 || value > limit {
        return Ok(None);
    }
    let sign = match hemisphere.chars().next() {
        Some(c) if c == positive && hemisphere.len() == 1 => 1.0,
        Some(c) if c == negative && hemisphere.len() == 1 => -1.0,
        _ => return Ok(None),
    };
    Ok(Some(sign * value))
}

/// Both coordinates; `None` (no fix) when either is absent or out of range, or at 0°, 0° (what
/// some receivers print before their first fix).
fn position(
    sentence: &'static str,
    fields: &[&str],
    lat_at: usize,
) -> Result<Option<(f64, f64)>, NmeaError> {
    let lat = coordinate(sentence, fields, lat_at, 2, 'N', 'S')?;
    let lon = coordinate(sentence, fields, lat_at + 2, 3, 'E', 'W')?;
    Ok(match (lat, lon) {
        (Some(lat), Some(lon)) if lat != 0.0 || lon != 0.0 => Some((lat, lon)),
        _ => None,
    })
}

fn gga(fields: &[&str]) -> Result<Option<Reading>, NmeaError> {
    let quality = field(fields, 6);
    let quality: u8 = match quality {
        "" => 0,
        q => q.parse().map_err(|_| malformed("GGA", 6, q))?,
    };
    let pos = position("GGA", fields, 2)?;
    // 0 = invalid, 6 = estimated (dead reckoning), 7 = manual, 8 = simulator: not a fix.
    let Some((lat, lon)) = pos.filter(|_| (1..=5).contains(&quality)) else {
        return Ok(None);
    };
    let satellites = field(fields, 7).parse::<u32>().ok();
    let hdop = field(fields, 8)
        .parse::<f64>()
        .ok()
        .filter(|h| h.is_finite() && *h > 0.0);
    Ok(Some(Reading {
        lat,
        lon,
        time_of_day_s: time_of_day(field(fields, 1)),
        satellites,
        hdop,
    }))
}

fn rmc(fields: &[&str]) -> Result<Option<Reading>, NmeaError> {
    let status = field(fields, 2);
    if !matches!(status, "A" | "V" | "") {
        return Err(malformed("RMC", 2, status));
    }
    let pos = position("RMC", fields, 3)?;
    // NMEA 2.3 mode indicator: N = not valid, E = estimated.
    let mode_ok = !matches!(field(fields, 12).chars().next(), Some('N' | 'E'));
    let Some((lat, lon)) = pos.filter(|_| status == "A" && mode_ok) else {
        return Ok(None);
    };
    Ok(Some(Reading {
        lat,
        lon,
        time_of_day_s: time_of_day(field(fields, 1)),
        satellites: None,
        hdop: None,
    }))
}

/// Turns lines into [`Outcome`]s. GGA is preferred (it carries satellites and HDOP); RMC
/// positions are used only when no GGA was seen for [`Decoder::GGA_MEMORY`].
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    last_gga: Option<Instant>,
}

impl Decoder {
    /// How long a GGA makes RMC positions redundant.
    pub(crate) const GGA_MEMORY: Duration = Duration::from_secs(3);

    /// Decodes one raw line received at `now`; `None` for an empty line.
    pub(crate) fn line(&mut self, raw: &[u8], now: Instant) -> Option<Outcome> {
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t.trim(),
            Err(_) => return Some(Outcome::Bad(NmeaError::Garbage.to_string())),
        };
        if text.is_empty() {
            return None;
        }
        Some(match parse_sentence(text) {
            Err(e) => Outcome::Bad(e.to_string()),
            Ok(None) => Outcome::Ignored,
            Ok(Some(Sentence::Gga(r))) => {
                self.last_gga = Some(now);
                r.map_or(Outcome::NoFix, Outcome::Reading)
            }
            Ok(Some(Sentence::Rmc(r))) => {
                let gga_recent = self
                    .last_gga
                    .is_some_and(|t| now.duration_since(t) < Self::GGA_MEMORY);
                match r {
                    _ if gga_recent => Outcome::Ignored,
                    Some(r) => Outcome::Reading(r),
                    None => Outcome::NoFix,
                }
            }
        })
    }
}

/// Reads sentences from a blocking byte source until it ends or fails, handing every outcome
/// to `sink`; stops early (returning `Ok`) when `sink` returns `false`. Read timeouts are
/// silence, not errors: the fix-loss clock handles silence.
///
/// # Errors
/// The I/O error that ended the source (a serial device that went away).
pub(crate) fn read_sentences<R: Read>(
    source: R,
    mut sink: impl FnMut(Outcome) -> bool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(source);
    let mut decoder = Decoder::default();
    let mut line = Vec::with_capacity(MAX_LINE);
    let mut overlong = false;
    loop {
        let budget = (MAX_LINE + 1).saturating_sub(line.len()) as u64;
        match (&mut reader).take(budget).read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                if !sink(Outcome::Idle) {
                    return Ok(());
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() <= MAX_LINE {
            // read_until stops short of a newline only at the end of the input.
            if let Some(o) = decoder.line(&line, Instant::now()) {
                sink(o);
            }
            return Ok(());
        }
        if !complete {
            // Too long: drop it and everything up to the next newline.
            overlong = true;
            line.clear();
            continue;
        }
        let outcome = if overlong {
            overlong = false;
            Some(Outcome::Bad(NmeaError::Garbage.to_string()))
        } else {
            decoder.line(&line, Instant::now())
        };
        line.clear();
        if let Some(o) = outcome
            && !sink(o)
        {
            return Ok(());
        }
    }
}

/// The serial reader: opens `device`, reads it until it fails, reports the failure, waits
/// with back-off and reopens; ends when the receiving side of `tx` is gone.
pub(crate) fn run_serial(device: PathBuf, baud: u32, tx: mpsc::Sender<Event>) {
    let name = device.display().to_string();
    let mut attempt = 0u32;
    loop {
        if tx.is_closed() {
            return;
        }
        if attempt > 0 && tx.blocking_send(Event::Reconnecting).is_err() {
            return;
        }
        let opened = serialport::new(name.as_str(), baud)
            .timeout(Duration::from_millis(250))
            .open();
        let reason = match opened {
            Ok(port) => {
                log::info!("GPS: reading NMEA from {name} at {baud} baud");
                if tx.blocking_send(Event::Up).is_err() {
                    return;
                }
                attempt = 0;
                let read = read_sentences(port, |o| tx.blocking_send(Event::Line(o)).is_ok());
                match read {
                    Ok(()) if tx.is_closed() => return,
                    Ok(()) => format!("{name}: end of input"),
                    Err(e) => format!("{name}: {e}"),
                }
            }
            Err(e) => format!("cannot open {name}: {e}"),
        };
        if tx.blocking_send(Event::Down(reason)).is_err() {
            return;
        }
        let wait = backoff(attempt);
        attempt = attempt.saturating_add(1);
        // Sleep in slices so a reload or shutdown is not held up by a long back-off.
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if tx.is_closed() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
#[path = "nmea_tests.rs"]
mod tests;
