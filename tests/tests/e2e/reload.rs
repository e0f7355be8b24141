//! Hot reload end to end: the real `brink serve` binary reloads its config
//! and plugins (file change, `SIGHUP`, `POST /reload`) with zero failed
//! requests, refuses bad changes while it keeps serving, lets requests in
//! flight finish on their generation, keeps its cache, and splits traffic
//! to a canary version.
//!
//! The plugin is the `fx_echo` fixture: it adds `x-plugin-version: <config
//! version>` to the request (echoed back by [`EchoOrigin`]) and to the response.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brink_tests::{BrinkProcess, EchoOrigin, Reply, cache_status, h1_client, request_with, within};
use http::{Method, Request};
use http_body_util::BodyExt;

const TOKEN: &str = "reload-admin-token";

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(brink::plugin::GUEST_DIR).join(format!("{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The component with a custom section appended: same behaviour, other
/// bytes, so the node must compile it as a new plugin.
fn variant(component: &[u8], tag: &str) -> Vec<u8> {
    let name = b"brink-test";
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0);
    leb128(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// The node's config: routes `/cached/` (cached 5 minutes) and `/` (not
/// cached) to the echo origin, both running plugin `echo` from `echo.wasm`
/// with `version`. `plugin_extra` is appended to the plugin entry (after its
/// `[plugins.config]` table), `tail` to the file.
fn config(origin: &str, version: &str, plugin_extra: &str, tail: &str) -> String {
    format!(
        r#"[node]
name = "reload-edge"
region = "test"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token = "{TOKEN}"

[log]
access_log = false

[[pools]]
name = "echo"
backends = ["{origin}"]

[[routes]]
path_prefix = "/cached/"
pool = "echo"
plugins = ["echo"]

[routes.cache]
force_ttl = "5m"

[[routes]]
path_prefix = "/"
pool = "echo"
plugins = ["echo"]

[routes.cache]
enabled = false

[[plugins]]
name = "echo"
wasm = "echo.wasm"

[plugins.config]
version = "{version}"
{plugin_extra}
{tail}
"#
    )
}

/// A temp dir holding `echo.wasm` (the echo fixture) and the node started from `toml`.
fn start(toml: &str, extra_args: &[&str]) -> BrinkProcess {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("echo.wasm"), fixture("fx_echo")).expect("write wasm");
    BrinkProcess::serve_in_with(dir, toml, extra_args)
}

fn dir_of(p: &BrinkProcess) -> PathBuf {
    p.dir().expect("started from a temp dir")
}

/// Replaces a file the way deploy tools do: write a temporary, rename it over.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-new");
    std::fs::write(&tmp, bytes).expect("write temporary");
    std::fs::rename(&tmp, path).expect("rename over");
}

/// 1-based line of the first line of `text` starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}"))
        + 1
}

async fn get(url: &str) -> Reply {
    request_with(&h1_client(), Method::GET, url, &[]).await
}

async fn version(url: &str) -> String {
    let r = get(url).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("x-plugin-version").unwrap_or("-").to_string()
}

/// The request-phase version the origin saw (echoed in its JSON).
fn echoed_version(reply: &Reply) -> Option<String> {
    reply.json()["headers"]
        .as_array()?
        .iter()
        .find_map(|h| (h[0] == "x-plugin-version").then(|| h[1].as_str().unwrap_or("").to_string()))
}

async fn admin(p: &BrinkProcess, method: Method, path: &str) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    request_with(
        &h1_client(),
        method,
        &format!("{}{path}", p.admin_url()),
        &[("authorization", &auth)],
    )
    .await
}

async fn status(p: &BrinkProcess) -> serde_json::Value {
    admin(p, Method::GET, "/status").await.json()
}

async fn metrics(p: &BrinkProcess) -> String {
    admin(p, Method::GET, "/metrics").await.text()
}

/// Polls until `url` answers with plugin version `want`; returns how long it took.
async fn until_version(url: &str, want: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    within(limit, &format!("plugin version {want} at {url}"), async {
        while version(url).await != want {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    t0.elapsed()
}

/// What the load loop saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    failures: Vec<String>,
    versions: HashMap<String, u64>,
}

/// `workers` clients in closed loops against `url` until `stop` is set
/// (and at most `limit`), each on its own keep-alive connection.
async fn load(url: String, workers: usize, stop: Arc<AtomicBool>, limit: Duration) -> Tally {
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let url = url.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let client = h1_client();
            let mut t = Tally::default();
            let end = Instant::now() + limit;
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                let req = Request::get(&url)
                    .body(brink::body::empty())
                    .expect("request");
                let outcome = tokio::time::timeout(Duration::from_secs(5), async {
                    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
                    let status = resp.status();
                    let version = resp
                        .headers()
                        .get("x-plugin-version")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_string();
                    let body = resp
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    if status != 200 {
                        return Err(format!(
                            "{status}: {}",
                            String::from_utf8_lossy(&body.to_bytes())
                        ));
                    }
                    Ok(version)
                })
                .await;
                match outcome {
                    Ok(Ok(v)) => {
                        t.ok += 1;
                        *t.versions.entry(v).or_default() += 1;
                    }
                    Ok(Err(e)) => t.failures.push(e),
                    Err(_) => t.failures.push("timed out".into()),
                }
            }
            t
        }));
    }
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await.expect("load worker");
        all.ok += t.ok;
        all.failures.extend(t.failures);
        for (v, n) in t.versions {
            *all.versions.entry(v).or_default() += n;
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_the_plugin_under_load_fails_no_request() {
    let origin = EchoOrigin::start().await;
    let p = start(&config(&origin.url(), "v1", "", ""), &[]);
    let url = format!("{}/echo", p.url());
    assert_eq!(version(&url).await, "v1");

    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(url.clone(), 6, stop.clone(), Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The new version: new component bytes and a new config, as a deploy writes them.
    let dir = dir_of(&p);
    replace(&dir.join("echo.wasm"), &variant(&fixture("fx_echo"), "v2"));
    replace(
        &dir.join("config.toml"),
        config(&origin.url(), "v2", "", "").as_bytes(),
    );
    let took = until_version(&url, "v2", Duration::from_secs(5)).await;
    eprintln!("new version served {took:?} after the files changed");
    for l in p.stderr().lines().filter(|l| l.contains("reload")) {
        eprintln!("{l}");
    }
    // Every request from now on runs the new version.
    for _ in 0..20 {
        assert_eq!(version(&url).await, "v2");
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    let tally = loader.await.expect("load");
    eprintln!(
        "load: {} ok, {} failed, versions {:?}",
        tally.ok,
        tally.failures.len(),
        tally.versions
    );

    assert!(
        tally.failures.is_empty(),
        "{} of {} requests failed during the reload: {:?}",
        tally.failures.len(),
        tally.ok + tally.failures.len() as u64,
        &tally.failures[..tally.failures.len().min(5)]
    );
    assert!(tally.ok > 50, "too little load: {} requests", tally.ok);
    assert!(
        tally.versions.get("v1").is_some_and(|n| *n > 0),
        "{:?}",
        tally.versions
    );
    assert!(
        tally.versions.get("v2").is_some_and(|n| *n > 0),
        "{:?}",
        tally.versions
    );
    assert_eq!(tally.versions.len(), 2, "{:?}", tally.versions);

    let s = status(&p).await;
    assert!(s["config"]["generation"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["config"]["last_reload"]["ok"], true, "{s}");
    assert_eq!(s["config"]["last_reload"]["trigger"], "file", "{s}");
    let m = metrics(&p).await;
    assert!(
        m.contains("brink_config_reloads_total{result=\"ok\"}"),
        "{m}"
    );
    assert!(
        m.contains("brink_config_reloads_total{result=\"error\"} 0"),
        "{m}"
    );
}

#[tokio::test]
async fn bad_changes_are_refused_while_the_old_config_keeps_serving() {
    let origin = EchoOrigin::start().await;
    let good = config(&origin.url(), "v1", "", "");
    // No watcher: each change is applied by POST /reload, so the answers are deterministic.
    let p = start(&good, &["--no-watch"]);
    let url = format!("{}/echo", p.url());
    let dir = dir_of(&p);
    let file = dir.join("config.toml").display().to_string();
    assert_eq!(version(&url).await, "v1");

    let syntax = good.replace("version = \"v1\"", "version = \"v2");
    let unknown_key = good.replace("wasm = \"echo.wasm\"", "wasm = \"echo.wasm\"\nbogus = 1");
    let missing = good
        .replace("wasm = \"echo.wasm\"", "wasm = \"missing.wasm\"")
        .replace("\"v1\"", "\"v2\"");
    let wasm_line = line_of(&good, "wasm = ");
    let cases = [
        (
            "syntax error",
            format!("{file}:{}:", line_of(&syntax, "version = ")),
            syntax,
        ),
        (
            "unknown key",
            format!(
                "{file}:{}:1: plugins[0].bogus: unknown field `bogus`",
                wasm_line + 1
            ),
            unknown_key,
        ),
        (
            "missing file",
            format!("{file}:{wasm_line}:8: plugins[0].wasm: file not found: "),
            missing,
        ),
    ];
    for (what, expected, text) in &cases {
        std::fs::write(dir.join("config.toml"), text).expect("write config");
        let r = admin(&p, Method::POST, "/reload").await;
        assert_eq!(r.status, 422, "{what}: {}", r.text());
        let body = r.json();
        assert_eq!(body["reloaded"], false, "{what}: {body}");
        assert_eq!(body["generation"], 1, "{what}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected.as_str()), "{what}: {error}");
        assert_eq!(
            version(&url).await,
            "v1",
            "{what}: the old config must keep serving"
        );
        let s = status(&p).await;
        assert_eq!(s["config"]["last_reload"]["ok"], false, "{s}");
        assert_eq!(s["config"]["last_reload"]["error"], error, "{s}");
    }

    // A plugin file that is not a component, with a valid config.
    std::fs::write(dir.join("config.toml"), &good).expect("write config");
    std::fs::write(dir.join("echo.wasm"), b"this is not a component").expect("write wasm");
    let r = admin(&p, Method::POST, "/reload").await;
    assert_eq!(r.status, 422, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.starts_with(&format!(
            "{file}:{wasm_line}:8: plugins[0].wasm: cannot compile plugin echo"
        )),
        "{error}"
    );
    assert_eq!(version(&url).await, "v1");
    assert!(
        p.stderr().contains("config reload refused"),
        "{}",
        p.stderr()
    );

    let m = metrics(&p).await;
    assert!(m.contains("brink_config_generation 1\n"), "{m}");
    assert!(
        m.contains("brink_config_reloads_total{result=\"error\"} 4"),
        "{m}"
    );
    assert!(m.contains("brink_config_last_reload_success 0"), "{m}");

    // A good change is applied; without the token nothing happens.
    std::fs::write(dir.join("echo.wasm"), fixture("fx_echo")).expect("write wasm");
    std::fs::write(dir.join("config.toml"), config(&origin.url(), "v2", "", ""))
        .expect("write config");
    let r = request_with(
        &h1_client(),
        Method::POST,
        &format!("{}/reload", p.admin_url()),
        &[],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = admin(&p, Method::POST, "/reload").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["reloaded"], true);
    assert_eq!(r.json()["generation"], 2);
    assert_eq!(version(&url).await, "v2");
    let m = metrics(&p).await;
    assert!(m.contains("brink_config_generation 2\n"), "{m}");
    assert!(m.contains("brink_config_last_reload_success 1"), "{m}");
}

#[tokio::test]
async fn sighup_reloads() {
    let origin = EchoOrigin::start().await;
    let p = start(&config(&origin.url(), "v1", "", ""), &["--no-watch"]);
    let url = format!("{}/echo", p.url());
    std::fs::write(
        dir_of(&p).join("config.toml"),
        config(&origin.url(), "v2", "", ""),
    )
    .expect("write config");
    // Without the watcher nothing changes by itself.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(version(&url).await, "v1");

    let status = std::process::Command::new("kill")
        .args(["-HUP", &p.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    until_version(&url, "v2", Duration::from_secs(5)).await;
    assert!(p.try_exit().is_none(), "SIGHUP must not stop the process");
    let s = self::status(&p).await;
    assert_eq!(s["config"]["generation"], 2, "{s}");
    assert_eq!(s["config"]["last_reload"]["trigger"], "sighup", "{s}");
}

#[tokio::test]
async fn a_slow_request_finishes_on_the_generation_it_started_on() {
    let origin = EchoOrigin::start().await;
    let p = start(&config(&origin.url(), "v1", "", ""), &["--no-watch"]);
    let slow_url = format!("{}/slow?ms=1500", p.url());
    let slow = tokio::spawn(async move { get(&slow_url).await });
    // The slow request has passed the plugin and reached the origin.
    within(
        Duration::from_secs(5),
        "slow request at the origin",
        async {
            while origin.in_flight() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        },
    )
    .await;
    std::fs::write(
        dir_of(&p).join("config.toml"),
        config(&origin.url(), "v2", "", ""),
    )
    .expect("write config");
    let r = admin(&p, Method::POST, "/reload").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(version(&format!("{}/echo", p.url())).await, "v2");

    let r = within(Duration::from_secs(10), "slow request", slow)
        .await
        .expect("slow task");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "slow 1500\n");
    assert_eq!(
        r.header("x-plugin-version"),
        Some("v1"),
        "the response phase runs on the old generation"
    );
}

#[tokio::test]
async fn cached_entries_survive_a_reload() {
    let origin = EchoOrigin::start().await;
    let p = start(&config(&origin.url(), "v1", "", ""), &["--no-watch"]);
    let url = format!("{}/cached/page", p.url());
    let first = get(&url).await;
    assert_eq!(first.status, 200);
    let r = get(&url).await;
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    let at_origin = origin.requests();

    std::fs::write(
        dir_of(&p).join("config.toml"),
        config(&origin.url(), "v2", "", ""),
    )
    .expect("write config");
    assert_eq!(admin(&p, Method::POST, "/reload").await.status, 200);

    let r = get(&url).await;
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    assert_eq!(origin.requests(), at_origin, "served from the cache");
    // The stored body is the origin's answer to the v1 request; the
    // response phase ran on the new generation.
    assert_eq!(echoed_version(&r).as_deref(), Some("v1"));
    assert_eq!(r.header("x-plugin-version"), Some("v2"));
}

#[tokio::test]
async fn a_reload_applies_a_new_cache_capacity_and_keeps_what_fits() {
    let origin = EchoOrigin::start().await;
    let sized = |bytes: u64| {
        config(
            &origin.url(),
            "v1",
            "",
            &format!("[cache]\ncapacity_bytes = {bytes}\n"),
        )
    };
    let p = start(&sized(8 << 20), &["--no-watch"]);
    let url = format!("{}/cached/page", p.url());
    assert_eq!(get(&url).await.status, 200);
    assert_eq!(status(&p).await["cache"]["capacity_bytes"], 8 << 20);

    std::fs::write(dir_of(&p).join("config.toml"), sized(1 << 20)).expect("write config");
    assert_eq!(admin(&p, Method::POST, "/reload").await.status, 200);
    let cache = status(&p).await["cache"].clone();
    assert_eq!(cache["capacity_bytes"], 1 << 20, "{cache}");
    assert_eq!(cache["entries"], 1, "{cache}");
    let r = get(&url).await;
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));
}

#[tokio::test]
async fn listeners_are_added_and_removed_by_a_reload() {
    let origin = EchoOrigin::start().await;
    let one = config(&origin.url(), "v1", "", "");
    let two = config(
        &origin.url(),
        "v1",
        "",
        "[[listeners]]\naddress = \"127.0.0.1:0\"\n",
    );
    let p = start(&one, &["--no-watch"]);
    let first = p.url().to_string();
    std::fs::write(dir_of(&p).join("config.toml"), &two).expect("write config");
    assert_eq!(admin(&p, Method::POST, "/reload").await.status, 200);
    let listeners: Vec<String> =
        serde_json::from_value(status(&p).await["listeners"].clone()).expect("listener list");
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    assert_eq!(listeners[0], first, "an unchanged listener is kept");
    let added = listeners[1].clone();
    assert_eq!(version(&format!("{added}/echo")).await, "v1");

    std::fs::write(dir_of(&p).join("config.toml"), &one).expect("write config");
    assert_eq!(admin(&p, Method::POST, "/reload").await.status, 200);
    let listeners = status(&p).await["listeners"].clone();
    assert_eq!(listeners, serde_json::json!([first]));
    let addr = brink_tests::url_addr(&added);
    within(
        Duration::from_secs(5),
        "the removed listener closes",
        async {
            while tokio::net::TcpStream::connect(addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
    assert_eq!(version(&format!("{first}/echo")).await, "v1");

    // An address that cannot be bound refuses the whole reload.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr");
    let busy = config(
        &origin.url(),
        "v2",
        "",
        &format!("[[listeners]]\naddress = \"{taken_addr}\"\n"),
    );
    std::fs::write(dir_of(&p).join("config.toml"), &busy).expect("write config");
    let r = admin(&p, Method::POST, "/reload").await;
    assert_eq!(r.status, 422, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap_or_default().to_string();
    let file = dir_of(&p).join("config.toml").display().to_string();
    let line = busy
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("[[listeners]]"))
        .nth(1)
        .map(|(n, _)| n + 1)
        .expect("second listener");
    assert!(
        error.starts_with(&format!(
            "{file}:{line}:1: listeners[1].address: cannot listen on {taken_addr}"
        )),
        "{error}"
    );
    assert_eq!(version(&format!("{first}/echo")).await, "v1");
    assert_eq!(status(&p).await["listeners"], serde_json::json!([first]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_gets_its_share_and_is_counted_per_version() {
    let origin = EchoOrigin::start().await;
    let canary = "\n[plugins.canary]\nwasm = \"echo-canary.wasm\"\npercent = 25\nconfig = { version = \"canary\" }\n";
    let toml = config(&origin.url(), "stable", canary, "");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("echo.wasm"), fixture("fx_echo")).expect("write wasm");
    std::fs::write(
        dir.path().join("echo-canary.wasm"),
        variant(&fixture("fx_echo"), "canary"),
    )
    .expect("write wasm");
    let p = BrinkProcess::serve_in_with(dir, &toml, &["--no-watch"]);
    let url = format!("{}/echo", p.url());

    let total = 400;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..total / 4 {
                let r = get(&url).await;
                assert_eq!(r.status, 200, "{}", r.text());
                let response_phase = r.header("x-plugin-version").unwrap_or("-").to_string();
                let request_phase = echoed_version(&r).unwrap_or_default();
                assert_eq!(request_phase, response_phase, "both phases run one version");
                seen.push(response_phase);
            }
            seen
        }));
    }
    let mut counts: HashMap<String, u64> = HashMap::new();
    for t in tasks {
        for v in t.await.expect("client") {
            *counts.entry(v).or_default() += 1;
        }
    }
    let canary_n = counts.get("canary").copied().unwrap_or(0);
    let stable_n = counts.get("stable").copied().unwrap_or(0);
    assert_eq!(canary_n + stable_n, total, "{counts:?}");
    // 25 % of 400 is 100, with a standard deviation of about 8.7: allow ±5 sd.
    assert!(
        (57..=143).contains(&canary_n),
        "canary share {canary_n}/{total}"
    );

    // Two calls per request (request and response phase), per version.
    let m = metrics(&p).await;
    for (v, n) in [("canary", canary_n), ("stable", stable_n)] {
        let line = format!(
            "brink_plugin_calls_total{{plugin=\"echo\",version=\"{v}\"}} {}",
            2 * n
        );
        assert!(m.contains(&line), "missing {line}:\n{m}");
    }
    assert!(m.contains(
        "brink_plugin_failures_total{plugin=\"echo\",version=\"canary\",kind=\"trap\"} 0"
    ));
    let s = status(&p).await;
    let entry = &s["plugins"][0];
    assert_eq!(entry["calls"], 2 * stable_n, "{s}");
    assert_eq!(entry["canary"]["calls"], 2 * canary_n, "{s}");
    assert_eq!(entry["canary"]["percent"], 25.0, "{s}");
}

/// An in-process node started from `dir/config.toml`, reloadable, no watcher.
async fn in_process(dir: &Path, toml: &str) -> brink::node::Node {
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).expect("write config");
    let config = brink::config::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let reload = brink::node::ReloadOptions {
        file: Some(path),
        watch: false,
    };
    brink::node::Node::start_with(config, reload)
        .await
        .unwrap_or_else(|e| panic!("node did not start: {e}"))
        .with_admin(brink::admin::AdminHandler::new)
        .await
        .unwrap_or_else(|e| panic!("admin did not start: {e}"))
}

fn pool_config(version: &str, backend: &str, health_path: &str) -> String {
    format!(
        r#"[[listeners]]
address = "127.0.0.1:0"

[[pools]]
name = "echo"
backends = ["{backend}"]

[pools.health_check]
path = "{health_path}"
interval = "50ms"
timeout = "1s"
fall = 1
rise = 1
jitter = "0s"

[[routes]]
path_prefix = "/"
pool = "echo"
plugins = ["echo"]

[[plugins]]
name = "echo"
wasm = "echo.wasm"

[plugins.config]
version = "{version}"
"#
    )
}

#[tokio::test]
async fn an_unchanged_pool_keeps_its_health_state_and_a_replaced_one_stops_its_checks() {
    let a = EchoOrigin::named("a").await;
    let b = EchoOrigin::named("b").await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("echo.wasm"), fixture("fx_echo")).expect("write wasm");
    // Backend a fails its health check (503): it goes down.
    let node = in_process(dir.path(), &pool_config("v1", &a.url(), "/status/503")).await;
    let pool = |node: &brink::node::Node| {
        node.shared()
            .generation()
            .pools
            .get("echo")
            .expect("pool echo")
            .clone()
    };
    let before = pool(&node);
    within(Duration::from_secs(5), "backend a goes down", async {
        while before.backends()[0].healthy() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // Another plugin version, the same pool: carried over, still down.
    std::fs::write(
        dir.path().join("config.toml"),
        pool_config("v2", &a.url(), "/status/503"),
    )
    .expect("write config");
    let r = node.reload().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.generation, 2);
    let after = pool(&node);
    assert!(
        Arc::ptr_eq(&before, &after),
        "an unchanged pool is carried over"
    );
    assert!(!after.backends()[0].healthy(), "with its health state");
    drop((before, after));

    // A changed pool is new; the old one's checks stop with the old generation.
    std::fs::write(
        dir.path().join("config.toml"),
        pool_config("v2", &b.url(), "/status/200"),
    )
    .expect("write config");
    assert_eq!(node.reload().await.expect("reload").generation, 3);
    let new = pool(&node);
    assert_eq!(new.backends()[0].uri.to_string(), format!("{}/", b.url()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let checks_at_a = a.requests();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        a.requests(),
        checks_at_a,
        "the old pool's health checks stopped"
    );
    assert!(b.requests() > 0, "the new pool checks its backend");
    let url = node.listeners()[0].url();
    assert_eq!(version(&format!("{url}/echo")).await, "v2");
    node.shutdown().await;
}

#[tokio::test]
async fn a_reload_refused_by_a_bad_plugin_keeps_everything() {
    let origin = EchoOrigin::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("echo.wasm"), fixture("fx_echo")).expect("write wasm");
    let node = in_process(dir.path(), &pool_config("v1", &origin.url(), "/status/200")).await;
    let before = node.shared().generation();
    // A component that traps is fine to load; one that is not a component is not.
    std::fs::write(dir.path().join("echo.wasm"), b"\0asm garbage").expect("write wasm");
    std::fs::write(
        dir.path().join("config.toml"),
        pool_config("v2", &origin.url(), "/status/200"),
    )
    .expect("write config");
    let err = node.reload().await.expect_err("refused");
    assert!(
        matches!(err, brink::node::reload::ReloadError::Invalid(_)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("plugins[0].wasm: cannot compile plugin echo"),
        "{err}"
    );
    let now = node.shared().generation();
    assert!(Arc::ptr_eq(&before, &now), "nothing was swapped");
    let url = node.listeners()[0].url();
    assert_eq!(version(&format!("{url}/echo")).await, "v1");
    let last = node.shared().config_status.last().expect("recorded");
    assert!(!last.ok);
    node.shutdown().await;
}

#[tokio::test]
async fn a_node_without_a_config_file_does_not_reload() {
    let origin = EchoOrigin::start().await;
    let edge = brink_tests::TestEdge::new()
        .origin(origin.url())
        .start()
        .await;
    let err = edge.node().reload().await.expect_err("no file");
    assert!(
        matches!(err, brink::node::reload::ReloadError::Unsupported(_)),
        "{err}"
    );
    let r = request_with(
        &h1_client(),
        Method::POST,
        &format!("{}/reload", edge.admin_url()),
        &[("authorization", "Bearer test-admin-token")],
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text());
    edge.shutdown().await;
}
