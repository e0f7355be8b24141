//! The header block a plain hit sends, made once per stored response.
//!
//! A hit answers with the stored fields minus the surrogate ones, plus this
//! node's `Via` member, `Age` and `Cache-Status`. Built per hit, that is a
//! clone, two removals and three insertions into a map cloned at its exact
//! size (so it grows). Kept ready per entry, a hit clones one map and
//! overwrites two values in place.

use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::status::CACHE_STATUS;

/// Fields for the CDN, never for clients.
const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");

/// The prepared header block of one entry, for the node it was made for.
#[derive(Debug, Default)]
pub struct Served(OnceLock<(Arc<str>, HeaderMap)>);

impl Served {
    /// The fields of a whole-body answer from `stored` by node `node`, whose
    /// `Via` member is `via`: made on first use; `None` when the node has been
    /// renamed since (the caller then builds the fields itself).
    ///
    /// The map always holds `Age` and `Cache-Status`: the caller overwrites
    /// `Age`, and `Cache-Status` is either the upstream members or an empty
    /// slot that [`super::status::append`] fills.
    pub fn headers(
        &self,
        stored: &HeaderMap,
        node: &Arc<str>,
        via: &HeaderValue,
    ) -> Option<&HeaderMap> {
        let (made_for, headers) = self
            .0
            .get_or_init(|| (node.clone(), client_fields(stored, via)));
        (made_for == node).then_some(headers)
    }
}

/// `stored` as a client gets it: surrogate fields removed, `via` appended
/// to `Via`, slots for `Age` and `Cache-Status`.
fn client_fields(stored: &HeaderMap, via: &HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(stored.len() + 3);
    for (name, value) in stored {
        if name != SURROGATE_KEY && name != SURROGATE_CONTROL && name != header::VIA {
            headers.append(name.clone(), value.clone());
        }
    }
    let upstream_via: Vec<&[u8]> = stored
        .get_all(header::VIA)
        .iter()
        .map(HeaderValue::as_bytes)
        .filter(|v| !v.iter().all(|c| *c == b' ' || *c == b'\t'))
        .collect();
    let via = if upstream_via.is_empty() {
        via.clone()
    } else {
        let mut joined = upstream_via.join(&b", "[..]);
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(via.as_bytes());
        HeaderValue::from_bytes(&joined).unwrap_or_else(|_| via.clone())
    };
    headers.insert(header::VIA, via);
    headers.insert(header::AGE, HeaderValue::from_static("0"));
    if !headers.contains_key(CACHE_STATUS) {
        headers.insert(CACHE_STATUS, HeaderValue::from_static(""));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> (Arc<str>, HeaderValue) {
        (Arc::from("edge-1"), HeaderValue::from_static("1.1 edge-1"))
    }

    #[test]
    fn strips_surrogate_fields_and_adds_via_and_slots() {
        let mut stored = HeaderMap::new();
        stored.insert("content-type", HeaderValue::from_static("text/html"));
        stored.insert("surrogate-key", HeaderValue::from_static("a b"));
        stored.insert("surrogate-control", HeaderValue::from_static("max-age=60"));
        stored.append("set-cookie", HeaderValue::from_static("a=1"));
        stored.append("set-cookie", HeaderValue::from_static("b=2"));
        let (name, via) = node();
        let served = Served::default();
        let h = served
            .headers(&stored, &name, &via)
            .expect("made for this node");
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
        let (name, via) = node();
        let served = Served::default();
        let h = served
            .headers(&stored, &name, &via)
            .expect("made for this node");
        assert_eq!(h["via"], "1.1 parent, 1.0 proxy, 1.1 edge-1");
        assert_eq!(h[CACHE_STATUS], "parent; hit");
    }

    #[test]
    fn a_renamed_node_gets_none() {
        let stored = HeaderMap::new();
        let (name, via) = node();
        let served = Served::default();
        assert!(served.headers(&stored, &name, &via).is_some());
        let renamed: Arc<str> = Arc::from("edge-2");
        assert!(served.headers(&stored, &renamed, &via).is_none());
    }
}
