//! One media object of a venue bucket into a file, for the apply loop, read with JetStream
//! direct gets and no consumer: the object's info (the last message on
//! `$O.<bucket>.M.<name>`), then its chunks (`$O.<bucket>.C.<nuid>`) in batched direct gets
//! (nats-server 2.11 and later; fleet mode asks for 2.14).
//! The object store's own `get` sets up an ordered consumer at the hub for every object, a
//! round trip across the leaf link and a consumer each, and with a few fetches at once the
//! hub refused them (nats-server's consumer limit, 10026).
//!
//! Nothing the server sends is trusted further than the catalogue: the info must name the
//! catalogue's size and digest, the chunks must be on the object's own subject, together no
//! longer than that size, and their SHA-256 (computed here as they are written) the digest.
//! The file is written to a temporary name, fsynced and renamed: whole or not at all.
//!
//! Owns: reading an object from its stream. May not touch: SQL, the catalogue, media names
//! (the caller checks them).

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, object_store::ObjectInfo};
use base64::Engine as _;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::MediaRef;
use crate::media::files::TempFile;

/// Chunks asked for in one direct get (128 KiB each as the object store writes them).
const BATCH_CHUNKS: usize = 64;
/// Bytes asked for in one direct get at most.
const BATCH_BYTES: usize = 8 << 20;
/// How long the server may leave a fetch without a word before it is given up.
const SILENCE: Duration = Duration::from_secs(5);
/// The longest object id (`nuid`) accepted: the object store's are 22 characters.
const MAX_NUID_CHARS: usize = 64;

/// Why an object did not arrive.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// The bucket has no such object (yet: a copy can lag the catalogue).
    #[error("no object {0:?} in the bucket")]
    Missing(String),
    /// The object is there, but not the one the catalogue names.
    #[error("the object is not the catalogue's: {0}")]
    NotTheCatalogues(String),
    /// What arrived is not the object its info describes.
    #[error("the object's chunks are wrong: {0}")]
    Corrupt(String),
    /// The server did not answer, or answered an error.
    #[error("the server: {0}")]
    Server(String),
    /// The file could not be written.
    #[error("writing the file: {0}")]
    Io(String),
}

/// Reads `m` from the stream of its bucket in `js`'s JetStream domain into `path`.
///
/// # Errors
/// [`FetchError`]; nothing is left at `path` then (a file already there stays as it was).
pub(crate) async fn fetch(
    js: &jetstream::Context,
    m: &MediaRef,
    path: &Path,
) -> Result<(), FetchError> {
    let info = info(js, m).await?;
    let dir = path.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| FetchError::Io(format!("{}: {e}", dir.display())))?;
    let temp =
        TempFile::create(dir).map_err(|e| FetchError::Io(format!("{}: {e}", dir.display())))?;
    let file = temp
        .file()
        .try_clone()
        .map_err(|e| FetchError::Io(e.to_string()))?;
    let mut out = Writer {
        file: tokio::fs::File::from_std(file),
        digest: sha256()?,
        bytes: 0,
        limit: m.size,
    };
    chunks(js, &m.bucket, &info, &mut out).await?;
    let Writer {
        mut file,
        digest,
        bytes,
        ..
    } = out;
    file.flush()
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?;
    drop(file);
    if bytes != m.size {
        return Err(FetchError::Corrupt(format!(
            "{bytes} bytes arrived of {}",
            m.size
        )));
    }
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::URL_SAFE.encode(digest.finish().as_ref())
    );
    if digest != m.digest {
        return Err(FetchError::Corrupt(format!(
            "their digest is {digest}, the catalogue's {}",
            m.digest
        )));
    }
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || temp.persist_as(&path))
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?
        .map_err(|e| FetchError::Io(e.to_string()))
}

/// SHA-256 (the object store's digest).
fn sha256() -> Result<ring::digest::Context, FetchError> {
    Ok(ring::digest::Context::new(&ring::digest::SHA256))
}

/// The object's info, if it is the object the catalogue names.
async fn info(js: &jetstream::Context, m: &MediaRef) -> Result<ObjectInfo, FetchError> {
    let stream = js
        .get_stream_no_info(format!("OBJ_{}", m.bucket))
        .await
        .map_err(|e| FetchError::Server(e.to_string()))?;
    let subject = format!(
        "$O.{}.M.{}",
        m.bucket,
        base64::engine::general_purpose::URL_SAFE.encode(&m.name)
    );
    let message = stream
        .direct_get_last_for_subject(subject)
        .await
        .map_err(|e| match e.kind() {
            jetstream::stream::DirectGetErrorKind::NotFound => FetchError::Missing(m.name.clone()),
            _ => FetchError::Server(e.to_string()),
        })?;
    let info: ObjectInfo = serde_json::from_slice(&message.payload)
        .map_err(|e| FetchError::NotTheCatalogues(format!("its info is not JSON: {e}")))?;
    check_info(&info, m)?;
    Ok(info)
}

/// Whether `info` describes `m`, stored as chunks this fetch reads.
fn check_info(info: &ObjectInfo, m: &MediaRef) -> Result<(), FetchError> {
    let differs = |what: String| Err(FetchError::NotTheCatalogues(what));
    if info.deleted {
        return Err(FetchError::Missing(m.name.clone()));
    }
    if info.name != m.name || info.bucket != m.bucket {
        return differs(format!(
            "its info names {:?} in {:?}",
            info.name, info.bucket
        ));
    }
    if info.size as u64 != m.size || info.digest.as_deref() != Some(m.digest.as_str()) {
        return differs(format!(
            "it is {} bytes with digest {:?}, the catalogue says {} and {:?}",
            info.size, info.digest, m.size, m.digest
        ));
    }
    if info.options.as_ref().is_some_and(|o| o.link.is_some()) {
        return differs("it is a link".into());
    }
    // Every chunk carries at least a byte: no more chunks than bytes.
    if info.chunks as u64 > m.size || (m.size > 0 && info.chunks == 0) {
        return differs(format!("{} chunks for {} bytes", info.chunks, m.size));
    }
    let nuid_ok = !info.nuid.is_empty()
        && info.nuid.len() <= MAX_NUID_CHARS
        && info.nuid.bytes().all(|b| b.is_ascii_alphanumeric());
    if !nuid_ok {
        return differs(format!("its id {:?} is not an object id", info.nuid));
    }
    Ok(())
}

/// Where the chunks go: the file, the digest, and the bytes so far (never past `limit`).
struct Writer {
    file: tokio::fs::File,
    digest: ring::digest::Context,
    bytes: u64,
    limit: u64,
}

impl Writer {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        self.bytes += chunk.len() as u64;
        if self.bytes > self.limit {
            return Err(FetchError::Corrupt(format!(
                "more than the {} bytes of the object",
                self.limit
            )));
        }
        self.digest.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| FetchError::Io(e.to_string()))
    }
}

/// The object's chunks, in order, into `out`: batched direct gets of the next chunks on the
/// object's subject, each answer's messages followed by an end-of-batch status (204).
async fn chunks(
    js: &jetstream::Context,
    bucket: &str,
    info: &ObjectInfo,
    out: &mut Writer,
) -> Result<(), FetchError> {
    if info.chunks == 0 {
        return Ok(());
    }
    let server = |e: &dyn std::fmt::Display| FetchError::Server(e.to_string());
    let subject = format!("$O.{bucket}.C.{}", info.nuid);
    let client = js.client();
    let inbox = client.new_inbox();
    let mut answers = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| server(&e))?;
    let mut got = 0;
    let mut from_seq = 1;
    while got < info.chunks {
        let ask = serde_json::json!({
            "seq": from_seq,
            "next_by_subj": subject,
            "batch": (info.chunks - got).min(BATCH_CHUNKS),
            "max_bytes": BATCH_BYTES,
        });
        let request = async_nats::client::Request::new()
            .inbox(inbox.clone())
            .payload(ask.to_string().into());
        js.send_request(format!("DIRECT.GET.OBJ_{bucket}"), request)
            .await
            .map_err(|e| server(&e))?;
        let before = got;
        loop {
            let answer = tokio::time::timeout(SILENCE, answers.next())
                .await
                .map_err(|_| FetchError::Server(format!("no answer within {SILENCE:?}")))?
                .ok_or_else(|| FetchError::Server("the connection closed".into()))?;
            match answer.status {
                None => {}
                // The end of this batch.
                Some(s) if u16::from(s) == 204 => break,
                Some(async_nats::StatusCode::NOT_FOUND) => {
                    return Err(FetchError::Corrupt(format!(
                        "{got} chunks of {} are there",
                        info.chunks
                    )));
                }
                Some(s) => {
                    return Err(FetchError::Server(format!(
                        "{s} {}",
                        answer.description.unwrap_or_default()
                    )));
                }
            }
            let header = |name: &str| {
                answer
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
            };
            if header("Nats-Subject").as_deref() != Some(subject.as_str()) {
                return Err(FetchError::Corrupt(format!(
                    "a chunk on {:?}",
                    header("Nats-Subject")
                )));
            }
            let seq = header("Nats-Sequence")
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|&s| s >= from_seq)
                .ok_or_else(|| FetchError::Corrupt("a chunk out of order".into()))?;
            if answer.payload.is_empty() || got == info.chunks {
                return Err(FetchError::Corrupt(format!(
                    "more than its {} chunks, or an empty one",
                    info.chunks
                )));
            }
            out.write(&answer.payload).await?;
            got += 1;
            from_seq = seq + 1;
        }
        if got == before {
            return Err(FetchError::Corrupt(format!(
                "{got} chunks of {} are there",
                info.chunks
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};

    use async_nats::HeaderMap;
    use async_nats::jetstream::object_store::{self, ObjectMetadata};

    use super::*;

    const BUCKET: &str = "media_b2";
    const NAME: &str = "20261207-101010-2000000000001.mp3";

    /// A JetStream nats-server from `RW_NATS_NEW` on a free port, killed when dropped.
    struct Server {
        child: Child,
        js: jetstream::Context,
        _dir: tempfile::TempDir,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// The server with an empty bucket `media_b2`, or `None` (printing why) without one.
    async fn server() -> Option<Server> {
        let Some(binary) = std::env::var_os("RW_NATS_NEW") else {
            eprintln!("skipped: RW_NATS_NEW names no nats-server (run tests/fleet/servers.sh)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let url = format!("nats://127.0.0.1:{port}");
        let mut tries = 0;
        let client = loop {
            match async_nats::connect(url.as_str()).await {
                Ok(c) => break c,
                Err(e) if tries > 100 => panic!("nats-server at {url}: {e}"),
                Err(_) => tries += 1,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let js = jetstream::new(client);
        js.create_object_store(object_store::Config {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        Some(Server {
            child,
            js,
            _dir: dir,
        })
    }

    /// Bytes different for every `seed`.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn digest_of(data: &[u8]) -> String {
        let mut d = sha256().unwrap();
        d.update(data);
        format!(
            "SHA-256={}",
            base64::engine::general_purpose::URL_SAFE.encode(d.finish().as_ref())
        )
    }

    /// The catalogue's description of `data` as object `NAME`.
    fn catalogued(data: &[u8]) -> MediaRef {
        MediaRef {
            name: NAME.into(),
            bucket: BUCKET.into(),
            size: data.len() as u64,
            digest: digest_of(data),
        }
    }

    /// Puts `data` as `NAME` the object store's way, in chunks of `chunk_bytes`.
    async fn put(js: &jetstream::Context, data: &[u8], chunk_bytes: usize) {
        let bucket = js.get_object_store(BUCKET).await.unwrap();
        let meta = ObjectMetadata {
            name: NAME.into(),
            chunk_size: Some(chunk_bytes),
            ..Default::default()
        };
        bucket.put(meta, &mut &data[..]).await.unwrap();
    }

    /// Writes `chunks` under object id `nuid` and an info for `NAME` claiming `size`,
    /// `digest` and `claimed_chunks`, as a hostile or broken writer could.
    async fn forge(
        js: &jetstream::Context,
        nuid: &str,
        chunks: &[&[u8]],
        size: usize,
        digest: &str,
        claimed_chunks: usize,
    ) {
        for chunk in chunks {
            js.publish(format!("$O.{BUCKET}.C.{nuid}"), chunk.to_vec().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let info = serde_json::json!({
            "name": NAME, "bucket": BUCKET, "nuid": nuid, "size": size,
            "chunks": claimed_chunks, "digest": digest,
        });
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Rollup", "sub");
        let subject = format!(
            "$O.{BUCKET}.M.{}",
            base64::engine::general_purpose::URL_SAFE.encode(NAME)
        );
        js.publish_with_headers(subject, headers, info.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// What is in `dir` (no temporary file may be left behind).
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test]
    async fn an_object_of_many_batches_is_read_into_its_file_byte_for_byte() {
        let Some(s) = server().await else { return };
        let dir = tempfile::tempdir().unwrap();
        // 300 chunks of 1 KiB: five batched direct gets.
        let data = bytes(300 * 1024 - 7, 1);
        put(&s.js, &data, 1024).await;
        let path = dir.path().join(NAME);
        fetch(&s.js, &catalogued(&data), &path).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(listing(dir.path()), [NAME]);
    }

    #[tokio::test]
    async fn chunks_that_do_not_match_the_digest_are_refused_and_the_next_try_writes_the_file() {
        let Some(s) = server().await else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        let data = bytes(5000, 2);
        let wanted = catalogued(&data);
        // The info says what the catalogue says; the chunks hold other bytes of that length.
        let other = bytes(5000, 3);
        forge(
            &s.js,
            "FORGED1",
            &[&other[..4096], &other[4096..]],
            5000,
            &wanted.digest,
            2,
        )
        .await;
        let refused = fetch(&s.js, &wanted, &path).await.unwrap_err();
        assert!(
            matches!(&refused, FetchError::Corrupt(why) if why.contains("digest")),
            "{refused}"
        );
        assert_eq!(listing(dir.path()), Vec::<String>::new());
        // Put right (as a retry finds it), the same fetch writes the file.
        put(&s.js, &data, 4096).await;
        fetch(&s.js, &wanted, &path).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[tokio::test]
    async fn a_short_or_overlong_object_is_refused_and_a_file_already_there_stays() {
        let Some(s) = server().await else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        std::fs::write(&path, b"what was there").unwrap();
        let data = bytes(5000, 4);
        let wanted = catalogued(&data);
        let cases: [(&str, &[&[u8]], usize); 3] = [
            // Fewer chunks there than its info claims.
            ("SHORT1", &[&data[..4096]], 2),
            // The claimed chunks, but fewer bytes.
            ("SHORT2", &[&data[..4096], &data[4096..4999]], 2),
            // More bytes than the catalogue's size.
            ("LONG1", &[&data[..4096], &data[4096..], b"tail"], 3),
        ];
        for (nuid, chunks, claimed) in cases {
            forge(&s.js, nuid, chunks, 5000, &wanted.digest, claimed).await;
            let refused = fetch(&s.js, &wanted, &path).await.unwrap_err();
            assert!(
                matches!(refused, FetchError::Corrupt(_)),
                "{nuid}: {refused}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), b"what was there", "{nuid}");
            assert_eq!(listing(dir.path()), [NAME], "{nuid}");
        }
    }

    #[tokio::test]
    async fn an_object_missing_or_not_the_catalogues_is_refused_before_anything_is_read() {
        let Some(s) = server().await else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        let data = bytes(5000, 5);
        let wanted = catalogued(&data);
        let missing = fetch(&s.js, &wanted, &path).await.unwrap_err();
        assert!(matches!(missing, FetchError::Missing(_)), "{missing}");
        // Ids that would widen the chunks' subject, more chunks than bytes, another size.
        for (nuid, size, chunks) in [
            (">", 5000, 2),
            ("A*", 5000, 2),
            ("OK1", 5000, 5001),
            ("OK2", 4999, 2),
        ] {
            forge(&s.js, nuid, &[], size, &wanted.digest, chunks).await;
            let refused = fetch(&s.js, &wanted, &path).await.unwrap_err();
            assert!(
                matches!(refused, FetchError::NotTheCatalogues(_)),
                "{nuid} {size} {chunks}: {refused}"
            );
        }
        assert_eq!(listing(dir.path()), Vec::<String>::new());
    }
}
