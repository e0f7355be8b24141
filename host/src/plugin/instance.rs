//! One loaded plugin: its `InstancePre`, a pool of warm instances, and a call
//! under limits (epoch deadline, memory cap, optional fuel).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Instant;
use wasmtime::component::Component;

use wasmtime::{Store, StoreLimitsBuilder, Trap, UpdateDeadline};

use super::bindings::{Hooks, HostState, PluginFacts, v1, v2};
use super::engine::PluginEngine;
use super::{FailureKind, PluginFailure, PluginSettings};

/// An instance's exports, by the contract version the component was built for.
pub(super) enum Bindings {
    /// `brink:plugin@0.1.0`: heads as records.
    V1(v1::Plugin),
    /// `brink:plugin@0.2.0`: heads as one buffer, declared hooks.
    V2(v2::Plugin),
}

/// A linked component, ready to instantiate, by contract version.
enum Pre {
    V1(v1::PluginPre<HostState>),
    V2(v2::PluginPre<HostState>),
}

/// A warm instance and how often it has been used.
struct Warm {
    store: Store<HostState>,
    bindings: Bindings,
    uses: u32,
}

/// Counters of one plugin, exported as metrics.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Calls made (both phases).
    pub calls: AtomicU64,
    /// Instances created.
    pub instantiations: AtomicU64,
    /// Calls that failed, by kind: trap, timeout, memory, fuel, malformed, instantiate.
    pub failures: [AtomicU64; 6],
    /// The most recent failure, as `kind: message`.
    pub last_error: Mutex<Option<String>>,
}

impl PluginStats {
    /// Counts a failure and remembers its message.
    pub fn record_failure(&self, kind: FailureKind, message: &str) {
        self.failures[kind as usize].fetch_add(1, Ordering::Relaxed);
        let text: String = message.chars().take(1000).collect();
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("{}: {text}", kind.label()));
    }

    /// The most recent failure.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A compiled plugin ready to run.
pub struct LoadedPlugin {
    pub(super) settings: PluginSettings,
    facts: Arc<PluginFacts>,
    pre: Pre,
    /// The hooks the host calls: both for a 0.1.0 plugin, those it declares
    /// for a 0.2.0 one.
    pub(super) hooks: Hooks,
    /// The compiled component, reused by a reload that changes only settings.
    pub(super) component: Component,
    /// Keeps the epoch ticker running while the plugin lives.
    engine: PluginEngine,
    /// The wasmtime engine the component was compiled for (the metered one
    /// when the plugin has a fuel budget).
    wasm_engine: wasmtime::Engine,
    warm: Mutex<Vec<Warm>>,
    /// Whether this is the canary version (`[plugins.canary]`).
    canary: bool,
    /// Counters.
    pub stats: PluginStats,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.settings.name)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// Links a compiled component into an `InstancePre` (checks its imports)
    /// for the contract version its exports match: 0.2.0, else 0.1.0.
    pub(super) async fn new(
        engine: &PluginEngine,
        component: &Component,
        settings: PluginSettings,
        facts: PluginFacts,
        canary: bool,
    ) -> Result<LoadedPlugin, wasmtime::Error> {
        let runtime = engine.runtime(settings.fuel.is_some())?;
        let instance_pre = runtime.linker().instantiate_pre(component)?;
        let pre = match v2::PluginPre::new(instance_pre.clone()) {
            Ok(pre) => Pre::V2(pre),
            Err(v2_error) => match v1::PluginPre::new(instance_pre) {
                Ok(pre) => Pre::V1(pre),
                Err(v1_error) => {
                    return Err(wasmtime::Error::msg(format!(
                        "the component exports neither brink:plugin@0.2.0 ({v2_error:#}) \
                         nor brink:plugin@0.1.0 ({v1_error:#})"
                    )));
                }
            },
        };
        let mut plugin = LoadedPlugin {
            settings,
            facts: Arc::new(facts),
            pre,
            hooks: Hooks::all(),
            component: component.clone(),
            engine: engine.clone(),
            wasm_engine: runtime.engine().clone(),
            warm: Mutex::new(Vec::new()),
            canary,
            stats: PluginStats::default(),
        };
        // Instantiate once now, so a plugin that cannot start is refused at
        // load time, and ask a 0.2.0 plugin which hooks it implements.
        let mut warm = plugin.instantiate().await?;
        if let Bindings::V2(b) = &warm.bindings {
            let _running = plugin.engine.running();
            plugin.hooks = b
                .brink_plugin_handler()
                .call_declared_hooks(&mut warm.store)
                .await?;
        }
        if plugin.settings.reuse() {
            plugin.put_back(warm);
        }
        Ok(plugin)
    }

    /// Plugin name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The contract version the plugin was built for: `0.1.0` or `0.2.0`.
    pub fn abi(&self) -> &'static str {
        match self.pre {
            Pre::V1(_) => "0.1.0",
            Pre::V2(_) => "0.2.0",
        }
    }

    /// Whether the host calls the plugin's `on-request`.
    pub fn has_on_request(&self) -> bool {
        self.hooks.contains(Hooks::ON_REQUEST)
    }

    /// Whether the host calls the plugin's `on-response`.
    pub fn has_on_response(&self) -> bool {
        self.hooks.contains(Hooks::ON_RESPONSE)
    }

    /// The hooks the host calls, by WIT name (`on-request`, `on-response`).
    pub fn hook_names(&self) -> Vec<&'static str> {
        [
            (self.has_on_request(), "on-request"),
            (self.has_on_response(), "on-response"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// Whether this is the version of `[plugins.canary]`.
    pub fn is_canary(&self) -> bool {
        self.canary
    }

    /// `stable`, or `canary` for the version of `[plugins.canary]`.
    pub fn version(&self) -> &'static str {
        if self.canary { "canary" } else { "stable" }
    }

    async fn instantiate(&self) -> Result<Warm, wasmtime::Error> {
        // Start functions run guest code: the epoch must advance.
        let _running = self.engine.running();
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.settings.max_memory)
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &self.wasm_engine,
            HostState::new(self.facts.clone(), limits),
        );
        store.limiter(|s| &mut s.limits);
        // At every epoch tick: trap if the call is past its deadline, else
        // yield. A call's clock starts at the first tick it sees (so a call
        // that ends before one reads no clock at all); the deadline can thus
        // be late by one tick, as it can anyway, since it is checked per tick.
        store.epoch_deadline_callback(|mut ctx| {
            let d = ctx.data_mut();
            let started = *d.call_started.get_or_insert_with(Instant::now);
            if started.elapsed() >= d.call_timeout {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.data_mut().call_timeout = self.settings.timeout;
        store.data_mut().call_started = None;
        store.set_epoch_deadline(1);
        if let Some(fuel) = self.settings.fuel {
            store.set_fuel(fuel)?;
        }
        let bindings = match &self.pre {
            Pre::V1(pre) => Bindings::V1(pre.instantiate_async(&mut store).await?),
            Pre::V2(pre) => Bindings::V2(pre.instantiate_async(&mut store).await?),
        };
        self.stats.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Warm {
            store,
            bindings,
            uses: 0,
        })
    }

    async fn take(&self) -> Result<Warm, PluginFailure> {
        if self.settings.reuse() {
            let warm = self.warm.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if let Some(w) = warm {
                return Ok(w);
            }
        }
        self.instantiate()
            .await
            .map_err(|e| self.failure(FailureKind::Instantiate, &e))
    }

    fn put_back(&self, warm: Warm) {
        let mut pool = self.warm.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 64 {
            pool.push(warm);
        }
    }

    /// Runs `f` on an instance with fresh per-call limits. An instance that
    /// failed in any way is thrown away; a healthy one is kept for reuse up to
    /// `max_reuse` calls.
    pub(super) async fn call<T>(
        &self,
        client_ip: &str,
        f: impl AsyncFnOnce(&Bindings, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginFailure> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let _running = self.engine.running();
        let mut warm = self.take().await?;
        let data = warm.store.data_mut();
        data.client_ip.clear();
        data.client_ip.push_str(client_ip);
        data.call_started = None;
        warm.store.set_epoch_deadline(1);
        if let Some(fuel) = self.settings.fuel
            && let Err(e) = warm.store.set_fuel(fuel)
        {
            return Err(self.failure(FailureKind::Trap, &e));
        }
        let result = f(&warm.bindings, &mut warm.store).await;
        match result {
            Ok(v) => {
                warm.uses += 1;
                if self.settings.reuse() && warm.uses < self.settings.max_reuse {
                    warm.store.data_mut().client_ip.clear();
                    self.put_back(warm);
                }
                Ok(v)
            }
            Err(e) => Err(self.failure(classify(&e), &e)),
        }
    }

    /// Counts and describes a failure.
    pub(super) fn failure(&self, kind: FailureKind, e: &wasmtime::Error) -> PluginFailure {
        // The root cause names the trap; the wasm backtrace goes to the debug log.
        let message = e.root_cause().to_string();
        tracing::debug!(target: "brink::plugin", plugin = %self.settings.name, "{e:?}");
        self.stats.record_failure(kind, &message);
        PluginFailure {
            plugin: self.settings.name.clone(),
            kind,
            message,
        }
    }
}

/// Which limit (if any) a call error comes from.
fn classify(e: &wasmtime::Error) -> FailureKind {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FailureKind::Timeout,
        Some(Trap::OutOfFuel) => FailureKind::Fuel,
        _ => {
            let text = format!("{e:?}");
            if text.contains("growing memory") || text.contains("memory growth") {
                FailureKind::Memory
            } else {
                FailureKind::Trap
            }
        }
    }
}
