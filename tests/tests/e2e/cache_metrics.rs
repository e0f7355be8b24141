//! Cache metrics on the admin listener: lookups by route and result, and the
//! bytes and objects stored.

use std::time::Duration;

use brink::admin::AdminHandler;
use brink::config::Config;
use brink::node::Node;
use brink_tests::{Script, ScriptOrigin, get, get_with, h1_client, within};
use http::StatusCode;

/// The value of the sample whose line starts with `prefix` (0 if absent).
fn sample(metrics: &str, prefix: &str) -> f64 {
    brink_tests::metric_sample(metrics, prefix).unwrap_or(0.0)
}

fn lookups(metrics: &str, route: &str, result: &str) -> f64 {
    sample(
        metrics,
        &format!("brink_cache_lookups_total{{route=\"{route}\",result=\"{result}\"}}"),
    )
}

/// A node with two routes, `/static/` (first) and `/`, to one origin.
async fn two_route_node(origin: &ScriptOrigin) -> (Node, String, String) {
    let text = format!(
        "[node]\nname = \"metrics-edge\"\n\n[[listeners]]\naddress = \"127.0.0.1:0\"\n\n\
         [admin]\naddress = \"127.0.0.1:0\"\ntoken = \"metrics-token\"\n\n\
         [[pools]]\nname = \"default\"\nbackends = [{:?}]\n\n\
         [[routes]]\npath_prefix = \"/static/\"\npool = \"default\"\n\n\
         [[routes]]\npath_prefix = \"/\"\npool = \"default\"\n",
        origin.url()
    );
    let config = Config::parse(&text, "<metrics-test>", std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("config: {e}\n{text}"));
    let node = Node::start(config)
        .await
        .expect("node starts")
        .with_admin(AdminHandler::new)
        .await
        .expect("admin starts");
    let url = node.listeners()[0].url();
    let admin = format!("http://{}", node.admin_addr().expect("admin"));
    (node, url, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_by_route_and_result_and_bytes_stored() {
    let origin = ScriptOrigin::start().await;
    origin.set("/m", Script::cached("x".repeat(5000), "max-age=60"));
    origin.set(
        "/static/slow",
        Script::cached("slow", "max-age=60").delay(Duration::from_millis(300)),
    );
    origin.set(
        "/static/stale",
        Script::cached("s", "max-age=2, stale-while-revalidate=60"),
    );
    origin.set(
        "/static/etag",
        Script::cached("e", "max-age=60")
            .header("etag", "\"e\"")
            .etag_304(),
    );
    let (node, url, admin) = two_route_node(&origin).await;
    let client = h1_client();
    let metrics = || {
        let client = client.clone();
        let admin = admin.clone();
        async move {
            let r = get(&client, &format!("{admin}/metrics")).await;
            assert_eq!(r.status, StatusCode::OK);
            r.text()
        }
    };
    let empty = metrics().await;
    assert_eq!(sample(&empty, "brink_cache_bytes "), 0.0, "{empty}");

    // Route "/": one miss, three hits.
    for _ in 0..4 {
        let r = get(&client, &format!("{url}/m")).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // Route "/static/": a burst of concurrent misses on one key (coalesced
    // waiters), a stale hit (stale-while-revalidate) and a forced revalidation.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            let url = format!("{url}/static/slow");
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    within(Duration::from_secs(20), "burst", async {
        for t in tasks {
            assert_eq!(t.await.expect("task").status, StatusCode::OK);
        }
    })
    .await;
    get(&client, &format!("{url}/static/stale")).await;
    get(&client, &format!("{url}/static/etag")).await;
    let r = get_with(
        &client,
        &format!("{url}/static/etag"),
        &[("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    get(&client, &format!("{url}/static/stale")).await;

    let m = metrics().await;
    assert_eq!(lookups(&m, "/", "miss"), 1.0, "{m}");
    assert_eq!(lookups(&m, "/", "hit"), 3.0, "{m}");
    for result in ["coalesced", "stale", "revalidate"] {
        assert_eq!(lookups(&m, "/", result), 0.0, "{result}: {m}");
        assert!(lookups(&m, "/static/", result) >= 1.0, "{result}: {m}");
    }
    // slow (1) + stale (1) + etag (1) misses.
    assert!(lookups(&m, "/static/", "miss") >= 3.0, "{m}");
    assert_eq!(
        lookups(&m, "/static/", "miss")
            + lookups(&m, "/static/", "coalesced")
            + lookups(&m, "/static/", "hit"),
        10.0 + 2.0,
        "each burst request counted once (plus the two other misses): {m}"
    );
    assert!(
        sample(&m, "brink_cache_bytes ") >= 5000.0,
        "bytes stored: {m}"
    );
    assert!(sample(&m, "brink_cache_entries ") >= 4.0, "{m}");
    assert!(m.contains("brink_cache_evictions"), "{m}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_stored_are_reported_right_after_a_fill() {
    let origin = ScriptOrigin::start().await;
    origin.set("/one", Script::cached("y".repeat(3000), "max-age=60"));
    let (node, url, admin) = two_route_node(&origin).await;
    let client = h1_client();
    let r = get(&client, &format!("{url}/one")).await;
    assert_eq!(r.status, StatusCode::OK);
    let m = get(&client, &format!("{admin}/metrics")).await.text();
    assert!(sample(&m, "brink_cache_bytes ") >= 3000.0, "{m}");
    assert_eq!(sample(&m, "brink_cache_entries "), 1.0, "{m}");
    assert_eq!(lookups(&m, "/", "miss"), 1.0, "{m}");
    // A purge shows at once too.
    let r = brink_tests::purge(&client, &admin, "url=/one", Some("metrics-token")).await;
    assert_eq!(r.json()["purged"], 1);
    let m = get(&client, &format!("{admin}/metrics")).await.text();
    assert_eq!(sample(&m, "brink_cache_entries "), 0.0, "{m}");
    assert_eq!(sample(&m, "brink_cache_bytes "), 0.0, "{m}");
    node.shutdown().await;
}
