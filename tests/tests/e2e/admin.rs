//! The admin listener: /healthz, /metrics, /status, and 404 for the rest;
//! the admin token of zero-config mode (`--admin-token-env`).

use std::time::Duration;

use brink_tests::metric_sample as sample;
use brink_tests::{
    BrinkProcess, EchoOrigin, Script, ScriptOrigin, TestEdge, cache_status, get, h1_client, purge,
    request_with,
};
use http::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_metrics_status_and_404() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .name("edge-admin")
        .start()
        .await;
    let client = h1_client();
    let admin = edge.admin_url().to_string();

    let reply = get(&client, &format!("{admin}/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);

    // Some traffic: three 2xx, one 4xx (passed through from the origin).
    for _ in 0..3 {
        assert_eq!(
            get(&client, &format!("{}/echo", edge.url())).await.status,
            StatusCode::OK
        );
    }
    let reply = get(&client, &format!("{}/status/404", edge.url())).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    let reply = get(&client, &format!("{admin}/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let m = reply.text();
    assert_eq!(
        sample(&m, "brink_requests_total{class=\"2xx\"}"),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "brink_requests_total{class=\"4xx\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "brink_request_duration_seconds_count"),
        Some(4.0),
        "{m}"
    );
    assert!(
        m.contains("brink_request_duration_seconds_bucket{le=\"+Inf\"} 4"),
        "{m}"
    );
    let open = sample(&m, "brink_open_connections").expect("brink_open_connections");
    // The client keeps its connection to the edge alive, so at least it is open.
    assert!(open >= 1.0, "open connections {open}\n{m}");

    let reply = get(&client, &format!("{admin}/status")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let v = reply.json();
    assert_eq!(v["node"], "edge-admin");
    assert_eq!(v["region"], "test");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_secs"].is_u64(), "{v}");
    let pools = v["pools"].as_array().expect("pools");
    assert_eq!(pools.len(), 1, "{v}");
    assert_eq!(pools[0]["name"], "default");
    let backends = pools[0]["backends"].as_array().expect("backends");
    assert_eq!(backends[0]["requests"], 4, "{v}");

    for path in ["/", "/nope", "/metrics/extra"] {
        let reply = get(&client, &format!("{admin}{path}")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    edge.shutdown().await;
}

/// Every family the README lists, by its `# TYPE` name.
const FAMILIES: [&str; 31] = [
    "brink_requests counter",
    "brink_request_duration_seconds histogram",
    "brink_connections counter",
    "brink_open_connections gauge",
    "brink_tls_handshake_failures counter",
    "brink_origin_requests counter",
    "brink_cache_lookups counter",
    "brink_cache_bytes gauge",
    "brink_cache_entries gauge",
    "brink_cache_evictions gauge",
    "brink_origin_backend_up gauge",
    "brink_origin_backend_ejected gauge",
    "brink_origin_backend_in_flight gauge",
    "brink_origin_backend_requests counter",
    "brink_origin_backend_failures counter",
    "brink_origin_backend_ejections counter",
    "brink_origin_connection_requests counter",
    "brink_origin_connections_opened counter",
    "brink_origin_health_checks counter",
    "brink_origin_health_transitions counter",
    "brink_origin_retries counter",
    "brink_origin_retries_denied counter",
    "brink_origin_failovers counter",
    "brink_origin_unavailable counter",
    "brink_config_generation gauge",
    "brink_config_reloads counter",
    "brink_config_last_reload_timestamp_seconds gauge",
    "brink_config_last_reload_success gauge",
    "brink_plugin_calls counter",
    "brink_plugin_instantiations counter",
    "brink_plugin_failures counter",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_one_exposition_with_every_family_once() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new().origin(origin.url()).start().await;
    let client = h1_client();
    let reply = get(&client, &format!("{}/echo", edge.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = get(&client, &format!("{}/metrics", edge.admin_url())).await;
    assert_eq!(
        reply.headers[http::header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let m = reply.text();
    assert!(m.ends_with("\n# EOF\n"), "{m}");
    assert_eq!(m.matches("# EOF").count(), 1, "{m}");
    let mut typed = std::collections::BTreeSet::new();
    for line in m.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            assert!(typed.insert(t.to_string()), "{t} twice:\n{m}");
        } else if !line.starts_with('#') {
            // Each sample belongs to a family already described.
            let name = line.split(['{', ' ']).next().unwrap_or("");
            assert!(
                typed
                    .iter()
                    .any(|t| name.starts_with(t.split(' ').next().unwrap_or("-"))),
                "{line} has no TYPE line before it:\n{m}"
            );
        }
    }
    for family in FAMILIES {
        assert!(typed.contains(family), "missing # TYPE {family}:\n{m}");
    }
    assert_eq!(typed.len(), FAMILIES.len(), "{typed:?}");
    assert_eq!(sample(&m, "brink_config_generation"), Some(1.0), "{m}");
    edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_process_has_admin() {
    let origin = EchoOrigin::start().await;
    let brink = BrinkProcess::serve_zero_config(&[&origin.url()], true);
    let client = h1_client();
    let reply = get(&client, &format!("{}/echo", brink.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = get(&client, &format!("{}/healthz", brink.admin_url())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let v = get(&client, &format!("{}/status", brink.admin_url()))
        .await
        .json();
    assert_eq!(v["node"], "brink");
    assert_eq!(v["pools"][0]["backends"][0]["requests"], 1, "{v}");
}

const TOKEN_VAR: &str = "BRINK_TEST_ZERO_CONFIG_ADMIN_TOKEN";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_admin_token_from_env_allows_purge() {
    let origin = ScriptOrigin::start().await;
    origin.set("/k", Script::cached("k", "max-age=600"));
    let token = "zero-config-admin-token";
    let brink = BrinkProcess::serve_zero_config_with(
        &[&origin.url()],
        &["--admin", "127.0.0.1:0", "--admin-token-env", TOKEN_VAR],
        &[(TOKEN_VAR, token)],
    );
    let client = h1_client();
    let url = format!("{}/k", brink.url());
    get(&client, &url).await;
    let r = get(&client, &url).await;
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));

    for wrong in [None, Some("wrong"), Some("zero-config-admin-token-x")] {
        let r = purge(&client, brink.admin_url(), "url=/k", wrong).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
    }
    let r = purge(&client, brink.admin_url(), "url=/k", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["purged"], 1, "{}", r.text());
    let r = get(&client, &url).await;
    assert!(!cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    assert_eq!(origin.count("/k"), 2);

    // Authorised, but there is no file to reload.
    let bearer = format!("Bearer {token}");
    let reload = format!("{}/reload", brink.admin_url());
    let r = request_with(
        &client,
        Method::POST,
        &reload,
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = request_with(&client, Method::POST, &reload, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn zero_config_admin_token_env_must_be_set() {
    let flags = ["--admin", "127.0.0.1:0", "--admin-token-env", TOKEN_VAR];
    let origin = ["http://127.0.0.1:9"];
    for (env, unset, what) in [
        (&[][..], &[TOKEN_VAR][..], "is not set"),
        (&[(TOKEN_VAR, "")][..], &[][..], "is empty"),
    ] {
        let (status, _, stderr) =
            BrinkProcess::zero_config_exit(&origin, &flags, env, unset, Duration::from_secs(20));
        assert!(!status.success(), "{what}: {status}\n{stderr}");
        assert!(
            stderr.contains(&format!("environment variable {TOKEN_VAR} {what}")),
            "{what}: {stderr}"
        );
    }
}
