//! The slow-body guard: a request body must keep arriving, or the request is answered
//! `408 Request Timeout` and its connection closed. Modelled on Apache's `mod_reqtimeout`
//! (`body=20,MinRate=500`): the body may take `[http] body_timeout_s`, plus one second per
//! `body_min_bytes_per_s` bytes received so far. A phone uploading a recording over weak Wi-Fi
//! passes easily; a client trickling a byte every few seconds to hold a connection does not.
//!
//! Only time spent waiting for the client counts: while a handler does not read (it may wait
//! for a media slot between two parts of an upload), the client is held back by TCP, not slow.
//!
//! Only request bodies are watched, and only while a handler reads them: responses (the
//! endless `/stream<id>.mp3` ones included) are never timed, and a request without a body
//! costs nothing. The server loop ([`super::serve`]) applies it to every request.
//!
//! Owns: the body wrapper and the 408. May not touch: what handlers do with the body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;
use crate::config::ConnectionConfig;

/// How fast a request body must arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyPace {
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
    /// The waiting time a body has earned after `received` bytes.
    fn allowance(&self, received: u64) -> Duration {
        self.stall + Duration::from_millis(received.saturating_mul(1000) / self.min_bytes_per_s)
    }
}

/// The error a too-slow body ends with (handlers see it as a failed read).
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub(crate) struct SlowBody;

pin_project_lite::pin_project! {
    /// A request body that fails with [`SlowBody`] when it falls behind its [`BodyPace`].
    struct PacedBody {
        #[pin]
        inner: Body,
        // Armed while the reader waits for the client.
        #[pin]
        deadline: Sleep,
        pace: BodyPace,
        received: u64,
        // Time spent waiting for the client so far (finished waits).
        waited: Duration,
        // Start of the current wait, if the last poll found nothing.
        waiting_since: Option<Instant>,
        tripped: Arc<AtomicBool>,
    }
}

impl PacedBody {
    fn new(inner: Body, pace: BodyPace, tripped: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            deadline: tokio::time::sleep(pace.stall),
            pace,
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            tripped,
        }
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
        let polled = this.inner.poll_frame(cx);
        let now = Instant::now();
        if polled.is_ready()
            && let Some(since) = this.waiting_since.take()
        {
            *this.waited += now - since;
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                let since = *this.waiting_since.get_or_insert(now);
                let left = this
                    .pace
                    .allowance(*this.received)
                    .saturating_sub(*this.waited);
                let deadline = since + left;
                if this.deadline.deadline() != deadline {
                    this.deadline.as_mut().reset(deadline);
                }
                if deadline <= now || this.deadline.poll(cx).is_ready() {
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

/// Paces the body of `req` when it has one; the flag tells [`answer`] whether it fell behind.
pub(crate) fn pace(req: Request, pace: BodyPace) -> (Request, Option<Arc<AtomicBool>>) {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return (req, None);
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let flag = tripped.clone();
    let req = req.map(|inner| Body::new(PacedBody::new(inner, pace, flag)));
    (req, Some(tripped))
}

/// The handler's `response`, or 408 with `Connection: close` if the body fell behind,
/// whatever the handler made of the failed read.
pub(crate) fn answer(response: Response, tripped: Option<&AtomicBool>, pace: BodyPace) -> Response {
    if !tripped.is_some_and(|t| t.load(Ordering::Relaxed)) {
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
    use http_body::Body as _;

    fn pace() -> BodyPace {
        BodyPace {
            stall: Duration::from_secs(20),
            min_bytes_per_s: 500,
        }
    }

    #[test]
    fn each_min_rate_bytes_received_buy_one_more_second() {
        assert_eq!(pace().allowance(0), Duration::from_secs(20));
        assert_eq!(pace().allowance(1500), Duration::from_secs(23));
        assert_eq!(pace().allowance(250), Duration::from_millis(20_500));
    }

    /// A body fed through a channel, wrapped like the middleware does.
    fn paced() -> (
        tokio::sync::mpsc::Sender<Bytes>,
        Pin<Box<PacedBody>>,
        Arc<AtomicBool>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
        });
        let tripped = Arc::new(AtomicBool::new(false));
        let body = PacedBody::new(Body::from_stream(chunks), pace(), tripped.clone());
        (tx, Box::pin(body), tripped)
    }

    async fn next(body: &mut Pin<Box<PacedBody>>) -> Option<Result<Frame<Bytes>, BoxError>> {
        std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_sending_trips_the_guard_after_its_allowance() {
        let (tx, mut body, tripped) = paced();
        tx.send(Bytes::from(vec![0; 1000])).await.unwrap();
        assert!(next(&mut body).await.unwrap().is_ok());
        let started = Instant::now();
        let err = next(&mut body).await.unwrap().unwrap_err();
        assert!(err.is::<SlowBody>(), "{err}");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(22),
            "20 s + 1000 B at 500 B/s"
        );
        assert!(tripped.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_reader_spends_elsewhere_is_not_charged_to_the_client() {
        let (tx, mut body, tripped) = paced();
        tx.send(Bytes::from_static(b"part one")).await.unwrap();
        assert!(next(&mut body).await.unwrap().is_ok());
        // The handler waits a minute before reading on; the client's next part is queued.
        tokio::time::sleep(Duration::from_secs(60)).await;
        tx.send(Bytes::from_static(b"part two")).await.unwrap();
        assert!(next(&mut body).await.unwrap().is_ok());
        // Waiting for part three starts now, with the whole allowance left.
        let wait = tokio::time::timeout(Duration::from_secs(10), next(&mut body)).await;
        assert!(
            wait.is_err(),
            "the guard tripped on time the handler spent elsewhere"
        );
        tx.send(Bytes::from_static(b"part three")).await.unwrap();
        assert!(next(&mut body).await.unwrap().is_ok());
        drop(tx);
        assert!(next(&mut body).await.is_none(), "the body ends normally");
        assert!(!tripped.load(Ordering::Relaxed));
    }
}
