//! Shared-cache policy (RFC 9111, RFC 5861, RFC 9213): whether a response may
//! be stored and for how long, whether a stored response may answer a request,
//! `Vary` keys, invalidation targets and 304 merging.
//!
//! Everything here is a pure function of its inputs; time is passed in.
//! This module holds the types they share; the rules are split by what they
//! decide: `storable` (may it be stored, fresh for how long), `reuse`
//! (may a stored response answer this request), `vary` (secondary keys),
//! `stored_fields` (what is stored, 304 updates, revalidation fields) and
//! `invalidation` (unsafe methods).

mod invalidation;
mod reuse;
mod storable;
mod stored_fields;
mod vary;

use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};

pub use invalidation::invalidation_targets;
pub(crate) use reuse::current_age;
pub use reuse::{
    RequestDecision, decide_with, is_fresh, may_serve_stale_on_error, request_directives,
};
pub use storable::storability;
pub use stored_fields::{merge_not_modified, revalidation_headers, strip_for_storage};
pub(crate) use vary::vary_key;
pub use vary::{Vary, vary};

use crate::directives::DELTA_SECONDS_MAX;

/// The longest duration any age or lifetime is allowed to reach (2^31 s).
const MAX_DELTA: Duration = Duration::from_secs(DELTA_SECONDS_MAX);

/// Per-route storage rules from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreRules {
    /// Store responses carrying `Set-Cookie` (the cookie is stored and replayed).
    pub allow_set_cookie: bool,
    /// Only these statuses are stored (`None`: any status RFC 9111 allows).
    pub cache_statuses: Option<Vec<u16>>,
    /// Overrides the freshness lifetime (counted from when the response is
    /// stored) for statuses in `cache_statuses` (or, without that list, the
    /// heuristically cacheable ones). Never overrides `no-store`, `private`,
    /// `Set-Cookie`, `Authorization` or `Vary: *`; does override `no-cache`.
    pub force_ttl: Option<Duration>,
    /// `stale-while-revalidate` window when the response gives none.
    pub default_stale_while_revalidate: Duration,
    /// `stale-if-error` window when the response gives none.
    pub default_stale_if_error: Duration,
    /// Heuristic lifetime as a fraction of `Date - Last-Modified` (RFC 9111 §4.2.2).
    pub heuristic_fraction: f64,
    /// Cap on the heuristic lifetime.
    pub heuristic_max: Duration,
}

impl Default for StoreRules {
    fn default() -> Self {
        Self {
            allow_set_cookie: false,
            cache_statuses: None,
            force_ttl: None,
            default_stale_while_revalidate: Duration::ZERO,
            default_stale_if_error: Duration::ZERO,
            heuristic_fraction: 0.1,
            heuristic_max: Duration::from_secs(86_400),
        }
    }
}

/// How long a stored response stays fresh, and what may be done once stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// Freshness lifetime (RFC 9111 §4.2.1), counted in response age.
    pub lifetime: Duration,
    /// Age of the response when it was received (RFC 9111 §4.2.3).
    pub initial_age: Duration,
    /// Staleness during which the response may be served while it is
    /// refreshed in the background. Already zero where stale serving is
    /// forbidden (`must-revalidate`, `proxy-revalidate`, `no-cache`).
    pub stale_while_revalidate: Duration,
    /// Staleness during which the response may be served when the origin
    /// fails. Already zero where stale serving is forbidden.
    pub stale_if_error: Duration,
    /// `must-revalidate`, `proxy-revalidate` or `s-maxage` was present: a
    /// client's `max-stale` must not be honoured.
    pub must_revalidate: bool,
    /// `no-cache` without field names: every use needs revalidation.
    pub always_revalidate: bool,
    /// The lifetime is heuristic (RFC 9111 §4.2.2).
    pub heuristic: bool,
    /// Lowercased fields to remove before storing (`private="..."`,
    /// `no-cache="..."`), see [`strip_for_storage`].
    pub strip_fields: Vec<String>,
}

/// Whether a response may be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storability {
    /// Store it, fresh for this long.
    Store(Freshness),
    /// Do not store it, for this reason.
    DontStore(NotStorable),
}

/// Why a response is not stored. Some reasons come from the request that
/// fetched it (its method, `Authorization`, `no-store`): another request for
/// the same URL may well get a response that can be stored. The others are
/// about the response itself and hold for every request that gets it (see
/// [`NotStorable::uncacheable_for_everyone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStorable {
    /// The request was a HEAD (the cache stores GET responses).
    HeadRequest,
    /// The request method is not cacheable.
    Method,
    /// The request said `no-store`.
    RequestNoStore,
    /// The request had `Authorization` and the response did not allow sharing
    /// it (`public`, `s-maxage`, `must-revalidate`).
    RequestAuthorization,
    /// A 1xx.
    Interim,
    /// A 206.
    Partial,
    /// A 304.
    NotModified,
    /// `must-understand` with a status this cache does not implement.
    MustUnderstand,
    /// `no-store` (in `Cache-Control`, `CDN-Cache-Control` or `Surrogate-Control`).
    NoStore,
    /// `private`.
    Private,
    /// `Set-Cookie` on a route that does not store it.
    SetCookie,
    /// `Vary: *`, an invalid `Vary` or too many fields.
    VaryStar,
    /// A status the route's `statuses` does not list.
    StatusRule,
    /// No explicit lifetime and a status that is not heuristically cacheable.
    NoFreshness,
    /// Stale on arrival, and no validator or stale window to make it useful.
    StaleOnArrival,
    /// Bigger than the cache's `max_object_bytes`.
    TooLarge,
}

impl NotStorable {
    /// The reason as shown in `Cache-Status` (`detail=`) and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStorable::HeadRequest => "HEAD responses are not stored",
            NotStorable::Method => "method is not cacheable",
            NotStorable::RequestNoStore => "request no-store",
            NotStorable::RequestAuthorization => "request has Authorization",
            NotStorable::Interim => "interim response",
            NotStorable::Partial => "partial content is not a full response",
            NotStorable::NotModified => "304 updates a stored response",
            NotStorable::MustUnderstand => "must-understand with a status not understood",
            NotStorable::NoStore => "no-store",
            NotStorable::Private => "private",
            NotStorable::SetCookie => "Set-Cookie",
            NotStorable::VaryStar => "Vary: * (or too many Vary fields)",
            NotStorable::StatusRule => "status not cached by rule",
            NotStorable::NoFreshness => "no explicit freshness and no heuristic",
            NotStorable::StaleOnArrival => "stale on arrival and no validator",
            NotStorable::TooLarge => "too-large",
        }
    }

    /// Whether the reason is about the response itself, so that the URL's
    /// response cannot be stored whoever asks (what hit-for-pass may be
    /// based on); `false` for reasons that come from the request that
    /// fetched it (its method, `Authorization`, request `no-store`).
    ///
    /// The response itself may still depend on the request: an origin can
    /// answer `private` or `Set-Cookie` because the request carried
    /// credentials (see [`carries_credentials`]).
    pub fn uncacheable_for_everyone(self) -> bool {
        match self {
            NotStorable::HeadRequest
            | NotStorable::Method
            | NotStorable::RequestNoStore
            | NotStorable::RequestAuthorization => false,
            NotStorable::Interim
            | NotStorable::Partial
            | NotStorable::NotModified
            | NotStorable::MustUnderstand
            | NotStorable::NoStore
            | NotStorable::Private
            | NotStorable::SetCookie
            | NotStorable::VaryStar
            | NotStorable::StatusRule
            | NotStorable::NoFreshness
            | NotStorable::StaleOnArrival
            | NotStorable::TooLarge => true,
        }
    }
}

impl std::fmt::Display for NotStorable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the request carries credentials (`Authorization` or `Cookie`):
/// an origin may answer it with a response for this client alone
/// (`private`, `no-store`, `Set-Cookie`) that it would not give others.
pub fn carries_credentials(req_headers: &HeaderMap) -> bool {
    req_headers.contains_key(AUTHORIZATION) || req_headers.contains_key(COOKIE)
}

fn secs(v: u64) -> Duration {
    Duration::from_secs(v.min(DELTA_SECONDS_MAX))
}

fn parse_date(v: &HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(v.to_str().ok()?.trim()).ok()
}

/// The first valid HTTP-date among the values of `name`.
pub(crate) fn header_date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    headers.get_all(name).iter().find_map(parse_date)
}

#[cfg(test)]
mod tests;
