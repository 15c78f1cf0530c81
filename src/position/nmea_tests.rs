//! Fixture sentences through the parser, the decoder and the blocking reader.

use super::*;

/// Wraps a sentence body in `$…*hh` with its correct checksum.
fn with_checksum(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}")
}

const GGA: &str = "$GPGGA,100001.00,5231.2000,N,01324.3000,E,1,08,1.10,34.0,M,39.6,M,,*6F";

#[test]
fn a_good_gga_gives_position_satellites_hdop_and_time() {
    let Some(Sentence::Gga(Some(r))) = parse_sentence(GGA).unwrap() else {
        panic!("no reading");
    };
    assert!((r.lat - 52.52).abs() < 1e-9, "{}", r.lat);
    assert!((r.lon - 13.405).abs() < 1e-9, "{}", r.lon);
    assert_eq!(r.satellites, Some(8));
    assert_eq!(r.hdop, Some(1.1));
    assert_eq!(r.time_of_day_s, Some(36_001.0));
}

#[test]
fn a_good_rmc_gives_a_position_and_southern_western_hemispheres_are_negative() {
    let line = with_checksum("GNRMC,235959.50,A,3351.0000,S,07040.0000,W,2.5,90.0,010625,,,A");
    let Some(Sentence::Rmc(Some(r))) = parse_sentence(&line).unwrap() else {
        panic!("no reading from {line}");
    };
    assert!((r.lat + 33.85).abs() < 1e-9);
    assert!((r.lon + 70.666_666_666).abs() < 1e-6);
    assert_eq!(r.time_of_day_s, Some(86_399.5));
}

#[test]
fn a_wrong_checksum_is_an_error_not_a_position() {
    let bad = GGA.replace("*6F", "*6E");
    assert!(matches!(
        parse_sentence(&bad),
        Err(NmeaError::BadChecksum { .. })
    ));
    // A changed digit with the old checksum.
    let moved = GGA.replace("5231.2000", "5231.2001");
    assert!(parse_sentence(&moved).is_err());
    let no_sum = GGA.split('*').next().unwrap_or_default();
    assert_eq!(parse_sentence(no_sum), Err(NmeaError::NoChecksum));
}

#[test]
fn garbage_is_an_error() {
    for line in ["", "hello", "\u{1}\u{2}\u{3}", "$GPGGA,1*zz", "GPGGA,*00"] {
        assert!(parse_sentence(line).is_err(), "{line:?}");
    }
    let long = with_checksum(&format!("GPGGA,{}", "1".repeat(300)));
    assert_eq!(parse_sentence(&long), Err(NmeaError::Garbage));
    let letters = with_checksum("GPGGA,100001.00,52x1.2000,N,01324.3000,E,1,08,1.10,34.0,M,,M,,");
    assert!(matches!(
        parse_sentence(&letters),
        Err(NmeaError::Malformed { field: 2, .. })
    ));
}

#[test]
fn invalid_coordinates_quality_zero_and_void_status_are_no_fix() {
    for body in [
        // quality 0
        "GPGGA,100001.00,5231.2000,N,01324.3000,E,0,00,99.99,,M,,M,,",
        // empty position (indoors)
        "GPGGA,100001.00,,,,,0,00,99.99,,M,,M,,",
        // latitude over 90
        "GPGGA,100001.00,9131.2000,N,01324.3000,E,1,08,1.10,34.0,M,,M,,",
        // minutes of 60 or more
        "GPGGA,100001.00,5261.0000,N,01324.3000,E,1,08,1.10,34.0,M,,M,,",
        // hemisphere missing
        "GPGGA,100001.00,5231.2000,,01324.3000,E,1,08,1.10,34.0,M,,M,,",
        // 0°, 0° before the first fix
        "GPGGA,100001.00,0000.0000,N,00000.0000,E,1,00,,,M,,M,,",
        // dead reckoning
        "GPGGA,100001.00,5231.2000,N,01324.3000,E,6,08,1.10,34.0,M,,M,,",
    ] {
        let line = with_checksum(body);
        assert_eq!(
            parse_sentence(&line),
            Ok(Some(Sentence::Gga(None))),
            "{line}"
        );
    }
    for body in [
        "GPRMC,100001.00,V,,,,,,,010625,,,N",
        "GPRMC,100001.00,V,5231.2000,N,01324.3000,E,2.5,90.0,010625,,,A",
        "GPRMC,100001.00,A,5231.2000,N,18124.3000,E,2.5,90.0,010625,,,A",
        "GPRMC,100001.00,A,5231.2000,N,01324.3000,E,2.5,90.0,010625,,,N",
    ] {
        let line = with_checksum(body);
        assert_eq!(
            parse_sentence(&line),
            Ok(Some(Sentence::Rmc(None))),
            "{line}"
        );
    }
}

#[test]
fn other_sentence_types_are_ignored() {
    let gsa = with_checksum("GPGSA,A,3,02,05,12,15,18,24,25,29,,,,,1.90,1.10,1.55");
    assert_eq!(parse_sentence(&gsa), Ok(None));
}

#[test]
fn the_decoder_prefers_gga_over_rmc_in_the_same_epoch() {
    let mut d = Decoder::default();
    let t0 = Instant::now();
    let rmc = with_checksum("GPRMC,100001.00,A,5231.2000,N,01324.3000,E,2.5,90.0,010625,,,A");
    assert!(matches!(
        d.line(rmc.as_bytes(), t0),
        Some(Outcome::Reading(_))
    ));
    assert!(matches!(
        d.line(GGA.as_bytes(), t0),
        Some(Outcome::Reading(_))
    ));
    assert_eq!(d.line(rmc.as_bytes(), t0), Some(Outcome::Ignored));
    let later = t0 + Decoder::GGA_MEMORY + Duration::from_millis(1);
    assert!(matches!(
        d.line(rmc.as_bytes(), later),
        Some(Outcome::Reading(_))
    ));
    assert_eq!(d.line(b"  \r\n", t0), None);
    assert!(matches!(
        d.line(&[0xff, 0xfe, b'$'], t0),
        Some(Outcome::Bad(_))
    ));
}

#[test]
fn the_reader_counts_every_line_and_survives_garbage_and_overlong_lines() {
    let mut input = Vec::new();
    input.extend_from_slice(format!("{GGA}\r\n").as_bytes());
    input.extend_from_slice(&[0x00, 0xff, 0x13, b'\n']);
    input.extend_from_slice(&[b'x'; 700]);
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(GGA.replace("*6F", "*00").as_bytes());
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(GGA.as_bytes()); // last line without a newline
    let mut got = Vec::new();
    read_sentences(input.as_slice(), |o| {
        got.push(o);
        true
    })
    .unwrap();
    let kinds: Vec<&str> = got
        .iter()
        .map(|o| match o {
            Outcome::Reading(_) => "fix",
            Outcome::Bad(_) => "bad",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["fix", "bad", "bad", "bad", "fix"]);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A GGA sentence for a fix at `lat`, `lon` (degrees and minutes), with its checksum.
    fn gga(lat: (u32, f64), ns: char, lon: (u32, f64), ew: char) -> String {
        with_checksum(&format!(
            "GPGGA,123519.00,{:02}{:07.4},{ns},{:03}{:07.4},{ew},1,08,0.9,545.4,M,46.9,M,,",
            lat.0, lat.1, lon.0, lon.1
        ))
    }

    fn minutes() -> impl Strategy<Value = f64> {
        (0u32..600_000).prop_map(|m| f64::from(m) / 10_000.0)
    }

    proptest! {
        #![proptest_config(crate::proptest_config())]

        #[test]
        fn any_bytes_are_an_outcome_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..240)) {
            let _ = Decoder::default().line(&bytes, Instant::now());
            let _ = parse_sentence(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn any_text_after_a_dollar_is_an_outcome_never_a_panic(body in "[ -~]{0,120}") {
            let _ = parse_sentence(&with_checksum(&body));
            let _ = parse_sentence(&format!("${body}"));
        }

        #[test]
        fn a_gga_with_a_correct_checksum_gives_its_position(
            lat in (1u32..90, minutes()), ns in prop::sample::select(vec!['N', 'S']),
            lon in (0u32..180, minutes()), ew in prop::sample::select(vec!['E', 'W']),
        ) {
            let line = gga(lat, ns, lon, ew);
            let Some(Sentence::Gga(Some(r))) = parse_sentence(&line).unwrap() else {
                panic!("no reading from {line}");
            };
            let want_lat = (f64::from(lat.0) + lat.1 / 60.0) * if ns == 'S' { -1.0 } else { 1.0 };
            let want_lon = (f64::from(lon.0) + lon.1 / 60.0) * if ew == 'W' { -1.0 } else { 1.0 };
            prop_assert!((r.lat - want_lat).abs() < 1e-9, "{} vs {}", r.lat, want_lat);
            prop_assert!((r.lon - want_lon).abs() < 1e-9, "{} vs {}", r.lon, want_lon);
            prop_assert_eq!(r.satellites, Some(8));
        }

        #[test]
        fn a_flipped_byte_in_a_good_sentence_is_rejected(
            lat in (1u32..90, minutes()), lon in (0u32..180, minutes()),
            at in any::<prop::sample::Index>(), mask in 1u8..=255,
        ) {
            let line = gga(lat, 'N', lon, 'E');
            let star = line.rfind('*').unwrap();
            let mut bytes = line.into_bytes();
            // a byte of the body, between `$` and `*`
            let i = 1 + at.index(star - 1);
            bytes[i] ^= mask;
            let outcome = Decoder::default().line(&bytes, Instant::now());
            prop_assert!(matches!(outcome, Some(Outcome::Bad(_))), "{:?}", outcome);
        }
    }
}
