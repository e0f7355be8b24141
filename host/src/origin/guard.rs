//! The origin's response body as handed to the pipeline: it keeps the
//! backend's in-flight count and connection permit until the body ends (so
//! least-connections and `max_connections` see streaming responses), and
//! fails the body when the pool's total deadline passes.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

use super::backend::InFlight;
use crate::body::BoxError;

/// A response body with its backend's accounting attached.
pub(super) struct GuardedBody {
    inner: Incoming,
    deadline: Option<Pin<Box<Sleep>>>,
    guard: Option<(InFlight, Option<OwnedSemaphorePermit>)>,
}

impl GuardedBody {
    pub(super) fn new(
        inner: Incoming,
        deadline: Option<tokio::time::Instant>,
        in_flight: InFlight,
        permit: Option<OwnedSemaphorePermit>,
    ) -> GuardedBody {
        GuardedBody {
            inner,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            guard: Some((in_flight, permit)),
        }
    }
}

/// The body outlived the pool's `total_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("origin response exceeded the pool's total timeout")]
pub struct TotalTimeout;

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(d) = self.deadline.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            self.guard = None;
            return Poll::Ready(Some(Err(Box::new(TotalTimeout))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(None) => {
                self.guard = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.guard = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if self.inner.is_end_stream() {
                    self.guard = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
