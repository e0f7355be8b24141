//! A running edge node: built-in origins, listeners, admin, and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::admin::AdminHandler;
use crate::body::Body;
use crate::cache::Cache;
use crate::config::Config;
use crate::demo_origin::{self, OriginHandle, OriginOptions};
use crate::error::EdgeError;
use crate::metrics::Metrics;
use crate::origin::Pools;
use crate::pipeline::{self, ConnInfo};
use crate::plugin::{PluginEngine, PluginSet};
use crate::server::{self, Handler, ListenerCtx};
use crate::state::{Generation, Shared};
use crate::tls::{self, TlsError};

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
struct EdgeHandler {
    shared: Arc<Shared>,
}

impl Handler for EdgeHandler {
    fn call(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
        scheme: &'static str,
    ) -> impl Future<Output = http::Response<Body>> + Send + 'static + use<> {
        pipeline::handle(req, ConnInfo { peer, scheme }, self.shared.clone())
    }
}

/// A running node. Call [`Node::shutdown`] to stop it gracefully.
pub struct Node {
    shared: Arc<Shared>,
    listeners: Vec<BoundListener>,
    admin: Option<SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    tracker: TaskTracker,
    origins: Vec<OriginHandle>,
    grace: Duration,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { addr, source })
}

impl Node {
    /// Starts the built-in origins, binds every listener and starts serving.
    pub async fn start(config: Config) -> Result<Node, NodeError> {
        let mut origins = Vec::new();
        let mut builtin = HashMap::new();
        for o in &config.origins {
            let opts = OriginOptions {
                name: o.name.clone(),
                catalog: o.catalog,
                latency: o.latency,
                fail_rate: o.fail_rate,
                fail_healthz: false,
            };
            let handle =
                demo_origin::start(o.addr, opts)
                    .await
                    .map_err(|source| NodeError::Bind {
                        addr: o.addr,
                        source,
                    })?;
            let uri: http::Uri = handle.url().parse().expect("origin URL is valid");
            builtin.insert(o.name.clone(), uri);
            origins.push(handle);
        }
        let pools = Pools::build(&config, &builtin)?;
        let engine = PluginEngine::new().map_err(|e| NodeError::Engine(format!("{e:#}")))?;
        let plugins = PluginSet::load(&config, &engine, None).await?;
        let metrics = Arc::new(Metrics::new());
        let cache = Arc::new(Cache::new(&config.cache));
        metrics.watch_cache(cache.clone());
        let limits = config.limits.clone();
        let admin_config = config.admin.clone();
        let listener_configs = config.listeners.clone();
        let shared = Arc::new(Shared {
            current: ArcSwap::from_pointee(Generation {
                id: 1,
                config: Arc::new(config),
                pools,
                plugins,
            }),
            metrics: metrics.clone(),
            started: Instant::now(),
            engine,
            cache,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tracker = TaskTracker::new();
        let mut listeners = Vec::new();
        for l in &listener_configs {
            let tls = if l.tls.is_empty() {
                None
            } else {
                Some(TlsAcceptor::from(tls::server_config(&l.tls)?))
            };
            let listener = bind(l.addr).await?;
            let addr = listener.local_addr().map_err(|source| NodeError::Bind {
                addr: l.addr,
                source,
            })?;
            listeners.push(BoundListener {
                addr,
                tls: tls.is_some(),
            });
            let ctx = ListenerCtx {
                handler: EdgeHandler {
                    shared: shared.clone(),
                },
                limits: limits.clone(),
                tls,
                shutdown: shutdown_rx.clone(),
                tracker: tracker.clone(),
                metrics: metrics.clone(),
            };
            tokio::spawn(server::accept_loop(listener, ctx));
        }
        let mut admin = None;
        if let Some(a) = admin_config {
            let listener = bind(a.addr).await?;
            admin = Some(listener.local_addr().map_err(|source| NodeError::Bind {
                addr: a.addr,
                source,
            })?);
            let ctx = ListenerCtx {
                handler: AdminHandler {
                    shared: shared.clone(),
                    token: a.token.map(Arc::from),
                },
                limits: limits.clone(),
                tls: None,
                shutdown: shutdown_rx.clone(),
                tracker: tracker.clone(),
                metrics: Arc::new(Metrics::new()),
            };
            tokio::spawn(server::accept_loop(listener, ctx));
        }
        Ok(Node {
            shared,
            listeners,
            admin,
            shutdown_tx,
            tracker,
            origins,
            grace: limits.shutdown_grace,
        })
    }

    /// The client-facing listeners, as bound.
    pub fn listeners(&self) -> &[BoundListener] {
        &self.listeners
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The built-in origins this node started.
    pub fn builtin_origins(&self) -> &[OriginHandle] {
        &self.origins
    }

    /// Node state (config generation, metrics).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, lets in-flight requests finish within the grace
    /// period, then stops the origin health checks and the built-in origins.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        self.tracker.close();
        if tokio::time::timeout(self.grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown grace of {:?} elapsed with {} connection(s) still open",
                self.grace,
                self.tracker.len()
            );
        }
        self.shared.generation().pools.stop();
        for o in self.origins {
            o.shutdown().await;
        }
    }
}
