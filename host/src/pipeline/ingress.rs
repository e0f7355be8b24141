//! Ingress: the one reading of a request. Runs before the route is chosen;
//! from here on, the route, the plugins, the cache key and the origin see
//! the same parts, and the origin receives exactly those.
//!
//! - **One authority** ([`authority`]): on HTTP/1 the absolute-form target's
//!   authority wins over `Host` (RFC 9112 §3.2.2); no `Host`, several, or an
//!   invalid one is 400; on HTTP/2 an `:authority` and a `host` that differ
//!   are 400. The result, lower case and without the scheme's default port,
//!   is the `Host` forwarded and the key's authority.
//! - **One path** ([`crate::normalize`]): dot-segments removed, unreserved
//!   escapes decoded, bad escapes and control bytes refused; the route's own
//!   rules (encoded slashes, merging `//`) apply once it is known
//!   ([`route`]). The target forwarded is the normalised origin-form.
//! - **Fields only the edge sets**: every field `Connection` names and the
//!   hop-by-hop ones are dropped before any plugin runs (so a client cannot
//!   make the edge drop what a plugin adds), then the generation's
//!   edge-owned fields (claims that plugins set), and, unless the route
//!   forwards them, the clients' override fields ([`OVERRIDE_HEADERS`]).

use std::borrow::Cow;
use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, StatusCode, Version, header};

use crate::config::{EscapedSlashes, PathRules, RouteConfig};
use crate::error::EdgeError;
use crate::forwarding;
use crate::normalize::{self, Authority};
use crate::state::Generation;

use super::ConnInfo;

/// Fields with which a client could make an origin (or a framework in
/// front of it) read another URL, method or host than the one routed,
/// checked and keyed. Dropped from client requests unless the route says
/// `override_headers = "forward"`, in which case they join the cache key.
pub const OVERRIDE_HEADERS: [HeaderName; 12] = [
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-original-uri"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-host"),
    HeaderName::from_static("x-original-host"),
];

/// Rewrites that may restart the plugin chain of one request; past it, 508.
pub const MAX_RESTARTS: usize = 4;

/// The request's host as the phases use it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// Lower case, without port: what routes match and plugins see.
    pub host: Arc<str>,
    /// `host[:port]` without the scheme's default port: the `Host` forwarded
    /// and the cache key's authority.
    pub authority: Arc<str>,
    /// The client's path held `%2F` or `%5C` (perhaps removed since with a
    /// dot-segment): refused on a route that refuses them.
    pub escaped_slash: bool,
}

impl Target {
    fn of(a: &Authority, escaped_slash: bool) -> Target {
        Target {
            host: Arc::from(a.host.as_str()),
            authority: Arc::from(a.text()),
            escaped_slash,
        }
    }
}

fn bad(message: impl Into<String>) -> EdgeError {
    EdgeError::client(StatusCode::BAD_REQUEST, message)
}

/// Runs right after the limits: one authority, one path, and the fields a
/// client may not send removed. `parts` leaves in origin-form with a single
/// canonical `Host`.
pub(crate) fn normalize(
    parts: &mut http::request::Parts,
    conn: ConnInfo,
    generation: &Generation,
) -> Result<Target, EdgeError> {
    let authority = authority(parts, conn)?;
    let escaped_slash = has_escaped_slash(parts.uri.path());
    let path = normalize::normalize_path(parts.uri.path(), PathRules::BEFORE_ROUTE)
        .map_err(|e| bad(e.to_string()))?;
    if matches!(path, Cow::Owned(_)) || parts.uri.authority().is_some() {
        let path = path.into_owned();
        set_path(parts, &path)?;
    }
    forwarding::remove_connection_fields(&mut parts.headers);
    for name in generation.edge_owned.iter() {
        parts.headers.remove(name);
    }
    let target = Target::of(&authority, escaped_slash);
    set_host(parts, &target)?;
    Ok(target)
}

/// After a plugin changed the path or `Host`: the request's target again
/// (the plugin's path was normalised when its edit was checked).
pub(crate) fn retarget(
    parts: &mut http::request::Parts,
    conn: ConnInfo,
    before: &Target,
) -> Result<Target, EdgeError> {
    let host = parts.headers.get(header::HOST).map(HeaderValue::as_bytes);
    let authority = parse_for(conn, host.unwrap_or_default())
        .map_err(|e| bad(format!("rewritten Host: {e}")))?;
    let target = Target::of(&authority, before.escaped_slash);
    set_host(parts, &target)?;
    Ok(target)
}

/// Picks the route for the normalised request and applies its rules: its
/// treatment of encoded slashes (400 by default), merging `//` (the route
/// is chosen again on the merged path), and the clients' override fields.
pub(crate) fn route<'g>(
    parts: &mut http::request::Parts,
    target: &Target,
    generation: &'g Generation,
) -> Result<(usize, &'g RouteConfig), EdgeError> {
    let mut found = select(parts, &target.host, generation)?;
    if found.1.merge_slashes && parts.uri.path().contains("//") {
        let rules = found.1.path_rules();
        let merged = normalize::normalize_path(parts.uri.path(), rules)
            .map_err(|e| bad(e.to_string()))?
            .into_owned();
        set_path(parts, &merged)?;
        found = select(parts, &target.host, generation)?;
    }
    let route = found.1;
    if route.escaped_slashes == EscapedSlashes::Reject
        && (target.escaped_slash || has_escaped_slash(parts.uri.path()))
    {
        return Err(bad(normalize::PathError::EncodedSlash.to_string()));
    }
    // Most requests have none: one pass over the names, and no lookups.
    if !route.forward_overrides && parts.headers.keys().any(is_override) {
        for name in &OVERRIDE_HEADERS {
            parts.headers.remove(name);
        }
    }
    Ok(found)
}

/// The route for this host and path (404 when none matches).
pub(crate) fn select<'g>(
    parts: &http::request::Parts,
    host: &str,
    generation: &'g Generation,
) -> Result<(usize, &'g RouteConfig), EdgeError> {
    generation
        .route((!host.is_empty()).then_some(host), parts.uri.path())
        .ok_or_else(|| {
            if awaits_fleet(generation) {
                // A fleet node before its first generation: 503 with Retry-After.
                return EdgeError::Unavailable {
                    pool: "(awaiting the fleet's first generation)".into(),
                };
            }
            EdgeError::client(StatusCode::NOT_FOUND, "no route for this host and path")
        })
}

/// A node in a NATS fleet whose config has no routes yet.
fn awaits_fleet(generation: &Generation) -> bool {
    generation.config.control.is_some() && generation.config.routes.is_empty()
}

/// `%2F` or `%5C`, in either case.
fn has_escaped_slash(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| {
        w[0] == b'%' && w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')
            || w[0] == b'%' && w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c')
    })
}

/// An authority as `conn` reads it: the scheme's default port and the
/// listener's own port are no port.
fn parse_for(conn: ConnInfo, raw: &[u8]) -> Result<Authority, normalize::HostError> {
    let mut a = normalize::parse_authority(raw, normalize::default_port(conn.scheme))?;
    if a.port == Some(conn.port) {
        a.port = None;
    }
    Ok(a)
}

/// The one authority of a request (module doc).
fn authority(parts: &http::request::Parts, conn: ConnInfo) -> Result<Authority, EdgeError> {
    let parse =
        |what: &str, raw: &[u8]| parse_for(conn, raw).map_err(|e| bad(format!("{what}: {e}")));
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(bad("several Host fields"));
    }
    let target = parts.uri.authority();
    match parts.version {
        Version::HTTP_2 | Version::HTTP_3 => match (target, host) {
            (Some(a), Some(h)) => {
                let a = parse(":authority", a.as_str().as_bytes())?;
                if parse("Host", h.as_bytes())? != a {
                    return Err(bad(":authority and Host differ"));
                }
                Ok(a)
            }
            (Some(a), None) => parse(":authority", a.as_str().as_bytes()),
            (None, Some(h)) => parse("Host", h.as_bytes()),
            (None, None) => Err(bad("no :authority and no Host")),
        },
        _ => {
            let Some(h) = host else {
                return Err(bad("missing Host"));
            };
            let from_host = parse("Host", h.as_bytes())?;
            match target {
                Some(a) => parse("request target", a.as_str().as_bytes()),
                None => Ok(from_host),
            }
        }
    }
}

/// Replaces the target with `path` and the request's query, in origin-form.
fn set_path(parts: &mut http::request::Parts, path: &str) -> Result<(), EdgeError> {
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let pq = PathAndQuery::try_from(pq).map_err(|_| bad("invalid request target"))?;
    parts.uri = http::Uri::from(pq);
    Ok(())
}

/// One `Host`: the target's authority.
fn set_host(parts: &mut http::request::Parts, target: &Target) -> Result<(), EdgeError> {
    let value = HeaderValue::from_str(&target.authority).map_err(|_| bad("invalid Host"))?;
    parts.headers.insert(header::HOST, value);
    Ok(())
}

/// The host and authority of a request the HTTP/1 front loop may answer
/// itself, borrowed from its `Host` when that is already canonical (lower
/// case, no default port, no trailing dot) and its path needs no
/// normalisation; `None` sends the request through [`normalize`].
pub(crate) fn plain(parts: &http::request::Parts, conn: ConnInfo) -> Option<(&str, &str)> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let raw = hosts.next()?.as_bytes();
    if hosts.next().is_some() || parts.uri.authority().is_some() || !plain_path(parts.uri.path()) {
        return None;
    }
    // One pass: lower-case letters, digits, `-`, `_`, non-empty labels, no
    // trailing dot; then `:` and a port without leading zero.
    let mut colon = None;
    let mut prev = b'.';
    let mut port: u32 = 0;
    for (i, &b) in raw.iter().enumerate() {
        if colon.is_some() {
            if !b.is_ascii_digit() || (port == 0 && b == b'0') {
                return None;
            }
            port = port * 10 + u32::from(b - b'0');
            if port > 65535 {
                return None;
            }
            continue;
        }
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
            b'.' | b':' if prev == b'.' => return None,
            b'.' => {}
            b':' => colon = Some(i),
            _ => return None,
        }
        prev = b;
    }
    let text = std::str::from_utf8(raw).ok()?;
    match colon {
        None if prev == b'.' => None,
        None => Some((text, text)),
        Some(i) if i + 1 == raw.len() => None,
        Some(i) => {
            let host = &text[..i];
            let port = u16::try_from(port).ok()?;
            if port == conn.port {
                Some((host, host))
            } else if port != normalize::default_port(conn.scheme) {
                Some((host, text))
            } else {
                None
            }
        }
    }
}

/// A path the front loop may answer as it is: absolute and normal, `//`
/// included (merging is a route's choice, made on the slow path).
fn plain_path(path: &str) -> bool {
    path.starts_with('/') && normalize::is_normal(path.as_bytes(), true)
}

/// Whether `name` is one of [`OVERRIDE_HEADERS`].
pub(crate) fn is_override(name: &HeaderName) -> bool {
    name.as_str().starts_with("x-") && OVERRIDE_HEADERS.contains(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw_host: &[&str], uri: &str, version: Version) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri).version(version);
        for h in raw_host {
            b = b.header(header::HOST, *h);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn conn() -> ConnInfo {
        ConnInfo {
            peer: "127.0.0.1:1".parse().unwrap(),
            scheme: "http",
            port: 7000,
        }
    }

    fn auth(hosts: &[&str], uri: &str, version: Version) -> Result<String, String> {
        authority(&parts(hosts, uri, version), conn())
            .map(|a| a.text())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_authority() {
        let h1 = Version::HTTP_11;
        assert_eq!(
            auth(&["Shop.Example"], "/x", h1).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            auth(&["shop.example:80"], "/x", h1).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            auth(&["shop.example:8080"], "/x", h1).as_deref(),
            Ok("shop.example:8080")
        );
        assert_eq!(
            auth(&["shop.example:7000"], "/x", h1).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            auth(&["evil.example"], "http://shop.example/x", h1).as_deref(),
            Ok("shop.example")
        );
        assert!(auth(&[], "/x", h1).is_err());
        assert!(auth(&[], "/x", Version::HTTP_10).is_err());
        assert!(auth(&["a.example", "b.example"], "/x", h1).is_err());
        assert!(auth(&["a.example", "a.example"], "/x", h1).is_err());
        assert!(auth(&["bad host"], "/x", h1).is_err());
        assert!(auth(&["bad host"], "http://shop.example/x", h1).is_err());
        assert!(auth(&["x"], "http://u@shop.example/x", h1).is_err());
        let h2 = Version::HTTP_2;
        assert_eq!(
            auth(&[], "http://shop.example/x", h2).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            auth(&["SHOP.example:80"], "http://shop.example/x", h2).as_deref(),
            Ok("shop.example")
        );
        assert!(auth(&["evil.example"], "http://shop.example/x", h2).is_err());
        assert_eq!(
            auth(&["shop.example"], "/x", h2).as_deref(),
            Ok("shop.example")
        );
        assert!(auth(&[], "/x", h2).is_err());
    }

    #[test]
    fn plain_requests() {
        let p = |host: &str, uri: &str| {
            let parts = parts(&[host], uri, Version::HTTP_11);
            plain(&parts, conn()).map(|(h, a)| (h.to_string(), a.to_string()))
        };
        assert_eq!(
            p("shop.example", "/a"),
            Some(("shop.example".into(), "shop.example".into()))
        );
        assert_eq!(
            p("127.0.0.1:8080", "/a?x"),
            Some(("127.0.0.1".into(), "127.0.0.1:8080".into()))
        );
        assert_eq!(
            p("127.0.0.1:7000", "/a"),
            Some(("127.0.0.1".into(), "127.0.0.1".into()))
        );
        for (host, uri) in [
            ("Shop.example", "/a"),
            ("shop.example:80", "/a"),
            ("shop.example:080", "/a"),
            ("shop.example.", "/a"),
            ("shop.example", "/a/../b"),
            ("shop.example", "/a//b"),
            ("shop.example", "/%61"),
            ("shop.example", "/a/."),
            ("a b", "/a"),
            ("a..b", "/a"),
            (".a", "/a"),
            (":81", "/a"),
            ("a:", "/a"),
            ("a:65536", "/a"),
            ("a.:81", "/a"),
            ("a:8x", "/a"),
            ("a", "a"),
        ] {
            assert_eq!(p(host, uri), None, "{host} {uri}");
        }
    }
}
