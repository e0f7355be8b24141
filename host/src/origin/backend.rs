//! One origin server of a pool: its address, weight and tier, and the state
//! the balancer, health checks and outlier detection share (all atomics, so
//! the request path never waits on a lock here).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// One origin server.
#[derive(Debug)]
pub struct Backend {
    /// Base URL (`http://host:port` or `https://host:port`).
    pub uri: http::Uri,
    /// Relative share of traffic.
    pub weight: u32,
    /// Only used while no primary backend of the pool is available.
    pub backup: bool,
    /// Attempts sent to it (retries included, health checks not).
    pub requests: AtomicU64,
    /// Failed attempts (connect errors, timeouts, broken exchanges, 5xx).
    pub failures: AtomicU64,
    /// Attempts answered on a connection opened for them.
    pub conn_new: AtomicU64,
    /// Attempts answered on a reused keep-alive connection.
    pub conn_reused: AtomicU64,
    pub(super) in_flight: AtomicUsize,
    /// Latency EWMA in microseconds (`f64` bits).
    ewma_us: AtomicU64,
    /// Active health: whether the last `rise`/`fall` run of checks left it up.
    healthy: AtomicBool,
    pub(super) health_checks_passed: AtomicU64,
    pub(super) health_checks_failed: AtomicU64,
    pub(super) went_up: AtomicU64,
    pub(super) went_down: AtomicU64,
    /// Passive: consecutive failures, reset by any success.
    pub(super) consecutive_failures: AtomicU32,
    /// Passive: milliseconds since the pool's epoch until which it is ejected (0: never).
    pub(super) ejected_until_ms: AtomicU64,
    /// Passive: ejections so far in the current run of trouble (each doubles the time).
    pub(super) ejection_streak: AtomicU32,
    pub(super) ejections: AtomicU64,
    /// Caps requests in flight (so connections) when `max_connections` is set.
    pub(super) limit: Option<Arc<Semaphore>>,
}

/// Initial latency estimate before the first response, in microseconds.
const INITIAL_EWMA_US: f64 = 1_000.0;
/// Weight of a new latency sample.
const EWMA_ALPHA: f64 = 0.2;

impl Backend {
    pub(super) fn new(
        uri: http::Uri,
        weight: u32,
        backup: bool,
        max_connections: Option<usize>,
    ) -> Backend {
        Backend {
            uri,
            weight: weight.max(1),
            backup,
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            conn_new: AtomicU64::new(0),
            conn_reused: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            ewma_us: AtomicU64::new(INITIAL_EWMA_US.to_bits()),
            healthy: AtomicBool::new(true),
            health_checks_passed: AtomicU64::new(0),
            health_checks_failed: AtomicU64::new(0),
            went_up: AtomicU64::new(0),
            went_down: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            ejection_streak: AtomicU32::new(0),
            ejections: AtomicU64::new(0),
            limit: max_connections.map(|n| Arc::new(Semaphore::new(n))),
        }
    }

    /// Whether active health checks consider it up (always true without them).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(super) fn set_healthy(&self, up: bool) {
        self.healthy.store(up, Ordering::Relaxed);
    }

    /// Whether it is ejected at `now_ms` (milliseconds since the pool's epoch).
    pub fn ejected_at(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// Requests in flight now (their response bodies included).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether every allowed connection is busy.
    pub(super) fn saturated(&self) -> bool {
        self.limit
            .as_ref()
            .is_some_and(|s| s.available_permits() == 0)
    }

    /// The latency EWMA in microseconds.
    pub fn latency_ewma_us(&self) -> f64 {
        f64::from_bits(self.ewma_us.load(Ordering::Relaxed))
    }

    /// Folds one time-to-first-byte sample into the EWMA (a lost race just drops a sample).
    pub(super) fn observe_latency(&self, d: Duration) {
        let sample = d.as_secs_f64() * 1e6;
        let old = self.latency_ewma_us();
        let new = old + EWMA_ALPHA * (sample - old);
        self.ewma_us.store(new.to_bits(), Ordering::Relaxed);
    }

    /// Marks one request in flight until the guard drops.
    pub(super) fn start_request(self: &Arc<Backend>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// A request in flight on a backend; dropping it ends the request.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Backend>);

impl InFlight {
    /// The backend the request is on.
    pub(super) fn backend(&self) -> &Backend {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Milliseconds from `epoch` to now, at least 1 (0 means "never" in timestamps).
pub(super) fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
