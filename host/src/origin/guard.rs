//! The origin's response body as handed to the pipeline: it keeps the
//! backend's in-flight count and connection permit until the body ends (so
//! least-connections and `max_connections` see streaming responses), fails
//! the body when the pool's total deadline passes, and fails it when the
//! origin sends nothing for the pool's `body_timeout` (counted as a failure
//! of the backend). Every origin body goes through here, so pass-through
//! responses and cache fills get the same limits.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::backend::InFlight;
use super::pool::Pool;
use crate::body::BoxError;

/// A response body with its backend's accounting attached.
pub(super) struct GuardedBody {
    inner: Incoming,
    deadline: Option<Pin<Box<Sleep>>>,
    idle: Idle,
    /// Set once the body timed out: it stays failed.
    timed_out: bool,
    guard: Option<Guard>,
}

/// What the body holds until it ends.
struct Guard {
    in_flight: InFlight,
    _permit: Option<OwnedSemaphorePermit>,
    /// To report a stalled body as a failure of the backend.
    pool: Arc<Pool>,
}

/// The idle timer: runs only while the body waits for the origin (the
/// consumer polled and nothing was there), from the first such poll after
/// the last frame. A consumer that does not poll (a slow client) is not
/// the origin's fault and does not count.
struct Idle {
    timeout: Duration,
    /// When the wait for the next frame began; `None` while not waiting.
    waiting_since: Option<Instant>,
    /// Made on the first wait (a body that is all there never needs one) and
    /// moved forward only when it fires early: a stream of frames does not
    /// reset a timer per frame.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Idle {
    /// Called when the body has nothing to give: whether it has waited
    /// `timeout` since its last frame (else the waker is registered).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let due = since + self.timeout;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            // Set for an earlier wait: fires early, moves to this one's end.
            if sleep.deadline() >= due {
                return true;
            }
            sleep.as_mut().reset(due);
        }
    }
}

impl GuardedBody {
    pub(super) fn new(
        inner: Incoming,
        deadline: Option<Instant>,
        body_timeout: Duration,
        in_flight: InFlight,
        permit: Option<OwnedSemaphorePermit>,
        pool: Arc<Pool>,
    ) -> GuardedBody {
        GuardedBody {
            inner,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            idle: Idle {
                timeout: body_timeout,
                waiting_since: None,
                sleep: None,
            },
            timed_out: false,
            guard: Some(Guard {
                in_flight,
                _permit: permit,
                pool,
            }),
        }
    }

    fn idle_error(&self) -> BoxError {
        Box::new(BodyTimeout {
            timeout: self.idle.timeout,
        })
    }
}

/// The body outlived the pool's `total_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("origin response exceeded the pool's total timeout")]
pub struct TotalTimeout;

/// The origin sent no body bytes for the pool's `body_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("origin sent no response body bytes for {timeout:?} (body_timeout)")]
pub struct BodyTimeout {
    /// The pool's `body_timeout`.
    pub timeout: Duration,
}

impl BodyTimeout {
    /// Whether `e` (or an error it wraps) is a [`BodyTimeout`] or a
    /// [`TotalTimeout`]: the origin was too slow, not broken.
    pub fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(e), |err| err.source())
            .any(|err| err.is::<BodyTimeout>() || err.is::<TotalTimeout>())
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.timed_out {
            return Poll::Ready(Some(Err(self.idle_error())));
        }
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
                self.idle.waiting_since = None;
                if self.inner.is_end_stream() {
                    self.guard = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                if !self.idle.expired(cx) {
                    return Poll::Pending;
                }
                self.timed_out = true;
                if let Some(guard) = self.guard.take() {
                    guard.pool.body_timed_out(guard.in_flight.backend());
                }
                Poll::Ready(Some(Err(self.idle_error())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.timed_out && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(timeout: Duration) -> Idle {
        Idle {
            timeout,
            waiting_since: None,
            sleep: None,
        }
    }

    async fn expired_now(idle: &mut Idle) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(idle.expired(cx))).await
    }

    /// Waits until the timer says the body has waited long enough.
    async fn until_expired(idle: &mut Idle) {
        std::future::poll_fn(|cx| {
            if idle.expired(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    #[tokio::test]
    async fn only_time_spent_waiting_for_the_origin_counts() {
        let mut idle = idle(Duration::from_millis(50));
        assert!(!expired_now(&mut idle).await, "a wait just began");
        until_expired(&mut idle).await;
        // A frame came: the next wait starts afresh, however long the
        // consumer took to poll again (a slow client is not a stalled origin).
        idle.waiting_since = None;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!expired_now(&mut idle).await, "the new wait just began");
        // The timer set for the first wait has fired: it moves to this one's end.
        until_expired(&mut idle).await;
        assert!(expired_now(&mut idle).await);
    }
}
