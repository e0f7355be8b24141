//! Storability (RFC 9111 §3, §4.2; RFC 9213; RFC 5861): whether a response
//! may be stored, and its freshness: lifetime, initial age, stale windows.
//! Split into the request's reasons, the response's reasons, the lifetime
//! and the stale windows, in the order RFC 9111 §3 reads them.

use std::time::{Duration, SystemTime};

use http::header::{AGE, AUTHORIZATION, DATE, ETAG, EXPIRES, LAST_MODIFIED, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode};

use super::vary::{Vary, vary};
use super::{
    Freshness, MAX_DELTA, NotStorable, Storability, StoreRules, header_date, parse_date, secs,
};
use crate::directives::{self, CacheControl};

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
    let code = status.as_u16();
    if let Some(why) = request_refusal(method, req_headers, code) {
        return Storability::DontStore(why);
    }
    let d = Directives::read(resp_headers);
    let strip_fields = match response_refusal(&d, req_headers, resp_headers, rules, code) {
        Ok(strip_fields) => strip_fields,
        Err(why) => return Storability::DontStore(why),
    };
    let date = header_date(resp_headers, &DATE);
    let initial_age = initial_age(resp_headers, date, request_time, response_time);
    let forced = rules
        .force_ttl
        .filter(|_| rules.cache_statuses.is_some() || heuristically_cacheable(code));
    let date_value = date.unwrap_or(response_time);
    let life = match lifetime(
        &d,
        resp_headers,
        rules,
        code,
        forced,
        initial_age,
        date_value,
    ) {
        Some(life) => life,
        None => return Storability::DontStore(NotStorable::NoFreshness),
    };
    let ctl = &d.ctl;
    let explicit_revalidate = ctl.must_revalidate || ctl.proxy_revalidate;
    let must_revalidate = explicit_revalidate || ctl.s_maxage.is_some();
    let always_revalidate = ctl.no_cache && forced.is_none();
    let (stale_while_revalidate, stale_if_error) = stale_windows(&d, rules, &life);

    let has_validator =
        resp_headers.contains_key(ETAG) || header_date(resp_headers, &LAST_MODIFIED).is_some();
    let useless = always_revalidate || life.lifetime <= initial_age;
    if useless && !has_validator && stale_while_revalidate.is_zero() && stale_if_error.is_zero() {
        return Storability::DontStore(NotStorable::StaleOnArrival);
    }

    Storability::Store(Freshness {
        lifetime: life.lifetime,
        initial_age,
        stale_while_revalidate,
        stale_if_error,
        must_revalidate,
        always_revalidate,
        heuristic: life.heuristic,
        strip_fields,
    })
}

/// Reasons not to store that come from the request and the status alone.
fn request_refusal(method: &Method, req_headers: &HeaderMap, code: u16) -> Option<NotStorable> {
    if method == Method::HEAD {
        return Some(NotStorable::HeadRequest);
    }
    if method != Method::GET {
        return Some(NotStorable::Method);
    }
    if directives::cache_control(req_headers).no_store {
        return Some(NotStorable::RequestNoStore);
    }
    match code {
        ..200 => Some(NotStorable::Interim),
        206 => Some(NotStorable::Partial),
        304 => Some(NotStorable::NotModified),
        _ => None,
    }
}

/// The response's directives as the edge reads them.
struct Directives {
    /// `Cache-Control` itself.
    cc: CacheControl,
    /// What governs: `CDN-Cache-Control` when present, else `Cache-Control`.
    ctl: CacheControl,
    /// `Surrogate-Control`'s overrides (empty under `CDN-Cache-Control`).
    surrogate: CacheControl,
    /// `CDN-Cache-Control` is present: `Expires` no longer counts.
    targeted: bool,
}

impl Directives {
    fn read(resp_headers: &HeaderMap) -> Directives {
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
        let ctl = cdn.unwrap_or_else(|| cc.clone());
        Directives {
            cc,
            ctl,
            surrogate: surrogate.unwrap_or_default(),
            targeted,
        }
    }
}

/// Reasons not to store that come from the response's directives and
/// fields and the route's rules; else the fields to strip before storing.
fn response_refusal(
    d: &Directives,
    req_headers: &HeaderMap,
    resp_headers: &HeaderMap,
    rules: &StoreRules,
    code: u16,
) -> Result<Vec<String>, NotStorable> {
    let ctl = &d.ctl;
    let understood = status_understood(code);
    if ctl.must_understand && !understood {
        return Err(NotStorable::MustUnderstand);
    }
    let no_store = ctl.no_store && !(ctl.must_understand && understood);
    if no_store || d.surrogate.no_store {
        return Err(NotStorable::NoStore);
    }
    if ctl.private {
        return Err(NotStorable::Private);
    }
    let shared_ok = |c: &CacheControl| c.public || c.s_maxage.is_some() || c.must_revalidate;
    if req_headers.contains_key(AUTHORIZATION) && !shared_ok(ctl) && !shared_ok(&d.cc) {
        return Err(NotStorable::RequestAuthorization);
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
        return Err(NotStorable::SetCookie);
    }
    if vary(resp_headers) == Vary::Star {
        return Err(NotStorable::VaryStar);
    }
    if let Some(list) = &rules.cache_statuses
        && !list.contains(&code)
    {
        return Err(NotStorable::StatusRule);
    }
    Ok(strip_fields)
}

/// A freshness lifetime and where it came from.
struct Lifetime {
    lifetime: Duration,
    /// Computed by the heuristic (RFC 9111 §4.2.2).
    heuristic: bool,
    /// Heuristic without `Last-Modified`: the response says nothing of its
    /// freshness.
    no_freshness_info: bool,
}

/// The freshness lifetime (RFC 9111 §4.2.1): forced by the route, explicit,
/// from `Expires`, or heuristic; `None` when there is none to give.
fn lifetime(
    d: &Directives,
    resp_headers: &HeaderMap,
    rules: &StoreRules,
    code: u16,
    forced: Option<Duration>,
    initial_age: Duration,
    date: SystemTime,
) -> Option<Lifetime> {
    let known = |lifetime| Lifetime {
        lifetime,
        heuristic: false,
        no_freshness_info: false,
    };
    if let Some(ttl) = forced {
        return Some(known(ttl.saturating_add(initial_age)));
    }
    let explicit = d.surrogate.max_age.or(d.ctl.s_maxage).or(d.ctl.max_age);
    if let Some(lifetime) = explicit.map(secs) {
        return Some(known(lifetime));
    }
    if let Some(lifetime) = (!d.targeted)
        .then(|| expires_lifetime(resp_headers, date))
        .flatten()
    {
        return Some(known(lifetime));
    }
    if !(heuristically_cacheable(code) || d.ctl.public) {
        return None;
    }
    // Without Last-Modified the heuristic lifetime is zero: stored only
    // if it can be revalidated (ETag) or the origin grants stale windows.
    let lifetime = heuristic_lifetime(resp_headers, date, rules);
    Some(Lifetime {
        lifetime: lifetime.unwrap_or_default(),
        heuristic: true,
        no_freshness_info: lifetime.is_none(),
    })
}

/// The `stale-while-revalidate` and `stale-if-error` windows. Stale serving
/// is forbidden by must-revalidate / proxy-revalidate / no-cache (RFC 9111
/// §4.2.4). The proxy-revalidate implied by s-maxage yields to an explicit
/// stale-while-revalidate / stale-if-error, not to the defaults; so does a
/// response without any freshness information.
fn stale_windows(d: &Directives, rules: &StoreRules, life: &Lifetime) -> (Duration, Duration) {
    let ctl = &d.ctl;
    let explicit_revalidate = ctl.must_revalidate || ctl.proxy_revalidate;
    let must_revalidate = explicit_revalidate || ctl.s_maxage.is_some();
    let window = |explicit: Option<u64>, default: Duration| {
        if explicit_revalidate || ctl.no_cache {
            Duration::ZERO
        } else if let Some(v) = explicit {
            secs(v)
        } else if must_revalidate || life.no_freshness_info {
            Duration::ZERO
        } else {
            default
        }
    };
    let surrogate = &d.surrogate;
    (
        window(
            surrogate
                .stale_while_revalidate
                .or(ctl.stale_while_revalidate),
            rules.default_stale_while_revalidate,
        ),
        window(
            surrogate.stale_if_error.or(ctl.stale_if_error),
            rules.default_stale_if_error,
        ),
    )
}
