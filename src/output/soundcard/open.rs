//! Opening the sound card: finding the device by name, choosing rate, channels and format,
//! building and starting cpal's output stream around the callback state (`CardCallback`),
//! and what an open or a running stream can fail with. Runs on the supervisor thread, except
//! [`DataCallback::run`], which cpal calls on its real-time thread.
//!
//! Owns: the cpal device and stream while they open. May not touch: the supervisor's state
//! machine and logging (`soundcard.rs`), the ring's producer.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, ErrorKind, SampleFormat, StreamConfig};

use super::callback::{CardCallback, OutSample};
use super::{CardConfig, MAX_BUFFER_MS, Shared};

/// Why an open failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    #[error("no such device")]
    NotFound,
    #[error("no usable output format (stereo or mono, f32 or i16)")]
    NoFormat,
    #[error("{0}")]
    Cpal(#[from] cpal::Error),
    #[error("the stream lost its callback state")]
    CallbackLost,
}

impl OpenError {
    /// Whether this means "the device is not there" rather than "it is there but broken".
    pub(super) fn is_missing(&self) -> bool {
        match self {
            Self::NotFound => true,
            Self::Cpal(e) => matches!(
                e.kind(),
                ErrorKind::DeviceNotAvailable | ErrorKind::HostUnavailable
            ),
            _ => false,
        }
    }
}

/// Where the callback state goes back to when cpal drops the callback (stream dropped or
/// never built), so the next open reuses the ring's consumer end.
pub(super) type CallbackSlot = Arc<Mutex<Option<CardCallback>>>;

/// Lives inside the data callback; returns the callback state to the slot when dropped.
struct Returner {
    callback: Option<CardCallback>,
    slot: CallbackSlot,
}

impl Drop for Returner {
    fn drop(&mut self) {
        if let Some(e) = self.callback.take() {
            *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    }
}

/// An open, playing stream.
pub(super) struct Opened {
    _stream: cpal::Stream,
    pub(super) rate_hz: u32,
    pub(super) format: SampleFormat,
    pub(super) buffer_ms: u32,
}

/// cpal's failure kinds as the callback records them (it may not format strings).
fn failure_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::DeviceNotAvailable => 1,
        ErrorKind::StreamInvalidated => 2,
        ErrorKind::DeviceBusy => 3,
        ErrorKind::PermissionDenied => 4,
        _ => 5,
    }
}

/// Words for a [`failure_code`].
pub(super) fn failure_text(code: u8) -> &'static str {
    match code {
        1 => "the device disappeared (unplugged?)",
        2 => "the device's configuration changed",
        3 => "the device is busy",
        4 => "access to the device was denied",
        _ => "the audio system reported an error",
    }
}

/// Finds the device by name: `"default"`, an ALSA PCM id, or a listed device's name.
fn find_device(host: &cpal::Host, name: &str) -> Option<cpal::Device> {
    if name == "default" {
        return host.default_output_device();
    }
    let id = cpal::DeviceId::new(host.id(), name);
    host.device_by_id(&id).or_else(|| {
        host.output_devices()
            .ok()?
            .find(|d| d.to_string() == name || d.id().is_ok_and(|i| i.id() == name))
    })
}

/// Picks rate (the device's own if 44.1 or 48 kHz, else 48 kHz, else 44.1 kHz, else its
/// own), channels (2 preferred) and format (f32, else i16).
fn choose_config(device: &cpal::Device) -> Result<(u32, u16, SampleFormat), OpenError> {
    let preferred = device.default_output_config().ok().map(|c| c.sample_rate());
    let ranges: Vec<_> = device.supported_output_configs()?.collect();
    let usable = |f: SampleFormat| matches!(f, SampleFormat::F32 | SampleFormat::I16);
    let mut rates: Vec<u32> = Vec::new();
    if let Some(r @ (44_100 | 48_000)) = preferred {
        rates.push(r);
    }
    rates.extend([48_000, 44_100]);
    rates.extend(preferred);
    for rate in rates {
        let mut best: Option<(u16, SampleFormat)> = None;
        let score = |c: u16, f: SampleFormat| (c == 2, c >= 2, f == SampleFormat::F32);
        for r in ranges
            .iter()
            .filter(|r| usable(r.sample_format()) && r.contains_rate(rate))
        {
            let cand = (r.channels(), r.sample_format());
            if best.is_none_or(|b| score(cand.0, cand.1) > score(b.0, b.1)) {
                best = Some(cand);
            }
        }
        if let Some((channels, format)) = best {
            return Ok((rate, channels, format));
        }
    }
    Err(OpenError::NoFormat)
}

/// Opens and starts the stream, moving the callback state out of `slot` into the callback.
pub(super) fn open(
    config: &CardConfig,
    slot: &CallbackSlot,
    shared: &Arc<Shared>,
) -> Result<Opened, OpenError> {
    let host = cpal::default_host();
    let device = find_device(&host, &config.device).ok_or(OpenError::NotFound)?;
    let (rate_hz, channels, format) = choose_config(&device)?;
    let buffer_ms = config.buffer_ms.clamp(4, MAX_BUFFER_MS);
    let period_frames = (rate_hz * buffer_ms / 2000).max(32);
    let stream_config = StreamConfig {
        channels,
        sample_rate: rate_hz,
        buffer_size: BufferSize::Fixed(period_frames),
    };
    let mut callback = slot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or(OpenError::CallbackLost)?;
    callback.reset_for_device(rate_hz);
    let returner = Returner {
        callback: Some(callback),
        slot: slot.clone(),
    };
    let err_shared = shared.clone();
    let on_error = move |e: cpal::Error| match e.kind() {
        ErrorKind::Xrun => {
            err_shared.xruns.fetch_add(1, Relaxed);
        }
        ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied => {}
        kind => err_shared.stream_failed.store(failure_code(kind), Relaxed),
    };
    let timeout = Some(Duration::from_secs(2));
    let cb = DataCallback {
        returner,
        channels: usize::from(channels),
        shared: shared.clone(),
        rt_priority: config.rt_priority,
        promoted: false,
        period_ns: u64::from(period_frames) * 1_000_000_000 / u64::from(rate_hz),
    };
    let stream = match format {
        SampleFormat::I16 => build::<i16>(&device, stream_config, cb, on_error, timeout),
        _ => build::<f32>(&device, stream_config, cb, on_error, timeout),
    }?;
    stream.play()?;
    Ok(Opened {
        _stream: stream,
        rate_hz,
        format,
        buffer_ms,
    })
}

/// What the data callback owns: the callback state (returned on drop), the promotion to do on the
/// first call, and the load meter's period.
struct DataCallback {
    returner: Returner,
    channels: usize,
    shared: Arc<Shared>,
    rt_priority: u8,
    promoted: bool,
    period_ns: u64,
}

impl DataCallback {
    /// One device buffer: real time, no allocation, locks or logging (the promotion on the
    /// first call is two system calls).
    fn run<T: OutSample>(&mut self, data: &mut [T]) {
        if !self.promoted {
            self.promoted = true;
            self.shared
                .promotion
                .promote_current_thread(self.rt_priority);
        }
        let started = Instant::now();
        if let Some(e) = self.returner.callback.as_mut() {
            e.fill(data, self.channels);
        }
        let work_ns = started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        self.shared.meters.load.record(work_ns, self.period_ns);
    }
}

fn build<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut cb: DataCallback,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
    timeout: Option<Duration>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: OutSample + cpal::SizedSample + Send + 'static,
{
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| cb.run(data),
        on_error,
        timeout,
    )
}
