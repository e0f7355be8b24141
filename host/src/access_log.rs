//! One access-log line per request, written when the response body ends (or
//! is dropped), so it carries the bytes actually sent and the full duration.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::body::{Body, BoxError};

/// What the access log records about one request.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    /// Request method.
    pub method: http::Method,
    /// Request path and query.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Client address.
    pub client: String,
    /// What the cache did.
    pub cache: CacheOutcome,
    /// Backend that answered, or `-`.
    pub origin: String,
    /// When the request head arrived.
    pub start: Instant,
}

/// What the cache did for a request, as the log's `cache` field names it. An
/// enum rather than text so a phase can only say one of these, and the log
/// line keeps its spelling in one place ([`CacheOutcome::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served fresh from the cache.
    Hit,
    /// Served stale (`stale-while-revalidate`, `stale-if-error`, or allowed
    /// by the request's `max-stale`).
    Stale,
    /// Fetched from the origin (stored or not).
    Miss,
    /// A stored entry the origin confirmed (304) or another request's
    /// revalidation refreshed.
    Revalidated,
    /// Another request's fill of the same key answered this one.
    Collapsed,
    /// Not handled by the cache (unsafe method, route without cache, or an
    /// answer before the cache phase, such as an error).
    Bypass,
    /// A request plugin answered.
    Plugin,
    /// No client waits for it (background revalidation): never logged.
    None,
}

impl CacheOutcome {
    /// The text the access log writes.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "HIT",
            CacheOutcome::Stale => "STALE",
            CacheOutcome::Miss => "MISS",
            CacheOutcome::Revalidated => "REVALIDATED",
            CacheOutcome::Collapsed => "COLLAPSED",
            CacheOutcome::Bypass => "BYPASS",
            CacheOutcome::Plugin => "PLUGIN",
            CacheOutcome::None => "-",
        }
    }
}

pin_project_lite::pin_project! {
    /// A body that counts its bytes and logs the request when it ends.
    pub struct LoggedBody {
        #[pin]
        inner: Body,
        record: Option<AccessRecord>,
        bytes: u64,
    }

    impl PinnedDrop for LoggedBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(r) = this.record.take() {
                log(&r, *this.bytes, false);
            }
        }
    }
}

impl LoggedBody {
    /// Wraps `inner`; `record` is logged once, when the body is done.
    pub fn new(inner: Body, record: Option<AccessRecord>) -> Self {
        LoggedBody {
            inner,
            record,
            bytes: 0,
        }
    }
}

/// Logs one request; `bytes` of its body were sent, all of them if `complete`.
pub(crate) fn log(r: &AccessRecord, bytes: u64, complete: bool) {
    tracing::info!(
        target: "brink::access",
        method = %r.method,
        path = %r.path,
        status = r.status,
        bytes,
        duration_ms = r.start.elapsed().as_secs_f64() * 1000.0,
        cache = r.cache.as_str(),
        origin = %r.origin,
        client = %r.client,
        complete,
        "{} {} {}", r.method, r.path, r.status
    );
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let res = this.inner.as_mut().poll_frame(cx);
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    *this.bytes += d.len() as u64;
                }
                // hyper stops polling once the body says it has ended.
                if this.inner.is_end_stream()
                    && let Some(r) = this.record.take()
                {
                    log(&r, *this.bytes, true);
                }
            }
            Poll::Ready(None) => {
                if let Some(r) = this.record.take() {
                    log(&r, *this.bytes, true);
                }
            }
            _ => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::CacheOutcome;

    /// The log's spelling of each outcome (log readers match on it).
    #[test]
    fn outcomes_keep_their_log_text() {
        let all = [
            (CacheOutcome::Hit, "HIT"),
            (CacheOutcome::Stale, "STALE"),
            (CacheOutcome::Miss, "MISS"),
            (CacheOutcome::Revalidated, "REVALIDATED"),
            (CacheOutcome::Collapsed, "COLLAPSED"),
            (CacheOutcome::Bypass, "BYPASS"),
            (CacheOutcome::Plugin, "PLUGIN"),
            (CacheOutcome::None, "-"),
        ];
        for (outcome, text) in all {
            assert_eq!(outcome.as_str(), text);
        }
    }
}
