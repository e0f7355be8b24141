//! `[cache]`: the node's cache size, the largest object it stores, and the
//! default stale windows.

use super::super::CacheConfig;
use super::super::raw::RawCache;
use super::Errs;

/// The cache settings; the defaults when the table is absent.
pub(super) fn validate(raw: Option<&RawCache>, errs: &mut Errs<'_>) -> CacheConfig {
    let d = CacheConfig::default();
    let Some(c) = raw else { return d };
    let capacity_bytes = match &c.capacity_bytes {
        Some(v) if *v.get_ref() < 1024 * 1024 => {
            errs.at(
                v,
                "cache.capacity_bytes",
                "must be at least 1048576 (1 MiB)",
            );
            d.capacity_bytes
        }
        Some(v) => *v.get_ref(),
        None => d.capacity_bytes,
    };
    let max_object_bytes = match &c.max_object_bytes {
        Some(v) if *v.get_ref() > capacity_bytes => {
            errs.at(
                v,
                "cache.max_object_bytes",
                "must not be larger than cache.capacity_bytes",
            );
            d.max_object_bytes.min(capacity_bytes)
        }
        Some(v) => *v.get_ref(),
        None => d.max_object_bytes.min(capacity_bytes),
    };
    CacheConfig {
        capacity_bytes,
        max_object_bytes,
        stale_while_revalidate: errs
            .duration_or_zero(&c.stale_while_revalidate, "cache.stale_while_revalidate"),
        stale_if_error: errs.duration_or_zero(&c.stale_if_error, "cache.stale_if_error"),
        debug_key: c.debug_key.unwrap_or(false),
    }
}
