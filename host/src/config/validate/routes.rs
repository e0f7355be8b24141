//! `[[routes]]`: each route's plugins (known, none twice), path prefix, pool
//! and fallback (known pools), request rules, and its cache rules. Runs after
//! pools and plugins, whose names it checks against.

use std::collections::HashSet;
use std::time::Duration;

use super::super::raw::{RawRoute, RawRouteCache};
use super::super::{EscapedSlashes, QueryKey, RouteCache, RouteConfig};
use super::Errs;

/// The names routes may refer to.
pub(super) struct Known<'a> {
    /// Pool names.
    pub(super) pools: &'a HashSet<String>,
    /// Plugin names.
    pub(super) plugins: HashSet<&'a str>,
    /// Whether the file has any `[[pools]]` (then it needs a route).
    pub(super) any_pool: bool,
}

/// Every route, in order.
pub(super) fn validate(
    raw: &[RawRoute],
    known: &Known<'_>,
    errs: &mut Errs<'_>,
) -> Vec<RouteConfig> {
    let routes = raw
        .iter()
        .enumerate()
        .map(|(i, r)| route(r, i, known, errs))
        .collect();
    if raw.is_empty() && known.any_pool {
        errs.top("routes", "at least one [[routes]] entry is required");
    }
    routes
}

fn route(r: &RawRoute, i: usize, known: &Known<'_>, errs: &mut Errs<'_>) -> RouteConfig {
    let mut seen = HashSet::new();
    for (j, name) in r.plugins.iter().enumerate() {
        let key = format!("routes[{i}].plugins[{j}]");
        if !known.plugins.contains(name.get_ref().as_str()) {
            errs.at(name, &key, format!("unknown plugin \"{}\"", name.get_ref()));
        } else if !seen.insert(name.get_ref().clone()) {
            errs.at(
                name,
                &key,
                format!("plugin \"{}\" is listed twice", name.get_ref()),
            );
        }
    }
    let prefix = r
        .path_prefix
        .as_ref()
        .map(|p| p.get_ref().clone())
        .unwrap_or_else(|| "/".into());
    if let Some(p) = &r.path_prefix
        && !p.get_ref().starts_with('/')
    {
        errs.at(
            p,
            &format!("routes[{i}].path_prefix"),
            "a path prefix must start with '/'",
        );
    }
    for (v, name) in
        std::iter::once((&r.pool, "pool")).chain(r.fallback.iter().map(|f| (f, "fallback")))
    {
        if !known.pools.contains(v.get_ref()) {
            errs.at(
                v,
                &format!("routes[{i}].{name}"),
                format!("unknown pool \"{}\"", v.get_ref()),
            );
        }
    }
    RouteConfig {
        host: r.host.as_ref().map(|h| h.get_ref().to_ascii_lowercase()),
        path_prefix: prefix,
        pool: r.pool.get_ref().clone(),
        plugins: r.plugins.iter().map(|p| p.get_ref().clone()).collect(),
        cache: route_cache(r.cache.as_ref(), errs, i),
        fallback: r.fallback.as_ref().map(|f| f.get_ref().clone()),
        merge_slashes: r.merge_slashes.unwrap_or(false),
        escaped_slashes: escaped_slashes(r, i, errs),
        forward_overrides: forward_overrides(r, i, errs),
    }
}

fn escaped_slashes(r: &RawRoute, i: usize, errs: &mut Errs<'_>) -> EscapedSlashes {
    match r
        .escaped_slashes
        .as_ref()
        .map(|v| (v, v.get_ref().as_str()))
    {
        None | Some((_, "reject")) => EscapedSlashes::Reject,
        Some((_, "keep")) => EscapedSlashes::Keep,
        Some((v, other)) => {
            errs.at(
                v,
                &format!("routes[{i}].escaped_slashes"),
                format!("unknown action \"{other}\": expected \"reject\" or \"keep\""),
            );
            EscapedSlashes::Reject
        }
    }
}

fn forward_overrides(r: &RawRoute, i: usize, errs: &mut Errs<'_>) -> bool {
    match r
        .override_headers
        .as_ref()
        .map(|v| (v, v.get_ref().as_str()))
    {
        None | Some((_, "drop")) => false,
        Some((_, "forward")) => true,
        Some((v, other)) => {
            errs.at(
                v,
                &format!("routes[{i}].override_headers"),
                format!("unknown action \"{other}\": expected \"drop\" or \"forward\""),
            );
            false
        }
    }
}

/// A route's `[routes.cache]`: query mode, statuses, forced lifetime.
fn route_cache(raw: Option<&RawRouteCache>, errs: &mut Errs<'_>, i: usize) -> RouteCache {
    let d = RouteCache::default();
    let Some(c) = raw else { return d };
    let query = match c.query.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "keep")) => QueryKey::Keep,
        Some((_, "sort")) => QueryKey::Sort,
        Some((_, "ignore")) => QueryKey::Ignore,
        Some((v, other)) => {
            errs.at(
                v,
                &format!("routes[{i}].cache.query"),
                format!(
                    "unknown query mode \"{other}\": expected \"keep\", \"sort\" or \"ignore\""
                ),
            );
            QueryKey::Keep
        }
    };
    if let Some(s) = &c.statuses
        && let Some(bad) = s.get_ref().iter().find(|c| !(200..=599).contains(*c))
    {
        errs.at(
            s,
            &format!("routes[{i}].cache.statuses"),
            format!("invalid status {bad}"),
        );
    }
    RouteCache {
        enabled: c.enabled.unwrap_or(true),
        force_ttl: c.force_ttl.as_ref().map(|_| {
            errs.duration(
                &c.force_ttl,
                &format!("routes[{i}].cache.force_ttl"),
                Duration::from_secs(60),
            )
        }),
        statuses: c.statuses.as_ref().map(|s| s.get_ref().clone()),
        query,
        allow_set_cookie: c.allow_set_cookie.unwrap_or(false),
    }
}
