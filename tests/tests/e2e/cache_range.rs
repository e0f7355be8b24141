//! Range requests answered from the cache: single ranges (206 +
//! `Content-Range`), several ranges (`multipart/byteranges`), unsatisfiable
//! ranges (416), a Range miss that fills the whole object once, and origin
//! 206 responses passed through without being stored.

use std::net::SocketAddr;
use std::time::Duration;

use brink::demo_origin::{self, OriginHandle, OriginOptions};
use brink_tests::{
    EdgeHandle, Reply, Script, ScriptOrigin, TestEdge, cache_status, get, get_with, h1_client,
    within,
};
use bytes::Bytes;
use http::StatusCode;

async fn shop() -> OriginHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    demo_origin::start(addr, OriginOptions::default())
        .await
        .expect("demo origin")
}

/// The whole image as the origin serves it, from a separate origin instance
/// (representations depend only on the id), so the counters of the origin
/// behind the edge stay untouched.
async fn truth(path: &str) -> Bytes {
    let other = shop().await;
    let r = get(&h1_client(), &format!("{}{path}", other.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    other.shutdown().await;
    r.body
}

async fn edge_for(origin: &OriginHandle) -> EdgeHandle {
    TestEdge::new().origin(origin.url()).start().await
}

/// An edge that stores objects up to 20 000 bytes (the shop's images are larger).
async fn too_large_edge(origin: &OriginHandle) -> EdgeHandle {
    TestEdge::new()
        .origin(origin.url())
        .config_toml("[cache]\nmax_object_bytes = 20000")
        .start()
        .await
}

async fn range(edge: &EdgeHandle, path: &str, spec: &str) -> Reply {
    get_with(
        &h1_client(),
        &format!("{}{path}", edge.url()),
        &[("range", spec)],
    )
    .await
}

fn assert_single(r: &Reply, full: &Bytes, start: usize, end_incl: usize) {
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{}", cache_status(r));
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {start}-{end_incl}/{}", full.len()).as_str())
    );
    assert_eq!(
        r.header("content-length"),
        Some((end_incl + 1 - start).to_string().as_str())
    );
    assert!(
        r.body == full.slice(start..=end_incl),
        "bytes {start}-{end_incl} differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_on_a_cached_image_returns_its_bytes() {
    let path = "/images/7.jpg";
    let full = truth(path).await;
    assert!(full.len() > 10_000);
    let origin = shop().await;
    let edge = edge_for(&origin).await;
    let r = get(&h1_client(), &format!("{}{path}", edge.url())).await;
    assert!(r.body == full, "full image");
    assert!(cache_status(&r).contains("stored"), "{}", cache_status(&r));

    let r = range(&edge, path, "bytes=100-199").await;
    assert_single(&r, &full, 100, 199);
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    assert_eq!(r.header("content-type"), Some("image/jpeg"));

    let len = full.len();
    let r = range(&edge, path, "bytes=-500").await;
    assert_single(&r, &full, len - 500, len - 1);
    let r = range(&edge, path, &format!("bytes={}-", len - 10)).await;
    assert_single(&r, &full, len - 10, len - 1);
    let r = range(&edge, path, &format!("bytes=0-{}", len + 1000)).await;
    assert_single(&r, &full, 0, len - 1);

    // If-Range: a matching validator gives the range, another the whole.
    let etag = r.header("etag").expect("etag").to_string();
    let url = format!("{}{path}", edge.url());
    let r = get_with(
        &h1_client(),
        &url,
        &[("range", "bytes=5-9"), ("if-range", etag.as_str())],
    )
    .await;
    assert_single(&r, &full, 5, 9);
    let r = get_with(
        &h1_client(),
        &url,
        &[("range", "bytes=5-9"), ("if-range", "\"other\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == full);

    let stats = origin.stats();
    assert_eq!(stats.images, 1, "{stats:?}");
    assert_eq!(stats.partial, 0, "{stats:?}");
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_miss_fills_the_whole_object_once() {
    let path = "/images/12.jpg";
    let full = truth(path).await;
    let origin = shop().await;
    let edge = edge_for(&origin).await;

    let r = range(&edge, path, "bytes=1000-1999").await;
    assert_single(&r, &full, 1000, 1999);
    assert!(cache_status(&r).contains("stored"), "{}", cache_status(&r));
    let r = get(&h1_client(), &format!("{}{path}", edge.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == full);
    assert!(cache_status(&r).contains("; hit"));
    let stats = origin.stats();
    assert_eq!((stats.images, stats.partial), (1, 0), "{stats:?}");

    // Concurrent range misses on another image: one full fill.
    let path = "/images/13.jpg";
    let full = truth(path).await;
    let tasks: Vec<_> = (0..20usize)
        .map(|i| {
            let url = format!("{}{path}", edge.url());
            tokio::spawn(async move {
                let spec = format!("bytes={}-{}", i * 100, i * 100 + 49);
                (
                    i,
                    get_with(&h1_client(), &url, &[("range", spec.as_str())]).await,
                )
            })
        })
        .collect();
    within(Duration::from_secs(30), "concurrent range misses", async {
        for t in tasks {
            let (i, r) = t.await.expect("task");
            assert_single(&r, &full, i * 100, i * 100 + 49);
        }
    })
    .await;
    let stats = origin.stats();
    assert_eq!((stats.images, stats.partial), (2, 0), "{stats:?}");
    origin.shutdown().await;
}

/// The parts of a `multipart/byteranges` body: (Content-Range, data).
fn parts(r: &Reply) -> Vec<(String, Bytes)> {
    let ct = r.header("content-type").expect("content-type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("content-type {ct}"))
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let body = &r.body;
    let mut out = Vec::new();
    let mut at = find(body, delim.as_bytes(), 0).expect("first boundary");
    loop {
        at += delim.len();
        if body[at..].starts_with(b"--") {
            break;
        }
        let head_end = find(body, b"\r\n\r\n", at).expect("part head") + 4;
        let head = String::from_utf8_lossy(&body[at..head_end]).into_owned();
        let next = find(body, format!("\r\n{delim}").as_bytes(), head_end).expect("next boundary");
        let cr = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-range")
                    .then(|| v.trim().to_string())
            })
            .expect("part Content-Range");
        out.push((cr, body.slice(head_end..next)));
        at = next + 2;
    }
    out
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ranges_give_multipart_byteranges() {
    let path = "/images/3.jpg";
    let full = truth(path).await;
    let len = full.len();
    let origin = shop().await;
    let edge = edge_for(&origin).await;
    get(&h1_client(), &format!("{}{path}", edge.url())).await;

    let r = range(&edge, path, "bytes=0-9, 200-299").await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert!(r.header("content-range").is_none());
    let p = parts(&r);
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].0, format!("bytes 0-9/{len}"));
    assert!(p[0].1 == full.slice(0..10));
    assert_eq!(p[1].0, format!("bytes 200-299/{len}"));
    assert!(p[1].1 == full.slice(200..300));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    // An unsatisfiable member is dropped when another is satisfiable.
    let r = range(&edge, path, &format!("bytes=10-19,{len}-")).await;
    assert_single(&r, &full, 10, 19);
    assert_eq!(origin.stats().images, 1);
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsatisfiable_range_gives_416() {
    let path = "/images/5.jpg";
    let full = truth(path).await;
    let len = full.len();
    let origin = shop().await;
    let edge = edge_for(&origin).await;
    get(&h1_client(), &format!("{}{path}", edge.url())).await;
    for spec in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 5, len + 9),
    ] {
        let r = range(&edge, path, &spec).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{spec}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{len}").as_str())
        );
    }
    // A malformed Range is ignored: the whole image.
    let r = range(&edge, path, "bytes=oops").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == full);
    assert_eq!(origin.stats().images, 1);
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_206_is_passed_through_and_not_stored() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/part",
        Script::cached("abcd", "max-age=600")
            .status(206)
            .header("content-range", "bytes 0-3/10"),
    );
    let edge = TestEdge::new().origin(origin.url()).start().await;
    let client = h1_client();
    let url = format!("{}/part", edge.url());
    for spec in ["bytes=0-3", "bytes=0-3"] {
        let r = get_with(&client, &url, &[("range", spec)]).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.text(), "abcd");
        assert_eq!(r.header("content-range"), Some("bytes 0-3/10"));
        assert!(!cache_status(&r).contains("stored"), "{}", cache_status(&r));
    }
    // Nor served as a full response to a plain GET.
    let r = get(&client, &url).await;
    assert!(!cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    assert_eq!(origin.count("/part"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_over_max_object_bytes_stream_through() {
    let path = "/images/9.jpg";
    let full = truth(path).await;
    assert!(full.len() > 20_000);
    let origin = shop().await;
    let edge = too_large_edge(&origin).await;
    let r = get(&h1_client(), &format!("{}{path}", edge.url())).await;
    assert!(r.body == full, "the whole image streamed");
    assert!(
        cache_status(&r).contains("too-large"),
        "{}",
        cache_status(&r)
    );
    // Later ranges go to the origin, which answers them.
    let r = range(&edge, path, "bytes=100-199").await;
    assert_single(&r, &full, 100, 199);
    let stats = origin.stats();
    assert_eq!((stats.images, stats.partial), (2, 1), "{stats:?}");
    origin.shutdown().await;
}

/// The first request for a too-large object is a fill of the whole object
/// (its size is unknown until the origin answers): a client's range is cut
/// out of the stream, and an unsatisfiable one gets 416.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_range_on_a_too_large_object_gets_its_bytes() {
    let path = "/images/9.jpg";
    let full = truth(path).await;
    let len = full.len();
    for (spec, start, end_incl) in [
        ("bytes=100-199", 100, 199),
        ("bytes=20000-", 20000, len - 1),
        ("bytes=-50", len - 50, len - 1),
        ("bytes=0-0", 0, 0),
    ] {
        let origin = shop().await;
        let edge = too_large_edge(&origin).await;
        let r = range(&edge, path, spec).await;
        assert_single(&r, &full, start, end_incl);
        assert!(
            cache_status(&r).contains("too-large"),
            "{}",
            cache_status(&r)
        );
        // The fill asked the origin for the whole object.
        assert_eq!(origin.stats().partial, 0, "{spec}");
        origin.shutdown().await;
    }
    let origin = shop().await;
    let edge = too_large_edge(&origin).await;
    let r = range(&edge, path, &format!("bytes={}-", len + 10)).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    assert!(r.body.is_empty());
    origin.shutdown().await;
}
