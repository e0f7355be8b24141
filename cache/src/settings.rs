//! What the cache is told: the node-wide settings and a route's query rule.
//! The types live here, below the host's config, so the cache crate needs
//! nothing from the host; the config validates the file into them and
//! re-exports them (`brink::config::{CacheConfig, QueryKey}`).

use std::time::Duration;

/// Node-wide cache settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Capacity in bytes (bodies, headers and keys).
    pub capacity_bytes: u64,
    /// Larger objects stream through uncached.
    pub max_object_bytes: u64,
    /// Default stale-while-revalidate window when the origin gives none.
    pub stale_while_revalidate: Duration,
    /// Default stale-if-error window when the origin gives none.
    pub stale_if_error: Duration,
    /// Show the cache key in `Cache-Status`.
    pub debug_key: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity_bytes: 256 * 1024 * 1024,
            max_object_bytes: 8 * 1024 * 1024,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            debug_key: false,
        }
    }
}

/// How a route's query string enters the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKey {
    /// As sent.
    Keep,
    /// Parameters sorted, so `?b=1&a=2` and `?a=2&b=1` share an entry.
    Sort,
    /// Left out.
    Ignore,
}
