//! A fleet across processes over NATS JetStream (issue 16): a real
//! `nats-server -js` ([`NatsServer`]), separate `brink serve` processes
//! whose files have `[control]`, and the `brink fleet` commands.
//!
//! The deployed config runs the `fx_echo` plugin, which stamps
//! `x-plugin-version: <its config version>` on every response, so a
//! response says which generation served it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use brink_tests::{
    BrinkProcess, EchoOrigin, NatsServer, Reply, brink_bin, eventually, h1_client, request_with,
};
use http::Method;

pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// A fleet's keys and the folder they are in.
pub(crate) struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = fleet(&["keygen", "--out", &dir.path().display().to_string()]);
        assert!(out.0, "keygen failed: {}", out.2);
        Keys { dir }
    }
    pub(crate) fn private(&self) -> PathBuf {
        self.dir.path().join("fleet.key")
    }
    pub(crate) fn public(&self) -> PathBuf {
        self.dir.path().join("fleet.pub")
    }
}

/// Runs `brink fleet ARGS`: (success, stdout, stderr).
pub(crate) fn fleet(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(brink_bin())
        .arg("fleet")
        .args(args)
        .output()
        .expect("run brink fleet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `brink fleet deploy` of `file` (blocking the test thread, not the runtime).
async fn deploy(nats: &str, key: &Path, file: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args: Vec<String> = ["deploy", "--nats", nats, "--fleet", "shop", "--key"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(key.display().to_string());
    args.push("--config".into());
    args.push(file.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fleet(&refs)
    })
    .await
    .expect("deploy thread")
}

/// A node's own file: identity, a listener, admin, `[control]`; no routes.
fn node_toml(name: &str, region: &str, nats: &str, trust: &Path) -> String {
    format!(
        r#"[node]
name = "{name}"
region = "{region}"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[log]
access_log = false

[control]
nats = "{nats}"
fleet = "shop"
trust_key = "{}"
heartbeat = "500ms"
"#,
        trust.display()
    )
}

/// A deploy file in `dir` (a whole node config, as `brink check` wants;
/// only its fleet tables are published) routing everything through the echo plugin,
/// stamped `version`, to `origin`.
fn deploy_file(dir: &Path, origin: &str, version: &str, wasm: &str) -> PathBuf {
    let text = format!(
        r#"[[listeners]]
address = "127.0.0.1:0"

[[pools]]
name = "echo"
backends = ["{origin}"]

[[routes]]
path_prefix = "/"
pool = "echo"
plugins = ["echo"]

[routes.cache]
enabled = false

[[plugins]]
name = "echo"
wasm = "{wasm}"

[plugins.config]
version = "{version}"
"#
    );
    let path = dir.join(format!("fleet-{version}.toml"));
    std::fs::write(&path, text).expect("write deploy file");
    path
}

fn echo_wasm() -> Vec<u8> {
    let p = Path::new(brink::plugin::GUEST_DIR).join("fx_echo.wasm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub(crate) async fn get(url: &str) -> Reply {
    request_with(&h1_client(), Method::GET, url, &[]).await
}

async fn version(url: &str) -> String {
    let r = get(url).await;
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    r.header("x-plugin-version").unwrap_or("-").to_string()
}

pub(crate) async fn status(node: &BrinkProcess) -> serde_json::Value {
    get(&format!("{}/status", node.admin_url())).await.json()
}

/// Starts one node per (name, region) and waits until the registry lists them all.
pub(crate) async fn start_nodes(
    nats: &NatsServer,
    keys: &Keys,
    nodes: &[(&str, &str)],
) -> Vec<BrinkProcess> {
    let started: Vec<BrinkProcess> = nodes
        .iter()
        .map(|(name, region)| {
            BrinkProcess::serve(&node_toml(name, region, &nats.url(), &keys.public()))
        })
        .collect();
    let url = nats.url();
    let want = nodes.len();
    eventually(WAIT, "every node in the registry", || {
        let (ok, out, _) = fleet(&["status", "--nats", &url, "--fleet", "shop", "--json"]);
        ok && serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            == Some(want)
    })
    .await;
    started
}

/// Three edges join, answer 503 until their first generation, apply two
/// deploys (the second under a client loop, zero failed requests), list in
/// `status`, roll back, and keep serving when NATS goes away, across a
/// restart too; they reconnect when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleet_deploys_under_load_rolls_back_and_survives_nats_loss() {
    let mut nats = NatsServer::start();
    let keys = Keys::new();
    let origin = EchoOrigin::start().await;
    let work = tempfile::tempdir().expect("temp dir");
    std::fs::write(work.path().join("echo.wasm"), echo_wasm()).unwrap();
    let nodes = start_nodes(
        &nats,
        &keys,
        &[("eu-1", "eu"), ("us-1", "us"), ("ap-1", "ap")],
    )
    .await;

    // Before any generation: 503 with Retry-After.
    let r = get(&format!("{}/x", nodes[0].url())).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some());

    let v1 = deploy_file(work.path(), &origin.url(), "v1", "echo.wasm");
    let (ok, out, err) = deploy(&nats.url(), &keys.private(), &v1, &[]).await;
    assert!(ok, "deploy v1 failed:\n{out}\n{err}");
    assert_eq!(out.matches(" applied 1").count(), 3, "{out}");
    assert!(out.contains("uploaded"), "{out}");
    for n in &nodes {
        assert_eq!(version(&format!("{}/a", n.url())).await, "v1");
    }

    // v2 under load: a bounded loop on every node, no request may fail.
    let v2 = deploy_file(work.path(), &origin.url(), "v2", "echo.wasm");
    let (out, sent, failed) = deploy_under_load(&nodes, &nats.url(), &keys.private(), &v2).await;
    assert_eq!(out.matches(" applied 2").count(), 3, "{out}");
    assert!(
        out.contains("already uploaded"),
        "the same plugin is not sent twice: {out}"
    );
    assert!(sent > 50, "the loop ran");
    assert_eq!(failed, 0, "failed requests during the deploy ({sent} sent)");
    for n in &nodes {
        assert_eq!(version(&format!("{}/b", n.url())).await, "v2");
    }

    // Status lists every node with its generation.
    let (ok, out, _) = fleet(&["status", "--nats", &nats.url(), "--fleet", "shop"]);
    assert!(ok);
    for name in ["eu-1", "us-1", "ap-1"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in:\n{out}"));
        assert!(line.contains(" 2 ") && line.contains("connected"), "{line}");
    }

    // A canary to one region, then rollback of the fleet-wide key.
    let v3 = deploy_file(work.path(), &origin.url(), "v3", "echo.wasm");
    let (ok, out, _) = deploy(&nats.url(), &keys.private(), &v3, &["--region", "eu"]).await;
    assert!(
        ok && out.contains("eu-1 eu applied 3") && !out.contains("us-1"),
        "{out}"
    );
    assert_eq!(version(&format!("{}/c", nodes[0].url())).await, "v3");
    assert_eq!(version(&format!("{}/c", nodes[1].url())).await, "v2");
    let url = nats.url();
    let key = keys.private().display().to_string();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        fleet(&["rollback", "--nats", &url, "--fleet", "shop", "--key", &key])
    })
    .await
    .unwrap();
    assert!(ok, "rollback failed:\n{out}\n{err}");
    assert_eq!(out.matches(" applied 4").count(), 3, "{out}");
    for n in &nodes {
        assert_eq!(
            version(&format!("{}/d", n.url())).await,
            "v1",
            "rolled back to v1"
        );
    }

    nats_lost_and_back(&mut nats, nodes).await;
}

/// A bad plugin is refused by `deploy` itself (the `brink check` path) and,
/// published anyway, by every node with the located error; a deploy signed
/// with another key and an unsigned one are refused; the old generation
/// keeps serving throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleet_refuses_bad_plugins_and_bad_signatures() {
    let nats = NatsServer::start();
    let keys = Keys::new();
    let origin = EchoOrigin::start().await;
    let work = tempfile::tempdir().expect("temp dir");
    std::fs::write(work.path().join("echo.wasm"), echo_wasm()).unwrap();
    std::fs::write(work.path().join("bad.wasm"), b"not a component").unwrap();
    let nodes = start_nodes(&nats, &keys, &[("eu-1", "eu"), ("us-1", "us")]).await;
    let good = deploy_file(work.path(), &origin.url(), "good", "echo.wasm");
    let (ok, out, err) = deploy(&nats.url(), &keys.private(), &good, &[]).await;
    assert!(ok, "{out}\n{err}");

    // Checked before publishing: nothing is sent.
    let bad = deploy_file(work.path(), &origin.url(), "bad", "bad.wasm");
    let (ok, out, err) = deploy(&nats.url(), &keys.private(), &bad, &[]).await;
    assert!(!ok && !out.contains("published"), "{out}\n{err}");
    assert!(
        err.contains("fleet-bad.toml:") && err.contains("plugins[0].wasm"),
        "{err}"
    );

    // Published anyway: every node refuses with the located error.
    let (ok, out, _) = deploy(&nats.url(), &keys.private(), &bad, &["--no-check"]).await;
    assert!(!ok, "{out}");
    for name in ["eu-1", "us-1"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            line.contains("refused: ")
                && line.contains(".generation.toml:")
                && line.contains("plugins[0].wasm"),
            "{line}"
        );
    }
    for n in &nodes {
        assert_eq!(version(&format!("{}/a", n.url())).await, "good");
    }

    // Signed with another key.
    let other = Keys::new();
    let v = deploy_file(work.path(), &origin.url(), "forged", "echo.wasm");
    let (ok, out, _) = deploy(&nats.url(), &other.private(), &v, &[]).await;
    assert!(!ok, "{out}");
    assert_eq!(out.matches("signature does not verify").count(), 2, "{out}");

    // Unsigned, written straight into the bucket.
    let client = brink::control::connect::connect_now(&[nats.url()], &Default::default())
        .await
        .unwrap();
    let buckets = brink::control::connect::open(&client, "shop")
        .await
        .unwrap();
    let (config, _) = brink::control::publish::prepare(&v, false).await.unwrap();
    let payload = brink::control::protocol::GenerationPayload {
        fleet: "shop".into(),
        seq: brink::control::publish::next_seq(&buckets).await.unwrap(),
        regions: vec![],
        config,
        plugins: Default::default(),
        source: "unsigned".into(),
        published_ms: 0,
    };
    let envelope = brink::control::protocol::Envelope {
        payload: {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&payload).unwrap())
        },
        signature: None,
    };
    brink::control::publish::put(&buckets, &payload, envelope.to_bytes())
        .await
        .unwrap();
    for n in &nodes {
        eventually(WAIT, "unsigned generation refused", || {
            let s = futures_block(status(n));
            s["control"]["last"]
                .as_str()
                .is_some_and(|l| l.contains("unsigned generation"))
        })
        .await;
        assert_eq!(version(&format!("{}/b", n.url())).await, "good");
    }
}

/// Deploys `file` while a bounded client loop runs on every node:
/// (deploy output, requests sent, requests that did not answer 200).
async fn deploy_under_load(
    nodes: &[BrinkProcess],
    nats: &str,
    key: &Path,
    file: &Path,
) -> (String, u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut loops = Vec::new();
    for n in nodes {
        let (url, stop, sent, failed) = (
            n.url().to_string(),
            stop.clone(),
            sent.clone(),
            failed.clone(),
        );
        loops.push(tokio::spawn(async move {
            let client = h1_client();
            for i in 0..20_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = request_with(&client, Method::GET, &format!("{url}/p/{i}"), &[]).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if r.status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, out, err) = deploy(nats, key, file, &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    assert!(ok, "deploy failed:\n{out}\n{err}");
    (
        out,
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    )
}

/// NATS goes away: every node keeps serving `v1` and says `disconnected`;
/// the last node restarts without NATS and serves the generation it kept;
/// NATS comes back and they all reconnect.
async fn nats_lost_and_back(nats: &mut NatsServer, mut nodes: Vec<BrinkProcess>) {
    nats.stop();
    for n in &nodes {
        eventually(WAIT, "control: disconnected", || {
            let s = futures_block(status(n));
            s["control"]["nats"] == "disconnected"
        })
        .await;
        assert_eq!(version(&format!("{}/e", n.url())).await, "v1");
    }
    // A restart without NATS serves the kept generation.
    let dir = nodes[2].dir().unwrap();
    let toml = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let kept = tempfile::tempdir().unwrap();
    copy_dir(&dir, kept.path());
    drop(nodes.pop());
    let restarted = BrinkProcess::serve_in(kept, &toml);
    assert_eq!(version(&format!("{}/f", restarted.url())).await, "v1");
    assert_eq!(status(&restarted).await["control"]["generation"], 4);
    // NATS back: they reconnect.
    nats.resume();
    for n in nodes.iter().chain([&restarted]) {
        eventually(WAIT, "control: connected again", || {
            futures_block(status(n))["control"]["nats"] == "connected"
        })
        .await;
    }
}

/// Runs a future to completion from a synchronous closure (for `eventually`).
pub(crate) fn futures_block<F: Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
