//! Conditional requests (RFC 9110 §13) and single byte ranges (RFC 9110 §14).

use std::time::SystemTime;

use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, RANGE};
use http::{HeaderMap, Method};

/// One entry of an `If-None-Match` / `If-Match` list.
#[derive(Debug, PartialEq, Eq)]
enum TagSpec<'a> {
    /// `*`: any current representation.
    Any,
    /// An entity tag's opaque part including its quotes (a `W/` prefix is dropped:
    /// `If-None-Match` uses weak comparison).
    Tag(&'a str),
}

/// Parses a comma-separated list of entity tags; `None` if it is malformed.
fn parse_tag_list(value: &str) -> Option<Vec<TagSpec<'_>>> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(out);
        }
        if let Some(r) = rest.strip_prefix('*') {
            out.push(TagSpec::Any);
            rest = r;
            continue;
        }
        let r = rest.strip_prefix("W/").unwrap_or(rest);
        let body = r.strip_prefix('"')?;
        let end = body.find('"')?;
        out.push(TagSpec::Tag(&r[..end + 2]));
        rest = &body[end + 1..];
        // Between entries only whitespace and a comma may follow.
        let next = rest.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return None;
        }
    }
}

/// Strips an optional `W/` prefix from an entity tag.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// Whether `If-None-Match` (weak comparison) matches `etag`; `None` when the header is
/// absent or unparseable (then it is ignored).
fn none_match_hits(headers: &HeaderMap, etag: &str) -> Option<bool> {
    let mut present = false;
    let mut hit = false;
    for value in headers.get_all(IF_NONE_MATCH) {
        let list = parse_tag_list(value.to_str().ok()?)?;
        present = true;
        hit |= list.iter().any(|spec| match spec {
            TagSpec::Any => true,
            TagSpec::Tag(o) => *o == opaque(etag),
        });
    }
    present.then_some(hit)
}

/// Whether a GET/HEAD of a representation with these validators must be answered
/// `304 Not Modified`: `If-None-Match` if present, else `If-Modified-Since`.
pub(super) fn is_not_modified(
    method: &Method,
    headers: &HeaderMap,
    etag: &str,
    last_modified: SystemTime,
) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    if let Some(hit) = none_match_hits(headers, etag) {
        return hit;
    }
    let Some(since) = headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    // HTTP dates have one-second resolution; our Last-Modified values are whole seconds.
    last_modified <= since
}

/// Outcome of evaluating `Range` against a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) enum RangeOutcome {
    /// Send the whole representation with 200.
    Full,
    /// Send bytes `start..=end` with 206.
    Partial {
        /// First byte offset.
        start: usize,
        /// Last byte offset (inclusive).
        end: usize,
    },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Whether `If-Range` (strong comparison or exact date) allows honouring `Range`.
fn if_range_holds(headers: &HeaderMap, etag: &str, last_modified: SystemTime) -> bool {
    let Some(value) = headers.get(IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') {
        return value == etag;
    }
    if value.starts_with("W/") {
        return false;
    }
    httpdate::parse_http_date(value).is_ok_and(|d| d == last_modified)
}

/// Evaluates a single-range `Range` header for a GET; other methods, several ranges,
/// other units and malformed values yield `Full`.
pub(super) fn evaluate_range(
    method: &Method,
    headers: &HeaderMap,
    len: usize,
    etag: &str,
    last_modified: SystemTime,
) -> RangeOutcome {
    if method != Method::GET {
        return RangeOutcome::Full;
    }
    let Some(value) = headers.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeOutcome::Full;
    };
    if !if_range_holds(headers, etag, last_modified) {
        return RangeOutcome::Full;
    }
    parse_range(value, len)
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a length.
pub(super) fn parse_range(value: &str, len: usize) -> RangeOutcome {
    let value = value.trim();
    let Some((unit, spec)) = value.split_once('=') else {
        return RangeOutcome::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeOutcome::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeOutcome::Full;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix range: the last n bytes.
        if !digits(last) {
            return RangeOutcome::Full;
        }
        let n = last.parse::<u64>().unwrap_or(u64::MAX);
        if n == 0 || len == 0 {
            return RangeOutcome::Unsatisfiable;
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(len);
        return RangeOutcome::Partial {
            start: len - n,
            end: len - 1,
        };
    }
    if !digits(first) || !(last.is_empty() || digits(last)) {
        return RangeOutcome::Full;
    }
    let start = first.parse::<u64>().unwrap_or(u64::MAX);
    let end = if last.is_empty() {
        u64::MAX
    } else {
        last.parse::<u64>().unwrap_or(u64::MAX)
    };
    if end < start {
        return RangeOutcome::Full;
    }
    if start >= len as u64 {
        return RangeOutcome::Unsatisfiable;
    }
    RangeOutcome::Partial {
        start: start as usize,
        end: end.min(len as u64 - 1) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::time::{Duration, UNIX_EPOCH};

    fn headers(pairs: &[(http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn tag_lists() {
        assert_eq!(
            parse_tag_list(r#" W/"a", "b,c" ,*"#).unwrap(),
            vec![TagSpec::Tag("\"a\""), TagSpec::Tag("\"b,c\""), TagSpec::Any]
        );
        assert!(parse_tag_list("abc").is_none());
        assert!(parse_tag_list("\"a\"x").is_none());
    }

    #[test]
    fn not_modified_rules() {
        let lm = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let get = Method::GET;
        let etag = "\"p-1-ab\"";
        let h = headers(&[(IF_NONE_MATCH, "W/\"p-1-ab\"")]);
        assert!(is_not_modified(&get, &h, etag, lm));
        let h = headers(&[
            (IF_NONE_MATCH, "\"x\""),
            (IF_NONE_MATCH, "\"y\", \"p-1-ab\""),
        ]);
        assert!(is_not_modified(&get, &h, etag, lm));
        let h = headers(&[(IF_NONE_MATCH, "*")]);
        assert!(is_not_modified(&get, &h, etag, lm));
        assert!(!is_not_modified(&Method::POST, &h, etag, lm));
        // If-None-Match wins over If-Modified-Since.
        let h = headers(&[
            (IF_NONE_MATCH, "\"other\""),
            (IF_MODIFIED_SINCE, "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        assert!(!is_not_modified(&get, &h, etag, lm));
        let h = headers(&[(IF_MODIFIED_SINCE, "Mon, 01 Jan 2024 00:00:00 GMT")]);
        assert!(is_not_modified(&get, &h, etag, lm));
        let h = headers(&[(IF_MODIFIED_SINCE, "Sun, 31 Dec 2023 23:59:59 GMT")]);
        assert!(!is_not_modified(&get, &h, etag, lm));
        let h = headers(&[(IF_MODIFIED_SINCE, "garbage")]);
        assert!(!is_not_modified(&get, &h, etag, lm));
    }

    #[test]
    fn ranges() {
        use RangeOutcome::*;
        assert_eq!(parse_range("bytes=0-9", 100), Partial { start: 0, end: 9 });
        assert_eq!(
            parse_range("bytes=90-", 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range("bytes=90-500", 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range("bytes=-1000", 100),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=a-b", 100), Full);
    }

    #[test]
    fn if_range() {
        let lm = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let etag = "\"img-1-ab\"";
        let ok = headers(&[(RANGE, "bytes=0-0"), (IF_RANGE, etag)]);
        assert_eq!(
            evaluate_range(&Method::GET, &ok, 10, etag, lm),
            RangeOutcome::Partial { start: 0, end: 0 }
        );
        let stale = headers(&[(RANGE, "bytes=0-0"), (IF_RANGE, "\"old\"")]);
        assert_eq!(
            evaluate_range(&Method::GET, &stale, 10, etag, lm),
            RangeOutcome::Full
        );
        let date = headers(&[
            (RANGE, "bytes=0-0"),
            (IF_RANGE, "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        assert_eq!(
            evaluate_range(&Method::GET, &date, 10, etag, lm),
            RangeOutcome::Partial { start: 0, end: 0 }
        );
        assert_eq!(
            evaluate_range(&Method::HEAD, &ok, 10, etag, lm),
            RangeOutcome::Full
        );
    }
}
