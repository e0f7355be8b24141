//! The plugins' metric families for `/metrics`, read at scrape time from the
//! counters each loaded version keeps (the ones `/status` shows): a plugin
//! call bumps one atomic and nothing else, and a version's series leave the
//! exposition with the last generation that runs it.

use std::fmt;
use std::sync::atomic::Ordering;

use prometheus_client::encoding::DescriptorEncoder;

use super::{FailureKind, LoadedPlugin, PluginSet};
use crate::metrics::scrape::{self, Labels};

fn labels(p: &LoadedPlugin) -> Labels<'_, 2> {
    [("plugin", p.name()), ("version", p.version())]
}

/// Writes the plugins' families (`brink_plugin_*`), one series per plugin
/// and version (`stable` or `canary`).
pub fn encode_metrics(set: &PluginSet, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let plugins = set.versions();
    scrape::counters(
        encoder,
        "plugin_calls",
        "Plugin calls (both phases).",
        plugins
            .iter()
            .map(|p| (labels(p), p.stats.calls.load(Ordering::Relaxed))),
    )?;
    scrape::counters(
        encoder,
        "plugin_instantiations",
        "Plugin instances created.",
        plugins
            .iter()
            .map(|p| (labels(p), p.stats.instantiations.load(Ordering::Relaxed))),
    )?;
    scrape::counters(
        encoder,
        "plugin_failures",
        "Plugin failures, by kind.",
        plugins.iter().flat_map(|p| {
            FailureKind::ALL.into_iter().map(move |kind| {
                (
                    (labels(p), [("kind", kind.label())]),
                    p.stats.failures[kind as usize].load(Ordering::Relaxed),
                )
            })
        }),
    )
}
