//! Ogg Vorbis and AAC (ADTS) sources become MP3: a pushed or pulled channel that is not MP3
//! is decoded (symphonia, through the upload decoder), resampled to 44.1 kHz (rubato) and
//! encoded by LAME at [`KBPS`] kbps stereo, and its frames go to the channel like a pushed
//! MP3's. It runs on a blocking thread; an MP3 source is never re-encoded.
//!
//! Owns: the decode → resample → encode chain of a live source. May not touch: sockets,
//! feeds (frames are handed to a closure).

use std::io::Read;

use symphonia::core::io::ReadOnlySource;

use super::frames::{FrameSplitter, Frames};
use crate::media::decode::Decoder;
use crate::media::resample::Resampler;
use crate::output::mp3::Mp3Encoder;

/// The bitrate an Ogg or AAC source is relayed at.
pub(crate) const KBPS: u32 = 128;

/// Decodes `reader` and hands whole MP3 frames to `publish` until the source ends, fails or
/// `stopped` says so.
///
/// # Errors
/// The source cannot be decoded (named), or the encoder fails.
pub(crate) fn transcode(
    reader: Box<dyn Read + Send + Sync>,
    mut publish: impl FnMut(Frames),
    stopped: impl Fn() -> bool,
) -> Result<(), String> {
    let undecodable = |e: &dyn std::fmt::Display| format!("the source cannot be decoded: {e}");
    let mut decoder = Decoder::open(Box::new(ReadOnlySource::new(reader)), f64::MAX)
        .map_err(|e| undecodable(&e))?;
    let mut encoder = Mp3Encoder::new(KBPS).map_err(|e| e.to_string())?;
    let mut splitter = FrameSplitter::default();
    // A stream states its rate and channels with its first packet, not always in its header.
    let mut resampler: Option<(Resampler, usize)> = None;
    let (mut stereo, mut mp3) = (Vec::new(), Vec::new());
    while !stopped() {
        let Some(block) = decoder.next_chunk().map_err(|e| undecodable(&e))? else {
            break;
        };
        if resampler.is_none() {
            let r = Resampler::new(block.rate, block.channels).map_err(|e| undecodable(&e))?;
            resampler = Some((r, usize::from(block.channels.max(1))));
        }
        let Some((resampler, channels)) = resampler.as_mut() else {
            continue;
        };
        let channels = *channels;
        resampler
            .push(block.samples, &mut |samples| {
                stereo.clear();
                for frame in samples.chunks_exact(channels) {
                    let right = if channels > 1 { frame[1] } else { frame[0] };
                    stereo.extend_from_slice(&[frame[0], right]);
                }
                encoder
                    .encode(&stereo, &mut mp3)
                    .map_err(|e| crate::media::MediaError::Encode(e.to_string()))
            })
            .map_err(|e| e.to_string())?;
        if !mp3.is_empty() {
            publish(splitter.push(&mp3));
            mp3.clear();
        }
    }
    Ok(())
}

/// A blocking `Read` over chunks sent from an async task (a pushed body), for the decoder's
/// thread: end of file when the sender is gone.
pub(crate) struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl ChannelReader {
    /// A reader of what `rx` receives.
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Self {
        Self {
            rx,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// A reader that counts what it reads as the session's source bytes.
pub(crate) struct Counted<R> {
    inner: R,
    counter: super::Received,
}

impl<R: Read> Counted<R> {
    /// Counts `inner`'s bytes into `counter`.
    pub(crate) fn new(inner: R, counter: super::Received) -> Self {
        Self { inner, counter }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.add(n);
        Ok(n)
    }
}
