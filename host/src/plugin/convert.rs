//! Between HTTP types and the WIT records, with every edit a plugin returns
//! validated before it is applied: a malformed edit is a plugin failure, never
//! a malformed request or response.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::bindings::{EarlyResponse, HeaderOp, RequestEdits, RequestHead, ResponseHead};
use crate::body::{Body, full};

/// Largest body of an early response a plugin may produce.
const MAX_EARLY_BODY: usize = 1024 * 1024;

/// Headers a plugin may not set: they frame the message.
fn forbidden(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
    ]
    .iter()
    .any(|f| name.eq_ignore_ascii_case(f))
}

/// The request head as plugins see it.
pub fn request_head(parts: &http::request::Parts, scheme: &str, host: &str) -> RequestHead {
    RequestHead {
        method: parts.method.as_str().to_string(),
        scheme: scheme.to_string(),
        host: host.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: header_list(&parts.headers),
    }
}

/// The response head as plugins see it.
pub fn response_head(parts: &http::response::Parts) -> ResponseHead {
    ResponseHead {
        status: parts.status.as_u16(),
        headers: header_list(&parts.headers),
    }
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Checks a header a plugin asks for, without making a `HeaderName` or a
/// `HeaderValue` of it (that is done once, when it is applied).
fn check_header(name: &str, value: Option<&str>) -> Result<(), String> {
    if !valid_name(name) {
        return Err(format!("invalid header name {name:?}"));
    }
    if forbidden(name) {
        return Err(format!("plugins may not set {}", name.to_ascii_lowercase()));
    }
    if let Some(v) = value
        && !valid_value(v)
    {
        let n = name.to_ascii_lowercase();
        return Err(format!("invalid value for header {n}: {v:?}"));
    }
    Ok(())
}

/// What `HeaderName::from_bytes` accepts: a token (RFC 9110), of any case,
/// shorter than 64 KiB.
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() < 1 << 16 && n.bytes().all(|b| TOKEN[usize::from(b)])
}

/// Which bytes may appear in a token (RFC 9110 `tchar`).
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

fn header_name(n: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("invalid header name {n:?}"))
}

/// What `HeaderValue::from_str` accepts (visible ASCII, obs-text, spaces and
/// tabs), checked without making one.
fn valid_value(v: &str) -> bool {
    v.bytes().all(|b| (b >= 32 && b != 127) || b == b'\t')
}

/// Checks every header operation; nothing is applied.
fn check_header_ops(ops: &[HeaderOp]) -> Result<(), String> {
    for op in ops {
        match op {
            HeaderOp::Set((n, v)) | HeaderOp::Append((n, v)) => {
                check_header(n, Some(v))?;
            }
            HeaderOp::Remove(n) => {
                check_header(n, None)?;
            }
        }
    }
    Ok(())
}

/// Applies header operations that [`check_header_ops`] accepted.
fn apply_checked_header_ops(list: &mut Vec<(String, String)>, ops: &[HeaderOp]) {
    for op in ops {
        match op {
            HeaderOp::Set((n, v)) => {
                let n = n.to_ascii_lowercase();
                list.retain(|(k, _)| *k != n);
                list.push((n, v.clone()));
            }
            HeaderOp::Append((n, v)) => list.push((n.to_ascii_lowercase(), v.clone())),
            HeaderOp::Remove(n) => {
                let n = n.to_ascii_lowercase();
                list.retain(|(k, _)| *k != n);
            }
        }
    }
}

/// Applies header operations to a header map, after validating all of them:
/// on error the map is unchanged. `set` replaces every field of the name
/// (the first keeps its place), `append` adds one, `remove` drops them all.
/// The values move into the map without a copy.
pub fn apply_header_ops_to_map(map: &mut HeaderMap, ops: Vec<HeaderOp>) -> Result<(), String> {
    check_header_ops(&ops)?;
    for op in ops {
        match op {
            HeaderOp::Set((n, v)) => {
                map.insert(header_name(&n)?, header_value(v)?);
            }
            HeaderOp::Append((n, v)) => {
                map.append(header_name(&n)?, header_value(v)?);
            }
            HeaderOp::Remove(n) => {
                // A lower-case name is looked up as it is; no `HeaderName` made.
                if n.bytes().any(|b| b.is_ascii_uppercase()) {
                    map.remove(header_name(&n)?);
                } else {
                    map.remove(n.as_str());
                }
            }
        }
    }
    Ok(())
}

fn header_value(v: String) -> Result<HeaderValue, String> {
    HeaderValue::from_maybe_shared(Bytes::from(v)).map_err(|e| format!("invalid header value: {e}"))
}

/// Applies header operations to a header list, after validating all of them.
pub fn apply_header_ops(list: &mut Vec<(String, String)>, ops: &[HeaderOp]) -> Result<(), String> {
    check_header_ops(ops)?;
    apply_checked_header_ops(list, ops);
    Ok(())
}

/// What a plugin's request edits changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edited {
    /// Anything at all (the head shown to the next plugin is made again).
    pub any: bool,
    /// The path or `Host`: the route is chosen again.
    pub target: bool,
}

/// Applies a plugin's request edits to the request itself; on error the
/// request is unchanged. A new path is normalised as a client's is
/// ([`crate::normalize`]); a new `Host` must be one valid authority, set
/// (never appended or removed).
pub fn apply_request_edits_to_parts(
    parts: &mut http::request::Parts,
    edits: &mut RequestEdits,
) -> Result<Edited, String> {
    check_header_ops(&edits.headers)?;
    let mut host_changed = false;
    for op in &edits.headers {
        match op {
            HeaderOp::Set((n, v)) if n.eq_ignore_ascii_case("host") => {
                crate::normalize::parse_authority(v.as_bytes(), 80)
                    .map_err(|e| format!("invalid host {v:?}: {e}"))?;
                host_changed |= parts.headers.get(http::header::HOST).map(|h| h.as_bytes())
                    != Some(v.as_bytes());
            }
            HeaderOp::Append((n, _)) | HeaderOp::Remove(n) if n.eq_ignore_ascii_case("host") => {
                return Err("plugins may only set host, not append or remove it".into());
            }
            _ => {}
        }
    }
    let path = match &edits.path {
        Some(p) => {
            let rules = crate::normalize::PathRules::BEFORE_ROUTE;
            let n = crate::normalize::normalize_path(p, rules)
                .map_err(|e| format!("rewritten path {p:?}: {e}"))?;
            Some(n.into_owned())
        }
        None => None,
    };
    let path_changed = path.as_deref().is_some_and(|p| p != parts.uri.path());
    let target = if path.is_some() || edits.query.is_some() {
        let path = path.as_deref().unwrap_or(parts.uri.path());
        let query = match &edits.query {
            Some(q) => Some(q.as_str()).filter(|q| !q.is_empty()),
            None => parts.uri.query(),
        };
        Some(path_and_query(path, query)?)
    } else {
        None
    };
    check_cache_variant(edits)?;
    let any = target.is_some() || !edits.headers.is_empty();
    apply_header_ops_to_map(&mut parts.headers, std::mem::take(&mut edits.headers))?;
    if let Some(pq) = target {
        parts.uri = http::Uri::from(pq);
    }
    Ok(Edited {
        any,
        target: path_changed || host_changed,
    })
}

fn check_cache_variant(edits: &RequestEdits) -> Result<(), String> {
    if let Some(v) = &edits.cache_variant
        && (v.len() > 256 || v.chars().any(|c| c.is_control()))
    {
        return Err("cache variant must be at most 256 printable characters".into());
    }
    Ok(())
}

fn path_and_query(path: &str, query: Option<&str>) -> Result<http::uri::PathAndQuery, String> {
    let s = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::from(s))
        .map_err(|_| format!("invalid path or query: {:?}", display_target(path, query)))
}

fn display_target(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

/// A header list as a `HeaderMap`.
pub fn to_header_map(list: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(list.len());
    for (n, v) in list {
        let name = HeaderName::from_bytes(n.as_bytes())
            .map_err(|_| format!("invalid header name {n:?}"))?;
        let value = HeaderValue::from_str(v).map_err(|_| format!("invalid header value {v:?}"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// A plugin's early response as an HTTP response.
pub fn early_response(r: EarlyResponse) -> Result<http::Response<Body>, String> {
    if !(200..=599).contains(&r.status) {
        return Err(format!("invalid status {} in early response", r.status));
    }
    if r.body.len() > MAX_EARLY_BODY {
        return Err(format!(
            "early response body of {} bytes is over 1 MiB",
            r.body.len()
        ));
    }
    let mut headers = Vec::new();
    let ops: Vec<HeaderOp> = r.headers.into_iter().map(HeaderOp::Append).collect();
    apply_header_ops(&mut headers, &ops)?;
    let mut resp = http::Response::new(full(Bytes::from(r.body)));
    *resp.status_mut() = http::StatusCode::from_u16(r.status).map_err(|e| e.to_string())?;
    *resp.headers_mut() = to_header_map(&headers)?;
    Ok(resp)
}
