//! Shared set-up for Brink's criterion benchmarks.

use std::path::Path;

use brink::config::Config;
use brink::plugin::{PluginEngine, PluginSet};

/// The demo's plugin chain (auth, router, personalize) on one route, with
/// every plugin in `instance` mode (`reuse` or `per-request`).
pub async fn demo_chain(instance: &str) -> PluginSet {
    load(&demo_config(instance, |name| format!("builtin:{name}"))).await
}

/// The config text of [`demo_chain`], with each plugin's `wasm` given by
/// `wasm("auth")` etc. (profiling loads unstripped builds of the plugins).
pub fn demo_config(instance: &str, wasm: impl Fn(&str) -> String) -> String {
    let (auth, router, personalize) = (wasm("auth"), wasm("router"), wasm("personalize"));
    format!(
        r#"
[[listeners]]
address = "127.0.0.1:0"
[[pools]]
name = "shop"
backends = ["http://127.0.0.1:9"]
[[pools]]
name = "shop-canary"
backends = ["http://127.0.0.1:9"]
[[routes]]
path_prefix = "/"
pool = "shop"
plugins = ["auth", "router", "personalize"]
[[plugins]]
name = "auth"
wasm = "{auth}"
instance = "{instance}"
[plugins.config]
secret = "bench-secret"
issuer = "brink-demo"
audience = "shop"
public_prefixes = ["/images/", "/products/"]
[[plugins]]
name = "router"
wasm = "{router}"
instance = "{instance}"
[plugins.config]
rules = [
  {{ path_regex = "^/p/([0-9]+)$", rewrite = "/products/$1" }},
  {{ path_prefix = "/beta/", pool = "shop-canary", rewrite_prefix = "/" }},
]
[[plugins]]
name = "personalize"
wasm = "{personalize}"
instance = "{instance}"
[plugins.config]
prefixes = ["/fragments/recommendations"]
"#
    )
}

/// Loads the plugins of a config text.
pub async fn load(text: &str) -> PluginSet {
    let config = Config::parse(text, "<bench>", Path::new(".")).expect("bench config");
    let engine = PluginEngine::new().expect("engine");
    PluginSet::load(&config, &engine, None)
        .await
        .expect("plugins load")
}

/// One trivial plugin (the `fx_echo` fixture: adds a header), to measure the
/// fixed cost of a call apart from what a plugin computes.
pub async fn trivial_chain(instance: &str) -> PluginSet {
    let wasm = format!("{}/fx_echo.wasm", brink::plugin::GUEST_DIR);
    let text = format!(
        r#"
[[listeners]]
address = "127.0.0.1:0"
[[pools]]
name = "shop"
backends = ["http://127.0.0.1:9"]
[[routes]]
path_prefix = "/"
pool = "shop"
plugins = ["echo"]
[[plugins]]
name = "echo"
wasm = "{wasm}"
instance = "{instance}"
"#
    );
    load(&text).await
}

/// A signed token the bench chain accepts.
pub fn bench_token() -> String {
    let now = brink::token::now_secs();
    brink::token::sign_hs256(
        &serde_json::json!({"sub": "u-1", "tier": "gold", "iss": "brink-demo", "aud": "shop", "exp": now + 3600}),
        "bench-secret",
    )
}

/// A typical authenticated fragment request.
pub fn fragment_request(token: &str) -> http::request::Parts {
    let (parts, ()) = http::Request::get("/fragments/recommendations")
        .header("host", "shop.test")
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/html")
        .header("user-agent", "bench/1.0")
        .body(())
        .expect("request")
        .into_parts();
    parts
}
