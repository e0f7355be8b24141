//! Reuse (RFC 9111 §4, RFC 5861): how old a stored response is, and whether
//! it may answer a request as it is, stale, or only after revalidation.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::PRAGMA;

use super::{Freshness, MAX_DELTA, secs};
use crate::directives::{self, CacheControl, trim_ows};

/// The current age of a stored response (RFC 9111 §4.2.3): its initial age
/// plus the time it has been resident. A clock going backwards adds nothing.
pub(crate) fn current_age(f: &Freshness, stored_at: SystemTime, now: SystemTime) -> Duration {
    let resident = now.duration_since(stored_at).unwrap_or_default();
    f.initial_age.saturating_add(resident).min(MAX_DELTA)
}

/// Whether a response of this age is fresh.
pub fn is_fresh(f: &Freshness, age: Duration) -> bool {
    age < f.lifetime
}

/// What to do with a stored response for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestDecision {
    /// Fresh and acceptable to the client: serve it.
    ServeFresh,
    /// Stale, but the client accepts it (`max-stale`): serve it.
    ServeStale,
    /// Stale within `stale-while-revalidate`: serve it and refresh it in the
    /// background.
    ServeStaleWhileRevalidate,
    /// Validate it with the origin first (conditional request).
    Revalidate,
    /// The stored response cannot be used; fetch anew (not returned by
    /// [`decide_with`] today; kept for callers' own reasons).
    Miss,
}

/// The request's cache directives, with `Pragma: no-cache` read as
/// `Cache-Control: no-cache` when there is no `Cache-Control` (RFC 9111 §5.4).
pub fn request_directives(req_headers: &HeaderMap) -> CacheControl {
    let mut cc = directives::cache_control(req_headers);
    if !req_headers.contains_key(http::header::CACHE_CONTROL) {
        let pragma_no_cache = req_headers.get_all(PRAGMA).iter().any(|v| {
            v.as_bytes()
                .split(|&c| c == b',')
                .any(|t| trim_ows(t).eq_ignore_ascii_case(b"no-cache"))
        });
        cc.no_cache |= pragma_no_cache;
    }
    cc
}

/// Whether a stored response of age `age` may answer a request (RFC 9111 §4,
/// §4.2.4, §5.2.1; RFC 5861 §3), given the request's directives (see
/// [`request_directives`]).
pub fn decide_with(req: &CacheControl, f: &Freshness, age: Duration) -> RequestDecision {
    if f.always_revalidate || req.no_cache {
        return RequestDecision::Revalidate;
    }
    if let Some(max_age) = req.max_age
        && age > secs(max_age)
    {
        return RequestDecision::Revalidate;
    }
    if is_fresh(f, age) {
        let remaining = f.lifetime - age;
        return match req.min_fresh {
            Some(min_fresh) if remaining < secs(min_fresh) => RequestDecision::Revalidate,
            _ => RequestDecision::ServeFresh,
        };
    }
    if req.min_fresh.is_some() {
        return RequestDecision::Revalidate;
    }
    let staleness = age - f.lifetime;
    if staleness < f.stale_while_revalidate {
        return RequestDecision::ServeStaleWhileRevalidate;
    }
    if !f.must_revalidate {
        match req.max_stale {
            Some(None) => return RequestDecision::ServeStale,
            Some(Some(max)) if staleness <= secs(max) => return RequestDecision::ServeStale,
            _ => {}
        }
    }
    RequestDecision::Revalidate
}

/// Whether a stale response may be served because the origin failed (5xx or
/// unreachable): within the response's `stale-if-error` window, or the
/// request's own `stale-if-error` (RFC 5861 §4). Never with
/// `must-revalidate`, `proxy-revalidate`, `s-maxage` (unless the response
/// itself granted a window) or `no-cache`.
pub fn may_serve_stale_on_error(f: &Freshness, age: Duration, req_headers: &HeaderMap) -> bool {
    if f.always_revalidate {
        return false;
    }
    if is_fresh(f, age) {
        return true;
    }
    let staleness = age - f.lifetime;
    let mut window = f.stale_if_error;
    if !f.must_revalidate
        && let Some(v) = directives::cache_control(req_headers).stale_if_error
    {
        window = window.max(secs(v));
    }
    staleness < window
}
