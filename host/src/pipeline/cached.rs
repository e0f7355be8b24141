//! The cache phase: look up, serve fresh, revalidate stale, coalesce misses,
//! store what RFC 9111 allows, and say what happened in `Cache-Status`.
//! Runs after the request plugins (so their cache variant is in the key) and
//! before the response plugins (so what is stored is never a personalised
//! copy).

mod fill;
mod revalidate;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;

use super::ConnInfo;
use super::exchange::Exchange;
use crate::access_log::CacheOutcome;
use crate::body::{Body, empty, full};
use crate::cache::conditional::{
    client_not_modified, not_modified_response_headers, precondition_failed,
};
use crate::cache::directives::CacheControl;
use crate::cache::policy::{self, RequestDecision, StoreRules};
use crate::cache::range::{self, RangeRequest};
use crate::cache::status::{self, CacheStatus, Fwd};
use crate::cache::{Cache, CacheKey, Entry, Lookup, client_fields};
use crate::config::{RouteCache, RouteConfig};
use crate::error::EdgeError;
use crate::metrics::CacheResult;
use crate::state::{Generation, Shared};

/// Request fields that are the client's own business, not the fill's: a fill
/// fetches the whole, unconditional object, and the client's conditions and
/// ranges are answered from the stored copy.
const CLIENT_ONLY: [HeaderName; 6] = [
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
];

use http::HeaderName;

/// Whether the cache handles this request: GET or HEAD on a route with the
/// cache enabled, without a request body.
pub(super) fn applies(parts: &http::request::Parts, route: &RouteConfig) -> bool {
    let bodyless = !parts.headers.contains_key(header::TRANSFER_ENCODING)
        && parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    route.cache.enabled && (parts.method == Method::GET || parts.method == Method::HEAD) && bodyless
}

/// A stored response that answers the request as it is, for the HTTP/1
/// front loop to write itself (see [`super::PlainHit`]): a fresh, unpurged
/// entry, and a request without directives, conditions or ranges on a route
/// without plugins (so no cache variant). Counted as a hit only when found;
/// `None` leaves the request to [`CachePhase::serve`], which counts it then.
pub(super) fn plain_hit(
    shared: &Shared,
    generation: &Generation,
    scheme: &str,
    host: &str,
    route_index: usize,
    parts: &http::request::Parts,
) -> Option<(Arc<Entry>, CacheStatus, Duration)> {
    let asks = ClientAsks::of(&parts.headers);
    if asks.asks_anything() {
        return None;
    }
    let route = &generation.config.routes[route_index];
    let key = CacheKey::new(
        scheme,
        host,
        parts.uri.path(),
        parts.uri.query(),
        route.cache.query,
        None,
    );
    let now = SystemTime::now();
    let mut age = Duration::ZERO;
    let entry = shared.cache.lookup_if(&key, &parts.headers, |entry| {
        age = entry.age(now);
        // 1xx, 204 and 304 answers have no body (nor a length to write).
        let bodied = !matches!(entry.status.as_u16(), 100..=199 | 204 | 304);
        // The front loop writes the block made for this node (a node renamed
        // by a reload has none).
        let ready = || {
            let node = &generation.node;
            (entry.served)
                .wire(entry.status, &entry.headers, node, entry.body.len())
                .is_some()
        };
        bodied
            && !entry.purged
            && policy::decide_with(&asks.directives, &entry.freshness, age)
                == RequestDecision::ServeFresh
            && ready()
    })?;
    let mut status = CacheStatus {
        cache: generation.node.clone(),
        hit: true,
        ttl: Some(entry.ttl(now)),
        ..Default::default()
    };
    if generation.config.cache.debug_key {
        status.key = Some(entry.full_key.replace('\u{1f}', " "));
    }
    shared
        .metrics
        .record_cache(&generation.route_cache[route_index], CacheResult::Hit);
    Some((entry, status, age))
}

/// Adds `Cache-Status: <node>; fwd=bypass` to a response the cache did not handle.
pub(super) fn mark_bypass(resp: &mut Response<Body>, node: &Arc<str>) {
    let member = CacheStatus {
        cache: node.clone(),
        fwd: Some(Fwd::Bypass),
        fwd_status: Some(resp.status().as_u16()),
        ..Default::default()
    };
    status::append(resp.headers_mut(), &member);
}

/// The URL key of an unsafe request's target, for invalidation.
pub(super) fn invalidation_url(
    parts: &http::request::Parts,
    conn: ConnInfo,
    host: &str,
    route: &RouteConfig,
) -> Arc<str> {
    CacheKey::new(
        conn.scheme,
        host,
        parts.uri.path(),
        parts.uri.query(),
        route.cache.query,
        None,
    )
    .url
}

/// After a successful unsafe method: invalidates the target URI and the
/// same-origin `Location` / `Content-Location` (RFC 9111 §4.4).
pub(super) async fn invalidate_after_unsafe(
    cache: &Cache,
    url: &str,
    host: &str,
    conn: ConnInfo,
    resp_headers: &HeaderMap,
) {
    let mut n = cache.invalidate_url(url);
    for path in policy::invalidation_targets(host, resp_headers) {
        let target = format!("{}://{}{}", conn.scheme, host, path);
        n += cache.invalidate_url(&target);
    }
    if n > 0 {
        tracing::debug!(url, entries = n, "invalidated after unsafe method");
    }
}

/// The cache phase of one exchange: the exchange (routed, its pool chosen)
/// and what only this phase adds to it.
pub(super) struct CachePhase<'x> {
    x: &'x mut Exchange,
    /// What the key holds besides the URL and the `Vary`'d fields
    /// ([`super::key_variant`]).
    variant: Option<String>,
    /// A plugin's TTL, seconds, over the route's `force_ttl`.
    ttl_override: Option<u32>,
}

/// A response being answered, with its `Cache-Status` member.
struct Answer {
    resp: Response<Body>,
    status: CacheStatus,
    /// What the access log says.
    outcome: CacheOutcome,
}

impl<'x> CachePhase<'x> {
    /// The cache phase of `x`, keyed with `variant`.
    pub(super) fn new(
        x: &'x mut Exchange,
        variant: Option<String>,
        ttl_override: Option<u32>,
    ) -> CachePhase<'x> {
        CachePhase {
            x,
            variant,
            ttl_override,
        }
    }

    fn generation(&self) -> &Generation {
        &self.x.generation
    }

    fn route_cache(&self) -> &RouteCache {
        &self.x.route().cache
    }

    fn cache(&self) -> &Cache {
        &self.x.shared.cache
    }

    fn node(&self) -> &str {
        &self.generation().config.node.name
    }

    fn rules(&self) -> StoreRules {
        let c = &self.generation().config.cache;
        StoreRules {
            allow_set_cookie: self.route_cache().allow_set_cookie,
            cache_statuses: self.route_cache().statuses.clone(),
            force_ttl: self
                .ttl_override
                .map(|s| Duration::from_secs(u64::from(s)))
                .or(self.route_cache().force_ttl),
            default_stale_while_revalidate: c.stale_while_revalidate,
            default_stale_if_error: c.stale_if_error,
            ..StoreRules::default()
        }
    }

    fn key(&self, parts: &http::request::Parts) -> CacheKey {
        CacheKey::new(
            self.x.conn.scheme,
            &self.x.target.authority,
            parts.uri.path(),
            parts.uri.query(),
            self.route_cache().query,
            self.variant.as_deref(),
        )
    }

    /// Sends a request to the pool (balancing, retries, fallback).
    async fn fetch(&mut self, upstream: Request<Body>) -> Result<Response<Body>, EdgeError> {
        self.x.forward(upstream).await
    }

    /// How long a request waits on another's fill of its key (the pool's
    /// `coalesce_timeout`).
    fn coalesce_timeout(&self) -> Result<Duration, EdgeError> {
        Ok(self.x.pool()?.config().coalesce_timeout)
    }

    fn new_status(&self) -> CacheStatus {
        CacheStatus {
            cache: self.generation().node.clone(),
            ..Default::default()
        }
    }

    fn count(&self, result: CacheResult) {
        let counters = &self.generation().route_cache[self.x.route];
        self.x.shared.metrics.record_cache(counters, result);
    }

    /// Runs the cache phase for one request; the exchange learns its outcome.
    pub(super) async fn serve(
        mut self,
        parts: http::request::Parts,
    ) -> Result<Response<Body>, EdgeError> {
        let key = self.key(&parts);
        let asks = ClientAsks::of(&parts.headers);
        let request_no_store = asks.directives.no_store;
        let Lookup {
            vary,
            full_key,
            entry: stored,
        } = self.cache().lookup(&key, &parts.headers, !request_no_store);
        let now = SystemTime::now();
        let answer = match stored {
            Some(entry) => {
                self.with_entry(&parts, &asks, &key, full_key.clone(), entry, now)
                    .await?
            }
            None if asks.directives.only_if_cached => self.only_if_cached_miss(),
            None => {
                // Only a URL whose responses vary can miss on `Vary`; one
                // stored without `Vary` and since purged is a plain miss.
                let fwd = if vary.as_deref().is_some_and(|v| !v.is_empty()) {
                    Fwd::VaryMiss
                } else {
                    Fwd::UriMiss
                };
                Box::pin(self.fill(&parts, &key, full_key.clone(), fwd, request_no_store)).await?
            }
        };
        let Answer {
            mut resp,
            mut status,
            outcome,
        } = answer;
        if self.generation().config.cache.debug_key {
            status.key = Some(full_key.replace('\u{1f}', " "));
        }
        status::append(resp.headers_mut(), &status);
        self.x.log.cache = outcome;
        Ok(resp)
    }

    /// `only-if-cached` and nothing usable stored: 504, never forward
    /// (RFC 9111 §5.2.1.7).
    fn only_if_cached_miss(&self) -> Answer {
        let mut status = self.new_status();
        status.fwd = Some(Fwd::Miss);
        status.detail = Some("only-if-cached".into());
        self.count(CacheResult::Miss);
        let mut resp = crate::body::text_response(
            StatusCode::GATEWAY_TIMEOUT,
            "504 not in cache (only-if-cached)",
        );
        resp.headers_mut().remove(header::CACHE_CONTROL);
        Answer {
            resp,
            status,
            outcome: CacheOutcome::Miss,
        }
    }

    /// A stored entry exists: serve it, or revalidate it, as RFC 9111 and the
    /// request's directives decide.
    async fn with_entry(
        &mut self,
        parts: &http::request::Parts,
        asks: &ClientAsks,
        key: &CacheKey,
        full_key: Arc<str>,
        entry: Arc<Entry>,
        now: SystemTime,
    ) -> Result<Answer, EdgeError> {
        let age = entry.age(now);
        let decision = if entry.purged {
            RequestDecision::Revalidate
        } else {
            policy::decide_with(&asks.directives, &entry.freshness, age)
        };
        match decision {
            RequestDecision::ServeFresh | RequestDecision::ServeStale => {
                let mut status = self.new_status();
                status.hit = true;
                status.ttl = Some(entry.ttl(now));
                let fresh = decision == RequestDecision::ServeFresh;
                self.count(if fresh {
                    CacheResult::Hit
                } else {
                    CacheResult::Stale
                });
                Ok(Answer {
                    resp: self.respond_with(&entry, parts, asks, age),
                    status,
                    outcome: if fresh {
                        CacheOutcome::Hit
                    } else {
                        CacheOutcome::Stale
                    },
                })
            }
            RequestDecision::ServeStaleWhileRevalidate => {
                let mut status = self.new_status();
                status.hit = true;
                status.ttl = Some(entry.ttl(now));
                status.detail = Some("stale-while-revalidate".into());
                self.count(CacheResult::Stale);
                self.revalidate_in_background(parts, key, full_key, entry.clone());
                Ok(Answer {
                    resp: self.respond_with(&entry, parts, asks, age),
                    status,
                    outcome: CacheOutcome::Stale,
                })
            }
            RequestDecision::Revalidate | RequestDecision::Miss
                if asks.directives.only_if_cached =>
            {
                Ok(self.only_if_cached_miss())
            }
            RequestDecision::Revalidate => {
                // A fresh entry that the request's directives refused is
                // `fwd=request` (RFC 9211 §2.2), not `stale`.
                let fwd = if !entry.purged
                    && !entry.freshness.always_revalidate
                    && policy::is_fresh(&entry.freshness, age)
                {
                    Fwd::Request
                } else {
                    Fwd::Stale
                };
                Box::pin(self.revalidate(parts, key, full_key, entry, fwd)).await
            }
            RequestDecision::Miss => {
                Box::pin(self.fill(parts, key, full_key, Fwd::Request, true)).await
            }
        }
    }

    /// The response served from a stored entry: `Age`, `Via`, the client's
    /// conditional (304) and range (206 / 416) answered from the stored copy,
    /// no body for HEAD.
    fn respond_from(
        &self,
        entry: &Entry,
        parts: &http::request::Parts,
        now: SystemTime,
    ) -> Response<Body> {
        let asks = ClientAsks::of(&parts.headers);
        self.respond_with(entry, parts, &asks, entry.age(now))
    }

    /// [`Self::respond_from`] with the request's fields read and the entry's
    /// age known.
    fn respond_with(
        &self,
        entry: &Entry,
        parts: &http::request::Parts,
        asks: &ClientAsks,
        age: Duration,
    ) -> Response<Body> {
        let head = parts.method == Method::HEAD;
        let answer = if !asks.conditional {
            None
        } else if precondition_failed(&parts.headers, entry.status, &entry.headers) {
            Some((StatusCode::PRECONDITION_FAILED, HeaderMap::new(), empty()))
        } else if client_not_modified(&parts.method, &parts.headers, entry.status, &entry.headers) {
            Some((
                StatusCode::NOT_MODIFIED,
                not_modified_response_headers(&entry.headers),
                empty(),
            ))
        } else {
            None
        };
        let answer = answer.or_else(|| {
            if !asks.range || entry.status != StatusCode::OK || head {
                return None;
            }
            match range::parse_range(&parts.headers, &entry.headers, entry.body.len() as u64) {
                RangeRequest::None => None,
                RangeRequest::Satisfiable(ranges) => {
                    let (status, headers, chunks) =
                        range::partial_response(&entry.headers, &entry.body, &ranges);
                    Some((status, headers, chunked(chunks)))
                }
                RangeRequest::Unsatisfiable => {
                    let (status, headers) = range::unsatisfiable(entry.body.len() as u64);
                    Some((status, headers, empty()))
                }
            }
        });
        let node = &self.generation().node;
        let (status, mut headers, body) = match answer {
            Some((status, headers, body)) => (status, client_fields(headers, node), body),
            // The whole stored response: its prepared header block (made for
            // this node unless a reload renamed it).
            None => {
                let headers = match entry.served.headers(&entry.headers, node) {
                    Some(prepared) => prepared.clone(),
                    None => client_fields(entry.headers.clone(), node),
                };
                let body = if head {
                    empty()
                } else {
                    full(entry.body.clone())
                };
                (entry.status, headers, body)
            }
        };
        headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        resp
    }

    /// The request sent to the origin for a fill or revalidation: the
    /// client's conditions and ranges removed, GET for HEAD, no body.
    fn fill_request(
        &self,
        parts: &http::request::Parts,
        extra: Option<HeaderMap>,
    ) -> Request<Body> {
        let mut headers = parts.headers.clone();
        for name in CLIENT_ONLY {
            headers.remove(name);
        }
        if let Some(extra) = extra {
            for (n, v) in extra.iter() {
                headers.insert(n.clone(), v.clone());
            }
        }
        let head = copy_head(parts, Method::GET, headers);
        self.x.to_upstream(head, empty())
    }
}

/// A request head like `parts` with this method and these fields
/// (`http::request::Parts` is not `Clone`: its extensions are not).
fn copy_head(
    parts: &http::request::Parts,
    method: Method,
    headers: HeaderMap,
) -> http::request::Parts {
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = headers;
    req.into_parts().0
}

/// A body made of several chunks (multipart ranges), without copying them.
fn chunked(chunks: Vec<Bytes>) -> Body {
    if chunks.len() == 1 {
        return full(chunks.into_iter().next().unwrap_or_default());
    }
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, crate::body::BoxError>(http_body::Frame::data(c))),
    );
    http_body_util::StreamBody::new(stream).boxed()
}

/// What the cache phase reads from the request's fields, found in one pass
/// over them: most requests carry no directives, conditions or ranges, and
/// then each is not looked up again.
struct ClientAsks {
    /// Request `Cache-Control` (with `Pragma: no-cache`); default when absent.
    directives: CacheControl,
    /// An `If-Match`, `If-None-Match`, `If-Modified-Since` or `If-Unmodified-Since`.
    conditional: bool,
    /// A `Range`.
    range: bool,
}

impl ClientAsks {
    /// Whether the request says anything the cache phase has to weigh.
    fn asks_anything(&self) -> bool {
        self.conditional || self.range || self.directives != CacheControl::default()
    }

    fn of(headers: &HeaderMap) -> ClientAsks {
        let (mut directives, mut conditional, mut range) = (false, false, false);
        for name in headers.keys() {
            if name == header::CACHE_CONTROL || name == header::PRAGMA {
                directives = true;
            } else if name == header::IF_NONE_MATCH
                || name == header::IF_MODIFIED_SINCE
                || name == header::IF_MATCH
                || name == header::IF_UNMODIFIED_SINCE
            {
                conditional = true;
            } else if name == header::RANGE {
                range = true;
            }
        }
        ClientAsks {
            directives: if directives {
                policy::request_directives(headers)
            } else {
                CacheControl::default()
            },
            conditional,
            range,
        }
    }
}
