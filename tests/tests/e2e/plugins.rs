//! Wasm plugins end to end: the real server, real components (the sample
//! plugins built into the binary and the misbehaving fixtures the build
//! compiles), a real origin.

use std::path::Path;
use std::time::Duration;

use brink::admin::AdminHandler;
use brink::config::Config;
use brink::node::Node;
use brink_tests::{EchoOrigin, Reply, h1_client, send, within};
use http::Request;

const SECRET: &str = "test-secret";

fn fixture(name: &str) -> String {
    let p = Path::new(brink::plugin::GUEST_DIR).join(format!("{name}.wasm"));
    assert!(p.is_file(), "fixture missing: {}", p.display());
    p.display().to_string()
}

/// A node whose `/` route runs `chain`, with pools `a` (first origin) and `b`
/// (second origin), a plugin-free route `/free/`, and the `plugins` TOML.
async fn node(origins: &[&EchoOrigin], plugins: &str, chain: &[&str]) -> Node {
    let b = origins.get(1).unwrap_or(&origins[0]);
    let chain: Vec<String> = chain.iter().map(|c| format!("{c:?}")).collect();
    let text = format!(
        r#"
[node]
name = "plug-edge"
region = "eu-west"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[[pools]]
name = "a"
backends = ["{}"]

[[pools]]
name = "b"
backends = ["{}"]

[[routes]]
path_prefix = "/free/"
pool = "a"

[[routes]]
path_prefix = "/"
pool = "a"
plugins = [{}]

{plugins}
"#,
        origins[0].url(),
        b.url(),
        chain.join(", ")
    );
    let config = Config::parse(&text, "<plugins-test>", Path::new("."))
        .unwrap_or_else(|e| panic!("bad test config: {e}\n{text}"));
    Node::start(config)
        .await
        .expect("node starts")
        .with_admin(AdminHandler::new)
        .await
        .expect("admin starts")
}

fn edge_url(node: &Node) -> String {
    node.listeners()[0].url()
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut b = Request::get(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(&h1_client(), b.body(brink::body::empty()).unwrap()).await
}

fn echoed_header(reply: &Reply, name: &str) -> Option<String> {
    reply.json()["headers"]
        .as_array()
        .expect("headers list")
        .iter()
        .find(|h| h[0] == name)
        .map(|h| h[1].as_str().unwrap_or_default().to_string())
}

fn token(claims: serde_json::Value) -> String {
    brink::token::sign_hs256(&claims, SECRET)
}

const AUTH: &str = r#"
[[plugins]]
name = "auth"
wasm = "builtin:auth"
[plugins.config]
secret = "test-secret"
issuer = "brink-test"
audience = "shop"
public_prefixes = ["/images/"]
"#;

#[tokio::test]
async fn auth_rejects_bad_tokens_and_forwards_claims_of_good_ones() {
    let origin = EchoOrigin::start().await;
    let node = node(&[&origin], AUTH, &["auth"]).await;
    let url = format!("{}/echo", edge_url(&node));
    let now = brink::token::now_secs();
    let good = serde_json::json!({"sub": "u-42", "tier": "gold", "iss": "brink-test", "aud": "shop", "exp": now + 600});

    let missing = get_with(&url, &[]).await;
    assert_eq!(missing.status, 401);
    let www = missing
        .header("www-authenticate")
        .expect("WWW-Authenticate");
    assert!(www.starts_with("Bearer"), "{www}");

    let mut expired = good.clone();
    expired["exp"] = (now - 3600).into();
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = "someone-else".into();
    let bad_sig = brink::token::sign_hs256(&good, "not-the-secret");
    let mut no_exp = good.clone();
    no_exp.as_object_mut().expect("claims").remove("exp");
    for (what, t) in [
        ("expired", token(expired)),
        ("without exp", token(no_exp)),
        ("wrong issuer", token(wrong_iss)),
        ("bad signature", bad_sig),
    ] {
        let r = get_with(&url, &[("authorization", &format!("Bearer {t}"))]).await;
        assert_eq!(r.status, 401, "{what} must be refused");
        assert!(r.header("www-authenticate").is_some(), "{what}");
    }
    assert_eq!(
        origin.requests(),
        0,
        "refused requests never reach the origin"
    );

    let ok = get_with(
        &url,
        &[
            ("authorization", &format!("Bearer {}", token(good))),
            ("x-user-id", "spoofed"),
        ],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(echoed_header(&ok, "x-user-id").as_deref(), Some("u-42"));
    assert_eq!(echoed_header(&ok, "x-user-tier").as_deref(), Some("gold"));
    assert_eq!(
        echoed_header(&ok, "authorization"),
        None,
        "credential stripped"
    );

    let public = get_with(&format!("{}/images/1.jpg", edge_url(&node)), &[]).await;
    assert_eq!(public.status, 200, "public prefix needs no token");
    node.shutdown().await;
}

#[tokio::test]
async fn a_plugin_built_for_the_first_contract_still_runs_next_to_current_ones() {
    let origin = EchoOrigin::start().await;
    let plugins = format!(
        "{}{AUTH}",
        misbehaving("legacy", "fx_legacy", "response_body_limit = 65536")
    );
    let node = node(&[&origin], &plugins, &["legacy", "auth"]).await;
    let now = brink::token::now_secs();
    let good = token(
        serde_json::json!({"sub": "u-7", "iss": "brink-test", "aud": "shop", "exp": now + 600}),
    );
    let bearer = format!("Bearer {good}");
    let r = get_with(
        &format!("{}/echo?a=1", edge_url(&node)),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, 200);
    // The 0.1.0 plugin saw the request head and the client facts as records,
    // and its edit reached the origin after the 0.2.0 plugin's.
    let legacy = echoed_header(&r, "x-legacy").expect("x-legacy reached the origin");
    assert!(
        legacy.starts_with("GET 127.0.0.1/echo?a=1 from 127.0.0.1 in eu-west"),
        "{legacy}"
    );
    assert_eq!(echoed_header(&r, "x-user-id").as_deref(), Some("u-7"));
    // Its response phase ran too, with the request as the chain left it.
    assert_eq!(r.header("x-legacy-status"), Some("200 /echo"));
    let blocked = get_with(
        &format!("{}/echo", edge_url(&node)),
        &[("x-legacy-block", "1"), ("authorization", &bearer)],
    )
    .await;
    assert_eq!(blocked.status, 403);
    assert_eq!(blocked.text(), "legacy says no\n");

    // auth (0.2.0) declares only on-request: two requests, two calls; the
    // 0.1.0 plugin gets both hooks.
    let status = admin_status(&node).await;
    let by_name = |n: &str| {
        status["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .cloned()
            .unwrap()
    };
    let (auth, legacy) = (by_name("auth"), by_name("legacy"));
    assert_eq!(auth["abi"], "0.2.0");
    assert_eq!(auth["hooks"], serde_json::json!(["on-request"]));
    assert_eq!(auth["calls"], 1, "the blocked request never reached auth");
    assert_eq!(legacy["abi"], "0.1.0");
    assert_eq!(
        legacy["hooks"],
        serde_json::json!(["on-request", "on-response"])
    );
    assert_eq!(legacy["calls"], 3, "two requests, one response phase");
    node.shutdown().await;
}

#[tokio::test]
async fn router_picks_pools_and_its_split_holds() {
    let a = EchoOrigin::named("a").await;
    let b = EchoOrigin::named("b").await;
    let plugins = r#"
[[plugins]]
name = "router"
wasm = "builtin:router"
[plugins.config]
rules = [
  { header = "x-want=b", pool = "b" },
  { path_prefix = "/old/", redirect = "/new/", status = 301 },
  { path_prefix = "/beta/", pool = "b", rewrite_prefix = "/" },
  { path_prefix = "/split/", split = 30, pool = "b" },
]
"#;
    let node = node(&[&a, &b], plugins, &["router"]).await;
    let base = edge_url(&node);

    let r = get_with(&format!("{base}/echo"), &[("x-want", "b")]).await;
    assert_eq!(r.header("x-echo-origin"), Some("b"));
    let r = get_with(&format!("{base}/echo"), &[]).await;
    assert_eq!(r.header("x-echo-origin"), Some("a"));

    let r = get_with(&format!("{base}/old/thing"), &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/new/"));

    let r = get_with(&format!("{base}/beta/echo"), &[]).await;
    assert_eq!(r.header("x-echo-origin"), Some("b"));
    assert_eq!(r.json()["path"], "/echo", "prefix rewritten");

    let n = 400;
    let before = b.requests();
    for i in 0..n {
        let id = format!("user-{i}");
        let r = get_with(&format!("{base}/split/echo"), &[("x-user-id", &id)]).await;
        assert_eq!(r.status, 200);
    }
    let share = (b.requests() - before) as f64 / n as f64;
    assert!(
        (0.22..=0.38).contains(&share),
        "30% split sent {share:.3} of {n} ids to b"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn personalize_sets_the_segment_and_fills_the_placeholder() {
    let origin = EchoOrigin::start().await;
    let plugins = r#"
[[plugins]]
name = "personalize"
wasm = "builtin:personalize"
response_body_limit = 65536
[plugins.config]
prefixes = ["/fragments/recommendations", "/echo"]
"#;
    let node = node(&[&origin], plugins, &["personalize"]).await;
    let r = get_with(
        &format!("{}/echo?segment=evil", edge_url(&node)),
        &[("x-user-tier", "Gold")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-brink-segment"), Some("gold"));
    let j = r.json();
    assert_eq!(j["query"], "segment=gold", "client-given segment replaced");

    // Without a tier header or cookie the segment comes from the region.
    let r = get_with(&format!("{}/echo", edge_url(&node)), &[]).await;
    assert_eq!(r.header("x-brink-segment"), Some("region-eu-west"));
    node.shutdown().await;
}

fn misbehaving(name: &str, wasm: &str, extra: &str) -> String {
    format!(
        "[[plugins]]\nname = {name:?}\nwasm = {wasm:?}\n{extra}\n",
        wasm = fixture(wasm)
    )
}

/// A node whose `/echo` route runs the endless-loop fixture (20 ms deadline, fail_closed).
async fn looping_node(origin: &EchoOrigin) -> Node {
    let plugins = misbehaving(
        "loop",
        "fx_loop",
        "timeout = \"20ms\"\non_error = \"fail_closed\"",
    );
    node(&[origin], &plugins, &["loop"]).await
}

#[tokio::test]
async fn endless_loop_is_stopped_at_its_deadline_and_the_node_keeps_serving() {
    let origin = EchoOrigin::start().await;
    let node = looping_node(&origin).await;
    let base = edge_url(&node);
    let looping = tokio::spawn({
        let base = base.clone();
        async move { get_with(&format!("{base}/echo"), &[]).await }
    });
    let free = get_with(&format!("{base}/free/echo"), &[]).await;
    assert_eq!(free.status, 200, "other routes keep answering");
    let r = within(Duration::from_secs(5), "looping plugin request", looping)
        .await
        .unwrap();
    assert_eq!(r.status, 500, "fail_closed answers an error status");
    for _ in 0..3 {
        assert_eq!(get_with(&format!("{base}/echo"), &[]).await.status, 500);
    }
    let status = admin_status(&node).await;
    let p = &status["plugins"][0];
    assert_eq!(p["name"], "loop");
    assert_eq!(p["failures"]["timeout"], 4);
    assert_eq!(
        origin.requests(),
        1,
        "only the plugin-free request reached the origin"
    );
    node.shutdown().await;
}

/// The epoch ticker parks after a second without plugin calls; the next call
/// wakes it, so a loop is still stopped at its deadline.
#[tokio::test]
async fn endless_loop_after_an_idle_spell_is_still_stopped() {
    let origin = EchoOrigin::start().await;
    let node = looping_node(&origin).await;
    let base = edge_url(&node);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let r = within(
            Duration::from_secs(5),
            "looping plugin request after idling",
            get_with(&format!("{base}/echo"), &[]),
        )
        .await;
        assert_eq!(r.status, 500);
    }
    let status = admin_status(&node).await;
    assert_eq!(status["plugins"][0]["failures"]["timeout"], 2);
    node.shutdown().await;
}

#[tokio::test]
async fn a_fuel_budget_stops_an_endless_loop_next_to_unmetered_plugins() {
    let origin = EchoOrigin::start().await;
    let plugins = format!(
        "{}{}",
        misbehaving("echo", "fx_echo", ""),
        misbehaving(
            "loop",
            "fx_loop",
            "fuel = 1000000\ntimeout = \"10s\"\non_error = \"fail_closed\"",
        )
    );
    let node = node(&[&origin], &plugins, &["echo", "loop"]).await;
    let r = within(
        Duration::from_secs(5),
        "metered plugin request",
        get_with(&format!("{}/echo", edge_url(&node)), &[]),
    )
    .await;
    assert_eq!(r.status, 500, "fail_closed answers an error status");
    let status = admin_status(&node).await;
    let plugin = |name: &str| {
        status["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .expect("plugin listed")
    };
    assert_eq!(plugin("loop")["failures"]["fuel"], 1, "{status}");
    assert_eq!(plugin("loop")["failures"]["timeout"], 0, "{status}");
    assert_eq!(plugin("echo")["calls"], 1, "{status}");
    assert_eq!(origin.requests(), 0);
    node.shutdown().await;
}

#[tokio::test]
async fn unbounded_allocation_stops_at_the_memory_cap() {
    let origin = EchoOrigin::start().await;
    let plugins = misbehaving(
        "alloc",
        "fx_alloc",
        "max_memory_bytes = 16777216\ntimeout = \"2s\"\non_error = \"fail_closed\"",
    );
    let node = node(&[&origin], &plugins, &["alloc"]).await;
    let r = get_with(&format!("{}/echo", edge_url(&node)), &[]).await;
    assert_eq!(r.status, 500);
    let status = admin_status(&node).await;
    assert_eq!(status["plugins"][0]["failures"]["memory"], 1, "{status}");
    let free = get_with(&format!("{}/free/echo", edge_url(&node)), &[]).await;
    assert_eq!(free.status, 200);
    node.shutdown().await;
}

#[tokio::test]
async fn fail_open_skips_a_trapping_plugin_and_fail_closed_refuses() {
    let origin = EchoOrigin::start().await;
    let plugins = format!(
        "{}{}",
        misbehaving("trap-open", "fx_trap", "on_error = \"fail_open\""),
        misbehaving("echo", "fx_echo", "")
    );
    let node_open = node(&[&origin], &plugins, &["trap-open", "echo"]).await;
    let r = get_with(&format!("{}/echo", edge_url(&node_open)), &[]).await;
    assert_eq!(r.status, 200, "fail_open skips the trapping plugin");
    assert_eq!(
        echoed_header(&r, "x-plugin-version").as_deref(),
        Some("1"),
        "the next plugin still runs"
    );
    node_open.shutdown().await;

    let plugins = misbehaving("trap-closed", "fx_trap", "on_error = \"fail_closed\"");
    let node_closed = node(&[&origin], &plugins, &["trap-closed"]).await;
    let r = get_with(&format!("{}/echo", edge_url(&node_closed)), &[]).await;
    assert_eq!(r.status, 500);
    assert!(
        !r.text().contains("unreachable"),
        "no internals leak to clients"
    );
    node_closed.shutdown().await;
}

#[tokio::test]
async fn malformed_edits_never_reach_the_origin() {
    let origin = EchoOrigin::start().await;
    for mode in ["header", "value", "path", "status"] {
        let plugins = misbehaving(
            "bad",
            "fx_malformed",
            &format!("on_error = \"fail_closed\"\n[plugins.config]\nmode = {mode:?}"),
        );
        let node = node(&[&origin], &plugins, &["bad"]).await;
        let r = get_with(&format!("{}/echo", edge_url(&node)), &[]).await;
        assert_eq!(r.status, 500, "mode {mode}");
        let status = admin_status(&node).await;
        assert_eq!(
            status["plugins"][0]["failures"]["malformed"], 1,
            "mode {mode}"
        );
        node.shutdown().await;
    }
    assert_eq!(origin.requests(), 0);
}

#[tokio::test]
async fn reused_and_per_request_instances_both_work() {
    let origin = EchoOrigin::start().await;
    for (mode, expect) in [("reuse", ["1", "2", "3"]), ("per-request", ["1", "1", "1"])] {
        let plugins = misbehaving("counter", "fx_counter", &format!("instance = {mode:?}"));
        let node = node(&[&origin], &plugins, &["counter"]).await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let r = get_with(&format!("{}/echo", edge_url(&node)), &[]).await;
            assert_eq!(r.status, 200);
            seen.push(echoed_header(&r, "x-instance-calls").expect("counter header"));
        }
        assert_eq!(seen, expect, "instance = {mode}");
        node.shutdown().await;
    }
}

async fn admin_status(node: &Node) -> serde_json::Value {
    let url = format!("http://{}/status", node.admin_addr().expect("admin"));
    get_with(&url, &[]).await.json()
}
