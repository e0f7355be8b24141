//! Origin pools: the backends a route forwards to, the client that keeps
//! connections to them alive, and the balancing over them.

mod pool;

pub use pool::{Backend, Pool};

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
    /// Builds the pools of `config`; `builtin` resolves `origin:NAME` backends to URLs.
    pub fn build(
        config: &Config,
        builtin: &HashMap<String, http::Uri>,
    ) -> Result<Pools, EdgeError> {
        let mut by_name = HashMap::new();
        for p in &config.pools {
            let mut backends = Vec::new();
            for b in &p.backends {
                let uri = match b {
                    BackendTarget::Url(u) => u.clone(),
                    BackendTarget::Builtin(name) => {
                        builtin.get(name).cloned().ok_or_else(|| {
                            EdgeError::Internal(format!("built-in origin {name} is not running"))
                        })?
                    }
                };
                backends.push(uri);
            }
            by_name.insert(p.name.clone(), Arc::new(Pool::new(p, backends)));
        }
        Ok(Pools { by_name })
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
}
