//! The header block a plain hit sends, made once per stored response.
//!
//! A hit answers with the stored fields minus the surrogate ones, plus this
//! node's `Via` member, `Age` and `Cache-Status`. Built per hit, that is a
//! clone, two removals and three insertions into a map cloned at its exact
//! size (so it grows). Kept ready per entry ([`client_fields`], which the
//! other answers from the cache use too), a hit clones one map and
//! overwrites two values in place.

use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::status::CACHE_STATUS;
use crate::forwarding;

/// The prepared header block of one entry, for the node it was made for.
#[derive(Debug, Default)]
pub struct Served(OnceLock<(Arc<str>, HeaderMap)>);

impl Served {
    /// [`client_fields`] of `stored` for node `node`: made on first use;
    /// `None` when the node has been renamed since (the caller then makes
    /// the fields itself).
    pub fn headers(&self, stored: &HeaderMap, node: &Arc<str>) -> Option<&HeaderMap> {
        let (made_for, headers) = self
            .0
            .get_or_init(|| (node.clone(), client_fields(stored.clone(), node)));
        (made_for == node).then_some(headers)
    }
}

/// Surrogate fields are for the CDN, not for clients.
pub fn strip_surrogate(headers: &mut HeaderMap) {
    const KEY: HeaderName = HeaderName::from_static("surrogate-key");
    const CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
    headers.remove(KEY);
    headers.remove(CONTROL);
}

/// Stored fields as node `node` sends them to a client: surrogate fields
/// removed, its `Via` member appended, and `Age` and `Cache-Status` present,
/// so the caller overwrites `Age` and [`super::status::append`] fills the
/// (empty, unless upstream members are there) `Cache-Status`.
pub fn client_fields(mut headers: HeaderMap, node: &str) -> HeaderMap {
    strip_surrogate(&mut headers);
    forwarding::add_via(&mut headers, http::Version::HTTP_11, node);
    headers.insert(header::AGE, HeaderValue::from_static("0"));
    if !headers.contains_key(CACHE_STATUS) {
        headers.insert(CACHE_STATUS, HeaderValue::from_static(""));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Arc<str> {
        Arc::from("edge-1")
    }

    #[test]
    fn strips_surrogate_fields_and_adds_via_and_slots() {
        let mut stored = HeaderMap::new();
        stored.insert("content-type", HeaderValue::from_static("text/html"));
        stored.insert("surrogate-key", HeaderValue::from_static("a b"));
        stored.insert("surrogate-control", HeaderValue::from_static("max-age=60"));
        stored.append("set-cookie", HeaderValue::from_static("a=1"));
        stored.append("set-cookie", HeaderValue::from_static("b=2"));
        let name = node();
        let served = Served::default();
        let h = served.headers(&stored, &name).expect("made for this node");
        assert_eq!(h["content-type"], "text/html");
        assert_eq!(h.get_all("set-cookie").iter().count(), 2);
        assert!(!h.contains_key("surrogate-key") && !h.contains_key("surrogate-control"));
        assert_eq!(h["via"], "1.1 edge-1");
        assert_eq!(h["age"], "0");
        assert_eq!(h[CACHE_STATUS], "");
    }

    #[test]
    fn appends_to_an_upstream_via_and_keeps_upstream_cache_status() {
        let mut stored = HeaderMap::new();
        stored.append("via", HeaderValue::from_static("1.1 parent"));
        stored.append("via", HeaderValue::from_static("1.0 proxy"));
        stored.insert(CACHE_STATUS, HeaderValue::from_static("parent; hit"));
        let name = node();
        let served = Served::default();
        let h = served.headers(&stored, &name).expect("made for this node");
        assert_eq!(h["via"], "1.1 parent, 1.0 proxy, 1.1 edge-1");
        assert_eq!(h[CACHE_STATUS], "parent; hit");
    }

    #[test]
    fn a_renamed_node_gets_none() {
        let stored = HeaderMap::new();
        let name = node();
        let served = Served::default();
        assert!(served.headers(&stored, &name).is_some());
        let renamed: Arc<str> = Arc::from("edge-2");
        assert!(served.headers(&stored, &renamed).is_none());
    }
}
