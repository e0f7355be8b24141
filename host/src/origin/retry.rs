//! Retry policy: which failures may be retried, the per-pool retry budget,
//! and request bodies that can be sent again.
//!
//! - A connect error (nothing was sent) is retried for every method.
//! - Timeouts, broken exchanges and 5xx answers are retried only for
//!   idempotent methods (RFC 9110 §9.2.2) whose body can be replayed: empty,
//!   or small enough (≤ [`REPLAY_BUFFER_LIMIT`]) to be buffered first.
//! - A non-idempotent request whose body was sent (`POST /api/orders`) is
//!   never replayed: its body streams once through a [`OnceBody`], and a retry
//!   is refused as soon as the first attempt has read from it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::body::{Body, BoxError};
use crate::config::RetryConfig;

/// Largest request body buffered so an idempotent request can be retried.
pub const REPLAY_BUFFER_LIMIT: u64 = 64 * 1024;

/// Whether `method` is idempotent (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::TRACE
            | http::Method::PUT
            | http::Method::DELETE
    )
}

/// Window over which the budget counts requests and retries, in seconds.
const WINDOW_SECS: u64 = 10;

/// Retries allowed per pool: `budget_percent` of the requests of the last
/// 10 s, but never fewer than `min_retries_per_sec` per second of window.
#[derive(Debug)]
pub(super) struct RetryBudget {
    percent: u64,
    min_per_sec: u64,
    epoch: Instant,
    /// (second, requests, retries), oldest first.
    buckets: Mutex<VecDeque<(u64, u64, u64)>>,
}

impl RetryBudget {
    pub(super) fn new(config: &RetryConfig) -> RetryBudget {
        RetryBudget {
            percent: u64::from(config.budget_percent),
            min_per_sec: u64::from(config.min_retries_per_sec),
            epoch: Instant::now(),
            buckets: Mutex::new(VecDeque::with_capacity(WINDOW_SECS as usize + 1)),
        }
    }

    fn with_current<T>(&self, f: impl FnOnce(&mut VecDeque<(u64, u64, u64)>) -> T) -> T {
        let now = self.epoch.elapsed().as_secs();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        while b.front().is_some_and(|(s, _, _)| s + WINDOW_SECS <= now) {
            b.pop_front();
        }
        if b.back().is_none_or(|(s, _, _)| *s != now) {
            b.push_back((now, 0, 0));
        }
        f(&mut b)
    }

    /// Counts one request.
    pub(super) fn deposit(&self) {
        self.with_current(|b| {
            if let Some(last) = b.back_mut() {
                last.1 += 1;
            }
        });
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub(super) fn withdraw(&self) -> bool {
        self.with_current(|b| {
            let (requests, retries) = b
                .iter()
                .fold((0, 0), |(q, r), (_, q2, r2)| (q + q2, r + r2));
            let allowed = (requests * self.percent / 100).max(self.min_per_sec * WINDOW_SECS);
            if retries < allowed {
                if let Some(last) = b.back_mut() {
                    last.2 += 1;
                }
                true
            } else {
                false
            }
        })
    }
}

/// A request body as kept for retries.
#[derive(Debug)]
pub(super) enum Replay {
    /// No body: any attempt gets an empty one.
    Empty,
    /// Buffered: every attempt gets a copy.
    Buffered(Bytes),
    /// Streamed once; a later attempt may use it only if no attempt read from it.
    Once(Arc<OnceSlot>),
}

/// The streamed body shared between attempts.
pub(super) struct OnceSlot {
    body: Mutex<Body>,
    started: AtomicBool,
}

impl std::fmt::Debug for OnceSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnceSlot")
            .field("started", &self.started.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// Prepares `body`: empty, buffered (when `buffer` and it declares at most
    /// [`REPLAY_BUFFER_LIMIT`] bytes), or streamed once.
    pub(super) async fn prepare(body: Body, buffer: bool) -> Result<Replay, BoxError> {
        use http_body::Body as _;
        use http_body_util::BodyExt;
        if body.is_end_stream() {
            return Ok(Replay::Empty);
        }
        let small = body
            .size_hint()
            .upper()
            .is_some_and(|n| n <= REPLAY_BUFFER_LIMIT);
        if buffer && small {
            let bytes = body.collect().await?.to_bytes();
            return Ok(Replay::Buffered(bytes));
        }
        Ok(Replay::Once(Arc::new(OnceSlot {
            body: Mutex::new(body),
            started: AtomicBool::new(false),
        })))
    }

    /// Whether the body can be sent again after a failed attempt that may have read it.
    pub(super) fn replayable(&self) -> bool {
        !matches!(self, Replay::Once(_))
    }

    /// Whether an attempt has read from the body (only a streamed body can be started).
    pub(super) fn started(&self) -> bool {
        match self {
            Replay::Once(slot) => slot.started.load(Ordering::Acquire),
            _ => false,
        }
    }

    /// The body for the next attempt.
    pub(super) fn body(&self) -> Body {
        use http_body_util::BodyExt;
        match self {
            Replay::Empty => crate::body::empty(),
            Replay::Buffered(b) => crate::body::full(b.clone()),
            Replay::Once(slot) => OnceBody { slot: slot.clone() }.boxed(),
        }
    }
}

/// One attempt's view of a streamed body.
struct OnceBody {
    slot: Arc<OnceSlot>,
}

impl http_body::Body for OnceBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.slot.started.store(true, Ordering::Release);
        let mut body = self.slot.body.lock().unwrap_or_else(|e| e.into_inner());
        Pin::new(&mut *body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        let body = self.slot.body.lock().unwrap_or_else(|e| e.into_inner());
        body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let body = self.slot.body.lock().unwrap_or_else(|e| e.into_inner());
        body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_allows_the_floor_then_a_share_of_requests() {
        let b = RetryBudget::new(&RetryConfig {
            attempts: 3,
            budget_percent: 20,
            min_retries_per_sec: 1,
        });
        // Floor: 1/s over a 10 s window.
        let granted = (0..20).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 10);
        for _ in 0..100 {
            b.deposit();
        }
        // 20 % of 100 requests = 20 retries in the window, 10 already used.
        let granted = (0..20).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 10);
    }

    #[test]
    fn idempotent_methods() {
        assert!(is_idempotent(&http::Method::GET));
        assert!(is_idempotent(&http::Method::PUT));
        assert!(!is_idempotent(&http::Method::POST));
        assert!(!is_idempotent(&http::Method::PATCH));
    }

    #[tokio::test]
    async fn a_streamed_body_is_marked_started_once_read() {
        use http_body_util::BodyExt;
        let r = Replay::prepare(crate::body::full("order"), false)
            .await
            .unwrap();
        assert!(!r.replayable() && !r.started());
        let got = r.body().collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], b"order");
        assert!(r.started());
        let r = Replay::prepare(crate::body::full("small"), true)
            .await
            .unwrap();
        assert!(r.replayable());
        assert_eq!(&r.body().collect().await.unwrap().to_bytes()[..], b"small");
        assert_eq!(&r.body().collect().await.unwrap().to_bytes()[..], b"small");
        assert!(matches!(
            Replay::prepare(crate::body::empty(), true).await.unwrap(),
            Replay::Empty
        ));
    }
}
