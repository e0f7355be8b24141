//! A Ketama consistent-hash ring: every backend owns `POINTS_PER_WEIGHT ×
//! weight` points hashed from its URL, a key belongs to the first point at or
//! after its hash. Skipping an unavailable backend's points hands its keys to
//! the next points, so only that backend's keys move (about 1/N of them), and
//! every node with the same backend list maps keys the same way.

/// Points per unit of weight: enough for an even spread (about ±6 %).
const POINTS_PER_WEIGHT: u32 = 256;
/// Weights above this get no more points.
const MAX_WEIGHT_POINTS: u32 = 16;

/// A stable 64-bit hash (FNV-1a, then the SplitMix64 finaliser for avalanche).
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// SplitMix64's finaliser.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The ring: points sorted by hash, each naming a backend index.
#[derive(Debug, Clone)]
pub struct Ring {
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// Builds the ring of `(identity, weight)` backends; indices follow the slice.
    pub fn new<'a>(backends: impl IntoIterator<Item = (&'a str, u32)>) -> Ring {
        let mut points = Vec::new();
        for (i, (id, weight)) in backends.into_iter().enumerate() {
            let n = POINTS_PER_WEIGHT * weight.clamp(1, MAX_WEIGHT_POINTS);
            for k in 0..n {
                let h = hash64(format!("{id}#{k}").as_bytes());
                points.push((h, i as u32));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// Backend indices in ring order from `key`'s position, each point once
    /// (so a backend may repeat); the caller takes the first it can use.
    pub fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|(h, _)| *h < key);
        let (after, before) = self.points.split_at(start);
        before.iter().chain(after.iter()).map(|(_, i)| *i as usize)
    }

    /// The first backend for `key` among those `usable` says yes to.
    pub fn pick(&self, key: u64, usable: impl Fn(usize) -> bool) -> Option<usize> {
        self.walk(key).find(|i| usable(*i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(ring: &Ring, keys: &[u64], usable: impl Fn(usize) -> bool + Copy) -> Vec<usize> {
        keys.iter()
            .map(|k| ring.pick(*k, usable).expect("an owner"))
            .collect()
    }

    fn urls(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("http://10.0.0.{}:8080", i + 1))
            .collect()
    }

    /// When one of N backends leaves, at most 1.2/N of 10 000 keys move, and
    /// only keys it owned; the same holds when the ring is rebuilt without it.
    #[test]
    fn one_leaving_backend_moves_at_most_1_2_over_n_of_the_keys() {
        let keys: Vec<u64> = (0..10_000u32)
            .map(|i| hash64(format!("GET shop.test/products/{i}?v=1").as_bytes()))
            .collect();
        for n in [3usize, 5, 8, 10] {
            let urls = urls(n);
            let ring = Ring::new(urls.iter().map(|u| (u.as_str(), 1)));
            let before = owners(&ring, &keys, |_| true);
            for gone in 0..n {
                let after = owners(&ring, &keys, |i| i != gone);
                let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
                let limit = 1.2 * keys.len() as f64 / n as f64;
                assert!(
                    moved as f64 <= limit,
                    "n={n}: removing backend {gone} moved {moved} keys (limit {limit})"
                );
                assert!(
                    before.iter().zip(&after).all(|(a, b)| a == b || *a == gone),
                    "only the leaving backend's keys move"
                );
                // Rebuilt from config without it: the same owners.
                let rest: Vec<&String> = urls.iter().filter(|u| **u != urls[gone]).collect();
                let rebuilt = Ring::new(rest.iter().map(|u| (u.as_str(), 1)));
                let renamed: Vec<&String> = owners(&rebuilt, &keys, |_| true)
                    .iter()
                    .map(|i| rest[*i])
                    .collect();
                let skipped: Vec<&String> = after.iter().map(|i| &urls[*i]).collect();
                assert_eq!(renamed, skipped, "n={n}, without {gone}");
            }
        }
    }

    #[test]
    fn keys_spread_evenly_and_follow_weights() {
        let keys: Vec<u64> = (0..20_000u64).map(mix64).collect();
        let urls = urls(4);
        let ring = Ring::new(urls.iter().map(|u| (u.as_str(), 1)));
        let mut count = [0usize; 4];
        for o in owners(&ring, &keys, |_| true) {
            count[o] += 1;
        }
        for c in count {
            assert!((4_000..=6_000).contains(&c), "{count:?}");
        }
        let weighted = Ring::new(
            urls.iter()
                .enumerate()
                .map(|(i, u)| (u.as_str(), if i == 0 { 3 } else { 1 })),
        );
        let mut count = [0usize; 4];
        for o in owners(&weighted, &keys, |_| true) {
            count[o] += 1;
        }
        assert!(count[0] > 2 * count[1], "{count:?}");
    }
}
