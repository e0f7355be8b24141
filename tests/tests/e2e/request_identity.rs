//! Request identity, tried as an attacker would: every request is read one
//! way by the route, the plugins, the cache key and the origin. Each test
//! sends what a hostile client would, then asserts what the recording origin
//! actually received (target and fields) and what the next user gets from
//! the cache.

use std::path::Path;

use brink::admin::AdminHandler;
use brink::config::Config;
use brink::node::Node;
use brink_tests::raw::status_of;
use brink_tests::{
    EXCHANGE_TIMEOUT, RawConn, Reply, Script, ScriptOrigin, cache_status, get_with, h1_client,
    h2c_client, request_with, send, url_addr,
};
use http::{Method, Request};

const SECRET: &str = "identity-secret";

/// Auth as the shipped configs use it: public prefixes, claims as fields.
const AUTH: &str = r#"
[[plugins]]
name = "auth"
wasm = "builtin:auth"
[plugins.config]
secret = "identity-secret"
issuer = "brink-test"
audience = "shop"
public_prefixes = ["/images/", "/beta/", "/go", "/r"]
claim_headers = { sub = "x-user-id", tier = "x-user-tier" }
"#;

/// The demo's router: `/beta/` is rewritten onto the protected API.
const ROUTER: &str = r#"
[[plugins]]
name = "router"
wasm = "builtin:router"
[plugins.config]
rules = [
  { path_prefix = "/beta/", rewrite_prefix = "/" },
  { path_prefix = "/go", rewrite = "/images/../api/secret" },
  { path_prefix = "/r1/", rewrite_prefix = "/r2/" },
  { path_prefix = "/r2/", rewrite_prefix = "/r3/" },
  { path_prefix = "/r3/", rewrite_prefix = "/r4/" },
  { path_prefix = "/r4/", rewrite_prefix = "/r5/" },
  { path_prefix = "/r5/", rewrite_prefix = "/r6/" },
  { path_prefix = "/r6/", rewrite_prefix = "/r7/" },
]
"#;

/// A node in front of `origin`: `/images/` is public and cached for a
/// minute with no plugin (the shipped configs' shape), `/files/` keeps
/// encoded slashes, `/merge/` merges `//`, `/hdr/` forwards override
/// fields, `/api/` runs auth, `/r1/` .. `/r7/` each run the router (a chain
/// of rewrites), and everything else runs auth then the router.
async fn node(origin: &ScriptOrigin, extra: &str) -> Node {
    node_with(origin, "", extra).await
}

/// [`node`] with more routes (matched before the catch-all) and more TOML.
async fn node_with(origin: &ScriptOrigin, more_routes: &str, extra: &str) -> Node {
    let mut routes = String::new();
    for r in 1..=7 {
        routes.push_str(&format!(
            "[[routes]]\npath_prefix = \"/r{r}/\"\npool = \"shop\"\nplugins = [\"router\"]\n\n"
        ));
    }
    let text = format!(
        r#"
[node]
name = "id-edge"
region = "test"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token = "identity-admin"

[cache]
debug_key = true

[[pools]]
name = "shop"
backends = ["{origin}"]

[[routes]]
path_prefix = "/images/"
pool = "shop"
[routes.cache]
force_ttl = "60s"

[[routes]]
path_prefix = "/files/"
pool = "shop"
escaped_slashes = "keep"

[[routes]]
path_prefix = "/merge/"
pool = "shop"
merge_slashes = true

[[routes]]
path_prefix = "/hdr/"
pool = "shop"
override_headers = "forward"

[[routes]]
path_prefix = "/api/"
pool = "shop"
plugins = ["auth"]

{routes}
{more_routes}
[[routes]]
path_prefix = "/"
pool = "shop"
plugins = ["auth", "router"]

{AUTH}
{ROUTER}
{extra}
"#,
        origin = origin.url()
    );
    let config = Config::parse(&text, "<identity-test>", Path::new("."))
        .unwrap_or_else(|e| panic!("bad test config: {e}\n{text}"));
    Node::start(config)
        .await
        .expect("node starts")
        .with_admin(AdminHandler::new)
        .await
        .expect("admin starts")
}

fn edge(node: &Node) -> String {
    node.listeners()[0].url()
}

fn token(sub: &str) -> String {
    let now = brink::token::now_secs();
    let claims = serde_json::json!({
        "sub": sub, "tier": "gold", "iss": "brink-test", "aud": "shop", "exp": now + 600
    });
    format!("Bearer {}", brink::token::sign_hs256(&claims, SECRET))
}

/// An origin with a public image, a protected secret and inventory, both
/// cacheable if a cache were careless, answering with the Host it saw.
async fn shop() -> ScriptOrigin {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/images/1.jpg",
        Script::cached("image-1", "max-age=60").reflect("host"),
    );
    origin.set(
        "/api/secret",
        Script::cached("SECRET", "public, max-age=60").reflect("x-user-id"),
    );
    origin.set(
        "/api/orders",
        Script::ok("order created").reflect("x-user-id"),
    );
    origin
}

/// Sends `head` (a whole request head) on a new connection; the status
/// and the response head.
async fn raw(node: &Node, head: &str) -> (u16, String) {
    let mut conn = RawConn::connect(url_addr(&edge(node))).await;
    conn.write_all(head.as_bytes()).await.expect("write");
    let (head, _) = conn
        .read_response(EXCHANGE_TIMEOUT)
        .await
        .unwrap_or_else(|| panic!("no response to {head:?}"));
    (status_of(head.as_bytes()).expect("a status line"), head)
}

fn field<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    get_with(&h1_client(), url, headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_from_a_public_prefix_is_checked_again() {
    let origin = shop().await;
    let node = node(&origin, "").await;
    let base = edge(&node);

    // The demo's hole: auth passed `/beta/...` as public, the router then
    // rewrote it onto the API.
    let r = get(&format!("{base}/beta/api/secret"), &[]).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let post = request_with(
        &h1_client(),
        Method::POST,
        &format!("{base}/beta/api/orders"),
        &[],
    )
    .await;
    assert_eq!(post.status, 401);
    assert_eq!(origin.count("/api/secret") + origin.count("/api/orders"), 0);
    assert_eq!(origin.total(), 0, "nothing reached the origin");

    // With a token the same URL works, checked on the forwarded path.
    let t = token("alice");
    let r = get(&format!("{base}/beta/api/secret"), &[("authorization", &t)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "SECRET");
    let seen = origin.last("/api/secret");
    assert_eq!(seen.target(), "/api/secret");
    assert_eq!(seen.values("x-user-id"), ["alice"]);
    assert!(
        seen.values("authorization").is_empty(),
        "the credential stays at the edge"
    );

    // A rewrite whose result is not normal is normalised, then routed and
    // checked: `/go` → `/images/../api/secret` is `/api/secret`.
    let r = get(&format!("{base}/go"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(origin.count("/api/secret"), 1, "only the authorised fetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_into_another_route_runs_that_routes_plugins_and_is_bounded() {
    let origin = shop().await;
    let node = node(&origin, "").await;
    let base = edge(&node);

    // `/r1/` .. `/r6/` each rewrite to the next route: five rewrites are
    // past the bound (508), four are within it and the origin sees where
    // they ended.
    for start in ["/r1/x", "/r2/x"] {
        let r = get(&format!("{base}{start}"), &[]).await;
        assert_eq!(r.status, 508, "{start}: {}", r.text());
    }
    for start in ["/r3/x", "/r6/x"] {
        let r = get(&format!("{base}{start}"), &[]).await;
        assert_eq!(r.status, 404, "{start}: the origin has no script for /r7/x");
        assert_eq!(origin.last("/r7/x").target(), "/r7/x");
    }
    assert_eq!(origin.total(), 2, "{:?}", origin.all_seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_fields_from_clients_never_reach_the_origin() {
    let origin = shop().await;
    let node = node(&origin, "").await;
    let base = edge(&node);
    let spoof = [("x-user-id", "admin"), ("X-User-Tier", "platinum")];

    // A route without auth: the client's claims are dropped all the same.
    let r = get(&format!("{base}/images/1.jpg"), &spoof).await;
    assert_eq!(r.status, 200);
    let seen = origin.last("/images/1.jpg");
    assert!(seen.values("x-user-id").is_empty(), "{:?}", seen.headers);
    assert!(seen.values("x-user-tier").is_empty());

    // With auth: the verified claims only, once.
    let t = token("alice");
    let mut headers = spoof.to_vec();
    headers.push(("authorization", &t));
    let r = get(&format!("{base}/api/secret"), &headers).await;
    assert_eq!(r.status, 200);
    let seen = origin.last("/api/secret");
    assert_eq!(seen.values("x-user-id"), ["alice"]);
    assert_eq!(seen.values("x-user-tier"), ["gold"]);

    // `Connection` naming a field the edge sets cannot make the edge drop it.
    origin.set(
        "/api/orders",
        Script::ok("order created").reflect("x-user-id"),
    );
    let r = request_with(
        &h1_client(),
        Method::POST,
        &format!("{base}/api/orders"),
        &[
            ("authorization", &t),
            ("connection", "x-user-id, x-user-tier"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = origin.last("/api/orders");
    assert_eq!(seen.values("x-user-id"), ["alice"]);
    assert_eq!(seen.values("x-user-tier"), ["gold"]);
    assert!(seen.values("connection").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_edge_owned_headers_are_dropped_on_every_route() {
    let origin = shop().await;
    // `[node]` is the test config's own table, so this one is made by hand.
    let text = format!(
        "[node]\nname = \"e\"\nedge_owned_headers = [\"X-Internal-Role\"]\n\n[[listeners]]\naddress = \"127.0.0.1:0\"\n\n[[pools]]\nname = \"p\"\nbackends = [\"{}\"]\n\n[[routes]]\npool = \"p\"\n",
        origin.url()
    );
    let config = Config::parse(&text, "<t>", Path::new(".")).expect("config");
    let node = Node::start(config)
        .await
        .expect("starts")
        .with_admin(AdminHandler::new)
        .await
        .expect("admin starts");
    let r = get(
        &format!("{}/images/1.jpg", edge(&node)),
        &[("x-internal-role", "root"), ("x-other", "kept")],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = origin.last("/images/1.jpg");
    assert!(seen.values("x-internal-role").is_empty());
    assert_eq!(seen.values("x-other"), ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_authority_is_the_one_forwarded_and_keyed() {
    let origin = shop().await;
    let node = node(&origin, "").await;

    // Absolute-form: the target's authority wins over Host, for the key
    // and for what the origin receives.
    let (status, head) = raw(
        &node,
        "GET http://shop.example/images/1.jpg HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(field(&head, "x-reflect-host"), Some("shop.example"));
    assert_eq!(
        origin.last("/images/1.jpg").values("host"),
        ["shop.example"]
    );
    // The next user of shop.example gets that copy; evil.example has none.
    let (_, head) = raw(
        &node,
        "GET /images/1.jpg HTTP/1.1\r\nHost: SHOP.example\r\n\r\n",
    )
    .await;
    assert!(
        field(&head, "cache-status").unwrap().contains("hit"),
        "{head}"
    );
    assert_eq!(field(&head, "x-reflect-host"), Some("shop.example"));
    let (_, head) = raw(
        &node,
        "GET /images/1.jpg HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    )
    .await;
    assert!(
        !field(&head, "cache-status").unwrap().contains("hit"),
        "{head}"
    );
    assert_eq!(field(&head, "x-reflect-host"), Some("evil.example"));

    // A port is keyed and forwarded; the scheme's default port is neither.
    let (_, head) = raw(
        &node,
        "GET /images/1.jpg HTTP/1.1\r\nHost: shop.example:8080\r\n\r\n",
    )
    .await;
    assert!(
        !field(&head, "cache-status").unwrap().contains("hit"),
        "{head}"
    );
    assert_eq!(field(&head, "x-reflect-host"), Some("shop.example:8080"));
    let before = origin.count("/images/1.jpg");
    let (_, head) = raw(
        &node,
        "GET /images/1.jpg HTTP/1.1\r\nHost: shop.example:80\r\n\r\n",
    )
    .await;
    assert!(
        field(&head, "cache-status").unwrap().contains("hit"),
        "{head}"
    );
    assert_eq!(field(&head, "x-reflect-host"), Some("shop.example"));
    assert_eq!(origin.count("/images/1.jpg"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_double_or_invalid_host_is_400() {
    let origin = shop().await;
    let node = node(&origin, "").await;
    for head in [
        "GET /images/1.jpg HTTP/1.1\r\n\r\n",
        "GET /images/1.jpg HTTP/1.0\r\n\r\n",
        "GET /images/1.jpg HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        "GET /images/1.jpg HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
        "GET /images/1.jpg HTTP/1.1\r\nHost: user@a.example\r\n\r\n",
        "GET /images/1.jpg HTTP/1.1\r\nHost: a.example:99999\r\n\r\n",
        "GET /images/1.jpg HTTP/1.1\r\nHost: a%2eexample\r\n\r\n",
        "GET http://u:p@shop.example/images/1.jpg HTTP/1.1\r\nHost: shop.example\r\n\r\n",
        "GET http://shop.example/images/1.jpg HTTP/1.1\r\n\r\n",
    ] {
        let (status, _) = raw(&node, head).await;
        assert_eq!(status, 400, "{head:?}");
    }
    assert_eq!(origin.total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_http2_an_authority_and_a_different_host_are_400() {
    let origin = shop().await;
    let node = node(&origin, "").await;
    let port = url_addr(&edge(&node)).port();
    let client = h2c_client();
    let send_h2 = |host: Option<&'static str>| {
        let mut b = Request::get(format!("http://127.0.0.1:{port}/images/1.jpg"));
        if let Some(h) = host {
            b = b.header("host", h);
        }
        send(&client, b.body(brink::body::empty()).unwrap())
    };
    assert_eq!(send_h2(Some("evil.example")).await.status, 400);
    assert_eq!(origin.total(), 0);
    let ok = send_h2(None).await;
    assert_eq!(ok.status, 200);
    // The listener's own port is read as no port, like the default one.
    assert_eq!(ok.header("x-reflect-host"), Some("127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_normalised_once_and_forwarded_as_checked() {
    let origin = shop().await;
    let node = node(&origin, "").await;
    let host = "Host: shop.example\r\n\r\n";

    // A dot-segment walks out of the public prefix: the request is routed,
    // checked and forwarded as `/api/secret`, so auth refuses it.
    for path in [
        "/images/../api/secret",
        "/images/./../api/./secret",
        "/images/%2e./x/../../api/secret",
    ] {
        let (status, head) = raw(&node, &format!("GET {path} HTTP/1.1\r\n{host}")).await;
        assert!(status == 401 || status == 400, "{path}: {head}");
    }
    // Encoded separators and dots, NUL and backslashes: 400.
    for path in [
        "/images/..%2Faccount",
        "/images/..%2faccount",
        "/images/..%5Caccount",
        "/images/%2e%2e/api/secret",
        "/images/.%2E/api/secret",
        "/images/%00",
        "/images/a%0d%0aX-Injected:%201",
        "/images/%zz",
        "/images/..\\api\\secret",
    ] {
        let (status, head) = raw(&node, &format!("GET {path} HTTP/1.1\r\n{host}")).await;
        assert_eq!(status, 400, "{path}: {head}");
    }
    assert_eq!(origin.total(), 0, "{:?}", origin.all_seen());

    // Equivalent spellings reach the origin as one path and share one entry.
    let (status, head) = raw(&node, &format!("GET /images/./1.jpg HTTP/1.1\r\n{host}")).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(origin.last("/images/1.jpg").target(), "/images/1.jpg");
    for path in [
        "/images/1.jpg",
        "/imag%65s/1.jpg",
        "/images/x/../1.jpg",
        "/%69mages/1.jpg",
    ] {
        let (status, head) = raw(&node, &format!("GET {path} HTTP/1.1\r\n{host}")).await;
        assert_eq!(status, 200, "{path}");
        let cs = field(&head, "cache-status").unwrap();
        assert!(cs.contains("hit"), "{path}: {head}");
        assert!(
            cs.contains("key=\"http://shop.example/images/1.jpg\""),
            "{path}: {cs}"
        );
    }
    assert_eq!(origin.count("/images/1.jpg"), 1);
    assert!(origin.all_seen().iter().all(|s| s.path == "/images/1.jpg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_may_keep_encoded_slashes_or_merge_slashes() {
    let origin = shop().await;
    origin.set("/files/a%2Fb", Script::ok("encoded"));
    origin.set("/merge/a/b", Script::ok("merged"));
    let node = node(&origin, "").await;
    let host = "Host: shop.example\r\n\r\n";

    let (status, head) = raw(&node, &format!("GET /files/a%2fb HTTP/1.1\r\n{host}")).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(origin.last("/files/a%2Fb").target(), "/files/a%2Fb");

    let (status, head) = raw(&node, &format!("GET /merge//a///b HTTP/1.1\r\n{host}")).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(origin.last("/merge/a/b").target(), "/merge/a/b");
    // Elsewhere `//` stays as it is.
    let (_, _) = raw(&node, &format!("GET /images//1.jpg HTTP/1.1\r\n{host}")).await;
    assert_eq!(origin.count("/images//1.jpg"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_fields_are_dropped_or_keyed() {
    let origin = shop().await;
    origin.set(
        "/hdr/x",
        Script::cached("x", "max-age=60").reflect("x-original-url"),
    );
    let node = node(&origin, "").await;
    let base = edge(&node);
    let overrides = [
        ("x-original-url", "/api/secret"),
        ("x-rewrite-url", "/api/secret"),
        ("x-http-method-override", "DELETE"),
        ("x-forwarded-host", "evil.example"),
    ];

    let r = get(&format!("{base}/images/1.jpg"), &overrides).await;
    assert_eq!(r.status, 200);
    let seen = origin.last("/images/1.jpg");
    for (name, _) in &overrides[..3] {
        assert!(seen.values(name).is_empty(), "{name} forwarded");
    }
    assert_eq!(
        seen.values("x-forwarded-host"),
        ["127.0.0.1"],
        "the edge's own (the listener's port is no port)"
    );

    // A route that forwards them keys by them: one client's override is
    // never served to another.
    let a = get(&format!("{base}/hdr/x"), &[("x-original-url", "/a")]).await;
    assert_eq!(a.header("x-reflect-x-original-url"), Some("/a"));
    let plain = get(&format!("{base}/hdr/x"), &[]).await;
    assert_eq!(plain.header("x-reflect-x-original-url"), Some("-"));
    let a2 = get(&format!("{base}/hdr/x"), &[("x-original-url", "/a")]).await;
    assert!(cache_status(&a2).contains("hit"), "{}", cache_status(&a2));
    assert_eq!(a2.header("x-reflect-x-original-url"), Some("/a"));
    assert_eq!(origin.count("/hdr/x"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_copies_are_never_served_to_the_stable_version() {
    let origin = shop().await;
    origin.set(
        "/c/frag",
        Script::cached("fragment", "max-age=60").reflect("x-plugin-version"),
    );
    let echo = Path::new(brink::plugin::GUEST_DIR).join("fx_echo.wasm");
    let extra = format!(
        r#"
[[plugins]]
name = "echo"
wasm = "{}"
[plugins.config]
version = "stable"
[plugins.canary]
wasm = "{}"
percent = 50
config = {{ version = "canary" }}
"#,
        echo.display(),
        echo.display()
    );
    // Route `/c/` runs the echo plugin (stable or canary at random).
    let route = "[[routes]]\npath_prefix = \"/c/\"\npool = \"shop\"\nplugins = [\"echo\"]\n";
    let node = node_with(&origin, route, &extra).await;
    let base = edge(&node);
    let mut versions = std::collections::HashSet::new();
    for _ in 0..40 {
        let r = get(&format!("{base}/c/frag"), &[]).await;
        assert_eq!(r.status, 200);
        let ran = r
            .header("x-plugin-version")
            .expect("echo's response field")
            .to_string();
        // The stored copy served was made through the same version.
        assert_eq!(r.header("x-reflect-x-plugin-version"), Some(ran.as_str()));
        versions.insert(ran);
    }
    assert_eq!(versions.len(), 2, "both versions ran: {versions:?}");
    assert_eq!(origin.count("/c/frag"), 2, "one copy per version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_loop_and_hyper_read_a_request_the_same_way() {
    let origin = shop().await;
    let node = node(&origin, "").await;
    // Stored through the front loop's path (a plain request) ...
    let (status, _) = raw(
        &node,
        "GET /images/1.jpg HTTP/1.1\r\nHost: shop.example\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    // ... and found again by requests hyper reads (not plain: upper case,
    // default port, dot segment, HTTP/1.0 with Host).
    for head in [
        "GET /images/1.jpg HTTP/1.1\r\nHost: Shop.Example\r\n\r\n",
        "GET /images/1.jpg HTTP/1.1\r\nHost: shop.example:80\r\n\r\n",
        "GET /images/./1.jpg HTTP/1.1\r\nHost: shop.example.\r\n\r\n",
        "GET /images/1.jpg HTTP/1.0\r\nHost: shop.example\r\n\r\n",
    ] {
        let (status, h) = raw(&node, head).await;
        assert_eq!(status, 200, "{head:?}");
        assert!(
            field(&h, "cache-status").unwrap().contains("hit"),
            "{head:?}: {h}"
        );
    }
    assert_eq!(origin.count("/images/1.jpg"), 1);
}

/// What the model says a path leads to.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    BadRequest,
    Unauthorized,
    /// The origin (or the copy keyed under this path) answers this path.
    Origin(String),
}

/// The rules as documented, on the node of [`any_path_is_read_once`]:
/// `/images/` is public; elsewhere auth runs (with `/beta/` public), then
/// the router rewrites `/beta/` to `/` and the new target is routed and
/// checked again (the router not again on the same route).
fn model(path: &str) -> Expect {
    use brink::normalize::{EscapedSlashes, PathRules, normalize_path};
    let rules = PathRules {
        merge_slashes: false,
        escaped_slashes: EscapedSlashes::Reject,
    };
    let Ok(q) = normalize_path(path, rules) else {
        return Expect::BadRequest;
    };
    if q.starts_with("/images/") {
        return Expect::Origin(q.into_owned());
    }
    let Some(rest) = q.strip_prefix("/beta/") else {
        return Expect::Unauthorized;
    };
    // The router's rewrite is normalised like a client's path: `/beta//x`
    // becomes `//x`, and a leading run of slashes is one (`/x`).
    let rewritten = format!("/{rest}");
    let q2 = normalize_path(&rewritten, rules)
        .expect("a normal path stays normal")
        .into_owned();
    if q2.starts_with("/images/") || q2.starts_with("/beta/") {
        Expect::Origin(q2)
    } else {
        Expect::Unauthorized
    }
}

fn path_strategy() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let prefix = prop::sample::select(vec!["/images/", "/beta/", "/beta/images/", "/api/", "/"]);
    let segment = prop::sample::select(vec![
        "", ".", "..", "a", "%2e", "%2E%2e", ".%2e", "%2F", "%5c", "%41", "%61pi", "%00", "b.c",
        "%zz", "~", "images", "beta", "api", "%69mages", "\\",
    ]);
    (prefix, prop::collection::vec(segment, 0..6))
        .prop_map(|(prefix, segments)| format!("{prefix}{}", segments.join("/")))
}

/// For any path, the route, the auth decision and the cache key come from
/// the same normalised path the origin receives.
#[test]
fn any_path_is_read_once() {
    use proptest::test_runner::{Config as PropConfig, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (origin, node) = rt.block_on(async {
        let origin = ScriptOrigin::start().await;
        let text = format!(
            r#"
[[listeners]]
address = "127.0.0.1:0"

[cache]
debug_key = true

[[pools]]
name = "shop"
backends = ["{}"]

[[routes]]
path_prefix = "/images/"
pool = "shop"
[routes.cache]
force_ttl = "60s"

[[routes]]
path_prefix = "/"
pool = "shop"
plugins = ["auth", "router"]

[[plugins]]
name = "auth"
wasm = "builtin:auth"
[plugins.config]
secret = "identity-secret"
public_prefixes = ["/beta/"]

[[plugins]]
name = "router"
wasm = "builtin:router"
[plugins.config]
rules = [{{ path_prefix = "/beta/", rewrite_prefix = "/" }}]
"#,
            origin.url()
        );
        let config = Config::parse(&text, "<prop>", Path::new(".")).expect("config");
        (
            origin,
            Node::start(config)
                .await
                .expect("node")
                .with_admin(AdminHandler::new)
                .await
                .expect("admin"),
        )
    });
    let mut runner = TestRunner::new(PropConfig {
        cases: 300,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let result = runner.run(&path_strategy(), |path| {
        rt.block_on(async {
            let before = origin.total();
            let head = format!("GET {path} HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            let (status, head) = raw(&node, &head).await;
            let fetched = origin.total() > before;
            match model(&path) {
                Expect::BadRequest => {
                    assert_eq!(status, 400, "{path:?}: {head}");
                    assert!(!fetched, "{path:?} reached the origin");
                }
                Expect::Unauthorized => {
                    assert_eq!(status, 401, "{path:?}: {head}");
                    assert!(!fetched, "{path:?} reached the origin");
                }
                Expect::Origin(q) => {
                    assert!(matches!(status, 200 | 404), "{path:?}: {head}");
                    let key = format!("key=\"http://shop.example{q}\"");
                    let cs = field(&head, "cache-status").unwrap_or_default();
                    assert!(cs.contains(&key), "{path:?}: want {key} in {cs}");
                    if fetched {
                        let seen = origin.all_seen().pop().expect("a request");
                        assert_eq!(seen.target(), q, "{path:?}");
                    }
                }
            }
        });
        Ok(())
    });
    rt.block_on(async move { drop(node) });
    if let Err(e) = result {
        panic!("{e}");
    }
}
