//! Origin pools end to end: every strategy's distribution, a backend killed
//! under load (no failed GET, ejected), readmission after `rise` checks, POST
//! never replayed, backups / fallback pools, 503 + Retry-After when all is
//! down, connection reuse, and zero-config defaults. Origins are real
//! `brink origin` processes or in-process demo origins on 127.0.0.1:0.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brink::admin::AdminHandler;
use brink::config::Config;
use brink::demo_origin::{self, OriginHandle, OriginOptions};
use brink::node::Node;
use brink_tests::{BrinkProcess, get, h1_client, refused_addr, within};
use http::{Request, StatusCode};
use http_body_util::BodyExt;

/// Upper bound for "eventually" conditions here.
const SETTLE: Duration = Duration::from_secs(20);

async fn origin(name: &str) -> OriginHandle {
    origin_at("127.0.0.1:0".parse().unwrap(), name).await
}

async fn origin_at(addr: SocketAddr, name: &str) -> OriginHandle {
    let opts = OriginOptions {
        name: name.to_string(),
        ..OriginOptions::default()
    };
    demo_origin::start(addr, opts).await.expect("origin starts")
}

/// An in-process edge with one pool `default` written as `pool` (the lines
/// after `name`), extra TOML after it, a route `/` (cache off: every request
/// goes to the pool) and an admin listener.
struct Edge {
    node: Option<Node>,
    url: String,
    admin: String,
}

impl Edge {
    async fn start(pool: &str, extra: &str) -> Edge {
        let toml = format!(
            "[node]\nname = \"pool-edge\"\nregion = \"test\"\n\n[[listeners]]\naddress = \"127.0.0.1:0\"\n\n\
             [admin]\naddress = \"127.0.0.1:0\"\ntoken = \"test-admin-token\"\n\n\
             [log]\naccess_log = false\n\n\
             [[routes]]\npath_prefix = \"/\"\npool = \"default\"\n\n\
             [routes.cache]\nenabled = false\n\n\
             [[pools]]\nname = \"default\"\n{pool}\n\n{extra}\n"
        );
        let config = Config::parse(&toml, "<pools-test>", std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("invalid config:\n{e}\n---\n{toml}"));
        let node = Node::start(config)
            .await
            .expect("node starts")
            .with_admin(AdminHandler::new)
            .await
            .expect("admin starts");
        let url = node.listeners()[0].url();
        let admin = format!("http://{}", node.admin_addr().expect("admin"));
        Edge {
            node: Some(node),
            url,
            admin,
        }
    }

    async fn status(&self) -> serde_json::Value {
        get(&h1_client(), &format!("{}/status", self.admin))
            .await
            .json()
    }

    /// The `/status` entry of the backend at `url` in pool `pool`.
    async fn backend(&self, pool: &str, url: &str) -> serde_json::Value {
        let v = self.status().await;
        let p = v["pools"]
            .as_array()
            .expect("pools")
            .iter()
            .find(|p| p["name"] == pool)
            .unwrap_or_else(|| panic!("no pool {pool}: {v}"))
            .clone();
        p["backends"]
            .as_array()
            .expect("backends")
            .iter()
            .find(|b| {
                b["url"]
                    .as_str()
                    .is_some_and(|u| u.trim_end_matches('/') == url)
            })
            .unwrap_or_else(|| panic!("no backend {url}: {p}"))
            .clone()
    }

    async fn metrics(&self) -> String {
        get(&h1_client(), &format!("{}/metrics", self.admin))
            .await
            .text()
    }

    /// Polls `/status` until `cond` holds for the backend, within [`SETTLE`].
    async fn wait_backend(
        &self,
        url: &str,
        what: &str,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        within(SETTLE, what, async {
            loop {
                let b = self.backend("default", url).await;
                if cond(&b) {
                    return b;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(node) = self.node.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(node.shutdown());
        }
    }
}

fn backends(urls: &[&str]) -> String {
    let list: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    format!("backends = [{}]", list.join(", "))
}

/// `GET path` `n` times; the `x-origin` of each answer, all of which must be 200.
async fn names(edge: &Edge, paths: impl IntoIterator<Item = String>) -> Vec<String> {
    let client = h1_client();
    let mut out = Vec::new();
    for path in paths {
        let reply = get(&client, &format!("{}{path}", edge.url)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
        out.push(reply.header("x-origin").expect("x-origin").to_string());
    }
    out
}

fn tally(names: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

fn same_path(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|_| "/products/1".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_follows_weights_exactly() {
    let (a, b, c) = (origin("a").await, origin("b").await, origin("c").await);
    let pool = format!(
        "backends = [{:?}, {{ url = {:?}, weight = 2 }}, {{ url = {:?}, weight = 3 }}]\nstrategy = \"round_robin\"",
        a.url(),
        b.url(),
        c.url()
    );
    let edge = Edge::start(&pool, "").await;
    let got = names(&edge, same_path(60)).await;
    let t = tally(&got);
    assert_eq!((t["a"], t["b"], t["c"]), (10, 20, 30), "{got:?}");
    // Smooth: never three of the same in a row with these weights.
    assert!(
        got.windows(4).all(|w| !w.iter().all(|n| n == &w[0])),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_spreads_by_weight() {
    let (a, b) = (origin("a").await, origin("b").await);
    let pool = format!(
        "backends = [{:?}, {{ url = {:?}, weight = 3 }}]\nstrategy = \"random\"",
        a.url(),
        b.url()
    );
    let edge = Edge::start(&pool, "").await;
    let t = tally(&names(&edge, same_path(200)).await);
    let (na, nb) = (t.get("a").copied().unwrap_or(0), t["b"]);
    assert!(na >= 10 && nb > na, "a={na} b={nb}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_avoids_the_busy_backend() {
    let slow = demo_origin::start(
        "127.0.0.1:0".parse().unwrap(),
        OriginOptions {
            name: "slow".into(),
            latency: Duration::from_millis(400),
            ..OriginOptions::default()
        },
    )
    .await
    .unwrap();
    let fast = origin("fast").await;
    let pool = format!(
        "{}\nstrategy = \"least_connections\"",
        backends(&[&slow.url(), &fast.url()])
    );
    let edge = Arc::new(Edge::start(&pool, "").await);
    // Four clients in parallel, 15 requests each.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let edge = edge.clone();
        tasks.push(tokio::spawn(
            async move { names(&edge, same_path(15)).await },
        ));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(within(SETTLE, "clients", t).await.expect("client task"));
    }
    let t = tally(&all);
    let (s, f) = (t.get("slow").copied().unwrap_or(0), t["fast"]);
    assert_eq!(s + f, 60);
    assert!(
        f >= 4 * s,
        "slow={s} fast={f}: the busy backend should get few requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_ewma_prefers_the_fast_backend() {
    let slow = demo_origin::start(
        "127.0.0.1:0".parse().unwrap(),
        OriginOptions {
            name: "slow".into(),
            latency: Duration::from_millis(30),
            ..OriginOptions::default()
        },
    )
    .await
    .unwrap();
    let fast = origin("fast").await;
    let pool = format!(
        "{}\nstrategy = \"p2c_ewma\"",
        backends(&[&slow.url(), &fast.url()])
    );
    let edge = Edge::start(&pool, "").await;
    let t = tally(&names(&edge, same_path(60)).await);
    let s = t.get("slow").copied().unwrap_or(0);
    assert!(s <= 3, "the slow backend got {s} of 60: {t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_pins_keys_and_moves_only_the_leaving_backends() {
    let (a, b, c) = (origin("a").await, origin("b").await, origin("c").await);
    let pool = format!(
        "{}\nstrategy = \"consistent_hash\"\n[pools.health_check]\npath = \"/healthz\"\ninterval = \"100ms\"\nfall = 1\nrise = 1\njitter = \"0s\"",
        backends(&[&a.url(), &b.url(), &c.url()])
    );
    let edge = Edge::start(&pool, "").await;
    let paths: Vec<String> = (1..=90).map(|i| format!("/products/{i}")).collect();
    let first = names(&edge, paths.clone()).await;
    let again = names(&edge, paths.clone()).await;
    assert_eq!(first, again, "the same key goes to the same backend");
    let t = tally(&first);
    assert_eq!(t.len(), 3, "keys spread over every backend: {t:?}");

    // b fails its health checks: only b's keys move.
    b.set_fail_healthz(true);
    edge.wait_backend(&b.url(), "b down", |v| v["healthy"] == false)
        .await;
    let after = names(&edge, paths.clone()).await;
    for (i, (before, now)) in first.iter().zip(&after).enumerate() {
        if before != "b" {
            assert_eq!(before, now, "key {} moved from {before}", paths[i]);
        } else {
            assert_ne!(now, "b");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_hash_pins_a_client_address() {
    let (a, b, c) = (origin("a").await, origin("b").await, origin("c").await);
    let pool = format!(
        "{}\nstrategy = \"ip_hash\"",
        backends(&[&a.url(), &b.url(), &c.url()])
    );
    let edge = Edge::start(&pool, "").await;
    let paths = (1..=30).map(|i| format!("/products/{i}"));
    let t = tally(&names(&edge, paths).await);
    assert_eq!(t.len(), 1, "one client address, one backend: {t:?}");
}

/// Outcome of a bounded load run.
#[derive(Debug, Default)]
struct Load {
    ok: usize,
    failed: Vec<String>,
    by_origin: HashMap<String, usize>,
}

/// One sequential client plus `concurrent` parallel ones sending GETs until `deadline`.
async fn load(url: String, concurrent: usize, deadline: Instant) -> Load {
    let mut tasks = Vec::new();
    for w in 0..=concurrent {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = h1_client();
            let mut out = Load::default();
            let mut i = 0usize;
            while Instant::now() < deadline {
                i += 1;
                let req = Request::get(format!("{url}/products/{}", (w * 1000 + i) % 997 + 1))
                    .body(brink::body::empty())
                    .unwrap();
                let outcome = tokio::time::timeout(Duration::from_secs(10), async {
                    let resp = client.request(req).await.map_err(|e| e.to_string())?;
                    let status = resp.status();
                    let origin = resp
                        .headers()
                        .get("x-origin")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_string();
                    resp.into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("body: {e}"))?;
                    Ok::<_, String>((status, origin))
                })
                .await;
                match outcome {
                    Ok(Ok((StatusCode::OK, origin))) => {
                        out.ok += 1;
                        *out.by_origin.entry(origin).or_insert(0) += 1;
                    }
                    Ok(Ok((status, origin))) => out.failed.push(format!("{status} from {origin}")),
                    Ok(Err(e)) => out.failed.push(e),
                    Err(_) => out.failed.push("timed out".into()),
                }
            }
            out
        }));
    }
    let mut total = Load::default();
    for t in tasks {
        let l = t.await.expect("load task");
        total.ok += l.ok;
        total.failed.extend(l.failed);
        for (k, v) in l.by_origin {
            *total.by_origin.entry(k).or_insert(0) += v;
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backend_under_load_fails_no_get_and_is_ejected() {
    let a = BrinkProcess::origin(&["--name", "a"]);
    let b = BrinkProcess::origin(&["--name", "b"]);
    let a_url = a.url().to_string();
    let pool = format!(
        "{}\n[pools.outlier]\nconsecutive_failures = 2\nbase_ejection = \"60s\"",
        backends(&[&a_url, b.url()])
    );
    let edge = Edge::start(&pool, "").await;
    let start = Instant::now();
    let run = tokio::spawn(load(edge.url.clone(), 4, start + Duration::from_secs(2)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    // SIGKILL: open connections are reset, new ones refused.
    tokio::task::spawn_blocking(move || drop(a))
        .await
        .expect("kill a");
    let result = within(SETTLE, "load run", run).await.expect("load");
    assert!(
        result.failed.is_empty(),
        "{} failed GETs of {}: {:?}",
        result.failed.len(),
        result.ok + result.failed.len(),
        &result.failed[..result.failed.len().min(10)]
    );
    assert!(
        result.by_origin.get("a").copied().unwrap_or(0) > 0,
        "{result:?}"
    );
    assert!(result.by_origin["b"] > 0, "{result:?}");
    let st = edge.backend("default", &a_url).await;
    assert_eq!(st["ejected"], true, "{st}");
    assert_eq!(st["available"], false, "{st}");
    assert!(st["ejections"].as_u64() >= Some(1), "{st}");
    // Retries did the rescuing.
    let v = edge.status().await;
    assert!(v["pools"][0]["retries"].as_u64() >= Some(1), "{v}");
    // Afterwards everything goes to b.
    let t = tally(&names(&edge, same_path(10)).await);
    assert_eq!(t.get("b"), Some(&10), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_comes_back_is_readmitted_after_rise_checks() {
    let a = origin("a").await;
    let b = origin("b").await;
    let a_addr = a.addr();
    let a_url = a.url();
    let pool = format!(
        "{}\n[pools.health_check]\npath = \"/healthz\"\ninterval = \"100ms\"\ntimeout = \"500ms\"\nrise = 3\nfall = 2\njitter = \"0s\"",
        backends(&[&a_url, &b.url()])
    );
    let edge = Edge::start(&pool, "").await;
    edge.wait_backend(&a_url, "first passed check", |v| {
        v["health_checks"]["passed"].as_u64() >= Some(1)
    })
    .await;

    a.shutdown().await;
    let st = edge
        .wait_backend(&a_url, "a marked down", |v| v["healthy"] == false)
        .await;
    assert_eq!(st["health_checks"]["went_down"], 1, "{st}");
    let t = tally(&names(&edge, same_path(6)).await);
    assert_eq!(t.get("b"), Some(&6), "{t:?}");

    // Back on the same address: up again only after `rise` = 3 passed checks.
    let a2 = origin_at(a_addr, "a").await;
    let st = edge
        .wait_backend(&a_url, "a readmitted", |v| v["healthy"] == true)
        .await;
    assert_eq!(st["health_checks"]["went_up"], 1, "{st}");
    assert!(
        a2.stats().healthz >= 3,
        "readmitted after {} checks",
        a2.stats().healthz
    );
    let t = tally(&names(&edge, same_path(6)).await);
    assert_eq!((t.get("a"), t.get("b")), (Some(&3), Some(&3)), "{t:?}");

    // Health-check failure on a live backend takes it out too, and back.
    b.set_fail_healthz(true);
    edge.wait_backend(&b.url(), "b down", |v| v["healthy"] == false)
        .await;
    let t = tally(&names(&edge, same_path(4)).await);
    assert_eq!(t.get("a"), Some(&4), "{t:?}");
    b.set_fail_healthz(false);
    edge.wait_backend(&b.url(), "b up", |v| v["healthy"] == true)
        .await;
    let m = edge.metrics().await;
    assert!(
        m.contains("brink_origin_health_transitions_total{pool=\"default\"")
            && m.contains("to=\"down\"} 1"),
        "{m}"
    );
}

/// `/stats` of a `brink origin` process.
async fn stats(p: &BrinkProcess) -> serde_json::Value {
    get(&h1_client(), &format!("{}/stats", p.url()))
        .await
        .json()
}

async fn post_order(edge: &Edge) -> StatusCode {
    let req = Request::post(format!("{}/api/orders", edge.url))
        .header("content-type", "application/json")
        .body(brink::body::full("{\"sku\":42,\"qty\":1}"))
        .unwrap();
    brink_tests::send(&h1_client(), req).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_is_never_replayed_once_sent() {
    let failing = BrinkProcess::origin(&["--name", "failing", "--fail-rate", "1.0"]);
    let slow = BrinkProcess::origin(&["--name", "slow", "--latency-ms", "1500"]);
    let good = BrinkProcess::origin(&["--name", "good"]);
    let pool = format!(
        "{}\ntimeout = \"300ms\"\n[pools.outlier]\nenabled = false",
        backends(&[failing.url(), slow.url(), good.url()])
    );
    let edge = Edge::start(&pool, "").await;

    // GETs: a 503 or a timeout is retried on another backend.
    let got = names(&edge, same_path(9)).await;
    assert_eq!(tally(&got).get("good"), Some(&9), "{got:?}");

    // POSTs: whatever a backend answered once the order was sent is final.
    let mut statuses = Vec::new();
    for _ in 0..9 {
        statuses.push(post_order(&edge).await);
    }
    let (f, s, g) = (
        stats(&failing).await,
        stats(&slow).await,
        stats(&good).await,
    );
    let orders = |v: &serde_json::Value| v["orders"].as_u64().unwrap();
    let count = |code: StatusCode| statuses.iter().filter(|s| **s == code).count() as u64;
    assert_eq!(
        orders(&f) + orders(&s) + orders(&g),
        9,
        "each POST reached exactly one origin: {statuses:?}"
    );
    assert_eq!(
        orders(&f),
        count(StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert_eq!(
        orders(&s),
        count(StatusCode::GATEWAY_TIMEOUT),
        "{statuses:?}"
    );
    assert_eq!(orders(&g), count(StatusCode::CREATED), "{statuses:?}");
    assert!(orders(&f) >= 1 && orders(&s) >= 1, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_is_retried_when_nothing_was_sent() {
    let good = BrinkProcess::origin(&["--name", "good"]);
    let dead = format!("http://{}", refused_addr());
    let pool = format!(
        "{}\n[pools.outlier]\nenabled = false",
        backends(&[&dead, good.url()])
    );
    let edge = Edge::start(&pool, "").await;
    for _ in 0..6 {
        assert_eq!(post_order(&edge).await, StatusCode::CREATED);
    }
    assert_eq!(stats(&good).await["orders"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_then_fallback_pool_then_503_with_retry_after() {
    let backup = origin("backup").await;
    let spare = origin("spare").await;
    let (dead1, dead2) = (
        format!("http://{}", refused_addr()),
        format!("http://{}", refused_addr()),
    );
    let check = "[pools.health_check]\npath = \"/healthz\"\ninterval = \"100ms\"\ntimeout = \"300ms\"\nfall = 1\nrise = 1\njitter = \"0s\"";

    // A dead primary and a live backup: the backup answers every request.
    let pool = format!(
        "backends = [{dead1:?}, {{ url = {:?}, backup = true }}]\n{check}",
        backup.url()
    );
    let edge = Edge::start(&pool, "").await;
    let t = tally(&names(&edge, same_path(5)).await);
    assert_eq!(t.get("backup"), Some(&5), "{t:?}");
    drop(edge);

    // Every backend of the pool down: its fallback pool answers.
    let pool = format!(
        "{}\nfallback = \"spare\"\n{check}",
        backends(&[&dead1, &dead2])
    );
    let extra = format!("[[pools]]\nname = \"spare\"\n{}", backends(&[&spare.url()]));
    let edge = Edge::start(&pool, &extra).await;
    let t = tally(&names(&edge, same_path(5)).await);
    assert_eq!(t.get("spare"), Some(&5), "{t:?}");
    drop(edge);

    // Nothing available at all: 503 with Retry-After once health checks know.
    let pool = format!("{}\n{check}", backends(&[&dead1, &dead2]));
    let edge = Edge::start(&pool, "").await;
    for d in [&dead1, &dead2] {
        edge.wait_backend(d, "dead backend marked down", |v| v["healthy"] == false)
            .await;
    }
    let reply = get(&h1_client(), &format!("{}/products/1", edge.url)).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert!(reply.header("retry-after").is_some(), "{:?}", reply.headers);
    let v = edge.status().await;
    assert_eq!(v["pools"][0]["available"], false, "{v}");
    assert!(v["pools"][0]["unavailable"].as_u64() >= Some(1), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_are_reused_and_retired_by_age() {
    let a = origin("a").await;
    let edge = Edge::start(&backends(&[&a.url()]), "").await;
    names(&edge, same_path(40)).await;
    let st = edge.backend("default", &a.url()).await;
    let (new, reused) = (
        st["connections"]["new"].as_u64().unwrap(),
        st["connections"]["reused"].as_u64().unwrap(),
    );
    assert_eq!(new + reused, 40, "{st}");
    assert!(reused >= 30, "{st}");
    let m = edge.metrics().await;
    assert!(
        m.contains("brink_origin_connection_requests_total{pool=\"default\"")
            && m.contains(&format!("connection=\"reused\"}} {reused}")),
        "{m}"
    );
    drop(edge);

    // A connection older than max_connection_lifetime is not reused again.
    let pool = format!(
        "{}\nmax_connection_lifetime = \"1ms\"",
        backends(&[&a.url()])
    );
    let edge = Edge::start(&pool, "").await;
    for _ in 0..10 {
        names(&edge, same_path(1)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let st = edge.backend("default", &a.url()).await;
    assert!(st["connections"]["new"].as_u64() >= Some(5), "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_has_health_checks_ejection_and_retries() {
    let a = BrinkProcess::origin(&["--name", "a"]);
    let b = BrinkProcess::origin(&["--name", "b"]);
    let a_url = a.url().to_string();
    let edge = BrinkProcess::serve_zero_config(&[&a_url, b.url()], true);
    let client = h1_client();
    let status = || async {
        get(&client, &format!("{}/status", edge.admin_url()))
            .await
            .json()
    };
    let v = status().await;
    assert_eq!(v["pools"][0]["health_check"], "GET /", "{v}");
    tokio::task::spawn_blocking(move || drop(a))
        .await
        .expect("kill a");
    for i in 0..20 {
        let reply = get(&client, &format!("{}/products/{}", edge.url(), i + 1)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.header("x-origin"), Some("b"));
    }
    within(SETTLE, "a marked down by health checks", async {
        loop {
            let v = status().await;
            if v["pools"][0]["backends"][0]["healthy"] == false {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_timeout_cuts_a_slow_body_and_first_byte_timeout_gives_504() {
    let echo = brink_tests::EchoOrigin::start().await;
    let pool = format!(
        "{}\ntotal_timeout = \"400ms\"\n[pools.retry]\nattempts = 1",
        backends(&[&echo.url()])
    );
    let edge = Edge::start(&pool, "").await;
    // The head comes at once, the body takes 10 x 200 ms: cut off at 400 ms.
    let req = Request::get(format!("{}/stream?chunks=10&ms=200", edge.url))
        .body(brink::body::empty())
        .unwrap();
    let resp = within(
        Duration::from_secs(5),
        "response head",
        h1_client().request(req),
    )
    .await
    .expect("head");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = within(
        Duration::from_secs(5),
        "body ends",
        resp.into_body().collect(),
    )
    .await;
    assert!(body.is_err(), "the body should be cut off: {body:?}");
    // No head within the total deadline: 504.
    let reply = get(&h1_client(), &format!("{}/slow?ms=2000", edge.url)).await;
    assert_eq!(
        reply.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        reply.text()
    );
}
