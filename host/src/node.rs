//! A running edge node: built-in origins, listeners, hot reload and
//! shutdown. The parts a reload replaces (listeners, built-in origins) live
//! in [`listeners`] and [`origins`] behind the [`Reloader`]'s lock. The admin
//! listener is bound here but served by a handler the layer above hands in
//! ([`Node::with_admin`], in [`admin_listener`]): the admin API sits above
//! the node, so the node does not name it.

mod admin_listener;
pub(crate) mod listeners;
pub(crate) mod origins;
pub mod reload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use origins::BuiltinOrigin;

use crate::body::Body;
use crate::cache::Cache;
use crate::config::{Config, Limits};
use crate::error::EdgeError;
use crate::metrics::Metrics;
use crate::origin::Pools;
use crate::pipeline::{self, ConnInfo};
use crate::plugin::{PluginEngine, PluginSet};
use crate::server::{DirectResponse, Handler};
use crate::state::{Generation, Shared};
use crate::tls::TlsError;
use admin_listener::AdminPort;
use reload::{ReloadError, Reloaded, Reloader, Runtime, Trigger};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A listener address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Pools could not be built.
    #[error(transparent)]
    Pools(#[from] EdgeError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugins(#[from] crate::config::ConfigErrors),
    /// The wasmtime engine could not be created.
    #[error("cannot create the plugin engine: {0}")]
    Engine(String),
}

/// A listener that is accepting.
#[derive(Debug, Clone, Copy)]
pub struct BoundListener {
    /// The address actually bound.
    pub addr: SocketAddr,
    /// Whether it speaks HTTPS.
    pub tls: bool,
}

impl BoundListener {
    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }
}

/// The client-facing request handler.
#[derive(Clone)]
pub(crate) struct EdgeHandler {
    shared: Arc<Shared>,
    /// The port of the listener it serves (0 until one is given): a `Host`
    /// naming it names this node, as one naming no port does.
    port: u16,
}

impl EdgeHandler {
    /// This handler for the listener bound to `port`.
    pub(crate) fn for_port(&self, port: u16) -> EdgeHandler {
        EdgeHandler {
            shared: self.shared.clone(),
            port,
        }
    }

    /// The limits of the current generation.
    fn current_limits(&self) -> Limits {
        self.shared.generation().config.limits.clone()
    }
}

impl Handler for EdgeHandler {
    type Direct = pipeline::PlainHit;

    fn call(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
        scheme: &'static str,
    ) -> impl Future<Output = http::Response<Body>> + Send + 'static + use<> {
        let conn = ConnInfo {
            peer,
            scheme,
            port: self.port,
        };
        pipeline::handle(req, conn, self.shared.clone())
    }

    fn limits(&self) -> Option<Limits> {
        Some(self.current_limits())
    }

    fn answers_plain_hits(&self) -> bool {
        true
    }

    fn plain_hit(
        &self,
        head: &http::request::Parts,
        peer: SocketAddr,
        scheme: &'static str,
    ) -> Option<Self::Direct> {
        let conn = ConnInfo {
            peer,
            scheme,
            port: self.port,
        };
        pipeline::plain_hit(head, conn, &self.shared)
    }
}

/// The server writes a plain hit as the pipeline made it.
impl DirectResponse for pipeline::PlainHit {
    fn encode_head(&self, out: &mut Vec<u8>) {
        pipeline::PlainHit::encode_head(self, out);
    }

    fn body(&self) -> &bytes::Bytes {
        pipeline::PlainHit::body(self)
    }

    fn finish(self, bytes: u64, complete: bool) {
        pipeline::PlainHit::finish(self, bytes, complete);
    }
}

/// How a node reloads its config.
#[derive(Debug, Clone, Default)]
pub struct ReloadOptions {
    /// The config file reloads read (`SIGHUP`, `POST /reload`, file changes);
    /// `None`: the node cannot reload.
    pub file: Option<PathBuf>,
    /// Also reload when the file or a plugin component it names changes on disk.
    pub watch: bool,
}

/// A running node. Call [`Node::shutdown`] to stop it gracefully.
pub struct Node {
    reloader: Arc<Reloader>,
    admin: AdminPort,
    tracker: TaskTracker,
    watch_stop: CancellationToken,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { addr, source })
}

impl Node {
    /// Starts the built-in origins, binds every listener and starts serving.
    /// The node cannot reload (see [`Node::start_with`]).
    ///
    /// The admin listener the config asks for starts with
    /// [`Node::with_admin`], which whoever starts the node calls with the
    /// admin handler (the fleet and `brink serve` do).
    pub async fn start(config: Config) -> Result<Node, NodeError> {
        Node::start_with(config, ReloadOptions::default()).await
    }

    /// Like [`Node::start`], for a config read from `reload.file`: the node
    /// then reloads on [`Node::reload`], `POST /reload`, and (with
    /// `reload.watch`) when the file or its plugins change.
    pub async fn start_with(config: Config, reload: ReloadOptions) -> Result<Node, NodeError> {
        let admin = AdminPort::wanted(&config);
        let tracker = TaskTracker::new();
        let reloader = Arc::new(start_runtime(config, reload.file.clone(), &tracker).await?);
        let watch_stop = CancellationToken::new();
        if reload.watch
            && reload.file.is_some()
            && let Err(e) = reload::watch::spawn(reloader.clone(), watch_stop.clone())
        {
            tracing::warn!(
                "cannot watch the config for changes (SIGHUP and POST /reload still reload): {e}"
            );
        }
        Ok(Node {
            reloader,
            admin,
            tracker,
            watch_stop,
        })
    }

    /// The client-facing listeners, as bound now (a reload may add or remove some).
    pub fn listeners(&self) -> Vec<BoundListener> {
        self.reloader.view().listeners.clone()
    }

    /// The admin listener's address, once [`Node::with_admin`] has bound it.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.addr()
    }

    /// The built-in origins this node runs now.
    pub fn builtin_origins(&self) -> Vec<BuiltinOrigin> {
        self.reloader.view().origins.clone()
    }

    /// Node state (config generation, metrics).
    pub fn shared(&self) -> &Arc<Shared> {
        self.reloader.shared()
    }

    /// What applies reloads to this node.
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// Re-reads the config file and applies it, all or nothing.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        self.reloader.reload(Trigger::Api).await
    }

    /// Stops accepting, lets in-flight requests finish within the grace
    /// period, then stops the origin health checks and the built-in origins.
    pub async fn shutdown(self) {
        self.watch_stop.cancel();
        self.reloader.close().await;
        self.admin.stop();
        self.tracker.close();
        let grace = self.shared().generation().config.limits.shutdown_grace;
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown grace of {:?} elapsed with {} connection(s) still open",
                grace,
                self.tracker.len()
            );
        }
        self.shared().generation().pools.stop();
        self.reloader.stop_origins().await;
    }
}

/// The node's state, its built-in origins started and its listeners bound:
/// everything a reload may replace, behind the [`Reloader`]. A failure stops
/// what had started.
async fn start_runtime(
    config: Config,
    file: Option<PathBuf>,
    tracker: &TaskTracker,
) -> Result<Reloader, NodeError> {
    let engine = PluginEngine::new().map_err(|e| NodeError::Engine(format!("{e:#}")))?;
    let plugins = PluginSet::load(&config, &engine, None).await?;
    let mut origins = origins::Origins::default();
    let origin_plan = origins.prepare(&config.origins).await.map_err(|(_, e)| e)?;
    let pools = match Pools::build(&config, origin_plan.urls(), None) {
        Ok(p) => p,
        Err(e) => {
            origin_plan.abort().await;
            return Err(e.into());
        }
    };
    let listener_configs = config.listeners.clone();
    let shared = new_shared(config, pools, plugins, engine);
    let mut listeners = listeners::Listeners::new(listeners::ListenEnv {
        handler: EdgeHandler {
            shared: shared.clone(),
            port: 0,
        },
        tracker: tracker.clone(),
        metrics: shared.metrics.clone(),
    });
    let plan = match listeners.prepare(&listener_configs).await {
        Ok(p) => p,
        Err((_, e)) => {
            origin_plan.abort().await;
            return Err(e);
        }
    };
    listeners.commit(plan);
    origins.commit(origin_plan).await;
    let runtime = Runtime {
        file,
        listeners,
        origins,
        closed: false,
    };
    Ok(Reloader::new(shared, runtime, tracker.clone()))
}

/// Generation 1 of `config`, with the node's metrics and cache.
fn new_shared(
    config: Config,
    pools: Pools,
    plugins: PluginSet,
    engine: PluginEngine,
) -> Arc<Shared> {
    let metrics = Arc::new(Metrics::new());
    let cache = Arc::new(Cache::new(&config.cache));
    let shared = Arc::new(Shared {
        current: ArcSwap::from_pointee(Generation::new(1, Arc::new(config), pools, plugins)),
        metrics,
        started: Instant::now(),
        engine,
        cache,
        config_status: Default::default(),
        control: Default::default(),
    });
    crate::state::register_collectors(&shared);
    shared
}
