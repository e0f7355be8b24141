//! Unit tests of `range`.

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

fn pr(range: &str, len: u64) -> RangeRequest {
    parse_range(&hm(&[("range", range)]), &HeaderMap::new(), len)
}

fn sat(v: &[Range<u64>]) -> RangeRequest {
    RangeRequest::Satisfiable(v.to_vec())
}

#[test]
fn single_ranges() {
    assert_eq!(pr("bytes=0-9", 100), sat(&[0..10]));
    assert_eq!(pr("bytes=10-", 100), sat(&[10..100]));
    assert_eq!(pr("bytes=-10", 100), sat(&[90..100]));
    assert_eq!(pr("bytes=-1000", 100), sat(&[0..100]));
    assert_eq!(pr("bytes=90-1000", 100), sat(&[90..100]));
    assert_eq!(pr("bytes=99-99", 100), sat(&[99..100]));
    assert_eq!(pr("Bytes=0-0", 100), sat(&[0..1]));
    assert_eq!(pr(" bytes=0-1 ,", 100), sat(&[0..2]));
    assert_eq!(pr("bytes=0-99999999999999999999999", 100), sat(&[0..100]));
}

#[test]
fn unsatisfiable_ranges() {
    assert_eq!(pr("bytes=100-", 100), RangeRequest::Unsatisfiable);
    assert_eq!(pr("bytes=-0", 100), RangeRequest::Unsatisfiable);
    assert_eq!(pr("bytes=200-300, 150-", 100), RangeRequest::Unsatisfiable);
    assert_eq!(
        pr("bytes=99999999999999999999999-", 100),
        RangeRequest::Unsatisfiable
    );
    // Partly satisfiable: the satisfiable ones are served.
    assert_eq!(pr("bytes=200-300, 0-1", 100), sat(&[0..2]));
    // Empty representation: Range ignored.
    assert_eq!(pr("bytes=0-", 0), RangeRequest::None);
}

#[test]
fn invalid_ranges_are_ignored() {
    for bad in [
        "bytes=5-1",
        "bytes=a-b",
        "bytes=-",
        "bytes=",
        "bytes=,,",
        "bytes=1",
        "bytes=--5",
        "bytes=-5-",
        "bytes=+1-2",
        "bytes=1 -2",
        "bytes 0-1",
        "items=0-1",
        "bytes=0x10-20",
        "=0-1",
    ] {
        assert_eq!(pr(bad, 100), RangeRequest::None, "{bad}");
    }
    let two = hm(&[("range", "bytes=0-1"), ("range", "bytes=2-3")]);
    assert_eq!(
        parse_range(&two, &HeaderMap::new(), 100),
        RangeRequest::None
    );
}

#[test]
fn multiple_and_abusive_ranges() {
    assert_eq!(
        pr("bytes=0-9, 20-29,-5", 100),
        sat(&[0..10, 20..30, 95..100])
    );
    assert_eq!(pr("bytes=50-59, 0-9", 100), sat(&[50..60, 0..10]));
    // Overlap → serve whole.
    assert_eq!(pr("bytes=0-50, 40-60", 100), RangeRequest::None);
    assert_eq!(pr("bytes=0-, 0-", 100), RangeRequest::None);
    assert_eq!(pr("bytes=-10, 95-", 100), RangeRequest::None);
    // Adjacent is fine.
    assert_eq!(pr("bytes=0-9, 10-19", 100), sat(&[0..10, 10..20]));
    // Too many.
    let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
    assert_eq!(
        pr(&format!("bytes={}", many.join(",")), 1000),
        RangeRequest::None
    );
    let ok: Vec<String> = (0..16).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
    assert!(
        matches!(pr(&format!("bytes={}", ok.join(",")), 1000), RangeRequest::Satisfiable(v) if v.len() == 16)
    );
    // A huge header is rejected without quadratic work.
    let huge = format!("bytes={}", "0-0,".repeat(100_000));
    assert_eq!(pr(&huge, 1000), RangeRequest::None);
}

#[test]
fn if_range() {
    let stored = hm(&[
        ("etag", "\"v1\""),
        ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("date", "Mon, 01 Jan 2024 00:00:05 GMT"),
    ]);
    let p = |pairs: &[(&str, &str)]| {
        let mut h = hm(pairs);
        h.insert(RANGE, HeaderValue::from_static("bytes=0-0"));
        parse_range(&h, &stored, 10)
    };
    assert_eq!(p(&[("if-range", "\"v1\"")]), sat(&[0..1]));
    assert_eq!(p(&[("if-range", "\"v2\"")]), RangeRequest::None);
    assert_eq!(p(&[("if-range", "W/\"v1\"")]), RangeRequest::None);
    assert_eq!(
        p(&[("if-range", "Mon, 01 Jan 2024 00:00:00 GMT")]),
        sat(&[0..1])
    );
    assert_eq!(
        p(&[("if-range", "Mon, 01 Jan 2024 00:00:01 GMT")]),
        RangeRequest::None
    );
    assert_eq!(p(&[("if-range", "garbage")]), RangeRequest::None);
    assert_eq!(
        p(&[("if-range", "\"v1\""), ("if-range", "\"v1\"")]),
        RangeRequest::None
    );
    // Weak stored ETag never matches.
    let weak = hm(&[
        ("etag", "W/\"v1\""),
        ("range", "bytes=0-0"),
        ("if-range", "\"v1\""),
    ]);
    assert_eq!(
        parse_range(&weak, &hm(&[("etag", "W/\"v1\"")]), 10),
        RangeRequest::None
    );
    // Last-Modified not strong (same second as Date).
    let weak_lm = hm(&[
        ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
    ]);
    let req = hm(&[
        ("range", "bytes=0-0"),
        ("if-range", "Mon, 01 Jan 2024 00:00:00 GMT"),
    ]);
    assert_eq!(parse_range(&req, &weak_lm, 10), RangeRequest::None);
}

#[test]
fn single_part_response() {
    let body = Bytes::from_static(b"0123456789");
    let stored = hm(&[
        ("content-type", "text/plain"),
        ("content-length", "10"),
        ("etag", "\"e\""),
    ]);
    let (status, h, chunks) = partial_response(&stored, &body, &[2..5]);
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h[CONTENT_RANGE], "bytes 2-4/10");
    assert_eq!(h[CONTENT_LENGTH], "3");
    assert_eq!(h[CONTENT_TYPE], "text/plain");
    assert_eq!(h[ETAG], "\"e\"");
    assert_eq!(chunks, vec![Bytes::from_static(b"234")]);
    // Zero-copy: the slice points into the original buffer.
    assert_eq!(chunks[0].as_ptr(), body[2..].as_ptr());
}

#[test]
fn multipart_response() {
    let body = Bytes::from_static(b"0123456789");
    let stored = hm(&[("content-type", "text/plain"), ("content-length", "10")]);
    let (status, h, chunks) = partial_response(&stored, &body, &[0..2, 8..10]);
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let ct = h[CONTENT_TYPE].to_str().unwrap();
    let boundary = ct.strip_prefix("multipart/byteranges; boundary=").unwrap();
    let all: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let text = String::from_utf8(all.clone()).unwrap();
    assert_eq!(
        text,
        format!(
            "--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89\r\n--{boundary}--\r\n"
        )
    );
    assert_eq!(h[CONTENT_LENGTH], all.len().to_string().as_str());
    assert!(!h.contains_key(CONTENT_RANGE));
}

#[test]
fn multipart_boundary_avoids_content() {
    // The body contains the boundary that would be chosen first.
    let len = "--brink-byteranges-".len() + 16;
    let ranges = [0..len, len..len + 2];
    let first = boundary_for((len + 2) as u64, &ranges, 0);
    let body = Bytes::from(format!("--{first}xy"));
    assert_eq!(body.len(), len + 2);
    let (_, h, _) = partial_response(
        &HeaderMap::new(),
        &body,
        &[0..len as u64, len as u64..len as u64 + 2],
    );
    let ct = h[CONTENT_TYPE].to_str().unwrap();
    let chosen = ct.strip_prefix("multipart/byteranges; boundary=").unwrap();
    assert_ne!(chosen, first);
    assert!(!contains(&body, format!("--{chosen}").as_bytes()));
}

#[test]
fn out_of_bounds_ranges_never_panic() {
    let body = Bytes::from_static(b"abc");
    let (status, h, chunks) = partial_response(
        &HeaderMap::new(),
        &body,
        &[5..10, 2..1, u64::MAX - 1..u64::MAX],
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[CONTENT_LENGTH], "3");
    assert_eq!(chunks, vec![body.clone()]);
    let (status, h, chunks) = partial_response(&HeaderMap::new(), &body, &[1..100]);
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h[CONTENT_RANGE], "bytes 1-2/3");
    assert_eq!(chunks, vec![Bytes::from_static(b"bc")]);
}

#[test]
fn multipart_moves_content_encoding_into_parts() {
    let body = Bytes::from_static(b"0123456789");
    let stored = hm(&[
        ("content-encoding", "gzip"),
        ("digest", "x"),
        ("transfer-encoding", "chunked"),
    ]);
    let (_, h, chunks) = partial_response(&stored, &body, &[0..1, 2..3]);
    assert!(
        !h.contains_key(CONTENT_ENCODING)
            && !h.contains_key("digest")
            && !h.contains_key(TRANSFER_ENCODING)
    );
    assert!(String::from_utf8_lossy(&chunks[0]).contains("Content-Encoding: gzip\r\n"));
}

#[test]
fn unsatisfiable_response() {
    let (status, h) = unsatisfiable(1234);
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(h[CONTENT_RANGE], "bytes */1234");
}

#[test]
fn range_fuzz() {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "5",
        "9",
        "42",
        "999",
        "99999999999999999999999",
        "-",
        ",",
        " ",
        "=",
        "x",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut satisfiable, mut unsatisfiable) = (0, 0);
    for _ in 0..5000 {
        let len = next() % 1200;
        let body = Bytes::from(vec![b'y'; len as usize]);
        let mut spec = String::from("bytes=");
        for _ in 0..(next() % 12) {
            spec.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        let req = hm(&[("range", &spec)]);
        match parse_range(&req, &HeaderMap::new(), len) {
            RangeRequest::Satisfiable(ranges) => {
                satisfiable += 1;
                assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES, "{spec}");
                assert!(
                    ranges.iter().all(|r| r.start < r.end && r.end <= len),
                    "{spec}"
                );
                let mut sorted = ranges.clone();
                sorted.sort_by_key(|r| r.start);
                assert!(sorted.windows(2).all(|w| w[0].end <= w[1].start), "{spec}");
                let (status, h, chunks) = partial_response(&HeaderMap::new(), &body, &ranges);
                assert_eq!(status, StatusCode::PARTIAL_CONTENT);
                let total: usize = chunks.iter().map(|c| c.len()).sum();
                assert_eq!(h[CONTENT_LENGTH], total.to_string().as_str());
            }
            RangeRequest::Unsatisfiable => {
                unsatisfiable += 1;
                assert!(len > 0);
            }
            RangeRequest::None => {}
        }
    }
    assert!(
        satisfiable > 100 && unsatisfiable > 10,
        "{satisfiable} {unsatisfiable}"
    );
}
