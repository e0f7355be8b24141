//! The raw serde mirror of the TOML config file. Every table denies unknown
//! keys; values that validation must point at are kept `Spanned`.

mod control;
mod pool;

use serde::Deserialize;
use toml::Spanned;

pub use control::*;
pub use pool::*;

/// The whole file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub node: Option<RawNode>,
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    pub admin: Option<RawAdmin>,
    pub limits: Option<RawLimits>,
    pub log: Option<RawLog>,
    #[serde(default)]
    pub origins: Vec<RawBuiltinOrigin>,
    #[serde(default)]
    pub pools: Vec<RawPool>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub plugins: Vec<RawPlugin>,
    pub cache: Option<RawCache>,
    pub fleet: Option<RawFleet>,
    pub control: Option<RawControl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleet {
    #[serde(default)]
    pub nodes: Vec<RawFleetNode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleetNode {
    pub name: Spanned<String>,
    pub region: Spanned<String>,
    pub listen: Option<Spanned<String>>,
    pub admin: Option<Spanned<String>>,
    pub parent: Option<Spanned<String>>,
    pub plugins: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub capacity_bytes: Option<Spanned<u64>>,
    pub max_object_bytes: Option<Spanned<u64>>,
    pub stale_while_revalidate: Option<Spanned<String>>,
    pub stale_if_error: Option<Spanned<String>>,
    pub debug_key: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteCache {
    pub enabled: Option<bool>,
    pub force_ttl: Option<Spanned<String>>,
    pub statuses: Option<Spanned<Vec<u16>>>,
    pub query: Option<Spanned<String>>,
    pub allow_set_cookie: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    #[serde(default)]
    pub edge_owned_headers: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub address: Spanned<String>,
    #[serde(default)]
    pub tls: Vec<RawCertificate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub address: Option<Spanned<String>>,
    pub token: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_header_bytes: Option<Spanned<u64>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    pub header_read_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub tls_handshake_timeout: Option<Spanned<String>>,
    pub shutdown_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<Spanned<String>>,
    pub access_log: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuiltinOrigin {
    pub name: Spanned<String>,
    pub address: Option<Spanned<String>>,
    pub catalog: Option<u32>,
    pub latency_ms: Option<u64>,
    pub fail_rate: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub host: Option<Spanned<String>>,
    pub path_prefix: Option<Spanned<String>>,
    pub pool: Spanned<String>,
    #[serde(default)]
    pub plugins: Vec<Spanned<String>>,
    pub cache: Option<RawRouteCache>,
    pub fallback: Option<Spanned<String>>,
    pub merge_slashes: Option<bool>,
    pub escaped_slashes: Option<Spanned<String>>,
    pub override_headers: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub name: Spanned<String>,
    pub wasm: Spanned<String>,
    pub instance: Option<Spanned<String>>,
    pub max_reuse: Option<Spanned<u32>>,
    pub timeout: Option<Spanned<String>>,
    pub max_memory_bytes: Option<Spanned<u64>>,
    pub fuel: Option<Spanned<u64>>,
    pub on_error: Option<Spanned<String>>,
    pub response_body_limit: Option<Spanned<u64>>,
    #[serde(default)]
    pub config: toml::Table,
    pub canary: Option<RawCanary>,
    #[serde(default)]
    pub owns_headers: Vec<Spanned<String>>,
}

/// `[plugins.canary]`: a new version that gets a share of the requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    pub wasm: Spanned<String>,
    pub percent: Spanned<f64>,
    pub config: Option<toml::Table>,
}
