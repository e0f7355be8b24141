//! `brink loadtest` end to end: the real binary against a built-in origin and
//! an in-process edge, its JSON report checked against the origin's `/stats`,
//! its HTML report checked for charts (and, when Debian's chromium is
//! installed, rendered by headless Chromium).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use brink::demo_origin::{self, OriginHandle, OriginOptions};
use brink_tests::{EdgeHandle, TestEdge, brink_bin, within};
use serde_json::Value;

/// Upper bound for one load-test process (500 requests take well under a second).
const RUN_LIMIT: Duration = Duration::from_secs(120);

async fn origin() -> OriginHandle {
    demo_origin::start(
        "127.0.0.1:0".parse().expect("addr"),
        OriginOptions::default(),
    )
    .await
    .expect("start the built-in origin")
}

async fn edge(origin: &OriginHandle) -> EdgeHandle {
    TestEdge::new().origin(origin.url()).start().await
}

/// Runs `brink loadtest ARGS` to completion.
async fn loadtest(args: &[String]) -> Output {
    let mut cmd = tokio::process::Command::new(brink_bin());
    cmd.arg("loadtest").args(args).kill_on_drop(true);
    within(RUN_LIMIT, "brink loadtest", cmd.output())
        .await
        .expect("run brink loadtest")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(path: &Path) -> Value {
    let body = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&body).expect("the report is JSON")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Report kind -> the origin's `/stats` class.
const KIND_CLASSES: [(&str, &str); 6] = [
    ("images", "images"),
    ("product_fragments", "fragments_product"),
    ("product_pages", "products"),
    ("recommendations", "fragments_recommendations"),
    ("inventory", "inventory"),
    ("orders", "orders"),
];

/// Requests of `kind` that went on to the origin themselves: origin-tier
/// responses not coalesced with another request on the way.
fn forwarded(report: &Value, kind: &str) -> u64 {
    let k = &report["kinds"][kind];
    if k.is_null() {
        return 0;
    }
    u(&k["tiers"]["origin"]["requests"]) - u(&k["tiers"]["origin"]["collapsed"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_agree_with_the_origin_stats() {
    let origin = origin().await;
    let edge = edge(&origin).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let html = dir.path().join("report.html");
    let out = loadtest(&[
        "--target".into(),
        format!("us-east={}", edge.url()),
        "--requests".into(),
        "500".into(),
        "--concurrency".into(),
        "8".into(),
        "--json".into(),
        json.display().to_string(),
        "--html".into(),
        html.display().to_string(),
        "--no-progress".into(),
        "--origin-stats".into(),
        format!("{}/stats", origin.url()),
    ])
    .await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "loadtest failed: {}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    assert!(stdout.contains("us-east"), "{stdout}");
    assert!(stdout.contains("hit ratio"), "{stdout}");

    let r = read_json(&json);
    assert_eq!(u(&r["requests"]), 500, "{r:#}");
    assert_eq!(u(&r["responses"]), 500, "{:#}", r["errors"]);
    for e in ["connect", "timeout", "status_4xx", "status_5xx", "other"] {
        assert_eq!(u(&r["errors"][e]), 0, "{e}: {:#}", r["errors"]);
    }
    let region = &r["regions"]["us-east"];
    assert_eq!(u(&region["requests"]), 500);
    for field in ["hit_ratio", "ideal_hit_ratio", "shield_hit_ratio"] {
        let v = region[field].as_f64().expect(field);
        assert!((0.0..=1.0).contains(&v), "{field} = {v}");
    }
    let tiers = &r["tiers"];
    let served: u64 = ["edge", "shield", "origin"]
        .iter()
        .map(|t| u(&tiers[t]["requests"]))
        .sum();
    assert_eq!(served, 500);
    let kinds: u64 = r["kinds"]
        .as_object()
        .expect("kinds")
        .values()
        .map(|k| u(&k["requests"]))
        .sum();
    assert_eq!(kinds, 500);
    // Uncacheable kinds always reach the origin.
    for kind in ["inventory", "orders"] {
        if let Some(k) = r["kinds"].get(kind) {
            assert_eq!(u(&k["tiers"]["edge"]["requests"]), 0, "{kind}");
        }
    }

    // What the origin counted, read by the test itself ...
    let stats = origin.stats();
    // ... is what the report read from /stats (nothing else talked to it) ...
    let counted = &r["origins"][0]["counted"];
    assert_eq!(u(&counted["total"]), stats.total, "{counted:#}");
    // ... and agrees with the report, whether or not the edge caches: every
    // origin-tier response that was not coalesced with another went to the
    // origin once, and nothing else did.
    let origin_tier = u(&tiers["origin"]["requests"]);
    assert!(origin_tier <= 500);
    let mut forwarded_total = 0;
    for (kind, class) in KIND_CLASSES {
        let f = forwarded(&r, kind);
        forwarded_total += f;
        assert_eq!(
            u(&counted[class]),
            f,
            "{kind}: the origin counted {} {class}, the report has {f} origin-tier fetches\n{:#}",
            counted[class],
            r["kinds"]
        );
    }
    assert_eq!(stats.total, forwarded_total + stats.healthz + stats.other);
    assert!(forwarded_total <= origin_tier);
    // Offload is the share not served by the origin tier.
    let offload = r["offload"]["requests"].as_f64().expect("offload");
    assert!((offload - (500 - origin_tier) as f64 / 500.0).abs() < 1e-9);

    let page = std::fs::read_to_string(&html).expect("the HTML report exists");
    assert_eq!(page.matches("<svg").count(), 3, "three charts");
    assert!(page.contains("id=\"hit-ratio-over-time\""));
    assert!(page.contains("id=\"latency-distribution\""));
    for external in ["http://", "https://", "src=", "href=", "url(", "<script"] {
        assert!(!page.contains(external), "the HTML names {external:?}");
    }
    edge.shutdown().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_spread_over_regions_and_a_trace_cycles_through_them() {
    let origin = origin().await;
    let a = edge(&origin).await;
    let b = edge(&origin).await;
    let dir = tempfile::tempdir().expect("temp dir");

    // Synthetic workload: 4 users over 2 regions.
    let json = dir.path().join("zipf.json");
    let out = loadtest(&[
        "--target".into(),
        format!("us-east={}", a.url()),
        "--target".into(),
        format!("eu-west={}", b.url()),
        "--requests".into(),
        "200".into(),
        "--concurrency".into(),
        "4".into(),
        "--zipf".into(),
        "1.2".into(),
        "--catalog".into(),
        "50".into(),
        "--cache-objects".into(),
        "5".into(),
        "--json".into(),
        json.display().to_string(),
        "--no-progress".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = read_json(&json);
    assert_eq!(u(&r["requests"]), 200);
    assert_eq!(u(&r["ideal"]["cache_objects"]), 5);
    for region in ["us-east", "eu-west"] {
        let n = u(&r["regions"][region]["requests"]);
        assert!(n > 0, "{region} got no request");
    }

    // Replay: 6 access-log lines, alternating regions.
    let trace = dir.path().join("access.log");
    let mut log = String::new();
    for path in [
        "/products/1",
        "/products/1",
        "/images/2.jpg",
        "/images/2.jpg",
        "/products/1",
        "/fragments/product/3",
    ] {
        log.push_str(&format!(
            "127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] \"GET {path} HTTP/1.1\" 200 100 \"-\" \"curl/8\"\n"
        ));
    }
    std::fs::write(&trace, log).expect("write trace");
    let json = dir.path().join("trace.json");
    let out = loadtest(&[
        "--target".into(),
        format!("us-east={}", a.url()),
        "--target".into(),
        format!("eu-west={}", b.url()),
        "--trace".into(),
        trace.display().to_string(),
        "--concurrency".into(),
        "1".into(),
        "--cache-objects".into(),
        "1".into(),
        "--json".into(),
        json.display().to_string(),
        "--no-progress".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = read_json(&json);
    assert_eq!(r["run"]["mode"], "trace");
    assert_eq!(u(&r["requests"]), 6);
    assert_eq!(u(&r["regions"]["us-east"]["requests"]), 3);
    assert_eq!(u(&r["regions"]["eu-west"]["requests"]), 3);
    // Line i goes to region i % 2. us-east saw /products/1, /images/2.jpg,
    // /products/1: one object holds /products/1, one ideal hit.
    assert_eq!(u(&r["regions"]["us-east"]["ideal_hits"]), 1);
    // eu-west saw three different keys once each: none is hittable.
    assert_eq!(u(&r["regions"]["eu-west"]["ideal_hits"]), 0);
    assert_eq!(r["ideal"]["ranking"], "observed");

    a.shutdown().await;
    b.shutdown().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_with_target_and_bad_flags_fail() {
    let out = loadtest(&[
        "--config".into(),
        "fleet.toml".into(),
        "--target".into(),
        "us-east=http://127.0.0.1:1".into(),
    ])
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("not both"), "{err}");

    let out = loadtest(&["--no-progress".into(), "--requests".into(), "1".into()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--target"),
        "{}",
        text(&out.stderr)
    );

    let out = loadtest(&["--target".into(), "us-east=https://127.0.0.1:1".into()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("http://"),
        "{}",
        text(&out.stderr)
    );
}

/// The Chromium binary: `$BRINK_CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("BRINK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.is_file().then_some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_renders_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        // CI can insist with BRINK_REQUIRE_CHROMIUM=1.
        assert!(
            std::env::var_os("BRINK_REQUIRE_CHROMIUM").is_none(),
            "BRINK_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing (apt-get install chromium)"
        );
        println!(
            "SKIP html_report_renders_in_headless_chromium: /usr/bin/chromium is not installed \
             (apt-get install chromium, or set BRINK_CHROMIUM=PATH)"
        );
        return;
    };
    let origin = origin().await;
    let edge = edge(&origin).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("report.html");
    let out = loadtest(&[
        "--target".into(),
        format!("us-east={}", edge.url()),
        "--duration".into(),
        "2s".into(),
        "--concurrency".into(),
        "4".into(),
        "--html".into(),
        html.display().to_string(),
        "--no-progress".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    edge.shutdown().await;
    origin.shutdown().await;

    let url = format!("file://{}", html.display());
    let profile = dir.path().join("profile");
    let run = |extra: Vec<String>| {
        let mut cmd = tokio::process::Command::new(&chromium);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url)
        .kill_on_drop(true);
        async move {
            within(Duration::from_secs(90), "headless chromium", cmd.output())
                .await
                .expect("run chromium")
        }
    };

    // The DOM Chromium built from the file: every chart is an SVG element
    // with its drawing inside.
    let out = run(vec!["--dump-dom".into()]).await;
    assert!(
        out.status.success(),
        "chromium --dump-dom: {}",
        text(&out.stderr)
    );
    let dom = text(&out.stdout);
    assert_eq!(dom.matches("<svg").count(), 3, "{dom}");
    assert!(
        dom.contains("<polyline"),
        "the hit-ratio line is in the DOM"
    );
    assert!(dom.contains("<rect"), "the latency bars are in the DOM");
    assert!(dom.contains("Regions"));

    // And a screenshot of the rendered page (charts included) is a real image.
    let png = dir.path().join("report.png");
    let out = run(vec![
        format!("--screenshot={}", png.display()),
        "--window-size=1200,1800".into(),
        "--hide-scrollbars".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        text(&out.stderr)
    );
    let image = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(image.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        image.len() > 20_000,
        "suspiciously small screenshot: {} bytes",
        image.len()
    );
    if let Ok(keep) = std::env::var("BRINK_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&png, keep);
    }
}
