//! The generated bindings of both contract versions (`wit/plugin.wit`,
//! `brink:plugin@0.1.0`, and `wit/v0.2/plugin.wit`, `brink:plugin@0.2.0`) and
//! the host side of their imports. Nothing outside `plugin/` sees these types.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// `brink:plugin@0.1.0`: the request and response heads as records.
pub mod v1 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit",
        // Calls into plugins are async so a plugin that runs long yields to the
        // executor at every epoch tick instead of holding a worker thread; the
        // host imports are plain functions.
        exports: { default: async },
    });
}

/// `brink:plugin@0.2.0`: the heads as one byte buffer (see [`super::wire`]);
/// the result records are the same shapes as 0.1.0's, so they share its Rust
/// types (and the validation in `convert`).
pub mod v2 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit/v0.2",
        exports: { default: async },
        with: {
            "brink:plugin/types@0.2.0": super::v1::brink::plugin::types,
        },
    });
}

pub use self::v1::brink::plugin::types::{
    ClientInfo, EarlyResponse, HeaderOp, RequestAction, RequestEdits, RequestHead, ResponseEdits,
    ResponseHead,
};
pub use self::v2::exports::brink::plugin::handler::Hooks;

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
    /// When the current call was first seen running (at its first epoch
    /// tick; `None` before) and how long it may run.
    pub(super) call_started: Option<std::time::Instant>,
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
            call_started: None,
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

/// The host functions, shared by both versions of the `host` interface.
impl HostState {
    fn log_line(&self, level: tracing::Level, message: &str) {
        let plugin = &*self.facts.name;
        let message: String = message.chars().take(2048).collect();
        match level {
            tracing::Level::TRACE => tracing::trace!(target: "brink::plugin", plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: "brink::plugin", plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "brink::plugin", plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "brink::plugin", plugin, "{message}"),
            tracing::Level::ERROR => tracing::error!(target: "brink::plugin", plugin, "{message}"),
        }
    }

    fn config_value(&self, key: &str) -> Option<String> {
        self.facts.config.get(key).cloned()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl v1::brink::plugin::types::Host for HostState {}

/// The `host` interface is the same in both versions; only the generated
/// types differ.
macro_rules! impl_host {
    ($version:ident) => {
        impl $version::brink::plugin::host::Host for HostState {
            fn log(&mut self, level: $version::brink::plugin::host::Level, message: String) {
                use $version::brink::plugin::host::Level;
                let level = match level {
                    Level::Trace => tracing::Level::TRACE,
                    Level::Debug => tracing::Level::DEBUG,
                    Level::Info => tracing::Level::INFO,
                    Level::Warn => tracing::Level::WARN,
                    Level::Error => tracing::Level::ERROR,
                };
                self.log_line(level, &message);
            }

            fn config_get(&mut self, key: String) -> Option<String> {
                self.config_value(&key)
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
                now_ms()
            }
        }
    };
}

impl_host!(v1);
impl_host!(v2);
