//! Hot reload: how long from a file change to the new generation serving, and
//! what a burst of reloads costs the requests being served meanwhile.
//!
//! Runs the release `brink serve` (build it first: `cargo build --release -p
//! brink`) with a built-in origin and the `fx_echo` plugin (it answers with
//! `x-plugin-version: <config version>`) on `/products/42` (cache hits after
//! the first request: the path every request takes is plugins + cache).
//!
//! 1. File change -> serving, median over `RELOADS` (default 20) reloads, two
//!    kinds: a config-only change (the compiled component is reused) and a
//!    new component (compiled again). The clock starts before the first file
//!    is replaced and stops at the first response with the new version; it
//!    includes the watcher's 250 ms debounce. `POST /reload` timings (no
//!    debounce) are shown beside them.
//! 2. Requests/s of `CONNS` (default 32) closed-loop keep-alive clients in
//!    this process: `STEADY` seconds (default 5) without reloads, then during
//!    a burst of 10 back-to-back reloads that each compile a new component.
//!
//! `cargo bench -p brink-bench --bench reload` (env: RELOADS, CONNS, STEADY).
//! Prints a table and writes `bench/results/reload-<UTC time>.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use brink_tests::{BrinkProcess, h1_client, request_with};
use http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::json;

const TOKEN: &str = "bench-admin-token";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(version: &str) -> String {
    format!(
        r#"[node]
name = "bench-edge"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token = "{TOKEN}"

[log]
access_log = false

[[origins]]
name = "shop"
address = "127.0.0.1:0"

[[pools]]
name = "shop"
backends = ["origin:shop"]

[[routes]]
path_prefix = "/"
pool = "shop"
plugins = ["echo"]

[[plugins]]
name = "echo"
wasm = "echo.wasm"

[plugins.config]
version = "{version}"
"#
    )
}

fn echo_wasm() -> Vec<u8> {
    let p = Path::new(brink::plugin::GUEST_DIR).join("fx_echo.wasm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The component with a custom section appended: other bytes, same behaviour.
fn variant(component: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(5, &mut payload);
    payload.extend_from_slice(b"bench");
    payload.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("bench-tmp");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

async fn served_version(url: &str) -> String {
    let r = request_with(&h1_client(), Method::GET, url, &[]).await;
    r.header("x-plugin-version").unwrap_or("-").to_string()
}

async fn post_reload(admin: &str) -> serde_json::Value {
    let auth = format!("Bearer {TOKEN}");
    let r = request_with(
        &h1_client(),
        Method::POST,
        &format!("{admin}/reload"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn median_ms(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn pct_ms(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

struct Sample {
    end: Instant,
    latency: Duration,
    ok: bool,
    error: Option<String>,
}

/// Closed-loop clients until `stop`.
async fn load(url: String, conns: usize, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let url = url.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let client = h1_client();
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let req = Request::get(&url).body(brink::body::empty()).expect("req");
                let error = match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.into_body().collect().await {
                            Ok(_) if status == 200 => None,
                            Ok(b) => Some(format!(
                                "{status}: {}",
                                String::from_utf8_lossy(&b.to_bytes())
                            )),
                            Err(e) => Some(format!("body: {e:?}")),
                        }
                    }
                    Err(e) => Some(format!("{e:?}")),
                };
                out.push(Sample {
                    end: Instant::now(),
                    latency: start.elapsed(),
                    ok: error.is_none(),
                    error,
                });
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    all
}

/// Requests/s, failures and p99 (ms) of the samples that ended in `[from, to)`.
fn window(samples: &[Sample], from: Instant, to: Instant) -> serde_json::Value {
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.end >= from && s.end < to)
        .collect();
    let secs = (to - from).as_secs_f64();
    let mut lat: Vec<Duration> = inside.iter().map(|s| s.latency).collect();
    json!({
        "seconds": secs,
        "requests": inside.len(),
        "failed": inside.iter().filter(|s| !s.ok).count(),
        "req_per_s": inside.len() as f64 / secs,
        "p50_ms": if lat.is_empty() { 0.0 } else { pct_ms(&mut lat, 0.5) },
        "p99_ms": if lat.is_empty() { 0.0 } else { pct_ms(&mut lat, 0.99) },
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

/// A running `brink serve` with its directory, edge URL and admin URL.
struct Site {
    process: BrinkProcess,
    dir: PathBuf,
    url: String,
    admin: String,
}

impl Site {
    /// Serves `config("v0")` with `echo.wasm` from a fresh directory.
    fn start(wasm: &[u8], extra: &'static [&'static str]) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("echo.wasm"), wasm).expect("write wasm");
        let process = BrinkProcess::serve_in_with(dir, &config("v0"), extra);
        Site {
            dir: process.dir().expect("dir"),
            url: format!("{}/products/42", process.url()),
            admin: process.admin_url().to_string(),
            process,
        }
    }

    /// Writes the files of `version` (a new component too for `plugin`).
    fn write(&self, kind: &str, wasm: &[u8], version: &str) {
        if kind == "plugin" {
            replace(&self.dir.join("echo.wasm"), &variant(wasm, version));
        }
        replace(&self.dir.join("config.toml"), config(version).as_bytes());
    }
}

async fn run() {
    let reloads = env_or("RELOADS", 20) as usize;
    let conns = env_or("CONNS", 32) as usize;
    let steady = Duration::from_secs(env_or("STEADY", 5));
    let wasm = echo_wasm();
    // One node that watches its files, one that reloads only on POST /reload.
    let p = Site::start(&wasm, &[]);
    let q = Site::start(&wasm, &["--no-watch"]);
    for _ in 0..200 {
        served_version(&p.url).await;
        served_version(&q.url).await;
    }

    // 1. File change -> new generation serving.
    let mut results = serde_json::Map::new();
    for kind in ["config", "plugin"] {
        let row = latency(kind, &p, &q, &wasm, reloads).await;
        results.insert(kind.into(), row);
    }

    // 2. Requests/s steady vs during a burst of 10 reloads (the node without
    // a watcher; the other one is stopped first).
    drop(p);
    let (steady_w, burst_w) = throughput(&q, &wasm, conns, steady).await;
    let ratio = burst_w["req_per_s"].as_f64().unwrap_or(0.0)
        / steady_w["req_per_s"].as_f64().unwrap_or(1.0);
    println!("during reloads / steady: {ratio:.2} ({conns} connections)");

    let started = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "-");
    let report = json!({
        "benchmark": "reload",
        "started_utc": started,
        "settings": { "reloads": reloads, "connections": conns, "steady_s": steady.as_secs(), "path": "/products/42" },
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "latency": results,
        "throughput": { "steady": steady_w, "burst_of_10_reloads": burst_w, "ratio": ratio },
    });
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let _ = std::fs::create_dir_all(&out_dir);
    let out = out_dir.join(format!("reload-{started}.json"));
    std::fs::write(&out, serde_json::to_string_pretty(&report).expect("json")).expect("write");
    println!("wrote {}", out.display());
}

/// Part 1 for one kind of change: file change -> serving on `p` (which
/// watches its files), `POST /reload` on `q` (no debounce). Prints the row.
async fn latency(kind: &str, p: &Site, q: &Site, wasm: &[u8], reloads: usize) -> serde_json::Value {
    let mut took = Vec::new();
    let mut reload_ms = Vec::new();
    for i in 0..reloads {
        let version = format!("{kind}-{i}");
        let t0 = Instant::now();
        p.write(kind, wasm, &version);
        while served_version(&p.url).await != version {
            if t0.elapsed() > Duration::from_secs(30) {
                panic!(
                    "version {version} not served after 30 s:\n{}",
                    p.process.stderr()
                );
            }
        }
        took.push(t0.elapsed());
        let status = request_with(
            &h1_client(),
            Method::GET,
            &format!("{}/status", p.admin),
            &[],
        )
        .await
        .json();
        reload_ms.push(Duration::from_secs_f64(
            status["config"]["last_reload"]["duration_ms"]
                .as_f64()
                .unwrap_or(0.0)
                / 1000.0,
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut admin_took = Vec::new();
    for i in 0..reloads {
        let version = format!("{kind}-admin-{i}");
        q.write(kind, wasm, &version);
        let t0 = Instant::now();
        post_reload(&q.admin).await;
        admin_took.push(t0.elapsed());
        assert_eq!(served_version(&q.url).await, version);
    }
    let row = json!({
        "file_change_to_serving_median_ms": median_ms(&mut took),
        "file_change_to_serving_p90_ms": pct_ms(&mut took, 0.9),
        "reload_work_median_ms": median_ms(&mut reload_ms),
        "post_reload_median_ms": median_ms(&mut admin_took),
    });
    println!(
        "{kind:>7} change: file -> serving median {:.1} ms (p90 {:.1}), reload work median {:.1} ms, POST /reload median {:.1} ms",
        row["file_change_to_serving_median_ms"]
            .as_f64()
            .unwrap_or(0.0),
        row["file_change_to_serving_p90_ms"].as_f64().unwrap_or(0.0),
        row["reload_work_median_ms"].as_f64().unwrap_or(0.0),
        row["post_reload_median_ms"].as_f64().unwrap_or(0.0),
    );
    row
}

/// Part 2: `conns` clients on `q` for `steady`, then during 10 reloads that
/// each compile a new component. Prints and returns both windows.
async fn throughput(
    q: &Site,
    wasm: &[u8],
    conns: usize,
    steady: Duration,
) -> (serde_json::Value, serde_json::Value) {
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(q.url.clone(), conns, stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let steady_from = Instant::now();
    tokio::time::sleep(steady).await;
    let steady_to = Instant::now();
    for i in 0..10 {
        q.write("plugin", wasm, &format!("burst-{i}"));
        post_reload(&q.admin).await;
    }
    let burst_to = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let samples = loader.await.expect("load");
    for s in samples.iter().filter_map(|s| s.error.as_ref()).take(5) {
        println!("failed request: {s}");
    }
    let steady_w = window(&samples, steady_from, steady_to);
    let burst_w = window(&samples, steady_to, burst_to);
    for (name, w) in [("steady", &steady_w), ("10 reloads", &burst_w)] {
        println!(
            "{name:>10}: {:.0} req/s over {:.2} s, p50 {:.2} ms, p99 {:.2} ms, {} failed of {}",
            w["req_per_s"].as_f64().unwrap_or(0.0),
            w["seconds"].as_f64().unwrap_or(0.0),
            w["p50_ms"].as_f64().unwrap_or(0.0),
            w["p99_ms"].as_f64().unwrap_or(0.0),
            w["failed"],
            w["requests"],
        );
    }
    (steady_w, burst_w)
}
