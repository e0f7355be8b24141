//! Wires the families read at scrape time into the node's one registry.
//! This layer owns both the metrics and what they read (the cache, the
//! current generation's pools and plugins, the reload status), so the
//! metrics module below it holds none of them: it only runs the collectors
//! registered here on each scrape, in this order, after its own counters.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::Shared;
use crate::cache::Cache;
use crate::metrics::scrape;

/// Registers the node's scrape-time collectors with `shared.metrics`.
pub fn register_collectors(shared: &Arc<Shared>) {
    shared
        .metrics
        .register_collector(CacheCollector(shared.cache.clone()));
    shared
        .metrics
        .register_collector(GenerationCollector(Arc::downgrade(shared)));
}

/// The cache's size and evictions, as the cache counts them (it outlives
/// generations, so it is held directly).
#[derive(Debug)]
struct CacheCollector(Arc<Cache>);

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let cache = &self.0;
        scrape::gauge(
            &mut encoder,
            "cache_bytes",
            "Bytes stored in the cache.",
            scrape::level(cache.weighted_size()),
        )?;
        scrape::gauge(
            &mut encoder,
            "cache_entries",
            "Objects stored in the cache.",
            scrape::level(cache.entry_count()),
        )?;
        scrape::gauge(
            &mut encoder,
            "cache_evictions",
            "Objects evicted from the cache for space (total).",
            scrape::level(cache.counters.evictions.load(Ordering::Relaxed)),
        )
    }
}

/// What the current generation and the reloads report: plugins, pools,
/// reload status. Weak, because the registry that holds it lives in
/// [`Shared`].
#[derive(Debug)]
struct GenerationCollector(Weak<Shared>);

impl Collector for GenerationCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let Some(shared) = self.0.upgrade() else {
            return Ok(());
        };
        let generation = shared.generation();
        crate::plugin::encode_metrics(&generation.plugins, &mut encoder)?;
        crate::origin::encode_metrics(&generation.pools, &mut encoder)?;
        shared
            .config_status
            .encode_metrics(generation.id, &mut encoder)
    }
}
