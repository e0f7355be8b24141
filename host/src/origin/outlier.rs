//! Passive outlier detection: consecutive failed exchanges eject a backend
//! for a time that doubles with each repeated ejection (up to a maximum), and
//! never more than a configured share of the pool at once. An ejected backend
//! comes back by itself when its time is up; one more failure run ejects it
//! again for longer, a quiet period as long as the maximum resets the streak.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::backend::{Backend, millis_since};
use crate::config::OutlierConfig;

/// The pool-wide part of outlier detection.
#[derive(Debug)]
pub(super) struct Outlier {
    config: OutlierConfig,
    /// Serialises ejection decisions so the share limit holds.
    eject_lock: Mutex<()>,
}

impl Outlier {
    pub(super) fn new(config: OutlierConfig) -> Outlier {
        Outlier {
            config,
            eject_lock: Mutex::new(()),
        }
    }

    /// Records a successful exchange.
    pub(super) fn success(backend: &Backend) {
        if backend.consecutive_failures.load(Ordering::Relaxed) != 0 {
            backend.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failed exchange; may eject `backend`.
    pub(super) fn failure(
        &self,
        pool: &str,
        backend: &Backend,
        all: &[Arc<Backend>],
        epoch: Instant,
    ) {
        let n = backend.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < self.config.consecutive_failures {
            return;
        }
        let _guard = self.eject_lock.lock().unwrap_or_else(|e| e.into_inner());
        let now = millis_since(epoch);
        if backend.ejected_at(now) {
            return;
        }
        let ejected = all.iter().filter(|b| b.ejected_at(now)).count();
        let allowed = all.len() * self.config.max_ejection_percent as usize / 100;
        if ejected + 1 > allowed {
            tracing::debug!(
                pool,
                backend = %backend.uri,
                ejected,
                allowed,
                "not ejecting: the pool's ejection share is used up"
            );
            return;
        }
        // A backend that stayed in for `max_ejection` since its last ejection ended starts over.
        let last_end = backend.ejected_until_ms.load(Ordering::Relaxed);
        let quiet = now.saturating_sub(last_end);
        let streak = if last_end == 0 || quiet >= millis(self.config.max_ejection) {
            1
        } else {
            backend
                .ejection_streak
                .load(Ordering::Relaxed)
                .saturating_add(1)
        };
        let time = ejection_time(&self.config, streak);
        backend.ejection_streak.store(streak, Ordering::Relaxed);
        backend
            .ejected_until_ms
            .store(now + millis(time), Ordering::Relaxed);
        backend.consecutive_failures.store(0, Ordering::Relaxed);
        backend.ejections.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            pool,
            backend = %backend.uri,
            failures = n,
            ejection = ?time,
            streak,
            "backend ejected after consecutive failures"
        );
    }
}

/// `base × 2^(streak-1)`, at most `max`.
fn ejection_time(config: &OutlierConfig, streak: u32) -> Duration {
    let factor = 1u32 << streak.saturating_sub(1).min(16);
    config
        .base_ejection
        .saturating_mul(factor)
        .min(config.max_ejection)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Vec<Arc<Backend>> {
        (0..n)
            .map(|i| {
                let uri = format!("http://127.0.0.1:{}", 9000 + i).parse().unwrap();
                Arc::new(Backend::new(uri, 1, false, None))
            })
            .collect()
    }

    fn config() -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(60),
            max_ejection_percent: 50,
        }
    }

    #[test]
    fn consecutive_failures_eject_and_a_success_resets_the_count() {
        let all = pool(2);
        let o = Outlier::new(config());
        let epoch = Instant::now();
        o.failure("p", &all[0], &all, epoch);
        o.failure("p", &all[0], &all, epoch);
        Outlier::success(&all[0]);
        o.failure("p", &all[0], &all, epoch);
        o.failure("p", &all[0], &all, epoch);
        assert!(!all[0].ejected_at(millis_since(epoch)));
        o.failure("p", &all[0], &all, epoch);
        assert!(all[0].ejected_at(millis_since(epoch)));
        assert_eq!(all[0].ejections.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn at_most_the_configured_share_is_ejected() {
        let all = pool(2);
        let o = Outlier::new(config());
        let epoch = Instant::now();
        for b in &all {
            for _ in 0..3 {
                o.failure("p", b, &all, epoch);
            }
        }
        let now = millis_since(epoch);
        assert_eq!(all.iter().filter(|b| b.ejected_at(now)).count(), 1);

        // A single backend is never ejected at 50 %.
        let one = pool(1);
        for _ in 0..10 {
            o.failure("p", &one[0], &one, epoch);
        }
        assert!(!one[0].ejected_at(millis_since(epoch)));
    }

    #[test]
    fn ejection_time_doubles_up_to_the_maximum() {
        let c = config();
        let times: Vec<u64> = (1..=5).map(|s| ejection_time(&c, s).as_secs()).collect();
        assert_eq!(times, [10, 20, 40, 60, 60]);
    }
}
