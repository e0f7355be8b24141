//! Prometheus metrics of one node: one prometheus-client registry, encoded
//! whole in the OpenMetrics text format on `/metrics`.
//!
//! Counters the request path updates (requests, latency, origin requests,
//! connections, cache lookups) are registered here as prometheus-client
//! metrics. Values that already live in a subsystem (pool backends, plugin
//! counters, reload status, cache size) are read at scrape time by
//! collectors ([`scrape`]) that the layer owning them registers with
//! [`Metrics::register_collector`]; this module knows none of them, so it
//! holds no subsystem and the request path pays nothing for them.

pub mod scrape;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels by status class (`2xx` ... `5xx`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    /// Status class.
    pub class: &'static str,
}

/// Labels of an origin request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OriginLabels {
    /// Pool name.
    pub pool: String,
    /// Status class, or `error` / `timeout`.
    pub outcome: &'static str,
}

/// Labels of a cache lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// Route (its path prefix).
    pub route: String,
    /// hit, miss, stale, revalidate, coalesced.
    pub result: &'static str,
}

/// What a cache lookup came to, as counted in `brink_cache_lookups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// Served fresh from the cache.
    Hit,
    /// Went to the origin.
    Miss,
    /// Served stale (stale-while-revalidate, stale-if-error, `max-stale`).
    Stale,
    /// A stored response was revalidated with the origin.
    Revalidate,
    /// Waited for another request's fill.
    Coalesced,
}

impl CacheResult {
    const ALL: [CacheResult; 5] = [
        CacheResult::Hit,
        CacheResult::Miss,
        CacheResult::Stale,
        CacheResult::Revalidate,
        CacheResult::Coalesced,
    ];

    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Stale => "stale",
            CacheResult::Revalidate => "revalidate",
            CacheResult::Coalesced => "coalesced",
        }
    }
}

/// One route's cache counters. Each is taken from the family on its first
/// use and kept, so counting a lookup neither hashes labels nor allocates. A
/// config generation holds one per route; a new generation finds the same
/// counters in the family again.
#[derive(Debug)]
pub struct RouteCacheCounters {
    route: String,
    cells: [OnceLock<Counter>; CacheResult::ALL.len()],
}

impl RouteCacheCounters {
    /// The counters of the route with this path prefix.
    pub fn new(route: &str) -> Self {
        RouteCacheCounters {
            route: route.to_string(),
            cells: Default::default(),
        }
    }
}

/// Status classes in the order of [`class_index`].
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn class_index(status: http::StatusCode) -> usize {
    match status.as_u16() {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// Every metric of a node.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Requests answered, by status class.
    pub requests: Family<ClassLabels, Counter>,
    /// The counters of `requests`, taken from the family on first use.
    request_cells: [OnceLock<Counter>; CLASSES.len()],
    /// Time from request head to response head.
    pub latency: Histogram,
    /// Requests sent to origins.
    pub origin_requests: Family<OriginLabels, Counter>,
    /// Client connections open now.
    pub open_connections: Gauge,
    /// Client connections accepted.
    pub connections: Counter,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: Counter,
    /// Cache lookups by route and result.
    pub cache: Family<CacheLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("brink");
        let requests = Family::<ClassLabels, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        let origin_requests = Family::<OriginLabels, Counter>::default();
        let open_connections = Gauge::default();
        let connections = Counter::default();
        let tls_failures = Counter::default();
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cache lookups, by route and result (hit, miss, stale, revalidate, coalesced)",
            cache.clone(),
        );
        registry.register(
            "requests",
            "Requests answered, by status class",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head",
            latency.clone(),
        );
        registry.register(
            "origin_requests",
            "Requests sent to origins, by pool and outcome",
            origin_requests.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        registry.register(
            "connections",
            "Client connections accepted",
            connections.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            tls_failures.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            request_cells: Default::default(),
            latency,
            origin_requests,
            open_connections,
            connections,
            tls_failures,
            cache,
        }
    }

    /// Adds families read at scrape time (see [`scrape`]) to every
    /// encoding, after the counters registered here.
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(Box::new(collector));
    }

    /// Records one cache lookup of a route.
    pub fn record_cache(&self, route: &RouteCacheCounters, result: CacheResult) {
        route.cells[result as usize]
            .get_or_init(|| {
                self.cache
                    .get_or_create(&CacheLabels {
                        route: route.route.clone(),
                        result: result.as_str(),
                    })
                    .clone()
            })
            .inc();
    }

    /// Records one answered request.
    pub fn record_request(&self, status: http::StatusCode, elapsed: Duration) {
        let class = class_index(status);
        self.request_cells[class]
            .get_or_init(|| {
                self.requests
                    .get_or_create(&ClassLabels {
                        class: CLASSES[class],
                    })
                    .clone()
            })
            .inc();
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// Records one origin exchange.
    pub fn record_origin(&self, pool: &str, outcome: &'static str) {
        self.origin_requests
            .get_or_create(&OriginLabels {
                pool: pool.to_string(),
                outcome,
            })
            .inc();
    }

    /// The OpenMetrics text exposition of the registry: every family,
    /// then `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail; a collector can (a value that
        // does not fit its type), and then the scrape shows what came before.
        if let Err(e) = encode(&mut out, &registry) {
            tracing::warn!("a metrics collector failed: {e}");
        }
        out
    }
}

/// `2xx`, `4xx`, ...
pub fn status_class(status: http::StatusCode) -> &'static str {
    CLASSES[class_index(status)]
}
