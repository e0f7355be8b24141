//! Shared-cache policy (RFC 9111, RFC 5861, RFC 9213): whether a response may
//! be stored and for how long, whether a stored response may answer a request,
//! `Vary` keys, invalidation targets and 304 merging.
//!
//! Everything here is a pure function of its inputs; time is passed in.

use std::time::{Duration, SystemTime};

use http::header::{
    ACCEPT_ENCODING, AGE, AUTHORIZATION, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_LOCATION, CONTENT_RANGE, DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH,
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
    DontStore(&'static str),
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
        return DontStore("HEAD responses are not stored");
    }
    if method != Method::GET {
        return DontStore("method is not cacheable");
    }
    if directives::cache_control(req_headers).no_store {
        return DontStore("request no-store");
    }
    let code = status.as_u16();
    match code {
        ..200 => return DontStore("interim response"),
        206 => return DontStore("partial content is not a full response"),
        304 => return DontStore("304 updates a stored response"),
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
        return DontStore("must-understand with a status not understood");
    }
    let no_store = ctl.no_store && !(ctl.must_understand && understood);
    if no_store || surrogate.no_store {
        return DontStore("no-store");
    }
    if ctl.private {
        return DontStore("private");
    }
    let shared_ok = |c: &CacheControl| c.public || c.s_maxage.is_some() || c.must_revalidate;
    if req_headers.contains_key(AUTHORIZATION) && !shared_ok(&ctl) && !shared_ok(&cc) {
        return DontStore("request has Authorization");
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
        return DontStore("Set-Cookie");
    }
    if vary(resp_headers) == Vary::Star {
        return DontStore("Vary: * (or too many Vary fields)");
    }
    if let Some(list) = &rules.cache_statuses
        && !list.contains(&code)
    {
        return DontStore("status not cached by rule");
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
        return DontStore("no explicit freshness and no heuristic");
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
        return DontStore("stale on arrival and no validator");
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
    let req = request_directives(req_headers);
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
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(t(secs))
    }

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn store_with(
        req: &[(&str, &str)],
        status: u16,
        resp: &[(&str, &str)],
        rules: &StoreRules,
    ) -> Storability {
        storability(
            &Method::GET,
            &hm(req),
            StatusCode::from_u16(status).unwrap(),
            &hm(resp),
            rules,
            t(0),
            t(0),
        )
    }

    fn store(resp: &[(&str, &str)]) -> Storability {
        store_with(&[], 200, resp, &StoreRules::default())
    }

    fn fresh(resp: &[(&str, &str)]) -> Freshness {
        match store(resp) {
            Storability::Store(f) => f,
            other => panic!("expected Store, got {other:?}"),
        }
    }

    fn dont(s: Storability) -> &'static str {
        match s {
            Storability::DontStore(r) => r,
            other => panic!("expected DontStore, got {other:?}"),
        }
    }

    fn f(lifetime: u64) -> Freshness {
        Freshness {
            lifetime: Duration::from_secs(lifetime),
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            must_revalidate: false,
            always_revalidate: false,
            heuristic: false,
            strip_fields: vec![],
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn max_age_lifetime() {
        let f = fresh(&[("cache-control", "max-age=60")]);
        assert_eq!(f.lifetime, S(60));
        assert!(!f.heuristic && !f.must_revalidate && !f.always_revalidate);
    }

    #[test]
    fn s_maxage_beats_max_age_and_implies_revalidate() {
        let f = fresh(&[("cache-control", "max-age=60, s-maxage=600")]);
        assert_eq!(f.lifetime, S(600));
        assert!(f.must_revalidate);
    }

    #[test]
    fn edge_control_beats_everything() {
        let f = fresh(&[
            ("cache-control", "max-age=60, s-maxage=600"),
            ("cdn-cache-control", "max-age=5"),
            ("expires", &date(100_000)),
        ]);
        assert_eq!(f.lifetime, S(5));
        assert!(!f.must_revalidate);
        let f = fresh(&[
            ("cache-control", "s-maxage=600"),
            ("surrogate-control", "max-age=7"),
        ]);
        assert_eq!(f.lifetime, S(7));
        assert!(f.must_revalidate); // Cache-Control still applies around Surrogate-Control
    }

    #[test]
    fn cdn_cache_control_replaces_cache_control() {
        // The RFC 9213 pattern: browsers must not store, the CDN may.
        let f = fresh(&[
            ("cache-control", "no-store, private"),
            ("cdn-cache-control", "max-age=300"),
        ]);
        assert_eq!(f.lifetime, S(300));
        // And the other way round.
        assert_eq!(
            dont(store(&[
                ("cache-control", "max-age=300"),
                ("cdn-cache-control", "no-store")
            ])),
            "no-store"
        );
        // Expires is ignored too; with nothing else it falls to heuristics.
        assert_eq!(
            dont(store(&[
                ("cdn-cache-control", "none"),
                ("expires", &date(100))
            ])),
            "stale on arrival and no validator"
        );
        // An invalid CDN-Cache-Control is ignored: Cache-Control applies.
        assert_eq!(
            dont(store(&[
                ("cache-control", "private"),
                ("cdn-cache-control", "Max-Age=5")
            ])),
            "private"
        );
    }

    #[test]
    fn surrogate_control_no_store_and_windows() {
        assert_eq!(
            dont(store(&[
                ("cache-control", "max-age=60"),
                ("surrogate-control", "no-store")
            ])),
            "no-store"
        );
        let f = fresh(&[
            ("cache-control", "max-age=60, stale-while-revalidate=1"),
            (
                "surrogate-control",
                "stale-while-revalidate=30, stale-if-error=90",
            ),
        ]);
        assert_eq!(
            (f.lifetime, f.stale_while_revalidate, f.stale_if_error),
            (S(60), S(30), S(90))
        );
    }

    #[test]
    fn expires_minus_date() {
        let f = fresh(&[("date", &date(0)), ("expires", &date(120))]);
        assert_eq!(f.lifetime, S(120));
        // Missing Date: response_time.
        let f = fresh(&[("expires", &date(30))]);
        assert_eq!(f.lifetime, S(30));
        // max-age wins over Expires.
        let f = fresh(&[("expires", &date(30)), ("cache-control", "max-age=5")]);
        assert_eq!(f.lifetime, S(5));
        // Expires in the past.
        let f = fresh(&[
            ("date", &date(100)),
            ("expires", &date(0)),
            ("etag", "\"a\""),
        ]);
        assert_eq!(f.lifetime, S(0));
    }

    #[test]
    fn invalid_expires_is_stale() {
        for bad in ["0", "-1", "tomorrow", "Thu, 32 Foo 2024 99:00:00 GMT", ""] {
            let f = fresh(&[("expires", bad), ("etag", "\"v\"")]);
            assert_eq!(f.lifetime, S(0), "{bad:?}");
        }
        // Conflicting Expires lines: stale.
        let f = fresh(&[
            ("expires", &date(10)),
            ("expires", &date(20)),
            ("etag", "\"v\""),
        ]);
        assert_eq!(f.lifetime, S(0));
        let f = fresh(&[("expires", &date(10)), ("expires", &date(10))]);
        assert_eq!(f.lifetime, S(10));
        // Stale on arrival without a validator: pointless to store.
        assert_eq!(
            dont(store(&[("expires", "0")])),
            "stale on arrival and no validator"
        );
    }

    #[test]
    fn heuristic_freshness() {
        let lm = httpdate::fmt_http_date(t(0) - S(1000));
        let f = fresh(&[("date", &date(0)), ("last-modified", &lm)]);
        assert_eq!(f.lifetime, S(100));
        assert!(f.heuristic);
        // Capped.
        let lm = httpdate::fmt_http_date(t(0) - S(100 * 86_400));
        assert_eq!(fresh(&[("last-modified", &lm)]).lifetime, S(86_400));
        // Last-Modified in the future: zero.
        let f = fresh(&[("date", &date(0)), ("last-modified", &date(50))]);
        assert_eq!(f.lifetime, S(0));
        // No Last-Modified: lifetime zero, stored only with a validator, and
        // the configured stale windows do not apply.
        assert_eq!(dont(store(&[])), "stale on arrival and no validator");
        let rules = StoreRules {
            default_stale_while_revalidate: S(60),
            default_stale_if_error: S(60),
            ..StoreRules::default()
        };
        assert_eq!(
            dont(store_with(&[], 200, &[], &rules)),
            "stale on arrival and no validator"
        );
        let Storability::Store(f) = store_with(
            &[],
            200,
            &[("cache-control", "no-cache"), ("etag", "\"v\"")],
            &rules,
        ) else {
            panic!()
        };
        assert_eq!(
            (f.lifetime, f.always_revalidate, f.stale_if_error),
            (S(0), true, S(0))
        );
        let f = fresh(&[("etag", "\"v\""), ("cache-control", "stale-if-error=30")]);
        assert_eq!((f.lifetime, f.stale_if_error), (S(0), S(30)));
        assert!(matches!(
            store_with(&[], 302, &[("etag", "\"v\"")], &StoreRules::default()),
            Storability::DontStore("no explicit freshness and no heuristic")
        ));
        // Not heuristically cacheable status.
        let lm = httpdate::fmt_http_date(t(0) - S(1000));
        assert!(matches!(
            store_with(&[], 302, &[("last-modified", &lm)], &StoreRules::default()),
            Storability::DontStore(_)
        ));
        // ...unless public.
        assert!(matches!(
            store_with(
                &[],
                302,
                &[("last-modified", &lm), ("cache-control", "public")],
                &StoreRules::default()
            ),
            Storability::Store(_)
        ));
        for code in [203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
            assert!(
                matches!(
                    store_with(&[], code, &[("last-modified", &lm)], &StoreRules::default()),
                    Storability::Store(Freshness {
                        heuristic: true,
                        ..
                    })
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn hostile_heuristic_fraction() {
        let lm = httpdate::fmt_http_date(t(0) - S(1000));
        for fraction in [f64::NAN, f64::INFINITY, -1.0, 1e300] {
            let rules = StoreRules {
                heuristic_fraction: fraction,
                ..StoreRules::default()
            };
            let s = store_with(&[], 200, &[("last-modified", &lm)], &rules);
            let Storability::Store(f) = s else { panic!() };
            assert!(f.lifetime <= rules.heuristic_max);
        }
    }

    #[test]
    fn initial_age_rfc_9111_4_2_3() {
        let resp = hm(&[
            ("cache-control", "max-age=100"),
            ("date", &date(10)),
            ("age", "5"),
        ]);
        // request at 10, response at 12: delay 2; apparent = 12-10 = 2; corrected = 5+2.
        let Storability::Store(f) = storability(
            &Method::GET,
            &HeaderMap::new(),
            StatusCode::OK,
            &resp,
            &StoreRules::default(),
            t(10),
            t(12),
        ) else {
            panic!()
        };
        assert_eq!(f.initial_age, S(7));
        // Date far in the past dominates.
        let resp = hm(&[
            ("cache-control", "max-age=100"),
            ("date", &date(0)),
            ("age", "1"),
        ]);
        let Storability::Store(f) = storability(
            &Method::GET,
            &HeaderMap::new(),
            StatusCode::OK,
            &resp,
            &StoreRules::default(),
            t(40),
            t(40),
        ) else {
            panic!()
        };
        assert_eq!(f.initial_age, S(40));
        // Date in the future, response before request (clock skew): no panic, zero.
        let resp = hm(&[("cache-control", "max-age=100"), ("date", &date(1000))]);
        let Storability::Store(f) = storability(
            &Method::GET,
            &HeaderMap::new(),
            StatusCode::OK,
            &resp,
            &StoreRules::default(),
            t(50),
            t(40),
        ) else {
            panic!()
        };
        assert_eq!(f.initial_age, S(0));
    }

    #[test]
    fn hostile_age_values() {
        let f = fresh(&[("cache-control", "max-age=100"), ("age", "-5")]);
        assert_eq!(f.initial_age, S(0));
        let f = fresh(&[
            ("cache-control", "max-age=100"),
            ("age", "abc"),
            ("age", "7"),
        ]);
        assert_eq!(f.initial_age, S(7));
        let f = fresh(&[
            ("cache-control", "max-age=100"),
            ("age", "3, 9"),
            ("etag", "\"e\""),
        ]);
        assert_eq!(f.initial_age, S(9));
        let f = fresh(&[
            ("cache-control", "max-age=100"),
            ("age", "999999999999999999999999"),
            ("etag", "\"e\""),
        ]);
        assert_eq!(f.initial_age, S(DELTA_SECONDS_MAX));
        assert!(!is_fresh(&f, current_age(&f, t(0), t(0))));
        // Saturation never overflows.
        assert_eq!(
            current_age(&f, t(0), SystemTime::UNIX_EPOCH + S(u64::MAX / 4)),
            MAX_DELTA
        );
    }

    #[test]
    fn overflowing_max_age() {
        let f = fresh(&[("cache-control", "max-age=184467440737095516160000")]);
        assert_eq!(f.lifetime, S(DELTA_SECONDS_MAX));
        assert!(matches!(
            store(&[("cache-control", "max-age=-1")]),
            Storability::DontStore("stale on arrival and no validator")
        ));
    }

    #[test]
    fn methods() {
        let resp = hm(&[("cache-control", "max-age=60")]);
        let s = |m: Method| {
            storability(
                &m,
                &HeaderMap::new(),
                StatusCode::OK,
                &resp,
                &StoreRules::default(),
                t(0),
                t(0),
            )
        };
        assert!(matches!(s(Method::GET), Storability::Store(_)));
        assert_eq!(dont(s(Method::HEAD)), "HEAD responses are not stored");
        for m in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
        ] {
            assert_eq!(dont(s(m)), "method is not cacheable");
        }
    }

    #[test]
    fn statuses() {
        let rules = StoreRules::default();
        let cc = [("cache-control", "max-age=60")];
        assert_eq!(
            dont(store_with(&[], 206, &cc, &rules)),
            "partial content is not a full response"
        );
        assert_eq!(
            dont(store_with(&[], 304, &cc, &rules)),
            "304 updates a stored response"
        );
        assert_eq!(dont(store_with(&[], 100, &cc, &rules)), "interim response");
        // Explicit freshness makes any final status storable, even unknown ones.
        assert!(matches!(
            store_with(&[], 500, &cc, &rules),
            Storability::Store(_)
        ));
        assert!(matches!(
            store_with(&[], 299, &cc, &rules),
            Storability::Store(_)
        ));
        // must-understand: unknown status not stored, known status ignores no-store.
        let mu = [("cache-control", "must-understand, no-store, max-age=60")];
        assert!(matches!(
            store_with(&[], 299, &mu, &rules),
            Storability::DontStore(_)
        ));
        assert!(matches!(
            store_with(&[], 200, &mu, &rules),
            Storability::Store(_)
        ));
    }

    #[test]
    fn cache_statuses_restrict() {
        let rules = StoreRules {
            cache_statuses: Some(vec![200]),
            ..StoreRules::default()
        };
        let cc = [("cache-control", "max-age=60")];
        assert!(matches!(
            store_with(&[], 200, &cc, &rules),
            Storability::Store(_)
        ));
        assert_eq!(
            dont(store_with(&[], 404, &cc, &rules)),
            "status not cached by rule"
        );
    }

    #[test]
    fn no_store_and_private() {
        assert_eq!(
            dont(store(&[("cache-control", "max-age=60, no-store")])),
            "no-store"
        );
        assert_eq!(
            dont(store(&[
                ("cache-control", "max-age=60"),
                ("cache-control", "NO-STORE")
            ])),
            "no-store"
        );
        assert_eq!(
            dont(store(&[("cache-control", "private, max-age=60")])),
            "private"
        );
        assert_eq!(
            dont(store(&[("cache-control", "private=\"a b\", max-age=60")])),
            "private"
        );
        assert_eq!(
            dont(store_with(
                &[("cache-control", "no-store")],
                200,
                &[("cache-control", "max-age=60")],
                &StoreRules::default()
            )),
            "request no-store"
        );
    }

    #[test]
    fn qualified_private_and_no_cache_strip_fields() {
        let f = fresh(&[
            (
                "cache-control",
                "max-age=60, private=\"X-User\", no-cache=\"Set-Cookie\"",
            ),
            ("set-cookie", "a=b"),
        ]);
        assert_eq!(f.strip_fields, vec!["set-cookie", "x-user"]);
        assert!(!f.always_revalidate);
        let mut h = hm(&[
            ("x-user", "bob"),
            ("set-cookie", "a=b"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "5"),
            ("content-type", "text/plain"),
        ]);
        strip_for_storage(&mut h, &f.strip_fields);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("content-type"));
    }

    #[test]
    fn no_cache_always_revalidates() {
        let f = fresh(&[
            (
                "cache-control",
                "no-cache, max-age=60, stale-while-revalidate=30",
            ),
            ("etag", "\"x\""),
        ]);
        assert!(f.always_revalidate);
        assert_eq!(f.stale_while_revalidate, S(0));
        assert_eq!(
            decide(&HeaderMap::new(), &f, S(0)),
            RequestDecision::Revalidate
        );
        assert!(!may_serve_stale_on_error(&f, S(0), &HeaderMap::new()));
        assert_eq!(
            dont(store(&[("cache-control", "no-cache, max-age=60")])),
            "stale on arrival and no validator"
        );
    }

    #[test]
    fn authorization_3_5() {
        let rules = StoreRules::default();
        let auth = [("authorization", "Bearer x")];
        assert_eq!(
            dont(store_with(
                &auth,
                200,
                &[("cache-control", "max-age=60")],
                &rules
            )),
            "request has Authorization"
        );
        for ok in [
            "public, max-age=60",
            "s-maxage=60",
            "max-age=60, must-revalidate",
        ] {
            assert!(
                matches!(
                    store_with(&auth, 200, &[("cache-control", ok)], &rules),
                    Storability::Store(_)
                ),
                "{ok}"
            );
        }
        assert!(matches!(
            store_with(
                &auth,
                200,
                &[("cache-control", "max-age=60, proxy-revalidate")],
                &rules
            ),
            Storability::DontStore(_)
        ));
        // force_ttl does not override it.
        let forced = StoreRules {
            force_ttl: Some(S(60)),
            ..StoreRules::default()
        };
        assert!(matches!(
            store_with(&auth, 200, &[], &forced),
            Storability::DontStore(_)
        ));
    }

    #[test]
    fn set_cookie() {
        let resp = [("cache-control", "max-age=60"), ("set-cookie", "s=1")];
        assert_eq!(dont(store(&resp)), "Set-Cookie");
        let rules = StoreRules {
            allow_set_cookie: true,
            ..StoreRules::default()
        };
        assert!(matches!(
            store_with(&[], 200, &resp, &rules),
            Storability::Store(_)
        ));
        let forced = StoreRules {
            force_ttl: Some(S(60)),
            ..StoreRules::default()
        };
        assert_eq!(dont(store_with(&[], 200, &resp, &forced)), "Set-Cookie");
    }

    #[test]
    fn vary_star_and_too_many() {
        assert_eq!(
            dont(store(&[
                ("cache-control", "max-age=60"),
                ("vary", "accept, *")
            ])),
            "Vary: * (or too many Vary fields)"
        );
        let many: Vec<String> = (0..300).map(|i| format!("X-H{i}")).collect();
        let joined = many.join(", ");
        assert_eq!(vary(&hm(&[("vary", &joined)])), Vary::Star);
        assert!(matches!(
            store(&[("cache-control", "max-age=60"), ("vary", &joined)]),
            Storability::DontStore(_)
        ));
        // Hundreds of duplicates of a few fields are fine.
        let dups = vec!["Accept-Encoding, accept-encoding, ACCEPT"; 300].join(",");
        assert_eq!(
            vary(&hm(&[("vary", &dups)])),
            Vary::Fields(vec![HeaderName::from_static("accept"), ACCEPT_ENCODING])
        );
        // Invalid field name.
        assert_eq!(vary(&hm(&[("vary", "accept encoding")])), Vary::Star);
        assert_eq!(vary(&hm(&[("vary", " , ,")])), Vary::None);
        assert_eq!(vary(&HeaderMap::new()), Vary::None);
        let exactly: Vec<String> = (0..MAX_VARY_FIELDS).map(|i| format!("x-{i}")).collect();
        assert!(
            matches!(vary(&hm(&[("vary", &exactly.join(","))])), Vary::Fields(v) if v.len() == MAX_VARY_FIELDS)
        );
    }

    #[test]
    fn vary_key_normalisation() {
        let fields = [
            HeaderName::from_static("accept-language"),
            ACCEPT_ENCODING,
            HeaderName::from_static("x-absent"),
        ];
        let a = vary_key(
            &fields,
            &hm(&[
                ("accept-language", "en-US,  fr;q=0.5"),
                ("accept-encoding", "gzip, deflate, br"),
            ]),
        );
        let b = vary_key(
            &fields,
            &hm(&[
                ("accept-language", "en-US"),
                ("accept-language", "fr;q=0.5 "),
                ("accept-encoding", "br;q=1"),
            ]),
        );
        assert_eq!(a, b);
        assert_eq!(
            a,
            "accept-language:en-US, fr;q=0.5\naccept-encoding:br\nx-absent\n"
        );
        // Case is kept for other fields.
        let c = vary_key(
            &fields,
            &hm(&[
                ("accept-language", "EN-us, fr;q=0.5"),
                ("accept-encoding", "br"),
            ]),
        );
        assert_ne!(a, c);
        // Absent differs from empty.
        let f = [HeaderName::from_static("x-a")];
        assert_ne!(
            vary_key(&f, &HeaderMap::new()),
            vary_key(&f, &hm(&[("x-a", "")]))
        );
        // Non-ASCII bytes are escaped without collisions.
        let mut h1 = HeaderMap::new();
        h1.insert("x-a", HeaderValue::from_bytes(b"\xff").unwrap());
        let mut h2 = HeaderMap::new();
        h2.insert("x-a", HeaderValue::from_bytes(b"\xfe").unwrap());
        assert_ne!(vary_key(&f, &h1), vary_key(&f, &h2));
        assert_ne!(vary_key(&f, &h1), vary_key(&f, &hm(&[("x-a", "%FF")])));
        // Separators inside values cannot forge another field's entry.
        let two = [
            HeaderName::from_static("x-a"),
            HeaderName::from_static("x-b"),
        ];
        assert_ne!(
            vary_key(&two, &hm(&[("x-a", "1"), ("x-b", "2")])),
            vary_key(&two, &hm(&[("x-a", "1:x-b:2")]))
        );
    }

    #[test]
    fn accept_encoding() {
        assert_eq!(normalize_accept_encoding("gzip, deflate, br, zstd"), "br");
        assert_eq!(normalize_accept_encoding("gzip, deflate"), "gzip");
        assert_eq!(normalize_accept_encoding("x-gzip"), "gzip");
        assert_eq!(normalize_accept_encoding(""), "identity");
        assert_eq!(normalize_accept_encoding("identity"), "identity");
        assert_eq!(normalize_accept_encoding("deflate, compress"), "identity");
        assert_eq!(normalize_accept_encoding("br;q=0, gzip"), "gzip");
        assert_eq!(normalize_accept_encoding("br;q=0.5, gzip;q=0.8"), "gzip");
        assert_eq!(normalize_accept_encoding("br;q=0.8, gzip;q=0.8"), "br");
        assert_eq!(
            normalize_accept_encoding("GZIP;Q=1.000, BR;q=0.000"),
            "gzip"
        );
        assert_eq!(normalize_accept_encoding("*"), "br");
        assert_eq!(normalize_accept_encoding("*;q=0"), "identity");
        assert_eq!(normalize_accept_encoding("br;q=0, *"), "gzip");
        assert_eq!(normalize_accept_encoding("br;q=2, gzip"), "gzip");
        assert_eq!(normalize_accept_encoding("br;q=abc"), "identity");
        assert_eq!(normalize_accept_encoding("br, br;q=0"), "identity");
        assert_eq!(normalize_accept_encoding(",,;;==,br ; q = 0.9 ,"), "br");
        assert_eq!(normalize_accept_encoding(&"x, ".repeat(10_000)), "identity");
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("1.001"), None);
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.05"), Some(50));
        assert_eq!(qvalue("0."), Some(0));
        assert_eq!(qvalue("0.0001"), None);
        assert_eq!(qvalue("-0"), None);
        assert_eq!(qvalue(""), None);
    }

    #[test]
    fn decide_fresh_and_stale() {
        let none = HeaderMap::new();
        assert_eq!(decide(&none, &f(60), S(10)), RequestDecision::ServeFresh);
        assert_eq!(decide(&none, &f(60), S(60)), RequestDecision::Revalidate);
        let mut swr = f(60);
        swr.stale_while_revalidate = S(30);
        assert_eq!(
            decide(&none, &swr, S(70)),
            RequestDecision::ServeStaleWhileRevalidate
        );
        assert_eq!(decide(&none, &swr, S(90)), RequestDecision::Revalidate);
    }

    #[test]
    fn decide_request_directives() {
        let fr = f(60);
        assert_eq!(
            decide(&hm(&[("cache-control", "no-cache")]), &fr, S(1)),
            RequestDecision::Revalidate
        );
        assert_eq!(
            decide(&hm(&[("pragma", "no-cache")]), &fr, S(1)),
            RequestDecision::Revalidate
        );
        assert_eq!(
            decide(&hm(&[("pragma", "x, No-Cache")]), &fr, S(1)),
            RequestDecision::Revalidate
        );
        // Pragma is ignored when Cache-Control is present.
        assert_eq!(
            decide(
                &hm(&[("pragma", "no-cache"), ("cache-control", "max-stale")]),
                &fr,
                S(1)
            ),
            RequestDecision::ServeFresh
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-age=5")]), &fr, S(10)),
            RequestDecision::Revalidate
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-age=10")]), &fr, S(10)),
            RequestDecision::ServeFresh
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-age=0")]), &fr, S(0)),
            RequestDecision::ServeFresh
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-age=0")]), &fr, S(1)),
            RequestDecision::Revalidate
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "min-fresh=20")]), &fr, S(50)),
            RequestDecision::Revalidate
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "min-fresh=20")]), &fr, S(30)),
            RequestDecision::ServeFresh
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-stale=10")]), &fr, S(70)),
            RequestDecision::ServeStale
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-stale=10")]), &fr, S(71)),
            RequestDecision::Revalidate
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-stale")]), &fr, S(1_000_000)),
            RequestDecision::ServeStale
        );
        assert_eq!(
            decide(&hm(&[("cache-control", "max-stale=-3")]), &fr, S(61)),
            RequestDecision::Revalidate
        );
        let mut mr = f(60);
        mr.must_revalidate = true;
        assert_eq!(
            decide(&hm(&[("cache-control", "max-stale")]), &mr, S(61)),
            RequestDecision::Revalidate
        );
    }

    #[test]
    fn must_revalidate_forbids_stale() {
        let f = fresh(&[
            (
                "cache-control",
                "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30",
            ),
            ("etag", "\"a\""),
        ]);
        assert!(f.must_revalidate);
        assert_eq!((f.stale_while_revalidate, f.stale_if_error), (S(0), S(0)));
        assert!(!may_serve_stale_on_error(
            &f,
            S(61),
            &hm(&[("cache-control", "stale-if-error=100")])
        ));
        let rules = StoreRules {
            default_stale_if_error: S(100),
            default_stale_while_revalidate: S(100),
            ..StoreRules::default()
        };
        let Storability::Store(f) = store_with(
            &[],
            200,
            &[("cache-control", "max-age=60, proxy-revalidate")],
            &rules,
        ) else {
            panic!()
        };
        assert_eq!((f.stale_while_revalidate, f.stale_if_error), (S(0), S(0)));
    }

    #[test]
    fn s_maxage_with_explicit_swr_keeps_window_but_not_defaults() {
        let f = fresh(&[("cache-control", "s-maxage=1, stale-while-revalidate=59")]);
        assert_eq!(f.stale_while_revalidate, S(59));
        assert_eq!(
            decide(&HeaderMap::new(), &f, S(30)),
            RequestDecision::ServeStaleWhileRevalidate
        );
        let rules = StoreRules {
            default_stale_if_error: S(100),
            ..StoreRules::default()
        };
        let Storability::Store(f) =
            store_with(&[], 200, &[("cache-control", "s-maxage=10")], &rules)
        else {
            panic!()
        };
        assert_eq!(f.stale_if_error, S(0));
    }

    #[test]
    fn default_windows_apply() {
        let rules = StoreRules {
            default_stale_if_error: S(300),
            default_stale_while_revalidate: S(10),
            ..StoreRules::default()
        };
        let Storability::Store(f) =
            store_with(&[], 200, &[("cache-control", "max-age=60")], &rules)
        else {
            panic!()
        };
        assert_eq!(
            (f.stale_while_revalidate, f.stale_if_error),
            (S(10), S(300))
        );
        let Storability::Store(f) = store_with(
            &[],
            200,
            &[("cache-control", "max-age=60, stale-if-error=5")],
            &rules,
        ) else {
            panic!()
        };
        assert_eq!(f.stale_if_error, S(5));
    }

    #[test]
    fn stale_if_error_windows() {
        let none = HeaderMap::new();
        let mut sie = f(60);
        sie.stale_if_error = S(30);
        assert!(may_serve_stale_on_error(&sie, S(10), &none));
        assert!(may_serve_stale_on_error(&sie, S(89), &none));
        assert!(!may_serve_stale_on_error(&sie, S(90), &none));
        assert!(!may_serve_stale_on_error(&f(60), S(61), &none));
        assert!(may_serve_stale_on_error(
            &f(60),
            S(61),
            &hm(&[("cache-control", "stale-if-error=10")])
        ));
    }

    #[test]
    fn force_ttl() {
        let rules = StoreRules {
            force_ttl: Some(S(3600)),
            ..StoreRules::default()
        };
        let Storability::Store(f) = store_with(&[], 200, &[], &rules) else {
            panic!()
        };
        assert_eq!(f.lifetime, S(3600));
        let Storability::Store(f) = store_with(
            &[],
            200,
            &[("cache-control", "max-age=5, no-cache"), ("age", "100")],
            &rules,
        ) else {
            panic!()
        };
        assert_eq!((f.lifetime, f.initial_age), (S(3700), S(100)));
        assert!(!f.always_revalidate);
        assert_eq!(
            dont(store_with(
                &[],
                200,
                &[("cache-control", "no-store")],
                &rules
            )),
            "no-store"
        );
        assert_eq!(
            dont(store_with(
                &[],
                200,
                &[("cache-control", "private")],
                &rules
            )),
            "private"
        );
        assert_eq!(
            dont(store_with(&[], 200, &[("vary", "*")], &rules)),
            "Vary: * (or too many Vary fields)"
        );
        // Errors are not forced unless the route lists them.
        assert!(matches!(
            store_with(&[], 503, &[], &rules),
            Storability::DontStore(_)
        ));
        let listed = StoreRules {
            cache_statuses: Some(vec![503]),
            ..rules
        };
        assert!(matches!(
            store_with(&[], 503, &[], &listed),
            Storability::Store(_)
        ));
    }

    #[test]
    fn current_age_and_ttl() {
        let mut fr = f(60);
        fr.initial_age = S(5);
        assert_eq!(current_age(&fr, t(0), t(10)), S(15));
        assert_eq!(current_age(&fr, t(10), t(0)), S(5));
        assert_eq!(ttl_seconds(&fr, S(15)), 45);
        assert_eq!(ttl_seconds(&fr, S(75)), -15);
        assert_eq!(age_header(S(12)), HeaderValue::from_static("12"));
        assert_eq!(
            age_header(S(u64::MAX)),
            HeaderValue::from(DELTA_SECONDS_MAX)
        );
    }

    #[test]
    fn request_helpers() {
        assert!(only_if_cached(&hm(&[("cache-control", "ONLY-IF-CACHED")])));
        assert!(!only_if_cached(&HeaderMap::new()));
        assert!(request_no_store(&hm(&[(
            "cache-control",
            "max-age=0, no-store"
        )])));
        assert!(!request_no_store(&hm(&[("pragma", "no-store")])));
    }

    #[test]
    fn invalidation() {
        let h = hm(&[
            ("location", "https://Example.com:8443/a/b?x=1#frag"),
            ("content-location", "/c?d"),
        ]);
        assert_eq!(
            invalidation_targets("example.com", &h),
            vec!["/a/b?x=1", "/c?d"]
        );
        assert_eq!(
            invalidation_targets(
                "example.com:8080",
                &hm(&[("location", "http://example.com")])
            ),
            vec!["/"]
        );
        assert_eq!(
            invalidation_targets("example.com", &hm(&[("location", "//example.com?q")])),
            vec!["/?q"]
        );
        assert_eq!(
            invalidation_targets(
                "example.com",
                &hm(&[("location", "http://user@example.com/p")])
            ),
            vec!["/p"]
        );
        assert_eq!(
            invalidation_targets("[::1]:80", &hm(&[("location", "http://[::1]/v6")])),
            vec!["/v6"]
        );
        for other in [
            "https://evil.com/a",
            "https://example.com.evil.com/a",
            "http://evil.com@/x",
            "mailto:a@example.com",
            "relative/path",
            "../up",
            "javascript:alert(1)",
            "http:/nohost",
            "",
            "/a b",
        ] {
            assert!(
                invalidation_targets("example.com", &hm(&[("location", other)])).is_empty(),
                "{other}"
            );
        }
        // Duplicates collapse.
        let h = hm(&[
            ("location", "/same"),
            ("content-location", "http://example.com/same"),
        ]);
        assert_eq!(invalidation_targets("example.com", &h), vec!["/same"]);
    }

    #[test]
    fn merge_304() {
        let mut stored = hm(&[
            ("content-length", "100"),
            ("content-encoding", "gzip"),
            ("etag", "\"a\""),
            ("cache-control", "max-age=10"),
            ("x-keep", "1"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ]);
        let nm = hm(&[
            ("content-length", "0"),
            ("content-encoding", "br"),
            ("transfer-encoding", "chunked"),
            ("content-range", "bytes 0-1/2"),
            ("connection", "x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("cache-control", "max-age=600"),
            ("x-multi", "3"),
            ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        merge_not_modified(&mut stored, &nm);
        assert_eq!(stored["content-length"], "100");
        assert_eq!(stored["content-encoding"], "gzip");
        assert_eq!(stored["cache-control"], "max-age=600");
        assert_eq!(stored["x-keep"], "1");
        assert_eq!(
            stored.get_all("x-multi").iter().collect::<Vec<_>>(),
            vec!["3"]
        );
        assert!(stored.contains_key("date"));
        for absent in [
            "transfer-encoding",
            "content-range",
            "connection",
            "x-secret",
            "keep-alive",
        ] {
            assert!(!stored.contains_key(absent), "{absent}");
        }
    }

    #[test]
    fn revalidation() {
        let h = revalidation_headers(&hm(&[("etag", "W/\"x\""), ("last-modified", &date(0))]));
        assert_eq!(h[IF_NONE_MATCH], "W/\"x\"");
        assert_eq!(h[IF_MODIFIED_SINCE], date(0).as_str());
        let h = revalidation_headers(&hm(&[("last-modified", "garbage")]));
        assert!(h.is_empty());
    }

    /// Deterministic pseudo-random hostile inputs through every parser of the
    /// cache: nothing panics and the invariants hold.
    #[test]
    fn hostile_inputs_fuzz() {
        use crate::cache::{conditional, directives, range, status};
        const PIECES: &[&str] = &[
            "max-age",
            "s-maxage",
            "no-cache",
            "private",
            "no-store",
            "public",
            "max-stale",
            "min-fresh",
            "stale-while-revalidate",
            "stale-if-error",
            "must-revalidate",
            "bytes",
            "W/",
            "\"",
            "\\",
            ",",
            "=",
            ";",
            " ",
            "\t",
            "-",
            "*",
            "(",
            ")",
            "?",
            ":",
            "@",
            "%",
            "/",
            "0",
            "1",
            "9",
            "99999999999999999999",
            "-1",
            "q=0",
            "br",
            "gzip",
            "é",
            "http://",
            "//",
            "example.com",
            "Mon, 01 Jan 2024 00:00:00 GMT",
            "a",
            "Z",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let body = bytes::Bytes::from(vec![b'x'; 1000]);
        for _ in 0..3000 {
            let mut gen_value = || {
                let n = (next() % 24) as usize;
                let mut s = String::new();
                for _ in 0..n {
                    s.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
                }
                HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("x"))
            };
            let mut req = HeaderMap::new();
            let mut resp = HeaderMap::new();
            for name in [
                "cache-control",
                "pragma",
                "range",
                "if-range",
                "if-none-match",
                "if-match",
                "if-modified-since",
                "accept-encoding",
            ] {
                req.append(HeaderName::from_static(name), gen_value());
            }
            for name in [
                "cache-control",
                "cdn-cache-control",
                "surrogate-control",
                "expires",
                "age",
                "date",
                "last-modified",
                "etag",
                "vary",
                "location",
                "content-location",
                "cache-status",
            ] {
                resp.append(HeaderName::from_static(name), gen_value());
            }
            let cc = directives::cache_control(&resp);
            for v in [
                cc.max_age,
                cc.s_maxage,
                cc.min_fresh,
                cc.stale_while_revalidate,
                cc.stale_if_error,
            ]
            .into_iter()
            .flatten()
            {
                assert!(v <= DELTA_SECONDS_MAX);
            }
            let _ = directives::edge_control(&resp);
            if let Storability::Store(f) = storability(
                &Method::GET,
                &req,
                StatusCode::OK,
                &resp,
                &StoreRules::default(),
                t(0),
                t(1),
            ) {
                assert!(f.lifetime <= MAX_DELTA.saturating_mul(2) && f.initial_age <= MAX_DELTA);
                let age = current_age(&f, t(1), t(100));
                let _ = decide(&req, &f, age);
                let _ = may_serve_stale_on_error(&f, age, &req);
                let _ = ttl_seconds(&f, age);
            }
            if let Vary::Fields(fields) = vary(&resp) {
                assert!(fields.len() <= MAX_VARY_FIELDS);
                let key = vary_key(&fields, &req);
                assert!(!key.contains('\u{1f}'));
            }
            let _ = normalize_accept_encoding(req["accept-encoding"].to_str().unwrap_or(""));
            let _ = invalidation_targets("example.com", &resp);
            let mut stored = resp.clone();
            merge_not_modified(&mut stored, &req);
            let _ = revalidation_headers(&resp);
            let _ = conditional::client_not_modified(&Method::GET, &req, StatusCode::OK, &resp);
            let _ = conditional::precondition_failed(&req, StatusCode::OK, &resp);
            match range::parse_range(&req, &resp, body.len() as u64) {
                range::RangeRequest::Satisfiable(ranges) => {
                    assert!(!ranges.is_empty() && ranges.len() <= range::MAX_RANGES);
                    assert!(
                        ranges
                            .iter()
                            .all(|r| r.start < r.end && r.end <= body.len() as u64)
                    );
                    let (_, h, chunks) = range::partial_response(&resp, &body, &ranges);
                    let total: usize = chunks.iter().map(|c| c.len()).sum();
                    assert_eq!(h[CONTENT_LENGTH], total.to_string().as_str());
                }
                range::RangeRequest::Unsatisfiable | range::RangeRequest::None => {}
            }
            let mut out = resp.clone();
            status::append(
                &mut out,
                &status::CacheStatus {
                    cache: req["range"].to_str().unwrap_or("e").to_owned(),
                    key: Some(String::from_utf8_lossy(req["if-match"].as_bytes()).into_owned()),
                    ..status::CacheStatus::default()
                },
            );
        }
    }
}
