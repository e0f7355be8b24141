//! The ideal hit ratio: the top-C bound.
//!
//! A cache holding C objects does best, with a known popularity and no
//! knowledge of the future beyond it, by keeping the C most popular cacheable
//! keys. Each of those is a miss the first time it is requested (a compulsory
//! miss) and a hit every time after; everything else is a miss. So on a given
//! trace the bound is `sum over the top-C keys of max(count - 1, 0)` hits.
//! Uncacheable requests are never hittable but count in the denominator.

use std::cmp::Ordering;
use std::collections::HashMap;

/// The default capacity when `--cache-objects` is absent: 10% of the distinct
/// cacheable keys, at least 1.
pub fn default_capacity(distinct_cacheable_keys: usize) -> u64 {
    (distinct_cacheable_keys as u64).div_ceil(10).max(1)
}

/// Ideal hits on a trace whose per-key request counts are `counts`, for a cache
/// of `c` objects holding the `c` keys of `universe` with the highest
/// probability (ties: more requests first, then by key). Keys in `universe`
/// that were never requested still take a slot.
pub fn top_c_hits<K: AsRef<str>>(
    universe: &[(K, f64)],
    counts: &HashMap<String, u64>,
    c: u64,
) -> u64 {
    let mut ranked: Vec<(&str, f64, u64)> = universe
        .iter()
        .map(|(k, p)| {
            let k = k.as_ref();
            (k, *p, counts.get(k).copied().unwrap_or(0))
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(Ordering::Equal)
            .then(b.2.cmp(&a.2))
            .then(a.0.cmp(b.0))
    });
    ranked
        .iter()
        .take(usize::try_from(c).unwrap_or(usize::MAX))
        .map(|(_, _, n)| n.saturating_sub(1))
        .sum()
}

/// Ideal hits when the popularity is not known beforehand (trace replay): the
/// keys are ranked by their observed frequency on the trace.
pub fn top_c_hits_observed(counts: &HashMap<String, u64>, c: u64) -> u64 {
    let universe: Vec<(&str, f64)> = counts
        .iter()
        .map(|(k, n)| (k.as_str(), *n as f64))
        .collect();
    top_c_hits(&universe, counts, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn observed_frequency_by_hand() {
        // Trace a a a a a b b b c: a=5, b=3, c=1.
        let c = counts(&[("a", 5), ("b", 3), ("c", 1)]);
        assert_eq!(top_c_hits_observed(&c, 0), 0);
        assert_eq!(top_c_hits_observed(&c, 1), 4);
        assert_eq!(top_c_hits_observed(&c, 2), 6);
        assert_eq!(top_c_hits_observed(&c, 3), 6);
        assert_eq!(top_c_hits_observed(&c, 100), 6);
        assert_eq!(top_c_hits_observed(&HashMap::new(), 5), 0);
    }

    #[test]
    fn known_distribution_ranks_by_probability() {
        let c = counts(&[("a", 5), ("b", 3), ("c", 1)]);
        // The distribution says c is the most popular even though the trace
        // saw it once: a one-object cache holds c and gets no hit.
        let universe = [("c", 0.5), ("a", 0.3), ("b", 0.2)];
        assert_eq!(top_c_hits(&universe, &c, 1), 0);
        assert_eq!(top_c_hits(&universe, &c, 2), 4);
        assert_eq!(top_c_hits(&universe, &c, 3), 6);
    }

    #[test]
    fn unrequested_keys_take_a_slot() {
        let c = counts(&[("a", 5)]);
        let universe = [("x", 0.9), ("a", 0.1)];
        assert_eq!(top_c_hits(&universe, &c, 1), 0);
        assert_eq!(top_c_hits(&universe, &c, 2), 4);
    }

    #[test]
    fn ties_prefer_requested_keys() {
        let c = counts(&[("b", 3)]);
        let universe = [("a", 0.5), ("b", 0.5)];
        assert_eq!(top_c_hits(&universe, &c, 1), 2);
    }

    #[test]
    fn default_capacity_is_a_tenth() {
        assert_eq!(default_capacity(0), 1);
        assert_eq!(default_capacity(5), 1);
        assert_eq!(default_capacity(100), 10);
        assert_eq!(default_capacity(101), 11);
    }
}
