//! Wasm plugins: loading (compile once, `InstancePre` per plugin), the chain
//! of plugins a route runs, and the failure policy. wasmtime types stay inside
//! this module; the pipeline sees [`Flow`], [`Directives`] and [`EdgeError`].

mod bindings;
mod builtin;
mod convert;
mod engine;
mod instance;
mod load;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::BodyExt;

pub use builtin::{BUILTIN_PLUGINS, GUEST_DIR, builtin_wasm};
pub use engine::{MAX_PLUGIN_MEMORY, PluginEngine};
pub use instance::{LoadedPlugin, PluginStats};

use crate::body::{Body, full};
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
    // For 0.2.0 plugins: the head and client as one buffer, written on first
    // use and again only after a plugin edited the request. `request_len` is
    // the length of its request part.
    let mut buf = Vec::new();
    let mut request_len = 0;
    let mut buf_current = false;
    // For 0.1.0 plugins: the head as a record, made on first use and again
    // after an edit.
    let mut head: Option<RequestHead> = None;
    let mut info: Option<bindings::ClientInfo> = None;
    for (index, plugin) in chain.iter().enumerate() {
        if !plugin.has_on_request() || skip.contains(&index) {
            continue;
        }
        let result = plugin
            .call(&client.ip, async |b, store| match b {
                Bindings::V2(b) => {
                    if !buf_current {
                        request_len = wire::on_request(&mut buf, parts, scheme, host, client);
                        buf_current = true;
                    }
                    b.brink_plugin_handler().call_on_request(store, &buf).await
                }
                Bindings::V1(b) => {
                    let head =
                        head.get_or_insert_with(|| convert::request_head(parts, scheme, host));
                    let info = info.get_or_insert_with(|| bindings::ClientInfo {
                        ip: client.ip.clone(),
                        region: client.region.clone(),
                    });
                    b.brink_plugin_handler()
                        .call_on_request(store, head, info)
                        .await
                }
            })
            .await;
        let action = match result {
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
            RequestAction::Continue(mut edits) => {
                if let Some(pool) = &edits.pool
                    && !pool_exists(pool)
                {
                    on_failure(plugin, malformed(plugin, format!("unknown pool {pool:?}")))?;
                    continue;
                }
                match convert::apply_request_edits_to_parts(parts, &mut edits) {
                    Ok(edited) => {
                        if edited.any {
                            buf_current = false;
                            head = None;
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
                        if edited.target {
                            let by = index;
                            return Ok((Flow::Retarget { directives, by }, None));
                        }
                    }
                    Err(msg) => on_failure(plugin, malformed(plugin, msg))?,
                }
            }
        }
    }
    let seen = chain.iter().any(|p| p.has_on_response()).then(|| {
        if buf_current {
            buf.truncate(request_len);
        } else {
            wire::put_request(&mut buf, parts, scheme, host);
        }
        SeenRequest(buf)
    });
    Ok((Flow::Continue(directives), seen))
}

/// Whether a response's body may be shown to plugins: text, not encoded.
fn is_small_text(parts: &http::response::Parts, limit: usize) -> Option<usize> {
    if limit == 0 || parts.headers.contains_key(http::header::CONTENT_ENCODING) {
        return None;
    }
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let text = ct.starts_with("text/")
        || ct.starts_with("application/json")
        || ct.starts_with("application/javascript")
        || ct.contains("xml");
    let len = usize::try_from(crate::body::content_length(&parts.headers)?).ok()?;
    (text && len <= limit).then_some(len)
}

/// Runs the response phase of `chain` in reverse order (the first plugin
/// sees the response last) on the client's copy of the response.
pub async fn on_response(
    chain: &[Arc<LoadedPlugin>],
    seen: &SeenRequest,
    client_ip: &str,
    resp: http::Response<Body>,
) -> Result<http::Response<Body>, EdgeError> {
    if !chain.iter().any(|p| p.has_on_response()) {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let limit = chain
        .iter()
        .filter(|p| p.has_on_response())
        .map(|p| p.settings.response_body_limit)
        .max()
        .unwrap_or(0);
    let (mut body_bytes, body) = match is_small_text(&parts, limit) {
        Some(_) => match body.collect().await {
            Ok(c) => (Some(c.to_bytes()), None),
            // An origin body that stalled (body_timeout) is the origin's timeout.
            Err(e) if crate::origin::BodyTimeout::is_timeout(&*e) => {
                return Err(EdgeError::Origin {
                    kind: crate::error::OriginFailure::Timeout,
                    pool: "-".into(),
                    backend: "-".into(),
                    message: format!("reading response body: {e}"),
                });
            }
            Err(e) => return Err(EdgeError::Internal(format!("reading response body: {e}"))),
        },
        None => (None, Some(body)),
    };
    let mut replaced = false;
    // For 0.2.0 plugins: the request part as seen, then the response part,
    // written again after a plugin edited the response headers.
    let mut buf = Vec::new();
    let mut buf_current = false;
    // For 0.1.0 plugins: the heads as records.
    let mut req_head: Option<RequestHead> = None;
    let mut resp_head: Option<bindings::ResponseHead> = None;
    for plugin in chain.iter().rev() {
        if !plugin.has_on_response() {
            continue;
        }
        let given: Option<&[u8]> = body_bytes
            .as_deref()
            .filter(|b| b.len() <= plugin.settings.response_body_limit);
        let had_body = given.is_some();
        let result = plugin
            .call(client_ip, async |b, store| match b {
                Bindings::V2(b) => {
                    if !buf_current {
                        buf.clear();
                        buf.extend_from_slice(&seen.0);
                        wire::put_response(&mut buf, &parts);
                        buf_current = true;
                    }
                    b.brink_plugin_handler()
                        .call_on_response(store, &buf, given)
                        .await
                }
                Bindings::V1(b) => {
                    let req = match &mut req_head {
                        Some(h) => h,
                        None => req_head.insert(wire::read_request(&seen.0).ok_or_else(|| {
                            wasmtime::Error::msg("the seen request is not in layout 1")
                        })?),
                    };
                    let resp = resp_head.get_or_insert_with(|| convert::response_head(&parts));
                    b.brink_plugin_handler()
                        .call_on_response(store, req, resp, given)
                        .await
                }
            })
            .await;
        let edits = match result {
            Ok(e) => e,
            Err(f) => {
                on_failure(plugin, f)?;
                continue;
            }
        };
        if !edits.headers.is_empty() {
            buf_current = false;
            resp_head = None;
        }
        if let Err(msg) = convert::apply_header_ops_to_map(&mut parts.headers, edits.headers) {
            on_failure(plugin, malformed(plugin, msg))?;
            continue;
        }
        if let Some(new_body) = edits.body
            && had_body
        {
            body_bytes = Some(Bytes::from(new_body));
            replaced = true;
        }
    }
    if replaced {
        parts.headers.remove(http::header::CONTENT_LENGTH);
        // The representation changed: a strong validator no longer describes it.
        if let Some(etag) = parts.headers.get(http::header::ETAG).cloned()
            && !etag.as_bytes().starts_with(b"W/")
            && let Ok(weak) = http::HeaderValue::from_bytes(&[b"W/", etag.as_bytes()].concat())
        {
            parts.headers.insert(http::header::ETAG, weak);
        }
    }
    let body = match (body, body_bytes) {
        (Some(b), _) => b,
        (None, Some(bytes)) => full(bytes),
        (None, None) => full(Bytes::new()),
    };
    Ok(http::Response::from_parts(parts, body))
}

/// Appends the plugins' counters to an OpenMetrics text exposition, one
/// series per plugin and version (`stable` or `canary`).
pub fn encode_metrics(set: &PluginSet, out: &mut String) {
    use crate::metrics::write_family;
    let plugins = set.versions();
    let labels = |p: &LoadedPlugin| format!("plugin=\"{}\",version=\"{}\"", p.name(), p.version());
    write_family(
        out,
        "brink_plugin_calls",
        "counter",
        "Plugin calls (both phases).",
        plugins
            .iter()
            .map(|p| (labels(p), p.stats.calls.load(Ordering::Relaxed))),
    );
    write_family(
        out,
        "brink_plugin_instantiations",
        "counter",
        "Plugin instances created.",
        plugins
            .iter()
            .map(|p| (labels(p), p.stats.instantiations.load(Ordering::Relaxed))),
    );
    write_family(
        out,
        "brink_plugin_failures",
        "counter",
        "Plugin failures, by kind.",
        plugins.iter().flat_map(|p| {
            FailureKind::ALL.into_iter().map(move |kind| {
                (
                    format!("{},kind=\"{}\"", labels(p), kind.label()),
                    p.stats.failures[kind as usize].load(Ordering::Relaxed),
                )
            })
        }),
    );
}
