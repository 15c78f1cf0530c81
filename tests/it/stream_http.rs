//! `/stream<id>.mp3` over real HTTP: a feed registered in the daemon's registry, fed by a
//! paced LAME-encoded sine ([`ToneSource`]), read by raw TCP clients (so the exact bytes and
//! framing are visible) and checked with ffprobe/ffmpeg.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use roundwared::testing::output::feed::Feed;
use roundwared::testing::output::tone::ToneSource;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestServer;

const TITLE: &str = "Roundware - audiotrack=1&remaining=3&asset=5&tags=1%2C2";

/// A live feed with a tone, registered as stream `id`, with its burst already filled.
async fn live_feed(s: &TestServer, id: i64, kbps: u32) -> (Feed, ToneSource) {
    let feed = Feed::new(kbps);
    s.feeds.insert(id, feed.clone());
    let tone = ToneSource::start(feed.clone(), 440.0, TITLE).expect("tone starts");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    (feed, tone)
}

/// A raw HTTP client: the response head parsed, the socket left open for the body.
struct RawResponse {
    status_line: String,
    headers: HashMap<String, String>,
    sock: TcpStream,
    /// Body bytes that arrived with the head.
    early: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Reads body bytes until `n` have arrived (or the body ends).
    async fn read_body(&mut self, n: usize) -> Vec<u8> {
        let mut body = std::mem::take(&mut self.early);
        let mut buf = vec![0u8; 64 * 1024];
        while body.len() < n {
            let got = tokio::time::timeout(Duration::from_secs(10), self.sock.read(&mut buf))
                .await
                .expect("body keeps flowing")
                .expect("read");
            if got == 0 {
                break;
            }
            body.extend_from_slice(&buf[..got]);
        }
        body
    }

    /// Reads whatever arrives during `window`.
    async fn read_for(&mut self, window: Duration) -> Vec<u8> {
        let mut body = std::mem::take(&mut self.early);
        let mut buf = vec![0u8; 64 * 1024];
        let end = Instant::now() + window;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match tokio::time::timeout(left, self.sock.read(&mut buf)).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(got)) => body.extend_from_slice(&buf[..got]),
                Ok(Err(e)) => panic!("read: {e}"),
            }
        }
        body
    }

    /// Waits for the end of the body (EOF), at most `limit`; returns whether it ended.
    async fn ends_within(&mut self, limit: Duration) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match tokio::time::timeout(left, self.sock.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

async fn connect(s: &TestServer) -> TcpStream {
    let addr = s.base.trim_start_matches("http://").to_string();
    TcpStream::connect(addr).await.expect("connect")
}

async fn request_on(mut sock: TcpStream, method: &str, path: &str, extra: &str) -> RawResponse {
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: box.local\r\nUser-Agent: test\r\n{extra}\r\n");
    sock.write_all(req.as_bytes()).await.expect("send request");
    let mut head = Vec::new();
    let mut buf = vec![0u8; 8192];
    let split = loop {
        let got = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .expect("head arrives")
            .expect("read head");
        assert!(got > 0, "connection closed before the head: {head:?}");
        head.extend_from_slice(&buf[..got]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let early = head[split + 4..].to_vec();
    let text = String::from_utf8(head[..split].to_vec()).expect("ascii head");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    RawResponse {
        status_line,
        headers,
        sock,
        early,
    }
}

async fn request(s: &TestServer, method: &str, path: &str, extra: &str) -> RawResponse {
    request_on(connect(s).await, method, path, extra).await
}

/// The MPEG-1 Layer III frame length of the header at `b` (an independent re-implementation
/// of the table, so a wrong encoder splitter cannot hide behind its own parser).
fn frame_len(b: &[u8]) -> Option<usize> {
    if b.len() < 4 || b[0] != 0xFF || b[1] & 0xFE != 0xFA {
        return None; // MPEG-1, Layer III, with or without CRC
    }
    let kbps = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ]
    .get(usize::from(b[2] >> 4))
    .copied()?;
    if (b[2] >> 2) & 3 != 0 || kbps == 0 {
        return None; // 44.1 kHz only
    }
    Some(144 * kbps * 1000 / 44_100 + usize::from((b[2] >> 1) & 1))
}

/// Walks `audio` frame by frame; returns (frames, bytes left over as an unfinished last
/// frame). Panics naming the offset where something that is not a frame starts.
fn walk_frames(audio: &[u8]) -> (usize, usize) {
    let mut pos = 0;
    let mut frames = 0;
    while pos + 4 <= audio.len() {
        let len = frame_len(&audio[pos..])
            .unwrap_or_else(|| panic!("no MP3 frame header at byte {pos} of {}", audio.len()));
        if pos + len > audio.len() {
            break;
        }
        pos += len;
        frames += 1;
    }
    (frames, audio.len() - pos)
}

/// Splits an ICY body into (audio, metadata blocks); each block is the text without padding.
fn split_icy(body: &[u8], metaint: usize) -> (Vec<u8>, Vec<String>) {
    let mut audio = Vec::new();
    let mut blocks = Vec::new();
    let mut pos = 0;
    while pos + metaint < body.len() {
        audio.extend_from_slice(&body[pos..pos + metaint]);
        pos += metaint;
        let len = usize::from(body[pos]) * 16;
        if pos + 1 + len > body.len() {
            break;
        }
        let text = &body[pos + 1..pos + 1 + len];
        let trimmed: Vec<u8> = text.iter().copied().take_while(|&b| b != 0).collect();
        assert!(
            text[trimmed.len()..].iter().all(|&b| b == 0),
            "padding is zeros"
        );
        blocks.push(String::from_utf8(trimmed).expect("utf-8 title"));
        pos += 1 + len;
    }
    (audio, blocks)
}

#[tokio::test]
async fn a_plain_request_gets_icecast_headers_no_chunking_and_frames_back_to_back() {
    let s = TestServer::start().await;
    let (_feed, _tone) = live_feed(&s, 7, 128).await;
    let mut r = request(&s, "GET", "/stream7.mp3", "Origin: http://phone.local\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.0 200 OK");
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("cache-control"), Some("no-cache, no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("expires"), Some("Mon, 26 Jul 1997 05:00:00 GMT"));
    assert_eq!(r.header("server"), Some("roundwared"));
    assert_eq!(r.header("icy-br"), Some("128"));
    assert_eq!(r.header("icy-pub"), Some("0"));
    assert!(r.header("icy-name").is_some_and(|v| !v.is_empty()));
    assert!(r.header("icy-description").is_some());
    assert!(r.header("icy-genre").is_some());
    assert_eq!(r.header("icy-metaint"), None, "no ICY unless asked");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let expose = r
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        expose.contains("icy-br") && expose.contains("icy-metaint"),
        "{expose}"
    );

    // The burst: well over the 0.5 s that real time would deliver in the first 0.5 s.
    let burst = r.read_for(Duration::from_millis(500)).await;
    assert!(burst.len() >= 20_000, "burst of {} bytes", burst.len());
    assert_eq!(burst[0], 0xFF);
    assert_eq!(burst[1] & 0xE0, 0xE0, "first body byte is a frame sync");
    let mut body = burst;
    r.early = body.split_off(0);
    let body = r.read_body(64_000).await;
    let (frames, _) = walk_frames(&body);
    assert!(frames > 140, "{frames} frames");
    s.stop().await;
}

#[tokio::test]
async fn icy_blocks_come_every_16000_bytes_with_the_title_first_then_zeros_until_it_changes() {
    let s = TestServer::start().await;
    let (_feed, tone) = live_feed(&s, 3, 320).await;
    let mut r = request(&s, "GET", "/stream3.mp3", "Icy-MetaData: 1\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.0 200 OK");
    assert_eq!(r.header("icy-metaint"), Some("16000"));
    assert_eq!(r.header("icy-br"), Some("320"));

    // Three blocks with the first title.
    let first = r.read_body(3 * 16_000 + 200).await;
    let (audio, blocks) = split_icy(&first, 16_000);
    assert!(blocks.len() >= 2, "{blocks:?}");
    assert_eq!(blocks[0], format!("StreamTitle='{TITLE}';"));
    assert!(blocks[1..].iter().all(String::is_empty), "{blocks:?}");
    // Without the blocks, the audio is MP3 frames back to back from the first byte.
    walk_frames(&audio);

    tone.set_title("Roundware - audiotrack=1&remaining=2&asset=6&tags=3");
    r.early = first;
    let more = r.read_body(8 * 16_017).await;
    let (audio, blocks) = split_icy(&more, 16_000);
    walk_frames(&audio);
    let changed: Vec<&String> = blocks.iter().filter(|b| !b.is_empty()).collect();
    assert_eq!(
        changed,
        [
            &format!("StreamTitle='{TITLE}';"),
            &"StreamTitle='Roundware - audiotrack=1&remaining=2&asset=6&tags=3';".to_string()
        ],
        "the title once at the start and once when it changed: {blocks:?}"
    );
    s.stop().await;
}

/// Players ask for the stream first thing on a connection of its own, and the feed's fan-out
/// writer serves them; a stream asked for later on a kept-alive connection is hyper's. Both
/// must be the same answer.
#[tokio::test]
async fn a_stream_asked_for_after_another_request_on_a_kept_alive_connection_gets_the_same_answer()
{
    let s = TestServer::start().await;
    let (_feed, _tone) = live_feed(&s, 8, 128).await;
    let extra = "Icy-MetaData: 1\r\nOrigin: http://phone.local\r\n";
    let mut fresh = request(&s, "GET", "/stream8.mp3", extra).await;

    let mut api = request(&s, "GET", "/api/2/", "").await;
    let length: usize = api
        .header("content-length")
        .expect("a sized answer")
        .parse()
        .unwrap();
    assert_eq!(api.read_body(length).await.len(), length);
    let mut reused = request_on(api.sock, "GET", "/stream8.mp3", extra).await;

    assert_eq!(reused.status_line, fresh.status_line);
    let without_date = |r: &RawResponse| {
        let mut h = r.headers.clone();
        assert!(h.remove("date").is_some(), "a Date header");
        h
    };
    assert_eq!(without_date(&reused), without_date(&fresh));
    for r in [&mut fresh, &mut reused] {
        let body = r.read_body(2 * 16_000 + 100).await;
        let (audio, blocks) = split_icy(&body, 16_000);
        assert_eq!(blocks[0], format!("StreamTitle='{TITLE}';"));
        walk_frames(&audio);
    }
    s.stop().await;
}

#[tokio::test]
async fn head_preflight_unknown_and_closed_streams_answer_without_a_body() {
    let s = TestServer::start().await;
    let feed = Feed::new(128);
    s.feeds.insert(5, feed.clone());

    let head = s.client.head(s.url("/stream5.mp3")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "audio/mpeg");
    assert_eq!(head.headers()["icy-br"], "128");
    assert_eq!(feed.stats().clients_total, 0, "HEAD is not a listener");

    let preflight = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/stream5.mp3"))
        .header("Origin", "http://phone.local")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "icy-metadata")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        methods.contains("GET") && methods.contains("HEAD"),
        "{methods}"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("icy-metadata"), "{allowed}");

    let unknown = s.get("/stream999.mp3", None).await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("stream 999"),
        "{}",
        unknown.body
    );
    assert_eq!(s.get("/streamabc.mp3", None).await.status, 404);
    assert_eq!(s.get("/stream5.ogg", None).await.status, 404);
    assert_eq!(
        s.post("/stream5.mp3", None, serde_json::json!({}))
            .await
            .status,
        405
    );

    feed.close();
    let closed = s.get("/stream5.mp3", None).await;
    assert_eq!(closed.status, 404);
    assert!(closed.body["detail"].as_str().unwrap().contains("stream 5"));
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_skipped_ahead_while_another_keeps_real_time() {
    let s = TestServer::start().await;
    let (feed, _tone) = live_feed(&s, 9, 128).await;
    const RATE: usize = 16_000; // bytes per second at 128 kbps

    // The stalled client keeps a small receive buffer, so the backlog is the server's.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
    sock.connect(&addr.into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let stalled_sock = TcpStream::from_std(sock.into()).unwrap();
    let mut stalled = request_on(stalled_sock, "GET", "/stream9.mp3", "").await;
    let mut steady = request(&s, "GET", "/stream9.mp3", "").await;

    let pause = Duration::from_secs(12);
    let started = Instant::now();
    let steady_bytes = steady.read_for(pause).await;
    let elapsed_s = started.elapsed().as_secs_f64();
    walk_frames(&steady_bytes);
    let expected = RATE as f64 * elapsed_s;
    assert!(
        steady_bytes.len() as f64 > expected * 0.9,
        "the reading client got {} bytes in {elapsed_s:.1} s",
        steady_bytes.len()
    );

    // Everything queued for the stalled client arrives at once when it reads again; without
    // the lag policy that would be all 12 s (192000 bytes) plus the burst.
    let resumed = stalled.read_for(Duration::from_millis(1000)).await;
    assert!(
        resumed.len() < RATE * 9,
        "stalled client got a backlog of {} bytes ({:.1} s)",
        resumed.len(),
        resumed.len() as f64 / RATE as f64
    );
    assert!(resumed.len() > RATE, "it still gets audio");
    // The skip happened on a frame boundary: the bytes still parse back to back.
    walk_frames(&resumed);
    assert!(feed.stats().lag_skips >= 1, "{:?}", feed.stats());
    s.stop().await;
}

#[tokio::test]
async fn close_ends_every_body_and_leaving_clients_stop_counting() {
    let s = TestServer::start().await;
    let (feed, _tone) = live_feed(&s, 4, 64).await;
    let mut a = request(&s, "GET", "/stream4.mp3", "Icy-MetaData: 1\r\n").await;
    let mut b = request(&s, "GET", "/stream4.mp3", "").await;
    let c = request(&s, "GET", "/stream4.mp3", "").await;
    a.read_body(1000).await;
    b.read_body(1000).await;
    assert_eq!(feed.listeners(), 3);

    drop(c);
    let deadline = Instant::now() + Duration::from_secs(3);
    while feed.listeners() != 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        feed.listeners(),
        2,
        "a client that left is no longer counted"
    );

    feed.close();
    assert!(a.ends_within(Duration::from_secs(2)).await);
    assert!(b.ends_within(Duration::from_secs(2)).await);
    let stats = feed.stats();
    assert_eq!(stats.listeners, 0);
    assert_eq!(stats.clients_total, 3);
    assert!(stats.bytes_sent > 2000);
    s.stop().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_open_stream_bodies() {
    let s = TestServer::start().await;
    let (feed, _tone) = live_feed(&s, 2, 128).await;
    let mut r = request(&s, "GET", "/stream2.mp3", "").await;
    r.read_body(1000).await;
    tokio::time::timeout(Duration::from_secs(5), s.stop())
        .await
        .expect("the daemon stops with a listener connected");
    assert!(feed.is_closed());
    assert!(r.ends_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn ffprobe_and_ffmpeg_read_the_stream_as_44100_hz_stereo_mp3_at_the_asked_bitrate() {
    let s = TestServer::start().await;
    let (_feed, _tone) = live_feed(&s, 11, 192).await;
    let url = s.url("/stream11.mp3");
    let dir = tempfile::tempdir().unwrap();

    // Straight from the URL (ffmpeg's HTTP input asks for ICY metadata and strips it).
    let probe_url = url.clone();
    let probe = tokio::task::spawn_blocking(move || {
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_name,sample_rate,channels,bit_rate")
            .args(["-of", "json", "-read_intervals", "%+2"])
            .arg(&probe_url)
            .output()
            .expect("ffprobe runs (install ffmpeg)")
    })
    .await
    .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    let stream = &json["streams"][0];
    assert_eq!(stream["codec_name"], "mp3", "{json}");
    assert_eq!(stream["sample_rate"], "44100");
    assert_eq!(stream["channels"], 2);
    assert_eq!(stream["bit_rate"], "192000");

    // A captured body decodes without a single error.
    let mut r = request(&s, "GET", "/stream11.mp3", "").await;
    let body = r.read_body(3 * 24_000).await;
    let cap = dir.path().join("cap.mp3");
    std::fs::write(&cap, &body).unwrap();
    let decode = tokio::task::spawn_blocking(move || {
        std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&cap)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg runs")
    })
    .await
    .unwrap();
    assert!(decode.status.success());
    let errors = String::from_utf8_lossy(&decode.stderr);
    // The last frame of a capture cut mid-frame may be reported; nothing else.
    assert!(
        errors.lines().filter(|l| !l.trim().is_empty()).count() <= 1,
        "{errors}"
    );
    s.stop().await;
}
