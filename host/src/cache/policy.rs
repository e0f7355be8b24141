//! Shared-cache policy (RFC 9111, RFC 5861, RFC 9213): whether a response may
//! be stored and for how long, whether a stored response may answer a request,
//! `Vary` keys, invalidation targets and 304 merging.
//!
//! Everything here is a pure function of its inputs; time is passed in.

use std::time::{Duration, SystemTime};

use http::header::{
    ACCEPT_ENCODING, AGE, AUTHORIZATION, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_LOCATION, CONTENT_RANGE, COOKIE, DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, LOCATION, PRAGMA, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, SET_COOKIE, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::directives::{self, CacheControl, DELTA_SECONDS_MAX, trim_ows};

/// The longest duration any age or lifetime is allowed to reach (2^31 s).
const MAX_DELTA: Duration = Duration::from_secs(DELTA_SECONDS_MAX);

/// Most distinct `Vary` fields before the response is treated as `Vary: *`.
pub const MAX_VARY_FIELDS: usize = 64;

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

/// Status codes whose caching semantics this cache implements.
fn status_understood(code: u16) -> bool {
    matches!(code,
        200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429 | 431
        | 451 | 500..=508 | 510 | 511)
}

/// Heuristically cacheable statuses (RFC 9110 §15.1).
fn heuristically_cacheable(code: u16) -> bool {
    matches!(
        code,
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The `Age` header value: the largest valid delta-seconds (0 if none).
fn age_value(headers: &HeaderMap) -> Duration {
    headers
        .get_all(AGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|v| directives::delta_seconds(v.trim()))
        .max()
        .map_or(Duration::ZERO, secs)
}

/// Initial age per RFC 9111 §4.2.3.
fn initial_age(
    headers: &HeaderMap,
    date: Option<SystemTime>,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Duration {
    let apparent = date
        .and_then(|d| response_time.duration_since(d).ok())
        .unwrap_or_default();
    let delay = response_time
        .duration_since(request_time)
        .unwrap_or_default();
    let corrected = age_value(headers).saturating_add(delay);
    apparent.max(corrected).min(MAX_DELTA)
}

/// `Expires - Date`; an invalid or conflicting `Expires` means already stale.
fn expires_lifetime(headers: &HeaderMap, date: SystemTime) -> Option<Duration> {
    let mut values = headers.get_all(EXPIRES).iter();
    let first = parse_date(values.next()?);
    if values.any(|v| parse_date(v) != first) {
        return Some(Duration::ZERO);
    }
    Some(first.map_or(Duration::ZERO, |e| {
        e.duration_since(date).unwrap_or_default().min(MAX_DELTA)
    }))
}

fn heuristic_lifetime(
    headers: &HeaderMap,
    date: SystemTime,
    rules: &StoreRules,
) -> Option<Duration> {
    let last_modified = header_date(headers, &LAST_MODIFIED)?;
    let since = date.duration_since(last_modified).unwrap_or_default();
    let fraction = if rules.heuristic_fraction.is_finite() && rules.heuristic_fraction > 0.0 {
        rules.heuristic_fraction
    } else {
        0.0
    };
    let lifetime =
        Duration::try_from_secs_f64(since.as_secs_f64() * fraction).unwrap_or(rules.heuristic_max);
    Some(lifetime.min(rules.heuristic_max).min(MAX_DELTA))
}

/// Whether a response may be stored by a shared cache (RFC 9111 §3, §3.5,
/// §4.2; RFC 9213; RFC 5861), and its freshness if so.
///
/// `request_time` is when the request was sent to the origin and
/// `response_time` when the response headers arrived.
pub fn storability(
    method: &Method,
    req_headers: &HeaderMap,
    status: StatusCode,
    resp_headers: &HeaderMap,
    rules: &StoreRules,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Storability {
    use Storability::DontStore;
    if method == Method::HEAD {
        return DontStore(NotStorable::HeadRequest);
    }
    if method != Method::GET {
        return DontStore(NotStorable::Method);
    }
    if directives::cache_control(req_headers).no_store {
        return DontStore(NotStorable::RequestNoStore);
    }
    let code = status.as_u16();
    match code {
        ..200 => return DontStore(NotStorable::Interim),
        206 => return DontStore(NotStorable::Partial),
        304 => return DontStore(NotStorable::NotModified),
        _ => {}
    }

    let cc = directives::cache_control(resp_headers);
    let cdn = directives::cdn_cache_control(resp_headers);
    let targeted = cdn.is_some();
    // Surrogate-Control overrides only the directives it carries;
    // CDN-Cache-Control replaces Cache-Control and Expires (RFC 9213 §2.2).
    let surrogate = if targeted {
        None
    } else {
        directives::surrogate_control(resp_headers)
    };
    let surrogate = surrogate.unwrap_or_default();
    let ctl: CacheControl = cdn.unwrap_or_else(|| cc.clone());

    let understood = status_understood(code);
    if ctl.must_understand && !understood {
        return DontStore(NotStorable::MustUnderstand);
    }
    let no_store = ctl.no_store && !(ctl.must_understand && understood);
    if no_store || surrogate.no_store {
        return DontStore(NotStorable::NoStore);
    }
    if ctl.private {
        return DontStore(NotStorable::Private);
    }
    let shared_ok = |c: &CacheControl| c.public || c.s_maxage.is_some() || c.must_revalidate;
    if req_headers.contains_key(AUTHORIZATION) && !shared_ok(&ctl) && !shared_ok(&cc) {
        return DontStore(NotStorable::RequestAuthorization);
    }
    let mut strip_fields: Vec<String> = ctl
        .private_fields
        .iter()
        .chain(&ctl.no_cache_fields)
        .cloned()
        .collect();
    strip_fields.sort_unstable();
    strip_fields.dedup();
    let cookie_stripped = strip_fields.iter().any(|f| f == "set-cookie");
    if resp_headers.contains_key(SET_COOKIE) && !rules.allow_set_cookie && !cookie_stripped {
        return DontStore(NotStorable::SetCookie);
    }
    if vary(resp_headers) == Vary::Star {
        return DontStore(NotStorable::VaryStar);
    }
    if let Some(list) = &rules.cache_statuses
        && !list.contains(&code)
    {
        return DontStore(NotStorable::StatusRule);
    }

    let date = header_date(resp_headers, &DATE);
    let date_value = date.unwrap_or(response_time);
    let initial_age = initial_age(resp_headers, date, request_time, response_time);
    let forced = rules
        .force_ttl
        .filter(|_| rules.cache_statuses.is_some() || heuristically_cacheable(code));

    let explicit = surrogate.max_age.or(ctl.s_maxage).or(ctl.max_age).map(secs);
    let mut no_freshness_info = false;
    let (lifetime, heuristic) = if let Some(ttl) = forced {
        (ttl.saturating_add(initial_age), false)
    } else if let Some(lifetime) = explicit {
        (lifetime, false)
    } else if let Some(lifetime) = (!targeted)
        .then(|| expires_lifetime(resp_headers, date_value))
        .flatten()
    {
        (lifetime, false)
    } else if heuristically_cacheable(code) || ctl.public {
        // Without Last-Modified the heuristic lifetime is zero: stored only
        // if it can be revalidated (ETag) or the origin grants stale windows.
        let lifetime = heuristic_lifetime(resp_headers, date_value, rules);
        no_freshness_info = lifetime.is_none();
        (lifetime.unwrap_or_default(), true)
    } else {
        return DontStore(NotStorable::NoFreshness);
    };

    let explicit_revalidate = ctl.must_revalidate || ctl.proxy_revalidate;
    let must_revalidate = explicit_revalidate || ctl.s_maxage.is_some();
    let always_revalidate = ctl.no_cache && forced.is_none();
    // Stale serving: forbidden by must-revalidate / proxy-revalidate / no-cache
    // (RFC 9111 §4.2.4). The proxy-revalidate implied by s-maxage yields to an
    // explicit stale-while-revalidate / stale-if-error, not to the defaults;
    // so does a response without any freshness information.
    let window = |explicit: Option<u64>, default: Duration| {
        if explicit_revalidate || ctl.no_cache {
            Duration::ZERO
        } else if let Some(v) = explicit {
            secs(v)
        } else if must_revalidate || no_freshness_info {
            Duration::ZERO
        } else {
            default
        }
    };
    let stale_while_revalidate = window(
        surrogate
            .stale_while_revalidate
            .or(ctl.stale_while_revalidate),
        rules.default_stale_while_revalidate,
    );
    let stale_if_error = window(
        surrogate.stale_if_error.or(ctl.stale_if_error),
        rules.default_stale_if_error,
    );

    let has_validator =
        resp_headers.contains_key(ETAG) || header_date(resp_headers, &LAST_MODIFIED).is_some();
    let useless = always_revalidate || lifetime <= initial_age;
    if useless && !has_validator && stale_while_revalidate.is_zero() && stale_if_error.is_zero() {
        return DontStore(NotStorable::StaleOnArrival);
    }

    Storability::Store(Freshness {
        lifetime,
        initial_age,
        stale_while_revalidate,
        stale_if_error,
        must_revalidate,
        always_revalidate,
        heuristic,
        strip_fields,
    })
}

/// The current age of a stored response (RFC 9111 §4.2.3): its initial age
/// plus the time it has been resident. A clock going backwards adds nothing.
pub fn current_age(f: &Freshness, stored_at: SystemTime, now: SystemTime) -> Duration {
    let resident = now.duration_since(stored_at).unwrap_or_default();
    f.initial_age.saturating_add(resident).min(MAX_DELTA)
}

/// Whether a response of this age is fresh.
pub fn is_fresh(f: &Freshness, age: Duration) -> bool {
    age < f.lifetime
}

/// Remaining freshness in whole seconds, negative once stale (the
/// `Cache-Status` `ttl` parameter).
pub fn ttl_seconds(f: &Freshness, age: Duration) -> i64 {
    let lifetime = i64::try_from(f.lifetime.as_secs()).unwrap_or(i64::MAX);
    let age = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
    lifetime.saturating_sub(age)
}

/// An `Age` header value (whole seconds, capped at 2^31).
pub fn age_header(age: Duration) -> HeaderValue {
    HeaderValue::from(age.as_secs().min(DELTA_SECONDS_MAX))
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
    /// [`decide`] today; kept for callers' own reasons).
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
/// §4.2.4, §5.2.1; RFC 5861 §3).
pub fn decide(req_headers: &HeaderMap, f: &Freshness, age: Duration) -> RequestDecision {
    decide_with(&request_directives(req_headers), f, age)
}

/// [`decide`] with the request's directives already read (see
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

/// The request's `only-if-cached` directive (answer 504 rather than forward).
pub fn only_if_cached(req_headers: &HeaderMap) -> bool {
    directives::cache_control(req_headers).only_if_cached
}

/// The request's `no-store` directive (do not store the response to it).
pub fn request_no_store(req_headers: &HeaderMap) -> bool {
    directives::cache_control(req_headers).no_store
}

/// The `Vary` of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vary {
    /// No `Vary` (or only empty members).
    None,
    /// `Vary: *`, an invalid field name, or more than [`MAX_VARY_FIELDS`]
    /// fields: never matches, so never stored.
    Star,
    /// These request fields select the response: lowercased, sorted, unique.
    Fields(Vec<HeaderName>),
}

/// Parses the response's `Vary` fields.
pub fn vary(resp_headers: &HeaderMap) -> Vary {
    let mut names: Vec<HeaderName> = Vec::new();
    let tidy = |names: &mut Vec<HeaderName>| {
        names.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
    };
    for value in resp_headers.get_all(VARY) {
        for member in value.as_bytes().split(|&c| c == b',') {
            let member = trim_ows(member);
            if member.is_empty() {
                continue;
            }
            if member == b"*" || !member.iter().all(|&c| directives::is_tchar(c)) {
                return Vary::Star;
            }
            match HeaderName::from_bytes(member) {
                Ok(name) => names.push(name),
                Err(_) => return Vary::Star,
            }
            if names.len() > 4 * MAX_VARY_FIELDS {
                tidy(&mut names);
                if names.len() > MAX_VARY_FIELDS {
                    return Vary::Star;
                }
            }
        }
    }
    tidy(&mut names);
    match names.len() {
        0 => Vary::None,
        n if n > MAX_VARY_FIELDS => Vary::Star,
        _ => Vary::Fields(names),
    }
}

/// The secondary cache key for a request: for each field in `fields` (as
/// returned by [`vary`]), its normalised value. An absent field differs from
/// an empty one. Values are normalised: several lines combined with `", "`,
/// list members trimmed, empty members dropped, whitespace runs collapsed,
/// case kept; `Accept-Encoding` becomes [`normalize_accept_encoding`].
/// Bytes outside printable ASCII (and `%`) are percent-escaped, so distinct
/// values never collide.
pub fn vary_key(fields: &[HeaderName], req_headers: &HeaderMap) -> String {
    let mut out = String::new();
    for field in fields {
        out.push_str(field.as_str());
        let values = req_headers.get_all(field);
        if values.iter().next().is_none() {
            out.push('\n');
            continue;
        }
        out.push(':');
        if field == ACCEPT_ENCODING {
            let joined: Vec<String> = values
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            out.push_str(normalize_accept_encoding(&joined.join(",")));
        } else {
            let mut first = true;
            for value in values {
                for member in value.as_bytes().split(|&c| c == b',') {
                    let member = trim_ows(member);
                    if member.is_empty() {
                        continue;
                    }
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    let mut in_space = false;
                    for &c in member {
                        if c == b' ' || c == b'\t' {
                            in_space = true;
                            continue;
                        }
                        if in_space {
                            out.push(' ');
                            in_space = false;
                        }
                        if (0x21..=0x7e).contains(&c) && c != b'%' {
                            out.push(char::from(c));
                        } else {
                            out.push_str(&format!("%{c:02X}"));
                        }
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

/// A qvalue in thousandths; `None` if invalid.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let frac_val = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_val),
        "1" if frac_val == 0 => Some(1000),
        _ => None,
    }
}

/// Normalises an `Accept-Encoding` value to the coding the cache would store
/// for it: `"br"`, `"gzip"` or `"identity"`. The acceptable coding with the
/// higher qvalue wins (`br` on a tie); `q=0` excludes; `*` covers codings not
/// listed; an invalid qvalue excludes its coding; a coding listed twice takes
/// its lowest qvalue.
pub fn normalize_accept_encoding(value: &str) -> &'static str {
    let (mut br, mut gzip, mut star): (Option<u16>, Option<u16>, Option<u16>) = (None, None, None);
    for member in value.split(',') {
        let mut parts = member.split(';');
        let coding = parts.next().unwrap_or("").trim_matches([' ', '\t']);
        if coding.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim_matches([' ', '\t']).eq_ignore_ascii_case("q")
            {
                q = qvalue(v.trim_matches([' ', '\t'])).unwrap_or(0);
            }
        }
        let slot = if coding.eq_ignore_ascii_case("br") {
            &mut br
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut star
        } else {
            continue;
        };
        *slot = Some(slot.map_or(q, |cur| cur.min(q)));
    }
    let br = br.or(star).unwrap_or(0);
    let gzip = gzip.or(star).unwrap_or(0);
    if br == 0 && gzip == 0 {
        "identity"
    } else if br >= gzip {
        "br"
    } else {
        "gzip"
    }
}

/// The host part of an authority (no userinfo, no port), lowercased.
fn authority_host(authority: &str) -> String {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or(host_port)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    host.to_ascii_lowercase()
}

/// The path-and-query of a same-host reference, if it is one.
fn same_host_target(req_host: &str, value: &HeaderValue) -> Option<String> {
    let v = value.to_str().ok()?.trim();
    if v.is_empty() || v.bytes().any(|c| c <= b' ' || c == 0x7f) {
        return None;
    }
    let v = v.split('#').next().unwrap_or(v);
    let authority_and_rest = if let Some(rest) = v.strip_prefix("//") {
        Some(rest)
    } else if let Some((scheme, rest)) = v.split_once(':')
        && !scheme.is_empty()
        && !scheme.contains(['/', '?'])
    {
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return None;
        }
        Some(rest.strip_prefix("//")?)
    } else {
        None
    };
    let path_and_query = match authority_and_rest {
        Some(rest) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            if authority.is_empty() || authority_host(authority) != authority_host(req_host) {
                return None;
            }
            match path.chars().next() {
                None => "/".to_owned(),
                Some('?') => format!("/{path}"),
                Some(_) => path.to_owned(),
            }
        }
        // Relative references: only absolute paths can be resolved without
        // the request's own path.
        None if v.starts_with('/') => v.to_owned(),
        None => return None,
    };
    Some(path_and_query)
}

/// Same-host `Location` and `Content-Location` targets to invalidate after a
/// successful unsafe request (RFC 9111 §4.4), as path-and-query. Absolute
/// URLs (http/https) must name the request's host (the port is not compared,
/// per §4.4 "host part"); absolute-path references are taken as is; other
/// relative references, other schemes and fragments are skipped/stripped.
/// The caller invalidates the target URI itself.
pub fn invalidation_targets(req_host: &str, resp_headers: &HeaderMap) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in [LOCATION, CONTENT_LOCATION] {
        for value in resp_headers.get_all(name) {
            if let Some(target) = same_host_target(req_host, value)
                && !out.contains(&target)
            {
                out.push(target);
            }
        }
    }
    out
}

/// Hop-by-hop and proxy-authentication fields, never stored (RFC 9111 §3.1).
fn never_stored(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == TRAILER
        || name == PROXY_AUTHENTICATE
        || name == PROXY_AUTHORIZATION
        || matches!(
            name.as_str(),
            "keep-alive" | "proxy-connection" | "proxy-authentication-info"
        )
}

/// Field names listed in `Connection`.
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&c| c == b','))
        .filter_map(|t| HeaderName::from_bytes(trim_ows(t)).ok())
        .collect()
}

/// Prepares response headers for storage (RFC 9111 §3.1): removes
/// hop-by-hop fields (and those listed in `Connection`), proxy
/// authentication fields, and `strip_fields` (from [`Freshness`]).
pub fn strip_for_storage(headers: &mut HeaderMap, strip_fields: &[String]) {
    for name in connection_listed(headers) {
        headers.remove(name);
    }
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| never_stored(n) || strip_fields.iter().any(|f| f == n.as_str()))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Updates a stored response's header fields from a 304 (RFC 9111 §3.2,
/// §4.3.4): every field in the 304 replaces the stored one, except
/// `Content-Length`, `Content-Encoding`, `Transfer-Encoding`, `Content-Range`
/// and hop-by-hop fields. Recompute [`storability`] on the result and apply
/// [`strip_for_storage`] again.
pub fn merge_not_modified(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    let listed = connection_listed(not_modified);
    for name in not_modified.keys() {
        if name == CONTENT_LENGTH
            || name == CONTENT_ENCODING
            || name == CONTENT_RANGE
            || never_stored(name)
            || listed.contains(name)
        {
            continue;
        }
        stored.remove(name);
        for value in not_modified.get_all(name) {
            stored.append(name.clone(), value.clone());
        }
    }
}

/// Conditional request headers to revalidate a stored response (RFC 9111
/// §4.3.1): `If-None-Match` from `ETag`, `If-Modified-Since` from a valid
/// `Last-Modified`.
pub fn revalidation_headers(stored: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    if let Some(etag) = stored.get(ETAG) {
        out.insert(IF_NONE_MATCH, etag.clone());
    }
    if let Some(lm) = stored
        .get_all(LAST_MODIFIED)
        .iter()
        .find(|v| parse_date(v).is_some())
    {
        out.insert(IF_MODIFIED_SINCE, lm.clone());
    }
    out
}

#[cfg(test)]
mod tests;
