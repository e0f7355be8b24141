//! Loading a config's plugins: read, hash, compile (off the async workers),
//! link and instantiate each plugin and its canary, reusing what a reload
//! leaves unchanged.

use std::sync::Arc;

use super::bindings::PluginFacts;
use super::{Canary, LoadedPlugin, PluginEngine, PluginSet, builtin_wasm};
use crate::config::{Config, ConfigError, ConfigErrors, PluginConfig, PluginSource};

/// The key of a canary in `PluginSet::hashes`.
fn canary_key(name: &str) -> String {
    format!("{name}#canary")
}

/// Compiles a component off the async workers (cranelift takes tens to
/// hundreds of milliseconds, and a reload compiles while the node serves).
async fn compile(
    engine: &PluginEngine,
    metered: bool,
    bytes: std::borrow::Cow<'static, [u8]>,
) -> wasmtime::Result<wasmtime::component::Component> {
    let engine = engine.runtime(metered)?.engine().clone();
    let work = move || wasmtime::component::Component::new(&engine, &bytes);
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt
            .spawn_blocking(work)
            .await
            .map_err(|e| wasmtime::Error::msg(format!("compile task failed: {e}")))?,
        Err(_) => work(),
    }
}

/// The component bytes of a plugin source.
fn read_source(source: &PluginSource) -> Result<std::borrow::Cow<'static, [u8]>, String> {
    match source {
        PluginSource::Builtin(name) => builtin_wasm(name)
            .map(std::borrow::Cow::Borrowed)
            .ok_or_else(|| format!("unknown built-in plugin \"{name}\"")),
        PluginSource::File(path) => std::fs::read(path)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
    }
}

fn hash_bytes(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

fn render_config(table: &toml::Table) -> std::collections::BTreeMap<String, String> {
    table
        .iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

impl PluginSet {
    /// Compiles and links every plugin of `config` (and its canary). A plugin
    /// whose bytes and settings are unchanged since `previous` is reused as it
    /// is (with its warm instances and counters). Errors are located at the
    /// plugin's `wasm` key (`canary.wasm` for a canary).
    pub async fn load(
        config: &Config,
        engine: &PluginEngine,
        previous: Option<&PluginSet>,
    ) -> Result<PluginSet, ConfigErrors> {
        let mut set = PluginSet::default();
        let mut errors = Vec::new();
        for p in &config.plugins {
            // The stable version's settings, without its canary: changing only
            // the canary does not reload the stable version.
            let stable = PluginConfig {
                canary: None,
                ..p.clone()
            };
            let versions = std::iter::once((
                p.name.clone(),
                stable.clone(),
                &p.source,
                &p.config,
                p.location,
                "wasm",
                false,
            ))
            .chain(p.canary.as_ref().map(|c| {
                (
                    canary_key(&p.name),
                    PluginConfig {
                        source: c.source.clone(),
                        config: c.config.clone().unwrap_or_else(|| p.config.clone()),
                        location: c.location,
                        ..stable.clone()
                    },
                    &c.source,
                    c.config.as_ref().unwrap_or(&p.config),
                    c.location,
                    "canary.wasm",
                    true,
                )
            }));
            for (key, settings, source, table, location, wasm_key, canary) in versions {
                let located = |msg: String| {
                    ConfigError::new(
                        config.source.clone(),
                        location.0,
                        location.1,
                        &format!("plugins[{}].{wasm_key}", p.index),
                        msg,
                    )
                };
                let bytes = match read_source(source) {
                    Ok(b) => b,
                    Err(msg) => {
                        errors.push(located(msg));
                        continue;
                    }
                };
                let hash = hash_bytes(&bytes);
                // The previous version with the same bytes, if any.
                let same_bytes = previous.and_then(|prev| {
                    let old = if canary {
                        prev.canaries.get(&p.name).map(|c| &c.plugin)
                    } else {
                        prev.by_name.get(&p.name)
                    }?;
                    (prev.hashes.get(&key) == Some(&hash)).then_some(old)
                });
                let loaded = match same_bytes {
                    Some(old) if old.settings == settings => old.clone(),
                    _ => {
                        // Same bytes, other settings: link the compiled component
                        // again, unless it was compiled for the other engine
                        // (with or without fuel metering).
                        let metered = settings.fuel.is_some();
                        let compiled = match same_bytes {
                            Some(old) if old.settings.fuel.is_some() == metered => {
                                Ok(old.component.clone())
                            }
                            _ => compile(engine, metered, bytes).await,
                        };
                        let component = match compiled {
                            Ok(c) => c,
                            Err(e) => {
                                errors.push(located(format!(
                                    "cannot compile plugin {}: {e:#}",
                                    p.name
                                )));
                                continue;
                            }
                        };
                        let facts = PluginFacts {
                            name: Arc::from(p.name.as_str()),
                            config: render_config(table),
                            node_name: config.node.name.clone(),
                            node_region: config.node.region.clone(),
                        };
                        match LoadedPlugin::new(engine, &component, settings, facts, canary).await {
                            Ok(loaded) => Arc::new(loaded),
                            Err(e) => {
                                errors.push(located(format!(
                                    "cannot instantiate plugin {}: {e:#}",
                                    p.name
                                )));
                                continue;
                            }
                        }
                    }
                };
                set.hashes.insert(key, hash);
                match (canary, &p.canary) {
                    (true, Some(c)) => {
                        set.canaries.insert(
                            p.name.clone(),
                            Canary {
                                plugin: loaded,
                                percent: c.percent,
                                key_tag: Arc::from(format!(
                                    "{}@{:016x}",
                                    p.name,
                                    hash ^ hash_bytes(format!("{table:?}").as_bytes())
                                )),
                            },
                        );
                    }
                    _ => {
                        set.by_name.insert(p.name.clone(), loaded);
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        set.chains = config
            .routes
            .iter()
            .map(|r| {
                r.plugins
                    .iter()
                    .filter_map(|n| set.by_name.get(n).cloned())
                    .collect()
            })
            .collect();
        set.chain_has_canary = config
            .routes
            .iter()
            .map(|r| r.plugins.iter().any(|n| set.canaries.contains_key(n)))
            .collect();
        Ok(set)
    }
}
