//! Configuration: the TOML file is read into the raw serde mirror in
//! [`raw`], then validated into the typed structs below. Every error names
//! the file, line, column and key path, and validation reports all errors it
//! finds, not only the first. `brink check`, `brink serve` and reloads share
//! [`Config::load`].

mod control;
mod error;
mod pool;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use control::{ControlAuth, ControlConfig, is_control_name};
pub use error::{ConfigError, ConfigErrors};

pub use brink_cache::{CacheConfig, QueryKey};

pub use crate::normalize::{EscapedSlashes, PathRules};
pub use pool::*;

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (`<command line>` for zero-config mode).
    pub source: String,
    /// Node identity.
    pub node: NodeSettings,
    /// Client-facing listeners.
    pub listeners: Vec<ListenerConfig>,
    /// The admin listener, if any.
    pub admin: Option<AdminConfig>,
    /// Request and connection limits.
    pub limits: Limits,
    /// Logging.
    pub log: LogConfig,
    /// Built-in shop origins started together with the node.
    pub origins: Vec<BuiltinOriginConfig>,
    /// Origin pools.
    pub pools: Vec<PoolConfig>,
    /// Routes, matched in order: the first whose host and path prefix match wins.
    pub routes: Vec<RouteConfig>,
    /// Wasm plugins, attached to routes by name.
    pub plugins: Vec<PluginConfig>,
    /// The HTTP cache.
    pub cache: CacheConfig,
    /// Nodes of a fleet run from this one file (`brink demo`, `brink loadtest`);
    /// empty for a single node.
    pub fleet: Vec<FleetNode>,
    /// How this node joins a fleet over NATS JetStream (`[control]`), if it does.
    pub control: Option<ControlConfig>,
}

/// One node of a fleet: the file's settings with its own identity, address
/// and parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetNode {
    /// Node name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Client listener address.
    pub listen: SocketAddr,
    /// Admin listener address, if any.
    pub admin: Option<SocketAddr>,
    /// The node asked on a miss before the origin (tiered caching).
    pub parent: Option<String>,
    /// Whether the routes' plugins run on this node (a shield behind edges
    /// that already ran them says no).
    pub plugins: bool,
}

/// Per-route cache rules.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteCache {
    /// Whether this route uses the cache at all (false: bypass).
    pub enabled: bool,
    /// A lifetime that overrides the origin's (never no-store, private or Set-Cookie).
    pub force_ttl: Option<Duration>,
    /// Only responses with these statuses are stored.
    pub statuses: Option<Vec<u16>>,
    /// Query handling in the key.
    pub query: QueryKey,
    /// Store responses that carry `Set-Cookie`.
    pub allow_set_cookie: bool,
}

impl Default for RouteCache {
    fn default() -> Self {
        RouteCache {
            enabled: true,
            force_ttl: None,
            statuses: None,
            query: QueryKey::Keep,
            allow_set_cookie: false,
        }
    }
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// One of the sample plugins built into the binary (`builtin:auth`).
    Builtin(String),
    /// A `.wasm` component file.
    File(PathBuf),
}

/// What a plugin failure does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Answer with an error status.
    FailClosed,
    /// Skip the plugin and go on.
    FailOpen,
}

/// Instance lifecycle of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceMode {
    /// Warm instances reused up to `max_reuse` calls, discarded after any failure.
    Reuse,
    /// A fresh instance for every call.
    PerRequest,
}

/// A Wasm plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConfig {
    /// Name, used by routes.
    pub name: String,
    /// The component.
    pub source: PluginSource,
    /// Instance lifecycle.
    pub instance: InstanceMode,
    /// Calls per warm instance before it is replaced.
    pub max_reuse: u32,
    /// Wall-clock deadline per call.
    pub timeout: Duration,
    /// Memory cap per instance, bytes.
    pub max_memory: usize,
    /// Instruction budget per call, if any.
    pub fuel: Option<u64>,
    /// Failure policy.
    pub on_error: OnError,
    /// Largest text response body shown to `on-response`; 0 never shows bodies.
    pub response_body_limit: usize,
    /// The plugin's own config table.
    pub config: toml::Table,
    /// Index in `[[plugins]]`, for error messages.
    pub index: usize,
    /// Line and column of the `wasm` key, for errors found when loading.
    pub location: (usize, usize),
    /// A new version that runs on a share of the requests (`[plugins.canary]`).
    pub canary: Option<CanaryConfig>,
    /// Request fields this plugin sets for the origin (lower case): removed
    /// from every client request at ingress (see [`Config::edge_owned_headers`]).
    pub owns_headers: Vec<String>,
}

/// `[plugins.canary]`: a second version of a plugin that runs on `percent`
/// of the requests (chosen at random per request); the rest run the stable one.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryConfig {
    /// The canary's component.
    pub source: PluginSource,
    /// Share of requests, 0.0 to 100.0.
    pub percent: f64,
    /// Its own config table; `None` uses the stable version's.
    pub config: Option<toml::Table>,
    /// Line and column of its `wasm` key.
    pub location: (usize, usize),
}

impl PluginConfig {
    /// Whether warm instances are reused.
    pub fn reuse(&self) -> bool {
        self.instance == InstanceMode::Reuse
    }
}

/// Node name and region.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Node name, shown in `Via`, logs and `/status`.
    pub name: String,
    /// Region name (for example `eu-west`).
    pub region: String,
    /// Request fields only the edge may set (lower case), removed from every
    /// client request at ingress, on every route.
    pub edge_owned_headers: Vec<String>,
}

/// One client-facing listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Certificates for HTTPS; empty means plain HTTP (with h2c prior knowledge).
    pub tls: Vec<CertificateConfig>,
}

/// One certificate and key, chosen by SNI among the names the certificate holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The admin listener.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Address to bind (127.0.0.1 by default).
    pub addr: SocketAddr,
    /// Bearer token required for anything that changes state; none means those endpoints are refused.
    pub token: Option<String>,
}

/// Limits on requests and connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line plus headers) in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Largest request body in bytes; larger gets 413.
    pub max_body_bytes: u64,
    /// A client must send a whole request head within this time.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// A TLS handshake must complete within this time.
    pub tls_handshake_timeout: Duration,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 32 * 1024,
            max_body_bytes: 10 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Log as JSON lines instead of readable text.
    pub json: bool,
    /// Write one access-log line per request.
    pub access_log: bool,
}

/// A built-in shop origin the node starts itself (`brink origin` in-process).
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinOriginConfig {
    /// Name, referenced by pools as `origin:NAME`.
    pub name: String,
    /// Address to bind; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Number of products in the synthetic catalog.
    pub catalog: u32,
    /// Added latency per request.
    pub latency: Duration,
    /// Fraction of requests answered with an injected 503.
    pub fail_rate: f64,
}

/// A route: requests whose host and path match go to `pool`.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Host to match (exact, case-insensitive), or any host when `None`.
    pub host: Option<String>,
    /// Path prefix to match.
    pub path_prefix: String,
    /// Pool name.
    pub pool: String,
    /// Plugins run on this route, in order.
    pub plugins: Vec<String>,
    /// Cache rules.
    pub cache: RouteCache,
    /// Pool used when the route's pool (and its own fallback) has no available backend.
    pub fallback: Option<String>,
    /// Merge runs of `/` in the path (before the route is final).
    pub merge_slashes: bool,
    /// What `%2F` and `%5C` in the path do.
    pub escaped_slashes: EscapedSlashes,
    /// Forward the clients' override fields (`X-Original-URL`, ...); they
    /// then join the cache key.
    pub forward_overrides: bool,
}

impl RouteConfig {
    /// A route to `pool` for every path, with the defaults.
    pub fn catch_all(pool: &str) -> RouteConfig {
        RouteConfig {
            host: None,
            path_prefix: "/".into(),
            pool: pool.into(),
            plugins: Vec::new(),
            cache: RouteCache::default(),
            fallback: None,
            merge_slashes: false,
            escaped_slashes: EscapedSlashes::Reject,
            forward_overrides: false,
        }
    }

    /// The path rules of this route.
    pub fn path_rules(&self) -> PathRules {
        PathRules {
            merge_slashes: self.merge_slashes,
            escaped_slashes: self.escaped_slashes,
        }
    }
}

impl Config {
    /// Request fields removed from every client request at ingress: the
    /// node's `edge_owned_headers`, each plugin's `owns_headers`, and the
    /// header names of a plugin config's `claim_headers` table (the
    /// convention of the sample `auth` plugin). A node that runs no plugins
    /// (a shield behind edges) keeps what its edges set.
    pub fn edge_owned_headers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.node.edge_owned_headers.clone();
        for p in &self.plugins {
            names.extend(p.owns_headers.iter().cloned());
            let tables =
                std::iter::once(&p.config).chain(p.canary.as_ref().and_then(|c| c.config.as_ref()));
            for table in tables {
                if let Some(toml::Value::Table(claims)) = table.get("claim_headers") {
                    names.extend(
                        claims
                            .values()
                            .filter_map(|v| v.as_str())
                            .map(str::to_ascii_lowercase),
                    );
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(ConfigError::new(
                path.display().to_string(),
                1,
                1,
                "",
                format!("cannot read file: {e}"),
            ))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, &path.display().to_string(), base)
    }

    /// Parses and validates config text; relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
        let raw = validate::deserialize(text, file)?;
        validate::validate(raw, text, file, base_dir)
    }

    /// Zero-config mode: one listener, one pool of the given origins, every path routed to it.
    pub fn zero_config(listen: SocketAddr, origins: &[String]) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut backends = Vec::new();
        for (i, origin) in origins.iter().enumerate() {
            match validate::parse_backend_url(origin) {
                Ok(uri) => backends.push(BackendTarget::Url(uri)),
                Err(msg) => errors.push(ConfigError::new(
                    "<command line>",
                    1,
                    1,
                    &format!("--origin[{i}]"),
                    msg,
                )),
            }
        }
        if backends.is_empty() && errors.is_empty() {
            errors.push(ConfigError::new(
                "<command line>",
                1,
                1,
                "--origin",
                "at least one --origin is required",
            ));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            source: "<command line>".into(),
            node: NodeSettings::default(),
            listeners: vec![ListenerConfig {
                addr: listen,
                tls: Vec::new(),
            }],
            admin: None,
            limits: Limits::default(),
            log: LogConfig::default(),
            origins: Vec::new(),
            pools: vec![PoolConfig::zero_config(backends)],
            routes: vec![RouteConfig::catch_all("default")],
            plugins: Vec::new(),
            cache: CacheConfig::default(),
            fleet: Vec::new(),
            control: None,
        })
    }

    /// A one-line summary for `brink check`.
    pub fn summary(&self) -> String {
        let tls = self.listeners.iter().filter(|l| !l.tls.is_empty()).count();
        let nodes = if self.fleet.is_empty() {
            format!(
                "node {} ({}), {} listener(s) ({} https)",
                self.node.name,
                self.node.region,
                self.listeners.len(),
                tls
            )
        } else {
            let names: Vec<String> = self
                .fleet
                .iter()
                .map(|n| match &n.parent {
                    Some(p) => format!("{} ({}) -> {p}", n.name, n.region),
                    None => format!("{} ({})", n.name, n.region),
                })
                .collect();
            format!(
                "fleet of {} node(s): {}",
                self.fleet.len(),
                names.join(", ")
            )
        };
        format!(
            "{}: ok: {nodes}, {} pool(s), {} route(s), {} plugin(s), {} built-in origin(s)",
            self.source,
            self.pools.len(),
            self.routes.len(),
            self.plugins.len(),
            self.origins.len()
        )
    }
}

/// The sample plugins built into the binary (`wasm = "builtin:NAME"`).
pub const BUILTIN_PLUGINS: [&str; 3] = ["auth", "router", "personalize"];
/// The largest `max_memory_bytes` a plugin may have (wasmtime's pool is
/// sized for it).
pub const MAX_PLUGIN_MEMORY: usize = 1 << 30;

/// Default deadline of one plugin call.
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_millis(50);
/// Default memory cap of one plugin instance.
pub const DEFAULT_PLUGIN_MEMORY: usize = 64 * 1024 * 1024;
/// Default calls per warm plugin instance.
pub const DEFAULT_MAX_REUSE: u32 = 10_000;

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            name: "brink".into(),
            region: "local".into(),
            edge_owned_headers: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            json: false,
            access_log: true,
        }
    }
}
