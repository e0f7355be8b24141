//! The cache as an RFC 9111 shared cache, end to end against a scripted
//! origin: what is stored and for how long, `Age`, `Vary`, `HEAD`, request
//! directives, invalidation by unsafe methods, `CDN-Cache-Control` /
//! `Surrogate-Control`, and the per-route rules of the config.

use std::time::Duration;

use brink_tests::{
    EdgeHandle, Reply, Script, ScriptOrigin, TestEdge, cache_status, get, get_with, h1_client,
    http_date_ago, request_with,
};
use http::{Method, StatusCode};

async fn edge(origin: &ScriptOrigin) -> EdgeHandle {
    TestEdge::new().origin(origin.url()).start().await
}

async fn edge_with(origin: &ScriptOrigin, extra: &str) -> EdgeHandle {
    TestEdge::new()
        .origin(origin.url())
        .config_toml(extra)
        .start()
        .await
}

fn seq(reply: &Reply) -> &str {
    reply.header("x-script-seq").unwrap_or("-")
}

fn is_hit(reply: &Reply) -> bool {
    cache_status(reply).contains("; hit")
}

/// Two GETs of `path`: returns the origin's request count for it afterwards.
async fn twice(edge: &EdgeHandle, origin: &ScriptOrigin, path: &str) -> u64 {
    let client = h1_client();
    for _ in 0..2 {
        let r = get(&client, &format!("{}{path}", edge.url())).await;
        assert!(r.status.is_success(), "{path}: {}", r.status);
    }
    origin.count(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_then_hit() {
    let origin = ScriptOrigin::start().await;
    origin.set("/a", Script::cached("hello", "max-age=60"));
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/a", edge.url());

    let first = get(&client, &url).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.text(), "hello");
    let cs = cache_status(&first);
    assert!(
        cs.starts_with("test-edge; fwd=uri-miss; fwd-status=200; stored"),
        "{cs}"
    );

    let second = get(&client, &url).await;
    assert_eq!(second.text(), "hello");
    let cs = cache_status(&second);
    assert!(cs.starts_with("test-edge; hit; ttl="), "{cs}");
    let ttl: i64 = cs
        .rsplit("ttl=")
        .next()
        .and_then(|t| t.split(';').next())
        .and_then(|t| t.trim().parse().ok())
        .expect("ttl");
    assert!((55..=60).contains(&ttl), "{cs}");
    assert!(second.header("age").is_some());
    assert_eq!(origin.count("/a"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_maxage_beats_max_age() {
    let origin = ScriptOrigin::start().await;
    origin.set("/s0", Script::cached("x", "max-age=0, s-maxage=60"));
    origin.set("/s1", Script::cached("x", "max-age=60, s-maxage=2"));
    let edge = edge(&origin).await;
    assert_eq!(twice(&edge, &origin, "/s0").await, 1);
    assert_eq!(twice(&edge, &origin, "/s1").await, 1);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = get(&h1_client(), &format!("{}/s1", edge.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        origin.count("/s1"),
        2,
        "s-maxage=2 expired: {}",
        cache_status(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_a_shared_cache_must_not_store() {
    let origin = ScriptOrigin::start().await;
    origin.set("/no-store", Script::cached("x", "max-age=60, no-store"));
    origin.set("/private", Script::cached("x", "private, max-age=60"));
    origin.set(
        "/cookie",
        Script::cached("x", "max-age=60").header("set-cookie", "sid=1"),
    );
    let edge = edge(&origin).await;
    for path in ["/no-store", "/private", "/cookie"] {
        assert_eq!(twice(&edge, &origin, path).await, 2, "{path} was stored");
    }
    let r = get(&h1_client(), &format!("{}/private", edge.url())).await;
    assert!(!cache_status(&r).contains("stored"), "{}", cache_status(&r));

    // A route that allows Set-Cookie stores it, and replays the cookie.
    let origin2 = ScriptOrigin::start().await;
    origin2.set(
        "/cookie",
        Script::cached("x", "max-age=60").header("set-cookie", "sid=1"),
    );
    let edge2 = edge_with(&origin2, "[routes.cache]\nallow_set_cookie = true").await;
    assert_eq!(twice(&edge2, &origin2, "/cookie").await, 1);
    let r = get(&h1_client(), &format!("{}/cookie", edge2.url())).await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(r.header("set-cookie"), Some("sid=1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_needs_public_or_s_maxage() {
    let origin = ScriptOrigin::start().await;
    origin.set("/plain", Script::cached("x", "max-age=60"));
    origin.set("/public", Script::cached("x", "public, max-age=60"));
    origin.set("/shared", Script::cached("x", "s-maxage=60"));
    let edge = edge(&origin).await;
    let client = h1_client();
    let auth = [("authorization", "Bearer user-1")];
    for path in ["/plain", "/public", "/shared"] {
        for _ in 0..2 {
            let r = get_with(&client, &format!("{}{path}", edge.url()), &auth).await;
            assert_eq!(r.status, StatusCode::OK);
        }
    }
    assert_eq!(origin.count("/plain"), 2);
    assert_eq!(origin.count("/public"), 1);
    assert_eq!(origin.count("/shared"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_is_stored_but_revalidated_every_time() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/nc",
        Script::cached("body", "no-cache, max-age=60")
            .header("etag", "\"v1\"")
            .etag_304(),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/nc", edge.url());
    let first = get(&client, &url).await;
    assert!(
        cache_status(&first).contains("stored"),
        "{}",
        cache_status(&first)
    );
    for n in 2..=4 {
        let r = get(&client, &url).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "body");
        assert_eq!(origin.count("/nc"), n);
        assert_eq!(
            origin.last("/nc").headers["if-none-match"],
            "\"v1\"",
            "revalidation is conditional"
        );
        assert!(
            cache_status(&r).contains("fwd=stale; fwd-status=304"),
            "{}",
            cache_status(&r)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_in_the_past_or_invalid_is_stale() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/past",
        Script::ok("x").header("expires", http_date_ago(Duration::from_secs(3600))),
    );
    origin.set("/invalid", Script::ok("x").header("expires", "0"));
    origin.set(
        "/future",
        Script::ok("x").header(
            "expires",
            brink_tests::http_date(std::time::SystemTime::now() + Duration::from_secs(3600)),
        ),
    );
    let edge = edge(&origin).await;
    assert_eq!(twice(&edge, &origin, "/past").await, 2);
    assert_eq!(twice(&edge, &origin, "/invalid").await, 2);
    assert_eq!(twice(&edge, &origin, "/future").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heuristic_freshness_from_last_modified() {
    let origin = ScriptOrigin::start().await;
    // Modified ten days ago: 10% of that is a day of heuristic freshness.
    origin.set(
        "/old",
        Script::ok("x").header("last-modified", http_date_ago(Duration::from_secs(864_000))),
    );
    // Modified five seconds ago: about half a second of freshness.
    origin.set(
        "/new",
        Script::ok("x").header("last-modified", http_date_ago(Duration::from_secs(5))),
    );
    let edge = edge(&origin).await;
    assert_eq!(twice(&edge, &origin, "/old").await, 1);
    let client = h1_client();
    let url = format!("{}/new", edge.url());
    get(&client, &url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = get(&client, &url).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(origin.count("/new"), 2);
    assert!(
        origin
            .last("/new")
            .headers
            .contains_key("if-modified-since"),
        "stale heuristic entry revalidated with If-Modified-Since"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn age_grows_and_counts_upstream_age() {
    let origin = ScriptOrigin::start().await;
    origin.set("/age", Script::cached("x", "max-age=60"));
    origin.set(
        "/aged",
        Script::cached("x", "max-age=60").header("age", "30"),
    );
    origin.set(
        "/too-old",
        Script::cached("x", "max-age=10").header("age", "20"),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    get(&client, &format!("{}/age", edge.url())).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = get(&client, &format!("{}/age", edge.url())).await;
    let age: u64 = r.header("age").expect("age").parse().expect("number");
    assert!((2..=10).contains(&age), "age {age}");

    get(&client, &format!("{}/aged", edge.url())).await;
    let r = get(&client, &format!("{}/aged", edge.url())).await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    let age: u64 = r.header("age").expect("age").parse().expect("number");
    assert!((30..=40).contains(&age), "age {age}");
    let cs = cache_status(&r);
    assert!(
        cs.contains("ttl=30") || cs.contains("ttl=29") || cs.contains("ttl=28"),
        "{cs}"
    );

    // Already older than its lifetime and no validator: not worth storing.
    assert_eq!(twice(&edge, &origin, "/too-old").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_accept_encoding_is_normalised() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/v",
        Script::cached("x", "max-age=60").header("vary", "Accept-Encoding"),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/v", edge.url());
    let ae = |v: &'static str| [("accept-encoding", v)];

    let r = get_with(&client, &url, &ae("gzip, deflate")).await;
    assert!(
        cache_status(&r).contains("fwd=uri-miss"),
        "{}",
        cache_status(&r)
    );
    let r = get_with(&client, &url, &ae("deflate, gzip;q=1")).await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(origin.count("/v"), 1);

    let r = get_with(&client, &url, &ae("br")).await;
    assert!(
        cache_status(&r).contains("fwd=vary-miss"),
        "{}",
        cache_status(&r)
    );
    assert_eq!(origin.count("/v"), 2);
    let r = get_with(&client, &url, &ae("gzip;q=0.5, br")).await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(seq(&r), "2");
    let r = get_with(&client, &url, &ae("x-gzip")).await;
    assert_eq!(seq(&r), "1", "x-gzip is gzip");
    assert_eq!(origin.count("/v"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_star_never_stored_and_vary_on_several_fields() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/star",
        Script::cached("x", "max-age=60").header("vary", "*"),
    );
    origin.set(
        "/multi",
        Script::cached("x", "max-age=60")
            .header("vary", "Accept-Language")
            .header("vary", "X-Device, accept-language"),
    );
    let edge = edge(&origin).await;
    assert_eq!(twice(&edge, &origin, "/star").await, 2);

    let client = h1_client();
    let url = format!("{}/multi", edge.url());
    let ask = |lang: &'static str, device: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            get_with(
                &client,
                &url,
                &[("accept-language", lang), ("x-device", device)],
            )
            .await
        }
    };
    assert_eq!(seq(&ask("en", "mobile").await), "1");
    assert_eq!(seq(&ask("en", "mobile").await), "1");
    assert_eq!(seq(&ask("en", "desktop").await), "2");
    assert_eq!(seq(&ask("fr", "mobile").await), "3");
    assert_eq!(seq(&ask("en", "desktop").await), "2");
    assert_eq!(seq(&ask("fr", "mobile").await), "3");
    let r = ask("en", "mobile").await;
    assert_eq!(seq(&r), "1");
    assert!(is_hit(&r));
    assert_eq!(origin.count("/multi"), 3);
    // A request without the fields is another variant.
    let r = get(&client, &url).await;
    assert_eq!(seq(&r), "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_answered_from_a_stored_get() {
    let origin = ScriptOrigin::start().await;
    origin.set("/h", Script::cached("0123456789", "max-age=60"));
    origin.set("/h2", Script::cached("abcdef", "max-age=60"));
    let edge = edge(&origin).await;
    let client = h1_client();

    // GET stored, then HEAD answered from it.
    get(&client, &format!("{}/h", edge.url())).await;
    let r = request_with(&client, Method::HEAD, &format!("{}/h", edge.url()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(origin.count("/h"), 1);

    // A HEAD miss fills with a GET; the next GET is a hit with the body.
    let r = request_with(&client, Method::HEAD, &format!("{}/h2", edge.url()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(origin.last("/h2").method, Method::GET);
    let r = get(&client, &format!("{}/h2", edge.url())).await;
    assert_eq!(r.text(), "abcdef");
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(origin.count("/h2"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_directives_force_revalidation() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/r",
        Script::cached("body", "max-age=60")
            .header("etag", "\"e1\"")
            .etag_304(),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/r", edge.url());
    get(&client, &url).await;
    assert!(is_hit(&get(&client, &url).await));
    assert_eq!(origin.count("/r"), 1);

    let mut expected = 1;
    for headers in [
        vec![("cache-control", "no-cache")],
        vec![("pragma", "no-cache")],
        vec![("cache-control", "max-age=0")],
    ] {
        let r = get_with(&client, &url, &headers).await;
        expected += 1;
        assert_eq!(r.status, StatusCode::OK, "{headers:?}");
        assert_eq!(r.text(), "body");
        assert_eq!(origin.count("/r"), expected, "{headers:?} went forward");
        assert_eq!(origin.last("/r").headers["if-none-match"], "\"e1\"");
        assert!(
            cache_status(&r).contains("fwd=request; fwd-status=304"),
            "{headers:?}: {}",
            cache_status(&r)
        );
    }
    // Pragma is ignored when Cache-Control is present.
    let r = get_with(
        &client,
        &url,
        &[("pragma", "no-cache"), ("cache-control", "max-stale=5")],
    )
    .await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(origin.count("/r"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_if_cached_and_request_no_store() {
    let origin = ScriptOrigin::start().await;
    origin.set("/o", Script::cached("x", "max-age=60"));
    origin.set("/ns", Script::cached("x", "max-age=60"));
    let edge = edge(&origin).await;
    let client = h1_client();
    let oic = [("cache-control", "only-if-cached")];
    let r = get_with(&client, &format!("{}/o", edge.url()), &oic).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(origin.count("/o"), 0);
    get(&client, &format!("{}/o", edge.url())).await;
    let r = get_with(&client, &format!("{}/o", edge.url()), &oic).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(is_hit(&r));

    // no-store: forwarded and not stored...
    let ns = [("cache-control", "no-store")];
    let url = format!("{}/ns", edge.url());
    let r = get_with(&client, &url, &ns).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!cache_status(&r).contains("stored"), "{}", cache_status(&r));
    let r = get(&client, &url).await;
    assert_eq!(seq(&r), "2", "the no-store response was not stored");
    // ...and does not replace what is stored.
    let r = get_with(&client, &url, &ns).await;
    assert_eq!(seq(&r), "3");
    let r = get(&client, &url).await;
    assert_eq!(seq(&r), "2");
    assert!(is_hit(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_unsafe_methods_invalidate() {
    let origin = ScriptOrigin::start().await;
    for p in ["/item", "/loc", "/cloc", "/abs", "/kept"] {
        origin.set(p, Script::cached(p.to_string(), "max-age=60"));
    }
    let edge = edge(&origin).await;
    let host = brink_tests::url_addr(edge.url()).ip().to_string();
    origin.set(
        "/create",
        Script::ok("created")
            .status(201)
            .header("location", "/loc")
            .header("content-location", format!("http://{host}/cloc")),
    );
    origin.set(
        "/move",
        Script::ok("moved")
            .status(303)
            .header("location", format!("http://{host}:1/abs")),
    );
    let client = h1_client();
    let paths = ["/item", "/loc", "/cloc", "/abs", "/kept"];
    for p in paths {
        get(&client, &format!("{}{p}", edge.url())).await;
        assert!(is_hit(&get(&client, &format!("{}{p}", edge.url())).await));
    }
    let r = request_with(&client, Method::POST, &format!("{}/item", edge.url()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    // A failed unsafe request invalidates nothing.
    origin.set("/kept", Script::ok("no").status(500));
    let r = request_with(
        &client,
        Method::DELETE,
        &format!("{}/kept", edge.url()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    origin.set("/kept", Script::cached("/kept", "max-age=60"));
    let r = request_with(
        &client,
        Method::POST,
        &format!("{}/create", edge.url()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = request_with(&client, Method::PUT, &format!("{}/move", edge.url()), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    for p in ["/item", "/loc", "/cloc", "/abs"] {
        let r = get(&client, &format!("{}{p}", edge.url())).await;
        assert!(
            cache_status(&r).contains("fwd=uri-miss"),
            "{p} invalidated: {}",
            cache_status(&r)
        );
    }
    let r = get(&client, &format!("{}/kept", edge.url())).await;
    assert!(
        is_hit(&r),
        "kept after a failed DELETE: {}",
        cache_status(&r)
    );
    assert_eq!(r.text(), "/kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_cache_control_and_surrogate_control_take_precedence() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/cdn-store",
        Script::cached("x", "no-store").header("cdn-cache-control", "max-age=60"),
    );
    origin.set(
        "/cdn-nostore",
        Script::cached("x", "max-age=60").header("cdn-cache-control", "no-store"),
    );
    origin.set(
        "/cdn-private",
        Script::cached("x", "private").header("cdn-cache-control", "public, max-age=60"),
    );
    origin.set(
        "/sc-long",
        Script::cached("x", "max-age=1").header("surrogate-control", "max-age=600"),
    );
    origin.set(
        "/sc-nostore",
        Script::cached("x", "max-age=60").header("surrogate-control", "no-store"),
    );
    let edge = edge(&origin).await;
    assert_eq!(twice(&edge, &origin, "/cdn-store").await, 1);
    assert_eq!(twice(&edge, &origin, "/cdn-nostore").await, 2);
    assert_eq!(twice(&edge, &origin, "/cdn-private").await, 1);
    assert_eq!(twice(&edge, &origin, "/sc-nostore").await, 2);
    assert_eq!(twice(&edge, &origin, "/sc-long").await, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = get(&h1_client(), &format!("{}/sc-long", edge.url())).await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(origin.count("/sc-long"), 1);
    assert!(r.header("surrogate-control").is_none(), "not for clients");
    let cs = cache_status(&r);
    let ttl: i64 = cs
        .rsplit("ttl=")
        .next()
        .and_then(|t| t.split(';').next())
        .and_then(|t| t.trim().parse().ok())
        .expect("ttl");
    assert!(ttl > 500, "{cs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_force_ttl_and_statuses() {
    let origin = ScriptOrigin::start().await;
    origin.set("/plain", Script::ok("x"));
    origin.set("/no-cache", Script::cached("x", "no-cache"));
    origin.set("/private", Script::cached("x", "private"));
    origin.set("/missing", Script::cached("x", "max-age=60").status(404));
    let edge = edge_with(
        &origin,
        "[routes.cache]\nforce_ttl = \"120s\"\nstatuses = [200]",
    )
    .await;
    assert_eq!(twice(&edge, &origin, "/plain").await, 1);
    assert_eq!(twice(&edge, &origin, "/no-cache").await, 1);
    assert_eq!(twice(&edge, &origin, "/private").await, 2);
    let client = h1_client();
    for _ in 0..2 {
        let r = get(&client, &format!("{}/missing", edge.url())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(origin.count("/missing"), 2, "404 is not in statuses");
    let r = get(&client, &format!("{}/plain", edge.url())).await;
    let cs = cache_status(&r);
    assert!(cs.contains("ttl=11") || cs.contains("ttl=120"), "{cs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_cache_disabled_bypasses() {
    let origin = ScriptOrigin::start().await;
    origin.set("/b", Script::cached("x", "max-age=60"));
    let edge = edge_with(&origin, "[routes.cache]\nenabled = false").await;
    assert_eq!(twice(&edge, &origin, "/b").await, 2);
    let r = get(&h1_client(), &format!("{}/b", edge.url())).await;
    assert!(
        cache_status(&r).contains("fwd=bypass"),
        "{}",
        cache_status(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_query_sort_and_ignore() {
    let origin = ScriptOrigin::start().await;
    origin.set("/q", Script::cached("x", "max-age=60"));
    let sorted = edge_with(&origin, "[routes.cache]\nquery = \"sort\"").await;
    let client = h1_client();
    let r = get(&client, &format!("{}/q?b=2&a=1", sorted.url())).await;
    assert_eq!(seq(&r), "1");
    let r = get(&client, &format!("{}/q?a=1&b=2", sorted.url())).await;
    assert_eq!(seq(&r), "1");
    assert!(is_hit(&r));
    let r = get(&client, &format!("{}/q?a=2&b=1", sorted.url())).await;
    assert_eq!(seq(&r), "2", "other values, other entry");
    // The origin got the query as the client sent it.
    assert_eq!(origin.seen("/q")[0].query.as_deref(), Some("b=2&a=1"));

    let origin2 = ScriptOrigin::start().await;
    origin2.set("/q", Script::cached("x", "max-age=60"));
    let ignored = edge_with(&origin2, "[routes.cache]\nquery = \"ignore\"").await;
    for q in ["?x=1", "?x=2", "", "?utm=abc"] {
        let r = get(&client, &format!("{}/q{q}", ignored.url())).await;
        assert_eq!(seq(&r), "1", "{q}");
    }
    assert_eq!(origin2.count("/q"), 1);

    // Default: the query is kept as sent.
    let origin3 = ScriptOrigin::start().await;
    origin3.set("/q", Script::cached("x", "max-age=60"));
    let kept = edge(&origin3).await;
    get(&client, &format!("{}/q?b=2&a=1", kept.url())).await;
    get(&client, &format!("{}/q?a=1&b=2", kept.url())).await;
    assert_eq!(origin3.count("/q"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_if_cached_never_goes_forward() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/stale",
        Script::cached("x", "max-age=2")
            .header("etag", "\"s\"")
            .etag_304(),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/stale", edge.url());
    get(&client, &url).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = get_with(&client, &url, &[("cache-control", "only-if-cached")]).await;
    assert_eq!(
        r.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        cache_status(&r)
    );
    let r = get_with(
        &client,
        &url,
        &[("cache-control", "only-if-cached, no-cache")],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        cache_status(&r)
    );
    assert_eq!(
        origin.count("/stale"),
        1,
        "only-if-cached went to the origin"
    );
    // Accepting stale content, it is served.
    let r = get_with(
        &client,
        &url,
        &[("cache-control", "only-if-cached, max-stale")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(origin.count("/stale"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_stale_and_min_fresh() {
    let origin = ScriptOrigin::start().await;
    origin.set("/ms", Script::cached("x", "max-age=2"));
    origin.set("/mr", Script::cached("x", "max-age=2, must-revalidate"));
    origin.set("/mf", Script::cached("x", "max-age=60"));
    let edge = edge(&origin).await;
    let client = h1_client();
    for p in ["/ms", "/mr", "/mf"] {
        get(&client, &format!("{}{p}", edge.url())).await;
    }
    let r = get_with(
        &client,
        &format!("{}/mf", edge.url()),
        &[("cache-control", "min-fresh=30")],
    )
    .await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    get_with(
        &client,
        &format!("{}/mf", edge.url()),
        &[("cache-control", "min-fresh=120")],
    )
    .await;
    assert_eq!(
        origin.count("/mf"),
        2,
        "min-fresh beyond the ttl goes forward"
    );

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let ms = [("cache-control", "max-stale=600")];
    let r = get_with(&client, &format!("{}/ms", edge.url()), &ms).await;
    assert!(is_hit(&r), "{}", cache_status(&r));
    assert_eq!(origin.count("/ms"), 1);
    let r = get_with(
        &client,
        &format!("{}/ms", edge.url()),
        &[("cache-control", "max-stale=0")],
    )
    .await;
    assert!(!is_hit(&r), "{}", cache_status(&r));
    assert_eq!(origin.count("/ms"), 2);
    // must-revalidate: max-stale is not honoured.
    get_with(&client, &format!("{}/mr", edge.url()), &ms).await;
    assert_eq!(origin.count("/mr"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qualified_no_cache_and_private_strip_the_field() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/nc-cookie",
        Script::cached("x", "max-age=60, no-cache=\"set-cookie\"").header("set-cookie", "sid=1"),
    );
    origin.set(
        "/priv-field",
        Script::cached("x", "max-age=60, private=\"x-user\"").header("x-user", "alice"),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    for (p, field) in [("/nc-cookie", "set-cookie"), ("/priv-field", "x-user")] {
        get(&client, &format!("{}{p}", edge.url())).await;
        let r = get(&client, &format!("{}{p}", edge.url())).await;
        assert!(is_hit(&r), "{p}: {}", cache_status(&r));
        assert!(r.header(field).is_none(), "{p}: stored {field}");
        assert_eq!(origin.count(p), 1);
    }
}

/// A 304 whose merged header fields may not be stored (here it says
/// `no-store`) answers this request once; the stored copy stays stale, so
/// the next request revalidates again instead of getting a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unstorable_304_does_not_make_the_stored_copy_fresh() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/u",
        Script::cached("body", "max-age=1")
            .header("etag", "\"u1\"")
            .etag_304(),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/u", edge.url());
    assert_eq!(get(&client, &url).await.text(), "body");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    origin.update("/u", |s| {
        s.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("cache-control"));
        s.headers.push(("cache-control", "no-store".into()));
    });
    let revalidated = get(&client, &url).await;
    assert_eq!(revalidated.text(), "body");
    assert_eq!(origin.count("/u"), 2);
    let next = get(&client, &url).await;
    assert!(!is_hit(&next), "{}", cache_status(&next));
    assert_eq!(origin.count("/u"), 3);
}
