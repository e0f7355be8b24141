//! The fields of a stored response (RFC 9111 §3.1, §3.2, §4.3): what is
//! removed before storing, how a 304 updates them, and the conditional
//! fields that revalidate them.

use http::header::{
    CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName};

use super::parse_date;
use crate::directives::trim_ows;

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
