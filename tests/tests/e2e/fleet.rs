//! Multi-region fleets: tiered caching through a shield, the loop check, and
//! a short `brink loadtest --config` against a demo-like fleet whose report
//! agrees with what the origins counted.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use brink::config::Config;
use brink::fleet::{Fleet, Role};
use brink_tests::{brink_bin, get, h1_client, within};
use serde_json::Value;

/// Two edges and a shield in front of one built-in origin; no plugins.
const FLEET: &str = r#"
[admin]
token = "fleet-admin-token"

[[origins]]
name = "shop"
address = "127.0.0.1:0"
catalog = 200

[[pools]]
name = "shop"
backends = ["origin:shop"]

[[routes]]
path_prefix = "/"
pool = "shop"

[[fleet.nodes]]
name = "shield"
region = "eu-central"
plugins = false

[[fleet.nodes]]
name = "edge-a"
region = "us-east"
parent = "shield"

[[fleet.nodes]]
name = "edge-b"
region = "ap-south"
parent = "shield"
"#;

fn member_url(fleet: &Fleet, name: &str) -> String {
    fleet
        .members
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.url())
        .unwrap_or_else(|| panic!("no member {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_in_one_region_is_a_shield_hit_in_another() {
    let config = Config::parse(FLEET, "<fleet>", Path::new(".")).expect("fleet config");
    let fleet = Fleet::start(config).await.expect("fleet starts");
    assert_eq!(
        fleet
            .members
            .iter()
            .filter(|m| m.role == Role::Shield)
            .count(),
        1
    );
    let client = h1_client();

    let first = get(
        &client,
        &format!("{}/products/7", member_url(&fleet, "edge-a")),
    )
    .await;
    assert_eq!(first.status, 200);
    let cs = first.header("cache-status").unwrap_or_default().to_string();
    assert!(
        cs.starts_with("shield; fwd=uri-miss") && cs.contains("edge-a; fwd=uri-miss"),
        "{cs}"
    );

    let second = get(
        &client,
        &format!("{}/products/7", member_url(&fleet, "edge-b")),
    )
    .await;
    assert_eq!(second.body, first.body);
    let cs = second
        .header("cache-status")
        .unwrap_or_default()
        .to_string();
    assert!(
        cs.starts_with("shield; hit") && cs.contains("edge-b; fwd=uri-miss"),
        "each hop adds its member, origin-most first: {cs}"
    );
    let via = second.header("via").unwrap_or_default().to_string();
    assert!(via.contains("shield") && via.contains("edge-b"), "{via}");

    let third = get(
        &client,
        &format!("{}/products/7", member_url(&fleet, "edge-b")),
    )
    .await;
    assert!(
        third
            .header("cache-status")
            .unwrap_or_default()
            .ends_with("edge-b; hit; ttl=60")
            || third
                .header("cache-status")
                .unwrap_or_default()
                .contains("edge-b; hit"),
    );

    let stats = get(
        &client,
        &format!("{}/stats", fleet.origin_handles()[0].url()),
    )
    .await
    .json();
    assert_eq!(stats["products"], 1, "the origin saw one request: {stats}");
    fleet.shutdown().await;
}

#[test]
fn a_loop_in_the_parent_chain_is_rejected_by_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("loop.toml");
    let text = FLEET.replace(
        "name = \"shield\"\nregion = \"eu-central\"",
        "name = \"shield\"\nregion = \"eu-central\"\nparent = \"edge-b\"",
    );
    std::fs::write(&path, text).expect("write config");
    let out = std::process::Command::new(brink_bin())
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run brink check");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("forwarding loop: shield -> edge-b -> shield"),
        "{err}"
    );
    assert!(err.contains("fleet.nodes[0].parent"), "{err}");
}

async fn loadtest(args: &[String]) -> Output {
    let mut cmd = tokio::process::Command::new(brink_bin());
    cmd.arg("loadtest").args(args).kill_on_drop(true);
    within(Duration::from_secs(60), "brink loadtest", cmd.output())
        .await
        .expect("run brink loadtest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_against_a_fleet_agrees_with_the_origin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fleet.toml");
    std::fs::write(&config, FLEET).expect("write config");
    let json = dir.path().join("report.json");
    let out = loadtest(&[
        "--config".into(),
        config.display().to_string(),
        "--requests".into(),
        "400".into(),
        "--concurrency".into(),
        "8".into(),
        "--catalog".into(),
        "200".into(),
        "--mix".into(),
        "images=40,product_fragments=30,product_pages=30".into(),
        "--seed".into(),
        "7".into(),
        "--no-progress".into(),
        "--json".into(),
        json.display().to_string(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("JSON");
    let regions = r["regions"].as_object().expect("regions");
    assert_eq!(regions.len(), 2, "one entry per edge region: {regions:?}");
    assert!(regions.contains_key("us-east") && regions.contains_key("ap-south"));
    let responses = r["responses"].as_u64().expect("responses");
    assert_eq!(responses, 400);
    let tiers = &r["tiers"];
    let edge = tiers["edge"]["requests"].as_u64().unwrap();
    let shield = tiers["shield"]["requests"].as_u64().unwrap();
    let origin = tiers["origin"]["requests"].as_u64().unwrap();
    assert_eq!(edge + shield + origin, responses);
    assert!(shield > 0, "regions share the shield: {tiers}");
    // What reached the origin is what the origin counted.
    let counted: u64 = r["origins"]
        .as_array()
        .expect("origins")
        .iter()
        .map(|o| {
            let c = &o["counted"];
            c["products"].as_u64().unwrap_or(0)
                + c["images"].as_u64().unwrap_or(0)
                + c["fragments_product"].as_u64().unwrap_or(0)
        })
        .sum();
    let collapsed = tiers["origin"]["collapsed"].as_u64().unwrap_or(0);
    assert_eq!(
        counted,
        origin - collapsed,
        "report {tiers} vs origin {counted}"
    );
}

/// The shipped demo: `/beta/` is a public prefix for auth and the router
/// rewrites it onto the API; the rewritten request is checked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_checks_a_rewritten_beta_request_like_any_other() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
    let config = Config::load(&file).expect("demo config");
    let token = brink::cli::demo_token(&config).expect("a demo token");
    let fleet = Fleet::start(config).await.expect("demo fleet starts");
    let edge = member_url(&fleet, "edge-eu-west");
    let client = h1_client();

    let anonymous = get(&client, &format!("{edge}/beta/api/inventory/1")).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    let post = brink_tests::request_with(
        &client,
        http::Method::POST,
        &format!("{edge}/beta/api/orders"),
        &[],
    )
    .await;
    assert_eq!(post.status, 401);

    let bearer = format!("Bearer {token}");
    let r = brink_tests::get_with(
        &client,
        &format!("{edge}/beta/api/inventory/1"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    fleet.shutdown().await;
}
