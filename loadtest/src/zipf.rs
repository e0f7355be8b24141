//! A Zipf(s) sampler over `1..=n` with a precomputed CDF and binary search.

use rand::Rng;

/// Zipf distribution over ranks `1..=n`: `P(k) = k^-s / H(n, s)`.
///
/// Sampling draws a uniform `u` in `[0, 1)` and returns the first rank whose
/// cumulative probability exceeds it, so a seeded RNG gives a reproducible sequence.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// `cdf[k - 1]` = P(rank <= k); the last entry is exactly 1.0.
    cdf: Vec<f64>,
    s: f64,
}

impl Zipf {
    /// The distribution over `1..=n` with exponent `s` (`s = 0` is uniform).
    ///
    /// `n` is at least 1; a negative or non-finite `s` counts as 0.
    pub fn new(n: u32, s: f64) -> Zipf {
        let n = n.max(1) as usize;
        let s = if s.is_finite() && s > 0.0 { s } else { 0.0 };
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += (k as f64).powf(-s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Zipf { cdf, s }
    }

    /// Number of ranks.
    pub fn n(&self) -> u32 {
        self.cdf.len() as u32
    }

    /// The exponent.
    pub fn s(&self) -> f64 {
        self.s
    }

    /// `P(rank = k)`; 0 outside `1..=n`.
    pub fn pmf(&self, k: u32) -> f64 {
        let i = k as usize;
        if i == 0 || i > self.cdf.len() {
            return 0.0;
        }
        let below = if i >= 2 { self.cdf[i - 2] } else { 0.0 };
        self.cdf[i - 1] - below
    }

    /// Draws a rank in `1..=n`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let u: f64 = rng.random();
        let i = self.cdf.partition_point(|&c| c <= u);
        (i.min(self.cdf.len() - 1) + 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn pmf_sums_to_one_and_decreases() {
        let z = Zipf::new(100, 1.0);
        let total: f64 = (1..=100).map(|k| z.pmf(k)).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(z.pmf(1) > z.pmf(2) && z.pmf(2) > z.pmf(100));
        assert_eq!(z.pmf(0), 0.0);
        assert_eq!(z.pmf(101), 0.0);
        // H(100, 1) = 5.187377517639621
        assert!((z.pmf(1) - 1.0 / 5.187_377_517_639_621).abs() < 1e-12);
    }

    #[test]
    fn samples_match_the_distribution() {
        for s in [0.0, 0.8, 1.0, 1.2] {
            let z = Zipf::new(50, s);
            let mut rng = StdRng::seed_from_u64(7);
            let draws = 200_000;
            let mut counts = vec![0u64; 51];
            for _ in 0..draws {
                let k = z.sample(&mut rng);
                assert!((1..=50).contains(&k));
                counts[k as usize] += 1;
            }
            for k in 1..=50u32 {
                let expected = z.pmf(k) * draws as f64;
                let sd = (expected * (1.0 - z.pmf(k))).sqrt();
                let got = counts[k as usize] as f64;
                assert!(
                    (got - expected).abs() <= 5.0 * sd + 1.0,
                    "s={s} k={k}: got {got}, expected {expected:.1} (sd {sd:.1})"
                );
            }
        }
    }

    #[test]
    fn seeded_sampling_is_reproducible() {
        let z = Zipf::new(1000, 1.1);
        let a: Vec<u32> = {
            let mut r = StdRng::seed_from_u64(3);
            (0..100).map(|_| z.sample(&mut r)).collect()
        };
        let b: Vec<u32> = {
            let mut r = StdRng::seed_from_u64(3);
            (0..100).map(|_| z.sample(&mut r)).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn degenerate_parameters() {
        let z = Zipf::new(0, f64::NAN);
        assert_eq!(z.n(), 1);
        assert_eq!(z.s(), 0.0);
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(z.sample(&mut rng), 1);
        assert_eq!(z.pmf(1), 1.0);
    }
}
