//! Byte-range requests answered from a stored full response (RFC 9110 §14).

use std::ops::Range;

use bytes::Bytes;
use http::header::{
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, DATE, ETAG, IF_RANGE,
    LAST_MODIFIED, RANGE, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::conditional::parse_entity_tag;
use super::directives::trim_ows;

/// Most ranges honoured in one request; more and the `Range` is ignored.
pub(crate) const MAX_RANGES: usize = 16;

/// How to answer a request's `Range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable `Range` (absent, not `bytes`, invalid, abusive, or `If-Range`
    /// does not match): serve the full response with 200.
    None,
    /// Serve these byte ranges (half-open, within the length, in request
    /// order, non-overlapping) with 206.
    Satisfiable(Vec<Range<u64>>),
    /// No range overlaps the representation: 416 (see [`unsatisfiable`]).
    Unsatisfiable,
}

/// Digits as a saturating `u64`; `None` if not `1*DIGIT`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |v, c| {
        v.saturating_mul(10).saturating_add(u64::from(c - b'0'))
    }))
}

fn single_date(headers: &HeaderMap, name: http::HeaderName) -> Option<std::time::SystemTime> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    httpdate::parse_http_date(first.to_str().ok()?.trim()).ok()
}

/// `If-Range` (RFC 9110 §13.1.5): true when absent or when it matches the
/// stored response: an entity tag by strong comparison, or a date exactly
/// equal to a strong `Last-Modified` (at least one second before `Date`).
fn if_range_holds(req_headers: &HeaderMap, stored: &HeaderMap) -> bool {
    let mut values = req_headers.get_all(IF_RANGE).iter();
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let v = trim_ows(value.as_bytes());
    if v.starts_with(b"\"") || v.starts_with(b"W/") {
        let Some(wanted) = parse_entity_tag(value) else {
            return false;
        };
        return stored
            .get(ETAG)
            .and_then(parse_entity_tag)
            .is_some_and(|etag| etag.strong_eq(&wanted));
    }
    let Some(wanted) = value
        .to_str()
        .ok()
        .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
    else {
        return false;
    };
    match (
        single_date(stored, LAST_MODIFIED),
        single_date(stored, DATE),
    ) {
        (Some(lm), Some(date)) => {
            lm == wanted && date.duration_since(lm).is_ok_and(|d| d.as_secs() >= 1)
        }
        _ => false,
    }
}

/// Parses the request's `Range` against a stored representation of `len`
/// bytes, honouring `If-Range` against the stored headers. Call it for GET
/// only (RFC 9110 §14.2).
///
/// Invalid syntax, a unit other than `bytes`, several `Range` lines, more
/// than [`MAX_RANGES`] ranges or overlapping ranges yield
/// [`RangeRequest::None`] (serve the full response, which RFC 9110 §14.2
/// allows). An empty representation ignores `Range` too.
pub fn parse_range(req_headers: &HeaderMap, stored_headers: &HeaderMap, len: u64) -> RangeRequest {
    let mut values = req_headers.get_all(RANGE).iter();
    let Some(value) = values.next() else {
        return RangeRequest::None;
    };
    if values.next().is_some() || !if_range_holds(req_headers, stored_headers) {
        return RangeRequest::None;
    }
    parse_range_value(value, len).unwrap_or(RangeRequest::None)
}

fn parse_range_value(value: &HeaderValue, len: u64) -> Option<RangeRequest> {
    let s = value.to_str().ok()?.trim_matches([' ', '\t']);
    let (unit, set) = s.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut ranges: Vec<Range<u64>> = Vec::new();
    let mut specs = 0usize;
    for spec in set.split(',') {
        let spec = spec.trim_matches([' ', '\t']);
        if spec.is_empty() {
            continue;
        }
        specs += 1;
        if specs > MAX_RANGES {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        if first.is_empty() {
            let suffix = digits(last)?;
            if suffix > 0 && len > 0 {
                ranges.push(len - suffix.min(len)..len);
            }
            continue;
        }
        let first = digits(first)?;
        let last = if last.is_empty() {
            None
        } else {
            Some(digits(last)?)
        };
        if last.is_some_and(|last| last < first) {
            return None;
        }
        if first < len {
            let end = last.map_or(len, |last| last.saturating_add(1).min(len));
            ranges.push(first..end);
        }
    }
    if specs == 0 || len == 0 {
        return None;
    }
    if ranges.is_empty() {
        return Some(RangeRequest::Unsatisfiable);
    }
    let mut sorted = ranges.clone();
    sorted.sort_unstable_by_key(|r| r.start);
    if sorted.windows(2).any(|w| w[1].start < w[0].end) {
        return None;
    }
    Some(RangeRequest::Satisfiable(ranges))
}

fn to_usize(v: u64, max: usize) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX).min(max)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    let mut i = 0;
    while let Some(pos) = haystack[i..].iter().position(|&c| c == first) {
        let at = i + pos;
        if haystack[at..].starts_with(needle) {
            return true;
        }
        i = at + 1;
    }
    false
}

fn boundary_for(total: u64, ranges: &[Range<usize>], salt: u64) -> String {
    // FNV-1a over the request shape: deterministic, checked against content.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u64| {
        for b in v.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    mix(total);
    mix(salt);
    for r in ranges {
        mix(r.start as u64);
        mix(r.end as u64);
    }
    format!("brink-byteranges-{h:016x}")
}

/// Builds a 206 from a stored full response (its headers and body) for
/// `ranges` (from [`parse_range`]), without copying the body:
///
/// - one range: `Content-Range` and the slice;
/// - several: `multipart/byteranges` with a boundary absent from the parts,
///   each part with `Content-Type` and `Content-Range`;
/// - none (after clamping to the body): 200 with the whole body.
///
/// `Content-Length` is set; `Transfer-Encoding` and whole-content digests are
/// dropped. The returned chunks are the body, in order.
pub fn partial_response(
    status_headers: &HeaderMap,
    body: &Bytes,
    ranges: &[Range<u64>],
) -> (StatusCode, HeaderMap, Vec<Bytes>) {
    let total = body.len() as u64;
    let ranges: Vec<Range<usize>> = ranges
        .iter()
        .map(|r| to_usize(r.start, body.len())..to_usize(r.end, body.len()))
        .filter(|r| r.start < r.end)
        .collect();
    let mut headers = status_headers.clone();
    strip_whole_length(&mut headers);
    match ranges.as_slice() {
        [] => {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(total));
            (StatusCode::OK, headers, vec![body.clone()])
        }
        [r] => {
            single_range_fields(&mut headers, r.start as u64..r.end as u64, total);
            (
                StatusCode::PARTIAL_CONTENT,
                headers,
                vec![body.slice(r.clone())],
            )
        }
        _ => {
            let mut salt = 0;
            let boundary = loop {
                let b = boundary_for(total, &ranges, salt);
                let delimiter = format!("--{b}");
                if salt >= 64
                    || !ranges
                        .iter()
                        .any(|r| contains(&body[r.clone()], delimiter.as_bytes()))
                {
                    break b;
                }
                salt += 1;
            };
            let mut part_fields = String::new();
            for name in [CONTENT_TYPE, CONTENT_ENCODING] {
                if let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok()) {
                    part_fields.push_str(&format!("{}: {v}\r\n", canonical(&name)));
                }
            }
            headers.remove(CONTENT_ENCODING);
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
                    .expect("ascii"),
            );
            let mut chunks = Vec::with_capacity(ranges.len() * 2 + 1);
            let mut length = 0usize;
            for (i, r) in ranges.iter().enumerate() {
                let head = format!(
                    "{}--{boundary}\r\n{part_fields}Content-Range: bytes {}-{}/{total}\r\n\r\n",
                    if i == 0 { "" } else { "\r\n" },
                    r.start,
                    r.end - 1,
                );
                length += head.len() + r.len();
                chunks.push(Bytes::from(head));
                chunks.push(body.slice(r.clone()));
            }
            let tail = format!("\r\n--{boundary}--\r\n");
            length += tail.len();
            chunks.push(Bytes::from(tail));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
            (StatusCode::PARTIAL_CONTENT, headers, chunks)
        }
    }
}

/// Drops the fields that describe the whole representation's length or
/// digest, before a part of it is sent.
fn strip_whole_length(headers: &mut HeaderMap) {
    for name in [CONTENT_LENGTH, CONTENT_RANGE, TRANSFER_ENCODING] {
        headers.remove(name);
    }
    for name in ["content-digest", "digest", "content-md5"] {
        headers.remove(name);
    }
}

/// `Content-Range` and `Content-Length` of a single part `r` (non-empty,
/// half-open) of `total` bytes.
fn single_range_fields(headers: &mut HeaderMap, r: Range<u64>, total: u64) {
    let content_range = format!("bytes {}-{}/{total}", r.start, r.end - 1);
    headers.insert(
        CONTENT_RANGE,
        HeaderValue::from_str(&content_range).expect("ascii"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(r.end - r.start));
}

/// Turns the head of a full (200) response of `total` bytes into the head of
/// a 206 carrying part `r` (non-empty, within `total`); the body must be
/// sliced to match (e.g. with [`crate::body::slice`]).
pub fn single_range_head(head: &mut http::response::Parts, r: Range<u64>, total: u64) {
    strip_whole_length(&mut head.headers);
    single_range_fields(&mut head.headers, r, total);
    head.status = StatusCode::PARTIAL_CONTENT;
}

fn canonical(name: &http::HeaderName) -> &'static str {
    if name == CONTENT_ENCODING {
        "Content-Encoding"
    } else {
        "Content-Type"
    }
}

/// A 416 for a representation of `len` bytes: `Content-Range: bytes */len`.
pub fn unsatisfiable(len: u64) -> (StatusCode, HeaderMap) {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_RANGE,
        HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
    (StatusCode::RANGE_NOT_SATISFIABLE, headers)
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
mod tests;
