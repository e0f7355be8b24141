//! The request context: one [`Exchange`] per request, made by
//! [`super::handle`], passed by `&mut` through every phase and by value to
//! [`super::finish`]. Like Pingora's per-request `CTX`, it is where a phase
//! leaves what it learnt (the normalised host, the route, the pool, the
//! plugins' state, the backend, the cache outcome) for the phases after it
//! and for the log, instead of each phase passing the next a list of loose
//! arguments. What only one phase needs (the cache key's variant, the
//! request parts themselves) stays with that phase.

use std::sync::Arc;
use std::time::Instant;

use http::uri::PathAndQuery;

use super::ConnInfo;
use super::ingress::Target;
use crate::access_log::CacheOutcome;
use crate::config::RouteConfig;
use crate::error::EdgeError;
use crate::origin::Pool;
use crate::plugin::{ClientFacts, LoadedPlugin, SeenRequest};
use crate::state::{Generation, Shared};

/// One request on its way through the phases.
pub(crate) struct Exchange {
    /// The client connection it arrived on.
    pub(crate) conn: ConnInfo,
    /// What the node's connections share: the cache, the metrics.
    pub(crate) shared: Arc<Shared>,
    /// The config generation it runs on from start to end (a reload meanwhile
    /// does not change it).
    pub(crate) generation: Arc<Generation>,
    /// The normalised host and authority, from ingress (and again after a
    /// plugin's rewrite); empty before.
    pub(crate) target: Target,
    /// Index of the route in the generation's config, once routed.
    pub(crate) route: usize,
    /// The pool it goes to: the route's, or the one a plugin named. Chosen
    /// after the request plugins, before the cache and pass phases.
    pub(crate) pool: Option<Arc<Pool>>,
    /// What the plugins need from one phase to the next.
    pub(crate) plugins: PluginState,
    /// What the metrics and the access log record.
    pub(crate) log: LogFields,
}

/// The plugins' part of an exchange.
pub(crate) struct PluginState {
    /// The client as plugins see it (empty on a node without plugins).
    pub(crate) client: ClientFacts,
    /// The chain the request phase ran last (canary versions picked): its
    /// response phase runs on the way back.
    pub(crate) chain: Vec<Arc<LoadedPlugin>>,
    /// The request as the chain left it, for the response phase.
    pub(crate) seen: Option<SeenRequest>,
}

impl PluginState {
    /// Before the plugins run (and for requests no plugin sees).
    fn none() -> PluginState {
        PluginState {
            client: ClientFacts {
                ip: String::new(),
                region: String::new(),
            },
            chain: Vec::new(),
            seen: None,
        }
    }
}

/// What the phases learn for the log and the metrics.
pub(crate) struct LogFields {
    /// When the request head arrived.
    pub(crate) start: Instant,
    /// The request method.
    pub(crate) method: http::Method,
    /// Path and query as forwarded (a cheap clone of the request's; text
    /// only for logs).
    pub(crate) path: Option<PathAndQuery>,
    /// Backend that answered, if one did.
    pub(crate) origin: Option<String>,
    /// What the cache did.
    pub(crate) cache: CacheOutcome,
}

impl LogFields {
    /// Fields for a request that arrived now.
    pub(crate) fn new(method: http::Method, path: Option<PathAndQuery>) -> LogFields {
        LogFields {
            start: Instant::now(),
            method,
            path,
            origin: None,
            cache: CacheOutcome::Bypass,
        }
    }

    /// The path and query, for logs.
    pub(crate) fn path_text(&self) -> &str {
        self.path.as_ref().map_or("/", |p| p.as_str())
    }
}

impl Exchange {
    /// A request that arrived now on `conn`, on the current generation.
    pub(crate) fn new(conn: ConnInfo, shared: Arc<Shared>, log: LogFields) -> Exchange {
        Exchange {
            conn,
            generation: shared.generation(),
            shared,
            target: Target::default(),
            route: 0,
            pool: None,
            plugins: PluginState::none(),
            log,
        }
    }

    /// The route chosen (the first before routing).
    pub(crate) fn route(&self) -> &RouteConfig {
        &self.generation.config.routes[self.route]
    }

    /// The pool chosen; an internal error before one is.
    pub(crate) fn pool(&self) -> Result<&Arc<Pool>, EdgeError> {
        self.pool
            .as_ref()
            .ok_or_else(|| EdgeError::Internal("no pool chosen".into()))
    }

    /// The same request routed the same way, for work no client waits for
    /// (background revalidation): no plugins, a log of its own (never
    /// written).
    pub(crate) fn background(&self, path: Option<PathAndQuery>) -> Exchange {
        let mut log = LogFields::new(http::Method::GET, path);
        log.cache = CacheOutcome::None;
        Exchange {
            conn: self.conn,
            shared: self.shared.clone(),
            generation: self.generation.clone(),
            target: self.target.clone(),
            route: self.route,
            pool: self.pool.clone(),
            plugins: PluginState::none(),
            log,
        }
    }
}
