//! `brink origin` as a process: failure injection, health and counters.

use brink_tests::{BrinkProcess, get, h1_client};
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_rate_one_fails_catalog_requests_only() {
    let origin = BrinkProcess::origin(&["--fail-rate", "1.0", "--name", "o-fail"]);
    let client = h1_client();
    for path in ["/products/1", "/images/2.jpg", "/fragments/product/3"] {
        let reply = get(&client, &format!("{}{path}", origin.url())).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(reply.header("x-origin"), Some("o-fail"), "{path}");
    }
    let reply = get(&client, &format!("{}/healthz", origin.url())).await;
    assert_eq!(reply.status, StatusCode::OK);

    let reply = get(&client, &format!("{}/stats", origin.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let v = reply.json();
    assert_eq!(v["total"], 4, "{v}");
    assert_eq!(v["products"], 1, "{v}");
    assert_eq!(v["images"], 1, "{v}");
    assert_eq!(v["fragments_product"], 1, "{v}");
    assert_eq!(v["healthz"], 1, "{v}");
    assert_eq!(v["injected_failures"], 3, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_origin_serves_the_catalog_through_an_edge() {
    let a = BrinkProcess::origin(&["--name", "o-a"]);
    let b = BrinkProcess::origin(&["--name", "o-b"]);
    let edge = BrinkProcess::serve_zero_config(&[a.url(), b.url()], false);
    let client = h1_client();
    let mut seen = Vec::new();
    // Distinct products: each is a cache miss, so round-robin shows.
    for id in 41..45 {
        let reply = get(&client, &format!("{}/products/{id}", edge.url())).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.text().contains(&id.to_string()), "{}", reply.text());
        seen.push(reply.header("x-origin").expect("x-origin").to_string());
    }
    assert!(
        seen.iter().any(|s| s == "o-a") && seen.iter().any(|s| s == "o-b"),
        "{seen:?}"
    );
    // A repeat is a cache hit: the origins see no more requests.
    let again = get(&client, &format!("{}/products/41", edge.url())).await;
    assert!(again.header("cache-status").unwrap_or("").contains("hit"));
    let mut total = 0;
    for o in [&a, &b] {
        let v = get(&client, &format!("{}/stats", o.url())).await.json();
        total += v["products"].as_u64().unwrap_or(0);
    }
    assert_eq!(total, 4);
}
