//! Origin pools: the backends a route forwards to, how one is chosen, how
//! their health is watched, and how a request is retried and failed over.
//!
//! - [`balance`]: the strategies (smooth weighted round-robin, least
//!   connections, power-of-two choices on latency, consistent hash on the
//!   cache key, IP hash, random); [`ring`]: the Ketama ring.
//! - [`health`]: active checks in background tasks; [`outlier`]: passive ejection.
//! - [`retry`]: what may be retried, the retry budget, replayable bodies.
//! - [`connector`]: TCP and TLS (rustls, ring) connections, new vs reused.
//! - [`forward`](forward()): one request, attempts, backups and fallback pools.
//!
//! A [`Pools`] belongs to one config generation; a [`Pool`] whose settings
//! and backends are unchanged by a reload is carried into the next generation
//! with its connections, health state and checks. A pool's health checks stop
//! when the last generation holding it is dropped.

mod backend;
pub mod balance;
mod connector;
mod forward;
mod guard;
mod health;
mod outlier;
mod pool;
mod report;
pub mod retry;
pub mod ring;

pub use backend::Backend;
pub use balance::Affinity;
pub use forward::forward;
pub use guard::BodyTimeout;
pub use pool::Pool;
pub use report::{encode_metrics, status_json};

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{BackendTarget, Config};
use crate::error::EdgeError;

/// The pools of one config generation, by name.
#[derive(Debug, Default)]
pub struct Pools {
    by_name: HashMap<String, Arc<Pool>>,
}

impl Pools {
    /// Builds the pools of `config` and starts their health checks (when
    /// called inside a Tokio runtime); `builtin` resolves `origin:NAME`
    /// backends to URLs. A pool of `previous` with the same name, settings
    /// and backend URLs is reused as it is (connections, health state, checks).
    pub fn build(
        config: &Config,
        builtin: &HashMap<String, http::Uri>,
        previous: Option<&Pools>,
    ) -> Result<Pools, EdgeError> {
        let mut by_name = HashMap::new();
        let mut fresh = Vec::new();
        for p in &config.pools {
            let mut uris = Vec::new();
            for b in &p.backends {
                let uri = match &b.target {
                    BackendTarget::Url(u) => u.clone(),
                    BackendTarget::Builtin(name) => {
                        builtin.get(name).cloned().ok_or_else(|| {
                            EdgeError::Internal(format!("built-in origin {name} is not running"))
                        })?
                    }
                };
                uris.push(uri);
            }
            if let Some(old) = previous.and_then(|prev| prev.by_name.get(&p.name))
                && old.config() == p
                && old.backends().iter().map(|b| &b.uri).eq(uris.iter())
            {
                by_name.insert(p.name.clone(), old.clone());
                continue;
            }
            let pool = Arc::new(
                Pool::new(p, uris)
                    .map_err(|e| EdgeError::Internal(format!("pool {}: {e}", p.name)))?,
            );
            fresh.push(pool.clone());
            by_name.insert(p.name.clone(), pool);
        }
        // Checks start only once every pool is built: an error above leaves nothing running.
        if tokio::runtime::Handle::try_current().is_ok() {
            for pool in &fresh {
                health::spawn(pool)
                    .map_err(|e| EdgeError::Internal(format!("pool {}: {e}", pool.name())))?;
            }
        }
        Ok(Pools { by_name })
    }

    /// Whether `pool` is this generation's pool of its name (the same
    /// object, carried over or not).
    pub fn holds(&self, pool: &Arc<Pool>) -> bool {
        self.by_name
            .get(pool.name())
            .is_some_and(|p| Arc::ptr_eq(p, pool))
    }

    /// The pool of this name.
    pub fn get(&self, name: &str) -> Option<&Arc<Pool>> {
        self.by_name.get(name)
    }

    /// Every pool, sorted by name.
    pub fn all(&self) -> Vec<&Arc<Pool>> {
        let mut v: Vec<_> = self.by_name.values().collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Stops the health checks of every pool (on shutdown; a pool's checks
    /// also stop when it is dropped).
    pub fn stop(&self) {
        for pool in self.by_name.values() {
            pool.health_checks.cancel();
        }
    }
}
