//! Hot reload of the config file and its plugins, with zero failed requests.
//!
//! A reload is all or nothing. [`load`] reads and validates the file and
//! compiles every changed plugin (the path `brink check` takes too, through
//! [`validate_file`]); then the built-in origins it adds are started, the
//! pools built (an unchanged pool is carried over with its connections and
//! health state), new listener addresses bound and certificates loaded. Only
//! when all of that has succeeded is the new [`Generation`] swapped in.
//! Requests in flight keep the generation they started on; the old one is
//! dropped with its last request. The cache belongs to the node and stays.
//!
//! A refused reload changes nothing: the node keeps serving the last good
//! config, and the located error (`FILE:LINE:COL: key: message`) is logged,
//! shown in `/status` and counted in `/metrics`.
//!
//! Triggers: the config file or a `.wasm` it names changing on disk
//! ([`watch`]), `SIGHUP` (`brink serve`), and `POST /reload` on the admin
//! listener. Reloads are serialised.

pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio_util::task::TaskTracker;

pub use crate::state::{ConfigStatus, LastReload, Trigger};

use super::listeners::Listeners;
use super::origins::{BuiltinOrigin, Origins};
use super::{BoundListener, NodeError};
use crate::config::{Config, ConfigError, ConfigErrors, PluginSource};
use crate::origin::Pools;
use crate::plugin::{PluginEngine, PluginSet};
use crate::state::{Generation, Shared};

/// Why a reload was not applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadError {
    /// The new config (or a plugin, pool, listener or origin of it) is bad;
    /// the node keeps the last good one.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// This node cannot reload: it was not started from a config file, or it
    /// is shutting down.
    #[error("{0}")]
    Unsupported(String),
}

/// An applied reload.
#[derive(Debug, Clone, Copy)]
pub struct Reloaded {
    /// The generation now serving new requests.
    pub generation: u64,
    /// How long the reload took.
    pub duration: Duration,
}

/// Reads and validates a config file and compiles its plugins, reusing the
/// unchanged plugins of `previous`: the one validation path of `brink check`
/// and of every reload.
pub async fn load(
    path: &Path,
    engine: &PluginEngine,
    previous: Option<&PluginSet>,
) -> Result<(Config, PluginSet), ConfigErrors> {
    let config = Config::load(path)?;
    let plugins = PluginSet::load(&config, engine, previous).await?;
    Ok((config, plugins))
}

/// `brink check`: [`load`] with a fresh engine (created only when the file
/// has plugins).
pub async fn validate_file(path: &Path) -> Result<Config, ConfigErrors> {
    let config = Config::load(path)?;
    if config.plugins.is_empty() {
        return Ok(config);
    }
    let engine = PluginEngine::new().map_err(|e| {
        ConfigErrors::single(ConfigError::new(
            config.source.clone(),
            1,
            1,
            "plugins",
            format!("cannot create the plugin engine: {e:#}"),
        ))
    })?;
    load(path, &engine, None).await.map(|(config, _)| config)
}

/// The files a reload reads: the config and every plugin component file.
pub fn watched_files(path: &Path, config: &Config) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    for p in &config.plugins {
        let sources = std::iter::once(&p.source).chain(p.canary.as_ref().map(|c| &c.source));
        for s in sources {
            if let PluginSource::File(f) = s {
                files.push(f.clone());
            }
        }
    }
    files
}

/// A node's parts that a reload replaces, behind the reload lock.
pub(crate) struct Runtime {
    pub(crate) file: Option<PathBuf>,
    pub(crate) listeners: Listeners,
    pub(crate) origins: Origins,
    pub(crate) closed: bool,
}

/// What [`crate::node::Node`] lists: its listeners and built-in origins now.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) listeners: Vec<BoundListener>,
    pub(crate) origins: Vec<BuiltinOrigin>,
}

/// Applies reloads to one node, one at a time.
pub struct Reloader {
    shared: Arc<Shared>,
    runtime: tokio::sync::Mutex<Runtime>,
    view: ArcSwap<View>,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

fn located(config_source: &str, key: String, message: String) -> ReloadError {
    located_at(config_source, (1, 1), key, message)
}

fn located_at(
    config_source: &str,
    (line, col): (usize, usize),
    key: String,
    message: String,
) -> ReloadError {
    ReloadError::Invalid(ConfigErrors::single(ConfigError::new(
        config_source,
        line,
        col,
        &key,
        message,
    )))
}

/// Line and column of the `index`-th `[[header]]` table of the file (for
/// errors found after validation, such as an address already in use).
fn table_location(file: &Path, header: &str, index: usize) -> (usize, usize) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut seen = 0;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(header) {
            if seen == index {
                return (n + 1, line.len() - trimmed.len() + 1);
            }
            seen += 1;
        }
    }
    (1, 1)
}

impl Reloader {
    pub(crate) fn new(shared: Arc<Shared>, runtime: Runtime, tracker: TaskTracker) -> Reloader {
        let view = View {
            listeners: runtime.listeners.bound(),
            origins: runtime.origins.list(),
        };
        Reloader {
            shared,
            runtime: tokio::sync::Mutex::new(runtime),
            view: ArcSwap::from_pointee(view),
            tracker,
        }
    }

    /// The node state it swaps generations in.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// The node's client listeners as bound now.
    pub fn listeners(&self) -> Vec<BoundListener> {
        self.view.load().listeners.clone()
    }

    /// The config file reloads read, if the node has one.
    pub async fn file(&self) -> Option<PathBuf> {
        self.runtime.lock().await.file.clone()
    }

    /// Re-reads the config file and applies it, all or nothing; records and
    /// logs the outcome.
    pub async fn reload(&self, trigger: Trigger) -> Result<Reloaded, ReloadError> {
        let mut rt = self.runtime.lock().await;
        if rt.closed {
            return Err(ReloadError::Unsupported("the node is shutting down".into()));
        }
        let Some(file) = rt.file.clone() else {
            return Err(ReloadError::Unsupported(
                "this node was not started from a config file (zero-config or fleet mode): nothing to reload"
                    .into(),
            ));
        };
        let started = Instant::now();
        let result = self.apply(&mut rt, &file, started, trigger).await;
        let duration = started.elapsed();
        drop(rt);
        match &result {
            Ok(generation) => tracing::info!(
                trigger = trigger.label(),
                generation,
                ms = duration.as_secs_f64() * 1000.0,
                "config reloaded from {}",
                file.display()
            ),
            Err(e) => tracing::error!(
                trigger = trigger.label(),
                "config reload refused, still serving generation {}:\n{e}",
                self.shared.generation().id
            ),
        }
        // A reload that was applied was recorded before its swap.
        if let Err(e) = &result {
            self.shared.config_status.record(LastReload {
                ok: false,
                at: SystemTime::now(),
                error: Some(e.to_string()),
                duration,
                trigger,
            });
        }
        result.map(|generation| Reloaded {
            generation,
            duration,
        })
    }

    /// Prepares everything the new config needs, then swaps it in.
    async fn apply(
        &self,
        rt: &mut Runtime,
        file: &Path,
        started: Instant,
        trigger: Trigger,
    ) -> Result<u64, ReloadError> {
        let old = self.shared.generation();
        let (config, plugins) = load(file, &self.shared.engine, Some(&old.plugins))
            .await
            .map_err(ReloadError::Invalid)?;
        let source = config.source.clone();
        if !config.fleet.is_empty() {
            return Err(located(
                &source,
                "fleet".into(),
                "a running node cannot become a fleet: fleets ([[fleet.nodes]]) are not hot-reloaded; restart instead".into(),
            ));
        }
        let origins = rt
            .origins
            .prepare(&config.origins)
            .await
            .map_err(|(i, e)| {
                let at = table_location(file, "[[origins]]", i);
                located_at(&source, at, format!("origins[{i}].address"), e.to_string())
            })?;
        let pools = match Pools::build(&config, origins.urls(), Some(&old.pools)) {
            Ok(p) => p,
            Err(e) => {
                origins.abort().await;
                return Err(located(&source, "pools".into(), e.to_string()));
            }
        };
        let listeners = match rt.listeners.prepare(&config.listeners).await {
            Ok(l) => l,
            Err((i, e)) => {
                origins.abort().await;
                let key = match e {
                    NodeError::Tls(_) => format!("listeners[{i}].tls"),
                    _ => format!("listeners[{i}].address"),
                };
                let at = table_location(file, "[[listeners]]", i);
                return Err(located_at(&source, at, key, e.to_string()));
            }
        };
        warn_static_changes(&old.config, &config);
        if old.config.cache.capacity_bytes != config.cache.capacity_bytes {
            // The other [cache] settings are read per generation.
            self.shared.cache.resize(config.cache.capacity_bytes);
        }
        let (added, removed) = listeners.summary(&rt.listeners);
        let carried = old.pools.all().iter().filter(|p| pools.holds(p)).count();
        let generation = Arc::new(Generation::new(
            old.id + 1,
            Arc::new(config),
            pools,
            plugins,
        ));
        tracing::debug!(
            generation = generation.id,
            listeners_added = added,
            listeners_removed = removed,
            pools_carried = carried,
            "swapping in the new config generation"
        );
        // Nothing can fail from here on. The outcome is recorded first, so
        // whoever sees the new generation serve also sees it in `/status`.
        self.shared.config_status.record(LastReload {
            ok: true,
            at: SystemTime::now(),
            error: None,
            duration: started.elapsed(),
            trigger,
        });
        // The swap: new requests start on the new generation from here on.
        let old = self.shared.current.swap(generation.clone());
        drop(generation);
        rt.listeners.commit(listeners);
        let stopped = rt.origins.commit(origins).await;
        self.view.store(Arc::new(View {
            listeners: rt.listeners.bound(),
            origins: rt.origins.list(),
        }));
        let id = old.id + 1;
        let grace = old.config.limits.shutdown_grace;
        self.tracker.spawn(retire(old, grace, stopped));
        Ok(id)
    }

    /// Stops reloads and every client listener (node shutdown; the
    /// built-in origins stop last, in [`Reloader::stop_origins`]).
    pub(crate) async fn close(&self) {
        let mut rt = self.runtime.lock().await;
        rt.closed = true;
        rt.listeners.stop_all();
    }

    /// Stops the built-in origins (last step of shutdown).
    pub(crate) async fn stop_origins(&self) {
        self.runtime.lock().await.origins.shutdown().await;
    }
}

/// Waits until the requests still holding `old` are done (or `grace` has
/// passed), then stops the built-in origins the reload removed.
async fn retire(
    old: Arc<Generation>,
    grace: Duration,
    origins: Vec<crate::demo_origin::OriginHandle>,
) {
    let deadline = Instant::now() + grace;
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(old);
    for o in origins {
        tracing::info!(origin = %o.name(), "built-in origin removed by reload: stopping it");
        o.shutdown().await;
    }
}

/// Logs settings a reload does not apply to a running node.
fn warn_static_changes(old: &Config, new: &Config) {
    let admin = |c: &Config| c.admin.as_ref().map(|a| a.addr);
    if admin(old) != admin(new) {
        tracing::warn!(
            "admin.address changes take effect on restart; the admin listener stays where it is"
        );
    }
    if old.log.json != new.log.json {
        tracing::warn!("log.format changes take effect on restart");
    }
}
