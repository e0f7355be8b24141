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
fn forbidden(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "upgrade" | "te"
    )
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

fn check_header(name: &str, value: Option<&str>) -> Result<HeaderName, String> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    if forbidden(&n) {
        return Err(format!("plugins may not set {n}"));
    }
    if let Some(v) = value {
        HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {n}: {v:?}"))?;
    }
    Ok(n)
}

/// Applies header operations to a header list, after validating all of them.
pub fn apply_header_ops(list: &mut Vec<(String, String)>, ops: &[HeaderOp]) -> Result<(), String> {
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
    Ok(())
}

/// Applies a plugin's request edits to the working head; on error the head is unchanged.
pub fn apply_request_edits(head: &mut RequestHead, edits: &RequestEdits) -> Result<(), String> {
    let mut next = head.clone();
    apply_header_ops(&mut next.headers, &edits.headers)?;
    if let Some(p) = &edits.path {
        if !p.starts_with('/') {
            return Err(format!("path must start with '/': {p:?}"));
        }
        next.path = p.clone();
    }
    if let Some(q) = &edits.query {
        next.query = if q.is_empty() { None } else { Some(q.clone()) };
    }
    path_and_query(&next)?;
    if let Some(v) = &edits.cache_variant
        && (v.len() > 256 || v.chars().any(|c| c.is_control()))
    {
        return Err("cache variant must be at most 256 printable characters".into());
    }
    *head = next;
    Ok(())
}

fn path_and_query(head: &RequestHead) -> Result<http::uri::PathAndQuery, String> {
    let s = match &head.query {
        Some(q) => format!("{}?{q}", head.path),
        None => head.path.clone(),
    };
    s.parse()
        .map_err(|_| format!("invalid path or query: {s:?}"))
}

/// Writes the working head back into the request.
pub fn write_request(head: &RequestHead, parts: &mut http::request::Parts) -> Result<(), String> {
    let pq = path_and_query(head)?;
    parts.uri = http::Uri::from(pq);
    parts.headers = to_header_map(&head.headers)?;
    Ok(())
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
