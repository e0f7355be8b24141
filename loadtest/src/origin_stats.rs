//! [`OriginStats`]: what the built-in demo origin counts, as its `GET /stats`
//! answers it in JSON.
//!
//! It lives in the load tester because the load tester is the side that
//! reads it (before and after a run, to report what reached the origins);
//! the demo origin in the `brink` crate serves it from its atomic counters.
//! Keeping the wire type here lets this crate stand without the host.

use serde::{Deserialize, Serialize};

/// Counters of requests served, by path class, serialisable to JSON.
///
/// Every request except `/stats` and `/control/*` counts in `total` and in exactly one class
/// (`other` for unknown paths), whatever its status (404, 405 and injected failures
/// included). `not_modified` (304), `partial` (206) and `injected_failures` (503) count
/// outcomes across classes; `bytes` sums response body bytes sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OriginStats {
    /// All counted requests.
    pub total: u64,
    /// Requests to `/products/...`.
    pub products: u64,
    /// Requests to `/fragments/product/...`.
    pub fragments_product: u64,
    /// Requests to `/fragments/recommendations`.
    pub fragments_recommendations: u64,
    /// Requests to `/images/...`.
    pub images: u64,
    /// Requests to `/api/inventory/...`.
    pub inventory: u64,
    /// Requests to `/api/orders`.
    pub orders: u64,
    /// Requests to `/healthz`.
    pub healthz: u64,
    /// Requests to any other path.
    pub other: u64,
    /// Answers `304 Not Modified`.
    pub not_modified: u64,
    /// Answers `206 Partial Content`.
    pub partial: u64,
    /// Answers replaced by an injected 503.
    pub injected_failures: u64,
    /// Response body bytes sent (HEAD and 304 answers send none).
    pub bytes: u64,
}

impl OriginStats {
    /// What was counted since `before`: `self - before`, field by field
    /// (0 where a counter went down, e.g. the origin restarted).
    pub fn since(&self, before: &OriginStats) -> OriginStats {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        OriginStats {
            total: d(self.total, before.total),
            products: d(self.products, before.products),
            fragments_product: d(self.fragments_product, before.fragments_product),
            fragments_recommendations: d(
                self.fragments_recommendations,
                before.fragments_recommendations,
            ),
            images: d(self.images, before.images),
            inventory: d(self.inventory, before.inventory),
            orders: d(self.orders, before.orders),
            healthz: d(self.healthz, before.healthz),
            other: d(self.other, before.other),
            not_modified: d(self.not_modified, before.not_modified),
            partial: d(self.partial, before.partial),
            injected_failures: d(self.injected_failures, before.injected_failures),
            bytes: d(self.bytes, before.bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_subtracts_and_saturates() {
        let before = OriginStats {
            total: 5,
            images: 2,
            bytes: 100,
            ..OriginStats::default()
        };
        let after = OriginStats {
            total: 9,
            images: 1,
            bytes: 150,
            ..OriginStats::default()
        };
        let d = after.since(&before);
        assert_eq!(d.total, 4);
        assert_eq!(d.images, 0);
        assert_eq!(d.bytes, 50);
    }
}
