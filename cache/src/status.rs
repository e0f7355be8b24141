//! The `Cache-Status` response field (RFC 9211).

use std::fmt::Write;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::directives::is_tchar;

/// `Cache-Status`.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// Largest magnitude of an sf-integer (RFC 9651 §3.3.1).
const SF_INTEGER_MAX: i64 = 999_999_999_999_999;

/// Why the request went forward (RFC 9211 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fwd {
    /// No stored response for the URI.
    UriMiss,
    /// Stored responses for the URI, none matching `Vary`.
    VaryMiss,
    /// A miss the cache cannot classify further.
    Miss,
    /// A stored response was stale (revalidation).
    Stale,
    /// The request asked for it (`no-cache`, `max-age=0`, ...).
    Request,
    /// Configured not to use the cache for this request.
    Bypass,
    /// The request method is not cacheable.
    Method,
    /// Only part of the response was stored (e.g. a range).
    Partial,
}

impl Fwd {
    /// The sf-token for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Miss => "miss",
            Fwd::Stale => "stale",
            Fwd::Request => "request",
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
            Fwd::Partial => "partial",
        }
    }
}

/// One cache's member of `Cache-Status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheStatus {
    /// This cache's name (an sf-token if it is one, else an sf-string).
    pub cache: Arc<str>,
    /// Served from the cache without going forward.
    pub hit: bool,
    /// Went forward, and why.
    pub fwd: Option<Fwd>,
    /// Status of the forwarded response.
    pub fwd_status: Option<u16>,
    /// The response was stored.
    pub stored: bool,
    /// The request was collapsed with another (coalesced).
    pub collapsed: bool,
    /// Remaining freshness in seconds (negative when stale).
    pub ttl: Option<i64>,
    /// The cache key (for debugging).
    pub key: Option<String>,
    /// Implementation-specific detail.
    pub detail: Option<String>,
}

fn is_sf_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'*')
        && bytes.all(|c| is_tchar(c) || c == b':' || c == b'/')
}

/// Writes an sf-string: `"` and `\` escaped; bytes outside printable ASCII
/// (which sf-strings cannot carry) percent-encoded.
fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out.push('"');
}

fn push_token_or_string(out: &mut String, s: &str) {
    if is_sf_token(s) {
        out.push_str(s);
    } else {
        push_sf_string(out, s);
    }
}

impl CacheStatus {
    /// Records what the store did with a fill: `stored`, or a detail saying
    /// why not (`not-admitted`: the objects it would evict are requested more
    /// often; `too-large`: over the whole capacity).
    pub fn set_admit(&mut self, admit: super::Admit) {
        match admit {
            super::Admit::Stored => self.stored = true,
            super::Admit::Rejected => self.detail = Some("not-admitted".into()),
            super::Admit::TooLarge => self.detail = Some("too-large".into()),
        }
    }

    /// Serialises the member: `edge-1; hit; ttl=42`,
    /// `edge-1; fwd=uri-miss; fwd-status=200; stored`.
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(64);
        push_token_or_string(&mut out, &self.cache);
        if self.hit {
            out.push_str("; hit");
        }
        if let Some(fwd) = self.fwd {
            out.push_str("; fwd=");
            out.push_str(fwd.as_str());
        }
        if let Some(status) = self.fwd_status {
            out.push_str("; fwd-status=");
            out.push_str(itoa::Buffer::new().format(status));
        }
        if self.stored {
            out.push_str("; stored");
        }
        if self.collapsed {
            out.push_str("; collapsed");
        }
        if let Some(ttl) = self.ttl {
            out.push_str("; ttl=");
            out.push_str(itoa::Buffer::new().format(ttl.clamp(-SF_INTEGER_MAX, SF_INTEGER_MAX)));
        }
        if let Some(key) = &self.key {
            out.push_str("; key=");
            push_sf_string(&mut out, key);
        }
        if let Some(detail) = &self.detail {
            out.push_str("; detail=");
            push_token_or_string(&mut out, detail);
        }
        out
    }
}

/// Adds this cache's member at the end of `Cache-Status` (RFC 9211 §2: the
/// first member is the cache closest to the origin, so each hop appends),
/// folding any existing field lines into one.
pub fn append(headers: &mut HeaderMap, member: &CacheStatus) {
    let ours = member.to_header_value();
    let value = match crate::fields::folded(headers.get_all(CACHE_STATUS)) {
        // The common case: the only member (at most an empty slot, see
        // `cache::Served`); the String becomes the value as is.
        None => HeaderValue::from_maybe_shared(bytes::Bytes::from(ours)).ok(),
        Some(mut combined) => {
            combined.extend_from_slice(b", ");
            combined.extend_from_slice(ours.as_bytes());
            Some(
                HeaderValue::from_bytes(&combined)
                    .unwrap_or_else(|_| HeaderValue::from_str(&ours).expect("printable ASCII")),
            )
        }
    };
    if let Some(v) = value {
        headers.insert(CACHE_STATUS, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(cache: &str) -> CacheStatus {
        CacheStatus {
            cache: Arc::from(cache),
            ..CacheStatus::default()
        }
    }

    #[test]
    fn hit_member() {
        let m = CacheStatus {
            hit: true,
            ttl: Some(42),
            ..cs("edge-1")
        };
        assert_eq!(m.to_header_value(), "edge-1; hit; ttl=42");
    }

    #[test]
    fn miss_member() {
        let m = CacheStatus {
            fwd: Some(Fwd::UriMiss),
            fwd_status: Some(200),
            stored: true,
            ..cs("edge-1")
        };
        assert_eq!(
            m.to_header_value(),
            "edge-1; fwd=uri-miss; fwd-status=200; stored"
        );
        let m = CacheStatus {
            fwd: Some(Fwd::Stale),
            collapsed: true,
            ttl: Some(-5),
            ..cs("e")
        };
        assert_eq!(m.to_header_value(), "e; fwd=stale; collapsed; ttl=-5");
    }

    #[test]
    fn all_fwd_values() {
        for (f, s) in [
            (Fwd::UriMiss, "uri-miss"),
            (Fwd::VaryMiss, "vary-miss"),
            (Fwd::Miss, "miss"),
            (Fwd::Stale, "stale"),
            (Fwd::Request, "request"),
            (Fwd::Bypass, "bypass"),
            (Fwd::Method, "method"),
            (Fwd::Partial, "partial"),
        ] {
            assert_eq!(f.as_str(), s);
        }
    }

    #[test]
    fn key_is_escaped() {
        let m = CacheStatus {
            key: Some(r#"https://h/p?q="a"\b"#.to_owned()),
            ..cs("edge")
        };
        assert_eq!(m.to_header_value(), r#"edge; key="https://h/p?q=\"a\"\\b""#);
        let m = CacheStatus {
            key: Some("é\n".to_owned()),
            ..cs("edge")
        };
        assert_eq!(m.to_header_value(), r#"edge; key="%C3%A9%0A""#);
        assert!(HeaderValue::from_str(&m.to_header_value()).is_ok());
    }

    #[test]
    fn cache_name_and_detail_token_or_string() {
        assert_eq!(cs("edge 1").to_header_value(), "\"edge 1\"");
        assert_eq!(cs("1edge").to_header_value(), "\"1edge\"");
        assert_eq!(cs("").to_header_value(), "\"\"");
        let m = CacheStatus {
            detail: Some("too-big".to_owned()),
            ..cs("Edge:a/b")
        };
        assert_eq!(m.to_header_value(), "Edge:a/b; detail=too-big");
        let m = CacheStatus {
            detail: Some("a b".to_owned()),
            ..cs("e")
        };
        assert_eq!(m.to_header_value(), "e; detail=\"a b\"");
    }

    #[test]
    fn ttl_is_clamped() {
        let m = CacheStatus {
            ttl: Some(i64::MIN),
            ..cs("e")
        };
        assert_eq!(m.to_header_value(), "e; ttl=-999999999999999");
    }

    #[test]
    fn append_keeps_origin_first() {
        let mut h = HeaderMap::new();
        append(
            &mut h,
            &CacheStatus {
                fwd: Some(Fwd::UriMiss),
                stored: true,
                ..cs("shield")
            },
        );
        append(
            &mut h,
            &CacheStatus {
                hit: true,
                ..cs("edge")
            },
        );
        assert_eq!(h[CACHE_STATUS], "shield; fwd=uri-miss; stored, edge; hit");
        assert_eq!(h.get_all(CACHE_STATUS).iter().count(), 1);
    }

    #[test]
    fn append_folds_multiple_lines_and_skips_empty() {
        let mut h = HeaderMap::new();
        h.append(CACHE_STATUS, HeaderValue::from_static("origin-cache; hit"));
        h.append(CACHE_STATUS, HeaderValue::from_static(""));
        h.append(CACHE_STATUS, HeaderValue::from_static("shield; fwd=stale"));
        append(
            &mut h,
            &CacheStatus {
                hit: true,
                ..cs("edge")
            },
        );
        assert_eq!(
            h[CACHE_STATUS],
            "origin-cache; hit, shield; fwd=stale, edge; hit"
        );
    }
}
