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

/// One version of a plugin to load: the stable one or its canary.
struct Version<'a> {
    /// Its key in `PluginSet::hashes`.
    key: String,
    /// Its settings: the stable version's without the canary, or the
    /// canary's own source and config.
    settings: PluginConfig,
    /// Its plugin config table.
    table: &'a toml::Table,
    /// The config key its errors are located at (`wasm` or `canary.wasm`).
    wasm_key: &'static str,
    /// Whether it is the canary.
    canary: bool,
}

/// The versions of plugin `p`: the stable one (whose settings leave out the
/// canary, so changing only the canary does not reload it), then its canary.
fn versions(p: &PluginConfig) -> impl Iterator<Item = Version<'_>> {
    let stable = PluginConfig {
        canary: None,
        ..p.clone()
    };
    let canary = p.canary.as_ref().map(|c| Version {
        key: canary_key(&p.name),
        settings: PluginConfig {
            source: c.source.clone(),
            config: c.config.clone().unwrap_or_else(|| p.config.clone()),
            location: c.location,
            ..stable.clone()
        },
        table: c.config.as_ref().unwrap_or(&p.config),
        wasm_key: "canary.wasm",
        canary: true,
    });
    std::iter::once(Version {
        key: p.name.clone(),
        settings: stable,
        table: &p.config,
        wasm_key: "wasm",
        canary: false,
    })
    .chain(canary)
}

/// Reads, compiles and links one version of plugin `p`, or takes it from
/// `previous` when its bytes and settings are unchanged; with its content
/// hash. The compiled component is reused when only the settings changed
/// (and not the engine: with or without fuel metering).
async fn load_version(
    config: &Config,
    engine: &PluginEngine,
    previous: Option<&PluginSet>,
    p: &PluginConfig,
    v: &Version<'_>,
) -> Result<(Arc<LoadedPlugin>, u64), ConfigError> {
    let (line, col) = v.settings.location;
    let key = format!("plugins[{}].{}", p.index, v.wasm_key);
    let located = |msg: String| ConfigError::new(config.source.clone(), line, col, &key, msg);
    let bytes = read_source(&v.settings.source).map_err(located)?;
    let hash = hash_bytes(&bytes);
    // The previous version with the same bytes, if any.
    let same_bytes = previous.and_then(|prev| {
        let old = if v.canary {
            prev.canaries.get(&p.name).map(|c| &c.plugin)
        } else {
            prev.by_name.get(&p.name)
        }?;
        (prev.hashes.get(&v.key) == Some(&hash)).then_some(old)
    });
    if let Some(old) = same_bytes
        && old.settings == v.settings
    {
        return Ok((old.clone(), hash));
    }
    let metered = v.settings.fuel.is_some();
    let component = match same_bytes {
        Some(old) if old.settings.fuel.is_some() == metered => old.component.clone(),
        _ => compile(engine, metered, bytes)
            .await
            .map_err(|e| located(format!("cannot compile plugin {}: {e:#}", p.name)))?,
    };
    let facts = PluginFacts {
        name: Arc::from(p.name.as_str()),
        config: render_config(v.table),
        node_name: config.node.name.clone(),
        node_region: config.node.region.clone(),
    };
    let settings = v.settings.clone();
    match LoadedPlugin::new(engine, &component, settings, facts, v.canary).await {
        Ok(loaded) => Ok((Arc::new(loaded), hash)),
        Err(e) => Err(located(format!(
            "cannot instantiate plugin {}: {e:#}",
            p.name
        ))),
    }
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
            for v in versions(p) {
                match load_version(config, engine, previous, p, &v).await {
                    Ok((loaded, hash)) => set.insert(p, v, loaded, hash),
                    Err(e) => errors.push(e),
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        set.link_routes(config);
        Ok(set)
    }

    /// Adds a loaded version of plugin `p`.
    fn insert(&mut self, p: &PluginConfig, v: Version<'_>, loaded: Arc<LoadedPlugin>, hash: u64) {
        self.hashes.insert(v.key, hash);
        match (v.canary, &p.canary) {
            (true, Some(c)) => {
                let tag = hash ^ hash_bytes(format!("{:?}", v.table).as_bytes());
                let canary = Canary {
                    plugin: loaded,
                    percent: c.percent,
                    key_tag: Arc::from(format!("{}@{tag:016x}", p.name)),
                };
                self.canaries.insert(p.name.clone(), canary);
            }
            _ => {
                self.by_name.insert(p.name.clone(), loaded);
            }
        }
    }

    /// Each route's chain, and whether a plugin of it has a canary.
    fn link_routes(&mut self, config: &Config) {
        self.chains = config
            .routes
            .iter()
            .map(|r| {
                r.plugins
                    .iter()
                    .filter_map(|n| self.by_name.get(n).cloned())
                    .collect()
            })
            .collect();
        self.chain_has_canary = config
            .routes
            .iter()
            .map(|r| r.plugins.iter().any(|n| self.canaries.contains_key(n)))
            .collect();
    }
}
