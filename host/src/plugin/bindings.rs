//! The generated bindings of `wit/plugin.wit` and the host side of its
//! imports. Nothing outside `plugin/` sees these types.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    // Calls into plugins are async so a plugin that runs long yields to the
    // executor at every epoch tick instead of holding a worker thread; the
    // host imports are plain functions.
    exports: { default: async },
});

pub use self::brink::plugin::host::Level;
pub use self::brink::plugin::types::{
    ClientInfo, EarlyResponse, HeaderOp, RequestAction, RequestEdits, RequestHead, ResponseHead,
};

/// What a plugin may learn from the host, fixed per plugin and generation.
#[derive(Debug)]
pub struct PluginFacts {
    /// Plugin name, for logs.
    pub name: Arc<str>,
    /// The plugin's own config table, values rendered as text.
    pub config: BTreeMap<String, String>,
    /// Edge node name.
    pub node_name: String,
    /// Edge node region.
    pub node_region: String,
}

/// The data of one plugin store.
pub struct HostState {
    pub(super) facts: Arc<PluginFacts>,
    /// Client IP of the request being handled, "" between requests.
    pub(super) client_ip: String,
    pub(super) limits: StoreLimits,
    /// When the current call started and how long it may run.
    pub(super) call_started: std::time::Instant,
    pub(super) call_timeout: std::time::Duration,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    pub(super) fn new(facts: Arc<PluginFacts>, limits: StoreLimits) -> Self {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            facts,
            client_ip: String::new(),
            limits,
            call_started: std::time::Instant::now(),
            call_timeout: std::time::Duration::from_secs(1),
            wasi,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl self::brink::plugin::types::Host for HostState {}

impl self::brink::plugin::host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.facts.name;
        let message: String = message.chars().take(2048).collect();
        match level {
            Level::Trace => tracing::trace!(target: "brink::plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "brink::plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "brink::plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "brink::plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "brink::plugin", plugin, "{message}"),
        }
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.facts.config.get(&key).cloned()
    }

    fn client_ip(&mut self) -> String {
        self.client_ip.clone()
    }

    fn node_name(&mut self) -> String {
        self.facts.node_name.clone()
    }

    fn node_region(&mut self) -> String {
        self.facts.node_region.clone()
    }

    fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}
