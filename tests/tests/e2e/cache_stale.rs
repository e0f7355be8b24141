//! Stale content: stale-while-revalidate, stale-if-error (from the response
//! and from the config default), `must-revalidate`, revalidation with
//! `If-None-Match` and 304, and client conditional requests.

use std::time::Duration;

use brink_tests::{
    EdgeHandle, Reply, Script, ScriptOrigin, TestEdge, cache_status, get, get_with, h1_client,
    within,
};
use http::StatusCode;

async fn edge(origin: &ScriptOrigin) -> EdgeHandle {
    TestEdge::new().origin(origin.url()).start().await
}

fn seq(reply: &Reply) -> &str {
    reply.header("x-script-seq").unwrap_or("-")
}

/// Longer than a 2 s lifetime (ages count whole seconds from `Date`).
const PAST_2S: Duration = Duration::from_millis(3100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/swr",
        Script::cached("v1", "max-age=2, stale-while-revalidate=60")
            .delay(Duration::from_millis(300)),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/swr", edge.url());
    assert_eq!(get(&client, &url).await.text(), "v1");
    tokio::time::sleep(PAST_2S).await;
    origin.set(
        "/swr",
        Script::cached("v2", "max-age=60, stale-while-revalidate=60").delay(Duration::from_secs(2)),
    );

    // Stale answers come straight from the cache while one (slow) refresh runs.
    for _ in 0..3 {
        let r = within(
            Duration::from_millis(1500),
            "a stale answer does not wait for the origin",
            get(&client, &url),
        )
        .await;
        assert_eq!(r.text(), "v1");
        let cs = cache_status(&r);
        assert!(
            cs.contains("; hit") && cs.contains("stale-while-revalidate"),
            "{cs}"
        );
    }
    let fresh = within(Duration::from_secs(10), "the refresh lands", async {
        loop {
            let r = get(&client, &url).await;
            if r.text() == "v2" {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        cache_status(&fresh).contains("; hit"),
        "{}",
        cache_status(&fresh)
    );
    assert!(
        !cache_status(&fresh).contains("stale"),
        "{}",
        cache_status(&fresh)
    );
    assert_eq!(origin.count("/swr"), 2, "one background refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_from_the_config_default() {
    let origin = ScriptOrigin::start().await;
    origin.set("/d", Script::cached("v1", "max-age=2"));
    let edge = TestEdge::new()
        .origin(origin.url())
        .config_toml("[cache]\nstale_while_revalidate = \"60s\"")
        .start()
        .await;
    let client = h1_client();
    let url = format!("{}/d", edge.url());
    get(&client, &url).await;
    tokio::time::sleep(PAST_2S).await;
    let r = get(&client, &url).await;
    assert_eq!(seq(&r), "1");
    assert!(
        cache_status(&r).contains("stale-while-revalidate"),
        "{}",
        cache_status(&r)
    );
    brink_tests::eventually(Duration::from_secs(10), "background refresh", || {
        origin.count("/d") == 2
    })
    .await;
}

/// Stores `path` (lifetime 2 s), lets it go stale, then makes the origin
/// answer 503: the stale copy is served. Then takes the origin down: still
/// served.
async fn serves_stale_on_error(origin: &ScriptOrigin, edge: &EdgeHandle, path: &str) {
    let client = h1_client();
    let url = format!("{}{path}", edge.url());
    let r = get(&client, &url).await;
    assert_eq!(r.text(), "good");
    tokio::time::sleep(PAST_2S).await;
    origin.set(path, Script::cached("broken", "no-store").status(503));
    let r = get(&client, &url).await;
    assert_eq!(r.status, StatusCode::OK, "{}", cache_status(&r));
    assert_eq!(r.text(), "good");
    let cs = cache_status(&r);
    assert!(
        cs.contains("; hit") && cs.contains("fwd-status=503") && cs.contains("stale-if-error"),
        "{cs}"
    );
    let before = origin.count(path);
    assert!(before >= 2, "the origin was asked");

    origin.set_down(true).await;
    for _ in 0..3 {
        let r = get(&client, &url).await;
        assert_eq!(r.status, StatusCode::OK, "{}", cache_status(&r));
        assert_eq!(r.text(), "good");
        assert!(
            cache_status(&r).contains("stale-if-error"),
            "{}",
            cache_status(&r)
        );
    }
    assert_eq!(origin.count(path), before, "the origin is down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_from_the_response() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/sie",
        Script::cached("good", "max-age=2, stale-if-error=60"),
    );
    let edge = edge(&origin).await;
    serves_stale_on_error(&origin, &edge, "/sie").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_from_the_config_default() {
    let origin = ScriptOrigin::start().await;
    origin.set("/sie", Script::cached("good", "max-age=2"));
    let edge = TestEdge::new()
        .origin(origin.url())
        .config_toml("[cache]\nstale_if_error = \"60s\"")
        .start()
        .await;
    serves_stale_on_error(&origin, &edge, "/sie").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_stale_if_error_a_503_is_passed_on() {
    let origin = ScriptOrigin::start().await;
    origin.set("/plain", Script::cached("good", "max-age=2"));
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/plain", edge.url());
    get(&client, &url).await;
    tokio::time::sleep(PAST_2S).await;
    origin.set("/plain", Script::cached("broken", "no-store").status(503));
    let r = get(&client, &url).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.text(), "broken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn must_revalidate_is_never_served_stale() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/mr",
        Script::cached("good", "max-age=2, must-revalidate, stale-if-error=60"),
    );
    let edge = TestEdge::new()
        .origin(origin.url())
        .config_toml("[cache]\nstale_if_error = \"60s\"\nstale_while_revalidate = \"60s\"")
        .start()
        .await;
    let client = h1_client();
    let url = format!("{}/mr", edge.url());
    get(&client, &url).await;
    tokio::time::sleep(PAST_2S).await;
    origin.set("/mr", Script::cached("broken", "no-store").status(503));
    let r = get(&client, &url).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(r.text(), "good");

    origin.set_down(true).await;
    let r = get(&client, &url).await;
    assert!(
        matches!(r.status.as_u16(), 502..=504),
        "{} {}",
        r.status,
        cache_status(&r)
    );
    assert_ne!(r.text(), "good");
    // Even a client accepting stale content does not get it.
    let r = get_with(&client, &url, &[("cache-control", "max-stale=600")]).await;
    assert!(matches!(r.status.as_u16(), 502..=504), "{}", r.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revalidation_with_if_none_match_refreshes_the_entry() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/r",
        Script::cached("old body", "max-age=2")
            .header("etag", "\"v1\"")
            .header("x-version", "1")
            .etag_304(),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/r", edge.url());
    let r = get(&client, &url).await;
    assert_eq!(r.header("x-version"), Some("1"));
    tokio::time::sleep(PAST_2S).await;
    // Same ETag, so the origin answers 304 (with its new header fields).
    origin.set(
        "/r",
        Script::cached("new body", "max-age=60")
            .header("etag", "\"v1\"")
            .header("x-version", "2")
            .etag_304(),
    );
    let r = get(&client, &url).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "old body", "the stored body is kept");
    assert_eq!(
        r.header("x-version"),
        Some("2"),
        "the 304 updated the headers"
    );
    let cs = cache_status(&r);
    assert!(cs.contains("fwd=stale; fwd-status=304"), "{cs}");
    assert_eq!(origin.count("/r"), 2);
    assert_eq!(origin.last("/r").headers["if-none-match"], "\"v1\"");

    // Fresh again for 60 s, with the new fields.
    let r = get(&client, &url).await;
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    assert_eq!(r.header("x-version"), Some("2"));
    assert_eq!(r.text(), "old body");
    assert_eq!(origin.count("/r"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_resource_replaces_the_entry_on_revalidation() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/c",
        Script::cached("v1", "max-age=2")
            .header("etag", "\"v1\"")
            .etag_304(),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/c", edge.url());
    get(&client, &url).await;
    tokio::time::sleep(PAST_2S).await;
    origin.set(
        "/c",
        Script::cached("v2", "max-age=60")
            .header("etag", "\"v2\"")
            .etag_304(),
    );
    let r = get(&client, &url).await;
    assert_eq!(r.text(), "v2");
    assert!(
        cache_status(&r).contains("fwd-status=200; stored"),
        "{}",
        cache_status(&r)
    );
    let r = get(&client, &url).await;
    assert_eq!(r.text(), "v2");
    assert_eq!(r.header("etag"), Some("\"v2\""));
    assert!(cache_status(&r).contains("; hit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_conditional_requests_are_answered_from_the_cache() {
    let origin = ScriptOrigin::start().await;
    let lm = brink_tests::http_date_ago(Duration::from_secs(3600));
    origin.set(
        "/cond",
        Script::cached("content", "max-age=60")
            .header("etag", "\"abc\"")
            .header("last-modified", lm.clone()),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/cond", edge.url());
    get(&client, &url).await;

    let r = get_with(&client, &url, &[("if-none-match", "\"abc\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some("\"abc\""));
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));

    let r = get_with(&client, &url, &[("if-none-match", "W/\"x\", W/\"abc\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED, "weak comparison");

    let r = get_with(&client, &url, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "content");

    let r = get_with(&client, &url, &[("if-modified-since", lm.as_str())]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    assert_eq!(origin.count("/cond"), 1, "all answered from the cache");
    assert!(
        !origin.last("/cond").headers.contains_key("if-none-match"),
        "the fill was unconditional"
    );

    // A conditional miss: the fill is unconditional, the client gets 304.
    let r = get_with(
        &client,
        &format!("{}/cond2", edge.url()),
        &[("if-none-match", "\"abc\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no script for /cond2");
    origin.set(
        "/cond3",
        Script::cached("c3", "max-age=60").header("etag", "\"c3\""),
    );
    let r = get_with(
        &client,
        &format!("{}/cond3", edge.url()),
        &[("if-none-match", "\"c3\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(
        !origin.last("/cond3").headers.contains_key("if-none-match"),
        "the fill dropped the client's condition"
    );
    let r = get(&client, &format!("{}/cond3", edge.url())).await;
    assert_eq!(r.text(), "c3");
    assert!(cache_status(&r).contains("; hit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_all_get_stale_if_error() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/many",
        Script::cached("good", "max-age=2, stale-if-error=60"),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/many", edge.url());
    get(&client, &url).await;
    tokio::time::sleep(PAST_2S).await;
    origin.set(
        "/many",
        Script::cached("broken", "no-store")
            .status(503)
            .delay(Duration::from_millis(300)),
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    within(
        Duration::from_secs(30),
        "concurrent stale-if-error",
        async {
            for t in tasks {
                let r = t.await.expect("task");
                assert_eq!(r.status, StatusCode::OK, "{}", cache_status(&r));
                assert_eq!(r.text(), "good");
            }
        },
    )
    .await;
}
