//! Invalidation after an unsafe request (RFC 9111 §4.4): the same-host
//! `Location` and `Content-Location` targets.

use http::header::{CONTENT_LOCATION, LOCATION};
use http::{HeaderMap, HeaderValue};

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
