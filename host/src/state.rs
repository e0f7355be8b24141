//! What a node shares between its connections: the current config generation
//! (swapped atomically on reload) and the metrics.

mod collectors;
mod config_status;
mod control_status;

pub use collectors::register_collectors;
pub use config_status::{ConfigStatus, LastReload, Trigger};
pub use control_status::ControlStatus;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::cache::Cache;
use crate::config::{Config, RouteConfig};
use crate::metrics::{Metrics, RouteCacheCounters};
use crate::origin::{Pool, Pools};
use crate::plugin::{PluginEngine, PluginSet};

/// One config generation: everything a request needs, fixed for its lifetime.
#[derive(Debug)]
pub struct Generation {
    /// Sequence number, 1 for the config the node started with.
    pub id: u64,
    /// The validated config.
    pub config: Arc<Config>,
    /// Origin pools.
    pub pools: Pools,
    /// Plugins and each route's chain.
    pub plugins: PluginSet,
    /// Each route's pool, by route index (`None` only if the config names a
    /// pool that does not exist, which validation refuses).
    pub route_pools: Box<[Option<Arc<Pool>>]>,
    /// Each route's cache counters, by route index.
    pub route_cache: Box<[RouteCacheCounters]>,
    /// This node's name, shared by every `Cache-Status` member it writes.
    pub node: Arc<str>,
    /// Request fields removed from every client request at ingress
    /// ([`Config::edge_owned_headers`]).
    pub edge_owned: Box<[http::HeaderName]>,
}

impl Drop for Generation {
    fn drop(&mut self) {
        tracing::debug!(generation = self.id, "config generation retired");
    }
}

impl Generation {
    /// A generation of this config, with what it derives per route made once.
    pub fn new(id: u64, config: Arc<Config>, pools: Pools, plugins: PluginSet) -> Self {
        let route_cache = config
            .routes
            .iter()
            .map(|r| RouteCacheCounters::new(&r.path_prefix))
            .collect();
        let route_pools = config
            .routes
            .iter()
            .map(|r| pools.get(&r.pool).cloned())
            .collect();
        let edge_owned = config
            .edge_owned_headers()
            .iter()
            .filter_map(|n| http::HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        Generation {
            id,
            edge_owned,
            node: Arc::from(config.node.name.as_str()),
            config,
            pools,
            plugins,
            route_pools,
            route_cache,
        }
    }

    /// The first route matching `host` (without port, lower case) and
    /// `path`, with its index.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<(usize, &RouteConfig)> {
        self.config.routes.iter().enumerate().find(|(_, r)| {
            r.host.as_deref().is_none_or(|h| Some(h) == host) && path.starts_with(&r.path_prefix)
        })
    }
}

/// State shared by every connection of a node.
#[derive(Debug)]
pub struct Shared {
    /// The generation new requests start on.
    pub current: ArcSwap<Generation>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// When the node started.
    pub started: Instant,
    /// The wasmtime engine shared by every generation.
    pub engine: PluginEngine,
    /// The HTTP cache; it outlives config generations.
    pub cache: Arc<Cache>,
    /// Reload counters and the last reload's outcome.
    pub config_status: ConfigStatus,
    /// The fleet control plane's state (`/status` `control`), for a node in a NATS fleet.
    pub control: ControlStatus,
}

impl Shared {
    /// The current generation; a request holds it until it ends.
    pub fn generation(&self) -> Arc<Generation> {
        self.current.load_full()
    }
}
