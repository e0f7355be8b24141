//! The HTTP/1 front loop, seen from one client connection: plain hits are
//! written by the front loop, everything else by hyper, on the same
//! keep-alive connection and in request order; a request with a body hands
//! the connection to hyper for good, and hits then answer the same. Idle
//! connections are closed there too.

use std::collections::BTreeMap;
use std::time::Duration;

use brink_tests::raw::Ending;
use brink_tests::{EdgeHandle, RawConn, Script, ScriptOrigin, TestEdge, url_addr};

const WAIT: Duration = Duration::from_secs(5);

async fn edge(origin: &ScriptOrigin, extra: &str) -> EdgeHandle {
    TestEdge::new()
        .origin(origin.url())
        .config_toml(extra)
        .start()
        .await
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: shop.test\r\n\r\n")
}

/// Status line and fields (names lower case; repeated ones joined).
fn fields(head: &str) -> (String, BTreeMap<String, String>) {
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_string();
    let mut map = BTreeMap::new();
    for (n, v) in lines.filter_map(|l| l.split_once(':')) {
        map.entry(n.trim().to_ascii_lowercase())
            .and_modify(|old: &mut String| {
                old.push_str(", ");
                old.push_str(v.trim());
            })
            .or_insert_with(|| v.trim().to_string());
    }
    (status, map)
}

async fn exchange(
    conn: &mut RawConn,
    request: &str,
) -> (String, BTreeMap<String, String>, Vec<u8>) {
    conn.write_all(request.as_bytes()).await.expect("write");
    let (head, body) = conn.read_response(WAIT).await.expect("a response");
    let (status, map) = fields(&head);
    (status, map, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_misses_and_a_post_share_one_connection() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/a",
        Script::cached("fragment a", "max-age=60").header("surrogate-key", "k1"),
    );
    origin.set("/form", Script::ok("posted"));
    let edge = edge(&origin, "").await;
    let mut conn = RawConn::connect(url_addr(edge.url())).await;

    // A miss (hyper), then hits (the front loop), on one connection.
    let (status, miss, body) = exchange(&mut conn, &get("/a")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, b"fragment a");
    assert!(miss["cache-status"].contains("fwd=uri-miss"), "{miss:?}");
    let (status, front_hit, body) = exchange(&mut conn, &get("/a")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, b"fragment a");
    assert!(
        front_hit["cache-status"].starts_with("test-edge; hit; ttl="),
        "{front_hit:?}"
    );
    assert_eq!(front_hit["content-length"], "10");
    assert!(front_hit.contains_key("age") && front_hit.contains_key("date"));
    assert!(!front_hit.contains_key("surrogate-key"), "{front_hit:?}");
    assert!(front_hit["via"].ends_with("1.1 test-edge"), "{front_hit:?}");

    // A request with a body: hyper takes the connection for good.
    let post = "POST /form HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 4\r\n\r\nabcd";
    let (status, _, body) = exchange(&mut conn, post).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, b"posted");

    // The same hit, now written by hyper: the same answer.
    let (status, hyper_hit, body) = exchange(&mut conn, &get("/a")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, b"fragment a");
    let strip = |m: &BTreeMap<String, String>| {
        let mut m = m.clone();
        for volatile in ["age", "cache-status", "date"] {
            m.remove(volatile);
        }
        m
    };
    assert_eq!(strip(&front_hit), strip(&hyper_hit));
    let member = |m: &BTreeMap<String, String>| {
        m["cache-status"]
            .split("; ttl=")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(member(&front_hit), member(&hyper_hit));
    assert_eq!(origin.count("/a"), 1, "one fill, then hits");
    assert_eq!(origin.count("/form"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let origin = ScriptOrigin::start().await;
    origin.set("/a", Script::cached("body of a", "max-age=60"));
    origin.set("/b", Script::cached("body of b", "max-age=60"));
    origin.set(
        "/pass",
        Script::ok("not cached").header("cache-control", "no-store"),
    );
    let edge = edge(&origin, "").await;
    let mut conn = RawConn::connect(url_addr(edge.url())).await;
    exchange(&mut conn, &get("/a")).await;

    // A hit, a miss, an uncacheable answer, a HEAD and a hit, sent at once.
    let head_a = "HEAD /a HTTP/1.1\r\nHost: shop.test\r\n\r\n";
    let batch = [
        get("/a"),
        get("/b"),
        get("/pass"),
        head_a.to_string(),
        get("/a"),
    ]
    .concat();
    conn.write_all(batch.as_bytes()).await.expect("write");
    let mut bodies = Vec::new();
    for i in 0..5 {
        let (head, body) = if i == 3 {
            // HEAD: a length, no body.
            let head = conn.read_head(WAIT).await.expect("a response");
            assert!(head.contains("content-length: 9\r\n"), "{head}");
            (head, Vec::new())
        } else {
            conn.read_response(WAIT).await.expect("a response")
        };
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        bodies.push(String::from_utf8(body).expect("utf-8"));
    }
    assert_eq!(
        bodies,
        ["body of a", "body of b", "not cached", "", "body of a"]
    );
    assert_eq!(origin.count("/a"), 1);
    assert_eq!(origin.count("/b"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_http10_are_answered_then_closed() {
    let origin = ScriptOrigin::start().await;
    origin.set("/a", Script::cached("fragment a", "max-age=60"));
    let edge = edge(&origin, "").await;
    let addr = url_addr(edge.url());
    let mut warm = RawConn::connect(addr).await;
    exchange(&mut warm, &get("/a")).await;

    for request in [
        "GET /a HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
        "GET /a HTTP/1.0\r\nHost: shop.test\r\n\r\n",
    ] {
        let mut conn = RawConn::connect(addr).await;
        conn.write_all(request.as_bytes()).await.expect("write");
        let (got, ending) = conn.read_until_end(WAIT).await;
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains(" 200 OK\r\n"), "{text}");
        assert!(text.ends_with("fragment a"), "{text}");
        assert!(text.contains("; hit"), "{text}");
        assert_eq!(ending, Ending::Closed, "{request:?}");
    }
    assert_eq!(origin.count("/a"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_hits() {
    let origin = ScriptOrigin::start().await;
    origin.set("/a", Script::cached("fragment a", "max-age=60"));
    let edge = edge(&origin, "[limits]\nidle_timeout = \"1s\"\n").await;
    let mut conn = RawConn::connect(url_addr(edge.url())).await;
    exchange(&mut conn, &get("/a")).await;
    let (_, _, body) = exchange(&mut conn, &get("/a")).await;
    assert_eq!(body, b"fragment a");
    let (got, ending) = conn.read_until_end(Duration::from_secs(10)).await;
    assert!(got.is_empty(), "nothing more was asked");
    assert_eq!(ending, Ending::Closed, "closed once idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_cut_in_pieces_is_served() {
    let origin = ScriptOrigin::start().await;
    origin.set("/a", Script::cached("fragment a", "max-age=60"));
    let edge = edge(&origin, "").await;
    let mut conn = RawConn::connect(url_addr(edge.url())).await;
    exchange(&mut conn, &get("/a")).await;
    let request = get("/a");
    let (first, rest) = request.split_at(10);
    conn.write_all(first.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, map, body) = exchange(&mut conn, rest).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(map["cache-status"].contains("; hit"), "{map:?}");
    assert_eq!(body, b"fragment a");
}
