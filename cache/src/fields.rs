//! List fields the cache writes and the proxy shares: folding a field's
//! lines into one list (RFC 9110 §5.3) and appending this node's `Via`
//! member (§7.6.3). They live here, the lowest place both need them, so the
//! cache crate depends on nothing of the host; the host's `forwarding`
//! re-exports them beside its other proxy rules.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Appends `value` to a comma-separated list field, folding the field's
/// existing lines (blank ones dropped) into one.
pub fn append_list(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    let mut joined = folded(headers.get_all(&name)).unwrap_or_default();
    if !joined.is_empty() {
        joined.extend_from_slice(b", ");
    }
    joined.extend_from_slice(value.as_bytes());
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(name, v);
    }
}

/// The lines of a comma-separated list field folded into one list, blank
/// lines dropped; `None` when there is nothing.
pub fn folded(lines: header::GetAll<'_, HeaderValue>) -> Option<Vec<u8>> {
    let mut joined: Vec<u8> = Vec::new();
    for line in lines {
        if line.as_bytes().iter().all(|c| *c == b' ' || *c == b'\t') {
            continue;
        }
        if !joined.is_empty() {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(line.as_bytes());
    }
    (!joined.is_empty()).then_some(joined)
}

/// Appends this node to `Via` (`1.1 name`, or `2 name` for HTTP/2).
pub fn add_via(headers: &mut HeaderMap, version: http::Version, node: &str) {
    let proto = match version {
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    };
    append_list(headers, header::VIA, &format!("{proto} {node}"));
}
