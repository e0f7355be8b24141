//! A fleet from one config file: the built-in origins once, then every
//! `[[fleet.nodes]]` entry as its own node (own listener, cache and plugins),
//! parents before children. A node with a parent forwards its misses to the
//! parent (tiered caching) and falls back to the origin pool if the parent is
//! unavailable. A file without `[fleet]` is a fleet of one node.
//!
//! Only a fleet of one node hot-reloads: the nodes of `[[fleet.nodes]]` keep
//! the config they started with until the process restarts.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::admin::AdminHandler;
use crate::config::{
    AdminConfig, BackendTarget, Config, FleetNode, ListenerConfig, NodeSettings, PoolConfig,
};
use crate::demo_origin::OriginHandle;
use crate::node::origins;
use crate::node::{BuiltinOrigin, Node, NodeError, ReloadOptions};

/// A node's place in the tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serves users (nobody's parent).
    Edge,
    /// The parent of other nodes.
    Shield,
}

impl Role {
    /// `edge` or `shield`.
    pub fn label(self) -> &'static str {
        match self {
            Role::Edge => "edge",
            Role::Shield => "shield",
        }
    }
}

/// One running node of the fleet.
pub struct Member {
    /// Node name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Edge or shield.
    pub role: Role,
    /// The node.
    pub node: Node,
}

impl Member {
    /// `http://ADDR` of its first listener.
    pub fn url(&self) -> String {
        self.node
            .listeners()
            .first()
            .map(|l| l.url())
            .unwrap_or_default()
    }
}

/// A running fleet.
pub struct Fleet {
    /// Nodes in start order (parents first).
    pub members: Vec<Member>,
    /// Built-in origins started for the fleet (a single node starts its own).
    pub origins: Vec<OriginHandle>,
}

/// The pool a child node sends its misses to.
const PARENT_POOL: &str = "~parent";

impl Fleet {
    /// Starts what `config` describes (no node of it reloads).
    pub async fn start(config: Config) -> Result<Fleet, NodeError> {
        Fleet::start_with(config, ReloadOptions::default()).await
    }

    /// Starts what `config` describes. A single node reloads as `reload`
    /// says; the nodes of a fleet do not reload.
    pub async fn start_with(config: Config, reload: ReloadOptions) -> Result<Fleet, NodeError> {
        if config.fleet.is_empty() {
            let name = config.node.name.clone();
            let region = config.node.region.clone();
            let node = Node::start_with(config, reload)
                .await?
                .with_admin(AdminHandler::new)
                .await?;
            return Ok(Fleet {
                members: vec![Member {
                    name,
                    region,
                    role: Role::Edge,
                    node,
                }],
                origins: Vec::new(),
            });
        }
        let mut origins: Vec<OriginHandle> = Vec::new();
        let mut origin_urls = HashMap::new();
        for o in &config.origins {
            let handle = match origins::start(o).await {
                Ok(h) => h,
                Err(e) => {
                    for started in origins {
                        started.shutdown().await;
                    }
                    return Err(e);
                }
            };
            origin_urls.insert(o.name.clone(), origins::uri(&handle));
            origins.push(handle);
        }
        let mut fleet = Fleet {
            members: Vec::new(),
            origins,
        };
        let mut urls: HashMap<String, String> = HashMap::new();
        for spec in start_order(&config.fleet) {
            let parent_url = spec.parent.as_ref().and_then(|p| urls.get(p)).cloned();
            let node_config = derive(&config, spec, &origin_urls, parent_url.as_deref());
            let started = match Node::start(node_config).await {
                Ok(n) => n.with_admin(AdminHandler::new).await,
                Err(e) => Err(e),
            };
            let node = match started {
                Ok(n) => n,
                Err(e) => {
                    fleet.shutdown().await;
                    return Err(e);
                }
            };
            let member = Member {
                name: spec.name.clone(),
                region: spec.region.clone(),
                role: if config
                    .fleet
                    .iter()
                    .any(|n| n.parent.as_deref() == Some(&spec.name))
                {
                    Role::Shield
                } else {
                    Role::Edge
                },
                node,
            };
            urls.insert(spec.name.clone(), member.url());
            fleet.members.push(member);
        }
        Ok(fleet)
    }

    /// The built-in origins, whether the fleet or its single node started them.
    pub fn origin_handles(&self) -> Vec<BuiltinOrigin> {
        let mut all: Vec<BuiltinOrigin> = self.origins.iter().map(BuiltinOrigin::of).collect();
        for m in &self.members {
            all.extend(m.node.builtin_origins());
        }
        all
    }

    /// Stops edges first, then shields, then the origins.
    pub async fn shutdown(self) {
        let (edges, shields): (Vec<_>, Vec<_>) =
            self.members.into_iter().partition(|m| m.role == Role::Edge);
        futures_util::future::join_all(edges.into_iter().map(|m| m.node.shutdown())).await;
        for m in shields.into_iter().rev() {
            m.node.shutdown().await;
        }
        for o in self.origins {
            o.shutdown().await;
        }
    }
}

/// Parents before children (validation has ruled out loops and unknown parents).
fn start_order(nodes: &[FleetNode]) -> Vec<&FleetNode> {
    let mut order: Vec<&FleetNode> = Vec::new();
    while order.len() < nodes.len() {
        let before = order.len();
        for n in nodes {
            let started = |name: &str| order.iter().any(|o| o.name == name);
            if !started(&n.name) && n.parent.as_deref().is_none_or(started) {
                order.push(n);
            }
        }
        if order.len() == before {
            break;
        }
    }
    order
}

/// The config of one fleet node: the file's settings, this node's identity
/// and addresses, origins by URL, and misses sent to the parent if it has one.
fn derive(
    base: &Config,
    spec: &FleetNode,
    origin_urls: &HashMap<String, http::Uri>,
    parent_url: Option<&str>,
) -> Config {
    let mut c = base.clone();
    c.fleet = Vec::new();
    c.origins = Vec::new();
    c.node = NodeSettings {
        name: spec.name.clone(),
        region: spec.region.clone(),
        edge_owned_headers: base.node.edge_owned_headers.clone(),
    };
    c.listeners = vec![ListenerConfig {
        addr: spec.listen,
        tls: Vec::new(),
    }];
    c.admin = spec.admin.map(|addr: SocketAddr| AdminConfig {
        addr,
        token: base.admin.as_ref().and_then(|a| a.token.clone()),
    });
    for pool in &mut c.pools {
        for b in &mut pool.backends {
            if let BackendTarget::Builtin(name) = &b.target
                && let Some(uri) = origin_urls.get(name)
            {
                b.target = BackendTarget::Url(uri.clone());
            }
        }
    }
    if let Some(url) = parent_url.and_then(|u| u.parse::<http::Uri>().ok()) {
        c.pools
            .push(PoolConfig::new(PARENT_POOL, vec![BackendTarget::Url(url)]));
        for route in &mut c.routes {
            route.fallback = Some(route.pool.clone());
            route.pool = PARENT_POOL.to_string();
        }
    }
    if !spec.plugins {
        c.plugins = Vec::new();
        for route in &mut c.routes {
            route.plugins = Vec::new();
        }
    }
    c
}
