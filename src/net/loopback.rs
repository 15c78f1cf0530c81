//! A small HTTP server on loopback for tests of the box's outgoing requests: real TCP, one
//! thread per connection, an answer chosen by the request's path, every request head kept.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the server sends for one request: a head, then a body (close-delimited, as Icecast
/// sends a stream), in pieces with a pause after each, then the connection held open.
#[derive(Clone)]
pub(crate) struct Reply {
    head: String,
    body: Vec<u8>,
    piece_bytes: usize,
    pause: Duration,
    hold: Duration,
}

impl Reply {
    /// `HTTP/1.0 200 OK` with `content_type` (none when empty) and `body`, sent at once.
    pub(crate) fn ok(content_type: &str, body: Vec<u8>) -> Self {
        let head = if content_type.is_empty() {
            "HTTP/1.0 200 OK\r\n".to_owned()
        } else {
            format!("HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\n")
        };
        Self {
            head,
            piece_bytes: body.len().max(1),
            body,
            pause: Duration::ZERO,
            hold: Duration::ZERO,
        }
    }

    /// An answer without a body: `status` (`302 Found`) and `headers` (`Location: /x\r\n`).
    pub(crate) fn status(status: &str, headers: &str) -> Self {
        Self {
            head: format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n"
            ),
            ..Self::ok("", Vec::new())
        }
    }

    /// Sends the body `piece_bytes` at a time, pausing `pause` after each piece.
    pub(crate) fn trickled(mut self, piece_bytes: usize, pause: Duration) -> Self {
        self.piece_bytes = piece_bytes.max(1);
        self.pause = pause;
        self
    }

    /// Announces a body of `bytes` (more than is sent: the body is then cut off).
    pub(crate) fn claiming_length(mut self, bytes: usize) -> Self {
        self.head.push_str(&format!("Content-Length: {bytes}\r\n"));
        self
    }

    /// Keeps the connection open, sending nothing, for `hold` after the body.
    pub(crate) fn then_silent_for(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }
}

/// A running loopback server (its threads end with the test process).
pub(crate) struct Loopback {
    base: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Loopback {
    /// Starts a server answering each request with `answer(path)`.
    pub(crate) fn start(answer: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let kept = heads.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (answer, kept) = (answer.clone(), kept.clone());
                std::thread::spawn(move || serve(conn, &*answer, &kept));
            }
        });
        Self { base, heads }
    }

    /// The URL of `path` (`/bed.mp3`) on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The request heads received so far, in order, with header names in lower case.
    pub(crate) fn heads(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Reads one request head, keeps it, and sends the reply.
fn serve(mut conn: TcpStream, answer: &dyn Fn(&str) -> Reply, heads: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    heads
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(head.to_ascii_lowercase());
    let reply = answer(&path);
    if conn
        .write_all(format!("{}\r\n", reply.head).as_bytes())
        .is_err()
    {
        return;
    }
    for piece in reply.body.chunks(reply.piece_bytes) {
        if conn.write_all(piece).and_then(|()| conn.flush()).is_err() {
            return;
        }
        std::thread::sleep(reply.pause);
    }
    std::thread::sleep(reply.hold);
}
