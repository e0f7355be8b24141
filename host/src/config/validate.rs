//! From the raw mirror to typed config, collecting every error with its
//! location. Each table of the file has its own module of checks; this one
//! runs them in file-section order, handing later sections the names earlier
//! ones declared (routes name pools and plugins, pools name built-in
//! origins), and returns all the errors together, in file order.

mod admin;
mod cache;
mod control;
mod errs;
mod fleet;
mod limits;
mod listeners;
mod log;
mod node;
mod origins;
mod parse;
mod plugins;
mod pools;
mod routes;

use std::path::Path;

use super::Config;
use super::error::ConfigErrors;
use super::raw::RawConfig;
use errs::Errs;

pub(super) use parse::deserialize;
pub(super) use pools::parse_backend_url;

/// Checks every section of `raw` (read from `file`, whose text is `text`;
/// relative paths are resolved against `base`).
pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    file: &str,
    base: &Path,
) -> Result<Config, ConfigErrors> {
    let mut errs = Errs::new(file, text);
    let node = node::validate(raw.node.as_ref(), &mut errs);
    let fleet_nodes = raw.fleet.as_ref().map_or(0, |f| f.nodes.len());
    let listeners = listeners::validate(&raw.listeners, fleet_nodes, &mut errs, base);
    let admin = admin::validate(raw.admin.as_ref(), &mut errs);
    let limits = limits::validate(raw.limits.as_ref(), &mut errs);
    let log = log::validate(raw.log.as_ref(), &mut errs);
    let (origins, origin_names) = origins::validate(&raw.origins, &mut errs);
    let (pools, pool_names) = pools::validate(&raw.pools, &mut errs, &origin_names, base);
    let plugins = plugins::validate(&raw.plugins, &mut errs, base);
    let known = routes::Known {
        pools: &pool_names,
        plugins: plugins.iter().map(|p| p.name.as_str()).collect(),
        any_pool: !raw.pools.is_empty(),
    };
    let routes = routes::validate(&raw.routes, &known, &mut errs);
    let cache = cache::validate(raw.cache.as_ref(), &mut errs);
    let fleet = fleet::validate(raw.fleet.as_ref(), &mut errs);
    let control = control::validate(&raw, file, base, &mut errs);
    errs.finish()?;
    Ok(Config {
        source: file.to_string(),
        node,
        listeners,
        admin,
        limits,
        log,
        origins,
        pools,
        routes,
        plugins,
        cache,
        fleet,
        control,
    })
}
