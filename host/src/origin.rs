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
//! A [`Pools`] belongs to one config generation: dropping it (on reload)
//! stops its health checks.

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
pub use connector::{ConnTag, load_ca_file};
pub use forward::{Forwarded, forward};
pub use pool::{Pool, PoolStats};
pub use report::{encode_metrics, status_json};

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::{BackendTarget, Config};
use crate::error::EdgeError;

/// The pools of one config generation, by name.
#[derive(Debug, Default)]
pub struct Pools {
    by_name: HashMap<String, Arc<Pool>>,
    health_checks: CancellationToken,
}

impl Pools {
    /// Builds the pools of `config` and starts their health checks (when
    /// called inside a Tokio runtime); `builtin` resolves `origin:NAME`
    /// backends to URLs.
    pub fn build(
        config: &Config,
        builtin: &HashMap<String, http::Uri>,
    ) -> Result<Pools, EdgeError> {
        let mut by_name = HashMap::new();
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
            let pool = Pool::new(p, uris)
                .map_err(|e| EdgeError::Internal(format!("pool {}: {e}", p.name)))?;
            by_name.insert(p.name.clone(), Arc::new(pool));
        }
        let pools = Pools {
            by_name,
            health_checks: CancellationToken::new(),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            for pool in pools.by_name.values() {
                health::spawn(pool, &pools.health_checks)
                    .map_err(|e| EdgeError::Internal(format!("pool {}: {e}", pool.name())))?;
            }
        }
        Ok(pools)
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

    /// Stops the health checks (also done when the pools are dropped).
    pub fn stop(&self) {
        self.health_checks.cancel();
    }
}

impl Drop for Pools {
    fn drop(&mut self) {
        self.health_checks.cancel();
    }
}
