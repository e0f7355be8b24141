//! The node's admin listener, with the handler injected. The admin API
//! (`admin`) is a layer above the node: it reads the node's state and
//! applies its reloads. So the node binds the address `[admin]` names, keeps
//! the listener's connections in its own tracker and stops it on shutdown,
//! while the layer that starts nodes (the fleet, `brink serve`, tests) hands
//! in the handler through [`Node::with_admin`].

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use super::reload::Reloader;
use super::{Node, NodeError, bind};
use crate::config::{AdminConfig, Config, Limits};
use crate::metrics::Metrics;
use crate::server::{self, Handler, ListenerCtx};
use crate::state::Shared;

/// The admin listener of a node: asked for by the config the node started
/// with, bound once a handler is given.
pub(super) struct AdminPort {
    /// `[admin]` and the limits of the config the node started with (a
    /// reload does not move the admin listener).
    wanted: Option<(AdminConfig, Limits)>,
    /// The address bound.
    addr: Option<SocketAddr>,
    /// Set to true to stop accepting and drain its connections.
    shutdown: watch::Sender<bool>,
}

impl AdminPort {
    /// What `config` asks for; nothing bound yet.
    pub(super) fn wanted(config: &Config) -> AdminPort {
        AdminPort {
            wanted: config.admin.clone().map(|a| (a, config.limits.clone())),
            addr: None,
            shutdown: watch::channel(false).0,
        }
    }

    /// The bound address.
    pub(super) fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Stops accepting; open admin connections drain with the node's.
    pub(super) fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Node {
    /// Binds the admin listener the config asks for (`[admin]`; without it,
    /// nothing) and serves it with the handler `handler` makes from the
    /// node's state and reloader, e.g. `admin::AdminHandler::new`. Its
    /// connections count in the node's shutdown grace. If the address cannot
    /// be bound, the node is shut down and the error returned. A second call
    /// changes nothing.
    pub async fn with_admin<H: Handler>(
        mut self,
        handler: impl FnOnce(Arc<Shared>, Arc<Reloader>) -> H,
    ) -> Result<Node, NodeError> {
        let Some((config, limits)) = self.admin.wanted.take() else {
            return Ok(self);
        };
        let bound = match bind(config.addr).await {
            Ok(l) => l
                .local_addr()
                .map(|a| (l, a))
                .map_err(|source| NodeError::Bind {
                    addr: config.addr,
                    source,
                }),
            Err(e) => Err(e),
        };
        let (listener, addr) = match bound {
            Ok(b) => b,
            Err(e) => {
                self.shutdown().await;
                return Err(e);
            }
        };
        self.admin.addr = Some(addr);
        let ctx = ListenerCtx {
            handler: handler(self.shared().clone(), self.reloader.clone()),
            limits,
            tls: Arc::new(ArcSwapOption::empty()),
            shutdown: self.admin.shutdown.subscribe(),
            tracker: self.tracker.clone(),
            metrics: Arc::new(Metrics::new()),
        };
        tokio::spawn(server::accept_loop(listener, ctx));
        Ok(self)
    }
}
