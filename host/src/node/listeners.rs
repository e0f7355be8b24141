//! The client listeners of a node: one accept loop per address, each with its
//! own stop signal, so a reload can add and remove listeners while the others
//! keep accepting. A reload first binds every new address and loads every
//! certificate ([`Listeners::prepare`]); only when the whole reload has
//! succeeded are the changes applied ([`Listeners::commit`]).

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use super::{BoundListener, EdgeHandler, NodeError, bind};
use crate::config::ListenerConfig;
use crate::metrics::Metrics;
use crate::server::{self, ListenerCtx};
use crate::tls;

/// What every accept loop shares.
pub(crate) struct ListenEnv {
    pub(crate) handler: EdgeHandler,
    pub(crate) tracker: TaskTracker,
    pub(crate) metrics: Arc<Metrics>,
}

/// One running listener.
struct Entry {
    /// The address as configured (its port may be 0).
    configured: SocketAddr,
    bound: BoundListener,
    tls: Arc<ArcSwapOption<TlsAcceptor>>,
    stop: watch::Sender<bool>,
}

/// The running listeners, in config order.
pub(crate) struct Listeners {
    env: ListenEnv,
    entries: Vec<Entry>,
}

/// A listener of the new config: an existing one kept (by index), or a new
/// socket bound, with the acceptor it will use.
enum Planned {
    Keep(usize, Option<TlsAcceptor>),
    New(SocketAddr, TcpListener, BoundListener, Option<TlsAcceptor>),
}

/// The listener changes of a reload, ready to apply.
pub(crate) struct ListenerPlan {
    planned: Vec<Planned>,
}

impl ListenerPlan {
    /// Addresses bound for new listeners and those that stop, for the log.
    pub(crate) fn summary(&self, current: &Listeners) -> (usize, usize) {
        let added = self
            .planned
            .iter()
            .filter(|p| matches!(p, Planned::New(..)))
            .count();
        let kept = self.planned.len() - added;
        (added, current.entries.len() - kept)
    }
}

fn acceptor(l: &ListenerConfig) -> Result<Option<TlsAcceptor>, NodeError> {
    if l.tls.is_empty() {
        return Ok(None);
    }
    Ok(Some(TlsAcceptor::from(tls::server_config(&l.tls)?)))
}

impl Listeners {
    /// No listeners yet.
    pub(crate) fn new(env: ListenEnv) -> Listeners {
        Listeners {
            env,
            entries: Vec::new(),
        }
    }

    /// The listeners as bound.
    pub(crate) fn bound(&self) -> Vec<BoundListener> {
        self.entries.iter().map(|e| e.bound).collect()
    }

    /// Binds the addresses `configs` adds and loads every certificate; a
    /// listener whose address is unchanged is kept (its certificates are
    /// reloaded all the same). Nothing changes until [`Listeners::commit`];
    /// on error the new sockets are closed. Errors come with the index of the
    /// listener in `configs`.
    pub(crate) async fn prepare(
        &self,
        configs: &[ListenerConfig],
    ) -> Result<ListenerPlan, (usize, NodeError)> {
        let mut taken = vec![false; self.entries.len()];
        let mut planned = Vec::with_capacity(configs.len());
        for (i, l) in configs.iter().enumerate() {
            let tls = acceptor(l).map_err(|e| (i, e))?;
            let old = self
                .entries
                .iter()
                .enumerate()
                .position(|(j, e)| !taken[j] && e.configured == l.addr);
            match old {
                Some(j) => {
                    taken[j] = true;
                    planned.push(Planned::Keep(j, tls));
                }
                None => {
                    let listener = bind(l.addr).await.map_err(|e| (i, e))?;
                    let addr = listener.local_addr().map_err(|source| {
                        (
                            i,
                            NodeError::Bind {
                                addr: l.addr,
                                source,
                            },
                        )
                    })?;
                    let bound = BoundListener {
                        addr,
                        tls: tls.is_some(),
                    };
                    planned.push(Planned::New(l.addr, listener, bound, tls));
                }
            }
        }
        Ok(ListenerPlan { planned })
    }

    /// Applies a plan: starts the new accept loops, gives kept listeners
    /// their (re)loaded certificates, and stops the listeners the new config
    /// no longer has (their open connections finish their requests and close).
    pub(crate) fn commit(&mut self, plan: ListenerPlan) {
        let mut old: Vec<Option<Entry>> = self.entries.drain(..).map(Some).collect();
        let mut entries = Vec::with_capacity(plan.planned.len());
        for p in plan.planned {
            match p {
                Planned::Keep(j, tls) => {
                    let mut e = old[j].take().expect("each old listener is kept once");
                    e.bound.tls = tls.is_some();
                    e.tls.store(tls.map(Arc::new));
                    entries.push(e);
                }
                Planned::New(configured, listener, bound, tls) => {
                    entries.push(self.spawn(configured, listener, bound, tls));
                }
            }
        }
        for e in old.into_iter().flatten() {
            tracing::info!(listener = %e.bound.url(), "listener removed by reload: draining it");
            let _ = e.stop.send(true);
        }
        self.entries = entries;
    }

    /// Starts the accept loop of a bound socket.
    fn spawn(
        &self,
        configured: SocketAddr,
        listener: TcpListener,
        bound: BoundListener,
        tls: Option<TlsAcceptor>,
    ) -> Entry {
        let (stop, stopped) = watch::channel(false);
        let tls = Arc::new(ArcSwapOption::from(tls.map(Arc::new)));
        let ctx = ListenerCtx {
            handler: self.env.handler.for_port(bound.addr.port()),
            limits: self.env.handler.current_limits(),
            tls: tls.clone(),
            shutdown: stopped,
            tracker: self.env.tracker.clone(),
            metrics: self.env.metrics.clone(),
        };
        tokio::spawn(server::accept_loop(listener, ctx));
        Entry {
            configured,
            bound,
            tls,
            stop,
        }
    }

    /// Stops every accept loop and drains its connections (node shutdown).
    pub(crate) fn stop_all(&self) {
        for e in &self.entries {
            let _ = e.stop.send(true);
        }
    }
}
