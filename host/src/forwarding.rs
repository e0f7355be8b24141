//! Header rules for proxying (RFC 9110 §7.6): hop-by-hop fields are dropped in
//! both directions, `X-Forwarded-*` and `Via` are added. Folding a list field
//! and the `Via` member are the cache crate's (`brink_cache::fields`, which
//! writes them on hits too), re-exported here.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub use brink_cache::fields::add_via;
use brink_cache::fields::append_list;

/// Fields that describe one connection and never cross a proxy.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Removes hop-by-hop fields, including every field that `Connection` names.
/// `Transfer-Encoding` is removed too: the outgoing side frames the body itself.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    remove_connection_fields(headers);
    headers.remove(header::TRANSFER_ENCODING);
}

/// [`remove_hop_by_hop`] but for `Transfer-Encoding`, which still says how
/// the body in hand is framed. Runs at ingress, before any plugin, so a
/// client's `Connection: x-user-id` cannot remove a field the edge sets.
pub fn remove_connection_fields(headers: &mut HeaderMap) {
    // Most messages have none: one pass over the names, and no lookups.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Adds `X-Forwarded-For` (appending the peer), `X-Forwarded-Proto` and
/// `X-Forwarded-Host` (the host the client asked for).
pub fn add_forwarded(headers: &mut HeaderMap, peer: IpAddr, scheme: &str, host: Option<&str>) {
    append_list(
        headers,
        HeaderName::from_static("x-forwarded-for"),
        &peer.to_string(),
    );
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_str(scheme).unwrap_or(HeaderValue::from_static("http")),
    );
    if let Some(h) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_hop_by_hop_and_connection_named_fields() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        add_forwarded(
            &mut h,
            "127.0.0.1".parse().unwrap(),
            "https",
            Some("shop.test"),
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "shop.test");
        add_via(&mut h, http::Version::HTTP_11, "edge-1");
        add_via(&mut h, http::Version::HTTP_2, "edge-2");
        assert_eq!(h["via"], "1.1 edge-1, 2 edge-2");
    }

    #[test]
    fn appending_folds_every_line_of_the_field() {
        let mut h = HeaderMap::new();
        h.append("via", HeaderValue::from_static("1.1 parent"));
        h.append("via", HeaderValue::from_static(" "));
        h.append("via", HeaderValue::from_static("1.0 proxy"));
        add_via(&mut h, http::Version::HTTP_11, "edge-1");
        assert_eq!(h.get_all("via").iter().count(), 1);
        assert_eq!(h["via"], "1.1 parent, 1.0 proxy, 1.1 edge-1");
    }
}
