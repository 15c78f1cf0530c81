//! Helpers of the upload tests: test signals (WAV written here, MP3 from the daemon's
//! encoder, other formats from ffmpeg), ffprobe, multipart requests and media-folder checks.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::support::{Reply, TestServer};

// ---------------------------------------------------------------------------------------
// Test signals

#[derive(Clone, Copy, Debug)]
pub enum Fmt {
    Pcm16,
    Pcm24,
    Pcm32,
    Float,
    /// PCM16 in a WAVE_FORMAT_EXTENSIBLE header.
    Extensible,
}

/// A WAV of a 440 Hz tone.
pub fn wav(rate: u32, channels: u16, fmt: Fmt, seconds: f64) -> Vec<u8> {
    let frames = (f64::from(rate) * seconds).round() as usize;
    let bits: u16 = match fmt {
        Fmt::Pcm16 | Fmt::Extensible => 16,
        Fmt::Pcm24 => 24,
        Fmt::Pcm32 | Fmt::Float => 32,
    };
    let block = channels * bits / 8;
    let mut data = Vec::with_capacity(frames * usize::from(block));
    for i in 0..frames {
        let v = 0.5 * (i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin();
        for _ in 0..channels {
            match fmt {
                Fmt::Pcm16 | Fmt::Extensible => {
                    data.extend_from_slice(&((v * 32767.0) as i16).to_le_bytes())
                }
                Fmt::Pcm24 => {
                    data.extend_from_slice(&((v * 8_388_607.0) as i32).to_le_bytes()[..3])
                }
                Fmt::Pcm32 => data.extend_from_slice(&((v * 2_147_483_647.0) as i32).to_le_bytes()),
                Fmt::Float => data.extend_from_slice(&(v as f32).to_le_bytes()),
            }
        }
    }
    let mut fmt_chunk = Vec::new();
    let tag: u16 = match fmt {
        Fmt::Float => 3,
        Fmt::Extensible => 0xFFFE,
        _ => 1,
    };
    fmt_chunk.extend_from_slice(&tag.to_le_bytes());
    fmt_chunk.extend_from_slice(&channels.to_le_bytes());
    fmt_chunk.extend_from_slice(&rate.to_le_bytes());
    fmt_chunk.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    fmt_chunk.extend_from_slice(&block.to_le_bytes());
    fmt_chunk.extend_from_slice(&bits.to_le_bytes());
    if let Fmt::Extensible = fmt {
        fmt_chunk.extend_from_slice(&22u16.to_le_bytes());
        fmt_chunk.extend_from_slice(&bits.to_le_bytes());
        let mask: u32 = if channels == 1 { 0x4 } else { 0x3 };
        fmt_chunk.extend_from_slice(&mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM
        fmt_chunk.extend_from_slice(&[
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38,
            0x9B, 0x71,
        ]);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((4 + 8 + fmt_chunk.len() + 8 + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&(fmt_chunk.len() as u32).to_le_bytes());
    out.extend_from_slice(&fmt_chunk);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// An MP3 made by the daemon's own encoder.
pub fn mp3(rate: u32, channels: u16, seconds: f64) -> Vec<u8> {
    let bytes = wav(rate, channels, Fmt::Float, seconds);
    let pcm = roundwared::testing::media::decode::decode(bytes.into(), 3600.0).unwrap();
    roundwared::testing::media::encode::mp3(&pcm, mp3lame_encoder::Bitrate::Kbps128).unwrap()
}

/// A file made by ffmpeg from a sine source: `args` are the output options.
pub fn ffmpeg(seconds: f64, rate: u32, channels: u16, args: &[&str], ext: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("out.{ext}"));
    let src = format!("sine=frequency=440:sample_rate={rate}:duration={seconds}");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", &src]);
    cmd.args(["-ac", &channels.to_string()]);
    cmd.args(args).arg(&out);
    let status = cmd
        .status()
        .expect("ffmpeg is installed (tests/install-deps.sh)");
    assert!(status.success(), "ffmpeg {args:?}");
    std::fs::read(out).unwrap()
}

/// ffprobe's view of a file: (codec, sample rate, channels, duration).
pub fn probe(path: &Path) -> (String, u32, u64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
        .args([
            "stream=codec_name,sample_rate,channels:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {}", path.display());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap().to_string(),
        s["sample_rate"].as_str().unwrap().parse().unwrap(),
        s["channels"].as_u64().unwrap(),
        v["format"]["duration"].as_str().unwrap().parse().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------
// Requests

pub enum P<'a> {
    T(&'a str, &'a str),
    F(&'a str, Option<&'a str>, &'a str, Vec<u8>),
}

pub async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    parts: Vec<P<'_>>,
) -> Reply {
    let mut form = Form::new();
    for p in parts {
        form = match p {
            P::T(k, v) => form.text(k.to_string(), v.to_string()),
            P::F(k, name, mime, bytes) => {
                let mut part = Part::bytes(bytes).mime_str(mime).unwrap();
                part = part.file_name(name.unwrap_or("").to_string());
                form.part(k.to_string(), part)
            }
        };
    }
    let mut req = s.client.request(method, s.url(path)).multipart(form);
    if let Some(t) = token {
        req = req.header("Authorization", format!("token {t}"));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

/// A new envelope of `session`, made by the session's owner.
pub async fn envelope(s: &TestServer, session: i64) -> i64 {
    let token = s.session_owner_token(session).await;
    s.post(
        "/api/2/envelopes/",
        Some(&token),
        json!({"session_id": session}),
    )
    .await
    .ok()["id"]
        .as_i64()
        .unwrap()
}

/// Uploads one audio file into a new envelope of session 1, as its owner.
pub async fn upload(s: &TestServer, bytes: Vec<u8>, name: &str) -> Reply {
    let e = envelope(s, 1).await;
    let token = s.session_owner_token(1).await;
    send(
        s,
        Method::PATCH,
        &format!("/api/2/envelopes/{e}/"),
        Some(&token),
        vec![
            P::T("session_id", "1"),
            P::F("file", Some(name), "application/octet-stream", bytes),
        ],
    )
    .await
}

pub fn media_dir(s: &TestServer) -> std::path::PathBuf {
    s.data_dir().join("media")
}

pub fn media_files(s: &TestServer) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(media_dir(s))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The media file named by the last path segment of a URL.
pub fn local(s: &TestServer, url: &str) -> std::path::PathBuf {
    media_dir(s).join(url.rsplit('/').next().unwrap())
}

/// `file` with its extension replaced by `.mp3`, as clients do.
pub fn mp3_of(file: &str) -> String {
    let dot = file.rfind('.').unwrap();
    format!("{}.mp3", &file[..dot])
}

/// Checks an audio asset answer: length, renditions on disk, MP3 at 44.1 kHz (an MP3
/// original is itself the client MP3 and keeps its own rate).
pub fn check_audio(s: &TestServer, a: &Value, seconds: f64, channels: u64) {
    assert!(a.get("detail").is_none(), "{a}");
    let len = a["audio_length_in_seconds"].as_f64().unwrap();
    assert!(
        (len - seconds).abs() <= 0.05,
        "length {len} vs {seconds}: {a}"
    );
    assert_eq!(a["start_time"], json!(0.0));
    assert!((a["end_time"].as_f64().unwrap() - seconds).abs() <= 0.05);
    let file = a["file"].as_str().unwrap();
    assert!(file.starts_with(&s.base), "absolute: {file}");
    assert!(local(s, file).exists(), "original stored");
    let (codec, rate, ch, dur) = probe(&local(s, &mp3_of(file)));
    assert_eq!(
        (codec.as_str(), rate, ch),
        (
            "mp3",
            if file.ends_with(".mp3") { rate } else { 44_100 },
            channels
        ),
        "{file}"
    );
    assert!(
        (dur - seconds).abs() <= 0.05,
        "mp3 duration {dur} vs {seconds}"
    );
    let filename = a["filename"].as_str().unwrap();
    let (codec, rate, ch, dur) = probe(&media_dir(s).join(filename));
    assert_eq!(
        (codec.as_str(), rate, ch),
        ("pcm_s16le", 44_100, channels),
        "{filename}"
    );
    assert!((dur - seconds).abs() <= 0.05, "wav duration {dur}");
}
