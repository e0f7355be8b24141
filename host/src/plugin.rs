//! Wasm plugins: loading (compile once, `InstancePre` per plugin), the chain
//! of plugins a route runs, and the failure policy. wasmtime types stay inside
//! this module; the pipeline sees [`Flow`], [`Directives`] and [`EdgeError`].

mod bindings;
mod builtin;
mod convert;
mod engine;
mod instance;
mod load;
mod report;
mod response;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;

pub use builtin::{BUILTIN_PLUGINS, GUEST_DIR, builtin_wasm};
pub use engine::{MAX_PLUGIN_MEMORY, PluginEngine};
pub use instance::{LoadedPlugin, PluginStats};
pub use report::encode_metrics;
pub use response::on_response;

use crate::body::Body;
use crate::config::{OnError, PluginConfig};
use crate::error::EdgeError;
use bindings::{RequestAction, RequestHead};
use instance::Bindings;

/// Per-plugin settings are its validated config entry.
pub type PluginSettings = PluginConfig;

/// Why a plugin call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The plugin trapped (panic, unreachable, bad memory access).
    Trap = 0,
    /// It ran past its deadline.
    Timeout = 1,
    /// It hit its memory cap.
    Memory = 2,
    /// It ran out of fuel.
    Fuel = 3,
    /// It returned edits that are not valid HTTP.
    Malformed = 4,
    /// A fresh instance could not be created.
    Instantiate = 5,
}

impl FailureKind {
    /// Every kind, in index order.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Trap,
        FailureKind::Timeout,
        FailureKind::Memory,
        FailureKind::Fuel,
        FailureKind::Malformed,
        FailureKind::Instantiate,
    ];

    /// Label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Fuel => "fuel",
            FailureKind::Malformed => "malformed",
            FailureKind::Instantiate => "instantiate",
        }
    }
}

/// A failed plugin call.
#[derive(Debug, Clone)]
pub struct PluginFailure {
    /// Plugin name.
    pub plugin: String,
    /// What went wrong.
    pub kind: FailureKind,
    /// The trap or validation message.
    pub message: String,
}

/// What the request-phase plugins decided for the rest of the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// Origin pool chosen by a plugin.
    pub pool: Option<String>,
    /// Extra cache-key component.
    pub cache_variant: Option<String>,
    /// Cache lifetime override, seconds.
    pub ttl_override: Option<u32>,
}

/// The outcome of the request phase.
pub enum Flow {
    /// Go on to the cache and origin.
    Continue(Directives),
    /// Answer with this response now.
    Respond(http::Response<Body>),
    /// The plugin at index `by` of the chain changed the path or `Host`: the
    /// chain stopped right after it, and the route is to be chosen again
    /// (see [`on_request_after`]).
    Retarget {
        /// What the plugins decided so far.
        directives: Directives,
        /// The plugin's index in the chain.
        by: usize,
    },
}

/// Facts about the client given to plugins.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    /// Client IP as text.
    pub ip: String,
    /// Client region.
    pub region: String,
}

/// The request head after the request phase, kept for the response phase:
/// the request part of a `brink:plugin@0.2.0` head buffer (layout 1).
#[derive(Debug, Clone)]
pub struct SeenRequest(Vec<u8>);

/// A canary version of a plugin and its share of requests.
#[derive(Debug, Clone)]
pub struct Canary {
    /// The loaded canary version.
    pub plugin: Arc<LoadedPlugin>,
    /// Share of requests, 0.0 to 100.0.
    pub percent: f64,
    /// `NAME@HASH` of its component and config: what its responses add to
    /// the cache key.
    pub key_tag: Arc<str>,
}

/// Every plugin of one config generation, and each route's chain.
#[derive(Debug, Default)]
pub struct PluginSet {
    by_name: HashMap<String, Arc<LoadedPlugin>>,
    /// Canary versions, by plugin name.
    canaries: HashMap<String, Canary>,
    /// Per route (same index as `config.routes`), the plugins in order.
    chains: Vec<Vec<Arc<LoadedPlugin>>>,
    /// Per route, whether a plugin of its chain has a canary.
    chain_has_canary: Vec<bool>,
    /// Content hash of each plugin's wasm (canaries under `NAME#canary`), to
    /// reuse unchanged plugins on reload.
    hashes: HashMap<String, u64>,
}

impl PluginSet {
    /// The versions one request runs on route `index`: each plugin with a
    /// canary is its canary version with the canary's probability. The
    /// response phase must run the same versions as the request phase.
    pub fn pick(&self, index: usize) -> std::borrow::Cow<'_, [Arc<LoadedPlugin>]> {
        let chain = self.chain(index);
        if !self.chain_has_canary.get(index).copied().unwrap_or(false) {
            return std::borrow::Cow::Borrowed(chain);
        }
        std::borrow::Cow::Owned(
            chain
                .iter()
                .map(|p| match self.canaries.get(p.name()) {
                    Some(c) if rand::random::<f64>() * 100.0 < c.percent => c.plugin.clone(),
                    _ => p.clone(),
                })
                .collect(),
        )
    }

    /// What the canary versions in a picked chain add to the cache key, so a
    /// response made through a canary is never served to a request on the
    /// stable version (nor to one on another canary); `None` when the chain
    /// runs only stable versions.
    pub fn canary_tag(&self, chain: &[Arc<LoadedPlugin>]) -> Option<String> {
        let mut tags = chain
            .iter()
            .filter(|p| p.is_canary())
            .filter_map(|p| self.canaries.get(p.name()).map(|c| &*c.key_tag));
        let first = tags.next()?;
        Some(tags.fold(first.to_string(), |acc, t| acc + "," + t))
    }

    /// The canary version of plugin `name`, if it has one.
    pub fn canary(&self, name: &str) -> Option<&Canary> {
        self.canaries.get(name)
    }

    /// The chain of route `index`.
    pub fn chain(&self, index: usize) -> &[Arc<LoadedPlugin>] {
        self.chains.get(index).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every plugin (its stable version), sorted by name.
    pub fn all(&self) -> Vec<&Arc<LoadedPlugin>> {
        let mut v: Vec<_> = self.by_name.values().collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Every loaded version, stable and canary, sorted by name then version.
    pub fn versions(&self) -> Vec<&Arc<LoadedPlugin>> {
        let mut v: Vec<_> = self
            .by_name
            .values()
            .chain(self.canaries.values().map(|c| &c.plugin))
            .collect();
        v.sort_by(|a, b| (a.name(), a.version()).cmp(&(b.name(), b.version())));
        v
    }
}

/// Applies the plugin's failure policy: fail-open skips it, fail-closed fails the request.
fn on_failure(plugin: &LoadedPlugin, f: PluginFailure) -> Result<(), EdgeError> {
    tracing::warn!(
        target: "brink::plugin",
        plugin = %f.plugin,
        kind = f.kind.label(),
        policy = ?plugin.settings.on_error,
        "plugin failed: {}",
        f.message
    );
    match plugin.settings.on_error {
        OnError::FailOpen => Ok(()),
        OnError::FailClosed => Err(EdgeError::Plugin {
            plugin: f.plugin,
            message: format!("{}: {}", f.kind.label(), f.message),
        }),
    }
}

fn malformed(plugin: &LoadedPlugin, message: String) -> PluginFailure {
    plugin
        .stats
        .record_failure(FailureKind::Malformed, &message);
    PluginFailure {
        plugin: plugin.name().to_string(),
        kind: FailureKind::Malformed,
        message,
    }
}

/// Runs the request phase of `chain`, in order. Edits are applied to `parts`
/// as each plugin returns them; `pool_exists` checks a pool a plugin picks.
/// The [`SeenRequest`] is there when a plugin of the chain has a response
/// phase and the request goes on.
pub async fn on_request(
    chain: &[Arc<LoadedPlugin>],
    parts: &mut http::request::Parts,
    scheme: &str,
    host: &str,
    client: &ClientFacts,
    pool_exists: &(dyn Fn(&str) -> bool + Sync),
) -> Result<(Flow, Option<SeenRequest>), EdgeError> {
    let directives = Directives::default();
    let request = (parts, scheme, host, client);
    on_request_after(chain, request, pool_exists, &[], directives).await
}

/// What the request-phase plugins of one pass are shown, made on first use
/// and again only after a plugin edited the request.
#[derive(Default)]
struct RequestInput {
    /// For 0.2.0 plugins: the head and client as one buffer.
    buf: Vec<u8>,
    /// The length of `buf`'s request part.
    request_len: usize,
    /// Whether `buf` shows the request as it is now.
    buf_current: bool,
    /// For 0.1.0 plugins: the head as a record.
    head: Option<RequestHead>,
    /// For 0.1.0 plugins: the client as a record.
    info: Option<bindings::ClientInfo>,
}

impl RequestInput {
    /// Calls `plugin`'s request hook on the request as it is now.
    async fn call(
        &mut self,
        plugin: &LoadedPlugin,
        (parts, scheme, host, client): (&http::request::Parts, &str, &str, &ClientFacts),
    ) -> Result<RequestAction, PluginFailure> {
        plugin
            .call(&client.ip, async |b, store| match b {
                Bindings::V2(b) => {
                    if !self.buf_current {
                        self.request_len =
                            wire::on_request(&mut self.buf, parts, scheme, host, client);
                        self.buf_current = true;
                    }
                    b.brink_plugin_handler()
                        .call_on_request(store, &self.buf)
                        .await
                }
                Bindings::V1(b) => {
                    let head = self
                        .head
                        .get_or_insert_with(|| convert::request_head(parts, scheme, host));
                    let info = self.info.get_or_insert_with(|| bindings::ClientInfo {
                        ip: client.ip.clone(),
                        region: client.region.clone(),
                    });
                    b.brink_plugin_handler()
                        .call_on_request(store, head, info)
                        .await
                }
            })
            .await
    }

    /// The request changed: what the next plugin is shown is made again.
    fn edited(&mut self) {
        self.buf_current = false;
        self.head = None;
    }

    /// The request as the response phase is to see it.
    fn seen(mut self, parts: &http::request::Parts, scheme: &str, host: &str) -> SeenRequest {
        if self.buf_current {
            self.buf.truncate(self.request_len);
        } else {
            wire::put_request(&mut self.buf, parts, scheme, host);
        }
        SeenRequest(self.buf)
    }
}

/// Applies one plugin's request edits to `parts` and `directives`; `true`
/// when they changed the path or `Host` (the pass ends). Edits that cannot
/// be applied go to the plugin's failure policy.
fn apply_edits(
    plugin: &LoadedPlugin,
    parts: &mut http::request::Parts,
    mut edits: bindings::RequestEdits,
    directives: &mut Directives,
    input: &mut RequestInput,
    pool_exists: &(dyn Fn(&str) -> bool + Sync),
) -> Result<bool, EdgeError> {
    if let Some(pool) = &edits.pool
        && !pool_exists(pool)
    {
        on_failure(plugin, malformed(plugin, format!("unknown pool {pool:?}")))?;
        return Ok(false);
    }
    let edited = match convert::apply_request_edits_to_parts(parts, &mut edits) {
        Ok(edited) => edited,
        Err(msg) => {
            on_failure(plugin, malformed(plugin, msg))?;
            return Ok(false);
        }
    };
    if edited.any {
        input.edited();
    }
    if edits.pool.is_some() {
        directives.pool = edits.pool;
    }
    if edits.cache_variant.is_some() {
        directives.cache_variant = edits.cache_variant;
    }
    if edits.ttl_override.is_some() {
        directives.ttl_override = edits.ttl_override;
    }
    Ok(edited.target)
}

/// [`on_request`] for a chain that runs again after a rewrite: the plugins
/// at the indexes in `skip` (those that already rewrote this request on
/// this route) are not called, and `directives` carries what the earlier
/// passes decided (later decisions win). A plugin that changes the path or
/// `Host` ends the pass with [`Flow::Retarget`].
pub async fn on_request_after(
    chain: &[Arc<LoadedPlugin>],
    (parts, scheme, host, client): (&mut http::request::Parts, &str, &str, &ClientFacts),
    pool_exists: &(dyn Fn(&str) -> bool + Sync),
    skip: &[usize],
    mut directives: Directives,
) -> Result<(Flow, Option<SeenRequest>), EdgeError> {
    if chain.is_empty() {
        return Ok((Flow::Continue(directives), None));
    }
    let mut input = RequestInput::default();
    for (index, plugin) in chain.iter().enumerate() {
        if !plugin.has_on_request() || skip.contains(&index) {
            continue;
        }
        let action = match input.call(plugin, (&*parts, scheme, host, client)).await {
            Ok(a) => a,
            Err(f) => {
                on_failure(plugin, f)?;
                continue;
            }
        };
        match action {
            RequestAction::Respond(r) => match convert::early_response(r) {
                Ok(resp) => return Ok((Flow::Respond(resp), None)),
                Err(msg) => on_failure(plugin, malformed(plugin, msg))?,
            },
            RequestAction::Continue(edits) => {
                if apply_edits(
                    plugin,
                    parts,
                    edits,
                    &mut directives,
                    &mut input,
                    pool_exists,
                )? {
                    let by = index;
                    return Ok((Flow::Retarget { directives, by }, None));
                }
            }
        }
    }
    let seen = chain
        .iter()
        .any(|p| p.has_on_response())
        .then(|| input.seen(parts, scheme, host));
    Ok((Flow::Continue(directives), seen))
}
