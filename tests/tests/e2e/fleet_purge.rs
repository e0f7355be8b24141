//! `brink fleet purge` over the fleet's JetStream purge stream (issue 16,
//! item 4): a real `nats-server -js`, separate `brink serve` processes,
//! each with its own durable consumer. Purges by URL, prefix and tag are
//! acked by every node and the object is fetched from the origin again; a
//! purge signed with another key, or not at all, is refused and reported,
//! never applied; a node that was down replays the purges it missed before
//! it reports itself connected.

use std::path::Path;

use brink_tests::{BrinkProcess, NatsServer, Script, ScriptOrigin, cache_status, eventually};

use super::fleet_nats::{Keys, WAIT, copy_dir, fleet, get, start_nodes, status as node_status};

/// A deploy file caching everything from `origin`.
fn cached_deploy(dir: &Path, origin: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[[listeners]]
address = "127.0.0.1:0"

[[pools]]
name = "origin"
backends = ["{origin}"]

[[routes]]
path_prefix = "/"
pool = "origin"
"#
    );
    let path = dir.join("fleet-cached.toml");
    std::fs::write(&path, text).expect("write deploy file");
    path
}

/// Runs `brink fleet ARGS` off the runtime's threads.
async fn fleet_cmd(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fleet(&refs)
    })
    .await
    .expect("fleet thread")
}

/// `brink fleet purge --nats URL --fleet shop --key KEY WHAT...`.
async fn purge(nats: &str, key: &Path, what: &[&str]) -> (bool, String, String) {
    let mut args: Vec<String> = ["purge", "--nats", nats, "--fleet", "shop", "--key"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(key.display().to_string());
    args.extend(what.iter().map(|s| s.to_string()));
    fleet_cmd(args).await
}

async fn deploy(nats: &str, key: &Path, file: &Path) {
    let args = vec![
        "deploy".to_string(),
        "--nats".into(),
        nats.into(),
        "--fleet".into(),
        "shop".into(),
        "--key".into(),
        key.display().to_string(),
        "--config".into(),
        file.display().to_string(),
    ];
    let (ok, out, err) = fleet_cmd(args).await;
    assert!(ok, "deploy: {out}\n{err}");
}

/// Whether a GET of `path` on `node` is a cache hit.
async fn hit(node: &BrinkProcess, path: &str) -> bool {
    let r = get(&format!("{}{path}", node.url())).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    cache_status(&r).contains("; hit")
}

/// GETs each path until it is a hit on every node.
async fn warm(nodes: &[&BrinkProcess], paths: &[&str]) {
    for n in nodes {
        for p in paths {
            let _ = hit(n, p).await;
            assert!(hit(n, p).await, "{p} stored on {}", n.url());
        }
    }
}

async fn origin_with(paths: &[&str]) -> ScriptOrigin {
    let origin = ScriptOrigin::start().await;
    for p in paths {
        let mut s = Script::cached(p.to_string(), "max-age=600");
        if p.starts_with("/t/") {
            s = s.header("surrogate-key", "grp other");
        }
        origin.set(p, s);
    }
    origin
}

/// The live nodes' registry entries as JSON.
fn registry(nats: &str) -> Vec<serde_json::Value> {
    let (ok, out, err) = fleet(&["status", "--nats", nats, "--fleet", "shop", "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// Asserts a purge command succeeded with one `acked` line per node.
fn assert_acked(out: &(bool, String, String), names: &[&str]) {
    let (ok, out, err) = out;
    assert!(ok, "{out}\n{err}");
    for name in names {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"));
        assert!(line.contains("acked"), "{line}");
    }
    assert!(out.contains("all acked in "), "{out}");
}

/// Purge by URL, prefix and tag, acked by all three edges and refetched;
/// a purge signed with another key and an unsigned one are refused by
/// every node and reported, the objects still served from cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleet_purges_by_url_prefix_and_tag_and_refuses_forged_ones() {
    let nats = NatsServer::start();
    let keys = Keys::new();
    let paths = ["/p/1", "/p/10", "/a/1", "/a/2", "/t/1"];
    let origin = origin_with(&paths).await;
    let work = tempfile::tempdir().expect("temp dir");
    let names = ["eu-1", "us-1", "ap-1"];
    let nodes = start_nodes(
        &nats,
        &keys,
        &[("eu-1", "eu"), ("us-1", "us"), ("ap-1", "ap")],
    )
    .await;
    deploy(
        &nats.url(),
        &keys.private(),
        &cached_deploy(work.path(), &origin.url()),
    )
    .await;
    let all: Vec<&BrinkProcess> = nodes.iter().collect();
    warm(&all, &paths).await;
    let url = nats.url();

    assert_acked(
        &purge(&url, &keys.private(), &["--url", "/p/1"]).await,
        &names,
    );
    for n in &all {
        assert!(!hit(n, "/p/1").await, "purged by URL");
        assert!(hit(n, "/p/10").await, "an exact URL only");
    }
    assert_eq!(origin.count("/p/1"), 6, "refetched once per node");

    assert_acked(
        &purge(&url, &keys.private(), &["--prefix", "/a/"]).await,
        &names,
    );
    assert_acked(
        &purge(&url, &keys.private(), &["--tag", "grp"]).await,
        &names,
    );
    for n in &all {
        for p in ["/a/1", "/a/2", "/t/1"] {
            assert!(!hit(n, p).await, "{p} purged");
        }
        assert!(hit(n, "/p/10").await);
    }
    assert_eq!(origin.count("/a/2"), 6);
    assert_eq!(origin.count("/t/1"), 6);

    // Signed with another key: refused by every node, reported, exit 1.
    let other = Keys::new();
    let (ok, out, _) = purge(&url, &other.private(), &["--url", "/p/10"]).await;
    assert!(!ok, "{out}");
    assert_eq!(out.matches("signature does not verify").count(), 3, "{out}");
    for n in &all {
        assert!(hit(n, "/p/10").await, "a forged purge is never applied");
    }

    // Unsigned, published straight on the stream.
    let client =
        brink::control::connect::connect_now(std::slice::from_ref(&url), &Default::default())
            .await
            .unwrap();
    let buckets = brink::control::connect::open(&client, "shop")
        .await
        .unwrap();
    let payload = brink::control::purge::PurgePayload {
        fleet: "shop".into(),
        by: "url".into(),
        value: "/p/10".into(),
        soft: false,
        published_ms: 0,
    };
    let unsigned = brink::control::protocol::Envelope {
        signature: None,
        ..payload.seal(&brink::control::keys::read_signing_key(&keys.private()).unwrap())
    };
    let seq = brink::control::purge::publish(&buckets, &unsigned)
        .await
        .unwrap();
    eventually(WAIT, "unsigned purge refused and reported", || {
        let entries = registry(&url);
        entries.len() == 3
            && entries.iter().all(|e| {
                e["purge"]["seq"] == seq
                    && e["purge"]["error"]
                        .as_str()
                        .is_some_and(|m| m.contains("unsigned purge"))
            })
    })
    .await;
    for n in &all {
        assert!(hit(n, "/p/10").await, "an unsigned purge is never applied");
    }
    assert_eq!(origin.count("/p/10"), 3);
}

/// A node stopped, purges sent to the others, the node started again (same
/// name, same state folder): its first registry entry already acks the
/// last purge (it replayed its durable consumer before reporting itself
/// connected), and the purged objects come from the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_back_from_a_stop_replays_the_purges_it_missed() {
    let nats = NatsServer::start();
    let keys = Keys::new();
    let paths = ["/p/1", "/a/1", "/keep"];
    let origin = origin_with(&paths).await;
    let work = tempfile::tempdir().expect("temp dir");
    let mut nodes = start_nodes(&nats, &keys, &[("eu-1", "eu"), ("us-1", "us")]).await;
    deploy(
        &nats.url(),
        &keys.private(),
        &cached_deploy(work.path(), &origin.url()),
    )
    .await;
    warm(&nodes.iter().collect::<Vec<_>>(), &paths).await;
    let url = nats.url();

    // Stop us-1 and wait until the registry no longer lists it.
    let dir = nodes[1].dir().unwrap();
    let toml = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let kept = tempfile::tempdir().unwrap();
    copy_dir(&dir, kept.path());
    drop(nodes.pop());
    eventually(WAIT, "us-1 gone from the registry", || {
        registry(&url).len() == 1
    })
    .await;

    assert_acked(
        &purge(&url, &keys.private(), &["--url", "/p/1"]).await,
        &["eu-1"],
    );
    let last = purge(&url, &keys.private(), &["--prefix", "/a/"]).await;
    assert_acked(&last, &["eu-1"]);
    let seq: u64 = last
        .1
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no purge number in {}", last.1));

    let back = BrinkProcess::serve_in(kept, &toml);
    eventually(WAIT, "us-1 back in the registry", || {
        registry(&url).iter().any(|e| e["name"] == "us-1")
    })
    .await;
    let entry = registry(&url)
        .into_iter()
        .find(|e| e["name"] == "us-1")
        .unwrap();
    assert!(
        entry["purge"]["seq"].as_u64().is_some_and(|s| s >= seq),
        "its first entry acks purge {seq}: {entry}"
    );
    assert_eq!(node_status(&back).await["control"]["nats"], "connected");
    for p in ["/p/1", "/a/1"] {
        assert!(!hit(&back, p).await, "{p} not served from us-1's cache");
        assert_eq!(origin.count(p), 3, "{p} from the origin again");
    }
}
