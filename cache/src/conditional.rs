//! Client conditional requests answered from a stored response
//! (RFC 9110 §13, RFC 9111 §4.3.2).

use http::header::{
    CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, IF_MATCH, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::directives::trim_ows;

/// An entity tag (RFC 9110 §8.8.3): its weakness and opaque-tag (quotes included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntityTag<'a> {
    /// `W/` prefix.
    pub weak: bool,
    /// The quoted opaque-tag, quotes included.
    pub opaque: &'a [u8],
}

impl EntityTag<'_> {
    /// Weak comparison: opaque-tags match.
    pub(crate) fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }

    /// Strong comparison: both strong and opaque-tags match.
    pub(crate) fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }
}

fn is_etagc(c: u8) -> bool {
    c == 0x21 || (0x23..=0x7e).contains(&c) || c >= 0x80
}

/// Parses one entity tag at the start of `s`, returning it and the rest.
fn parse_one(s: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, s) = match s {
        [b'W', b'/', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if s.first() != Some(&b'"') {
        return None;
    }
    let end = 1 + s[1..].iter().position(|&c| !is_etagc(c))?;
    if s[end] != b'"' {
        return None;
    }
    Some((
        EntityTag {
            weak,
            opaque: &s[..=end],
        },
        &s[end + 1..],
    ))
}

/// Parses a single entity tag (an `ETag` value); `None` if malformed.
pub(crate) fn parse_entity_tag(value: &HeaderValue) -> Option<EntityTag<'_>> {
    let (tag, rest) = parse_one(trim_ows(value.as_bytes()))?;
    rest.is_empty().then_some(tag)
}

/// An `If-Match` / `If-None-Match` condition.
enum Condition<'a> {
    Any,
    Tags(Vec<EntityTag<'a>>),
}

/// Parses all lines of an `If-Match` / `If-None-Match`; `None` if absent or
/// malformed (`*` mixed with tags is malformed).
fn parse_condition<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Option<Condition<'a>> {
    let mut tags = Vec::new();
    let mut star = false;
    let mut any_line = false;
    for value in values {
        any_line = true;
        let mut s = value.as_bytes();
        loop {
            s = trim_ows(s);
            while let [b',', rest @ ..] = s {
                s = trim_ows(rest);
            }
            if s.is_empty() {
                break;
            }
            if let [b'*', rest @ ..] = s {
                star = true;
                s = rest;
            } else {
                let (tag, rest) = parse_one(s)?;
                tags.push(tag);
                s = rest;
            }
            s = trim_ows(s);
            match s {
                [] => break,
                [b',', ..] => {}
                _ => return None,
            }
        }
    }
    match (any_line, star, tags.is_empty()) {
        (false, _, _) => None,
        (true, true, true) => Some(Condition::Any),
        (true, false, false) => Some(Condition::Tags(tags)),
        _ => None,
    }
}

fn date(headers: &HeaderMap, name: http::HeaderName) -> Option<std::time::SystemTime> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None; // a singleton field sent twice is invalid
    }
    httpdate::parse_http_date(first.to_str().ok()?.trim()).ok()
}

/// The stored response's modification time: `Last-Modified`, else `Date`
/// (RFC 9111 §4.3.2).
fn modification_time(stored: &HeaderMap) -> Option<std::time::SystemTime> {
    date(stored, LAST_MODIFIED).or_else(|| date(stored, DATE))
}

/// Whether preconditions apply at all: only to a 2xx stored response
/// (RFC 9110 §13.2.1).
fn applicable(stored_status: StatusCode) -> bool {
    stored_status.is_success()
}

/// Whether a client's request evaluated against a stored response should get
/// `304 Not Modified` (RFC 9110 §13.1.2, §13.1.3, §13.2.2 steps 3–4):
///
/// - only for GET and HEAD, and only when the stored response is 2xx;
/// - `If-None-Match`: weak comparison against the stored `ETag`; `*` matches
///   any stored response; a malformed field never matches;
/// - `If-Modified-Since`, only when `If-None-Match` is absent: the stored
///   `Last-Modified` (else `Date`) is not later than it.
///
/// Evaluate [`precondition_failed`] first.
pub fn client_not_modified(
    method: &Method,
    req_headers: &HeaderMap,
    stored_status: StatusCode,
    stored_headers: &HeaderMap,
) -> bool {
    if (method != Method::GET && method != Method::HEAD) || !applicable(stored_status) {
        return false;
    }
    if req_headers.contains_key(IF_NONE_MATCH) {
        return match parse_condition(req_headers.get_all(IF_NONE_MATCH).iter()) {
            Some(Condition::Any) => true,
            Some(Condition::Tags(tags)) => stored_headers
                .get(ETAG)
                .and_then(parse_entity_tag)
                .is_some_and(|stored| tags.iter().any(|t| t.weak_eq(&stored))),
            None => false,
        };
    }
    // The stored date is parsed only when the request has a date to compare.
    date(req_headers, IF_MODIFIED_SINCE)
        .is_some_and(|since| modification_time(stored_headers).is_some_and(|m| m <= since))
}

/// Whether the request's `If-Match` / `If-Unmodified-Since` fail against the
/// stored response, calling for `412 Precondition Failed` (RFC 9110 §13.2.2
/// steps 1–2): `If-Match` uses strong comparison (`*` matches any stored
/// response); `If-Unmodified-Since` (only without `If-Match`) fails when the
/// stored `Last-Modified` is later or unknown. Only for a 2xx stored response.
pub fn precondition_failed(
    req_headers: &HeaderMap,
    stored_status: StatusCode,
    stored_headers: &HeaderMap,
) -> bool {
    if !applicable(stored_status) {
        return false;
    }
    if req_headers.contains_key(IF_MATCH) {
        return match parse_condition(req_headers.get_all(IF_MATCH).iter()) {
            Some(Condition::Any) => false,
            Some(Condition::Tags(tags)) => !stored_headers
                .get(ETAG)
                .and_then(parse_entity_tag)
                .is_some_and(|stored| tags.iter().any(|t| t.strong_eq(&stored))),
            None => true,
        };
    }
    match date(req_headers, IF_UNMODIFIED_SINCE) {
        Some(since) => date(stored_headers, LAST_MODIFIED).is_none_or(|modified| modified > since),
        None => false,
    }
}

/// The fields a 304 generated from a stored response carries (RFC 9110
/// §15.4.5): `Cache-Control`, `Content-Location`, `Date`, `ETag`, `Expires`,
/// `Last-Modified` and `Vary`, copied from the stored response.
pub fn not_modified_response_headers(stored: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in [
        CACHE_CONTROL,
        CONTENT_LOCATION,
        DATE,
        ETAG,
        EXPIRES,
        LAST_MODIFIED,
        VARY,
    ] {
        for value in stored.get_all(&name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const LM: &str = "Mon, 01 Jan 2024 00:00:00 GMT";
    const BEFORE: &str = "Sun, 31 Dec 2023 23:59:59 GMT";
    const AFTER: &str = "Mon, 01 Jan 2024 00:00:01 GMT";

    fn nm(req: &[(&str, &str)], stored: &[(&str, &str)]) -> bool {
        client_not_modified(&Method::GET, &hm(req), StatusCode::OK, &hm(stored))
    }

    #[test]
    fn if_none_match_weak_comparison() {
        let stored = [("etag", "\"abc\"")];
        assert!(nm(&[("if-none-match", "\"abc\"")], &stored));
        assert!(nm(&[("if-none-match", "W/\"abc\"")], &stored));
        assert!(nm(
            &[("if-none-match", "\"abc\"")],
            &[("etag", "W/\"abc\"")]
        ));
        assert!(nm(&[("if-none-match", "\"x\", \"y\" ,W/\"abc\"")], &stored));
        assert!(nm(
            &[("if-none-match", "\"x\""), ("if-none-match", "\"abc\"")],
            &stored
        ));
        assert!(!nm(&[("if-none-match", "\"ABC\"")], &stored));
        assert!(!nm(&[("if-none-match", "\"abc\"")], &[]));
        assert!(nm(&[("if-none-match", "*")], &[]));
        assert!(nm(&[("if-none-match", "\"a,b\"")], &[("etag", "\"a,b\"")]));
    }

    #[test]
    fn if_none_match_malformed_never_matches() {
        let stored = [("etag", "\"abc\"")];
        for bad in [
            "abc",
            "\"abc",
            "w/\"abc\"",
            "*, \"abc\"",
            "\"abc\" \"abc\"",
            "\"a\"b\"",
            "",
        ] {
            assert!(!nm(&[("if-none-match", bad)], &stored), "{bad:?}");
        }
        assert!(!nm(&[("if-none-match", "\"abc\"")], &[("etag", "abc")]));
    }

    #[test]
    fn if_modified_since() {
        let stored = [("last-modified", LM)];
        assert!(nm(&[("if-modified-since", LM)], &stored));
        assert!(nm(&[("if-modified-since", AFTER)], &stored));
        assert!(!nm(&[("if-modified-since", BEFORE)], &stored));
        assert!(!nm(&[("if-modified-since", "yesterday")], &stored));
        assert!(!nm(
            &[("if-modified-since", LM), ("if-modified-since", LM)],
            &stored
        ));
        // Falls back to Date.
        assert!(nm(&[("if-modified-since", LM)], &[("date", BEFORE)]));
        assert!(!nm(&[("if-modified-since", LM)], &[]));
        // Ignored when If-None-Match is present.
        assert!(!nm(
            &[("if-none-match", "\"zzz\""), ("if-modified-since", AFTER)],
            &[("etag", "\"a\""), ("last-modified", LM)]
        ));
    }

    #[test]
    fn only_get_head_and_2xx() {
        let req = hm(&[("if-none-match", "\"a\"")]);
        let stored = hm(&[("etag", "\"a\"")]);
        assert!(client_not_modified(
            &Method::HEAD,
            &req,
            StatusCode::OK,
            &stored
        ));
        assert!(!client_not_modified(
            &Method::POST,
            &req,
            StatusCode::OK,
            &stored
        ));
        assert!(!client_not_modified(
            &Method::GET,
            &req,
            StatusCode::NOT_FOUND,
            &stored
        ));
        assert!(!client_not_modified(
            &Method::GET,
            &req,
            StatusCode::MOVED_PERMANENTLY,
            &stored
        ));
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        let stored = hm(&[("etag", "\"a\""), ("last-modified", LM)]);
        let pf = |req: &[(&str, &str)]| precondition_failed(&hm(req), StatusCode::OK, &stored);
        assert!(!pf(&[]));
        assert!(!pf(&[("if-match", "\"a\"")]));
        assert!(!pf(&[("if-match", "*")]));
        assert!(pf(&[("if-match", "W/\"a\"")]));
        assert!(pf(&[("if-match", "\"b\"")]));
        assert!(pf(&[("if-match", "garbage")]));
        assert!(!pf(&[("if-unmodified-since", LM)]));
        assert!(pf(&[("if-unmodified-since", BEFORE)]));
        assert!(!pf(&[("if-unmodified-since", "nonsense")]));
        // If-Match takes precedence over If-Unmodified-Since.
        assert!(!pf(&[
            ("if-match", "\"a\""),
            ("if-unmodified-since", BEFORE)
        ]));
        assert!(!precondition_failed(
            &hm(&[("if-match", "\"b\"")]),
            StatusCode::NOT_FOUND,
            &stored
        ));
    }

    #[test]
    fn not_modified_headers() {
        let stored = hm(&[
            ("etag", "\"a\""),
            ("cache-control", "max-age=60"),
            ("content-type", "text/html"),
            ("content-length", "10"),
            ("vary", "accept"),
            ("vary", "accept-encoding"),
            ("set-cookie", "x=y"),
            ("last-modified", LM),
        ]);
        let h = not_modified_response_headers(&stored);
        assert_eq!(h.len(), 5);
        assert_eq!(h.get_all(VARY).iter().count(), 2);
        assert!(!h.contains_key("content-type") && !h.contains_key("set-cookie"));
    }

    #[test]
    fn entity_tags() {
        let v = HeaderValue::from_static(" W/\"x\" ");
        assert_eq!(
            parse_entity_tag(&v),
            Some(EntityTag {
                weak: true,
                opaque: b"\"x\""
            })
        );
        assert_eq!(
            parse_entity_tag(&HeaderValue::from_static("\"\"")).map(|t| t.opaque),
            Some(&b"\"\""[..])
        );
        assert_eq!(
            parse_entity_tag(&HeaderValue::from_static("\"x\" junk")),
            None
        );
        let big = format!("\"{}\"", "a".repeat(100_000));
        let v = HeaderValue::from_str(&big).unwrap();
        assert!(parse_entity_tag(&v).is_some());
    }
}
