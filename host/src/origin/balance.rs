//! Balancing strategies. Each picks one backend index among those the caller
//! marks usable (available, in the wanted tier, not tried yet), so health,
//! ejection, backups and retries never need to know the strategy.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::backend::Backend;
use super::ring::{Ring, hash64};
use crate::config::Strategy;

/// What a request offers for affinity: its cache key hash and the client address.
#[derive(Debug, Clone, Copy)]
pub struct Affinity {
    /// Hash of the cache key (for now: host, path and query), for `consistent_hash`.
    pub key: u64,
    /// The client address, for `ip_hash`.
    pub client_ip: IpAddr,
}

impl Affinity {
    /// Affinity from the request's host and path-and-query.
    pub fn from_request(host: &str, path_and_query: &str, client_ip: IpAddr) -> Affinity {
        let mut bytes = Vec::with_capacity(host.len() + path_and_query.len() + 1);
        bytes.extend_from_slice(host.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(path_and_query.as_bytes());
        Affinity {
            key: hash64(&bytes),
            client_ip,
        }
    }
}

/// A strategy with its state.
#[derive(Debug)]
pub(super) struct Balancer {
    strategy: Strategy,
    /// Smooth weighted round-robin: current weight per backend.
    current: Mutex<Vec<i64>>,
    /// Consistent-hash ring over every backend.
    ring: Option<Ring>,
    /// Rotating start for ties.
    next: AtomicUsize,
}

impl Balancer {
    pub(super) fn new(strategy: Strategy, backends: &[Arc<Backend>]) -> Balancer {
        let ids: Vec<String> = backends.iter().map(|b| b.uri.to_string()).collect();
        let ring = matches!(strategy, Strategy::ConsistentHash | Strategy::IpHash).then(|| {
            Ring::new(
                ids.iter()
                    .zip(backends)
                    .map(|(id, b)| (id.as_str(), b.weight)),
            )
        });
        Balancer {
            strategy,
            current: Mutex::new(vec![0; backends.len()]),
            ring,
            next: AtomicUsize::new(0),
        }
    }

    /// Picks among `backends[i]` for which `usable(i)` holds.
    pub(super) fn pick(
        &self,
        backends: &[Arc<Backend>],
        usable: &dyn Fn(usize) -> bool,
        affinity: &Affinity,
    ) -> Option<usize> {
        match self.strategy {
            Strategy::RoundRobin => self.smooth_weighted(backends, usable),
            Strategy::LeastConnections => self.least_connections(backends, usable),
            Strategy::P2cEwma => p2c_ewma(backends, usable),
            Strategy::Random => weighted_random(backends, usable),
            Strategy::ConsistentHash => self.ring.as_ref()?.pick(affinity.key, usable),
            Strategy::IpHash => {
                let key = match affinity.client_ip {
                    IpAddr::V4(a) => hash64(&a.octets()),
                    IpAddr::V6(a) => hash64(&a.octets()),
                };
                self.ring.as_ref()?.pick(key, usable)
            }
        }
    }

    /// nginx's smooth weighted round-robin: each usable backend gains its
    /// weight, the richest is picked and pays the total back.
    fn smooth_weighted(
        &self,
        backends: &[Arc<Backend>],
        usable: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, b) in backends.iter().enumerate() {
            if !usable(i) {
                continue;
            }
            let w = i64::from(b.weight);
            current[i] += w;
            total += w;
            if best.is_none_or(|j| current[i] > current[j]) {
                best = Some(i);
            }
        }
        if let Some(j) = best {
            current[j] -= total;
        }
        best
    }

    /// Fewest requests in flight per unit of weight; ties go round the pool.
    fn least_connections(
        &self,
        backends: &[Arc<Backend>],
        usable: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = backends.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut best: Option<(usize, u128)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if !usable(i) {
                continue;
            }
            let b = &backends[i];
            let load = (b.in_flight() as u128 + 1) * 1_000_000 / u128::from(b.weight);
            if best.is_none_or(|(_, l)| load < l) {
                best = Some((i, load));
            }
        }
        best.map(|(i, _)| i)
    }
}

fn random_below(n: usize) -> usize {
    (rand::random::<u64>() % n as u64) as usize
}

/// Power of two choices: two random usable backends, the one with the lower
/// latency EWMA × (requests in flight + 1) / weight wins.
fn p2c_ewma(backends: &[Arc<Backend>], usable: &dyn Fn(usize) -> bool) -> Option<usize> {
    let candidates: Vec<usize> = (0..backends.len()).filter(|i| usable(*i)).collect();
    match candidates.len() {
        0 => None,
        1 => Some(candidates[0]),
        n => {
            let a = random_below(n);
            let mut b = random_below(n - 1);
            if b >= a {
                b += 1;
            }
            let cost = |i: usize| {
                let be = &backends[i];
                be.latency_ewma_us() * (be.in_flight() as f64 + 1.0) / f64::from(be.weight)
            };
            let (a, b) = (candidates[a], candidates[b]);
            Some(if cost(b) < cost(a) { b } else { a })
        }
    }
}

/// Weighted random among the usable backends.
fn weighted_random(backends: &[Arc<Backend>], usable: &dyn Fn(usize) -> bool) -> Option<usize> {
    let total: u64 = (0..backends.len())
        .filter(|i| usable(*i))
        .map(|i| u64::from(backends[i].weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut r = rand::random::<u64>() % total;
    for (i, b) in backends.iter().enumerate() {
        if !usable(i) {
            continue;
        }
        let w = u64::from(b.weight);
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(weights: &[u32]) -> Vec<Arc<Backend>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let uri = format!("http://127.0.0.1:{}", 9000 + i).parse().unwrap();
                Arc::new(Backend::new(uri, *w, false, None))
            })
            .collect()
    }

    fn affinity(key: u64) -> Affinity {
        Affinity {
            key,
            client_ip: IpAddr::from([10, 0, 0, (key % 250) as u8]),
        }
    }

    fn counts(strategy: Strategy, weights: &[u32], n: usize) -> Vec<usize> {
        let bs = backends(weights);
        let bal = Balancer::new(strategy, &bs);
        let mut c = vec![0; bs.len()];
        for k in 0..n {
            let i = bal
                .pick(
                    &bs,
                    &|_| true,
                    &affinity(super::super::ring::mix64(k as u64)),
                )
                .unwrap();
            c[i] += 1;
        }
        c
    }

    #[test]
    fn smooth_weighted_round_robin_is_exact_and_interleaved() {
        let bs = backends(&[5, 1, 1]);
        let bal = Balancer::new(Strategy::RoundRobin, &bs);
        let seq: Vec<usize> = (0..7)
            .map(|_| bal.pick(&bs, &|_| true, &affinity(0)).unwrap())
            .collect();
        // nginx's documented sequence for weights 5, 1, 1: a a b a c a a.
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(counts(Strategy::RoundRobin, &[2, 1], 300), [200, 100]);
    }

    #[test]
    fn unusable_backends_are_skipped_by_every_strategy() {
        for (_, s) in Strategy::ALL {
            let bs = backends(&[1, 1, 1]);
            let bal = Balancer::new(s, &bs);
            for k in 0..200u64 {
                let i = bal.pick(&bs, &|i| i != 1, &affinity(k)).unwrap();
                assert_ne!(i, 1, "{s:?}");
            }
            assert_eq!(bal.pick(&bs, &|_| false, &affinity(1)), None, "{s:?}");
        }
    }

    #[test]
    fn random_and_hashes_spread_over_every_backend() {
        for s in [Strategy::Random, Strategy::ConsistentHash, Strategy::IpHash] {
            let c = counts(s, &[1, 1, 1], 3_000);
            assert!(c.iter().all(|n| *n > 600), "{s:?}: {c:?}");
        }
        let c = counts(Strategy::Random, &[3, 1], 4_000);
        assert!(c[0] > 2 * c[1], "{c:?}");
    }

    #[test]
    fn least_connections_prefers_the_idle_backend() {
        let bs = backends(&[1, 1, 1]);
        let bal = Balancer::new(Strategy::LeastConnections, &bs);
        let _busy: Vec<_> = (0..3).map(|_| bs[0].start_request()).collect();
        let _one = bs[2].start_request();
        for _ in 0..10 {
            assert_eq!(bal.pick(&bs, &|_| true, &affinity(0)), Some(1));
        }
    }

    #[test]
    fn p2c_prefers_the_faster_backend() {
        let bs = backends(&[1, 1]);
        let bal = Balancer::new(Strategy::P2cEwma, &bs);
        for _ in 0..50 {
            bs[0].observe_latency(std::time::Duration::from_millis(50));
            bs[1].observe_latency(std::time::Duration::from_millis(1));
        }
        for _ in 0..20 {
            assert_eq!(bal.pick(&bs, &|_| true, &affinity(0)), Some(1));
        }
    }

    #[test]
    fn same_key_same_backend() {
        let bs = backends(&[1, 1, 1, 1]);
        let bal = Balancer::new(Strategy::ConsistentHash, &bs);
        let a = Affinity::from_request("shop.test", "/products/1", IpAddr::from([1, 2, 3, 4]));
        let first = bal.pick(&bs, &|_| true, &a);
        for _ in 0..10 {
            assert_eq!(bal.pick(&bs, &|_| true, &a), first);
        }
    }
}
