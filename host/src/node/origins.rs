//! The built-in shop origins a node starts itself (`[[origins]]`). On reload
//! an origin whose settings are unchanged keeps running; new ones start
//! before the swap; removed ones stop once the old generation has finished.

use std::collections::HashMap;

use super::NodeError;
use crate::config::BuiltinOriginConfig;
use crate::demo_origin::{self, OriginHandle, OriginOptions};

/// A running built-in origin, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinOrigin {
    name: String,
    url: String,
}

impl BuiltinOrigin {
    /// Describes a running origin.
    pub fn of(handle: &OriginHandle) -> BuiltinOrigin {
        BuiltinOrigin {
            name: handle.name().to_string(),
            url: handle.url(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

struct Running {
    config: BuiltinOriginConfig,
    handle: OriginHandle,
}

/// The running built-in origins, in config order.
#[derive(Default)]
pub(crate) struct Origins {
    running: Vec<Running>,
}

/// One origin of the new config.
enum Planned {
    /// Unchanged: the running one (by index) stays.
    Keep(usize),
    /// Started for this reload.
    New(BuiltinOriginConfig, OriginHandle),
    /// Changed on the same fixed address: replaced at commit (the old one
    /// must release the address first).
    Replace(usize, BuiltinOriginConfig),
}

/// The origin changes of a reload.
pub(crate) struct OriginPlan {
    planned: Vec<Planned>,
    urls: HashMap<String, http::Uri>,
}

impl OriginPlan {
    /// Every origin of the new config by name, as pools resolve `origin:NAME`.
    pub(crate) fn urls(&self) -> &HashMap<String, http::Uri> {
        &self.urls
    }

    /// Stops the origins this plan started (the reload failed).
    pub(crate) async fn abort(self) {
        for p in self.planned {
            if let Planned::New(_, handle) = p {
                handle.shutdown().await;
            }
        }
    }
}

fn options(o: &BuiltinOriginConfig) -> OriginOptions {
    OriginOptions {
        name: o.name.clone(),
        catalog: o.catalog,
        latency: o.latency,
        fail_rate: o.fail_rate,
        fail_healthz: false,
    }
}

/// Starts one built-in origin of the config.
pub(crate) async fn start(o: &BuiltinOriginConfig) -> Result<OriginHandle, NodeError> {
    demo_origin::start(o.addr, options(o))
        .await
        .map_err(|source| NodeError::Bind {
            addr: o.addr,
            source,
        })
}

/// The base URL pools use for a running origin.
pub(crate) fn uri(handle: &OriginHandle) -> http::Uri {
    handle.url().parse().expect("origin URL is valid")
}

impl Origins {
    /// The running origins.
    pub(crate) fn list(&self) -> Vec<BuiltinOrigin> {
        self.running
            .iter()
            .map(|r| BuiltinOrigin::of(&r.handle))
            .collect()
    }

    /// Starts the origins `configs` adds or changes; unchanged ones are kept.
    /// On error everything this call started is stopped again. Errors come
    /// with the index of the origin in `configs`.
    pub(crate) async fn prepare(
        &self,
        configs: &[BuiltinOriginConfig],
    ) -> Result<OriginPlan, (usize, NodeError)> {
        let mut plan = OriginPlan {
            planned: Vec::new(),
            urls: HashMap::new(),
        };
        for (i, o) in configs.iter().enumerate() {
            let same_name = self.running.iter().position(|r| r.config.name == o.name);
            match same_name {
                Some(j) if self.running[j].config == *o => {
                    plan.urls
                        .insert(o.name.clone(), uri(&self.running[j].handle));
                    plan.planned.push(Planned::Keep(j));
                }
                Some(j) if o.addr.port() != 0 && self.running[j].handle.addr() == o.addr => {
                    plan.urls
                        .insert(o.name.clone(), uri(&self.running[j].handle));
                    plan.planned.push(Planned::Replace(j, o.clone()));
                }
                _ => match start(o).await {
                    Ok(handle) => {
                        plan.urls.insert(o.name.clone(), uri(&handle));
                        plan.planned.push(Planned::New(o.clone(), handle));
                    }
                    Err(e) => {
                        plan.abort().await;
                        return Err((i, e));
                    }
                },
            }
        }
        Ok(plan)
    }

    /// Applies a plan after the swap. Returns the origins the new config no
    /// longer has, to stop once the old generation is done with them.
    pub(crate) async fn commit(&mut self, plan: OriginPlan) -> Vec<OriginHandle> {
        let mut old: Vec<Option<Running>> = self.running.drain(..).map(Some).collect();
        let mut running = Vec::with_capacity(plan.planned.len());
        for p in plan.planned {
            match p {
                Planned::Keep(j) => running.push(old[j].take().expect("kept once")),
                Planned::New(config, handle) => running.push(Running { config, handle }),
                Planned::Replace(j, config) => {
                    let prev = old[j].take().expect("replaced once");
                    prev.handle.shutdown().await;
                    match start(&config).await {
                        Ok(handle) => running.push(Running { config, handle }),
                        Err(e) => {
                            tracing::error!(origin = %config.name, "built-in origin not restarted: {e}")
                        }
                    }
                }
            }
        }
        self.running = running;
        old.into_iter().flatten().map(|r| r.handle).collect()
    }

    /// Stops every origin (node shutdown).
    pub(crate) async fn shutdown(&mut self) {
        for r in self.running.drain(..) {
            r.handle.shutdown().await;
        }
    }
}
