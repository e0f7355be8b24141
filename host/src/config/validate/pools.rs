//! Validation of `[[pools]]`: backends, strategy, health checks, outlier
//! ejection, retries, timeouts, connections, TLS and fallbacks.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::super::raw::*;
use super::super::*;
use super::Errs;

/// Validates every pool; returns them with the set of pool names.
pub(super) fn validate(
    raw: &[RawPool],
    errs: &mut Errs<'_>,
    origin_names: &HashSet<String>,
    base: &Path,
) -> (Vec<PoolConfig>, HashSet<String>) {
    let mut pools = Vec::new();
    let mut names = HashSet::new();
    for (i, p) in raw.iter().enumerate() {
        errs.name(&p.name, &format!("pools[{i}].name"), &mut names, "pool");
        pools.push(pool(p, i, errs, origin_names, base));
    }
    for (i, p) in raw.iter().enumerate() {
        if let Some(f) = &p.fallback {
            let key = format!("pools[{i}].fallback");
            if !names.contains(f.get_ref()) {
                errs.at(f, &key, format!("unknown pool \"{}\"", f.get_ref()));
            } else if f.get_ref() == p.name.get_ref() {
                errs.at(f, &key, "a pool cannot be its own fallback");
            }
        }
    }
    (pools, names)
}

fn pool(
    p: &RawPool,
    i: usize,
    errs: &mut Errs<'_>,
    origin_names: &HashSet<String>,
    base: &Path,
) -> PoolConfig {
    let key = |k: &str| format!("pools[{i}].{k}");
    let mut d = PoolConfig::new(p.name.get_ref(), Vec::new());
    d.backends = backends(p, i, errs, origin_names);
    if let Some(s) = &p.strategy {
        match Strategy::ALL.iter().find(|(n, _)| n == s.get_ref()) {
            Some((_, strategy)) => d.strategy = *strategy,
            None => errs.at(
                s,
                &key("strategy"),
                format!(
                    "unknown strategy \"{}\": expected one of {}",
                    s.get_ref(),
                    Strategy::ALL.map(|(n, _)| n).join(", ")
                ),
            ),
        }
    }
    timeouts(p, i, errs, &mut d);
    d.host = p.host.as_ref().map(|h| h.get_ref().clone());
    if let Some(h) = &p.host
        && http::HeaderValue::from_str(h.get_ref()).is_err()
    {
        errs.at(h, &key("host"), "not a valid Host header value");
    }
    connections(p, i, errs, &mut d);
    d.fallback = p.fallback.as_ref().map(|f| f.get_ref().clone());
    d.health_check = p.health_check.as_ref().map(|h| health_check(h, i, errs));
    d.outlier = match &p.outlier {
        None => d.outlier,
        Some(o) if o.enabled == Some(false) => None,
        Some(o) => Some(outlier(o, i, errs)),
    };
    if let Some(r) = &p.retry {
        d.retry = retry(r, i, errs);
    }
    if let Some(t) = &p.tls {
        d.tls = tls(t, i, errs, base);
    }
    d
}

/// The pool's backends: at least one, and at least one primary.
fn backends(
    p: &RawPool,
    i: usize,
    errs: &mut Errs<'_>,
    origin_names: &HashSet<String>,
) -> Vec<BackendConfig> {
    let key = format!("pools[{i}].backends");
    if p.backends.get_ref().is_empty() {
        errs.at(&p.backends, &key, "a pool needs at least one backend");
    }
    let backends = p
        .backends
        .get_ref()
        .iter()
        .enumerate()
        .filter_map(|(j, b)| backend(b, &format!("{key}[{j}]"), errs, origin_names))
        .collect::<Vec<_>>();
    if !backends.is_empty() && backends.iter().all(|b| b.backup) {
        errs.at(
            &p.backends,
            &key,
            "every backend is a backup: at least one must be a primary",
        );
    }
    backends
}

/// Connect, response, total, body and coalescing timeouts.
fn timeouts(p: &RawPool, i: usize, errs: &mut Errs<'_>, d: &mut PoolConfig) {
    let key = |k: &str| format!("pools[{i}].{k}");
    d.connect_timeout = errs.duration(
        &p.connect_timeout,
        &key("connect_timeout"),
        d.connect_timeout,
    );
    d.timeout = errs.duration(&p.timeout, &key("timeout"), d.timeout);
    d.total_timeout = p
        .total_timeout
        .as_ref()
        .map(|_| errs.duration(&p.total_timeout, &key("total_timeout"), Duration::ZERO));
    d.body_timeout = errs.duration(&p.body_timeout, &key("body_timeout"), d.body_timeout);
    d.coalesce_timeout = errs.duration(
        &p.coalesce_timeout,
        &key("coalesce_timeout"),
        d.coalesce_timeout,
    );
}

/// How many connections, how long one idles and how long one lives.
fn connections(p: &RawPool, i: usize, errs: &mut Errs<'_>, d: &mut PoolConfig) {
    let key = |k: &str| format!("pools[{i}].{k}");
    d.max_connections = p.max_connections.as_ref().map(|m| {
        if *m.get_ref() == 0 {
            errs.at(m, &key("max_connections"), "must be at least 1");
        }
        usize::try_from(*m.get_ref()).unwrap_or(usize::MAX).max(1)
    });
    d.idle_timeout = errs.duration(&p.idle_timeout, &key("idle_timeout"), d.idle_timeout);
    d.max_connection_lifetime = errs.duration(
        &p.max_connection_lifetime,
        &key("max_connection_lifetime"),
        d.max_connection_lifetime,
    );
}

fn backend(
    b: &Spanned<RawBackend>,
    key: &str,
    errs: &mut Errs<'_>,
    origin_names: &HashSet<String>,
) -> Option<BackendConfig> {
    let raw = b.get_ref();
    // A plain string has no span of its own: point at the list element.
    let url = if raw.url.span().is_empty() {
        Spanned::new(b.span(), raw.url.get_ref().clone())
    } else {
        raw.url.clone()
    };
    let weight = match &raw.weight {
        Some(w) if !(1..=1000).contains(w.get_ref()) => {
            errs.at(w, &format!("{key}.weight"), "must be between 1 and 1000");
            1
        }
        Some(w) => *w.get_ref() as u32,
        None => 1,
    };
    let target = if let Some(name) = url.get_ref().strip_prefix("origin:") {
        if !origin_names.contains(name) {
            errs.at(
                &url,
                key,
                format!("unknown built-in origin \"{name}\" (declare it in [[origins]])"),
            );
            return None;
        }
        BackendTarget::Builtin(name.to_string())
    } else {
        match parse_backend_url(url.get_ref()) {
            Ok(uri) => BackendTarget::Url(uri),
            Err(msg) => {
                errs.at(&url, key, msg);
                return None;
            }
        }
    };
    Some(BackendConfig {
        target,
        weight,
        backup: raw.backup.unwrap_or(false),
    })
}

/// Parses an origin base URL: `http://host:port` or `https://host:port`, no path.
pub(in super::super) fn parse_backend_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s
        .parse()
        .map_err(|e| format!("invalid origin URL \"{s}\": {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "invalid origin URL \"{s}\": expected http://HOST:PORT or origin:NAME"
            ));
        }
    }
    if uri.host().is_none() {
        return Err(format!("invalid origin URL \"{s}\": no host"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "invalid origin URL \"{s}\": a backend is a scheme, host and port, without a path"
        ));
    }
    Ok(uri)
}

fn health_check(h: &RawHealthCheck, i: usize, errs: &mut Errs<'_>) -> HealthCheckConfig {
    let key = |k: &str| format!("pools[{i}].health_check.{k}");
    let mut d = HealthCheckConfig::new("/healthz");
    if let Some(m) = &h.method {
        match m.get_ref().to_ascii_uppercase().as_str() {
            "GET" => d.method = http::Method::GET,
            "HEAD" => d.method = http::Method::HEAD,
            other => errs.at(
                m,
                &key("method"),
                format!("unsupported method \"{other}\": expected \"GET\" or \"HEAD\""),
            ),
        }
    }
    if let Some(p) = &h.path {
        if p.get_ref().starts_with('/') && p.get_ref().parse::<http::Uri>().is_ok() {
            d.path = p.get_ref().clone();
        } else {
            errs.at(p, &key("path"), "a health check path must start with '/'");
        }
    }
    if let Some(s) = &h.expect_status {
        match status_range(s.get_ref()) {
            Ok(r) => d.expect_status = r,
            Err(msg) => errs.at(s, &key("expect_status"), msg),
        }
    }
    d.interval = errs.duration(&h.interval, &key("interval"), d.interval);
    d.timeout = errs.duration(&h.timeout, &key("timeout"), d.timeout);
    for (v, name, slot) in [
        (&h.rise, "rise", &mut d.rise),
        (&h.fall, "fall", &mut d.fall),
    ] {
        if let Some(v) = v {
            if (1..=100).contains(v.get_ref()) {
                *slot = *v.get_ref();
            } else {
                errs.at(v, &key(name), "must be between 1 and 100");
            }
        }
    }
    // Jitter may be zero ("0s" disables it); by default a tenth of the interval, at most 500 ms.
    d.jitter = match &h.jitter {
        None => (d.interval / 10).min(d.jitter),
        Some(j) => match humantime::parse_duration(j.get_ref()) {
            Ok(v) => v,
            Err(_) if j.get_ref() == "0" => Duration::ZERO,
            Err(_) => errs.duration(&h.jitter, &key("jitter"), d.jitter),
        },
    };
    d
}

fn status_range(r: &RawStatusRange) -> Result<StatusRange, String> {
    let bad = || "expected a status code like 200 or a range like \"200-399\"".to_string();
    let (min, max) = match r {
        RawStatusRange::One(n) => (*n, *n),
        RawStatusRange::Range(s) => {
            let (a, b) = s.split_once('-').ok_or_else(bad)?;
            let a = a.trim().parse::<i64>().map_err(|_| bad())?;
            let b = b.trim().parse::<i64>().map_err(|_| bad())?;
            (a, b)
        }
    };
    if !(100..=599).contains(&min) || !(100..=599).contains(&max) || min > max {
        return Err(format!(
            "invalid status range: statuses are 100 to 599, lowest first ({})",
            bad()
        ));
    }
    Ok(StatusRange {
        min: min as u16,
        max: max as u16,
    })
}

fn outlier(o: &RawOutlier, i: usize, errs: &mut Errs<'_>) -> OutlierConfig {
    let key = |k: &str| format!("pools[{i}].outlier.{k}");
    let mut d = OutlierConfig::default();
    if let Some(n) = &o.consecutive_failures {
        if *n.get_ref() == 0 {
            errs.at(n, &key("consecutive_failures"), "must be at least 1");
        } else {
            d.consecutive_failures = *n.get_ref();
        }
    }
    d.base_ejection = errs.duration(&o.base_ejection, &key("base_ejection"), d.base_ejection);
    d.max_ejection = errs.duration(&o.max_ejection, &key("max_ejection"), d.max_ejection);
    if d.max_ejection < d.base_ejection {
        d.max_ejection = d.base_ejection;
    }
    if let Some(p) = &o.max_ejection_percent {
        if *p.get_ref() <= 100 {
            d.max_ejection_percent = *p.get_ref();
        } else {
            errs.at(p, &key("max_ejection_percent"), "must be between 0 and 100");
        }
    }
    d
}

fn retry(r: &RawRetry, i: usize, errs: &mut Errs<'_>) -> RetryConfig {
    let key = |k: &str| format!("pools[{i}].retry.{k}");
    let mut d = RetryConfig::default();
    if let Some(a) = &r.attempts {
        if (1..=10).contains(a.get_ref()) {
            d.attempts = *a.get_ref();
        } else {
            errs.at(a, &key("attempts"), "must be between 1 and 10");
        }
    }
    if let Some(b) = &r.budget_percent {
        if *b.get_ref() <= 1000 {
            d.budget_percent = *b.get_ref();
        } else {
            errs.at(b, &key("budget_percent"), "must be between 0 and 1000");
        }
    }
    if let Some(m) = &r.min_retries_per_sec {
        d.min_retries_per_sec = *m.get_ref();
    }
    d
}

fn tls(t: &RawOriginTls, i: usize, errs: &mut Errs<'_>, base: &Path) -> OriginTlsConfig {
    let key = |k: &str| format!("pools[{i}].tls.{k}");
    let mut d = OriginTlsConfig::default();
    if let Some(s) = &t.sni {
        if rustls_pki_types::ServerName::try_from(s.get_ref().as_str()).is_ok() {
            d.sni = Some(s.get_ref().clone());
        } else {
            errs.at(
                s,
                &key("sni"),
                format!("invalid server name \"{}\"", s.get_ref()),
            );
        }
    }
    if let Some(c) = &t.ca_file {
        let path = base.join(c.get_ref());
        if !path.is_file() {
            errs.at(
                c,
                &key("ca_file"),
                format!("file not found: {}", path.display()),
            );
        } else if let Err(e) = crate::pem::load_ca_file(&path) {
            errs.at(c, &key("ca_file"), e);
        }
        d.ca_file = Some(path);
    }
    d
}
