//! Purge on the admin API: by URL, by prefix, by surrogate key, soft purge,
//! and the admin token.

use brink_tests::{
    EdgeHandle, Reply, Script, ScriptOrigin, TestEdge, cache_status, get, h1_client, purge,
};
use http::StatusCode;

const TOKEN: &str = "test-admin-token";

async fn edge(origin: &ScriptOrigin) -> EdgeHandle {
    TestEdge::new().origin(origin.url()).start().await
}

fn is_hit(reply: &Reply) -> bool {
    cache_status(reply).contains("; hit")
}

/// GETs every path once so it is stored, and checks a second GET hits.
async fn warm(edge: &EdgeHandle, paths: &[&str]) {
    let client = h1_client();
    for p in paths {
        let r = get(&client, &format!("{}{p}", edge.url())).await;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        let r = get(&client, &format!("{}{p}", edge.url())).await;
        assert!(is_hit(&r), "{p} stored: {}", cache_status(&r));
    }
}

/// Whether the next GET of `path` is a hit.
async fn hit(edge: &EdgeHandle, path: &str) -> bool {
    is_hit(&get(&h1_client(), &format!("{}{path}", edge.url())).await)
}

async fn purge_ok(edge: &EdgeHandle, query: &str) -> u64 {
    let r = purge(&h1_client(), edge.admin_url(), query, Some(TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
    r.json()["purged"].as_u64().expect("purged count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_by_url() {
    let origin = ScriptOrigin::start().await;
    for p in ["/p/1", "/p/2", "/p/10"] {
        origin.set(p, Script::cached(p.to_string(), "max-age=600"));
    }
    let edge = edge(&origin).await;
    warm(&edge, &["/p/1", "/p/2", "/p/10"]).await;

    assert_eq!(purge_ok(&edge, "url=/p/1").await, 1);
    assert!(!hit(&edge, "/p/1").await, "purged");
    assert!(hit(&edge, "/p/10").await, "exact match only");
    assert!(hit(&edge, "/p/2").await);
    assert_eq!(origin.count("/p/1"), 2);

    // A full URL (scheme and host, percent-encoded in the query); the key
    // holds no port when the client named the listener's own.
    let host = brink_tests::url_addr(edge.url()).ip().to_string();
    let q = format!("url=http%3A%2F%2F{host}%2Fp%2F2");
    assert_eq!(purge_ok(&edge, &q).await, 1);
    assert!(!hit(&edge, "/p/2").await);
    assert_eq!(purge_ok(&edge, "url=http://other.test/p/10").await, 0);
    assert!(hit(&edge, "/p/10").await, "other host untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_by_prefix() {
    let origin = ScriptOrigin::start().await;
    let paths = ["/a/1", "/a/2", "/a/sub/3", "/ab", "/b/1"];
    for p in paths {
        origin.set(p, Script::cached(p.to_string(), "max-age=600"));
    }
    let edge = edge(&origin).await;
    warm(&edge, &paths).await;
    assert_eq!(purge_ok(&edge, "prefix=/a/").await, 3);
    for p in ["/a/1", "/a/2", "/a/sub/3"] {
        assert!(!hit(&edge, p).await, "{p} purged");
    }
    assert!(hit(&edge, "/ab").await);
    assert!(hit(&edge, "/b/1").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_by_surrogate_key() {
    let origin = ScriptOrigin::start().await;
    let tagged = [
        ("/t/1", Some("red blue")),
        ("/t/2", Some("blue")),
        ("/t/3", Some("green  product-3")),
        ("/t/4", None),
        ("/t/5", Some("blueish")),
    ];
    for (p, keys) in tagged {
        let mut s = Script::cached(p.to_string(), "max-age=600");
        if let Some(k) = keys {
            s = s.header("surrogate-key", k);
        }
        origin.set(p, s);
    }
    origin.set(
        "/t/6",
        Script::cached("/t/6", "max-age=600")
            .header("surrogate-key", "a")
            .header("surrogate-key", "blue"),
    );
    let edge = edge(&origin).await;
    let all = ["/t/1", "/t/2", "/t/3", "/t/4", "/t/5", "/t/6"];
    warm(&edge, &all).await;
    let r = get(&h1_client(), &format!("{}/t/1", edge.url())).await;
    assert!(r.header("surrogate-key").is_none(), "not shown to clients");

    assert_eq!(purge_ok(&edge, "tag=blue").await, 3);
    for p in all {
        let expect_hit = !matches!(p, "/t/1" | "/t/2" | "/t/6");
        assert_eq!(hit(&edge, p).await, expect_hit, "{p}");
    }
    // Everything is stored again; a key of one object removes only it.
    assert_eq!(purge_ok(&edge, "tag=product-3").await, 1);
    for p in all {
        assert_eq!(hit(&edge, p).await, p != "/t/3", "{p}");
    }
    assert_eq!(purge_ok(&edge, "tag=nothing").await, 0);
    for p in all {
        assert!(hit(&edge, p).await, "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_purge_revalidates() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/s",
        Script::cached("soft", "max-age=600")
            .header("etag", "\"s1\"")
            .etag_304(),
    );
    let edge = edge(&origin).await;
    warm(&edge, &["/s"]).await;
    assert_eq!(purge_ok(&edge, "url=/s&soft=1").await, 1);
    let r = get(&h1_client(), &format!("{}/s", edge.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "soft");
    assert_eq!(origin.count("/s"), 2);
    assert_eq!(
        origin.last("/s").headers["if-none-match"],
        "\"s1\"",
        "a soft-purged entry is revalidated"
    );
    assert!(
        cache_status(&r).contains("fwd=stale; fwd-status=304"),
        "{}",
        cache_status(&r)
    );
    assert!(hit(&edge, "/s").await, "refreshed by the 304");
    assert_eq!(origin.count("/s"), 2);

    // Soft purge with the origin down: the entry is still there to serve stale.
    assert_eq!(purge_ok(&edge, "prefix=/&soft=1").await, 1);
    origin.set_down(true).await;
    let r = get(&h1_client(), &format!("{}/s", edge.url())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", cache_status(&r));
    assert_eq!(r.text(), "soft");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_needs_the_admin_token() {
    let origin = ScriptOrigin::start().await;
    origin.set("/k", Script::cached("k", "max-age=600"));
    let edge = edge(&origin).await;
    warm(&edge, &["/k"]).await;
    let client = h1_client();
    for token in [None, Some("wrong"), Some("test-admin-token-but-longer")] {
        let r = purge(&client, edge.admin_url(), "url=/k", token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    assert!(hit(&edge, "/k").await, "nothing purged");
    let r = purge(&client, edge.admin_url(), "", Some(TOKEN)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Purge is not reachable on the public listener.
    let r = brink_tests::request_with(
        &client,
        http::Method::POST,
        &format!("{}/purge?url=/k", edge.url()),
        &[("authorization", "Bearer test-admin-token")],
    )
    .await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text());
    assert!(hit(&edge, "/k").await);
}
