//! The header block a plain hit sends, made once per stored response.
//!
//! A hit answers with the stored fields minus the surrogate ones, plus this
//! node's `Via` member, `Age` and `Cache-Status`. Built per hit, that is a
//! clone, two removals and three insertions into a map cloned at its exact
//! size (so it grows). Kept ready per entry ([`client_fields`], which the
//! other answers from the cache use too), a hit clones one map and
//! overwrites two values in place. The HTTP/1 front loop writes the same
//! block from its bytes ([`Wire`]), made once too.

use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::status::CACHE_STATUS;
use crate::fields;

/// The prepared header block of one entry, for the node it was made for.
#[derive(Debug, Default)]
pub struct Served {
    block: OnceLock<(Arc<str>, HeaderMap)>,
    wire: OnceLock<Wire>,
}

/// A prepared block as HTTP/1.1 bytes, for the front loop: the status line
/// and every field but `Age` and `Cache-Status`, which each hit writes (and
/// a `Date` when the stored response has none, as hyper adds one); a
/// `Content-Length` when the stored response has none.
#[derive(Debug)]
pub struct Wire {
    /// The status line and the fields, each line ending in CRLF.
    pub head: Box<[u8]>,
    /// `Cache-Status` members from upstream, folded; this node's follows.
    pub upstream_status: Option<Vec<u8>>,
    /// The stored response has a `Date`.
    pub dated: bool,
}

impl Served {
    /// [`client_fields`] of `stored` for node `node`: made on first use;
    /// `None` when the node has been renamed since (the caller then makes
    /// the fields itself).
    pub fn headers(&self, stored: &HeaderMap, node: &Arc<str>) -> Option<&HeaderMap> {
        let (made_for, headers) = self
            .block
            .get_or_init(|| (node.clone(), client_fields(stored.clone(), node)));
        (made_for == node).then_some(headers)
    }

    /// [`Served::headers`] as the front loop writes them, for a response of
    /// `status` with a body of `body_len` bytes.
    pub fn wire(
        &self,
        status: StatusCode,
        stored: &HeaderMap,
        node: &Arc<str>,
        body_len: usize,
    ) -> Option<&Wire> {
        let block = self.headers(stored, node)?;
        Some(self.wire.get_or_init(|| Wire::new(status, block, body_len)))
    }
}

impl Wire {
    fn new(status: StatusCode, block: &HeaderMap, body_len: usize) -> Wire {
        let mut head = Vec::with_capacity(512);
        head.extend_from_slice(b"HTTP/1.1 ");
        head.extend_from_slice(status.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        head.extend_from_slice(b"\r\n");
        for (name, value) in block {
            if name != header::AGE && name != CACHE_STATUS {
                push_field(&mut head, name, value.as_bytes());
            }
        }
        if !block.contains_key(header::CONTENT_LENGTH) {
            let mut len = itoa::Buffer::new();
            push_field(
                &mut head,
                &header::CONTENT_LENGTH,
                len.format(body_len).as_bytes(),
            );
        }
        Wire {
            head: head.into_boxed_slice(),
            upstream_status: fields::folded(block.get_all(CACHE_STATUS)),
            dated: block.contains_key(header::DATE),
        }
    }
}

/// Appends `name: value` and CRLF.
pub fn push_field(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
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
    fields::add_via(&mut headers, http::Version::HTTP_11, node);
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
    fn the_wire_block_leaves_age_and_cache_status_to_each_hit() {
        let mut stored = HeaderMap::new();
        stored.insert("content-type", HeaderValue::from_static("text/html"));
        stored.insert(CACHE_STATUS, HeaderValue::from_static("parent; hit"));
        stored.append("set-cookie", HeaderValue::from_static("a=1"));
        stored.append("set-cookie", HeaderValue::from_static("b=2"));
        let name = node();
        let served = Served::default();
        let w = served
            .wire(StatusCode::NOT_FOUND, &stored, &name, 42)
            .expect("made for this node");
        assert_eq!(
            std::str::from_utf8(&w.head).expect("ascii"),
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\n\
             set-cookie: a=1\r\nset-cookie: b=2\r\nvia: 1.1 edge-1\r\n\
             content-length: 42\r\n"
        );
        assert_eq!(w.upstream_status.as_deref(), Some(&b"parent; hit"[..]));
        assert!(!w.dated);
        let renamed: Arc<str> = Arc::from("edge-2");
        assert!(served.wire(StatusCode::OK, &stored, &renamed, 42).is_none());
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
