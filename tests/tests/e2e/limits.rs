//! Request limits at the byte level: oversized heads, oversized bodies (with a
//! length and chunked), and clients that send their head too slowly.

use std::time::Duration;

use brink_tests::raw::{Ending, status_of};
use brink_tests::{EchoOrigin, EdgeHandle, RawConn, TestEdge, url_addr};

const LIMITS: &str = r#"
[limits]
max_header_bytes = 16384
max_body_bytes = 1024
header_read_timeout = "1s"
"#;

async fn edge(origin: &EchoOrigin) -> EdgeHandle {
    TestEdge::new()
        .origin(origin.url())
        .config_toml(LIMITS)
        .start()
        .await
}

/// Sends `bytes` (ignoring a reset while writing: the server may answer and
/// close before reading everything) and returns the answer's status.
async fn status_for(edge: &EdgeHandle, bytes: &[u8]) -> (Option<u16>, String) {
    let mut conn = RawConn::connect(url_addr(edge.url())).await;
    let _ = conn.write_all(bytes).await;
    let (got, ending) = conn.read_until_end(Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = status_of(&got);
    assert!(
        status.is_some() || ending != Ending::StillOpen,
        "no answer and still open: {text}"
    );
    (status, text)
}

fn chunked(total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let piece = vec![b'x'; 256];
    let mut left = total;
    while left > 0 {
        let n = left.min(piece.len());
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&piece[..n]);
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_head_gets_431() {
    let origin = EchoOrigin::start().await;
    let edge = edge(&origin).await;
    let big = "a".repeat(64 * 1024);
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: shop.test\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
    );
    let (status, text) = status_for(&edge, req.as_bytes()).await;
    assert_eq!(status, Some(431), "{text}");
    assert_eq!(origin.requests(), 0, "the origin must not see it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_under_the_parser_buffer_but_over_the_limit_gets_431() {
    // The parser's buffer is at least 8 KiB, so a 6 KB head with a 4 KiB
    // limit is refused by the edge's own check, not by the parser.
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .config_toml("[limits]\nmax_header_bytes = 4096\n")
        .start()
        .await;
    let mut req = String::from("GET /echo HTTP/1.1\r\nHost: shop.test\r\n");
    for i in 0..60 {
        req.push_str(&format!("X-H{i}: {}\r\n", "v".repeat(90)));
    }
    req.push_str("Connection: close\r\n\r\n");
    let (status, text) = status_for(&edge, req.as_bytes()).await;
    assert_eq!(status, Some(431), "{text}");
    assert_eq!(origin.requests(), 0);

    // Just under the limit passes.
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: shop.test\r\nX-H: {}\r\nConnection: close\r\n\r\n",
        "v".repeat(3000)
    );
    let (status, text) = status_for(&edge, req.as_bytes()).await;
    assert_eq!(status, Some(200), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_limit_with_content_length_gets_413() {
    let origin = EchoOrigin::start().await;
    let edge = edge(&origin).await;
    let body = vec![b'x'; 4096];
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (status, text) = status_for(&edge, &req).await;
    assert_eq!(status, Some(413), "{text}");
    assert_eq!(origin.requests(), 0, "refused before forwarding");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_limit_gets_413() {
    let origin = EchoOrigin::start().await;
    let edge = edge(&origin).await;
    let mut req = b"POST /upload HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(4096));
    let (status, text) = status_for(&edge, &req).await;
    assert_eq!(status, Some(413), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_within_the_limit_pass() {
    let origin = EchoOrigin::start().await;
    let edge = edge(&origin).await;
    let mut req = b"POST /upload HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(1024));
    let (status, text) = status_for(&edge, &req).await;
    assert_eq!(status, Some(200), "{text}");
    assert!(text.contains("\"body_len\":1024"), "{text}");

    let mut req = b"POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'y'; 1024]);
    let (status, text) = status_for(&edge, &req).await;
    assert_eq!(status, Some(200), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_head_is_cut_off() {
    let origin = EchoOrigin::start().await;
    let edge = edge(&origin).await;
    let conn = RawConn::connect(url_addr(edge.url())).await;
    // About 10 s worth of bytes at one per 200 ms; the limit is 1 s.
    let head = b"GET /echo HTTP/1.1\r\nHost: shop.test\r\nX-Slow: aaaaaaaaaaaaaaaaaa\r\n\r\n";
    let (got, ending) = conn
        .dribble(head, Duration::from_millis(200), Duration::from_secs(6))
        .await;
    let status = status_of(&got);
    assert!(
        ending != Ending::StillOpen || status == Some(408),
        "connection still open after 6 s: {ending:?} {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        status.is_none() || status == Some(408),
        "unexpected answer: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(origin.requests(), 0);
}
