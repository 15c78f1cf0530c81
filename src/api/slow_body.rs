//! The slow-body guard: a request body must keep arriving, or the request is answered
//! `408 Request Timeout` and its connection closed. Modelled on Apache's `mod_reqtimeout`
//! (`body=20,MinRate=500`): the body may take `[http] body_timeout_s`, plus one second per
//! `body_min_bytes_per_s` bytes received so far. A phone uploading a recording over weak Wi-Fi
//! passes easily; a client trickling a byte every few seconds to hold a connection does not.
//!
//! Only request bodies are watched, and only while a handler reads them: responses (the
//! endless `/stream<id>.mp3` ones included) are never timed, and a request without a body
//! costs nothing.
//!
//! Owns: the body wrapper and the 408. May not touch: what handlers do with the body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;
use crate::config::ConnectionConfig;

/// How fast a request body must arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Allowance before the first byte, and the base of every later deadline.
    pub stall: Duration,
    /// Each this many bytes received extend the deadline by one second.
    pub min_bytes_per_s: u64,
}

impl From<&ConnectionConfig> for BodyPace {
    fn from(c: &ConnectionConfig) -> Self {
        Self {
            stall: Duration::from_secs(c.body_timeout_s),
            min_bytes_per_s: c.body_min_bytes_per_s.max(1),
        }
    }
}

impl BodyPace {
    /// The time by which more of the body must have arrived, after `received` bytes.
    fn deadline(&self, start: Instant, received: u64) -> Instant {
        let earned = Duration::from_millis(received.saturating_mul(1000) / self.min_bytes_per_s);
        start + self.stall + earned
    }
}

/// The error a too-slow body ends with (handlers see it as a failed read).
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct SlowBody;

pin_project_lite::pin_project! {
    /// A request body that fails with [`SlowBody`] when it falls behind its [`BodyPace`].
    struct PacedBody {
        #[pin]
        inner: Body,
        #[pin]
        deadline: Sleep,
        pace: BodyPace,
        start: Instant,
        received: u64,
        tripped: Arc<AtomicBool>,
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if this.tripped.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(SlowBody.into())));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                    let next = this.pace.deadline(*this.start, *this.received);
                    this.deadline.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                if this.deadline.poll(cx).is_ready() {
                    this.tripped.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(SlowBody.into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: paces the request body (when there is one) and answers 408 with
/// `Connection: close` if it fell behind, whatever the handler made of the failed read.
pub async fn guard(State(pace): State<BodyPace>, req: Request, next: Next) -> Response {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let req = req.map(|inner| {
        Body::new(PacedBody {
            inner,
            deadline: tokio::time::sleep_until(pace.deadline(start, 0)),
            pace,
            start,
            received: 0,
            tripped: tripped.clone(),
        })
    });
    let response = next.run(req).await;
    if !tripped.load(Ordering::Relaxed) {
        return response;
    }
    let mut response = ApiError::Detail(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "The request body arrived too slowly: it may pause at most {} s and must then \
             come at {} bytes/s or more ([http] body_timeout_s, body_min_bytes_per_s).",
            pace.stall.as_secs(),
            pace.min_bytes_per_s
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_chunk_of_min_rate_bytes_buys_one_more_second() {
        let pace = BodyPace {
            stall: Duration::from_secs(20),
            min_bytes_per_s: 500,
        };
        let start = Instant::now();
        assert_eq!(pace.deadline(start, 0), start + Duration::from_secs(20));
        assert_eq!(pace.deadline(start, 1500), start + Duration::from_secs(23));
        assert_eq!(
            pace.deadline(start, 250),
            start + Duration::from_millis(20_500)
        );
    }
}
